//! What the bridge sends to SCF 3.0, checked byte for byte against a
//! scripted upstream, and how it maps the upstream's answers back.

mod support;

use scf_bridge::scf3::tc3;
use support::{form, get, mock_upstream, post_form, start_bridge};

const RESULT: &str = r#"{"Response":{"Result":{"MemUsage":3207168,"Log":"","RetMsg":"hello from scf","BillDuration":100,"FunctionRequestId":"6add56fa-58f1-11e8-89a9-5254005d5fdb","Duration":0.826,"ErrMsg":"","InvokeResult":0},"RequestId":"c2af8a64-c922-4d55-aee0-bd86a5c2cd12"}}"#;
const ERROR: &str = r#"{"Response":{"Error":{"Code":"ResourceNotFound.Function","Message":"未找到指定的Function"},"RequestId":"0f0e0d0c"}}"#;

const ID: &str = "AKIDbridgeTEST";
const KEY: &str = "bridge-secret-key";

async fn bridge_to(upstream: std::net::SocketAddr, extra: &[(&str, &str)]) -> std::net::SocketAddr {
    let endpoint = format!("http://{upstream}");
    let mut env = vec![
        ("SCF_BRIDGE__UPSTREAM__ENDPOINT", endpoint.as_str()),
        ("TENCENTCLOUD_SECRET_ID", ID),
        ("TENCENTCLOUD_SECRET_KEY", KEY),
    ];
    env.extend_from_slice(extra);
    start_bridge(&env).await
}

#[tokio::test]
async fn outbound_request_is_a_signed_invoke_function_with_only_its_fields() {
    outbound_request(
        &[],
        "InvokeFunction",
        r#"{"FunctionName":"hello","Qualifier":"2","Event":"{\"a\": 1}","LogType":"Tail","Namespace":"prod"}"#,
    )
    .await;
}

#[tokio::test]
async fn outbound_request_in_invoke_mode_is_a_signed_invoke_with_only_invoke_fields() {
    outbound_request(
        &[("SCF_BRIDGE__UPSTREAM__SYNC_ACTION", "invoke")],
        "Invoke",
        r#"{"FunctionName":"hello","Qualifier":"2","ClientContext":"{\"a\": 1}","LogType":"Tail","Namespace":"prod"}"#,
    )
    .await;
}

/// A synchronous call through a bridge with `extra` settings reaches the
/// upstream as one signed 3.0 `action` with exactly `body`.
async fn outbound_request(extra: &[(&str, &str)], action: &str, body: &str) {
    let up = mock_upstream(RESULT).await;
    let addr = bridge_to(up.addr, extra).await;
    let q = form(&[
        ("Action", "InvokeFunction"),
        ("Region", "sh"),
        ("Timestamp", "1465185768"),
        ("Nonce", "11886"),
        ("SecretId", "AKIDcaller"),
        ("Signature", "x"),
        ("SignatureMethod", "HmacSHA256"),
        ("RequestClient", "SDK_PYTHON_2.0.15"),
        ("Version", "2017-03-12"),
        ("functionName", "hello"),
        ("param", r#"{"a": 1}"#),
        ("namespace", "prod"),
        ("version", "2"),
        ("logType", "Tail"),
    ]);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let a = get(addr, &format!("/v2/index.php?{q}")).await;
    assert_eq!(a.json()["code"], 0);

    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/");
    let h = support::header_map(&r.headers);
    let host = up.addr.to_string();
    assert_eq!(h["host"], host, "Host carries the port");
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["x-tc-action"], action);
    assert_eq!(h["x-tc-version"], "2018-04-16");
    assert_eq!(h["x-tc-region"], "ap-shanghai");
    assert_eq!(
        h["x-tc-requestclient"],
        concat!("scf-bridge/", env!("CARGO_PKG_VERSION"))
    );
    assert!(!h.contains_key("x-tc-token"));
    let ts: u64 = h["x-tc-timestamp"].parse().unwrap();
    assert!(ts >= before && ts <= before + 5);

    // Exact body bytes: only the action's fields, the event as a string.
    assert_eq!(std::str::from_utf8(&r.body).unwrap(), body);

    // The Authorization verifies for the Host that was sent.
    let headers = [
        ("content-type", "application/json"),
        ("host", host.as_str()),
    ];
    let expected = tc3::sign(
        &tc3::SignableRequest {
            method: "POST",
            uri: "/",
            query: "",
            headers: &headers,
            payload: &r.body,
        },
        &tc3::SigningParams {
            secret_id: ID,
            secret_key: KEY,
            service: "scf",
            timestamp: ts,
        },
    );
    assert_eq!(h["authorization"], expected.authorization);
    assert!(h["authorization"].starts_with(&format!(
        "TC3-HMAC-SHA256 Credential={ID}/{}/scf/tc3_request, SignedHeaders=content-type;host, Signature=",
        tc3::utc_date(ts)
    )));
}

