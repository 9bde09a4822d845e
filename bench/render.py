#!/usr/bin/env python3
"""Renders the side-by-side benchmark pages from trine_bench's JSON lines.

Input: one file of JSON lines written by scripts/bench.sh: a "meta" line
(mode, command, commit, machine), then the "config", "result" and "process"
lines of every trine_bench process, each tagged with its set ("tag") and
round. Output, under --out:
  MODE.md                 ops/s tables (median of the rounds, min-max), the
                          Trine/peer ratio columns, space, write amplification
                          and stall time, RSS, cold reopen, the write storm
                          (storm mode: a page of the storm alone)
  charts/MODE-*.svg       charts drawn by gnuplot from the same numbers
Ratios are taken round by round (Trine and the peer ran in the same round,
interleaved) and the median of those per-round ratios is printed, so slow
drift of the machine between rounds cancels out.

Only the standard library; gnuplot (gnuplot-nox) draws the charts and is
skipped with a note when missing (--no-charts skips it on purpose).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ENGINES = ["trine", "rocksdb", "leveldb", "lmdb"]
PEERS = ENGINES[1:]
TITLE = {"trine": "Trine", "rocksdb": "RocksDB", "leveldb": "LevelDB", "lmdb": "LMDB"}

# (label, tag, benchmark, threads, phase). Phase "" matches any.
MAIN_ROWS = [
    ("fillseq", "main", "fillseq", 1, ""),
    ("fillrandom", "main", "fillrandom", 1, ""),
    ("overwrite", "main", "overwrite", 1, ""),
]
for _phase, _what in (("as_left", "as left by the writes"), ("compacted", "after full compaction")):
    MAIN_ROWS += [
        (f"readrandom ({_what})", "main", "readrandom", 1, _phase),
        (f"readmissing ({_what})", "main", "readmissing", 1, _phase),
        (f"seekrandom + 10 next ({_what})", "main", "seekrandom", 1, _phase),
        (f"readseq ({_what})", "main", "readseq", 1, _phase),
        (f"readreverse ({_what})", "main", "readreverse", 1, _phase),
        (f"readrandom, 2 threads ({_what})", "main", "readrandom", 2, _phase),
        (f"readrandom, 4 threads ({_what})", "main", "readrandom", 4, _phase),
    ]
MAIN_ROWS += [
    ("fillsync, 1 writer", "sync", "fillsync", 1, ""),
    ("fillsync, 8 writers", "sync", "fillsync", 8, ""),
    ("fill, 16 KiB values", "big", "fillrandom", 1, ""),
    ("read, 16 KiB values", "big", "readrandom", 1, ""),
    ("overwrite, 16 KiB values (5 passes over the fill)", "bigover", "overwrite", 1, ""),
    ("read, 16 KiB values (after 6 writes, settled)", "bigover", "readrandom", 1, "settled"),
]
TRINE_ROWS = [
    ("pipelined put, key order (256 in flight)", "trine_only", "fillseq_async", 1, ""),
    ("pipelined put, random order (256 in flight)", "trine_only", "fillrandom_async", 1, ""),
    ("pipelined get (256 in flight)", "trine_only", "readrandom_async", 1, ""),
    ("snapshot-reader get", "trine_only", "readsnapshot", 1, ""),
    ("trine_get_sync, one key a call (same set)", "trine_only", "readrandom", 1, ""),
    ("trine_get_many_sync, 64 keys a call (keys/s)", "trine_only", "readmany", 1, ""),
    ("transaction commit (get + put)", "trine_only", "txncommit", 1, ""),
]


def load(path):
    meta, results, configs, procs = {}, [], {}, []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                o = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"render.py: {path}:{n}: {e}")
            t = o.get("type")
            if t == "meta":
                meta = o
            elif t == "result":
                results.append(o)
            elif t == "config":
                configs.setdefault(o["engine"], o)
            elif t == "process":
                procs.append(o)
    return meta, results, configs, procs


def fmt_ops(v):
    if v is None:
        return ""
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if v >= div:
            x = v / div
            return f"{x:.3g}{suffix}" if x < 100 else f"{x:.0f}{suffix}"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def fmt_num(v, unit=""):
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:,.0f}{unit}"
    return f"{v:.3g}{unit}"


def field_of(result, field):
    """result[field]; a dotted field reads a nested object (latency_ns.p99)."""
    v = result
    for part in field.split("."):
        if not isinstance(v, dict) or part not in v:
            return None
        v = v[part]
    return v


class Table:
    """Per (row key, engine): values by round, and the statuses seen."""

    def __init__(self, results):
        self.vals, self.status = {}, {}
        for r in results:
            eng = r.get("process", r["engine"]) if r["engine"] == "posix" else r["engine"]
            key = (r.get("tag", ""), r["benchmark"], r.get("threads", 1), r.get("phase", ""), eng)
            self.status.setdefault(key, set()).add(r["status"])
            if r["status"] == "ok":
                self.vals.setdefault(key, {}).setdefault(r.get("round", 0), []).append(r)

    def find(self, row, engine):
        _, tag, bench, threads, phase = row[:5]
        keys = [k for k in self.vals.keys() | self.status.keys()
                if k[0] == tag and k[1] == bench and k[2] == threads and k[4] == engine
                and (phase == "" or k[3] == phase)]
        return keys

    def per_round(self, row, engine, field="ops_per_sec"):
        out = {}
        for k in self.find(row, engine):
            for rnd, rs in self.vals.get(k, {}).items():
                vs = [v for v in (field_of(r, field) for r in rs) if v is not None]
                if vs:
                    out[rnd] = statistics.median(vs)
        return out

    def statuses(self, row, engine):
        s = set()
        for k in self.find(row, engine):
            s |= self.status.get(k, set())
        return s


def spread(values, fmt):
    vs = sorted(values)
    med = statistics.median(vs)
    if len(vs) == 1 or fmt(vs[0]) == fmt(vs[-1]):
        return fmt(med), med
    return f"{fmt(med)} ({fmt(vs[0])}–{fmt(vs[-1])})", med


def cell(table, row, engine, field="ops_per_sec", fmt=fmt_ops):
    pr = table.per_round(row, engine, field)
    if pr:
        return spread(pr.values(), fmt)
    st = table.statuses(row, engine)
    if "failed" in st:
        return "FAILED", None
    if "not_yet" in st:
        return "not yet", None
    return "—", None


def ratio_cell(table, row, peer, field="ops_per_sec"):
    t, p = table.per_round(row, "trine", field), table.per_round(row, peer, field)
    rs = [t[k] / p[k] for k in t if k in p and p[k] > 0]
    if rs:
        return spread(rs, fmt_ratio)
    if "not_yet" in table.statuses(row, "trine"):
        return "not yet", None
    return "—", None


def fmt_ratio(x):
    if x >= 10:
        return f"{x:.0f}×"
    return f"{x:.2f}×" if x >= 0.1 else f"{x:.2g}×"


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def throughput_section(table, engines, peers, rows, title):
    header = ["workload"] + [TITLE[e] for e in engines] + [f"Trine ÷ {TITLE[p]}" for p in peers]
    body, chart = [], []
    for row in rows:
        cells, meds = [], {}
        for e in engines:
            c, m = cell(table, row, e)
            cells.append(c)
            meds[e] = m
        ratios = []
        for p in peers:
            c, m = ratio_cell(table, row, p)
            ratios.append(c)
            meds["ratio_" + p] = m
        body.append([row[0]] + cells + ratios)
        chart.append((row, meds))
    return f"{title}\n\n" + md_table(header, body), chart


def probe_rows(table, engines):
    row = ("probe", "sync", "probe_fdatasync", 1, "")
    one = ("fillsync, 1 writer", "sync", "fillsync", 1, "")
    eight = ("fillsync, 8 writers", "sync", "fillsync", 8, "")
    probe_line = ["raw `write`+`fdatasync` (probe, in the same process just before)"]
    r1, r8 = ["fillsync, 1 writer ÷ probe"], ["fillsync, 8 writers ÷ 1 writer"]
    for e in engines:
        probe_line.append(cell(table, row, e)[0])
        pp, f1, f8 = (table.per_round(row, e), table.per_round(one, e),
                      table.per_round(eight, e))
        a = [f1[k] / pp[k] for k in f1 if pp.get(k)]
        b = [f8[k] / f1[k] for k in f8 if f1.get(k)]
        r1.append(spread(a, fmt_ratio)[0] if a else "—")
        r8.append(spread(b, fmt_ratio)[0] if b else "—")
    return md_table(["synced writes"] + [TITLE[e] for e in engines], [probe_line, r1, r8])


def space_section(table, engines):
    rows = []
    for phase, what in (("as_left", "after the writes (fillrandom + overwrite)"),
                        ("compacted", "after full compaction")):
        row = (what, "main", "size", 1, phase)
        mb, amp = [f"bytes on disk {what}"], [f"space amplification {what}"]
        for e in engines:
            c, _ = cell(table, row, e, "disk_bytes", lambda v: f"{v / 1e6:.1f} MB")
            mb.append(c)
            a, _ = cell(table, row, e, "space_amp", lambda v: f"{v:.2f}×")
            amp.append(a)
        rows += [mb, amp]
    comp = ("compaction", "main", "compact", 1, "")
    rows.append(["full manual compaction, seconds"] +
                [cell(table, comp, e, "seconds", lambda v: f"{v:.2f} s")[0] for e in engines])
    # The overwrite-heavy 16 KiB set: 6 writes of each key, then the engine's
    # background work (compaction, blob GC) waited out before the size.
    what = "after 6 writes of 16 KiB values, settled"
    over = (what, "bigover", "size", 1, "settled")
    if any(table.statuses(over, e) for e in engines):
        rows.append([f"bytes on disk {what}"] +
                    [cell(table, over, e, "disk_bytes", lambda v: f"{v / 1e6:.1f} MB")[0] for e in engines])
        rows.append([f"space amplification {what}"] +
                    [cell(table, over, e, "space_amp", lambda v: f"{v:.2f}×")[0] for e in engines])
        settle = ("settle", "bigover", "settle", 1, "")
        rows.append(["background work after those writes: waited until settled, seconds"] +
                    [cell(table, settle, e, "seconds", lambda v: f"{v:.2f} s")[0] for e in engines])
    return md_table(["space"] + [TITLE[e] for e in engines], rows)


def rss_section(procs, engines):
    by = {}
    for p in procs:
        by.setdefault((p.get("tag", ""), p.get("process", "")), []).append(p["peak_rss_kib"] / 1024)
    rows = []
    for tag, what in (("main", "main set (fills, reads, compaction)"), ("big", "16 KiB values"),
                      ("bigover", "16 KiB values written 6 times"),
                      ("reopen_warm", "cold reopen (10,000 gets)"),
                      ("storm", "write storm (memory budget)")):
        if not any(by.get((tag, e)) for e in engines):
            continue
        line = [f"peak RSS, {what}"]
        for e in engines:
            v = by.get((tag, e))
            line.append(spread(v, lambda x: f"{x:.0f} MiB")[0] if v else "—")
        rows.append(line)
    return md_table(["memory"] + [TITLE[e] for e in engines], rows)


INTERNAL_ROWS = [
    ("fillrandom", "main", "fillrandom", 1, ""),
    ("overwrite", "main", "overwrite", 1, ""),
    ("readrandom (as left)", "main", "readrandom", 1, "as_left"),
    ("readmissing (as left)", "main", "readmissing", 1, "as_left"),
    ("seekrandom (as left)", "main", "seekrandom", 1, "as_left"),
    ("readseq (as left)", "main", "readseq", 1, "as_left"),
    ("get_many, 64 keys a call", "trine_only", "readmany", 1, ""),
]


def internals_section(table):
    """Trine's own counters after each workload (since that process opened)."""
    fields = (("trine_cache_hit_pct", "block cache hits", lambda v: f"{v:.1f} %"),
              ("trine_data_hit_pct", "data-block hits", lambda v: f"{v:.1f} %"),
              ("trine_tables", "tables", lambda v: f"{v:.0f}"),
              ("trine_l0_files", "L0 tables", lambda v: f"{v:.0f}"),
              ("trine_compactions", "compactions", lambda v: f"{v:.0f}"),
              ("trine_flush_mb_s", "flush rate", lambda v: f"{v:.0f} MB/s"),
              ("trine_write_stalls", "write stalls", lambda v: f"{v:.0f}"))
    rows = []
    for row in INTERNAL_ROWS:
        rows.append([row[0]] + [cell(table, row, "trine", f, fmt)[0] for f, _, fmt in fields])
    ratio = "—"
    many = table.per_round(("", "trine_only", "readmany", 1, ""), "trine")
    one = table.per_round(("", "trine_only", "readrandom", 1, ""), "trine")
    rs = [many[k] / one[k] for k in many if k in one and one[k] > 0]
    if rs:
        ratio = spread(rs, fmt_ratio)[0]
    return (md_table(["Trine, after the workload"] + [label for _, label, _ in fields], rows) +
            f"\n\n`trine_get_many_sync` of 64 random keys a call ÷ the same work through "
            f"`trine_get_sync` one key at a time (same process and database): {ratio}.")


