//! Hardening checks that need the real `scf-bridge` binary: peak memory
//! for a hostile body (read from /proc), running out of file descriptors,
//! `check-config`, and what SIGHUP says it cannot apply.

mod support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_scf-bridge");

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
}

/// Starts the binary through `sh -c "<prefix> exec scf-bridge serve"` (so a
/// test can set `ulimit`), with `env`, and waits for it to answer.
async fn spawn(prefix: &str, env: &[(&str, &str)], config: Option<&std::path::Path>) -> Bridge {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut script = format!("{prefix} exec \"$0\" serve");
    if config.is_some() {
        script.push_str(" --config \"$1\"");
    }
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).arg(BIN);
    if let Some(c) = config {
        cmd.arg(c);
    }
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SCF_BRIDGE__SERVER__LISTEN", addr.to_string())
        .env("SCF_BRIDGE__ADMIN__LISTEN", "")
        .env("SCF_BRIDGE__LOG__FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn scf-bridge");
    let started = Instant::now();
    while TcpStream::connect(addr).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never listened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Bridge { child, addr }
}

/// A /proc/<pid>/status value in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in status"));
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

async fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn post_bytes(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST /v2/index.php HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn code(http: &str) -> i64 {
    let body = &http[http.find("\r\n\r\n").map_or(0, |i| i + 4)..];
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {http:.300}"));
    v["code"].as_i64().unwrap()
}

async fn stop_and_read_log(mut b: Bridge) -> String {
    let _ = b.child.start_kill();
    let mut log = String::new();
    if let Some(mut err) = b.child.stderr.take() {
        let _ = tokio::time::timeout(Duration::from_secs(10), err.read_to_string(&mut log)).await;
    }
    let _ = b.child.wait().await;
    log
}

#[tokio::test]
async fn peak_memory_for_hostile_20_mib_posts_stays_a_small_multiple_of_the_body() {
    let dir = support::fresh_dir("rss-clients");
    std::fs::write(dir.join("AKIDrss"), "rss-key").unwrap();
    let dir_s = dir.display().to_string();
    let b = spawn(
        "",
        &[
            ("SCF_BRIDGE__AUTH__MODE", "verify"),
            ("SCF_BRIDGE__AUTH__CLIENTS_DIR", &dir_s),
        ],
        None,
    )
    .await;
    let pid = b.child.id().expect("pid");
    let body_len = 20 << 20;
    let before = status_bytes(pid, "VmRSS");
    // `a&` twenty MiB long; twenty MiB of distinct keys; one 20 MiB value
    // with a known SecretId and a wrong signature (decoded and hashed).
    let many = "a&".repeat(body_len / 2);
    let mut distinct = String::with_capacity(body_len);
    let mut i = 0u64;
    while distinct.len() < body_len {
        distinct.push_str(&format!("k{i}=&"));
        i += 1;
    }
    let value = format!(
        "Action=InvokeFunction&functionName=f&SecretId=AKIDrss&Timestamp={}&Nonce=1\
         &Signature=AAAAAAAAAAAAAAAAAAAAAAAAAAA%3D&param={}",
        support::unix_now(),
        "v".repeat(body_len - 200)
    );
    let mut seen = Vec::new();
    for body in [&many, &distinct, &value] {
        let text = exchange(b.addr, &post_bytes(body.as_bytes())).await;
        seen.push(code(&text));
    }
    let peak = status_bytes(pid, "VmHWM");
    let growth = peak.saturating_sub(before);
    eprintln!(
        "RSS before {:.1} MiB, peak {:.1} MiB (+{:.1} MiB) for three 20 MiB hostile POSTs",
        before as f64 / 1048576.0,
        peak as f64 / 1048576.0,
        growth as f64 / 1048576.0
    );
    assert_eq!(seen, [4000, 4000, 4100]);
    // The body, its decoded copy, and room for the allocator and hyper's
    // buffers: at most four times the body, against ~17x before the cap.
    assert!(
        growth <= 4 * body_len as u64,
        "peak RSS grew {growth} bytes for a {body_len}-byte body"
    );
    drop(b);
}

#[tokio::test]
async fn out_of_descriptors_is_logged_once_per_episode_and_service_resumes() {
    let b = spawn(
        "ulimit -n 64 &&",
        &[("SCF_BRIDGE__SERVER__HEADER_READ_TIMEOUT_MS", "60000")],
        None,
    )
    .await;
    let addr = b.addr;
    // More idle connections than the process has descriptors.
    let mut hogs = Vec::new();
    for _ in 0..100 {
        if let Ok(s) = TcpStream::connect(addr).await {
            hogs.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(hogs);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let q = "Action=InvokeFunction&functionName=hello";
    let text = exchange(
        addr,
        format!("GET /v2/index.php?{q} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(code(&text), 0, "{text:.300}");
    let log = stop_and_read_log(b).await;
    let failed = log.matches("accept failed").count();
    assert_eq!(failed, 1, "one line for the episode, got {failed}:\n{log}");
    assert!(log.contains("accepting connections again"), "{log}");
}

#[tokio::test]
async fn check_config_prints_the_effective_mode_and_checks_the_clients_dir() {
    let run = |env: Vec<(&str, String)>| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.arg("check-config").env_clear();
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("runs")
    };
    let out = run(vec![]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("effective auth.mode = \"none\""),
        "{stdout}"
    );
    let dir = support::fresh_dir("check-clients");
    std::fs::write(dir.join("AKIDok"), "k").unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", dir.join("AKIDbad")).unwrap();
    let out = run(vec![
        ("SCF_BRIDGE__SERVER__LISTEN", "0.0.0.0:8080".into()),
        ("SCF_BRIDGE__AUTH__CLIENTS_DIR", dir.display().to_string()),
        // Off loopback the embedded emulator is refused on its own.
        (
            "SCF_BRIDGE__UPSTREAM__ENDPOINT",
            "https://scf.tencentcloudapi.com".into(),
        ),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("effective auth.mode = \"verify\""),
        "{stdout}"
    );
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("AKIDbad"), "{stderr}");
}

#[tokio::test]
async fn a_config_syntax_error_does_not_print_the_secret_on_that_line() {
    let dir = support::fresh_dir("syntax");
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        "[credentials]\nsecret_id = \"AKIDx\"\nsecret_key = \"TOPSECRETKEYVALUE\" oops\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .env_clear()
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(!stderr.contains("TOPSECRETKEYVALUE"), "{stderr}");
}

#[tokio::test]
async fn sighup_reports_the_settings_it_cannot_apply() {
    let dir = support::fresh_dir("hup");
    let clients = dir.join("clients");
    std::fs::create_dir(&clients).unwrap();
    std::fs::write(clients.join("AKIDhup"), "k").unwrap();
    let path = dir.join("c.toml");
    let config = |mode: &str| {
        format!(
            "[auth]\nmode = \"{mode}\"\nclients_dir = \"{}\"\n",
            clients.display()
        )
    };
    std::fs::write(&path, config("verify")).unwrap();
    let b = spawn("", &[], Some(&path)).await;
    std::fs::write(&path, config("none")).unwrap();
    let pid = b.child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    // Still verifying: an unsigned request is refused.
    let text = exchange(
        b.addr,
        b"GET /v2/index.php?Action=InvokeFunction&functionName=f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(code(&text), 4100, "{text:.300}");
    let log = stop_and_read_log(b).await;
    let line = log
        .lines()
        .find(|l| l.contains("need a restart"))
        .unwrap_or_else(|| panic!("no report:\n{log}"));
    assert!(line.contains("auth.mode"), "{line}");
}
