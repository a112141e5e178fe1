"""The UNMODIFIED legacy SDK (qcloudapi-sdk-python 2.0.15) drives a function's whole life
through the bridge, with legacy signature verification on, against the embedded 3.0
emulator: create (POST with code=@<base64 zip>, outside the signature), get, list, update
configuration and code, set, update and rename a timer trigger, invoke, read logs (the
clear 6100, and GetRequestStatus for a requestId), delete the trigger and the function.

And: a POST whose `@`-valued parameter is not `code` is refused with 4100 before anything
reaches SCF (no signature can cover an `@` value), while `code=@…` is bridged.
"""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
import zipfile

import pytest

import scfkit
from scfkit import (
    BRIDGE_SECRET_ID,
    BRIDGE_SECRET_KEY,
    LEGACY_SECRET_ID,
    LEGACY_SECRET_KEY,
    MockUpstream,
    toml_str,
)

SUCCESS = {"code": 0, "message": "", "codeDesc": "Success"}


def zip_b64(source: str) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", source)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def verifying_config(upstream: str, port: int) -> str:
    return f"""
[server]
listen = {toml_str(f"127.0.0.1:{port}")}
drain_delay_secs = 0

[admin]
listen = {toml_str(f"127.0.0.1:{scfkit.free_port()}")}

[upstream]
endpoint = {toml_str(upstream)}
function_ready_poll_ms = 100
function_ready_timeout_ms = 20000

[credentials]
secret_id = {toml_str(BRIDGE_SECRET_ID)}
secret_key = {toml_str(BRIDGE_SECRET_KEY)}

[auth]
mode = "verify"

[[auth.clients]]
secret_id = {toml_str(LEGACY_SECRET_ID)}
secret_key = {toml_str(LEGACY_SECRET_KEY)}
upstream = "bridge"
"""


@pytest.fixture(scope="module")
def verifying_embedded(bridge_bin):
    port = scfkit.free_port()
    proc = scfkit.start_bridge_with_config(verifying_config("embedded", port), port)
    yield proc
    proc.cleanup()


def sdk(bridge, action: str, params: dict, method: str = "GET", **kw) -> dict:
    out = scfkit.run_legacy_sdk(bridge.host_port, params, action=action, method=method, **kw)
    return out.json()


def test_the_whole_life_of_a_function(verifying_embedded):
    b = verifying_embedded
    name = f"lc{uuid.uuid4().hex[:12]}"

    # Create: POST with the zip as an unsigned `@` value, answered once the function is Active.
    doc = sdk(b, "CreateFunction", {
        "functionName": name, "handler": "index.main_handler", "runtime": "Python3.6",
        "description": "made by the legacy SDK", "memorySize": 128, "timeout": 3,
        "code": "@" + zip_b64("def main_handler(event, context):\n    return event\n"),
    }, method="POST", signature_method="HmacSHA256")
    assert doc == SUCCESS

    # Get, without waiting: the function is usable the moment the create answered.
    doc = sdk(b, "GetFunction", {"functionName": name})
    assert doc["code"] == 0, doc
    data = doc["data"]
    assert (data["functionName"], data["handler"], data["version"]) == (name, "index.main_handler", "LATEST")
    assert (data["memorySize"], data["timeout"], data["runtime"]) == (128, 3, "Python3.6")
    assert data["triggers"] == []
    assert "code" not in data

    # List.
    doc = sdk(b, "ListFunctions", {"searchKey": name})
    assert doc["code"] == 0, doc
    assert doc["data"]["total"] == 1
    assert [f["functionName"] for f in doc["data"]["functions"]] == [name]

    # Update configuration and code in one legacy call.
    doc = sdk(b, "UpdateFunction", {
        "functionName": name, "memorySize": 256, "timeout": 10, "description": "updated",
        "handler": "index.other_handler",
        "code": "@" + zip_b64("def other_handler(event, context):\n    return 1\n"),
    }, method="POST")
    assert doc == SUCCESS
    data = sdk(b, "GetFunction", {"functionName": name})["data"]
    assert (data["memorySize"], data["timeout"], data["description"], data["handler"]) == (
        256, 10, "updated", "index.other_handler")

    # Set a timer trigger, set it again (an update), then rename it.
    doc = sdk(b, "SetTrigger", {"functionName": name, "triggerName": "every5", "type": "timer",
                                "triggerDesc": "*/5 * * * *"})
    assert doc == SUCCESS
    doc = sdk(b, "SetTrigger", {"functionName": name, "triggerName": "every5", "type": "timer",
                                "triggerDesc": "*/7 * * * *"}, method="POST")
    assert doc == SUCCESS
    triggers = sdk(b, "GetFunction", {"functionName": name})["data"]["triggers"]
    assert [(t["triggerName"], t["type"]) for t in triggers] == [("every5", "timer")]
    assert "*/7 * * * *" in triggers[0]["triggerDesc"]
    doc = sdk(b, "SetTrigger", {"functionName": name, "triggerName": "every5", "type": "timer",
                                "newTriggerName": "every10"})
    assert doc == SUCCESS
    triggers = sdk(b, "GetFunction", {"functionName": name})["data"]["triggers"]
    assert [t["triggerName"] for t in triggers] == ["every10"]
    assert "*/7 * * * *" in triggers[0]["triggerDesc"], "the rename keeps the schedule"

    # Invoke the created function (the emulator echoes the event, the handler in its log).
    doc = sdk(b, "InvokeFunction", {"functionName": name, "param": '{"k": "v"}', "logType": "Tail"})
    assert doc["code"] == 0, doc
    assert doc["data"]["retMsg"] == '{"k": "v"}'
    assert "index.other_handler" in doc["data"]["log"]
    request_id = doc["data"]["requestId"]

    # Logs: 3.0 GetFunctionLogs is offline, so a clear 6100 pointing to CLS ...
    doc = sdk(b, "GetFunctionLogs", {"functionName": name})
    assert (doc["code"], doc["codeDesc"]) == (6100, "ActionOffline"), doc
    assert "CLS" in doc["message"] and "requestId" in doc["message"]
    assert set(doc) == {"code", "message", "codeDesc"}
    # ... and, for a requestId, the record from GetRequestStatus, top-level total and data[].
    doc = sdk(b, "GetFunctionLogs", {"functionName": name, "requestId": request_id})
    assert list(doc) == ["code", "message", "codeDesc", "total", "data"], doc
    assert (doc["code"], doc["total"]) == (0, 1)
    record = doc["data"][0]
    assert list(record) == ["functionName", "retMsg", "requestId", "startTime", "retCode",
                            "invokeFinished", "duration", "billDuration", "memUsage", "log"]
    assert (record["functionName"], record["requestId"], record["retCode"]) == (name, request_id, 0)
    assert record["retMsg"] == '{"k": "v"}'

    # Delete the trigger, then the function.
    doc = sdk(b, "DeleteTrigger", {"functionName": name, "triggerName": "every10", "type": "timer"})
    assert doc == SUCCESS
    assert sdk(b, "GetFunction", {"functionName": name})["data"]["triggers"] == []
    assert sdk(b, "DeleteFunction", {"functionName": name}) == SUCCESS
    deadline = time.monotonic() + 10
    while True:
        doc = sdk(b, "GetFunction", {"functionName": name})
        if doc["code"] != 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (doc["code"], doc["codeDesc"]) == (5000, "ResourceNotFound.Function"), doc


