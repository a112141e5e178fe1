//! The bridge with its embedded SCF 3.0 emulator, over real sockets: the
//! quick start's path, signing and verification included.

mod support;

use support::{form, get, post_form, start_bridge};

fn invoke(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut p = vec![
        ("Action", "InvokeFunction"),
        ("Region", "gz"),
        ("Timestamp", "1465185768"),
        ("Nonce", "11886"),
        ("SecretId", "AKIDlegacycaller"),
        ("Signature", "unused-until-verification"),
        ("RequestClient", "SDK_PYTHON_2.0.15"),
    ];
    p.extend_from_slice(extra);
    p
}

const SYNC_KEYS: [&str; 11] = [
    "requestId",
    "duration",
    "billDuration",
    "memUsage",
    "log",
    "retMsg",
    "errMsg",
    "invokeResult",
    // The legacy documentation's names (`legacy.documented_aliases`).
    "payLoad",
    "logMsg",
    "memSize",
];

#[tokio::test]
async fn get_hello_answers_code_zero_with_the_legacy_data_shape() {
    let addr = start_bridge(&[]).await;
    let q = form(&invoke(&[("functionName", "hello")]));
    let a = get(addr, &format!("/v2/index.php?{q}")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("application/json"));
    let v = a.json();
    assert_eq!(v["code"], 0);
    assert_eq!(v["message"], "");
    assert_eq!(v["codeDesc"], "Success");
    let data = v["data"].as_object().expect("data");
    let keys: Vec<&str> = data.keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, SYNC_KEYS);
    assert!(
        data["duration"].is_f64(),
        "duration is a float: {}",
        data["duration"]
    );
    assert!(data["memUsage"].is_i64());
    assert!(data["billDuration"].is_i64());
    assert!(data["retMsg"].as_str().unwrap().contains("Hello"));
    assert_eq!(data["payLoad"], data["retMsg"]);
    assert_eq!(data["logMsg"], data["log"]);
    assert_eq!(data["memSize"], data["memUsage"]);
    // 3.0 InvokeFunction's status code 200 is the legacy 0.
    assert_eq!(data["invokeResult"], 0);
    assert_eq!(data["errMsg"], "");
    assert!(!data["requestId"].as_str().unwrap().is_empty());
    // SCF's RequestId comes back as a header, distinct from the function's id.
    let rid = a.header("x-request-id").expect("X-Request-Id");
    assert!(!rid.is_empty());
    assert_ne!(rid, data["requestId"].as_str().unwrap());
    assert!(a.header("x-scf-bridge-error").is_none());
}

#[tokio::test]
async fn post_form_echo_returns_the_param_verbatim_with_tail_log() {
    let addr = start_bridge(&[]).await;
    let param = r#"{"name": "云函数 x+y", "n": 1}"#;
    let body = form(&invoke(&[
        ("functionName", "echo"),
        ("param", param),
        ("logType", "Tail"),
    ]));
    let a = post_form(addr, &body).await;
    let v = a.json();
    assert_eq!(v["code"], 0, "{v}");
    assert_eq!(v["data"]["retMsg"], param);
    assert!(
        v["data"]["log"].as_str().unwrap().contains("云函数 x+y"),
        "log holds the event: {}",
        v["data"]["log"]
    );
}

#[tokio::test]
async fn log_type_none_leaves_the_log_empty() {
    let addr = start_bridge(&[]).await;
    let q = form(&invoke(&[("functionName", "echo"), ("param", "{}")]));
    let v = get(addr, &format!("/v2/index.php?{q}")).await.json();
    assert_eq!(v["code"], 0);
    assert_eq!(v["data"]["log"], "");
}

