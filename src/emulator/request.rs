//! Validation of an authenticated `Invoke` call, pure: the common `X-TC-*`
//! headers and the JSON body, answering the error codes the real service uses.

use http::HeaderMap;
use serde_json::{Map, Value};

use super::error::{code, ApiError};
use crate::scf3::invoke::{InvocationType, LogType, ACTION, VERSION};

/// Body fields `Invoke` accepts; anything else is `UnknownParameter`.
pub const KNOWN_FIELDS: [&str; 7] = [
    "FunctionName",
    "InvocationType",
    "Qualifier",
    "ClientContext",
    "LogType",
    "Namespace",
    "RoutingKey",
];

/// Largest `RoutingKey`, bytes.
pub const ROUTING_KEY_LIMIT: usize = 1024;

/// The only namespace the emulator has.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A validated `Invoke` call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `X-TC-Region`.
    pub region: String,
    /// `FunctionName`.
    pub function_name: String,
    /// `InvocationType`, defaulted.
    pub invocation_type: InvocationType,
    /// `Qualifier` as sent (any value is accepted).
    pub qualifier: Option<String>,
    /// `LogType`, defaulted.
    pub log_type: LogType,
    /// The event as sent in `ClientContext` (`{}` when absent).
    pub event_text: String,
    /// The event, parsed.
    pub event: Value,
}

fn text_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.trim())).map_err(|_| {
            ApiError::new(
                code::INVALID_PARAMETER,
                format!("{name} is not visible ASCII"),
            )
        }),
    }
}

fn required_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, ApiError> {
    match text_header(headers, name)? {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::new(
            code::MISSING_PARAMETER,
            format!("the {name} header is missing"),
        )),
    }
}

/// Checks `Content-Type` (JSON), `X-TC-Action` (`Invoke`), `X-TC-Version`
/// (`2018-04-16`) and `X-TC-Region` (present). Returns the region.
pub fn check_common_headers(headers: &HeaderMap) -> Result<String, ApiError> {
    let action = required_header(headers, "x-tc-action")?;
    if action != ACTION {
        return Err(ApiError::new(
            code::INVALID_ACTION,
            format!("the action {action:.64} does not exist; only {ACTION} is served"),
        ));
    }
    let version = required_header(headers, "x-tc-version")?;
    if version != VERSION {
        return Err(ApiError::new(
            code::NO_SUCH_VERSION,
            format!("the API version {version:.32} does not exist; use {VERSION}"),
        ));
    }
    let region = required_header(headers, "x-tc-region")?;
    let content_type = text_header(headers, "content-type")?.unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            code::INVALID_PARAMETER,
            "Content-Type must be application/json for a TC3-signed POST",
        ));
    }
    Ok(region.to_owned())
}

fn string_field<'v>(body: &'v Map<String, Value>, name: &str) -> Result<Option<&'v str>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::new(
            code::INVALID_PARAMETER,
            format!("{name} must be a string"),
        )),
    }
}

