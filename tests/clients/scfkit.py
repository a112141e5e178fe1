"""Shared helpers for the scf-bridge real-client test suite.

Everything here talks over real loopback sockets to real processes:

* process management for ``scf-bridge serve`` / ``scf-bridge emulator`` (free port,
  TCP readiness poll, stderr captured to a file and shown on failure);
* a recording HTTP server and, on top of it, a scripted SCF API 3.0 mock upstream
  that verifies TC3-HMAC-SHA256 with the official SDK primitive
  ``tencentcloud.common.sign.Sign.sign_tc3`` (the canonical request is rebuilt
  here from the bytes actually received);
* a tiny legacy (v2) signer and plain-urllib legacy client, used to send
  hand-built ``/v2/index.php`` requests;
* a runner for the UNMODIFIED legacy SDK (``qcloudapi-sdk-python``) in a child
  Python process, see ``legacy_sdk_call.py`` / ``legacy_plain_http.py``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
LEGACY_PATH = "/v2/index.php"
LEGACY_HOST = "scf.api.qcloud.com"  # what the legacy SDK hard-codes (and signs)
READY_TIMEOUT_S = 20.0

# Credentials used by the tests. None of them is real.
BRIDGE_SECRET_ID = "AKIDbridgeTestSecretId000000000001"
BRIDGE_SECRET_KEY = "bridgeTestSecretKey00000000000001"
LEGACY_SECRET_ID = "AKIDlegacyClientSecretId0000000001"
LEGACY_SECRET_KEY = "legacyClientSecretKey000000000001"

# Names that only exist in the legacy (v2) protocol: none may reach a 3.0 request.
LEGACY_ONLY_NAMES = (
    "Action",
    "Nonce",
    "Timestamp",
    "SecretId",
    "Signature",
    "SignatureMethod",
    "RequestClient",
    "Region",
    "Token",
    "functionName",
    "invokeType",
    "logType",
    "param",
    "version",
    "namespace",
)


# --------------------------------------------------------------------------- ports and processes


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1 (bind port 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bridge_binary() -> str:
    """Path of the scf-bridge binary from SCF_BRIDGE_BIN; FAILS (never skips) if unusable."""
    path = os.environ.get("SCF_BRIDGE_BIN", "")
    if not path:
        pytest.fail(
            "SCF_BRIDGE_BIN is not set: build with `cargo build --bin scf-bridge` and export "
            "SCF_BRIDGE_BIN=target/debug/scf-bridge (./scripts/test.sh does both)",
            pytrace=False,
        )
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        pytest.fail(f"SCF_BRIDGE_BIN={path!r} is not an executable file", pytrace=False)
    return os.path.abspath(path)


def clean_env(extra: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """The test process environment without any SCF_BRIDGE_* (incl. SCF_BRIDGE_CONFIG) / TENCENTCLOUD_* leaking in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SCF_BRIDGE_") and not k.startswith("TENCENTCLOUD_") and k not in drop
    }
    env.update(extra or {})
    return env


