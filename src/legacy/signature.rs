//! The legacy v1 signature (docs/protocol.md, "Signature (v1)"): the string to sign,
//! `base64(HMAC-SHA1|HMAC-SHA256)` over it, and constant-time verification.
//! The clock (Timestamp/Nonce freshness) is not this module's concern.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::Sha256;

use super::decode::{signed_key_cmp, Params};

/// The only path legacy clients sign (and call).
pub const LEGACY_PATH: &str = "/v2/index.php";

/// The parameter carrying the signature; never part of the signed string.
pub const SIGNATURE_PARAM: &str = "Signature";

/// The parameter choosing the HMAC hash.
pub const SIGNATURE_METHOD_PARAM: &str = "SignatureMethod";

/// The HMAC hash of a legacy signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureMethod {
    /// `HmacSHA1`, the default.
    HmacSha1,
    /// `HmacSHA256`.
    HmacSha256,
}

impl SignatureMethod {
    /// From the `SignatureMethod` parameter: exactly `HmacSHA256` selects
    /// SHA-256; anything else, absent included, is SHA-1 ("若用户填写的字段值
    /// 错误，则也默认使用HmacSHA1", docs/protocol.md).
    pub fn from_param(value: Option<&str>) -> Self {
        match value {
            Some("HmacSHA256") => SignatureMethod::HmacSha256,
            _ => SignatureMethod::HmacSha1,
        }
    }

    /// The parameter value: `HmacSHA1` or `HmacSHA256`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureMethod::HmacSha1 => "HmacSHA1",
            SignatureMethod::HmacSha256 => "HmacSHA256",
        }
    }

    /// Length of a well-formed signature: base64 of a 20- or 32-byte MAC.
    fn base64_len(self) -> usize {
        match self {
            SignatureMethod::HmacSha1 => 28,
            SignatureMethod::HmacSha256 => 44,
        }
    }
}

/// The string to sign: `METHOD + host + path + "?" + k1=v1&k2=v2…` where
///
/// * the pairs are all parameters but `Signature`;
/// * for `POST` only, a parameter whose value starts with `@` is left out
///   (the legacy `code=@<zip>` upload). The check is an exact comparison of
///   the method the server received with `"POST"`, as the SDKs do it;
/// * each key has every `_` replaced by `.`; values are the raw, decoded text;
/// * pairs are sorted by that key in byte order (so upper case sorts before
///   lower case, as in `ksort`);
/// * the method is upper-cased.
///
/// [`Params`] guarantees no two keys are equal once `_` is read as `.`, so
/// the order is total and the string unambiguous.
///
/// This is the official Python SDK's order ([`KeyOrder::ReplacedThenSorted`]).
/// The Node (0.1.6, 0.2.1) and PHP SDKs sort the raw names first and then
/// replace every `_` — except in a name that starts with `_`, which they
/// leave as it is ([`KeyOrder::SortedThenReplaced`]). The two strings differ
/// only when a name contains `_` (docs/protocol.md, "Signature").
///
/// The bridge itself never builds this string: [`ToSign`] feeds the same
/// bytes piece by piece into the HMAC ([`verify_streamed`]). This function
/// writes those pieces into one `String`, for the vectors, the tests and
/// clients.
pub fn string_to_sign(http_method: &str, host: &str, path: &str, params: &Params) -> String {
    ToSign::new(http_method, params).to_string_for(host, path)
}

/// The host-independent parts of a string to sign — the upper-cased method
/// and the signed pairs in signed order — prepared once per request, then
/// written out for each candidate host ([`ToSign::write`]) without ever
/// holding the whole string: a request's `param` may be megabytes.
pub struct ToSign<'a> {
    method: Cow<'a, str>,
    pairs: Vec<(&'a str, &'a str)>,
    order: KeyOrder,
}

/// How a legacy SDK orders the parameter names of the string to sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOrder {
    /// Every `_` becomes `.`, then the names are sorted (the Python SDK).
    ReplacedThenSorted,
    /// The raw names are sorted, then every `_` becomes `.` except in a
    /// name starting with `_` (the Node and PHP SDKs).
    SortedThenReplaced,
}

