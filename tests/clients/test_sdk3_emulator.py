"""Official tencentcloud-sdk-python-scf ScfClient -> `scf-bridge emulator` (standalone 3.0 emulator)."""

from __future__ import annotations

import json
import time

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

import scfkit
from scfkit import BRIDGE_SECRET_ID, BRIDGE_SECRET_KEY

EVENT = '{"k": "v", "name": "云函数 x y", "n": [1, 2.5, true, null]}'


@pytest.fixture
def client(emulator):
    return scfkit.scf_client(emulator.host_port, BRIDGE_SECRET_ID, BRIDGE_SECRET_KEY, timeout=30)


def invoke(client, **fields):
    return client.Invoke(scfkit.invoke_request(**fields))


def assert_sync_result_types(r):
    assert isinstance(r.FunctionRequestId, str) and r.FunctionRequestId
    assert type(r.Duration) is float and r.Duration >= 0
    assert type(r.BillDuration) is int and r.BillDuration >= 0
    assert type(r.MemUsage) is int and r.MemUsage >= 0
    assert type(r.InvokeResult) is int
    assert isinstance(r.Log, str) and isinstance(r.RetMsg, str) and isinstance(r.ErrMsg, str)


def test_hello_sync(client):
    resp = invoke(client, FunctionName="hello", InvocationType="RequestResponse")
    assert isinstance(resp.RequestId, str) and resp.RequestId
    r = resp.Result
    assert_sync_result_types(r)
    assert r.ErrMsg == ""
    greeting = json.loads(r.RetMsg)  # RetMsg is a JSON text holding a string
    assert isinstance(greeting, str) and greeting


def test_hello_default_invocation_type_is_sync(client):
    r = invoke(client, FunctionName="hello").Result
    assert_sync_result_types(r)
    assert isinstance(json.loads(r.RetMsg), str)


def test_each_invocation_has_its_own_ids(client):
    a, b = invoke(client, FunctionName="hello"), invoke(client, FunctionName="hello")
    assert a.RequestId != b.RequestId
    assert a.Result.FunctionRequestId != b.Result.FunctionRequestId


def test_echo_returns_event_text_and_tail_log_contains_it(client):
    resp = invoke(client, FunctionName="echo", InvocationType="RequestResponse", ClientContext=EVENT, LogType="Tail")
    r = resp.Result
    assert_sync_result_types(r)
    assert r.RetMsg == EVENT
    assert r.ErrMsg == ""
    assert EVENT in r.Log, f"Tail log does not contain the event: {r.Log!r}"


def test_fail_is_a_function_error_inside_result(client):
    resp = invoke(client, FunctionName="fail", InvocationType="RequestResponse")
    assert_sync_result_types(resp.Result)
    assert resp.Result.ErrMsg.strip() != ""


def test_event_invocation_returns_only_function_request_id(client):
    resp = invoke(client, FunctionName="hello", InvocationType="Event", ClientContext='{"a": 1}')
    r = resp.Result
    assert isinstance(r.FunctionRequestId, str) and r.FunctionRequestId
    others = {k: getattr(r, k) for k in ("Log", "RetMsg", "ErrMsg", "MemUsage", "Duration", "BillDuration", "InvokeResult")}
    assert others == dict.fromkeys(others), f"async Result must hold only FunctionRequestId, got {others}"
    assert resp.RequestId


def test_sleep_takes_its_time(client):
    t0 = time.monotonic()
    r = invoke(client, FunctionName="sleep", ClientContext='{"ms": 300}').Result
    assert time.monotonic() - t0 >= 0.3
    assert r.ErrMsg == ""


def _sdk_error(call):
    with pytest.raises(TencentCloudSDKException) as ei:
        call()
    return ei.value


def test_unknown_function_is_resource_not_found(client):
    e = _sdk_error(lambda: invoke(client, FunctionName="no-such-function-xyz"))
    assert e.code == "ResourceNotFound.Function"
    assert e.requestId


def test_wrong_secret_key_is_signature_failure(emulator):
    c = scfkit.scf_client(emulator.host_port, BRIDGE_SECRET_ID, BRIDGE_SECRET_KEY + "wrong", timeout=30)
    e = _sdk_error(lambda: invoke(c, FunctionName="hello"))
    assert e.code == "AuthFailure.SignatureFailure"
    assert e.requestId


def test_unknown_secret_id_is_secret_id_not_found(emulator):
    c = scfkit.scf_client(emulator.host_port, "AKIDnobodyKnowsThisId0000", BRIDGE_SECRET_KEY, timeout=30)
    e = _sdk_error(lambda: invoke(c, FunctionName="hello"))
    assert e.code == "AuthFailure.SecretIdNotFound"


def test_non_json_client_context_is_invalid_parameter_value(client):
    e = _sdk_error(lambda: invoke(client, FunctionName="echo", ClientContext="{not json"))
    assert e.code == "InvalidParameterValue.Param"


def test_raw_http_answers_200_json_and_stale_timestamp_expires(emulator):
    """Below the SDK: exact status / Content-Type, and the timestamp window."""
    body = json.dumps({"FunctionName": "hello"}).encode()
    status, headers, raw = scfkit.tc3_post(
        emulator.host_port, body, secret_id=BRIDGE_SECRET_ID, secret_key=BRIDGE_SECRET_KEY
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    ok = json.loads(raw)["Response"]
    assert ok["RequestId"] and ok["Result"]["FunctionRequestId"]

    status, headers, raw = scfkit.tc3_post(
        emulator.host_port, body, secret_id=BRIDGE_SECRET_ID, secret_key=BRIDGE_SECRET_KEY,
        timestamp=int(time.time()) - 3600,
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    err = json.loads(raw)["Response"]
    assert err["Error"]["Code"] == "AuthFailure.SignatureExpire"
    assert err["RequestId"]
