//! Black-box tests of the embedded SCF 3.0 emulator over a real socket:
//! requests are signed with `scf3::tc3` and sent with hyper-util's client;
//! every answer must be HTTP 200 with `Content-Type: application/json` exactly.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use scf_bridge::emulator::{self, EmulatorConfig};
use scf_bridge::scf3::tc3::{self, SignableRequest, SigningParams};

const ID: &str = "AKIDemulatortest";
const KEY: &str = "emulator-test-secret-key";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

struct Emulator {
    host: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

async fn start() -> Emulator {
    let addr = emulator::spawn_ephemeral(Arc::new(EmulatorConfig::with_key(ID, KEY)))
        .await
        .expect("bind");
    Emulator {
        host: addr.to_string(),
        client: Client::builder(TokioExecutor::new()).build_http(),
    }
}

/// One request to send; defaults are what the official Python SDK sends.
struct Call {
    method: Method,
    body: Vec<u8>,
    content_type: &'static str,
    action: Option<&'static str>,
    version: Option<&'static str>,
    region: Option<&'static str>,
    secret_id: &'static str,
    secret_key: &'static str,
    timestamp: u64,
    sign_action: bool,
    /// Replaces the computed Authorization (None = no header at all).
    authorization: Option<Option<&'static str>>,
}

impl Call {
    fn new(body: Value) -> Call {
        Call::raw(body.to_string().into_bytes())
    }

    fn raw(body: Vec<u8>) -> Call {
        Call {
            method: Method::POST,
            body,
            content_type: "application/json",
            action: Some("Invoke"),
            version: Some("2018-04-16"),
            region: Some("ap-guangzhou"),
            secret_id: ID,
            secret_key: KEY,
            timestamp: now(),
            sign_action: false,
            authorization: None,
        }
    }