#[tokio::test]
async fn session_token_is_sent_as_x_tc_token() {
    let up = mock_upstream(RESULT).await;
    let addr = bridge_to(up.addr, &[("TENCENTCLOUD_SESSION_TOKEN", "tok-123")]).await;
    let q = form(&[("Action", "InvokeFunction"), ("functionName", "hello")]);
    get(addr, &format!("/v2/index.php?{q}")).await;
    let h = support::header_map(&up.requests()[0].headers);
    assert_eq!(h["x-tc-token"], "tok-123");
    assert_eq!(
        h["x-tc-region"], "ap-guangzhou",
        "configured default region"
    );
}

#[tokio::test]
async fn result_maps_to_legacy_data_with_types_kept() {
    let up = mock_upstream(RESULT).await;
    let addr = bridge_to(up.addr, &[]).await;
    let a = post_form(
        addr,
        &form(&[("Action", "InvokeFunction"), ("functionName", "hello")]),
    )
    .await;
    assert_eq!(
        std::str::from_utf8(&a.body).unwrap(),
        r#"{"code":0,"message":"","codeDesc":"Success","data":{"requestId":"6add56fa-58f1-11e8-89a9-5254005d5fdb","duration":0.826,"billDuration":100,"memUsage":3207168,"log":"","retMsg":"hello from scf","errMsg":"","invokeResult":0,"payLoad":"hello from scf","logMsg":"","memSize":3207168}}"#
    );
    assert_eq!(
        a.header("x-request-id"),
        Some("c2af8a64-c922-4d55-aee0-bd86a5c2cd12")
    );
}

#[tokio::test]
async fn scf_error_maps_to_legacy_error() {
    let up = mock_upstream(ERROR).await;
    let addr = bridge_to(up.addr, &[]).await;
    let a = get(
        addr,
        &format!(
            "/v2/index.php?{}",
            form(&[("Action", "InvokeFunction"), ("functionName", "x")])
        ),
    )
    .await;
    assert_eq!(
        std::str::from_utf8(&a.body).unwrap(),
        r#"{"code":5000,"message":"(ResourceNotFound.Function) 未找到指定的Function","codeDesc":"ResourceNotFound.Function"}"#
    );
    assert_eq!(a.header("x-request-id"), Some("0f0e0d0c"));
}

#[tokio::test]
async fn region_placeholder_picks_the_region_host() {
    // `{region}` is substituted into the host; a name that cannot resolve
    // proves the substitution without leaving the machine.
    captured_log();
    let addr = start_bridge(&[
        (
            "SCF_BRIDGE__UPSTREAM__ENDPOINT",
            "http://scf.{region}.invalid:1",
        ),
        ("SCF_BRIDGE__UPSTREAM__CONNECT_RETRIES", "0"),
        ("TENCENTCLOUD_SECRET_ID", ID),
        ("TENCENTCLOUD_SECRET_KEY", KEY),
    ])
    .await;
    let q = form(&[
        ("Action", "InvokeFunction"),
        ("Region", "shjr"),
        ("functionName", "f"),
    ]);
    let a = get(addr, &format!("/v2/index.php?{q}")).await;
    let v = a.json();
    assert_eq!(
        a.header("x-scf-bridge-error"),
        Some("upstream-unreachable"),
        "{v}"
    );
    // The host tried is the operator's to see, in the log; the caller is
    // told only that the endpoint could not be reached.
    let m = v["message"].as_str().unwrap();
    assert!(!m.contains(".invalid"), "{v}");
    let id = a.header("x-scf-bridge-request-id").unwrap().to_owned();
    let line = captured_log()
        .lines()
        .find(|l| l.contains(&id))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no log line for {id}"));
    assert!(line.contains("scf.ap-shanghai-fsi.invalid"), "{line}");
}

/// Everything this test process logs from here on (installed once).
fn captured_log() -> String {
    use std::sync::{Mutex, OnceLock};
    static LOG: OnceLock<std::sync::Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    struct Sink(std::sync::Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = LOG.get_or_init(|| {
        let buf = std::sync::Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Sink(sink.clone()))
            .with_ansi(false)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    });
    String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
}

#[tokio::test]
async fn upstream_that_is_not_listening_is_a_clear_unreachable_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = bridge_to(format!("127.0.0.1:{port}").parse().unwrap(), &[]).await;
    let q = form(&[("Action", "InvokeFunction"), ("functionName", "f")]);
    let a = get(addr, &format!("/v2/index.php?{q}")).await;
    let v = a.json();
    assert_eq!(v["code"], 6200, "{v}");
    assert_eq!(a.header("x-scf-bridge-error"), Some("upstream-unreachable"));
    assert!(!v["message"].as_str().unwrap().contains("may have run"));
}
