#!/usr/bin/env python3
"""kcdump's end-to-end checks, over the traces gentrace.c writes.

    check.py CASE KCDUMP TRACEDIR

CASE is one of: text times filters loss stdin bad usage json svg hostile
memory header.  Each
runs the real kcdump and asserts on what it prints and how it exits; the
expected values below are those of gentrace.c's scenario.  Exit 0 when
every check held; a failed check raises with what was expected.
"""
import datetime
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

KCDUMP = ""
DIR = ""

PID = 4242
MAIN, E0, E1, WK, TR = 4242, 4243, 4244, 4245, 4246
NAMES = {MAIN: "main", E0: "kc-exec-0", E1: "kc-exec-1b", WK: "worker",
         TR: "kc-trace"}
START_REAL = 1780000000000000000


def flow(tid, seq):
    return (tid << 32) | (seq + 1)


FLOW_A = flow(MAIN, 2)      # ENQUEUE by main, run on kc-exec-0
FLOW_B = flow(E0, 3)        # ENQUEUE by kc-exec-0, run on kc-exec-1
FLOW_M = flow(E0, 4)        # MSG_SEND by kc-exec-0, to the worker
FLOW_D = flow(MAIN, 3)      # DEFER by main, run on kc-exec-0

# good.trace in time order: (time, tid, name column, type, details).
GOOD = [
    ("0.000000100", TR, "kc-trace", "THREAD_NAME", 'name="kc-trace"'),
    ("0.000001000", MAIN, "main", "THREAD_NAME", 'name="main"'),
    ("0.000001100", E0, "kc-exec-0", "THREAD_NAME", 'name="kc-exec-0"'),
    ("0.000001200", E1, "kc-exec-1", "THREAD_NAME", 'name="kc-exec-1"'),
    ("0.000001300", WK, "worker", "THREAD_NAME", 'name="worker"'),
    ("0.000002000", MAIN, "main", "USER", 'text="hello \\"kcdump\\""'),
    ("0.000003000", MAIN, "main", "ENQUEUE",
     "kc=0x1000 fn=0x4000 exec=0xe0 flow=4242:2"),
    ("0.000003500", E0, "kc-exec-0", "EXEC_WAKE", "exec=0xe0"),
    ("0.000004000", E0, "kc-exec-0", "RUN_BEGIN",
     "kc=0x1000 fn=0x4000 exec=0xe0 flow=4242:2"),
    ("0.000005000", E0, "kc-exec-0", "ENQUEUE",
     "kc=0x1001 fn=0x4001 exec=0xe1 flow=4243:3"),
    ("0.000006000", E0, "kc-exec-0", "MSG_SEND",
     "port=0x9000 msg=0x9100 cmd=7 flow=4243:4"),
    ("0.000008000", E0, "kc-exec-0", "RUN_END", "kc=0x1000 fn=0x4000"),
    ("0.000009000", E0, "kc-exec-0", "EXEC_SLEEP", "exec=0xe0"),
    ("0.000010000", E1, "kc-exec-1", "RUN_BEGIN",
     "kc=0x1001 fn=0x4001 exec=0xe1 flow=4243:3"),
    ("0.000012000", E1, "kc-exec-1", "RUN_END", "kc=0x1001 fn=0x4001"),
    ("0.000013000", WK, "worker", "MSG_RECV",
     "port=0x9000 msg=0x9100 cmd=7 flow=4243:4"),
    ("0.000014000", WK, "worker", "SOCK_SEND", "sock=0x7000 fd=5 bytes=512"),
    ("0.000015000", WK, "worker", "MSG_REPLY",
     "port=0x9000 msg=0x9100 status=0 flow=4243:4"),
    ("0.000016000", MAIN, "main", "DEFER",
     "kc=0x1002 fn=0x4002 exec=0xe0 flow=4242:3 delay=1500000ns"),
    ("0.000017000", E0, "kc-exec-0", "KNOTE",
     "ident=5 filter=EVFILT_READ flags=0x1 data=100 kc=0x1003"),
    ("0.000018000", E1, "kc-exec-1", "SPLICE",
     "splice=0x8000 dir=a->b spliced=4096 copied=0"),
    ("0.000018500", E1, "kc-exec-1", "SPLICE",
     "splice=0x8000 dir=b->a spliced=0 copied=100"),
    ("0.000019000", E1, "kc-exec-1", "TEE",
     "splice=0x8000 mirror=1 bytes=4096"),
    ("0.000019500", E1, "kc-exec-1", "MIRROR_DETACH",
     "splice=0x8000 mirror=1 error=-EPIPE bytes=123"),
    ("0.000020000", WK, "worker", "SOCK_CONNECT",
     "sock=0x7100 fd=6 error=-ECONNREFUSED"),
    ("0.000021000", WK, "worker", "SOCK_ACCEPT",
     "listener=0x7200 sock=0x7300 fd=7"),
    ("0.000022000", WK, "worker", "SOCK_RECV", "sock=0x7300 fd=7 bytes=1000"),
    ("0.000023000", WK, "worker", "SOCK_CLOSE", "sock=0x7300 fd=7"),
    ("0.000025000", MAIN, "main", "CANCEL", "kc=0x1003 flow=-"),
    ("0.000026000", MAIN, "main", "UNKNOWN_200", "len=48"),
    ("0.000026500", MAIN, "main", "UNKNOWN_4000", "len=32"),
    ("0.000027000", WK, "worker", "USER", 'text="after a gap"'),
    ("0.000028000", WK, "worker", "LOSS", "lost=3"),
    ("0.000029000", E1, "kc-exec-1", "EXEC_WAKE", "exec=0xe1"),
    ("0.000030000", E0, "kc-exec-0", "RUN_BEGIN",
     "kc=0x1004 fn=0x4004 exec=0xe0 flow=-"),
    ("0.000031000", E0, "kc-exec-0", "RUN_BEGIN",
     "kc=0x1005 fn=0x4005 exec=0xe0 flow=-"),
    ("0.000032000", E0, "kc-exec-0", "RUN_END", "kc=0x1005 fn=0x4005"),
    ("0.000033000", E0, "kc-exec-0", "RUN_END", "kc=0x1004 fn=0x4004"),
    ("0.000034000", MAIN, "main", "USER", 'text="ABCDEFGHIJKLMNOP"'),
    ("0.000035000", E1, "kc-exec-1b", "THREAD_NAME", 'name="kc-exec-1b"'),
    ("0.000036000", E1, "kc-exec-1b", "EXEC_SLEEP", "exec=0xe1"),
    ("0.001000000", TR, "kc-trace", "SYNC", "time=1002000000 mono=5001000000"),
    # Past the first SYNC point: the second segment's rate.
    ("0.001550000", E0, "kc-exec-0", "RUN_BEGIN",
     "kc=0x1002 fn=0x4002 exec=0xe0 flow=4242:3"),
    ("0.001660000", E0, "kc-exec-0", "RUN_END", "kc=0x1002 fn=0x4002"),
    ("0.002100000", TR, "kc-trace", "SYNC", "time=1004000000 mono=5002100000"),
    # Past the last point: that segment's rate, extrapolated.
    ("0.003200000", E1, "kc-exec-1b", "RUN_BEGIN",
     "kc=0x1006 fn=0x4006 exec=0xe1 flow=-"),
    ("0.003750000", MAIN, "main", "THREAD_EXIT", ""),
]

