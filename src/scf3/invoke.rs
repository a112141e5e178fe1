//! The SCF API 3.0 `Invoke` action (version 2018-04-16) on the wire: the
//! request body, its answer (`Response.Result` or `Error`) parsed borrowed
//! for the hot path, and the body builders the emulator answers with. Pure
//! serde, no I/O.
//!
//! The request side is strict: it can only ever serialize the documented
//! fields (SCF answers `UnknownParameter` to anything else). The response side
//! is tolerant: unknown fields are ignored and numbers are kept exactly as sent
//! (`Duration: 0.826` stays a float, `MemUsage: 3207168` an integer).

use serde::{Deserialize, Serialize};
use serde_json::Number;

/// `X-TC-Action` of this API.
pub const ACTION: &str = "Invoke";
use super::envelope::{self, EnvelopeError};
pub use super::envelope::{SERVICE, VERSION};
/// `X-TC-Action` of 3.0's synchronous-only invocation (same version), whose
/// frequency limit is 100 times `Invoke`'s (docs/protocol.md,
/// "InvokeFunction").
pub const INVOKE_FUNCTION_ACTION: &str = "InvokeFunction";
/// The `InvokeResult` of a successful 3.0 `InvokeFunction`: an execution
/// status code, where `Invoke`'s success is 0.
pub const INVOKE_FUNCTION_SUCCESS: i64 = 200;
/// Largest `ClientContext` (event) of a synchronous invocation, bytes.
pub const SYNC_EVENT_LIMIT: usize = 6 * 1024 * 1024;
/// Largest `ClientContext` (event) of an asynchronous (`Event`) invocation, bytes.
pub const ASYNC_EVENT_LIMIT: usize = 128 * 1024;

/// `InvocationType`: synchronous (the server default) or asynchronous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InvocationType {
    /// Synchronous: the response carries the function's result.
    RequestResponse,
    /// Asynchronous: the response carries only the `FunctionRequestId`.
    Event,
}

impl InvocationType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            InvocationType::RequestResponse => "RequestResponse",
            InvocationType::Event => "Event",
        }
    }

    /// Parses the exact wire value (case-sensitive, as the service does).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "RequestResponse" => Some(InvocationType::RequestResponse),
            "Event" => Some(InvocationType::Event),
            _ => None,
        }
    }

    /// The largest `ClientContext` this invocation type accepts, bytes.
    pub fn event_limit(self) -> usize {
        match self {
            InvocationType::RequestResponse => SYNC_EVENT_LIMIT,
            InvocationType::Event => ASYNC_EVENT_LIMIT,
        }
    }
}

/// `LogType`: whether a synchronous response carries the execution log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogType {
    /// No log (the server default).
    None,
    /// The last 4 KB of the execution log in `Result.Log`.
    Tail,
}

impl LogType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            LogType::None => "None",
            LogType::Tail => "Tail",
        }
    }

    /// Parses the exact wire value (case-sensitive).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "None" => Some(LogType::None),
            "Tail" => Some(LogType::Tail),
            _ => None,
        }
    }
}

/// The `Invoke` request body. Serializes (compact, PascalCase) only
/// `FunctionName` and the fields that are `Some`, in declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvokeRequest<'a> {
    /// The function to run (required).
    pub function_name: &'a str,
    /// Sync or async; the server defaults to `RequestResponse`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation_type: Option<InvocationType>,
    /// Version or alias; the server defaults to `$LATEST`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<&'a str>,
    /// The event, a JSON text passed as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_context: Option<&'a str>,
    /// `None` or `Tail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_type: Option<LogType>,
    /// The namespace; the server defaults to `default`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
}

/// The 3.0 `InvokeFunction` request body: synchronous only, so no
/// `InvocationType`; the event is `Event`, not `ClientContext`. Serializes
/// (compact, PascalCase) `FunctionName` and the fields that are `Some`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvokeFunctionRequest<'a> {
    /// The function to run (required).
    pub function_name: &'a str,
    /// Version or alias; the server defaults to `$DEFAULT`, not `$LATEST`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<&'a str>,
    /// The event, a JSON text passed as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<&'a str>,
    /// `None` or `Tail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_type: Option<LogType>,
    /// The namespace; the server defaults to `default`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
}

