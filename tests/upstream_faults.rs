//! What a legacy client is told when the way to SCF 3.0 fails, one test per
//! fault, against a scripted upstream over real sockets: a raw TCP server
//! that writes exact bytes, resets, closes or stalls on purpose, and counts
//! the connections it accepted and the `Invoke` requests that reached it.
//!
//! Every fault answers HTTP 200 with the legacy envelope, the exact `code`
//! and `codeDesc`, `X-Scf-Bridge-Error` naming the fault, and a message that
//! says what happened. Faults before a byte was sent (refused, DNS, TLS
//! handshake) are retried `upstream.connect_retries` times; from the moment
//! the request may have been written it is never sent again, and the message
//! says the function may have run.

mod support;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use support::{form, get, start_bridge, Answer};

const ID: &str = "AKIDfaultTEST";
const KEY: &str = "fault-secret-key";

/// A well-formed 3.0 answer, for the connections that work.
const RESULT: &str = r#"{"Response":{"Result":{"MemUsage":3207168,"Log":"","RetMsg":"\"ok\"","BillDuration":1,"FunctionRequestId":"fid-1","Duration":0.5,"ErrMsg":"","InvokeResult":0},"RequestId":"rid-1"}}"#;

/// Longest any one legacy request may take before the test calls it a hang.
const NO_HANG: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// The scripted fault server

#[derive(Default)]
struct Counts {
    connections: AtomicUsize,
    invokes: AtomicUsize,
}

/// One accepted connection, handed to the script.
struct Conn {
    stream: TcpStream,
    counts: Arc<Counts>,
}

impl Conn {
    /// Reads one whole HTTP/1.1 request (head, then `Content-Length` bytes
    /// of body) and counts it when it is a 3.0 `Invoke`. `None` when the
    /// peer closed first.
    async fn read_request(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = &buf[head_end..head_end + length];
        if head.starts_with("post / http/1.1\r\n")
            && (head.contains("\r\nx-tc-action: invoke\r\n")
                || head.contains("\r\nx-tc-action: invokefunction\r\n"))
            && body.starts_with(br#"{"FunctionName":"#)
        {
            self.counts.invokes.fetch_add(1, Ordering::SeqCst);
        }
        Some(head)
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Answers requests with `RESULT` until the peer goes away.
    async fn serve(mut self) {
        while self.read_request().await.is_some() {
            if self.write(&ok(RESULT)).await.is_err() {
                return;
            }
        }
    }

    /// Close with an RST rather than a FIN (`SO_LINGER` 0).
    fn reset(self) {
        self.stream.set_zero_linger().expect("SO_LINGER 0");
        drop(self.stream);
    }
}

struct FaultServer {
    addr: SocketAddr,
    counts: Arc<Counts>,
}

impl FaultServer {
    fn connections(&self) -> usize {
        self.counts.connections.load(Ordering::SeqCst)
    }
    fn invokes(&self) -> usize {
        self.counts.invokes.load(Ordering::SeqCst)
    }
    fn http(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Accepts connections forever; the `n`-th (from 0) is handed to `script`.
async fn fault_server<F, Fut>(script: F) -> FaultServer
where
    F: Fn(usize, Conn) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts: Arc<Counts> = Arc::default();
    let c = counts.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let n = c.connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(script(
                n,
                Conn {
                    stream,
                    counts: c.clone(),
                },
            ));
        }
    });
    FaultServer { addr, counts }
}

/// A complete HTTP/1.1 response with a `Content-Length`; the connection
/// stays open (keep-alive).
fn response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn ok(body: &str) -> Vec<u8> {
    response("200 OK", "application/json", body)
}

// ---------------------------------------------------------------------------
// The bridge and the legacy client