SUMMARY_THREADS = {
    MAIN: "9 records, lost 0 records (seq gaps 0)",
    E0: "14 records, lost 0 records (seq gaps 0)",
    E1: "11 records, lost 0 records (seq gaps 2)",
    WK: "10 records, lost 3 records (seq gaps 3)",
    TR: "3 records, lost 0 records (seq gaps 0)",
}
SUMMARY_TOTAL = "total: 47 records, 5 threads, lost 3 records (seq gaps 5), " \
    "2 unknown"


def fail(msg):
    raise AssertionError(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def run(args, stdin=None, expect=0):
    """Run kcdump; it must exit with expect (never by a signal)."""
    p = subprocess.run([KCDUMP] + args, stdin=stdin, capture_output=True,
                       timeout=60)
    check(p.returncode >= 0,
          f"kcdump {args}: killed by signal {-p.returncode}: "
          f"{p.stderr.decode(errors='replace')}")
    check(p.returncode == expect,
          f"kcdump {args}: exit {p.returncode}, expected {expect}; stderr: "
          f"{p.stderr.decode(errors='replace')}")
    return p.stdout.decode("utf-8"), p.stderr.decode("utf-8")


def trace(name):
    return os.path.join(DIR, name)


def parse_text(out):
    """(records, summary lines) of the default output."""
    lines = out.split("\n")
    check(lines[0].split() == ["PID", "TID", "NAME", "TIME", "TYPE",
                               "DETAILS"], f"header line: {lines[0]!r}")
    recs = []
    i = 1
    while lines[i] != "":
        f = lines[i].split(None, 5)
        check(len(f) >= 5, f"short line {lines[i]!r}")
        recs.append((int(f[0]), int(f[1]), f[2], f[3], f[4],
                     f[5] if len(f) > 5 else ""))
        i += 1
    summary = [x for x in lines[i + 1:] if x != ""]
    return recs, summary


def case_text():
    out, err = run([trace("good.trace")])
    check(err == "", f"stderr: {err!r}")
    recs, summary = parse_text(out)
    check(len(recs) == len(GOOD), f"{len(recs)} records, not {len(GOOD)}")
    for got, want in zip(recs, GOOD):
        pid, tid, name, time, typ, det = got
        wt, wtid, wname, wtyp, wdet = want
        check((pid, tid, name, time, typ, det) ==
              (PID, wtid, wname, wt, wtyp, wdet),
              f"record {got} is not {want}")
    # Every line is printable ASCII, names and text escaped.
    out, _ = run([trace("names.trace")])
    check(all(0x20 <= ord(c) < 0x7f for c in out.replace("\n", "")),
          "non-ASCII or control characters in the text output")
    recs, _ = parse_text(out)
    check([r[2] for r in recs] == [
        "a<b>&\\\"c'd\\x20e",
        "bad\\x01\\xff\\xfe\\x20utf8\\x20\\xc3\\xa9\\xe2\\x82\\xac",
        "a<b>&\\\"c'd\\x20e",
        "bad\\x01\\xff\\xfe\\x20utf8\\x20\\xc3\\xa9\\xe2\\x82\\xac"],
        f"escaped names: {[r[2] for r in recs]}")
    check(recs[2][5] == 'text="<script>alert(1)</script> & \\"\\xc3(\\""',
          f"escaped text: {recs[2][5]!r}")
    # A header and no records: nothing but the header line and a summary.
    out, _ = run([trace("header-only.trace")])
    recs, summary = parse_text(out)
    check(recs == [], "records in header-only.trace")
    check(summary[-1].startswith("total: 0 records, 0 threads"),
          f"summary of header-only.trace: {summary}")


def wall(ns):
    sec, frac = divmod(ns, 1000000000)
    d = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def case_times():
    mono = trace("mono.trace")
    # -R (the default): since the start, one record before it.
    for args in ([mono], ["-R", mono], ["-T", "-R", mono]):
        recs, _ = parse_text(run(args)[0])
        check([r[3] for r in recs] == ["-0.000001000", "0.000000000",
                                       "0.000001500", "1.000000001"],
              f"{args}: {[r[3] for r in recs]}")
    # -T: wall clock, UTC, ns.
    base = START_REAL + 123456789
    recs, _ = parse_text(run(["-T", mono])[0])
    want = [wall(base - 1000), wall(base), wall(base + 1500),
            wall(base + 1000000001)]
    check([r[3] for r in recs] == want, f"-T: {[r[3] for r in recs]} "
          f"not {want}")
    check(want[1] == "2026-05-28T20:26:40.123456789Z", want[1])
    # -E: since the previous record printed.
    recs, _ = parse_text(run(["-E", mono])[0])
    check([r[3] for r in recs] == ["0.000000000", "0.000001000",
                                   "0.000001500", "0.999998501"],
          f"-E: {[r[3] for r in recs]}")
    recs, _ = parse_text(run(["-E", "-t", str(E0), trace("good.trace")])[0])
    times = [int(g[0].replace(".", "")) for g in GOOD if g[1] == E0]
    want = ["0.000000000"] + [f"0.{b - a:09d}" for a, b in
                              zip(times, times[1:])]
    check([r[3] for r in recs] == want, f"-E -t: {[r[3] for r in recs]}")
    # TSC: piecewise between the points (good.trace, text case); with the
    # last SYNC cut off, the one segment left is extrapolated.
    out, _ = run([trace("trunc-record.trace")], expect=65)
    recs, _ = parse_text(out)
    check(recs[-1][3:5] == ("0.003500000", "THREAD_EXIT"),
          f"extrapolated time: {recs[-1]}")
    # The start, in the summary.
    out, _ = run(["-s", trace("good.trace")])
    check("start 2026-05-28T20:26:40.000000000Z" in out, out)


def types_of(out):
    return [r[4] for r in parse_text(out)[0]]


def case_filters():
    good = trace("good.trace")

    def recs(*args):
        return parse_text(run(list(args) + [good])[0])[0]

    r = recs("-t", str(E0))
    check(len(r) == 14 and all(x[1] == E0 for x in r), f"-t: {r}")
    r = recs("-t", f"{E0},{E1}", "-t", str(WK))
    check(len(r) == 35 and {x[1] for x in r} == {E0, E1, WK}, f"-t -t: {r}")
    check(len(recs("-p", str(PID))) == 47, "-p 4242")
    check(recs("-p", "1") == [], "-p 1")
    check(recs("-p", "1,4242") != [], "-p 1,4242")
    r = recs("-y", "run_begin,KC_TR_RUN_END")
    check(len(r) == 11 and {x[4] for x in r} == {"RUN_BEGIN", "RUN_END"},
          f"-y: {r}")
    r = recs("-y", "kc_tr_run_begin", "-t", str(E1))
    check([x[5] for x in r] == ["kc=0x1001 fn=0x4001 exec=0xe1 flow=4243:3",
                                "kc=0x1006 fn=0x4006 exec=0xe1 flow=-"],
          f"-y -t: {r}")
    check([x[4] for x in recs("-y", "200")] == ["UNKNOWN_200"], "-y 200")
    r = recs("--from", "0.00001", "--to", "0.00002")
    check([x[3] for x in r] == [g[0] for g in GOOD
                                if 10000 <= int(g[0].replace(".", "")) <= 20000],
          f"--from --to: {r}")
    check(len(r) == 12, f"--from --to: {len(r)} records")
    r = recs("--from", "0.0015")
    check([x[3] for x in r] == ["0.001550000", "0.001660000", "0.002100000",
                                "0.003200000", "0.003750000"],
          f"--from: {r}")
    r = recs("--to", "-0.5")
    check(r == [], "--to -0.5")
    # Names come from THREAD_NAME records even when those are not shown.
    r = recs("-y", "exec_sleep")
    check([(x[1], x[2]) for x in r] == [(E0, "kc-exec-0"), (E1, "kc-exec-1b")],
          f"names under -y: {r}")
    # All together.
    r = recs("-p", "4242", "-t", str(E0), "-y", "RUN_END", "--from", "0.00003")
    check([x[5] for x in r] == ["kc=0x1005 fn=0x4005", "kc=0x1004 fn=0x4004",
                                "kc=0x1002 fn=0x4002"], f"AND: {r}")


def check_summary(lines):
    check(lines[0].startswith("trace: gentrace, pid 4242, clock tsc "
                              "(2000000000 Hz, 3 points), start "),
          f"first summary line: {lines[0]!r}")
    threads = {}
    for x in lines[1:-1]:
        f = x.split(None, 4)
        check(f[0] == "thread" and int(f[1]) == PID, f"line {x!r}")
        threads[int(f[2])] = (f[3], f[4])
    check(threads == {t: (NAMES[t], s) for t, s in SUMMARY_THREADS.items()},
          f"thread lines: {threads}")
    check(lines[-1] == SUMMARY_TOTAL, f"total line: {lines[-1]!r}")


def case_loss():
    out, err = run(["-s", trace("good.trace")])
    check(err == "", err)
    lines = [x for x in out.split("\n") if x != ""]
    check(len(lines) == 7, f"-s: {lines}")
    check_summary(lines)
    # The same after the records, whatever the filter.
    _, summary = parse_text(run(["-t", "1", trace("good.trace")])[0])
    check_summary(summary)
    # Cut short: what was read, and where it stopped.
    out, _ = run(["-s", trace("trunc-record.trace")], expect=65)
    check(out.rstrip("\n").split("\n")[-1] ==
          "total: 46 records, 5 threads, lost 3 records (seq gaps 5), "
          "2 unknown, stopped at offset 2560 of 2600", out)


def case_stdin():
    good = trace("good.trace")
    want, _ = run([good])
    with open(good, "rb") as f:
        got, _ = run(["-"], stdin=f)
    check(got == want, "stdin differs from the file")
    # Through a pipe (no size known in advance), a few times over.
    with open(good, "rb") as f:
        data = f.read()
    p = subprocess.run([KCDUMP, "-"], input=data, capture_output=True,
                       timeout=60)
    check(p.returncode == 0 and p.stdout.decode() == want,
          "a pipe differs from the file")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "out.txt")
        out, _ = run(["-o", path, good])
        check(out == "", "-o wrote to stdout")
        with open(path) as f:
            check(f.read() == want, "-o file differs")
        path = os.path.join(d, "out.json")
        run(["--json", "-o", path, good])
        with open(path, encoding="utf-8") as f:
            json.load(f)
        _, err = run(["-o", os.path.join(d, "no", "such"), good], expect=73)
        check(err.count("\n") == 1, err)
    with open(trace("random.trace"), "rb") as f:
        _, err = run(["-"], stdin=f, expect=65)
    check(err == "kcdump: stdin: not a kcont trace\n", err)