class ManagedProcess:
    """A child process listening on 127.0.0.1:port, stderr captured to a temp file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int):
        self.name = name
        self.argv = argv
        self.port = port
        self.host_port = f"127.0.0.1:{port}"
        self._workdir = tempfile.TemporaryDirectory(prefix=f"scf-{name}-")
        self._stderr_path = Path(self._workdir.name) / "stderr.log"
        self._stdout_path = Path(self._workdir.name) / "stdout.log"
        self._stderr = open(self._stderr_path, "wb")
        self._stdout = open(self._stdout_path, "wb")
        # cwd is an empty temp dir so no stray config file of the repo is picked up.
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=self._workdir.name,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
        )

    def stderr_text(self) -> str:
        self._stderr.flush()
        return self._stderr_path.read_text(errors="replace")

    def stdout_text(self) -> str:
        self._stdout.flush()
        return self._stdout_path.read_text(errors="replace")

    def describe(self) -> str:
        return (
            f"{self.name}: argv={self.argv} exit={self.proc.poll()}\n"
            f"--- stderr ---\n{self.stderr_text()[-8000:]}\n"
            f"--- stdout ---\n{self.stdout_text()[-2000:]}"
        )

    def wait_ready(self, timeout: float = READY_TIMEOUT_S, port: int | None = None) -> None:
        port = self.port if port is None else port
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                text = self.describe()
                self.stop()
                pytest.fail(f"{self.name} exited before accepting connections\n{text}", pytrace=False)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                text = self.describe()
                self.stop()
                pytest.fail(
                    f"{self.name} did not accept TCP connections on 127.0.0.1:{port} "
                    f"within {timeout:.0f}s\n{text}",
                    pytrace=False,
                )
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for f in (self._stderr, self._stdout):
            if not f.closed:
                f.close()

    def cleanup(self) -> None:
        self.stop()
        self._workdir.cleanup()
        config_path = getattr(self, "config_path", None)
        if config_path is not None:
            shutil.rmtree(config_path.parent, ignore_errors=True)


def start_bridge(
    *,
    upstream: str = "embedded",
    region: str | None = None,
    secret_id: str = BRIDGE_SECRET_ID,
    secret_key: str = BRIDGE_SECRET_KEY,
    token: str | None = None,
    extra_env: dict[str, str] | None = None,
    minimal: bool = False,
) -> ManagedProcess:
    """Start `scf-bridge serve` on a free port and wait until it accepts connections.

    minimal=True sets nothing but the listen addresses (no upstream, no credentials):
    the bridge must work out of the box with its embedded emulator. The admin listener
    (fixed default 127.0.0.1:9901) gets a free port too, so that instances running at
    the same time, or anything else holding 9901, cannot collide.
    """
    port = free_port()
    env = {
        "SCF_BRIDGE__SERVER__LISTEN": f"127.0.0.1:{port}",
        "SCF_BRIDGE__ADMIN__LISTEN": f"127.0.0.1:{free_port()}",
        # No 5 s post-SIGTERM drain (meant for load balancers) when a test stops it.
        "SCF_BRIDGE__SERVER__DRAIN_DELAY_SECS": "0",
    }
    if not minimal:
        env["SCF_BRIDGE__UPSTREAM__ENDPOINT"] = upstream
        env["TENCENTCLOUD_SECRET_ID"] = secret_id
        env["TENCENTCLOUD_SECRET_KEY"] = secret_key
        if region is not None:
            env["SCF_BRIDGE__UPSTREAM__REGION"] = region
        if token is not None:
            env["TENCENTCLOUD_SESSION_TOKEN"] = token
    env.update(extra_env or {})
    proc = ManagedProcess("scf-bridge serve", [bridge_binary(), "serve"], clean_env(env), port)
    proc.wait_ready()
    return proc


def start_bridge_with_config(config_toml: str, port: int, more_ports: tuple[int, ...] = ()) -> ManagedProcess:
    """`scf-bridge serve --config FILE` (nothing from the environment); waits for every port."""
    conf_dir = tempfile.mkdtemp(prefix="scf-bridge-conf-")
    path = Path(conf_dir) / "bridge.toml"
    path.write_text(config_toml)
    proc = ManagedProcess("scf-bridge serve --config", [bridge_binary(), "serve", "--config", str(path)], clean_env(), port)
    proc.config_path = path
    for p in (port, *more_ports):
        proc.wait_ready(port=p)
    return proc


def toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid TOML basic string


@dataclasses.dataclass
class Pki:
    ca_file: str
    cert_file: str
    key_file: str


def make_pki(directory: str, names: tuple[str, ...] = (LEGACY_HOST,), ips: tuple[str, ...] = ("127.0.0.1",)) -> Pki:
    """A private CA and a server certificate (SANs: names + ips) signed by it, as PEM files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scf-bridge test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    d = Path(directory)
    pki = Pki(str(d / "ca.pem"), str(d / "tls.crt"), str(d / "tls.key"))
    Path(pki.ca_file).write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    Path(pki.cert_file).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(pki.key_file).write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return pki


