//! Shared helpers for the black-box tests: start a bridge on an ephemeral
//! port, send raw HTTP/1.1 requests over real sockets, and a scripted SCF 3.0
//! upstream that records what it receives.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use scf_bridge::config::{EnvMap, Settings};
use tokio::net::{TcpListener, TcpStream};

pub fn env(pairs: &[(&str, &str)]) -> EnvMap {
    let mut m: EnvMap = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    m.entry("SCF_BRIDGE__SERVER__LISTEN".into())
        .or_insert_with(|| "127.0.0.1:0".into());
    m.entry("SCF_BRIDGE__ADMIN__LISTEN".into())
        .or_insert_with(|| "127.0.0.1:0".into());
    m
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A bridge configured only by these environment variables.
pub async fn start_bridge(pairs: &[(&str, &str)]) -> SocketAddr {
    let settings = Settings::load_with_env(None, env(pairs)).expect("settings");
    let running = scf_bridge::app::start(settings, std::future::pending())
        .await
        .expect("bridge starts");
    running.addr.expect("plain listener")
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One request on a fresh connection.
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Answer {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

pub async fn get(addr: SocketAddr, path_and_query: &str) -> Answer {
    let req = Request::get(path_and_query)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(addr, req).await
}

/// GET on a fresh connection; `None` while nothing answers (readiness polls).
pub async fn try_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    let req = Request::get(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.ok()?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

pub async fn post_form(addr: SocketAddr, body: &str) -> Answer {
    let req = Request::post("/v2/index.php")
        .header("host", addr.to_string())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    send(addr, req).await
}

/// Percent-encode like Python's `quote_plus` (what the legacy SDK sends).
pub fn quote_plus(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// What the scripted upstream saw.
#[derive(Clone, Debug)]
pub struct Captured {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A scripted SCF 3.0 endpoint: records every request and answers with
/// `answer` (HTTP 200, `application/json`).
pub struct MockUpstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Captured>>>,
}

pub async fn mock_upstream(answer: &'static str) -> MockUpstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<Captured>>> = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let record = record.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let record = record.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        record.lock().unwrap().push(Captured {
                            method: parts.method.to_string(),
                            path: parts.uri.to_string(),
                            headers: parts.headers,
                            body,
                        });
                        let mut resp =
                            Response::new(Full::new(Bytes::from_static(answer.as_bytes())));
                        resp.headers_mut()
                            .insert("content-type", "application/json".parse().unwrap());
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    MockUpstream { addr, seen }
}

impl MockUpstream {
    pub fn requests(&self) -> Vec<Captured> {
        self.seen.lock().unwrap().clone()
    }
}

pub fn header_map(h: &HeaderMap) -> HashMap<String, String> {
    h.iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect()
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `pairs` plus a legacy HmacSHA1 `Signature` made with `key` for `method`
/// and `host`, as the legacy SDKs sign (POST values starting with `@` left
/// out), form-encoded.
pub fn signed_form(method: &str, host: &str, key: &str, pairs: &[(&str, &str)]) -> String {
    use scf_bridge::legacy::signature::{self, SignatureMethod};
    let params = scf_bridge::legacy::decode::decode_form(form(pairs).as_bytes()).unwrap();
    let s = signature::string_to_sign(method, host, signature::LEGACY_PATH, &params);
    let sig = signature::sign(key, SignatureMethod::HmacSha1, &s);
    let mut all = pairs.to_vec();
    all.push(("Signature", &sig));
    form(&all)
}

/// A fresh directory under the system's temporary directory.
pub fn fresh_dir(tag: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("scf-bridge-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
