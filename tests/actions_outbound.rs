//! The management actions through the real binary and real sockets: what
//! the bridge sends to a scripted SCF 3.0 endpoint (action header, signed,
//! only the action's fields) and the legacy answer it makes of the reply.

mod support;

use serde_json::{json, Value};
use support::{form, get, mock_upstream, start_bridge};

async fn bridge_to(upstream: std::net::SocketAddr) -> std::net::SocketAddr {
    let endpoint = format!("http://{upstream}");
    start_bridge(&[
        ("SCF_BRIDGE__UPSTREAM__ENDPOINT", endpoint.as_str()),
        ("TENCENTCLOUD_SECRET_ID", "AKIDbridgeACTIONS"),
        ("TENCENTCLOUD_SECRET_KEY", "bridge-actions-key"),
    ])
    .await
}

/// One legacy GET through the bridge; the single 3.0 call it made (action
/// header, region header, body) and the legacy answer.
async fn one_call(answer: &'static str, params: &[(&str, &str)]) -> (String, String, Value, Value) {
    let up = mock_upstream(answer).await;
    let addr = bridge_to(up.addr).await;
    let a = get(addr, &format!("/v2/index.php?{}", form(params))).await;
    assert_eq!(a.status, 200);
    let seen = up.requests();
    assert_eq!(seen.len(), 1, "one 3.0 call");
    let c = &seen[0];
    assert_eq!(c.method, "POST");
    let header = |n: &str| c.headers[n].to_str().unwrap().to_owned();
    assert!(header("authorization").starts_with("TC3-HMAC-SHA256 Credential=AKIDbridgeACTIONS/"));
    assert_eq!(header("x-tc-version"), "2018-04-16");
    let body: Value = serde_json::from_slice(&c.body).unwrap();
    (header("x-tc-action"), header("x-tc-region"), body, a.json())
}

#[tokio::test]
async fn list_functions_sends_orderby_with_a_lower_case_b_and_answers_functions_and_total() {
    let (action, region, body, answer) = one_call(
        r#"{"Response":{"Functions":[{"FunctionName":"ziptest","Runtime":"Python2.7","AddTime":"2017-06-08 17:36:38","ModTime":"2017-06-08 17:36:38","Status":"Active"}],"TotalCount":7,"RequestId":"r"}}"#,
        &[("Action", "ListFunctions"), ("Region", "sh"), ("order", "desc"), ("orderby", "modtime"), ("limit", "5")],
    )
    .await;
    assert_eq!(
        (action.as_str(), region.as_str()),
        ("ListFunctions", "ap-shanghai")
    );
    assert_eq!(
        body,
        json!({"Order": "DESC", "Orderby": "ModTime", "Limit": 5})
    );
    assert_eq!(
        answer,
        json!({"code": 0, "message": "", "codeDesc": "Success", "data": {"functions": [
            {"modTime": "2017-06-08 17:36:38", "addTime": "2017-06-08 17:36:38",
             "runtime": "Python2.7", "functionName": "ziptest"}], "total": 7}})
    );
}

#[tokio::test]
async fn get_function_with_code_1_asks_for_the_code_and_answers_version_latest() {
    let (action, _, body, answer) = one_call(
        r#"{"Response":{"FunctionName":"f","FunctionVersion":"$LATEST","Handler":"index.main","CodeSize":10,"MemorySize":128,"Timeout":3,"Runtime":"Python3.6","Description":"","ModTime":"2024-01-01 00:00:00","Triggers":[],"CodeInfo":"print(1)","CodeResult":"success","CodeError":"","ErrNo":0,"RequestId":"r"}}"#,
        &[("Action", "GetFunction"), ("functionName", "f"), ("code", "1"), ("version", "LATEST")],
    )
    .await;
    assert_eq!(action, "GetFunction");
    assert_eq!(
        body,
        json!({"FunctionName": "f", "Qualifier": "$LATEST", "ShowCode": "TRUE"})
    );
    assert_eq!(answer["data"]["version"], "LATEST");
    assert_eq!(answer["data"]["code"], "print(1)");
}

#[tokio::test]
async fn delete_function_answers_without_data_and_3_0_errors_map_to_legacy_codes() {
    let (action, _, body, answer) = one_call(
        r#"{"Response":{"RequestId":"r"}}"#,
        &[
            ("Action", "DeleteFunction"),
            ("functionName", "f"),
            ("version", "LATEST"),
        ],
    )
    .await;
    assert_eq!(action, "DeleteFunction");
    assert_eq!(body, json!({"FunctionName": "f"}));
    assert_eq!(
        answer,
        json!({"code": 0, "message": "", "codeDesc": "Success"})
    );

    let (_, _, _, answer) = one_call(
        r#"{"Response":{"Error":{"Code":"ResourceNotFound.Function","Message":"not found"},"RequestId":"r"}}"#,
        &[("Action", "DeleteFunction"), ("functionName", "gone")],
    )
    .await;
    assert_eq!(answer["code"], 5000);
    assert_eq!(answer["codeDesc"], "ResourceNotFound.Function");
}

#[tokio::test]
async fn get_account_settings_calls_get_account_with_an_empty_body() {
    let (action, _, body, answer) = one_call(
        r#"{"Response":{"AccountUsage":{"NamespacesCount":1},"AccountLimit":{"NamespacesCount":5},"RequestId":"r"}}"#,
        &[("Action", "GetAccountSettings")],
    )
    .await;
    assert_eq!(action, "GetAccount");
    assert_eq!(body, json!({}));
    assert_eq!(
        answer["data"],
        json!({"accountUsage": {"namespacesCount": 1}, "accountLimit": {"namespacesCount": 5}})
    );
}

#[tokio::test]
async fn a_bad_value_is_refused_before_anything_is_sent() {
    let up = mock_upstream(r#"{"Response":{"RequestId":"r"}}"#).await;
    let addr = bridge_to(up.addr).await;
    let q = form(&[("Action", "ListFunctions"), ("orderby", "size")]);
    let a = get(addr, &format!("/v2/index.php?{q}")).await;
    let v = a.json();
    assert_eq!(v["code"], 4000);
    assert!(v["message"].as_str().unwrap().contains("`orderby`"), "{v}");
    assert_eq!(
        a.header("x-scf-bridge-error"),
        Some("invalid-parameter-value")
    );
    assert!(up.requests().is_empty());
}
