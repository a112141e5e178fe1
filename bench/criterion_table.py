#!/usr/bin/env python3
"""Markdown table of `cargo bench --bench micro` results (criterion's
estimates.json files), optionally next to a saved earlier run.

    bench/criterion_table.py [target/criterion] [--before DIR]

Shows the median time per iteration and the throughput it implies.
"""

import argparse
import json
import os

ORDER = ["256B", "1KB", "16KB", "1MB"]
SIZE = {"256B": 256, "1KB": 1024, "16KB": 16384, "1MB": 1 << 20}


def collect(root):
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            meta = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        tp = meta.get("throughput") or {}
        out[(meta["group_id"], meta.get("function_id") or "", meta.get("value_str") or "")] = (
            est["median"]["point_estimate"], tp.get("Bytes"))
    return out


def fmt_time(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root", nargs="?", default="target/criterion")
    ap.add_argument("--before")
    a = ap.parse_args()
    now = collect(a.root)
    before = collect(a.before) if a.before else {}
    head = "| benchmark | size | median | throughput |"
    rule = "|---|---|---:|---:|"
    if before:
        head += " before | change |"
        rule += "---:|---:|"
    print(head)
    print(rule)
    keys = sorted(now, key=lambda k: (k[0], k[1], ORDER.index(k[2]) if k[2] in ORDER else 9))
    for k in keys:
        ns, nbytes = now[k]
        name = k[0] + (f"/{k[1]}" if k[1] else "")
        tput = f"{nbytes / ns * 1e9 / 2**20:,.0f} MiB/s" if nbytes else ""
        row = f"| {name} | {k[2]} | {fmt_time(ns)} | {tput} |"
        if before:
            b = before.get(k)
            row += (f" {fmt_time(b[0])} | {100 * (ns / b[0] - 1):+.0f}% |" if b else " – | |")
        print(row)


if __name__ == "__main__":
    main()
