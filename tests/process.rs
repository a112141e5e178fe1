//! The real `scf-bridge` binary as operators run it: probes, metrics,
//! JSON logs without secrets, SIGHUP key rotation, dry-run, and SIGTERM
//! under load with every accepted request answered exactly once.

mod support;

use support::free_port;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_scf-bridge");

struct Bridge {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
}

async fn spawn(env: &[(&str, &str)], config: Option<&std::path::Path>) -> Bridge {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .env_clear()
        .env("SCF_BRIDGE__SERVER__LISTEN", addr.to_string())
        .env("SCF_BRIDGE__ADMIN__LISTEN", admin.to_string())
        .env("SCF_BRIDGE__LOG__FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn scf-bridge");
    let started = Instant::now();
    while admin_get(admin, "/ready").await.map(|(s, _)| s) != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "bridge never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Bridge { child, addr, admin }
}

async fn admin_get(admin: SocketAddr, path: &str) -> Option<(u16, String)> {
    let stream = tokio::net::TcpStream::connect(admin).await.ok()?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("host", admin.to_string())
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.ok()?;
    let status = resp.status().as_u16();
    use http_body_util::BodyExt;
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

async fn admin_send(admin: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(admin).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", admin.to_string())
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_owned(),
        )))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    use http_body_util::BodyExt;
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    let ok = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

async fn stop_and_read_log(b: Bridge) -> String {
    signal(&b.child, "-TERM");
    wait_and_read_log(b).await
}

