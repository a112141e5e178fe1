//! The legacy answer envelope `{"code","message","codeDesc"[,"data"]}`
//! and the legacy common error codes (docs/protocol.md, "Answers").
//! Which bridge error gets which code is decided elsewhere (translate).

use serde::{Deserialize, Serialize};

/// A legacy answer. Serialized with keys in the order `code`, `message`,
/// `codeDesc`, then any top-level [`LegacyAnswer::extra`] fields in their
/// order (e.g. `GetFunctionLogs`'s `total`), then `data` when it is
/// `Some` (an object, or an array for `GetFunctionLogs`). Always sent with
/// HTTP 200, errors included (§4.1).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct LegacyAnswer {
    /// 0 on success, else one of [`codes`].
    pub code: i64,
    /// Human-readable text; `""` on success.
    pub message: String,
    /// English code name: `Success`, `InvalidParameter`, `AuthFailure`, …
    #[serde(rename = "codeDesc")]
    pub code_desc: String,
    /// Top-level fields between `codeDesc` and `data`.
    #[serde(skip)]
    pub extra: Vec<(&'static str, serde_json::Value)>,
    /// The action's payload.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

impl Serialize for LegacyAnswer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let len = 3 + self.extra.len() + usize::from(self.data.is_some());
        let mut map = s.serialize_map(Some(len))?;
        map.serialize_entry("code", &self.code)?;
        map.serialize_entry("message", &self.message)?;
        map.serialize_entry("codeDesc", &self.code_desc)?;
        for (key, value) in &self.extra {
            map.serialize_entry(key, value)?;
        }
        if let Some(data) = &self.data {
            map.serialize_entry("data", data)?;
        }
        map.end()
    }
}

impl LegacyAnswer {
    /// `{"code":0,"message":"","codeDesc":"Success","data":…}`.
    pub fn success(data: serde_json::Value) -> Self {
        LegacyAnswer {
            data: Some(data),
            ..Self::success_without_data()
        }
    }

    /// `{"code":0,"message":"","codeDesc":"Success"}`: an action whose
    /// legacy answer had no `data` (`DeleteFunction`, `DeleteTrigger`).
    pub fn success_without_data() -> Self {
        LegacyAnswer {
            code: codes::SUCCESS,
            message: String::new(),
            code_desc: code_desc::SUCCESS.to_owned(),
            extra: Vec::new(),
            data: None,
        }
    }

    /// An error answer without `data`.
    pub fn error(code: i64, code_desc: impl Into<String>, message: impl Into<String>) -> Self {
        LegacyAnswer {
            code,
            message: message.into(),
            code_desc: code_desc.into(),
            extra: Vec::new(),
            data: None,
        }
    }

    /// Adds a top-level field after `codeDesc` (and any added before).
    pub fn with_field(mut self, key: &'static str, value: serde_json::Value) -> Self {
        self.extra.push((key, value));
        self
    }

    /// Compact JSON bytes, UTF-8 (non-ASCII is not `\u`-escaped).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an answer always serializes: its map keys are strings")
    }
}

