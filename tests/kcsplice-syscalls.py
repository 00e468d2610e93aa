#!/usr/bin/env python3
"""The system calls kcsplice makes are allowed by its systemd units' filter.

kcsplice runs under strace -f twice: a TCP relay with a mirror that reads
nothing for a while (so that its lag goes past its pipe into a memory file:
splice, tee, memfd_create, sendfile), with a stats line on SIGUSR1 and a
drain on SIGTERM; and a UDP relay with a mirror (recvmmsg, sendmmsg).  Every
system call seen must be in @system-service less @privileged, as
contrib/sandbox.conf allows them (SystemCallFilter=), the sets as this
machine's systemd-analyze gives them.  A check that each run really relayed
keeps the list honest.

Usage: kcsplice-syscalls.py KCSPLICE
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

LIMIT = 30.0                    # seconds for any one wait


def fail(msg):
    print("kcsplice-syscalls: " + msg, file=sys.stderr)
    sys.exit(1)


def need(prog, package):
    path = shutil.which(prog)
    if path is None:
        if os.environ.get("CI"):
            fail("%s missing (package %s: scripts/deps.sh it)"
                 % (prog, package))
        print("kcsplice-syscalls: SKIP: no %s (package %s)" % (prog, package))
        sys.exit(77)
    return path


def syscall_set(sa, group, seen=None):
    """The system calls of a group, its nested groups expanded."""
    seen = set() if seen is None else seen
    if group in seen:
        return set()
    seen.add(group)
    out = subprocess.run([sa, "syscall-filter", group], check=True,
                         capture_output=True, text=True).stdout
    calls, body = set(), False
    for line in out.splitlines():
        word = line.strip()
        if not body:
            body = word == group    # the group's name heads its list
            continue
        if not word or word.startswith("#"):
            continue
        if word.startswith("@"):
            calls |= syscall_set(sa, word, seen)
        else:
            calls.add(word)
    if not calls:
        fail("systemd-analyze syscall-filter %s listed nothing" % group)
    return calls


def listener(kind, rcvbuf=0):
    s = socket.socket(socket.AF_INET, kind)
    if rcvbuf:
        # Taken by the accepted socket: little room in the kernel.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind(("127.0.0.1", 0))
    if kind == socket.SOCK_STREAM:
        s.listen(16)
    s.settimeout(LIMIT)
    return s


def serve_stream(srv, echo, delay, got):
    """Accept one connection: read it all (echo it back, or after delay)."""
    c, _ = srv.accept()
    c.settimeout(LIMIT)
    if delay:
        time.sleep(delay)
    n = 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        n += len(b)
        if echo:
            c.sendall(b)
    c.close()
    got.append(n)


def start_kcsplice(strace, kcsplice, out, args):
    p = subprocess.Popen([strace, "-f", "-qq", "-o", out, kcsplice] + args,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    m = re.search(r"listening on (tcp|udp):127\.0\.0\.1:(\d+),", line)
    if m is None:
        p.kill()
        fail("no listening line: %r" % line)
    return p, int(m.group(2))


def stop(p):
    """kcsplice is strace's child: signal it, not strace."""
    kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True,
                          text=True).stdout.split()
    if len(kids) != 1:
        p.kill()
        fail("cannot find kcsplice under strace (%r)" % kids)
    os.kill(int(kids[0]), signal.SIGUSR1)
    time.sleep(0.2)
    os.kill(int(kids[0]), signal.SIGTERM)
    try:
        err = p.communicate(timeout=LIMIT)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        fail("kcsplice did not stop")
    return err


def tcp_run(strace, kcsplice, out):
    up = listener(socket.SOCK_STREAM)
    mir = listener(socket.SOCK_STREAM, 4096)
    got_up, got_mir = [], []
    size = 16 << 20
    t_up = threading.Thread(target=serve_stream, args=(up, True, 0, got_up))
    t_mir = threading.Thread(target=serve_stream,
                             args=(mir, False, 1.0, got_mir))
    t_up.start()
    t_mir.start()
    p, port = start_kcsplice(strace, kcsplice, out, [
        "-m", "tcp:127.0.0.1:%d" % mir.getsockname()[1],
        "tcp:127.0.0.1:0", "tcp:127.0.0.1:%d" % up.getsockname()[1]])
    c = socket.create_connection(("127.0.0.1", port), timeout=LIMIT)
    data = os.urandom(1 << 16) * (size >> 16)
    back = []

    def reader():
        n = 0
        while True:
            b = c.recv(1 << 16)
            if not b:
                break
            n += len(b)
        back.append(n)
    t_back = threading.Thread(target=reader)
    t_back.start()
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    t_back.join(LIMIT)
    t_up.join(LIMIT)
    t_mir.join(LIMIT)
    c.close()
    err = stop(p)
    if back != [size] or got_up != [size] or got_mir != [size]:
        fail("tcp: client got %r, upstream %r, mirror %r of %d bytes\n%s"
             % (back, got_up, got_mir, size, err))


def udp_run(strace, kcsplice, out):
    up, mir = listener(socket.SOCK_DGRAM), listener(socket.SOCK_DGRAM)
    p, port = start_kcsplice(strace, kcsplice, out, [
        "-m", "udp:127.0.0.1:%d" % mir.getsockname()[1],
        "udp:127.0.0.1:0", "udp:127.0.0.1:%d" % up.getsockname()[1]])
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(LIMIT)
    c.sendto(b"ping", ("127.0.0.1", port))
    d, peer = up.recvfrom(2048)
    m, _ = mir.recvfrom(2048)
    up.sendto(b"pong", peer)
    r, _ = c.recvfrom(2048)
    c.close()
    err = stop(p)
    if (d, m, r) != (b"ping", b"ping", b"pong"):
        fail("udp: upstream %r, mirror %r, client %r\n%s" % (d, m, r, err))


def calls_in(path):
    names = set()
    pat = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")
    with open(path) as f:
        for line in f:
            m = pat.match(line)
            if m:
                names.add(m.group(1))
    return names


def main():
    if len(sys.argv) != 2:
        fail("usage: kcsplice-syscalls.py KCSPLICE")
    kcsplice = sys.argv[1]
    sa = need("systemd-analyze", "systemd")
    strace = need("strace", "strace")
    allowed = syscall_set(sa, "@system-service") - syscall_set(sa,
                                                               "@privileged")
    # The sets are what they should be, or the comparison proves nothing.
    if "splice" not in allowed or "chown" in allowed or "reboot" in allowed:
        fail("unexpected filter sets from systemd-analyze")
    work = tempfile.mkdtemp(prefix="kcsyscalls.")
    try:
        tcp_run(strace, kcsplice, os.path.join(work, "tcp"))
        udp_run(strace, kcsplice, os.path.join(work, "udp"))
        used = calls_in(os.path.join(work, "tcp")) | calls_in(
            os.path.join(work, "udp"))
    finally:
        shutil.rmtree(work)
    # The calls the relay is made of must have been seen, or the runs
    # did not do what they are for.
    for call in ("splice", "tee", "memfd_create", "recvmmsg", "sendmmsg",
                 "rt_sigtimedwait"):
        if call not in used:
            fail("%s never called: the runs did not relay as meant "
                 "(seen: %s)" % (call, " ".join(sorted(used))))
    denied = sorted(used - allowed)
    if denied:
        fail("kcsplice calls what its units' SystemCallFilter denies: %s"
             % " ".join(denied))
    print("kcsplice-syscalls: ok, %d system calls, all allowed: %s"
          % (len(used), " ".join(sorted(used))))


main()
