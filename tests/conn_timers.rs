//! The legacy listener's connection timers, over real sockets: a kept-alive
//! connection outlives the header timeout and is closed after the idle
//! timeout; a request head must still arrive within the header timeout; a
//! request being handled, or its answer being written, is never cut by
//! either timer.

mod support;

use std::time::{Duration, Instant};

use support::{form, quote_plus, start_bridge};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The bound on anything that should happen "soon": generous, far below
/// the idle timeouts that must not be what closes a connection.
const PATIENCE: Duration = Duration::from_secs(10);

fn hello() -> Vec<u8> {
    let q = form(&[("Action", "InvokeFunction"), ("functionName", "hello")]);
    format!("GET /v2/index.php?{q} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Read one response (head, then a `Content-Length` body): its legacy answer.
async fn read_answer(s: &mut TcpStream) -> serde_json::Value {
    read_rest_of_answer(s, Vec::new()).await
}

/// [`read_answer`] when its first bytes were already read into `buf`.
async fn read_rest_of_answer(s: &mut TcpStream, mut buf: Vec<u8>) -> serde_json::Value {
    fn fill(buf: &mut Vec<u8>, n: usize, chunk: &[u8]) {
        assert!(
            n > 0,
            "the connection closed before a whole answer: {:?}",
            String::from_utf8_lossy(&buf[..buf.len().min(300)])
        );
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut chunk = vec![0u8; 64 * 1024];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(PATIENCE, s.read(&mut chunk))
            .await
            .expect("an answer in time")
            .expect("read");
        fill(&mut buf, n, &chunk);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("a Content-Length");
    while buf.len() < head_end + len {
        let n = tokio::time::timeout(PATIENCE, s.read(&mut chunk))
            .await
            .expect("the body in time")
            .expect("read");
        fill(&mut buf, n, &chunk);
    }
    assert_eq!(buf.len(), head_end + len, "nothing after the answer");
    serde_json::from_slice(&buf[head_end..]).unwrap()
}

/// Wait for the bridge to close `s`, sending nothing: how long that took.
async fn closed_after(s: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut chunk = [0u8; 1024];
    match tokio::time::timeout(PATIENCE, s.read(&mut chunk))
        .await
        .expect("the bridge closes the connection in time")
    {
        Ok(0) | Err(_) => started.elapsed(),
        Ok(n) => panic!(
            "expected the connection to close, got {:?}",
            String::from_utf8_lossy(&chunk[..n])
        ),
    }
}

#[tokio::test]
async fn a_kept_alive_connection_outlives_the_header_timeout_and_closes_after_the_idle_timeout() {
    let addr = start_bridge(&[
        ("SCF_BRIDGE__SERVER__HEADER_READ_TIMEOUT_MS", "300"),
        ("SCF_BRIDGE__SERVER__KEEPALIVE_IDLE_TIMEOUT_MS", "2000"),
    ])
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&hello()).await.unwrap();
    assert_eq!(read_answer(&mut s).await["code"], 0);
    // Idle for over three header timeouts: the same connection still serves.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    s.write_all(&hello()).await.unwrap();
    assert_eq!(read_answer(&mut s).await["code"], 0);
    // Left idle, the bridge closes it: after the idle timeout, well past
    // the header timeout (half the idle timeout leaves room for scheduling).
    let waited = closed_after(&mut s).await;
    assert!(
        waited >= Duration::from_millis(1000),
        "closed after {waited:?}, before the 2 s idle timeout"
    );
}

#[tokio::test]
async fn with_the_idle_timeout_at_0_an_idle_connection_stays_open() {
    let addr = start_bridge(&[
        ("SCF_BRIDGE__SERVER__HEADER_READ_TIMEOUT_MS", "300"),
        ("SCF_BRIDGE__SERVER__KEEPALIVE_IDLE_TIMEOUT_MS", "0"),
    ])
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&hello()).await.unwrap();
    assert_eq!(read_answer(&mut s).await["code"], 0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.write_all(&hello()).await.unwrap();
    assert_eq!(read_answer(&mut s).await["code"], 0);
}

#[tokio::test]
async fn half_a_head_on_a_kept_alive_connection_is_closed_after_the_header_timeout() {
    // An idle timeout far beyond PATIENCE: only the header timer can close.
    let addr = start_bridge(&[
        ("SCF_BRIDGE__SERVER__HEADER_READ_TIMEOUT_MS", "300"),
        ("SCF_BRIDGE__SERVER__KEEPALIVE_IDLE_TIMEOUT_MS", "600000"),
    ])
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&hello()).await.unwrap();
    assert_eq!(read_answer(&mut s).await["code"], 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.write_all(b"GET /v2/index.php?Action=Invoke")
        .await
        .unwrap();
    let waited = closed_after(&mut s).await;
    assert!(
        waited >= Duration::from_millis(250),
        "closed after {waited:?}"
    );
}

#[tokio::test]
async fn a_new_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let addr = start_bridge(&[
        ("SCF_BRIDGE__SERVER__HEADER_READ_TIMEOUT_MS", "300"),
        ("SCF_BRIDGE__SERVER__KEEPALIVE_IDLE_TIMEOUT_MS", "600000"),
    ])
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    closed_after(&mut s).await;
}

#[tokio::test]
async fn an_invocation_longer_than_both_timers_gets_its_answer() {
    let addr = start_bridge(&[
        ("SCF_BRIDGE__SERVER__HEADER_READ_TIMEOUT_MS", "300"),
        ("SCF_BRIDGE__SERVER__KEEPALIVE_IDLE_TIMEOUT_MS", "600"),
    ])
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let q = form(&[
        ("Action", "InvokeFunction"),
        ("functionName", "sleep"),
        ("param", r#"{"ms": 1500}"#),
    ]);
    s.write_all(format!("GET /v2/index.php?{q} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let v = read_answer(&mut s).await;
    assert_eq!(v["code"], 0, "{v}");
    // And the connection serves the next request.
    s.write_all(&hello()).await.unwrap();
    assert_eq!(read_answer(&mut s).await["code"], 0);
}

#[tokio::test]
async fn a_body_sent_after_both_timeouts_but_within_the_body_timeout_is_answered() {
    let addr = start_bridge(&[
        ("SCF_BRIDGE__SERVER__HEADER_READ_TIMEOUT_MS", "300"),
        ("SCF_BRIDGE__SERVER__KEEPALIVE_IDLE_TIMEOUT_MS", "600"),
        ("SCF_BRIDGE__SERVER__BODY_READ_TIMEOUT_MS", "10000"),
    ])
    .await;
    let body = form(&[("Action", "InvokeFunction"), ("functionName", "hello")]);
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "POST /v2/index.php HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    s.write_all(body.as_bytes()).await.unwrap();
    assert_eq!(read_answer(&mut s).await["code"], 0);
}

#[tokio::test]
async fn an_answer_the_client_is_slow_to_read_is_not_cut_by_the_idle_timer() {
    let addr = start_bridge(&[
        ("SCF_BRIDGE__SERVER__HEADER_READ_TIMEOUT_MS", "300"),
        ("SCF_BRIDGE__SERVER__KEEPALIVE_IDLE_TIMEOUT_MS", "1000"),
    ])
    .await;
    // A small receive window and an answer larger than the bridge's largest
    // send buffer (4 MiB on Linux): the bridge cannot finish writing it
    // until the client reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    let big = format!(r#"{{"data":"{}"}}"#, "x".repeat(5 * 1024 * 1024));
    let body = format!(
        "Action=InvokeFunction&functionName=echo&param={}",
        quote_plus(&big)
    );
    s.write_all(
        format!(
            "POST /v2/index.php HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // Once the answer has begun to arrive, read nothing more for over twice
    // the idle timeout: the bridge is left with most of it to write.
    let mut first = vec![0u8; 1024];
    let n = tokio::time::timeout(PATIENCE, s.read(&mut first))
        .await
        .expect("the answer begins in time")
        .unwrap();
    assert!(n > 0, "the connection closed before an answer");
    first.truncate(n);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let v = read_rest_of_answer(&mut s, first).await;
    assert_eq!(v["code"], 0);
    assert!(v["data"]["retMsg"].as_str().unwrap().len() > 5 * 1024 * 1024);
    // Once written, the answer is followed by an ordinary idle connection.
    s.write_all(&hello()).await.unwrap();
    assert_eq!(read_answer(&mut s).await["code"], 0);
}
