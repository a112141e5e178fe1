"""Fixtures of the real-client suite: real processes on free loopback ports, a scripted
3.0 mock upstream, and a legacy capture server. Helpers live in scfkit.py."""

from __future__ import annotations

import json
import os

import pytest

import scfkit
from scfkit import ManagedProcess, MockUpstream, RecordingServer

# Loopback only: make sure no proxy from the environment intercepts the clients.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


@pytest.fixture(scope="session")
def bridge_bin() -> str:
    return scfkit.bridge_binary()


@pytest.fixture(scope="module")
def mock_upstream():
    server = MockUpstream()
    yield server
    server.close()


@pytest.fixture
def upstream(mock_upstream: MockUpstream):
    """The module's mock upstream, emptied and with its default answer for this test."""
    mock_upstream.clear()
    default = mock_upstream.answer
    yield mock_upstream
    mock_upstream.answer = default
    mock_upstream.clear()


@pytest.fixture(scope="module")
def bridge_to_mock(bridge_bin, mock_upstream: MockUpstream):
    """`scf-bridge serve` whose upstream is the Python mock (no region configured)."""
    proc = scfkit.start_bridge(upstream=f"http://{mock_upstream.host_port}")
    yield proc
    proc.cleanup()


@pytest.fixture(scope="module")
def embedded_bridge(bridge_bin):
    """`scf-bridge serve` with nothing configured but the listen port (embedded emulator)."""
    proc = scfkit.start_bridge(minimal=True)
    yield proc
    proc.cleanup()


@pytest.fixture(scope="module")
def emulator(bridge_bin):
    proc = scfkit.start_emulator()
    yield proc
    proc.cleanup()


LEGACY_CANNED = {"code": 0, "message": "", "codeDesc": "Success", "data": {"requestId": "capture"}}


@pytest.fixture
def legacy_capture():
    """Records legacy requests; answers a fixed legacy JSON (or what .canned says)."""
    holder = {"status": 200, "body": json.dumps(LEGACY_CANNED).encode()}
    server = RecordingServer(
        lambda rec: (holder["status"], [("Content-Type", "application/json")], holder["body"])
    )
    server.canned = holder
    yield server
    server.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the stderr of every scf-bridge process the test used."""
    rep = yield
    if rep.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            if isinstance(value, ManagedProcess):
                rep.sections.append((f"{name} ({value.name}) stderr", value.stderr_text()[-3000:]))
    return rep
