"""scf-bridge -> scripted Python 3.0 mock upstream.

Legacy requests go in (plain urllib GET/POST, and the unmodified legacy SDK); we assert
the exact 3.0 request the bridge sends (verified with the SDK's TC3 primitive) and the
exact legacy answer it makes of canned 3.0 answers — with `upstream.sync_action` at its
default (`auto`: synchronous calls are 3.0 `InvokeFunction`) and at `invoke`.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

import scfkit
from scfkit import (
    AUTH_RE,
    BRIDGE_SECRET_ID,
    LEGACY_ONLY_NAMES,
    LEGACY_SECRET_ID,
    LEGACY_SECRET_KEY,
    MockUpstream,
    v3_error,
    v3_result,
)

# Odd spacing on purpose: the event must be the legacy `param` verbatim, not re-serialized.
PARAM = '{"name": "云函数 x y",  "n" : 1 ,"s":"a+b&c=d/%"}'
ALLOWED_BODY_KEYS = {
    "Invoke": {"FunctionName", "InvocationType", "Qualifier", "ClientContext", "LogType", "Namespace"},
    "InvokeFunction": {"FunctionName", "Qualifier", "Event", "LogType", "Namespace"},
}
FULL = {
    "functionName": "echo", "param": PARAM, "invokeType": "RequestResponse", "logType": "Tail",
    "version": "2", "namespace": "ns1",
}
FULL_BODY = {
    "Invoke": {
        "FunctionName": "echo", "InvocationType": "RequestResponse", "Qualifier": "2", "ClientContext": PARAM,
        "LogType": "Tail", "Namespace": "ns1",
    },
    # Synchronous only: no InvocationType; the event is `Event`.
    "InvokeFunction": {"FunctionName": "echo", "Qualifier": "2", "Event": PARAM, "LogType": "Tail", "Namespace": "ns1"},
}
TOKEN = "tmpSessionToken/abc+def=="


@pytest.fixture(scope="module", params=["auto", "invoke"])
def bridge_to_mock(request, bridge_bin, mock_upstream):
    """`scf-bridge serve` to the Python mock, with `upstream.sync_action` as given."""
    proc = scfkit.start_bridge(
        upstream=f"http://{mock_upstream.host_port}",
        extra_env={"SCF_BRIDGE__UPSTREAM__SYNC_ACTION": request.param},
    )
    proc.sync_action = "InvokeFunction" if request.param == "auto" else "Invoke"
    yield proc
    proc.cleanup()


def only_request(upstream: MockUpstream):
    reqs = upstream.take()
    assert len(reqs) == 1, f"expected exactly 1 upstream request, got {len(reqs)}"
    return reqs[0]


def assert_outbound(rec, upstream: MockUpstream, *, region: str, token: str | None = None,
                    action: str = "InvokeFunction"):
    """Every header/signature property of the contract for one outbound invocation."""
    assert (rec.method, rec.target) == ("POST", "/")
    assert rec.header("Host") == upstream.host_port  # the Host actually sent, port included
    assert rec.header("Content-Type") == "application/json"
    assert rec.header("X-TC-Action") == action
    assert rec.header("X-TC-Version") == "2018-04-16"
    assert rec.header("X-TC-Region") == region
    assert rec.header("X-TC-Token") == token
    assert rec.header("X-TC-RequestClient") == f"scf-bridge/{scfkit.read_cargo_version()}"
    ts_text = rec.header("X-TC-Timestamp")
    assert ts_text is not None and ts_text.isdigit(), ts_text
    assert abs(int(ts_text) - time.time()) < 60
    auth = rec.header("Authorization")
    m = AUTH_RE.match(auth or "")
    assert m, f"Authorization not in TC3 form: {auth!r}"
    sid, date, service, signed, _sig = m.groups()
    assert sid == BRIDGE_SECRET_ID
    assert date == scfkit.utc_date(int(ts_text)), "Credential date must be the UTC date of X-TC-Timestamp"
    assert service == "scf"
    assert signed == "content-type;host"
    # Rebuilt from the received bytes (so the signed host IS the sent Host), HMAC by Sign.sign_tc3:
    assert rec.tc3.ok, f"TC3 verification failed: {rec.tc3}"
    # Nothing legacy leaks: no legacy-named header, no legacy credential anywhere.
    names = {k.lower() for k, _ in rec.header_list}
    assert not names & {n.lower() for n in LEGACY_ONLY_NAMES}, names
    blob = rec.body.decode("utf-8") + "\n".join(v for _, v in rec.header_list)
    assert LEGACY_SECRET_ID not in blob and LEGACY_SECRET_KEY not in blob


def body_of(rec) -> dict:
    body = rec.json()
    assert isinstance(body, dict)
    allowed = ALLOWED_BODY_KEYS[rec.header("X-TC-Action")]
    assert set(body) <= allowed, f"unexpected body keys: {set(body) - allowed}"
    assert all(isinstance(v, str) for v in body.values()), body
    return body


def legacy_via_http(bridge, params, method="GET", region="gz", **kw):
    ans = scfkit.legacy_invoke(bridge.host_port, params, method, region=region, **kw)
    assert ans.status == 200, (ans.status, ans.body)
    assert ans.headers.get("content-type", "").startswith("application/json"), ans.headers
    return ans


# --------------------------------------------------------------------------- the outbound request


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_full_legacy_request_becomes_exact_invoke(bridge_to_mock, upstream, method):
    ans = legacy_via_http(bridge_to_mock, FULL, method, region="sh")
    rec = only_request(upstream)
    assert_outbound(rec, upstream, region="ap-shanghai", action=bridge_to_mock.sync_action)
    assert body_of(rec) == FULL_BODY[bridge_to_mock.sync_action]
    assert ans.json()["code"] == 0


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("sig_method", ["HmacSHA1", "HmacSHA256"])
def test_legacy_sdk_request_becomes_exact_invoke(bridge_to_mock, upstream, method, sig_method):
    out = scfkit.run_legacy_sdk(bridge_to_mock.host_port, FULL, method=method, signature_method=sig_method, region="sh")
    assert out.ok, out
    rec = only_request(upstream)
    assert_outbound(rec, upstream, region="ap-shanghai", action=bridge_to_mock.sync_action)
    assert body_of(rec) == FULL_BODY[bridge_to_mock.sync_action]
    assert out.json()["code"] == 0


def test_minimal_request_sends_only_what_is_present(bridge_to_mock, upstream):
    """Contract: the body holds the fields *as present* in the legacy request, and always
    `Qualifier` — `$LATEST`, what the legacy service ran (3.0 InvokeFunction's own default
    is the `$DEFAULT` alias)."""
    legacy_via_http(bridge_to_mock, {"functionName": "hello"}, region="gz")
    rec = only_request(upstream)
    assert_outbound(rec, upstream, region="ap-guangzhou", action=bridge_to_mock.sync_action)
    assert body_of(rec) == {"FunctionName": "hello", "Qualifier": "$LATEST"}


@pytest.mark.parametrize(
    "legacy_region,expected",
    [("gz", "ap-guangzhou"), ("sh", "ap-shanghai"), ("ap-beijing", "ap-beijing"), (None, "ap-guangzhou")],
    ids=["gz", "sh", "long-name", "absent-uses-default"],
)
def test_region_mapping(bridge_to_mock, upstream, legacy_region, expected):
    legacy_via_http(bridge_to_mock, {"functionName": "hello"}, region=legacy_region)
    rec = only_request(upstream)
    assert_outbound(rec, upstream, region=expected, action=bridge_to_mock.sync_action)


@pytest.fixture(scope="module")
def bridge_chengdu_token(bridge_bin, mock_upstream):
    proc = scfkit.start_bridge(upstream=f"http://{mock_upstream.host_port}", region="ap-chengdu", token=TOKEN)
    yield proc
    proc.cleanup()


def test_configured_region_and_session_token(bridge_chengdu_token, upstream):
    legacy_via_http(bridge_chengdu_token, {"functionName": "hello"}, region=None)
    assert_outbound(only_request(upstream), upstream, region="ap-chengdu", token=TOKEN)
    legacy_via_http(bridge_chengdu_token, {"functionName": "hello"}, region="gz")
    assert_outbound(only_request(upstream), upstream, region="ap-guangzhou", token=TOKEN)


# --------------------------------------------------------------------------- the legacy answer


SYNC_CASES = {
    "doc-sample": dict(
        MemUsage=3207168, Log="", RetMsg="hello from scf", BillDuration=100,
        FunctionRequestId="6add56fa-58f1-11e8-89a9-5254005d5fdb", Duration=0.826, ErrMsg="", InvokeResult=0,
    ),
    "integral-duration-unicode-log": dict(
        MemUsage=0, Log="START\n云函数 log line\nEND", RetMsg='"Hello 世界"', BillDuration=3,
        FunctionRequestId=str(uuid.uuid4()), Duration=3.0, ErrMsg="", InvokeResult=0,
    ),
}


def legacy_data(r: dict) -> dict:
    return {
        "requestId": r["FunctionRequestId"], "duration": r["Duration"], "billDuration": r["BillDuration"],
        "memUsage": r["MemUsage"], "log": r["Log"], "retMsg": r["RetMsg"], "errMsg": r["ErrMsg"],
        "invokeResult": r["InvokeResult"],
        # The legacy documentation's names (legacy.documented_aliases, on by default).
        "payLoad": r["RetMsg"], "logMsg": r["Log"], "memSize": r["MemUsage"],
    }


@pytest.mark.parametrize("case", list(SYNC_CASES))
def test_sync_result_maps_to_exact_legacy_data(bridge_to_mock, upstream, case):
    result = SYNC_CASES[case]
    rid = str(uuid.uuid4())
    upstream.answer = v3_result(rid, **result)
    ans = legacy_via_http(bridge_to_mock, {"functionName": "hello", "logType": "Tail"})
    assert ans.headers.get("x-request-id") == rid
    doc = ans.json()
    assert doc == {"code": 0, "message": "", "codeDesc": "Success", "data": legacy_data(result)}
    d = doc["data"]
    assert type(d["duration"]) is float
    for k in ("billDuration", "memUsage", "invokeResult"):
        assert type(d[k]) is int, (k, d[k])
    assert only_request(upstream).tc3.ok


def test_function_error_is_code_0_with_err_msg(bridge_to_mock, upstream):
    result = dict(
        MemUsage=8192, Log="Traceback ...", RetMsg="", BillDuration=5, FunctionRequestId=str(uuid.uuid4()),
        Duration=4.25, ErrMsg='{"errorMessage":"boom","errorType":"Exception"}', InvokeResult=1,
    )
    upstream.answer = v3_result(**result)
    doc = legacy_via_http(bridge_to_mock, {"functionName": "fail"}).json()
    assert doc == {"code": 0, "message": "", "codeDesc": "Success", "data": legacy_data(result)}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_event_answer_is_request_id_only(bridge_to_mock, upstream, method):
    fid, rid = str(uuid.uuid4()), str(uuid.uuid4())
    upstream.answer = v3_result(rid, FunctionRequestId=fid)
    ans = legacy_via_http(bridge_to_mock, {"functionName": "hello", "invokeType": "Event", "param": "{}"}, method)
    assert ans.json() == {"code": 0, "message": "", "codeDesc": "Success", "data": {"requestId": fid}}
    assert ans.headers.get("x-request-id") == rid
    rec = only_request(upstream)
    # Asynchronous calls are always 3.0 Invoke.
    assert rec.header("X-TC-Action") == "Invoke"
    assert body_of(rec) == {"FunctionName": "hello", "InvocationType": "Event", "Qualifier": "$LATEST",
                            "ClientContext": "{}"}


ERROR_CASES = [
    ("ResourceNotFound.Function", "Function not found", 5000),
    ("ResourceNotFound.Function", "函数不存在", 5000),
    ("InvalidParameterValue.Param", "入参不是标准的json", 4000),
    ("AuthFailure.SignatureFailure", "The provided credentials could not be validated.", 4100),
    ("AuthFailure.SecretIdNotFound", "Key does not exist.", 4104),  # the specific row wins over AuthFailure* → 4100
]


@pytest.mark.parametrize("code3,message,legacy_code", ERROR_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERROR_CASES)])
def test_v3_error_maps_to_legacy_error(bridge_to_mock, upstream, code3, message, legacy_code):
    rid = str(uuid.uuid4())
    upstream.answer = v3_error(code3, message, rid)
    ans = legacy_via_http(bridge_to_mock, {"functionName": "nope"})
    assert ans.json() == {"code": legacy_code, "message": f"({code3}) {message}", "codeDesc": code3}
    assert ans.headers.get("x-request-id") == rid
    assert only_request(upstream).tc3.ok


def test_v3_error_through_legacy_sdk(bridge_to_mock, upstream):
    upstream.answer = v3_error("ResourceNotFound.Function", "函数不存在")
    out = scfkit.run_legacy_sdk(bridge_to_mock.host_port, {"functionName": "nope"}, method="POST")
    assert out.ok, out  # HTTP 200, so the SDK hands back the body
    assert out.json() == {
        "code": 5000, "message": "(ResourceNotFound.Function) 函数不存在", "codeDesc": "ResourceNotFound.Function",
    }


@pytest.mark.parametrize(
    "params,action",
    [
        ({"param": "{}"}, "InvokeFunction"),
        ({"functionName": "hello"}, "NoSuchAction"),
        ({"functionName": "hello", "invokeType": "Sometimes"}, "InvokeFunction"),
    ],
    ids=["missing-functionName", "unknown-Action", "bad-invokeType"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bad_legacy_input_is_4000_and_never_reaches_upstream(bridge_to_mock, upstream, params, action, method):
    ans = scfkit.legacy_invoke(bridge_to_mock.host_port, params, method, action=action)
    assert ans.status == 200, (ans.status, ans.body)
    doc = ans.json()
    assert doc["code"] == 4000, doc
    assert isinstance(doc["message"], str) and doc["message"]
    assert isinstance(doc["codeDesc"], str) and doc["codeDesc"] not in ("", "Success")
    assert "data" not in doc
    assert upstream.take() == []
