//! The typed legacy request read from decoded [`Params`]: the common
//! parameters (legacy-v2.md §1) and the one supported action,
//! `InvokeFunction` (§6). Pure reading: signatures, freshness and regions
//! are checked elsewhere.
//!
//! **Empty values.** For every *optional* parameter an empty value
//! (`logType=`) means the same as leaving it out, so `invokeType=` and
//! `logType=` give their defaults and `param=`, `namespace=`, `version=`,
//! `Region=`, `Token=`, `Nonce=`, … give `None`. A *required* parameter
//! that is present but empty is rejected: `Action=` as
//! [`RequestError::MissingAction`], `functionName=` as
//! [`RequestError::InvalidValue`] (so the message tells it was sent empty).
//! Parameters this module doesn't read (`RequestClient`,
//! `RequestSource`, `Version`, unknown action parameters) are ignored here;
//! they stay in [`Params`], so they are still signed.

use std::fmt;

use super::decode::Params;
use super::signature::{SignatureMethod, SIGNATURE_METHOD_PARAM, SIGNATURE_PARAM};
use super::{clip, Shown, SHOWN_MAX_CHARS};

/// `InvokeFunction`'s `invokeType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum InvokeType {
    /// `RequestResponse`: synchronous, the default.
    #[default]
    RequestResponse,
    /// `Event`: asynchronous.
    Event,
}

impl InvokeType {
    /// The wire value, the same in legacy and 3.0: `RequestResponse`/`Event`.
    pub fn as_str(self) -> &'static str {
        match self {
            InvokeType::RequestResponse => "RequestResponse",
            InvokeType::Event => "Event",
        }
    }
}

/// `InvokeFunction`'s `logType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum LogType {
    /// `None`: no log in the answer, the default.
    #[default]
    None,
    /// `Tail`: the answer carries the last 4 KB of the log (sync calls).
    Tail,
}

impl LogType {
    /// The wire value, the same in legacy and 3.0: `None`/`Tail`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogType::None => "None",
            LogType::Tail => "Tail",
        }
    }
}

/// The common parameters, present in every legacy call. Only `Action` is
/// required here; whether the rest are needed is for the verifier to say.
#[derive(Clone, PartialEq, Eq)]
pub struct CommonParams {
    /// `Action`, e.g. `InvokeFunction`.
    pub action: String,
    /// `Region` as sent (a short code or a long name), unresolved.
    pub region: Option<String>,
    /// `Timestamp`, UNIX seconds.
    pub timestamp: Option<u64>,
    /// `Nonce`; 0 is valid (the Node SDK can send it).
    pub nonce: Option<u64>,
    /// `SecretId`.
    pub secret_id: Option<String>,
    /// `Signature`, base64 as decoded from the form. Redacted in `Debug`.
    pub signature: Option<String>,
    /// From `SignatureMethod`; unknown values are `HmacSha1`.
    pub signature_method: SignatureMethod,
    /// `Token` of a temporary credential. Redacted in `Debug`.
    pub token: Option<String>,
}

impl fmt::Debug for CommonParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("CommonParams")
            .field("action", &self.action)
            .field("region", &self.region)
            .field("timestamp", &self.timestamp)
            .field("nonce", &self.nonce)
            .field("secret_id", &self.secret_id)
            .field("signature", &redacted(&self.signature))
            .field("signature_method", &self.signature_method)
            .field("token", &redacted(&self.token))
            .finish()
    }
}

/// `InvokeFunction`'s parameters (legacy-v2.md §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvokeFunction {
    /// `functionName`, non-empty.
    pub function_name: String,
    /// `invokeType`, default `RequestResponse`.
    pub invoke_type: InvokeType,
    /// `param`, the event as verbatim text (normally JSON); not parsed here.
    pub param: Option<String>,
    /// `logType`, default `None`.
    pub log_type: LogType,
    /// `namespace`.
    pub namespace: Option<String>,
    /// `version`, the function version (not the common `Version`).
    pub version: Option<String>,
    /// Whether `invokeType` / `logType` were given: only what the caller
    /// sent is passed on, and SCF applies its own defaults to the rest.
    pub invoke_type_given: bool,
    pub log_type_given: bool,
}