/// Legacy common error codes (docs/protocol.md, "Answers"; the CVM legacy table, the
/// same across products).
pub mod codes {
    /// Success.
    pub const SUCCESS: i64 = 0;
    /// Invalid request parameter: missing, or badly formatted; see `message`.
    pub const INVALID_PARAMETER: i64 = 4000;
    /// Authentication failed: usually a wrong signature.
    pub const AUTH_FAILURE: i64 = 4100;
    /// The sub-account may not call this API.
    pub const NO_API_AUTH: i64 = 4101;
    /// The sub-account may not access the resource.
    pub const NO_RESOURCE_AUTH: i64 = 4102;
    /// No authorization for the resources this API operates on.
    pub const NO_CURRENT_API_RESOURCE_AUTH: i64 = 4103;
    /// The SecretId does not exist, or the key is disabled.
    pub const SECRET_ID_NOT_FOUND: i64 = 4104;
    /// Incorrect token.
    pub const TOKEN_FAILURE: i64 = 4105;
    /// MFA verification failed.
    pub const MFA_FAILURE: i64 = 4106;
    /// Other CAM authentication failures.
    pub const OTHER_CAM_FAILURE: i64 = 4110;
    /// The request has expired (Timestamp too far from server time).
    pub const SIGNATURE_EXPIRE: i64 = 4200;
    /// Access denied: account blocked, or not in the API's user range.
    pub const ACCESS_DENIED: i64 = 4300;
    /// Requests exceeded the quota.
    pub const QUOTA_EXCEEDED: i64 = 4400;
    /// Replay attack: a Nonce seen again, or a stale Timestamp.
    pub const REPLAY_ATTACK: i64 = 4500;
    /// Unsupported protocol (HTTP where HTTPS is required).
    pub const UNSUPPORTED_PROTOCOL: i64 = 4600;
    /// The resource does not exist.
    pub const RESOURCE_NOT_FOUND: i64 = 5000;
    /// The resource operation failed; see `message`, retry later.
    pub const OPERATION_FAILED: i64 = 5100;
    /// Resource purchase failed.
    pub const PURCHASE_FAILED: i64 = 5200;
    /// Insufficient balance.
    pub const INSUFFICIENT_BALANCE: i64 = 5300;
    /// Partial execution success (batch operations).
    pub const PARTIAL_SUCCESS: i64 = 5400;
    /// User qualification review failed.
    pub const QUALIFICATION_FAILED: i64 = 5500;
    /// Internal server error.
    pub const INTERNAL_ERROR: i64 = 6000;
    /// Not supported by the current version, or under maintenance.
    pub const UNSUPPORTED_VERSION: i64 = 6100;
    /// The API is temporarily inaccessible.
    pub const TEMPORARILY_UNAVAILABLE: i64 = 6200;
}

/// `codeDesc` strings seen in real legacy answers (docs/protocol.md, "Answers"). Only
/// these three are documented; names for other codes are the bridge's choice.
pub mod code_desc {
    /// With code 0.
    pub const SUCCESS: &str = "Success";
    /// With code 4000.
    pub const INVALID_PARAMETER: &str = "InvalidParameter";
    /// With code 4100.
    pub const AUTH_FAILURE: &str = "AuthFailure";
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The real captured sync answer (docs/protocol.md, "Answers").
    const CAPTURED_SYNC: &str = r#"{"code":0,"message":"","codeDesc":"Success","data":{"memUsage":131072,"log":"2017-09-18T09:49:15.049Z\tundefined\t{ test: 'value' }\n","retMsg":"\"ok\"","billDuration":100,"requestId":"a197c584-9c56-11e7-a46e-5254001df6c6","duration":2.278,"errMsg":"","invokeResult":0}}"#;
    /// The real captured async answer (docs/protocol.md, "Answers").
    const CAPTURED_ASYNC: &str = r#"{"code":0,"message":"","codeDesc":"Success","data":{"requestId":"7fe1685d-9c56-11e7-b38f-525400c7c826"}}"#;

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn success_answer_reproduces_the_captured_sync_answer_byte_for_byte() {
        let captured: Value = serde_json::from_str(CAPTURED_SYNC).unwrap();
        let answer = LegacyAnswer::success(captured["data"].clone());
        assert_eq!(String::from_utf8(answer.to_json()).unwrap(), CAPTURED_SYNC);
    }

    #[test]
    fn success_answer_reproduces_the_captured_async_answer_byte_for_byte() {
        let answer =
            LegacyAnswer::success(json!({"requestId": "7fe1685d-9c56-11e7-b38f-525400c7c826"}));
        assert_eq!(answer.to_json(), CAPTURED_ASYNC.as_bytes());
    }

    #[test]
    fn success_has_code_0_empty_message_and_success_desc_in_that_key_order() {
        let bytes = LegacyAnswer::success(json!({"b": 1, "a": 2})).to_json();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(keys(&v), ["code", "message", "codeDesc", "data"]);
        assert_eq!(v["code"], json!(0));
        assert!(v["code"].is_i64(), "code is a JSON number, not a string");
        assert_eq!(v["message"], json!(""));
        assert_eq!(v["codeDesc"], json!("Success"));
        // data keeps its own key order
        assert_eq!(keys(&v["data"]), ["b", "a"]);
    }

