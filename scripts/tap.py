#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn one VM run into TAP lines for one kernel.

Reads the results channel (sections framed by "@@HMM begin/end" markers,
each holding a kselftest-style TAP stream with its plan) and the kernel
console, and prints one flat TAP stream: every test result, a failure for
every section that crashed, never ended, printed no plan or fewer or more
results than its plan, and the console check, which fails on any kernel
splat. Writes "passed failed skipped" to --counts.

The guest also marks, in the kernel log, the start and end of each section
and each test's "# RUN" and result line (scripts/guest/init, mark). So the
console holds kernel reports and marks in the order they happened, and a
report belongs to the test whose result came next in its section (the
harness runs one test at a time and prints a result once the test is
over), or to the test that was running when the guest stopped. The console
check fails once per such test, naming it; --reports gets one line per
test, for the summary of a whole run, and --keep a copy of both logs.
"""
import argparse
import os
import re
import shutil
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
RUN = re.compile(r"^#\s+RUN\s+(\S+)")
# A mark of the guest in the kernel log, as the console shows it
# ("[   12.345678] @@HMM begin dmirror_migrate_test").
MARK = re.compile(r"@@HMM (.*)$")
# The printk prefixes of a console line: time stamp, caller id.
PREFIX = re.compile(r"^(\[[ 0-9.]+\]\s*)?(\[\s*[TC]\d+\]\s*)?")
# Console lines that start or frame a report without saying what it is.
FRAME = re.compile(r"cut here|Call Trace:|^-+$")
# The OOM killer's report, from "<task> invoked oom-killer:" to
# "oom-kill:constraint=...": when a memory cgroup's limit was hit (a test
# allocating past memory.max on purpose), its stack dump is no kernel
# report; anything else in it still is.
OOM_START = re.compile(r" invoked oom-killer: ")
OOM_END = re.compile(r"oom-kill:constraint=(\S+?),")


def memcg_oom_lines(console):
    """Indexes of the console lines of OOM reports of a memory cgroup."""
    lines = set()
    start = None
    for i, line in enumerate(console):
        if OOM_START.search(line):
            start = i
            continue
        m = OOM_END.search(line)
        if m and start is not None:
            if m.group(1) == "CONSTRAINT_MEMCG":
                lines.update(range(start, i + 1))
            start = None
    return lines


def clean(path):
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [ANSI.sub("", line) for line in text.split("\n")]


def parse_result(m, last_run):
    """(good, name, directive) of a RESULT match."""
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
    return good, desc.strip(), directive


def console_reports(console):
    """Kernel reports on the console, by the test that was running.

    Returns (splats, reports): the indexes of the console lines that look
    like kernel reports, and a list of (label, [indexes]) in the order of
    their first line, where label names the test ("section: test") or
    the phase of the run ("boot", "after the suite", ...).
    """
    splats = []
    owner = {}
    pending = []  # report lines of the open section, their test unknown
    section = None
    last_run = None
    last_result = None
    phase = "boot, before the first test"
    memcg_oom = memcg_oom_lines(console)

    def settle(label):
        for i in pending:
            owner[i] = label
        del pending[:]

    def closing():
        """Label of the reports left when the open section ends."""
        if last_run:
            return "%s: %s" % (section, last_run)
        if last_result:
            return "%s (after its last test, %s)" % (section, last_result)
        return section

    for i, line in enumerate(console):
        mark = MARK.search(line)
        if mark:
            text = mark.group(1).strip()
            if text.startswith("begin "):
                settle(closing() if section else phase)
                section = text[len("begin "):]
                last_run = last_result = None
            elif text.startswith("end "):
                settle(closing())
                phase = "between sections, after %s" % section
                section = None
            elif text == "done":
                settle(phase)
                phase = "after the suite"
            elif section and text.startswith(section + ": "):
                rest = text[len(section) + 2:]
                run = RUN.match(rest)
                res = RESULT.match(rest)
                if run:
                    last_run = run.group(1)
                elif res:
                    name = parse_result(res, last_run or "?")[1]
                    settle("%s: %s" % (section, name))
                    last_result = name
                    last_run = None
            continue
        if not SPLAT.search(line):
            continue
        if i in memcg_oom and not SPLAT.search(line.replace("Call Trace:",
                                                            "")):
            continue
        splats.append(i)
        if section:
            pending.append(i)
        else:
            owner[i] = phase
    # The guest stopped (crash, hang) inside a section.
    if pending:
        settle("%s (running when the guest stopped)" % closing())

    reports = []
    where = {}
    for i in splats:
        label = owner[i]
        if label not in where:
            where[label] = len(reports)
            reports.append((label, []))
        reports[where[label]][1].append(i)
    return splats, reports


def title(console, lines):
    """The console line that best names a report: its first line that
    says what happened, without the printk prefix."""
    pick = lines[0]
    for i in lines:
        if not FRAME.search(console[i]):
            pick = i
            break
    return PREFIX.sub("", console[pick]).strip()[:200]


def keep_logs(keep, channel, console):
    """Copy both logs of the run to the directory keep; its console.log."""
    os.makedirs(keep, exist_ok=True)
    for path in (channel, console):
        if os.path.exists(path):
            shutil.copy(path, keep)
    return os.path.join(keep, os.path.basename(console))


def console_only(args):
    """Print the kernel reports of the console, by the test or command
    that was running; keep the logs if there were any."""
    console = clean(args.console)
    splats, reports = console_reports(console)
    if not splats:
        return 0
    log = args.console
    if args.keep:
        log = keep_logs(args.keep, args.channel, args.console)
    print("[hmm-dmirror] %s: the kernel reported %d console line(s) "
          "that look like kernel reports:" % (args.kernel, len(splats)))
    for label, lines in reports:
        print("  during %s: %s" % (label, title(console, lines)))
    print("  full console log: %s" % log)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--channel", required=True)
    ap.add_argument("--console", required=True)
    ap.add_argument("--vm-rc", type=int, default=0)
    ap.add_argument("--counts")
    ap.add_argument("--console-only", action="store_true",
                    help="no TAP: only name the kernel reports of the "
                    "console (make run CMD=...), keep the logs if any")
    ap.add_argument("--expect", help="file naming, one per line, the "
                    "sections the run must contain")
    ap.add_argument("--reports", help="file to write one line per test "
                    "during which the kernel reported something: "
                    "test<TAB>first line of the report")
    ap.add_argument("--keep", help="directory to copy both logs to when "
                    "the kernel reported something or the guest did not "
                    "finish")
    args = ap.parse_args()
    if args.console_only:
        return console_only(args)
    if not args.counts:
        ap.error("--counts is required")

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
        run = RUN.match(line)
        if run:
            last_run = run.group(1)
        m = PLAN.match(line)
        if m and section:
            plan = int(m.group(1))
        m = RESULT.match(line)
        if m and section:
            count += 1
            good, desc, directive = parse_result(m, last_run)
            # A failure is a failure, whatever directive follows it.
            if not good and directive.upper().startswith("SKIP"):
                directive = "(failed, not a skip) " + directive
            saw_fail |= not good
            results.append((good, "%s: %s" % (section, desc), directive))
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
    splats, reports = console_reports(console)
    if not reports:
        results.append((True, "console: no kernel splat", ""))
    for label, lines in reports:
        results.append((False, "console: kernel report during %s: %s" %
                        (label, title(console, lines)), ""))

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
        for label, lines in reports:
            print("# during %s:" % label)
            for i in lines[:20]:
                print("#   %d: %s" % (i + 1, console[i]))
    if splats or not done:
        first = splats[0] if splats else max(len(console) - 60, 0)
        print("# ---- console excerpt (%s) ----" % args.console)
        for line in console[max(first - 10, 0):first + 90]:
            print("# " + line)
    if failed:
        print("# ---- failed tests: details are in %s ----" % args.channel)
    log = args.console
    if args.keep and (splats or not done):
        log = keep_logs(args.keep, args.channel, args.console)
    if splats or not done:
        print("# full console log of this run: %s" % log)
    if args.reports:
        with open(args.reports, "w") as f:
            for label, lines in reports:
                f.write("%s\t%s\t%s\n" % (label, title(console, lines), log))
    with open(args.counts, "w") as f:
        f.write("%d %d %d\n" % (passed, failed, skipped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
