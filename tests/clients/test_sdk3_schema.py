"""The emulator's per-action request fields (`scf-bridge emulator --print-schema`) are exactly the fields of the
official 3.0 SDK's request models, so the emulator's `UnknownParameter` cannot drift from real SCF 3.0.
Expected values come from the SDK (tencentcloud-sdk-python-scf), never from the emulator."""

from __future__ import annotations

import json
import subprocess

import pytest
from tencentcloud.scf.v20180416 import models, scf_client

import scfkit


def sdk_fields(model_class) -> set[str]:
    """The wire names of a model's fields: its attributes are `_<Name>`, one per field."""
    return {name[1:] for name in vars(model_class()) if name.startswith("_")}


@pytest.fixture(scope="module")
def schema(bridge_bin):
    out = subprocess.run(
        [bridge_bin, "emulator", "--print-schema"], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    return json.loads(out)


def test_schema_serves_every_action_the_emulator_claims(schema):
    served = set(schema["actions"])
    assert {"CreateFunction", "ListFunctions", "GetFunction", "UpdateFunctionConfiguration", "UpdateFunctionCode",
            "DeleteFunction", "Invoke", "InvokeFunction", "CreateTrigger", "UpdateTrigger", "DeleteTrigger",
            "ListTriggers", "GetFunctionLogs", "GetRequestStatus", "GetAccount"} <= served
    for action in served:
        assert callable(getattr(scf_client.ScfClient, action, None)), f"{action} is not a 3.0 SCF action"
    assert set(schema["rate_limits"]) == served


@pytest.mark.parametrize("action", sorted([
    "CreateFunction", "ListFunctions", "GetFunction", "UpdateFunctionConfiguration", "UpdateFunctionCode",
    "DeleteFunction", "Invoke", "InvokeFunction", "CreateTrigger", "UpdateTrigger", "DeleteTrigger", "ListTriggers",
    "GetFunctionLogs", "GetRequestStatus", "GetAccount",
]))
def test_request_fields_are_the_sdk_models(schema, action):
    want = sdk_fields(getattr(models, f"{action}Request"))
    got = set(schema["actions"][action])
    assert got == want, f"{action}: emulator-only {sorted(got - want)}, SDK-only {sorted(want - got)}"
    assert len(schema["actions"][action]) == len(got), "no field listed twice"


def test_code_object_fields_are_the_sdk_code_model(schema):
    assert set(schema["objects"]["Code"]) == sdk_fields(models.Code)


def test_invoke_function_is_sync_only_with_event(schema):
    """Facts the SDK states: InvokeFunction has Event and no InvocationType/ClientContext."""
    fields = sdk_fields(models.InvokeFunctionRequest)
    assert "Event" in fields and "InvocationType" not in fields and "ClientContext" not in fields
    assert set(schema["actions"]["InvokeFunction"]) == fields


def test_documented_rate_limits(schema):
    """docs/protocol.md "Rate limits": Invoke 100/s, InvokeFunction 10,000/s, GetFunctionLogs 5/s."""
    limits = schema["rate_limits"]
    assert (limits["Invoke"], limits["InvokeFunction"], limits["GetFunctionLogs"]) == (100, 10_000, 5)


def test_print_schema_needs_no_key(bridge_bin):
    env = scfkit.clean_env({})
    env.pop("TENCENTCLOUD_SECRET_ID", None)
    env.pop("TENCENTCLOUD_SECRET_KEY", None)
    proc = subprocess.run([bridge_bin, "emulator", "--print-schema"], capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "actions" in json.loads(proc.stdout)