/// A bridge sending to `endpoint`, two connect retries, a 5 s deadline
/// (unless `extra` says otherwise). One serving thread, so one pool of
/// upstream connections: each worker of the thread-per-core model has its
/// own, and the connection counts below are one pool's.
async fn bridge(endpoint: &str, extra: &[(&str, &str)]) -> SocketAddr {
    let mut env = vec![
        ("SCF_BRIDGE__SERVER__WORKERS", "1"),
        ("SCF_BRIDGE__UPSTREAM__ENDPOINT", endpoint),
        ("SCF_BRIDGE__UPSTREAM__CONNECT_RETRIES", "2"),
        ("SCF_BRIDGE__UPSTREAM__TIMEOUT_SECS", "5"),
        ("TENCENTCLOUD_SECRET_ID", ID),
        ("TENCENTCLOUD_SECRET_KEY", KEY),
    ];
    env.extend_from_slice(extra);
    start_bridge(&env).await
}

/// One synchronous legacy `InvokeFunction`, and how long its answer took.
async fn invoke(bridge: SocketAddr) -> (Answer, Duration) {
    let q = form(&[
        ("Action", "InvokeFunction"),
        ("Region", "gz"),
        ("functionName", "f"),
        ("param", r#"{"k":"v"}"#),
    ]);
    let started = Instant::now();
    let answer = tokio::time::timeout(NO_HANG, get(bridge, &format!("/v2/index.php?{q}")))
        .await
        .expect("the bridge answered (no hang)");
    (answer, started.elapsed())
}

/// A legacy error answer made by the bridge: HTTP 200, JSON, exactly
/// `code`/`message`/`codeDesc` (no `data`), the kind in
/// `X-Scf-Bridge-Error`, and the message. Returns the message.
fn bridge_error(a: &Answer, kind: &str, code: i64, code_desc: &str) -> String {
    let v = a.json();
    assert_eq!(a.status, 200, "{v}");
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(a.header("x-scf-bridge-error"), Some(kind), "{v}");
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["codeDesc"], code_desc, "{v}");
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["code", "message", "codeDesc"], "{v}");
    let message = v["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with(&format!("({code_desc}) ")), "{message}");
    // The upstream's address and the OS's error text go to the log only.
    assert!(!message.contains("127.0.0.1"), "{message}");
    assert!(!message.contains("nonexistent.invalid"), "{message}");
    assert!(!message.contains("os error"), "{message}");
    message
}

fn says(message: &str, fragments: &[&str]) {
    for f in fragments {
        assert!(message.contains(f), "`{f}` not in: {message}");
    }
}

const MAY_HAVE_RUN: &str = "may have run";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------
// Before a byte was sent: retried, and the function did not run

#[tokio::test]
async fn connection_refused_is_unreachable_and_retried() {
    let port = free_port();
    let addr = bridge(&format!("http://127.0.0.1:{port}"), &[]).await;
    let (a, took) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-unreachable", 6200, "ServiceUnavailable");
    says(
        &m,
        &[
            "cannot connect to the SCF endpoint (connection refused)",
            "after 3 attempts",
        ],
    );
    assert!(!m.contains(MAY_HAVE_RUN), "{m}");
    // Two retries, backing off 100 ms then 200 ms.
    assert!(took >= Duration::from_millis(300), "{took:?}");
}

#[tokio::test]
async fn no_retry_when_connect_retries_is_zero() {
    let port = free_port();
    let addr = bridge(
        &format!("http://127.0.0.1:{port}"),
        &[("SCF_BRIDGE__UPSTREAM__CONNECT_RETRIES", "0")],
    )
    .await;
    let (a, took) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-unreachable", 6200, "ServiceUnavailable");
    says(&m, &["refused"]);
    assert!(!m.contains("attempts"), "{m}");
    assert!(took < Duration::from_millis(300), "{took:?}");
}

#[tokio::test]
async fn dns_failure_is_unreachable_and_retried() {
    let addr = bridge("http://nonexistent.invalid:1", &[]).await;
    let (a, _) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-unreachable", 6200, "ServiceUnavailable");
    says(
        &m,
        &[
            "cannot connect to the SCF endpoint (name resolution failed)",
            "after 3 attempts",
        ],
    );
    assert!(!m.contains(MAY_HAVE_RUN), "{m}");
}

