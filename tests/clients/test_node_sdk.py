"""The UNMODIFIED legacy Node SDK (`qcloudapi-sdk` 0.2.1 from the npm registry,
installed under target/node by scripts/test.sh) against the bridge with legacy
signature verification on, over plain HTTP and TLS, GET and POST, HmacSHA1 and
HmacSHA256 — and the two ways it signs differently from the Python SDK:

* it signs the host exactly as configured (`127.0.0.1:443`) while its HTTP
  library leaves a default port out of the `Host` header it sends;
* it sorts the raw parameter names and only then turns `_` into `.`
  (Python replaces first, then sorts), which differs for a name with `_`.

The SDK skips certificate checks itself (`strictSSL: false`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import scfkit
from scfkit import LEGACY_SECRET_ID, LEGACY_SECRET_KEY, toml_str

NODE_MODULES = Path(os.environ.get("SCF_NODE_MODULES", scfkit.REPO_ROOT / "target" / "node" / "node_modules"))
SDK_VERSION = "0.2.1"
DRIVER = scfkit.HERE / "node_sdk_call.js"


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        pytest.fail("node is not on PATH: the Node SDK tests need it (they are never skipped)")
    package = NODE_MODULES / "qcloudapi-sdk" / "package.json"
    if not package.is_file():
        pytest.fail(f"{package} is missing: run scripts/test.sh, which installs qcloudapi-sdk@{SDK_VERSION}")
    version = json.loads(package.read_text())["version"]
    assert version == SDK_VERSION, f"installed qcloudapi-sdk is {version}, expected {SDK_VERSION}"
    return exe


@pytest.fixture(scope="module")
def bridge(bridge_bin):
    """Plain and TLS listeners, verification on, the embedded emulator upstream."""
    with tempfile.TemporaryDirectory(prefix="scf-node-pki-") as d:
        pki = scfkit.make_pki(d)
        plain, tls = scfkit.free_port(), scfkit.free_port()
        config = f"""
[server]
listen = {toml_str(f"127.0.0.1:{plain}")}
tls_listen = {toml_str(f"127.0.0.1:{tls}")}
tls_cert = {toml_str(pki.cert_file)}
tls_key = {toml_str(pki.key_file)}
drain_delay_secs = 0

[admin]
listen = {toml_str(f"127.0.0.1:{scfkit.free_port()}")}

[auth]
mode = "verify"

[[auth.clients]]
secret_id = {toml_str(LEGACY_SECRET_ID)}
secret_key = {toml_str(LEGACY_SECRET_KEY)}
upstream = "bridge"
"""
        proc = scfkit.start_bridge_with_config(config, plain, (tls,))
        proc.plain_port, proc.tls_port = plain, tls
        yield proc
        proc.cleanup()


def node_call(node: str, *, host: str, protocol: str, method: str, signature_method: str,
              data: dict, connect_port: int | None = None, host_header: str | None = None,
              secret_key: str = LEGACY_SECRET_KEY) -> dict:
    spec = {
        "modules": str(NODE_MODULES), "secretId": LEGACY_SECRET_ID, "secretKey": secret_key,
        "region": "ap-guangzhou", "host": host, "protocol": protocol, "method": method,
        "signatureMethod": signature_method, "data": data, "connectPort": connect_port,
        "hostHeader": host_header,
    }
    env = scfkit.clean_env()
    out = subprocess.run([node, str(DRIVER), json.dumps(spec)], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["error"] is None, result
    return result["body"]


def invoke_data(**extra: str) -> dict:
    return {"Action": "InvokeFunction", "functionName": "echo", "param": '{"name": "云 x y", "n": 1}', **extra}


def assert_echoed(body: dict) -> None:
    assert (body["code"], body["codeDesc"]) == (0, "Success"), body
    assert json.loads(body["data"]["retMsg"]) == {"name": "云 x y", "n": 1}
    assert body["data"]["invokeResult"] == 0


@pytest.mark.parametrize("protocol", ["http", "https"])
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("signature_method", ["sha1", "sha256"])
def test_node_sdk_invokes_through_the_verifying_bridge(node, bridge, protocol, method, signature_method):
    port = bridge.tls_port if protocol == "https" else bridge.plain_port
    body = node_call(node, host=f"127.0.0.1:{port}", protocol=protocol, method=method,
                     signature_method=signature_method, data=invoke_data())
    assert_echoed(body)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("protocol,default_port", [("https", 443), ("http", 80)])
def test_a_default_port_signed_but_left_out_of_the_host_header_is_accepted(node, bridge, method, protocol, default_port):
    # Configured as `127.0.0.1:443`: the SDK signs that; its HTTP library sends `Host: 127.0.0.1`.
    port = bridge.tls_port if protocol == "https" else bridge.plain_port
    body = node_call(node, host=f"127.0.0.1:{default_port}", protocol=protocol, method=method,
                     signature_method="sha256", data=invoke_data(), connect_port=port)
    assert_echoed(body)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_host_signed_without_port_but_sent_with_the_default_one_is_accepted(node, bridge, method):
    body = node_call(node, host="127.0.0.1", protocol="https", method=method, signature_method="sha1",
                     data=invoke_data(), connect_port=bridge.tls_port, host_header="127.0.0.1:443")
    assert_echoed(body)


@pytest.mark.parametrize("protocol", ["http", "https"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_name_with_underscore_in_node_order_is_accepted(node, bridge, protocol, method):
    # `Request_Source` sorts after `RequestClient` raw, before it once `_` is `.`.
    port = bridge.tls_port if protocol == "https" else bridge.plain_port
    body = node_call(node, host=f"127.0.0.1:{port}", protocol=protocol, method=method,
                     signature_method="sha1", data=invoke_data(Request_Source="legacy-app"))
    assert_echoed(body)


def test_a_wrong_key_is_refused_so_verification_is_on(node, bridge):
    body = node_call(node, host=f"127.0.0.1:{bridge.plain_port}", protocol="http", method="POST",
                     signature_method="sha1", data=invoke_data(), secret_key="not-the-key")
    assert body["code"] == 4100, body