def start_emulator(
    secret_id: str = BRIDGE_SECRET_ID, secret_key: str = BRIDGE_SECRET_KEY, extra_args: tuple[str, ...] = ()
) -> ManagedProcess:
    """`scf-bridge emulator` on a free port; `extra_args` are its flags (e.g. `--rate-limit Invoke=5`)."""
    port = free_port()
    env = clean_env({"TENCENTCLOUD_SECRET_ID": secret_id, "TENCENTCLOUD_SECRET_KEY": secret_key})
    proc = ManagedProcess(
        "scf-bridge emulator",
        [bridge_binary(), "emulator", "--listen", f"127.0.0.1:{port}", *extra_args],
        env,
        port,
    )
    proc.wait_ready()
    return proc


# --------------------------------------------------------------------------- TC3 (API 3.0) checking

AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([^/]+)/tc3_request, "
    r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$"
)


def utc_date(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc).strftime("%Y-%m-%d")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tc3_canonical_request(
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    signed_headers: list[str],
    body: bytes,
    unsigned_payload: bool = False,
) -> str:
    """Canonical request of TC3-HMAC-SHA256, rebuilt from what was received.

    headers: lower-case name -> received value. Each signed header contributes
    ``name:value\\n`` (value trimmed and lower-cased, per the signature doc), in the
    order SignedHeaders lists them.
    """
    canonical_headers = "".join(f"{h}:{headers[h].strip().lower()}\n" for h in signed_headers)
    payload = b"UNSIGNED-PAYLOAD" if unsigned_payload else body
    return "\n".join(
        [method, path, query, canonical_headers, ";".join(signed_headers), sha256_hex(payload)]
    )


def tc3_string_to_sign(timestamp: int | str, date: str, service: str, canonical_request: str) -> str:
    return "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            f"{date}/{service}/tc3_request",
            sha256_hex(canonical_request.encode("utf-8")),
        ]
    )


def sdk_sign_tc3(secret_key: str, date: str, service: str, string_to_sign: str) -> str:
    """The HMAC chain is the official 3.0 SDK's, never ours."""
    from tencentcloud.common.sign import Sign

    return Sign.sign_tc3(secret_key, date, service, string_to_sign)


@dataclasses.dataclass
class Tc3Check:
    ok: bool
    error_code: str | None = None  # 3.0 error code the real service would answer
    reason: str = ""
    secret_id: str | None = None
    date: str | None = None
    service: str | None = None
    signed_headers: str | None = None
    signature: str | None = None
    expected_signature: str | None = None
    string_to_sign: str | None = None


def tc3_verify(
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    keys: dict[str, str],
    now: float | None = None,
    max_skew: int = 300,
    service: str = "scf",
) -> Tc3Check:
    """Verify the TC3 signature of a received request. headers: lower-case name -> value."""
    now = time.time() if now is None else now
    auth = headers.get("authorization")
    if auth is None:
        return Tc3Check(False, "AuthFailure.InvalidAuthorization", "no Authorization header")
    m = AUTH_RE.match(auth)
    if not m:
        return Tc3Check(False, "AuthFailure.InvalidAuthorization", f"malformed Authorization: {auth!r}")
    sid, date, svc, signed, signature = m.groups()
    check = Tc3Check(False, secret_id=sid, date=date, service=svc, signed_headers=signed, signature=signature)
    if sid not in keys:
        check.error_code, check.reason = "AuthFailure.SecretIdNotFound", f"unknown SecretId {sid!r}"
        return check
    ts_text = headers.get("x-tc-timestamp", "")
    if not ts_text.isdigit():
        check.error_code, check.reason = "AuthFailure.InvalidAuthorization", f"bad X-TC-Timestamp {ts_text!r}"
        return check
    ts = int(ts_text)
    if abs(now - ts) > max_skew:
        check.error_code, check.reason = "AuthFailure.SignatureExpire", f"timestamp {ts} vs now {int(now)}"
        return check
    if date != utc_date(ts):
        check.error_code = "AuthFailure.SignatureFailure"
        check.reason = f"credential date {date} != UTC date {utc_date(ts)} of X-TC-Timestamp"
        return check
    if svc != service:
        check.error_code, check.reason = "AuthFailure.SignatureFailure", f"credential service {svc!r} != {service!r}"
        return check
    signed_list = signed.split(";")
    if "content-type" not in signed_list or "host" not in signed_list:
        check.error_code, check.reason = "AuthFailure.SignatureFailure", f"SignedHeaders {signed!r} lacks content-type/host"
        return check
    missing = [h for h in signed_list if h not in headers]
    if missing:
        check.error_code, check.reason = "AuthFailure.SignatureFailure", f"signed headers not sent: {missing}"
        return check
    path, _, query = target.partition("?")
    unsigned = headers.get("x-tc-content-sha256", "") == "UNSIGNED-PAYLOAD"
    canonical = tc3_canonical_request(method, path, query, headers, signed_list, body, unsigned)
    sts = tc3_string_to_sign(ts, date, svc, canonical)
    expected = sdk_sign_tc3(keys[sid], date, svc, sts)
    check.expected_signature, check.string_to_sign = expected, sts
    if not hmac.compare_digest(expected, signature):
        check.error_code, check.reason = "AuthFailure.SignatureFailure", "signature mismatch"
        return check
    check.ok = True
    return check


