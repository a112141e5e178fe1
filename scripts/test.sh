#!/usr/bin/env bash
# THE test command of scf-bridge (CI runs exactly this through .ci/run).
#   ./scripts/test.sh                 # everything
#   ./scripts/test.sh -k legacy -x    # extra args go to pytest (the Rust stages still run)
# Needs only a Rust toolchain (with rustfmt + clippy) and Python >= 3.11 with venv/pip.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$PWD

stage() { printf '\n\033[1m===== [%s] %s =====\033[0m\n' "$(date +%H:%M:%S)" "$*"; }

# The run must leave tracked files alone: remember what git sees now, compare
# at the end (stage 9). A fresh clone starts clean and must end clean.
GIT_BEFORE=""
IN_GIT=0
if command -v git >/dev/null 2>&1 && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  IN_GIT=1
  GIT_BEFORE=$(git status --porcelain)
fi

stage "1/9 cargo fmt --check (crate and fuzz targets)"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml --all -- --check

stage "2/9 cargo clippy (all targets, -D warnings)"
cargo clippy --all-targets -- -D warnings

stage "3/9 cargo test (all targets + doc tests)"
cargo test --all-targets
if [ -f src/lib.rs ]; then
  cargo test --doc
fi

stage "4/9 cargo build --bin scf-bridge"
cargo build --bin scf-bridge
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export SCF_BRIDGE_BIN="$TARGET_DIR/debug/scf-bridge"
[ -x "$SCF_BRIDGE_BIN" ] || { echo "error: $SCF_BRIDGE_BIN was not built" >&2; exit 1; }

stage "5/9 fuzz: a short bounded run of every target (docs/fuzzing.md)"
./scripts/fuzz.sh "${FUZZ_SECONDS:-30}"

stage "6/9 deploy/: render and validate every overlay, smoke-run each configuration"
./scripts/validate-deploy.sh

stage "7/9 client environments (Python: $TARGET_DIR/pyenv, Node: $TARGET_DIR/node)"
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
      PYTHON=$candidate
      break
    fi
  done
fi
[ -n "$PYTHON" ] || { echo "error: Python >= 3.11 not found (set PYTHON=...)" >&2; exit 1; }
VENV="$TARGET_DIR/pyenv"
REQS="$REPO_ROOT/tests/clients/requirements.txt"
if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  echo "creating venv with $("$PYTHON" --version)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi
# Re-install only when requirements.txt changed (fast, idempotent re-runs).
STAMP="$VENV/.requirements.sha256"
WANT=$(sha256sum "$REQS" | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]; then
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$REQS"
  echo "$WANT" >"$STAMP"
else
  echo "requirements unchanged; venv up to date"
fi
"$VENV/bin/python" -m pip --disable-pip-version-check list 2>/dev/null \
  | grep -Ei '^(qcloudapi-sdk-python|tencentcloud-sdk-python-(common|scf)|pytest) ' || true

# The shared-Redis tests run Debian's redis-server, unpacked under target/tools.
./scripts/redis.sh install
# The unmodified legacy Node SDK from the npm registry (tests/clients/test_node_sdk.py).
NODE_SDK=qcloudapi-sdk@0.2.1
NODE_DIR="$TARGET_DIR/node"
command -v node >/dev/null 2>&1 || { echo "error: node not found: the Node SDK tests need it" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "error: npm not found: it installs $NODE_SDK" >&2; exit 1; }
if [ "$(node -p "require('$NODE_DIR/node_modules/qcloudapi-sdk/package.json').version" 2>/dev/null || true)" != "${NODE_SDK#*@}" ]; then
  mkdir -p "$NODE_DIR"
  npm install --prefix "$NODE_DIR" --no-save --no-audit --no-fund --silent "$NODE_SDK"
else
  echo "$NODE_SDK already in $NODE_DIR"
fi
export SCF_NODE_MODULES="$NODE_DIR/node_modules"

stage "8/9 pytest tests/clients (real SDKs, real processes; SCF_BRIDGE_BIN=$SCF_BRIDGE_BIN)"
"$VENV/bin/python" -m pytest tests/clients -o cache_dir="$TARGET_DIR/pytest-cache" "$@"

stage "9/9 the run left tracked files alone (git status --porcelain)"
if [ "$IN_GIT" = 1 ]; then
  GIT_AFTER=$(git status --porcelain)
  if [ "$GIT_AFTER" != "$GIT_BEFORE" ]; then
    echo "error: the test run changed the checkout (git status --porcelain):" >&2
    diff <(printf '%s\n' "$GIT_BEFORE") <(printf '%s\n' "$GIT_AFTER") >&2 || true
    exit 1
  fi
  if [ -z "$GIT_AFTER" ]; then
    echo "git status --porcelain: clean"
  else
    echo "git status --porcelain: unchanged by the run (the checkout had local changes before it)"
  fi
else
  echo "not a git checkout: nothing to compare"
fi

stage "all stages passed"
