#!/usr/bin/env bash
# What would the bridge's per-request CPU be without its access log, or on
# one tokio worker thread? Runs the same bridge binary with configuration
# and environment variants only (no code change), interleaved to share the
# machine's noise, at a fixed rate and closed loop, and prints CPU/request.
#
#   bench/variants.sh            (after bench/run.sh has built everything)
#
# Variants: default (info access log, one tokio worker per core);
# log.filter = "warn" (no access-log line); TOKIO_WORKER_THREADS=1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=${BENCH_OUT:-$ROOT/target/bench-variants}
RUN=$OUT/run
BRIDGE_BIN=${BENCH_BRIDGE_BIN:-$ROOT/target/release/scf-bridge}
LOADGEN=$ROOT/target/bench-loadgen/release/scf-bench-loadgen
ROUNDS=${BENCH_ROUNDS:-2}
DURATION=${BENCH_DURATION:-15}
RATE=${BENCH_RATE:-1000}
PORT_BASE=${BENCH_PORT_BASE:-18180}
UP=$((PORT_BASE + 1)); BR=$((PORT_BASE + 3)); AD=$((PORT_BASE + 4))
ID=AKIDscfbridgevariants00000000000001; KEY=variantsKey0123456789
TCK=$(getconf CLK_TCK)
. "$BENCH/lib.sh"
start_upstream "$(nproc)"
phase=0
one() { # name filter workers
    local name=$1 filter=$2 workers=$3 pid c0 c1 j w n
    phase=$((phase + 1))
    bridge_config "$RUN/b.toml" "$filter"
    python3 "$BENCH/gen_requests.py" --out "$RUN/f" --count $((RATE * (DURATION + 3))) \
        --shards 1 --secret-id "$ID" --secret-key "$KEY" --nonce-base $((phase * 1000000000)) >/dev/null
    python3 "$BENCH/gen_requests.py" --out "$RUN/r" --count $((DURATION * 12000)) \
        --shards 2 --secret-id "$ID" --secret-key "$KEY" --nonce-base $((phase * 1000000000 + 500000000)) >/dev/null
    env ${workers:+TOKIO_WORKER_THREADS=$workers} "$BRIDGE_BIN" --config "$RUN/b.toml" 2>"$RUN/b-$name.log" &
    pid=$!
    waitport "$BR"
    c0=$(ticks "$pid")
    j=$("$LOADGEN" fixed --addr "127.0.0.1:$BR" --reqs "$RUN/f.0" --rate "$RATE" --conns 8 \
        --duration "$DURATION" --warmup 2 --expect '"code":0,')
    c1=$(ticks "$pid")
    n=$(echo "$j" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["sent_total"], d["p50_us"], d["p99_us"], d["bad"] + d["io_errors"])')
    set -- $n
    local fixed_cpu=$(( (c1 - c0) * 1000000 / TCK / $1 )) p50=$2 p99=$3 ferr=$4
    c0=$(ticks "$pid")
    w=$(wrk -t2 -c64 -d"${DURATION}s" -s "$BENCH/wrk-signed.lua" "http://127.0.0.1:$BR" -- "$RUN/r" '"code":0,' | sed -n 's/^WRK_JSON //p')
    c1=$(ticks "$pid")
    n=$(echo "$w" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["requests"], int(d["requests"]*1e6/d["duration_us"]), d["bad"] + d["wrapped"])')
    set -- $n
    printf '| %-28s | %6s µs | %6s µs | %5s µs | %6s | %7s µs | %s |\n' "$name" "$fixed_cpu" "$p50" "$p99" \
        "$2" "$(( (c1 - c0) * 1000000 / TCK / $1 ))" "$((ferr + $3))"
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true
}
echo "| variant | CPU/req @${RATE}/s | p50 | p99 | max req/s | CPU/req @max | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for _ in $(seq "$ROUNDS"); do
    one "default" info ""
    one "log.filter = warn" warn ""
    one "TOKIO_WORKER_THREADS=1" info 1
done