def tc3_post(
    host_port: str,
    body: bytes,
    *,
    secret_id: str,
    secret_key: str,
    timestamp: int | None = None,
    action: str = "Invoke",
    region: str = "ap-guangzhou",
    content_type: str = "application/json",
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    """A raw, correctly TC3-signed POST / (own canonical request + SDK HMAC chain)."""
    ts = int(time.time()) if timestamp is None else timestamp
    date = utc_date(ts)
    headers = {"content-type": content_type, "host": host_port}
    canonical = tc3_canonical_request("POST", "/", "", headers, ["content-type", "host"], body)
    sig = sdk_sign_tc3(secret_key, date, "scf", tc3_string_to_sign(ts, date, "scf", canonical))
    conn = http.client.HTTPConnection(host_port, timeout=timeout)
    try:
        conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
        for name, value in [
            ("Host", host_port),
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("X-TC-Action", action),
            ("X-TC-Version", "2018-04-16"),
            ("X-TC-Region", region),
            ("X-TC-Timestamp", str(ts)),
            (
                "Authorization",
                f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/scf/tc3_request, "
                f"SignedHeaders=content-type;host, Signature={sig}",
            ),
        ]:
            conn.putheader(name, value)
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------- recording HTTP server


@dataclasses.dataclass
class RecordedRequest:
    method: str
    target: str  # request-target as sent (path + ?query)
    header_list: list[tuple[str, str]]  # as received, order and case kept
    body: bytes
    chunked: bool
    tc3: Tc3Check | None = None

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.header_list if k.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        """The single value of a header (None if absent); fails if it was sent twice."""
        values = self.header_all(name)
        assert len(values) <= 1, f"header {name} sent {len(values)} times: {values}"
        return values[0] if values else None

    @property
    def headers_lower(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.header_list}

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        """Legacy params of a /v2/index.php request (query for GET, form body for POST)."""
        text = self.query if self.method == "GET" else self.body.decode("utf-8")
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True, encoding="utf-8")
        out: dict[str, str] = {}
        for k, v in pairs:
            assert k not in out, f"duplicate legacy param {k}"
            out[k] = v
        return out


Responder = Callable[[RecordedRequest], tuple[int, list[tuple[str, str]], bytes]]


class RecordingServer:
    """ThreadingHTTPServer in a thread; records every request; answers via a responder."""

    def __init__(self, responder: Responder):
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self.responder = responder
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.host_port = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"mock-{self.port}", daemon=True
        )
        self._thread.start()

    def _handler_class(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms Nagle/delayed-ACK stall between header and body writes

            def log_message(self, *args):  # keep pytest output clean
                pass

            def _read_body(self) -> tuple[bytes, bool]:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks), True
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return (self.rfile.read(length) if length else b""), False

            def _handle(self):
                body, chunked = self._read_body()
                rec = RecordedRequest(self.command, self.path, list(self.headers.items()), body, chunked)
                status, headers, payload = outer.responder(rec)
                with outer._lock:
                    outer.requests.append(rec)
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _handle
            do_POST = _handle
            do_PUT = _handle
            do_DELETE = _handle

        return Handler

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def take(self) -> list[RecordedRequest]:
        with self._lock:
            out = list(self.requests)
            self.requests.clear()
            return out

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def v3_result(request_id: str | None = None, **result: Any) -> dict:
    return {"Response": {"Result": result, "RequestId": request_id or str(uuid.uuid4())}}


