//! The legacy answer envelope `{"code","message","codeDesc"[,"data"]}`
//! and the legacy common error codes (docs/protocol.md, "Answers").
//! Which bridge error gets which code is decided elsewhere (translate).

use std::borrow::Cow;

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
    /// (borrowed when it is a constant, as it mostly is).
    #[serde(rename = "codeDesc")]
    pub code_desc: Cow<'static, str>,
    /// Top-level fields between `codeDesc` and `data`.
    #[serde(skip)]
    pub extra: Vec<(&'static str, serde_json::Value)>,
    /// The action's payload.
    #[serde(default)]
    pub data: Option<Data>,
}

/// A legacy answer's `data`: a JSON value, or JSON text the action wrote
/// itself. The second is the hot path (`InvokeFunction`): the action
/// writes its typed answer straight from the 3.0 answer's buffer, and the
/// text is copied into the answer as it is — no value tree, no second
/// pass. Two `Data` are equal when their JSON values are.
#[derive(Clone, Debug)]
pub enum Data {
    Value(serde_json::Value),
    Json(RawJson),
}

impl Data {
    /// The JSON value (parsed, for [`Data::Json`]).
    pub fn to_value(&self) -> serde_json::Value {
        match self {
            Data::Value(v) => v.clone(),
            Data::Json(j) => j.to_value(),
        }
    }
}

impl From<serde_json::Value> for Data {
    fn from(v: serde_json::Value) -> Self {
        Data::Value(v)
    }
}

impl From<RawJson> for Data {
    fn from(j: RawJson) -> Self {
        Data::Json(j)
    }
}

impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Data::Value(a), Data::Value(b)) => a == b,
            (Data::Json(a), Data::Json(b)) if a == b => true,
            _ => self.to_value() == other.to_value(),
        }
    }
}

impl PartialEq<serde_json::Value> for Data {
    fn eq(&self, other: &serde_json::Value) -> bool {
        match self {
            Data::Value(v) => v == other,
            Data::Json(j) => j.to_value() == *other,
        }
    }
}

impl Serialize for Data {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Data::Value(v) => v.serialize(s),
            // Not the hot path (`LegacyAnswer::to_json` copies the text):
            // the text is read back as a borrowed raw value.
            Data::Json(j) => serde_json::from_slice::<&serde_json::value::RawValue>(&j.0)
                .map_err(serde::ser::Error::custom)?
                .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(Data::Value)
    }
}

/// Compact JSON text (UTF-8), written by an action and copied into the
/// answer verbatim. Whoever builds one vouches that it is one valid JSON
/// value written as serde_json writes it (tests hold each writer to
/// serde_json's own output); debug builds check that it parses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawJson(Vec<u8>);

impl RawJson {
    /// Wraps `text`, one compact JSON value.
    pub fn from_written(text: Vec<u8>) -> Self {
        debug_assert!(
            serde_json::from_slice::<serde::de::IgnoredAny>(&text).is_ok(),
            "not one JSON value: {:?}",
            String::from_utf8_lossy(&text)
        );
        RawJson(text)
    }

    /// The text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text parsed.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.0).expect("a RawJson is valid JSON by construction")
    }
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
    pub fn success(data: impl Into<Data>) -> Self {
        LegacyAnswer {
            data: Some(data.into()),
            ..Self::success_without_data()
        }
    }

    /// `{"code":0,"message":"","codeDesc":"Success"}`: an action whose
    /// legacy answer had no `data` (`DeleteFunction`, `DeleteTrigger`).
    pub fn success_without_data() -> Self {
        LegacyAnswer {
            code: codes::SUCCESS,
            message: String::new(),
            code_desc: Cow::Borrowed(code_desc::SUCCESS),
            extra: Vec::new(),
            data: None,
        }
    }

    /// An error answer without `data`.
    pub fn error(
        code: i64,
        code_desc: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
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

    /// Compact JSON bytes, UTF-8 (non-ASCII is not `\u`-escaped): what
    /// serde_json writes for the answer (its `Serialize`), written in one
    /// pass into a buffer of the exact size when no part is a
    /// `serde_json::Value` (so that `Bytes::from` takes it over as it is),
    /// with [`Data::Json`] copied in verbatim.
    pub fn to_json(&self) -> Vec<u8> {
        let mut size = HEAD.len()
            + decimal_len(self.code)
            + MESSAGE.len()
            + escaped_len(&self.message)
            + CODE_DESC.len()
            + escaped_len(&self.code_desc)
            + 1;
        for (key, _) in &self.extra {
            size += 2 + escaped_len(key) + VALUE_GUESS;
        }
        match &self.data {
            None => {}
            Some(Data::Json(j)) => size += DATA.len() + j.0.len(),
            Some(Data::Value(_)) => size += DATA.len() + VALUE_GUESS,
        }
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(HEAD);
        write(&mut out, &self.code);
        out.extend_from_slice(MESSAGE);
        write(&mut out, self.message.as_str());
        out.extend_from_slice(CODE_DESC);
        write(&mut out, self.code_desc.as_ref());
        for (key, value) in &self.extra {
            out.push(b',');
            write(&mut out, *key);
            out.push(b':');
            write(&mut out, value);
        }
        match &self.data {
            None => {}
            Some(Data::Json(j)) => {
                out.extend_from_slice(DATA);
                out.extend_from_slice(&j.0);
            }
            Some(Data::Value(v)) => {
                out.extend_from_slice(DATA);
                write(&mut out, v);
            }
        }
        out.push(b'}');
        out
    }
}

