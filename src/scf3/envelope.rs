//! The 3.0 answer envelope of every action, parsed into a typed `T`:
//! `{"Response":{…fields of T…,"RequestId":"…"}}` on success,
//! `{"Response":{"Error":{"Code","Message"},"RequestId":"…"}}` on refusal
//! (docs/protocol.md, "SCF 3.0 envelope"). Pure serde, no I/O.
//!
//! `T` is read from the `Response` object itself, so it names the action's
//! answer fields (`Functions`, `TotalCount`, `Result`, …) and ignores the
//! rest, `RequestId` and `Error` included. `Error` wins over anything else,
//! as the official SDKs check it first.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// `X-TC-Version` of the SCF 3.0 API.
pub const VERSION: &str = "2018-04-16";
/// Service name: the credential-scope service and the endpoint prefix.
pub const SERVICE: &str = "scf";

/// Whether a 3.0 call only reads (it may be sent again after a transport
/// failure) or changes state (never sent again once a byte may have
/// reached SCF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Read,
    Mutation,
}

/// A 3.0 request body type: its fields are the allow-list of what is sent
/// (3.0 answers `UnknownParameter` to anything else), and it names its
/// action, version, kind and answer type.
pub trait Request: Serialize + Sync {
    /// `X-TC-Action`.
    const ACTION: &'static str;
    /// `X-TC-Version`.
    const VERSION: &'static str = VERSION;
    const KIND: CallKind;
    /// The `Response` object of a successful answer.
    type Response: DeserializeOwned + Send;
}

/// `Response.Error`: SCF refused the call. Map on `code`, never on
/// `message` (its text may change at any time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scf3Error {
    /// e.g. `ResourceNotFound.Function`.
    pub code: String,
    pub message: String,
    /// `Response.RequestId`, if sent.
    pub request_id: Option<String>,
}

/// What an HTTP-200 3.0 answer said.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope<T> {
    /// The action's answer.
    Ok {
        response: T,
        /// `Response.RequestId`, if sent.
        request_id: Option<String>,
    },
    /// `Response.Error`.
    Error(Scf3Error),
}

/// Why a 3.0 answer body could not be understood. Carries no body content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON (or not UTF-8).
    #[error("response body is not valid JSON (line {line}, column {column})")]
    InvalidJson { line: usize, column: usize },
    /// JSON, but not an object with an object `Response`.
    #[error("response body has no \"Response\" object")]
    MissingResponse,
    /// `Response.Error` is not an object with a string `Code`.
    #[error("response \"Error\" has no string \"Code\"")]
    MalformedError,
    /// `Response` does not have the shape of this action's answer.
    #[error("response is malformed: {0}")]
    Malformed(String),
}

/// Parses a 3.0 answer body into `T` or the `Error` it carries. Never panics.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<Envelope<T>, EnvelopeError> {
    let Split {
        response,
        request_id,
        error,
        ..
    } = split(body)?;
    if let Some((code, message)) = error {
        return Ok(Envelope::Error(Scf3Error {
            code,
            message,
            request_id,
        }));
    }
    let response: T = serde_json::from_str(response.get())
        .map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
    Ok(Envelope::Ok {
        response,
        request_id,
    })
}

/// A 3.0 answer taken apart, nothing of the action's fields read yet.
#[derive(Debug)]
pub struct Split<'a> {
    /// The `Response` object, unread.
    pub response: &'a RawValue,
    /// `Response.RequestId`, when it is a string.
    pub request_id: Option<String>,
    /// `Response.Error`'s code and message, when it has an error.
    pub error: Option<(String, String)>,
    /// `Response.Result` unread, for the one action (`Invoke`) that nests
    /// its answer there; found in the same pass.
    pub result: Option<&'a RawValue>,
}

/// Takes a 3.0 answer apart in one pass: the `Response` object (unread),
/// its `RequestId`, its `Error` when it has one, and its `Result`.
pub fn split(body: &[u8]) -> Result<Split<'_>, EnvelopeError> {
    // Typed and borrowed: each level is validated once and only the parts
    // used are decoded (a `serde_json::Value` tree cost ≈ 5% of the CPU of
    // an `Invoke`). `RawValue` keeps the distinction between "not JSON" and
    // "JSON of the wrong shape" that the error table needs.
    let root: Root<'_> = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => EnvelopeError::MissingResponse,
        _ => EnvelopeError::InvalidJson {
            line: e.line(),
            column: e.column(),
        },
    })?;
    let raw = root
        .response
        .filter(|r| r.get().starts_with('{'))
        .ok_or(EnvelopeError::MissingResponse)?;
    let head: Head<'_> =
        serde_json::from_str(raw.get()).map_err(|_| EnvelopeError::MissingResponse)?;
    let request_id = head.request_id.and_then(raw_string);
    let error = match head.error {
        Some(e) if e.get() != "null" => {
            let error: RawError<'_> = serde_json::from_str(e.get())
                .ok()
                .filter(|_| e.get().starts_with('{'))
                .ok_or(EnvelopeError::MalformedError)?;
            let code = error
                .code
                .and_then(raw_string)
                .ok_or(EnvelopeError::MalformedError)?;
            Some((code, error.message.and_then(raw_string).unwrap_or_default()))
        }
        _ => None,
    };
    Ok(Split {
        response: raw,
        request_id,
        error,
        result: head.result,
    })
}