def v3_error(code: str, message: str, request_id: str | None = None) -> dict:
    return {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id or str(uuid.uuid4())}}


class MockUpstream(RecordingServer):
    """Scripted SCF API 3.0 endpoint.

    Every request is TC3-verified (result stored in ``rec.tc3``). A request that
    fails verification is answered with the 3.0 Error envelope the real service
    would send; otherwise the canned answer chosen by the test (``answer``) is sent.
    Answers are HTTP 200 with ``Content-Type: application/json`` exactly.
    """

    def __init__(self, keys: dict[str, str] | None = None):
        self.keys = dict(keys or {BRIDGE_SECRET_ID: BRIDGE_SECRET_KEY})
        self.answer: dict | Callable[[RecordedRequest], dict] = v3_result(
            FunctionRequestId=str(uuid.uuid4()), RetMsg='"mock"', ErrMsg="", Log="",
            MemUsage=1024, Duration=1.5, BillDuration=2, InvokeResult=0,
        )
        super().__init__(self._respond)

    def _respond(self, rec: RecordedRequest):
        rec.tc3 = tc3_verify(rec.method, rec.target, rec.headers_lower, rec.body, self.keys)
        if not rec.tc3.ok:
            doc = v3_error(rec.tc3.error_code or "AuthFailure.SignatureFailure", f"mock: {rec.tc3.reason}")
        elif callable(self.answer):
            doc = self.answer(rec)
        else:
            doc = self.answer
        return 200, [("Content-Type", "application/json")], json.dumps(doc).encode("utf-8")


# --------------------------------------------------------------------------- legacy (v2) client side


def legacy_string_to_sign(method: str, host: str, path: str, params: dict[str, Any]) -> str:
    """Legacy v2 string to sign: METHOD+host+path+'?'+sorted k=v ('_'->'.' in keys, raw values).

    For POST, values starting with '@' are left out."""
    items = {}
    for k, v in params.items():
        if k == "Signature":
            continue
        v = str(v)
        if method.upper() == "POST" and v.startswith("@"):
            continue
        items[k.replace("_", ".")] = v
    query = "&".join(f"{k}={items[k]}" for k in sorted(items))
    return f"{method.upper()}{host}{path}?{query}"


def legacy_sign(secret_key: str, string_to_sign: str, signature_method: str | None = "HmacSHA1") -> str:
    digest = hashlib.sha256 if signature_method == "HmacSHA256" else hashlib.sha1
    mac = hmac.new(secret_key.encode("utf-8"), string_to_sign.encode("utf-8"), digest).digest()
    return base64.b64encode(mac).decode("ascii")


def legacy_params(
    action_params: dict[str, Any],
    *,
    host: str,
    method: str = "GET",
    region: str | None = "gz",
    signature_method: str | None = None,
    secret_id: str = LEGACY_SECRET_ID,
    secret_key: str = LEGACY_SECRET_KEY,
    action: str = "InvokeFunction",
) -> dict[str, str]:
    """A complete, correctly signed set of legacy params (for host `host`)."""
    p: dict[str, Any] = {
        "Action": action,
        "Nonce": random.randint(1, 2**31),
        "Timestamp": int(time.time()),
        "SecretId": secret_id,
    }
    if region is not None:
        p["Region"] = region
    if signature_method is not None:
        p["SignatureMethod"] = signature_method
    p.update(action_params)
    p = {k: str(v) for k, v in p.items()}
    p["Signature"] = legacy_sign(
        secret_key, legacy_string_to_sign(method, host, LEGACY_PATH, p), signature_method
    )
    return p


