#!/usr/bin/env python3
"""Lists Rust functions longer than a limit and source files longer than a limit (tests excepted):
the size rules of ARCHITECTURE.md. Usage: scripts/fn_lengths.py [--fn 80] [--file 400] DIR..."""
import argparse, pathlib, re, sys

FN = re.compile(r'^(\s*)(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?(extern\s+"C"\s+)?fn\s+(\w+)')

def code_lines(text):
    """Lines before the first `#[cfg(test)]` module (tests are not held to the limits)."""
    lines = text.splitlines()
    for i, l in enumerate(lines):
        if l.startswith('#[cfg(test)]'):
            return lines[:i]
    return lines

def declaration(lines, i):
    """A signature that ends with `;` before any `{`: a declaration (an `extern` block's)."""
    for l in lines[i:]:
        if '{' in l:
            return False
        if l.rstrip().endswith(';'):
            return True
    return False

def functions(lines):
    for i, l in enumerate(lines):
        m = FN.match(l)
        if not m:
            continue
        indent = m.group(1)
        if declaration(lines, i):
            continue
        for j in range(i, len(lines)):
            if lines[j].rstrip() == indent + '}' or (j == i and l.rstrip().endswith(';')):
                yield m.group(8), i + 1, j - i + 1
                break
            if lines[j].rstrip().endswith(';') and j == i:
                break

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--fn', type=int, default=80)
    ap.add_argument('--file', type=int, default=400)
    ap.add_argument('dirs', nargs='+')
    a = ap.parse_args()
    bad = 0
    for d in a.dirs:
        for p in sorted(pathlib.Path(d).rglob('*.rs')):
            lines = code_lines(p.read_text())
            if len(lines) > a.file:
                print(f'{p}: {len(lines)} lines (file limit {a.file})'); bad += 1
            for name, at, n in functions(lines):
                if n > a.fn:
                    print(f'{p}:{at}: fn {name} is {n} lines (limit {a.fn})'); bad += 1
    sys.exit(1 if bad else 0)

main()
