//! What a person sees from the real binary: the start-up line in words,
//! `log.format = "text"` as one compact line per request without colour
//! when stderr is not a terminal, levels by who must act (INFO for caller
//! mistakes, WARN for 6200 from an unreachable upstream), `/metrics` with
//! `# HELP` for every metric and the process metrics, and a second SIGINT
//! during the drain ending the process at once, and whole access lines
//! from concurrent requests on every worker.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

mod support;

use support::{free_port, try_get as get};

const BIN: &str = env!("CARGO_BIN_EXE_scf-bridge");

struct Bridge {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
}

async fn spawn(env: &[(&str, &str)]) -> Bridge {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .env_clear()
        .env("SCF_BRIDGE__SERVER__LISTEN", addr.to_string())
        .env("SCF_BRIDGE__ADMIN__LISTEN", admin.to_string())
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().expect("spawn scf-bridge");
    let started = Instant::now();
    while get(admin, "/ready").await.map(|(s, _)| s) != Some(200) {
        assert!(started.elapsed() < Duration::from_secs(20), "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Bridge { child, addr, admin }
}

fn kill(child: &Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    assert!(std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap()
        .success());
}

async fn stop_and_read_log(mut b: Bridge) -> String {
    kill(&b.child, "-TERM");
    tokio::time::timeout(Duration::from_secs(30), b.child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    read_log(&mut b.child).await
}

async fn read_log(child: &mut Child) -> String {
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .await
        .unwrap();
    log
}

const HELLO: &str = "/v2/index.php?Action=InvokeFunction&Region=gz&functionName=hello";

#[tokio::test]
async fn text_logs_are_one_compact_line_per_request_without_colour() {
    let b = spawn(&[
        ("SCF_BRIDGE__LOG__FORMAT", "text"),
        ("SCF_BRIDGE__SERVER__DRAIN_DELAY_SECS", "0"),
    ])
    .await;
    let (status, body) = get(b.addr, HELLO).await.unwrap();
    assert_eq!(status, 200, "{body}");
    // A caller mistake: no functionName.
    get(b.addr, "/v2/index.php?Action=InvokeFunction&Region=gz")
        .await
        .unwrap();
    let log = stop_and_read_log(b).await;
    assert!(
        !log.contains('\u{1b}'),
        "no ANSI colour off a terminal:\n{log}"
    );
    let ready = log
        .lines()
        .find(|l| l.contains("scf-bridge ready: "))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(ready.contains("listening on http://127.0.0.1:"), "{ready}");
    assert!(
        ready.contains("calls forwarded to the embedded SCF emulator at http://127.0.0.1:"),
        "{ready}"
    );
    assert!(ready.contains("legacy signatures NOT verified"), "{ready}");
    assert!(ready.contains("no replay memory"), "{ready}");
    let ok = log
        .lines()
        .find(|l| l.contains(" InvokeFunction hello code=0 "))
        .unwrap_or_else(|| panic!("{log}"));
    // `2026-…T…Z  INFO <uuid> InvokeFunction hello code=0 total=1.2ms upstream=0.9ms`
    let words: Vec<&str> = ok.split_whitespace().collect();
    assert!(words[0].ends_with('Z') && words[0].len() == 24, "{ok}");
    assert_eq!(words[1], "INFO", "{ok}");
    assert_eq!(words[2].len(), 36, "the bridge request id: {ok}");
    let total = words.iter().find(|w| w.starts_with("total=")).unwrap();
    let ms = total.trim_start_matches("total=").trim_end_matches("ms");
    assert_eq!(ms.split('.').nth(1).map(str::len), Some(1), "0.1 ms: {ok}");
    assert!(words.iter().any(|w| w.starts_with("upstream=")), "{ok}");
    assert!(
        !ok.contains("=\"\"") && !ok.contains("  InvokeFunction"),
        "{ok}"
    );
    let mistake = log
        .lines()
        .find(|l| l.contains(" code=4000 "))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        mistake.contains(" INFO "),
        "caller mistakes at INFO: {mistake}"
    );
    assert!(
        !mistake.contains("upstream="),
        "no empty upstream time: {mistake}"
    );
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_warning_and_metrics_have_help() {
    let b = spawn(&[
        ("SCF_BRIDGE__LOG__FORMAT", "json"),
        ("SCF_BRIDGE__SERVER__DRAIN_DELAY_SECS", "0"),
        ("SCF_BRIDGE__UPSTREAM__ENDPOINT", "http://127.0.0.1:1"),
        ("SCF_BRIDGE__UPSTREAM__CONNECT_RETRIES", "0"),
        (
            "TENCENTCLOUD_SECRET_ID",
            "AKIDlogsTest000000000000000000001",
        ),
        ("TENCENTCLOUD_SECRET_KEY", "logsTestKey"),
    ])
    .await;
    let (_, body) = get(b.addr, HELLO).await.unwrap();
    assert!(body.contains("6200"), "{body}");
    let (status, metrics) = get(b.admin, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    let types: Vec<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(types.len() >= 8, "{metrics}");
    for name in &types {
        assert!(
            metrics.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
    }
    for name in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(types.contains(&name), "{name}:\n{metrics}");
    }
    let log = stop_and_read_log(b).await;
    let line = log
        .lines()
        .find(|l| l.contains("\"target\":\"scf_bridge::access\""))
        .unwrap_or_else(|| panic!("{log}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["code"], 6200, "{line}");
    assert_eq!(v["level"], "WARN", "{line}");
}

#[tokio::test]
async fn a_second_sigint_during_the_drain_exits_at_once() {
    let mut b = spawn(&[
        ("SCF_BRIDGE__LOG__FORMAT", "json"),
        // Without the second SIGINT the process would stay a minute.
        ("SCF_BRIDGE__SERVER__DRAIN_DELAY_SECS", "60"),
    ])
    .await;
    kill(&b.child, "-INT");
    let started = Instant::now();
    while get(b.admin, "/ready").await.map(|(s, _)| s) != Some(503) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never draining"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        b.child.try_wait().unwrap().is_none(),
        "the first SIGINT drains"
    );
    kill(&b.child, "-INT");
    let status = tokio::time::timeout(Duration::from_secs(15), b.child.wait())
        .await
        .expect("the second SIGINT ends the process long before the 60 s drain")
        .unwrap();
    assert_eq!(status.code(), Some(130));
    let log = read_log(&mut b.child).await;
    assert!(log.contains("second interrupt"), "{log}");
}

#[tokio::test]
async fn access_lines_of_concurrent_requests_on_every_worker_stay_whole() {
    let mut b = spawn(&[
        ("SCF_BRIDGE__LOG__FORMAT", "json"),
        ("SCF_BRIDGE__SERVER__WORKERS", "2"),
        ("SCF_BRIDGE__SERVER__DRAIN_DELAY_SECS", "0"),
    ])
    .await;
    // Read stderr while the load runs: a full pipe would stall the bridge.
    let mut stderr = b.child.stderr.take().unwrap();
    let reader = tokio::spawn(async move {
        let mut log = String::new();
        stderr.read_to_string(&mut log).await.unwrap();
        log
    });
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let addr = b.addr;
            tokio::spawn(async move {
                for _ in 0..50 {
                    let (status, _) = get(addr, HELLO).await.unwrap();
                    assert_eq!(status, 200);
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    kill(&b.child, "-TERM");
    tokio::time::timeout(Duration::from_secs(30), b.child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    let log = reader.await.unwrap();
    let mut ids = std::collections::HashSet::new();
    for line in log.lines().filter(|l| l.contains("scf_bridge::access")) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{e}: a line cut or mixed: {line}"));
        assert_eq!(v["code"], 0, "{line}");
        assert!(ids.insert(v["request_id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(ids.len(), 400, "one whole line per request");
}
