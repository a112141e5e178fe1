#!/usr/bin/env python3
"""Turn bench/run.sh's results (OUT/results.jsonl, OUT/latency-*.txt) into
the one table, the target checks, and (with matplotlib) the latency chart.

    report.py OUT [--chart docs/perf-latency.svg]
"""

import argparse
import json
import math
import os
import sys

NAMES = {"direct": "direct (upstream)", "nginx": "nginx proxy_pass", "bridge": "scf-bridge"}


def load(out):
    rows = []
    with open(os.path.join(out, "results.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def find(rows, contender, mode):
    for r in rows:
        if r.get("contender") == contender and r.get("mode") == mode:
            return r
    return None


def closed_stats(r):
    w = r["wrk"]
    n = w["requests"]
    errors = (w["bad"] + w["connect_errors"] + w["read_errors"] + w["write_errors"]
              + w["timeouts"])
    if r["contender"] == "bridge":
        # Only the bridge cares: a wrapped request file means replays.
        errors += w["wrapped"]
    return {
        "rps": n * 1e6 / w["duration_us"],
        "p50": w["p50_us"], "p99": w["p99_us"], "p999": w["p999_us"],
        "cpu_us": r["cpu_ticks"] / r["clk_tck"] * 1e6 / max(n, 1),
        "hwm_mib": r["hwm_kib"] / 1024,
        "errors": errors, "n": n,
    }


def fixed_stats(r):
    g = r["loadgen"]
    return {
        "rps": g["achieved_rps"],
        "p50": g["p50_us"], "p99": g["p99_us"], "p999": g["p999_us"],
        "cpu_us": r["cpu_ticks"] / r["clk_tck"] * 1e6 / max(g["sent_total"], 1),
        "hwm_mib": r["hwm_kib"] / 1024,
        "errors": g["bad"] + g["io_errors"] + g["exhausted"], "n": g["requests"],
        "late50": g["send_late_p50_us"], "late99": g["send_late_p99_us"],
        "idle_open": g.get("idle_open_after"), "idle_conns": g.get("idle_conns"),
        "idle_failed": g.get("idle_failed"),
    }


def us(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v / 1000:.2f} ms" if v >= 10000 else f"{v:.0f} µs"


def ratio(a, b):
    return f"{a / b:.2f}×" if b else "–"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--chart")
    a = ap.parse_args()
    rows = load(a.out)
    m = next((r for r in rows if r.get("mode") == "machine"), {})
    p = print

    p(f"## scf-bridge end-to-end benchmark — {m.get('date', '?')}\n")
    p(f"Machine: {m.get('nproc')} cores, {m.get('cpu')}, Linux {m.get('kernel')}; "
      f"loadavg before {m.get('load_before')}, after {m.get('load_after')}. "
      f"Payload: {m.get('param_bytes')} B `param` in a signed legacy POST form "
      f"(HmacSHA256). Closed loop: wrk -t{m.get('closed_threads')} -c{m.get('closed_conns')} "
      f"-d{m.get('duration')}s; fixed rate: {m.get('rate')} req/s on {m.get('fixed_conns')} "
      f"connections for {m.get('duration')} s after {m.get('warmup')} s warm-up, latency from "
      f"the intended send time (CO-corrected).\n")

    stats = {}
    p("| contender | load | req/s | p50 | p99 | p99.9 | CPU/req | peak RSS | errors |")
    p("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for mode, label, fn in (("closed", "closed loop (max)", closed_stats),
                            ("fixed", f"fixed {m.get('rate')}/s", fixed_stats)):
        for c in ("direct", "nginx", "bridge"):
            r = find(rows, c, mode if mode == "closed" else f"fixed-{c}")
            if r is None:
                continue
            s = fn(r)
            stats[(c, mode)] = s
            p(f"| {NAMES[c]} | {label} | {s['rps']:,.0f} | {us(s['p50'])} | {us(s['p99'])} | "
              f"{us(s['p999'])} | {s['cpu_us']:.1f} µs | {s['hwm_mib']:.1f} MiB | {s['errors']} |")
        for base in ("nginx", "direct"):
            b, x = stats.get((base, mode)), stats.get(("bridge", mode))
            if b and x:
                p(f"| *bridge / {base}* | {label} | {ratio(x['rps'], b['rps'])} | "
                  f"{ratio(x['p50'], b['p50'])} | {ratio(x['p99'], b['p99'])} | "
                  f"{ratio(x['p999'], b['p999'])} | {ratio(x['cpu_us'], b['cpu_us'])} | "
                  f"{ratio(x['hwm_mib'], b['hwm_mib'])} | |")
    p("")
    p("CPU/req: user+system time of the contender's own server process(es) "
      "(/proc/PID/stat; nginx: master + workers; the bridge: its one process; "
      "direct: the upstream's), divided by the requests it answered, warm-up excluded "
      "for closed loop, included (with its requests) for fixed rate. Peak RSS: VmHWM, "
      "reset before each run (summed over nginx's processes).")
    f = stats.get(("direct", "fixed"))
    if f:
        p(f"Load generator's own send lateness at fixed rate: p50 {f['late50']:.0f} µs, "
          f"p99 {f['late99']:.0f} µs (direct run); it is inside every latency above.")
    p("")

    # ------------------------------------------------------------ extras
    idle = {c: find(rows, c, f"idle-{c}") for c in ("nginx", "bridge")}
    big = {c: find(rows, c, "big") for c in ("direct", "nginx", "bridge")}
    reuse = find(rows, "bridge", "reuse")
    replay = find(rows, "bridge", "replay")

    p("### Idle keep-alive connections + steady load\n")
    p("| contender | idle conns (open at end) | all open for | load | p50 | p99 | peak RSS | peak RSS, all open | errors |")
    p("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for c, r in idle.items():
        if r:
            s = fixed_stats(r)
            h = r.get("held") or {}
            p(f"| {NAMES[c]} | {s['idle_conns']} ({s['idle_open']}) | "
              f"{h.get('all_open_secs', '–')} s | {m.get('rate')}/s on "
              f"{m.get('fixed_conns')} conns | {us(s['p50'])} | {us(s['p99'])} | "
              f"{s['hwm_mib']:.1f} MiB | "
              f"{h.get('max_rss_all_open_kib', 0) / 1024:.1f} MiB | "
              f"{s['errors'] + (s['idle_failed'] or 0)} |")
    p("")
    p("Connections are counted each second with `ss` (established, server side); "
      "'all open for' is how long every idle connection plus the load's were "
      "still established, 'peak RSS, all open' the largest VmRSS seen meanwhile.\n")

    p("### Large `param`\n")
    p("| contender | body | requests | p50 latency | added vs direct | peak memory over idle | × body |")
    p("|---|---:|---:|---:|---:|---:|---:|")
    d50 = big["direct"]["seq"]["p50_us"] if big.get("direct") else None
    for c, r in big.items():
        if not r:
            continue
        q = r["seq"]
        extra = "–"
        mult = "–"
        if "hwm_kib" in r:
            grow = (r["hwm_kib"] - r["rss_before_kib"]) * 1024
            extra = f"{grow / 2**20:.1f} MiB"
            mult = f"{grow / q['body_bytes']:.1f}×"
        added = us(q["p50_us"] - d50) if (d50 is not None and c != "direct") else "–"
        errs = q["bad"] + q["io_errors"]
        p(f"| {NAMES[c]} | {q['body_bytes'] / 2**20:.2f} MiB | {q['requests']} ({errs} errors) | "
          f"{us(q['p50_us'])} | {added} | {extra} | {mult} |")
    p("")

    if reuse:
        ur, ua = reuse["upstream_requests"], reuse["upstream_accepts"]
        p("### Upstream connection reuse (bridge phase)\n")
        p(f"- upstream nginx (stub_status): {ur:,} requests over {ua:,} new connections → "
          f"reuse {100 * (1 - ua / ur) if ur else 0:.3f}%")
        mr, mc = reuse["metric_upstream_requests"], reuse["metric_upstream_connections"]
        present = reuse["metric_connections_present"]
        p(f"- bridge metrics: scf_bridge_upstream_requests_total +{mr:,}; "
          + (f"scf_bridge_upstream_connections_total +{mc:,} → reuse "
             f"{100 * (1 - mc / mr) if mr else 0:.3f}%" if present else
             "scf_bridge_upstream_connections_total is **absent** from /metrics "
             "(nothing increments it)"))
        p(f"- bridge answers by code: `{reuse['codes']}`")
        p("")
    if replay and replay["entries_after"] > replay["entries_before"]:
        grow = (replay["rss_after_kib"] - replay["rss_before_kib"]) * 1024
        n = replay["entries_after"] - replay["entries_before"]
        p(f"Replay memory: +{n:,} entries during the closed-loop run, RSS "
          f"{replay['rss_before_kib'] / 1024:.1f} → {replay['rss_after_kib'] / 1024:.1f} MiB "
          f"(≈ {grow / n:.0f} B per entry).\n")

    # ------------------------------------------------------------ targets
    p("### Targets\n")

    def line(ok, text):
        p(f"- [{'x' if ok else ' '}] {'MET' if ok else 'NOT MET'}: {text}")

    bc, nc = stats.get(("bridge", "closed")), stats.get(("nginx", "closed"))
    if bc and nc:
        line(bc["rps"] >= nc["rps"] and bc["errors"] == 0,
             f"max throughput ≥ 1.0× nginx with zero errors — {bc['rps']:,.0f} vs "
             f"{nc['rps']:,.0f} req/s = {bc['rps'] / nc['rps']:.2f}×, {bc['errors']} errors")
    bf, df = stats.get(("bridge", "fixed")), stats.get(("direct", "fixed"))
    if bf and df:
        a50, a99 = bf["p50"] - df["p50"], bf["p99"] - df["p99"]
        line(a50 <= 250 and a99 <= 1000,
             f"added latency at {m.get('rate')}/s on {m.get('fixed_conns')} conns: "
             f"p50 +{a50:.0f} µs (≤ 250), p99 +{a99:.0f} µs (≤ 1000)")
        line(bf["cpu_us"] <= 25,
             f"CPU ≤ 25 µs/request (≤ 16 KB bodies) — {bf['cpu_us']:.1f} µs at "
             f"{m.get('rate')}/s, {bc['cpu_us'] if bc else float('nan'):.1f} µs at max throughput")
    ib = idle.get("bridge")
    if ib:
        s = fixed_stats(ib)
        held = ib.get("held")
        extra = ""
        if held:
            extra = (f"; while all were open (≤ {held['all_open_secs']} s): "
                     f"{held['max_rss_all_open_kib'] / 1024:.1f} MiB")
        line(s["hwm_mib"] <= 32 and s["errors"] == 0,
             f"peak RSS ≤ 32 MiB with {s['idle_conns']} idle keep-alive connections + "
             f"{m.get('rate')}/s — {s['hwm_mib']:.1f} MiB ({s['idle_open']} of "
             f"{s['idle_conns']} still open at the end{extra})")
    bb = big.get("bridge")
    if bb and d50 is not None:
        q = bb["seq"]
        added = q["p50_us"] - d50
        mult = (bb["hwm_kib"] - bb["rss_before_kib"]) * 1024 / q["body_bytes"]
        line(added <= 10000 and q["bad"] + q["io_errors"] == 0,
             f"{m.get('big_param_bytes', 0) / 2**20:.0f} MiB param "
             f"({q['body_bytes'] / 2**20:.2f} MiB form body) added latency ≤ 10 ms — "
             f"+{added / 1000:.1f} ms; peak memory {mult:.1f}× the body")
    if reuse:
        if reuse["metric_connections_present"] and reuse["metric_upstream_requests"]:
            mr, mc = reuse["metric_upstream_requests"], reuse["metric_upstream_connections"]
            rate, src = 1 - mc / mr, "the bridge's /metrics"
        else:
            ur, ua = reuse["upstream_requests"], reuse["upstream_accepts"]
            rate = 1 - ua / ur if ur else 0
            src = "the upstream's count; the bridge's connection counter is absent"
        line(rate >= 0.99, f"upstream connection reuse ≥ 99% — {100 * rate:.3f}% ({src})")

    if a.chart:
        chart(a.out, a.chart, m)


def chart(out, path, m):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FixedLocator, FixedFormatter, NullLocator
    except ImportError:
        print("\n(matplotlib not available: no chart)", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for c, color in (("direct", "#4c72b0"), ("nginx", "#55a868"), ("bridge", "#c44e52")):
        f = os.path.join(out, f"latency-fixed-{c}.txt")
        if not os.path.exists(f):
            continue
        with open(f) as fh:
            v = sorted(float(x) for x in fh if x.strip())
        n = len(v)
        if not n:
            continue
        xs = [1 / (1 - (i + 0.5) / n) for i in range(n)]
        ax.plot(xs, v, label=f"{NAMES[c]} (p50 {v[n // 2]:.0f} µs)", color=color, lw=1.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [1, 2, 10, 100, 1000, 10000]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter(["0%", "50%", "90%", "99%", "99.9%", "99.99%"]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(1, 10000 * 2)
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (µs, log)")
    ax.set_title(f"Latency at a fixed {m.get('rate')} req/s on {m.get('fixed_conns')} connections "
                 f"(CO-corrected)\n{m.get('nproc')} cores, {m.get('date', '')[:10]}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, metadata={"Date": None} if path.endswith(".svg") else None)
    print(f"\nChart: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