BAD = [
    ("empty.trace", "empty file"),
    ("short-header.trace", "truncated header (60 bytes of 128)"),
    ("magic.trace", "not a kcont trace"),
    ("version2.trace", "version 2, this kcdump reads 1"),
    ("hdrsize.trace", "bad header size 64"),
    ("nohz.trace", "no clock rate"),
    ("random.trace", "not a kcont trace"),
    ("trunc-record.trace",
     "truncated record at offset 2560 (length 48, 40 bytes left)"),
    ("trunc-header.trace", "truncated record at offset 2560 (28 bytes"),
    ("zero-len.trace", "bad record length 0 at offset 216"),
    ("odd-len.trace", "bad record length 36 at offset 216"),
    ("long-len.trace", "truncated record at offset 216 (length 65528"),
]

# Records printed before the bad one (None: nothing but the error).
BAD_RECORDS = {"trunc-record.trace": 46, "trunc-header.trace": 46,
               "zero-len.trace": 2, "odd-len.trace": 2, "long-len.trace": 2}


def case_bad():
    for name, msg in BAD:
        for args in ([], ["--json"], ["--svg"], ["-s"]):
            out, err = run(args + [trace(name)], expect=65)
            check(err.count("\n") == 1 and err.endswith("\n"),
                  f"{name} {args}: not one line: {err!r}")
            check(err.startswith(f"kcdump: {trace(name)}: ") and msg in err,
                  f"{name} {args}: {err!r} lacks {msg!r}")
            n = BAD_RECORDS.get(name)
            if n is None:
                check(out == "", f"{name} {args}: printed {out[:200]!r}")
            elif args == []:
                recs, _ = parse_text(out)
                check(len(recs) == n, f"{name}: {len(recs)} records, not {n}")
                # good.trace's records less its last in the file (the
                # second SYNC), or its first two.
                want = [g[1:4] for g in GOOD if g[0] != "0.002100000"] \
                    if n == 46 else [(MAIN, "main", "THREAD_NAME"),
                                     (MAIN, "main", "USER")]
                check([r[1:3] + r[4:5] for r in recs] == want,
                      f"{name}: records differ: {recs}")
            elif args == ["--json"]:
                json.loads(out)
            elif args == ["--svg"]:
                ET.fromstring(out)
    # Random bytes after a good header: an error or not, never a crash.
    for args in ([], ["--json"], ["--svg"], ["-T"], ["-E"]):
        p = subprocess.run([KCDUMP] + args + [trace("random-body.trace")],
                           capture_output=True, timeout=60)
        check(p.returncode in (0, 65), f"random-body {args}: exit "
              f"{p.returncode}")
        check(p.stderr.count(b"\n") <= 1, f"random-body: {p.stderr!r}")
    # Over 4 GiB (a sparse file): refused before it is read.
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "huge.trace")
        with open(path, "wb") as f:
            f.truncate(5 << 30)
        _, err = run([path], expect=65)
        check(err == f"kcdump: {path}: larger than 4294967296 bytes, the "
              "most kcdump reads\n", err)
    # No file, a directory: 66.
    for path in (trace("no-such.trace"), DIR):
        _, err = run([path], expect=66)
        check(err.count("\n") == 1 and err.startswith(f"kcdump: {path}: "),
              err)