def reader_section(table, engines):
    """#21: Trine's reader and copying get (mapped, uncompressed tables) ÷
    LMDB's readrandom, after a full compaction, round by round."""
    lmdb = table.per_round(("", "reader", "readrandom", 1, ""), "lmdb")
    if "trine" not in engines or not lmdb:
        return ""
    rows = []
    for label, bench in (("`trine_reader_get` (zero-copy, snapshot-bound)", "readsnapshot"),
                         ("`trine_get_sync` (copies the value)", "readrandom")):
        row = ("", "reader", bench, 1, "")
        t = table.per_round(row, "trine")
        rs = [t[k] / lmdb[k] for k in t if k in lmdb and lmdb[k] > 0]
        rows.append([label, cell(table, row, "trine")[0], cell(table, ("", "reader", "readrandom", 1, ""), "lmdb")[0],
                     spread(rs, fmt_ratio)[0] if rs else "—"])
    return md_table(["random gets after full compaction", "Trine", "LMDB readrandom", "Trine ÷ LMDB"], rows)


def reopen_section(table, engines, peers):
    rows = []
    for tag, what in (("reopen_warm", "page cache as it is"),
                      ("reopen_cold", "page cache dropped")):
        for field, label, f in (("open_ms", "open", lambda v: f"{fmt_num(v)} ms"),
                                ("first_get_us", "first get", lambda v: f"{fmt_num(v)} µs"),
                                ("gets_ms", "then 10,000 random gets", lambda v: f"{fmt_num(v)} ms")):
            row = (label, tag, "reopen", 1, "")
            line = [f"{label} ({what})"]
            line += [cell(table, row, e, field, f)[0] for e in engines]
            line += [ratio_cell(table, row, p, field)[0] for p in peers]
            rows.append(line)
    return md_table(["cold reopen (time)"] + [TITLE[e] for e in engines] +
                    [f"Trine ÷ {TITLE[p]} (time: < 1 = Trine faster)" for p in peers], rows)


