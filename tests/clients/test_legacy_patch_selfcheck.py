"""The legacy signer of the suite and the plain-HTTP patch of the UNMODIFIED legacy SDK.

Runs without the bridge: the SDK talks to a capture server, and we recompute its
signature with our own few-line HMAC (checked first against published vectors).
"""

from __future__ import annotations

import json
import time

import pytest

import scfkit
from scfkit import LEGACY_PATH, LEGACY_SECRET_ID, LEGACY_SECRET_KEY

DOC_KEY = "Gu5t9xGARNpq86cd98joQYCN3Cozk1qA"
DOC_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA"
SCF_COMMON = {
    "Action": "InvokeFunction", "Nonce": 11886, "Region": "gz", "SecretId": DOC_ID, "Timestamp": 1465185768,
    "functionName": "hello", "param": '{"a":1}', "invokeType": "RequestResponse", "logType": "Tail",
}
SDK_TEST = {
    "SecretId": "secretIdFoo", "Region": "ap-guangzhou", "SignatureMethod": "HmacSHA1", "Nonce": "1290303896666895346",
    "Timestamp": "1512393162", "Action": "DescribeInstances", "Version": "2017-03-12",
}
CVM_V1 = {
    "Action": "DescribeInstances", "Nonce": 11886, "Region": "gz", "SecretId": DOC_ID, "Timestamp": 1465185768,
    "instanceIds.0": "ins-09dx96dg", "limit": 20, "offset": 0,
}
CVM_V2 = {
    "Action": "DescribeInstances", "InstanceIds_0": "ins-09dx96dg", "Nonce": 11886, "Region": "ap-guangzhou",
    "SecretId": DOC_ID, "Timestamp": 1465185768,
}

VECTORS = [
    # (id, method, host, params, key, signature method, expected)
    ("V1-doc", "GET", "cvm.api.qcloud.com", CVM_V1, DOC_KEY, "HmacSHA1", "NSI3UqqD99b/UJb4tbG/xZpRW64="),
    ("V2-doc-256", "GET", "cvm.api.qcloud.com", dict(CVM_V2, SignatureMethod="HmacSHA256"), DOC_KEY, "HmacSHA256",
     "0EEm/HtGRr/VJXTAD9tYMth1Bzm3lLHz5RCDv1GdM8s="),
    ("V3-doc-1", "GET", "cvm.api.qcloud.com", dict(CVM_V2, SignatureMethod="HmacSHA1"), DOC_KEY, "HmacSHA1",
     "nPVnY6njQmwQ8ciqbPl5Qe+Oru4="),
    ("V4-sdk-post", "POST", "cvm.api.qcloud.com", SDK_TEST, "secretKeyBar", "HmacSHA1", "p3n+pxBqF5JGZtDSxoVn5tGngf0="),
    ("V4-sdk-get", "GET", "cvm.api.qcloud.com", SDK_TEST, "secretKeyBar", "HmacSHA1", "5HAq1BOKNLEE2/uauWnp6Zv9Z3c="),
    ("V4-sdk-post-256", "POST", "cvm.api.qcloud.com", dict(SDK_TEST, SignatureMethod="HmacSHA256"), "secretKeyBar",
     "HmacSHA256", "B2T37FRSP6Fk0/q/cdfrTE0p3zX5ooB/2BPWZUFpsj4="),
    ("scf-get", "GET", "scf.api.qcloud.com", SCF_COMMON, DOC_KEY, "HmacSHA1", "hX9vjvTz9tlQQu5W6+bFl78Wo2w="),
    ("scf-post", "POST", "scf.api.qcloud.com", SCF_COMMON, DOC_KEY, "HmacSHA1", "W1RAozuEHPL9G6SJa5A2d18WnVA="),
    ("scf-get-256", "GET", "scf.api.qcloud.com", dict(SCF_COMMON, SignatureMethod="HmacSHA256"), DOC_KEY, "HmacSHA256",
     "ShaLPuhI3UvAKxydhNrJ9IybWM965uUHwbkzHlqjT1s="),
    ("scf-utf8", "GET", "scf.api.qcloud.com", dict(SCF_COMMON, param='{"name":"云函数 x"}'), DOC_KEY, "HmacSHA1",
     "Ri4mODxUwAMwWkrLK4ZMBODXquU="),
    ("scf-post-at", "POST", "scf.api.qcloud.com", dict(SCF_COMMON, code="@UEsDBBQAAAAI"), DOC_KEY, "HmacSHA1",
     "W1RAozuEHPL9G6SJa5A2d18WnVA="),
    ("scf-get-at", "GET", "scf.api.qcloud.com", dict(SCF_COMMON, code="@UEsDBBQAAAAI"), DOC_KEY, "HmacSHA1",
     "Q5icerFbE66NYAYmQVIhoBm9eWY="),
]


