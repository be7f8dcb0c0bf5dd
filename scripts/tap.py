#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn one VM run into TAP lines for one kernel.

Reads the results channel (sections framed by "@@HMM begin/end" markers,
each holding a kselftest-style TAP stream with its plan) and the kernel
console, and prints one flat TAP stream: every test result, a failure for
every section that crashed, never ended, printed no plan or fewer or more
results than its plan, and one line for the console check,
which fails on any kernel splat. Writes "passed failed skipped" to
--counts.
"""
import argparse
import re
import sys

# A console line matching SPLAT is a kernel report, and fails the run.
# Every WARN prints "WARNING:" (after "cut here"), so every WARN counts.
# The debug flavour's checkers report as: KASAN "BUG: KASAN: ...";
# lockdep "WARNING: possible circular locking ..." and friends, or
# "INFO: trying to register non-static key" when it turns itself off;
# DEBUG_ATOMIC_SLEEP "BUG: sleeping function called from invalid context";
# DEBUG_LIST "list_add corruption" / "list_del corruption" / "list_add
# double add" (with a WARN); DEBUG_OBJECTS "ODEBUG: ..."; SLUB debugging
# "BUG <cache> (Not tainted): ...". Their boot banners ("kasan:
# KernelAddressSanitizer initialized", "Lock dependency validator: ...",
# "kmemleak: Kernel memory leak detector initialized") match nothing here.
# kmemleak's "N new suspected memory leaks" is not a splat: the guest's
# kmemleak section decides which leaks are ours (scripts/guest/init).
SPLAT = re.compile(
    r"BUG:|WARNING:|cut here|Oops|KASAN|UBSAN|general protection fault|"
    r"Kernel panic|Call Trace:|possible circular locking|"
    r"possible recursive locking|inconsistent lock state|"
    r"suspicious RCU usage|DEBUG_LOCKS_WARN_ON|"
    r"trying to register non-static key|"
    r"turning off the locking correctness validator|"
    r"sleeping function called from invalid context|"
    r"scheduling while atomic|ODEBUG:|\bBUG [^ ]+ \((Not t|T)ainted|"
    r"blocked for more than|soft lockup|hard LOCKUP|detected stall|"
    r"detected expedited stall|kernel BUG at|"
    r"list_(add|del) corruption|list_add double add|"
    r"sysfs: cannot create duplicate")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[c()][0-9A-Za-z]?|\r")
RESULT = re.compile(r"^(not ok|ok) \d+ (.*)$")
PLAN = re.compile(r"^1\.\.(\d+)\b")


def clean(path):
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [ANSI.sub("", line) for line in text.split("\n")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--channel", required=True)
    ap.add_argument("--console", required=True)
    ap.add_argument("--vm-rc", type=int, default=0)
    ap.add_argument("--counts", required=True)
    ap.add_argument("--expect", help="file naming, one per line, the "
                    "sections the run must contain")
    args = ap.parse_args()

    results = []  # (ok, name, directive)
    section = None
    saw_fail = False
    plan = None
    count = 0
    done = False
    last_run = "?"
    notes = []  # "# note: " lines of any section, shown in the output
    seen = set()
    for line in clean(args.channel):
        if line.startswith("@@HMM begin "):
            if section:
                results.append((False, "%s: did not finish" % section, ""))
            section = line.split(" ", 2)[2]
            seen.add(section)
            saw_fail = False
            plan = None
            count = 0
            last_run = "?"
            continue
        if line.startswith("@@HMM end "):
            m = re.match(r"@@HMM end (\S+) rc=(\d+)", line)
            rc = int(m.group(2)) if m else 1
            if rc not in (0, 4) and not saw_fail:
                results.append((False, "%s: exited with status %d" %
                                (section, rc), ""))
            if plan is None:
                results.append((False, "%s: no TAP plan" % section, ""))
            elif count != plan:
                results.append((False, "%s: %d result(s) for a plan of %d" %
                                (section, count, plan), ""))
            section = None
            continue
        if line.startswith("@@HMM done"):
            done = True
            continue
        run = re.match(r"#\s+RUN\s+(\S+)", line)
        if run:
            last_run = run.group(1)
        m = PLAN.match(line)
        if m and section:
            plan = int(m.group(1))
        m = RESULT.match(line)
        if m and section:
            count += 1
            desc = m.group(2)
            directive = ""
            # Older harnesses (6.1) print "ok N # SKIP why", without the
            # test's name: take it from the RUN line before.
            if desc.startswith("# "):
                desc, directive = last_run + " ", desc[2:]
            if " # " in desc:
                desc, directive = desc.split(" # ", 1)
            good = m.group(1) == "ok"
            if not good and directive.upper().startswith("XFAIL"):
                good = True
            # A failure is a failure, whatever directive follows it.
            if not good and directive.upper().startswith("SKIP"):
                directive = "(failed, not a skip) " + directive
            saw_fail |= not good
            results.append((good, "%s: %s" % (section, desc.strip()),
                            directive))
        elif section and line.startswith("# note: "):
            notes.append("%s: %s" % (section, line[len("# note: "):]))
    if section:
        results.append((False, "%s: did not finish" % section, ""))
    if not done:
        why = "timed out" if args.vm_rc == 124 else \
            "stopped before the end (status %d)" % args.vm_rc
        results.append((False, "vm: guest %s" % why, ""))
    elif args.vm_rc != 0:
        results.append((False, "vm: QEMU exited with status %d after the "
                        "guest finished" % args.vm_rc, ""))
    if args.expect:
        try:
            with open(args.expect) as f:
                expected = [l.strip() for l in f if l.strip()]
        except OSError:
            expected = ["(list of expected sections %s)" % args.expect]
        for name in expected:
            if name not in seen:
                results.append((False, "%s: section missing (not run)" %
                                name, ""))

    console = clean(args.console)
    splats = [i for i, l in enumerate(console) if SPLAT.search(l)]
    results.append((not splats, "console: no kernel splat", ""))

    print("TAP version 13")
    print("# kernel %s" % args.kernel)
    passed = failed = skipped = 0
    for i, (good, name, directive) in enumerate(results, 1):
        line = "%s %d %s" % ("ok" if good else "not ok", i, name)
        if directive:
            line += " # " + directive
        print(line)
        if directive.upper().startswith("SKIP"):
            skipped += 1
        elif good:
            passed += 1
        else:
            failed += 1
    print("1..%d" % len(results))

    for note in notes:
        print("# note: " + note)
    if splats:
        print("# ---- %d console line(s) look like kernel reports ----" %
              len(splats))
        for i in splats[:40]:
            print("# %d: %s" % (i + 1, console[i]))
    if splats or not done:
        first = splats[0] if splats else max(len(console) - 60, 0)
        print("# ---- console excerpt (%s) ----" % args.console)
        for line in console[max(first - 10, 0):first + 90]:
            print("# " + line)
    if failed:
        print("# ---- failed tests: details are in %s ----" % args.channel)
    with open(args.counts, "w") as f:
        f.write("%d %d %d\n" % (passed, failed, skipped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
