#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""bench_report.py: turn dmirror_bench output into tables, CSV, JSON, a chart.

Usage: bench_report.py --out DIR [--plot] KVER=RAWFILE...

Each RAWFILE is what scripts/bench captured from one VM boot: the CSV lines
of tools/bench/dmirror_bench for hmm_dmirror ("ours") and test_hmm (the
kernel's own device, "kernel"), possibly several rounds. Figures of the same
row from several rounds are combined by their median. Prints the tables and
the issue-7 targets (pass/miss; never an error), and writes DIR/bench.csv,
fault.csv, kmem.csv, bench.json, table.txt, table.md (Markdown) and, with
--plot, bench-KVER.png.
"""

import csv
import json
import os
import shutil
import statistics
import subprocess
import sys

OURS, THEIRS = "hmm_dmirror", "test_hmm"
COLUMNS = ("kind,module,kernel,pages,bytes,op,iters,median_ns,min_ns,"
           "max_ns,gbps,extra").split(",")
OPS = [("s2d", "S->D"), ("d2s", "D->S"), ("d2s_fault", "D->S CPU faults"),
       ("read_dev", "READ on device")]
TARGET_BYTES = 256 << 20
KMEM_SLACK_KIB = 1024


def size_name(n):
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return "%d%s" % (n >> shift, unit)
    return str(n)


def extra_dict(s):
    d = {}
    for kv in filter(None, (s or "").split(";")):
        k, _, v = kv.partition("=")
        d[k] = v
    return d


def parse(path):
    """Rows of one raw file, as dicts; comments and noise are skipped."""
    rows, notes = [], []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# bench:"):
                notes.append(line[2:])
                continue
            fields = next(csv.reader([line]), [])
            if len(fields) != len(COLUMNS) or fields[0] not in (
                    "bw", "fault", "kmem", "skip"):
                continue
            r = dict(zip(COLUMNS, fields))
            r["bytes"] = int(r["bytes"])
            r["extra"] = extra_dict(r["extra"])
            for k in ("iters", "median_ns", "min_ns", "max_ns"):
                r[k] = int(r[k]) if r[k] else None
            r["gbps"] = float(r["gbps"]) if r["gbps"] else None
            rows.append(r)
    return rows, notes


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Kernel:
    """Everything measured on one kernel, rounds combined."""

    def __init__(self, kver, rows, notes):
        self.kver = kver
        self.notes = notes
        self.release = next((r["kernel"] for r in rows), "?")
        self.rows = rows
        self.skips = [r for r in rows if r["kind"] == "skip"]

    def bw(self, module, pages, nbytes, op):
        """Median GB/s over rounds and the lowest THP share seen."""
        rs = [r for r in self.rows if r["kind"] == "bw" and
              r["module"] == module and r["pages"] == pages and
              r["bytes"] == nbytes and r["op"] == op]
        if not rs:
            return None, None
        thp = [int(r["extra"].get("thp_pct", -1)) for r in rs]
        bad = any(r["extra"].get("data") == "BAD" for r in rs)
        rel = med(float(r["extra"]["rel"]) for r in rs if "rel" in r["extra"])
        best = nbytes / min(r["min_ns"] for r in rs)
        return med(r["gbps"] for r in rs), (min(thp), bad, rel, best)

    def bw_keys(self):
        keys = {(r["pages"], r["bytes"]) for r in self.rows
                if r["kind"] == "bw"}
        return sorted(keys, key=lambda k: (k[0] != "4k", k[1]))

    def fault(self, module, nbytes):
        rs = [r for r in self.rows if r["kind"] == "fault" and
              r["module"] == module and r["bytes"] == nbytes]
        if not rs:
            return None
        return {"ns_per_page": med(r["median_ns"] for r in rs),
                "call_ns": med(int(r["extra"].get("call_ns", 0))
                               for r in rs),
                "fault_rounds": rs[0]["extra"].get("fault_rounds")}

    def fault_sizes(self):
        return sorted({r["bytes"] for r in self.rows if r["kind"] == "fault"})

    def kmem(self, module, nbytes, op):
        rs = [r for r in self.rows if r["kind"] == "kmem" and
              r["module"] == module and r["bytes"] == nbytes and
              r["op"] == op]
        if not rs:
            return None
        out = {}
        for k in ("vmalloc_peak_kib", "vmalloc_after_kib", "slab_peak_kib",
                  "slab_after_kib", "kstack_peak_kib", "ptables_peak_kib"):
            out[k] = med(int(r["extra"][k]) for r in rs if k in r["extra"])
        out["transient_kib"] = (out["vmalloc_peak_kib"] or 0) + \
            (out["slab_peak_kib"] or 0)
        out["kept_kib"] = (out["vmalloc_after_kib"] or 0) + \
            (out["slab_after_kib"] or 0)
        # what the ioctl needed only while it ran: the peak above what
        # stayed allocated after it (device page-table entries, ...)
        out["working_kib"] = max(0, out["transient_kib"] -
                                 max(0, out["kept_kib"]))
        return out

    def kmem_sizes(self):
        return sorted({r["bytes"] for r in self.rows if r["kind"] == "kmem"})


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(v, spec="%.3f", none="-"):
    return spec % v if v is not None else none


def target_value(t, plain):
    """Target @t's value: KiB, or a ratio (plain: a bare number; else "x"
    for a ratio to the kernel's device, "%" for a fraction of memcpy)."""
    v = t["value"]
    if v is None:
        return "-"
    if t.get("lower_is_better"):
        return "%d KiB" % v
    if plain:
        return "%.2f" % v
    return "%.2fx" % v if t["want"] > 1 else "%.0f%%" % (v * 100)


def bw_table(k):
    """Rows of the bandwidth table (dicts) for kernel @k."""
    out = []
    for pages, nbytes in k.bw_keys():
        mc, _ = k.bw(OURS, pages, nbytes, "memcpy")
        mc_k, _ = k.bw(THEIRS, pages, nbytes, "memcpy")
        for op, label in OPS:
            ours, oi = k.bw(OURS, pages, nbytes, op)
            theirs, ti = k.bw(THEIRS, pages, nbytes, op)
            if ours is None and theirs is None:
                continue
            out.append({
                "kver": k.kver, "release": k.release, "pages": pages,
                "bytes": nbytes, "size": size_name(nbytes), "op": op,
                "label": label, "ours_gbps": ours, "kernel_gbps": theirs,
                "ours_over_kernel": ratio(ours, theirs),
                "memcpy_gbps": mc, "kernel_run_memcpy_gbps": mc_k,
                "ours_over_memcpy": ratio(ours, mc),
                "ours_over_kernel_norm": ratio(oi and oi[2], ti and ti[2]),
                "ours_best_gbps": oi and oi[3],
                "kernel_best_gbps": ti and ti[3],
                "ours_over_kernel_best": ratio(oi and oi[3], ti and ti[3]),
                "ours_thp_pct": oi[0] if oi else None,
                "kernel_thp_pct": ti[0] if ti else None,
                "data_bad": bool((oi and oi[1]) or (ti and ti[1])),
            })
    return out


def targets(k, table):
    """Issue 7's targets, evaluated on kernel @k (they are set for 7.3)."""
    def find(pages, op):
        return next((r for r in table if r["pages"] == pages and
                     r["op"] == op and r["bytes"] == TARGET_BYTES), None)

    res = []
    for pages in ("thp", "4k"):
        for op, want in (("s2d", 1.5), ("d2s", 1.25)):
            r = find(pages, op)
            got = r and r["ours_over_kernel"]
            res.append({
                "target": "%s %s 256M >= %.2fx the kernel's device" %
                          (dict(OPS)[op], pages, want),
                "value": got, "want": want,
                "detail": r and "ours %s GB/s, kernel %s GB/s (norm. %s, "
                "best %s)" % (fmt(r["ours_gbps"]), fmt(r["kernel_gbps"]),
                              fmt(r["ours_over_kernel_norm"], "%.2fx"),
                              fmt(r["ours_over_kernel_best"], "%.2fx")),
            })
    r = find("thp", "d2s")
    res.append({
        "target": "D->S thp 256M >= 80% of guest memcpy",
        "value": r and r["ours_over_memcpy"], "want": 0.8,
        "detail": r and "ours %s GB/s, memcpy %s GB/s" %
        (fmt(r["ours_gbps"]), fmt(r["memcpy_gbps"])),
    })
    sizes = k.kmem_sizes()
    worst, detail = None, None
    if len(sizes) >= 2:
        parts = []
        for op in ("s2d", "d2s"):
            lo, hi = k.kmem(OURS, sizes[0], op), k.kmem(OURS, sizes[-1], op)
            if not lo or not hi:
                continue
            d = hi["working_kib"] - lo["working_kib"]
            worst = d if worst is None else max(worst, d)
            parts.append("%s: %d KiB at %s, %d KiB at %s" % (
                dict(OPS)[op], lo["working_kib"], size_name(sizes[0]),
                hi["working_kib"], size_name(sizes[-1])))
        detail = "; ".join(parts)
    res.append({
        "target": "kernel memory per ioctl: growth with size <= %d KiB" %
                  KMEM_SLACK_KIB,
        "value": worst, "want": KMEM_SLACK_KIB, "detail": detail,
        "lower_is_better": True,
    })
    for t in res:
        v = t["value"]
        if v is None:
            t["result"] = "n/a"
        elif t.get("lower_is_better"):
            t["result"] = "pass" if v <= t["want"] else "miss"
        else:
            t["result"] = "pass" if v >= t["want"] else "miss"
    return res


def render(k, table, tgts):
    L = []
    w = L.append
    w("== linux %s (%s): ours = hmm_dmirror, kernel = test_hmm, "
      "same boot ==" % (k.kver, k.release))
    w("GB/s = 10^9 bytes/s, median over iterations (and rounds); memcpy "
      "is the guest's, measured in the hmm_dmirror run")
    w("ours/k norm: the same ratio with each side's speed taken relative "
      "to the memcpy of its own iterations (evens out host load);")
    w("ours/k best: the ratio of each side's fastest iteration (host load "
      "only ever slows a run down)")
    w("%-5s %5s %-16s %8s %8s %8s %8s %8s %8s %8s" % (
        "pages", "size", "op", "ours", "kernel", "ours/k", "ours/k",
        "ours/k", "memcpy", "ours/mc"))
    w("%-5s %5s %-16s %8s %8s %8s %8s %8s %8s %8s" % (
        "", "", "", "GB/s", "GB/s", "", "norm", "best", "GB/s", ""))
    last = None
    for r in table:
        if last and last != (r["pages"], r["bytes"]):
            w("")
        last = (r["pages"], r["bytes"])
        note = ""
        if r["pages"] == "thp" and min(
                x for x in (r["ours_thp_pct"], r["kernel_thp_pct"], 100)
                if x is not None) < 90:
            note = "  (THP share below 90%)"
        if r["data_bad"]:
            note += "  (DATA MISMATCH)"
        w("%-5s %5s %-16s %8s %8s %8s %8s %8s %8s %8s%s" % (
            r["pages"], r["size"], r["label"], fmt(r["ours_gbps"]),
            fmt(r["kernel_gbps"]), fmt(r["ours_over_kernel"], "%.2fx"),
            fmt(r["ours_over_kernel_norm"], "%.2fx"),
            fmt(r["ours_over_kernel_best"], "%.2fx"),
            fmt(r["memcpy_gbps"]), fmt(r["ours_over_memcpy"], "%.2f"), note))
    sizes = k.fault_sizes()
    if sizes:
        w("")
        w("Device fault latency: READ of never-touched 4 KiB pages "
          "(median per page)")
        w("%8s %12s %12s %12s" % ("range", "ours us/pg", "kernel us/pg",
                                  "kernel/ours"))
        for n in sizes:
            o, t = k.fault(OURS, n), k.fault(THEIRS, n)
            on = o and o["ns_per_page"]
            tn = t and t["ns_per_page"]
            w("%8s %12s %12s %12s" % (
                size_name(n), fmt(on and on / 1000, "%.2f"),
                fmt(tn and tn / 1000, "%.2f"), fmt(ratio(tn, on), "%.2fx")))
    sizes = k.kmem_sizes()
    if sizes:
        w("")
        w("Kernel memory per ioctl, KiB of VmallocUsed + Slab: peak = highest "
          "while it ran, above before;")
        w("kept = after - before (device page-table entries, ...); "
          "working = peak - kept")
        w("%6s %-6s %10s %10s %10s %10s %10s %10s" % (
            "size", "op", "ours peak", "ours kept", "ours work",
            "kern peak", "kern kept", "kern work"))
        for n in sizes:
            for op in ("s2d", "d2s"):
                o, t = k.kmem(OURS, n, op), k.kmem(THEIRS, n, op)
                w("%6s %-6s %10s %10s %10s %10s %10s %10s" % (
                    size_name(n), dict(OPS)[op],
                    fmt(o and o["transient_kib"], "%d"),
                    fmt(o and o["kept_kib"], "%d"),
                    fmt(o and o["working_kib"], "%d"),
                    fmt(t and t["transient_kib"], "%d"),
                    fmt(t and t["kept_kib"], "%d"),
                    fmt(t and t["working_kib"], "%d")))
    if k.skips:
        w("")
        w("Skipped:")
        seen = set()
        for s in k.skips:
            key = (s["module"], s["pages"], s["bytes"], s["op"],
                   s["extra"] and json.dumps(s["extra"]))
            if key in seen:
                continue
            seen.add(key)
            why = ";".join("%s=%s" % kv if kv[1] else kv[0]
                           for kv in s["extra"].items())
            w("  %s %s %s %s: %s" % (s["module"], s["pages"],
                                     size_name(s["bytes"]), s["op"], why))
    w("")
    w("Targets (issue 7; set for 7.3, reported, never enforced):")
    for t in tgts:
        w("  [%-4s] %-55s %-9s %s" % (t["result"], t["target"],
                                      target_value(t, False),
                                      t["detail"] or ""))
    return "\n".join(L)


def markdown(k, table, tgts):
    """The bandwidth table and the targets of kernel @k as Markdown."""
    L = ["linux %s (%s), GB/s (10^9 B/s), median:" % (k.kver, k.release), "",
         "| pages | size | op | hmm_dmirror | test_hmm | ours/theirs "
         "| ours/theirs norm. | ours/theirs best | memcpy | ours/memcpy |",
         "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table:
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["pages"], r["size"], r["label"], fmt(r["ours_gbps"]),
            fmt(r["kernel_gbps"]), fmt(r["ours_over_kernel"], "%.2f"),
            fmt(r["ours_over_kernel_norm"], "%.2f"),
            fmt(r["ours_over_kernel_best"], "%.2f"),
            fmt(r["memcpy_gbps"]), fmt(r["ours_over_memcpy"], "%.2f")))
    L += ["", "| target (256 MiB) | result | value | numbers |",
          "|---|---|---:|---|"]
    for t in tgts:
        L.append("| %s | %s | %s | %s |" % (t["target"], t["result"],
                                            target_value(t, True),
                                            t["detail"] or ""))
    return "\n".join(L)


