"""Self-test of validate_manifests.py: it must reject broken manifests.

Takes the renders that scripts/validate-deploy.sh has just made, breaks them
one way at a time, and checks that the validator fails with the expected
message each time, so a check that silently stops checking is caught.

    selftest_validate_manifests.py --render-dir DIR --repo DIR --promql-check BIN --bridge-bin BIN
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import subprocess
import sys
import tempfile

import yaml

RENDERS = {
    "base": "base.yaml",
    "overlays/standalone": "overlays-standalone.yaml",
    "overlays/sidecar": "overlays-sidecar.yaml",
    "overlays/migration": "overlays-migration.yaml",
    "monitoring": "monitoring.yaml",
}


def one(docs, kind):
    return next(d for d in docs if d["kind"] == kind)


def pod(docs):
    return one(docs, "Deployment")["spec"]["template"]["spec"]


def app(docs):
    return pod(docs)["containers"][0]


def sidecar(docs):
    return pod(docs)["initContainers"][0]


def config(docs, edit):
    cm = next(d for d in docs if d["kind"] == "ConfigMap" and "scf-bridge.toml" in (d.get("data") or {}))
    cm["data"]["scf-bridge.toml"] = edit(cm["data"]["scf-bridge.toml"])


def rule(docs, name):
    for g in one(docs, "PrometheusRule")["spec"]["groups"]:
        for r in g["rules"]:
            if r.get("alert") == name or r.get("record") == name:
                return r
    raise KeyError(name)


# (what, which render, how to break it, a regex the FAIL lines must match)
CASES = [
    ("a subPath mount", "overlays/standalone",
     lambda d: app(d)["volumeMounts"][1].__setitem__("subPath", "x"), r"subPath"),
    ("a writable root filesystem", "overlays/standalone",
     lambda d: app(d)["securityContext"].__setitem__("readOnlyRootFilesystem", False), r"readOnlyRootFilesystem"),
    ("an unknown field (strict schema)", "overlays/standalone",
     lambda d: app(d).__setitem__("imagePullPolicyy", "x"), r"not a valid apps/v1 Deployment"),
    ("a Service of a wrong type (schema)", "overlays/standalone",
     lambda d: one(d, "Service")["spec"].__setitem__("ports", "80"), r"not a valid v1 Service"),
    ("a grace period not above drain + deadline", "overlays/standalone",
     lambda d: pod(d).__setitem__("terminationGracePeriodSeconds", 30), r"terminationGracePeriodSeconds"),
    ("a single replica", "overlays/standalone",
     lambda d: one(d, "Deployment")["spec"].__setitem__("replicas", 1), r"replicas must be >= 2"),
    ("no spreading", "overlays/standalone",
     lambda d: pod(d).pop("topologySpreadConstraints"), r"topologySpreadConstraints"),
    ("an exec liveness probe", "overlays/standalone",
     lambda d: app(d).__setitem__("livenessProbe", {"exec": {"command": ["true"]}}), r"must not exec"),
    ("a probe on the data port", "overlays/standalone",
     lambda d: app(d)["readinessProbe"]["httpGet"].__setitem__("port", "http"), r"readinessProbe must be httpGet admin"),
    ("a smaller memory limit", "overlays/standalone",
     lambda d: app(d)["resources"]["limits"].__setitem__("memory", "64Mi"), r"sizing: the formula"),
    ("an unknown configuration key", "overlays/standalone",
     lambda d: config(d, lambda t: t.replace("max_skew_secs", "max_skew_sec")), r"unknown key auth.max_skew_sec"),
    ("the default replay capacity", "overlays/standalone",
     lambda d: config(d, lambda t: re.sub(r"(?m)^replay_capacity.*$", "", t)), r"replay_capacity must be set"),
    ("admin on loopback", "overlays/standalone",
     lambda d: config(d, lambda t: t.replace('listen = "0.0.0.0:9901"', 'listen = "127.0.0.1:9901"')), r"admin.listen"),
    ("a certificate outside any mount", "overlays/standalone",
     lambda d: config(d, lambda t: t.replace('"/var/run/secrets/scf-bridge/tls/tls.crt"', '"/tls.crt"')), r"tls_cert"),
    ("wider egress", "overlays/standalone",
     lambda d: one(d, "NetworkPolicy")["spec"]["egress"].append({"ports": [{"port": 80, "protocol": "TCP"}]}),
     r"egress must be exactly"),
    ("a Service that selects nothing", "overlays/standalone",
     lambda d: one(d, "Service")["spec"]["selector"].__setitem__("app.kubernetes.io/instance", "x"), r"selects no pod"),
    ("a ServiceMonitor on an unnamed port", "overlays/standalone",
     lambda d: one(d, "ServiceMonitor")["spec"]["endpoints"][0].__setitem__("port", "metrics"), r"not a named port"),
    ("a ServiceAccount with a token", "overlays/standalone",
     lambda d: one(d, "ServiceAccount").__setitem__("automountServiceAccountToken", True), r"automountServiceAccountToken"),
    ("a sidecar that is no native sidecar", "overlays/sidecar",
     lambda d: sidecar(d).pop("restartPolicy"), r"native sidecar"),
    ("no hostAliases", "overlays/sidecar",
     lambda d: pod(d).pop("hostAliases"), r"hostAliases"),
    ("port 443 without the sysctl", "overlays/sidecar",
     lambda d: pod(d)["securityContext"].pop("sysctls"), r"ip_unprivileged_port_start"),
    ("an app without the CA", "overlays/sidecar",
     lambda d: app(d).pop("env"), r"SSL_CERT_FILE"),
    ("a sidecar listening beyond loopback", "overlays/sidecar",
     lambda d: config(d, lambda t: t.replace('tls_listen = "127.0.0.1:443"', 'tls_listen = "0.0.0.0:443"')),
     r"must be on 127.0.0.1"),
    ("the migration ServiceMonitor left on production", "overlays/migration",
     lambda d: one(d, "ServiceMonitor")["spec"]["selector"]["matchLabels"].__setitem__(
         "app.kubernetes.io/instance", "scf-bridge"), r"matches no Service"),
    ("the migration without egress to Redis", "overlays/migration",
     lambda d: one(d, "NetworkPolicy")["spec"].__setitem__(
         "egress", [r for r in one(d, "NetworkPolicy")["spec"]["egress"]
                    if all(p.get("port") != 6379 for p in r.get("ports", []))]),
     r"egress must be exactly .*6379"),
    ("a Redis password outside any Secret", "overlays/migration",
     lambda d: config(d, lambda t: t.replace('"/var/run/secrets/scf-bridge/redis/password"', '"/redis-password"')),
     r"redis.password_file /redis-password"),
    ("the Redis address ConfigMap left out", "overlays/migration",
     lambda d: d.remove(next(x for x in d if x["kind"] == "ConfigMap" and "url" in (x.get("data") or {}))),
     r"SCF_BRIDGE__REDIS__URL"),
    ("PromQL of a wrong type", "monitoring",
     lambda d: rule(d, "ScfBridgeRequestsShed").__setitem__("expr", "rate(scf_bridge_requests_shed_total) > 0"),
     r"expected type matrix"),
    ("PromQL that does not parse", "monitoring",
     lambda d: rule(d, "ScfBridgeRequestsShed").__setitem__("expr", "sum(rate(scf_bridge_requests_shed_total[5m]) > 0"),
     r"rule ScfBridgeRequestsShed:"),
    ("a metric the bridge does not export", "monitoring",
     lambda d: rule(d, "ScfBridgeRequestsShed").__setitem__("expr", "sum(rate(scf_bridge_request_shed_total[5m])) > 0"),
     r"not one the bridge exports"),
    ("grouping by a label the metric lacks", "monitoring",
     lambda d: rule(d, "ScfBridgeRequestsShed").__setitem__(
         "expr", "sum by (namespace, reused) (rate(scf_bridge_upstream_connections_total[5m])) > 0"),
     r"groups by 'reused'"),
    ("matching on a label the metric lacks", "monitoring",
     lambda d: rule(d, "ScfBridgeRequestsShed").__setitem__(
         "expr", 'sum(rate(scf_bridge_requests_total{status="0"}[5m])) > 0'),
     r"has no label 'status'"),
    ("a configuration value the binary rejects", "overlays/sidecar",
     lambda d: config(d, lambda t: t.replace('format = "json"', 'format = "yaml"')),
     r"check-config rejects it"),
    ("an alert without severity", "monitoring",
     lambda d: rule(d, "ScfBridgeRequestsShed").pop("labels"), r"needs labels.severity"),
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--render-dir", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--promql-check", required=True)
    ap.add_argument("--bridge-bin", required=True)
    args = ap.parse_args()
    validator = os.path.join(os.path.dirname(os.path.abspath(__file__)), "validate_manifests.py")
    originals = {}
    for name, f in RENDERS.items():
        with open(os.path.join(args.render_dir, f), encoding="utf-8") as fh:
            originals[name] = [d for d in yaml.safe_load_all(fh) if d]
    missed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for what, target, breaker, expect in CASES:
            docs = copy.deepcopy(originals[target])
            breaker(docs)
            broken = os.path.join(tmp, RENDERS[target])
            with open(broken, "w", encoding="utf-8") as fh:
                yaml.safe_dump_all(docs, fh)
            cmd = [sys.executable, validator, "--repo", args.repo, "--promql-check", args.promql_check,
                   "--bridge-bin", args.bridge_bin]
            for name, f in RENDERS.items():
                cmd += ["--rendered", f"{name}={broken if name == target else os.path.join(args.render_dir, f)}"]
            res = subprocess.run(cmd, capture_output=True, text=True)
            fails = [line for line in res.stdout.splitlines() if line.startswith("FAIL")]
            caught = res.returncode == 1 and any(re.search(expect, line) for line in fails)
            missed += not caught
            print(f"{'caught' if caught else 'MISSED'}: {what} ({target})")
            if not caught:
                print("  validator said:\n    " + "\n    ".join(fails or res.stdout.splitlines()[-5:]))
    print(f"validator self-test: {len(CASES) - missed} of {len(CASES)} breakages caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
