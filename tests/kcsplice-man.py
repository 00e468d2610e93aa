#!/usr/bin/env python3
"""kcsplice(1) says what the program does.

  - Options: the long options (and their letters) of conf.c's option
    table, of --help and of the page's OPTIONS list are the same sets, and
    SYNOPSIS shows each (by its letter or its long name) and no other.
  - Listening lines: each one the page shows (the template in DESCRIPTION,
    the output in EXAMPLES) has the shape of what a real run prints, once
    addresses and numbers are set aside; EXAMPLES' commands are run as
    written, on port 0, the template with two mirrors and two threads.
  - DIAGNOSTICS: every message shown is the output of a format string in
    tools/kcsplice/*.c (its variable parts matched by its conversions).
  - The date: the source page says ".Dd $Mdocdate$"; the page built (and
    installed) carries a real date, that of the last commit changing the
    page when it has not changed since.
  - And the checks can fail: copies of the page broken on purpose (an
    invented message, an option renamed or left out, a listening line
    changed, a date written in the source) are each caught.

Usage: kcsplice-man.py KCSPLICE SOURCE_PAGE BUILT_PAGE SOURCE_DIR
  SOURCE_DIR: tools/kcsplice, whose *.c hold the messages and the table.
"""
import datetime
import glob
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

errors = []


def fail(msg):
    errors.append(msg)


def mdoc_sections(text):
    """{name: [lines]} of a page's .Sh sections."""
    secs, name = {}, None
    for line in text.splitlines():
        if line.startswith(".Sh "):
            name = line[4:].strip()
            secs[name] = []
        elif name is not None:
            secs[name].append(line)
    return secs


def literal_blocks(lines):
    """The .Bd -literal blocks of a section, escapes undone."""
    blocks, cur = [], None
    for line in lines:
        if line.startswith(".Bd") and "-literal" in line:
            cur = []
        elif line.startswith(".Ed") and cur is not None:
            blocks.append(cur)
            cur = None
        elif cur is not None:
            cur.append(line.replace("\\e", "\\").replace("\\&", ""))
    return blocks


def unfold(block):
    """Commands ('$ ...' with backslash continuations) and output lines
    (folded lines go on indented by four spaces), each as one line."""
    cmds, outs, i = [], [], 0
    while i < len(block):
        line = block[i]
        if line.startswith("$ "):
            cmd = line[2:]
            while cmd.endswith("\\") and i + 1 < len(block):
                i += 1
                cmd = cmd[:-1].rstrip() + " " + block[i].strip()
            cmds.append((cmd, len(outs)))
        elif line.startswith("    ") and outs:
            outs[-1] += " " + line.strip()
        elif line.strip():
            outs.append(line)
        i += 1
    return cmds, outs


ADDR = re.compile(r"(?:tcp|udp):(?:\[[^\]]*\]|[0-9.]+|localhost):\d+"
                  r"|unix:[^\s,]+")


def shape(line):
    """A listening line with its addresses and numbers set aside."""
    i = line.find("listening on ")
    if i < 0:
        return None
    s = ADDR.sub("ADDR", line[i:])
    s = re.sub(r"\b\d+\b", "N", s)
    return re.sub(r"\b[A-Z]\b", "N", s)


