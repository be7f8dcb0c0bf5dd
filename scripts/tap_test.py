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


class TapTest(unittest.TestCase):
    def run_tap(self, channel, console="", vm_rc=0, expect=None):
        """Return (stdout, (passed, failed, skipped))."""
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
            out = subprocess.run(argv, check=True, capture_output=True,
                                 text=True).stdout
            with open(counts) as f:
                p, fl, s = (int(x) for x in f.read().split())
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


if __name__ == "__main__":
    unittest.main()