# Write amplification and stalls: counters since the open of the workload's
# database (the engines' metrics hooks, engine.h), so the overwrite row holds
# fillrandom + overwrite and the compaction row all three.
AMP_ROWS = [
    ("fillrandom", "main", "fillrandom", 1, ""),
    ("fillrandom + overwrite", "main", "overwrite", 1, ""),
    ("+ full compaction", "main", "compact", 1, ""),
    ("fillrandom, 16 KiB values", "big", "fillrandom", 1, ""),
    ("16 KiB values written 6 times, settled", "bigover", "size", 1, "settled"),
    ("write storm", "storm", "storm", 1, ""),
]


def fmt_amp(v):
    return f"{v:.0f}×" if v >= 100 else f"{v:.1f}×" if v >= 10 else f"{v:.2f}×"


def fmt_ms(v):
    return f"{fmt_num(v)} ms"


def amp_section(table, engines):
    """Markdown, or "" when no engine reported the figures (data from before them)."""
    rows, seen = [], False
    for field, what, fmt in (("write_amp", "write amplification", fmt_amp),
                             ("stall_ms", "write stall time", fmt_ms)):
        for row in AMP_ROWS:
            if not any(table.statuses(row, e) for e in engines):
                continue
            seen = seen or any(table.per_round(row, e, field) for e in engines)
            rows.append([f"{what}, {row[0]}"] +
                        [cell(table, row, e, field, fmt)[0] for e in engines])
    if not seen:
        return ""
    return md_table(["since the open"] + [TITLE[e] for e in engines], rows)