/// A `"Key":"value"` member after the first one.
fn push_member(out: &mut Vec<u8>, key: &'static str, value: Option<&str>) {
    if let Some(value) = value {
        out.push(b',');
        crate::json_text::push_key(out, key);
        crate::json_text::push_str(out, value);
    }
}

impl InvokeRequest<'_> {
    /// Appends the compact JSON body to `out`: byte for byte what the
    /// derived `Serialize` writes, by [`crate::json_text`] (tested against
    /// serde_json).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        crate::json_text::push_key(out, "FunctionName");
        crate::json_text::push_str(out, self.function_name);
        push_member(
            out,
            "InvocationType",
            self.invocation_type.map(InvocationType::as_str),
        );
        push_member(out, "Qualifier", self.qualifier);
        push_member(out, "ClientContext", self.client_context);
        push_member(out, "LogType", self.log_type.map(LogType::as_str));
        push_member(out, "Namespace", self.namespace);
        out.push(b'}');
    }
}

impl InvokeFunctionRequest<'_> {
    /// Appends the compact JSON body to `out`, as [`InvokeRequest::write_json`].
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        crate::json_text::push_key(out, "FunctionName");
        crate::json_text::push_str(out, self.function_name);
        push_member(out, "Qualifier", self.qualifier);
        push_member(out, "Event", self.event);
        push_member(out, "LogType", self.log_type.map(LogType::as_str));
        push_member(out, "Namespace", self.namespace);
        out.push(b'}');
    }
}

#[cfg(test)]
impl<'a> InvokeRequest<'a> {
    /// A request with only `FunctionName` set.
    pub fn new(function_name: &'a str) -> Self {
        InvokeRequest {
            function_name,
            invocation_type: None,
            qualifier: None,
            client_context: None,
            log_type: None,
            namespace: None,
        }
    }

    /// The compact JSON body to send (and to hash for the signature).
    pub fn to_json(&self) -> Vec<u8> {
        to_vec(self)
    }

    /// The invocation type the server will apply (`RequestResponse` when unset).
    pub fn effective_invocation_type(&self) -> InvocationType {
        self.invocation_type
            .unwrap_or(InvocationType::RequestResponse)
    }
}

/// `Response.Result` of a successful `Invoke` (the function ran, or was queued).
/// A function-level failure is a `Result` with a non-empty `ErrMsg`, not an
/// API error. Every field may be absent (async answers carry only
/// `FunctionRequestId`); absent fields are not serialized.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvokeResult {
    /// Execution log (only with `LogType=Tail`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// The function's return value, serialized as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret_msg: Option<String>,
    /// The function's error, serialized as a string; empty on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err_msg: Option<String>,
    /// Memory used, bytes (an integer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_usage: Option<Number>,
    /// Execution time, milliseconds (a float; kept exactly as sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Number>,
    /// Billed time, milliseconds (an integer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill_duration: Option<Number>,
    /// The execution's id (the handle of an async invocation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_request_id: Option<String>,
    /// Deprecated status integer; 0 on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke_result: Option<Number>,
}

/// What an HTTP-200 `Invoke` answer said.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `Response.Result`: the invocation happened (check `err_msg` for a function error).
    Result {
        /// The result fields.
        result: InvokeResult,
        /// `Response.RequestId`, if sent.
        request_id: Option<String>,
    },
    /// `Response.Error`: the API refused the call; map on `code`, never on `message`.
    Error {
        /// e.g. `ResourceNotFound.Function`.
        code: String,
        /// Human text; may change at any time.
        message: String,
        /// `Response.RequestId`, if sent.
        request_id: Option<String>,
    },
}

/// Why a response body could not be understood. Carries no body content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON (or not UTF-8).
    #[error("response body is not valid JSON (line {line}, column {column})")]
    InvalidJson {
        /// 1-based line of the syntax error.
        line: usize,
        /// 1-based column of the syntax error.
        column: usize,
    },
    /// JSON, but not an object with an object `Response`.
    #[error("response body has no \"Response\" object")]
    MissingResponse,
    /// `Response` has neither a `Result` nor an `Error` object.
    #[error("response has neither \"Result\" nor \"Error\"")]
    NeitherResultNorError,
    /// `Response.Error` is not an object with a string `Code`.
    #[error("response \"Error\" has no string \"Code\"")]
    MalformedError,
    /// `Response.Result` has a field of the wrong type.
    #[error("response \"Result\" is malformed: {0}")]
    MalformedResult(String),
}

