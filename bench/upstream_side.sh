#!/usr/bin/env bash
# What each proxy costs the upstream behind it: the canned nginx upstream is
# loaded through each given bridge binary and through nginx proxy_pass, in
# turn, with the same closed loop; for each, the loopback traffic on the
# upstream's port is captured (tcpdump) and the upstream's own CPU read off
# /proc. Prints, per request: packets and payload bytes each way, segments
# carrying data, the upstream's CPU, and (BENCH_STRACE=1) the upstream
# worker's system calls. The first request head each proxy sent is saved in
# $OUT/head-<name>.txt. BENCH_RATE=N loads each contender at a fixed N
# req/s on 8 connections (bench/loadgen) instead of the closed loop, so that
# the upstream sees the same rate behind every contender.
#
#   bench/upstream_side.sh [BIN ...]      (needs nginx, wrk, tcpdump; root for tcpdump)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=${BENCH_OUT:-$ROOT/target/bench-upstream-side}
RUN=$OUT/run
DURATION=${BENCH_DURATION:-5}
PORT_BASE=${BENCH_PORT_BASE:-18380}
UP=$((PORT_BASE + 1)); PX=$((PORT_BASE + 2)); BR=$((PORT_BASE + 3)); AD=$((PORT_BASE + 4))
ID=AKIDscfbridgequick0000000000000001; KEY=quickKey0123456789
TCK=$(getconf CLK_TCK)
BINS=("$@"); [ ${#BINS[@]} -gt 0 ] || BINS=("$ROOT/target/release/scf-bridge")
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
LOADGEN=$ROOT/target/bench-loadgen/release/scf-bench-loadgen
[ -z "${BENCH_RATE:-}" ] || [ -x "$LOADGEN" ] || (cd "$BENCH/loadgen" && CARGO_TARGET_DIR=$ROOT/target/bench-loadgen cargo build --release --quiet)
. "$BENCH/lib.sh"
# One upstream worker, so that its CPU and system calls are one process's.
start_upstream 1
UPSTREAM_MASTER=${PIDS[-1]}
bridge_config "$RUN/b.toml"
mkdir -p "$RUN"/proxy-{body,proxy,fastcgi,uwsgi,scgi}
sed -e "s#@RUN@#$RUN#g" -e "s#@UPSTREAM_PORT@#$UP#g" -e "s#@PROXY_PORT@#$PX#g" -e "s#@WORKERS@#$(nproc)#g" \
    "$BENCH/nginx/proxy.conf.in" >"$RUN/proxy.conf"

upstream_worker() { cat "/proc/$UPSTREAM_MASTER/task/"*/children | awk '{print $1; exit}'; }
served() { curl -s "http://127.0.0.1:$UP/nginx_status" | awk 'NR == 3 {print $3}'; }
# payload BYTES of a pcap's matching packets: count, data-bearing count, payload sum
count() {
    tcpdump -nn -r "$1" "$2" 2>/dev/null | awk '{n++; l=$NF; if (l+0 > 0) {d++; b+=l}} END {printf "%d %d %d\n", n, d, b}'
}

phase=0
echo "| contender | requests | pkts → upstream | data segs → | bytes → | pkts ← upstream | data segs ← | bytes ← | upstream CPU/req | upstream syscalls/req |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
run_one() { # NAME URL EXPECT WRKARGS...
    local name=$1 url=$2 expect=$3 cap=$RUN/cap-$1.pcap uw c0 c1 r0 r1 n
    phase=$((phase + 1))
    python3 "$BENCH/gen_requests.py" --out "$RUN/r" --count $((DURATION * 25000)) \
        --shards 2 --secret-id "$ID" --secret-key "$KEY" --nonce-base $((phase * 1000000000)) >/dev/null
    python3 "$BENCH/gen_requests.py" --out "$RUN/w" --count 40000 \
        --shards 2 --secret-id "$ID" --secret-key "$KEY" --nonce-base $((phase * 1000000000 + 900000000)) >/dev/null
    # warm-up, and one full request head as sent to the upstream
    tcpdump -i lo -nn -s 0 -c 1 -A "tcp dst port $UP and greater 300" >"$OUT/head-$name.txt" 2>/dev/null & local hp=$!
    wrk -t2 -c64 -d2s -s "$BENCH/wrk-signed.lua" "$url" -- "$RUN/w" "$expect" >/dev/null 2>&1 || true
    kill "$hp" 2>/dev/null || true; wait "$hp" 2>/dev/null || true
    uw=$(upstream_worker)
    tcpdump -i lo -nn -s 96 -B 65536 -w "$cap" "tcp port $UP" 2>"$RUN/tcpdump-$name.log" & local tp=$!; PIDS+=($tp)
    local sp=
    if [ "${BENCH_STRACE:-}" = 1 ]; then strace -c -f -p "$uw" -o "$RUN/strace-$name.txt" & sp=$!; fi
    sleep 0.5
    r0=$(served); c0=$(ticks "$uw")
    if [ -n "${BENCH_RATE:-}" ]; then
        python3 "$BENCH/gen_requests.py" --out "$RUN/f" --count $((BENCH_RATE * (DURATION + 3))) \
            --shards 1 --secret-id "$ID" --secret-key "$KEY" --nonce-base $((phase * 1000000000 + 500000000)) >/dev/null
        "$LOADGEN" fixed --addr "${url#http://}" --reqs "$RUN/f.0" --rate "$BENCH_RATE" --conns 8 \
            --duration "$DURATION" --warmup 0 --expect "$expect" >/dev/null
    else
        wrk -t2 -c64 -d"${DURATION}s" -s "$BENCH/wrk-signed.lua" "$url" -- "$RUN/r" "$expect" >/dev/null
    fi
    c1=$(ticks "$uw"); r1=$(served)
    sleep 0.3
    [ -n "$sp" ] && { kill -INT "$sp"; wait "$sp" 2>/dev/null || true; }
    kill -INT "$tp"; wait "$tp" 2>/dev/null || true
    n=$((r1 - r0 - 1))   # less our own status request
    read -r to tod tob < <(count "$cap" "tcp dst port $UP")
    read -r fr frd frb < <(count "$cap" "tcp src port $UP")
    local sys=-
    if [ -n "$sp" ]; then
        sys=$(awk '/^------/ {t=1; next} t && $NF == "total" {print $(NF-1)}' "$RUN/strace-$name.txt")
        sys=$(python3 -c "print(f'{$sys/$n:.2f}')")
    fi
    python3 - "$name" "$n" "$to" "$tod" "$tob" "$fr" "$frd" "$frb" "$((c1 - c0))" "$TCK" "$sys" <<'PY'
import sys
name, n, to, tod, tob, fr, frd, frb, ticks, tck, sysc = sys.argv[1:]
n = int(n)
f = lambda x: f"{int(x)/n:.2f}"
print(f"| {name} | {n} | {f(to)} | {f(tod)} | {f(tob)} | {f(fr)} | {f(frd)} | {f(frb)} | {int(ticks)*1e6/int(tck)/n:.1f} µs | {sysc} |")
PY
    grep -h "dropped by kernel" "$RUN/tcpdump-$name.log" | sed 's/^/    tcpdump: /' >&2 || true
    rm -f "$cap"
}

for i in "${!BINS[@]}"; do
    bin=${BINS[$i]}
    "$bin" --config "$RUN/b.toml" 2>"$RUN/b-$i.log" & pid=$!; PIDS+=($pid)
    waitport "$BR"
    run_one "$(basename "$bin")#$i" "http://127.0.0.1:$BR" '"code":0,'
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true
    freeport "$BR"
done
"$NGINX" -c "$RUN/proxy.conf" -p "$RUN" >"$RUN/proxy.out" 2>&1 & PIDS+=($!)
waitport "$PX"
run_one nginx-proxy_pass "http://127.0.0.1:$PX" '"Result"'