STORM_ROW = ("write storm", "storm", "storm", 1, "")
STORM_FIELDS = [
    ("ops_per_sec", "puts/s", fmt_ops),
    ("worst_sec_ops", "fewest puts in one second", fmt_ops),
    ("latency_ns.p50", "put latency p50", lambda v: f"{fmt_num(v / 1e3)} µs"),
    ("latency_ns.p99", "put latency p99", lambda v: f"{fmt_num(v / 1e3)} µs"),
    ("latency_ns.p999", "put latency p99.9", lambda v: f"{fmt_num(v / 1e3)} µs"),
    ("latency_ns.max", "put latency max", lambda v: f"{fmt_num(v / 1e3)} µs"),
    ("peak_rss_mib", "peak RSS after the writes", lambda v: f"{v:.0f} MiB"),
    ("rss_mib", "RSS after the writes", lambda v: f"{v:.0f} MiB"),
    ("write_amp", "write amplification (table bytes ÷ user bytes)", fmt_amp),
    ("io_amp", "bytes to write calls ÷ user bytes (WAL included)", fmt_amp),
    ("sst_mb_written", "table MB written (flushes + compactions)", lambda v: f"{fmt_num(v)} MB"),
    ("compact_mb_written", "compaction MB written", lambda v: f"{fmt_num(v)} MB"),
    ("stall_ms", "write stall time", fmt_ms),
    ("stalls", "write stalls", lambda v: f"{v:.0f}"),
    ("pending_compaction_mb", "compaction owed at the end", lambda v: f"{fmt_num(v)} MB"),
    ("trine_l0_files", "L0 tables at the end", lambda v: f"{v:.0f}"),
    ("budget_mib", "memory budget (\"—\": the engine has no such knob)",
     lambda v: f"{v:.0f} MiB"),
]


