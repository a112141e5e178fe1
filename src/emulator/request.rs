//! What every request shares, checked before any action runs: the common
//! headers (`X-TC-Action` one of the served [`Action`]s, `X-TC-Version`
//! `2018-04-16`, `X-TC-Region`, a JSON `Content-Type`) and the body, a JSON
//! object holding only the action's fields ([`Params`], `UnknownParameter`
//! otherwise) with typed accessors answering the 3.0 error codes.

use http::HeaderMap;
use serde_json::{Map, Value};

use super::error::{code, ApiError};
use super::schema::Action;

/// `X-TC-Version` of SCF API 3.0.
pub const VERSION: &str = "2018-04-16";
/// The namespace every region has.
pub const DEFAULT_NAMESPACE: &str = "default";

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

/// Checks `X-TC-Action` (a served action), `X-TC-Version` (`2018-04-16`),
/// `X-TC-Region` (present) and `Content-Type` (JSON). Returns the action and
/// the region.
pub fn check_common_headers(headers: &HeaderMap) -> Result<(Action, String), ApiError> {
    let name = required_header(headers, "x-tc-action")?;
    let Some(action) = Action::parse(name) else {
        return Err(ApiError::new(
            code::INVALID_ACTION,
            format!("the action {name:.64} does not exist or is not served by the emulator"),
        ));
    };
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
    Ok((action, region.to_owned()))
}

/// SCF naming rule: starts with a letter; letters, digits, `-` and `_`; at most 60 characters.
pub fn valid_function_name(name: &str) -> bool {
    name.len() <= 60
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// The body of one call: a JSON object with only the action's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    action: Action,
    body: Map<String, Value>,
}

impl Params {
    /// Parses `body` for `action`: a JSON object (`InvalidParameter`) whose
    /// keys are all fields of the action (`UnknownParameter`).
    pub fn parse(action: Action, body: &[u8]) -> Result<Params, ApiError> {
        let body = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(ApiError::new(
                    code::INVALID_PARAMETER,
                    "the request body must be a JSON object",
                ))
            }
        };
        if let Some(unknown) = body.keys().find(|k| !action.fields().contains(&k.as_str())) {
            return Err(ApiError::new(
                code::UNKNOWN_PARAMETER,
                format!(
                    "the parameter {unknown:.64} is not defined for {}",
                    action.name()
                ),
            ));
        }
        Ok(Params { action, body })
    }

    /// The action these parameters are for.
    pub fn action(&self) -> Action {
        self.action
    }

    /// Whether `name` was sent (and is not null).
    pub fn has(&self, name: &str) -> bool {
        !matches!(self.body.get(name), None | Some(Value::Null))
    }

    /// The raw value of `name`.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.body.get(name).filter(|v| !v.is_null())
    }

    /// A string field (`InvalidParameter` if not a string).
    pub fn str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        string_in(&self.body, name)
    }

    /// A string field that must be present and non-empty (`MissingParameter`).
    pub fn required_str(&self, name: &str) -> Result<&str, ApiError> {
        match self.str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::new(
                code::MISSING_PARAMETER,
                format!("the parameter {name} is missing"),
            )),
        }
    }

    /// An integer field (`InvalidParameter` if not an integer).
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                ApiError::new(
                    code::INVALID_PARAMETER,
                    format!("{name} must be an integer"),
                )
            }),
        }
    }

    /// An object field (`InvalidParameter` if not an object).
    pub fn object(&self, name: &str) -> Result<Option<&Map<String, Value>>, ApiError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(ApiError::new(
                code::INVALID_PARAMETER,
                format!("{name} must be an object"),
            )),
        }
    }

    /// An array field (`InvalidParameter` if not an array).
    pub fn array(&self, name: &str) -> Result<Option<&Vec<Value>>, ApiError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(ApiError::new(
                code::INVALID_PARAMETER,
                format!("{name} must be an array"),
            )),
        }
    }

    /// `FunctionName`: required and following the naming rule.
    pub fn function_name(&self) -> Result<&str, ApiError> {
        let name = self.required_str("FunctionName")?;
        if !valid_function_name(name) {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_FUNCTION_NAME,
                "FunctionName must start with a letter and have at most 60 letters, digits, '-' or '_'",
            ));
        }
        Ok(name)
    }

    /// `Namespace`, defaulted; only `default` exists.
    pub fn namespace(&self) -> Result<&str, ApiError> {
        match self.str("Namespace")? {
            None | Some("") => Ok(DEFAULT_NAMESPACE),
            Some(DEFAULT_NAMESPACE) => Ok(DEFAULT_NAMESPACE),
            Some(other) => Err(ApiError::new(
                code::NAMESPACE_NOT_FOUND,
                format!("the namespace {other:.64} does not exist"),
            )),
        }
    }

    /// `Offset` and `Limit` with their defaults (0, 20); `Limit` at most `max`.
    pub fn offset_limit(&self, max: i64) -> Result<(usize, usize), ApiError> {
        let offset = self.int("Offset")?.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE_OFFSET,
                "Offset must not be negative",
            ));
        }
        let limit = self.int("Limit")?.unwrap_or(20);
        if !(0..=max).contains(&limit) {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE_LIMIT,
                format!("Limit must be from 0 to {max}"),
            ));
        }
        Ok((offset as usize, limit as usize))
    }
}

