#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# layers.py OBJDIR HEADER: the file-level call graph of module/, read from
# the object files' symbols, checked for cycles and against the layers
# declared in HEADER (module/dmirror.h, DOC: layers). See scripts/layers.sh.
#
# A file A calls a file B when a global symbol that A's object leaves
# undefined (nm: U) is defined by B's object. That covers calls and data
# references alike (a tracepoint, a table of operations).
#
# Exit status: 0 when the graph has no cycle and no file calls a file of a
# higher layer; 1 otherwise (the offending files are named); 2 on a usage
# or input error.

import os
import re
import subprocess
import sys

# "Ln name: a.c b.c" in the DOC comment; the list may go on over the
# following comment lines that hold nothing but file names.
LAYER_RE = re.compile(r'^\s*\*\s+L(\d+)\s+[^:]+:\s*(.*)$')
CONT_RE = re.compile(r'^\s*\*\s+((?:[\w-]+\.c\s*)+)$')


def read_layers(header):
    """Map file name -> layer number, from the header's layer table."""
    layers = {}
    current = None
    with open(header, encoding='utf-8') as f:
        for line in f:
            m = LAYER_RE.match(line)
            if m:
                current = int(m.group(1))
                names = m.group(2).split()
            else:
                c = CONT_RE.match(line) if current is not None else None
                if not c:
                    current = None
                    continue
                names = c.group(1).split()
            for name in names:
                if name in layers:
                    sys.exit(f'layers: {name} is in two layers of {header}')
                layers[name] = current
    return layers


def symbols(obj):
    """The global symbols @obj defines, and those it leaves undefined."""
    out = subprocess.run(['nm', obj], check=True, capture_output=True,
                         text=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == 'U':
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1].isupper() and parts[1] != 'U':
            defined.add(parts[2])
    return defined, undefined


def cycles(nodes, edges):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def main():
    if len(sys.argv) != 3:
        sys.exit('usage: layers.py OBJDIR HEADER')
    objdir, header = sys.argv[1], sys.argv[2]
    srcs = sorted(f for f in os.listdir(objdir) if f.endswith('.o') and
                  os.path.exists(os.path.join(objdir, f[:-2] + '.c')))
    if not srcs:
        print(f'layers: no object files of C sources in {objdir}',
              file=sys.stderr)
        return 2
    files = [f[:-2] + '.c' for f in srcs]
    defs, undefs, owner = {}, {}, {}
    for f in files:
        defs[f], undefs[f] = symbols(os.path.join(objdir, f[:-2] + '.o'))
        for s in defs[f]:
            owner[s] = f
    # edges[a][b]: the symbols of b that a uses
    edges = {}
    for a in files:
        for s in undefs[a]:
            b = owner.get(s)
            if b and b != a:
                edges.setdefault(a, {}).setdefault(b, set()).add(s)

    layers = read_layers(header)
    bad = 0
    if not layers:
        print(f'layers: no layer table (" * L<n> <name>: <files>") in '
              f'{header}')
        bad = 1

    def rank(f):
        return layers.get(f, -1)

    print('== call graph of module/ (caller -> callee: symbols)')
    for a in sorted(files, key=lambda f: (-rank(f), f)):
        for b in sorted(edges.get(a, {}), key=lambda f: (-rank(f), f)):
            syms = ' '.join(sorted(edges[a][b]))
            print(f'{a} -> {b}: {syms}')

    comps = cycles(files, edges)
    for comp in comps:
        print('CYCLE among: ' + ' '.join(comp))
        bad = 1
    if layers:
        for f in files:
            if f not in layers:
                print(f'LAYER: {f} is in no layer of {header}')
                bad = 1
        for f in layers:
            if f not in files:
                print(f'LAYER: {header} lists {f}, which has no object')
                bad = 1
        for a in files:
            for b in edges.get(a, {}):
                if a in layers and b in layers and layers[b] > layers[a]:
                    print(f'LAYER: {a} (L{layers[a]}) calls {b} '
                          f'(L{layers[b]}): '
                          + ' '.join(sorted(edges[a][b])))
                    bad = 1
    if bad:
        print('layers: FAILED')
        return 1
    print(f'layers: {len(files)} files, '
          f'{sum(len(v) for v in edges.values())} edges, no cycle, '
          'every call goes to the same or a lower layer')
    return 0


if __name__ == '__main__':
    sys.exit(main())