/// The supported legacy actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegacyAction {
    /// `Action=InvokeFunction`.
    InvokeFunction(InvokeFunction),
}

/// A legacy request, read but not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyRequest {
    pub common: CommonParams,
    pub action: LegacyAction,
}

/// Why a request could not be read. Messages name the parameter; a value is
/// shown only for `Action` (not a secret), cut to 64 characters.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// No `Action`, or an empty one.
    #[error("missing required parameter `Action`")]
    MissingAction,
    /// An `Action` other than `InvokeFunction` (holds the value, cut).
    #[error("unsupported Action `{}`: only InvokeFunction is supported", Shown(.0))]
    UnsupportedAction(String),
    /// A required action parameter is absent.
    #[error("missing required parameter `{0}`")]
    MissingParameter(&'static str),
    /// A parameter is present with a value outside its domain.
    #[error("invalid value for `{name}`: expected {expected}")]
    InvalidValue {
        name: &'static str,
        expected: &'static str,
    },
}

/// The only supported action.
pub const INVOKE_FUNCTION: &str = "InvokeFunction";

/// Reads the common parameters and the action's parameters.
///
/// Order of checks: `Action` (missing, then unsupported), then the common
/// parameters' formats (`Timestamp`, `Nonce`), then the action's parameters.
pub fn parse_request(params: &Params) -> Result<LegacyRequest, RequestError> {
    read_request(params, true)
}

/// [`parse_request`] with `param` left where it is: the result's `param` is
/// `None` until [`LegacyRequest::move_param_from`] moves it out of `params`.
/// The same checks in the same order, so the same errors.
///
/// For the bridge, which needs `params` whole to verify the signature and
/// only afterwards wants `param` on its own: moving it out of the decoded
/// text costs no second body-sized buffer, copying it would.
/// `parse_request(&p)` equals `parse_request_deferring_param(&p)` followed
/// by `move_param_from(p)`.
pub fn parse_request_deferring_param(params: &Params) -> Result<LegacyRequest, RequestError> {
    read_request(params, false)
}

impl LegacyRequest {
    /// Sets `param` from `params`, taking their decoded text over instead of
    /// copying the value ([`Params::into_value`]); an empty value is `None`,
    /// as [`parse_request`] reads it.
    pub fn move_param_from(&mut self, params: Params) {
        let LegacyAction::InvokeFunction(f) = &mut self.action;
        f.param = params.into_value("param").filter(|v| !v.is_empty());
    }
}

/// The `Action` parameter, `None` when absent or empty.
pub fn action_name(params: &Params) -> Option<&str> {
    non_empty(params, "Action")
}

/// Reads the common parameters of any action: `Action` must be present
/// (which actions exist is for the caller to say), `Timestamp` and `Nonce`
/// must be decimal when given.
pub fn read_common(params: &Params) -> Result<CommonParams, RequestError> {
    let action = non_empty(params, "Action").ok_or(RequestError::MissingAction)?;
    Ok(CommonParams {
        action: action.to_owned(),
        region: owned(params, "Region"),
        timestamp: unsigned(params, "Timestamp")?,
        nonce: unsigned(params, "Nonce")?,
        secret_id: owned(params, "SecretId"),
        signature: owned(params, SIGNATURE_PARAM),
        signature_method: SignatureMethod::from_param(params.get(SIGNATURE_METHOD_PARAM)),
        token: owned(params, "Token"),
    })
}

fn read_request(params: &Params, with_param: bool) -> Result<LegacyRequest, RequestError> {
    let action = non_empty(params, "Action").ok_or(RequestError::MissingAction)?;
    if action != INVOKE_FUNCTION {
        return Err(RequestError::UnsupportedAction(clip(
            action,
            SHOWN_MAX_CHARS,
        )));
    }
    let common = read_common(params)?;
    let action = LegacyAction::InvokeFunction(parse_invoke_function(params, with_param)?);
    Ok(LegacyRequest { common, action })
}