/// A string field of `object` (`InvalidParameter` if not a string).
pub fn string_in<'v>(
    object: &'v Map<String, Value>,
    name: &str,
) -> Result<Option<&'v str>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::new(
            code::INVALID_PARAMETER,
            format!("{name} must be a string"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn good_headers_give_the_action_and_region() {
        assert_eq!(
            check_common_headers(&headers(&GOOD)),
            Ok((Action::Invoke, "ap-guangzhou".to_owned()))
        );
        let h = with("content-type", "application/json; charset=utf-8");
        assert!(check_common_headers(&h).is_ok());
        let h = with("x-tc-action", "ListFunctions");
        assert_eq!(
            check_common_headers(&h).map(|r| r.0),
            Ok(Action::ListFunctions)
        );
    }

    #[test]
    fn action_must_be_served_and_exact() {
        assert_eq!(
            header_code(&with("x-tc-action", "invoke")),
            code::INVALID_ACTION
        );
        assert_eq!(
            header_code(&with("x-tc-action", "PublishVersion")),
            code::INVALID_ACTION
        );
        assert_eq!(
            header_code(&without("x-tc-action")),
            code::MISSING_PARAMETER
        );
    }

    #[test]
    fn version_region_and_content_type() {
        assert_eq!(
            header_code(&with("x-tc-version", "2017-03-12")),
            code::NO_SUCH_VERSION
        );
        assert_eq!(
            header_code(&without("x-tc-version")),
            code::MISSING_PARAMETER
        );
        assert_eq!(
            header_code(&without("x-tc-region")),
            code::MISSING_PARAMETER
        );
        assert_eq!(
            header_code(&with("x-tc-region", "")),
            code::MISSING_PARAMETER
        );
        let h = with("content-type", "application/x-www-form-urlencoded");
        assert_eq!(header_code(&h), code::INVALID_PARAMETER);
    }

    fn parse(action: Action, body: &str) -> Result<Params, ApiError> {
        Params::parse(action, body.as_bytes())
    }

    #[test]
    fn body_must_be_a_json_object() {
        for body in ["", "[]", "\"x\"", "null", "{", "FunctionName=hello"] {
            assert_eq!(
                parse(Action::Invoke, body).expect_err("refused").code,
                code::INVALID_PARAMETER,
                "{body:?}"
            );
        }
    }

    #[test]
    fn fields_of_another_action_are_unknown_parameters() {
        let err = parse(Action::Invoke, r#"{"FunctionName":"hello","Event":"{}"}"#).expect_err("x");
        assert_eq!(err.code, code::UNKNOWN_PARAMETER);
        assert!(err.message.contains("Event"), "{}", err.message);
        assert!(parse(
            Action::InvokeFunction,
            r#"{"FunctionName":"hello","Event":"{}"}"#
        )
        .is_ok());
        let err = parse(Action::InvokeFunction, r#"{"InvocationType":"Event"}"#).expect_err("x");
        assert_eq!(err.code, code::UNKNOWN_PARAMETER);
        let err = parse(Action::GetAccount, r#"{"Namespace":"default"}"#).expect_err("x");
        assert_eq!(err.code, code::UNKNOWN_PARAMETER);
        assert!(parse(Action::GetAccount, "{}").is_ok());
    }

    #[test]
    fn function_name_missing_or_malformed() {
        let p = parse(Action::GetFunction, "{}").expect("ok");
        assert_eq!(
            p.function_name().expect_err("x").code,
            code::MISSING_PARAMETER
        );
        let p = parse(Action::GetFunction, r#"{"FunctionName":5}"#).expect("ok");
        assert_eq!(
            p.function_name().expect_err("x").code,
            code::INVALID_PARAMETER
        );
        for bad in ["1abc", "a b", "a/b", &"a".repeat(61)] {
            let body = serde_json::json!({ "FunctionName": bad }).to_string();
            let p = parse(Action::GetFunction, &body).expect("ok");
            assert_eq!(
                p.function_name().expect_err("x").code,
                code::INVALID_PARAMETER_FUNCTION_NAME,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn only_the_default_namespace_exists() {
        let p = parse(Action::GetFunction, r#"{"Namespace":"default"}"#).expect("ok");
        assert_eq!(p.namespace(), Ok("default"));
        let p = parse(Action::GetFunction, "{}").expect("ok");
        assert_eq!(p.namespace(), Ok("default"));
        let p = parse(Action::GetFunction, r#"{"Namespace":"prod"}"#).expect("ok");
        assert_eq!(
            p.namespace().expect_err("x").code,
            code::NAMESPACE_NOT_FOUND
        );
    }

    #[test]
    fn offset_and_limit() {
        let p = parse(Action::ListFunctions, "{}").expect("ok");
        assert_eq!(p.offset_limit(100), Ok((0, 20)));
        let p = parse(Action::ListFunctions, r#"{"Offset":3,"Limit":7}"#).expect("ok");
        assert_eq!(p.offset_limit(100), Ok((3, 7)));
        let p = parse(Action::ListFunctions, r#"{"Offset":-1}"#).expect("ok");
        assert_eq!(
            p.offset_limit(100).expect_err("x").code,
            code::INVALID_PARAMETER_VALUE_OFFSET
        );
        let p = parse(Action::ListFunctions, r#"{"Limit":101}"#).expect("ok");
        assert_eq!(
            p.offset_limit(100).expect_err("x").code,
            code::INVALID_PARAMETER_VALUE_LIMIT
        );
        let p = parse(Action::ListFunctions, r#"{"Limit":"5"}"#).expect("ok");
        assert_eq!(
            p.offset_limit(100).expect_err("x").code,
            code::INVALID_PARAMETER
        );
    }
}
