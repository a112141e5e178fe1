#!/usr/bin/env bash
# Quick closed-loop comparison for iterating on the hot path: runs each given
# bridge binary (default: target/release/scf-bridge) against the canned nginx
# upstream, interleaved over rounds, and prints max req/s and CPU per request.
# Optional: BENCH_PERF=1 records a perf profile of the last round into
# target/bench-quick/perf-<n>.data.
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
. "$BENCH/lib.sh"
start_upstream "$(nproc)"
bridge_config "$RUN/b.toml"
phase=0
echo "| binary | max req/s | CPU/req | errors |"
echo "|---|---:|---:|---:|"
for round in $(seq "$ROUNDS"); do
    for i in "${!BINS[@]}"; do
        bin=${BINS[$i]}; phase=$((phase + 1))
        python3 "$BENCH/gen_requests.py" --out "$RUN/r" --count $((DURATION * 25000)) \
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
        wrk -t2 -c64 -d2s -s "$BENCH/wrk-signed.lua" "http://127.0.0.1:$BR" -- "$RUN/w" '"code":0,' >/dev/null 2>&1 || true
        perfpid=
        if [ "${BENCH_PERF:-}" = 1 ] && [ "$round" = "$ROUNDS" ]; then
            perf record -F 1000 --call-graph dwarf,16384 -p "$pid" -o "$OUT/perf-$i.data" >/dev/null 2>&1 & perfpid=$!
        fi
        c0=$(ticks "$pid")
        w=$(wrk -t2 -c64 -d"${DURATION}s" -s "$BENCH/wrk-signed.lua" "http://127.0.0.1:$BR" -- "$RUN/r" '"code":0,' | sed -n 's/^WRK_JSON //p')
        c1=$(ticks "$pid")
        [ -n "$perfpid" ] && { kill -INT "$perfpid"; wait "$perfpid" || true; }
        n=$(echo "$w" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["requests"], int(d["requests"]*1e6/d["duration_us"]), d["bad"] + d["wrapped"])')
        set -- $n
        printf '| %s | %s | %s µs | %s |\n' "$(basename "$bin")#$i" "$2" "$(( (c1 - c0) * 1000000 / TCK / $1 ))" "$3"
        kill -9 "$pid"; wait "$pid" 2>/dev/null || true
    done
done