/// `InvokeFunction`'s own parameters; `param` is read only when
/// `with_param` (else left `None` for the caller to move out).
pub fn parse_invoke_function(
    params: &Params,
    with_param: bool,
) -> Result<InvokeFunction, RequestError> {
    let function_name = match params.get("functionName") {
        None => return Err(RequestError::MissingParameter("functionName")),
        Some("") => {
            return Err(RequestError::InvalidValue {
                name: "functionName",
                expected: "a non-empty function name",
            })
        }
        Some(name) => name.to_owned(),
    };
    let invoke_type = match non_empty(params, "invokeType") {
        None | Some("RequestResponse") => InvokeType::RequestResponse,
        Some("Event") => InvokeType::Event,
        Some(_) => {
            return Err(RequestError::InvalidValue {
                name: "invokeType",
                expected: "RequestResponse or Event",
            })
        }
    };
    let log_type = match non_empty(params, "logType") {
        None | Some("None") => LogType::None,
        Some("Tail") => LogType::Tail,
        Some(_) => {
            return Err(RequestError::InvalidValue {
                name: "logType",
                expected: "None or Tail",
            })
        }
    };
    Ok(InvokeFunction {
        function_name,
        invoke_type,
        param: if with_param {
            owned(params, "param")
        } else {
            None
        },
        log_type,
        namespace: owned(params, "namespace"),
        version: owned(params, "version"),
        invoke_type_given: non_empty(params, "invokeType").is_some(),
        log_type_given: non_empty(params, "logType").is_some(),
    })
}

/// The value of `key`, with an empty value read as absent.
fn non_empty<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params.get(key).filter(|v| !v.is_empty())
}

fn owned(params: &Params, key: &str) -> Option<String> {
    non_empty(params, key).map(str::to_owned)
}

