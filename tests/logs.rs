//! What a person sees from the real binary: the start-up line in words,
//! `log.format = "text"` as one compact line per request without colour
//! when stderr is not a terminal, levels by who must act (INFO for caller
//! mistakes, WARN for 6200 from an unreachable upstream), `/metrics` with
//! `# HELP` for every metric and the process metrics, and a second SIGINT
//! during the drain ending the process at once; whole access lines from
//! concurrent requests on every worker. With
//! `log.access_buffer_bytes` set, access lines are held per thread and come
//! out whole: when the next line would not fit, every `log.access_flush_ms`,
//! and at shutdown (SIGTERM, or a second SIGINT) before the process exits.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

mod support;

use support::{free_port, get as get_answer, try_get as get};

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

/// The child's stderr as it arrives.
fn capture(child: &mut Child) -> std::sync::Arc<std::sync::Mutex<String>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut stderr = child.stderr.take().unwrap();
    let sink = seen.clone();
    tokio::spawn(async move {
        let mut chunk = [0u8; 8192];
        while let Ok(n @ 1..) = stderr.read(&mut chunk).await {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    seen
}

/// Complete lines of the captured stderr.
fn lines_of(seen: &std::sync::Mutex<String>) -> Vec<String> {
    let text = seen.lock().unwrap().clone();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete.lines().map(str::to_owned).collect()
}

const ACCESS_TARGET: &str = "\"target\":\"scf_bridge::access\"";

/// Waits for the process to exit after SIGTERM; the whole stderr by then.
async fn sigterm_and_wait(b: &mut Bridge, seen: &std::sync::Mutex<String>) -> Vec<String> {
    kill(&b.child, "-TERM");
    let status = tokio::time::timeout(Duration::from_secs(30), b.child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    // The pipe's last bytes reach the reader after the exit.
    let started = Instant::now();
    while !lines_of(seen)
        .iter()
        .any(|l| l.contains("scf-bridge stopped"))
    {
        assert!(started.elapsed() < Duration::from_secs(10), "no last line");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lines_of(seen)
}

fn position(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in:\n{}", lines.join("\n")))
}

/// `n` hello invocations, one after another; the request ids the bridge
/// answered with.
async fn invoke_hello(addr: SocketAddr, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let answer = get_answer(addr, HELLO).await;
        assert_eq!(answer.json()["code"], 0);
        ids.push(
            answer
                .header("x-scf-bridge-request-id")
                .expect("request id")
                .to_owned(),
        );
    }
    ids
}

#[tokio::test]
async fn a_full_buffer_is_written_whole_when_the_next_line_does_not_fit() {
    const LIMIT: usize = 4096;
    // One serving thread, so every line goes to one buffer, in order; a
    // flush interval far longer than the test, so only a full buffer (or
    // the shutdown) writes.
    let mut b = spawn(&[
        ("SCF_BRIDGE__LOG__FORMAT", "json"),
        ("SCF_BRIDGE__LOG__ACCESS_BUFFER_BYTES", "4096"),
        ("SCF_BRIDGE__LOG__ACCESS_FLUSH_MS", "600000"),
        ("SCF_BRIDGE__SERVER__WORKERS", "1"),
        ("SCF_BRIDGE__SERVER__DRAIN_DELAY_SECS", "0"),
    ])
    .await;
    let seen = capture(&mut b.child);
    // A line is written before its answer is sent: once the answers are
    // in, every batch that filled up has been written.
    let ids = invoke_hello(b.addr, 12).await;
    let lines = sigterm_and_wait(&mut b, &seen).await;
    let signal = position(&lines, "shutting down");
    let access: Vec<(usize, &String)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains(ACCESS_TARGET))
        .collect();
    let logged: Vec<String> = access
        .iter()
        .map(|(_, l)| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            v["request_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(logged, ids, "every line, whole, in order");
    // With '\n', the bytes each line takes in a buffer.
    let sizes: Vec<usize> = access.iter().map(|(_, l)| l.len() + 1).collect();
    assert!(
        sizes.iter().sum::<usize>() > LIMIT,
        "the test needs more than one buffer of lines: {sizes:?}"
    );
    // nginx's rule, applied to the sizes: the buffer is written when the
    // next line would take it past the limit.
    let mut expected_before_signal = 0;
    let mut held = 0;
    for (i, size) in sizes.iter().enumerate() {
        if held + size > LIMIT {
            expected_before_signal = i;
            held = 0;
        }
        held += size;
    }
    let before_signal = access.iter().filter(|(i, _)| *i < signal).count();
    assert!(expected_before_signal > 0);
    assert_eq!(
        before_signal, expected_before_signal,
        "lines written before SIGTERM (sizes {sizes:?})"
    );
    let complete = position(&lines, "shutdown complete");
    assert!(
        access.iter().all(|(i, _)| *i < complete),
        "the rest is written at the end of the drain"
    );
}

#[tokio::test]
async fn buffered_text_lines_come_out_within_the_flush_interval() {
    let mut b = spawn(&[
        ("SCF_BRIDGE__LOG__FORMAT", "text"),
        ("SCF_BRIDGE__LOG__ACCESS_BUFFER_BYTES", "65536"),
        ("SCF_BRIDGE__LOG__ACCESS_FLUSH_MS", "200"),
        ("SCF_BRIDGE__SERVER__DRAIN_DELAY_SECS", "0"),
    ])
    .await;
    let seen = capture(&mut b.child);
    let ids = invoke_hello(b.addr, 5).await;
    // Far below the buffer's size: only the flusher writes them.
    let started = Instant::now();
    let hello = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.contains(" InvokeFunction hello code=0 "))
            .cloned()
            .collect()
    };
    while hello(&lines_of(&seen)).len() < ids.len() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not flushed:\n{}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lines = sigterm_and_wait(&mut b, &seen).await;
    let signal = position(&lines, "shutting down");
    let flushed = hello(&lines[..signal]);
    assert_eq!(flushed.len(), ids.len(), "written before SIGTERM");
    let mut logged: Vec<String> = flushed
        .iter()
        .map(|l| {
            // `<time>  INFO <request id> InvokeFunction hello code=0 total=…`
            let words: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(words[1], "INFO", "{l}");
            assert!(words.iter().any(|w| w.starts_with("total=")), "{l}");
            words[2].to_owned()
        })
        .collect();
    let mut ids = ids;
    logged.sort();
    ids.sort();
    assert_eq!(logged, ids, "each line whole, once");
    assert_eq!(hello(&lines).len(), ids.len(), "nothing written twice");
}

#[tokio::test]
async fn sigterm_writes_every_buffered_line_before_the_process_exits() {
    let mut b = spawn(&[
        ("SCF_BRIDGE__LOG__FORMAT", "json"),
        ("SCF_BRIDGE__LOG__ACCESS_BUFFER_BYTES", "65536"),
        ("SCF_BRIDGE__LOG__ACCESS_FLUSH_MS", "600000"),
        // The serving threads outlive the drain here (they are the main
        // runtime's): the lines come from the flush at the drain's end.
        ("SCF_BRIDGE__SERVER__RUNTIME", "multi-thread"),
        ("SCF_BRIDGE__SERVER__WORKERS", "2"),
        ("SCF_BRIDGE__SERVER__DRAIN_DELAY_SECS", "0"),
    ])
    .await;
    let seen = capture(&mut b.child);
    // Concurrent connections: lines in both workers' buffers.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        tasks.push(tokio::spawn(invoke_hello(b.addr, 3)));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    let lines = sigterm_and_wait(&mut b, &seen).await;
    let signal = position(&lines, "shutting down");
    assert!(
        !lines[..signal].iter().any(|l| l.contains(ACCESS_TARGET)),
        "nothing written before SIGTERM:\n{}",
        lines.join("\n")
    );
    let mut logged: Vec<String> = lines
        .iter()
        .filter(|l| l.contains(ACCESS_TARGET))
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(v["code"], 0, "{l}");
            v["request_id"].as_str().unwrap().to_owned()
        })
        .collect();
    logged.sort();
    ids.sort();
    assert_eq!(logged, ids, "every line, once, whole");
    let complete = position(&lines, "shutdown complete");
    assert!(
        !lines[complete..].iter().any(|l| l.contains(ACCESS_TARGET)),
        "written before the drain's last line:\n{}",
        lines.join("\n")
    );
}

#[tokio::test]
async fn a_second_sigint_still_writes_the_buffered_lines() {
    let mut b = spawn(&[
        ("SCF_BRIDGE__LOG__FORMAT", "json"),
        ("SCF_BRIDGE__LOG__ACCESS_BUFFER_BYTES", "65536"),
        ("SCF_BRIDGE__LOG__ACCESS_FLUSH_MS", "600000"),
        ("SCF_BRIDGE__SERVER__DRAIN_DELAY_SECS", "60"),
    ])
    .await;
    let ids = invoke_hello(b.addr, 3).await;
    kill(&b.child, "-INT");
    let started = Instant::now();
    while get(b.admin, "/ready").await.map(|(s, _)| s) != Some(503) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never draining"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill(&b.child, "-INT");
    let status = tokio::time::timeout(Duration::from_secs(15), b.child.wait())
        .await
        .expect("the second SIGINT ends the process")
        .unwrap();
    assert_eq!(status.code(), Some(130));
    let log = read_log(&mut b.child).await;
    for id in &ids {
        let line = log
            .lines()
            .find(|l| l.contains(id) && l.contains(ACCESS_TARGET))
            .unwrap_or_else(|| panic!("no line for {id}:\n{log}"));
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
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
