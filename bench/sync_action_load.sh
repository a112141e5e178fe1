#!/usr/bin/env bash
# The load of issue 12: a fixed rate of synchronous InvokeFunction calls
# (default 1,000/s for 10 s, open loop, bench/loadgen) through the bridge to
# the SCF 3.0 emulator, whose Invoke is limited to 100/s and InvokeFunction to
# 10,000/s (SCF's documented limits), once per `upstream.sync_action` mode:
#
#   auto       synchronous calls go to 3.0 InvokeFunction
#   invoke     every call goes to 3.0 Invoke (throttle retries within 2 s)
#   invoke-0   the same with upstream.throttle_retry_budget_ms = 0 (no retries)
#
# For each mode it prints the legacy codes answered (from the bridge's own
# scf_bridge_requests_total), the throttle retries / recoveries / give-ups,
# the 3.0 calls sent, and the loadgen's latency figures (coordinated-omission
# corrected). Not a test: numbers go to docs/performance.md.
#
#   bench/sync_action_load.sh                 # all three modes
#   MODES="auto" RATE=500 DURATION=5 bench/sync_action_load.sh
#
# Needs a release build (cargo build --release --bin scf-bridge, or
# SCF_BRIDGE_BIN=...); builds bench/loadgen itself.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
BIN=${SCF_BRIDGE_BIN:-$ROOT/target/release/scf-bridge}
LOADGEN=$ROOT/target/bench-loadgen/release/scf-bench-loadgen
RATE=${RATE:-1000}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-64}
# Invoke mode holds each request up to the 2 s budget: more connections.
CONNS_INVOKE=${CONNS_INVOKE:-400}
MODES=${MODES:-auto invoke invoke-0}
RUN=$ROOT/target/bench-sync-action
UP=${UP:-19310}
BR=${BR:-19311}
AD=${AD:-19312}
ID=AKIDsyncActionBench
KEY=syncActionBenchKey

[ -x "$BIN" ] || { echo "no $BIN: cargo build --release --bin scf-bridge" >&2; exit 1; }
(cd "$BENCH/loadgen" && CARGO_TARGET_DIR=$ROOT/target/bench-loadgen cargo build --release --quiet)

PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
waitport() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; echo "nothing on :$1" >&2; exit 1; }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

rm -rf "$RUN"; mkdir -p "$RUN"
# One form body for every request (auth.mode = none on loopback: no
# signature, so no replay memory to feed); one empty suffix line each.
REQS=$RUN/requests.txt
echo "Action=InvokeFunction&functionName=hello&Region=ap-guangzhou&param=%7B%22key%22%3A%22value%22%7D" >"$REQS"
awk -v n=$((RATE * (DURATION + WARMUP) + 1000)) 'BEGIN { for (i = 0; i < n; i++) print "" }' >>"$REQS"

metric() { awk -v s="$2" 'index($0, s) == 1 { v = $NF } END { print v + 0 }' <<<"$1"; }

for mode in $MODES; do
    sync_action=${mode%-0}
    budget=2000
    [ "$mode" = invoke-0 ] && budget=0
    conns=$CONNS
    [ "$sync_action" = invoke ] && conns=$CONNS_INVOKE
    TENCENTCLOUD_SECRET_ID=$ID TENCENTCLOUD_SECRET_KEY=$KEY SCF_BRIDGE__LOG__FILTER=warn \
        "$BIN" emulator --listen "127.0.0.1:$UP" \
        --rate-limit Invoke=100 --rate-limit InvokeFunction=10000 2>"$RUN/emulator-$mode.log" &
    emu=$!
    PIDS+=("$emu")
    waitport "$UP"
    cat >"$RUN/bridge-$mode.toml" <<TOML
[server]
listen = "127.0.0.1:$BR"
max_in_flight = 4096
[upstream]
endpoint = "http://127.0.0.1:$UP"
sync_action = "$sync_action"
throttle_retry_budget_ms = $budget
pool_max_idle_per_host = 512
[credentials]
secret_id = "$ID"
secret_key = "$KEY"
[auth]
mode = "none"
[admin]
listen = "127.0.0.1:$AD"
[log]
format = "json"
filter = "warn"
TOML
    "$BIN" serve --config "$RUN/bridge-$mode.toml" 2>"$RUN/bridge-$mode.log" &
    br=$!
    PIDS+=("$br")
    waitport "$BR"
    waitport "$AD"
    json=$("$LOADGEN" fixed --addr "127.0.0.1:$BR" --reqs "$REQS" --rate "$RATE" --conns "$conns" \
        --duration "$DURATION" --warmup "$WARMUP" --expect '"code":0,')
    # Let requests still retrying finish before reading the counters.
    sleep 3
    m=$(curl -s "http://127.0.0.1:$AD/metrics")
    ok=$(metric "$m" 'scf_bridge_requests_total{action="InvokeFunction",code="0"}')
    q=$(metric "$m" 'scf_bridge_requests_total{action="InvokeFunction",code="4400"}')
    all=$(awk '/^scf_bridge_requests_total\{/ { s += $NF } END { print s + 0 }' <<<"$m")
    retries=$(awk '/^scf_bridge_throttle_retries_total\{/ { s += $NF } END { print s + 0 }' <<<"$m")
    given=$(awk '/^scf_bridge_throttle_given_up_total\{/ { s += $NF } END { print s + 0 }' <<<"$m")
    recovered=$(metric "$m" 'scf_bridge_throttle_recovered_total')
    calls=$(metric "$m" 'scf_bridge_upstream_requests_total')
    echo "{\"mode\":\"$mode\",\"sync_action\":\"$sync_action\",\"budget_ms\":$budget,\"answers\":$all,\"code_0\":$ok,\"code_4400\":$q,\"throttle_retries\":$retries,\"recovered\":$recovered,\"given_up\":$given,\"scf_calls\":$calls,\"loadgen\":$json}"
    stop "$br"
    stop "$emu"
done
