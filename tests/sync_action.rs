//! `upstream.sync_action` and throttle retries end to end: the bridge in
//! process, the emulator as its 3.0 endpoint with `InvokeFunction`
//! unsupported in one region and `Invoke` limited, legacy calls over real
//! sockets.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use scf_bridge::emulator::{self, EmulatorConfig};

const ID: &str = "AKIDsyncAction";
const KEY: &str = "sync-action-key";

async fn emulator(invoke_per_second: u32) -> SocketAddr {
    let config = EmulatorConfig {
        invoke_function_unsupported_regions: vec!["ap-beijing".into()],
        rate_limits: HashMap::from([("Invoke".to_owned(), invoke_per_second)]),
        ..EmulatorConfig::with_key(ID, KEY)
    };
    emulator::spawn_ephemeral(Arc::new(config))
        .await
        .expect("bind")
}

async fn bridge(upstream: SocketAddr, extra: &[(&str, &str)]) -> SocketAddr {
    let endpoint = format!("http://{upstream}");
    let mut env = vec![
        ("SCF_BRIDGE__UPSTREAM__ENDPOINT", endpoint.as_str()),
        ("TENCENTCLOUD_SECRET_ID", ID),
        ("TENCENTCLOUD_SECRET_KEY", KEY),
    ];
    env.extend_from_slice(extra);
    support::start_bridge(&env).await
}

async fn echo(addr: SocketAddr, region: &str) -> serde_json::Value {
    let q = support::form(&[
        ("Action", "InvokeFunction"),
        ("functionName", "echo"),
        ("param", r#"{"k":"v"}"#),
        ("Region", region),
    ]);
    support::get(addr, &format!("/v2/index.php?{q}"))
        .await
        .json()
}

/// `n` calls started together, their answers.
async fn at_once(addr: SocketAddr, n: usize) -> Vec<serde_json::Value> {
    let calls: Vec<_> = (0..n)
        .map(|_| tokio::spawn(echo(addr, "ap-guangzhou")))
        .collect();
    let mut answers = Vec::with_capacity(n);
    for c in calls {
        answers.push(c.await.expect("call"));
    }
    answers
}

fn counter(prefix: &str) -> f64 {
    scf_bridge::metrics::handle()
        .render()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn auto_falls_back_to_invoke_where_invoke_function_is_unsupported() {
    let up = emulator(0).await;
    let addr = bridge(up, &[]).await;
    let before = counter(
        r#"scf_bridge_invoke_function_fallbacks_total{code="UnsupportedOperation.Region"}"#,
    );
    for region in ["ap-beijing", "ap-beijing", "ap-guangzhou"] {
        let v = echo(addr, region).await;
        assert_eq!(v["code"], 0, "{region}: {v}");
        assert_eq!(v["data"]["retMsg"], r#"{"k":"v"}"#, "{v}");
        assert_eq!(v["data"]["invokeResult"], 0, "{v}");
    }
    // Refused once, remembered for the second call.
    let after = counter(
        r#"scf_bridge_invoke_function_fallbacks_total{code="UnsupportedOperation.Region"}"#,
    );
    assert_eq!(after - before, 1.0);
}

#[tokio::test]
async fn invoke_function_mode_hands_the_refusal_back() {
    let up = emulator(0).await;
    let addr = bridge(
        up,
        &[("SCF_BRIDGE__UPSTREAM__SYNC_ACTION", "invoke-function")],
    )
    .await;
    let v = echo(addr, "ap-beijing").await;
    assert_eq!(v["codeDesc"], "UnsupportedOperation.Region", "{v}");
    assert_eq!(echo(addr, "ap-guangzhou").await["code"], 0);
}

#[tokio::test]
async fn a_burst_above_invokes_limit_is_absorbed_by_retries() {
    // Invoke at 2/s: of three calls at once, one waits for a token.
    let up = emulator(2).await;
    let addr = bridge(
        up,
        &[
            ("SCF_BRIDGE__UPSTREAM__SYNC_ACTION", "invoke"),
            ("SCF_BRIDGE__UPSTREAM__THROTTLE_RETRY_BUDGET_MS", "10000"),
        ],
    )
    .await;
    let before = counter("scf_bridge_throttle_retries_total{");
    for v in at_once(addr, 3).await {
        assert_eq!(v["code"], 0, "{v}");
    }
    assert!(counter("scf_bridge_throttle_retries_total{") > before);
}

#[tokio::test]
async fn without_a_budget_the_throttling_is_4400_at_once() {
    let up = emulator(1).await;
    let addr = bridge(
        up,
        &[
            ("SCF_BRIDGE__UPSTREAM__SYNC_ACTION", "invoke"),
            ("SCF_BRIDGE__UPSTREAM__THROTTLE_RETRY_BUDGET_MS", "0"),
        ],
    )
    .await;
    let answers = at_once(addr, 4).await;
    let refused: Vec<_> = answers.iter().filter(|v| v["code"] == 4400).collect();
    assert!(!refused.is_empty(), "{answers:?}");
    for v in refused {
        assert_eq!(v["codeDesc"], "RequestLimitExceeded", "{v}");
        assert!(
            v["message"].as_str().unwrap().contains("tried 1 time over"),
            "{v}"
        );
    }
}