def case_usage():
    good = trace("good.trace")
    for args, msg in (
            (["-x", good], "unknown option '-x'"),
            (["--frob", good], "unknown option '--frob'"),
            (["-y", "bogus", good], "'bogus'"),
            (["-y", "run_begin,nope", good], "'nope'"),
            (["-y", "0", good], "'0'"),
            (["-t", "abc", good], "-t"),
            (["-t", "1,,2", good], "-t"),
            (["-p", "", good], "-p"),
            (["-p", "4294967296", good], "-p"),
            (["--from", "abc", good], "abc"),
            (["--to", "1.2.3", good], "1.2.3"),
            (["--to"], "needs a value"),
            (["-o"], "needs a value"),
            (["--json", "--svg", good], "exclude"),
            ([], "no file"),
            ([good, good], "one file"),
    ):
        out, err = run(args, expect=64)
        check(out == "", f"{args}: stdout {out!r}")
        lines = err.split("\n")
        check(lines[0].startswith("kcdump: ") and msg in lines[0],
              f"{args}: {lines[0]!r} lacks {msg!r}")
        check(lines[1].startswith("usage: kcdump "), f"{args}: {err!r}")
    for h in ("-h", "--help"):
        out, _ = run([h])
        check(out.startswith("usage: kcdump "), out)
        for opt in ("-R", "-T", "-E", "-p", "-t", "-y", "--from", "--to",
                    "-s", "--json", "--svg", "-o"):
            check(f"  {opt} " in out, f"--help lacks {opt}")