/// SCF naming rule: starts with a letter; letters, digits, `-` and `_`; at most 60 characters.
fn valid_function_name(name: &str) -> bool {
    name.len() <= 60
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// Validates the JSON body of an `Invoke` call (headers already checked).
pub fn parse_body(region: String, body: &[u8]) -> Result<Call, ApiError> {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Err(ApiError::new(
            code::INVALID_PARAMETER,
            "the request body must be a JSON object",
        ));
    };
    if let Some(unknown) = body.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::new(
            code::UNKNOWN_PARAMETER,
            format!("the parameter {unknown:.64} is not defined for {ACTION}"),
        ));
    }

    let Some(function_name) = string_field(&body, "FunctionName")? else {
        return Err(ApiError::new(
            code::MISSING_PARAMETER,
            "the parameter FunctionName is missing",
        ));
    };
    if !valid_function_name(function_name) {
        return Err(ApiError::new(
            code::INVALID_PARAMETER_FUNCTION_NAME,
            "FunctionName must start with a letter and have at most 60 letters, digits, '-' or '_'",
        ));
    }

    let invocation_type = match string_field(&body, "InvocationType")? {
        None => InvocationType::RequestResponse,
        Some(v) => InvocationType::parse(v).ok_or_else(|| {
            ApiError::new(
                code::INVALID_PARAMETER_VALUE,
                "InvocationType must be RequestResponse or Event",
            )
        })?,
    };
    let log_type = match string_field(&body, "LogType")? {
        None => LogType::None,
        Some(v) => LogType::parse(v).ok_or_else(|| {
            ApiError::new(
                code::INVALID_PARAMETER_VALUE,
                "LogType must be None or Tail",
            )
        })?,
    };
    let qualifier = string_field(&body, "Qualifier")?.map(str::to_owned);

    let (event_text, event) = match string_field(&body, "ClientContext")? {
        None => ("{}".to_owned(), Value::Object(Map::new())),
        Some(text) => {
            let limit = invocation_type.event_limit();
            if text.len() > limit {
                return Err(ApiError::new(
                    code::REQUEST_TOO_LARGE,
                    format!(
                        "ClientContext is {} bytes; the limit for {} is {limit} bytes",
                        text.len(),
                        invocation_type.as_str()
                    ),
                ));
            }
            let event = serde_json::from_str::<Value>(text).map_err(|_| {
                ApiError::new(
                    code::INVALID_PARAMETER_VALUE_PARAM,
                    "ClientContext is not valid JSON",
                )
            })?;
            (text.to_owned(), event)
        }
    };

    if let Some(key) = string_field(&body, "RoutingKey")? {
        let ok = key.len() <= ROUTING_KEY_LIMIT
            && matches!(
                serde_json::from_str::<Value>(key),
                Ok(Value::Object(m)) if m.values().all(Value::is_string)
            );
        if !ok {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE,
                "RoutingKey must be a JSON object of strings of at most 1024 bytes",
            ));
        }
    }

    match string_field(&body, "Namespace")? {
        None | Some(DEFAULT_NAMESPACE) => {}
        Some(other) => {
            return Err(ApiError::new(
                code::NAMESPACE_NOT_FOUND,
                format!("the namespace {other:.64} does not exist"),
            ))
        }
    }

    Ok(Call {
        region,
        function_name: function_name.to_owned(),
        invocation_type,
        qualifier,
        log_type,
        event_text,
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scf3::invoke::{ASYNC_EVENT_LIMIT, SYNC_EVENT_LIMIT};
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_static(v));
        }
        h
    }

    const GOOD: [(&str, &str); 4] = [
        ("content-type", "application/json"),
        ("x-tc-action", "Invoke"),
        ("x-tc-version", "2018-04-16"),
        ("x-tc-region", "ap-guangzhou"),
    ];

    fn without(name: &str) -> HeaderMap {
        let pairs: Vec<_> = GOOD.iter().copied().filter(|(n, _)| *n != name).collect();
        headers(&pairs)
    }

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = headers(&GOOD);
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    fn header_code(h: &HeaderMap) -> &'static str {
        check_common_headers(h).expect_err("refused").code
    }

    fn body_code(body: &str) -> &'static str {
        parse_body("r".into(), body.as_bytes())
            .expect_err("refused")
            .code
    }

    #[test]
    fn good_headers_give_the_region() {
        assert_eq!(
            check_common_headers(&headers(&GOOD)),
            Ok("ap-guangzhou".to_owned())
        );
        let h = with("content-type", "application/json; charset=utf-8");
        assert!(check_common_headers(&h).is_ok());
    }

    #[test]
    fn action_must_be_invoke() {
        assert_eq!(
            header_code(&with("x-tc-action", "InvokeFunction")),
            code::INVALID_ACTION
        );
        assert_eq!(
            header_code(&with("x-tc-action", "invoke")),
            code::INVALID_ACTION
        );
        assert_eq!(
            header_code(&without("x-tc-action")),
            code::MISSING_PARAMETER
        );
    }

    #[test]
    fn version_must_be_2018_04_16() {
        assert_eq!(
            header_code(&with("x-tc-version", "2017-03-12")),
            code::NO_SUCH_VERSION
        );
        assert_eq!(
            header_code(&without("x-tc-version")),
            code::MISSING_PARAMETER
        );
    }

    #[test]
    fn region_is_required() {
        assert_eq!(
            header_code(&without("x-tc-region")),
            code::MISSING_PARAMETER
        );
        assert_eq!(
            header_code(&with("x-tc-region", "")),
            code::MISSING_PARAMETER
        );
    }

    #[test]
    fn content_type_must_be_json() {
        let h = with("content-type", "application/x-www-form-urlencoded");
        assert_eq!(header_code(&h), code::INVALID_PARAMETER);
    }

    #[test]
    fn minimal_body_defaults() {
        let call = parse_body("ap-guangzhou".into(), br#"{"FunctionName":"hello"}"#).expect("ok");
        assert_eq!(
            call,
            Call {
                region: "ap-guangzhou".into(),
                function_name: "hello".into(),
                invocation_type: InvocationType::RequestResponse,
                qualifier: None,
                log_type: LogType::None,
                event_text: "{}".into(),
                event: serde_json::json!({}),
            }
        );
    }

    #[test]
    fn full_body_like_the_python_sdk_sends() {
        let body = r#"{"FunctionName": "echo", "InvocationType": "Event", "Qualifier": "$LATEST", "ClientContext": "{\"k\": \"v\"}", "LogType": "Tail", "Namespace": "default", "RoutingKey": "{\"a\": \"b\"}"}"#;
        let call = parse_body("r".into(), body.as_bytes()).expect("ok");
        assert_eq!(call.invocation_type, InvocationType::Event);
        assert_eq!(call.log_type, LogType::Tail);
        assert_eq!(call.qualifier.as_deref(), Some("$LATEST"));
        assert_eq!(call.event_text, r#"{"k": "v"}"#);
        assert_eq!(call.event, serde_json::json!({"k": "v"}));
    }

    #[test]
    fn body_must_be_a_json_object() {
        for body in ["", "[]", "\"x\"", "null", "{", "FunctionName=hello"] {
            assert_eq!(body_code(body), code::INVALID_PARAMETER, "{body:?}");
        }
    }

    #[test]
    fn unknown_field_is_unknown_parameter() {
        assert_eq!(
            body_code(r#"{"FunctionName":"hello","Event":"{}"}"#),
            code::UNKNOWN_PARAMETER
        );
        // Checked before anything else, even a missing FunctionName.
        assert_eq!(
            body_code(r#"{"functionName":"hello"}"#),
            code::UNKNOWN_PARAMETER
        );
    }

    #[test]
    fn function_name_missing_or_malformed() {
        assert_eq!(body_code("{}"), code::MISSING_PARAMETER);
        assert_eq!(
            body_code(r#"{"FunctionName":null}"#),
            code::MISSING_PARAMETER
        );
        assert_eq!(body_code(r#"{"FunctionName":5}"#), code::INVALID_PARAMETER);
        for bad in ["", "1abc", "a b", "a/b", &"a".repeat(61)] {
            let body = serde_json::json!({ "FunctionName": bad }).to_string();
            assert_eq!(
                body_code(&body),
                code::INVALID_PARAMETER_FUNCTION_NAME,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bad_invocation_type_or_log_type_is_invalid_parameter_value() {
        assert_eq!(
            body_code(r#"{"FunctionName":"hello","InvocationType":"Sync"}"#),
            code::INVALID_PARAMETER_VALUE
        );
        assert_eq!(
            body_code(r#"{"FunctionName":"hello","LogType":"tail"}"#),
            code::INVALID_PARAMETER_VALUE
        );
    }

    #[test]
    fn client_context_must_be_json() {
        assert_eq!(
            body_code(r#"{"FunctionName":"hello","ClientContext":"{not json"}"#),
            code::INVALID_PARAMETER_VALUE_PARAM
        );
        assert_eq!(
            body_code(r#"{"FunctionName":"hello","ClientContext":{"a":1}}"#),
            code::INVALID_PARAMETER
        );
    }

    fn event_of_len(len: usize) -> String {
        // A JSON string literal of exactly `len` bytes.
        format!("\"{}\"", "a".repeat(len - 2))
    }

    #[test]
    fn client_context_size_limits() {
        let body = |event: &str, kind: &str| {
            serde_json::json!({"FunctionName": "echo", "ClientContext": event, "InvocationType": kind})
                .to_string()
        };
        let at_async = event_of_len(ASYNC_EVENT_LIMIT);
        let over_async = event_of_len(ASYNC_EVENT_LIMIT + 1);
        assert!(parse_body("r".into(), body(&at_async, "Event").as_bytes()).is_ok());
        assert_eq!(
            body_code(&body(&over_async, "Event")),
            code::REQUEST_TOO_LARGE
        );
        assert!(parse_body("r".into(), body(&over_async, "RequestResponse").as_bytes()).is_ok());
        let at_sync = event_of_len(SYNC_EVENT_LIMIT);
        let over_sync = event_of_len(SYNC_EVENT_LIMIT + 1);
        assert!(parse_body("r".into(), body(&at_sync, "RequestResponse").as_bytes()).is_ok());
        assert_eq!(
            body_code(&body(&over_sync, "RequestResponse")),
            code::REQUEST_TOO_LARGE
        );
    }

    #[test]
    fn routing_key_rules() {
        assert_eq!(
            body_code(r#"{"FunctionName":"hello","RoutingKey":"{\"a\":1}"}"#),
            code::INVALID_PARAMETER_VALUE
        );
        let long = serde_json::json!({"a": "x".repeat(1100)}).to_string();
        let body = serde_json::json!({"FunctionName": "hello", "RoutingKey": long}).to_string();
        assert_eq!(body_code(&body), code::INVALID_PARAMETER_VALUE);
    }

    #[test]
    fn only_the_default_namespace_exists() {
        assert!(parse_body(
            "r".into(),
            br#"{"FunctionName":"hello","Namespace":"default"}"#
        )
        .is_ok());
        assert_eq!(
            body_code(r#"{"FunctionName":"hello","Namespace":"prod"}"#),
            code::NAMESPACE_NOT_FOUND
        );
    }
}
