//! The translation between the two dialects, pure: a legacy
//! `InvokeFunction` becomes a 3.0 `Invoke` body, and a 3.0 answer becomes a
//! legacy answer, through the one 3.0 → legacy error-code table.
//! The only module that knows both `legacy` and `scf3`.

use serde_json::{Map, Number, Value};

use crate::legacy::answer::{codes, LegacyAnswer};
use crate::legacy::request::{InvokeFunction, InvokeType, LogType};
use crate::scf3::invoke::{self, InvokeFunctionRequest, InvokeRequest, InvokeResult, Outcome};

/// The 3.0 `Invoke` body for a legacy `InvokeFunction`: what the caller
/// sent (SCF's defaults equal the legacy ones), and always `Qualifier`.
/// `param` is passed on verbatim as `ClientContext`. Nothing else of the
/// legacy request reaches the body.
pub fn to_invoke(f: &InvokeFunction) -> InvokeRequest<'_> {
    InvokeRequest {
        function_name: &f.function_name,
        invocation_type: f.invoke_type_given.then(|| invocation_type(f.invoke_type)),
        qualifier: Some(invoke_qualifier(f)),
        client_context: f.param.as_deref(),
        log_type: log_type(f),
        namespace: f.namespace.as_deref(),
    }
}

/// The 3.0 `InvokeFunction` body for a synchronous legacy `InvokeFunction`:
/// `param` becomes `Event`, there is no `InvocationType`, and `Qualifier`
/// is always sent — 3.0 `InvokeFunction` would otherwise run the
/// `$DEFAULT` alias, which may route to published versions, where the
/// legacy service (and `Invoke`) ran `$LATEST`.
pub fn to_invoke_function(f: &InvokeFunction) -> InvokeFunctionRequest<'_> {
    InvokeFunctionRequest {
        function_name: &f.function_name,
        qualifier: Some(invoke_qualifier(f)),
        event: f.param.as_deref(),
        log_type: log_type(f),
        namespace: f.namespace.as_deref(),
    }
}

/// The caller's `version` as a 3.0 `Qualifier` ([`qualifier`]), else
/// `$LATEST`, the version the legacy service ran.
fn invoke_qualifier(f: &InvokeFunction) -> &str {
    f.version.as_deref().map_or("$LATEST", qualifier)
}

fn log_type(f: &InvokeFunction) -> Option<invoke::LogType> {
    f.log_type_given.then_some(match f.log_type {
        LogType::None => invoke::LogType::None,
        LogType::Tail => invoke::LogType::Tail,
    })
}

/// The compact JSON bytes of [`to_invoke`], written into a buffer sized up
/// front: `param` dominates a large body, and growing the buffer by
/// doubling would copy it several times and hold two copies at the peak.
/// The headroom covers escaping (`"` → `\"`) of one byte in eight.
pub fn invoke_body(f: &InvokeFunction) -> Vec<u8> {
    sized_body(f, &to_invoke(f))
}

/// The compact JSON bytes of [`to_invoke_function`], sized as
/// [`invoke_body`] is.
pub fn invoke_function_body(f: &InvokeFunction) -> Vec<u8> {
    sized_body(f, &to_invoke_function(f))
}

fn sized_body(f: &InvokeFunction, body: &impl serde::Serialize) -> Vec<u8> {
    let text = |s: &Option<String>| s.as_deref().map_or(0, str::len);
    let param = text(&f.param);
    let estimate =
        160 + f.function_name.len() + text(&f.namespace) + text(&f.version) + param + param / 8;
    let mut out = Vec::with_capacity(estimate);
    serde_json::to_writer(&mut out, body)
        .expect("an invocation body always serializes: it has only strings and enums");
    out
}

pub fn invocation_type(t: InvokeType) -> invoke::InvocationType {
    match t {
        InvokeType::RequestResponse => invoke::InvocationType::RequestResponse,
        InvokeType::Event => invoke::InvocationType::Event,
    }
}

/// A legacy answer made from a 3.0 answer, with what the log line needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    pub answer: LegacyAnswer,
    /// The 3.0 `RequestId`, sent back as `X-Request-Id`.
    pub request_id: Option<String>,
    /// The function's execution id (`FunctionRequestId`).
    pub function_request_id: Option<String>,
    /// The 3.0 error code, when SCF answered with an error.
    pub scf_error: Option<String>,
}