const HEAD: &[u8] = br#"{"code":"#;
const MESSAGE: &[u8] = br#","message":"#;
const CODE_DESC: &[u8] = br#","codeDesc":"#;
const DATA: &[u8] = br#","data":"#;
/// Room left for a `serde_json::Value` part of an answer, whose size is
/// not known before it is written.
const VALUE_GUESS: usize = 256;

fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value)
        .expect("an answer always serializes: its map keys are strings, its numbers finite");
}

/// Length of `n` in decimal, sign included.
fn decimal_len(n: i64) -> usize {
    let mut len = usize::from(n < 0) + 1;
    let mut rest = n.unsigned_abs();
    while rest >= 10 {
        rest /= 10;
        len += 1;
    }
    len
}

/// Length of `s` as a JSON string the way serde_json escapes it, quotes
/// included: `"` `\\` and the five short control escapes take two bytes,
/// any other control character six (`\u001f`); the rest is copied.
pub fn escaped_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | 0x08 | b'\t' | b'\n' | 0x0c | b'\r' => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
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
                (a.code, a.message.as_str(), a.code_desc.as_ref()),
                (0, "", "Success")
            );
            assert!(a.data.is_some());
        }
    }

    fn raw(text: &str) -> RawJson {
        RawJson::from_written(text.as_bytes().to_vec())
    }

    /// Answers of every shape, with text serde_json has to escape.
    fn answers() -> Vec<LegacyAnswer> {
        let awkward = "\"q\" \\ \n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f} 云 😀 </script>";
        vec![
            LegacyAnswer::success_without_data(),
            LegacyAnswer::success(json!({"b": 1, "a": [awkward, 2.5, null]})),
            LegacyAnswer::success(raw(r#"{"requestId":"x","duration":0.0}"#)),
            LegacyAnswer::success(raw(r#"[1,"\n",{}]"#)),
            LegacyAnswer::success(Value::Null),
            LegacyAnswer::error(codes::INTERNAL_ERROR, awkward, awkward),
            LegacyAnswer::error(i64::MIN, "", ""),
            LegacyAnswer::error(i64::MAX, "X", "m"),
            LegacyAnswer::error(-7, "X", "m"),
            LegacyAnswer::success(raw(r#"{"a":1}"#))
                .with_field("total", json!(2))
                .with_field("more", json!({"k": awkward})),
        ]
    }

    #[test]
    fn to_json_is_what_serde_json_writes_for_the_answer() {
        for answer in answers() {
            assert_eq!(
                String::from_utf8(answer.to_json()).unwrap(),
                serde_json::to_string(&answer).unwrap()
            );
        }
    }

    #[test]
    fn json_data_is_copied_in_verbatim() {
        let answer = LegacyAnswer::success(raw(
            r#"{"requestId":"a","duration":0.0,"retMsg":"\"\u0000é"}"#,
        ));
        assert_eq!(
            String::from_utf8(answer.to_json()).unwrap(),
            r#"{"code":0,"message":"","codeDesc":"Success","data":{"requestId":"a","duration":0.0,"retMsg":"\"\u0000é"}}"#
        );
    }

    #[test]
    fn an_answer_without_a_value_part_is_written_into_a_buffer_of_its_exact_size() {
        // So `Bytes::from` takes the buffer over without allocating.
        for answer in answers() {
            let bytes = answer.to_json();
            let has_value = !answer.extra.is_empty() || matches!(answer.data, Some(Data::Value(_)));
            if !has_value {
                assert_eq!(bytes.len(), bytes.capacity(), "{answer:?}");
            }
        }
    }

    #[test]
    fn escaped_len_counts_what_serde_json_writes() {
        let mut texts: Vec<String> = (0u8..=0x7f).map(|b| char::from(b).to_string()).collect();
        texts.extend(["", "plain", "云函数", "😀\u{0}\"\\", "a\u{2028}b"].map(String::from));
        for s in texts {
            assert_eq!(
                escaped_len(&s),
                serde_json::to_string(&s).unwrap().len(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn decimal_len_counts_digits_and_sign() {
        for n in [0, 1, 9, 10, 99, 100, -1, -9, -10, 4400, i64::MAX, i64::MIN] {
            assert_eq!(decimal_len(n), n.to_string().len(), "{n}");
        }
    }

    #[test]
    fn data_compares_by_json_value_and_reads_back_as_a_value() {
        let text = raw(r#"{"a":1,"b":[true,"x"]}"#);
        let value = json!({"a": 1, "b": [true, "x"]});
        assert_eq!(Data::Json(text.clone()), Data::Value(value.clone()));
        assert_eq!(Data::Json(text.clone()), value);
        assert_eq!(Data::Json(text.clone()).to_value(), value);
        assert_ne!(
            Data::Json(raw(r#"{"a":1.0}"#)),
            Data::Value(json!({"a": 1}))
        );
        assert_ne!(Data::Json(text), json!({"a": 1}));
        // An answer read back holds a value, equal to the answer written.
        let answer = LegacyAnswer::success(raw(r#"{"requestId":"r","memUsage":3}"#));
        let back: LegacyAnswer = serde_json::from_slice(&answer.to_json()).unwrap();
        assert!(matches!(back.data, Some(Data::Value(_))));
        assert_eq!(back, answer);
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
