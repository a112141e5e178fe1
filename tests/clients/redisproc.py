"""A real redis-server for the tests: Debian's package, unpacked under the checkout by
scripts/redis.sh (never skipped: a missing server FAILS the test), started on a free
loopback port with no persistence and stopped afterwards; plus redis-cli for looking
inside and the faults the tests need (stop, restart on the same port, SIGSTOP/SIGCONT)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import scfkit

TOOLS = scfkit.REPO_ROOT / "target" / "tools" / "redis"


def redis_server_binary() -> Path:
    """Install (once) and return Debian's redis-server; fails the test if impossible."""
    proc = subprocess.run(
        [str(scfkit.REPO_ROOT / "scripts" / "redis.sh"), "install"], capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/redis.sh install failed:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    path = Path(proc.stdout.strip().splitlines()[-1])
    if not os.access(path, os.X_OK):
        pytest.fail(f"scripts/redis.sh gave no executable redis-server ({path})", pytrace=False)
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    lib = str(TOOLS / "lib")
    env["LD_LIBRARY_PATH"] = lib + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    return env


class RedisServer:
    """One redis-server on 127.0.0.1:<port>; `password` sets requirepass; `pki` serves
    TLS only (rediss://) with that certificate."""

    def __init__(self, password: str | None = None, pki: scfkit.Pki | None = None):
        self.binary = redis_server_binary()
        self.cli_binary = self.binary.parent / "redis-cli"
        self.port = scfkit.free_port()
        self.password = password
        self.pki = pki
        self._dir = tempfile.TemporaryDirectory(prefix="scf-redis-")
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"{'rediss' if self.pki else 'redis'}://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [
            str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", self._dir.name, "--daemonize", "no", "--loglevel", "warning",
        ]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        if self.pki is not None:
            argv[argv.index("--port") + 1] = "0"
            argv += ["--tls-port", str(self.port), "--tls-cert-file", self.pki.cert_file,
                     "--tls-key-file", self.pki.key_file, "--tls-ca-cert-file", self.pki.ca_file,
                     "--tls-auth-clients", "no"]
        self._log = open(Path(self._dir.name) / "redis.log", "ab")
        self.proc = subprocess.Popen(argv, env=_env(), stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"redis-server exited: {self.log_text()}", pytrace=False)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not listen: {self.log_text()}", pytrace=False)
                time.sleep(0.05)
        # Listening is not yet loaded: wait for PING.
        while self.cli("PING") != "PONG":
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server does not answer PING: {self.log_text()}", pytrace=False)
            time.sleep(0.05)

    def log_text(self) -> str:
        return (Path(self._dir.name) / "redis.log").read_text(errors="replace")[-3000:]

    def cli(self, *args: str) -> str:
        argv = [str(self.cli_binary), "-h", "127.0.0.1", "-p", str(self.port)]
        if self.pki is not None:
            argv += ["--tls", "--cacert", self.pki.ca_file]
        env = _env()
        if self.password is not None:
            env["REDISCLI_AUTH"] = self.password
        proc = subprocess.run(argv + list(args), capture_output=True, text=True, env=env, timeout=30)
        return proc.stdout.strip()

    def keys(self, pattern: str = "*") -> list[str]:
        out = self.cli("--scan", "--pattern", pattern)
        return [k for k in out.splitlines() if k]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)
        if getattr(self, "_log", None) is not None and not self._log.closed:
            self._log.close()

    def restart(self) -> None:
        """Stop, then start again on the same port (empty: no persistence)."""
        self.stop()
        self.start()

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()


def cluster_port() -> int:
    """A free port whose cluster-bus port (+10000) is free too, so below 55536."""
    import random

    for _ in range(200):
        port = random.randint(20000, 30000)
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
    pytest.fail("no free port pair for a cluster node", pytrace=False)


class RedisCluster:
    """A three-master Redis Cluster (no replicas) on free loopback ports."""

    def __init__(self):
        self.binary = redis_server_binary()
        self.cli_binary = self.binary.parent / "redis-cli"
        self._dir = tempfile.TemporaryDirectory(prefix="scf-redis-cluster-")
        self.ports = [cluster_port() for _ in range(3)]
        self.procs = []
        for port in self.ports:
            d = Path(self._dir.name) / str(port)
            d.mkdir()
            log = open(d / "redis.log", "ab")
            self.procs.append(subprocess.Popen(
                [str(self.binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(d), "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"],
                env=_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log))
            log.close()
        deadline = time.monotonic() + 20
        for port in self.ports:
            while self.cli(port, "PING") != "PONG":
                if time.monotonic() > deadline:
                    pytest.fail(f"cluster node {port} does not answer PING", pytrace=False)
                time.sleep(0.05)
        out = subprocess.run(
            [str(self.cli_binary), "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports), "--cluster-yes"],
            capture_output=True, text=True, env=_env(), timeout=60)
        if out.returncode != 0:
            pytest.fail(f"redis-cli --cluster create failed:\n{out.stdout}\n{out.stderr}", pytrace=False)
        while "cluster_state:ok" not in self.cli(self.ports[0], "CLUSTER", "INFO"):
            if time.monotonic() > deadline + 20:
                pytest.fail("the cluster never reached cluster_state:ok", pytrace=False)
            time.sleep(0.1)

    @property
    def url(self) -> str:
        return ",".join(f"redis://127.0.0.1:{p}" for p in self.ports)

    def cli(self, port: int, *args: str) -> str:
        proc = subprocess.run([str(self.cli_binary), "-h", "127.0.0.1", "-p", str(port), *args],
                              capture_output=True, text=True, env=_env(), timeout=30)
        return proc.stdout.strip()

    def keys(self, pattern: str) -> list[str]:
        return [k for p in self.ports for k in self.cli(p, "--scan", "--pattern", pattern).splitlines() if k]

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(timeout=10)
        self._dir.cleanup()
