"""Run the real scf-bridge binary on each rendered overlay's configuration,
laid out as its pod would see it, and drive it like its clients and the
kubelet would.

    smoke_configs.py --bridge-bin BIN --rendered NAME=FILE ...

For every ConfigMap holding scf-bridge.toml:

* the pod's Secret mounts are recreated in a temporary directory in the
  kubelet's atomic-writer layout (`..data` symlink to a timestamped
  directory, one symlink per key), with a fresh CA and a certificate for
  scf.api.qcloud.com (openssl);
* the file is rewritten only where a test machine must differ from a pod:
  those mount paths, loopback listeners on free ports, and
  `upstream.mode = "dry-run"` (there is no SCF to call here);
* then: /ready turns 200 on the admin listener; a request signed the legacy
  way (HmacSHA256) over TLS, verified against the CA for the name
  scf.api.qcloud.com, is answered (dry run), and so is one on the plain
  listener; a wrong key gets 4100 and an unknown SecretId 4104; a new key
  added the way the kubelet updates a Secret is accepted and a removed one
  refused, without a restart; on SIGTERM /ready turns 503 at once, the bridge
  still answers during server.drain_delay_secs and exits 0 within the
  configured drain delay + deadline.

A configuration that shares Redis (auth.replay_store = "redis") gets a real
redis-server (Debian's, from scripts/redis.sh) with a password, laid out as
the pod's Secret; the address is passed as SCF_BRIDGE__REDIS__URL, as the
pod's ConfigMap does. Then also: the same signed request sent twice is
answered 4500 the second time, and Redis holds its key.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.parse
import urllib.request

import yaml

HOST = "scf.api.qcloud.com"
POD_TLS = "/var/run/secrets/scf-bridge/tls"
POD_CLIENTS = "/var/run/secrets/scf-bridge/clients"
POD_REDIS = "/var/run/secrets/scf-bridge/redis"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REDIS_PASSWORD = "smoke-redis-password"
AK_OLD, SK_OLD = "AKIDsmokeOld0000000000000000000000", "smoke-old-secret-key"
AK_NEW, SK_NEW = "AKIDsmokeNew0000000000000000000000", "smoke-new-secret-key"

failures = 0


def check(cond: bool, where: str, msg: str) -> bool:
    global failures
    if not cond:
        failures += 1
        print(f"FAIL [{where}] {msg}")
    return cond


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------- the kubelet's Secret layout --

class AtomicDir:
    """A directory updated the way the kubelet updates a Secret volume."""

    def __init__(self, path: str):
        self.path = path
        self.generation = 0
        os.makedirs(path)

    def write(self, files: dict[str, bytes]) -> None:
        self.generation += 1
        data = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{self.generation}"
        os.makedirs(os.path.join(self.path, data))
        for name, content in files.items():
            with open(os.path.join(self.path, data, name), "wb") as f:
                f.write(content)
        tmp = os.path.join(self.path, "..data_tmp")
        os.symlink(data, tmp)
        old = os.path.realpath(os.path.join(self.path, "..data")) if os.path.islink(
            os.path.join(self.path, "..data")) else None
        os.rename(tmp, os.path.join(self.path, "..data"))
        for name in files:
            link = os.path.join(self.path, name)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", name), link)
        for name in os.listdir(self.path):
            if not name.startswith(".") and name not in files:
                os.unlink(os.path.join(self.path, name))
        if old:
            for f in os.listdir(old):
                os.unlink(os.path.join(old, f))
            os.rmdir(old)


def make_pki(tmp: str) -> dict[str, bytes]:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=smoke CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={HOST}",
        "-addext", f"subjectAltName=DNS:{HOST}", "-keyout", "tls.key", "-out", "tls.csr")
    run("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-copy_extensions", "copy", "-out", "tls.crt")
    out = {}
    for name in ("tls.crt", "tls.key", "ca.crt"):
        with open(os.path.join(tmp, name), "rb") as f:
            out[name] = f.read()
    return out


# ------------------------------------------------------------ the config --

def rewrite(text: str, overrides: dict[tuple[str, str], str]) -> str:
    """Set `key = value` in `[section]`, keeping every other line."""
    lines = text.splitlines()
    out: list[str] = []
    section = ""
    done: set[tuple[str, str]] = set()

    def flush_missing(sec: str) -> None:
        for (s, k), v in overrides.items():
            if s == sec and (s, k) not in done:
                out.append(f"{k} = {v}")
                done.add((s, k))

    for line in lines:
        m = re.match(r"^\[([a-z_.]+)\]\s*$", line)
        if m:
            flush_missing(section)
            section = m.group(1)
            out.append(line)
            continue
        m = re.match(r"^([a-z_]+)\s*=", line)
        if m and (section, m.group(1)) in overrides:
            out.append(f"{m.group(1)} = {overrides[(section, m.group(1))]}")
            done.add((section, m.group(1)))
            continue
        out.append(line)
    flush_missing(section)
    missing = [f"[{s}] {k}" for (s, k) in overrides if (s, k) not in done]
    for entry in missing:
        raise ValueError(f"no section for {entry}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------- a Redis --

class Redis:
    """Debian's redis-server (scripts/redis.sh) on a free loopback port, with a password."""

    def __init__(self, tmp: str):
        out = subprocess.run([os.path.join(REPO, "scripts", "redis.sh"), "install"], check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        self.bin_dir = os.path.dirname(out)
        self.env = {"LD_LIBRARY_PATH": os.path.join(os.path.dirname(self.bin_dir), "lib"),
                    "REDISCLI_AUTH": REDIS_PASSWORD}
        self.port = free_port()
        self.proc = subprocess.Popen(
            [out, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", tmp, "--requirepass", REDIS_PASSWORD],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.cli("PING") == "PONG", 15, 0.05)

    def cli(self, *args: str) -> str:
        return subprocess.run([os.path.join(self.bin_dir, "redis-cli"), "-p", str(self.port), *args],
                              env=self.env, capture_output=True, text=True).stdout.strip()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


# -------------------------------------------------------------- a client --

def signed_query(secret_id: str, secret_key: str, method: str = "GET") -> str:
    return signed_query_and_nonce(secret_id, secret_key, method)[0]


def signed_query_and_nonce(secret_id: str, secret_key: str, method: str = "GET") -> tuple[str, str]:
    params = {
        "Action": "InvokeFunction", "Region": "gz", "functionName": "hello",
        "param": json.dumps({"name": "smoke"}), "SecretId": secret_id,
        "Timestamp": str(int(time.time())), "Nonce": str(random.randint(1, 2**31)),
        "SignatureMethod": "HmacSHA256",
    }
    src = method + HOST + "/v2/index.php?" + "&".join(
        f"{k.replace('_', '.')}={v}" for k, v in sorted(params.items()))
    params["Signature"] = base64.b64encode(
        hmac.new(secret_key.encode(), src.encode(), hashlib.sha256).digest()).decode()
    return urllib.parse.urlencode(params), params["Nonce"]


def http_get(port: int, target: str, ca: str | None) -> tuple[int, dict[str, str], bytes]:
    """One GET /v2/index.php with Host: scf.api.qcloud.com, over TLS
    (verifying the certificate for that name against `ca`) or plain."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock = ssl.create_default_context(cafile=ca).wrap_socket(raw, server_hostname=HOST) if ca else raw
    with sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    return status, headers, body


def legacy(port: int, ca: str | None, secret_id: str, secret_key: str,
           query: str | None = None) -> tuple[dict, dict[str, str]]:
    query = query or signed_query(secret_id, secret_key)
    try:
        status, headers, body = http_get(port, "/v2/index.php?" + query, ca)
    except (OSError, ValueError, IndexError) as e:  # ssl.SSLError is an OSError
        return {"code": None, "error": f"{type(e).__name__}: {e}"}, {}
    try:
        return json.loads(body), headers
    except json.JSONDecodeError:
        return {"code": None, "http": status, "body": body[:200].decode("latin-1")}, headers


def admin(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def wait_for(what, timeout: float, interval: float = 0.2):
    end = time.monotonic() + timeout
    while True:
        got = what()
        if got or time.monotonic() > end:
            return got
        time.sleep(interval)


# ----------------------------------------------------------------- a run --

def smoke(name: str, toml_text: str, binary: str) -> None:
    where = name
    cfg = tomllib.loads(toml_text)
    with tempfile.TemporaryDirectory(prefix="scf-bridge-smoke-") as tmp:
        pki = make_pki(tmp)
        tls = AtomicDir(os.path.join(tmp, "tls"))
        tls.write(pki)
        clients = AtomicDir(os.path.join(tmp, "clients"))
        clients.write({AK_OLD: SK_OLD.encode()})
        ca = os.path.join(tmp, "ca.crt")

        plain, secure, admin_port = free_port(), free_port(), free_port()
        overrides = {
            ("server", "listen"): f'"127.0.0.1:{plain}"',
            ("server", "tls_listen"): f'"127.0.0.1:{secure}"',
            ("admin", "listen"): f'"127.0.0.1:{admin_port}"',
            ("upstream", "mode"): '"dry-run"',
            ("auth", "reload_interval_ms"): "200",
        }
        text = rewrite(toml_text, overrides)
        text = text.replace(POD_TLS, tls.path).replace(POD_CLIENTS, clients.path)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        shared = (cfg.get("auth") or {}).get("replay_store") == "redis"
        redis = None
        if shared:
            redis = Redis(tmp)
            secret = AtomicDir(os.path.join(tmp, "redis"))
            secret.write({"password": REDIS_PASSWORD.encode() + b"\n"})
            text = text.replace(POD_REDIS, secret.path)
            env["SCF_BRIDGE__REDIS__URL"] = f"redis://127.0.0.1:{redis.port}"
        path = os.path.join(tmp, "scf-bridge.toml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        log_path = os.path.join(tmp, "bridge.log")
        log = open(log_path, "wb")
        proc = subprocess.Popen([binary, "serve", "--config", path], stdout=log, stderr=log, env=env)
        try:
            ready = wait_for(lambda: admin(admin_port, "/ready")[0] == 200, 15)
            if not check(ready, where, "/ready never turned 200"):
                return
            check(admin(admin_port, "/live")[0] == 200, where, "/live is not 200")

            answer, headers = legacy(secure, ca, AK_OLD, SK_OLD)
            check(answer.get("code") == 0 and answer.get("codeDesc") == "DryRunOperation", where,
                  f"signed request over TLS (verified for {HOST}): {answer}")
            answer, _ = legacy(plain, None, AK_OLD, SK_OLD)
            check(answer.get("code") == 0, where, f"signed request on the plain listener: {answer}")
            if redis is not None:
                query, _ = signed_query_and_nonce(AK_OLD, SK_OLD)
                first, _ = legacy(secure, ca, AK_OLD, SK_OLD, query)
                again, headers = legacy(secure, ca, AK_OLD, SK_OLD, query)
                check(first.get("code") == 0 and again.get("code") == 4500
                      and headers.get("x-scf-bridge-error") == "replay", where,
                      f"a request sent twice must be refused the second time (shared Redis): {first} {again}")
                prefix = (cfg.get("redis") or {}).get("key_prefix", "scf-bridge:")
                keys = redis.cli("--scan", "--pattern", prefix + "r:*").split()
                check(len(keys) >= 3, where, f"Redis should hold the accepted requests' keys: {keys}")
            answer, headers = legacy(secure, ca, AK_OLD, "not-the-key")
            check(answer.get("code") == 4100 and headers.get("x-scf-bridge-error") == "signature-failure",
                  where, f"a wrong key must get 4100 signature-failure: {answer} {headers.get('x-scf-bridge-error')}")
            answer, headers = legacy(secure, ca, AK_NEW, SK_NEW)
            check(answer.get("code") == 4104 and headers.get("x-scf-bridge-error") == "secret-id-not-found",
                  where, f"an unknown SecretId must get 4104: {answer}")

            _, metrics = admin(admin_port, "/metrics")
            capacity = cfg.get("auth", {}).get("replay_capacity")
            check(re.search(rf"^scf_bridge_replay_capacity {capacity}(\.0)?$", metrics, re.M) is not None, where,
                  f"scf_bridge_replay_capacity should be {capacity}")

            # Rotation, as `kubectl apply` of the Secret reaches the pod.
            clients.write({AK_OLD: SK_OLD.encode(), AK_NEW: SK_NEW.encode()})
            check(wait_for(lambda: legacy(secure, ca, AK_NEW, SK_NEW)[0].get("code") == 0, 10), where,
                  "a key added to the Secret was not accepted without a restart")
            clients.write({AK_NEW: SK_NEW.encode()})
            check(wait_for(lambda: legacy(secure, ca, AK_OLD, SK_OLD)[0].get("code") == 4104, 10), where,
                  "a key removed from the Secret was still accepted")
            _, metrics = admin(admin_port, "/metrics")
            check(re.search(r'^scf_bridge_reloads_total\{[^}]*what="clients"[^}]*result="success"[^}]*\} [1-9]',
                            metrics, re.M) is not None or
                  re.search(r'^scf_bridge_reloads_total\{[^}]*result="success"[^}]*what="clients"[^}]*\} [1-9]',
                            metrics, re.M) is not None,
                  where, "no scf_bridge_reloads_total{what=\"clients\",result=\"success\"}")

            # Shutdown as the kubelet does it.
            drain = cfg.get("server", {}).get("drain_delay_secs", 5)
            deadline = cfg.get("server", {}).get("shutdown_deadline_secs", 25)
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            if drain >= 2:
                check(wait_for(lambda: admin(admin_port, "/ready")[0] == 503, 1.5, 0.05), where,
                      "/ready did not turn 503 at once on SIGTERM")
                answer, _ = legacy(secure, ca, AK_NEW, SK_NEW)
                check(answer.get("code") == 0 and time.monotonic() - started < drain, where,
                      f"not answered during the drain delay: {answer}")
            try:
                rc = proc.wait(timeout=drain + deadline + 5)
            except subprocess.TimeoutExpired:
                rc = None
            took = time.monotonic() - started
            check(rc == 0, where, f"exit after SIGTERM: {rc}")
            check(took >= drain - 0.5, where, f"stopped after {took:.1f} s, before the {drain} s drain delay")
            print(f"  {name}: started, TLS + signatures + 4100/4104, key rotation, replay capacity, "
                  f"{'shared Redis (4500 on a second send), ' if redis is not None else ''}"
                  f"drain {drain} s (stopped in {took:.1f} s): {'ok' if failures == 0 else 'see FAIL lines'}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
            if redis is not None:
                redis.close()
            if failures:
                with open(log_path, encoding="utf-8", errors="replace") as f:
                    tail = f.read().splitlines()[-8:]
                print(f"  {name}: last log lines:\n    " + "\n    ".join(tail))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bridge-bin", required=True)
    ap.add_argument("--rendered", action="append", default=[], metavar="NAME=FILE")
    args = ap.parse_args()
    runs = 0
    for item in args.rendered:
        name, _, path = item.partition("=")
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for cm in docs:
            if cm.get("kind") == "ConfigMap" and "scf-bridge.toml" in (cm.get("data") or {}):
                smoke(f"{name} {cm['metadata']['name']}", cm["data"]["scf-bridge.toml"], args.bridge_bin)
                runs += 1
    check(runs > 0, "smoke", "no configuration to run")
    print(f"smoke: {runs} configurations run, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
