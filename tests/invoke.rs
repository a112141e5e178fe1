//! `scf-bridge invoke` against the real `scf-bridge serve` with signature
//! verification on (embedded SCF emulator upstream): GET and POST, HmacSHA1
//! and HmacSHA256, a wrong key → non-zero exit with the 4100 answer printed,
//! other actions passed through, the exit status following `code`, and the
//! default endpoint `https://scf.api.qcloud.com` over verified TLS
//! (`--ca-file`, `--connect-to`).

use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_scf-bridge");
const ID: &str = "AKIDinvokeTestCaller00000000000001";
const KEY: &str = "invokeTestCallerKey000000000000001";

mod support;

use support::free_port;

struct Bridge {
    child: std::process::Child,
    addr: SocketAddr,
    dir: std::path::PathBuf,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_verifying_bridge(tag: &str) -> Bridge {
    start_bridge_with(tag, "")
}

/// A verifying bridge; `server_extra` is added to its `[server]` table.
fn start_bridge_with(tag: &str, server_extra: &str) -> Bridge {
    let dir = std::env::temp_dir().join(format!("scf-invoke-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = dir.join("bridge.toml");
    let server_extra = server_extra.replace("{dir}", dir.to_str().unwrap());
    if !server_extra.is_empty() {
        write_pki(&dir);
    }
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"{addr}\"\ndrain_delay_secs = 0\n{server_extra}\n[admin]\nlisten = \"\"\n\
             [auth]\nmode = \"verify\"\n[[auth.clients]]\nsecret_id = \"{ID}\"\n\
             secret_key = \"{KEY}\"\nupstream = \"bridge\"\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("key"), format!("{KEY}\n")).unwrap();
    std::fs::write(dir.join("wrong-key"), "not-the-key\n").unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "bridge never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Bridge { child, addr, dir }
}

/// A private CA (`ca.pem`) and a leaf for scf.api.qcloud.com (`tls.crt`, `tls.key`).
fn write_pki(dir: &std::path::Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "scf-bridge invoke test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["scf.api.qcloud.com".into()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("tls.crt"), leaf.pem()).unwrap();
    std::fs::write(dir.join("tls.key"), leaf_key.serialize_pem()).unwrap();
}

fn invoke(b: &Bridge, key_file: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("invoke")
        .arg("--endpoint")
        .arg(format!("http://{}", b.addr))
        .arg("--secret-id")
        .arg(ID)
        .arg("--secret-key-file")
        .arg(b.dir.join(key_file))
        .args(args)
        .env_clear()
        .output()
        .unwrap()
}

fn answer(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: stdout {text:?}"))
}

#[test]
fn invoke_signs_as_the_legacy_sdks_do_get_post_sha1_sha256() {
    let b = start_verifying_bridge("ok");
    for method in ["GET", "POST"] {
        for sm in ["HmacSHA1", "HmacSHA256"] {
            let out = invoke(
                &b,
                "key",
                &[
                    "--method",
                    method,
                    "--signature-method",
                    sm,
                    "--region",
                    "sh",
                    "hello",
                    r#"{"name":"云 x&y=z"}"#,
                    "--tail",
                ],
            );
            let doc = answer(&out);
            assert_eq!(doc["code"], 0, "{method} {sm}: {doc}");
            assert!(out.status.success(), "{method} {sm}");
            let ret = doc["data"]["retMsg"].as_str().unwrap();
            assert!(ret.contains("云 x&y=z"), "{ret}");
            // Pretty by default: more than one line.
            assert!(String::from_utf8_lossy(&out.stdout).lines().count() > 3);
        }
    }
}

#[test]
fn a_wrong_key_exits_non_zero_and_prints_the_4100_answer() {
    let b = start_verifying_bridge("wrong");
    for method in ["GET", "POST"] {
        let out = invoke(&b, "wrong-key", &["--method", method, "hello"]);
        assert!(!out.status.success());
        assert_eq!(out.status.code(), Some(1));
        let doc = answer(&out);
        assert_eq!(doc["code"], 4100, "{doc}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("4100"));
    }
}

#[test]
fn raw_prints_the_bytes_and_errors_follow_the_code() {
    let b = start_verifying_bridge("raw");
    let out = invoke(&b, "key", &["--raw", "echo", r#"{"a": 1}"#]);
    assert!(out.status.success());
    let body = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(body.lines().count(), 1, "compact, as sent: {body}");
    assert!(body.starts_with("{\"code\":0"), "{body}");
    // A function that does not exist: a legacy error code, exit 1.
    let out = invoke(&b, "key", &["no-such-function"]);
    assert_eq!(out.status.code(), Some(1));
    assert_ne!(answer(&out)["code"], 0);
    // Another action is passed through with its key=value parameters; the
    // bridge answers its own legacy error for an action it does not serve.
    let out = invoke(&b, "key", &["--action", "ListFunctions", "Limit=5"]);
    let doc = answer(&out);
    assert_ne!(doc["code"], 4100, "signed correctly: {doc}");
    assert_eq!(
        out.status.code(),
        Some(if doc["code"] == 0 { 0 } else { 1 })
    );
}

#[test]
fn usage_errors_exit_2_and_never_print_the_key() {
    let b = start_verifying_bridge("usage");
    let out = invoke(&b, "key", &["hello", "{not json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PARAM_JSON"));
    let out = Command::new(BIN)
        .args(["invoke", "--endpoint", "http://127.0.0.1:1", "hello"])
        .env_clear()
        .env("TENCENTCLOUD_SECRET_ID", ID)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SecretKey"));
    // Nothing listens: a failed exchange is exit 1, and says so.
    let out = Command::new(BIN)
        .args(["invoke", "--endpoint", "http://127.0.0.1:1", "hello"])
        .env_clear()
        .env("TENCENTCLOUD_SECRET_ID", ID)
        .env("TENCENTCLOUD_SECRET_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("request failed"), "{err}");
    assert!(!err.contains(KEY));
}

#[test]
fn the_default_endpoint_over_verified_tls_with_ca_file_and_connect_to() {
    let tls: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let b = start_bridge_with(
        "tls",
        &format!(
            "tls_listen = \"{tls}\"\ntls_cert = \"{{dir}}/tls.crt\"\ntls_key = \"{{dir}}/tls.key\""
        ),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(tls).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no TLS listener"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = |ca: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(["invoke", "--connect-to", &tls.to_string()])
            .args(["--secret-id", ID, "--secret-key-file"])
            .arg(b.dir.join("key"))
            .args(["--method", "GET", "hello"])
            .env_clear();
        if let Some(ca) = ca {
            cmd.arg("--ca-file").arg(b.dir.join(ca));
        }
        cmd.output().unwrap()
    };
    // Signed over scf.api.qcloud.com, the name the certificate carries.
    let out = run(Some("ca.pem"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(answer(&out)["code"], 0);
    // Without the CA the certificate is not trusted: no answer, exit 1.
    let out = run(None);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("certificate"), "{err}");
}
