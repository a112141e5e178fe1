#!/usr/bin/env python3
"""What can be checked of deploy/docker/Dockerfile without a Docker engine.

* every `COPY` from the build context names files that exist and that the
  repository's .dockerignore does not exclude (a build would fail on them);
* the dependency stage copies build.rs when the crate has one;
* the configuration the runtime stage installs at /etc/scf-bridge/scf-bridge.toml
  is for real deployments (listeners on 0.0.0.0, auth.mode = "verify", no
  embedded upstream) and passes the real binary's `check-config` once a clients
  directory and credentials are given, as a deployment gives them;
* `EXPOSE` lists every port of that configuration, and 8443 (the documented
  TLS port).

Usage: check_dockerfile.py --repo ROOT --bridge-bin PATH
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

CONFIG_IN_IMAGE = "/etc/scf-bridge/scf-bridge.toml"


def instructions(text: str) -> list[tuple[str, list[str]]]:
    """(INSTRUCTION, words) per instruction, continuation lines joined."""
    out, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        words = current.split()
        out.append((words[0].upper(), words[1:]))
        current = ""
    return out


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore excludes `path` (or a directory above it)."""
    parts = path.strip("/").split("/")
    excluded = False
    for pat in patterns:
        negate = pat.startswith("!")
        pat = pat[1:] if negate else pat
        pat = pat.strip("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if fnmatch.fnmatchcase(prefix, pat) or (
                pat.startswith("**/") and fnmatch.fnmatchcase(prefix.split("/")[-1], pat[3:])
            ):
                excluded = not negate
                break
    return excluded


def port_of(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--bridge-bin", required=True)
    args = ap.parse_args()
    root = Path(args.repo)
    dockerfile = root / "deploy/docker/Dockerfile"
    steps = instructions(dockerfile.read_text())
    ignore_file = root / ".dockerignore"
    if not ignore_file.is_file():
        print("check_dockerfile: no .dockerignore at the repository root", file=sys.stderr)
        return 1
    patterns = [
        ln.strip() for ln in ignore_file.read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    for must in ("target", "fuzz/target", ".git"):
        if not ignored(must, patterns):
            print(f"check_dockerfile: .dockerignore does not exclude {must}/", file=sys.stderr)
            return 1

    problems: list[str] = []
    config_source = None
    copied: list[str] = []
    exposed: set[int] = set()
    for name, words in steps:
        if name == "EXPOSE":
            exposed |= {int(w.split("/")[0]) for w in words}
        if name != "COPY" or any(w.startswith("--from") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        *sources, dest = words
        for src in sources:
            copied.append(src.rstrip("/"))
            if not (root / src).exists():
                problems.append(f"COPY {src}: not in the repository")
            elif ignored(src, patterns):
                problems.append(f"COPY {src}: excluded by .dockerignore")
            if dest == CONFIG_IN_IMAGE:
                config_source = src
    if (root / "build.rs").exists() and "build.rs" not in copied:
        problems.append("the crate has build.rs but no stage copies it")
    if config_source is None:
        problems.append(f"no COPY installs {CONFIG_IN_IMAGE}")
    else:
        conf = tomllib.loads((root / config_source).read_text())
        listen = conf.get("server", {}).get("listen", "")
        admin = conf.get("admin", {}).get("listen", "")
        for key, addr in (("server.listen", listen), ("admin.listen", admin)):
            if not addr.startswith("0.0.0.0:"):
                problems.append(f"{config_source}: {key} = {addr!r}, not on 0.0.0.0")
            elif port_of(addr) not in exposed:
                problems.append(f"{config_source}: {key} port {port_of(addr)} is not EXPOSEd")
        if 8443 not in exposed:
            problems.append("EXPOSE lacks 8443, the documented TLS port")
        if conf.get("auth", {}).get("mode") != "verify":
            problems.append(f"{config_source}: auth.mode is not \"verify\"")
        if conf.get("upstream", {}).get("endpoint", "embedded") == "embedded":
            problems.append(f"{config_source}: the upstream is the embedded emulator")
        with tempfile.TemporaryDirectory(prefix="scf-image-") as d:
            clients = Path(d) / "clients"
            clients.mkdir()
            (clients / "AKIDimageCheck00000000000000000001").write_text("imageCheckKey\n")
            env = {
                "PATH": os.environ.get("PATH", ""),
                "SCF_BRIDGE__AUTH__CLIENTS_DIR": str(clients),
                "TENCENTCLOUD_SECRET_ID": "AKIDimageBridge0000000000000000001",
                "TENCENTCLOUD_SECRET_KEY": "imageBridgeKey",
            }
            run = subprocess.run(
                [args.bridge_bin, "--config", str(root / config_source), "check-config"],
                env=env, capture_output=True, text=True,
            )
            if run.returncode != 0:
                problems.append(f"{config_source}: check-config failed: {run.stderr.strip()}")
            # Without the mounted keys the image must refuse to start.
            bare = subprocess.run(
                [args.bridge_bin, "--config", str(root / config_source), "check-config"],
                env={"PATH": env["PATH"]}, capture_output=True, text=True,
            )
            if bare.returncode == 0:
                problems.append(f"{config_source}: check-config passed without any client key")
    if problems:
        for p in problems:
            print(f"check_dockerfile: {p}", file=sys.stderr)
        return 1
    print(f"deploy/docker/Dockerfile: COPY sources present and not ignored; {config_source} is a "
          f"verifying 0.0.0.0 configuration that passes check-config; EXPOSE {sorted(exposed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