def storm_section(table, engines, peers, num):
    """The write storm: one row per figure, one column per engine."""
    if not any(table.statuses(STORM_ROW, e) for e in engines):
        return ""
    rows = []
    for field, label, fmt in STORM_FIELDS:
        line = [label] + [cell(table, STORM_ROW, e, field, fmt)[0] for e in engines]
        if field == "ops_per_sec":
            line += [ratio_cell(table, STORM_ROW, p)[0] for p in peers]
        else:
            line += [""] * len(peers)
        if any(c not in ("—", "") for c in line[1:]):
            rows.append(line)
    intro = (f"{num if isinstance(num, str) else f'{num:,}'} keys written once each in random "
             "order (16-byte keys, 100-byte values), blocking puts from one writer, on a new "
             "database opened within a memory budget: Trine's `memory_limit_bytes`; RocksDB "
             "and LevelDB get write buffers of half the budget and a block cache of the other "
             "half (RocksDB's index and filter blocks charged to it, LevelDB's outside it); "
             "LMDB has no such knob and runs as always. Each engine runs in its own process. "
             "Peak RSS is the process's (`getrusage`), taken right after the last put; bytes "
             "to write calls come from `/proc/self/io` (`wchar`) and are measured the same "
             "way for every engine; write amplification and stalls are the engine's own "
             "counters (LevelDB keeps no stall figures, LMDB none of them). Then 10,000 "
             "random keys are read back and checked.")
    return intro + "\n\n" + md_table(
        ["write storm"] + [TITLE[e] for e in engines] +
        [f"Trine ÷ {TITLE[p]}" for p in peers], rows)


def storm_page(meta, results, configs, procs, out_dir, mode, present, peers, table):
    """A page of the write storm alone (scripts/bench.sh --storm)."""
    num = meta.get("num", "?")
    lines = ["# Write storm" + ("" if mode == "storm" else f": {mode} run"), "",
             "Generated by `scripts/bench.sh --storm` with `bench/render.py`: do not edit by "
             "hand. The explanations are in [README.md](README.md).", "",
             f"- **Command:** `{meta.get('command', '?')}`",
             f"- **Commit:** `{meta.get('commit', '?')}`"
             f"{' (with local changes)' if meta.get('dirty') else ''}",
             f"- **Date:** {meta.get('date', '?')}, {meta.get('elapsed', '?')}",
             f"- **Machine:** {meta.get('machine', '?')}",
             f"- **Memory budget:** {meta.get('budget_mib', '?')} MiB per engine",
             "- **Engines:** " + "; ".join(
                 f"{TITLE[e]} {configs[e].get('engine_version', '?')}" for e in present),
             "",
             storm_section(table, present, peers, num), "",
             "## Settings", ""]
    for e in present:
        lines.append(f"- **{TITLE[e]}:** {configs[e].get('settings', '?')}")
    lines.append("")
    failed = [r for r in results if r["status"] == "failed"]
    if failed:
        lines += ["## Failures", ""] + [
            f"- {r['engine']} {r['benchmark']} (round {r.get('round')}): {r.get('error', '')}"
            for r in failed] + [""]
    with open(os.path.join(out_dir, f"{mode}.md"), "w") as f:
        f.write("\n".join(lines))
    return len(failed)


