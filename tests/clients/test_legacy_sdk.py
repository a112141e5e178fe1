"""The UNMODIFIED legacy SDK (qcloudapi-sdk-python 2.0.15) -> scf-bridge with its embedded
3.0 emulator and no configuration beyond the listen port."""

from __future__ import annotations

import json
import socket

import pytest

import scfkit

PARAM = '{"name": "云函数 x y"}'
METHODS = ["GET", "POST"]
SIG_METHODS = ["HmacSHA1", "HmacSHA256"]
DATA_TYPES = {
    "requestId": str, "duration": float, "billDuration": int, "memUsage": int,
    "log": str, "retMsg": str, "errMsg": str, "invokeResult": int,
    # The legacy documentation's names (legacy.documented_aliases, on by default).
    "payLoad": str, "logMsg": str, "memSize": int,
}


def call(bridge, params, **kw):
    out = scfkit.run_legacy_sdk(bridge.host_port, params, **kw)
    assert out.ok, f"{out.error_type}: {out.error_text}"
    return out.json()


def assert_success_envelope(doc):
    assert (doc["code"], doc["message"], doc["codeDesc"]) == (0, "", "Success"), doc
    assert set(doc) == {"code", "message", "codeDesc", "data"}, doc


def assert_sync_data(d):
    assert set(d) == set(DATA_TYPES), d
    for k, t in DATA_TYPES.items():
        assert type(d[k]) is t, f"data.{k} = {d[k]!r} is {type(d[k]).__name__}, want {t.__name__}"
    assert d["requestId"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sig_method", SIG_METHODS)
def test_hello_sync(embedded_bridge, method, sig_method):
    doc = call(embedded_bridge, {"functionName": "hello", "invokeType": "RequestResponse"},
               method=method, signature_method=sig_method)
    assert_success_envelope(doc)
    assert_sync_data(doc["data"])
    assert doc["data"]["errMsg"] == ""
    assert isinstance(json.loads(doc["data"]["retMsg"]), str)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sig_method", SIG_METHODS)
def test_echo_returns_utf8_param_exactly(embedded_bridge, method, sig_method):
    doc = call(embedded_bridge, {"functionName": "echo", "param": PARAM, "logType": "Tail"},
               method=method, signature_method=sig_method)
    assert_success_envelope(doc)
    assert_sync_data(doc["data"])
    assert doc["data"]["retMsg"] == PARAM
    assert PARAM in doc["data"]["log"]


def test_event_returns_request_id_only(embedded_bridge):
    doc = call(embedded_bridge, {"functionName": "hello", "invokeType": "Event", "param": "{}"})
    assert_success_envelope(doc)
    assert set(doc["data"]) == {"requestId"}
    assert isinstance(doc["data"]["requestId"], str) and doc["data"]["requestId"]


@pytest.mark.parametrize("method", METHODS)
def test_fail_is_code_0_with_err_msg(embedded_bridge, method):
    doc = call(embedded_bridge, {"functionName": "fail"}, method=method)
    assert_success_envelope(doc)
    assert_sync_data(doc["data"])
    assert doc["data"]["errMsg"].strip() != ""


@pytest.mark.parametrize("method", METHODS)
def test_unknown_function_is_5000(embedded_bridge, method):
    doc = call(embedded_bridge, {"functionName": "no-such-function-xyz"}, method=method)
    assert doc["code"] == 5000, doc
    assert doc["codeDesc"] == "ResourceNotFound.Function"
    assert doc["message"].startswith("(ResourceNotFound.Function) ")
    assert "data" not in doc


@pytest.mark.parametrize("region", ["gz", "ap-guangzhou", None])
def test_region_variants_work(embedded_bridge, region):
    doc = call(embedded_bridge, {"functionName": "echo", "param": '{"r": 1}'}, region=region)
    assert_success_envelope(doc)
    assert doc["data"]["retMsg"] == '{"r": 1}'


def test_bad_invoke_type_is_4000(embedded_bridge):
    doc = call(embedded_bridge, {"functionName": "hello", "invokeType": "Sometimes"})
    assert doc["code"] == 4000, doc


def test_distinct_request_ids(embedded_bridge):
    a = call(embedded_bridge, {"functionName": "hello"})["data"]["requestId"]
    b = call(embedded_bridge, {"functionName": "hello"})["data"]["requestId"]
    assert a != b


def test_sigterm_stops_the_bridge_cleanly(bridge_bin):
    bridge = scfkit.start_bridge(minimal=True)
    try:
        assert call(bridge, {"functionName": "hello"})["code"] == 0
        bridge.proc.terminate()
        assert bridge.proc.wait(timeout=15) == 0, bridge.describe()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", bridge.port), timeout=1).close()
    finally:
        bridge.cleanup()
