//! Bad input and overload: each class gets a clear legacy answer (or, for a
//! client that never finishes its request head, a bounded wait), never a
//! panic or a hang.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use support::{form, start_bridge};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn post(addr: std::net::SocketAddr, body: String) -> http::Request<Full<Bytes>> {
    http::Request::post("/v2/index.php")
        .header("host", addr.to_string())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("answered in time")
}

#[tokio::test]
async fn param_above_scf_limits_is_request_too_large_before_anything_is_sent() {
    let up = support::mock_upstream("{}").await;
    let endpoint = format!("http://{}", up.addr);
    let addr = start_bridge(&[
        ("SCF_BRIDGE__UPSTREAM__ENDPOINT", &endpoint),
        ("TENCENTCLOUD_SECRET_ID", "AKIDb"),
        ("TENCENTCLOUD_SECRET_KEY", "k"),
    ])
    .await;
    let big_sync = "a".repeat(6 * 1024 * 1024 + 1);
    let big_async = "a".repeat(128 * 1024 + 1);
    for (param, invoke_type) in [(&big_sync, "RequestResponse"), (&big_async, "Event")] {
        let body = form(&[
            ("Action", "InvokeFunction"),
            ("functionName", "echo"),
            ("invokeType", invoke_type),
            ("param", param),
        ]);
        let a = within(30, support::send(addr, post(addr, body))).await;
        let v = a.json();
        assert_eq!(v["code"], 4000, "{invoke_type}");
        assert_eq!(v["codeDesc"], "InvalidParameter.RequestTooLarge");
        assert_eq!(a.header("x-scf-bridge-error"), Some("request-too-large"));
    }
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn an_oversized_body_is_refused_from_its_head_alone() {
    let addr = start_bridge(&[("SCF_BRIDGE__SERVER__MAX_BODY_BYTES", "65536")]).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Announce 100 MB, send none of it: the answer must not wait for it.
    s.write_all(
        b"POST /v2/index.php HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = within(5, s.read(&mut buf)).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"code\":4000"), "{text}");
    assert!(text.contains("request-too-large"), "{text}");
}

#[tokio::test]
async fn uri_and_headers_above_the_limits_get_legacy_errors() {
    let addr = start_bridge(&[
        ("SCF_BRIDGE__SERVER__MAX_URI_BYTES", "2048"),
        ("SCF_BRIDGE__SERVER__MAX_HEADER_BYTES", "4096"),
    ])
    .await;
    let long = format!(
        "/v2/index.php?Action=InvokeFunction&functionName=hello&param={}",
        "x".repeat(3000)
    );
    let a = support::get(addr, &long).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["code"], 4000);
    assert!(a.json()["message"].as_str().unwrap().contains("URI"));

    let req = http::Request::get("/v2/index.php?Action=InvokeFunction&functionName=hello")
        .header("host", addr.to_string())
        .header("x-padding", "p".repeat(5000))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let a = support::send(addr, req).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["code"], 4000);
    assert!(a.json()["message"].as_str().unwrap().contains("headers"));
}

#[tokio::test]
async fn an_empty_post_body_is_a_missing_parameter() {
    let addr = start_bridge(&[]).await;
    let a = support::send(addr, post(addr, String::new())).await;
    assert_eq!(a.json()["code"], 4000);
    assert_eq!(a.json()["codeDesc"], "MissingParameter");
}

#[tokio::test]
async fn a_body_that_stalls_is_answered_after_the_read_timeout() {
    let addr = start_bridge(&[("SCF_BRIDGE__SERVER__BODY_READ_TIMEOUT_MS", "300")]).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /v2/index.php HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nAction=Inv",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = within(5, s.read(&mut buf)).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("did not arrive in time"), "{text}");
}

#[tokio::test]
async fn half_a_request_head_is_dropped_after_the_header_timeout() {
    let addr = start_bridge(&[("SCF_BRIDGE__SERVER__HEADER_READ_TIMEOUT_MS", "300")]).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /v2/index.php?Action=Invoke")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    // The bridge closes the connection (a request without a head cannot be
    // answered in kind); what matters is that it does not wait forever.
    let n = within(5, s.read(&mut buf)).await.unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test]
async fn beyond_max_in_flight_the_bridge_answers_4400_at_once() {
    let addr = start_bridge(&[("SCF_BRIDGE__SERVER__MAX_IN_FLIGHT", "1")]).await;
    let slow = tokio::spawn(async move {
        let q = form(&[
            ("Action", "InvokeFunction"),
            ("functionName", "sleep"),
            ("param", r#"{"ms": 1500}"#),
        ]);
        support::get(addr, &format!("/v2/index.php?{q}"))
            .await
            .json()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let q = form(&[("Action", "InvokeFunction"), ("functionName", "hello")]);
    let a = support::get(addr, &format!("/v2/index.php?{q}")).await;
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "not queued"
    );
    assert_eq!(a.json()["code"], 4400);
    assert_eq!(a.json()["codeDesc"], "RequestLimitExceeded");
    assert_eq!(a.header("x-scf-bridge-error"), Some("overloaded"));
    assert_eq!(
        slow.await.unwrap()["code"],
        0,
        "the request in flight completes"
    );
    // And the slot is free again.
    let a = support::get(addr, &format!("/v2/index.php?{q}")).await;
    assert_eq!(a.json()["code"], 0);
}

#[tokio::test]
async fn beyond_the_buffered_bytes_budget_the_bridge_answers_4400() {
    // 84 KiB: the smallest budget a 32 KiB body and its decoding fit in.
    let addr = start_bridge(&[
        ("SCF_BRIDGE__SERVER__MAX_BODY_BYTES", "32768"),
        ("SCF_BRIDGE__SERVER__MAX_BUFFERED_BYTES", "86016"),
    ])
    .await;
    // Two clients hold 64 KiB of it with bodies they never finish: the
    // budget counts the bytes that arrived.
    let mut hogs = Vec::new();
    for _ in 0..2 {
        let mut hog = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut head = b"POST /v2/index.php HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 32768\r\n\r\n"
            .to_vec();
        head.extend_from_slice(&[b'a'; 32_000]);
        hog.write_all(&head).await.unwrap();
        hogs.push(hog);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // 10 KiB of body and as much again to decode it: more than is left.
    let param = "p".repeat(10_000);
    let body = form(&[
        ("Action", "InvokeFunction"),
        ("functionName", "hello"),
        ("param", &param),
    ]);
    let a = within(5, support::send(addr, post(addr, body))).await;
    assert_eq!(a.json()["code"], 4400, "{}", a.json());
    drop(hogs);
    // With the budget back, requests are served again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = form(&[("Action", "InvokeFunction"), ("functionName", "hello")]);
    let a = within(5, support::send(addr, post(addr, body))).await;
    assert_eq!(a.json()["code"], 0, "{}", a.json());
}