/// Parses an `Invoke` response body. Never panics; `Error` wins over `Result`
/// when both are present (as the official SDK checks `Error` first).
pub fn parse_response(body: &[u8]) -> Result<Outcome, ParseError> {
    let split = envelope::split(body).map_err(|e| match e {
        EnvelopeError::InvalidJson { line, column } => ParseError::InvalidJson { line, column },
        EnvelopeError::MissingResponse => ParseError::MissingResponse,
        EnvelopeError::MalformedError => ParseError::MalformedError,
        EnvelopeError::Malformed(m) => ParseError::MalformedResult(m),
    })?;
    let request_id = split.request_id;
    if let Some((code, message)) = split.error {
        return Ok(Outcome::Error {
            code,
            message,
            request_id,
        });
    }
    match split.result {
        Some(r) if r.get().starts_with('{') => {
            let result: InvokeResult = serde_json::from_str(r.get())
                .map_err(|e| ParseError::MalformedResult(e.to_string()))?;
            Ok(Outcome::Result { result, request_id })
        }
        Some(r) if r.get() != "null" => {
            Err(ParseError::MalformedResult("not an object".to_owned()))
        }
        _ => Err(ParseError::NeitherResultNorError),
    }
}

#[derive(Serialize)]
struct Envelope<T: Serialize> {
    #[serde(rename = "Response")]
    response: T,
}

#[derive(Serialize)]
struct SuccessResponse<'a> {
    #[serde(rename = "Result")]
    result: &'a InvokeResult,
    #[serde(rename = "RequestId")]
    request_id: &'a str,
}

#[derive(Serialize)]
struct ErrorResponse<'a> {
    #[serde(rename = "Error")]
    error: ErrorBody<'a>,
    #[serde(rename = "RequestId")]
    request_id: &'a str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "Code")]
    code: &'a str,
    #[serde(rename = "Message")]
    message: &'a str,
}

fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    // Only strings, finite numbers and derived structs: serialization cannot fail.
    serde_json::to_vec(value).unwrap_or_else(|e| unreachable!("serializing a plain struct: {e}"))
}

/// `{"Response":{"Result":{…},"RequestId":"…"}}`, compact.
pub fn success_body(result: &InvokeResult, request_id: &str) -> Vec<u8> {
    to_vec(&Envelope {
        response: SuccessResponse { result, request_id },
    })
}