    #[test]
    fn error_answer_has_no_data_key() {
        let answer = LegacyAnswer::error(
            codes::AUTH_FAILURE,
            code_desc::AUTH_FAILURE,
            "Authentication failed. SecretId does not exist",
        );
        assert_eq!(
            answer.to_json(),
            br#"{"code":4100,"message":"Authentication failed. SecretId does not exist","codeDesc":"AuthFailure"}"#
        );
    }

    #[test]
    fn top_level_total_and_data_array_reproduce_the_captured_logs_answer() {
        // The captured GetFunctionLogs answer's shape (docs/protocol.md, "Answers").
        let answer = LegacyAnswer::success(json!([{"functionName": "testnode", "retCode": 0}]))
            .with_field("total", json!(2));
        assert_eq!(
            String::from_utf8(answer.to_json()).unwrap(),
            r#"{"code":0,"message":"","codeDesc":"Success","total":2,"data":[{"functionName":"testnode","retCode":0}]}"#
        );
    }

    #[test]
    fn success_without_data_has_no_data_key() {
        assert_eq!(
            LegacyAnswer::success_without_data().to_json(),
            br#"{"code":0,"message":"","codeDesc":"Success"}"#
        );
    }

    #[test]
    fn null_data_is_kept_when_given_explicitly() {
        let bytes = LegacyAnswer::success(Value::Null).to_json();
        assert_eq!(
            bytes,
            br#"{"code":0,"message":"","codeDesc":"Success","data":null}"#
        );
    }

    #[test]
    fn non_ascii_message_round_trips_unescaped() {
        let answer = LegacyAnswer::error(
            codes::INVALID_PARAMETER,
            "InvalidParameter",
            "(9003)参数错误 \"x\"\n",
        );
        let bytes = answer.to_json();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("参数错误"), "{text}");
        assert!(text.contains(r#"\"x\"\n"#), "{text}");
        let back: LegacyAnswer = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, answer);
    }

    #[test]
    fn captured_answers_parse_into_the_envelope() {
        for captured in [CAPTURED_SYNC, CAPTURED_ASYNC] {
            let a: LegacyAnswer = serde_json::from_str(captured).unwrap();
            assert_eq!(
                (a.code, a.message.as_str(), a.code_desc.as_str()),
                (0, "", "Success")
            );
            assert!(a.data.is_some());
        }
    }

    #[test]
    fn codes_match_the_legacy_common_table() {
        let table = [
            (codes::SUCCESS, 0),
            (codes::INVALID_PARAMETER, 4000),
            (codes::AUTH_FAILURE, 4100),
            (codes::NO_API_AUTH, 4101),
            (codes::NO_RESOURCE_AUTH, 4102),
            (codes::NO_CURRENT_API_RESOURCE_AUTH, 4103),
            (codes::SECRET_ID_NOT_FOUND, 4104),
            (codes::TOKEN_FAILURE, 4105),
            (codes::MFA_FAILURE, 4106),
            (codes::OTHER_CAM_FAILURE, 4110),
            (codes::SIGNATURE_EXPIRE, 4200),
            (codes::ACCESS_DENIED, 4300),
            (codes::QUOTA_EXCEEDED, 4400),
            (codes::REPLAY_ATTACK, 4500),
            (codes::UNSUPPORTED_PROTOCOL, 4600),
            (codes::RESOURCE_NOT_FOUND, 5000),
            (codes::OPERATION_FAILED, 5100),
            (codes::PURCHASE_FAILED, 5200),
            (codes::INSUFFICIENT_BALANCE, 5300),
            (codes::PARTIAL_SUCCESS, 5400),
            (codes::QUALIFICATION_FAILED, 5500),
            (codes::INTERNAL_ERROR, 6000),
            (codes::UNSUPPORTED_VERSION, 6100),
            (codes::TEMPORARILY_UNAVAILABLE, 6200),
        ];
        for (got, want) in table {
            assert_eq!(got, want);
        }
    }
}
