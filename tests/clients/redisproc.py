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
    """One redis-server on 127.0.0.1:<port>; `password` sets requirepass."""

    def __init__(self, password: str | None = None):
        self.binary = redis_server_binary()
        self.cli_binary = self.binary.parent / "redis-cli"
        self.port = scfkit.free_port()
        self.password = password
        self._dir = tempfile.TemporaryDirectory(prefix="scf-redis-")
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [
            str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", self._dir.name, "--daemonize", "no", "--loglevel", "warning",
        ]
        if self.password is not None:
            argv += ["--requirepass", self.password]
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