# ---------------------------------------------------------------- charts

GNUPLOT_HEAD = """set terminal svg size {w},{h} dynamic font 'sans,11' background '#ffffff'
set output '{out}'
set datafile missing '?'
set datafile separator '\\t'
set style data histograms
set style fill solid 0.85 border -1
set grid ytics lc rgb '#dddddd'
set xtics rotate by -40 scale 0 font ',10'
set key outside top center horizontal
set title '{title}'
set bmargin 11
"""


def short(label):
    """A chart's x label: the table's row label, shortened."""
    return (label.replace(" (as left by the writes)", " · as left")
            .replace(" (after full compaction)", " · compacted")
            .replace(" + 10 next", "").replace(", 2 threads", " ×2").replace(", 4 threads", " ×4"))
COLORS = {"trine": "#d1495b", "rocksdb": "#2e86ab", "leveldb": "#66a182", "lmdb": "#edae49"}


def chart_bars(tmp, out, title, chart, engines, ylabel, minmax_table=None):
    dat = os.path.join(tmp, os.path.basename(out) + ".dat")
    with open(dat, "w") as f:
        for (row, meds) in chart:
            vals = []
            for e in engines:
                m = meds.get(e)
                lo = hi = m
                if minmax_table is not None and m is not None:
                    pr = list(minmax_table.per_round(row, e).values())
                    lo, hi = min(pr), max(pr)
                vals += [f"{m:.6g}" if m else "?", f"{lo:.6g}" if lo else "?",
                         f"{hi:.6g}" if hi else "?"]
            f.write(short(row[0]) + "\t" + "\t".join(vals) + "\n")
    plots = []
    for i, e in enumerate(engines):
        c = 2 + 3 * i
        spec = f"'{dat}' using {c}:{c + 1}:{c + 2}" + (":xtic(1)" if i == 0 else "")
        plots.append(f"{spec} title '{TITLE.get(e, e)}' lc rgb '{COLORS.get(e, '#888888')}'")
    w = max(900, 70 * len(chart) * max(1, len(engines)) // 2)
    return (GNUPLOT_HEAD.format(w=w, h=520, out=out, title=title) +
            "set style histogram errorbars gap 1 lw 1\nset logscale y\nset format y '%.0s%c'\n"
            f"set ylabel '{ylabel}'\nplot " + ", \\\n     ".join(plots) + "\n")


def chart_ratios(tmp, out, title, chart, peers):
    """Bars that start at 1 (equal) and go up (Trine faster) or down, log scale."""
    dat = os.path.join(tmp, os.path.basename(out) + ".dat")
    with open(dat, "w") as f:
        for x, (row, meds) in enumerate(chart):
            vals = [meds.get("ratio_" + p) for p in peers]
            f.write(f"{x}\t" + short(row[0]) + "\t" +
                    "\t".join(f"{v:.6g}" if v else "?" for v in vals) + "\n")
    w = 0.8 / len(peers)
    plots = []
    for i, p in enumerate(peers):
        c, off = 3 + i, -0.4 + w * (i + 0.5)
        plots.append(f"'{dat}' using ($1+{off:.3f}):(1):($1+{off - w / 2:.3f}):"
                     f"($1+{off + w / 2:.3f}):(${c}<1?${c}:1):(${c}<1?1:${c})"
                     + (":xtic(2)" if i == 0 else "") +
                     f" with boxxyerror fs solid 0.85 border -1 lc rgb '{COLORS[p]}'"
                     f" title 'Trine ÷ {TITLE[p]}'")
    return (GNUPLOT_HEAD.format(w=max(900, 45 * len(chart) * len(peers)), h=520, out=out,
                                title=title) +
            f"set logscale y\nset xrange [-0.6:{len(chart) - 0.4}]\n"
            "set ylabel 'Trine ops/s ÷ peer ops/s (log; above 1 = Trine faster)'\n"
            "set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 1.5 lc rgb '#333333'\n"
            "plot " + ", \\\n     ".join(plots) + "\n")


def chart_space(tmp, out, title, table, engines):
    dat = os.path.join(tmp, os.path.basename(out) + ".dat")
    with open(dat, "w") as f:
        for e in engines:
            vals = []
            for phase in ("as_left", "compacted"):
                pr = table.per_round(("", "main", "size", 1, phase), e, "space_amp")
                vals.append(f"{statistics.median(pr.values()):.4g}" if pr else "?")
            f.write(TITLE[e] + "\t" + "\t".join(vals) + "\n")
    return (GNUPLOT_HEAD.format(w=700, h=420, out=out, title=title) +
            "set style histogram clustered gap 1\nset yrange [0:*]\nset xtics norotate\n"
            "set bmargin 3\n" + "".join(
                f"set label 'not yet' at {i + 0.17:.2f}, graph 0.04 left rotate by 90 font ',9'\n"
                for i, e in enumerate(engines)
                if not table.per_round(("", "main", "size", 1, "compacted"), e, "space_amp")) +
            "set ylabel 'bytes on disk ÷ raw key+value bytes'\n"
            f"plot '{dat}' using 2:xtic(1) title 'after the writes' lc rgb '#8d96a3', "
            f"'' using 3 title 'after full compaction' lc rgb '#2e4057'\n")


def draw(scripts, out_dir):
    gp = shutil.which("gnuplot")
    if gp is None:
        print("render.py: gnuplot not found (apt-get install gnuplot-nox): charts skipped",
              file=sys.stderr)
        return []
    made = []
    for path, script in scripts:
        res = subprocess.run([gp], input=script, text=True, capture_output=True)
        if res.returncode != 0:
            sys.exit(f"render.py: gnuplot failed for {path}:\n{res.stderr}")
        made.append(os.path.relpath(path, out_dir))
    return made


# ------------------------------------------------------------------ page

def page(meta, results, configs, procs, out_dir, mode, charts_on):
    table = Table(results)
    present = [e for e in ENGINES if e in configs]
    peers = [p for p in PEERS if p in present]
    rounds = sorted({r.get("round", 0) for r in results})
    if all(r.get("tag") == "storm" for r in results):
        return storm_page(meta, results, configs, procs, out_dir, mode, present, peers, table)
    lines = [f"# Side-by-side benchmarks: {mode} run",
             "",
             "Generated by `scripts/bench.sh` with `bench/render.py` from "
             f"`{os.path.relpath(meta.get('data', ''), out_dir) if meta.get('data') else 'the JSON lines'}`"
             ": do not edit by hand. The explanations are in [README.md](README.md).",
             "",
             f"- **Command:** `{meta.get('command', '?')}`",
             f"- **Commit:** `{meta.get('commit', '?')}`{' (with local changes)' if meta.get('dirty') else ''}",
             f"- **Date:** {meta.get('date', '?')}, {meta.get('elapsed', '?')}",
             f"- **Machine:** {meta.get('machine', '?')}",
             f"- **Data:** {meta.get('num', '?')} keys of 16 bytes, 100-byte values about half "
             f"compressible (16 KiB rows: {meta.get('big_num', '?')} keys); "
             f"{len(rounds)} round(s), engines interleaved, starting engine rotated; every "
             "engine and workload set in its own process on a fresh directory, after a `sync`.",
             "- **Engines:** " + "; ".join(
                 f"{TITLE[e]} {configs[e].get('engine_version', '?')}" for e in present),
             "",
             "Cells: median ops/s over the rounds (min–max). Ratios: Trine ÷ peer taken "
             "round by round, median (min–max); above 1 = Trine faster. \"not yet\": Trine "
             "lacks the feature today; \"—\": the engine has no such thing.",
             ""]
    missing = [TITLE[p] for p in PEERS if p not in present]
    if missing:
        lines += [f"Not in this run (package not installed): {', '.join(missing)}.", ""]
    main_md, main_chart = throughput_section(table, present, peers, MAIN_ROWS,
                                             "## Throughput, ops/s")
    lines += [main_md, ""]
    trine_md, trine_chart = throughput_section(table, ["trine"], [], TRINE_ROWS,
                                               "## Trine-only rows, ops/s")
    lines += [trine_md, "", "## Synced writes against the device", "",
              probe_rows(table, present), "",
              "## Space and compaction", "", space_section(table, present), ""]
    amp_md = amp_section(table, present)
    if amp_md:
        lines += ["## Write amplification and stalls", "",
                  "The engines' own counters since the workload's database was opened: table "
                  "bytes written by flushes and compactions ÷ key+value bytes put (WAL not "
                  "included), and the time writes were delayed or stopped. \"—\": the engine "
                  "does not expose the figure (LevelDB has no stall counters; LMDB neither).",
                  "", amp_md, ""]
    lines += ["## Memory", "", rss_section(procs, present), "",
              "## Trine's counters", "",
              "From `trine_stats` after each workload: block cache hit rate (data, index and "
              "filter blocks; data blocks alone), tables on disk (all levels; level 0), "
              "compactions since the open, flush rate (table bytes ÷ flush time, sync "
              "included) and times writes waited for a flush.", "",
              internals_section(table), "",
              "## Cold reopen", "",
              "A new process opens the closed database of `fillrandom` "
              f"({meta.get('num', '?')} keys), reads one random key, then 10,000 more. "
              + ("The page cache was dropped (`echo 3 > /proc/sys/vm/drop_caches`) before the "
                 "second set of rows." if meta.get("dropped") else
                 "The page cache could not be dropped (needs root): the second set of rows is "
                 "missing."),
              "", reopen_section(table, present, peers), ""]
    reader_md = reader_section(table, present)
    if reader_md:
        lines += ["## Reading in place: Trine's reader against LMDB", "",
                  "Each engine in its own process: fillrandom, full compaction, then random "
                  "gets of every key. Trine with `--trine_mapped` (`mmap_reads`, uncompressed "
                  "tables: data blocks read in place from the page cache, as LMDB reads its "
                  "pages); ratios round by round, median (min–max).", "", reader_md, ""]
    storm_md = storm_section(table, present, peers, meta.get("num", "?"))
    if storm_md:
        lines += ["## Write storm", "", storm_md, ""]
    lines += ["## Settings", ""]
    for e in present:
        lines.append(f"- **{TITLE[e]}:** {configs[e].get('settings', '?')}")
    lines.append("")
    failed = [r for r in results if r["status"] == "failed"]
    if failed:
        lines += ["## Failures", ""] + [
            f"- {r['engine']} {r['benchmark']} (round {r.get('round')}): {r.get('error', '')}"
            for r in failed] + [""]

    if charts_on:
        chart_dir = os.path.join(out_dir, "charts")
        os.makedirs(chart_dir, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            def p(name):
                return os.path.join(chart_dir, f"{mode}-{name}.svg")
            writes = [c for c in main_chart if c[0][2].startswith("fill") or c[0][2] == "overwrite"]
            reads = [c for c in main_chart if c not in writes]
            scripts = [
                (p("writes"), chart_bars(tmp, p("writes"), "Writes, ops/s (median, min–max)",
                                         writes, present, "ops/s (log scale)", table)),
                (p("reads"), chart_bars(tmp, p("reads"), "Reads, ops/s (median, min–max)",
                                        reads, present, "ops/s (log scale)", table)),
                (p("space"), chart_space(tmp, p("space"), "Space amplification", table,
                                         present)),
            ]
            if peers:
                scripts.append((p("ratios"), chart_ratios(
                    tmp, p("ratios"), "Trine ÷ peer, ops/s (median of per-round ratios)",
                    [c for c in main_chart if any(c[1].get("ratio_" + q) for q in peers)],
                    peers)))
            made = draw(scripts, out_dir)
        if made:
            lines += ["## Charts", ""] + [f"![{m}]({m})" for m in made] + [""]
    with open(os.path.join(out_dir, f"{mode}.md"), "w") as f:
        f.write("\n".join(lines))
    return len(failed)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="JSON lines from scripts/bench.sh")
    ap.add_argument("--out", required=True, help="directory for MODE.md and charts/")
    ap.add_argument("--mode", required=True, help="page name: quick, full, smoke")
    ap.add_argument("--no-charts", action="store_true")
    args = ap.parse_args()
    meta, results, configs, procs = load(args.data)
    if not results:
        sys.exit(f"render.py: no results in {args.data}")
    meta.setdefault("data", args.data)
    os.makedirs(args.out, exist_ok=True)
    failed = page(meta, results, configs, procs, args.out, args.mode, not args.no_charts)
    print(f"render.py: wrote {os.path.join(args.out, args.mode + '.md')}"
          f"{' (' + str(failed) + ' failed results listed)' if failed else ''}")


if __name__ == "__main__":
    main()