/// How a synchronous `Result` becomes the legacy `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncShape {
    /// The answer is 3.0 `InvokeFunction`'s, whose `InvokeResult` is an
    /// execution status code: 200 becomes the legacy 0, any other value is
    /// kept (non-zero means failure, as it did).
    pub status_code_result: bool,
    /// Add `payLoad`, `logMsg` and `memSize` (the legacy documentation's
    /// names) beside `retMsg`, `log` and `memUsage` (the service's).
    pub documented_aliases: bool,
}

/// Map a parsed 3.0 `Invoke` answer to the legacy answer, without the
/// documented aliases ([`from_outcome_with`]).
///
/// A function that failed (non-empty `ErrMsg`) is still `code` 0 with
/// `errMsg` filled, as the legacy service answered.
pub fn from_outcome(outcome: Outcome, invoke_type: InvokeType) -> Translated {
    from_outcome_with(outcome, invoke_type, SyncShape::default())
}

/// [`from_outcome`] with the shape of a synchronous answer chosen.
pub fn from_outcome_with(
    outcome: Outcome,
    invoke_type: InvokeType,
    shape: SyncShape,
) -> Translated {
    match outcome {
        Outcome::Result { result, request_id } => {
            let function_request_id = result.function_request_id.clone();
            let data = match invoke_type {
                InvokeType::RequestResponse => sync_data(result, shape),
                InvokeType::Event => async_data(result),
            };
            Translated {
                answer: LegacyAnswer::success(data),
                request_id,
                function_request_id,
                scf_error: None,
            }
        }
        Outcome::Error {
            code,
            message,
            request_id,
        } => Translated {
            answer: LegacyAnswer::error(
                legacy_code_for(&code),
                code.clone(),
                format!("({code}) {message}"),
            ),
            request_id,
            function_request_id: None,
            scf_error: Some(code),
        },
    }
}

/// Legacy sync `data`: 3.0 `Result` with lower-camel keys and
/// `FunctionRequestId` renamed to `requestId`; numbers keep their JSON type.
/// A field SCF left out is given its type's zero value, so the legacy shape
/// is always complete.
fn sync_data(r: InvokeResult, shape: SyncShape) -> Value {
    let mut m = Map::with_capacity(11);
    m.insert(
        "requestId".into(),
        Value::String(r.function_request_id.unwrap_or_default()),
    );
    m.insert("duration".into(), number_or(r.duration, zero_float()));
    m.insert("billDuration".into(), number_or(r.bill_duration, 0.into()));
    m.insert("memUsage".into(), number_or(r.mem_usage, 0.into()));
    m.insert("log".into(), Value::String(r.log.unwrap_or_default()));
    m.insert(
        "retMsg".into(),
        Value::String(r.ret_msg.unwrap_or_default()),
    );
    m.insert(
        "errMsg".into(),
        Value::String(r.err_msg.unwrap_or_default()),
    );
    let invoke_result = match r.invoke_result {
        Some(n)
            if shape.status_code_result && n.as_i64() == Some(invoke::INVOKE_FUNCTION_SUCCESS) =>
        {
            0.into()
        }
        other => other.unwrap_or_else(|| 0.into()),
    };
    m.insert("invokeResult".into(), Value::Number(invoke_result));
    if shape.documented_aliases {
        for (alias, of) in [
            ("payLoad", "retMsg"),
            ("logMsg", "log"),
            ("memSize", "memUsage"),
        ] {
            let value = m[of].clone();
            m.insert(alias.into(), value);
        }
    }
    Value::Object(m)
}

/// Legacy async `data`: just the execution id.
fn async_data(r: InvokeResult) -> Value {
    let mut m = Map::with_capacity(1);
    m.insert(
        "requestId".into(),
        Value::String(r.function_request_id.unwrap_or_default()),
    );
    Value::Object(m)
}

fn number_or(n: Option<Number>, default: Number) -> Value {
    Value::Number(n.unwrap_or(default))
}

fn zero_float() -> Number {
    Number::from_f64(0.0).expect("0.0 is finite")
}

/// Legacy `version` → 3.0 `Qualifier`: the legacy `LATEST` is 3.0's
/// `$LATEST`; numbered versions and `$…` names pass as sent
/// (docs/protocol.md, "namespace and version").
pub fn qualifier(version: &str) -> &str {
    if version == "LATEST" {
        "$LATEST"
    } else {
        version
    }
}

/// Whether a legacy `version` names the latest code (absent, `LATEST` or
/// `$LATEST`).
pub fn is_latest(version: Option<&str>) -> bool {
    matches!(version, None | Some("LATEST" | "$LATEST"))
}