def write_csv(path, rows, fields):
    with open(path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        wr.writeheader()
        for r in rows:
            wr.writerow({k: ("" if r.get(k) is None else r.get(k))
                         for k in fields})


def plot(out, k, table):
    """A PNG of GB/s against size: gnuplot, else matplotlib."""
    png = os.path.join(out, "bench-%s.png" % k.kver)
    panels = [(p, op) for p in ("4k", "thp") for op in ("s2d", "d2s")]
    if shutil.which("gnuplot"):
        dat = os.path.join(out, "plot-%s.dat" % k.kver)
        with open(dat, "w") as f:
            for pages, op in panels:
                f.write("# %s %s\n" % (pages, op))
                for r in table:
                    if r["pages"] == pages and r["op"] == op:
                        f.write("%g %s %s %s\n" % (
                            r["bytes"] / (1 << 20), fmt(r["ours_gbps"], "%.4f", "?"),
                            fmt(r["kernel_gbps"], "%.4f", "?"),
                            fmt(r["memcpy_gbps"], "%.4f", "?")))
                f.write("\n\n")
        gp = ["set terminal png size 1200,900 noenhanced",
              "set output '%s'" % png,
              "set datafile missing '?'",
              "set multiplot layout 2,2 title 'linux %s (%s): GB/s, "
              "hmm_dmirror vs test_hmm (QEMU TCG)'" % (k.kver, k.release),
              "set logscale x 2", "set format x '%g'",
              "set xlabel 'size (MiB)'",
              "set ylabel 'GB/s'", "set key top left", "set grid"]
        for i, (pages, op) in enumerate(panels):
            gp.append("set title '%s, %s pages'" % (dict(OPS)[op], pages))
            gp.append("plot '%s' index %d using 1:2 with linespoints "
                      "title 'hmm_dmirror', '' index %d using 1:3 with "
                      "linespoints title 'test_hmm', '' index %d using 1:4 "
                      "with lines dashtype 2 title 'memcpy'" % (dat, i, i, i))
        gp.append("unset multiplot")
        subprocess.run(["gnuplot"], input="\n".join(gp) + "\n", text=True,
                       check=True)
        os.unlink(dat)
        return png
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: --plot needs gnuplot or python3-matplotlib",
              file=sys.stderr)
        return None
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    for ax, (pages, op) in zip(axes.flat, panels):
        rs = [r for r in table if r["pages"] == pages and r["op"] == op]
        x = [r["bytes"] / (1 << 20) for r in rs]
        for key, name, style in (("ours_gbps", "hmm_dmirror", "o-"),
                                 ("kernel_gbps", "test_hmm", "s-"),
                                 ("memcpy_gbps", "memcpy", "--")):
            ax.plot(x, [r[key] for r in rs], style, label=name)
        ax.set_xscale("log", base=2)
        ax.set_title("%s, %s pages" % (dict(OPS)[op], pages))
        ax.set_xlabel("size (MiB)")
        ax.set_ylabel("GB/s")
        ax.grid(True)
        ax.legend()
    fig.suptitle("linux %s (%s): hmm_dmirror vs test_hmm (QEMU TCG)" %
                 (k.kver, k.release))
    fig.savefig(png)
    return png


