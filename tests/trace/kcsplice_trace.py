#!/usr/bin/env python3
"""trace-kcsplice: kcsplice --trace on a real run, read back by kcdump.

    kcsplice_trace.py SRCDIR BUILDDIR

Runs scripts/demo.sh (kcsplice in front of an echo upstream and a sink
mirror, 4 connections) with DEMO_TRACE, then checks: the file is mode
0600; kcdump's summary names the threads and reports no loss; one
SOCK_ACCEPT per connection; --json parses, names every thread, and each
flow's end follows a start with the same id, some of them from one thread
to another (the main thread's accept requests handled on the executors);
--svg is well-formed XML with a row per thread.
"""
import json
import os
import stat
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

CONNS = 4


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=120,
                          **kw)


def main():
    src, build = sys.argv[1], sys.argv[2]
    kcdump = os.path.join(build, "tools", "kcdump", "kcdump")
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "run.kct")
        env = dict(os.environ, DEMO_CONNS=str(CONNS), DEMO_BYTES="2M",
                   DEMO_TRACE=trace, TMPDIR=tmp)
        r = run(["sh", os.path.join(src, "scripts", "demo.sh"), build],
                env=env)
        assert r.returncode == 0, "demo failed:\n" + r.stdout + r.stderr
        st = os.stat(trace)
        assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)

        r = run([kcdump, "-s", trace])
        assert r.returncode == 0, r.stderr
        assert "kcsplice/0" in r.stdout, r.stdout
        total = [l for l in r.stdout.splitlines() if l.startswith("total:")]
        assert total and "lost 0 records (seq gaps 0)" in total[0], r.stdout

        r = run([kcdump, "-y", "SOCK_ACCEPT", trace])
        assert r.returncode == 0, r.stderr
        accepts = [l for l in r.stdout.splitlines() if " SOCK_ACCEPT " in l]
        assert len(accepts) == CONNS, r.stdout

        r = run([kcdump, "--json", trace])
        assert r.returncode == 0, r.stderr
        ev = json.loads(r.stdout)["traceEvents"]
        names = {e["tid"]: e["args"]["name"] for e in ev
                 if e["ph"] == "M" and e["name"] == "thread_name"}
        assert "kcsplice" in names.values(), names
        assert "kcsplice/0" in names.values(), names
        assert "kc-trace" in names.values(), names
        tids = {e["tid"] for e in ev if e["ph"] != "M"}
        assert tids <= set(names), (tids, names)
        starts, cross = {}, 0
        for e in sorted((e for e in ev if e["ph"] in "stf"),
                        key=lambda e: e["ts"]):
            if e["ph"] == "s":
                starts[e["id"]] = e
                continue
            assert e["id"] in starts, e
            if starts[e["id"]]["tid"] != e["tid"]:
                cross += 1
        assert cross >= CONNS, cross
        slices = [e for e in ev if e["ph"] == "X"]
        assert slices, "no slices"
        for kind in ("SPLICE", "TEE", "SOCK_CONNECT"):
            assert any(e["ph"] == "i" and e["name"] == kind for e in ev), kind

        r = run([kcdump, "--svg", trace])
        assert r.returncode == 0, r.stderr
        root = ET.fromstring(r.stdout)
        assert root.tag.endswith("svg"), root.tag
        text = " ".join(t.text or "" for t in root.iter()
                        if t.tag.endswith("text"))
        for n in set(names.values()):
            assert n in text, (n, text[:300])
    print("trace-kcsplice: PASS")


if __name__ == "__main__":
    main()
