# Shared pieces of the A/B benchmark scripts (quick.sh, instructions.sh,
# variants.sh, big_ab.sh). Sourced, not run. The caller sets BENCH (this
# folder), RUN (a scratch folder, emptied by start_upstream), UP, BR, AD (the
# upstream's, the bridge's and its admin port) and ID, KEY (the one client
# key pair the benchmark signs with).

# Everything started with its PID in PIDS is stopped on exit.
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# waitport PORT [TRIES]: until something listens on 127.0.0.1:PORT (50 ms apart).
waitport() { for _ in $(seq "${2:-200}"); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; exit 1; }
# freeport PORT: until nothing listens there any more.
freeport() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || return 0; sleep 0.05; done; exit 1; }
# ticks PID: the process's user + system CPU time, in clock ticks.
ticks() { local f; f=$(cat "/proc/$1/stat"); f=${f##*) }; set -- $f; echo $((${12} + ${13})); }
# kib PID FIELD: a /proc/PID/status memory field (VmRSS, VmHWM), KiB.
kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

# start_upstream WORKERS: the canned SCF 3.0 upstream (nginx) on $UP.
start_upstream() {
    rm -rf "$RUN"; mkdir -p "$RUN"/upstream-{body,proxy,fastcgi,uwsgi,scgi}
    sed -e "s#@RUN@#$RUN#g" -e "s#@UPSTREAM_PORT@#$UP#g" -e "s#@WORKERS@#$1#g" \
        "$BENCH/nginx/upstream.conf.in" >"$RUN/upstream.conf"
    "$(command -v nginx || echo /usr/sbin/nginx)" -c "$RUN/upstream.conf" -p "$RUN" &
    PIDS+=($!)
    waitport "$UP"
}

# bridge_config FILE [LOG_FILTER]: verification on with the one client key,
# the canned upstream, JSON logs (filter `info` unless given).
bridge_config() {
    cat >"$1" <<TOML
[server]
listen = "127.0.0.1:$BR"
[upstream]
endpoint = "http://127.0.0.1:$UP"
[auth]
mode = "verify"
# The load is signed before the bridge starts; by default a bridge refuses
# Timestamps from before its own start (a restart forgets its replay memory).
restart_grace_secs = 3600
[[auth.clients]]
secret_id = "$ID"
secret_key = "$KEY"
[admin]
listen = "127.0.0.1:$AD"
[log]
format = "json"
filter = "${2:-info}"
TOML
}
