//! How a POST body is read: whole, in one buffer, whichever way it arrives —
//! in one piece or many, with `Content-Length` or chunked (trailers
//! included), with parameters in the query as well — checked end to end by
//! the `param` the SCF 3.0 call carries.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::{form, mock_upstream, quote_plus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A 3.0 answer the scripted upstream gives to every call.
const OK: &str = r#"{"Response":{"Result":{"FunctionRequestId":"f","RetMsg":"ok","ErrMsg":"","Log":"","Duration":1,"BillDuration":1,"MemUsage":1,"InvokeResult":0},"RequestId":"r"}}"#;

/// A `param` of about `n` bytes that exercises the decoder: multi-byte
/// UTF-8, characters that are percent-encoded, spaces (`+` on the wire) and
/// long plain runs.
fn param(n: usize) -> String {
    let fill = r#"{"name": "云函数 x+y", "s": "a&b=c%d", "plain": "abcdefghijklmnopqrstuvwxyz"}, "#;
    let mut s = String::from("[");
    while s.len() < n {
        s.push_str(fill);
    }
    s.push_str("null]");
    s
}

/// Sends `head` then `pieces` one by one, with a pause between them so
/// they arrive as separate reads, and returns the answer's JSON body.
async fn send_raw(addr: SocketAddr, head: String, pieces: &[&[u8]]) -> serde_json::Value {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    for p in pieces {
        // A refused body may be answered (and the connection closed) before
        // all of it is written.
        if s.write_all(p).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
            .await
            .expect("answered in time");
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let body = &text[text.find("\r\n\r\n").expect("a head") + 4..];
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn head(query: &str, framing: &str) -> String {
    let path = if query.is_empty() {
        "/v2/index.php".to_owned()
    } else {
        format!("/v2/index.php?{query}")
    };
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n{framing}\r\n"
    )
}

/// `bytes` cut into `n` pieces of roughly equal size, at arbitrary bytes
/// (also inside `%XX` escapes).
fn cut(bytes: &[u8], n: usize) -> Vec<&[u8]> {
    bytes.chunks(bytes.len().div_ceil(n)).collect()
}

/// The `Event` of the one 3.0 `InvokeFunction` call the upstream saw.
fn client_context(up: &support::MockUpstream) -> String {
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    body["Event"].as_str().expect("Event").to_owned()
}

async fn bridge(up: &support::MockUpstream) -> SocketAddr {
    let endpoint = format!("http://{}", up.addr);
    support::start_bridge(&[
        ("SCF_BRIDGE__UPSTREAM__ENDPOINT", &endpoint),
        ("TENCENTCLOUD_SECRET_ID", "AKIDb"),
        ("TENCENTCLOUD_SECRET_KEY", "k"),
    ])
    .await
}

#[tokio::test]
async fn a_body_with_content_length_in_many_pieces_is_read_whole() {
    let up = mock_upstream(OK).await;
    let addr = bridge(&up).await;
    let p = param(300_000);
    let body = form(&[
        ("Action", "InvokeFunction"),
        ("functionName", "f"),
        ("param", &p),
    ]);
    let framing = format!("Content-Length: {}\r\n", body.len());
    let v = send_raw(addr, head("", &framing), &cut(body.as_bytes(), 7)).await;
    assert_eq!(v["code"], 0, "{v}");
    assert_eq!(client_context(&up), p);
}

#[tokio::test]
async fn a_chunked_body_with_trailers_is_read_whole() {
    let up = mock_upstream(OK).await;
    let addr = bridge(&up).await;
    let p = param(100_000);
    let body = form(&[
        ("Action", "InvokeFunction"),
        ("functionName", "f"),
        ("param", &p),
    ]);
    let mut wire = Vec::new();
    for piece in cut(body.as_bytes(), 5) {
        wire.push(format!("{:x}\r\n", piece.len()).into_bytes());
        wire.push(piece.to_vec());
        wire.push(b"\r\n".to_vec());
    }
    wire.push(b"0\r\nX-Trailer: t\r\n\r\n".to_vec());
    let pieces: Vec<&[u8]> = wire.iter().map(Vec::as_slice).collect();
    let v = send_raw(
        addr,
        head("", "Transfer-Encoding: chunked\r\nTrailer: X-Trailer\r\n"),
        &pieces,
    )
    .await;
    assert_eq!(v["code"], 0, "{v}");
    assert_eq!(client_context(&up), p);
}

#[tokio::test]
async fn query_parameters_come_first_then_the_body_in_pieces() {
    let up = mock_upstream(OK).await;
    let addr = bridge(&up).await;
    let p = param(50_000);
    let body = format!("param={}", quote_plus(&p));
    let framing = format!("Content-Length: {}\r\n", body.len());
    let query = form(&[("Action", "InvokeFunction"), ("functionName", "f")]);
    let v = send_raw(addr, head(&query, &framing), &cut(body.as_bytes(), 3)).await;
    assert_eq!(v["code"], 0, "{v}");
    assert_eq!(client_context(&up), p);
}

#[tokio::test]
async fn a_query_with_an_empty_body_is_enough() {
    let up = mock_upstream(OK).await;
    let addr = bridge(&up).await;
    let query = form(&[
        ("Action", "InvokeFunction"),
        ("functionName", "f"),
        ("param", "{}"),
    ]);
    let v = send_raw(addr, head(&query, "Content-Length: 0\r\n"), &[]).await;
    assert_eq!(v["code"], 0, "{v}");
    assert_eq!(client_context(&up), "{}");
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_request_too_large() {
    let up = mock_upstream(OK).await;
    let endpoint = format!("http://{}", up.addr);
    let addr = support::start_bridge(&[
        ("SCF_BRIDGE__UPSTREAM__ENDPOINT", &endpoint),
        ("TENCENTCLOUD_SECRET_ID", "AKIDb"),
        ("TENCENTCLOUD_SECRET_KEY", "k"),
        ("SCF_BRIDGE__SERVER__MAX_BODY_BYTES", "65536"),
    ])
    .await;
    // No Content-Length: the limit can only be found while reading.
    let piece = format!("{:x}\r\n{}\r\n", 40_000, "a".repeat(40_000));
    let v = send_raw(
        addr,
        head("", "Transfer-Encoding: chunked\r\n"),
        &[piece.as_bytes(), piece.as_bytes(), b"0\r\n\r\n"],
    )
    .await;
    assert_eq!(v["code"], 4000, "{v}");
    assert_eq!(v["codeDesc"], "InvalidParameter.RequestTooLarge");
    assert!(up.requests().is_empty());
}
