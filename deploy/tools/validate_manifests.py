"""Validate scf-bridge's rendered Kubernetes manifests and monitoring files.

Called by scripts/validate-deploy.sh (which renders the overlays and builds
the tools); run it through that script rather than by hand.

    validate_manifests.py --rendered NAME=FILE ... --repo DIR --promql-check BIN

Checks, each failure printed as `FAIL ...` and counted:

* every object: parses, has apiVersion/kind/metadata.name, no duplicates;
* core kinds: strict JSON-schema validation (kubernetes-validate) against the
  oldest supported Kubernetes (1.29: native sidecars on by default) and the
  newest schema the package carries; a core kind without a schema fails;
* custom resources (ServiceMonitor, PrometheusRule): their required fields;
* the project's conventions: restricted securityContext, resources, probes
  on the admin port, no subPath, grace period above drain + deadline, native
  sidecar shape, selectors that select, NetworkPolicy egress, the memory
  sizing formula against the limit;
* the bridge's TOML in every ConfigMap: parses, only known keys, paths that
  the pod mounts; migration = standalone + upstream.mode = "dry-run" + the
  shared Redis (auth.replay_store, [redis]); a Redis password file inside a
  mounted Secret and egress to Redis exactly when a configuration uses it;
* PromQL in the alert rules and the dashboard: parsed and type-checked by
  promql-check; every metric name, and every label matched or grouped by,
  one that src/metrics.rs records (or Prometheus adds to a scraped target);
* with --bridge-bin, every rendered configuration through the real binary's
  `scf-bridge check-config` (which rejects unknown keys and bad values).
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib

import yaml
import kubernetes_validate
from kubernetes_validate import utils as kv_utils

# kubernetes-validate re-reads its (large) schema files for every object;
# they never change within a run.
kv_utils.schema_contents = functools.lru_cache(maxsize=None)(kv_utils.schema_contents)

# Oldest Kubernetes the manifests support (native sidecars beta and on by
# default), and the newest the installed kubernetes-validate knows.
K8S_VERSIONS = ["1.29.0", kv_utils.latest_version()]

CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
}

BRIDGE_CONTAINER = "scf-bridge"
ADMIN_PORT = 9901
MIB = 1024 * 1024

# Every configuration key of the binary (its sections deny unknown fields, so
# a typo here would stop the pod at start-up). Source: README.md and the
# deployment contract.
KNOWN_KEYS = {
    "server": {"listen", "tls_listen", "tls_cert", "tls_key", "max_body_bytes",
               "max_uri_bytes", "max_header_bytes",
               "header_read_timeout_ms", "keepalive_idle_timeout_ms",
               "body_read_timeout_ms", "max_in_flight",
               "max_buffered_bytes", "drain_delay_secs", "shutdown_deadline_secs",
               "max_params", "max_headers", "max_connections",
               "min_body_rate_bytes_per_sec", "body_rate_grace_ms",
               "offload_threshold_bytes"},
    "admin": {"listen"},
    "upstream": {"endpoint", "region", "timeout_secs", "connect_timeout_ms",
                 "pool_idle_timeout_secs", "pool_max_idle_per_host", "connect_retries",
                 "ca_file", "mode", "sync_action", "throttle_retry_budget_ms",
                 "allow_embedded_off_loopback"},
    "credentials": {"secret_id", "secret_key", "token"},
    "auth": {"mode", "allow_unauthenticated", "signing_hosts", "max_skew_secs",
             "replay_capacity", "clients", "clients_dir", "clients_dir_upstream",
             "reload_interval_ms", "restart_grace_secs", "replay_client_share_percent",
             "replay_store"},
    "log": {"filter", "format"},
    "metrics": {"function_label"},
    "redis": {"url", "username", "password_file", "ca_file", "key_prefix", "timeout_ms",
              "connect_timeout_ms", "pool_size", "on_error", "expiry_margin_secs",
              "rate_limits", "rate_limit_share", "rate_limit_wait_ms", "action_limits"},
    "legacy": {"documented_aliases"},
}
# The port the NetworkPolicy opens towards Redis when a configuration uses it.
REDIS_PORT = 6379
# Built-in defaults the sizing check falls back to.
DEFAULTS = {
    ("server", "max_body_bytes"): 20 * MIB,
    ("server", "max_params"): 256,
    ("server", "max_connections"): 4096,
    ("server", "drain_delay_secs"): 5,
    ("server", "shutdown_deadline_secs"): 25,
    ("auth", "max_skew_secs"): 300,
}

# Metric names of the deployment contract; each must also be in
# src/metrics.rs, which is read for the exported names and their labels.
CONTRACT_METRICS = {
    "scf_bridge_requests_total", "scf_bridge_request_duration_seconds",
    "scf_bridge_upstream_duration_seconds", "scf_bridge_upstream_errors_total",
    "scf_bridge_scf_errors_total", "scf_bridge_requests_in_flight",
    "scf_bridge_requests_shed_total", "scf_bridge_replay_entries",
    "scf_bridge_replay_capacity", "scf_bridge_reloads_total",
    "scf_bridge_upstream_connections_total", "scf_bridge_build_info",
    "scf_bridge_throttle_retries_total", "scf_bridge_throttle_recovered_total",
    "scf_bridge_throttle_given_up_total", "scf_bridge_invoke_function_fallbacks_total",
    "scf_bridge_client_closed_total", "scf_bridge_unwaited_calls",
}
# Labels Prometheus adds to every series scraped through a ServiceMonitor.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "endpoint", "container"}

RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


class Report:
    def __init__(self) -> None:
        self.failures = 0
        self.checks = 0

    def ok(self, cond: bool, where: str, msg: str) -> bool:
        self.checks += 1
        if not cond:
            self.failures += 1
            print(f"FAIL [{where}] {msg}")
        return cond

    def fail(self, where: str, msg: str) -> None:
        self.ok(False, where, msg)

    @staticmethod
    def note(where: str, msg: str) -> None:
        print(f"note [{where}] {msg}")


R = Report()


def load_docs(path: str, where: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except yaml.YAMLError as e:
        R.fail(where, f"{path}: YAML does not parse: {e}")
        return []
    for d in docs:
        R.ok(isinstance(d, dict) and d.get("apiVersion") and d.get("kind")
             and isinstance(d.get("metadata"), dict) and d["metadata"].get("name"),
             where, f"{path}: an object without apiVersion/kind/metadata.name: {str(d)[:80]}")
    return [d for d in docs if isinstance(d, dict)]


def kn(d: dict) -> str:
    return f"{d.get('kind')}/{d.get('metadata', {}).get('name')}"


# ---------------------------------------------------------------- schemas --

def validate_schema(docs: list[dict], where: str) -> None:
    seen = set()
    for d in docs:
        key = (d.get("kind"), d.get("metadata", {}).get("name"))
        R.ok(key not in seen, where, f"duplicate object {kn(d)}")
        seen.add(key)
        if (d.get("apiVersion"), d.get("kind")) in CRD_KINDS:
            validate_crd(d, where)
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(d, version, strict=True)
                R.ok(True, where, "")
            except kv_utils.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                R.fail(where, f"{kn(d)} is not a valid {d['apiVersion']} {d['kind']} "
                              f"for Kubernetes {e.version}: {path}: {e.message}")
            except kv_utils.SchemaNotFoundError as e:
                R.fail(where, f"{kn(d)}: {e.message} (not a known custom resource either)")
    print(f"  {where}: {len(docs)} objects schema-checked against Kubernetes "
          f"{', '.join(K8S_VERSIONS)} (strict)")


def need(d: dict, path: str, where: str, typ=None):
    cur = d
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            R.fail(where, f"{kn(d)}: missing {path}")
            return None
        cur = cur[part]
    if typ is not None and not isinstance(cur, typ):
        R.fail(where, f"{kn(d)}: {path} must be a {typ.__name__}")
        return None
    R.ok(True, where, "")
    return cur


DURATION = re.compile(r"^((\d+)(ms|s|m|h|d|w|y))+$")


def validate_crd(d: dict, where: str) -> None:
    kind = d["kind"]
    if kind == "ServiceMonitor":
        need(d, "spec.selector", where, dict)
        eps = need(d, "spec.endpoints", where, list) or []
        R.ok(len(eps) > 0, where, f"{kn(d)}: no endpoints")
        for ep in eps:
            R.ok(isinstance(ep, dict) and ("port" in ep or "targetPort" in ep), where,
                 f"{kn(d)}: an endpoint names no port")
            for k in ("interval", "scrapeTimeout"):
                if k in ep:
                    R.ok(bool(DURATION.match(str(ep[k]))), where, f"{kn(d)}: {k} {ep[k]!r} is no duration")
    elif kind == "PodMonitor":
        need(d, "spec.selector", where, dict)
        need(d, "spec.podMetricsEndpoints", where, list)
    elif kind == "PrometheusRule":
        groups = need(d, "spec.groups", where, list) or []
        names = set()
        for g in groups:
            gname = g.get("name") if isinstance(g, dict) else None
            R.ok(isinstance(gname, str) and gname, where, f"{kn(d)}: a group without a name")
            R.ok(gname not in names, where, f"{kn(d)}: duplicate group {gname}")
            names.add(gname)
            rules = g.get("rules") if isinstance(g, dict) else None
            if not R.ok(isinstance(rules, list) and rules, where, f"{kn(d)}: group {gname} has no rules"):
                continue
            for r in rules:
                label = r.get("alert") or r.get("record")
                R.ok(("alert" in r) != ("record" in r), where,
                     f"{kn(d)}: rule {label} must have exactly one of alert and record")
                R.ok(isinstance(r.get("expr"), str) and r["expr"].strip(), where,
                     f"{kn(d)}: rule {label} has no expr")
                extra = set(r) - {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
                R.ok(not extra, where, f"{kn(d)}: rule {label} has unknown fields {sorted(extra)}")
                if "for" in r:
                    R.ok(bool(DURATION.match(str(r["for"]))), where, f"{kn(d)}: rule {label}: for {r['for']!r}")
                if "alert" in r:
                    R.ok(r.get("labels", {}).get("severity") in ("critical", "warning", "info"), where,
                         f"{kn(d)}: alert {label} needs labels.severity")
                    R.ok(bool(r.get("annotations", {}).get("summary")), where,
                         f"{kn(d)}: alert {label} needs annotations.summary")
                if "record" in r:
                    R.ok(bool(re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", r["record"])), where,
                         f"{kn(d)}: record name {r['record']!r}")


# ------------------------------------------------------------ conventions --

def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def selects(selector: dict | None, labels: dict) -> bool:
    if not selector:
        return False
    return all(labels.get(k) == v for k, v in selector.items())


def port_number(container: dict, port) -> int | None:
    if isinstance(port, int):
        return port
    for p in container.get("ports", []) or []:
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def listen_port(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def check_security(c: dict, pod_sc: dict, where: str, bridge: bool) -> None:
    sc = c.get("securityContext") or {}
    name = c.get("name")
    for k, v in RESTRICTED.items():
        R.ok(sc.get(k) == v, where, f"container {name}: securityContext.{k} must be {json.dumps(v)}")
    R.ok(sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, where,
         f"container {name}: runAsNonRoot must be true")
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    R.ok(seccomp == "RuntimeDefault", where, f"container {name}: seccompProfile must be RuntimeDefault")
    if bridge:
        R.ok(sc.get("runAsUser", pod_sc.get("runAsUser")) == 65532, where,
             f"container {name}: runAsUser must be 65532 (distroless nonroot)")


def check_bridge_container(c: dict, where: str) -> None:
    res = c.get("resources") or {}
    R.ok(res.get("requests") == {"cpu": "50m", "memory": "32Mi"}, where,
         f"{BRIDGE_CONTAINER}: requests must be cpu 50m, memory 32Mi (got {res.get('requests')})")
    R.ok((res.get("limits") or {}).get("memory") == "128Mi", where,
         f"{BRIDGE_CONTAINER}: memory limit must be 128Mi")
    R.ok(port_number(c, "admin") == ADMIN_PORT, where,
         f"{BRIDGE_CONTAINER}: must declare port `admin` = {ADMIN_PORT}")

    def probe_ok(p: dict | None, path: str) -> bool:
        g = (p or {}).get("httpGet") or {}
        return g.get("path") == path and port_number(c, g.get("port")) == ADMIN_PORT

    R.ok(probe_ok(c.get("startupProbe"), "/ready") or probe_ok(c.get("readinessProbe"), "/ready"),
         where, f"{BRIDGE_CONTAINER}: needs an httpGet startup or readiness probe on admin /ready")
    if c.get("readinessProbe"):
        R.ok(probe_ok(c.get("readinessProbe"), "/ready"), where,
             f"{BRIDGE_CONTAINER}: readinessProbe must be httpGet admin /ready")
    R.ok(probe_ok(c.get("livenessProbe"), "/live"), where,
         f"{BRIDGE_CONTAINER}: livenessProbe must be httpGet admin /live")
    for p in ("startupProbe", "readinessProbe", "livenessProbe"):
        R.ok("exec" not in (c.get(p) or {}), where, f"{BRIDGE_CONTAINER}: {p} must not exec (no shell)")


def bridge_config(pod: dict, c: dict, configmaps: dict, where: str) -> tuple[dict | None, dict]:
    """The TOML the bridge container reads, and its mounts {mountPath: volume}."""
    volumes = {v["name"]: v for v in pod.get("volumes", []) or []}
    mounts = {m["mountPath"].rstrip("/"): volumes.get(m["name"], {}) for m in c.get("volumeMounts", []) or []}
    args = c.get("args") or []
    cfg_path = None
    if "--config" in args and args.index("--config") + 1 < len(args):
        cfg_path = args[args.index("--config") + 1]
    for e in c.get("env", []) or []:
        if e.get("name") == "SCF_BRIDGE_CONFIG":
            cfg_path = e.get("value")
    if not R.ok(cfg_path is not None, where, f"{BRIDGE_CONTAINER}: no --config (or SCF_BRIDGE_CONFIG)"):
        return None, mounts
    d, _, fname = cfg_path.rpartition("/")
    vol = mounts.get(d)
    if not R.ok(vol is not None and "configMap" in vol, where,
                f"{BRIDGE_CONTAINER}: {cfg_path} is not in a mounted ConfigMap"):
        return None, mounts
    cm = configmaps.get(vol["configMap"]["name"])
    if not R.ok(cm is not None and fname in (cm.get("data") or {}), where,
                f"{BRIDGE_CONTAINER}: ConfigMap {vol['configMap']['name']} with key {fname} is not in the render"):
        return None, mounts
    try:
        return tomllib.loads(cm["data"][fname]), mounts
    except tomllib.TOMLDecodeError as e:
        R.fail(where, f"ConfigMap {cm['metadata']['name']}/{fname}: TOML does not parse: {e}")
        return None, mounts


def get(cfg: dict, section: str, key: str):
    return (cfg.get(section) or {}).get(key, DEFAULTS.get((section, key)))


def check_toml_keys(cfg: dict, where: str) -> None:
    for section, table in cfg.items():
        if not R.ok(section in KNOWN_KEYS and isinstance(table, dict), where,
                    f"config: unknown section [{section}]"):
            continue
        for key in table:
            R.ok(key in KNOWN_KEYS[section], where, f"config: unknown key {section}.{key}")


def memory_estimate(cfg: dict) -> float:
    """The sizing formula of docs/operations.md, in bytes, with room for one
    largest (16 MiB) SCF answer in flight."""
    in_flight = get(cfg, "server", "max_in_flight")
    body = get(cfg, "server", "max_body_bytes")
    buffered = get(cfg, "server", "max_buffered_bytes")
    replay = get(cfg, "auth", "replay_capacity")
    params = get(cfg, "server", "max_params")
    connections = get(cfg, "server", "max_connections")
    # The budget counts each body and its decoding (decoded text + 80 B per
    # parameter); the 3.0 JSON is made after the raw body is freed; half
    # again for JSON escaping and allocator slack.
    bodies = 1.5 * min(in_flight * (2 * body + params * 80), buffered)
    return (10 * MIB + bodies + in_flight * 64 * 1024 + connections * 26 * 1024
            + replay * 24 + 2 * MIB + 16 * MIB)


def parse_quantity(q: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}
    for u, m in units.items():
        if q.endswith(u):
            return int(float(q[: -len(u)]) * m)
    return int(q)


def check_bridge_pod(owner: dict, pod: dict, c: dict, sidecar: bool, configmaps: dict, where: str) -> None:
    cfg, mounts = bridge_config(pod, c, configmaps, where)
    if cfg is None:
        return
    check_toml_keys(cfg, where)
    for key in ("max_in_flight", "max_buffered_bytes", "max_connections"):
        R.ok(get(cfg, "server", key) is not None, where,
             f"config: server.{key} must be set explicitly (the sizing depends on it)")
    R.ok(get(cfg, "auth", "replay_capacity") is not None, where,
         "config: auth.replay_capacity must be set (the default, 6,000,000, does not fit 128Mi)")
    if None not in (get(cfg, "server", "max_in_flight"), get(cfg, "server", "max_buffered_bytes"),
                    get(cfg, "auth", "replay_capacity")):
        est = memory_estimate(cfg)
        limit = parse_quantity((c.get("resources") or {}).get("limits", {}).get("memory", "0"))
        R.ok(est <= limit, where, f"sizing: the formula gives {est / MIB:.0f} MiB, above the {limit / MIB:.0f} MiB limit")
        largest = 2 * get(cfg, "server", "max_body_bytes") + get(cfg, "server", "max_params") * 80
        R.ok(get(cfg, "server", "max_buffered_bytes") >= largest, where,
             "config: server.max_buffered_bytes must hold a largest body and its decoding "
             "(2 x server.max_body_bytes + 80 B x server.max_params)")
        print(f"  {where}: sizing formula {est / MIB:.0f} MiB (with one 16 MiB answer) "
              f"of the {limit / MIB:.0f} MiB limit")

    drain = get(cfg, "server", "drain_delay_secs")
    deadline = get(cfg, "server", "shutdown_deadline_secs")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    R.ok(grace > drain + deadline, where,
         f"terminationGracePeriodSeconds {grace} must exceed drain_delay_secs + shutdown_deadline_secs = {drain + deadline}")

    admin = get(cfg, "admin", "listen") or "127.0.0.1:9901"
    host, port = listen_port(admin)
    R.ok(host in ("0.0.0.0", "::") and port == ADMIN_PORT, where,
         f"config: admin.listen must be 0.0.0.0:{ADMIN_PORT} for the kubelet's probes (got {admin})")

    low_port = False
    for key in ("listen", "tls_listen"):
        addr = get(cfg, "server", key)
        if not addr:
            continue
        host, port = listen_port(addr)
        low_port |= port < 1024
        if sidecar:
            R.ok(host == "127.0.0.1", where, f"config: sidecar server.{key} must be on 127.0.0.1 (got {addr})")
        else:
            R.ok(any(p.get("containerPort") == port for p in c.get("ports", []) or []), where,
                 f"config: server.{key} port {port} is not a declared containerPort")
    if low_port:
        sysctls = {s["name"]: s["value"] for s in (pod.get("securityContext") or {}).get("sysctls", []) or []}
        R.ok(sysctls.get("net.ipv4.ip_unprivileged_port_start") == "0", where,
             "a listener below 1024 as non-root needs the pod sysctl net.ipv4.ip_unprivileged_port_start=0")

    def mounted(path: str, kind: str) -> bool:
        return any(path.startswith(mp + "/") and kind in vol for mp, vol in mounts.items())

    for key, kind in (("tls_cert", "secret"), ("tls_key", "secret")):
        p = get(cfg, "server", key)
        if p:
            R.ok(mounted(p, kind), where, f"config: server.{key} {p} is not inside a mounted Secret")
    if uses_redis(cfg):
        pw = get(cfg, "redis", "password_file")
        R.ok(bool(pw) and mounted(pw, "secret"), where,
             f"config: redis.password_file {pw} must be inside a mounted Secret")
        url = get(cfg, "redis", "url") or pod_env(c, configmaps).get("SCF_BRIDGE__REDIS__URL")
        R.ok(bool(url), where, "config: the shared Redis needs redis.url (or SCF_BRIDGE__REDIS__URL from a ConfigMap)")
    cd = get(cfg, "auth", "clients_dir")
    if cd:
        R.ok(any(cd.rstrip("/") == mp and "secret" in vol for mp, vol in mounts.items()), where,
             f"config: auth.clients_dir {cd} must be a Secret mounted as that directory")
    if get(cfg, "server", "tls_listen"):
        R.ok(bool(get(cfg, "server", "tls_cert")) and bool(get(cfg, "server", "tls_key")), where,
             "config: tls_listen needs tls_cert and tls_key")

    if sidecar:
        R.ok(c.get("restartPolicy") == "Always", where,
             f"{BRIDGE_CONTAINER} must be a native sidecar (initContainers, restartPolicy: Always)")
        aliases = {(a.get("ip"), h) for a in pod.get("hostAliases", []) or [] for h in a.get("hostnames", [])}
        R.ok(("127.0.0.1", "scf.api.qcloud.com") in aliases, where,
             "hostAliases must map scf.api.qcloud.com to 127.0.0.1")
        if get(cfg, "server", "tls_listen"):
            for app in pod.get("containers", []):
                env = {e["name"]: e.get("value") for e in app.get("env", []) or []}
                ca = env.get("SSL_CERT_FILE")
                app_mounts = [m["mountPath"].rstrip("/") for m in app.get("volumeMounts", []) or []]
                R.ok(bool(ca) and any(ca.startswith(mp + "/") for mp in app_mounts), where,
                     f"app container {app.get('name')}: SSL_CERT_FILE must point into a mounted CA")
    else:
        R.ok(owner.get("spec", {}).get("replicas", 1) >= 2, where, f"{kn(owner)}: replicas must be >= 2")
        labels = pod_labels(owner)
        spread = [t for t in pod.get("topologySpreadConstraints", []) or []
                  if selects((t.get("labelSelector") or {}).get("matchLabels"), labels)]
        anti = (pod.get("affinity") or {}).get("podAntiAffinity")
        R.ok(bool(spread) or bool(anti), where,
             f"{kn(owner)}: needs topologySpreadConstraints (selecting its own pods) or podAntiAffinity")


def uses_redis(cfg: dict) -> bool:
    return get(cfg, "auth", "replay_store") == "redis" or get(cfg, "redis", "rate_limits") is True


def pod_env(c: dict, configmaps: dict) -> dict[str, str]:
    """The container's SCF_BRIDGE__* variables: literal, or from a rendered ConfigMap."""
    out = {}
    for e in c.get("env", []) or []:
        name = e.get("name", "")
        if not name.startswith("SCF_BRIDGE__"):
            continue
        if "value" in e:
            out[name] = e["value"]
        ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
        if ref:
            value = ((configmaps.get(ref.get("name")) or {}).get("data") or {}).get(ref.get("key"))
            if R.ok(value is not None, BRIDGE_CONTAINER,
                    f"env {name}: ConfigMap {ref.get('name')} key {ref.get('key')} is not in the render"):
                out[name] = value
    return out


