//! The thread-per-core serving model, black-box over real sockets against
//! the real binary: every worker thread accepts on its own `SO_REUSEPORT`
//! socket, and what must be exact across them is — the in-flight limit and
//! gauge, drain on SIGTERM with connections open on every worker, plain and
//! TLS listeners on every worker, and a reload (client keys by SIGHUP, the
//! certificate by its watcher) reaching every worker.
//!
//! Which worker a connection landed on is read off
//! `scf_bridge_connections_accepted_total{worker,listener}`: a connection is
//! opened and used once, and the one counter that moved names its worker.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_scf-bridge");
const WORKERS: usize = 3;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Bridge {
    child: Child,
    addr: SocketAddr,
    tls: Option<SocketAddr>,
    admin: SocketAddr,
}

/// The binary with `WORKERS` thread-per-core workers, plain listener on,
/// no drain delay, and `env` on top.
async fn spawn(env: &[(&str, &str)], config: Option<&Path>, tls: bool) -> Bridge {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let tls_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .env_clear()
        .env("SCF_BRIDGE__SERVER__LISTEN", addr.to_string())
        .env("SCF_BRIDGE__ADMIN__LISTEN", admin.to_string())
        .env("SCF_BRIDGE__SERVER__RUNTIME", "thread-per-core")
        .env("SCF_BRIDGE__SERVER__WORKERS", WORKERS.to_string())
        .env("SCF_BRIDGE__LOG__FORMAT", "json")
        .env("SCF_BRIDGE__SERVER__DRAIN_DELAY_SECS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if tls {
        cmd.env("SCF_BRIDGE__SERVER__TLS_LISTEN", tls_addr.to_string());
    }
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
    Bridge {
        child,
        addr,
        tls: tls.then_some(tls_addr),
        admin,
    }
}

