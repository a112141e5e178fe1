//! Server-side TC3-HMAC-SHA256 verification, pure: the clock (`now`) is a
//! parameter. Rebuilds the canonical request from the received header values
//! named in `SignedHeaders` and the raw body bytes, then checks the signature
//! with the same `scf3::tc3` code that signs, in constant time.

use std::collections::HashMap;

use http::HeaderMap;

use super::error::{code, ApiError};
/// Credential-scope service name of SCF.
const SERVICE: &str = "scf";
use crate::scf3::tc3::{self, SignableRequest};

/// The received request as far as the signature is concerned.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// HTTP method as received.
    pub method: &'a str,
    /// Path as received (`/`).
    pub path: &'a str,
    /// Raw query string (empty for POST).
    pub query: &'a str,
    /// All received headers.
    pub headers: &'a HeaderMap,
    /// The raw body bytes.
    pub body: &'a [u8],
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<Result<&'h str, ()>> {
    headers.get(name).map(|v| v.to_str().map_err(|_| ()))
}

/// Parses a decimal Unix timestamp: ASCII digits only (no sign, no spaces).
fn parse_timestamp(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Verifies the TC3 signature of `req` against `keys` (SecretId → SecretKey)
/// at time `now` (Unix seconds). Returns the caller's SecretId.
///
/// Checks, in order: Authorization present and well-formed, `content-type`
/// and `host` signed (`AuthFailure.InvalidAuthorization`); SecretId known
/// (`AuthFailure.SecretIdNotFound`); `X-TC-Timestamp` present and decimal
/// (`MissingParameter` / `InvalidParameter`); within `max_skew_secs` of `now`
/// and the credential date equal to its UTC date (`AuthFailure.SignatureExpire`);
/// credential service `scf`, every signed header received, signature equal
/// (`AuthFailure.SignatureFailure`).
pub fn verify<'k>(
    req: &Received<'_>,
    keys: &'k HashMap<String, String>,
    now: u64,
    max_skew_secs: u64,
) -> Result<&'k str, ApiError> {
    let invalid = |msg: &str| ApiError::new(code::INVALID_AUTHORIZATION, msg);
    let value = match header(req.headers, "authorization") {
        None => return Err(invalid("the Authorization header is missing")),
        Some(Err(())) => return Err(invalid("the Authorization header is not visible ASCII")),
        Some(Ok(v)) => v,
    };
    let auth = tc3::parse_authorization(value)
        .map_err(|e| ApiError::new(code::INVALID_AUTHORIZATION, e.to_string()))?;
    let signed: Vec<&str> = auth.signed_header_names().collect();
    if !signed.contains(&"content-type") || !signed.contains(&"host") {
        return Err(invalid("SignedHeaders must include content-type and host"));
    }

    let Some((secret_id, secret_key)) = keys.get_key_value(auth.secret_id) else {
        return Err(ApiError::new(
            code::SECRET_ID_NOT_FOUND,
            "the SecretId is not found; check that the key exists and is enabled",
        ));
    };

    let timestamp = match header(req.headers, "x-tc-timestamp") {
        None => {
            return Err(ApiError::new(
                code::MISSING_PARAMETER,
                "the X-TC-Timestamp header is missing",
            ))
        }
        Some(v) => v.ok().and_then(parse_timestamp).ok_or_else(|| {
            ApiError::new(
                code::INVALID_PARAMETER,
                "X-TC-Timestamp must be a decimal Unix timestamp in seconds",
            )
        })?,
    };
    if now.abs_diff(timestamp) > max_skew_secs {
        return Err(ApiError::new(
            code::SIGNATURE_EXPIRE,
            format!(
                "the signature expired: X-TC-Timestamp {timestamp} differs from the server time {now} by more than {max_skew_secs} s"
            ),
        ));
    }
    let date = tc3::utc_date(timestamp);
    if auth.date != date {
        return Err(ApiError::new(
            code::SIGNATURE_EXPIRE,
            format!(
                "the credential date {} is not the UTC date {date} of X-TC-Timestamp",
                auth.date
            ),
        ));
    }
    let failure = |msg: String| ApiError::new(code::SIGNATURE_FAILURE, msg);
    if auth.service != SERVICE {
        return Err(failure(format!(
            "the credential scope service must be {SERVICE}"
        )));
    }

    // Canonical headers from the values actually received.
    let mut joined: Vec<(&str, String)> = Vec::with_capacity(signed.len());
    for name in &signed {
        let mut values = Vec::new();
        for v in req.headers.get_all(*name) {
            let v = v
                .to_str()
                .map_err(|_| failure(format!("signed header {name} is not visible ASCII")))?;
            values.push(v.trim());
        }
        if values.is_empty() {
            return Err(failure(format!("signed header {name} was not sent")));
        }
        joined.push((name, values.join(",")));
    }
    let pairs: Vec<(&str, &str)> = joined.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let unsigned_payload = matches!(
        header(req.headers, "x-tc-content-sha256"),
        Some(Ok(v)) if v == tc3::UNSIGNED_PAYLOAD
    );
    let payload = if unsigned_payload {
        tc3::UNSIGNED_PAYLOAD.as_bytes()
    } else {
        req.body
    };
    let signable = SignableRequest {
        method: req.method,
        uri: req.path,
        query: req.query,
        headers: &pairs,
        payload,
    };
    let canonical = tc3::canonical_request(&signable);
    let scope = tc3::credential_scope(&date, SERVICE);
    let to_sign = tc3::string_to_sign(timestamp, &scope, &canonical);
    let key = tc3::signing_key(secret_key, &date, SERVICE);
    if !tc3::verify_signature(&key, &to_sign, auth.signature) {
        return Err(failure(
            "the signature does not match; check the SecretKey and the signing process".to_owned(),
        ));
    }
    Ok(secret_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scf3::tc3::{sign, SigningParams};
    use http::HeaderValue;

    const ID: &str = "AKIDtest";
    const KEY: &str = "test-secret-key";
    const NOW: u64 = 1_551_113_065;
    const BODY: &[u8] = br#"{"FunctionName":"hello"}"#;

    fn keys() -> HashMap<String, String> {
        HashMap::from([(ID.to_owned(), KEY.to_owned())])
    }

    /// Headers of a request signed like the official SDK (content-type;host).
    fn signed_headers(ts: u64, key: &str, body: &[u8]) -> HeaderMap {
        let sign_headers = [
            ("Content-Type", "application/json"),
            ("Host", "127.0.0.1:9"),
        ];
        let signed = sign(
            &SignableRequest {
                method: "POST",
                uri: "/",
                query: "",
                headers: &sign_headers,
                payload: body,
            },
            &SigningParams {
                secret_id: ID,
                secret_key: key,
                service: "scf",
                timestamp: ts,
            },
        );
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("host", HeaderValue::from_static("127.0.0.1:9"));
        h.insert(
            "x-tc-timestamp",
            HeaderValue::from_str(&signed.timestamp).expect("ascii"),
        );
        h.insert(
            "authorization",
            HeaderValue::from_str(&signed.authorization).expect("ascii"),
        );
        h
    }

    fn check(headers: &HeaderMap, body: &[u8], now: u64) -> Result<String, ApiError> {
        let keys = keys();
        verify(
            &Received {
                method: "POST",
                path: "/",
                query: "",
                headers,
                body,
            },
            &keys,
            now,
            300,
        )
        .map(str::to_owned)
    }

    fn code_of(r: Result<String, ApiError>) -> &'static str {
        r.expect_err("must be refused").code
    }

    #[test]
    fn accepts_a_correct_signature() {
        assert_eq!(
            check(&signed_headers(NOW, KEY, BODY), BODY, NOW),
            Ok(ID.to_owned())
        );
    }

    #[test]
    fn accepts_skew_up_to_the_limit_both_ways() {
        let h = signed_headers(NOW, KEY, BODY);
        assert!(check(&h, BODY, NOW + 300).is_ok());
        assert!(check(&h, BODY, NOW - 300).is_ok());
    }

    #[test]
    fn missing_authorization_is_invalid_authorization() {
        let mut h = signed_headers(NOW, KEY, BODY);
        h.remove("authorization");
        assert_eq!(code_of(check(&h, BODY, NOW)), code::INVALID_AUTHORIZATION);
    }

    #[test]
    fn malformed_authorization_is_invalid_authorization() {
        let mut h = signed_headers(NOW, KEY, BODY);
        h.insert(
            "authorization",
            HeaderValue::from_static("TC3-HMAC-SHA256 nonsense"),
        );
        assert_eq!(code_of(check(&h, BODY, NOW)), code::INVALID_AUTHORIZATION);
    }

    #[test]
    fn signed_headers_without_host_is_invalid_authorization() {
        let mut h = signed_headers(NOW, KEY, BODY);
        let value = h["authorization"].to_str().expect("ascii").replace(
            "SignedHeaders=content-type;host",
            "SignedHeaders=content-type",
        );
        h.insert(
            "authorization",
            HeaderValue::from_str(&value).expect("ascii"),
        );
        assert_eq!(code_of(check(&h, BODY, NOW)), code::INVALID_AUTHORIZATION);
    }

    #[test]
    fn unknown_secret_id_is_secret_id_not_found() {
        let mut h = signed_headers(NOW, KEY, BODY);
        let value = h["authorization"]
            .to_str()
            .expect("ascii")
            .replace("AKIDtest/", "AKIDother/");
        h.insert(
            "authorization",
            HeaderValue::from_str(&value).expect("ascii"),
        );
        assert_eq!(code_of(check(&h, BODY, NOW)), code::SECRET_ID_NOT_FOUND);
    }

    #[test]
    fn skew_beyond_limit_is_signature_expire() {
        let h = signed_headers(NOW, KEY, BODY);
        assert_eq!(code_of(check(&h, BODY, NOW + 301)), code::SIGNATURE_EXPIRE);
        assert_eq!(code_of(check(&h, BODY, NOW - 301)), code::SIGNATURE_EXPIRE);
    }

    #[test]
    fn credential_date_not_utc_date_is_signature_expire() {
        let mut h = signed_headers(NOW, KEY, BODY);
        // The UTC+8 date of the documented trap timestamp.
        let value = h["authorization"]
            .to_str()
            .expect("ascii")
            .replace("/2019-02-25/", "/2019-02-26/");
        h.insert(
            "authorization",
            HeaderValue::from_str(&value).expect("ascii"),
        );
        assert_eq!(code_of(check(&h, BODY, NOW)), code::SIGNATURE_EXPIRE);
    }

    #[test]
    fn timestamp_missing_or_malformed() {
        let mut h = signed_headers(NOW, KEY, BODY);
        h.remove("x-tc-timestamp");
        assert_eq!(code_of(check(&h, BODY, NOW)), code::MISSING_PARAMETER);
        for bad in [
            "",
            "+1551113065",
            " 1551113065",
            "1551113065.0",
            "abc",
            "99999999999999999999999",
        ] {
            h.insert("x-tc-timestamp", HeaderValue::from_str(bad).expect("ascii"));
            assert_eq!(
                code_of(check(&h, BODY, NOW)),
                code::INVALID_PARAMETER,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn wrong_key_is_signature_failure() {
        let h = signed_headers(NOW, "another-key", BODY);
        assert_eq!(code_of(check(&h, BODY, NOW)), code::SIGNATURE_FAILURE);
    }

    #[test]
    fn tampered_body_is_signature_failure() {
        let h = signed_headers(NOW, KEY, BODY);
        assert_eq!(
            code_of(check(&h, br#"{"FunctionName":"fail"}"#, NOW)),
            code::SIGNATURE_FAILURE
        );
    }

    #[test]
    fn changed_signed_header_value_is_signature_failure() {
        let mut h = signed_headers(NOW, KEY, BODY);
        h.insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert_eq!(code_of(check(&h, BODY, NOW)), code::SIGNATURE_FAILURE);
        let mut h = signed_headers(NOW, KEY, BODY);
        h.insert("host", HeaderValue::from_static("127.0.0.1:10"));
        assert_eq!(code_of(check(&h, BODY, NOW)), code::SIGNATURE_FAILURE);
    }

    #[test]
    fn other_service_in_scope_is_signature_failure() {
        let mut h = signed_headers(NOW, KEY, BODY);
        let value = h["authorization"]
            .to_str()
            .expect("ascii")
            .replace("/scf/", "/cvm/");
        h.insert(
            "authorization",
            HeaderValue::from_str(&value).expect("ascii"),
        );
        assert_eq!(code_of(check(&h, BODY, NOW)), code::SIGNATURE_FAILURE);
    }

    #[test]
    fn signed_x_tc_action_is_verified_lower_cased() {
        let sign_headers = [
            ("Content-Type", "application/json"),
            ("Host", "h"),
            ("X-TC-Action", "Invoke"),
        ];
        let signed = sign(
            &SignableRequest {
                method: "POST",
                uri: "/",
                query: "",
                headers: &sign_headers,
                payload: BODY,
            },
            &SigningParams {
                secret_id: ID,
                secret_key: KEY,
                service: "scf",
                timestamp: NOW,
            },
        );
        assert!(signed
            .authorization
            .contains("SignedHeaders=content-type;host;x-tc-action,"));
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("host", HeaderValue::from_static("h"));
        h.insert("x-tc-action", HeaderValue::from_static("Invoke"));
        h.insert(
            "x-tc-timestamp",
            HeaderValue::from_str(&signed.timestamp).expect("ascii"),
        );
        h.insert(
            "authorization",
            HeaderValue::from_str(&signed.authorization).expect("ascii"),
        );
        assert!(check(&h, BODY, NOW).is_ok());
        // A signed header that was not sent fails.
        h.remove("x-tc-action");
        assert_eq!(code_of(check(&h, BODY, NOW)), code::SIGNATURE_FAILURE);
    }

    #[test]
    fn unsigned_payload_hashes_the_literal() {
        let mut h = signed_headers(NOW, KEY, tc3::UNSIGNED_PAYLOAD.as_bytes());
        h.insert(
            "x-tc-content-sha256",
            HeaderValue::from_static("UNSIGNED-PAYLOAD"),
        );
        assert!(check(&h, b"any body at all", NOW).is_ok());
    }

    #[test]
    fn messages_never_contain_the_secret_key() {
        let h = signed_headers(NOW, "another-key", BODY);
        let err = check(&h, BODY, NOW).expect_err("refused");
        assert!(!err.message.contains(KEY) && !err.message.contains("another-key"));
    }
}