    async fn send(self, emu: &Emulator) -> Value {
        let mut sign_headers = vec![
            ("Content-Type", self.content_type),
            ("Host", emu.host.as_str()),
        ];
        if self.sign_action {
            sign_headers.push(("X-TC-Action", self.action.unwrap_or("")));
        }
        let signed = tc3::sign(
            &SignableRequest {
                method: self.method.as_str(),
                uri: "/",
                query: "",
                headers: &sign_headers,
                payload: &self.body,
            },
            &SigningParams {
                secret_id: self.secret_id,
                secret_key: self.secret_key,
                service: "scf",
                timestamp: self.timestamp,
            },
        );
        let mut req = Request::builder()
            .method(self.method)
            .uri(format!("http://{}/", emu.host))
            .header("Host", &emu.host)
            .header("Content-Type", self.content_type)
            .header("X-TC-Timestamp", &signed.timestamp)
            .header("X-TC-Language", "zh-CN")
            .header("X-TC-RequestClient", "SDK_RUST_TEST");
        for (name, value) in [
            ("X-TC-Action", self.action),
            ("X-TC-Version", self.version),
            ("X-TC-Region", self.region),
        ] {
            if let Some(value) = value {
                req = req.header(name, value);
            }
        }
        match self.authorization {
            None => req = req.header("Authorization", &signed.authorization),
            Some(Some(value)) => req = req.header("Authorization", value),
            Some(None) => {}
        }
        let req = req
            .body(Full::new(Bytes::from(self.body)))
            .expect("request");
        let resp = emu.client.request(req).await.expect("emulator answered");
        assert_eq!(resp.status(), StatusCode::OK, "always HTTP 200");
        let content_types: Vec<_> = resp.headers().get_all("content-type").iter().collect();
        assert_eq!(content_types, ["application/json"], "exact Content-Type");
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let value: Value = serde_json::from_slice(&body).expect("JSON body");
        let request_id = value["Response"]["RequestId"].as_str().expect("RequestId");
        assert!(
            uuid::Uuid::parse_str(request_id).is_ok(),
            "RequestId is a uuid"
        );
        value
    }
}

/// The `Result` object of a successful answer (panics on an Error envelope).
fn result(answer: &Value) -> &serde_json::Map<String, Value> {
    assert!(
        answer["Response"].get("Error").is_none(),
        "unexpected error: {answer}"
    );
    answer["Response"]["Result"]
        .as_object()
        .expect("Result object")
}

fn error_code(answer: &Value) -> &str {
    assert!(answer["Response"].get("Result").is_none(), "{answer}");
    answer["Response"]["Error"]["Code"]
        .as_str()
        .unwrap_or_else(|| panic!("Error.Code in {answer}"))
}

async fn expect_error(emu: &Emulator, call: Call, code: &str) {
    let answer = call.send(emu).await;
    assert_eq!(error_code(&answer), code, "{answer}");
    let message = answer["Response"]["Error"]["Message"]
        .as_str()
        .expect("Message");
    assert!(!message.is_empty());
    assert!(
        !message.contains(KEY),
        "a message must never carry the secret key"
    );
}

fn assert_full_sync_result(r: &serde_json::Map<String, Value>) {
    for field in ["Log", "RetMsg", "ErrMsg", "FunctionRequestId"] {
        assert!(r[field].is_string(), "{field} is a string: {r:?}");
    }
    for field in ["MemUsage", "BillDuration"] {
        assert!(r[field].is_u64(), "{field} is an integer: {r:?}");
    }
    assert!(r["InvokeResult"].is_i64(), "InvokeResult is an integer");
    assert!(r["Duration"].is_f64(), "Duration is a float: {r:?}");
    let fid = r["FunctionRequestId"].as_str().expect("id");
    assert!(uuid::Uuid::parse_str(fid).is_ok());
}

#[tokio::test]
async fn hello_greets_the_world() {
    let emu = start().await;
    let answer = Call::new(json!({"FunctionName": "hello"})).send(&emu).await;
    let r = result(&answer);
    assert_full_sync_result(r);
    assert_eq!(r["RetMsg"], "\"Hello World\"");
    assert_eq!(r["ErrMsg"], "");
    assert_eq!(r["Log"], "", "no log without LogType=Tail");
    assert_eq!(r["InvokeResult"], 0);
}

#[tokio::test]
async fn hello_greets_the_event_name() {
    let emu = start().await;
    let body = json!({"FunctionName": "hello", "ClientContext": "{\"name\": \"SCF\"}"});
    let answer = Call::new(body).send(&emu).await;
    assert_eq!(result(&answer)["RetMsg"], "\"Hello SCF\"");
}

#[tokio::test]
async fn echo_returns_the_event_text() {
    let emu = start().await;
    let event = r#"{"k": "v", "n": [1, 2.5], "u": "\u00e9"}"#;
    let body = json!({"FunctionName": "echo", "InvocationType": "RequestResponse", "ClientContext": event});
    let answer = Call::new(body).send(&emu).await;
    let r = result(&answer);
    assert_full_sync_result(r);
    assert_eq!(r["RetMsg"], event);
}

#[tokio::test]
async fn python_sdk_style_body_and_signed_action_are_accepted() {
    let emu = start().await;
    // json.dumps default separators, as the official SDK writes the body.
    let body = br#"{"FunctionName": "echo", "InvocationType": "RequestResponse", "ClientContext": "{\"k\": \"v\"}", "LogType": "Tail"}"#;
    let answer = Call::raw(body.to_vec()).send(&emu).await;
    assert_eq!(result(&answer)["RetMsg"], r#"{"k": "v"}"#);
    // The newer official scheme also signs x-tc-action (value lower-cased).
    let mut call = Call::raw(body.to_vec());
    call.sign_action = true;
    let answer = call.send(&emu).await;
    assert_eq!(result(&answer)["RetMsg"], r#"{"k": "v"}"#);
}

#[tokio::test]
async fn content_type_with_charset_is_accepted_when_signed_as_sent() {
    let emu = start().await;
    let mut call = Call::new(json!({"FunctionName": "hello"}));
    call.content_type = "application/json; charset=utf-8";
    result(&call.send(&emu).await);
}

#[tokio::test]
async fn fail_is_a_result_with_err_msg_not_an_error() {
    let emu = start().await;
    let answer = Call::new(json!({"FunctionName": "fail"})).send(&emu).await;
    let r = result(&answer);
    assert_full_sync_result(r);
    assert_eq!(r["RetMsg"], "");
    assert_ne!(r["InvokeResult"], 0);
    let err: Value =
        serde_json::from_str(r["ErrMsg"].as_str().expect("ErrMsg")).expect("ErrMsg is JSON");
    assert!(err["errorMessage"].is_string());
}

#[tokio::test]
async fn sleep_waits_then_returns() {
    let emu = start().await;
    let started = Instant::now();
    let body = json!({"FunctionName": "sleep", "ClientContext": "{\"ms\": 200}"});
    let answer = Call::new(body).send(&emu).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    let r = result(&answer);
    assert_full_sync_result(r);
    assert_eq!(r["RetMsg"], r#"{"slept_ms":200}"#);
    assert!(r["Duration"].as_f64().expect("float") >= 200.0);
    assert!(r["BillDuration"].as_u64().expect("int") >= 200);
}

#[tokio::test]
async fn sleep_beyond_the_bound_is_a_function_error() {
    let emu = start().await;
    let body = json!({"FunctionName": "sleep", "ClientContext": "{\"ms\": 60001}"});
    let answer = Call::new(body).send(&emu).await;
    assert_ne!(result(&answer)["ErrMsg"], "");
}

#[tokio::test]
async fn event_invocation_returns_only_the_function_request_id_at_once() {
    let emu = start().await;
    let started = Instant::now();
    let body = json!({"FunctionName": "sleep", "InvocationType": "Event", "ClientContext": "{\"ms\": 5000}"});
    let answer = Call::new(body).send(&emu).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "Event does not wait"
    );
    let r = result(&answer);
    assert_eq!(r.keys().collect::<Vec<_>>(), ["FunctionRequestId"]);
    assert!(uuid::Uuid::parse_str(r["FunctionRequestId"].as_str().expect("id")).is_ok());
}

#[tokio::test]
async fn tail_log_carries_the_execution_log() {
    let emu = start().await;
    let body = json!({"FunctionName": "echo", "ClientContext": "{\"e\":1}", "LogType": "Tail"});
    let answer = Call::new(body).send(&emu).await;
    let r = result(&answer);
    let log = r["Log"].as_str().expect("Log");
    let fid = r["FunctionRequestId"].as_str().expect("id");
    assert!(log.contains(&format!("START RequestId: {fid}")), "{log}");
    assert!(log.contains("echo: {\"e\":1}"), "{log}");
    assert!(log.len() <= 4096);
}

#[tokio::test]
async fn connection_is_reused_for_several_calls() {
    let emu = start().await;
    for _ in 0..5 {
        result(&Call::new(json!({"FunctionName": "hello"})).send(&emu).await);
    }
}

// ---- authentication ----

#[tokio::test]
async fn missing_authorization_is_invalid_authorization() {
    let emu = start().await;
    let mut call = Call::new(json!({"FunctionName": "hello"}));
    call.authorization = Some(None);
    expect_error(&emu, call, "AuthFailure.InvalidAuthorization").await;
}

#[tokio::test]
async fn malformed_authorization_is_invalid_authorization() {
    let emu = start().await;
    let mut call = Call::new(json!({"FunctionName": "hello"}));
    call.authorization = Some(Some("TC3-HMAC-SHA256 Credential=x"));
    expect_error(&emu, call, "AuthFailure.InvalidAuthorization").await;
}

#[tokio::test]
async fn unknown_secret_id_is_secret_id_not_found() {
    let emu = start().await;
    let mut call = Call::new(json!({"FunctionName": "hello"}));
    call.secret_id = "AKIDunknown";
    expect_error(&emu, call, "AuthFailure.SecretIdNotFound").await;
}

#[tokio::test]
async fn old_timestamp_is_signature_expire() {
    let emu = start().await;
    let mut call = Call::new(json!({"FunctionName": "hello"}));
    call.timestamp = now() - 301 - 5;
    expect_error(&emu, call, "AuthFailure.SignatureExpire").await;
    let mut call = Call::new(json!({"FunctionName": "hello"}));
    call.timestamp = now() + 301 + 5;
    expect_error(&emu, call, "AuthFailure.SignatureExpire").await;
}

#[tokio::test]
async fn wrong_secret_key_is_signature_failure() {
    let emu = start().await;
    let mut call = Call::new(json!({"FunctionName": "hello"}));
    call.secret_key = "not-the-key";
    expect_error(&emu, call, "AuthFailure.SignatureFailure").await;
}

// ---- common parameters ----

#[tokio::test]
async fn other_action_is_invalid_action() {
    let emu = start().await;
    let mut call = Call::new(json!({"FunctionName": "hello"}));
    call.action = Some("InvokeFunction");
    expect_error(&emu, call, "InvalidAction").await;
}

#[tokio::test]
async fn other_version_is_no_such_version() {
    let emu = start().await;
    let mut call = Call::new(json!({"FunctionName": "hello"}));
    call.version = Some("2017-03-12");
    expect_error(&emu, call, "NoSuchVersion").await;
}

#[tokio::test]
async fn missing_region_is_missing_parameter() {
    let emu = start().await;
    let mut call = Call::new(json!({"FunctionName": "hello"}));
    call.region = None;
    expect_error(&emu, call, "MissingParameter").await;
}

#[tokio::test]
async fn get_is_unsupported_protocol() {
    let emu = start().await;
    let mut call = Call::raw(Vec::new());
    call.method = Method::GET;
    expect_error(&emu, call, "UnsupportedProtocol").await;
}

// ---- body ----

#[tokio::test]
async fn body_not_a_json_object_is_invalid_parameter() {
    let emu = start().await;
    expect_error(&emu, Call::raw(b"[1,2]".to_vec()), "InvalidParameter").await;
    expect_error(
        &emu,
        Call::raw(b"FunctionName=hello".to_vec()),
        "InvalidParameter",
    )
    .await;
}

#[tokio::test]
async fn unknown_field_is_unknown_parameter() {
    let emu = start().await;
    let call = Call::new(json!({"FunctionName": "hello", "Event": "{}"}));
    expect_error(&emu, call, "UnknownParameter").await;
}

#[tokio::test]
async fn routing_key_is_a_known_field() {
    let emu = start().await;
    let call = Call::new(json!({"FunctionName": "hello", "RoutingKey": "{\"k\":\"v\"}"}));
    result(&call.send(&emu).await);
}

#[tokio::test]
async fn missing_function_name_is_missing_parameter() {
    let emu = start().await;
    expect_error(
        &emu,
        Call::new(json!({"LogType": "Tail"})),
        "MissingParameter",
    )
    .await;
}

#[tokio::test]
async fn bad_invocation_type_or_log_type_is_invalid_parameter_value() {
    let emu = start().await;
    let call = Call::new(json!({"FunctionName": "hello", "InvocationType": "Async"}));
    expect_error(&emu, call, "InvalidParameterValue").await;
    let call = Call::new(json!({"FunctionName": "hello", "LogType": "All"}));
    expect_error(&emu, call, "InvalidParameterValue").await;
}

#[tokio::test]
async fn client_context_not_json_is_invalid_parameter_value_param() {
    let emu = start().await;
    let call = Call::new(json!({"FunctionName": "echo", "ClientContext": "{oops"}));
    expect_error(&emu, call, "InvalidParameterValue.Param").await;
}

#[tokio::test]
async fn async_event_over_128_kb_is_request_too_large() {
    let emu = start().await;
    let event = format!("\"{}\"", "a".repeat(128 * 1024 - 1));
    let call = Call::new(
        json!({"FunctionName": "echo", "InvocationType": "Event", "ClientContext": event}),
    );
    expect_error(&emu, call, "InvalidParameter.RequestTooLarge").await;
    // The same event is fine synchronously.
    let call = Call::new(json!({"FunctionName": "echo", "ClientContext": event}));
    assert_eq!(result(&call.send(&emu).await)["RetMsg"], event.as_str());
}

#[tokio::test]
async fn sync_event_over_6_mb_is_request_too_large() {
    let emu = start().await;
    let event = format!("\"{}\"", "a".repeat(6 * 1024 * 1024 - 1));
    let call = Call::new(json!({"FunctionName": "echo", "ClientContext": event}));
    expect_error(&emu, call, "InvalidParameter.RequestTooLarge").await;
}

#[tokio::test]
async fn body_over_10_mb_is_request_size_limit_exceeded() {
    let emu = start().await;
    let call = Call::raw(vec![b' '; 10 * 1024 * 1024 + 1]);
    expect_error(&emu, call, "RequestSizeLimitExceeded").await;
}

#[tokio::test]
async fn unknown_function_is_resource_not_found_function() {
    let emu = start().await;
    let call = Call::new(json!({"FunctionName": "nosuchfunction"}));
    expect_error(&emu, call, "ResourceNotFound.Function").await;
}

#[tokio::test]
async fn other_namespace_is_resource_not_found_namespace() {
    let emu = start().await;
    let call = Call::new(json!({"FunctionName": "hello", "Namespace": "prod"}));
    expect_error(&emu, call, "ResourceNotFound.Namespace").await;
}

#[tokio::test]
async fn answers_parse_with_scf3_invoke() {
    use scf_bridge::scf3::invoke::{parse_response, Outcome};
    let emu = start().await;
    let answer = Call::new(json!({"FunctionName": "hello"})).send(&emu).await;
    let bytes = serde_json::to_vec(&answer).expect("json");
    assert!(matches!(parse_response(&bytes), Ok(Outcome::Result { .. })));
    let answer = Call::new(json!({"FunctionName": "nope"})).send(&emu).await;
    let bytes = serde_json::to_vec(&answer).expect("json");
    assert!(matches!(
        parse_response(&bytes),
        Ok(Outcome::Error { code, .. }) if code == "ResourceNotFound.Function"
    ));
}

// ---- the official Python SDK as client (compatibility target) ----

// The official 3.0 Python SDK against the emulator is tested in
// tests/clients/test_sdk3_emulator.py (run by scripts/test.sh).