/// 3.0 `FunctionVersion` → legacy `version`: `$LATEST` is `LATEST`.
pub fn legacy_version(version: &str) -> &str {
    version.strip_prefix('$').unwrap_or(version)
}

/// A 3.0 `"YYYY-MM-DD HH:MM:SS"` time as legacy clients read it: the same
/// text, without the stray surrounding spaces 3.0 sometimes adds.
pub fn legacy_time(time: &str) -> &str {
    time.trim()
}

/// A 3.0 JSON value with every object key lower-camel-cased, recursively
/// (`NamespacesCount` → `namespacesCount`): the convention of legacy
/// `data` objects.
pub fn lower_camel_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (lower_camel(&k), lower_camel_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(lower_camel_keys).collect()),
        other => other,
    }
}

/// `FunctionName` → `functionName`: the first character lower-cased.
pub fn lower_camel(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The one 3.0 → legacy error-code table, most specific rule first.
/// `codeDesc` is always the 3.0 code itself; only `code` comes from here.
pub fn legacy_code_for(code: &str) -> i64 {
    let family = |prefix: &str| code == prefix || code.starts_with(&format!("{prefix}."));
    match code {
        "AuthFailure.SignatureExpire" => codes::SIGNATURE_EXPIRE,
        "AuthFailure.SecretIdNotFound" | "AuthFailure.InvalidSecretId" => {
            codes::SECRET_ID_NOT_FOUND
        }
        "AuthFailure.TokenFailure" => codes::TOKEN_FAILURE,
        "AuthFailure.MFAFailure" => codes::MFA_FAILURE,
        "AuthFailure.UnauthorizedOperation" => codes::NO_API_AUTH,
        "ResourceUnavailable.ServiceSuspended" => codes::ACCESS_DENIED,
        "ResourceUnavailable.InsufficientBalance" | "FailedOperation.InsufficientBalance" => {
            codes::INSUFFICIENT_BALANCE
        }
        "InvalidAction" | "InvalidRequest" | "RequestSizeLimitExceeded" | "UnsupportedRegion" => {
            codes::INVALID_PARAMETER
        }
        "IpInBlacklist" | "IpNotInWhitelist" => codes::ACCESS_DENIED,
        "NoSuchVersion" | "NoSuchProduct" | "ActionOffline" | "UnsupportedProtocol" => {
            codes::UNSUPPORTED_VERSION
        }
        "ResponseSizeLimitExceeded" => codes::INTERNAL_ERROR,
        _ if family("UnauthorizedOperation") => codes::NO_RESOURCE_AUTH,
        _ if family("AuthFailure") => codes::AUTH_FAILURE,
        _ if family("InvalidParameter")
            || family("InvalidParameterValue")
            || family("MissingParameter")
            || family("UnknownParameter") =>
        {
            codes::INVALID_PARAMETER
        }
        _ if family("OperationDenied") => codes::ACCESS_DENIED,
        _ if family("RequestLimitExceeded") || family("LimitExceeded") => codes::QUOTA_EXCEEDED,
        _ if family("ResourceNotFound") => codes::RESOURCE_NOT_FOUND,
        _ if family("FailedOperation")
            || family("ResourceInUse")
            || family("ResourceInsufficient") =>
        {
            codes::OPERATION_FAILED
        }
        _ if family("UnsupportedOperation") => codes::UNSUPPORTED_VERSION,
        _ if family("ServiceUnavailable") || family("ResourceUnavailable") => {
            codes::TEMPORARILY_UNAVAILABLE
        }
        _ => codes::INTERNAL_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoke(name: &str) -> InvokeFunction {
        InvokeFunction {
            function_name: name.into(),
            invoke_type: InvokeType::RequestResponse,
            param: None,
            log_type: LogType::None,
            namespace: None,
            version: None,
            invoke_type_given: false,
            log_type_given: false,
        }
    }

    #[test]
    fn request_maps_every_legacy_field_to_its_invoke_field() {
        let f = InvokeFunction {
            function_name: "hello".into(),
            invoke_type: InvokeType::Event,
            param: Some(r#"{"a": 1, "s": "x y"}"#.into()),
            log_type: LogType::Tail,
            namespace: Some("prod".into()),
            version: Some("3".into()),
            invoke_type_given: true,
            log_type_given: true,
        };
        let body: Value = serde_json::to_value(to_invoke(&f)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "FunctionName": "hello",
                "InvocationType": "Event",
                "Qualifier": "3",
                "ClientContext": "{\"a\": 1, \"s\": \"x y\"}",
                "LogType": "Tail",
                "Namespace": "prod",
            })
        );
    }

    #[test]
    fn invoke_function_body_has_event_and_no_invocation_type() {
        let mut f = invoke("hello");
        f.param = Some(r#"{"a":1}"#.into());
        f.version = Some("LATEST".into());
        f.log_type = LogType::Tail;
        f.log_type_given = true;
        let body: Value = serde_json::from_slice(&invoke_function_body(&f)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"FunctionName": "hello", "Qualifier": "$LATEST",
                "Event": "{\"a\":1}", "LogType": "Tail"})
        );
    }

    #[test]
    fn invoke_body_is_exactly_the_serialized_request() {
        let mut f = invoke("f");
        for param in [
            None,
            Some(String::new()),
            Some(r#"{"q":"\"x\"","t":"\t\n"}"#.repeat(50)),
        ] {
            f.param = param;
            f.namespace = Some("ns".into());
            assert_eq!(invoke_body(&f), to_invoke(&f).to_json());
        }
    }

    #[test]
    fn request_leaves_out_what_the_caller_did_not_send() {
        let body: Value = serde_json::to_value(to_invoke(&invoke("f"))).unwrap();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(keys, ["FunctionName", "Qualifier"]);
        assert_eq!(body["Qualifier"], "$LATEST");
    }

    fn result_from(json: &str) -> InvokeResult {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn sync_result_keeps_legacy_keys_order_and_number_types() {
        let r = result_from(
            r#"{"MemUsage":3207168,"Log":"l","RetMsg":"hello from scf","BillDuration":100,
            "FunctionRequestId":"6add56fa","Duration":0.826,"ErrMsg":"","InvokeResult":0}"#,
        );
        let t = from_outcome(
            Outcome::Result {
                result: r,
                request_id: Some("c2af8a64".into()),
            },
            InvokeType::RequestResponse,
        );
        let bytes = t.answer.to_json();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"code":0,"message":"","codeDesc":"Success","data":{"requestId":"6add56fa","duration":0.826,"billDuration":100,"memUsage":3207168,"log":"l","retMsg":"hello from scf","errMsg":"","invokeResult":0}}"#
        );
        assert_eq!(t.request_id.as_deref(), Some("c2af8a64"));
        assert_eq!(t.function_request_id.as_deref(), Some("6add56fa"));
    }

    #[test]
    fn integral_duration_stays_as_sent_and_missing_fields_get_zero_values() {
        let r = result_from(r#"{"FunctionRequestId":"x","Duration":2}"#);
        let t = from_outcome(
            Outcome::Result {
                result: r,
                request_id: None,
            },
            InvokeType::RequestResponse,
        );
        let data = t.answer.data.unwrap();
        assert_eq!(data["duration"], serde_json::json!(2));
        assert_eq!(data["memUsage"], serde_json::json!(0));
        assert_eq!(data["log"], "");
    }

    #[test]
    fn function_error_is_still_code_zero_with_err_msg() {
        let r = result_from(r#"{"FunctionRequestId":"x","ErrMsg":"boom","InvokeResult":-1}"#);
        let t = from_outcome(
            Outcome::Result {
                result: r,
                request_id: None,
            },
            InvokeType::RequestResponse,
        );
        assert_eq!(t.answer.code, 0);
        assert_eq!(t.answer.data.unwrap()["errMsg"], "boom");
    }

    #[test]
    fn async_result_is_only_the_request_id() {
        let r = result_from(r#"{"FunctionRequestId":"abc"}"#);
        let t = from_outcome(
            Outcome::Result {
                result: r,
                request_id: None,
            },
            InvokeType::Event,
        );
        assert_eq!(
            t.answer.data.unwrap(),
            serde_json::json!({"requestId": "abc"})
        );
    }

    #[test]
    fn scf_error_becomes_legacy_error_with_code_desc_and_message() {
        let t = from_outcome(
            Outcome::Error {
                code: "ResourceNotFound.Function".into(),
                message: "function not found".into(),
                request_id: Some("r1".into()),
            },
            InvokeType::RequestResponse,
        );
        assert_eq!(t.answer.code, 5000);
        assert_eq!(t.answer.code_desc, "ResourceNotFound.Function");
        assert_eq!(
            t.answer.message,
            "(ResourceNotFound.Function) function not found"
        );
        assert_eq!(t.answer.data, None);
        assert_eq!(t.scf_error.as_deref(), Some("ResourceNotFound.Function"));
    }

    #[test]
    fn latest_is_dollar_latest_in_3_0_and_back() {
        assert_eq!(qualifier("LATEST"), "$LATEST");
        assert_eq!(qualifier("$LATEST"), "$LATEST");
        assert_eq!(qualifier("3"), "3");
        assert_eq!(legacy_version("$LATEST"), "LATEST");
        assert_eq!(legacy_version("2"), "2");
        assert!(is_latest(None) && is_latest(Some("LATEST")) && is_latest(Some("$LATEST")));
        assert!(!is_latest(Some("1")));
    }

    #[test]
    fn keys_are_lower_camel_cased_recursively_and_values_kept() {
        let v = serde_json::json!({"NamespacesCount": 1, "Namespace": [{"FunctionsCount": 2,
            "Trigger": {"Cos": 10, "Timer": 5}, "Name": "Default"}]});
        assert_eq!(
            lower_camel_keys(v),
            serde_json::json!({"namespacesCount": 1, "namespace": [{"functionsCount": 2,
                "trigger": {"cos": 10, "timer": 5}, "name": "Default"}]})
        );
        assert_eq!(lower_camel(""), "");
    }

    #[test]
    fn times_pass_through_trimmed() {
        assert_eq!(legacy_time(" 2024-12-20 11:27:07"), "2024-12-20 11:27:07");
    }

    /// One row per rule of the table, most specific first.
    #[test]
    fn error_table_rows() {
        let rows: &[(&str, i64)] = &[
            ("AuthFailure.SignatureExpire", 4200),
            ("AuthFailure.SecretIdNotFound", 4104),
            ("AuthFailure.InvalidSecretId", 4104),
            ("AuthFailure.TokenFailure", 4105),
            ("AuthFailure.MFAFailure", 4106),
            ("AuthFailure.UnauthorizedOperation", 4101),
            ("UnauthorizedOperation", 4102),
            ("UnauthorizedOperation.CAM", 4102),
            ("AuthFailure", 4100),
            ("AuthFailure.SignatureFailure", 4100),
            ("AuthFailure.InvalidAuthorization", 4100),
            ("InvalidParameter", 4000),
            ("InvalidParameter.FunctionName", 4000),
            ("InvalidParameterValue", 4000),
            ("InvalidParameterValue.Param", 4000),
            ("MissingParameter", 4000),
            ("UnknownParameter", 4000),
            ("InvalidAction", 4000),
            ("InvalidRequest", 4000),
            ("RequestSizeLimitExceeded", 4000),
            ("UnsupportedRegion", 4000),
            ("OperationDenied", 4300),
            ("OperationDenied.AccountIsolate", 4300),
            ("IpInBlacklist", 4300),
            ("IpNotInWhitelist", 4300),
            ("ResourceUnavailable.ServiceSuspended", 4300),
            ("RequestLimitExceeded", 4400),
            ("RequestLimitExceeded.UinLimitExceeded", 4400),
            ("LimitExceeded", 4400),
            ("LimitExceeded.TotalConcurrencyMemory", 4400),
            ("ResourceNotFound", 5000),
            ("ResourceNotFound.Function", 5000),
            ("ResourceNotFound.Qualifier", 5000),
            ("ResourceUnavailable.InsufficientBalance", 5300),
            ("FailedOperation.InsufficientBalance", 5300),
            ("FailedOperation", 5100),
            ("FailedOperation.InvokeFunction", 5100),
            ("ResourceInUse", 5100),
            ("ResourceInsufficient", 5100),
            ("UnsupportedOperation", 6100),
            ("UnsupportedOperation.Region", 6100),
            ("NoSuchVersion", 6100),
            ("NoSuchProduct", 6100),
            ("ActionOffline", 6100),
            ("UnsupportedProtocol", 6100),
            ("ServiceUnavailable", 6200),
            ("ResourceUnavailable", 6200),
            ("ResourceUnavailable.Other", 6200),
            ("InternalError", 6000),
            ("InternalError.System", 6000),
            ("ResponseSizeLimitExceeded", 6000),
            ("SomethingNew", 6000),
            ("", 6000),
            // A prefix is a family only up to a dot.
            ("AuthFailureX", 6000),
            ("ResourceNotFoundish", 6000),
        ];
        for (code, want) in rows {
            assert_eq!(legacy_code_for(code), *want, "{code}");
        }
    }
}