@dataclasses.dataclass
class LegacyAnswer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def legacy_http(host_port: str, params: dict[str, str], method: str = "GET", timeout: float = 30) -> LegacyAnswer:
    """Send legacy params with plain urllib (GET query or POST form body); never raises on status."""
    data = urllib.parse.urlencode(params)
    url = f"http://{host_port}{LEGACY_PATH}"
    if method == "GET":
        req = urllib.request.Request(f"{url}?{data}", method="GET")
    else:
        req = urllib.request.Request(
            url,
            data=data.encode("utf-8"),
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    try:
        with _NO_PROXY_OPENER.open(req, timeout=timeout) as resp:
            return LegacyAnswer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    except urllib.error.HTTPError as e:
        return LegacyAnswer(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def legacy_invoke(
    host_port: str,
    action_params: dict[str, Any],
    method: str = "GET",
    **kw: Any,
) -> LegacyAnswer:
    params = legacy_params(action_params, host=host_port, method=method, **kw)
    return legacy_http(host_port, params, method)


# --------------------------------------------------------------------------- the unmodified legacy SDK


@dataclasses.dataclass
class SdkOutcome:
    ok: bool
    body: bytes | None  # what QcloudApi.call() returned (raw bytes)
    error_type: str | None
    error_text: str | None
    http_status: int | None
    stderr: str

    def json(self) -> Any:
        assert self.ok, f"legacy SDK call failed: {self.error_type}: {self.error_text}\n{self.stderr}"
        return json.loads(self.body.decode("utf-8"))


def run_legacy_sdk(
    host_port: str,
    params: dict[str, Any],
    *,
    method: str = "GET",
    signature_method: str | None = None,
    region: str | None = "gz",
    secret_id: str = LEGACY_SECRET_ID,
    secret_key: str = LEGACY_SECRET_KEY,
    action: str = "InvokeFunction",
    timeout: float = 30,
    token: str | None = None,
    tls_redirect_port: int | None = None,
    ca_file: str | None = None,
) -> SdkOutcome:
    """Run `QcloudApi('scf', config).call(action, params)` in a fresh child interpreter.

    The child installs the plain-HTTP transport patch (legacy_plain_http.py) and nothing
    else, so no patch can bleed into this process or into another test.

    With tls_redirect_port the SDK is not patched at all: it speaks HTTPS to its own
    hard-coded scf.api.qcloud.com:443, which only name resolution sends to
    127.0.0.1:tls_redirect_port; ca_file (SSL_CERT_FILE) is the trust store.
    """
    config: dict[str, Any] = {"secretId": secret_id, "secretKey": secret_key, "method": method}
    if region is not None:
        config["Region"] = region
    if signature_method is not None:
        config["SignatureMethod"] = signature_method
    if token is not None:
        config["Token"] = token
    job: dict[str, Any] = {"config": config, "action": action, "params": params, "timeout": timeout}
    if tls_redirect_port is None:
        job.update(transport="plain", host=host_port)
    else:
        job.update(transport="tls-redirect", redirect=[LEGACY_HOST, 443, "127.0.0.1", tls_redirect_port])
    env = {"PYTHONPATH": str(HERE), "NO_PROXY": "*", "no_proxy": "*"}
    if ca_file is not None:
        env["SSL_CERT_FILE"] = ca_file
    proc = subprocess.run(
        [sys.executable, str(HERE / "legacy_sdk_call.py")],
        input=json.dumps(job).encode("utf-8"),
        capture_output=True,
        timeout=timeout + 30,
        env=clean_env(env, drop=("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE")),
    )
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        pytest.fail(f"legacy SDK runner crashed (exit {proc.returncode}):\n{stderr}", pytrace=False)
    out = json.loads(proc.stdout.decode("utf-8"))
    body = base64.b64decode(out["body_b64"]) if out.get("body_b64") is not None else None
    return SdkOutcome(out["ok"], body, out.get("error_type"), out.get("error_text"), out.get("http_status"), stderr)


def read_cargo_version() -> str:
    import tomllib

    with open(REPO_ROOT / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["package"]["version"]


# --------------------------------------------------------------------------- the official 3.0 SDK


def scf_client(host_port: str, secret_id: str, secret_key: str, region: str = "ap-guangzhou", timeout: int = 60):
    """Official tencentcloud-sdk-python-scf ScfClient pointed at http://<host_port>/."""
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.scf.v20180416 import scf_client as scf

    hp = HttpProfile(endpoint=host_port, protocol="http", reqTimeout=timeout)
    return scf.ScfClient(credential.Credential(secret_id, secret_key), region, ClientProfile(httpProfile=hp))


def invoke_request(**fields: str):
    from tencentcloud.scf.v20180416 import models

    req = models.InvokeRequest()
    for k, v in fields.items():
        setattr(req, k, v)
    return req