#[tokio::test]
async fn event_invocation_answers_only_the_request_id() {
    let addr = start_bridge(&[]).await;
    let q = form(&invoke(&[
        ("functionName", "hello"),
        ("invokeType", "Event"),
    ]));
    let v = get(addr, &format!("/v2/index.php?{q}")).await.json();
    assert_eq!(v["code"], 0);
    let data = v["data"].as_object().unwrap();
    assert_eq!(data.len(), 1, "{v}");
    assert!(!data["requestId"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn function_error_is_code_zero_with_err_msg() {
    let addr = start_bridge(&[]).await;
    let q = form(&invoke(&[("functionName", "fail")]));
    let v = get(addr, &format!("/v2/index.php?{q}")).await.json();
    assert_eq!(v["code"], 0, "{v}");
    assert_ne!(v["data"]["errMsg"], "");
}

#[tokio::test]
async fn unknown_function_is_legacy_5000_resource_not_found() {
    let addr = start_bridge(&[]).await;
    let q = form(&invoke(&[("functionName", "no-such-function")]));
    let a = get(addr, &format!("/v2/index.php?{q}")).await;
    assert_eq!(a.status, 200);
    let v = a.json();
    assert_eq!(v["code"], 5000);
    assert_eq!(v["codeDesc"], "ResourceNotFound.Function");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .starts_with("(ResourceNotFound.Function) "));
    assert!(v.get("data").is_none());
    // SCF answered: its error is not the bridge's.
    assert!(a.header("x-scf-bridge-error").is_none());
    assert!(a.header("x-request-id").is_some());
}

#[tokio::test]
async fn non_json_param_is_legacy_4000_from_scf() {
    let addr = start_bridge(&[]).await;
    let q = form(&invoke(&[("functionName", "echo"), ("param", "not json")]));
    let v = get(addr, &format!("/v2/index.php?{q}")).await.json();
    assert_eq!(v["code"], 4000);
    // 3.0 InvokeFunction names its `Event` error after Invoke's field.
    assert_eq!(v["codeDesc"], "InvalidParameterValue.ClientContext");
    let addr = start_bridge(&[("SCF_BRIDGE__UPSTREAM__SYNC_ACTION", "invoke")]).await;
    let v = get(addr, &format!("/v2/index.php?{q}")).await.json();
    assert_eq!(v["code"], 4000);
    assert_eq!(v["codeDesc"], "InvalidParameterValue.Param");
}

#[tokio::test]
async fn long_region_names_and_configured_default_both_work() {
    let addr = start_bridge(&[("SCF_BRIDGE__UPSTREAM__REGION", "ap-shanghai")]).await;
    for q in [
        form(&[
            ("Action", "InvokeFunction"),
            ("Region", "ap-beijing"),
            ("functionName", "hello"),
        ]),
        form(&[("Action", "InvokeFunction"), ("functionName", "hello")]),
    ] {
        let v = get(addr, &format!("/v2/index.php?{q}")).await.json();
        assert_eq!(v["code"], 0, "{q}: {v}");
    }
}

#[tokio::test]
async fn caller_mistakes_get_legacy_errors_marked_as_the_bridge_s() {
    let addr = start_bridge(&[]).await;
    let cases: [(String, i64, &str, &str); 5] = [
        (
            form(&[("Action", "InvokeFunction")]),
            4000,
            "MissingParameter",
            "functionName",
        ),
        (
            form(&[("functionName", "hello")]),
            4000,
            "MissingParameter",
            "Action",
        ),
        (
            form(&[("Action", "GetMonitorData")]),
            4000,
            "InvalidAction",
            "supported actions are InvokeFunction, ListFunctions",
        ),
        (
            form(&[
                ("Action", "InvokeFunction"),
                ("functionName", "hello"),
                ("invokeType", "Sync"),
            ]),
            4000,
            "InvalidParameterValue",
            "invokeType",
        ),
        (
            form(&[
                ("Action", "InvokeFunction"),
                ("functionName", "hello"),
                ("logType", "All"),
            ]),
            4000,
            "InvalidParameterValue",
            "logType",
        ),
    ];
    for (q, code, desc, needle) in cases {
        let a = get(addr, &format!("/v2/index.php?{q}")).await;
        assert_eq!(a.status, 200, "{q}");
        let v = a.json();
        assert_eq!(v["code"], code, "{q}: {v}");
        assert_eq!(v["codeDesc"], desc, "{q}: {v}");
        assert!(v["message"].as_str().unwrap().contains(needle), "{q}: {v}");
        assert!(a.header("x-scf-bridge-error").is_some(), "{q}");
    }
}

#[tokio::test]
async fn unknown_region_code_is_4000() {
    let addr = start_bridge(&[]).await;
    let q = form(&[
        ("Action", "InvokeFunction"),
        ("Region", "zz"),
        ("functionName", "hello"),
    ]);
    let v = get(addr, &format!("/v2/index.php?{q}")).await.json();
    assert_eq!(v["code"], 4000, "{v}");
}

#[tokio::test]
async fn wrong_path_and_method_still_answer_legacy_json() {
    let addr = start_bridge(&[]).await;
    let a = get(addr, "/v3/index.php?Action=InvokeFunction").await;
    assert_eq!(a.status, 404);
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(a.json()["code"], 4000);

    let req = http::Request::put("/v2/index.php")
        .header("host", addr.to_string())
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let a = support::send(addr, req).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.header("allow"), Some("GET, POST"));
    assert_eq!(a.json()["code"], 4000);
}

#[tokio::test]
async fn post_that_is_not_form_encoded_is_refused() {
    let addr = start_bridge(&[]).await;
    let req = http::Request::post("/v2/index.php")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            br#"{"Action":"InvokeFunction"}"#,
        )))
        .unwrap();
    let a = support::send(addr, req).await;
    assert_eq!(a.status, 200);
    let v = a.json();
    assert_eq!(v["code"], 4000);
    assert_eq!(
        a.header("x-scf-bridge-error"),
        Some("unsupported-media-type")
    );
}

#[tokio::test]
async fn malformed_percent_encoding_and_bad_utf8_are_4000() {
    let addr = start_bridge(&[]).await;
    for q in [
        "Action=InvokeFunction&functionName=hel%ZZlo",
        "Action=InvokeFunction&functionName=%FF%FE",
        "Action=InvokeFunction&functionName=a&functionName=b",
    ] {
        let v = get(addr, &format!("/v2/index.php?{q}")).await.json();
        assert_eq!(v["code"], 4000, "{q}: {v}");
        assert_eq!(v["codeDesc"], "InvalidParameter", "{q}: {v}");
    }
}