def first_line(argv):
    """Run kcsplice; its first line on standard error; then stop it."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    try:
        line = p.stderr.readline().rstrip("\n")
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
    return line


def check_listening(kcsplice, secs):
    seen = 0
    # The template in DESCRIPTION: a run with the plurals it shows.
    for block in literal_blocks(secs.get("DESCRIPTION", [])):
        for line in unfold(block)[1]:
            if shape(line) is None:
                continue
            seen += 1
            real = first_line([kcsplice, "-j", "2", "-m", "tcp:127.0.0.1:9",
                               "-m", "tcp:127.0.0.1:10", "tcp:127.0.0.1:0",
                               "tcp:127.0.0.1:9"])
            if shape(real) != shape(line):
                fail("DESCRIPTION shows\n    %s\n  a run with 2 mirrors "
                     "and 2 threads prints\n    %s" % (line, real))
    # EXAMPLES: each command that shows its listening line, run.
    for block in literal_blocks(secs.get("EXAMPLES", [])):
        cmds, outs = unfold(block)
        for k, (cmd, at) in enumerate(cmds):
            end = cmds[k + 1][1] if k + 1 < len(cmds) else len(outs)
            shown = [o for o in outs[at:end] if shape(o) is not None]
            if not shown:
                continue
            seen += 1
            argv = shlex.split(cmd)
            if argv[0] != "kcsplice":
                fail("EXAMPLES: '%s' is not a kcsplice command" % cmd)
                continue
            m = re.search(r"listening on (\S+),", shown[0])
            if m is None or m.group(1) not in argv:
                fail("EXAMPLES: the listening line '%s' names no address "
                     "of its command '%s'" % (shown[0], cmd))
                continue
            i = argv.index(m.group(1))
            argv[i] = re.sub(r":\d+$", ":0", argv[i])
            real = first_line([kcsplice] + argv[1:])
            if shape(real) != shape(shown[0]):
                fail("EXAMPLES shows for '%s'\n    %s\n  a run prints\n"
                     "    %s" % (cmd, shown[0], real))
    if seen == 0:
        fail("no listening line found in DESCRIPTION or EXAMPLES")


def c_formats(srcdir):
    """Every run of adjacent string literals in the C sources."""
    fmts = []
    lit = r'"(?:[^"\\\n]|\\.)*"'
    run = re.compile(lit + r"(?:\s*" + lit + r")*")
    for path in sorted(glob.glob(os.path.join(srcdir, "*.c"))):
        with open(path) as f:
            text = f.read()
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
        text = re.sub(r"'(?:[^'\\\n]|\\.)'", "' '", text)
        for m in run.finditer(text):
            parts = re.findall(lit, m.group(0))
            s = "".join(p[1:-1] for p in parts)
            s = (s.replace('\\"', '"').replace("\\n", "\n")
                 .replace("\\t", "\t").replace("\\\\", "\\"))
            fmts.append(s)
    return fmts


CONV = re.compile(r"%(%|[-+ #0]*(?:\d+|\*)?(?:\.(?:\d+|\*))?"
                  r"(?:hh|h|ll|l|z|j|t)?[diouxXeEfgGsc])")


def format_regex(fmt):
    """A printf format as a regex of what it prints (None: too vague)."""
    fmt = fmt.rstrip("\n")
    if fmt.startswith("kcsplice: "):
        fmt = fmt[len("kcsplice: "):]
    out, pos = [], 0
    for m in CONV.finditer(fmt):
        out.append(re.escape(fmt[pos:m.start()]))
        c = m.group(1)
        if c == "%":
            out.append("%")
        elif c[-1] in "diouxX":
            out.append(r"-?[0-9a-fA-F]+")
        elif c[-1] in "eEfgG":
            out.append(r"-?[0-9.]+")
        else:
            out.append(r".+?")
        pos = m.end()
    out.append(re.escape(fmt[pos:]))
    fixed = CONV.sub("", fmt)
    if len(re.findall(r"[A-Za-z]{3,}", fixed)) == 0 or "\n" in fixed:
        return None
    return re.compile("".join(out), re.S)


def strip_prefix(line):
    """A log line less its time stamp, level and "kcsplice: "."""
    line = re.sub(r"^\d{4}-\d\d-\d\dT[0-9:.]+Z\s+", "", line)
    i = line.find("kcsplice: ")
    if i >= 0:
        return line[i + len("kcsplice: "):]
    return re.sub(r"^[a-z]+\s+", "", line)


def check_diagnostics(secs, srcdir):
    regs = [r for r in (format_regex(f) for f in c_formats(srcdir)) if r]
    if len(regs) < 20:
        fail("only %d message formats found in %s" % (len(regs), srcdir))
    n = 0
    for block in literal_blocks(secs.get("DIAGNOSTICS", [])):
        for line in unfold(block)[1]:
            n += 1
            msg = strip_prefix(line)
            if not any(r.fullmatch(msg) for r in regs):
                fail("DIAGNOSTICS: no message of %s prints\n    %s"
                     % (srcdir, line))
    if n == 0:
        fail("DIAGNOSTICS shows no message")


def option_table(srcdir):
    with open(os.path.join(srcdir, "conf.c")) as f:
        text = f.read()
    m = re.search(r"\bopts\[\]\s*=\s*\{(.*?)\n\};", text, re.S)
    if m is None:
        fail("conf.c: no option table opts[]")
        return {}
    table = {}
    for name, letter in re.findall(
            r"\{\s*\"([a-z0-9][a-z0-9-]*)\",\s*(?:'(.)'|0)\s*,", m.group(1)):
        table[name] = letter or None
    if len(table) < 10:
        fail("conf.c: only %d options in the table" % len(table))
    return table


def check_options(kcsplice, secs, srcdir):
    table = option_table(srcdir)
    out = subprocess.run([kcsplice, "--help"], capture_output=True,
                         text=True, timeout=30)
    if out.returncode != 0:
        fail("kcsplice --help: exit %d" % out.returncode)
    help_long, help_short = set(), set()
    for line in out.stdout.splitlines():
        m = re.match(r"^\s+(?:-(\w), )?--([a-z0-9][a-z0-9-]*)", line)
        if m:
            help_long.add(m.group(2))
            if m.group(1):
                help_short.add(m.group(1))
    page_long, page_short = set(), set()
    for line in secs.get("OPTIONS", []):
        if line.startswith(".It "):
            page_long |= set(re.findall(r"\bFl -([a-z0-9][a-z0-9-]*)", line))
            page_short |= set(re.findall(r"\bFl ([A-Za-z])(?=\s|$)", line))
    syn_long, syn_short = set(), set()
    for line in secs.get("SYNOPSIS", []):
        syn_long |= set(re.findall(r"\bFl -([a-z0-9][a-z0-9-]*)", line))
        for flags in re.findall(r"\bFl ([A-Za-z]+)(?=\s|$)", line):
            syn_short |= set(flags)
    t_long = set(table)
    t_short = {v for v in table.values() if v}
    for what, got in (("--help", help_long), ("OPTIONS", page_long)):
        for o in sorted(t_long - got):
            fail("--%s is in conf.c's table but not in %s" % (o, what))
        for o in sorted(got - t_long):
            fail("--%s is in %s but not in conf.c's table" % (o, what))
    for what, got in (("--help", help_short), ("OPTIONS", page_short)):
        if got != t_short:
            fail("letters: conf.c's table has %s, %s has %s"
                 % ("".join(sorted(t_short)), what, "".join(sorted(got))))
    for name, letter in sorted(table.items()):
        if name not in syn_long and (letter is None or
                                     letter not in syn_short):
            fail("SYNOPSIS does not show --%s" % name)
    for o in sorted(syn_long - t_long):
        fail("SYNOPSIS shows --%s, not in conf.c's table" % o)
    for c in sorted(syn_short - t_short):
        fail("SYNOPSIS shows -%s, not in conf.c's table" % c)


def check_date(src_page, built_page):
    with open(src_page) as f:
        first = f.readline().rstrip("\n")
    if first != ".Dd $Mdocdate$":
        fail("%s: the date must be left to the build (.Dd $Mdocdate$), "
             "not '%s'" % (src_page, first))
    with open(built_page) as f:
        built = f.readline().rstrip("\n")
    m = re.fullmatch(r"\.Dd ([A-Z][a-z]+ [1-9]\d?, \d{4})", built)
    if m is None:
        fail("%s: no date set: '%s'" % (built_page, built))
        return
    date = datetime.datetime.strptime(m.group(1), "%B %d, %Y").date()
    if date > datetime.datetime.now(datetime.timezone.utc).date():
        fail("%s: dated in the future: %s" % (built_page, m.group(1)))
    git = shutil.which("git")
    d = os.path.dirname(os.path.abspath(src_page))
    if git is None:
        return
    st = subprocess.run([git, "-C", d, "status", "--porcelain", "--",
                         src_page], capture_output=True, text=True)
    if st.returncode != 0 or st.stdout != "":
        return          # not in git, or changed: the file's own date
    ct = subprocess.run([git, "-C", d, "log", "-1", "--format=%ct", "--",
                         src_page], capture_output=True, text=True)
    if ct.returncode != 0 or not ct.stdout.strip():
        return
    want = datetime.datetime.fromtimestamp(int(ct.stdout),
                                           datetime.timezone.utc).date()
    if date != want:
        fail("%s: dated %s, its last commit is of %s"
             % (built_page, date, want))


def self_test(kcsplice, page_text, srcdir, tmpdir):
    """Pages broken on purpose must be caught, or the checks prove
    nothing.  Returns what went uncaught."""
    global errors
    missed = []

    def expect(what, text, check, want):
        global errors
        saved, errors = errors, []
        check(mdoc_sections(text))
        got, errors = errors, saved
        if not any(want in e for e in got):
            missed.append("%s: not caught (wanted '%s', got %r)"
                          % (what, want, got))

    lines = page_text.splitlines(keepends=True)

    def edit(pred, fn):
        """The page with the first line matching pred passed through fn."""
        out, done = [], False
        sec = None
        for line in lines:
            if line.startswith(".Sh "):
                sec = line[4:].strip()
            if not done and pred(sec, line):
                line, done = fn(line), True
            out.append(line)
        if not done:
            missed.append("self-test: nothing to break")
        return "".join(out)

    text = edit(lambda sec, l: sec == "DIAGNOSTICS" and
                l.startswith("kcsplice: "),
                lambda l: "kcsplice: the widget is frobnicated (conn 3)\n" + l)
    expect("an invented message", text,
           lambda sx: check_diagnostics(sx, srcdir), "widget")
    text = edit(lambda sec, l: sec == "OPTIONS" and l.startswith(".It Fl -"),
                lambda l: re.sub(r"Fl -[a-z0-9-]+", "Fl -no-such-option", l,
                                 count=1))
    expect("an option renamed in OPTIONS", text,
           lambda sx: check_options(kcsplice, sx, srcdir),
           "--no-such-option is in OPTIONS but not in conf.c's table")
    text = edit(lambda sec, l: sec == "SYNOPSIS" and
                l.startswith(".Op Fl -"), lambda l: "")
    expect("an option left out of SYNOPSIS", text,
           lambda sx: check_options(kcsplice, sx, srcdir),
           "SYNOPSIS does not show")
    text = edit(lambda sec, l: sec == "EXAMPLES" and
                l.startswith("kcsplice: listening on "),
                lambda l: l.rstrip("\n") + " and then some\n")
    expect("a listening line unlike a run's", text,
           lambda sx: check_listening(kcsplice, sx), "a run prints")
    text = edit(lambda sec, l: sec == "DESCRIPTION" and
                l.startswith("kcsplice: listening on "),
                lambda l: l.replace("mirrors", "mirror"))
    expect("a listening template unlike a run's", text,
           lambda sx: check_listening(kcsplice, sx), "2 mirrors")
    stale = os.path.join(tmpdir, "stale.1")
    with open(stale, "w") as f:
        f.write(".Dd December 5, 2026\n" + "".join(lines[1:]))
    saved, errors = errors, []
    check_date(stale, stale)
    got, errors = errors, saved
    if not any("left to the build" in e for e in got):
        missed.append("a date written in the source: not caught (%r)" % got)
    return missed


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    kcsplice, src_page, built_page, srcdir = sys.argv[1:]
    with open(built_page) as f:
        text = f.read()
    secs = mdoc_sections(text)
    check_date(src_page, built_page)
    check_options(kcsplice, secs, srcdir)
    check_diagnostics(secs, srcdir)
    check_listening(kcsplice, secs)
    tmpdir = tempfile.mkdtemp(prefix="kcman.")
    try:
        missed = self_test(kcsplice, text, srcdir, tmpdir)
    finally:
        shutil.rmtree(tmpdir)
    for e in errors:
        print("kcsplice-man: " + e, file=sys.stderr)
    for m in missed:
        print("kcsplice-man: self-test: " + m, file=sys.stderr)
    if errors or missed:
        sys.exit(1)
    print("kcsplice-man: ok (and %d broken pages caught)" % 6)


main()
