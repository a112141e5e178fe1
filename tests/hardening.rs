//! Hostile input against a real bridge over real sockets, without a key:
//! bounded work before authentication, slots for work and not for waiting,
//! nothing unsigned forwarded, the replay window's edge, restarts, and the
//! lower-severity leaks and limits (issue 10). Each test fails on the
//! bridge before these protections.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scf_bridge::config::Settings;
use support::{form, mock_upstream, signed_form, unix_now, MockUpstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OK: &str = r#"{"Response":{"Result":{"FunctionRequestId":"f","RetMsg":"ok","ErrMsg":"","Log":"","Duration":1,"BillDuration":1,"MemUsage":1,"InvokeResult":0},"RequestId":"r"}}"#;

const ID: &str = "AKIDhardenCaller";
const KEY: &str = "harden-caller-key";
const OTHER_ID: &str = "AKIDhardenOther";
const OTHER_KEY: &str = "harden-other-key";

static NONCE: AtomicU64 = AtomicU64::new(1);

fn nonce() -> String {
    NONCE.fetch_add(1, Ordering::Relaxed).to_string()
}

fn clients_dir() -> std::path::PathBuf {
    let d = support::fresh_dir("harden-clients");
    std::fs::write(d.join(ID), KEY).unwrap();
    std::fs::write(d.join(OTHER_ID), OTHER_KEY).unwrap();
    d
}

fn verify_env(up: &MockUpstream, dir: &Path, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        (
            "SCF_BRIDGE__UPSTREAM__ENDPOINT".into(),
            format!("http://{}", up.addr),
        ),
        ("SCF_BRIDGE__AUTH__MODE".into(), "verify".into()),
        (
            "SCF_BRIDGE__AUTH__CLIENTS_DIR".into(),
            dir.display().to_string(),
        ),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

async fn verifying(up: &MockUpstream, dir: &Path, extra: &[(&str, &str)]) -> SocketAddr {
    let env = verify_env(up, dir, extra);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    support::start_bridge(&pairs).await
}

/// A signed legacy `InvokeFunction` for `id`/`key`, `method` and `host`,
/// with `Timestamp` `ts`, a fresh `Nonce` and the `extra` parameters.
fn invoke(
    method: &str,
    host: &str,
    id: &str,
    key: &str,
    ts: u64,
    extra: &[(&str, &str)],
) -> String {
    let (ts, nonce) = (ts.to_string(), nonce());
    let mut pairs = vec![
        ("Action", "InvokeFunction"),
        ("Region", "gz"),
        ("Timestamp", ts.as_str()),
        ("Nonce", nonce.as_str()),
        ("SecretId", id),
        ("functionName", "hello"),
    ];
    pairs.extend_from_slice(extra);
    signed_form(method, host, key, &pairs)
}

async fn get(addr: SocketAddr, query: &str) -> serde_json::Value {
    support::get(addr, &format!("/v2/index.php?{query}"))
        .await
        .json()
}

async fn post(addr: SocketAddr, body: &str) -> serde_json::Value {
    support::post_form(addr, body).await.json()
}

/// Writes `bytes` on a new connection and reads the answer to its end.
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The bridge may answer (and close) before reading everything.
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn legacy_body(http: &str) -> serde_json::Value {
    assert!(http.starts_with("HTTP/1.1 200 "), "{http:.300}");
    let body = &http[http.find("\r\n\r\n").expect("a head") + 4..];
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:.300}"))
}

// ---- 1. bounded work before authentication ----

#[tokio::test]
async fn a_parameter_cap_hit_answers_4000_naming_it_and_nothing_is_sent() {
    let up = mock_upstream(OK).await;
    let addr = verifying(
        &up,
        &clients_dir(),
        &[("SCF_BRIDGE__SERVER__MAX_PARAMS", "64")],
    )
    .await;
    // One parameter past the cap, then a great many more.
    let body = format!("Action=InvokeFunction&{}", "a&".repeat(500_000));
    let v = post(addr, &body).await;
    assert_eq!(v["code"], 4000, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("server.max_params"),
        "{v}"
    );
    let distinct: String = (0..1000).map(|i| format!("k{i}=v&")).collect();
    let v = post(addr, &distinct).await;
    assert_eq!(v["code"], 4000, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("more than 64 parameters"),
        "{v}"
    );
    // At the cap a request is read as usual.
    let host = addr.to_string();
    let fill: Vec<(String, String)> = (0..50).map(|i| (format!("x{i}"), "v".into())).collect();
    let fill: Vec<(&str, &str)> = fill.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let v = get(addr, &invoke("GET", &host, ID, KEY, unix_now(), &fill)).await;
    assert_eq!(v["code"], 0, "{v}");
    assert_eq!(up.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_posts_do_not_hold_up_a_small_signed_request() {
    let up = mock_upstream(OK).await;
    let addr = verifying(&up, &clients_dir(), &[]).await;
    let host = addr.to_string();
    // Three 10 MiB POSTs with a known SecretId and a wrong signature: each
    // is decoded and hashed in full before it can be refused.
    let big = {
        let p = "x".repeat(10 << 20);
        let mut body = invoke(
            "POST",
            "nowhere",
            ID,
            "wrong-key",
            unix_now(),
            &[("param", &p)],
        );
        body.push_str("&pad=1");
        format!(
            "POST /v2/index.php HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let first_big_answered: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let mut bigs = Vec::new();
    let mut written = Vec::new();
    for _ in 0..3 {
        let (tx, rx) = tokio::sync::oneshot::channel();
        written.push(rx);
        let (big, first) = (big.clone(), first_big_answered.clone());
        bigs.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(big.as_bytes()).await.unwrap();
            let _ = tx.send(());
            let mut out = Vec::new();
            s.read_to_end(&mut out).await.unwrap();
            first.lock().unwrap().get_or_insert_with(Instant::now);
            legacy_body(&String::from_utf8_lossy(&out))
        }));
    }
    for rx in written {
        rx.await.unwrap();
    }
    let sent = Instant::now();
    let v = get(addr, &invoke("GET", &host, ID, KEY, unix_now(), &[])).await;
    let small_answered = Instant::now();
    assert_eq!(v["code"], 0, "{v}");
    for b in bigs {
        let v = b.await.unwrap();
        assert_eq!(v["code"], 4100, "{v}");
    }
    let first_big = first_big_answered.lock().unwrap().expect("answered");
    eprintln!(
        "small signed GET answered in {:?} while three 10 MiB POSTs were verified",
        small_answered - sent
    );
    assert!(
        small_answered < first_big,
        "the small request waited for a large one ({:?} after sending)",
        small_answered - sent
    );
}

// ---- 2. slots for work, not for waiting ----

/// A POST head declaring `declared` bytes (or chunked) and one byte of body.
async fn stalled_post(addr: SocketAddr, chunked: bool) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let framing = if chunked {
        "Transfer-Encoding: chunked\r\n\r\n1\r\nA\r\n".to_owned()
    } else {
        "Content-Length: 1000000\r\n\r\nA".to_owned()
    };
    s.write_all(
        format!(
            "POST /v2/index.php HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n{framing}"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    s
}

#[tokio::test]
async fn eight_slow_bodies_do_not_make_a_ninth_signed_request_fail() {
    let up = mock_upstream(OK).await;
    let addr = verifying(
        &up,
        &clients_dir(),
        &[
            ("SCF_BRIDGE__SERVER__MAX_IN_FLIGHT", "8"),
            ("SCF_BRIDGE__SERVER__MAX_BODY_BYTES", "1048576"),
            ("SCF_BRIDGE__SERVER__MAX_BUFFERED_BYTES", "3145728"),
        ],
    )
    .await;
    let mut slow = Vec::new();
    for i in 0..8 {
        slow.push(stalled_post(addr, i % 2 == 0).await);
    }
    // Let the bridge read every head and the byte after it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let host = addr.to_string();
    let v = get(addr, &invoke("GET", &host, ID, KEY, unix_now(), &[])).await;
    assert_eq!(v["code"], 0, "GET: {v}");
    // Chunked bodies hold budget only for what arrived: a POST still fits.
    let v = post(
        addr,
        &invoke("POST", &host, ID, KEY, unix_now(), &[("param", "{}")]),
    )
    .await;
    assert_eq!(v["code"], 0, "POST: {v}");
    drop(slow);
}

#[tokio::test]
async fn a_body_below_the_minimum_rate_is_refused_after_the_grace_period() {
    let addr = support::start_bridge(&[
        ("SCF_BRIDGE__SERVER__MIN_BODY_RATE_BYTES_PER_SEC", "1000"),
        ("SCF_BRIDGE__SERVER__BODY_RATE_GRACE_MS", "300"),
        ("SCF_BRIDGE__SERVER__BODY_READ_TIMEOUT_MS", "60000"),
    ])
    .await;
    let mut s = stalled_post(addr, false).await;
    let started = Instant::now();
    let reader = tokio::spawn(async move {
        // One byte every 100 ms: 10 B/s.
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            tokio::select! {
                n = s.read(&mut buf) => match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                },
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    if s.write_all(b"a").await.is_err() { break; }
                }
            }
            if out.windows(4).any(|w| w == b"\r\n\r\n") && out.ends_with(b"}") {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    let text = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("refused well before the 60 s body timeout")
        .unwrap();
    let v = legacy_body(&text);
    assert_eq!(v["code"], 4000, "{v}");
    assert!(v["message"].as_str().unwrap().contains("too slowly"), "{v}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "not before the grace"
    );
}

#[tokio::test]
async fn at_the_connection_cap_the_bridge_accepts_again_once_one_closes() {
    let addr = support::start_bridge(&[
        ("SCF_BRIDGE__SERVER__MAX_CONNECTIONS", "3"),
        ("SCF_BRIDGE__SERVER__HEADER_READ_TIMEOUT_MS", "60000"),
    ])
    .await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let closed = Arc::new(AtomicBool::new(false));
    let seen_closed = closed.clone();
    let q = form(&[("Action", "InvokeFunction"), ("functionName", "hello")]);
    let fourth = tokio::spawn(async move {
        let text = raw_exchange(
            addr,
            format!("GET /v2/index.php?{q} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
        (seen_closed.load(Ordering::SeqCst), text)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    closed.store(true, Ordering::SeqCst);
    drop(idle.pop());
    let (after_close, text) = tokio::time::timeout(Duration::from_secs(10), fourth)
        .await
        .expect("answered once a place is free")
        .unwrap();
    assert!(after_close, "served while the cap was reached");
    assert_eq!(legacy_body(&text)["code"], 0, "{text}");
}

// ---- 4. nothing unsigned is read ----

#[tokio::test]
async fn unsigned_at_values_are_refused_with_4100_and_nothing_is_sent() {
    let up = mock_upstream(OK).await;
    let addr = verifying(&up, &clients_dir(), &[]).await;
    let host = addr.to_string();
    for (key, value) in [
        ("param", "@x"),
        ("Token", "@t"),
        ("namespace", "@n"),
        ("version", "@9"),
        ("invokeType", "@Event"),
    ] {
        // Signed as the SDKs sign a POST: the `@` value is left out, so
        // the signature is valid without it.
        let body = invoke("POST", &host, ID, KEY, unix_now(), &[(key, value)]);
        let v = post(addr, &body).await;
        assert_eq!(v["code"], 4100, "{key}: {v}");
        assert!(v["message"].as_str().unwrap().contains(key), "{key}: {v}");
    }
    assert!(up.requests().is_empty(), "nothing reached SCF");
    // In a GET the same value is signed, and accepted.
    let v = get(
        addr,
        &invoke("GET", &host, ID, KEY, unix_now(), &[("param", "\"@x\"")]),
    )
    .await;
    assert_eq!(v["code"], 0, "{v}");
}

// ---- 5. the window's edge ----

/// A clock the test sets, which reports its next read when armed.
struct TestClock {
    now: AtomicU64,
    armed: AtomicBool,
    read: tokio::sync::Notify,
}

async fn bridge_with_clock(env: Vec<(String, String)>, clock: Arc<TestClock>) -> SocketAddr {
    let mut map = support::env(&[]);
    map.extend(env);
    let settings = Settings::load_with_env(None, map).expect("settings");
    let c = clock.clone();
    let options = scf_bridge::app::StartOptions {
        clock: Arc::new(move || {
            let now = c.now.load(Ordering::SeqCst);
            if c.armed.swap(false, Ordering::SeqCst) {
                c.read.notify_one();
            }
            now
        }),
        ..Default::default()
    };
    let running = scf_bridge::app::start_with(settings, std::future::pending(), options)
        .await
        .expect("bridge starts");
    running.addr.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_replay_just_past_the_window_is_refused_20_of_20() {
    let up = mock_upstream(OK).await;
    let base = unix_now();
    let clock = Arc::new(TestClock {
        now: AtomicU64::new(base),
        armed: AtomicBool::new(false),
        read: tokio::sync::Notify::new(),
    });
    let addr = bridge_with_clock(verify_env(&up, &clients_dir(), &[]), clock.clone()).await;
    let host = addr.to_string();
    // A large signed POST is slow to decode and hash: the replay reads the
    // clock, then spends long before its replay check.
    let p = "y".repeat(4 << 20);
    let mut refused = 0;
    let trials = 20;
    for trial in 0..trials {
        let t = base + 1000 * trial;
        clock.now.store(t, Ordering::SeqCst);
        let request = invoke("POST", &host, ID, KEY, t, &[("param", &p)]);
        assert_eq!(
            post(addr, &request).await["code"],
            0,
            "trial {trial}: first"
        );
        // The replay, at the window's last second.
        clock.now.store(t + 300, Ordering::SeqCst);
        clock.armed.store(true, Ordering::SeqCst);
        let replay = tokio::spawn(async move { post(addr, &request).await });
        clock.read.notified().await;
        // The clock moves on and fresh requests age the memory meanwhile.
        clock.now.store(t + 301, Ordering::SeqCst);
        let fresh: Vec<_> = (0..64)
            .map(|_| {
                let q = invoke("GET", &host, OTHER_ID, OTHER_KEY, t + 301, &[]);
                tokio::spawn(async move { get(addr, &q).await })
            })
            .collect();
        for f in fresh {
            assert_eq!(f.await.unwrap()["code"], 0);
        }
        let v = replay.await.unwrap();
        if v["code"] != 0 {
            assert!(v["code"] == 4200 || v["code"] == 4500, "{v}");
            refused += 1;
        }
    }
    assert_eq!(refused, trials, "replays accepted: {}", trials - refused);
    // Only the originals and the fresh requests reached SCF.
    assert_eq!(up.requests().len() as u64, trials * 65);
}

#[tokio::test]
async fn a_request_signed_before_a_restart_is_refused_by_the_restarted_bridge() {
    let up = mock_upstream(OK).await;
    let dir = clients_dir();
    let before = verifying(&up, &dir, &[]).await;
    let ts = unix_now();
    let captured = invoke("GET", "scf.api.qcloud.com", ID, KEY, ts, &[]);
    assert_eq!(get(before, &captured).await["code"], 0);
    // The "restart": a new process-equivalent started after the request.
    while unix_now() <= ts {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = verifying(&up, &dir, &[]).await;
    let v = get(after, &captured).await;
    assert_eq!(v["code"], 4200, "{v}");
    assert!(v["message"].as_str().unwrap().contains("restart"), "{v}");
    // With a grace the operator chose, it is inside the floor again.
    let lenient = verifying(&up, &dir, &[("SCF_BRIDGE__AUTH__RESTART_GRACE_SECS", "60")]).await;
    assert_eq!(get(lenient, &captured).await["code"], 0);
    assert_eq!(up.requests().len(), 2);
}

// ---- 7. allow_unauthenticated only permits ----

#[tokio::test]
async fn allow_unauthenticated_does_not_turn_verification_off() {
    let up = mock_upstream(OK).await;
    let dir = clients_dir();
    let endpoint = format!("http://{}", up.addr);
    let dir_s = dir.display().to_string();
    let addr = support::start_bridge(&[
        ("SCF_BRIDGE__SERVER__LISTEN", "0.0.0.0:0"),
        ("SCF_BRIDGE__AUTH__ALLOW_UNAUTHENTICATED", "true"),
        ("SCF_BRIDGE__AUTH__CLIENTS_DIR", &dir_s),
        ("SCF_BRIDGE__UPSTREAM__ENDPOINT", &endpoint),
    ])
    .await;
    let local: SocketAddr = format!("127.0.0.1:{}", addr.port()).parse().unwrap();
    let q = form(&[("Action", "InvokeFunction"), ("functionName", "hello")]);
    let v = get(local, &q).await;
    assert_eq!(v["code"], 4100, "unsigned request off loopback: {v}");
    assert!(up.requests().is_empty());
}

// ---- 8. the rest ----

#[tokio::test]
async fn over_limit_uris_and_header_counts_get_the_legacy_answer() {
    let addr = support::start_bridge(&[]).await;
    // Beyond hyper's own 65,534-byte limit.
    let uri = format!(
        "/v2/index.php?Action=InvokeFunction&p={}",
        "a".repeat(70_000)
    );
    let text = raw_exchange(
        addr,
        format!("GET {uri} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .await;
    let v = legacy_body(&text);
    assert_eq!(v["code"], 4000, "{v}");
    assert!(v["message"].as_str().unwrap().contains("URI"), "{v}");
    // Between the bridge's limit (32 KiB) and hyper's.
    let uri = format!(
        "/v2/index.php?Action=InvokeFunction&p={}",
        "a".repeat(40_000)
    );
    let text = raw_exchange(
        addr,
        format!("GET {uri} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(legacy_body(&text)["code"], 4000);
    for count in [150, 1000] {
        let headers: String = (0..count).map(|i| format!("X-H{i}: v\r\n")).collect();
        let text = raw_exchange(
            addr,
            format!("GET /v2/index.php?Action=InvokeFunction HTTP/1.1\r\nHost: x\r\n{headers}\r\n")
                .as_bytes(),
        )
        .await;
        let v = legacy_body(&text);
        assert_eq!(v["code"], 4000, "{count}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains("header"),
            "{count}: {v}"
        );
    }
}

#[tokio::test]
async fn unauthenticated_errors_do_not_echo_the_host_or_the_configuration() {
    let up = mock_upstream(OK).await;
    // The default signing host, `scf.api.qcloud.com`, is configuration too.
    let addr = verifying(&up, &clients_dir(), &[]).await;
    let q = invoke("GET", "elsewhere", ID, "not-the-key", unix_now(), &[]);
    let req = http::Request::get(format!("/v2/index.php?{q}"))
        .header("host", "attacker-chosen.example")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let v = support::send(addr, req).await.json();
    assert_eq!(v["code"], 4100, "{v}");
    let m = v["message"].as_str().unwrap();
    assert!(!m.contains("attacker-chosen"), "{m}");
    assert!(!m.contains("scf.api.qcloud.com"), "{m}");
}

#[tokio::test]
async fn one_client_filling_the_replay_memory_does_not_refuse_another() {
    let up = mock_upstream(OK).await;
    let addr = verifying(
        &up,
        &clients_dir(),
        &[
            ("SCF_BRIDGE__AUTH__REPLAY_CAPACITY", "4"),
            ("SCF_BRIDGE__AUTH__REPLAY_CLIENT_SHARE_PERCENT", "50"),
        ],
    )
    .await;
    let host = addr.to_string();
    for _ in 0..2 {
        let v = get(addr, &invoke("GET", &host, ID, KEY, unix_now(), &[])).await;
        assert_eq!(v["code"], 0, "{v}");
    }
    let v = get(addr, &invoke("GET", &host, ID, KEY, unix_now(), &[])).await;
    assert_eq!(v["code"], 4400, "past its share: {v}");
    let v = get(
        addr,
        &invoke("GET", &host, OTHER_ID, OTHER_KEY, unix_now(), &[]),
    )
    .await;
    assert_eq!(v["code"], 0, "the other client: {v}");
}