#[tokio::test]
async fn tls_handshake_with_a_plain_http_server_is_unreachable_and_retried() {
    // An `https://` endpoint whose server answers the ClientHello in plain
    // HTTP and closes.
    let up = fault_server(|_, mut c| async move {
        let mut hello = [0u8; 512];
        let _ = c.stream.read(&mut hello).await;
        let _ = c
            .write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
    })
    .await;
    let addr = bridge(&format!("https://{}", up.addr), &[]).await;
    let (a, _) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-unreachable", 6200, "ServiceUnavailable");
    says(
        &m,
        &[
            "TLS handshake with the SCF endpoint failed",
            "after 3 attempts",
        ],
    );
    assert!(!m.contains(MAY_HAVE_RUN), "{m}");
    assert_eq!(up.connections(), 3, "one try and two retries");
    assert_eq!(up.invokes(), 0);
}

#[tokio::test]
async fn tls_handshake_with_garbage_is_unreachable_and_retried() {
    let up = fault_server(|_, mut c| async move {
        let _ = c.write(&[0xde, 0xad, 0xbe, 0xef].repeat(64)).await;
    })
    .await;
    let addr = bridge(&format!("https://{}", up.addr), &[]).await;
    let (a, _) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-unreachable", 6200, "ServiceUnavailable");
    says(
        &m,
        &[
            "TLS handshake with the SCF endpoint failed",
            "after 3 attempts",
        ],
    );
    assert!(!m.contains(MAY_HAVE_RUN), "{m}");
    assert!(!m.contains("localhost"), "the address is for the log: {m}");
    assert_eq!(up.connections(), 3);
    assert_eq!(up.invokes(), 0);
}

/// A listener whose accept queue is full and never drained: the kernel
/// drops further SYNs, so a connect to it hangs, like a black-holed host.
/// Keep the returned values alive for the test.
fn black_hole() -> (SocketAddr, tokio::net::TcpListener, std::net::TcpStream) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    // The one connection the queue holds.
    let filler = std::net::TcpStream::connect(addr).unwrap();
    (addr, listener, filler)
}