def test_a_failed_create_names_the_state(verifying_embedded):
    # The emulator fails a create whose COS key ends in create-failed.zip.
    name = f"cf{uuid.uuid4().hex[:12]}"
    doc = sdk(verifying_embedded, "CreateFunction", {
        "functionName": name, "handler": "index.main",
        "codeObject": {"cosBucketName": "bucket", "cosObjectName": "pkg/create-failed.zip"},
    })
    assert (doc["code"], doc["codeDesc"]) == (5100, "CreateFailed"), doc
    assert f"the function `{name}` ended CreateFailed" in doc["message"]


def test_values_with_no_3_0_counterpart_are_4000_naming_the_parameter(verifying_embedded):
    doc = sdk(verifying_embedded, "CreateFunction", {
        "functionName": "never-made", "handler": "index.main", "useGpu": "TRUE", "code": "@UEsFBg==",
    }, method="POST")
    assert doc["code"] == 4000, doc
    assert "`useGpu`" in doc["message"]
    doc = sdk(verifying_embedded, "GetFunction", {"functionName": "never-made"})
    assert doc["code"] == 5000, "nothing was created"


# --------------------------------------------------------------------------- unsigned `@` values


@pytest.fixture(scope="module")
def lifecycle_upstream():
    server = MockUpstream()
    yield server
    server.close()


@pytest.fixture(scope="module")
def verifying_to_mock(bridge_bin, lifecycle_upstream):
    port = scfkit.free_port()
    proc = scfkit.start_bridge_with_config(
        verifying_config(f"http://{lifecycle_upstream.host_port}", port), port)
    yield proc
    proc.cleanup()


@pytest.fixture
def up(lifecycle_upstream):
    lifecycle_upstream.clear()
    lifecycle_upstream.answer = {"Response": {"FunctionName": "f", "Status": "Active", "RequestId": "r-1"}}
    yield lifecycle_upstream
    lifecycle_upstream.clear()


def test_an_unsigned_at_value_other_than_code_is_4100_and_never_reaches_scf(verifying_to_mock, up):
    zip_value = zip_b64("x = 1\n")
    # The SDK leaves every `@` value out of the POST signature, `handler` included.
    doc = sdk(verifying_to_mock, "CreateFunction", {
        "functionName": "f", "handler": "@index.main", "code": "@" + zip_value,
    }, method="POST")
    assert (doc["code"], doc["codeDesc"]) == (4100, "AuthFailure.SignatureFailure"), doc
    assert "`handler`" in doc["message"] and "`code`" in doc["message"]
    assert up.take() == []


def test_code_at_is_bridged_as_zip_file_with_a_tc3_signature(verifying_to_mock, up):
    zip_value = zip_b64("x = 1\n")
    doc = sdk(verifying_to_mock, "CreateFunction", {
        "functionName": "f", "handler": "index.main", "code": "@" + zip_value,
    }, method="POST")
    assert doc == SUCCESS
    reqs = up.take()
    assert [r.header("X-TC-Action") for r in reqs] == ["CreateFunction", "GetFunction"]
    assert all(r.tc3.ok for r in reqs)
    body = reqs[0].json()
    assert body == {"FunctionName": "f", "Code": {"ZipFile": zip_value}, "Handler": "index.main",
                    "CodeSource": "ZipFile"}
    assert json.loads(reqs[1].body) == {"FunctionName": "f"}
