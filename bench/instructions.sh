#!/usr/bin/env bash
# User-space instructions per request, counted by valgrind's callgrind: a
# measure that does not move with the machine's load, for A/B comparisons of
# hot-path changes on a shared machine. Each binary serves the benchmark's
# 1 KB signed InvokeFunction request against the canned nginx upstream;
# after a warm-up the counters are zeroed, COUNT requests are sent on 8
# keep-alive connections at a low fixed rate, and the total is divided by
# COUNT. Caveats: valgrind does not emulate SHA-NI (SHA-256 runs in software,
# ≈10× its real instruction count) and runs threads one at a time; kernel
# work is not counted. Prints one table; per-function profiles are kept in
# target/bench-instructions/callgrind.<binary>.out (callgrind_annotate).
#
#   bench/instructions.sh BIN [BIN ...]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=${BENCH_OUT:-$ROOT/target/bench-instructions}
RUN=$OUT/run
COUNT=${BENCH_COUNT:-2000}
PORT_BASE=${BENCH_PORT_BASE:-18380}
UP=$((PORT_BASE + 1)); BR=$((PORT_BASE + 3)); AD=$((PORT_BASE + 4))
ID=AKIDscfbridgeinstr0000000000000001; KEY=instrKey0123456789
LOADGEN=$ROOT/target/bench-loadgen/release/scf-bench-loadgen
[ $# -gt 0 ] || set -- "$ROOT/target/release/scf-bridge"
command -v valgrind >/dev/null || { sudo -n true 2>/dev/null && SUDO=sudo || SUDO=; $SUDO apt-get install -y -qq valgrind >/dev/null; }
[ -x "$LOADGEN" ] || (cd "$BENCH/loadgen" && CARGO_TARGET_DIR=$ROOT/target/bench-loadgen cargo build --release --quiet)
. "$BENCH/lib.sh"
start_upstream 1
bridge_config "$RUN/b.toml"
echo "| binary | requests | instructions/request |"
echo "|---|---:|---:|"
phase=0
for bin in "$@"; do
    phase=$((phase + 1))
    name=$(basename "$bin")
    python3 "$BENCH/gen_requests.py" --out "$RUN/w" --count 400 --shards 1 \
        --secret-id "$ID" --secret-key "$KEY" --nonce-base $((phase * 1000000000)) >/dev/null
    python3 "$BENCH/gen_requests.py" --out "$RUN/r" --count "$COUNT" --shards 1 \
        --secret-id "$ID" --secret-key "$KEY" --nonce-base $((phase * 1000000000 + 500000000)) >/dev/null
    rm -f "$OUT"/callgrind.raw.*
    expect='"code":0,'; args=(--config "$RUN/b.toml")
    case $name in floor_proxy*) expect='"Result"'; args=("127.0.0.1:$BR" "127.0.0.1:$UP") ;; esac
    valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.raw.%p" \
        "$bin" "${args[@]}" 2>"$RUN/b-$name.log" &
    pid=$!
    waitport "$BR" 1200 # valgrind starts slowly
    "$LOADGEN" fixed --addr "127.0.0.1:$BR" --reqs "$RUN/w.0" --rate 100 --conns 8 \
        --duration 3 --warmup 0 --expect "$expect" >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    j=$("$LOADGEN" fixed --addr "127.0.0.1:$BR" --reqs "$RUN/r.0" --rate 100 --conns 8 \
        --duration $((COUNT / 100)) --warmup 0 --expect "$expect")
    callgrind_control -d "$pid" >/dev/null 2>&1
    sent=$(echo "$j" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["sent_total"] - d["bad"] - d["io_errors"])')
    kill "$pid"; wait "$pid" 2>/dev/null || true
    dump=$(ls -t "$OUT"/callgrind.raw.* | grep -v '\.1$' | head -1)
    # the dump taken by -d is the one with a part number; pick the largest part
    part=$(ls -S "$OUT"/callgrind.raw.*.* 2>/dev/null | head -1 || true)
    [ -n "$part" ] && dump=$part
    total=$(grep -m1 '^summary:' "$dump" | awk '{print $2}')
    cp "$dump" "$OUT/callgrind.$name.out"
    printf '| %s | %s | %s |\n' "$name" "$sent" "$((total / sent))"
done
