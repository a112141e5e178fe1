#!/usr/bin/env bash
# Fuzz the bridge's input parsers with cargo-fuzz (libFuzzer + AddressSanitizer)
# on the stable toolchain.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 30: the short, bounded run CI makes). TARGETs
# default to every target in fuzz/fuzz_targets. FUZZ_PARALLEL=1 runs the
# targets at the same time (one core each) instead of one after the other.
# Installs cargo-fuzz, if no cargo-fuzz of the pinned version is on PATH,
# under the checkout (cargo install --root target/tools; never ~/.cargo).
# Builds against the committed fuzz/Cargo.lock and fails if that is stale
# rather than rewriting it. Runs each target from its
# committed seeds (fuzz/seeds/<target>) plus the corpus kept between runs
# (fuzz/corpus/<target>, not committed), and fails if any target crashes;
# the crashing input is left in fuzz/artifacts/<target>/. Logs, with
# libFuzzer's final statistics, go to fuzz/logs/<target>.log.
set -euo pipefail

seconds="${1:-30}"
shift || true
case "$seconds" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS] [TARGET...]" >&2
    exit 2
    ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"

# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, -Cpasses=sancov-module,
# cargo -Z options). Only the stable toolchain exists here; RUSTC_BOOTSTRAP=1 lets
# it accept them. See docs/fuzzing.md.
export RUSTC_BOOTSTRAP=1
CARGO_FUZZ_VERSION="0.13.2"

TOOLS="$root/target/tools"
export PATH="$TOOLS/bin:$PATH"
if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io into ${TOOLS#"$root"/}"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --root "$TOOLS"
fi

# The fuzz crate is its own workspace with its own committed lock file; a
# build must not rewrite it (the test run leaves tracked files alone).
if ! cargo metadata --locked --format-version 1 --manifest-path "$root/fuzz/Cargo.toml" >/dev/null 2>&1; then
    echo "fuzz/Cargo.lock is out of date with Cargo.toml/Cargo.lock: run" >&2
    echo "  cargo metadata --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null" >&2
    echo "and commit fuzz/Cargo.lock" >&2
    exit 1
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${targets[*]}"
cargo fuzz build

mkdir -p logs
run_one() {
    local t="$1"
    mkdir -p "corpus/$t" "seeds/$t" "artifacts/$t"
    # New inputs go to the first directory (the kept corpus), never to seeds.
    cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" \
        -timeout=10 \
        -rss_limit_mb=2048 \
        -print_final_stats=1 \
        >"logs/$t.log" 2>&1
}

declare -A status
if [ "${FUZZ_PARALLEL:-0}" = 1 ]; then
    declare -A pids
    for t in "${targets[@]}"; do
        echo "== fuzzing $t for ${seconds}s (in parallel)"
        run_one "$t" &
        pids[$t]=$!
    done
    for t in "${targets[@]}"; do
        if wait "${pids[$t]}"; then status[$t]=0; else status[$t]=$?; fi
    done
else
    for t in "${targets[@]}"; do
        echo "== fuzzing $t for ${seconds}s"
        if run_one "$t"; then status[$t]=0; else status[$t]=$?; fi
    done
fi

failed=0
for t in "${targets[@]}"; do
    log="logs/$t.log"
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)"
    cov="$(grep -E '^#[0-9]+.*cov:' "$log" | tail -1 | sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [^ ]+).*/\1/' || true)"
    corpus="$(find "corpus/$t" -type f | wc -l)"
    if [ "${status[$t]}" = 0 ]; then
        echo "ok      $t: ${runs:-?} executions, corpus $corpus files; ${cov:-}"
    else
        failed=1
        echo "CRASHED $t (exit ${status[$t]}); log fuzz/$log:"
        grep -E 'panicked at|ERROR: (libFuzzer|AddressSanitizer)|Test unit written to' "$log" | head -n 5 || tail -n 30 "$log"
    fi
done
exit "$failed"
