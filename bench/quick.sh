#!/usr/bin/env bash
# Quick closed-loop comparison for iterating on the hot path: runs each given
# bridge binary (default: target/release/scf-bridge) against the canned nginx
# upstream, interleaved over rounds, and prints max req/s and CPU per request.
# Optional: BENCH_PERF=1 records a perf profile of the last round into
# target/bench-quick/perf-<n>.data. BENCH_RATE=1000 first runs a fixed-rate
# load (bench/loadgen, 8 connections, latency from intended send times) on
# the same process and adds its p50, p99 and CPU per request. BENCH_CONNS
# sets the closed loop's connections (default 64).
#
#   bench/quick.sh [BIN ...]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=${BENCH_OUT:-$ROOT/target/bench-quick}
RUN=$OUT/run
ROUNDS=${BENCH_ROUNDS:-2}
DURATION=${BENCH_DURATION:-10}
PORT_BASE=${BENCH_PORT_BASE:-18280}
UP=$((PORT_BASE + 1)); BR=$((PORT_BASE + 3)); AD=$((PORT_BASE + 4))
ID=AKIDscfbridgequick0000000000000001; KEY=quickKey0123456789
TCK=$(getconf CLK_TCK)
BINS=("$@"); [ ${#BINS[@]} -gt 0 ] || BINS=("$ROOT/target/release/scf-bridge")
RATE=${BENCH_RATE:-}
LOADGEN=$ROOT/target/bench-loadgen/release/scf-bench-loadgen
[ -z "$RATE" ] || [ -x "$LOADGEN" ] || (cd "$BENCH/loadgen" && CARGO_TARGET_DIR=$ROOT/target/bench-loadgen cargo build --release --quiet)
. "$BENCH/lib.sh"
start_upstream "$(nproc)"
bridge_config "$RUN/b.toml"
phase=0
if [ -n "$RATE" ]; then
    echo "| binary | p50 @${RATE}/s | p99 @${RATE}/s | CPU/req @${RATE}/s | max req/s | CPU/req | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
else
    echo "| binary | max req/s | CPU/req | errors |"
    echo "|---|---:|---:|---:|"
fi
for round in $(seq "$ROUNDS"); do
    for i in "${!BINS[@]}"; do
        bin=${BINS[$i]}; phase=$((phase + 1))
        python3 "$BENCH/gen_requests.py" --out "$RUN/r" --count $((DURATION * 60000)) \
            --shards 2 --secret-id "$ID" --secret-key "$KEY" --nonce-base $((phase * 1000000000)) >/dev/null
        python3 "$BENCH/gen_requests.py" --out "$RUN/w" --count 40000 \
            --shards 2 --secret-id "$ID" --secret-key "$KEY" --nonce-base $((phase * 1000000000 + 900000000)) >/dev/null
        expect='"code":0,'
        case $(basename "$bin") in
        floor_proxy*) "$bin" "127.0.0.1:$BR" "127.0.0.1:$UP" 2>"$RUN/b-$i.log" & expect='"Result"' ;;
        *) "$bin" --config "$RUN/b.toml" 2>"$RUN/b-$i.log" & ;;
        esac
        pid=$!
        waitport "$BR"
        # warm-up
        wrk -t2 -c64 -d2s -s "$BENCH/wrk-signed.lua" "http://127.0.0.1:$BR" -- "$RUN/w" "$expect" >/dev/null 2>&1 || true
        fixed=
        if [ -n "$RATE" ]; then
            python3 "$BENCH/gen_requests.py" --out "$RUN/f" --count $((RATE * (DURATION + 3))) \
                --shards 1 --secret-id "$ID" --secret-key "$KEY" --nonce-base $((phase * 1000000000 + 500000000)) >/dev/null
            c0=$(ticks "$pid")
            j=$("$LOADGEN" fixed --addr "127.0.0.1:$BR" --reqs "$RUN/f.0" --rate "$RATE" --conns 8 \
                --duration "$DURATION" --warmup 2 --expect "$expect")
            c1=$(ticks "$pid")
            n=$(echo "$j" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["sent_total"], d["p50_us"], d["p99_us"], d["bad"] + d["io_errors"])')
            set -- $n
            fixed="$2 µs | $3 µs | $(( (c1 - c0) * 1000000 / TCK / $1 )) µs | "
            ferr=$4
        fi
        perfpid=
        if [ "${BENCH_PERF:-}" = 1 ] && [ "$round" = "$ROUNDS" ]; then
            perf record -F 1000 --call-graph dwarf,16384 -p "$pid" -o "$OUT/perf-$i.data" >/dev/null 2>&1 & perfpid=$!
        fi
        c0=$(ticks "$pid")
        w=$(wrk -t2 -c"${BENCH_CONNS:-64}" -d"${DURATION}s" -s "$BENCH/wrk-signed.lua" "http://127.0.0.1:$BR" -- "$RUN/r" '"code":0,' | sed -n 's/^WRK_JSON //p')
        c1=$(ticks "$pid")
        [ -n "$perfpid" ] && { kill -INT "$perfpid"; wait "$perfpid" || true; }
        n=$(echo "$w" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["requests"], int(d["requests"]*1e6/d["duration_us"]), d["bad"] + d["wrapped"])')
        set -- $n
        printf '| %s | %s%s | %s µs | %s |\n' "$(basename "$bin")#$i" "$fixed" "$2" "$(( (c1 - c0) * 1000000 / TCK / $1 ))" "$(( $3 + ${ferr:-0} ))"
        kill -9 "$pid"; wait "$pid" 2>/dev/null || true
    done
done