def case_json():
    out, _ = run(["--json", trace("good.trace")])
    d = json.loads(out)
    check(isinstance(d["traceEvents"], list), "traceEvents")
    check(d["displayTimeUnit"] in ("ns", "ms"), "displayTimeUnit")
    check(d["otherData"]["lost"] == 3 and d["otherData"]["seq_gaps"] == 5 and
          d["otherData"]["records"] == 47 and
          d["otherData"]["unknown"] == 2, f"otherData {d['otherData']}")
    ev = d["traceEvents"]
    meta = [e for e in ev if e["ph"] == "M"]
    tnames = {e["tid"]: e["args"]["name"] for e in meta
              if e["name"] == "thread_name"}
    check(tnames == NAMES, f"thread_name: {tnames}")
    check(len([e for e in meta if e["name"] == "thread_name"]) == 5,
          "one thread_name each")
    pnames = [(e["pid"], e["args"]["name"]) for e in meta
              if e["name"] == "process_name"]
    check(pnames == [(PID, "gentrace")], f"process_name: {pnames}")
    rest = [e for e in ev if e["ph"] != "M"]
    check(all(e["pid"] == PID and e["tid"] in NAMES and e["ts"] >= 0
              for e in rest), "pid, tid, ts")
    check([e["ts"] for e in rest] == sorted(e["ts"] for e in rest),
          "events in time order")

    # Runs: X slices on the thread that ran them.
    runs = [e for e in rest if e["ph"] == "X" and e["cat"] == "run"]
    got = sorted((e["args"]["kc"], e["tid"], e["ts"], e["dur"]) for e in runs)
    want = sorted([("0x1000", E0, 4.0, 4.0), ("0x1001", E1, 10.0, 2.0),
                   ("0x1004", E0, 30.0, 3.0), ("0x1005", E0, 31.0, 1.0),
                   ("0x1002", E0, 1550.0, 110.0),
                   # never ended: closed at the trace's last time
                   ("0x1006", E1, 3200.0, 550.0)])
    check(got == want, f"run slices {got}")
    check({e["name"] for e in runs} == {"fn 0x4000", "fn 0x4001", "fn 0x4002",
                                        "fn 0x4004", "fn 0x4005", "fn 0x4006"},
          "run names")
    xs = [e for e in rest if e["ph"] == "X"]
    check(len(xs) == 12, f"{len(xs)} X slices, not 6 runs + 6 flow points")
    check(not [e for e in rest if e["name"] == "RUN_END"],
          "paired RUN_ENDs are part of their slices")

    # Flows: every flow event sits in a slice of its thread, written
    # before it, that encloses its time.
    def bound(fe):
        for e in xs:
            if ev.index(e) > ev.index(fe):
                break
            if e["tid"] == fe["tid"] and \
                    e["ts"] <= fe["ts"] <= e["ts"] + e["dur"]:
                return True
        return False

    flows = [e for e in rest if e["ph"] in "stf"]
    for fe in flows:
        check(bound(fe), f"flow event without a slice: {fe}")
        check(fe["ph"] != "f" or fe.get("bp") == "e", f"bp: {fe}")
    kc = {}
    for fe in flows:
        if fe["cat"] == "kc.flow":
            kc.setdefault(int(fe["id"], 16), []).append((fe["ph"], fe["tid"]))
    check(kc == {FLOW_A: [("s", MAIN), ("f", E0)],
                 FLOW_B: [("s", E0), ("f", E1)],
                 FLOW_D: [("s", MAIN), ("f", E0)]}, f"kc flows {kc}")
    msg = [(fe["ph"], fe["tid"], int(fe["id"], 16)) for fe in flows
           if fe["cat"] == "msg.flow"]
    check(msg == [("s", E0, FLOW_M), ("t", WK, FLOW_M), ("f", WK, FLOW_M)],
          f"message flow {msg}")
    check(all(fe["name"] == ("continuation" if fe["cat"] == "kc.flow"
                             else "message") for fe in flows), "flow names")

    # Instants, with their fields.
    inst = {}
    for e in rest:
        if e["ph"] == "i":
            check(e["s"] == "t", f"instant scope {e}")
            inst.setdefault(e["name"], []).append(e)
    check(inst["LOSS"][0]["tid"] == WK and inst["LOSS"][0]["args"]["lost"] == 3,
          f"LOSS {inst['LOSS']}")
    check([e["args"]["text"] for e in inst["USER"]] ==
          ['hello "kcdump"', "after a gap", "ABCDEFGHIJKLMNOP"], "USER")
    check(inst["SOCK_CONNECT"][0]["args"]["error"] == "-ECONNREFUSED", "error")
    check("UNKNOWN_200" in inst and "UNKNOWN_4000" in inst, "unknown types")

    # Filters apply; names are still there.
    d = json.loads(run(["--json", "-t", str(E1), trace("good.trace")])[0])
    check({e["tid"] for e in d["traceEvents"]
           if e["name"] != "process_name"} == {E1}, "--json -t")
    check([e["args"]["name"] for e in d["traceEvents"]
           if e.get("name") == "thread_name"] == ["kc-exec-1b"], "-t name")
    # A record before the start: timestamps stay >= 0.
    d = json.loads(run(["--json", trace("mono.trace")])[0])
    check(min(e["ts"] for e in d["traceEvents"] if "ts" in e) == 0,
          "mono.trace ts")
    # Names and text that are not UTF-8: still valid JSON text.
    p = subprocess.run([KCDUMP, "--json", trace("names.trace")],
                       capture_output=True, timeout=60)
    d = json.loads(p.stdout.decode("utf-8"))
    names = sorted(e["args"]["name"] for e in d["traceEvents"]
                   if e.get("name") == "thread_name")
    check(names == ["a<b>&\"c'd e", "bad\x01\ufffd\ufffd utf8 \u00e9\u20ac"],
          f"names {names}")