async fn admin_get(admin: SocketAddr, path: &str) -> Option<(u16, String)> {
    let stream = tokio::net::TcpStream::connect(admin).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("host", admin.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.ok()?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

async fn metrics(b: &Bridge) -> String {
    admin_get(b.admin, "/metrics").await.expect("metrics").1
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Accepted connections by (worker, listener), from the metrics text.
fn accepted(text: &str) -> BTreeMap<(String, String), f64> {
    let label = |line: &str, name: &str| {
        let start = line.find(&format!("{name}=\""))? + name.len() + 2;
        let len = line[start..].find('"')?;
        Some(line[start..start + len].to_owned())
    };
    text.lines()
        .filter(|l| l.starts_with("scf_bridge_connections_accepted_total{"))
        .filter_map(|l| {
            let value = l.rsplit(' ').next()?.parse().ok()?;
            Some(((label(l, "worker")?, label(l, "listener")?), value))
        })
        .collect()
}

type Plain = SendRequest<Full<Bytes>>;

async fn open_plain(addr: SocketAddr) -> Plain {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

/// One GET on an open connection: (legacy JSON, `x-scf-bridge-error`).
async fn get_on(sender: &mut Plain, path_and_query: &str) -> (serde_json::Value, Option<String>) {
    sender.ready().await.expect("connection usable");
    let req = http::Request::get(path_and_query)
        .header("host", "scf.api.qcloud.com")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.expect("answer");
    let kind = resp
        .headers()
        .get("x-scf-bridge-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (v, kind)
}

fn sleep_query(ms: u64) -> String {
    let param = format!("{{\"ms\": {ms}}}");
    format!(
        "/v2/index.php?{}",
        support::form(&[
            ("Action", "InvokeFunction"),
            ("functionName", "sleep"),
            ("param", param.as_str()),
        ])
    )
}

const HELLO: &str = "/v2/index.php?Action=InvokeFunction&functionName=hello";

/// Open plain connections until every worker holds `per_worker` of them;
/// each is used once (`first_path`) so that its accept is counted. Extra
/// connections to a worker already served are closed.
async fn pin_plain(b: &Bridge, per_worker: usize, first_path: &str) -> Vec<Vec<Plain>> {
    let mut by_worker: Vec<Vec<Plain>> = (0..WORKERS).map(|_| Vec::new()).collect();
    let mut before = accepted(&metrics(b).await);
    for _ in 0..400 {
        if by_worker.iter().all(|c| c.len() >= per_worker) {
            return by_worker;
        }
        let mut c = open_plain(b.addr).await;
        get_on(&mut c, first_path).await;
        let after = accepted(&metrics(b).await);
        let w = worker_growth(&before, &after, "plain");
        if by_worker[w].len() < per_worker {
            by_worker[w].push(c);
        }
        before = after;
    }
    panic!("connections never reached every worker: {before:?}");
}

/// The one worker whose `listener` counter moved between two snapshots.
fn worker_growth(
    before: &BTreeMap<(String, String), f64>,
    after: &BTreeMap<(String, String), f64>,
    listener: &str,
) -> usize {
    let grown: Vec<&str> = after
        .iter()
        .filter(|((w, l), v)| {
            l == listener && **v > before.get(&(w.clone(), l.clone())).copied().unwrap_or(0.0)
        })
        .map(|((w, _), _)| w.as_str())
        .collect();
    assert_eq!(grown.len(), 1, "exactly one worker accepted: {after:?}");
    let w: usize = grown[0].parse().expect("a worker index, not `shared`");
    assert!(w < WORKERS, "worker {w}");
    w
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

async fn wait_for_exit(mut b: Bridge) -> String {
    let status = tokio::time::timeout(Duration::from_secs(40), b.child.wait())
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

/// Poll the metrics until `done` holds (bounded; the wait never decides).
async fn until(b: &Bridge, what: &str, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let text = metrics(b).await;
        if done(&text) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never: {what}\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_in_flight_limit_and_gauge_are_exact_across_workers() {
    // Two connections on every worker, one request on each: six requests
    // against a limit of four, wherever they land.
    let b = spawn(&[("SCF_BRIDGE__SERVER__MAX_IN_FLIGHT", "4")], None, false).await;
    let pinned = pin_plain(&b, 2, HELLO).await;
    let mut calls = Vec::new();
    for (w, conns) in pinned.into_iter().enumerate() {
        for mut c in conns {
            calls.push(tokio::spawn(async move {
                let (v, kind) = get_on(&mut c, &sleep_query(4000)).await;
                (w, v, kind)
            }));
        }
    }
    let mut done = Vec::new();
    // The two refusals come back at once; the four admitted sleep.
    let text = until(&b, "two requests refused", |t| {
        metric(t, r#"scf_bridge_requests_shed_total{reason="in_flight"}"#) >= 2.0
    })
    .await;
    assert_eq!(
        metric(
            &text,
            r#"scf_bridge_requests_shed_total{reason="in_flight"}"#
        ),
        2.0
    );
    let gauge = until(&b, "four requests in flight", |t| {
        metric(t, "scf_bridge_requests_in_flight") >= 4.0
    })
    .await;
    assert_eq!(metric(&gauge, "scf_bridge_requests_in_flight"), 4.0);
    for c in calls {
        done.push(c.await.expect("no panic"));
    }
    let refused: Vec<_> = done
        .iter()
        .filter(|(_, v, _)| v["codeDesc"] == "RequestLimitExceeded")
        .collect();
    let served = done.iter().filter(|(_, v, _)| v["code"] == 0).count();
    assert_eq!(refused.len(), 2, "{done:?}");
    assert_eq!(served, 4, "{done:?}");
    for (_, _, kind) in &refused {
        assert_eq!(kind.as_deref(), Some("overloaded"));
    }
    let after = until(&b, "gauge back to zero", |t| {
        metric(t, "scf_bridge_requests_in_flight") == 0.0
    })
    .await;
    assert_eq!(
        metric(
            &after,
            r#"scf_bridge_requests_shed_total{reason="in_flight"}"#
        ),
        2.0
    );
    signal(&b.child, "-TERM");
    wait_for_exit(b).await;
}

#[tokio::test]
async fn sigterm_drains_connections_open_on_every_worker() {
    let b = spawn(
        &[
            ("SCF_BRIDGE__SERVER__DRAIN_DELAY_SECS", "2"),
            ("SCF_BRIDGE__SERVER__SHUTDOWN_DEADLINE_SECS", "20"),
        ],
        None,
        false,
    )
    .await;
    let addr = b.addr;
    let pinned = pin_plain(&b, 2, HELLO).await;
    // On every worker: one connection runs a long call through shutdown,
    // the other is used again during the drain delay.
    let mut long = Vec::new();
    let mut spare = Vec::new();
    for (w, mut conns) in pinned.into_iter().enumerate() {
        spare.push((w, conns.pop().unwrap()));
        let mut c = conns.pop().unwrap();
        long.push(tokio::spawn(async move {
            (w, get_on(&mut c, &sleep_query(3000)).await.0)
        }));
    }
    until(&b, "a long call in flight on every worker", |t| {
        metric(t, "scf_bridge_requests_in_flight") >= WORKERS as f64
    })
    .await;
    signal(&b.child, "-TERM");
    let started = Instant::now();
    while admin_get(b.admin, "/ready").await.map(|(s, _)| s) != Some(503) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "readiness drops"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (w, c) in spare.iter_mut() {
        let (v, _) = get_on(c, HELLO).await;
        assert_eq!(
            v["code"], 0,
            "worker {w} serves during the drain delay: {v}"
        );
    }
    for t in long {
        let (w, v) = t.await.expect("no panic");
        assert_eq!(v["code"], 0, "worker {w}'s call ran to its end: {v}");
    }
    let log = wait_for_exit(b).await;
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no worker listens after the exit"
    );
}

/// Signed `InvokeFunction` GET for `id`/`key`, with a fresh nonce.
fn signed_hello(id: &str, key: &str) -> String {
    static NONCE: AtomicU64 = AtomicU64::new(1);
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let nonce = (NONCE.fetch_add(1, Ordering::SeqCst) + 1000 * u64::from(free_port())).to_string();
    let mut pairs = vec![
        ("Action", "InvokeFunction"),
        ("functionName", "hello"),
        ("SecretId", id),
        ("Timestamp", ts.as_str()),
        ("Nonce", nonce.as_str()),
    ];
    let params = scf_bridge::legacy::decode::decode_form(support::form(&pairs).as_bytes()).unwrap();
    use scf_bridge::legacy::signature as sig;
    let s = sig::string_to_sign("GET", "scf.api.qcloud.com", sig::LEGACY_PATH, &params);
    let signature = sig::sign(key, sig::SignatureMethod::HmacSha1, &s);
    pairs.push(("Signature", &signature));
    format!("/v2/index.php?{}", support::form(&pairs))
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("scf-bridge-rt-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn a_sighup_reload_reaches_every_worker() {
    let dir = tempdir("hup");
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
    let b = spawn(&[], Some(&cfg), false).await;
    // Pinned with an unsigned call (answered with an error, but accepted).
    let mut pinned = pin_plain(&b, 1, HELLO).await;
    for (w, conns) in pinned.iter_mut().enumerate() {
        let (v, _) = get_on(&mut conns[0], &signed_hello("AKIDfirst", "first-key")).await;
        assert_eq!(v["code"], 0, "worker {w}: {v}");
        let (v, _) = get_on(&mut conns[0], &signed_hello("AKIDsecond", "second-key")).await;
        assert_eq!(v["code"], 4104, "worker {w} does not know the key yet: {v}");
    }
    write("AKIDsecond", "second-key");
    signal(&b.child, "-HUP");
    until(&b, "the reload", |t| {
        metric(
            t,
            r#"scf_bridge_reloads_total{what="config",result="success"}"#,
        ) >= 1.0
    })
    .await;
    for (w, conns) in pinned.iter_mut().enumerate() {
        let (v, _) = get_on(&mut conns[0], &signed_hello("AKIDsecond", "second-key")).await;
        assert_eq!(v["code"], 0, "worker {w} knows the new key: {v}");
        let (v, _) = get_on(&mut conns[0], &signed_hello("AKIDfirst", "first-key")).await;
        assert_eq!(v["code"], 4104, "worker {w} forgot the retired key: {v}");
    }
    signal(&b.child, "-TERM");
    wait_for_exit(b).await;
}

// ---- TLS ----

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::{CertificateDer, ServerName};

/// A private CA and a leaf for `scf.api.qcloud.com`, written (atomically
/// replacing what was there) as `tls.crt` and `tls.key` in `dir`.
fn make_pki(dir: &Path, tag: &str) -> CertificateDer<'static> {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("scf-bridge test CA {tag}"),
    );
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["scf.api.qcloud.com".into()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    std::fs::write(dir.join(".tls.crt.tmp"), leaf.pem()).unwrap();
    std::fs::write(dir.join(".tls.key.tmp"), leaf_key.serialize_pem()).unwrap();
    std::fs::rename(dir.join(".tls.key.tmp"), dir.join("tls.key")).unwrap();
    std::fs::rename(dir.join(".tls.crt.tmp"), dir.join("tls.crt")).unwrap();
    ca.der().clone()
}

/// A TLS connection trusting only `ca`, or the handshake's error.
async fn open_tls(addr: SocketAddr, ca: &CertificateDer<'static>) -> Result<Plain, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("scf.api.qcloud.com").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(sender)
}

/// TLS connections, trusting `ca`, until every worker has served one over
/// TLS. A handshake refused by the server is an error at once.
async fn tls_on_every_worker(b: &Bridge, ca: &CertificateDer<'static>) -> Result<(), String> {
    let mut seen = [false; WORKERS];
    let mut before = accepted(&metrics(b).await);
    for _ in 0..400 {
        if seen.iter().all(|s| *s) {
            return Ok(());
        }
        let mut c = open_tls(b.tls.unwrap(), ca).await?;
        let (v, _) = get_on(&mut c, HELLO).await;
        assert_eq!(v["code"], 0, "{v}");
        let after = accepted(&metrics(b).await);
        seen[worker_growth(&before, &after, "tls")] = true;
        before = after;
    }
    panic!("TLS connections never reached every worker: {before:?}");
}

#[tokio::test]
async fn tls_and_plain_are_served_on_every_worker_and_a_new_certificate_reaches_each() {
    let dir = tempdir("tls");
    let first = make_pki(&dir, "first");
    let cert = dir.join("tls.crt");
    let key = dir.join("tls.key");
    let b = spawn(
        &[
            ("SCF_BRIDGE__SERVER__TLS_CERT", cert.to_str().unwrap()),
            ("SCF_BRIDGE__SERVER__TLS_KEY", key.to_str().unwrap()),
            ("SCF_BRIDGE__AUTH__RELOAD_INTERVAL_MS", "100"),
        ],
        None,
        true,
    )
    .await;
    // Plain on every worker.
    let mut pinned = pin_plain(&b, 1, HELLO).await;
    for (w, conns) in pinned.iter_mut().enumerate() {
        assert_eq!(
            get_on(&mut conns[0], HELLO).await.0["code"],
            0,
            "worker {w}"
        );
    }
    // TLS on every worker.
    tls_on_every_worker(&b, &first)
        .await
        .expect("first certificate");
    // A replaced certificate: once the watcher has swapped it, every
    // worker's new connections present it, and none the old one.
    let second = make_pki(&dir, "second");
    until(&b, "the certificate reload", |t| {
        metric(
            t,
            r#"scf_bridge_reloads_total{what="certificate",result="success"}"#,
        ) >= 1.0
    })
    .await;
    tls_on_every_worker(&b, &second)
        .await
        .expect("the new certificate on every worker");
    for _ in 0..4 * WORKERS {
        assert!(
            open_tls(b.tls.unwrap(), &first).await.is_err(),
            "no worker presents the old certificate"
        );
    }
    signal(&b.child, "-TERM");
    wait_for_exit(b).await;
}

#[tokio::test]
async fn both_models_serve_and_reuse_their_upstream_connections() {
    // Under `multi-thread` one accept loop and one shared pool; under
    // `thread-per-core` one pool per worker, so at most one connection per
    // worker for calls made one after another.
    for (runtime, at_most) in [("multi-thread", 2.0), ("thread-per-core", WORKERS as f64)] {
        let b = spawn(&[("SCF_BRIDGE__SERVER__RUNTIME", runtime)], None, false).await;
        for _ in 0..12 {
            let mut c = open_plain(b.addr).await;
            assert_eq!(get_on(&mut c, HELLO).await.0["code"], 0, "{runtime}");
        }
        let text = metrics(&b).await;
        let calls = metric(&text, "scf_bridge_upstream_requests_total");
        let opened = metric(&text, "scf_bridge_upstream_connections_total");
        assert_eq!(calls, 12.0, "{runtime}: {text}");
        assert!(
            (1.0..=at_most).contains(&opened),
            "{runtime}: {opened} upstream connections for 12 calls"
        );
        let workers: Vec<String> = accepted(&text).into_keys().map(|(w, _)| w).collect();
        assert!(!workers.is_empty());
        for w in &workers {
            match runtime {
                "multi-thread" => assert_eq!(w, "shared"),
                _ => assert!(w.parse::<usize>().is_ok_and(|i| i < WORKERS), "{w}"),
            }
        }
        signal(&b.child, "-TERM");
        wait_for_exit(b).await;
    }
}