impl<'a> ToSign<'a> {
    /// Selects and sorts the signed pairs of `params` for `http_method`
    /// (see [`string_to_sign`] for the rules), in the Python SDK's order.
    pub fn new(http_method: &'a str, params: &'a Params) -> Self {
        Self::with_order(http_method, params, KeyOrder::ReplacedThenSorted)
    }

    /// [`ToSign::new`] in the given order.
    pub fn with_order(http_method: &'a str, params: &'a Params, order: KeyOrder) -> Self {
        let skip_at_values = http_method == "POST";
        let mut pairs: Vec<(&str, &str)> = params
            .iter()
            .filter(|(k, v)| *k != SIGNATURE_PARAM && !(skip_at_values && v.starts_with('@')))
            .collect();
        match order {
            KeyOrder::ReplacedThenSorted => pairs.sort_unstable_by(|a, b| signed_key_cmp(a.0, b.0)),
            KeyOrder::SortedThenReplaced => pairs.sort_unstable_by(|a, b| a.0.cmp(b.0)),
        }
        let method = if http_method
            .bytes()
            .any(|b| b.is_ascii_lowercase() || !b.is_ascii())
        {
            Cow::Owned(http_method.chars().flat_map(char::to_uppercase).collect())
        } else {
            Cow::Borrowed(http_method)
        };
        ToSign {
            method,
            pairs,
            order,
        }
    }

    /// The string in the other SDKs' order, when it differs from this one's
    /// (some name contains `_`); `None` when every SDK signs the same string.
    pub fn other_order(&self) -> Option<ToSign<'a>> {
        if !self.pairs.iter().any(|(k, _)| k.contains('_')) {
            return None;
        }
        let order = match self.order {
            KeyOrder::ReplacedThenSorted => KeyOrder::SortedThenReplaced,
            KeyOrder::SortedThenReplaced => KeyOrder::ReplacedThenSorted,
        };
        let mut pairs = self.pairs.clone();
        match order {
            KeyOrder::ReplacedThenSorted => pairs.sort_unstable_by(|a, b| signed_key_cmp(a.0, b.0)),
            KeyOrder::SortedThenReplaced => pairs.sort_unstable_by(|a, b| a.0.cmp(b.0)),
        }
        let leading = pairs.iter().any(|(k, _)| k.starts_with('_'));
        (leading || pairs != self.pairs).then(|| ToSign {
            method: self.method.clone(),
            pairs,
            order,
        })
    }

    /// Hands the string to sign for `host` and `path` to `sink` as a
    /// sequence of pieces whose concatenation is [`string_to_sign`]'s
    /// result, in order.
    pub fn write(&self, host: &str, path: &str, mut sink: impl FnMut(&str)) {
        sink(&self.method);
        sink(host);
        sink(path);
        sink("?");
        for (i, (key, value)) in self.pairs.iter().enumerate() {
            if i > 0 {
                sink("&");
            }
            if self.order == KeyOrder::SortedThenReplaced && key.starts_with('_') {
                sink(key);
                sink("=");
                sink(value);
                continue;
            }
            let mut pieces = key.split('_');
            sink(pieces.next().unwrap_or_default());
            for piece in pieces {
                sink(".");
                sink(piece);
            }
            sink("=");
            sink(value);
        }
    }

    /// Length in bytes of the string to sign for `host` and `path`.
    pub fn len_for(&self, host: &str, path: &str) -> usize {
        let pairs: usize = self.pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        self.method.len() + host.len() + path.len() + 1 + pairs.saturating_sub(1)
    }

    /// The string to sign for `host` and `path`, as one `String`.
    pub fn to_string_for(&self, host: &str, path: &str) -> String {
        let mut out = String::with_capacity(self.len_for(host, path));
        self.write(host, path, |piece| out.push_str(piece));
        out
    }
}

fn keyed<D>(secret_key: &str) -> Hmac<D>
where
    D: hmac::EagerHash,
    Hmac<D>: KeyInit + Mac,
{
    <Hmac<D> as KeyInit>::new_from_slice(secret_key.as_bytes())
        .expect("HMAC takes keys of any length")
}

