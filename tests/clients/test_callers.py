"""`GET /callers` on the admin listener, fed by the UNMODIFIED legacy SDK.

The real qcloudapi-sdk-python (2.0.15) calls the bridge with signature verification on;
the table must show its `RequestClient` exactly as the SDK sent it, the caller's SecretId
masked, counts by legacy code, the functions called and the 3.0 identity that signed.

Hook for other legacy SDKs: each entry of LEGACY_CLIENTS is (name, run(bridge, params,
secret_id, secret_key) -> legacy JSON document, the RequestClient value it sends).
The Node SDK test adds its runner here when that harness lands.
"""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

import scfkit
from scfkit import BRIDGE_SECRET_ID, BRIDGE_SECRET_KEY, LEGACY_SECRET_ID, LEGACY_SECRET_KEY, MockUpstream, toml_str

SELF_ID = "AKIDcallersSelfSigning0000000002"
SELF_KEY = "callersSelfSigningKey00000000002"


def run_python_sdk(bridge, params, secret_id, secret_key):
    return scfkit.run_legacy_sdk(bridge.host_port, params, method="POST", secret_id=secret_id,
                                 secret_key=secret_key).json()


# (name, runner, RequestClient the SDK sends). Node: append ("node", run_node_sdk, "SDK_NODEJS_…").
LEGACY_CLIENTS = [
    ("python", run_python_sdk, "SDK_PYTHON_2.0.15"),
]


@pytest.fixture(scope="module")
def callers_upstream():
    server = MockUpstream({BRIDGE_SECRET_ID: BRIDGE_SECRET_KEY, SELF_ID: SELF_KEY})
    yield server
    server.close()


@pytest.fixture(scope="module")
def bridge(bridge_bin, callers_upstream):
    port, admin = scfkit.free_port(), scfkit.free_port()
    config = f"""
[server]
listen = {toml_str(f"127.0.0.1:{port}")}
drain_delay_secs = 0

[admin]
listen = {toml_str(f"127.0.0.1:{admin}")}

[upstream]
endpoint = {toml_str(f"http://{callers_upstream.host_port}")}

[credentials]
secret_id = {toml_str(BRIDGE_SECRET_ID)}
secret_key = {toml_str(BRIDGE_SECRET_KEY)}

[auth]
mode = "verify"

[[auth.clients]]
secret_id = {toml_str(LEGACY_SECRET_ID)}
secret_key = {toml_str(LEGACY_SECRET_KEY)}
upstream = "bridge"

[[auth.clients]]
secret_id = {toml_str(SELF_ID)}
secret_key = {toml_str(SELF_KEY)}
"""
    proc = scfkit.start_bridge_with_config(config, port, (admin,))
    proc.admin = f"127.0.0.1:{admin}"
    yield proc
    proc.cleanup()


def get(bridge, path, accept=None):
    req = urllib.request.Request(f"http://{bridge.admin}{path}")
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def entries(bridge, query=""):
    status, ctype, body = get(bridge, "/callers" + query)
    assert status == 200, body
    assert ctype == "application/json"
    return json.loads(body)


def find(doc, prefix, request_client):
    rows = [c for c in doc["callers"] if c["secret_id"].startswith(prefix[:4])
            and c["secret_id"].endswith(prefix[-4:]) and c["request_client"] == request_client]
    assert len(rows) == 1, json.dumps(doc, indent=1)
    return rows[0]


@pytest.mark.parametrize("name,run,request_client", LEGACY_CLIENTS, ids=[c[0] for c in LEGACY_CLIENTS])
def test_callers_shows_the_real_sdk_with_its_request_client(bridge, callers_upstream, name, run, request_client):
    callers_upstream.clear()
    assert run(bridge, {"functionName": "alpha"}, LEGACY_SECRET_ID, LEGACY_SECRET_KEY)["code"] == 0
    assert run(bridge, {"functionName": "alpha"}, LEGACY_SECRET_ID, LEGACY_SECRET_KEY)["code"] == 0
    assert run(bridge, {"functionName": "beta"}, LEGACY_SECRET_ID, LEGACY_SECRET_KEY)["code"] == 0
    assert run(bridge, {"functionName": "alpha"}, LEGACY_SECRET_ID, LEGACY_SECRET_KEY + "x")["code"] == 4100
    assert run(bridge, {"functionName": "gamma"}, SELF_ID, SELF_KEY)["code"] == 0

    doc = entries(bridge)
    row = find(doc, LEGACY_SECRET_ID, request_client)
    assert row["action"] == "InvokeFunction"
    assert row["requests"] == 4
    assert row["codes"] == {"0": 3, "4100": 1}
    assert row["identity"] == ["bridge"]
    # Functions are counted once the request is verified (the 4100 one is not).
    assert row["functions"][0] == {"name": "alpha", "requests": 2}
    assert {"name": "beta", "requests": 1} in row["functions"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["first_seen"]), row
    # Masked: a short prefix and suffix only.
    assert LEGACY_SECRET_ID not in json.dumps(doc)
    assert row["secret_id"].startswith("AKID") and "*" * 8 in row["secret_id"]

    own = find(doc, SELF_ID, request_client)
    assert own["identity"] == ["self"]
    assert own["codes"] == {"0": 1}
    assert doc["callers_last_hour"] >= 2

    # A SecretId the bridge does not know is pooled, never listed as sent.
    unknown = "AKIDnobodyKnowsThisOne0000000009"
    assert run(bridge, {"functionName": "x"}, unknown, "k")["code"] == 4104
    doc = entries(bridge)
    assert unknown not in json.dumps(doc)
    pooled = [c for c in doc["callers"] if c["secret_id"] == "(unknown)"]
    assert pooled and pooled[0]["codes"].get("4104", 0) >= 1

    # The same facts as a table.
    status, ctype, text = get(bridge, "/callers", accept="text/plain")
    assert status == 200 and ctype.startswith("text/plain")
    line = next(ln for ln in text.splitlines() if row["secret_id"] in ln and request_client in ln)
    assert "0:3" in line and "4100:1" in line and "alpha:2" in line

    # Metrics: distinct callers and requests by RequestClient family.
    status, _, metrics = get(bridge, "/metrics")
    family = request_client.rsplit("_", 1)[0]
    assert re.search(r'^scf_bridge_callers \d+', metrics, re.M), metrics
    assert re.search(rf'^scf_bridge_client_requests_total{{request_client="{family}"}} \d+', metrics, re.M)


def test_since_filters_and_rejects_nonsense(bridge):
    assert entries(bridge, "?since=4102444800")["callers"] == []  # 2100-01-01
    status, _, body = get(bridge, "/callers?since=yesterday")
    assert status == 400 and "since" in body