/// A JSON string's value; `None` for any other JSON type.
pub(crate) fn raw_string(raw: &RawValue) -> Option<String> {
    let text = raw.get();
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        // Without escapes the value is the text itself (the parser has
        // refused raw control characters).
        Some(inner) if !inner.contains('\\') => Some(inner.to_owned()),
        Some(_) => serde_json::from_str(text).ok(),
        None => None,
    }
}

#[derive(Deserialize)]
struct Root<'a> {
    #[serde(rename = "Response", borrow, default)]
    response: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "RequestId", borrow, default)]
    request_id: Option<&'a RawValue>,
    #[serde(rename = "Error", borrow, default)]
    error: Option<&'a RawValue>,
    #[serde(rename = "Result", borrow, default)]
    result: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawError<'a> {
    #[serde(rename = "Code", borrow, default)]
    code: Option<&'a RawValue>,
    #[serde(rename = "Message", borrow, default)]
    message: Option<&'a RawValue>,
}

/// `{"Response":{…response…,"RequestId":"…"}}`, compact: the success body
/// of any action whose answer serializes to a JSON object (the emulator's
/// and the tests' scripted answers).
pub fn success_body<T: Serialize>(response: &T, request_id: &str) -> Vec<u8> {
    let mut value = serde_json::to_value(response).unwrap_or(serde_json::Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert("RequestId".into(), request_id.into());
    }
    serde_json::to_vec(&serde_json::json!({ "Response": value }))
        .unwrap_or_else(|e| unreachable!("serializing a JSON value: {e}"))
}

/// `{"Response":{"Error":{"Code":"…","Message":"…"},"RequestId":"…"}}`.
pub fn error_body(code: &str, message: &str, request_id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}
    }))
    .unwrap_or_else(|e| unreachable!("serializing a JSON value: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct List {
        functions: Vec<Item>,
        total_count: u64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Item {
        function_name: String,
    }

    #[test]
    fn a_success_answer_parses_into_the_action_s_type_ignoring_other_fields() {
        let body = br#"{"Response":{"Functions":[{"FunctionName":"a","Runtime":"Python3.6"}],"TotalCount":1,"RequestId":"r-1","New":true}}"#;
        assert_eq!(
            parse::<List>(body),
            Ok(Envelope::Ok {
                response: List {
                    functions: vec![Item {
                        function_name: "a".into()
                    }],
                    total_count: 1
                },
                request_id: Some("r-1".into())
            })
        );
    }

    #[test]
    fn an_error_answer_wins_and_never_reads_t() {
        let body = br#"{"Response":{"Error":{"Code":"ResourceNotFound.Function","Message":"no"},"RequestId":"r"}}"#;
        assert_eq!(
            parse::<List>(body),
            Ok(Envelope::Error(Scf3Error {
                code: "ResourceNotFound.Function".into(),
                message: "no".into(),
                request_id: Some("r".into())
            }))
        );
    }

    #[test]
    fn an_answer_with_only_a_request_id_is_a_unit_success() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Empty {}
        let body = br#"{"Response":{"RequestId":"r"}}"#;
        assert!(
            matches!(parse::<Empty>(body), Ok(Envelope::Ok { request_id: Some(r), .. }) if r == "r")
        );
    }

    #[test]
    fn bad_bodies_are_typed_errors() {
        assert!(matches!(
            parse::<List>(b"nope"),
            Err(EnvelopeError::InvalidJson { .. })
        ));
        assert_eq!(parse::<List>(b"{}"), Err(EnvelopeError::MissingResponse));
        assert_eq!(
            parse::<List>(br#"{"Response":[]}"#),
            Err(EnvelopeError::MissingResponse)
        );
        assert_eq!(
            parse::<List>(br#"{"Response":{"Error":{"Code":1}}}"#),
            Err(EnvelopeError::MalformedError)
        );
        assert!(matches!(
            parse::<List>(br#"{"Response":{"Functions":"x","TotalCount":1}}"#),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    #[test]
    fn the_builders_round_trip() {
        let body = success_body(
            &serde_json::json!({"Functions":[{"FunctionName":"f"}],"TotalCount":1}),
            "rid",
        );
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"Response":{"Functions":[{"FunctionName":"f"}],"TotalCount":1,"RequestId":"rid"}}"#
        );
        assert!(matches!(parse::<List>(&body), Ok(Envelope::Ok { .. })));
        let body = error_body("InternalError", "boom", "rid");
        assert!(matches!(
            parse::<List>(&body),
            Ok(Envelope::Error(Scf3Error { code, .. })) if code == "InternalError"
        ));
    }

    #[test]
    fn never_panics_on_truncations() {
        let full =
            br#"{"Response":{"Functions":[{"FunctionName":"a"}],"TotalCount":1,"RequestId":"r"}}"#;
        for end in 0..full.len() {
            let _ = parse::<List>(&full[..end]);
        }
    }
}
