#!/usr/bin/env bash
# The large-`param` test alone, for A/B comparisons of bridge binaries:
# each round starts every binary fresh in turn and sends it
# BENCH_BIG_COUNT (10) sequential POSTs with a BENCH_BIG_PARAM_BYTES
# (6 MiB) `param`, then prints p50 latency, CPU per request and peak memory
# over idle as a multiple of the form body.
#
# With BENCH_DIRECT=1 each round starts with a `direct` row: the same
# requests sent straight to the canned upstream (p50 only), the baseline
# for "added latency".
#
#   bench/big_ab.sh BINARY [BINARY...]      (after bench/run.sh has built the load generator)
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BINARY [BINARY...]" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=${BENCH_OUT:-$ROOT/target/bench-big-ab}
RUN=$OUT/run
LOADGEN=$ROOT/target/bench-loadgen/release/scf-bench-loadgen
ROUNDS=${BENCH_ROUNDS:-3}
COUNT=${BENCH_BIG_COUNT:-10}
BYTES=${BENCH_BIG_PARAM_BYTES:-6291456}
PORT_BASE=${BENCH_PORT_BASE:-18280}
UP=$((PORT_BASE + 1)); BR=$((PORT_BASE + 3)); AD=$((PORT_BASE + 4))
ID=AKIDscfbridgebigab000000000000001; KEY=bigabKey0123456789
TCK=$(getconf CLK_TCK)
. "$BENCH/lib.sh"
start_upstream "$(nproc)"
bridge_config "$RUN/b.toml"
echo "| round | binary | p50 | CPU/req | peak over idle | × body | errors |"
echo "|---:|---|---:|---:|---:|---:|---:|"
phase=0
for round in $(seq "$ROUNDS"); do
    if [ "${BENCH_DIRECT:-0}" = 1 ]; then
        phase=$((phase + 1))
        python3 "$BENCH/gen_requests.py" --out "$RUN/big" --count "$COUNT" --shards 1 \
            --secret-id "$ID" --secret-key "$KEY" --param-bytes "$BYTES" \
            --nonce-base $((phase * 1000000000)) >/dev/null
        j=$("$LOADGEN" seq --addr "127.0.0.1:$UP" --reqs "$RUN/big.0" --count "$COUNT" --expect '"Result"')
        echo "$j" | python3 -c '
import json, sys
d = json.load(sys.stdin)
p50 = d["p50_us"] / 1000
errs = d["bad"] + d["io_errors"]
print(f"| {sys.argv[1]} | direct | {p50:.1f} ms | – | – | – | {errs} |")
' "$round"
    fi
    for bin in "$@"; do
        phase=$((phase + 1))
        python3 "$BENCH/gen_requests.py" --out "$RUN/big" --count "$COUNT" --shards 1 \
            --secret-id "$ID" --secret-key "$KEY" --param-bytes "$BYTES" \
            --nonce-base $((phase * 1000000000)) >/dev/null
        freeport "$BR"
        "$bin" --config "$RUN/b.toml" 2>"$RUN/bridge.log" &
        pid=$!
        waitport "$BR"
        echo 5 >"/proc/$pid/clear_refs"
        r0=$(kib "$pid" VmRSS)
        c0=$(ticks "$pid")
        j=$("$LOADGEN" seq --addr "127.0.0.1:$BR" --reqs "$RUN/big.0" --count "$COUNT" --expect '"code":0,')
        c1=$(ticks "$pid")
        hwm=$(kib "$pid" VmHWM)
        kill -9 "$pid"; wait "$pid" 2>/dev/null || true
        echo "$j" | python3 -c '
import json, sys
d = json.load(sys.stdin)
r, b, ticks, tck, r0, hwm = sys.argv[1:7]
grow = (int(hwm) - int(r0)) * 1024
p50 = d["p50_us"] / 1000
cpu = int(ticks) / int(tck) * 1000 / max(d["requests"], 1)
mult = grow / d["body_bytes"]
errs = d["bad"] + d["io_errors"]
print(f"| {r} | {b} | {p50:.1f} ms | {cpu:.1f} ms | {grow / 2**20:.1f} MiB | {mult:.1f}× | {errs} |")
' "$round" "$(basename "$bin")" "$((c1 - c0))" "$TCK" "$r0" "$hwm"
    done
done