SVG = "{http://www.w3.org/2000/svg}"


def case_svg():
    out, _ = run(["--svg", trace("good.trace")])
    root = ET.fromstring(out)
    check(root.tag == SVG + "svg", root.tag)
    check("<script" not in out and "href" not in out and
          out.count("http") == 1, "external references or scripts")
    labels = [t.text for t in root.iter(SVG + "text")]
    for tid, name in NAMES.items():
        check(f"{PID}/{tid} {name}" in labels, f"no row for {tid}: {labels}")
    arrows = [p for p in root.iter(SVG + "path")
              if p.get("marker-end") == "url(#arrow)"]
    titles = sorted(p.find(SVG + "title").text for p in arrows)
    check(titles == sorted([
        f"flow 4242:2: tid {MAIN} to tid {E0}",
        f"flow 4243:3: tid {E0} to tid {E1}",
        f"flow 4242:3: tid {MAIN} to tid {E0}",
        f"flow 4243:4: tid {E0} to tid {WK}",
        f"flow 4243:4: tid {WK} to tid {WK}"]), f"arrows {titles}")
    rtitles = [r.find(SVG + "title").text for r in root.iter(SVG + "rect")
               if r.find(SVG + "title") is not None]
    check(any(t.startswith("RUN_BEGIN") and "kc=0x1006" in t and
              "(no RUN_END)" in t for t in rtitles), "open run")
    check(any(t.startswith("RUN_BEGIN") and "kc=0x1002" in t and
              "for 0.000110000 s" in t for t in rtitles), "run 0x1002")
    # Names needing escapes; a big trace stays within the element cap.
    root = ET.fromstring(run(["--svg", trace("names.trace")])[0])
    labels = [t.text for t in root.iter(SVG + "text")]
    check("4242/6000 a<b>&\"c'd e" in labels, f"escaped label: {labels}")
    out = run(["--svg", trace("big.trace")])[0]
    root = ET.fromstring(out)
    n = sum(1 for _ in root.iter())
    check(n <= 20000 + 2 * 40 + 100 + 20000, f"{n} elements in the big SVG")
    drawn = sum(1 for e in root.iter() if e.tag in (SVG + "rect", SVG + "path"))
    check(drawn <= 20000, f"{drawn} rects and paths")
    check(len([t for t in root.iter(SVG + "text")
               if t.text.startswith("4242/70")]) == 40, "40 rows")
    check("merged" in out, "no note of merged records")
    # Filters and bad names are fine; an empty selection too.
    ET.fromstring(run(["--svg", "-p", "1", trace("good.trace")])[0])
    ET.fromstring(run(["--svg", trace("header-only.trace")])[0])


