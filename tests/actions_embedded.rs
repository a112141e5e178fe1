//! The management actions through the real `scf-bridge` binary and its
//! embedded SCF 3.0 emulator, over real sockets: every action, and every
//! multi-call path (create then wait, configuration then code, set then
//! update, rename) including the ones that fail halfway.

mod support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::process::{Child, Command};

use support::{form, free_port, get, post_form};

const BIN: &str = env!("CARGO_BIN_EXE_scf-bridge");

/// A tiny zip (an empty archive's end record), as base64.
const ZIP: &str = "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==";
const SUCCESS: &str = r#"{"code":0,"message":"","codeDesc":"Success"}"#;

struct Bridge {
    _child: Child,
    addr: SocketAddr,
}

/// `scf-bridge serve` with the embedded emulator, waiting for functions
/// every 50 ms for up to `timeout_ms`.
async fn spawn(timeout_ms: &str) -> Bridge {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("SCF_BRIDGE__SERVER__LISTEN", addr.to_string())
        .env(
            "SCF_BRIDGE__ADMIN__LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .env("SCF_BRIDGE__UPSTREAM__FUNCTION_READY_POLL_MS", "50")
        .env(
            "SCF_BRIDGE__UPSTREAM__FUNCTION_READY_TIMEOUT_MS",
            timeout_ms,
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn scf-bridge");
    let started = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "bridge never listened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Bridge {
        _child: child,
        addr,
    }
}

fn legacy(action: &str, params: &[(&str, &str)]) -> String {
    let mut p = vec![
        ("Action", action),
        ("Region", "gz"),
        ("Timestamp", "1465185768"),
        ("Nonce", "1"),
        ("SecretId", "AKIDlegacycaller"),
        ("Signature", "unchecked-on-loopback"),
    ];
    p.extend_from_slice(params);
    form(&p)
}

impl Bridge {
    async fn get(&self, action: &str, params: &[(&str, &str)]) -> Value {
        let q = legacy(action, params);
        get(self.addr, &format!("/v2/index.php?{q}")).await.json()
    }

    async fn post(&self, action: &str, params: &[(&str, &str)]) -> Value {
        post_form(self.addr, &legacy(action, params)).await.json()
    }
}

fn success() -> Value {
    serde_json::from_str(SUCCESS).unwrap()
}

fn code_desc(v: &Value) -> (i64, &str) {
    (v["code"].as_i64().unwrap(), v["codeDesc"].as_str().unwrap())
}

#[tokio::test]
async fn every_action_through_the_binary() {
    let b = spawn("20000").await;
    let f = "actionsEmbedded";
    let code = format!("@{ZIP}");
    let created = b
        .post(
            "CreateFunction",
            &[
                ("functionName", f),
                ("handler", "index.main"),
                ("runtime", "Python3.6"),
                ("memorySize", "128"),
                ("environment.variables.0.key", "A"),
                ("environment.variables.0.value", "1"),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(created, success());
    // No wait on the caller's side: the answer came once the function was Active.
    let got = b
        .get("GetFunction", &[("functionName", f), ("code", "1")])
        .await;
    assert_eq!(got["code"], 0, "{got}");
    assert_eq!(got["data"]["version"], "LATEST");
    assert_eq!(got["data"]["handler"], "index.main");
    assert!(
        got["data"].get("code").is_some(),
        "code=1 adds the code fields"
    );

    let again = b
        .post("CreateFunction", &[("functionName", f), ("code", &code)])
        .await;
    assert_eq!(code_desc(&again), (4000, "ResourceInUse.Function"));

    let list = b.get("ListFunctions", &[("searchKey", f)]).await;
    assert_eq!(list["data"]["total"], 1, "{list}");

    // Configuration only, code only, both.
    for params in [
        vec![("timeout", "9")],
        vec![("handler", "index.other")],
        vec![("memorySize", "256"), ("code", code.as_str())],
    ] {
        let mut p = vec![("functionName", f)];
        p.extend(params);
        assert_eq!(b.post("UpdateFunction", &p).await, success(), "{p:?}");
    }
    let got = b.get("GetFunction", &[("functionName", f)]).await;
    assert_eq!(
        (
            &got["data"]["timeout"],
            &got["data"]["memorySize"],
            &got["data"]["handler"]
        ),
        (&json!(9), &json!(256), &json!("index.other"))
    );

    // A timer: set, set again (updated), renamed keeping its schedule, deleted.
    let timer = [
        ("functionName", f),
        ("type", "timer"),
        ("triggerName", "t1"),
    ];
    for cron in ["*/5 * * * *", "*/6 * * * *"] {
        let mut p = timer.to_vec();
        p.push(("triggerDesc", cron));
        assert_eq!(b.get("SetTrigger", &p).await, success());
    }
    let mut p = timer.to_vec();
    p.push(("newTriggerName", "t2"));
    assert_eq!(b.get("SetTrigger", &p).await, success());
    let triggers = b.get("GetFunction", &[("functionName", f)]).await["data"]["triggers"].clone();
    assert_eq!(triggers.as_array().unwrap().len(), 1, "{triggers}");
    assert_eq!(triggers[0]["triggerName"], "t2");
    assert!(triggers[0]["triggerDesc"]
        .as_str()
        .unwrap()
        .contains("*/6 * * * *"));
    let gone = b.get("SetTrigger", &p).await;
    assert_eq!(
        code_desc(&gone),
        (5000, "ResourceNotFound.Trigger"),
        "t1 is gone"
    );
    let del = [
        ("functionName", f),
        ("type", "timer"),
        ("triggerName", "t2"),
    ];
    assert_eq!(b.get("DeleteTrigger", &del).await, success());

    // A COS trigger named the old way, and its delete.
    let cos = [
        ("functionName", f),
        ("type", "cos"),
        ("triggerName", "bucket-1250000000.cn-south.myqcloud.com"),
        ("triggerDesc", r#"{"event":"cos:ObjectCreated:*"}"#),
    ];
    assert_eq!(b.get("SetTrigger", &cos).await, success());
    let triggers = b.get("GetFunction", &[("functionName", f)]).await["data"]["triggers"].clone();
    assert_eq!(
        triggers[0]["triggerName"],
        "bucket-1250000000.cos.ap-guangzhou.myqcloud.com"
    );
    let updated = b.get("SetTrigger", &cos).await;
    assert_eq!(
        code_desc(&updated).0,
        4000,
        "a COS trigger cannot be updated: {updated}"
    );
    assert_eq!(b.get("DeleteTrigger", &cos).await, success());

    // Invoke, then the logs: offline (6100), or the request's record.
    let run = b
        .get(
            "InvokeFunction",
            &[("functionName", f), ("param", r#"{"n":1}"#)],
        )
        .await;
    let rid = run["data"]["requestId"].as_str().unwrap().to_owned();
    let logs = b.get("GetFunctionLogs", &[("functionName", f)]).await;
    assert_eq!(code_desc(&logs), (6100, "ActionOffline"));
    let logs = b
        .get(
            "GetFunctionLogs",
            &[("functionName", f), ("requestId", &rid)],
        )
        .await;
    assert_eq!(logs["total"], 1, "{logs}");
    assert_eq!(logs["data"][0]["requestId"], rid.as_str());
    assert_eq!(logs["data"][0]["retMsg"], r#"{"n":1}"#);

    let account = b.get("GetAccountSettings", &[]).await;
    assert_eq!(account["code"], 0);
    assert_eq!(
        b.get("DeleteFunction", &[("functionName", f)]).await,
        success()
    );
}

#[tokio::test]
async fn multi_call_actions_that_fail_halfway() {
    let b = spawn("20000").await;
    // The emulator fails a create or a code update from a COS key ending so.
    let failed = b
        .get(
            "CreateFunction",
            &[
                ("functionName", "createFails"),
                ("codeObject.cosBucketName", "b"),
                ("codeObject.cosObjectName", "create-failed.zip"),
            ],
        )
        .await;
    assert_eq!(code_desc(&failed), (5100, "CreateFailed"), "{failed}");

    let f = "updateFails";
    let code = format!("@{ZIP}");
    assert_eq!(
        b.post("CreateFunction", &[("functionName", f), ("code", &code)])
            .await,
        success()
    );
    let half = b
        .get(
            "UpdateFunction",
            &[
                ("functionName", f),
                ("timeout", "7"),
                ("codeObject.cosBucketName", "b"),
                ("codeObject.cosObjectName", "update-failed.zip"),
            ],
        )
        .await;
    assert_eq!(code_desc(&half), (5100, "UpdateFailed"), "{half}");
    assert!(
        half["message"]
            .as_str()
            .unwrap()
            .contains("UpdateFunctionCode"),
        "{half}"
    );
    let got = b.get("GetFunction", &[("functionName", f)]).await;
    assert_eq!(got["data"]["timeout"], 7, "the configuration half applied");

    // A code half SCF refuses outright: the message says the first half applied.
    let refused = b
        .post(
            "UpdateFunction",
            &[
                ("functionName", f),
                ("timeout", "8"),
                ("code", "@bm90IGEgemlw"),
            ],
        )
        .await;
    assert_eq!(code_desc(&refused).0, 4000, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("the configuration (UpdateFunctionConfiguration) was updated"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_create_still_creating_at_the_limit_names_the_state() {
    // A 1 ms limit: the emulator keeps a function Creating for 200 ms.
    let b = spawn("1").await;
    let v = b
        .post(
            "CreateFunction",
            &[("functionName", "slow"), ("code", &format!("@{ZIP}"))],
        )
        .await;
    assert_eq!(code_desc(&v), (5100, "Creating"), "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("do not send it again"),
        "{v}"
    );
}

#[tokio::test]
async fn a_zip_too_large_for_3_0_is_4000_naming_cos() {
    let b = spawn("20000").await;
    let big = format!("@{}", "A".repeat(10 * 1024 * 1024 + 1));
    let v = b
        .post("CreateFunction", &[("functionName", "big"), ("code", &big)])
        .await;
    assert_eq!(code_desc(&v).0, 4000, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("codeObject.cosBucketName"),
        "{v}"
    );
    let got = b.get("GetFunction", &[("functionName", "big")]).await;
    assert_eq!(got["code"], 5000, "nothing was created");
}
