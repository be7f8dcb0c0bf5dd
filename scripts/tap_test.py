#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Tests of scripts/tap.py: feed it made-up VM runs, check its verdict.

Run by `make lint`; `python3 scripts/tap_test.py -v` alone.
"""
import os
import subprocess
import sys
import tempfile
import unittest

TAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tap.py")

GOOD_SECTION = """@@HMM begin a_test
TAP version 13
1..2
# RUN t.one ...
ok 1 t.one
# RUN t.two ...
ok 2 t.two
@@HMM end a_test rc=0
"""


# The console of a run of GOOD_SECTION, with the guest's marks; REPORT
# is replaced by report lines (or nothing).
MARKED_CONSOLE = """[    1.000000] Linux version 7.3.0
BOOT
[    2.000000] @@HMM begin load
[    2.100000] @@HMM load: ok 1 load_module
[    2.200000] @@HMM end load
[    3.000000] @@HMM begin a_test
[    3.100000] @@HMM a_test: # RUN t.one ...
ONE
[    3.200000] @@HMM a_test: ok 1 t.one
[    3.300000] @@HMM a_test: # RUN t.two ...
TWO
[    3.400000] @@HMM a_test: ok 2 t.two
AFTER
[    3.500000] @@HMM end a_test
[    4.000000] @@HMM done
"""

WARN = ("[    3.150000] ------------[ cut here ]------------\n"
        "[    3.150001] WARNING: CPU: 1 PID: 80 at mm/migrate_device.c:"
        "700 migrate_vma_setup+0x10/0x20\n"
        "[    3.150002] Call Trace:\n")


def marked(**where):
    """MARKED_CONSOLE with WARN at the places named (boot, one, two,
    after), the others empty."""
    text = MARKED_CONSOLE
    for key in ("boot", "one", "two", "after"):
        text = text.replace(key.upper() + "\n",
                            WARN if where.get(key) else "")
    return text


class TapTest(unittest.TestCase):
    def run_tap(self, channel, console="", vm_rc=0, expect=None,
                extra=None):
        """Return (stdout, (passed, failed, skipped)); with extra a dict,
        also its "reports" (the --reports file) and "kept" (the files
        --keep copied)."""
        with tempfile.TemporaryDirectory() as d:
            ch = os.path.join(d, "channel.log")
            co = os.path.join(d, "console.log")
            counts = os.path.join(d, "counts")
            with open(ch, "w") as f:
                f.write(channel)
            with open(co, "w") as f:
                f.write(console)
            argv = [sys.executable, TAP, "--kernel", "test", "--channel", ch,
                    "--console", co, "--vm-rc", str(vm_rc),
                    "--counts", counts]
            if expect is not None:
                ex = os.path.join(d, "expect")
                with open(ex, "w") as f:
                    f.write("\n".join(expect) + "\n")
                argv += ["--expect", ex]
            reports = os.path.join(d, "reports")
            keep = os.path.join(d, "kept")
            if extra is not None:
                argv += ["--reports", reports, "--keep", keep]
            out = subprocess.run(argv, check=True, capture_output=True,
                                 text=True).stdout
            with open(counts) as f:
                p, fl, s = (int(x) for x in f.read().split())
            if extra is not None:
                with open(reports) as f:
                    extra["reports"] = f.read().splitlines()
                extra["kept"] = sorted(os.listdir(keep)) \
                    if os.path.isdir(keep) else []
                extra["keep"] = keep
        return out, (p, fl, s)

    def test_clean_run_passes(self):
        out, c = self.run_tap(GOOD_SECTION + "@@HMM done\n",
                              expect=["a_test"])
        self.assertEqual(c, (3, 0, 0), out)  # two tests + the console

    def test_failed_test(self):
        ch = GOOD_SECTION.replace("ok 2 t.two", "not ok 2 t.two")
        ch = ch.replace("rc=0", "rc=1")
        _, c = self.run_tap(ch + "@@HMM done\n")
        self.assertEqual(c[1], 1)

    def test_not_ok_skip_is_a_failure(self):
        ch = GOOD_SECTION.replace("ok 2 t.two", "not ok 2 t.two # SKIP why")
        _, c = self.run_tap(ch + "@@HMM done\n")
        self.assertEqual(c, (2, 1, 0))

    def test_ok_skip_is_a_skip(self):
        ch = GOOD_SECTION.replace("ok 2 t.two", "ok 2 t.two # SKIP no THP")
        _, c = self.run_tap(ch + "@@HMM done\n")
        self.assertEqual(c, (2, 0, 1))

    def test_missing_section(self):
        out, c = self.run_tap(GOOD_SECTION + "@@HMM done\n",
                              expect=["a_test", "b_test"])
        self.assertEqual(c[1], 1)
        self.assertIn("b_test: section missing", out)

    def test_missing_plan(self):
        ch = GOOD_SECTION.replace("1..2\n", "")
        out, c = self.run_tap(ch + "@@HMM done\n")
        self.assertEqual(c[1], 1)
        self.assertIn("no TAP plan", out)

    def test_plan_count_mismatch(self):
        ch = GOOD_SECTION.replace("1..2", "1..3")
        out, c = self.run_tap(ch + "@@HMM done\n")
        self.assertEqual(c[1], 1)
        self.assertIn("2 result(s) for a plan of 3", out)

    def test_crashed_program(self):
        ch = GOOD_SECTION.replace("ok 2 t.two\n", "").replace(
            "rc=0", "rc=139")
        out, c = self.run_tap(ch + "@@HMM done\n")
        self.assertGreaterEqual(c[1], 1)
        self.assertIn("exited with status 139", out)

    def test_section_without_end(self):
        ch = GOOD_SECTION.replace("@@HMM end a_test rc=0\n", "")
        out, c = self.run_tap(ch + GOOD_SECTION.replace("a_test", "b_test") +
                              "@@HMM done\n")
        self.assertIn("a_test: did not finish", out)
        self.assertGreaterEqual(c[1], 1)

    def test_guest_stopped_early(self):
        out, c = self.run_tap(GOOD_SECTION, vm_rc=1)
        self.assertIn("stopped before the end", out)
        self.assertEqual(c[1], 1)

    def test_timeout(self):
        out, c = self.run_tap(GOOD_SECTION, vm_rc=124)
        self.assertIn("timed out", out)
        self.assertEqual(c[1], 1)

    def test_qemu_status_after_done(self):
        out, c = self.run_tap(GOOD_SECTION + "@@HMM done\n", vm_rc=1)
        self.assertIn("QEMU exited with status 1", out)
        self.assertEqual(c[1], 1)

    def test_console_reports(self):
        for line in ["[  1.0] WARNING: CPU: 0 PID: 1 at mm/x.c:1 f+0x1/0x2",
                     "[  1.0] kernel BUG at mm/migrate_device.c:100!",
                     "[  1.0] rcu: INFO: rcu_preempt detected expedited "
                     "stalls on CPUs/tasks: { 1-... }",
                     "[  1.0] watchdog: BUG: soft lockup - CPU#0 stuck",
                     "[  1.0] INFO: task x:1 blocked for more than 30 s.",
                     "[  1.0] BUG: KASAN: slab-use-after-free in f"]:
            out, c = self.run_tap(GOOD_SECTION + "@@HMM done\n",
                                  console="boot\n" + line + "\n")
            self.assertEqual(c[1], 1, line)
            self.assertIn("not ok 3 console", out)

    def test_boot_banners_are_not_reports(self):
        console = ("kasan: KernelAddressSanitizer initialized\n"
                   "kmemleak: Kernel memory leak detector initialized\n")
        _, c = self.run_tap(GOOD_SECTION + "@@HMM done\n", console=console)
        self.assertEqual(c, (3, 0, 0))

    def test_memcg_oom_kill_is_not_a_report(self):
        oom = ("[ 1.0] x invoked oom-killer: gfp_mask=0xcc0, order=0\n"
               "[ 1.0] Call Trace:\n"
               "[ 1.0]  dump_stack_lvl+0x1/0x2\n"
               "%s"
               "[ 1.0] oom-kill:constraint=%s,nodemask=(null),task=x\n"
               "[ 1.0] Memory cgroup out of memory: Killed process 7 (x)\n")
        for extra, constraint, failed in [
                ("", "CONSTRAINT_MEMCG", 0),
                ("", "CONSTRAINT_NONE", 1),
                ("[ 1.0] BUG: KASAN: slab-use-after-free in f\n",
                 "CONSTRAINT_MEMCG", 1)]:
            _, c = self.run_tap(GOOD_SECTION + "@@HMM done\n",
                                console=oom % (extra, constraint))
            self.assertEqual(c[1], failed, (extra, constraint))

    def test_report_names_the_running_test(self):
        ex = {}
        out, c = self.run_tap(GOOD_SECTION + "@@HMM done\n",
                              console=marked(two=True), extra=ex)
        self.assertEqual(c, (2, 1, 0), out)
        self.assertIn("not ok 3 console: kernel report during a_test: "
                      "t.two: WARNING: CPU: 1 PID: 80 at "
                      "mm/migrate_device.c:700", out)
        self.assertEqual(len(ex["reports"]), 1, ex)
        label, first, log = ex["reports"][0].split("\t")
        self.assertEqual(label, "a_test: t.two")
        self.assertTrue(first.startswith("WARNING: CPU: 1"), first)
        self.assertEqual(ex["kept"], ["channel.log", "console.log"])
        self.assertEqual(log, os.path.join(ex["keep"], "console.log"))
        self.assertIn("# full console log of this run: " + log, out)

    def test_report_per_test(self):
        ex = {}
        out, c = self.run_tap(GOOD_SECTION + "@@HMM done\n",
                              console=marked(one=True, two=True), extra=ex)
        self.assertEqual(c, (2, 2, 0), out)
        self.assertIn("kernel report during a_test: t.one: WARNING", out)
        self.assertIn("kernel report during a_test: t.two: WARNING", out)
        self.assertEqual([r.split("\t")[0] for r in ex["reports"]],
                         ["a_test: t.one", "a_test: t.two"])

    def test_report_outside_tests(self):
        out, _ = self.run_tap(GOOD_SECTION + "@@HMM done\n",
                              console=marked(boot=True, after=True))
        self.assertIn("kernel report during boot, before the first test: "
                      "WARNING", out)
        self.assertIn("kernel report during a_test (after its last test, "
                      "t.two): WARNING", out)

    def test_report_of_a_crash(self):
        console = marked().split("[    3.400000]")[0] + \
            "[    3.35] BUG: kernel NULL pointer dereference, address: 0\n" \
            "[    3.36] Kernel panic - not syncing: Fatal exception\n"
        channel = GOOD_SECTION.split("ok 2 t.two")[0]
        ex = {}
        out, c = self.run_tap(channel, console=console, vm_rc=0, extra=ex)
        self.assertIn("kernel report during a_test: t.two (running when "
                      "the guest stopped): BUG: kernel NULL pointer", out)
        self.assertEqual(ex["kept"], ["channel.log", "console.log"])

    def test_old_harness_skip_names_the_test(self):
        console = marked(two=True).replace("ok 2 t.two", "ok 2 # SKIP x")
        out, _ = self.run_tap(GOOD_SECTION + "@@HMM done\n",
                              console=console)
        self.assertIn("kernel report during a_test: t.two: WARNING", out)

    def test_marks_are_not_reports(self):
        console = marked().replace("t.one", "t.BUG_WARNING_Oops")
        ex = {}
        out, c = self.run_tap(GOOD_SECTION + "@@HMM done\n",
                              console=console, extra=ex)
        self.assertEqual(c, (3, 0, 0), out)
        self.assertEqual(ex["reports"], [])
        self.assertEqual(ex["kept"], [])
        self.assertNotIn("full console log", out)

    def test_console_only_names_the_command(self):
        console = ("[ 1.0] @@HMM module hmm_dmirror.ko .text 0xffffffffa0000000\n"
                   "[ 1.1] @@HMM begin cmd\n" + WARN +
                   "[ 1.2] @@HMM end cmd\n[ 1.3] @@HMM done\n")
        with tempfile.TemporaryDirectory() as d:
            co = os.path.join(d, "console.log")
            with open(co, "w") as f:
                f.write(console)
            keep = os.path.join(d, "kept")
            out = subprocess.run(
                [sys.executable, TAP, "--console-only", "--kernel", "k",
                 "--console", co, "--channel", os.path.join(d, "none"),
                 "--keep", keep],
                check=True, capture_output=True, text=True).stdout
            self.assertIn("during cmd: WARNING: CPU: 1 PID: 80", out)
            self.assertIn("full console log: " +
                          os.path.join(keep, "console.log"), out)
            self.assertEqual(os.listdir(keep), ["console.log"])


if __name__ == "__main__":
    unittest.main()