#[tokio::test]
async fn a_connect_timeout_is_unreachable_and_retried() {
    let (hole, _listener, _filler) = black_hole();
    let addr = bridge(
        &format!("http://{hole}"),
        &[("SCF_BRIDGE__UPSTREAM__CONNECT_TIMEOUT_MS", "200")],
    )
    .await;
    let (a, took) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-unreachable", 6200, "ServiceUnavailable");
    says(
        &m,
        &[
            "cannot connect to the SCF endpoint within 200 ms",
            "after 3 attempts",
        ],
    );
    assert!(!m.contains(MAY_HAVE_RUN), "{m}");
    // 3 × 200 ms connecting, 100 + 200 ms backing off.
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn a_deadline_reached_while_connecting_says_nothing_was_sent() {
    let (hole, _listener, _filler) = black_hole();
    let addr = bridge(
        &format!("http://{hole}"),
        &[
            ("SCF_BRIDGE__UPSTREAM__CONNECT_TIMEOUT_MS", "30000"),
            ("SCF_BRIDGE__UPSTREAM__TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    let (a, took) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-timeout", 6200, "ServiceUnavailable");
    says(
        &m,
        &["no connection to the SCF endpoint within 1 s; nothing was sent"],
    );
    assert!(!m.contains(MAY_HAVE_RUN), "{m}");
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

// ---------------------------------------------------------------------------
// After the request may have been written: sent once, "may have run"

#[tokio::test]
async fn reset_before_the_response_is_connection_lost_and_not_resent() {
    let up = fault_server(|_, mut c| async move {
        if c.read_request().await.is_some() {
            c.reset();
        }
    })
    .await;
    let addr = bridge(&up.http(), &[]).await;
    let (a, _) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-connection-lost", 6000, "InternalError");
    says(
        &m,
        &[
            "connection to the SCF endpoint failed (connection reset)",
            MAY_HAVE_RUN,
        ],
    );
    assert_eq!(up.invokes(), 1, "sent exactly once");
    assert_eq!(up.connections(), 1);
}

#[tokio::test]
async fn close_before_the_response_is_connection_lost_and_not_resent() {
    // A plain FIN after the request: the other way a peer hangs up.
    let up = fault_server(|_, mut c| async move {
        if c.read_request().await.is_some() {
            let _ = c.stream.shutdown().await;
        }
    })
    .await;
    let addr = bridge(&up.http(), &[]).await;
    let (a, _) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-connection-lost", 6000, "InternalError");
    says(
        &m,
        &["connection to the SCF endpoint", "closed", MAY_HAVE_RUN],
    );
    assert_eq!(up.invokes(), 1);
    assert_eq!(up.connections(), 1);
}

#[tokio::test]
async fn reset_mid_body_is_connection_lost_and_not_resent() {
    let up = fault_server(|_, mut c| async move {
        if c.read_request().await.is_some() {
            let _ = c
                .write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"Respons")
                .await;
            c.reset();
        }
    })
    .await;
    let addr = bridge(&up.http(), &[]).await;
    let (a, _) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-connection-lost", 6000, "InternalError");
    says(
        &m,
        &[
            "connection to the SCF endpoint lost while reading the answer (connection reset)",
            MAY_HAVE_RUN,
        ],
    );
    assert_eq!(up.invokes(), 1);
    assert_eq!(up.connections(), 1);
}

#[tokio::test]
async fn close_mid_body_is_connection_lost_and_not_resent() {
    let up = fault_server(|_, mut c| async move {
        if c.read_request().await.is_some() {
            let _ = c
                .write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"Respons")
                .await;
            let _ = c.stream.shutdown().await;
        }
    })
    .await;
    let addr = bridge(&up.http(), &[]).await;
    let (a, _) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-connection-lost", 6000, "InternalError");
    says(
        &m,
        &[
            "lost while reading the answer (connection closed before the answer was complete)",
            MAY_HAVE_RUN,
        ],
    );
    assert_eq!(up.invokes(), 1);
}

#[tokio::test]
async fn an_answer_that_never_comes_times_out_on_time() {
    let up = fault_server(|_, mut c| async move {
        if c.read_request().await.is_some() {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    })
    .await;
    let addr = bridge(&up.http(), &[("SCF_BRIDGE__UPSTREAM__TIMEOUT_SECS", "2")]).await;
    let (a, took) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-timeout", 6200, "ServiceUnavailable");
    says(
        &m,
        &[
            "SCF endpoint gave no complete answer within 2 s",
            MAY_HAVE_RUN,
        ],
    );
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(up.invokes(), 1, "not resent after the deadline");
    assert_eq!(up.connections(), 1);
}

#[tokio::test]
async fn a_body_that_stalls_halfway_times_out_on_time() {
    let up = fault_server(|_, mut c| async move {
        if c.read_request().await.is_some() {
            let _ = c
                .write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"Respons")
                .await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    })
    .await;
    let addr = bridge(&up.http(), &[("SCF_BRIDGE__UPSTREAM__TIMEOUT_SECS", "2")]).await;
    let (a, took) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-timeout", 6200, "ServiceUnavailable");
    says(&m, &["within 2 s", MAY_HAVE_RUN]);
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(up.invokes(), 1);
}

#[tokio::test]
async fn http_502_with_an_html_page_is_a_bad_response() {
    let up = fault_server(|_, mut c| async move {
        if c.read_request().await.is_some() {
            let page = "<html><head><title>502 Bad Gateway</title></head>\
                        <body><center><h1>502 Bad Gateway</h1></center></body></html>";
            let _ = c
                .write(&response("502 Bad Gateway", "text/html", page))
                .await;
        }
    })
    .await;
    let addr = bridge(&up.http(), &[]).await;
    let (a, _) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-bad-response", 6000, "InternalError");
    says(
        &m,
        &[
            "SCF endpoint answered HTTP 502 instead of a 3.0 envelope",
            MAY_HAVE_RUN,
        ],
    );
    assert!(!m.contains("<html>"), "the page is not passed on: {m}");
    assert_eq!(up.invokes(), 1);
    assert_eq!(up.connections(), 1);
}

#[tokio::test]
async fn http_200_with_invalid_json_is_a_bad_response() {
    let up = fault_server(|_, mut c| async move {
        if c.read_request().await.is_some() {
            let _ = c.write(&ok(r#"{"Response":{"Result":{"RetMsg":"#)).await;
        }
    })
    .await;
    let addr = bridge(&up.http(), &[]).await;
    let (a, _) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-bad-response", 6000, "InternalError");
    says(
        &m,
        &[
            "SCF endpoint answered with an unusable body",
            "not valid JSON",
            MAY_HAVE_RUN,
        ],
    );
    assert_eq!(up.invokes(), 1);
}

#[tokio::test]
async fn json_without_response_is_a_bad_response() {
    let up = fault_server(|_, mut c| async move {
        if c.read_request().await.is_some() {
            let _ = c
                .write(&ok(r#"{"Result":{"RetMsg":"x"},"RequestId":"r"}"#))
                .await;
        }
    })
    .await;
    let addr = bridge(&up.http(), &[]).await;
    let (a, _) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-bad-response", 6000, "InternalError");
    says(
        &m,
        &[
            "unusable body",
            r#"response body has no "Response" object"#,
            MAY_HAVE_RUN,
        ],
    );
    assert_eq!(up.invokes(), 1);
}

#[tokio::test]
async fn response_without_result_or_error_is_a_bad_response() {
    let up = fault_server(|_, mut c| async move {
        if c.read_request().await.is_some() {
            let _ = c.write(&ok(r#"{"Response":{"RequestId":"r"}}"#)).await;
        }
    })
    .await;
    let addr = bridge(&up.http(), &[]).await;
    let (a, _) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-bad-response", 6000, "InternalError");
    says(&m, &[r#"neither "Result" nor "Error""#, MAY_HAVE_RUN]);
    assert_eq!(up.invokes(), 1);
}

#[tokio::test]
async fn an_oversized_streamed_body_is_refused_at_the_limit() {
    const LIMIT: usize = scf_bridge::upstream::MAX_RESPONSE_BYTES;
    let written = Arc::new(AtomicUsize::new(0));
    let w = written.clone();
    let up = fault_server(move |_, mut c| {
        let w = w.clone();
        async move {
            if c.read_request().await.is_none() {
                return;
            }
            // Chunked, no length announced: the size is only known by reading.
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                        Transfer-Encoding: chunked\r\n\r\n";
            if c.write(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = {
                let data = vec![b'a'; 64 * 1024];
                let mut framed = format!("{:x}\r\n", data.len()).into_bytes();
                framed.extend_from_slice(&data);
                framed.extend_from_slice(b"\r\n");
                framed
            };
            let first = b"{\"Response\":{\"Result\":{\"RetMsg\":\"";
            let mut framed = format!("{:x}\r\n", first.len()).into_bytes();
            framed.extend_from_slice(first);
            framed.extend_from_slice(b"\r\n");
            let _ = c.write(&framed).await;
            // Up to twice the limit; the bridge should hang up long before.
            for _ in 0..(2 * LIMIT / (64 * 1024)) {
                if c.write(&chunk).await.is_err() {
                    return;
                }
                w.fetch_add(64 * 1024, Ordering::SeqCst);
            }
            let _ = c.write(b"0\r\n\r\n").await;
        }
    })
    .await;
    let addr = bridge(&up.http(), &[]).await;
    let (a, took) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-bad-response", 6000, "InternalError");
    says(
        &m,
        &[
            &format!("SCF endpoint answered with more than {LIMIT} bytes"),
            MAY_HAVE_RUN,
        ],
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(up.invokes(), 1);
    assert_eq!(up.connections(), 1);
    // The bridge stopped reading near the limit instead of draining it all
    // (socket buffers hold a few MiB more).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = written.load(Ordering::SeqCst);
    assert!(sent < 2 * LIMIT - 64 * 1024, "{sent} bytes written");
}

#[tokio::test]
async fn an_oversized_declared_body_is_refused() {
    const LIMIT: usize = scf_bridge::upstream::MAX_RESPONSE_BYTES;
    let up = fault_server(|_, mut c| async move {
        if c.read_request().await.is_none() {
            return;
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            LIMIT + 1
        );
        let _ = c.write(head.as_bytes()).await;
        let data = vec![b' '; 64 * 1024];
        let mut left = LIMIT + 1;
        while left > 0 {
            let n = left.min(data.len());
            if c.write(&data[..n]).await.is_err() {
                return;
            }
            left -= n;
        }
    })
    .await;
    let addr = bridge(&up.http(), &[]).await;
    let (a, _) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-bad-response", 6000, "InternalError");
    says(&m, &[&format!("more than {LIMIT} bytes"), MAY_HAVE_RUN]);
    assert_eq!(up.invokes(), 1);
}

// ---------------------------------------------------------------------------
// The keep-alive pool

#[tokio::test]
async fn a_pooled_connection_closed_while_idle_is_not_reused() {
    // The first connection answers once, then the server closes it while it
    // sits idle in the bridge's pool; later connections serve normally.
    let up = fault_server(|n, mut c| async move {
        if n > 0 {
            return c.serve().await;
        }
        if c.read_request().await.is_some() && c.write(&ok(RESULT)).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = c.stream.shutdown().await;
            // Read to EOF so the close completes cleanly.
            let mut sink = [0u8; 1024];
            while matches!(c.stream.read(&mut sink).await, Ok(n) if n > 0) {}
        }
    })
    .await;
    let addr = bridge(&up.http(), &[]).await;
    let (a, _) = invoke(addr).await;
    assert_eq!(a.json()["code"], 0, "{}", a.json());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (a, _) = invoke(addr).await;
    assert_eq!(a.json()["code"], 0, "{}", a.json());
    assert_eq!(a.header("x-scf-bridge-error"), None);
    assert_eq!(up.invokes(), 2, "one Invoke per legacy request");
    assert_eq!(up.connections(), 2, "the stale connection was replaced");
}

#[tokio::test]
async fn a_pooled_connection_that_dies_with_the_request_is_not_resent() {
    // The race a keep-alive pool cannot avoid: the server drops the idle
    // connection just as the next request arrives on it. The request was
    // written, so it may have run: it must not be sent again.
    let up = fault_server(|n, mut c| async move {
        if n > 0 {
            return c.serve().await;
        }
        if c.read_request().await.is_none() || c.write(&ok(RESULT)).await.is_err() {
            return;
        }
        if c.read_request().await.is_some() {
            c.reset();
        }
    })
    .await;
    let addr = bridge(&up.http(), &[]).await;
    let (a, _) = invoke(addr).await;
    assert_eq!(a.json()["code"], 0, "{}", a.json());
    let (a, _) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-connection-lost", 6000, "InternalError");
    says(&m, &[MAY_HAVE_RUN]);
    assert_eq!(up.invokes(), 2, "one Invoke per legacy request");
    assert_eq!(up.connections(), 1, "no retry on a new connection");
    // The pool recovers on a fresh connection.
    let (a, _) = invoke(addr).await;
    assert_eq!(a.json()["code"], 0, "{}", a.json());
    assert_eq!(up.invokes(), 3);
    assert_eq!(up.connections(), 2);
}

// ---------------------------------------------------------------------------
// A TLS upstream trusted through `upstream.ca_file`

struct UpstreamPki {
    dir: PathBuf,
    ca_file: PathBuf,
    server: Arc<rustls::ServerConfig>,
}

fn upstream_pki(tag: &str) -> UpstreamPki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let dir = std::env::temp_dir().join(format!(
        "scf-bridge-upstream-tls-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "scf-bridge upstream test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let ca_file = dir.join("ca.crt");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    UpstreamPki {
        dir,
        ca_file,
        server: Arc::new(server),
    }
}

/// A tiny rustls + hyper SCF 3.0 endpoint answering `RESULT` to every
/// `Invoke`, counting TCP connections and the `Invoke`s that arrived.
async fn tls_upstream(config: Arc<rustls::ServerConfig>) -> FaultServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts: Arc<Counts> = Arc::default();
    let c = counts.clone();
    tokio::spawn(async move {
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            c.connections.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let c = c.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req: http::Request<_>| {
                    let c = c.clone();
                    async move {
                        let invoke = req.method() == http::Method::POST
                            && matches!(
                                req.headers().get("x-tc-action").map(|v| v.as_bytes()),
                                Some(b"Invoke" | b"InvokeFunction")
                            );
                        let body = BodyExt::collect(req.into_body())
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        if invoke && body.starts_with(br#"{"FunctionName":"f""#) {
                            c.invokes.fetch_add(1, Ordering::SeqCst);
                        }
                        let mut resp =
                            http::Response::new(Full::new(Bytes::from_static(RESULT.as_bytes())));
                        resp.headers_mut()
                            .insert("content-type", "application/json".parse().unwrap());
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    FaultServer { addr, counts }
}

#[tokio::test]
async fn a_tls_upstream_trusted_through_ca_file_works_end_to_end() {
    let pki = upstream_pki("trusted");
    let up = tls_upstream(pki.server.clone()).await;
    let endpoint = format!("https://localhost:{}", up.addr.port());
    let ca_file = pki.ca_file.to_str().unwrap().to_owned();
    let addr = bridge(&endpoint, &[("SCF_BRIDGE__UPSTREAM__CA_FILE", &ca_file)]).await;
    for _ in 0..2 {
        let (a, _) = invoke(addr).await;
        assert_eq!(a.header("x-scf-bridge-error"), None);
        assert_eq!(
            std::str::from_utf8(&a.body).unwrap(),
            r#"{"code":0,"message":"","codeDesc":"Success","data":{"requestId":"fid-1","duration":0.5,"billDuration":1,"memUsage":3207168,"log":"","retMsg":"\"ok\"","errMsg":"","invokeResult":0,"payLoad":"\"ok\"","logMsg":"","memSize":3207168}}"#
        );
        assert_eq!(a.header("x-request-id"), Some("rid-1"));
    }
    assert_eq!(up.invokes(), 2);
    assert_eq!(up.connections(), 1, "the TLS connection is kept alive");
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test]
async fn a_tls_upstream_with_an_untrusted_certificate_is_unreachable() {
    // The same server without `ca_file`: its CA is not among the webpki
    // roots, so the handshake fails before the request is written.
    let pki = upstream_pki("untrusted");
    let up = tls_upstream(pki.server.clone()).await;
    let addr = bridge(&format!("https://localhost:{}", up.addr.port()), &[]).await;
    let (a, _) = invoke(addr).await;
    let m = bridge_error(&a, "upstream-unreachable", 6200, "ServiceUnavailable");
    says(
        &m,
        &[
            "TLS handshake with the SCF endpoint failed",
            "after 3 attempts",
        ],
    );
    assert!(!m.contains(MAY_HAVE_RUN), "{m}");
    assert_eq!(up.connections(), 3);
    assert_eq!(up.invokes(), 0);
    let _ = std::fs::remove_dir_all(&pki.dir);
}