fn mac<D>(secret_key: &str, string_to_sign: &str) -> Hmac<D>
where
    D: hmac::EagerHash,
    Hmac<D>: KeyInit + Mac,
{
    let mut mac = keyed::<D>(secret_key);
    mac.update(string_to_sign.as_bytes());
    mac
}

/// Strings to sign up to this length are built and hashed in one `update`
/// (one small allocation); longer ones are streamed.
const BUILD_MAX: usize = 4096;

/// The HMAC over the string to sign of `to_sign` for `host` and `path`. A
/// long string (a large `param`) is fed piece by piece through
/// `Mac::update` — the MAC of the concatenation, by the definition of
/// HMAC's streaming interface — and never built; a short one is built
/// first, which costs less than one `update` per piece.
fn streamed_mac<D>(secret_key: &str, to_sign: &ToSign<'_>, host: &str, path: &str) -> Hmac<D>
where
    D: hmac::EagerHash,
    Hmac<D>: KeyInit + Mac,
{
    let mut mac = keyed::<D>(secret_key);
    if to_sign.len_for(host, path) <= BUILD_MAX {
        mac.update(to_sign.to_string_for(host, path).as_bytes());
    } else {
        to_sign.write(host, path, |piece| mac.update(piece.as_bytes()));
    }
    mac
}

/// `base64(HMAC(secret_key, string_to_sign))`, standard alphabet, padded.
/// The string and the key are signed as UTF-8.
pub fn sign(secret_key: &str, method: SignatureMethod, string_to_sign: &str) -> String {
    match method {
        SignatureMethod::HmacSha1 => STANDARD.encode(
            mac::<Sha1>(secret_key, string_to_sign)
                .finalize()
                .into_bytes(),
        ),
        SignatureMethod::HmacSha256 => STANDARD.encode(
            mac::<Sha256>(secret_key, string_to_sign)
                .finalize()
                .into_bytes(),
        ),
    }
}

/// [`sign`] over the string to sign of `to_sign` for `host` and `path`,
/// streamed into the HMAC instead of built.
pub fn sign_streamed(
    secret_key: &str,
    method: SignatureMethod,
    to_sign: &ToSign<'_>,
    host: &str,
    path: &str,
) -> String {
    match method {
        SignatureMethod::HmacSha1 => STANDARD.encode(
            streamed_mac::<Sha1>(secret_key, to_sign, host, path)
                .finalize()
                .into_bytes(),
        ),
        SignatureMethod::HmacSha256 => STANDARD.encode(
            streamed_mac::<Sha256>(secret_key, to_sign, host, path)
                .finalize()
                .into_bytes(),
        ),
    }
}

/// The MAC bytes a well-formed signature spells, into `tag`: `None` unless
/// `signature_b64` is strict, padded, standard base64 of the method's MAC
/// length.
fn decode_tag(method: SignatureMethod, signature_b64: &str, tag: &mut [u8; 48]) -> Option<usize> {
    if signature_b64.len() != method.base64_len() {
        return None;
    }
    STANDARD.decode_slice(signature_b64, tag).ok()
}

/// True iff `signature_b64` is the canonical base64 of the expected MAC.
/// The MAC comparison is constant-time (`verify_slice`). Anything that is not
/// strict, padded, standard base64 of the right length is false, so each MAC
/// has exactly one accepted spelling (this matters to a replay memory keyed
/// on the signature).
pub fn verify(
    secret_key: &str,
    method: SignatureMethod,
    string_to_sign: &str,
    signature_b64: &str,
) -> bool {
    let mut tag = [0u8; 48];
    let Some(n) = decode_tag(method, signature_b64, &mut tag) else {
        return false;
    };
    let tag = &tag[..n];
    match method {
        SignatureMethod::HmacSha1 => mac::<Sha1>(secret_key, string_to_sign)
            .verify_slice(tag)
            .is_ok(),
        SignatureMethod::HmacSha256 => mac::<Sha256>(secret_key, string_to_sign)
            .verify_slice(tag)
            .is_ok(),
    }
}

/// [`verify`] of the string to sign of `to_sign` for `host` and `path`,
/// streamed into the HMAC: the same answer for every input, without
/// building the string.
pub fn verify_streamed(
    secret_key: &str,
    method: SignatureMethod,
    to_sign: &ToSign<'_>,
    host: &str,
    path: &str,
    signature_b64: &str,
) -> bool {
    let mut tag = [0u8; 48];
    let Some(n) = decode_tag(method, signature_b64, &mut tag) else {
        return false;
    };
    let tag = &tag[..n];
    match method {
        SignatureMethod::HmacSha1 => streamed_mac::<Sha1>(secret_key, to_sign, host, path)
            .verify_slice(tag)
            .is_ok(),
        SignatureMethod::HmacSha256 => streamed_mac::<Sha256>(secret_key, to_sign, host, path)
            .verify_slice(tag)
            .is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::decode::decode_form;

    const HOST: &str = "scf.api.qcloud.com";
    const KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3Cozk1qA";

    fn sts(method: &str, form: &str) -> String {
        let params = decode_form(form.as_bytes()).unwrap();
        string_to_sign(method, HOST, LEGACY_PATH, &params)
    }

    fn query(s: &str) -> &str {
        s.split_once('?').unwrap().1
    }

    #[test]
    fn signature_parameter_is_not_signed() {
        assert_eq!(query(&sts("GET", "a=1&Signature=abc%3D")), "a=1");
    }

    #[test]
    fn every_underscore_in_a_key_becomes_a_dot() {
        assert_eq!(query(&sts("GET", "a_b_c=1")), "a.b.c=1");
        assert_eq!(query(&sts("GET", "_x_=1")), ".x.=1");
    }

    #[test]
    fn underscores_in_values_stay() {
        assert_eq!(
            query(&sts("GET", "Placement_Zone=CN_GUANGZHOU")),
            "Placement.Zone=CN_GUANGZHOU"
        );
    }

    #[test]
    fn sort_is_case_sensitive_upper_case_first() {
        assert_eq!(
            query(&sts("GET", "functionName=f&Action=A&b=1&Z=2")),
            "Action=A&Z=2&b=1&functionName=f"
        );
    }

    #[test]
    fn sort_uses_the_key_after_underscore_becomes_dot() {
        // As signed, `a.b` < `a0` (`.` is 0x2E); as sent, `a_b` > `a0` (`_` is 0x5F).
        assert_eq!(query(&sts("GET", "a0=2&a_b=1")), "a.b=1&a0=2");
    }

    #[test]
    fn values_are_raw_decoded_text() {
        assert_eq!(
            query(&sts("GET", "param=%7B%22a%22%3A+1%7D&k=a%26b%3Dc")),
            "k=a&b=c&param={\"a\": 1}"
        );
    }

    #[test]
    fn method_is_upper_cased_and_host_and_path_follow() {
        assert_eq!(sts("get", "a=1"), "GETscf.api.qcloud.com/v2/index.php?a=1");
    }

    #[test]
    fn no_parameters_leave_an_empty_query() {
        assert_eq!(sts("GET", ""), "GETscf.api.qcloud.com/v2/index.php?");
    }

    #[test]
    fn post_leaves_out_values_starting_with_at() {
        assert_eq!(query(&sts("POST", "code=@UEsD&a=1&b=x@y")), "a=1&b=x@y");
    }

    #[test]
    fn get_signs_values_starting_with_at() {
        assert_eq!(query(&sts("GET", "code=@UEsD&a=1")), "a=1&code=@UEsD");
    }

    #[test]
    fn at_rule_applies_only_to_exactly_post() {
        // The check is on the method as received; `post` is not `POST`.
        let s = sts("post", "code=@UEsD");
        assert_eq!(s, "POSTscf.api.qcloud.com/v2/index.php?code=@UEsD");
    }

    #[test]
    fn host_is_signed_as_given_including_port() {
        let params = decode_form(b"a=1").unwrap();
        assert_eq!(
            string_to_sign("GET", "127.0.0.1:8443", LEGACY_PATH, &params),
            "GET127.0.0.1:8443/v2/index.php?a=1"
        );
    }

    #[test]
    fn hmac_sha256_only_for_exact_parameter_value() {
        assert_eq!(
            SignatureMethod::from_param(Some("HmacSHA256")),
            SignatureMethod::HmacSha256
        );
        for other in [
            None,
            Some("HmacSHA1"),
            Some("hmacsha256"),
            Some("HmacSHA512"),
            Some(""),
        ] {
            assert_eq!(
                SignatureMethod::from_param(other),
                SignatureMethod::HmacSha1,
                "{other:?}"
            );
        }
    }

    #[test]
    fn signature_method_names_round_trip() {
        for m in [SignatureMethod::HmacSha1, SignatureMethod::HmacSha256] {
            assert_eq!(SignatureMethod::from_param(Some(m.as_str())), m);
        }
    }

    #[test]
    fn sign_gives_padded_standard_base64_of_the_mac_length() {
        let s = "GETx/v2/index.php?a=1";
        let sha1 = sign(KEY, SignatureMethod::HmacSha1, s);
        let sha256 = sign(KEY, SignatureMethod::HmacSha256, s);
        assert_eq!(sha1.len(), 28);
        assert!(sha1.ends_with('='));
        assert_eq!(sha256.len(), 44);
        assert!(sha256.ends_with('='));
    }

    #[test]
    fn verify_accepts_the_signature_and_rejects_others() {
        let s = "GETx/v2/index.php?a=1";
        for m in [SignatureMethod::HmacSha1, SignatureMethod::HmacSha256] {
            let good = sign(KEY, m, s);
            assert!(verify(KEY, m, s, &good));
            assert!(!verify("other key", m, s, &good));
            assert!(!verify(KEY, m, "GETx/v2/index.php?a=2", &good));
        }
    }

    #[test]
    fn verify_does_not_accept_a_signature_made_with_the_other_hash() {
        let s = "GETx/v2/index.php?a=1";
        let sha1 = sign(KEY, SignatureMethod::HmacSha1, s);
        let sha256 = sign(KEY, SignatureMethod::HmacSha256, s);
        assert!(!verify(KEY, SignatureMethod::HmacSha256, s, &sha1));
        assert!(!verify(KEY, SignatureMethod::HmacSha1, s, &sha256));
    }

    #[test]
    fn verify_rejects_bad_base64() {
        let s = "GETx/v2/index.php?a=1";
        let good = sign(KEY, SignatureMethod::HmacSha1, s);
        let unpadded = good.trim_end_matches('=');
        let url_safe = good.replace('+', "-").replace('/', "_");
        for bad in [
            "",
            "!!!!",
            "not base64 at all, not at all!",
            unpadded,
            &url_safe,
        ] {
            if bad != good {
                assert!(!verify(KEY, SignatureMethod::HmacSha1, s, bad), "{bad}");
            }
        }
    }

    #[test]
    fn verify_rejects_non_canonical_base64() {
        // The last character of a 20-byte MAC carries 2 unused bits; setting
        // them spells the same bytes differently. Only one spelling passes.
        let s = "GETx/v2/index.php?a=1";
        let good = sign(KEY, SignatureMethod::HmacSha1, s);
        let bytes = good.as_bytes();
        let last = bytes[26];
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let idx = ALPHABET.iter().position(|&c| c == last).unwrap();
        let twin = ALPHABET[idx ^ 1];
        let mut other = bytes.to_vec();
        other[26] = twin;
        let other = String::from_utf8(other).unwrap();
        assert!(!verify(KEY, SignatureMethod::HmacSha1, s, &other));
    }

    #[test]
    fn signing_covers_utf8_text() {
        // The doc's "UTF-8 + space" row is in conformance.rs; here: the
        // string is hashed as UTF-8 (not Latin-1, as qcloudcli on py3 tried).
        let a = sign(KEY, SignatureMethod::HmacSha1, "GETx?p=云");
        let b = sign(KEY, SignatureMethod::HmacSha1, "GETx?p=\u{e4}\u{ba}\u{91}");
        assert_ne!(a, b);
    }
}
