//! The TLS listener: a client that trusts a private CA reaches the bridge by
//! the legacy host name, and a replaced certificate is served to new
//! connections without a restart.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::{CertificateDer, ServerName};

/// A private CA and a leaf for `scf.api.qcloud.com`, written as PEM files.
struct Pki {
    ca_der: CertificateDer<'static>,
    cert: PathBuf,
    key: PathBuf,
}

fn make_pki(dir: &Path, tag: &str) -> Pki {
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
    let leaf = CertificateParams::new(vec!["scf.api.qcloud.com".into(), "localhost".into()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let cert = dir.join("tls.crt");
    let key = dir.join("tls.key");
    // Replace atomically, as a Secret update does.
    std::fs::write(dir.join(".tls.crt.tmp"), leaf.pem()).unwrap();
    std::fs::write(dir.join(".tls.key.tmp"), leaf_key.serialize_pem()).unwrap();
    std::fs::rename(dir.join(".tls.key.tmp"), &key).unwrap();
    std::fs::rename(dir.join(".tls.crt.tmp"), &cert).unwrap();
    Pki {
        ca_der: ca.der().clone(),
        cert,
        key,
    }
}

type TlsConnection = hyper::client::conn::http1::Connection<
    TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    Full<Bytes>,
>;

/// A TLS connection to the bridge as `scf.api.qcloud.com`, trusting `ca`.
async fn connect_tls(
    addr: std::net::SocketAddr,
    ca: &CertificateDer<'static>,
) -> Result<(SendRequest<Full<Bytes>>, TlsConnection), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("scf.api.qcloud.com").unwrap();
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())
}

async fn get_over_tls(
    addr: std::net::SocketAddr,
    ca: &CertificateDer<'static>,
    path: &str,
) -> Result<serde_json::Value, String> {
    let (mut sender, conn) = connect_tls(addr, ca).await?;
    tokio::spawn(conn);
    get_on(&mut sender, path).await
}

/// One GET on an open connection.
async fn get_on(
    sender: &mut SendRequest<Full<Bytes>>,
    path: &str,
) -> Result<serde_json::Value, String> {
    let req = http::Request::get(path)
        .header("host", "scf.api.qcloud.com")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

async fn tls_bridge(pki: &Pki) -> std::net::SocketAddr {
    tls_bridge_with(pki, &[]).await
}

async fn tls_bridge_with(pki: &Pki, extra: &[(&str, &str)]) -> std::net::SocketAddr {
    let mut vars = vec![
        ("SCF_BRIDGE__SERVER__LISTEN", ""),
        ("SCF_BRIDGE__SERVER__TLS_LISTEN", "127.0.0.1:0"),
        ("SCF_BRIDGE__SERVER__TLS_CERT", pki.cert.to_str().unwrap()),
        ("SCF_BRIDGE__SERVER__TLS_KEY", pki.key.to_str().unwrap()),
        ("SCF_BRIDGE__AUTH__RELOAD_INTERVAL_MS", "100"),
    ];
    vars.extend_from_slice(extra);
    let settings = scf_bridge::config::Settings::load_with_env(None, support::env(&vars)).unwrap();
    let running = scf_bridge::app::start(settings, std::future::pending())
        .await
        .unwrap();
    assert!(running.addr.is_none(), "TLS only");
    running.tls_addr.unwrap()
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("scf-bridge-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const HELLO: &str = "/v2/index.php?Action=InvokeFunction&Region=gz&functionName=hello";

#[tokio::test]
async fn a_client_trusting_the_private_ca_invokes_over_tls() {
    let dir = tempdir("basic");
    let pki = make_pki(&dir, "one");
    let addr = tls_bridge(&pki).await;
    let v = get_over_tls(addr, &pki.ca_der, HELLO).await.unwrap();
    assert_eq!(v["code"], 0, "{v}");
    // A client that does not trust the CA is refused at the handshake.
    let other = make_pki(&tempdir("other"), "other");
    assert!(get_over_tls(addr, &other.ca_der, HELLO).await.is_err());
}

#[tokio::test]
async fn a_replaced_certificate_is_served_without_a_restart() {
    let dir = tempdir("reload");
    let first = make_pki(&dir, "first");
    let addr = tls_bridge(&first).await;
    assert_eq!(
        get_over_tls(addr, &first.ca_der, HELLO).await.unwrap()["code"],
        0
    );
    let second = make_pki(&dir, "second");
    let mut served = false;
    for _ in 0..50 {
        if get_over_tls(addr, &second.ca_der, HELLO).await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(served, "the new certificate is served");
    assert!(get_over_tls(addr, &first.ca_der, HELLO).await.is_err());
}

#[tokio::test]
async fn a_broken_replacement_keeps_the_current_certificate() {
    let dir = tempdir("broken");
    let pki = make_pki(&dir, "kept");
    let addr = tls_bridge(&pki).await;
    std::fs::write(&pki.cert, "not a certificate").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        get_over_tls(addr, &pki.ca_der, HELLO).await.unwrap()["code"],
        0
    );
}

#[tokio::test]
async fn a_kept_alive_tls_connection_outlives_the_header_timeout_until_the_idle_timeout() {
    let dir = tempdir("keepalive");
    let pki = make_pki(&dir, "keepalive");
    let addr = tls_bridge_with(
        &pki,
        &[
            ("SCF_BRIDGE__SERVER__HEADER_READ_TIMEOUT_MS", "300"),
            ("SCF_BRIDGE__SERVER__KEEPALIVE_IDLE_TIMEOUT_MS", "2000"),
        ],
    )
    .await;
    let (mut sender, conn) = connect_tls(addr, &pki.ca_der).await.unwrap();
    let conn = tokio::spawn(conn);
    assert_eq!(get_on(&mut sender, HELLO).await.unwrap()["code"], 0);
    // Idle for over three header timeouts, then the same connection serves.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(get_on(&mut sender, HELLO).await.unwrap()["code"], 0);
    // Left idle, the bridge closes it after the idle timeout: the client's
    // connection task ends (half the idle timeout leaves room for scheduling).
    let started = std::time::Instant::now();
    tokio::time::timeout(std::time::Duration::from_secs(10), conn)
        .await
        .expect("the bridge closes the idle connection in time")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(1000));
}
