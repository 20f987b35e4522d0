#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn a cowbench console log into CSVs, plots, goal verdicts, markdown.

  report.py target --target T --log CONSOLE --out DIR [--title TEXT]
      DIR/<scenario>.csv, DIR/<scenario>.png (gnuplot), DIR/goals.csv,
      DIR/report.md (a markdown section for docs/benchmarks.md); prints the
      tables and one PASS/FAIL line per goal.
  report.py doc --out FILE --command CMD DIR...
      docs/benchmarks.md from the report.md of each target directory.
"""
import argparse
import csv
import os
import subprocess
import sys

FIELDS = ["scenario", "params", "x", "method", "metric", "unit",
          "median", "min", "max", "q1", "q3", "n"]

TITLES = {
    "s1": "s1: new sharer of a prepared image (time until a new process reads a page)",
    "s2": "s2: read every page (per-page cost, minor faults for the whole range)",
    "s3": "s3: first write to every page (per-page cost)",
    "s4": "s4: fork() of a process holding a fully read view",
    "s5": "s5: physical memory with N sharers (each reads all, writes p of the pages)",
    "s6": "s6: reset and dirty report of a view with p of the pages dirty",
    "s7": "s7: snapshot of a view with p of the pages dirty",
    "s8": "s8: N processes start from a snapshot of a template that wrote W of S (each reads every page, writes 1%)",
    "s9": "s9: fork() of a process whose view has W of its pages copied, against the same data as anonymous memory",
    "s10": "s10: read every page of a sealed image (huge view, 4 KiB view, memfd MAP_PRIVATE with 4 KiB pages and with shmem THP)",
}

# s8's memory breakdown: what each column explains of the free memory the sharers took.
S8_PARTS = [("module_copies", "copies (module)"), ("anon_delta", "anonymous pages"),
            ("shmem_delta", "shmem page cache"), ("module_cache", "base pages (module)"),
            ("pagetables_delta", "page tables"), ("module_meta", "module objects"),
            ("slab_delta", "slab (all)"), ("kstack_delta", "kernel stacks")]


def parse(log):
    rows, skips, infos = [], [], []
    with open(log, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("@CSV "):
                vals = line[5:].split(",")
                if len(vals) != len(FIELDS):
                    continue
                r = dict(zip(FIELDS, vals))
                for k in ("x", "median", "min", "max", "q1", "q3"):
                    r[k] = float(r[k])
                r["n"] = int(r["n"])
                rows.append(r)
            elif line.startswith("@SKIP "):
                skips.append(line[6:])
            elif line.startswith("@INFO ") or line.startswith("@FATAL "):
                infos.append(line[1:])
    return rows, skips, infos


def find(rows, sc, method, metric, pred=lambda r: True):
    for r in rows:
        if r["scenario"] == sc and r["method"] == method and \
                r["metric"] == metric and pred(r):
            return r
    return None


def fmt(v):
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e5:
        return "%.3g" % v
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    return "%.3g" % v


def goals(rows):
    """(name, goal text, ratio text, verdict, detail) per goal."""
    out = []

    def add(name, text, ratio, ok, detail):
        out.append((name, text, ratio, "PASS" if ok else "FAIL", detail))

    def missing(name, text):
        out.append((name, text, "-", "FAIL", "not measured"))

    c = find(rows, "s3", "cowshare", "ns_per_page")
    f = find(rows, "s3", "fork_child_cow", "ns_per_page")
    text = "COW fault per page <= 1.0x fork-child COW"
    if c and f:
        r = c["median"] / f["median"]
        add("cow_fault", text, "%.2fx" % r, r <= 1.0,
            "cowshare %s ns/page vs fork child %s ns/page (%s)" %
            (fmt(c["median"]), fmt(f["median"]), c["params"]) +
            ("" if r <= 1.0 else "; missed by %.0f%%" % ((r - 1) * 100)))
    else:
        missing("cow_fault", text)

    c = find(rows, "s2", "cowshare", "ns_per_page")
    m = find(rows, "s2", "memfd_private", "ns_per_page")
    cf = find(rows, "s2", "cowshare", "minflt")
    mf = find(rows, "s2", "memfd_private", "minflt")
    text = "read of every page <= 1.0x memfd MAP_PRIVATE per page, no more faults"
    if c and m and cf and mf:
        r = c["median"] / m["median"]
        ok = r <= 1.0 and cf["median"] <= mf["median"]
        det = "cowshare %s ns/page, %s faults vs memfd %s ns/page, %s faults (%s)" % (
            fmt(c["median"]), fmt(cf["median"]), fmt(m["median"]),
            fmt(mf["median"]), c["params"])
        if r > 1.0:
            det += "; time missed by %.0f%%" % ((r - 1) * 100)
        if cf["median"] > mf["median"]:
            det += "; %.0f more faults" % (cf["median"] - mf["median"])
        add("read", text, "%.2fx" % r, ok, det)
    else:
        missing("read", text)

    s1 = [r for r in rows if r["scenario"] == "s1"]
    if s1:
        big = max(r["x"] for r in s1)
        c = find(rows, "s1", "cowshare", "time_to_first_read", lambda r: r["x"] == big)
        f = find(rows, "s1", "fork", "time_to_first_read", lambda r: r["x"] == big)
        r = f["median"] / c["median"]
        out.append(("new_sharer", "(information, not a goal) time to the first page of a new "
                    "sharer of the largest S vs fork() with S resident", "%.0fx" % r, "INFO",
                    "S=%g MiB: cowshare %s us vs fork %s us; the first page only: s8 measures "
                    "the whole start" % (big, fmt(c["median"]), fmt(f["median"]))))

    s8 = [r for r in rows if r["scenario"] == "s8" and r["method"] == "cowshare_snapshot"
          and r["metric"] == "start_all"]
    if not s8:
        missing("s8_time", "s8: start from a snapshot <= 1.0x the faster of fork and memfd")
    for c in sorted(s8, key=lambda r: (r["params"].split(";")[-1], r["x"])):
        same = lambda r, c=c: r["params"] == c["params"]
        f = find(rows, "s8", "fork", "start_all", same)
        m = find(rows, "s8", "memfd_private", "start_all", same)
        best = min(f["median"], m["median"])
        who = "fork" if f["median"] <= m["median"] else "memfd"
        r = c["median"] / best
        add("s8_time", "s8 %s: time until all have touched <= 1.0x the faster of fork() and "
            "memfd MAP_PRIVATE" % c["params"], "%.2fx" % r, r <= 1.0,
            "cowshare %s ms, fork %s ms, memfd %s ms (vs %s)" % (
                fmt(c["median"]), fmt(f["median"]), fmt(m["median"]), who) +
            ("" if r <= 1.0 else "; missed by %.0f%%" % ((r - 1) * 100)))
        cm = find(rows, "s8", "cowshare_snapshot", "memfree_delta", same)
        fm = find(rows, "s8", "fork", "memfree_delta", same)
        mm = find(rows, "s8", "memfd_private", "memfree_delta", same)
        bestm = min(fm["median"], mm["median"])
        rm = cm["median"] / bestm if bestm > 0 else float("inf")
        add("s8_memory", "s8 %s: memory the sharers add <= 1.0x the smaller of fork() and "
            "memfd MAP_PRIVATE" % c["params"], "%.2fx" % rm, rm <= 1.0,
            "cowshare %s MiB, fork %s MiB, memfd %s MiB" % (
                fmt(cm["median"]), fmt(fm["median"]), fmt(mm["median"])) +
            ("" if rm <= 1.0 else "; missed by %.0f%%" % ((rm - 1) * 100)))

    s9 = [r for r in rows if r["scenario"] == "s9" and r["method"] == "fork_with_written_view"
          and r["metric"] == "fork"]
    if not s9:
        missing("s9_fork", "s9: fork of a written view <= 1.5x fork of anonymous memory")
    for v in sorted(s9, key=lambda r: r["x"]):
        same = lambda r, v=v: r["params"] == v["params"]
        a = find(rows, "s9", "fork_with_anon", "fork", same)
        r = v["median"] / a["median"]
        add("s9_fork", "s9 %s: fork() of a written view <= 1.5x fork() of the data as "
            "anonymous memory" % v["params"], "%.2fx" % r, r <= 1.5,
            "%s us vs %s us" % (fmt(v["median"]), fmt(a["median"])) +
            ("" if r <= 1.5 else "; missed by %.0f%%" % ((r / 1.5 - 1) * 100)))
        vm = find(rows, "s9", "fork_with_written_view", "memfree_delta", same)
        size = float(v["params"].split("S=")[1].split("MiB")[0])
        add("s9_memory", "s9 %s: memory after the fork grows by < 1%% of S" % v["params"],
            "%.2f%%" % (100 * vm["median"] / size), vm["median"] < size / 100,
            "%s MiB (1%% of S: %s MiB); anonymous memory: %s MiB" % (
                fmt(vm["median"]), fmt(size / 100),
                fmt(find(rows, "s9", "fork_with_anon", "memfree_delta", same)["median"])))

    w = find(rows, "s4", "fork_with_view", "fork")
    n = find(rows, "s4", "fork_without_view", "fork")
    text = "fork with a fully read view <= 1.2x fork without"
    if w and n:
        r = w["median"] / n["median"]
        add("fork_view", text, "%.2fx" % r, r <= 1.2,
            "%s: %s us vs %s us" % (w["params"], fmt(w["median"]), fmt(n["median"])) +
            ("" if r <= 1.2 else "; missed by %.0f%%" % ((r / 1.2 - 1) * 100)))
    else:
        missing("fork_view", text)

    def n64p1(r):
        return "N=64;" in r["params"] and "p=1%" in r["params"]
    m = find(rows, "s5", "cowshare", "memfree_delta", n64p1)
    i = find(rows, "s5", "cowshare", "ideal", n64p1)
    k = find(rows, "s5", "cowshare", "module_counters", n64p1)
    pt = find(rows, "s5", "cowshare", "pagetables_delta", n64p1)
    text = "N=64 p=1%: physical memory within 5% of ideal (base + N*p*S)"
    if m and i:
        r = m["median"] / i["median"]
        add("memory", text, "%.3fx" % r, abs(r - 1) <= 0.05,
            "%s: free memory down %s MiB (page tables %s MiB of it), ideal %s MiB" %
            (m["params"], fmt(m["median"]), fmt(pt["median"]) if pt else "?", fmt(i["median"])) +
            ("" if abs(r - 1) <= 0.05 else "; off by %.1f%% (allowed 5%%)" % ((r - 1) * 100)))
        if k:
            rk = k["median"] / i["median"]
            add("memory_module", "N=64 p=1%: module counters (base + copies) within 5% of ideal",
                "%.3fx" % rk, abs(rk - 1) <= 0.05,
                "base_pages + private_pages = %s MiB, ideal %s MiB" % (fmt(k["median"]), fmt(i["median"])))
    else:
        missing("memory", text)

    def p01(r):
        return r["x"] == 0.1
    c = find(rows, "s6", "cowshare_reset", "reset", p01)
    d = find(rows, "s6", "madv_dontneed", "reset", p01)
    text = "reset at 0.1% dirty >= 50x faster than MADV_DONTNEED of the range"
    if c and d:
        r = d["median"] / c["median"]
        add("reset", text, "%.0fx" % r, r >= 50,
            "%s: cowshare_reset %s us vs MADV_DONTNEED %s us" %
            (c["params"], fmt(c["median"]), fmt(d["median"])) +
            ("" if r >= 50 else "; missed by %.0f%% (%.1fx short)" % ((1 - r / 50) * 100, 50 / r)))
    else:
        missing("reset", text)

    c10 = find(rows, "s6", "cowshare_reset", "reset", lambda r: r["x"] == 10)
    text = "reset is O(dirty): 100x the dirty pages (0.1% -> 10%) costs >= 10x the time"
    if c and c10:
        r = c10["median"] / c["median"]
        add("reset_scales", text, "%.0fx" % r, r >= 10,
            "%s us at 0.1%% vs %s us at 10%% of %s (O(range) would be about 1x)" %
            (fmt(c["median"]), fmt(c10["median"]), c["params"].split(";")[0]))
    else:
        missing("reset_scales", text)

    # The huge-page issue's first goal, per GiB of the image s10 read.
    h = find(rows, "s10", "cowshare_huge", "ns_per_page")
    hf = find(rows, "s10", "cowshare_huge", "minflt")
    hp = find(rows, "s10", "cowshare_huge", "vmpte")
    m4 = find(rows, "s10", "memfd_private", "ns_per_page")
    mt = find(rows, "s10", "memfd_private_thp", "ns_per_page")
    c4 = find(rows, "s10", "cowshare_4k", "ns_per_page")
    if h and hf and hp and m4:
        gib = h["x"] / 1024.0
        text = "huge view: read of every page <= 520 faults per GiB"
        add("huge_faults", text, "%.0f/GiB" % (hf["median"] / gib), hf["median"] <= 520 * gib,
            "%s faults for %s" % (fmt(hf["median"]), h["params"]))
        text = "huge view: read of every page >= 10x faster than memfd MAP_PRIVATE with 4 KiB pages"
        r = m4["median"] / h["median"]
        add("huge_read", text, "%.1fx" % r, r >= 10,
            "cowshare %s ns/page vs memfd %s ns/page (%s); 4 KiB view %s ns/page; memfd with "
            "shmem THP %s ns/page" % (fmt(h["median"]), fmt(m4["median"]), h["params"],
                                      fmt(c4["median"]) if c4 else "-",
                                      fmt(mt["median"]) if mt else "-") +
            ("" if r >= 10 else "; missed by %.1fx" % (10 / r)))
        text = "huge view: page tables <= 16 KiB per GiB (VmPTE)"
        add("huge_pte", text, "%.0f KiB/GiB" % (hp["median"] / gib), hp["median"] <= 16 * gib,
            "VmPTE grew %s KiB for %s" % (fmt(hp["median"]), h["params"]))
        hw = find(rows, "s10", "cowshare_huge", "first_write")
        cw = find(rows, "s10", "cowshare_4k", "first_write")
        if hw and cw:
            r = hw["median"] / cw["median"]
            text = "huge view: first write to a PMD-mapped page <= 1.5x the first write to a pte-mapped one"
            add("huge_first_write", text, "%.2fx" % r, r <= 1.5,
                "%s ns (PMD split + 4 KiB copy) vs %s ns (4 KiB view), one write per 2 MiB" %
                (fmt(hw["median"]), fmt(cw["median"])))
    else:
        missing("huge_read", "huge view: read of every page (s10)")
    return out


def write_csvs(rows, out):
    by = {}
    for r in rows:
        by.setdefault(r["scenario"], []).append(r)
    for sc, rs in by.items():
        with open(os.path.join(out, sc + ".csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            for r in rs:
                w.writerow(r)
    return by


def gnuplot(script, out):
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True,
                       cwd=out, stderr=subprocess.PIPE)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        print("bench: gnuplot failed: %s" % getattr(e, "stderr", e), file=sys.stderr)
        return False


HEAD = 'set terminal pngcairo size 900,520 noenhanced font ",10"\nset datafile separator " "\nset key outside right top\nset grid\n'


def plot_lines(out, name, title, series, xlabel, ylabel, logx=True, logy=True):
    """series: [(label, [(x, med, min, max)])]"""
    dat = os.path.join(out, name + ".dat")
    with open(dat, "w") as f:
        for label, pts in series:
            f.write("# %s\n" % label)
            for p in sorted(pts):
                f.write("%g %g %g %g\n" % p)
            f.write("\n\n")
    s = HEAD + 'set output "%s.png"\nset title "%s"\nset xlabel "%s"\nset ylabel "%s"\n' % (
        name, title, xlabel, ylabel)
    if logx:
        s += "set logscale x\n"
    if logy:
        s += "set logscale y\n"
    s += "plot " + ", ".join(
        '"%s.dat" index %d using 1:2:3:4 with yerrorlines title "%s"' % (name, i, lab)
        for i, (lab, _) in enumerate(series)) + "\n"
    return gnuplot(s, out)


def plot_bars(out, name, title, bars, ylabel, logy=False):
    """bars: [(label, med, min, max)]"""
    dat = os.path.join(out, name + ".dat")
    with open(dat, "w") as f:
        for i, (lab, med, lo, hi) in enumerate(bars):
            f.write('%d "%s" %g %g %g\n' % (i, lab, med, lo, hi))
    s = HEAD + 'set output "%s.png"\nset title "%s"\nset ylabel "%s"\nset style fill solid 0.5\n' \
        'set boxwidth 0.6\nset key off\nset yrange [0:*]\nset xtics rotate by -20\n' % (name, title, ylabel)
    if logy:
        s += "set logscale y\nset yrange [*:*]\n"
    s += 'plot "%s.dat" using 1:3:xtic(2) with boxes, "" using 1:3:4:5 with yerrorbars lc rgb "black"\n' % name
    return gnuplot(s, out)


def plots(by, out):
    made = []

    def series(sc, metric, pred=lambda r: True, label=lambda r: r["method"]):
        d = {}
        for r in by.get(sc, []):
            if r["metric"] == metric and pred(r):
                d.setdefault(label(r), []).append((r["x"], r["median"], r["min"], r["max"]))
        return list(d.items())

    def bars(sc, metric, title, ylabel, logy=False, pred=lambda r: True):
        b = [(r["method"], r["median"], r["min"], r["max"])
             for r in by.get(sc, []) if r["metric"] == metric and pred(r)]
        if b and plot_bars(out, sc, title, b, ylabel, logy):
            made.append(sc + ".png")

    if "s1" in by and plot_lines(out, "s1", TITLES["s1"], series("s1", "time_to_first_read"),
                                 "image size S (MiB)", "time (us), median, bars min..max"):
        made.append("s1.png")
    bars("s2", "ns_per_page", TITLES["s2"], "ns per page (median, min..max)")
    bars("s3", "ns_per_page", TITLES["s3"], "ns per page (median, min..max)", logy=True)
    bars("s4", "fork", TITLES["s4"], "fork() us (median, min..max)")
    if "s5" in by:
        ser = series("s5", "memfree_delta",
                     label=lambda r: "%s %s" % (r["method"], r["params"].split(";")[-1]))
        ser += series("s5", "ideal", lambda r: r["method"] == "cowshare",
                      label=lambda r: "ideal %s" % r["params"].split(";")[-1])
        ser.sort()
        if plot_lines(out, "s5", TITLES["s5"], ser, "sharers N", "MiB in use", logy=False):
            made.append("s5.png")
    if "s6" in by:
        ser = series("s6", "reset") + series("s6", "dirty_report")
        if plot_lines(out, "s6", TITLES["s6"], ser, "dirty pages p (%)", "us (median, min..max)"):
            made.append("s6.png")
    bars("s7", "time", TITLES["s7"], "us (median, min..max)", logy=True)
    if "s8" in by:
        ser = series("s8", "start_all",
                     label=lambda r: "%s %s" % (r["method"], r["params"].split(";")[-1]))
        ser.sort()
        if plot_lines(out, "s8", TITLES["s8"], ser, "sharers N", "ms until all touched", logy=True):
            made.append("s8.png")
    if "s9" in by:
        ser = series("s9", "fork")
        if plot_lines(out, "s9", TITLES["s9"], ser, "W (% of pages copied)", "fork() us",
                      logx=False, logy=True):
            made.append("s9.png")
    return made


def table(rs):
    """markdown table rows, with each figure relative to cowshare's."""
    lines = ["| params | method | metric | median | IQR | min..max | n | vs cowshare |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rs:
        base = None
        for b in rs:
            if b["params"] == r["params"] and b["metric"] == r["metric"] and \
                    b["method"].startswith("cowshare") and b is not r and \
                    not r["method"].startswith("cowshare"):
                base = b
                break
        rel = ""
        if base and base["median"]:
            rel = "%.2fx" % (r["median"] / base["median"])
        lines.append("| %s | %s | %s (%s) | %s | %s..%s | %s..%s | %d | %s |" % (
            r["params"], r["method"], r["metric"], r["unit"], fmt(r["median"]),
            fmt(r["q1"]), fmt(r["q3"]), fmt(r["min"]), fmt(r["max"]), r["n"], rel))
    return lines


def cmd_target(a):
    rows, skips, infos = parse(a.log)
    os.makedirs(a.out, exist_ok=True)
    for f in os.listdir(a.out):
        if f.endswith((".csv", ".png", ".dat")):
            os.remove(os.path.join(a.out, f))
    by = write_csvs(rows, a.out)
    made = plots(by, a.out)
    gl = goals(rows)
    with open(os.path.join(a.out, "goals.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["goal", "text", "ratio", "verdict", "detail"])
        w.writerows(gl)

    md = ["## %s" % a.title, ""]
    md += ["- " + i for i in infos]
    md += ["- skipped: " + s for s in skips]
    md += ["", "### Goals", "", "| goal | ratio (medians) | verdict | detail |", "|---|---:|---|---|"]
    md += ["| %s | %s | **%s** | %s |" % (t, r, v, d) for _, t, r, v, d in gl]
    if "s8" in by:
        md += ["", "### s8: where the memory went (MiB, medians)", "",
               "Free memory the sharers took, and what explains it: the module's physical "
               "copies and base pages (its counters), anonymous and shmem pages, page tables, "
               "slab (of which the module's own objects, counted exactly by the module), "
               "kernel stacks; the rest is what none of those explain (per-process kernel "
               "objects outside the slab, noise).", "",
               "| params | method | free memory | " + " | ".join(n for _, n in S8_PARTS) +
               " | rest |", "|---|---|---:|" + "---:|" * (len(S8_PARTS) + 1)]
        for r in by["s8"]:
            if r["metric"] != "memfree_delta":
                continue
            vals = {}
            for metric, _ in S8_PARTS:
                x = find(rows, "s8", r["method"], metric, lambda q, r=r: q["params"] == r["params"])
                vals[metric] = x["median"] if x else 0.0
            # slab includes the module's objects; copies are either counted by the module or as
            # anon, never both; module base pages are not in shmem.
            explained = (vals["module_copies"] + vals["anon_delta"] + vals["shmem_delta"] +
                         vals["module_cache"] + vals["pagetables_delta"] + vals["slab_delta"] +
                         vals["kstack_delta"])
            md.append("| %s | %s | %s | %s | %s |" % (
                r["params"], r["method"], fmt(r["median"]),
                " | ".join(fmt(vals[m]) for m, _ in S8_PARTS), fmt(r["median"] - explained)))
    for sc in sorted(by):
        md += ["", "### " + TITLES.get(sc, sc), ""]
        if sc + ".png" in made:
            md += ["![%s](%s)" % (sc, os.path.relpath(os.path.join(a.out, sc + ".png"),
                                                      a.docdir)), ""]
        md += table(by[sc])
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")

    print("== %s" % a.title)
    for i in infos:
        print("  " + i)
    for s in skips:
        print("  skipped: " + s)
    for sc in sorted(by):
        print("-- " + TITLES.get(sc, sc))
        for r in by[sc]:
            print("  %-24s %-20s %-18s %10s %-6s  IQR %s..%s  min..max %s..%s  n=%d" % (
                r["params"], r["method"], r["metric"], fmt(r["median"]), r["unit"],
                fmt(r["q1"]), fmt(r["q3"]), fmt(r["min"]), fmt(r["max"]), r["n"]))
    print("-- goals")
    for name, t, r, v, d in gl:
        print("  %s %-13s %-8s %s [%s]" % (v, name, r, t, d))
    return 0 if rows else 1


def cmd_doc(a):
    parts = []
    for d in a.dirs:
        p = os.path.join(d, "report.md")
        if os.path.exists(p):
            with open(p) as f:
                parts.append(f.read())
    with open(a.intro) as f:
        intro = f.read().replace("@COMMAND@", a.command)
    with open(a.out, "w") as f:
        f.write(intro.rstrip("\n") + "\n\n" + "\n".join(parts))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("target")
    t.add_argument("--log", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--title", required=True)
    t.add_argument("--docdir", default="docs")
    d = sub.add_parser("doc")
    d.add_argument("--out", required=True)
    d.add_argument("--intro", required=True)
    d.add_argument("--command", required=True)
    d.add_argument("dirs", nargs="+")
    a = ap.parse_args()
    return cmd_target(a) if a.cmd == "target" else cmd_doc(a)


if __name__ == "__main__":
    sys.exit(main())