/// A decimal `u64`: ASCII digits only (no sign, no spaces), no overflow.
fn unsigned(params: &Params, key: &'static str) -> Result<Option<u64>, RequestError> {
    let Some(text) = non_empty(params, key) else {
        return Ok(None);
    };
    let invalid = RequestError::InvalidValue {
        name: key,
        expected: "an unsigned decimal integer",
    };
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid);
    }
    text.parse::<u64>().map(Some).map_err(|_| invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::decode::decode_form;

    const BASE: &str = "Action=InvokeFunction&Region=gz&Timestamp=1465185768&Nonce=11886\
        &SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA&Signature=hX9vjvTz9tlQQu5W6%2BbFl78Wo2w%3D";

    fn parse(extra: &str) -> Result<LegacyRequest, RequestError> {
        let form = if extra.is_empty() {
            BASE.to_owned()
        } else {
            format!("{BASE}&{extra}")
        };
        parse_request(&decode_form(form.as_bytes()).unwrap())
    }

    fn invoke(extra: &str) -> Result<InvokeFunction, RequestError> {
        parse(extra).map(|r| match r.action {
            LegacyAction::InvokeFunction(i) => i,
        })
    }

    fn parse_form(form: &str) -> Result<LegacyRequest, RequestError> {
        parse_request(&decode_form(form.as_bytes()).unwrap())
    }

    #[test]
    fn common_parameters_are_read() {
        let r = parse("functionName=hello&SignatureMethod=HmacSHA256&Token=tok").unwrap();
        let c = &r.common;
        assert_eq!(c.action, "InvokeFunction");
        assert_eq!(c.region.as_deref(), Some("gz"));
        assert_eq!(c.timestamp, Some(1465185768));
        assert_eq!(c.nonce, Some(11886));
        assert_eq!(
            c.secret_id.as_deref(),
            Some("AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA")
        );
        assert_eq!(c.signature.as_deref(), Some("hX9vjvTz9tlQQu5W6+bFl78Wo2w="));
        assert_eq!(c.signature_method, SignatureMethod::HmacSha256);
        assert_eq!(c.token.as_deref(), Some("tok"));
    }

    #[test]
    fn invoke_function_parameters_are_read() {
        let i = invoke(
            "functionName=hello&invokeType=Event&param=%7B%22a%22%3A+1%7D&logType=Tail\
             &namespace=ns&version=3",
        )
        .unwrap();
        assert_eq!(
            i,
            InvokeFunction {
                function_name: "hello".into(),
                invoke_type: InvokeType::Event,
                param: Some("{\"a\": 1}".into()),
                log_type: LogType::Tail,
                namespace: Some("ns".into()),
                version: Some("3".into()),
                invoke_type_given: true,
                log_type_given: true,
            }
        );
    }

    #[test]
    fn invoke_type_defaults_to_request_response_and_log_type_to_none() {
        let i = invoke("functionName=hello").unwrap();
        assert_eq!(i.invoke_type, InvokeType::RequestResponse);
        assert_eq!(i.log_type, LogType::None);
        assert_eq!((i.param, i.namespace, i.version), (None, None, None));
    }

    #[test]
    fn empty_optional_values_mean_absent() {
        let i =
            invoke("functionName=hello&invokeType=&logType=&param=&namespace=&version=").unwrap();
        assert_eq!(i.invoke_type, InvokeType::RequestResponse);
        assert_eq!(i.log_type, LogType::None);
        assert_eq!((i.param, i.namespace, i.version), (None, None, None));
        let r = parse_form("Action=InvokeFunction&functionName=f&Region=&Token=&Nonce=&Timestamp=")
            .unwrap();
        assert_eq!(r.common.region, None);
        assert_eq!(r.common.token, None);
        assert_eq!(r.common.nonce, None);
        assert_eq!(r.common.timestamp, None);
    }

    #[test]
    fn explicit_defaults_are_accepted() {
        let i = invoke("functionName=f&invokeType=RequestResponse&logType=None").unwrap();
        assert_eq!(i.invoke_type, InvokeType::RequestResponse);
        assert_eq!(i.log_type, LogType::None);
    }

    #[test]
    fn param_is_kept_verbatim() {
        let text = "  {\"name\":\"云函数 x\", \"s\": \"a\\u00e9&=+%\"} ";
        let form = crate::legacy::decode::encode_form([
            ("Action", "InvokeFunction"),
            ("functionName", "f"),
            ("param", text),
        ]);
        let r = parse_form(&form).unwrap();
        let LegacyAction::InvokeFunction(i) = r.action;
        assert_eq!(i.param.as_deref(), Some(text));
    }

    #[test]
    fn missing_action_is_rejected() {
        assert_eq!(
            parse_form("functionName=f"),
            Err(RequestError::MissingAction)
        );
        assert_eq!(
            parse_form("Action=&functionName=f"),
            Err(RequestError::MissingAction)
        );
    }

    #[test]
    fn action_is_case_sensitive_and_only_invoke_function_is_supported() {
        for other in ["invokeFunction", "ListFunctions", "Invoke"] {
            assert_eq!(
                parse_form(&format!("Action={other}&functionName=f")),
                Err(RequestError::UnsupportedAction(other.into()))
            );
        }
    }

    #[test]
    fn missing_function_name_is_rejected() {
        assert_eq!(
            invoke(""),
            Err(RequestError::MissingParameter("functionName"))
        );
        assert_eq!(
            invoke("FunctionName=f"),
            Err(RequestError::MissingParameter("functionName"))
        );
    }

    #[test]
    fn empty_function_name_is_rejected() {
        assert_eq!(
            invoke("functionName="),
            Err(RequestError::InvalidValue {
                name: "functionName",
                expected: "a non-empty function name"
            })
        );
    }

    #[test]
    fn unknown_invoke_type_is_rejected() {
        for bad in ["event", "Sync", "RequestResponse "] {
            assert_eq!(
                invoke(&format!("functionName=f&invokeType={bad}")).unwrap_err(),
                RequestError::InvalidValue {
                    name: "invokeType",
                    expected: "RequestResponse or Event"
                },
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_log_type_is_rejected() {
        assert_eq!(
            invoke("functionName=f&logType=tail").unwrap_err(),
            RequestError::InvalidValue {
                name: "logType",
                expected: "None or Tail"
            }
        );
    }

    #[test]
    fn nonce_zero_is_valid() {
        let r = parse_form("Action=InvokeFunction&functionName=f&Nonce=0").unwrap();
        assert_eq!(r.common.nonce, Some(0));
    }

    #[test]
    fn nonce_takes_python_sdk_19_digit_values() {
        let r =
            parse_form("Action=InvokeFunction&functionName=f&Nonce=9223372036854775807").unwrap();
        assert_eq!(r.common.nonce, Some(i64::MAX as u64));
        let r =
            parse_form("Action=InvokeFunction&functionName=f&Nonce=18446744073709551615").unwrap();
        assert_eq!(r.common.nonce, Some(u64::MAX));
    }

    #[test]
    fn non_numeric_nonce_and_timestamp_are_rejected() {
        for (name, bad) in [
            ("Nonce", "abc"),
            ("Nonce", "-1"),
            ("Nonce", "%2B1"),
            ("Nonce", "1.0"),
            ("Nonce", "+1"),
            ("Nonce", "18446744073709551616"),
            ("Timestamp", "1e9"),
            ("Timestamp", "0x10"),
        ] {
            let name: &'static str = if name == "Nonce" {
                "Nonce"
            } else {
                "Timestamp"
            };
            assert_eq!(
                parse_form(&format!(
                    "Action=InvokeFunction&functionName=f&{name}={bad}"
                )),
                Err(RequestError::InvalidValue {
                    name,
                    expected: "an unsigned decimal integer"
                }),
                "{name}={bad}"
            );
        }
    }

    #[test]
    fn unknown_signature_method_falls_back_to_sha1() {
        let r = parse("functionName=f&SignatureMethod=HmacSHA512").unwrap();
        assert_eq!(r.common.signature_method, SignatureMethod::HmacSha1);
        let r = parse("functionName=f").unwrap();
        assert_eq!(r.common.signature_method, SignatureMethod::HmacSha1);
    }

    #[test]
    fn sdk_extras_are_ignored_and_common_version_is_not_function_version() {
        let i = invoke(
            "functionName=f&RequestClient=SDK_PYTHON_2.0.15&RequestSource=qcloudcli_1.9.19\
             &Version=2017-03-12&somethingElse=1",
        )
        .unwrap();
        assert_eq!(i.version, None);
    }

    #[test]
    fn debug_redacts_signature_and_token() {
        let r = parse("functionName=f&Token=TOKENVALUE").unwrap();
        let shown = format!("{r:?}");
        assert!(!shown.contains("TOKENVALUE"), "{shown}");
        assert!(!shown.contains("hX9vjvTz9tlQQu5W6"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(
            shown.contains("AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA"),
            "{shown}"
        );
    }

    #[test]
    fn error_messages_name_the_parameter() {
        assert_eq!(
            RequestError::MissingParameter("functionName").to_string(),
            "missing required parameter `functionName`"
        );
        assert_eq!(
            RequestError::InvalidValue {
                name: "invokeType",
                expected: "RequestResponse or Event"
            }
            .to_string(),
            "invalid value for `invokeType`: expected RequestResponse or Event"
        );
        assert_eq!(
            RequestError::MissingAction.to_string(),
            "missing required parameter `Action`"
        );
        assert_eq!(
            RequestError::UnsupportedAction("List`Functions\n".into()).to_string(),
            "unsupported Action `List\\`Functions\\n`: only InvokeFunction is supported"
        );
    }

    #[test]
    fn long_unsupported_action_is_cut() {
        let long = "A".repeat(300);
        let Err(RequestError::UnsupportedAction(shown)) =
            parse_form(&format!("Action={long}&functionName=f"))
        else {
            panic!()
        };
        assert_eq!(shown.chars().count(), SHOWN_MAX_CHARS + 1);
    }

    #[test]
    fn wire_names_round_trip() {
        assert_eq!(InvokeType::RequestResponse.as_str(), "RequestResponse");
        assert_eq!(InvokeType::Event.as_str(), "Event");
        assert_eq!(LogType::None.as_str(), "None");
        assert_eq!(LogType::Tail.as_str(), "Tail");
    }
}
