//! The common parameters of every legacy call (docs/protocol.md, "Common parameters"), read from
//! decoded [`Params`]. Pure reading: signatures, freshness and regions are
//! checked elsewhere, and each action reads its own parameters
//! (`crate::actions`).
//!
//! **Empty values.** An empty optional value (`Region=`, `Token=`,
//! `Nonce=`, …) means the same as leaving it out; an empty `Action` is
//! [`RequestError::MissingAction`]. Parameters this module doesn't read stay
//! in [`Params`], so they are still signed.

use std::fmt;

use super::decode::Params;
use super::signature::{SignatureMethod, SIGNATURE_METHOD_PARAM, SIGNATURE_PARAM};

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

/// Why a request could not be read. Messages name the parameter; a value is
/// shown only for `Action` (not a secret), cut to 64 characters.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// No `Action`, or an empty one.
    #[error("missing required parameter `Action`")]
    MissingAction,
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

    fn common(form: &str) -> Result<CommonParams, RequestError> {
        read_common(&decode_form(form.as_bytes()).unwrap())
    }

    #[test]
    fn common_parameters_are_read() {
        let c = common(&format!("{BASE}&SignatureMethod=HmacSHA256&Token=tok")).unwrap();
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
    fn empty_optional_values_mean_absent() {
        let c = common("Action=ListFunctions&Region=&Token=&Nonce=&Timestamp=").unwrap();
        assert_eq!(
            (c.region, c.token, c.nonce, c.timestamp),
            (None, None, None, None)
        );
    }

    #[test]
    fn missing_action_is_rejected_and_any_action_name_is_read() {
        assert_eq!(common("functionName=f"), Err(RequestError::MissingAction));
        assert_eq!(
            common("Action=&functionName=f"),
            Err(RequestError::MissingAction)
        );
        let p = decode_form(b"Action=SomethingNew").unwrap();
        assert_eq!(action_name(&p), Some("SomethingNew"));
        assert_eq!(
            common("Action=SomethingNew").unwrap().action,
            "SomethingNew"
        );
    }

    #[test]
    fn nonce_zero_is_valid_and_takes_python_sdk_19_digit_values() {
        assert_eq!(common("Action=A&Nonce=0").unwrap().nonce, Some(0));
        assert_eq!(
            common("Action=A&Nonce=9223372036854775807").unwrap().nonce,
            Some(i64::MAX as u64)
        );
        assert_eq!(
            common("Action=A&Nonce=18446744073709551615").unwrap().nonce,
            Some(u64::MAX)
        );
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
                common(&format!("Action=A&{name}={bad}")),
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
        let c = common(&format!("{BASE}&SignatureMethod=HmacSHA512")).unwrap();
        assert_eq!(c.signature_method, SignatureMethod::HmacSha1);
        assert_eq!(
            common(BASE).unwrap().signature_method,
            SignatureMethod::HmacSha1
        );
    }

    #[test]
    fn debug_redacts_signature_and_token() {
        let c = common(&format!("{BASE}&Token=TOKENVALUE")).unwrap();
        let shown = format!("{c:?}");
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
                name: "Nonce",
                expected: "an unsigned decimal integer"
            }
            .to_string(),
            "invalid value for `Nonce`: expected an unsigned decimal integer"
        );
        assert_eq!(
            RequestError::MissingAction.to_string(),
            "missing required parameter `Action`"
        );
    }
}