@pytest.mark.parametrize("vid,method,host,params,key,sm,expected", VECTORS, ids=[v[0] for v in VECTORS])
def test_own_legacy_signer_matches_reference_vectors(vid, method, host, params, key, sm, expected):
    assert scfkit.legacy_sign(key, scfkit.legacy_string_to_sign(method, host, LEGACY_PATH, params), sm) == expected


def test_own_string_to_sign_is_the_documented_one():
    assert scfkit.legacy_string_to_sign("GET", "scf.api.qcloud.com", LEGACY_PATH, SCF_COMMON) == (
        "GETscf.api.qcloud.com/v2/index.php?Action=InvokeFunction&Nonce=11886&Region=gz"
        "&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA&Timestamp=1465185768&functionName=hello"
        "&invokeType=RequestResponse&logType=Tail&param={\"a\":1}"
    )


PARAM_TEXT = '{"name": "云函数 x y", "s": "a+b&c=d/%"}'


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("sig_method", [None, "HmacSHA1", "HmacSHA256"])
def test_patched_legacy_sdk_reaches_local_plain_http_with_verifiable_signature(legacy_capture, method, sig_method):
    outcome = scfkit.run_legacy_sdk(
        legacy_capture.host_port,
        {"functionName": "echo", "param": PARAM_TEXT, "invokeType": "RequestResponse", "logType": "Tail"},
        method=method, signature_method=sig_method, region="gz",
    )
    # The SDK returns the raw body bytes of the (HTTP 200) answer.
    assert outcome.ok, outcome
    assert outcome.json() == json.loads(legacy_capture.canned["body"])
    [rec] = legacy_capture.take()
    assert rec.method == method
    assert rec.path == LEGACY_PATH
    assert rec.header("Host") == legacy_capture.host_port
    if method == "POST":
        assert rec.header("Content-Type") == "application/x-www-form-urlencoded"
        assert rec.query == ""
    else:
        assert rec.body == b""
    p = rec.form()
    assert set(p) == {
        "Action", "RequestClient", "Region", "SecretId", "Nonce", "Timestamp", "SignatureMethod", "Signature",
        "functionName", "param", "invokeType", "logType",
    }
    assert p["Action"] == "InvokeFunction"
    assert p["RequestClient"] == "SDK_PYTHON_2.0.15"
    assert p["SecretId"] == LEGACY_SECRET_ID
    assert p["Region"] == "gz"
    assert p["SignatureMethod"] == (sig_method or "HmacSHA1")
    assert p["param"] == PARAM_TEXT  # UTF-8, spaces and reserved characters survive the round trip
    assert p["Nonce"].isdigit() and abs(int(p["Timestamp"]) - time.time()) < 120
    # The signature covers the host actually used, port included ...
    expected = scfkit.legacy_sign(
        LEGACY_SECRET_KEY, scfkit.legacy_string_to_sign(method, rec.header("Host"), LEGACY_PATH, p), p["SignatureMethod"]
    )
    assert p["Signature"] == expected
    # ... and not the canonical legacy host.
    canonical = scfkit.legacy_sign(
        LEGACY_SECRET_KEY, scfkit.legacy_string_to_sign(method, "scf.api.qcloud.com", LEGACY_PATH, p), p["SignatureMethod"]
    )
    assert p["Signature"] != canonical


def test_legacy_sdk_raises_on_non_200(legacy_capture):
    legacy_capture.canned["status"] = 500
    legacy_capture.canned["body"] = b'{"code":6000}'
    outcome = scfkit.run_legacy_sdk(legacy_capture.host_port, {"functionName": "hello"})
    assert not outcome.ok
    assert (outcome.error_type, outcome.http_status) == ("ApiServerNetworkException", 500)


def test_patch_is_undone_cleanly():
    import legacy_plain_http
    import QcloudApi.common.request as sdk_request
    import QcloudApi.modules.scf as sdk_scf

    before = (sdk_request.MyHTTPSConnection, sdk_scf.Scf.requestHost)
    assert before[1] == "scf.api.qcloud.com"
    undo = legacy_plain_http.install("127.0.0.1:9")
    try:
        assert sdk_request.MyHTTPSConnection is legacy_plain_http.PlainHTTPConnection
        assert sdk_scf.Scf.requestHost == "127.0.0.1:9"
    finally:
        undo()
    assert (sdk_request.MyHTTPSConnection, sdk_scf.Scf.requestHost) == before
