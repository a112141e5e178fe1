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
    start_with(EmulatorConfig::with_key(ID, KEY)).await
}

async fn start_with(config: EmulatorConfig) -> Emulator {
    let addr = emulator::spawn_ephemeral(Arc::new(config))
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
    call.action = Some("PublishVersion");
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

// ---- the stateful account: every action ----

/// `action` with `body`, signed like the Python SDK; the whole answer.
async fn act(emu: &Emulator, action: &'static str, body: Value) -> Value {
    let mut call = Call::new(body);
    call.action = Some(action);
    call.send(emu).await
}

/// `action` must succeed; its `Response`.
async fn ok(emu: &Emulator, action: &'static str, body: Value) -> Value {
    let answer = act(emu, action, body).await;
    assert!(
        answer["Response"].get("Error").is_none(),
        "{action} failed: {answer}"
    );
    answer["Response"].clone()
}

/// `action` must fail with `code`.
async fn fails(emu: &Emulator, action: &'static str, body: Value, code: &str) -> Value {
    let answer = act(emu, action, body).await;
    assert_eq!(
        answer["Response"]["Error"]["Code"], code,
        "{action}: {answer}"
    );
    answer
}

const ZIP: &str = "UEsDBAoAAAAAAA=="; // "PK\x03\x04" and a few bytes, base64

fn quick(delay_ms: u64) -> EmulatorConfig {
    EmulatorConfig {
        state_delay: Duration::from_millis(delay_ms),
        ..EmulatorConfig::with_key(ID, KEY)
    }
}

async fn status(emu: &Emulator, name: &str) -> String {
    let r = ok(emu, "GetFunction", json!({"FunctionName": name})).await;
    r["Status"].as_str().expect("Status").to_owned()
}

/// Polls `GetFunction` until `Status` is not `from` (bounded: 10 s).
async fn wait_while(emu: &Emulator, name: &str, from: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = status(emu, name).await;
        if s != from || Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn function_life_cycle_follows_the_3_0_states() {
    let emu = start_with(quick(150)).await;
    let create = json!({
        "FunctionName": "app", "Handler": "app.run", "Runtime": "Python3.9",
        "Code": {"ZipFile": ZIP}, "MemorySize": 256, "Timeout": 10, "Description": "d1",
    });
    ok(&emu, "CreateFunction", create.clone()).await;
    assert_eq!(status(&emu, "app").await, "Creating");
    fails(&emu, "CreateFunction", create, "ResourceInUse.Function").await;
    fails(
        &emu,
        "Invoke",
        json!({"FunctionName": "app"}),
        "FailedOperation.FunctionStatusError",
    )
    .await;
    fails(
        &emu,
        "UpdateFunctionConfiguration",
        json!({"FunctionName": "app", "Timeout": 5}),
        "FailedOperation.FunctionStatusError",
    )
    .await;
    fails(&emu, "CreateTrigger", json!({"FunctionName": "app", "TriggerName": "t", "Type": "timer", "TriggerDesc": "*/5 * * * *"}), "FailedOperation.CreateTrigger").await;
    assert_eq!(wait_while(&emu, "app", "Creating").await, "Active");

    let f = ok(
        &emu,
        "GetFunction",
        json!({"FunctionName": "app", "Qualifier": "$LATEST"}),
    )
    .await;
    assert_eq!(f["Handler"], "app.run");
    assert_eq!(f["MemorySize"], 256);
    assert_eq!(f["Timeout"], 10);
    assert_eq!(f["FunctionVersion"], "$LATEST");
    assert!(f.get("CodeInfo").is_none(), "no code without ShowCode");
    let f = ok(
        &emu,
        "GetFunction",
        json!({"FunctionName": "app", "ShowCode": "TRUE"}),
    )
    .await;
    assert!(f["CodeInfo"].is_string());
    fails(
        &emu,
        "GetFunction",
        json!({"FunctionName": "app", "Qualifier": "3"}),
        "ResourceNotFound.Qualifier",
    )
    .await;

    ok(
        &emu,
        "UpdateFunctionConfiguration",
        json!({"FunctionName": "app", "MemorySize": 512, "Description": "d2"}),
    )
    .await;
    assert_eq!(status(&emu, "app").await, "Updating");
    // While updating, invocations run the previous content.
    ok(&emu, "Invoke", json!({"FunctionName": "app"})).await;
    fails(
        &emu,
        "UpdateFunctionCode",
        json!({"FunctionName": "app", "ZipFile": ZIP}),
        "FailedOperation.FunctionStatusError",
    )
    .await;
    assert_eq!(wait_while(&emu, "app", "Updating").await, "Active");
    fails(
        &emu,
        "UpdateFunctionConfiguration",
        json!({"FunctionName": "app", "Runtime": "Nodejs18.15"}),
        "InvalidParameterValue.Runtime",
    )
    .await;
    ok(&emu, "UpdateFunctionCode", json!({"FunctionName": "app", "Handler": "main.handle", "CosBucketName": "b", "CosObjectName": "/code.zip"})).await;
    let during = ok(
        &emu,
        "Invoke",
        json!({"FunctionName": "app", "LogType": "Tail"}),
    )
    .await;
    assert!(
        during["Result"]["Log"]
            .as_str()
            .expect("log")
            .contains("app.run"),
        "the previous code runs while Updating: {during}"
    );
    assert_eq!(wait_while(&emu, "app", "Updating").await, "Active");
    let f = ok(&emu, "GetFunction", json!({"FunctionName": "app"})).await;
    assert_eq!(
        (
            f["MemorySize"].clone(),
            f["Description"].clone(),
            f["Handler"].clone()
        ),
        (json!(512), json!("d2"), json!("main.handle"))
    );

    let r = ok(
        &emu,
        "Invoke",
        json!({"FunctionName": "app", "ClientContext": "{\"x\": 1}", "LogType": "Tail"}),
    )
    .await;
    assert_eq!(
        r["Result"]["RetMsg"], "{\"x\": 1}",
        "a created function echoes its event"
    );
    assert!(
        r["Result"]["Log"]
            .as_str()
            .expect("log")
            .contains("main.handle (Python3.9)"),
        "{r}"
    );
    assert_eq!(r["Result"]["InvokeResult"], 0);

    ok(&emu, "DeleteFunction", json!({"FunctionName": "app"})).await;
    assert_eq!(status(&emu, "app").await, "Deleting");
    let create_again = json!({"FunctionName": "app", "Code": {"ZipFile": ZIP}});
    fails(
        &emu,
        "CreateFunction",
        create_again.clone(),
        "ResourceInUse.Function",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = act(&emu, "GetFunction", json!({"FunctionName": "app"})).await;
        if a["Response"]["Error"]["Code"] == "ResourceNotFound.Function" {
            break;
        }
        assert!(Instant::now() < deadline, "still there: {a}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fails(
        &emu,
        "Invoke",
        json!({"FunctionName": "app"}),
        "ResourceNotFound.Function",
    )
    .await;
    ok(&emu, "CreateFunction", create_again).await;
}

#[tokio::test]
async fn create_refuses_bad_code_and_can_be_made_to_fail() {
    let emu = start_with(quick(20)).await;
    let zip = json!({"ZipFile": ZIP});
    for (body, code) in [
        (json!({"FunctionName": "a"}), "MissingParameter.Code"),
        (
            json!({"FunctionName": "a", "Code": {"ZipFile": "***"}}),
            "InvalidParameterValue.ZipFileBase64BinasciiError",
        ),
        (
            json!({"FunctionName": "a", "Code": {"ZipFile": "aGVsbG8="}}),
            "InvalidParameterValue.ZipFile",
        ),
        (
            json!({"FunctionName": "a", "Code": {"CosBucketName": "b"}}),
            "InvalidParameterValue.Cos",
        ),
        (
            json!({"FunctionName": "a", "Code": {"ZipFile": ZIP, "Bogus": 1}}),
            "UnknownParameter",
        ),
        (
            json!({"FunctionName": "a", "Code": zip, "MemorySize": 100}),
            "InvalidParameterValue.MemorySize",
        ),
        (
            json!({"FunctionName": "a", "Code": zip, "Timeout": 901}),
            "LimitExceeded.Timeout",
        ),
        (
            json!({"FunctionName": "a", "Code": zip, "Runtime": "Cobol85"}),
            "InvalidParameterValue.Runtime",
        ),
        (
            json!({"FunctionName": "9a", "Code": zip}),
            "InvalidParameter.FunctionName",
        ),
        (
            json!({"FunctionName": "hello", "Code": zip}),
            "ResourceInUse.Function",
        ),
    ] {
        fails(&emu, "CreateFunction", body, code).await;
    }
    ok(&emu, "CreateFunction", json!({"FunctionName": "broken", "Code": {"CosBucketName": "b", "CosObjectName": "/x/create-failed.zip"}})).await;
    assert_eq!(wait_while(&emu, "broken", "Creating").await, "CreateFailed");
    let f = ok(&emu, "GetFunction", json!({"FunctionName": "broken"})).await;
    assert!(
        !f["StatusReasons"].as_array().expect("reasons").is_empty(),
        "{f}"
    );
    fails(
        &emu,
        "Invoke",
        json!({"FunctionName": "broken"}),
        "FailedOperation.FunctionStatusError",
    )
    .await;
    ok(
        &emu,
        "CreateFunction",
        json!({"FunctionName": "upd", "Code": {"ZipFile": ZIP}}),
    )
    .await;
    assert_eq!(wait_while(&emu, "upd", "Creating").await, "Active");
    ok(
        &emu,
        "UpdateFunctionCode",
        json!({"FunctionName": "upd", "CosBucketName": "b", "CosObjectName": "/update-failed.zip"}),
    )
    .await;
    assert_eq!(wait_while(&emu, "upd", "Updating").await, "UpdateFailed");
    ok(&emu, "Invoke", json!({"FunctionName": "upd"})).await;
}

#[tokio::test]
async fn list_functions_orders_pages_and_searches() {
    let emu = start_with(quick(0)).await;
    for name in ["zeta", "alpha", "mid-one"] {
        ok(&emu, "CreateFunction", json!({"FunctionName": name, "Code": {"ZipFile": ZIP}, "Description": format!("about {name}")})).await;
    }
    let names = |r: &Value| -> Vec<String> {
        r["Functions"]
            .as_array()
            .expect("Functions")
            .iter()
            .map(|f| f["FunctionName"].as_str().expect("name").to_owned())
            .collect()
    };
    let r = ok(&emu, "ListFunctions", json!({})).await;
    assert_eq!(r["TotalCount"], 7, "3 created + 4 built-ins: {r}");
    assert_eq!(
        names(&r)[..3],
        ["mid-one", "alpha", "zeta"],
        "default: AddTime DESC"
    );
    let r = ok(
        &emu,
        "ListFunctions",
        json!({"Orderby": "FunctionName", "Order": "ASC", "Limit": 3}),
    )
    .await;
    assert_eq!(names(&r), ["alpha", "echo", "fail"]);
    assert_eq!(r["TotalCount"], 7);
    let r = ok(
        &emu,
        "ListFunctions",
        json!({"Orderby": "FunctionName", "Order": "ASC", "Offset": 5, "Limit": 10}),
    )
    .await;
    assert_eq!(names(&r), ["sleep", "zeta"]);
    let r = ok(
        &emu,
        "ListFunctions",
        json!({"SearchKey": "l", "Orderby": "FunctionName", "Order": "ASC"}),
    )
    .await;
    assert_eq!(names(&r), ["alpha", "fail", "hello", "sleep"]);
    let r = ok(
        &emu,
        "ListFunctions",
        json!({"Description": "about m", "Namespace": "default"}),
    )
    .await;
    assert_eq!(names(&r), ["mid-one"]);
    let r = ok(&emu, "ListFunctions", json!({"Filters": [{"Name": "Runtime", "Values": ["Python3.9"]}], "Orderby": "FunctionName", "Order": "ASC"})).await;
    assert_eq!(names(&r), ["echo", "fail", "hello", "sleep"]);
    fails(
        &emu,
        "ListFunctions",
        json!({"Order": "asc"}),
        "InvalidParameterValue.Order",
    )
    .await;
    fails(
        &emu,
        "ListFunctions",
        json!({"Orderby": "Name"}),
        "InvalidParameterValue.OrderBy",
    )
    .await;
    fails(
        &emu,
        "ListFunctions",
        json!({"OrderBy": "AddTime"}),
        "UnknownParameter",
    )
    .await;
    fails(
        &emu,
        "ListFunctions",
        json!({"Namespace": "prod"}),
        "ResourceNotFound.Namespace",
    )
    .await;
    // Regions are separate.
    let mut call = Call::new(json!({}));
    call.action = Some("ListFunctions");
    call.region = Some("ap-shanghai");
    let other = call.send(&emu).await;
    assert_eq!(other["Response"]["TotalCount"], 4, "{other}");
}

#[tokio::test]
async fn every_action_refuses_a_field_it_does_not_have() {
    let emu = start().await;
    for action in [
        "CreateFunction",
        "ListFunctions",
        "GetFunction",
        "UpdateFunctionConfiguration",
        "UpdateFunctionCode",
        "DeleteFunction",
        "Invoke",
        "InvokeFunction",
        "CreateTrigger",
        "UpdateTrigger",
        "DeleteTrigger",
        "ListTriggers",
        "GetFunctionLogs",
        "GetRequestStatus",
        "GetAccount",
    ] {
        let answer = fails(&emu, action, json!({"NoSuchField": 1}), "UnknownParameter").await;
        let message = answer["Response"]["Error"]["Message"]
            .as_str()
            .expect("message");
        assert!(message.contains("NoSuchField"), "{action}: {message}");
    }
}

#[tokio::test]
async fn invoke_function_is_sync_and_answers_status_codes() {
    let emu = start().await;
    let r = ok(&emu, "InvokeFunction", json!({"FunctionName": "echo", "Event": "{\"a\": 1}", "Qualifier": "$LATEST", "LogType": "Tail"})).await;
    let res = r["Result"].as_object().expect("Result");
    assert_full_sync_result(res);
    assert_eq!(res["InvokeResult"], 200, "a status code, 200 = success");
    assert_eq!(res["RetMsg"], "{\"a\": 1}");
    let r = ok(
        &emu,
        "InvokeFunction",
        json!({"FunctionName": "fail", "Qualifier": "$DEFAULT"}),
    )
    .await;
    assert_eq!(r["Result"]["InvokeResult"], 430, "user code exception");
    assert_ne!(r["Result"]["ErrMsg"], "");
    fails(
        &emu,
        "InvokeFunction",
        json!({"FunctionName": "hello", "InvocationType": "Event"}),
        "UnknownParameter",
    )
    .await;
    fails(
        &emu,
        "InvokeFunction",
        json!({"FunctionName": "hello", "ClientContext": "{}"}),
        "UnknownParameter",
    )
    .await;
    fails(
        &emu,
        "InvokeFunction",
        json!({"FunctionName": "hello", "Qualifier": "1"}),
        "ResourceNotFound.Qualifier",
    )
    .await;
    fails(
        &emu,
        "InvokeFunction",
        json!({"FunctionName": "nope"}),
        "ResourceNotFound.Function",
    )
    .await;
}

#[tokio::test]
async fn triggers_are_created_listed_updated_and_deleted() {
    let emu = start().await;
    let timer = json!({"FunctionName": "hello", "TriggerName": "every5", "Type": "timer", "TriggerDesc": "0 */5 * * * * *"});
    let r = ok(&emu, "CreateTrigger", timer.clone()).await;
    assert_eq!(r["TriggerInfo"]["TriggerName"], "every5");
    assert_eq!(r["TriggerInfo"]["Enable"], 1, "OPEN by default");
    fails(&emu, "CreateTrigger", timer, "ResourceInUse.Trigger").await;
    let cos_name = "bucket-1250000000.cos.ap-guangzhou.myqcloud.com";
    let cos_desc = "{\"event\":\"cos:ObjectCreated:*\"}";
    ok(&emu, "CreateTrigger", json!({"FunctionName": "hello", "TriggerName": cos_name, "Type": "cos", "TriggerDesc": cos_desc, "Enable": "CLOSE"})).await;
    fails(
        &emu,
        "CreateTrigger",
        json!({"FunctionName": "hello", "TriggerName": "x", "Type": "ckafka"}),
        "InvalidParameterValue.Type",
    )
    .await;
    fails(&emu, "CreateTrigger", json!({"FunctionName": "hello", "TriggerName": "t2", "Type": "timer", "TriggerDesc": "nope"}), "InvalidParameterValue.TriggerDesc").await;
    fails(&emu, "CreateTrigger", json!({"FunctionName": "hello", "TriggerName": "bucket.cn-south.myqcloud.com", "Type": "cos", "TriggerDesc": cos_desc}), "InvalidParameterValue.TriggerName").await;

    let r = ok(
        &emu,
        "ListTriggers",
        json!({"FunctionName": "hello", "OrderBy": "AddTime", "Order": "ASC"}),
    )
    .await;
    assert_eq!(r["TotalCount"], 2);
    assert_eq!(r["Triggers"][0]["TriggerName"], "every5");
    assert_eq!(r["Triggers"][1]["Enable"], 0);
    let r = ok(
        &emu,
        "ListTriggers",
        json!({"FunctionName": "hello", "Filters": [{"Name": "Type", "Values": ["cos"]}]}),
    )
    .await;
    assert_eq!(r["TotalCount"], 1);
    let f = ok(&emu, "GetFunction", json!({"FunctionName": "hello"})).await;
    assert_eq!(f["Triggers"].as_array().map(Vec::len), Some(2));

    ok(&emu, "UpdateTrigger", json!({"FunctionName": "hello", "TriggerName": "every5", "Type": "timer", "TriggerDesc": "0 */10 * * * * *", "Enable": "CLOSE"})).await;
    let r = ok(
        &emu,
        "ListTriggers",
        json!({"FunctionName": "hello", "Filters": [{"Name": "Type", "Values": ["timer"]}]}),
    )
    .await;
    assert_eq!(r["Triggers"][0]["TriggerDesc"], "0 */10 * * * * *");
    assert_eq!(r["Triggers"][0]["Enable"], 0);
    fails(
        &emu,
        "UpdateTrigger",
        json!({"FunctionName": "hello", "TriggerName": "nope", "Type": "timer"}),
        "ResourceNotFound.Trigger",
    )
    .await;

    fails(
        &emu,
        "DeleteTrigger",
        json!({"FunctionName": "hello", "TriggerName": cos_name, "Type": "cos"}),
        "MissingParameter",
    )
    .await;
    ok(&emu, "DeleteTrigger", json!({"FunctionName": "hello", "TriggerName": cos_name, "Type": "cos", "TriggerDesc": cos_desc})).await;
    ok(
        &emu,
        "DeleteTrigger",
        json!({"FunctionName": "hello", "TriggerName": "every5", "Type": "timer"}),
    )
    .await;
    fails(
        &emu,
        "DeleteTrigger",
        json!({"FunctionName": "hello", "TriggerName": "every5", "Type": "timer"}),
        "ResourceNotFound.Trigger",
    )
    .await;
    let r = ok(&emu, "ListTriggers", json!({"FunctionName": "hello"})).await;
    assert_eq!(r["TotalCount"], 0);
}

#[tokio::test]
async fn request_status_and_function_logs() {
    let emu = start().await;
    let r = ok(
        &emu,
        "Invoke",
        json!({"FunctionName": "echo", "ClientContext": "{\"k\": 2}"}),
    )
    .await;
    let id = r["Result"]["FunctionRequestId"]
        .as_str()
        .expect("id")
        .to_owned();
    let s = ok(
        &emu,
        "GetRequestStatus",
        json!({"FunctionName": "echo", "FunctionRequestId": id}),
    )
    .await;
    assert_eq!(s["TotalCount"], 1, "{s}");
    assert_eq!(s["Data"][0]["RequestId"], id.as_str());
    assert_eq!(s["Data"][0]["RetCode"], 0);
    assert_eq!(s["Data"][0]["RetMsg"], "{\"k\": 2}");
    let s = ok(
        &emu,
        "GetRequestStatus",
        json!({"FunctionName": "hello", "FunctionRequestId": id}),
    )
    .await;
    assert_eq!(s["TotalCount"], 0, "another function's request");
    fails(
        &emu,
        "GetRequestStatus",
        json!({"FunctionName": "echo"}),
        "MissingParameter",
    )
    .await;
    fails(&emu, "GetRequestStatus", json!({"FunctionName": "echo", "FunctionRequestId": id, "StartTime": "2020-01-01 00:00:00"}), "MissingParameter").await;
    fails(&emu, "GetRequestStatus", json!({"FunctionName": "echo", "FunctionRequestId": id, "StartTime": "2020-01-01", "EndTime": "2020-01-02"}), "InvalidParameterValue.DateTime").await;
    let past = ok(&emu, "GetRequestStatus", json!({"FunctionName": "echo", "FunctionRequestId": id, "StartTime": "2020-01-01 00:00:00", "EndTime": "2020-01-02 00:00:00"})).await;
    assert_eq!(past["TotalCount"], 0, "outside the window: {past}");
    let all = ok(&emu, "GetRequestStatus", json!({"FunctionName": "echo", "FunctionRequestId": id, "StartTime": "2020-01-01 00:00:00", "EndTime": "2099-01-01 00:00:00"})).await;
    assert_eq!(all["TotalCount"], 1, "{all}");
    let r = ok(&emu, "Invoke", json!({"FunctionName": "fail"})).await;
    let failed = r["Result"]["FunctionRequestId"]
        .as_str()
        .expect("id")
        .to_owned();
    let s = ok(
        &emu,
        "GetRequestStatus",
        json!({"FunctionName": "fail", "FunctionRequestId": failed}),
    )
    .await;
    assert_eq!(s["Data"][0]["RetCode"], -1);
    // An async invocation is running, then done.
    let r = ok(&emu, "Invoke", json!({"FunctionName": "sleep", "InvocationType": "Event", "ClientContext": "{\"ms\": 300}"})).await;
    let queued = r["Result"]["FunctionRequestId"]
        .as_str()
        .expect("id")
        .to_owned();
    let s = ok(
        &emu,
        "GetRequestStatus",
        json!({"FunctionName": "sleep", "FunctionRequestId": queued}),
    )
    .await;
    assert_eq!(s["Data"][0]["RetCode"], 1, "running: {s}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = ok(
            &emu,
            "GetRequestStatus",
            json!({"FunctionName": "sleep", "FunctionRequestId": queued}),
        )
        .await;
        if s["Data"][0]["RetCode"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "never finished: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fails(
        &emu,
        "GetFunctionLogs",
        json!({"FunctionName": "echo"}),
        "ActionOffline",
    )
    .await;

    let online = start_with(EmulatorConfig {
        function_logs_online: true,
        ..EmulatorConfig::with_key(ID, KEY)
    })
    .await;
    for ms in [1, 2] {
        ok(
            &online,
            "Invoke",
            json!({"FunctionName": "sleep", "ClientContext": format!("{{\"ms\": {ms}}}")}),
        )
        .await;
    }
    ok(&online, "Invoke", json!({"FunctionName": "fail"})).await;
    let logs = ok(
        &online,
        "GetFunctionLogs",
        json!({"FunctionName": "sleep", "Order": "asc"}),
    )
    .await;
    assert_eq!(logs["TotalCount"], 2, "{logs}");
    assert!(
        logs["Data"][0]["Log"]
            .as_str()
            .expect("log")
            .contains("sleep: 1 ms"),
        "{logs}"
    );
    let logs = ok(
        &online,
        "GetFunctionLogs",
        json!({"FunctionName": "fail", "Filter": {"RetCode": "not0"}}),
    )
    .await;
    assert_eq!(logs["TotalCount"], 1);
    assert_eq!(logs["Data"][0]["RetCode"], 1);
    fails(
        &online,
        "GetFunctionLogs",
        json!({"FunctionName": "fail", "OrderBy": "requestId"}),
        "InvalidParameterValue.OrderBy",
    )
    .await;
}

#[tokio::test]
async fn get_account_reports_usage_and_limits() {
    let emu = start_with(quick(0)).await;
    ok(
        &emu,
        "CreateFunction",
        json!({"FunctionName": "mine", "Code": {"ZipFile": ZIP}}),
    )
    .await;
    let r = ok(&emu, "GetAccount", json!({})).await;
    let usage = &r["AccountUsage"];
    assert_eq!(usage["NamespacesCount"], 1);
    assert_eq!(usage["Namespace"][0]["Namespace"], "default");
    assert_eq!(usage["Namespace"][0]["FunctionsCount"], 5);
    assert!(usage["Namespace"][0]["Functions"]
        .as_array()
        .expect("names")
        .contains(&json!("mine")));
    let limit = &r["AccountLimit"]["Namespace"][0];
    assert_eq!(limit["TimeoutLimit"], 900);
    assert!(limit["Trigger"]["Timer"].as_u64().is_some_and(|n| n > 0));
}

#[tokio::test]
async fn rate_limits_refuse_a_burst_before_running_anything() {
    let emu = start_with(EmulatorConfig {
        rate_limits: std::collections::HashMap::from([("Invoke".to_owned(), 5)]),
        ..EmulatorConfig::with_key(ID, KEY)
    })
    .await;
    let started = Instant::now();
    let mut admitted = 0u32;
    let mut refused = Vec::new();
    for _ in 0..20 {
        let a = act(&emu, "Invoke", json!({"FunctionName": "echo"})).await;
        match a["Response"]["Error"]["Code"].as_str() {
            None => admitted += 1,
            Some(code) => refused.push(code.to_owned()),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(admitted >= 5, "the first second's burst passes");
    // 5 at once, then at most 5 a second, one more for rounding.
    assert!(
        f64::from(admitted) <= 5.0 + 5.0 * elapsed + 1.0,
        "{admitted} in {elapsed}s"
    );
    assert!(!refused.is_empty(), "a burst of 20 cannot pass a 5/s limit");
    assert!(
        refused.iter().all(|c| c == "RequestLimitExceeded"),
        "{refused:?}"
    );
    // Nothing refused ran: no request was recorded beyond the admitted ones.
    // InvokeFunction has its own (default 10,000/s) limit.
    for _ in 0..20 {
        ok(&emu, "InvokeFunction", json!({"FunctionName": "echo"})).await;
    }
}
