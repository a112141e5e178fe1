"""The UNMODIFIED legacy SDK over real HTTPS, with legacy signature verification on.

No SDK patch at all here: the SDK connects with TLS to its hard-coded
scf.api.qcloud.com:443, which only name resolution sends to the bridge's TLS listener
(what a hosts entry does in production); it trusts the bridge through SSL_CERT_FILE,
and the bridge checks its v1 signature over scf.api.qcloud.com (auth.signing_hosts).
"""

from __future__ import annotations

import tempfile
import time

import pytest

import scfkit
from scfkit import (
    AUTH_RE,
    BRIDGE_SECRET_ID,
    BRIDGE_SECRET_KEY,
    LEGACY_SECRET_ID,
    LEGACY_SECRET_KEY,
    MockUpstream,
    toml_str,
)

SELF_ID = "AKIDselfSigningCaller000000000001"
SELF_KEY = "selfSigningCallerKey0000000000001"
PARAM = '{"name": "云函数 x y"}'


@pytest.fixture(scope="module")
def pki():
    with tempfile.TemporaryDirectory(prefix="scf-pki-") as d:
        yield scfkit.make_pki(d)


@pytest.fixture(scope="module")
def auth_upstream():
    server = MockUpstream({BRIDGE_SECRET_ID: BRIDGE_SECRET_KEY, SELF_ID: SELF_KEY})
    yield server
    server.close()


@pytest.fixture
def up(auth_upstream):
    auth_upstream.clear()
    yield auth_upstream
    auth_upstream.clear()


@pytest.fixture(scope="module")
def tls_bridge(bridge_bin, pki, auth_upstream):
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

[upstream]
endpoint = {toml_str(f"http://{auth_upstream.host_port}")}

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
    proc = scfkit.start_bridge_with_config(config, plain, (tls,))
    proc.tls_port = tls
    yield proc
    proc.cleanup()


def sdk_tls(bridge, pki, params, **kw):
    return scfkit.run_legacy_sdk("", params, tls_redirect_port=bridge.tls_port, ca_file=pki.ca_file, **kw)


def the_request(up):
    reqs = up.take()
    assert len(reqs) == 1, f"expected 1 upstream request, got {len(reqs)}"
    rec = reqs[0]
    assert rec.tc3.ok, rec.tc3
    return rec


def credential_id(rec) -> str:
    m = AUTH_RE.match(rec.header("Authorization") or "")
    assert m, rec.header("Authorization")
    return m.group(1)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("sig_method", ["HmacSHA1", "HmacSHA256"])
def test_unmodified_sdk_over_https_is_verified_and_bridged(tls_bridge, pki, up, method, sig_method):
    out = sdk_tls(tls_bridge, pki, {"functionName": "echo", "param": PARAM, "logType": "Tail"},
                  method=method, signature_method=sig_method, region="sh")
    doc = out.json()
    assert (doc["code"], doc["codeDesc"]) == (0, "Success"), doc
    rec = the_request(up)
    assert credential_id(rec) == BRIDGE_SECRET_ID  # upstream = "bridge"
    assert rec.header("X-TC-Region") == "ap-shanghai"
    assert rec.header("X-TC-Action") == "InvokeFunction"
    body = rec.json()
    assert (body["FunctionName"], body["Event"], body["LogType"]) == ("echo", PARAM, "Tail")


def test_untrusted_certificate_is_refused_by_the_sdk(tls_bridge, up):
    out = scfkit.run_legacy_sdk("", {"functionName": "hello"}, tls_redirect_port=tls_bridge.tls_port, ca_file=None)
    assert not out.ok
    assert out.error_type == "ApiClientNetworkException"
    assert "CERTIFICATE_VERIFY_FAILED" in (out.error_text or "")
    assert up.take() == []


def test_self_identity_signs_upstream_with_the_callers_key_and_token(tls_bridge, pki, up):
    out = sdk_tls(tls_bridge, pki, {"functionName": "hello"}, secret_id=SELF_ID, secret_key=SELF_KEY,
                  token="legacySessionTok123")
    assert out.json()["code"] == 0
    rec = the_request(up)
    assert credential_id(rec) == SELF_ID
    assert rec.header("X-TC-Token") == "legacySessionTok123"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_wrong_key_is_4100_and_never_reaches_scf(tls_bridge, pki, up, method):
    out = sdk_tls(tls_bridge, pki, {"functionName": "hello"}, method=method, secret_key=LEGACY_SECRET_KEY + "x")
    doc = out.json()
    assert doc["code"] == 4100, doc
    assert "data" not in doc
    assert up.take() == []


def test_unknown_secret_id_is_4104_and_never_reaches_scf(tls_bridge, pki, up):
    doc = sdk_tls(tls_bridge, pki, {"functionName": "hello"}, secret_id="AKIDnotRegistered0000000001").json()
    assert doc["code"] == 4104, doc
    assert up.take() == []


def test_patched_sdk_on_plain_listener_signs_the_local_host(tls_bridge, up):
    out = scfkit.run_legacy_sdk(tls_bridge.host_port, {"functionName": "hello"}, method="POST")
    assert out.json()["code"] == 0
    assert credential_id(the_request(up)) == BRIDGE_SECRET_ID


def test_replayed_request_is_4500(tls_bridge, up):
    params = scfkit.legacy_params({"functionName": "hello"}, host=tls_bridge.host_port)
    first = scfkit.legacy_http(tls_bridge.host_port, params)
    second = scfkit.legacy_http(tls_bridge.host_port, params)
    assert first.json()["code"] == 0, first.body
    assert (second.status, second.json()["code"]) == (200, 4500), second.body
    assert len(up.take()) == 1


def test_stale_timestamp_is_4200(tls_bridge, up):
    stale = str(int(time.time()) - 3600)
    params = scfkit.legacy_params({"functionName": "hello", "Timestamp": stale}, host=tls_bridge.host_port)
    assert params["Timestamp"] == stale  # correctly signed, only old
    ans = scfkit.legacy_http(tls_bridge.host_port, params)
    assert (ans.status, ans.json()["code"]) == (200, 4200), ans.body
    assert up.take() == []
