#!/usr/bin/env bash
# Per-request counts that do not move with the machine's load: each given
# bridge binary serves a fixed-rate load (bench/loadgen, 8 connections,
# signed 1 KB InvokeFunction POSTs against the canned nginx upstream), and
# the bridge's context switches (all threads, /proc/PID/task/*/status) are
# read over one run, then its system calls counted by `strace -c` over a
# second run. Prints one row per binary; strace's tables are kept in
# $OUT/strace-<n>.txt.
#
#   bench/syscalls.sh BIN [BIN ...]       (BENCH_RATE, default 1000; BENCH_DURATION, default 8)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=${BENCH_OUT:-$ROOT/target/bench-syscalls}
RUN=$OUT/run
RATE=${BENCH_RATE:-1000}
DURATION=${BENCH_DURATION:-8}
PORT_BASE=${BENCH_PORT_BASE:-18480}
UP=$((PORT_BASE + 1)); BR=$((PORT_BASE + 3)); AD=$((PORT_BASE + 4))
ID=AKIDscfbridgesyscalls00000000000001; KEY=syscallsKey0123456789
LOADGEN=$ROOT/target/bench-loadgen/release/scf-bench-loadgen
[ $# -gt 0 ] || set -- "$ROOT/target/release/scf-bridge"
[ -x "$LOADGEN" ] || (cd "$BENCH/loadgen" && CARGO_TARGET_DIR=$ROOT/target/bench-loadgen cargo build --release --quiet)
. "$BENCH/lib.sh"
start_upstream "$(nproc)"
bridge_config "$RUN/b.toml"
# switches PID: voluntary + involuntary context switches of all its threads
switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
load() { # PHASE: one fixed-rate run, prints the requests answered
    python3 "$BENCH/gen_requests.py" --out "$RUN/f" --count $((RATE * (DURATION + 1))) \
        --shards 1 --secret-id "$ID" --secret-key "$KEY" --nonce-base $(($1 * 100000000)) >/dev/null
    "$LOADGEN" fixed --addr "127.0.0.1:$BR" --reqs "$RUN/f.0" --rate "$RATE" --conns 8 \
        --duration "$DURATION" --warmup 0 --expect '"code":0,' |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["sent_total"] - d["bad"] - d["io_errors"])'
}
echo "| binary | threads | context switches/req | system calls/req | futex/req | epoll_wait/req |"
echo "|---|---:|---:|---:|---:|---:|"
phase=0
n=0
for bin in "$@"; do
    n=$((n + 1))
    "$bin" --config "$RUN/b.toml" 2>"$RUN/b-$n.log" & pid=$!; PIDS+=($pid)
    waitport "$BR"
    phase=$((phase + 1)); load "$phase" >/dev/null   # warm-up: connections, pools
    s0=$(switches "$pid")
    phase=$((phase + 1)); r=$(load "$phase")
    s1=$(switches "$pid")
    threads=$(ls /proc/"$pid"/task | wc -l)
    strace -c -f -o "$OUT/strace-$n.txt" $(ls /proc/"$pid"/task | sed 's/^/-p /') 2>/dev/null & sp=$!
    sleep 1
    phase=$((phase + 1)); rs=$(load "$phase")
    kill -INT "$sp"; wait "$sp" 2>/dev/null || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    freeport "$BR"
    python3 - "$(basename "$bin")" "$threads" "$r" "$((s1 - s0))" "$rs" "$OUT/strace-$n.txt" <<'PY'
import sys
name, threads, r, sw, rs, path = sys.argv[1:]
calls = {}
for line in open(path):
    f = line.split()
    if len(f) >= 5 and f[-1] not in ("syscall", "total") and f[3].isdigit():
        calls[f[-1]] = int(f[3])
total = sum(calls.values())
rs = int(rs)
print(f"| {name} | {threads} | {int(sw)/int(r):.2f} | {total/rs:.2f} | {calls.get('futex',0)/rs:.2f} | {calls.get('epoll_wait',0)/rs:.2f} |")
PY
done