/// `{"Response":{"Error":{"Code":"…","Message":"…"},"RequestId":"…"}}`, compact.
pub fn error_body(code: &str, message: &str, request_id: &str) -> Vec<u8> {
    to_vec(&Envelope {
        response: ErrorResponse {
            error: ErrorBody { code, message },
            request_id,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn written_bodies_are_what_serde_json_writes() {
        let texts = [
            "hello",
            "",
            "{\"a\":\"x y\"}",
            "line\nbreak\u{1}",
            "été😀\\",
        ];
        let types = [
            None,
            Some(InvocationType::RequestResponse),
            Some(InvocationType::Event),
        ];
        let logs = [None, Some(LogType::None), Some(LogType::Tail)];
        for (i, text) in texts.iter().enumerate() {
            let opt = |k: usize| !(i + k).is_multiple_of(3);
            let pick = |k: usize| opt(k).then_some(*text);
            for invocation_type in types {
                for log_type in logs {
                    let invoke = InvokeRequest {
                        function_name: text,
                        invocation_type,
                        qualifier: pick(1),
                        client_context: pick(2),
                        log_type,
                        namespace: pick(0),
                    };
                    let mut ours = Vec::new();
                    invoke.write_json(&mut ours);
                    assert_eq!(ours, serde_json::to_vec(&invoke).unwrap(), "{invoke:?}");
                }
            }
            for log_type in logs {
                let invoke = InvokeFunctionRequest {
                    function_name: text,
                    qualifier: pick(0),
                    event: pick(1),
                    log_type,
                    namespace: pick(2),
                };
                let mut ours = Vec::new();
                invoke.write_json(&mut ours);
                assert_eq!(ours, serde_json::to_vec(&invoke).unwrap(), "{invoke:?}");
            }
        }
    }

    #[test]
    fn request_with_only_function_name() {
        assert_eq!(
            text(InvokeRequest::new("hello").to_json()),
            r#"{"FunctionName":"hello"}"#
        );
    }

    #[test]
    fn request_all_fields_compact_pascal_case_in_order() {
        let req = InvokeRequest {
            function_name: "f",
            invocation_type: Some(InvocationType::Event),
            qualifier: Some("$LATEST"),
            client_context: Some(r#"{"k": "v"}"#),
            log_type: Some(LogType::Tail),
            namespace: Some("default"),
        };
        assert_eq!(
            text(req.to_json()),
            r#"{"FunctionName":"f","InvocationType":"Event","Qualifier":"$LATEST","ClientContext":"{\"k\": \"v\"}","LogType":"Tail","Namespace":"default"}"#
        );
    }

    #[test]
    fn request_never_has_other_fields() {
        let req = InvokeRequest {
            function_name: "f",
            invocation_type: Some(InvocationType::RequestResponse),
            qualifier: Some("1"),
            client_context: Some("{}"),
            log_type: Some(LogType::None),
            namespace: Some("ns"),
        };
        let value: Value = serde_json::from_slice(&req.to_json()).expect("json");
        let keys: Vec<&str> = value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "FunctionName",
                "InvocationType",
                "Qualifier",
                "ClientContext",
                "LogType",
                "Namespace"
            ]
        );
        // Every value is a string, as the API requires.
        assert!(value
            .as_object()
            .expect("object")
            .values()
            .all(Value::is_string));
    }

    #[test]
    fn request_client_context_is_a_string_not_an_object() {
        let mut req = InvokeRequest::new("f");
        req.client_context = Some(r#"{"a":[1,"\u00e9"]}"#);
        let value: Value = serde_json::from_slice(&req.to_json()).expect("json");
        assert_eq!(
            value["ClientContext"],
            Value::String(r#"{"a":[1,"\u00e9"]}"#.into())
        );
    }

    #[test]
    fn invocation_type_and_log_type_wire_values() {
        for t in [InvocationType::RequestResponse, InvocationType::Event] {
            assert_eq!(InvocationType::parse(t.as_str()), Some(t));
        }
        for t in [LogType::None, LogType::Tail] {
            assert_eq!(LogType::parse(t.as_str()), Some(t));
        }
        assert_eq!(InvocationType::parse("event"), None);
        assert_eq!(InvocationType::parse(""), None);
        assert_eq!(LogType::parse("tail"), None);
        assert_eq!(LogType::parse("Full"), None);
    }

    #[test]
    fn event_limits_sync_6mb_async_128kb() {
        assert_eq!(SYNC_EVENT_LIMIT, 6_291_456);
        assert_eq!(ASYNC_EVENT_LIMIT, 131_072);
        assert_eq!(
            InvocationType::RequestResponse.event_limit(),
            SYNC_EVENT_LIMIT
        );
        assert_eq!(InvocationType::Event.event_limit(), ASYNC_EVENT_LIMIT);
        assert_eq!(
            InvokeRequest::new("f").effective_invocation_type(),
            InvocationType::RequestResponse
        );
    }

    #[test]
    fn constants() {
        assert_eq!((ACTION, VERSION, SERVICE), ("Invoke", "2018-04-16", "scf"));
    }

    /// The official sample response (doc 17243), layout as published.
    const OFFICIAL_SAMPLE: &str = r#"{
"Response": {
"Result": {
"MemUsage": 3207168,
"Log": "",
"RetMsg": "hello from scf",
"BillDuration": 100,
"FunctionRequestId": "6add56fa-58f1-11e8-89a9-5254005d5fdb",
"Duration": 0.826,
"ErrMsg": "",
"InvokeResult": 0
},
"RequestId": "c2af8a64-c922-4d55-aee0-bd86a5c2cd12"
}
}"#;

    #[test]
    fn parses_official_sample_response() {
        let Ok(Outcome::Result { result, request_id }) = parse_response(OFFICIAL_SAMPLE.as_bytes())
        else {
            panic!("official sample must parse as a Result");
        };
        assert_eq!(
            request_id.as_deref(),
            Some("c2af8a64-c922-4d55-aee0-bd86a5c2cd12")
        );
        assert_eq!(result.ret_msg.as_deref(), Some("hello from scf"));
        assert_eq!(result.log.as_deref(), Some(""));
        assert_eq!(result.err_msg.as_deref(), Some(""));
        assert_eq!(
            result.function_request_id.as_deref(),
            Some("6add56fa-58f1-11e8-89a9-5254005d5fdb")
        );
        let duration = result.duration.expect("Duration");
        assert!(duration.is_f64(), "Duration stays a float");
        assert_eq!(duration.to_string(), "0.826");
        let mem = result.mem_usage.expect("MemUsage");
        assert!(mem.is_u64());
        assert_eq!(mem.to_string(), "3207168");
        assert_eq!(
            result.bill_duration.expect("BillDuration").as_u64(),
            Some(100)
        );
        assert_eq!(
            result.invoke_result.expect("InvokeResult").as_i64(),
            Some(0)
        );
    }

    #[test]
    fn numbers_are_kept_as_sent() {
        let body = br#"{"Response":{"Result":{"Duration":1,"MemUsage":1.5,"InvokeResult":-1},"RequestId":"r"}}"#;
        let Ok(Outcome::Result { result, .. }) = parse_response(body) else {
            panic!("parses");
        };
        assert_eq!(result.duration.expect("d").to_string(), "1");
        assert_eq!(result.mem_usage.expect("m").to_string(), "1.5");
        assert_eq!(result.invoke_result.expect("i").as_i64(), Some(-1));
        // And they round-trip through the builder unchanged.
        let again = parse_response(&success_body(
            &InvokeResult {
                duration: Some(Number::from_f64(2.0).expect("finite")),
                ..InvokeResult::default()
            },
            "r",
        ));
        let Ok(Outcome::Result { result, .. }) = again else {
            panic!("parses");
        };
        assert_eq!(result.duration.expect("d").to_string(), "2.0");
    }

    #[test]
    fn parses_error_envelope() {
        let body = br#"{"Response":{"Error":{"Code":"ResourceNotFound.Function","Message":"no such function"},"RequestId":"abc"}}"#;
        assert_eq!(
            parse_response(body),
            Ok(Outcome::Error {
                code: "ResourceNotFound.Function".into(),
                message: "no such function".into(),
                request_id: Some("abc".into()),
            })
        );
    }

    #[test]
    fn error_wins_over_result() {
        let body = br#"{"Response":{"Result":{"RetMsg":"x"},"Error":{"Code":"InternalError"},"RequestId":"r"}}"#;
        assert!(matches!(
            parse_response(body),
            Ok(Outcome::Error { code, message, .. }) if code == "InternalError" && message.is_empty()
        ));
    }

    #[test]
    fn tolerates_unknown_fields_and_missing_request_id() {
        let body = br#"{"Extra":1,"Response":{"DeprecatedWarning":"x","Result":{"RetMsg":"1","NewField":{"a":[1]}}}}"#;
        let Ok(Outcome::Result { result, request_id }) = parse_response(body) else {
            panic!("parses");
        };
        assert_eq!(result.ret_msg.as_deref(), Some("1"));
        assert_eq!(request_id, None);
    }

    #[test]
    fn async_result_has_only_function_request_id() {
        let body = br#"{"Response":{"Result":{"FunctionRequestId":"f-1"},"RequestId":"r"}}"#;
        let Ok(Outcome::Result { result, .. }) = parse_response(body) else {
            panic!("parses");
        };
        assert_eq!(
            result,
            InvokeResult {
                function_request_id: Some("f-1".into()),
                ..InvokeResult::default()
            }
        );
    }

    #[test]
    fn whitespace_and_odd_types_around_the_parts_used() {
        let body = b" {\n \"Response\" :\n  { \"Error\" : { \"Code\" : \"InternalError\" , \"Message\": 7 },\n \"RequestId\": 12 } }\n";
        assert_eq!(
            parse_response(body),
            Ok(Outcome::Error {
                code: "InternalError".into(),
                message: String::new(),
                request_id: None,
            })
        );
        let body = b"{ \"Response\": { \"Result\" :\t{ \"RetMsg\" : \"a\\u0022b\" }, \"RequestId\" : \"r\\n1\" } }";
        let Ok(Outcome::Result { result, request_id }) = parse_response(body) else {
            panic!("parses");
        };
        assert_eq!(result.ret_msg.as_deref(), Some("a\"b"));
        assert_eq!(request_id.as_deref(), Some("r\n1"));
    }

    #[test]
    fn null_fields_are_absent() {
        let body = br#"{"Response":{"Result":{"RetMsg":null,"Duration":null},"Error":null,"RequestId":"r"}}"#;
        let Ok(Outcome::Result { result, .. }) = parse_response(body) else {
            panic!("parses");
        };
        assert_eq!(result, InvokeResult::default());
    }

    #[test]
    fn parse_errors_are_typed() {
        type Check = fn(&ParseError) -> bool;
        let cases: [(&[u8], Check); 14] = [
            (b"", |e| matches!(e, ParseError::InvalidJson { .. })),
            (b"not json", |e| matches!(e, ParseError::InvalidJson { .. })),
            (b"{\"Response\":", |e| {
                matches!(e, ParseError::InvalidJson { .. })
            }),
            (b"\xff\xfe", |e| matches!(e, ParseError::InvalidJson { .. })),
            (b"{}", |e| *e == ParseError::MissingResponse),
            (b"[]", |e| *e == ParseError::MissingResponse),
            (b"null", |e| *e == ParseError::MissingResponse),
            (br#"{"Response":"x"}"#, |e| {
                *e == ParseError::MissingResponse
            }),
            (br#"{"Response":{"RequestId":"r"}}"#, |e| {
                *e == ParseError::NeitherResultNorError
            }),
            (br#"{"Response":{"Result":null,"RequestId":"r"}}"#, |e| {
                *e == ParseError::NeitherResultNorError
            }),
            (br#"{"Response":{"Error":{"Code":5}}}"#, |e| {
                *e == ParseError::MalformedError
            }),
            (br#"{"Response":{"Error":"boom"}}"#, |e| {
                *e == ParseError::MalformedError
            }),
            (br#"{"Response":{"Result":{"RetMsg":5}}}"#, |e| {
                matches!(e, ParseError::MalformedResult(_))
            }),
            (br#"{"Response":{"Result":[1]}}"#, |e| {
                matches!(e, ParseError::MalformedResult(_))
            }),
        ];
        for (body, check) in cases {
            let got = parse_response(body).expect_err("must fail");
            assert!(
                check(&got),
                "{:?} -> {got:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn never_panics_on_truncations_and_deep_nesting() {
        let full = OFFICIAL_SAMPLE.as_bytes();
        for end in 0..full.len() {
            let _ = parse_response(&full[..end]);
        }
        let deep = "[".repeat(100_000);
        assert!(matches!(
            parse_response(deep.as_bytes()),
            Err(ParseError::InvalidJson { .. })
        ));
        let deep_in_result = format!(
            r#"{{"Response":{{"Result":{{"X":{}1{}}}}}}}"#,
            "[".repeat(120),
            "]".repeat(120)
        );
        let _ = parse_response(deep_in_result.as_bytes());
    }

    #[test]
    fn success_body_exact_and_round_trips() {
        let result = InvokeResult {
            log: Some(String::new()),
            ret_msg: Some("\"Hello World\"".into()),
            err_msg: Some(String::new()),
            mem_usage: Some(Number::from(3_207_168u64)),
            duration: Number::from_f64(1.234),
            bill_duration: Some(Number::from(2u64)),
            function_request_id: Some("fid".into()),
            invoke_result: Some(Number::from(0u64)),
        };
        let body = success_body(&result, "rid");
        assert_eq!(
            text(body.clone()),
            r#"{"Response":{"Result":{"Log":"","RetMsg":"\"Hello World\"","ErrMsg":"","MemUsage":3207168,"Duration":1.234,"BillDuration":2,"FunctionRequestId":"fid","InvokeResult":0},"RequestId":"rid"}}"#
        );
        assert_eq!(
            parse_response(&body),
            Ok(Outcome::Result {
                result,
                request_id: Some("rid".into())
            })
        );
    }

    #[test]
    fn error_body_exact_and_round_trips() {
        let body = error_body("AuthFailure.SignatureFailure", "bad \"sig\"", "rid");
        assert_eq!(
            text(body.clone()),
            r#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"bad \"sig\""},"RequestId":"rid"}}"#
        );
        assert_eq!(
            parse_response(&body),
            Ok(Outcome::Error {
                code: "AuthFailure.SignatureFailure".into(),
                message: "bad \"sig\"".into(),
                request_id: Some("rid".into())
            })
        );
    }
}
