#!/usr/bin/env python3
"""Check deploy/systemd/: the unit and its configuration agree and work.

* `systemd-analyze verify` accepts the unit (its scf-bridge path pointed at the
  binary under test, since systemd checks that ExecStart exists), when
  systemd-analyze is installed (`--require-systemd` makes its absence an error);
* the hardening the docs promise is there (DynamicUser, ProtectSystem=strict,
  AmbientCapabilities=CAP_NET_BIND_SERVICE, LoadCredential);
* every file the configuration reads from /run/credentials/scf-bridge.service/
  is a LoadCredential of the unit, and every LoadCredential is read;
* the configuration passes the real binary's `check-config` with those
  credentials laid out as systemd lays them out (a fresh certificate, a key).

Usage: check_systemd.py --repo ROOT --bridge-bin PATH [--require-systemd]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CRED_DIR = "/run/credentials/scf-bridge.service"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--bridge-bin", required=True)
    ap.add_argument("--require-systemd", action="store_true")
    args = ap.parse_args()
    root = Path(args.repo)
    unit_path = root / "deploy/systemd/scf-bridge.service"
    conf_path = root / "deploy/systemd/scf-bridge.toml"
    unit = unit_path.read_text()
    conf = conf_path.read_text()
    problems: list[str] = []

    settings = {}
    for line in unit.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            k, v = line.split("=", 1)
            settings.setdefault(k.strip(), []).append(v.strip())
    for key, want in (("DynamicUser", "yes"), ("ProtectSystem", "strict"),
                      ("AmbientCapabilities", "CAP_NET_BIND_SERVICE"), ("NoNewPrivileges", "yes")):
        if want not in settings.get(key, []):
            problems.append(f"{unit_path.name}: {key}={want} is missing")
    loaded = {v.split(":", 1)[0]: v.split(":", 1)[1] for v in settings.get("LoadCredential", [])}
    if not loaded:
        problems.append(f"{unit_path.name}: no LoadCredential")
    read = set(re.findall(re.escape(CRED_DIR) + r"/([^\"'\s]+)", conf))
    for name in sorted(read - loaded.keys()):
        problems.append(f"{conf_path.name} reads {CRED_DIR}/{name} but the unit does not load it")
    for name in sorted(loaded.keys() - read):
        problems.append(f"the unit loads credential {name} but {conf_path.name} never reads it")

    binary = os.path.abspath(args.bridge_bin)
    with tempfile.TemporaryDirectory(prefix="scf-systemd-") as tmp:
        analyze = shutil.which("systemd-analyze")
        if analyze:
            local_unit = Path(tmp) / "scf-bridge.service"
            local_unit.write_text(unit.replace("/usr/local/bin/scf-bridge", binary))
            run = subprocess.run([analyze, "verify", str(local_unit)], capture_output=True, text=True)
            noise = [ln for ln in (run.stderr + run.stdout).splitlines() if ln.strip()]
            if run.returncode != 0 or noise:
                problems.append("systemd-analyze verify: " + " | ".join(noise or [f"exit {run.returncode}"]))
            else:
                print(f"{unit_path.name}: systemd-analyze verify clean")
        elif args.require_systemd:
            problems.append("systemd-analyze is not installed")
        else:
            print(f"{unit_path.name}: systemd-analyze not installed here; unit verification skipped")

        creds = Path(tmp) / "credentials"
        creds.mkdir()
        for name in read:
            if name.endswith(".crt") or name.endswith(".key"):
                continue
            (creds / name).write_text("a-caller-secret-key\n")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=scf.api.qcloud.com", "-addext", "subjectAltName=DNS:scf.api.qcloud.com",
             "-keyout", str(creds / "tls.key"), "-out", str(creds / "tls.crt")],
            check=True, capture_output=True)
        local_conf = Path(tmp) / "scf-bridge.toml"
        local_conf.write_text(conf.replace(CRED_DIR, str(creds)))
        env = {"PATH": os.environ.get("PATH", "")}
        run = subprocess.run([binary, "--config", str(local_conf), "check-config"],
                             env=env, capture_output=True, text=True)
        if run.returncode != 0:
            problems.append(f"{conf_path.name}: check-config failed: {run.stderr.strip()}")
    if problems:
        for p in problems:
            print(f"check_systemd: {p}", file=sys.stderr)
        return 1
    print(f"deploy/systemd: hardened unit; {len(loaded)} credentials, each read by the configuration; "
          "check-config passes with them laid out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
