#!/usr/bin/python3
"""kcnbd against real NBD clients from Debian, one scenario a run.

usage: nbd_test.py KCNBD SCENARIO

Every scenario starts kcnbd on a UNIX socket (or loopback TCP) in a
private temporary directory and drives it with libnbd's tools (nbdinfo,
nbdcopy, nbdsh), qemu-img, fio's nbd engine, or raw bytes on a socket
for what no well-behaved client sends.  The tools come from
scripts/deps.sh it; where one is missing the scenario is skipped (77),
except under CI=true, where that is a failure.  It runs under Debian's
/usr/bin/python3, whose python3-libnbd module is the one nbdsh uses.
"""
import errno
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

KCNBD = None
TMP = None
ENV = dict(os.environ, PATH="/usr/bin:/bin:/usr/sbin:/sbin:" +
           os.environ.get("PATH", ""), LC_ALL="C")
DEADLINE = 120.0  # seconds any one wait may take before the test fails

MiB = 1 << 20
GiB = 1 << 30


SERVERS = []


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def need(tool):
    path = shutil.which(tool, path=ENV["PATH"])
    if path is None:
        msg = "%s is not installed (scripts/deps.sh it)" % tool
        if os.environ.get("CI") == "true":
            raise Fail(msg + " and CI=true")
        print("SKIP: " + msg)
        sys.exit(77)
    return path


def run(*args, ok=True, timeout=DEADLINE, **kw):
    p = subprocess.run(list(args), env=ENV, capture_output=True, text=True,
                       timeout=timeout, **kw)
    if ok and p.returncode != 0:
        raise Fail("%s: exit %d: %s %s" % (" ".join(args), p.returncode,
                                           p.stdout[-2000:],
                                           p.stderr[-2000:]))
    return p