def render_uses_redis(docs: list[dict]) -> bool:
    for cm in by_kind(docs, "ConfigMap"):
        text = (cm.get("data") or {}).get("scf-bridge.toml")
        if text is not None:
            try:
                if uses_redis(tomllib.loads(text)):
                    return True
            except tomllib.TOMLDecodeError:
                pass
    return False


def pod_labels(workload: dict) -> dict:
    return ((workload.get("spec", {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def check_conventions(docs: list[dict], where: str) -> None:
    configmaps = {d["metadata"]["name"]: d for d in by_kind(docs, "ConfigMap")}
    workloads = [d for d in docs if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job")]
    bridges = 0
    for w in workloads:
        pod = w["spec"]["template"]["spec"]
        wwhere = f"{where} {kn(w)}"
        pod_sc = pod.get("securityContext") or {}
        R.ok(pod_sc.get("runAsNonRoot") is True, wwhere, "pod securityContext.runAsNonRoot must be true")
        R.ok((pod_sc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", wwhere,
             "pod seccompProfile must be RuntimeDefault")
        all_containers = [(c, True) for c in pod.get("initContainers", []) or []] + \
                         [(c, False) for c in pod.get("containers", []) or []]
        for c, is_init in all_containers:
            bridge = c.get("name") == BRIDGE_CONTAINER
            check_security(c, pod_sc, wwhere, bridge)
            for m in c.get("volumeMounts", []) or []:
                R.ok("subPath" not in m and "subPathExpr" not in m, wwhere,
                     f"container {c.get('name')}: volumeMount {m.get('name')} uses subPath (mount directories)")
            if bridge:
                bridges += 1
                check_bridge_container(c, wwhere)
                check_bridge_pod(w, pod, c, is_init, configmaps, wwhere)
        sa = pod.get("serviceAccountName")
        if sa:
            R.ok(any(s["metadata"]["name"] == sa for s in by_kind(docs, "ServiceAccount")), wwhere,
                 f"serviceAccountName {sa} is not in the render")
        for v in pod.get("volumes", []) or []:
            if "configMap" in v:
                R.ok(v["configMap"]["name"] in configmaps, wwhere,
                     f"volume {v['name']}: ConfigMap {v['configMap']['name']} is not in the render")
    R.ok(bridges > 0, where, "no scf-bridge container in the render")

    for sa in by_kind(docs, "ServiceAccount"):
        R.ok(sa.get("automountServiceAccountToken") is False, where,
             f"{kn(sa)}: automountServiceAccountToken must be false")

    all_pod_labels = [pod_labels(w) for w in workloads]
    services = by_kind(docs, "Service")
    for s in services:
        R.ok(any(selects(s["spec"].get("selector"), lbl) for lbl in all_pod_labels), where,
             f"{kn(s)}: its selector selects no pod in the render")
    for p in by_kind(docs, "PodDisruptionBudget"):
        R.ok(any(selects(p["spec"].get("selector", {}).get("matchLabels"), lbl) for lbl in all_pod_labels),
             where, f"{kn(p)}: its selector selects no pod")
    for h in by_kind(docs, "HorizontalPodAutoscaler"):
        ref = h["spec"]["scaleTargetRef"]
        R.ok(any(w["kind"] == ref["kind"] and w["metadata"]["name"] == ref["name"] for w in workloads),
             where, f"{kn(h)}: scaleTargetRef {ref['kind']}/{ref['name']} is not in the render")
        R.ok(h["apiVersion"] == "autoscaling/v2" and any(
            (m.get("resource") or {}).get("name") == "cpu" for m in h["spec"].get("metrics", [])),
            where, f"{kn(h)}: must be autoscaling/v2 on CPU")
        R.ok(h["spec"].get("minReplicas", 1) >= 2, where, f"{kn(h)}: minReplicas must be >= 2")
    for n in by_kind(docs, "NetworkPolicy"):
        R.ok(any(selects(n["spec"]["podSelector"].get("matchLabels"), lbl) for lbl in all_pod_labels),
             where, f"{kn(n)}: its podSelector selects no pod")
        R.ok(set(n["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}, where,
             f"{kn(n)}: must restrict both Ingress and Egress")
        egress = {(p.get("port"), p.get("protocol", "TCP")) for r in n["spec"].get("egress", [])
                  for p in r.get("ports", []) or [{"port": "ANY"}]}
        want = {(53, "UDP"), (53, "TCP"), (443, "TCP")}
        if render_uses_redis(docs):
            want.add((REDIS_PORT, "TCP"))
        R.ok(egress == want, where,
             f"{kn(n)}: egress must be exactly DNS (53 UDP/TCP), 443/TCP"
             f"{f' and {REDIS_PORT}/TCP (Redis)' if len(want) > 3 else ''}, got {sorted(map(str, egress))}")
        ingress = {p.get("port") for r in n["spec"].get("ingress", []) for p in r.get("ports", []) or []}
        R.ok("admin" in ingress or ADMIN_PORT in ingress, where, f"{kn(n)}: must admit the admin port")
        R.ok(bool(ingress - {"admin", ADMIN_PORT}), where, f"{kn(n)}: must admit a data port")
    for m in by_kind(docs, "ServiceMonitor"):
        sel = m["spec"]["selector"].get("matchLabels")
        targets = [s for s in services if selects(sel, s["metadata"].get("labels") or {})]
        if R.ok(bool(targets), where, f"{kn(m)}: its selector matches no Service's labels"):
            for ep in m["spec"]["endpoints"]:
                R.ok(any(p.get("name") == ep.get("port") for s in targets for p in s["spec"]["ports"]),
                     where, f"{kn(m)}: endpoint port {ep.get('port')} is not a named port of the Service")
                R.ok(ep.get("path", "/metrics") == "/metrics", where, f"{kn(m)}: path must be /metrics")
    print(f"  {where}: conventions checked ({len(workloads)} workloads, {bridges} scf-bridge containers)")


# ----------------------------------------------------------------- PromQL --

def grafana_expr(expr: str) -> str:
    """Make a dashboard query plain PromQL for the parser."""
    for var, val in (("$__rate_interval", "5m"), ("$__interval", "1m"), ("$__range", "1h")):
        expr = expr.replace(var, val)
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", ".*", expr)


def exported_metrics(metrics_rs: str) -> dict[str, set[str]]:
    """{series name: labels} of what src/metrics.rs records; histograms as
    their _bucket/_sum/_count series, `up` as Prometheus adds it."""
    consts = dict(re.findall(r'pub const (\w+): &str = "(\w+)";', metrics_rs))
    labels: dict[str, set[str]] = {name: set() for name in consts.values()}
    kinds: dict[str, str] = {}
    # A use records (`…!(…).increment(…)`) or registers a handle kept in a
    # struct field (`field: …!(…),`).
    for kind, const, rest in re.findall(r"metrics::(counter|gauge|histogram)!\(\s*names::(\w+)([^;]*?)\)\s*[.,]", metrics_rs):
        if const in consts:
            labels[consts[const]] |= set(re.findall(r'"(\w+)"\s*=>', rest))
            kinds[consts[const]] = kind
    series: dict[str, set[str]] = {"up": set()}
    for name, lbl in labels.items():
        if kinds.get(name) == "histogram":
            series[name + "_bucket"] = lbl | {"le"}
            series[name + "_sum"] = set(lbl)
            series[name + "_count"] = set(lbl)
        else:
            series[name] = lbl
    return series


def check_promql(queries: list[tuple[str, str]], recorded: set[str], binary: str, metrics_rs: str) -> None:
    exported = exported_metrics(metrics_rs)
    names_in_src = set(re.findall(r'pub const \w+: &str = "(\w+)";', metrics_rs))
    for m in sorted(CONTRACT_METRICS):
        R.ok(m in names_in_src, "metrics", f"contract metric {m} is not in src/metrics.rs")

    def allowed(metric: str) -> set[str] | None:
        if metric in recorded:
            return None  # a recording rule's own labels: not checked
        return None if metric not in exported else exported[metric] | TARGET_LABELS

    stdin = "".join(f"{label}\t{' '.join(q.split())}\n" for label, q in queries)
    res = subprocess.run([binary], input=stdin, capture_output=True, text=True)
    if res.returncode not in (0, 1):
        R.fail("promql", f"promql-check failed: {res.stderr.strip()}")
        return
    used = set()
    lines = res.stdout.splitlines()
    R.ok(len(lines) == len(queries), "promql", f"promql-check answered {len(lines)} of {len(queries)} queries")
    for line in lines:
        status, label, *rest = line.split("\t")
        if status != "ok":
            R.fail("promql", f"{label}: {rest[0] if rest else ''}")
            continue
        metrics, selectors, groupings = (rest + ["", "", ""])[:3]
        for name in filter(None, metrics.split(",")):
            used.add(name)
            R.ok(name in exported or name in recorded, "promql",
                 f"{label}: metric {name} is not one the bridge exports (src/metrics.rs)")
        for sel in filter(None, selectors.split(";")):
            name, _, lbls = sel.partition("=")
            ok = allowed(name)
            for lbl in filter(None, lbls.split(",")):
                R.ok(ok is None or lbl in ok, "promql", f"{label}: {name} has no label {lbl!r}")
        for grp in filter(None, groupings.split(";")):
            lbls, _, names = grp.partition("@")
            sets = [allowed(n) for n in filter(None, names.split(","))]
            if not sets or any(x is None for x in sets):
                continue
            union = set().union(*sets)
            for lbl in lbls.split(","):
                R.ok(lbl in union, "promql", f"{label}: groups by {lbl!r}, a label none of {names} has")
    print(f"  promql: {len(queries)} queries parsed, type-checked, metric and label names checked "
          f"against src/metrics.rs; metrics used: {', '.join(sorted(n for n in used if n not in recorded))}")


def label_values_check(label: str, query: str, metrics_rs: str) -> None:
    """Grafana `label_values(selector, label)`: the label must exist."""
    m = re.match(r"^label_values\((\w+)(?:\{.*\})?,\s*(\w+)\)$", query)
    if R.ok(bool(m), "dashboard", f"{label}: expected label_values(metric{{...}}, label), got {query}"):
        exported = exported_metrics(metrics_rs)
        metric, lbl = m.group(1), m.group(2)
        R.ok(metric in exported and lbl in exported[metric] | TARGET_LABELS, "dashboard",
             f"{label}: {metric} has no label {lbl!r}")


# ---------------------------------------------------------- check-config --

SECRETS_MOUNT = "/var/run/secrets/scf-bridge"


def check_config_with_binary(rendered: dict[str, list[dict]], binary: str, tmp: str) -> None:
    """Run the real binary's `check-config` on every rendered scf-bridge.toml.

    check-config reads every file `serve` reads, so the Secrets are laid out
    under a temporary directory standing in for /var/run/secrets/scf-bridge:
    clients/<SecretId> holding a key, tls/ with a fresh certificate."""
    from smoke_configs import make_pki

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # no SCF_BRIDGE__* or TENCENTCLOUD_* leaks in
    secrets = os.path.join(tmp, "secrets")
    os.makedirs(os.path.join(secrets, "clients"))
    os.makedirs(os.path.join(secrets, "tls"))
    with open(os.path.join(secrets, "clients", "AKIDcheckConfig0000000000000000001"), "w") as f:
        f.write("checkConfigKey\n")
    for fname, data in make_pki(os.path.join(secrets, "tls")).items():
        with open(os.path.join(secrets, "tls", fname), "wb") as f:
            f.write(data)
    for name, docs in rendered.items():
        # No SCF_BRIDGE__* or TENCENTCLOUD_* leaks in from this process.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        configmaps = {d["metadata"]["name"]: d for d in by_kind(docs, "ConfigMap")}
        for w in docs:
            pod = ((w.get("spec") or {}).get("template") or {}).get("spec") or {}
            for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
                if c.get("name") == BRIDGE_CONTAINER:
                    env.update(pod_env(c, configmaps))
        for cm in by_kind(docs, "ConfigMap"):
            text = (cm.get("data") or {}).get("scf-bridge.toml")
            if text is None:
                continue
            path = os.path.join(tmp, f"{name.replace('/', '-')}.{cm['metadata']['name']}.toml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace(SECRETS_MOUNT, secrets))
            res = subprocess.run([binary, "check-config", "--config", path], capture_output=True, text=True, env=env)
            where = f"{name} ConfigMap/{cm['metadata']['name']}"
            if not R.ok(res.returncode == 0, where,
                        f"scf-bridge check-config rejects it: {res.stderr.strip().splitlines()[-1:]}"):
                continue
            try:
                effective = tomllib.loads(res.stdout)
            except tomllib.TOMLDecodeError as e:
                R.fail(where, f"check-config printed no TOML: {e}")
                continue
            mode = effective.get("upstream", {}).get("mode")
            want = "dry-run" if "migration" in name else "forward"
            R.ok(mode == want, where, f"effective upstream.mode is {mode!r}, expected {want!r}")
            R.ok(effective.get("auth", {}).get("mode") == "verify", where,
                 f"effective auth.mode is {effective.get('auth', {}).get('mode')!r}, expected 'verify'")
            print(f"  {where}: accepted by `scf-bridge check-config` (upstream.mode = {mode})")


# ------------------------------------------------------------------- main --

def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rendered", action="append", default=[], metavar="NAME=FILE")
    ap.add_argument("--repo", required=True)
    ap.add_argument("--promql-check", required=True)
    ap.add_argument("--bridge-bin", help="an scf-bridge binary: run its check-config on every rendered config")
    args = ap.parse_args()
    deploy = os.path.join(args.repo, "deploy")
    mon = os.path.join(deploy, "monitoring")
    with open(os.path.join(args.repo, "src", "metrics.rs"), encoding="utf-8") as f:
        metrics_rs = f.read()

    print(f"kubernetes-validate {kubernetes_validate.__version__ if hasattr(kubernetes_validate, '__version__') else ''}"
          f" schemas: {', '.join(K8S_VERSIONS)}")
    rendered: dict[str, list[dict]] = {}
    for item in args.rendered:
        name, _, path = item.partition("=")
        rendered[name] = load_docs(path, name)
        validate_schema(rendered[name], name)
        if name.startswith("overlays/"):
            check_conventions(rendered[name], name)

    example = os.path.join(deploy, "kustomize", "base", "secret-clients.example.yaml")
    validate_schema(load_docs(example, "secret-clients.example"), "secret-clients.example")

    # The migration file is the standalone file plus upstream.mode = "dry-run".
    with open(os.path.join(deploy, "kustomize", "base", "scf-bridge.toml"), "rb") as f:
        standalone = tomllib.load(f)
    with open(os.path.join(deploy, "kustomize", "overlays", "migration", "scf-bridge.migration.toml"), "rb") as f:
        migration = tomllib.load(f)
    expected = copy.deepcopy(standalone)
    expected.setdefault("upstream", {})["mode"] = "dry-run"
    shared = copy.deepcopy(migration)
    store = shared.get("auth", {}).pop("replay_store", None)
    redis = shared.pop("redis", None)
    R.ok(shared == expected, "migration",
         "scf-bridge.migration.toml must equal base/scf-bridge.toml plus upstream.mode = \"dry-run\", "
         "auth.replay_store and [redis]")
    R.ok(store == "redis" and isinstance(redis, dict) and bool(redis.get("password_file")), "migration",
         "the migration overlay's replicas must share Redis: auth.replay_store = \"redis\" and "
         "redis.password_file")
    R.ok("mode" not in standalone.get("upstream", {}), "standalone", "standalone must not set upstream.mode")

    # The sidecar Component ships the sidecar overlay's configuration, unchanged.
    with open(os.path.join(deploy, "components", "sidecar", "scf-bridge.toml"), "rb") as f:
        component_conf = f.read()
    with open(os.path.join(deploy, "kustomize", "overlays", "sidecar", "scf-bridge.sidecar.toml"), "rb") as f:
        R.ok(component_conf == f.read(), "components/sidecar",
             "components/sidecar/scf-bridge.toml must equal overlays/sidecar/scf-bridge.sidecar.toml")
    R.ok("overlays/sidecar-component" in rendered, "components/sidecar",
         "the Component's example overlay (overlays/sidecar-component) was not rendered")

    # PromQL: alert rules (from the rendered monitoring kustomization) and the dashboard.
    queries: list[tuple[str, str]] = []
    recorded: set[str] = set()
    for d in rendered.get("monitoring", []):
        if d.get("kind") == "PrometheusRule":
            for g in d["spec"]["groups"]:
                for r in g["rules"]:
                    if "record" in r:
                        recorded.add(r["record"])
                    queries.append((f"rule {r.get('alert') or r.get('record')}", r["expr"]))
    R.ok(len(queries) > 0, "monitoring", "no PrometheusRule rules rendered")
    alerts = {q[0] for q in queries}
    for wanted in ("ErrorRatio", "LatencyP99", "ReloadFailed", "ReplayMemory", "RequestsShed", "UpstreamErrors"):
        R.ok(any(wanted in a for a in alerts), "monitoring", f"no alert about {wanted}")

    with open(os.path.join(mon, "grafana-dashboard.json"), encoding="utf-8") as f:
        try:
            dash = json.load(f)
        except json.JSONDecodeError as e:
            R.fail("dashboard", f"grafana-dashboard.json does not parse: {e}")
            dash = {}
    ids = set()
    for p in dash.get("panels", []):
        R.ok(p.get("id") not in ids, "dashboard", f"duplicate panel id {p.get('id')}")
        ids.add(p.get("id"))
        R.ok(isinstance(p.get("gridPos"), dict), "dashboard", f"panel {p.get('title')} has no gridPos")
        for t in p.get("targets", []):
            if R.ok(bool(t.get("expr")), "dashboard", f"panel {p.get('title')}: a target without expr"):
                queries.append((f"panel '{p.get('title')}' {t.get('refId')}", grafana_expr(t["expr"])))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v.get("query"), dict) else v.get("query", "")
            label_values_check(f"variable {v.get('name')}", q, metrics_rs)
            m = re.match(r"^label_values\((.*),\s*([a-zA-Z_]+)\)$", q)
            if m:
                queries.append((f"variable {v['name']}", grafana_expr(m.group(1))))
    panel_text = json.dumps(dash)
    for metric in ("scf_bridge_requests_total", "scf_bridge_request_duration_seconds_bucket",
                   "scf_bridge_upstream_errors_total", "scf_bridge_scf_errors_total",
                   "scf_bridge_requests_shed_total", "scf_bridge_reloads_total",
                   "scf_bridge_replay_entries", "scf_bridge_replay_capacity", "scf_bridge_requests_in_flight"):
        R.ok(metric in panel_text, "dashboard", f"no panel uses {metric}")
    R.ok("by (function)" in panel_text, "dashboard", "no panel shows traffic by function")

    check_promql(queries, recorded, args.promql_check, metrics_rs)

    # docs/operations.md must say what to do for every X-Scf-Bridge-Error kind
    # the code can produce, and for every legacy code of the runbook table.
    with open(os.path.join(args.repo, "src", "error.rs"), encoding="utf-8") as f:
        error_rs = f.read()
    name_fn = error_rs[error_rs.find("pub fn name(self)"):]
    kinds = re.findall(r'=> "([a-z-]+)",', name_fn[:name_fn.find("\n    }\n")])
    with open(os.path.join(args.repo, "docs", "operations.md"), encoding="utf-8") as f:
        ops = f.read()
    R.ok(len(kinds) >= 20, "docs", f"found only {len(kinds)} error kinds in src/error.rs")
    for kind in kinds:
        R.ok(f"| `{kind}` |" in ops, "docs", f"docs/operations.md has no row for X-Scf-Bridge-Error `{kind}`")
    for code in (0, 4000, 4100, 4101, 4102, 4104, 4105, 4106, 4200, 4300, 4400, 4500,
                 5000, 5100, 5300, 6000, 6100, 6200):
        R.ok(re.search(rf"^\| {code} \|", ops, re.M) is not None, "docs",
             f"docs/operations.md has no row for legacy code {code}")
    print(f"  docs: operations.md covers {len(kinds)} X-Scf-Bridge-Error kinds from src/error.rs and 18 legacy codes")

    if args.bridge_bin:
        with tempfile.TemporaryDirectory() as tmp:
            check_config_with_binary(rendered, args.bridge_bin, tmp)
    else:
        Report.note("check-config", "no --bridge-bin: the configurations were not run through scf-bridge check-config")

    print(f"validate-deploy: {R.checks - R.failures} checks passed, {R.failures} failed")
    return 1 if R.failures else 0


if __name__ == "__main__":
    sys.exit(main())