def main(argv):
    out, do_plot, inputs = None, False, []
    args = iter(argv)
    for a in args:
        if a == "--out":
            out = next(args)
        elif a == "--plot":
            do_plot = True
        elif "=" in a:
            inputs.append(a.split("=", 1))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    if not out or not inputs:
        print(__doc__, file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)
    all_bw, all_fault, all_kmem, report, text = [], [], [], {}, []
    md = []
    for kver, path in inputs:
        rows, notes = parse(path)
        if not rows:
            text.append("== linux %s: no results (see %s) ==" % (kver, path))
            continue
        k = Kernel(kver, rows, notes)
        table = bw_table(k)
        tgts = targets(k, table)
        text.append(render(k, table, tgts))
        md.append(markdown(k, table, tgts))
        faults = []
        for n in k.fault_sizes():
            for mod in (OURS, THEIRS):
                f = k.fault(mod, n)
                if f:
                    faults.append(dict(f, kver=kver, release=k.release,
                                       module=mod, bytes=n))
        kmems = []
        for n in k.kmem_sizes():
            for op in ("s2d", "d2s"):
                for mod in (OURS, THEIRS):
                    m = k.kmem(mod, n, op)
                    if m:
                        kmems.append(dict(m, kver=kver, release=k.release,
                                          module=mod, bytes=n, op=op))
        all_bw += table
        all_fault += faults
        all_kmem += kmems
        report[kver] = {"release": k.release, "notes": notes,
                        "bandwidth": table, "fault": faults, "kmem": kmems,
                        "targets": tgts, "skipped": k.skips}
        if do_plot:
            png = plot(out, k, table)
            if png:
                text.append("chart: %s" % png)
    write_csv(os.path.join(out, "bench.csv"), all_bw,
              ["kver", "release", "pages", "bytes", "size", "op",
               "ours_gbps", "kernel_gbps", "ours_over_kernel",
               "ours_over_kernel_norm", "ours_best_gbps", "kernel_best_gbps",
               "ours_over_kernel_best", "memcpy_gbps", "ours_over_memcpy", "ours_thp_pct",
               "kernel_thp_pct"])
    write_csv(os.path.join(out, "fault.csv"), all_fault,
              ["kver", "release", "module", "bytes", "ns_per_page",
               "call_ns", "fault_rounds"])
    write_csv(os.path.join(out, "kmem.csv"), all_kmem,
              ["kver", "release", "module", "bytes", "op", "transient_kib",
               "kept_kib", "working_kib", "vmalloc_peak_kib", "vmalloc_after_kib",
               "slab_peak_kib", "slab_after_kib", "kstack_peak_kib",
               "ptables_peak_kib"])
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump(report, f, indent=1)
    body = "\n\n".join(text)
    with open(os.path.join(out, "table.txt"), "w") as f:
        f.write(body + "\n")
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write("\n\n".join(md) + "\n")
    print(body)
    print("\nresults: %s/{table.txt,table.md,bench.csv,fault.csv,kmem.csv,"
          "bench.json}" % out)
    return 0 if report else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
