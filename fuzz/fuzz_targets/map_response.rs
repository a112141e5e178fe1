//! Arbitrary bytes as the body of an HTTP-200 SCF 3.0 answer: `parse_response`
//! then `from_outcome` for both invoke types (or, when it does not parse, the
//! bridge's own bad-response answer, as the walk builds it). Whatever
//! came, the legacy answer must be well formed: a JSON object with integer
//! `code`, string `message` and `codeDesc` in that order, `data` exactly
//! when `code` is 0, and then the 8 sync keys or the async `requestId`. The
//! bridge's own path (`parse_response_ref` then `from_answer_with`) must
//! read the same and write the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scf_bridge::actions::invoke_function::{from_answer_with, from_outcome, SyncShape};
use scf_bridge::error::{BridgeError, ErrorKind};
use scf_bridge::scf3::invoke::{parse_response, parse_response_ref, InvocationType as InvokeType};
use serde_json::Value;

const SYNC_KEYS: [&str; 8] = [
    "requestId",
    "duration",
    "billDuration",
    "memUsage",
    "log",
    "retMsg",
    "errMsg",
    "invokeResult",
];

fn check(bytes: &[u8], invoke_type: Option<InvokeType>) {
    let v: Value = serde_json::from_slice(bytes).expect("the answer is JSON");
    let o = v.as_object().expect("the answer is an object");
    let keys: Vec<&str> = o.keys().map(String::as_str).collect();
    let code = o["code"].as_i64().expect("integer code");
    assert!(o["message"].is_string() && o["codeDesc"].is_string());
    if code != 0 {
        assert_eq!(keys, ["code", "message", "codeDesc"]);
        return;
    }
    assert_eq!(keys, ["code", "message", "codeDesc", "data"]);
    assert_eq!(o["message"], "");
    assert_eq!(o["codeDesc"], "Success");
    let data = o["data"].as_object().expect("data is an object");
    let data_keys: Vec<&str> = data.keys().map(String::as_str).collect();
    match invoke_type.expect("only SCF's answers can succeed") {
        InvokeType::RequestResponse => {
            assert_eq!(data_keys, SYNC_KEYS);
            for k in ["requestId", "log", "retMsg", "errMsg"] {
                assert!(data[k].is_string(), "{k}");
            }
            for k in ["duration", "billDuration", "memUsage", "invokeResult"] {
                assert!(data[k].is_number(), "{k}");
            }
        }
        InvokeType::Event => {
            assert_eq!(data_keys, ["requestId"]);
            assert!(data["requestId"].is_string());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let borrowed = parse_response_ref(data);
    assert_eq!(
        borrowed.as_ref().err(),
        parse_response(data).as_ref().err(),
        "both readings refuse alike"
    );
    match parse_response(data) {
        Ok(outcome) => {
            let borrowed = borrowed.expect("read by both");
            for t in [InvokeType::RequestResponse, InvokeType::Event] {
                let translated = from_outcome(outcome.clone(), t);
                let bytes = translated.answer.to_json();
                check(&bytes, Some(t));
                let written = from_answer_with(borrowed.clone(), t, SyncShape::default());
                assert_eq!(written.answer.to_json(), bytes);
                assert_eq!(written.request_id, translated.request_id);
                assert_eq!(written.function_request_id, translated.function_request_id);
            }
        }
        Err(e) => {
            let e = BridgeError::after_send(
                ErrorKind::UpstreamBadResponse,
                format!("SCF endpoint answered with an unusable body: {e}"),
            );
            check(&e.to_answer().to_json(), None);
        }
    }
});
