#!/usr/bin/env bash
# scf-bridge end-to-end benchmark: ONE command.
#
#   bench/run.sh
#
# Builds scf-bridge (release) and the open-loop load generator, installs
# nginx and wrk if missing, starts a canned SCF 3.0 upstream (nginx), and
# loads in turn, on this machine, in one run:
#   direct  the upstream itself (the ceiling)
#   nginx   nginx proxy_pass with upstream keep-alive (the plain-hop anchor)
#   bridge  scf-bridge, auth.mode = "verify", every request signed beforehand
# each closed-loop (wrk, max throughput) and open-loop (fixed rate, CO
# corrected; bench/loadgen). Then: 1,000 idle keep-alive connections plus
# steady load (peak RSS), a 6 MiB `param` (added latency, peak memory), and
# upstream connection reuse. Prints one table, writes the results to
# target/bench-out/ and the latency chart to docs/perf-latency.svg.
#
# Knobs (environment): BENCH_DURATION (20 s), BENCH_WARMUP (5 s),
# BENCH_RATE (1000), BENCH_FIXED_CONNS (8), BENCH_CLOSED_CONNS (64),
# BENCH_CLOSED_THREADS (2), BENCH_PARAM_BYTES (1024), BENCH_IDLE_CONNS (1000),
# BENCH_BIG_PARAM_BYTES (6291456), BENCH_BIG_COUNT (10), BENCH_PORT_BASE
# (18080), BENCH_BRIDGE_BIN (a prebuilt binary to measure instead of
# building this tree, for A/B runs), BENCH_QUIET_WAIT (120 s to wait for a quiet machine), BENCH_CHART
# (docs/perf-latency.svg; "" for none).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=${BENCH_OUT:-$ROOT/target/bench-out}
RUN=$OUT/run
DURATION=${BENCH_DURATION:-20}
WARMUP=${BENCH_WARMUP:-5}
RATE=${BENCH_RATE:-1000}
FIXED_CONNS=${BENCH_FIXED_CONNS:-8}
CLOSED_CONNS=${BENCH_CLOSED_CONNS:-64}
CLOSED_THREADS=${BENCH_CLOSED_THREADS:-2}
PARAM_BYTES=${BENCH_PARAM_BYTES:-1024}
IDLE_CONNS=${BENCH_IDLE_CONNS:-1000}
BIG_PARAM_BYTES=${BENCH_BIG_PARAM_BYTES:-6291456}
BIG_COUNT=${BENCH_BIG_COUNT:-10}
PORT_BASE=${BENCH_PORT_BASE:-18080}
QUIET_WAIT=${BENCH_QUIET_WAIT:-120}
CHART=${BENCH_CHART-$ROOT/docs/perf-latency.svg}
CORES=$(nproc)
UPSTREAM_PORT=$((PORT_BASE + 1))
PROXY_PORT=$((PORT_BASE + 2))
BRIDGE_PORT=$((PORT_BASE + 3))
ADMIN_PORT=$((PORT_BASE + 4))
SECRET_ID=AKIDscfbridgebenchmark0000000000001
SECRET_KEY=benchSecretKey0123456789abcdefXYZ
CLK_TCK=$(getconf CLK_TCK)
RESULTS=$OUT/results.jsonl
BRIDGE_BIN=${BENCH_BRIDGE_BIN:-$ROOT/target/release/scf-bridge}
LOADGEN=$ROOT/target/bench-loadgen/release/scf-bench-loadgen

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup
STARTED=()   # PIDs of every server this script started
cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    STARTED=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() {
    local pid=$1 keep=() p
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${STARTED[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    STARTED=("${keep[@]+"${keep[@]}"}")
}

# ---------------------------------------------------------------- setup
need_apt=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v ss >/dev/null 2>&1 || need_apt+=(iproute2)
command -v pgrep >/dev/null 2>&1 || need_apt+=(procps)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing ${need_apt[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v python3 >/dev/null || die "python3 is needed"

log "building scf-bridge (release) and the load generator"
[ -n "${BENCH_BRIDGE_BIN:-}" ] || (cd "$ROOT" && cargo build --release --quiet --bin scf-bridge)
(cd "$BENCH/loadgen" && CARGO_TARGET_DIR=$ROOT/target/bench-loadgen cargo build --release --quiet)

rm -rf "$RUN"
mkdir -p "$RUN" "$OUT"
: >"$RESULTS"

for port in $UPSTREAM_PORT $PROXY_PORT $BRIDGE_PORT $ADMIN_PORT; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is in use; set BENCH_PORT_BASE"
    fi
done

# A benchmark on a busy machine measures the other tenants: wait a while for
# the 1-minute load average to drop, then go on regardless (and say so).
waited=0
while awk -v c="$CORES" '{exit !($1 > c * 0.5)}' /proc/loadavg && [ "$waited" -lt "$QUIET_WAIT" ]; do
    [ "$waited" = 0 ] && log "machine busy (loadavg $(cut -d' ' -f1-3 /proc/loadavg)); waiting up to ${QUIET_WAIT}s"
    sleep 5
    waited=$((waited + 5))
done
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- helpers
render() { # template out
    sed -e "s#@RUN@#$RUN#g" -e "s#@UPSTREAM_PORT@#$UPSTREAM_PORT#g" \
        -e "s#@PROXY_PORT@#$PROXY_PORT#g" -e "s#@WORKERS@#$CORES#g" "$1" >"$2"
}

wait_port() { # port
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    die "nothing listens on port $1"
}

# A server's processes: the PID and its children (nginx workers).
procs() { echo "$1 $(pgrep -P "$1" | tr '\n' ' ')"; }

cpu_ticks() { # pids... → utime+stime summed
    local t=0 p f
    for p in "$@"; do
        f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        f=${f##*) }   # fields from 3 on
        set -- $f
        t=$((t + ${12} + ${13}))
    done
    echo "$t"
}

reset_hwm() { local p; for p in "$@"; do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done; }

mem_kib() { # field pids... → summed kB of /proc/PID/status field (VmHWM, VmRSS)
    local field=$1 t=0 p v
    shift
    for p in "$@"; do
        v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null || true)
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

metric() { # name → value summed over label sets (0 when absent)
    curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" |
        awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $NF} END {printf "%d\n", s}'
}

upstream_status() { # → "accepts requests" from nginx stub_status
    curl -s "http://127.0.0.1:$UPSTREAM_PORT/nginx_status" | awk 'NR == 3 {print $1, $3}'
}

# gen phase name count [param_bytes] [shards] → file prefix. Every phase has
# its own nonce range (phase × 10⁹ on), so no two files can share a
# (SecretId, Nonce, Timestamp) even when signed in the same second.
gen() {
    local phase=$1 name=$2 count=$3 bytes=${4:-$PARAM_BYTES} shards=${5:-$CLOSED_THREADS}
    python3 "$BENCH/gen_requests.py" --out "$RUN/req-$name" --count "$count" \
        --shards "$shards" --secret-id "$SECRET_ID" --secret-key "$SECRET_KEY" \
        --param-bytes "$bytes" --nonce-base $((phase * 1000000000)) >&2
    echo "$RUN/req-$name"
}

shards_csv() { # prefix → prefix.0,prefix.1,...
    local p=$1 s out=""
    for s in "$p".*; do out="$out${out:+,}$s"; done
    echo "$out"
}

start_upstream() {
    render "$BENCH/nginx/upstream.conf.in" "$RUN/upstream.conf"
    mkdir -p "$RUN"/upstream-{body,proxy,fastcgi,uwsgi,scgi}
    "$NGINX" -c "$RUN/upstream.conf" -p "$RUN" >"$RUN/upstream.out" 2>&1 &
    UPSTREAM_PID=$!
    STARTED+=("$UPSTREAM_PID")
    wait_port "$UPSTREAM_PORT"
}

start_proxy() {
    render "$BENCH/nginx/proxy.conf.in" "$RUN/proxy.conf"
    mkdir -p "$RUN"/proxy-{body,proxy,fastcgi,uwsgi,scgi}
    "$NGINX" -c "$RUN/proxy.conf" -p "$RUN" >"$RUN/proxy.out" 2>&1 &
    PROXY_PID=$!
    STARTED+=("$PROXY_PID")
    wait_port "$PROXY_PORT"
}

start_bridge() { # tag
    cat >"$RUN/bridge.toml" <<EOF
[server]
listen = "127.0.0.1:$BRIDGE_PORT"

[upstream]
endpoint = "http://127.0.0.1:$UPSTREAM_PORT"

[auth]
mode = "verify"
# The load is signed before the bridge starts; by default a bridge refuses
# Timestamps from before its own start (a restart forgets its replay memory).
restart_grace_secs = 3600

[[auth.clients]]
secret_id = "$SECRET_ID"
secret_key = "$SECRET_KEY"

[admin]
listen = "127.0.0.1:$ADMIN_PORT"

[log]
format = "json"
EOF
    # One access-log line per request goes to a file, as nginx's does.
    env -u SCF_BRIDGE_LOG -u TENCENTCLOUD_SECRET_ID -u TENCENTCLOUD_SECRET_KEY \
        "$BRIDGE_BIN" --config "$RUN/bridge.toml" 2>"$RUN/bridge-$1.log" &
    BRIDGE_PID=$!
    STARTED+=("$BRIDGE_PID")
    wait_port "$BRIDGE_PORT"
    wait_port "$ADMIN_PORT"
}

record() { echo "$1" >>"$RESULTS"; }

# sample pid port file: every second, "seconds VmRSS-kB established-conns"
# for the server listening on port, until killed.
sample() {
    local pid=$1 port=$2 file=$3 t=0
    : >"$file"
    while kill -0 "$pid" 2>/dev/null; do
        echo "$t $(mem_kib VmRSS $(procs "$pid")) $(ss -tnH state established "( sport = :$port )" | wc -l)" >>"$file"
        sleep 1
        t=$((t + 1))
    done
}

# held file min-conns → {"all_open_secs":N,"max_rss_all_open_kib":K}
held() {
    awk -v min="$2" '$3 >= min {n++; if ($2 > m) m = $2} END {printf "{\"all_open_secs\":%d,\"max_rss_all_open_kib\":%d}", n, m}' "$1"
}

# closed contender port expect prefix pids...
closed_run() {
    local who=$1 port=$2 expect=$3 reqs=$4
    shift 4
    local pids=("$@") c0 c1 out json
    reset_hwm "${pids[@]}"
    c0=$(cpu_ticks "${pids[@]}")
    out=$(wrk -t"$CLOSED_THREADS" -c"$CLOSED_CONNS" -d"${DURATION}s" --timeout 5s \
        -s "$BENCH/wrk-signed.lua" "http://127.0.0.1:$port" -- "$reqs" "$expect")
    c1=$(cpu_ticks "${pids[@]}")
    echo "$out" >"$OUT/wrk-$who.txt"
    json=$(echo "$out" | sed -n 's/^WRK_JSON //p')
    [ -n "$json" ] || die "wrk gave no result for $who: $out"
    record "{\"contender\":\"$who\",\"mode\":\"closed\",\"wrk\":$json,\"cpu_ticks\":$((c1 - c0)),\"clk_tck\":$CLK_TCK,\"hwm_kib\":$(mem_kib VmHWM "${pids[@]}"),\"rss_kib\":$(mem_kib VmRSS "${pids[@]}")}"
    echo "$json"
}

# fixed contender port expect reqs-csv extra-args... -- pids...
fixed_run() {
    local who=$1 port=$2 expect=$3 reqs=$4 tag=$5
    shift 5
    local extra=() pids=() c0 c1 json
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do extra+=("$1"); shift; done
    shift
    pids=("$@")
    local sampler="" held_json=null
    if [ "${tag#idle}" != "$tag" ]; then
        sample "${pids[0]}" "$port" "$OUT/held-$tag.txt" &
        sampler=$!
    fi
    reset_hwm "${pids[@]}"
    c0=$(cpu_ticks "${pids[@]}")
    json=$("$LOADGEN" fixed --addr "127.0.0.1:$port" --reqs "$reqs" --rate "$RATE" \
        --conns "$FIXED_CONNS" --duration "$DURATION" --warmup "$WARMUP" \
        --expect "$expect" --samples "$OUT/latency-$tag.txt" "${extra[@]+"${extra[@]}"}")
    c1=$(cpu_ticks "${pids[@]}")
    if [ -n "$sampler" ]; then
        kill "$sampler" 2>/dev/null || true
        wait "$sampler" 2>/dev/null || true
        held_json=$(held "$OUT/held-$tag.txt" "$((IDLE_CONNS + FIXED_CONNS))")
    fi
    record "{\"contender\":\"$who\",\"mode\":\"$tag\",\"held\":$held_json,\"loadgen\":$json,\"cpu_ticks\":$((c1 - c0)),\"clk_tck\":$CLK_TCK,\"hwm_kib\":$(mem_kib VmHWM "${pids[@]}"),\"rss_kib\":$(mem_kib VmRSS "${pids[@]}")}"
    echo "$json"
}

rps_of() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(int(d["requests"]*1e6/d["duration_us"]))' "$1"; }

# ---------------------------------------------------------------- run
log "machine: $CORES cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r), loadavg $LOAD_BEFORE"
start_upstream
UP_PIDS=($(procs "$UPSTREAM_PID"))
FIXED_N=$(( (RATE * (DURATION + WARMUP + 2)) * 105 / 100 ))
RESULT_EXPECT='"Result"'
LEGACY_EXPECT='"code":0,'

# Requests for the two nginx contenders: the same bodies; nginx does not
# care whether a nonce repeats, so these files are cycled.
PLAIN=$(gen 1 plain 200000)

# 1. direct -----------------------------------------------------------------
log "direct: warm-up, closed loop ${DURATION}s, fixed ${RATE}/s"
wrk -t"$CLOSED_THREADS" -c"$CLOSED_CONNS" -d"${WARMUP}s" -s "$BENCH/wrk-signed.lua" \
    "http://127.0.0.1:$UPSTREAM_PORT" -- "$PLAIN" "$RESULT_EXPECT" >/dev/null
j=$(closed_run direct "$UPSTREAM_PORT" "$RESULT_EXPECT" "$PLAIN" "${UP_PIDS[@]}")
DIRECT_RPS=$(rps_of "$j")
log "direct closed: $DIRECT_RPS req/s"
fixed_run direct "$UPSTREAM_PORT" "$RESULT_EXPECT" "$(shards_csv "$PLAIN")" fixed-direct -- "${UP_PIDS[@]}" >/dev/null

# 2. nginx proxy_pass ------------------------------------------------------
log "nginx proxy_pass: warm-up, closed loop, fixed"
start_proxy
PX_PIDS=($(procs "$PROXY_PID"))
wrk -t"$CLOSED_THREADS" -c"$CLOSED_CONNS" -d"${WARMUP}s" -s "$BENCH/wrk-signed.lua" \
    "http://127.0.0.1:$PROXY_PORT" -- "$PLAIN" "$RESULT_EXPECT" >/dev/null
j=$(closed_run nginx "$PROXY_PORT" "$RESULT_EXPECT" "$PLAIN" "${PX_PIDS[@]}")
log "nginx closed: $(rps_of "$j") req/s"
fixed_run nginx "$PROXY_PORT" "$RESULT_EXPECT" "$(shards_csv "$PLAIN")" fixed-nginx -- "${PX_PIDS[@]}" >/dev/null
log "nginx: ${IDLE_CONNS} idle keep-alive connections + ${RATE}/s"
fixed_run nginx "$PROXY_PORT" "$RESULT_EXPECT" "$(shards_csv "$PLAIN")" idle-nginx \
    --idle-conns "$IDLE_CONNS" -- "${PX_PIDS[@]}" >/dev/null
stop_pid "$PROXY_PID"

# 3. scf-bridge ------------------------------------------------------------
# Every request is signed once and sent once: the bridge must never see a
# (SecretId, Nonce, Timestamp) twice. Closed-loop files hold 1.2x what the
# upstream alone served in the same time, the most the bridge could reach.
CLOSED_N=$(( DIRECT_RPS * DURATION * 12 / 10 + 10000 ))
WARM_N=$(( DIRECT_RPS * WARMUP * 12 / 10 + 10000 ))
log "bridge: signing $WARM_N + $CLOSED_N requests"
WARM=$(gen 2 bridge-warm "$WARM_N")
CLOSED=$(gen 3 bridge-closed "$CLOSED_N")
start_bridge main
BR_PIDS=("$BRIDGE_PID")
UP0=$(upstream_status)
M_REQ0=$(metric scf_bridge_upstream_requests_total)
M_CONN0=$(metric scf_bridge_upstream_connections_total)
log "bridge: warm-up, closed loop"
wrk -t"$CLOSED_THREADS" -c"$CLOSED_CONNS" -d"${WARMUP}s" -s "$BENCH/wrk-signed.lua" \
    "http://127.0.0.1:$BRIDGE_PORT" -- "$WARM" "$LEGACY_EXPECT" >"$OUT/wrk-bridge-warm.txt"
RSS_BEFORE_CLOSED=$(mem_kib VmRSS "$BRIDGE_PID")
REPLAY_BEFORE=$(metric scf_bridge_replay_entries)
j=$(closed_run bridge "$BRIDGE_PORT" "$LEGACY_EXPECT" "$CLOSED" "${BR_PIDS[@]}")
log "bridge closed: $(rps_of "$j") req/s"
RSS_AFTER_CLOSED=$(mem_kib VmRSS "$BRIDGE_PID")
REPLAY_AFTER=$(metric scf_bridge_replay_entries)
log "bridge: fixed ${RATE}/s"
FIXED=$(gen 4 bridge-fixed "$FIXED_N" "$PARAM_BYTES" 1)
fixed_run bridge "$BRIDGE_PORT" "$LEGACY_EXPECT" "$FIXED.0" fixed-bridge -- "${BR_PIDS[@]}" >/dev/null
UP1=$(upstream_status)
M_REQ1=$(metric scf_bridge_upstream_requests_total)
M_CONN1=$(metric scf_bridge_upstream_connections_total)
M_CODES=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep '^scf_bridge_requests_total' |
    python3 -c 'import json,sys; print(json.dumps("; ".join(l.strip() for l in sys.stdin)))')
record "{\"contender\":\"bridge\",\"mode\":\"reuse\",\"metric_upstream_requests\":$((M_REQ1 - M_REQ0)),\"metric_upstream_connections\":$((M_CONN1 - M_CONN0)),\"metric_connections_present\":$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -c '^scf_bridge_upstream_connections_total' || true),\"upstream_accepts\":$(( ${UP1% *} - ${UP0% *} )),\"upstream_requests\":$(( ${UP1#* } - ${UP0#* } )),\"codes\":$M_CODES}"
record "{\"contender\":\"bridge\",\"mode\":\"replay\",\"rss_before_kib\":$RSS_BEFORE_CLOSED,\"rss_after_kib\":$RSS_AFTER_CLOSED,\"entries_before\":$REPLAY_BEFORE,\"entries_after\":$REPLAY_AFTER}"
stop_pid "$BRIDGE_PID"

# 4. idle keep-alive connections + steady load, on a fresh bridge -----------
log "bridge: ${IDLE_CONNS} idle keep-alive connections + ${RATE}/s (fresh process)"
IDLE=$(gen 5 bridge-idle $((FIXED_N + IDLE_CONNS)) "$PARAM_BYTES" 1)
start_bridge idle
fixed_run bridge "$BRIDGE_PORT" "$LEGACY_EXPECT" "$IDLE.0" idle-bridge \
    --idle-conns "$IDLE_CONNS" -- "$BRIDGE_PID" >/dev/null
stop_pid "$BRIDGE_PID"

# 5. a 6 MiB param ----------------------------------------------------------
log "6 MiB param: direct, nginx, bridge (${BIG_COUNT} sequential requests each)"
BIG_PLAIN=$(gen 6 big-plain "$BIG_COUNT" "$BIG_PARAM_BYTES" 1)
start_proxy
j=$("$LOADGEN" seq --addr "127.0.0.1:$UPSTREAM_PORT" --reqs "$BIG_PLAIN.0" --count "$BIG_COUNT" --expect "$RESULT_EXPECT")
record "{\"contender\":\"direct\",\"mode\":\"big\",\"seq\":$j}"
PX_PIDS=($(procs "$PROXY_PID"))
reset_hwm "${PX_PIDS[@]}"
r0=$(mem_kib VmRSS "${PX_PIDS[@]}")
j=$("$LOADGEN" seq --addr "127.0.0.1:$PROXY_PORT" --reqs "$BIG_PLAIN.0" --count "$BIG_COUNT" --expect "$RESULT_EXPECT")
record "{\"contender\":\"nginx\",\"mode\":\"big\",\"seq\":$j,\"rss_before_kib\":$r0,\"hwm_kib\":$(mem_kib VmHWM "${PX_PIDS[@]}")}"
stop_pid "$PROXY_PID"
BIG=$(gen 7 bridge-big "$BIG_COUNT" "$BIG_PARAM_BYTES" 1)
start_bridge big
reset_hwm "$BRIDGE_PID"
r0=$(mem_kib VmRSS "$BRIDGE_PID")
c0=$(cpu_ticks "$BRIDGE_PID")
j=$("$LOADGEN" seq --addr "127.0.0.1:$BRIDGE_PORT" --reqs "$BIG.0" --count "$BIG_COUNT" --expect "$LEGACY_EXPECT")
c1=$(cpu_ticks "$BRIDGE_PID")
record "{\"contender\":\"bridge\",\"mode\":\"big\",\"seq\":$j,\"rss_before_kib\":$r0,\"hwm_kib\":$(mem_kib VmHWM "$BRIDGE_PID"),\"cpu_ticks\":$((c1 - c0)),\"clk_tck\":$CLK_TCK}"
stop_pid "$BRIDGE_PID"

cleanup
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
record "{\"mode\":\"machine\",\"nproc\":$CORES,\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\",\"kernel\":\"$(uname -r)\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"load_before\":\"$LOAD_BEFORE\",\"load_after\":\"$LOAD_AFTER\",\"rate\":$RATE,\"fixed_conns\":$FIXED_CONNS,\"closed_conns\":$CLOSED_CONNS,\"closed_threads\":$CLOSED_THREADS,\"duration\":$DURATION,\"warmup\":$WARMUP,\"param_bytes\":$PARAM_BYTES,\"idle_conns\":$IDLE_CONNS,\"big_param_bytes\":$BIG_PARAM_BYTES}"

# ---------------------------------------------------------------- report
PY=python3
if [ -n "$CHART" ]; then
    VENV=$ROOT/target/bench-venv
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
        log "installing matplotlib into $VENV"
        python3 -m venv "$VENV" && "$VENV/bin/pip" install -q matplotlib >/dev/null 2>&1 ||
            log "matplotlib unavailable: no chart"
    fi
    "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null && PY=$VENV/bin/python
fi
"$PY" "$BENCH/report.py" "$OUT" ${CHART:+--chart "$CHART"} | tee "$OUT/table.md"
log "results: $OUT (results.jsonl, table.md, wrk-*.txt, latency-*.txt)"
