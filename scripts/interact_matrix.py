#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Print the interaction suite's results as a Markdown matrix.

Usage: interact_matrix.py CHECK_OUTPUT...

Reads the output of scripts/check.sh (one or more files, any number of
kernels each: "# ==== linux 7.3 (normal) ====" starts a kernel) and
prints one row per operation (a test of the dmirror_interact*_test
programs) and one column per device state (a fixture variant), each cell
the result per kernel in the order the kernels came: "ok" when it passed
everywhere, else e.g. "6.1 SKIP, 6.12 ok, 7.3 FAIL". Skip reasons are
listed under the table. Exit status 1 when a test failed somewhere.
"""

import re
import sys

KERNEL = re.compile(r"^# ==== (?:linux )?(\S+) \(([a-z]+)")
RESULT = re.compile(r"^(not ok|ok) \d+ (dmirror_interact\w*_test): "
                    r"(\w+)\.(\w+)\.(\w+)(?:\s+#\s*(SKIP)\s*(.*))?")
STATES = ["private", "thp", "exclusive", "coherent", "mirrored"]


def read(paths):
    """{(program, test): {state: {kernel: verdict}}}, kernels, reasons."""
    cells, kernels, reasons = {}, [], {}
    for path in paths:
        kernel = "?"
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = KERNEL.match(line)
                if m:
                    kernel = m.group(1)
                    if m.group(2) != "normal":
                        kernel += " " + m.group(2)
                    if kernel not in kernels:
                        kernels.append(kernel)
                    continue
                m = RESULT.match(line)
                if not m:
                    continue
                ok, prog, _, state, test, skip, why = m.groups()
                verdict = "SKIP" if skip else ("ok" if ok == "ok" else "FAIL")
                if skip:
                    reasons.setdefault(why.strip(), set()).add(
                        "%s on %s" % (state, kernel))
                cells.setdefault((prog, test), {}).setdefault(
                    state, {})[kernel] = verdict
    return cells, kernels, reasons


def cell(results, kernels):
    if not results:
        return "-"
    verdicts = [results.get(k, "-") for k in kernels]
    if all(v == "ok" for v in verdicts):
        return "ok"
    return ", ".join("%s %s" % (k, v) for k, v in zip(kernels, verdicts))


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    cells, kernels, reasons = read(argv[1:])
    states = [s for s in STATES
              if any(s in by_state for by_state in cells.values())]
    states += sorted({s for by_state in cells.values() for s in by_state}
                     - set(states))
    print("Kernels: %s. \"ok\": passed on every one." % ", ".join(kernels))
    print()
    print("| operation | " + " | ".join(states) + " |")
    print("|---|" + "---|" * len(states))
    failed = False
    for (prog, test) in sorted(cells, key=lambda k: (k[0], k[1])):
        by_state = cells[(prog, test)]
        row = [cell(by_state.get(s, {}), kernels) for s in states]
        failed |= any("FAIL" in c for c in row)
        print("| %s | %s |" % (test, " | ".join(row)))
    if reasons:
        print()
        print("Skips:")
        for why in sorted(reasons):
            print("- %s (%s)" % (why, ", ".join(sorted(reasons[why]))))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