class Server:
    """kcnbd as a child process; its log in TMP/kcnbd-N.log."""
    n = 0

    def __init__(self, exports, opts=(), listen=None):
        Server.n += 1
        self.sock = os.path.join(TMP, "s%d.sock" % Server.n)
        self.logpath = os.path.join(TMP, "kcnbd-%d.log" % Server.n)
        self.listen = listen or "unix:" + self.sock
        self.log = open(self.logpath, "w+")
        args = [KCNBD, "-v", "-j", "2", "-l", self.listen] + list(opts) + \
            list(exports)
        self.p = subprocess.Popen(args, stdout=self.log, stderr=self.log,
                                  env=ENV)
        SERVERS.append(self.p)
        m = self.wait_log(r"listening on (\S+)")
        self.addr = m.group(1)

    def text(self):
        with open(self.logpath) as f:
            return f.read()

    def wait_log(self, pattern, after=0):
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            m = re.search(pattern, self.text()[after:])
            if m:
                return m
            if self.p.poll() is not None:
                raise Fail("kcnbd exited %d: %s" % (self.p.returncode,
                                                    self.text()))
            time.sleep(0.02)
        raise Fail("kcnbd never logged %r: %s" % (pattern, self.text()))

    def uri(self, name=""):
        if self.listen.startswith("unix:"):
            return "nbd+unix:///%s?socket=%s" % (name, self.sock)
        host, port = self.addr[4:].rsplit(":", 1)
        return "nbd://%s:%s/%s" % (host, port, name)

    def stop(self, expect=0):
        self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise Fail("kcnbd did not stop on SIGTERM: " + self.text())
        check(rc == expect, "kcnbd exited %d, not %d: %s" %
              (rc, expect, self.text()[-3000:]))
        check("ERROR: AddressSanitizer" not in self.text() and
              "runtime error" not in self.text() and
              "ThreadSanitizer" not in self.text(),
              "a sanitizer spoke: " + self.text()[-5000:])

    def wait_exit(self, expect):
        try:
            rc = self.p.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise Fail("kcnbd did not exit: " + self.text())
        check(rc == expect, "kcnbd exited %d, not %d: %s" %
              (rc, expect, self.text()[-3000:]))

    def rss_kib(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


def mkfile(path, size):
    """Create path if missing, and make it size bytes long."""
    with open(path, "ab") as f:
        f.truncate(size)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


def allocated(path):
    return os.stat(path).st_blocks * 512


def sparse_file(path, size, chunks, seed=1):
    """A sparse file of size bytes with chunks of random data at random
    places (1 MiB each, 1 MiB aligned)."""
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        f.truncate(size)
        for _ in range(chunks):
            off = rnd.randrange(0, size // MiB) * MiB
            f.seek(off)
            f.write(rnd.randbytes(MiB))


def nbdsh(uri, script, meta=False):
    """An nbdsh script on a handle with libnbd's own checks off, so that
    the server, not the client library, judges each request."""
    pre = "h.set_strict_mode(0)\n"
    if meta:
        pre += "h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)\n"
    pre += "h.connect_uri(%r)\n" % uri
    return run(need("nbdsh"), "-c", pre + script)


# ---- scenarios ----

def sc_list():
    need("nbdinfo")
    a = os.path.join(TMP, "a.img")
    b = os.path.join(TMP, "b.img")
    mkfile(a, 64 * MiB)
    mkfile(b, 3 * MiB + 512)
    s = Server(["alpha=" + a, "beta=" + b + ":ro"], ["--max-payload", "4m"])
    out = run("nbdinfo", "--list", s.uri()).stdout
    check('export="alpha"' in out and 'export="beta"' in out,
          "--list names both exports: " + out)
    j = json.loads(run("nbdinfo", "--list", "--json", s.uri()).stdout)
    ex = {e["export-name"]: e for e in j["exports"]}
    check(set(ex) == {"alpha", "beta"}, "exports: %r" % list(ex))
    check(j["protocol"] == "newstyle-fixed" and j["structured"],
          "protocol: %r" % j)
    al, be = ex["alpha"], ex["beta"]
    check(al["export-size"] == 64 * MiB, "alpha size %r" % al)
    check(be["export-size"] == 3 * MiB + 512, "beta size %r" % be)
    check(not al["is_read_only"] and be["is_read_only"], "read-only flags")
    for k in ("can_flush", "can_fua", "can_multi_conn", "can_cache",
              "can_trim", "can_zero", "can_df"):
        check(al[k] is True, "alpha %s: %r" % (k, al))
    check(be["can_trim"] is False and be["can_zero"] is False,
          "a read-only export offers no trim or zero: %r" % be)
    check(al["block_size_minimum"] == 1 and
          al["block_size_preferred"] == 4096 and
          al["block_size_maximum"] == 4 * MiB, "block sizes %r" % al)
    check("base:allocation" in al["contexts"], "contexts %r" % al)
    # The default export is the first.
    d = json.loads(run("nbdinfo", "--json", s.uri("")).stdout)
    check(d["exports"][0]["export-size"] == 64 * MiB, "default %r" % d)
    # An unknown export is refused, and the server goes on.
    p = run("nbdinfo", s.uri("nosuch"), ok=False)
    check(p.returncode != 0, "an unknown export must fail")
    run("nbdinfo", s.uri("beta"))
    s.stop()


def sc_copy():
    need("nbdcopy")
    size = GiB
    src = os.path.join(TMP, "src.img")
    sparse_file(src, size, 24)
    want = sha256(src)
    dst1 = os.path.join(TMP, "dst1.img")
    dst2 = os.path.join(TMP, "dst2.img")
    mkfile(dst1, size)
    mkfile(dst2, size)
    s = Server(["src=" + src + ":ro", "dst1=" + dst1, "dst2=" + dst2])
    # From kcnbd: the holes stay holes (block status), the bytes match.
    out = os.path.join(TMP, "out.img")
    run("nbdcopy", s.uri("src"), out)
    check(sha256(out) == want, "nbdcopy from kcnbd: sha256 differs")
    check(allocated(out) < 64 * MiB, "nbdcopy from kcnbd wrote %d bytes "
          "of a file with 24 MiB of data" % allocated(out))
    # To kcnbd: zeroes become holes (WRITE_ZEROES punches).
    run("nbdcopy", out, s.uri("dst1"))
    check(sha256(dst1) == want, "nbdcopy to kcnbd: sha256 differs")
    check(allocated(dst1) < 64 * MiB, "nbdcopy to kcnbd left %d bytes "
          "allocated" % allocated(dst1))
    run("nbdcopy", "--destination-is-zero", out, s.uri("dst2"))
    check(sha256(dst2) == want, "--destination-is-zero: sha256 differs")
    check(allocated(dst2) < 64 * MiB, "--destination-is-zero left %d "
          "bytes allocated" % allocated(dst2))
    # Both ways through kcnbd at once: export to export.
    mkfile(dst2, 0)
    mkfile(dst2, size)
    run("nbdcopy", s.uri("src"), s.uri("dst2"))
    check(sha256(dst2) == want, "kcnbd to kcnbd: sha256 differs")
    s.stop()


def sc_sendfile():
    """Reads of 4 MiB and more whose range is all data go from the file to
    the socket without a copy: their bytes are the file's, and the stats
    count them; a range with a hole, or a smaller read, is copied."""
    need("nbdsh")
    path = os.path.join(TMP, "sf.img")
    with open(path, "wb") as f:
        f.write(random.Random(7).randbytes(16 * MiB))
        f.truncate(24 * MiB)
    s = Server(["sf=" + path], ["--stats", "0"])
    nbdsh(s.uri("sf"), """
want = open(%(p)r, "rb").read()
assert h.pread(8 << 20, 4 << 20) == want[4 << 20:12 << 20], "8 MiB read"
assert h.pread(4 << 20, 12 << 20) == want[12 << 20:16 << 20], "4 MiB read"
assert h.pread(1 << 20, 0) == want[:1 << 20], "1 MiB read"
assert h.pread(8 << 20, 12 << 20) == want[12 << 20:20 << 20], \
    "a read over the hole"
assert want[16 << 20:20 << 20] == bytes(4 << 20), "the hole"
""" % {"p": path})
    s.p.send_signal(signal.SIGUSR1)
    m = s.wait_log(r"stats conns=.* reads=(\d+) .* sendfile=(\d+) ")
    check(int(m.group(1)) == 4 and int(m.group(2)) == 2,
          "reads %s, by sendfile %s: want 4 and 2" % m.groups())
    s.stop()


def sc_qemu():
    need("qemu-img")
    size = 256 * MiB
    src = os.path.join(TMP, "q.img")
    sparse_file(src, size, 8, seed=2)
    dst = os.path.join(TMP, "qd.img")
    mkfile(dst, size)
    s = Server(["q=" + src + ":ro", "qd=" + dst])
    out = os.path.join(TMP, "qout.raw")
    run("qemu-img", "convert", "-f", "raw", "-O", "raw", s.uri("q"), out)
    run("qemu-img", "compare", "-f", "raw", "-F", "raw", src, out)
    run("qemu-img", "compare", "-f", "raw", "-F", "raw", s.uri("q"), src)
    # Into kcnbd, then compared against the source through it.
    run("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src,
        s.uri("qd"))
    run("qemu-img", "compare", "-f", "raw", "-F", "raw", s.uri("qd"), src)
    check(sha256(dst) == sha256(src), "qemu-img convert into kcnbd")
    # A difference is seen (compare must be able to fail).
    with open(dst, "r+b") as f:
        f.seek(5 * MiB + 3)
        f.write(b"\x55")
    p = run("qemu-img", "compare", "-f", "raw", "-F", "raw", s.uri("qd"),
            src, ok=False)
    check(p.returncode == 1, "qemu-img compare missed a changed byte")
    s.stop()


def sc_errors():
    need("nbdsh")
    rw = os.path.join(TMP, "rw.img")
    ro = os.path.join(TMP, "ro.img")
    mkfile(rw, 64 * MiB)
    with open(ro, "wb") as f:
        f.write(b"r" * MiB)
    s = Server(["rw=" + rw, "ro=" + ro + ":ro"])
    size = 64 * MiB
    # Each case on its own, and the connection goes on after it.
    nbdsh(s.uri("rw"), """
import errno
def err(f, want, what):
    try:
        f()
    except nbd.Error as e:
        assert e.errnum == want, (what, e.errnum, e)
        return
    raise AssertionError(what + ": no error")
err(lambda: h.pread(4096, %(size)d - 100), errno.EINVAL, "read past end")
err(lambda: h.pread(10, %(size)d + 4096), errno.EINVAL, "read beyond")
err(lambda: h.pwrite(b"x" * 4096, %(size)d - 100), errno.ENOSPC,
    "write past end")
err(lambda: h.trim(4096, %(size)d), errno.EINVAL, "trim past end")
err(lambda: h.zero(4096, %(size)d), errno.ENOSPC, "zero past end")
err(lambda: h.pread(33 << 20, 0), errno.EINVAL, "read over 32 MiB")
# A write over the maximum: its payload is read and dropped, EINVAL.
err(lambda: h.pwrite(b"w" * (33 << 20), 0), errno.EINVAL,
    "write over 32 MiB")
assert h.pread(4, 0) == b"\\0\\0\\0\\0", "the big write wrote"
# FUA and FLUSH: each replied after its data is stable; order kept by
# waiting for each reply before the next request.
h.pwrite(b"a" * 65536, 0, nbd.CMD_FLAG_FUA)
h.pwrite(b"b" * 4096, 4096)
h.flush()
d = h.pread(65536, 0)
assert d[:4096] == b"a" * 4096 and d[4096:8192] == b"b" * 4096, "fua/flush"
# The largest request allowed works.
h.pwrite(b"m" * (32 << 20), 0)
assert h.pread(32 << 20, 0) == b"m" * (32 << 20), "32 MiB round trip"
h.zero(65536, 0, nbd.CMD_FLAG_NO_HOLE)
assert h.pread(65536, 0) == bytes(65536), "zero, no hole"
h.zero(65536, 65536)
assert h.pread(65536, 65536) == bytes(65536), "zero"
h.trim(65536, 131072, nbd.CMD_FLAG_FUA)
h.cache(1 << 20, 0)
print("errors ok")
""" % {"size": size})
    nbdsh(s.uri("ro"), """
import errno
for what, f in (("write", lambda: h.pwrite(b"x" * 10, 0)),
                ("trim", lambda: h.trim(10, 0)),
                ("zero", lambda: h.zero(10, 0))):
    try:
        f()
    except nbd.Error as e:
        assert e.errnum == errno.EPERM, (what, e.errnum)
        continue
    raise AssertionError(what + " on a read-only export")
assert h.is_read_only()
assert h.pread(4, 0) == b"rrrr"
print("ro ok")
""")
    check(open(ro, "rb").read() == b"r" * MiB, "the read-only file changed")
    # Block status and holes in structured reads.
    with open(rw, "r+b") as f:
        f.truncate(0)
        f.truncate(size)
        f.seek(MiB)
        f.write(b"d" * MiB)
    nbdsh(s.uri("rw"), """
ext = []
def cb(meta, off, e, err):
    ext.extend(zip(e[0::2], e[1::2]))
h.block_status(%(size)d, 0, cb)
assert ext[0] == (1 << 20, 3), ext
assert ext[1] == (1 << 20, 0), ext
assert sum(l for l, f in ext) <= %(size)d
ext.clear()
h.block_status(%(size)d, 0, cb, nbd.CMD_FLAG_REQ_ONE)
assert len(ext) == 1 and ext[0] == (1 << 20, 3), ext
# A structured read over a hole and data: the chunks give it whole.
chunks = []
def chunk(buf, off, status, err):
    chunks.append((status, off, len(buf)))
    return 0
buf = h.pread_structured(3 << 20, 0, chunk)
assert buf[:1 << 20] == bytes(1 << 20) and buf[1 << 20:2 << 20] == b"d" * (1 << 20)
assert (nbd.READ_HOLE, 0, 1 << 20) in chunks, chunks
assert (nbd.READ_DATA, 1 << 20, 1 << 20) in chunks, chunks
print("block status ok")
""" % {"size": size}, meta=True)
    # Without a context, block status is refused.
    nbdsh(s.uri("rw"), """
import errno
try:
    h.block_status(4096, 0, lambda *a: 0)
    raise AssertionError("block status without a context")
except nbd.Error as e:
    assert e.errnum == errno.EINVAL, e.errnum
""")
    s.stop()


# ---- raw bytes ----

def be(fmt, *v):
    return struct.pack(">" + fmt, *v)


def recv_exact(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise Fail("the server closed after %d of %d bytes" %
                       (len(b), n))
        b += d
    return b


def closed(c):
    """Does the server close c (reading whatever it sends first)?"""
    c.settimeout(DEADLINE)
    try:
        while True:
            if not c.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def raw_connect(s):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(DEADLINE)
    c.connect(s.sock)
    g = recv_exact(c, 18)
    check(g[:16] == b"NBDMAGICIHAVEOPT", "greeting %r" % g)
    check(struct.unpack(">H", g[16:])[0] == 3, "handshake flags %r" % g)
    return c


def opt(c, o, data=b""):
    c.sendall(be("QII", 0x49484156454F5054, o, len(data)) + data)


def opt_reply(c):
    h = recv_exact(c, 20)
    magic, o, t, n = struct.unpack(">QIII", h)
    check(magic == 0x3e889045565a9, "option reply magic %x" % magic)
    return o, t, recv_exact(c, n)


def raw_go(c, name=b"", structured=False):
    c.sendall(be("I", 3))
    if structured:
        opt(c, 8)
        check(opt_reply(c)[1] == 1, "structured reply ack")
    opt(c, 7, be("I", len(name)) + name + be("H", 0))
    while True:
        o, t, d = opt_reply(c)
        check(t in (1, 3), "GO reply %x" % t)
        if t == 1:
            return


def req(cmd, cookie, off, length, flags=0):
    return be("IHHQQI", 0x25609513, flags, cmd, cookie, off, length)


def simple_reply(c):
    magic, err, cookie = struct.unpack(">IIQ", recv_exact(c, 16))
    check(magic == 0x67446698, "simple reply magic %x" % magic)
    return err, cookie


def sc_proto():
    img = os.path.join(TMP, "p.img")
    with open(img, "wb") as f:
        f.write(bytes(range(256)) * 4096)       # 1 MiB
    s = Server(["p=" + img])
    # Unknown options get NBD_REP_ERR_UNSUP, malformed ones ERR_INVALID,
    # an unknown export ERR_UNKNOWN; the session goes on.
    c = raw_connect(s)
    c.sendall(be("I", 1))
    opt(c, 5)                                   # STARTTLS
    check(opt_reply(c)[1] == 0x80000001, "STARTTLS unsupported")
    opt(c, 0x1234, b"xyz")
    check(opt_reply(c)[1] == 0x80000001, "unknown option")
    opt(c, 3, b"junk")
    check(opt_reply(c)[1] == 0x80000003, "LIST with data")
    opt(c, 7, be("I", 100) + b"x")
    check(opt_reply(c)[1] == 0x80000003, "GO with a bad length")
    opt(c, 6, be("I", 4) + b"nope" + be("H", 0))
    check(opt_reply(c)[1] == 0x80000006, "INFO of an unknown export")
    opt(c, 10, be("I", 0) + be("I", 0))
    check(opt_reply(c)[1] == 0x80000003,
          "SET_META_CONTEXT before STRUCTURED_REPLY")
    opt(c, 9, be("I", 0) + be("I", 1) + be("I", 5) + b"base:")
    o, t, d = opt_reply(c)
    check(t == 4 and d[4:] == b"base:allocation", "LIST_META_CONTEXT %r" %
          d)
    check(opt_reply(c)[1] == 1, "LIST_META_CONTEXT ack")
    opt(c, 2)                                   # ABORT
    check(opt_reply(c)[1] == 1, "ABORT ack")
    check(closed(c), "ABORT closes")
    # Unknown client flags close at once; so does a bad option magic.
    c = raw_connect(s)
    c.sendall(be("I", 0x80))
    check(closed(c), "unknown client flags")
    c = raw_connect(s)
    c.sendall(be("I", 1) + b"NOTAMAGIC" + bytes(7))
    check(closed(c), "bad option magic")
    # An option longer than the server takes: closed, nothing buffered.
    c = raw_connect(s)
    c.sendall(be("I", 1) + be("QII", 0x49484156454F5054, 7, 1 << 30))
    check(closed(c), "a 1 GiB option")
    # EXPORT_NAME of an unknown name closes; of a known one, size+flags.
    c = raw_connect(s)
    c.sendall(be("I", 1))
    opt(c, 1, b"nosuch")
    check(closed(c), "EXPORT_NAME of an unknown export")
    c = raw_connect(s)
    c.sendall(be("I", 1))
    opt(c, 1, b"p")
    size, flags = struct.unpack(">QH", recv_exact(c, 10))
    check(size == MiB and flags & 1, "EXPORT_NAME reply %d %x" %
          (size, flags))
    recv_exact(c, 124)                          # zeroes: NO_ZEROES not set
    # Simple replies: unknown command and flags get EINVAL; a read's
    # data follows its header.
    c.sendall(req(99, 1, 0, 0))
    check(simple_reply(c) == (22, 1), "unknown command")
    c.sendall(req(0, 2, 0, 512, flags=0x8000))
    check(simple_reply(c) == (22, 2), "unknown flag")
    c.sendall(req(0, 3, 0, 512, flags=4))       # DF without structured
    check(simple_reply(c) == (22, 3), "DF not advertised")
    c.sendall(req(7, 4, 0, 512))
    check(simple_reply(c) == (22, 4), "block status without a context")
    c.sendall(req(0, 5, 256, 512))
    check(simple_reply(c) == (0, 5), "read")
    check(recv_exact(c, 512) == (bytes(range(256)) * 3)[256:768],
          "read data")
    # Many requests at once, each answered once (in any order).
    c.sendall(b"".join(req(0, 100 + i, i * 4096, 4096) for i in range(64)))
    seen = set()
    for _ in range(64):
        err, cookie = simple_reply(c)
        check(err == 0 and cookie not in seen, "reply %d %d" % (err, cookie))
        seen.add(cookie)
        recv_exact(c, 4096)
    check(seen == set(range(100, 164)), "cookies")
    c.sendall(req(2, 6, 0, 0))                  # DISC
    check(closed(c), "DISC closes")
    # A bad request magic closes the connection.
    c = raw_connect(s)
    raw_go(c, b"p")
    c.sendall(b"\0" * 28)
    check(closed(c), "bad request magic")
    # A client that leaves in the middle of a write's payload.
    c = raw_connect(s)
    raw_go(c, b"p")
    c.sendall(req(1, 7, 0, 65536) + b"z" * 1000)
    c.close()
    # Structured replies: an error is a chunk.
    c = raw_connect(s)
    raw_go(c, b"p", structured=True)
    c.sendall(req(0, 8, MiB - 10, 100))
    h = recv_exact(c, 20)
    magic, fl, typ, cookie, n = struct.unpack(">IHHQI", h)
    check(magic == 0x668e33ef and typ == 0x8001 and fl & 1 and cookie == 8,
          "error chunk %r" % (h,))
    check(struct.unpack(">I", recv_exact(c, n)[:4])[0] == 22, "EINVAL")
    c.sendall(req(0, 9, 0, 64))
    magic, fl, typ, cookie, n = struct.unpack(">IHHQI", recv_exact(c, 20))
    check(typ == 1 and fl & 1 and n == 72, "data chunk")
    check(recv_exact(c, n)[8:] == bytes(range(64)), "chunk data")
    c.close()
    # The server is whole: a fresh client reads.
    c = raw_connect(s)
    raw_go(c, b"p")
    c.sendall(req(0, 10, 0, 16))
    check(simple_reply(c) == (0, 10), "after the bad clients")
    recv_exact(c, 16)
    c.close()
    s.stop()


def sc_stall():
    """A client that sends reads and never reads the replies: the server
    holds a bounded amount for it, and serves others meanwhile."""
    img = os.path.join(TMP, "st.img")
    with open(img, "wb") as f:
        f.truncate(256 * MiB)
        f.write(b"s" * (32 * MiB))
    s = Server(["st=" + img])
    base = s.rss_kib()
    hog = raw_connect(s)
    raw_go(hog, b"st")
    hog.setblocking(False)
    sent = 0
    # 100000 reads of 1 MiB (about 100 GiB of replies, 2.8 MB of
    # requests) offered; the server stops reading them once it holds its
    # bound, and the socket buffers fill long before all are sent.
    reqs = b"".join(req(0, i, (i % 200) * MiB, MiB) for i in range(100000))
    end = time.monotonic() + 30
    idle = time.monotonic() + 2
    while sent < len(reqs) and time.monotonic() < min(end, idle):
        try:
            sent += hog.send(reqs[sent:])
            idle = time.monotonic() + 2
        except BlockingIOError:
            time.sleep(0.05)
    check(sent < len(reqs), "the server read every request of a client "
          "that reads no reply")
    s.p.send_signal(signal.SIGUSR1)
    m = s.wait_log(r"stats conns=\d+ active=\d+ refused=\d+ denied=\d+ "
                   r"reqs=(\d+) ")
    check(int(m.group(1)) < 20000, "kcnbd took %s requests of a client "
          "that reads no reply" % m.group(1))
    grown = s.rss_kib() - base
    # Bound: 2 x 32 MiB held plus socket buffers and slack.
    check(grown < 160 * 1024, "a stalled client made kcnbd grow %d KiB" %
          grown)
    # Another client is served meanwhile.
    c = raw_connect(s)
    raw_go(c, b"st")
    c.sendall(req(0, 1, 0, 4096))
    check(simple_reply(c) == (0, 1), "served beside a stalled client")
    check(recv_exact(c, 4096) == b"s" * 4096, "data beside a stall")
    c.close()
    hog.close()
    # The hog's connection goes away once its socket is closed.
    s.wait_log(r"connection 1 from unix closed")
    s.stop()


def sc_many():
    """64 clients at once on 2 workers, each writing and reading back its
    own region with simple replies, requests pipelined; a third of them
    leave without a word in the middle of a request.  Every byte read is
    what was written, and the server serves on."""
    import threading
    img = os.path.join(TMP, "m.img")
    mkfile(img, 64 * MiB)
    s = Server(["m=" + img])
    errors = []

    def client(k):
        try:
            c = raw_connect(s)
            raw_go(c, b"m")
            base = k * MiB
            rnd = random.Random(k)
            blocks = [rnd.randbytes(4096) for _ in range(16)]
            c.sendall(b"".join(req(1, i, base + i * 4096, 4096) + blocks[i]
                               for i in range(16)))
            for _ in range(16):
                err, _cookie = simple_reply(c)
                if err != 0:
                    raise Fail("client %d: write error %d" % (k, err))
            if k % 3 == 0:
                # Leave in the middle of a write's payload.
                c.sendall(req(1, 99, base, 65536) + b"x" * 100)
                c.close()
                return
            c.sendall(b"".join(req(0, 100 + i, base + i * 4096, 4096)
                               for i in range(16)))
            got = {}
            for _ in range(16):
                err, cookie = simple_reply(c)
                if err != 0:
                    raise Fail("client %d: read error %d" % (k, err))
                got[cookie - 100] = recv_exact(c, 4096)
            for i in range(16):
                if got[i] != blocks[i]:
                    raise Fail("client %d: block %d differs" % (k, i))
            c.sendall(req(2, 0, 0, 0))
            c.close()
        except Exception as e:      # reported below, whatever it was
            errors.append("client %d: %r" % (k, e))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    check(not any(t.is_alive() for t in threads), "clients still running")
    check(not errors, "; ".join(errors[:5]))
    # Every connection ends, and the server still serves.
    end = time.monotonic() + DEADLINE
    while len(re.findall(r"from unix closed", s.text())) < 64:
        check(time.monotonic() < end, "not every connection closed: " +
              s.text()[-2000:])
        time.sleep(0.05)
    c = raw_connect(s)
    raw_go(c, b"m")
    c.sendall(req(0, 1, 0, 16))
    check(simple_reply(c) == (0, 1), "served after 64 clients")
    c.close()
    s.stop()


def sc_blockdev():
    """A block device as an export (a loop device over a file): its size
    from the device, data in and out, zero, trim and flush."""
    need("nbdcopy")
    losetup = need("losetup")
    img = os.path.join(TMP, "loop.img")
    mkfile(img, 64 * MiB)
    p = run(losetup, "-f", "--show", img, ok=False)
    if p.returncode != 0 or not p.stdout.startswith("/dev/loop"):
        # Not a missing package: this machine gives no loop device.
        print("SKIP: no loop device here: " + p.stderr.strip())
        sys.exit(77)
    dev = p.stdout.strip()
    try:
        s = Server(["dev=" + dev])
        j = json.loads(run("nbdinfo", "--json", s.uri("dev")).stdout)
        check(j["exports"][0]["export-size"] == 64 * MiB,
              "block device size %r" % j)
        data = os.path.join(TMP, "r8")
        with open(data, "wb") as f:
            f.write(random.Random(5).randbytes(8 * MiB))
        run("nbdcopy", data, s.uri("dev"))
        nbdsh(s.uri("dev"), """
h.zero(1 << 20, 0)
h.trim(1 << 20, 1 << 20)
h.flush()
assert h.pread(1 << 20, 0) == bytes(1 << 20)
""")
        with open(dev, "rb") as f:
            got = f.read(8 * MiB)
        want = open(data, "rb").read()
        check(got[:MiB] == bytes(MiB), "zeroed range")
        check(got[2 * MiB:] == want[2 * MiB:], "data on the device")
        s.stop()
    finally:
        run(losetup, "-d", dev, ok=False)


def sc_fio():
    need("fio")
    img = os.path.join(TMP, "fio.img")
    mkfile(img, 256 * MiB)
    s = Server(["f=" + img])
    # Each of 4 jobs (4 connections) writes its own 64 MiB at random at
    # queue depth 32, then reads it back and checks every block's crc32c.
    p = run("fio", "--name=v", "--ioengine=nbd", "--uri=" + s.uri("f"),
            "--rw=randwrite", "--bs=4k", "--iodepth=32", "--numjobs=4",
            "--size=64m", "--offset_increment=64m", "--verify=crc32c",
            "--do_verify=1", "--verify_fatal=1", "--verify_state_save=0",
            "--group_reporting",
            "--output-format=json")
    j = json.loads(p.stdout[p.stdout.index("{"):])
    job = j["jobs"][0]
    check(job["error"] == 0, "fio error %r" % job["error"])
    check(job["write"]["io_bytes"] == 256 * MiB, "fio wrote %d" %
          job["write"]["io_bytes"])
    check(job["read"]["io_bytes"] == 256 * MiB, "fio verified %d" %
          job["read"]["io_bytes"])
    s.p.send_signal(signal.SIGUSR1)
    m = s.wait_log(r"stats conns=(\d+) ")
    check(int(m.group(1)) >= 4, "fio's 4 jobs made %s connections" %
          m.group(1))
    s.stop()


def sc_drain():
    """SIGTERM while writes are in flight: each is answered, the data is
    in the file, and kcnbd exits 0."""
    need("nbdsh")
    img = os.path.join(TMP, "dr.img")
    mkfile(img, 64 * MiB)
    s = Server(["d=" + img])
    script = """
import os, signal
n = 64
cookies = [h.aio_pwrite(bytes([i + 1]) * (1 << 20), i << 20)
           for i in range(n)]
# The first reply: the server is busy with the rest, then it is told.
while not h.aio_command_completed(cookies[0]):
    h.poll(-1)
os.kill(%d, signal.SIGTERM)
try:
    while h.aio_in_flight() > 0:
        h.poll(-1)
except nbd.Error:
    pass
done = [0]        # retired above
for i, c in enumerate(cookies[1:], 1):
    try:
        if h.aio_command_completed(c):
            done.append(i)
    except nbd.Error:
        pass
print("done", ",".join(map(str, done)))
""" % s.p.pid
    p = run(need("nbdsh"), "-c", "h.connect_uri(%r)\n" % s.uri("d") +
            script)
    m = re.search(r"done ([0-9,]*)", p.stdout)
    check(m is not None, "nbdsh said %r" % p.stdout)
    done = set(int(x) for x in m.group(1).split(",") if x)
    print("drain: %d of 64 writes answered" % len(done))
    s.wait_exit(0)
    # A write answered is in the file; one not answered was not done.
    with open(img, "rb") as f:
        for i in range(64):
            f.seek(i * MiB)
            want = bytes([i + 1]) * MiB if i in done else bytes(MiB)
            check(f.read(MiB) == want, "block %d (answered: %s)" %
                  (i, i in done))
    check("stopping:" in s.text(), "no drain line")


def sc_limits():
    need("nbdinfo")
    img = os.path.join(TMP, "l.img")
    mkfile(img, MiB)
    # --max-conns 1: a second connection is refused while one is open.
    s = Server(["l=" + img], ["--max-conns", "1", "--stats", "0.1"])
    c = raw_connect(s)
    p = run("nbdinfo", s.uri("l"), ok=False)
    check(p.returncode != 0, "a second connection over --max-conns")
    s.wait_log(r"refused.*--max-conns")
    c.close()
    s.wait_log(r"connection 1 from unix closed")
    run("nbdinfo", s.uri("l"))
    s.wait_log(r"stats conns=\d+ active=\d+ refused=1 ")
    # SIGUSR1 prints the line at once.
    n = len(s.text())
    s.p.send_signal(signal.SIGUSR1)
    s.wait_log(r"stats conns=", after=n)
    # SIGHUP: a grown file is seen by new connections.
    mkfile(img, 3 * MiB)
    s.p.send_signal(signal.SIGHUP)
    s.wait_log(r"SIGHUP: export l: 3145728 bytes")
    j = json.loads(run("nbdinfo", "--json", s.uri("l")).stdout)
    check(j["exports"][0]["export-size"] == 3 * MiB, "size after SIGHUP")
    s.stop()
    # --handshake-timeout: a client that never chooses an export is let
    # go; one that did is not (its timer, armed first, is long past when
    # the idle one is closed).
    h = Server(["l=" + img], ["--handshake-timeout", "0.2"])
    served = raw_connect(h)
    raw_go(served, b"l")
    idle = raw_connect(h)
    check(closed(idle), "an idle handshake was not closed")
    h.wait_log(r"no export chosen within --handshake-timeout")
    served.sendall(req(0, 1, 0, 16))
    check(simple_reply(served) == (0, 1), "a chosen export was cut")
    recv_exact(served, 16)
    served.close()
    h.stop()
    # --allow on TCP: loopback outside the ranges is denied.
    t = Server(["l=" + img], ["--allow", "10.0.0.0/8,192.168.0.0/16"],
               listen="tcp:127.0.0.1:0")
    p = run("nbdinfo", t.uri("l"), ok=False)
    check(p.returncode != 0, "--allow let 127.0.0.1 in")
    t.wait_log(r"denied \(--allow\)")
    t.stop()
    u = Server(["l=" + img], ["--allow", "127.0.0.0/8"],
               listen="tcp:127.0.0.1:0")
    run("nbdinfo", u.uri("l"))
    u.stop()


def sc_options():
    """The command line: errors are one line and exit 64."""
    img = os.path.join(TMP, "o.img")
    mkfile(img, MiB)
    for args, word in ((["x"], "NAME=PATH"),
                       ([], "no export"),
                       (["-l", "udp:127.0.0.1:1", "a=" + img], "-l"),
                       (["--allow", "nope", "a=" + img], "--allow"),
                       (["--max-payload", "1k", "a=" + img], "--max-payload"),
                       (["--handshake-timeout", "x", "a=" + img],
                        "--handshake-timeout"),
                       (["a=" + img, "a=" + img], "twice"),
                       (["--bogus", "a=" + img], "unknown option")):
        p = subprocess.run([KCNBD] + args, capture_output=True, text=True,
                           timeout=DEADLINE)
        check(p.returncode == 64, "%r: exit %d" % (args, p.returncode))
        check(word in p.stderr, "%r: %r" % (args, p.stderr))
    p = subprocess.run([KCNBD, "a=" + os.path.join(TMP, "missing")],
                       capture_output=True, text=True, timeout=DEADLINE)
    check(p.returncode == 66, "a missing file: exit %d" % p.returncode)
    p = subprocess.run([KCNBD, "a=" + TMP], capture_output=True, text=True,
                       timeout=DEADLINE)
    check(p.returncode == 66 and "Is a directory" in p.stderr,
          "a directory: %r" % p.stderr)


SCENARIOS = {
    "list": sc_list, "copy": sc_copy, "qemu": sc_qemu,
    "sendfile": sc_sendfile, "errors": sc_errors,
    "proto": sc_proto, "stall": sc_stall, "fio": sc_fio, "drain": sc_drain,
    "limits": sc_limits, "options": sc_options, "many": sc_many,
    "blockdev": sc_blockdev,
}


def main():
    global KCNBD, TMP
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        print("usage: nbd_test.py KCNBD {%s}" % ",".join(SCENARIOS),
              file=sys.stderr)
        return 64
    KCNBD = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="kcnbd-") as d:
        TMP = d
        try:
            SCENARIOS[sys.argv[2]]()
        except (Fail, subprocess.TimeoutExpired, AssertionError) as e:
            print("FAIL: %s" % e, file=sys.stderr)
            for p in sorted(os.listdir(d)):
                if p.endswith(".log"):
                    print("--- %s (tail)" % p, file=sys.stderr)
                    print(open(os.path.join(d, p)).read()[-3000:],
                          file=sys.stderr)
            return 1
        finally:
            for p in SERVERS:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