/// Wait for the exit (after SIGTERM: drain delay + deadline at most) and
/// return what it logged.
async fn wait_and_read_log(mut b: Bridge) -> String {
    let status = tokio::time::timeout(Duration::from_secs(30), b.child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "clean exit: {status}");
    let mut log = String::new();
    b.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .await
        .unwrap();
    log
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

const SECRET_KEY: &str = "bridge-secret-key-never-logged";
const TOKEN: &str = "session-token-never-logged";

#[tokio::test]
async fn probes_metrics_and_logs_tell_the_truth() {
    let b = spawn(
        &[
            ("TENCENTCLOUD_SECRET_ID", "AKIDbridge"),
            ("TENCENTCLOUD_SECRET_KEY", SECRET_KEY),
            ("TENCENTCLOUD_SESSION_TOKEN", TOKEN),
            ("SCF_BRIDGE__SERVER__DRAIN_DELAY_SECS", "1"),
        ],
        None,
    )
    .await;
    assert_eq!(admin_get(b.admin, "/live").await.unwrap().0, 200);
    let before = admin_get(b.admin, "/metrics").await.unwrap().1;
    let ok = r#"scf_bridge_requests_total{action="InvokeFunction",code="0"}"#;
    let not_found = r#"scf_bridge_requests_total{action="InvokeFunction",code="5000"}"#;
    let q = support::form(&[
        ("Action", "InvokeFunction"),
        ("functionName", "hello"),
        ("Signature", "sig-value-never-logged"),
        ("Token", TOKEN),
    ]);
    for _ in 0..3 {
        let a = support::get(b.addr, &format!("/v2/index.php?{q}")).await;
        assert_eq!(a.json()["code"], 0);
    }
    let req = http::Request::get(
        format!(
            "/v2/index.php?{}",
            support::form(&[("Action", "InvokeFunction"), ("functionName", "nope")])
        )
        .as_str(),
    )
    .header("host", b.addr.to_string())
    .header("x-request-id", "caller-id-123")
    .body(http_body_util::Full::new(bytes::Bytes::new()))
    .unwrap();
    let a = support::send(b.addr, req).await;
    assert_eq!(a.json()["code"], 5000);
    assert_eq!(a.header("x-scf-bridge-request-id"), Some("caller-id-123"));
    let scf_request_id = a.header("x-request-id").unwrap().to_owned();

    let after = admin_get(b.admin, "/metrics").await.unwrap().1;
    assert_eq!(metric(&after, ok) - metric(&before, ok), 3.0, "{after}");
    assert_eq!(metric(&after, not_found) - metric(&before, not_found), 1.0);
    assert!(
        metric(
            &after,
            r#"scf_bridge_scf_errors_total{code="ResourceNotFound.Function"}"#
        ) >= 1.0
    );
    assert!(after.contains("scf_bridge_request_duration_seconds_bucket"));
    assert!(after.contains("scf_bridge_upstream_duration_seconds_bucket"));
    assert!(metric(&after, "scf_bridge_upstream_requests_total") >= 4.0);
    assert!(after.contains(r#"scf_bridge_build_info{version=""#));
    // The pool reuses its connection to the emulator.
    let connections = metric(&after, "scf_bridge_upstream_connections_total");
    assert!(
        connections >= 1.0 && connections < metric(&after, "scf_bridge_upstream_requests_total")
    );

    // The log filter changes at run time; a bad one is refused.
    assert_eq!(
        admin_send(b.admin, "PUT", "/log-level", "scf_bridge=debug").await,
        (200, "scf_bridge=debug\n".into())
    );
    assert_eq!(
        admin_get(b.admin, "/log-level").await.unwrap().1,
        "scf_bridge=debug\n"
    );
    assert_eq!(
        admin_send(b.admin, "PUT", "/log-level", "not a [filter")
            .await
            .0,
        400
    );

    // Shutdown: readiness drops at once, while the drain delay still serves.
    let pid_child = &b.child;
    signal(pid_child, "-TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(admin_get(b.admin, "/ready").await.unwrap().0, 503);
    assert_eq!(admin_get(b.admin, "/live").await.unwrap().0, 200);
    let a = support::get(b.addr, &format!("/v2/index.php?{q}")).await;
    assert_eq!(a.json()["code"], 0, "served during the drain delay");

    let log = wait_and_read_log(b).await;
    for secret in [SECRET_KEY, TOKEN, "sig-value-never-logged", "Signature="] {
        assert!(
            !log.contains(secret),
            "`{secret}` leaked into the log:\n{log}"
        );
    }
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let line = lines
        .iter()
        .find(|l| l["request_id"] == "caller-id-123")
        .expect("access line for the request");
    assert_eq!(line["scf_request_id"], scf_request_id.as_str());
    assert_eq!(line["function"], "nope");
    assert_eq!(line["code"], 5000);
    assert!(line["total_ms"].is_number() && line["upstream_ms"].is_number());
    let ok_line = lines.iter().find(|l| l["code"] == 0).unwrap();
    assert!(!ok_line["function_request_id"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn sighup_rotates_the_client_keys_from_the_config_file() {
    let dir = std::env::temp_dir().join(format!("scf-bridge-hup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bridge.toml");
    let write = |id: &str, key: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[auth]\nmode = \"verify\"\nreload_interval_ms = 3600000\n\
                 [[auth.clients]]\nsecret_id = \"{id}\"\nsecret_key = \"{key}\"\n"
            ),
        )
        .unwrap();
    };
    write("AKIDfirst", "first-key");
    let b = spawn(&[], Some(&cfg)).await;
    let call = |id: &'static str, key: &'static str| async move {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let nonce = free_port().to_string();
        let mut pairs = vec![
            ("Action", "InvokeFunction"),
            ("functionName", "hello"),
            ("SecretId", id),
            ("Timestamp", ts.as_str()),
            ("Nonce", nonce.as_str()),
        ];
        let params =
            scf_bridge::legacy::decode::decode_form(support::form(&pairs).as_bytes()).unwrap();
        use scf_bridge::legacy::signature as sig;
        let s = sig::string_to_sign("GET", "scf.api.qcloud.com", sig::LEGACY_PATH, &params);
        let signature = sig::sign(key, sig::SignatureMethod::HmacSha1, &s);
        pairs.push(("Signature", &signature));
        support::get(b.addr, &format!("/v2/index.php?{}", support::form(&pairs)))
            .await
            .json()["code"]
            .clone()
    };
    assert_eq!(call("AKIDfirst", "first-key").await, 0);
    assert_eq!(call("AKIDsecond", "second-key").await, 4104);
    // A broken file is refused and the running set kept.
    std::fs::write(&cfg, "[auth]\nmode = \"bogus\"\n").unwrap();
    signal(&b.child, "-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(call("AKIDfirst", "first-key").await, 0);
    write("AKIDsecond", "second-key");
    signal(&b.child, "-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(call("AKIDsecond", "second-key").await, 0);
    let first_after = call("AKIDfirst", "first-key").await;
    assert_eq!(first_after, 4104, "retired key");
    let metrics = admin_get(b.admin, "/metrics").await.unwrap().1;
    assert!(
        metric(
            &metrics,
            r#"scf_bridge_reloads_total{what="config",result="failure"}"#
        ) >= 1.0
    );
    assert!(
        metric(
            &metrics,
            r#"scf_bridge_reloads_total{what="config",result="success"}"#
        ) >= 1.0
    );
    let log = stop_and_read_log(b).await;
    assert!(!log.contains("second-key") && !log.contains("first-key"));
}

#[tokio::test]
async fn dry_run_answers_without_calling_scf() {
    let up = support::mock_upstream("{}").await;
    let endpoint = format!("http://{}", up.addr);
    let b = spawn(
        &[
            ("SCF_BRIDGE__UPSTREAM__MODE", "dry-run"),
            ("SCF_BRIDGE__UPSTREAM__ENDPOINT", &endpoint),
            ("TENCENTCLOUD_SECRET_ID", "AKIDbridge"),
            ("TENCENTCLOUD_SECRET_KEY", SECRET_KEY),
            ("SCF_BRIDGE__SERVER__DRAIN_DELAY_SECS", "0"),
        ],
        None,
    )
    .await;
    let q = support::form(&[("Action", "InvokeFunction"), ("functionName", "hello")]);
    let v = support::get(b.addr, &format!("/v2/index.php?{q}"))
        .await
        .json();
    assert_eq!(v["code"], 0, "{v}");
    assert_eq!(v["codeDesc"], "DryRunOperation");
    assert!(v["message"].as_str().unwrap().contains("dry run"));
    assert!(v["data"]["requestId"]
        .as_str()
        .unwrap()
        .starts_with("dry-run-"));
    assert!(up.requests().is_empty(), "SCF was never called");
    let log = stop_and_read_log(b).await;
    let line = log
        .lines()
        .find(|l| l.contains("dry run: 3.0 Invoke"))
        .expect("the would-be request is logged");
    assert!(line.contains("FunctionName"), "{line}");
    assert!(line.contains("<redacted>"), "{line}");
    assert!(!log.contains(SECRET_KEY));
    assert!(!line.contains("Signature="), "{line}");
}

#[tokio::test]
async fn sigterm_under_load_answers_every_accepted_request_exactly_once() {
    let b = spawn(
        &[
            ("SCF_BRIDGE__SERVER__DRAIN_DELAY_SECS", "1"),
            ("SCF_BRIDGE__SERVER__SHUTDOWN_DEADLINE_SECS", "2"),
        ],
        None,
    )
    .await;
    let addr = b.addr;
    // A mix of quick calls, calls that finish within the deadline, and
    // calls that outlive it.
    let mut tasks = Vec::new();
    for i in 0..60u32 {
        let ms = match i % 3 {
            0 => 0,
            1 => 500,
            _ => 10_000,
        };
        // Every fifth call is a fault: an unknown function or bad input.
        let function = match i % 5 {
            3 => "no-such-function",
            4 => "",
            _ => "sleep",
        };
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(u64::from(i) * 10)).await;
            let param = format!("{{\"ms\": {ms}}}");
            let q = support::form(&[
                ("Action", "InvokeFunction"),
                ("functionName", function),
                ("param", param.as_str()),
            ]);
            let stream = match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => s,
                Err(_) => return None, // refused after the listener closed: never accepted
            };
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .ok()?;
            tokio::spawn(conn);
            let req = http::Request::get(format!("/v2/index.php?{q}").as_str())
                .header("host", addr.to_string())
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap();
            let resp = sender.send_request(req).await;
            use http_body_util::BodyExt;
            match resp {
                Ok(r) => {
                    let body = r
                        .into_body()
                        .collect()
                        .await
                        .expect("whole body")
                        .to_bytes();
                    let v: serde_json::Value = serde_json::from_slice(&body).expect("legacy JSON");
                    Some(v)
                }
                Err(e) => panic!("request {i} lost its answer: {e}"),
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&b.child, "-TERM");
    let mut answered = 0;
    let mut cut_by_deadline = 0;
    for t in tasks {
        if let Some(v) = t.await.expect("no panic") {
            answered += 1;
            match v["code"].as_i64().unwrap() {
                0 | 4000 | 5000 => {}
                6200 => {
                    assert_eq!(v["codeDesc"], "ServiceUnavailable");
                    cut_by_deadline += 1;
                }
                other => panic!("unexpected code {other}: {v}"),
            }
        }
    }
    assert!(answered >= 30, "most requests were accepted: {answered}");
    assert!(
        cut_by_deadline >= 1,
        "long calls were answered at the deadline"
    );
    let log = wait_and_read_log(b).await;
    assert!(!log.contains("panicked"), "{log}");
}

/// Polls `/metrics` until `series` reaches `want`, for up to `limit`.
async fn wait_for_metric(admin: SocketAddr, series: &str, want: f64, limit: Duration) -> String {
    let started = Instant::now();
    loop {
        let text = admin_get(admin, "/metrics").await.unwrap().1;
        if metric(&text, series) == want {
            return text;
        }
        assert!(
            started.elapsed() < limit,
            "{series} never reached {want}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_client_that_goes_away_mid_call_still_gets_one_log_line_and_its_counters() {
    use tokio::io::AsyncWriteExt;
    let b = spawn(&[("SCF_BRIDGE__SERVER__DRAIN_DELAY_SECS", "0")], None).await;
    // The emulator's `sleep` runs for 3 s; the client waits for 200 ms only.
    let q = support::form(&[
        ("Action", "InvokeFunction"),
        ("functionName", "sleep"),
        ("param", r#"{"ms": 3000}"#),
    ]);
    let mut client = tokio::net::TcpStream::connect(b.addr).await.unwrap();
    client
        .write_all(
            format!(
                "GET /v2/index.php?{q} HTTP/1.1\r\nHost: x\r\nX-Request-Id: gone-client-1\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(client);
    // While the function still runs, nobody waits for it.
    wait_for_metric(
        b.admin,
        "scf_bridge_unwaited_calls",
        1.0,
        Duration::from_millis(2500),
    )
    .await;
    // Then the call ends: counted once, as closed by its client after the 3.0 call was sent.
    let text = wait_for_metric(
        b.admin,
        r#"scf_bridge_client_closed_total{sent="true"}"#,
        1.0,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(metric(&text, "scf_bridge_unwaited_calls"), 0.0, "{text}");
    assert_eq!(
        metric(
            &text,
            r#"scf_bridge_requests_total{action="InvokeFunction",code="0"}"#
        ),
        1.0,
        "{text}"
    );
    let log = stop_and_read_log(b).await;
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "scf_bridge::access" && v["request_id"] == "gone-client-1")
        .collect();
    assert_eq!(lines.len(), 1, "exactly one access line:\n{log}");
    let line = &lines[0];
    assert_eq!(line["outcome"], "client_closed", "{line}");
    assert_eq!(line["scf_call_sent"], true, "{line}");
    // The answer it would have had: the function ran and succeeded.
    assert_eq!(line["code"], 0, "{line}");
    assert_eq!(line["action"], "InvokeFunction", "{line}");
    assert_eq!(line["function"], "sleep", "{line}");
    assert!(
        !line["function_request_id"].as_str().unwrap().is_empty(),
        "{line}"
    );
    let closed = line["client_closed_ms"].as_f64().unwrap();
    let total = line["total_ms"].as_f64().unwrap();
    assert!(closed >= 150.0 && closed < total, "{line}");
    assert!(total >= 3000.0, "{line}");
    assert!(line["upstream_ms"].as_f64().unwrap() >= 3000.0, "{line}");
}
