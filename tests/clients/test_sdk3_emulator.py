"""Official tencentcloud-sdk-python-scf ScfClient -> `scf-bridge emulator` (standalone 3.0 emulator): the
built-in functions, and every action the emulator serves, driven through the SDK's own models."""

from __future__ import annotations

import base64
import json
import time
import uuid
import warnings

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.scf.v20180416 import models

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


# --------------------------------------------------------------------------- every action, through the SDK
#
# The official SDK builds each request from its own model and parses each answer into its own model; with
# warnings turned into errors, a field the emulator answers that the SDK's nested models do not know fails the
# test ("fileds are useless"), and every top-level answer field is checked against the SDK's Response model.

ZIP_B64 = base64.b64encode(b"PK\x03\x04" + b"\x00" * 26).decode()


def sdk(client, action: str, **fields):
    """Calls `action` once through the SDK's typed method; checks the raw answer's fields against the SDK model."""
    req = getattr(models, f"{action}Request")()
    req.from_json_string(json.dumps(fields))
    seen = {}
    plain_call = type(client).call

    def recording_call(name, params, options=None, headers=None):
        seen["body"] = plain_call(client, name, params, options=options, headers=headers)
        return seen["body"]

    client.call = recording_call  # the typed method calls self.call: record the body it parses
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            response = getattr(client, action)(req)
    finally:
        del client.call
    response_fields = {n[1:] for n in vars(getattr(models, f"{action}Response")())}
    extra = set(json.loads(seen["body"])["Response"]) - response_fields
    assert not extra, f"{action} answered fields the SDK does not define: {extra}"
    return response