# The hostile files gentrace.c writes: (file, records).  Every record is a
# new thread (tids-*), or a flow put and looked up (flows-*, 2 per flow).
HOSTILE = [("tids-old.trace", 30000), ("tids-stride.trace", 30000),
           ("tids-seq.trace", 30000), ("flows-old.trace", 60000),
           ("flows-stride.trace", 60000)]
# Hash table slots looked at, at most, per record.  A keyed table at most
# half full looks at about 1.5 slots to find a key and 2.5 to miss one, and
# moves each key about twice as it grows: some 5 per record here, in each
# mode.  The old unkeyed hash on tids-old.trace or flows-old.trace looked
# at some 15000 per record (every id in one cluster).
PROBES_PER_RECORD = 12


def stats(err):
    """The KCDUMP_STATS line: (records, probes)."""
    for line in err.splitlines():
        if line.startswith("kcdump: stats: "):
            w = line.split()
            return int(w[2]), int(w[4])
    fail(f"no stats line in: {err}")


def case_hostile():
    """Work bounded by the records, whatever the ids (defect 7)."""
    env = dict(os.environ, KCDUMP_STATS="1")
    for name, nrec in HOSTILE:
        for args in (["-s"], [], ["--json"], ["--svg"]):
            p = subprocess.run([KCDUMP] + args + [trace(name)], env=env,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=120)
            err = p.stderr.decode()
            check(p.returncode == 0, f"{name} {args}: exit {p.returncode}")
            recs, probes = stats(err)
            check(recs == nrec, f"{name}: {recs} records, not {nrec}")
            check(probes <= PROBES_PER_RECORD * nrec,
                  f"{name} {args}: {probes} map probes for {nrec} records,"
                  f" more than {PROBES_PER_RECORD} a record")


