//! What every action shares between the two dialects, pure: the one
//! 3.0 → legacy error-code table ([`legacy_code_for`]) and the value
//! conversions the reference names (`LATEST` ↔ `$LATEST`, times, key case).
//! Each action's own field mapping lives in its module under `actions/`.

use serde_json::Value;

use crate::legacy::answer::codes;

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
        // The name is taken: a bad value, as the legacy service answered.
        "ResourceInUse.Function"
        | "ResourceInUse.FunctionName"
        | "ResourceInUse.Trigger"
        | "ResourceInUse.TriggerName"
        | "ResourceInUse.Cos"
        | "ResourceInUse.Cmq"
        | "UnsupportedOperation.Cos"
        | "UnsupportedOperation.Trigger" => codes::INVALID_PARAMETER,
        "FailedOperation.InsufficientResources" => codes::PURCHASE_FAILED,
        "FailedOperation.AccountInsufficient" => codes::INSUFFICIENT_BALANCE,
        "FailedOperation.AuthFailure" => codes::AUTH_FAILURE,
        // Function busy (retry once it is Active) or logging not set up.
        "UnsupportedOperation.UpdateFunctionCode"
        | "InvalidParameter.Cls"
        | "InvalidParameter.RoleCheck"
        | "ResourceNotFound.RoleCheck" => codes::OPERATION_FAILED,
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
            // Action-specific rows (docs/protocol.md, per action).
            ("ResourceInUse.Function", 4000),
            ("ResourceInUse.FunctionName", 4000),
            ("ResourceInUse.Trigger", 4000),
            ("ResourceInUse.TriggerName", 4000),
            ("ResourceInUse.Cos", 4000),
            ("ResourceInUse.Cmq", 4000),
            ("UnsupportedOperation.Cos", 4000),
            ("UnsupportedOperation.Trigger", 4000),
            ("FailedOperation.InsufficientResources", 5200),
            ("FailedOperation.AccountInsufficient", 5300),
            ("FailedOperation.AuthFailure", 4100),
            ("UnsupportedOperation.UpdateFunctionCode", 5100),
            ("InvalidParameter.Cls", 5100),
            ("InvalidParameter.RoleCheck", 5100),
            ("ResourceNotFound.RoleCheck", 5100),
            ("FailedOperation.TopicNotExist", 5100),
            ("FailedOperation.CreateTrigger", 5100),
            ("FailedOperation.FunctionStatusError", 5100),
            ("LimitExceeded.Function", 4400),
            ("InvalidParameterValue.ZipFile", 4000),
            ("ResourceNotFound.Trigger", 5000),
            ("UnauthorizedOperation.CreateTrigger", 4102),
            ("InternalError.ES", 6000),
            ("UnsupportedOperation.NotSupportRegion", 6100),
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