def wait_status(client, name: str, leaving: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = sdk(client, "GetFunction", FunctionName=name).Status
        if status != leaving or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_every_action_through_the_official_sdk(client):
    name = f"life-{uuid.uuid4().hex[:8]}"
    sdk(client, "CreateFunction", FunctionName=name, Handler="app.run", Runtime="Python3.9",
        Code={"ZipFile": ZIP_B64}, MemorySize=256, Timeout=10, Description="first")
    assert sdk(client, "GetFunction", FunctionName=name).Status == "Creating"
    e = _sdk_error(lambda: sdk(client, "CreateFunction", FunctionName=name, Code={"ZipFile": ZIP_B64}))
    assert e.code == "ResourceInUse.Function"
    assert wait_status(client, name, "Creating") == "Active"

    listed = sdk(client, "ListFunctions", SearchKey=name, Order="DESC", Orderby="AddTime", Offset=0, Limit=10,
                 Namespace="default")
    assert listed.TotalCount == 1 and listed.Functions[0].FunctionName == name
    assert listed.Functions[0].Runtime == "Python3.9" and listed.Functions[0].Status == "Active"

    got = sdk(client, "GetFunction", FunctionName=name, Qualifier="$LATEST", ShowCode="TRUE")
    assert (got.Handler, got.MemorySize, got.Timeout, got.FunctionVersion) == ("app.run", 256, 10, "$LATEST")
    assert isinstance(got.CodeInfo, str)
    assert sdk(client, "GetFunction", FunctionName=name).CodeInfo is None

    sdk(client, "UpdateFunctionConfiguration", FunctionName=name, MemorySize=512, Description="second",
        Environment={"Variables": [{"Key": "K", "Value": "V"}]})
    assert sdk(client, "GetFunction", FunctionName=name).Status == "Updating"
    e = _sdk_error(lambda: sdk(client, "UpdateFunctionCode", FunctionName=name, ZipFile=ZIP_B64))
    assert e.code == "FailedOperation.FunctionStatusError"
    assert wait_status(client, name, "Updating") == "Active"
    sdk(client, "UpdateFunctionCode", FunctionName=name, Handler="main.handle", CosBucketName="code",
        CosObjectName="/pkg.zip", CosBucketRegion="ap-guangzhou")
    assert wait_status(client, name, "Updating") == "Active"
    got = sdk(client, "GetFunction", FunctionName=name)
    assert (got.MemorySize, got.Description, got.Handler) == (512, "second", "main.handle")
    assert got.Environment.Variables[0].Key == "K"

    info = sdk(client, "CreateTrigger", FunctionName=name, TriggerName="every5", Type="timer",
               TriggerDesc="0 */5 * * * * *", Enable="OPEN").TriggerInfo
    assert (info.TriggerName, info.Type, info.Enable) == ("every5", "timer", 1)
    cos = "bucket-1250000000.cos.ap-guangzhou.myqcloud.com"
    cos_desc = '{"event":"cos:ObjectCreated:*"}'
    sdk(client, "CreateTrigger", FunctionName=name, TriggerName=cos, Type="cos", TriggerDesc=cos_desc)
    sdk(client, "UpdateTrigger", FunctionName=name, TriggerName="every5", Type="timer", Enable="CLOSE",
        TriggerDesc="0 */10 * * * * *")
    triggers = sdk(client, "ListTriggers", FunctionName=name, OrderBy="AddTime", Order="ASC", Offset=0, Limit=20)
    assert triggers.TotalCount == 2
    assert [(t.TriggerName, t.Enable) for t in triggers.Triggers] == [("every5", 0), (cos, 1)]
    assert triggers.Triggers[0].TriggerDesc == "0 */10 * * * * *"
    assert len(sdk(client, "GetFunction", FunctionName=name).Triggers) == 2
    sdk(client, "DeleteTrigger", FunctionName=name, TriggerName=cos, Type="cos", TriggerDesc=cos_desc)
    assert sdk(client, "ListTriggers", FunctionName=name).TotalCount == 1

    r = sdk(client, "Invoke", FunctionName=name, ClientContext=EVENT, LogType="Tail").Result
    assert_sync_result_types(r)
    assert r.RetMsg == EVENT and r.InvokeResult == 0
    assert "main.handle" in r.Log
    rf = sdk(client, "InvokeFunction", FunctionName=name, Event=EVENT, Qualifier="$LATEST", LogType="Tail").Result
    assert_sync_result_types(rf)
    assert rf.RetMsg == EVENT and rf.InvokeResult == 200, "InvokeFunction's InvokeResult is a status code"
    failed = sdk(client, "InvokeFunction", FunctionName="fail").Result
    assert failed.InvokeResult == 430 and failed.ErrMsg

    status = sdk(client, "GetRequestStatus", FunctionName=name, FunctionRequestId=rf.FunctionRequestId)
    assert status.TotalCount == 1
    assert (status.Data[0].RequestId, status.Data[0].RetCode, status.Data[0].RetMsg) == (rf.FunctionRequestId, 0, EVENT)

    e = _sdk_error(lambda: sdk(client, "GetFunctionLogs", FunctionName=name, Offset=0, Limit=10))
    assert e.code == "ActionOffline", "3.0 GetFunctionLogs is offline; the emulator says so like the service"

    account = sdk(client, "GetAccount")
    default = [n for n in account.AccountUsage.Namespace if n.Namespace == "default"][0]
    assert name in default.Functions and default.FunctionsCount == len(default.Functions)
    assert account.AccountLimit.Namespace[0].TimeoutLimit == 900

    sdk(client, "DeleteFunction", FunctionName=name, Namespace="default")
    assert sdk(client, "GetFunction", FunctionName=name).Status == "Deleting"
    deadline = time.monotonic() + 10
    while True:
        try:
            sdk(client, "GetFunction", FunctionName=name)
        except TencentCloudSDKException as gone:
            assert gone.code == "ResourceNotFound.Function"
            break
        assert time.monotonic() < deadline, "the function was never deleted"
        time.sleep(0.05)


def test_unknown_parameter_for_a_field_of_another_action(emulator):
    """Raw TC3 below the SDK (the SDK cannot send a field its model lacks)."""
    body = json.dumps({"FunctionName": "hello", "InvocationType": "Event"}).encode()
    status, _, raw = scfkit.tc3_post(emulator.host_port, body, secret_id=BRIDGE_SECRET_ID,
                                     secret_key=BRIDGE_SECRET_KEY, action="InvokeFunction")
    assert status == 200
    assert json.loads(raw)["Response"]["Error"]["Code"] == "UnknownParameter"


def test_rate_limit_refuses_a_burst_with_request_limit_exceeded(bridge_bin):
    proc = scfkit.start_emulator(extra_args=("--rate-limit", "Invoke=5"))
    try:
        c = scfkit.scf_client(proc.host_port, BRIDGE_SECRET_ID, BRIDGE_SECRET_KEY, timeout=30)
        codes = []
        t0 = time.monotonic()
        for _ in range(20):
            try:
                invoke(c, FunctionName="echo")
                codes.append("ok")
            except TencentCloudSDKException as e:
                codes.append(e.code)
        elapsed = time.monotonic() - t0
        admitted = codes.count("ok")
        assert admitted >= 5, codes
        assert admitted <= 5 + 5 * elapsed + 1, (codes, elapsed)
        assert set(codes) == {"ok", "RequestLimitExceeded"}, codes
        # InvokeFunction keeps its own limit (10,000/s by default).
        for _ in range(20):
            sdk(c, "InvokeFunction", FunctionName="echo")
    finally:
        proc.cleanup()
