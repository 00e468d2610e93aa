#!/usr/bin/env python3
"""kcnbd(1) says what the program does.

  - Options: the long options (and their letters) of opts.c's table, of
    --help and of the page's option list are the same sets, and SYNOPSIS
    shows each (by its letter or its long name) and no other.
  - The statistics line in LOGGING has the fields, in order, of the
    format main.c logs.
  - The checks can fail: copies of the page broken on purpose (an option
    left out, a field renamed) are each caught.

Usage: kcnbd-man.py KCNBD PAGE SOURCE_DIR
"""
import re
import subprocess
import sys


def sections(text):
    secs, name = {}, None
    for line in text.splitlines():
        if line.startswith(".Sh "):
            name = line[4:].strip()
            secs[name] = []
        elif name is not None:
            secs[name].append(line)
    return secs


def table(src):
    """{long: letter or None} from opts.c's option table."""
    text = open(src + "/opts.c").read()
    body = text[text.index("} opts[] = {"):]
    body = body[:body.index("};")]
    out = {}
    for m in re.finditer(r'\{ "([a-z-]+)", (\'(.)\'|0), (true|false) \}',
                         body):
        out[m.group(1)] = m.group(3)
    return out


def help_longs(kcnbd):
    p = subprocess.run([kcnbd, "--help"], capture_output=True, text=True,
                       timeout=30)
    return set(re.findall(r"--([a-z][a-z-]+)", p.stdout))


def page_options(text):
    """{long: letter or None} from the Options list's .It lines."""
    out = {}
    for line in text.splitlines():
        if not line.startswith(".It Fl "):
            continue
        longs = re.findall(r"Fl -([a-z-]+)", line)
        shorts = re.findall(r"Fl ([a-zA-Z])\b(?!-)", line)
        for lo in longs:
            out[lo] = shorts[0] if shorts else None
    return out


def synopsis_shows(lines):
    letters, longs = set(), set()
    for line in lines:
        for m in re.finditer(r"Fl -([a-z-]+)", line):
            longs.add(m.group(1))
        for m in re.finditer(r"Fl ([a-zA-Z]+)(?:\s|$)", line):
            letters.update(m.group(1))
    return letters, longs


def stats_fields_page(lines):
    text = " ".join(l.rstrip("\\e").strip() for l in lines)
    m = re.search(r"stats (.*?vcsw=\d+)", text.replace("\\e", ""))
    return re.findall(r"([a-z_]+)=", m.group(1)) if m else []


def stats_fields_source(src):
    text = open(src + "/main.c").read()
    m = re.search(r'"stats (.*?)",\s*\n', text, re.S)
    fmt = re.sub(r'"\s*"', "", m.group(1)) if m else ""
    return re.findall(r"([a-z_]+)=", fmt)


def check(kcnbd, page_text, src):
    errors = []
    tab = table(src)
    if not tab:
        errors.append("no option table found in opts.c")
    helps = help_longs(kcnbd)
    secs = sections(page_text)
    desc = "\n".join(secs.get("DESCRIPTION", []))
    opts = page_options(desc)
    if set(tab) != helps:
        errors.append("opts.c %s vs --help %s" %
                      (sorted(tab), sorted(helps)))
    if set(tab) != set(opts):
        errors.append("opts.c %s vs the page %s" %
                      (sorted(tab), sorted(opts)))
    for lo, letter in tab.items():
        if lo in opts and opts[lo] != letter:
            errors.append("--%s: letter %r in opts.c, %r on the page" %
                          (lo, letter, opts[lo]))
    letters, longs = synopsis_shows(secs.get("SYNOPSIS", []))
    for lo, letter in tab.items():
        if not (lo in longs or (letter and letter in letters)):
            errors.append("SYNOPSIS does not show --%s" % lo)
    for lo in longs:
        if lo not in tab:
            errors.append("SYNOPSIS shows --%s, which does not exist" % lo)
    known = set(l for l in tab.values() if l)
    for letter in letters:
        if letter not in known:
            errors.append("SYNOPSIS shows -%s, which does not exist" %
                          letter)
    fp = stats_fields_page(secs.get("LOGGING", []))
    fs = stats_fields_source(src)
    if not fs or fp != fs:
        errors.append("stats fields: page %s, main.c %s" % (fp, fs))
    return errors


def main():
    kcnbd, page, src = sys.argv[1:4]
    text = open(page).read()
    errors = check(kcnbd, text, src)
    # The checks can fail.
    broken = [
        re.sub(r"\.It Fl -stats Ar seconds\n.*\n", "", text),
        text.replace("block_status=0", "bstatus=0"),
        text.replace(".Op Fl -max-conns Ar count\n", ""),
    ]
    for i, b in enumerate(broken):
        if b == text:
            errors.append("broken copy %d is not broken" % i)
        elif not check(kcnbd, b, src):
            errors.append("broken copy %d was not caught" % i)
    for e in errors:
        print("kcnbd-man: " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
