"""The mock 3.0 upstream checks REAL TC3 signatures: the official ScfClient is its client.

If these fail, every bridge-outbound verdict of the suite is worthless, so they run
without the bridge binary.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

import scfkit
from scfkit import BRIDGE_SECRET_ID, BRIDGE_SECRET_KEY, MockUpstream, v3_error, v3_result

# Official TC3 worked example (CVM DescribeInstances, api3.md §3.3/§3.4).
VECTOR_PAYLOAD = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)


def test_canonical_request_builder_reproduces_official_tc3_vector():
    headers = {"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com"}
    canonical = scfkit.tc3_canonical_request(
        "POST", "/", "", headers, ["content-type", "host"], VECTOR_PAYLOAD
    )
    assert canonical.endswith(scfkit.sha256_hex(VECTOR_PAYLOAD))
    assert scfkit.sha256_hex(VECTOR_PAYLOAD).startswith("35e9c5b0")
    assert scfkit.sha256_hex(canonical.encode()).startswith("5ffe6a04")
    assert scfkit.sha256_hex(canonical.encode()).endswith("7031")
    assert scfkit.utc_date(1551113065) == "2019-02-25"  # UTC, not UTC+8's 2019-02-26
    sts = scfkit.tc3_string_to_sign(1551113065, "2019-02-25", "cvm", canonical)
    assert (
        scfkit.sdk_sign_tc3("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "2019-02-25", "cvm", sts)
        == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    )
    assert (
        scfkit.sdk_sign_tc3("Gu5t9xGARNpq86cd98joQYCN3*******", "2019-02-25", "cvm", sts)
        == "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    )


@pytest.fixture
def mock():
    server = MockUpstream({BRIDGE_SECRET_ID: BRIDGE_SECRET_KEY})
    yield server
    server.close()


def _invoke(mock, secret_id=BRIDGE_SECRET_ID, secret_key=BRIDGE_SECRET_KEY):
    client = scfkit.scf_client(mock.host_port, secret_id, secret_key, timeout=20)
    return client.Invoke(
        scfkit.invoke_request(
            FunctionName="hello", InvocationType="RequestResponse", ClientContext='{"k": "云 v"}', LogType="Tail"
        )
    )


def test_real_sdk_with_correct_key_verifies(mock):
    fid, rid = str(uuid.uuid4()), str(uuid.uuid4())
    mock.answer = v3_result(
        rid, FunctionRequestId=fid, RetMsg='"hi"', ErrMsg="", Log="L", MemUsage=3207168,
        Duration=0.826, BillDuration=100, InvokeResult=0,
    )
    resp = _invoke(mock)
    assert resp.RequestId == rid
    assert (resp.Result.FunctionRequestId, resp.Result.RetMsg, resp.Result.Duration, resp.Result.MemUsage) == (
        fid, '"hi"', 0.826, 3207168,
    )
    [rec] = mock.take()
    assert rec.tc3.ok, rec.tc3
    assert rec.tc3.secret_id == BRIDGE_SECRET_ID and rec.tc3.service == "scf"
    assert rec.tc3.signed_headers == "content-type;host"
    assert rec.header("Host") == mock.host_port
    assert rec.method == "POST" and rec.target == "/"
    assert rec.json() == {
        "FunctionName": "hello", "InvocationType": "RequestResponse", "ClientContext": '{"k": "云 v"}', "LogType": "Tail",
    }


def test_real_sdk_with_wrong_key_is_rejected(mock):
    with pytest.raises(TencentCloudSDKException) as ei:
        _invoke(mock, secret_key=BRIDGE_SECRET_KEY + "x")
    assert ei.value.code == "AuthFailure.SignatureFailure"
    [rec] = mock.take()
    assert not rec.tc3.ok and rec.tc3.reason == "signature mismatch"
    assert rec.tc3.signature != rec.tc3.expected_signature


def test_real_sdk_with_unknown_secret_id_is_rejected(mock):
    with pytest.raises(TencentCloudSDKException) as ei:
        _invoke(mock, secret_id="AKIDnobodyKnowsThisId")
    assert ei.value.code == "AuthFailure.SecretIdNotFound"
    assert not mock.take()[0].tc3.ok


def test_any_change_to_signed_bytes_breaks_verification(mock):
    _invoke(mock)
    [rec] = mock.take()
    keys = mock.keys
    hdrs = rec.headers_lower
    now = time.time()
    assert scfkit.tc3_verify(rec.method, rec.target, hdrs, rec.body, keys, now).ok
    tampered_body = rec.body.replace(b"hello", b"hellp")
    assert tampered_body != rec.body
    assert scfkit.tc3_verify(rec.method, rec.target, hdrs, tampered_body, keys, now).error_code == (
        "AuthFailure.SignatureFailure"
    )
    other_host = dict(hdrs, host="127.0.0.1:1")
    assert not scfkit.tc3_verify(rec.method, rec.target, other_host, rec.body, keys, now).ok
    other_ct = dict(hdrs, **{"content-type": "application/json; charset=utf-8"})
    assert not scfkit.tc3_verify(rec.method, rec.target, other_ct, rec.body, keys, now).ok
    assert not scfkit.tc3_verify("GET", rec.target, hdrs, rec.body, keys, now).ok
    assert not scfkit.tc3_verify(rec.method, "/x", hdrs, rec.body, keys, now).ok
    later = int(hdrs["x-tc-timestamp"]) + 1
    assert not scfkit.tc3_verify(rec.method, rec.target, dict(hdrs, **{"x-tc-timestamp": str(later)}), rec.body, keys, now).ok


def test_stale_timestamp_is_signature_expire(mock):
    body = json.dumps({"FunctionName": "hello"}).encode()
    status, headers, raw = scfkit.tc3_post(
        mock.host_port, body, secret_id=BRIDGE_SECRET_ID, secret_key=BRIDGE_SECRET_KEY,
        timestamp=int(time.time()) - 3600,
    )
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(raw)["Response"]["Error"]["Code"] == "AuthFailure.SignatureExpire"
    # the same request, fresh, passes: only the timestamp made the difference
    status, _, raw = scfkit.tc3_post(mock.host_port, body, secret_id=BRIDGE_SECRET_ID, secret_key=BRIDGE_SECRET_KEY)
    assert "Result" in json.loads(raw)["Response"]
    assert [r.tc3.ok for r in mock.take()] == [False, True]


def test_canned_error_envelope_is_what_the_real_sdk_raises(mock):
    rid = str(uuid.uuid4())
    mock.answer = v3_error("ResourceNotFound.Function", "函数不存在", rid)
    with pytest.raises(TencentCloudSDKException) as ei:
        _invoke(mock)
    assert (ei.value.code, ei.value.message, ei.value.requestId) == ("ResourceNotFound.Function", "函数不存在", rid)
    assert mock.take()[0].tc3.ok