def child_rusage(args, stdin=None):
    """Run kcdump; (exit status, stderr, peak RSS in bytes, bytes read)."""
    p = subprocess.Popen([KCDUMP] + args, stdin=stdin,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    # Not reaped yet: its I/O counts are still there to read.
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
    with open(f"/proc/{p.pid}/io") as f:
        io = dict(line.split(": ") for line in f.read().splitlines())
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, err.decode(), ru.ru_maxrss * 1024, int(io["rchar"])


# Peak memory, at most MEM_K times the file plus MEM_C.  Per record of a
# thread of its own (32 bytes): the file (32), the thread (64), the index
# of threads (at most 16, freed before the next), the time order (16) and
# qsort's copy of it (16): under 4 times the file.  The sanitizers add
# their own: AddressSanitizer an eighth for shadow and its allocator's
# reserve, ThreadSanitizer several times the memory touched; their factor
# is theirs, not kcdump's.
SAN = os.environ.get("KD_SANITIZE", "")
MEM_K = 4 * (6 if "thread" in SAN else 2 if "address" in SAN else 1)
# The constant holds the program, its libraries and the test's own Python
# (ru_maxrss counts the child from fork, before it runs kcdump).
MEM_C = (128 if SAN else 32) << 20


def case_memory():
    """A thread per record: memory a small multiple of the file."""
    path = trace("threads-1m.trace")
    size = os.path.getsize(path)
    for args in (["-s"], []):
        rc, err, rss, _ = child_rusage(args + [path])
        check(rc == 0, f"{args}: exit {rc}: {err}")
        check(rss <= MEM_K * size + MEM_C,
              f"{args}: peak RSS {rss} bytes for a file of {size}: more "
              f"than {MEM_K} times it and {MEM_C >> 20} MiB")


# What a refused file may cost: its 128-byte header, and the reading of
# the program and its libraries.
READ_MAX = 1 << 20


def case_header():
    """Not a trace: refused after its header, however long (defect 7)."""
    with tempfile.TemporaryDirectory(dir=DIR) as d:
        # 2 GiB of zeros, sparse: no disk.
        path = os.path.join(d, "zeros")
        with open(path, "wb") as f:
            f.truncate(2 << 30)
        rc, err, rss, rchar = child_rusage([path])
        check(rc == 65 and err == f"kcdump: {path}: not a kcont trace\n",
              f"zeros: exit {rc}: {err}")
        check(rchar <= READ_MAX,
              f"zeros: read {rchar} bytes of a bad file, not its header")
        check(rss <= MEM_C, f"zeros: peak RSS {rss} bytes")
        # A good header and a bad version: refused as early.
        with open(trace("version2.trace"), "rb") as f:
            hdr = f.read(128)
        with open(path, "r+b") as f:
            f.write(hdr)
        rc, err, _, rchar = child_rusage([path])
        check(rc == 65 and err.endswith("version 2, this kcdump reads 1\n"),
              f"version 2: exit {rc}: {err}")
        check(rchar <= READ_MAX, f"version 2: read {rchar} bytes")
    # Through a pipe: what the writer could push into it is the header,
    # and the pipe's own buffer, not the 64 MiB offered.
    r, w = os.pipe()
    p = subprocess.Popen([KCDUMP, "-"], stdin=r, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    os.close(r)
    chunk = bytes(65536)
    pushed = 0
    try:
        for _ in range(1024):
            pushed += os.write(w, chunk)
    except BrokenPipeError:
        pass
    os.close(w)
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    check(p.returncode == 65 and err == "kcdump: stdin: not a kcont trace\n",
          f"stdin zeros: exit {p.returncode}: {err}")
    check(pushed <= READ_MAX, f"stdin zeros: {pushed} bytes taken of "
          f"{1024 * len(chunk)}")


CASES = {"text": case_text, "times": case_times, "filters": case_filters,
         "loss": case_loss, "stdin": case_stdin, "bad": case_bad,
         "usage": case_usage, "json": case_json, "svg": case_svg,
         "hostile": case_hostile, "memory": case_memory,
         "header": case_header}


def main():
    global KCDUMP, DIR
    if len(sys.argv) != 4 or sys.argv[1] not in CASES:
        print(f"usage: check.py {{{'|'.join(CASES)}}} KCDUMP TRACEDIR",
              file=sys.stderr)
        return 2
    KCDUMP, DIR = sys.argv[2], sys.argv[3]
    CASES[sys.argv[1]]()
    print(f"kcdump-{sys.argv[1]}: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
