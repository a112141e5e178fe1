//! The one TC3-HMAC-SHA256 signer of outgoing 3.0 calls: the headers of a
//! signed `POST /` for any action and version (docs/protocol.md, "TC3-HMAC-SHA256"),
//! with the derived signing key cached per worker thread, SecretId and UTC
//! date. Pure apart from that cache; the time is passed in.

use std::cell::RefCell;
use std::collections::HashMap;

use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};

use super::envelope::SERVICE;
use super::tc3;
use crate::types::{KeyPair, Secret};

/// `X-TC-RequestClient` sent with every 3.0 call.
pub const REQUEST_CLIENT: &str = concat!("scf-bridge/", env!("CARGO_PKG_VERSION"));

/// What identifies one 3.0 call besides its body.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// `X-TC-Action`, e.g. `Invoke`.
    pub action: &'static str,
    /// `X-TC-Version`, e.g. `2018-04-16`.
    pub version: &'static str,
    /// `X-TC-Region`.
    pub region: &'a str,
    /// `X-TC-Timestamp`, UNIX seconds; also picks the signing date.
    pub timestamp: u64,
}

/// A header value the signer was given cannot be sent (not visible ASCII).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a valid header value")]
pub struct SignError(pub &'static str);

/// The headers of a signed 3.0 call: `Host` (the signed value is the one
/// sent), `Content-Type`, `X-TC-*` and `Authorization`; the token and the
/// authorization are marked sensitive.
pub fn signed_headers(
    host: &HeaderValue,
    call: &Call<'_>,
    body: &[u8],
    keys: &KeyPair,
) -> Result<HeaderMap, SignError> {
    const JSON: &str = "application/json";
    let host_str = host.to_str().map_err(|_| SignError("the upstream host"))?;
    let to_sign = [("content-type", JSON), ("host", host_str)];
    let request = tc3::SignableRequest {
        method: "POST",
        uri: "/",
        query: "",
        headers: &to_sign,
        payload: body,
    };
    let mut date = [0u8; 32];
    let date = tc3::utc_date_into(call.timestamp, &mut date);
    let key = cached_signing_key(&keys.secret_id, &keys.secret_key, date);
    let authorization = tc3::authorization_with_key(
        &request,
        &keys.secret_id,
        &key,
        date,
        SERVICE,
        call.timestamp,
    );
    let value = |s: &str, what| HeaderValue::from_str(s).map_err(|_| SignError(what));
    let mut h = HeaderMap::with_capacity(10);
    h.insert(HOST, host.clone());
    h.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    h.insert(
        HeaderName::from_static("x-tc-action"),
        HeaderValue::from_static(call.action),
    );
    h.insert(
        HeaderName::from_static("x-tc-version"),
        HeaderValue::from_static(call.version),
    );
    h.insert(
        HeaderName::from_static("x-tc-region"),
        recent_value(&RECENT_REGION, call.region, || {
            value(call.region, "the region")
        })?,
    );
    h.insert(
        HeaderName::from_static("x-tc-timestamp"),
        recent_value(&RECENT_TIMESTAMP, &call.timestamp, || {
            Ok(HeaderValue::from(call.timestamp))
        })?,
    );
    h.insert(
        HeaderName::from_static("x-tc-requestclient"),
        HeaderValue::from_static(REQUEST_CLIENT),
    );
    if let Some(token) = &keys.token {
        let mut v = value(token.expose(), "the token")?;
        v.set_sensitive(true);
        h.insert(HeaderName::from_static("x-tc-token"), v);
    }
    // Taken over without a copy; checked as `from_str` would.
    let mut auth = HeaderValue::from_maybe_shared(bytes::Bytes::from(authorization))
        .map_err(|_| SignError("the authorization"))?;
    auth.set_sensitive(true);
    h.insert(AUTHORIZATION, auth);
    Ok(h)
}

thread_local! {
    /// The last region and timestamp values this thread sent: consecutive
    /// calls mostly share them, and a clone is a reference count where
    /// building one is an allocation and a copy.
    static RECENT_REGION: RefCell<Option<(String, HeaderValue)>> = const { RefCell::new(None) };
    static RECENT_TIMESTAMP: RefCell<Option<(u64, HeaderValue)>> = const { RefCell::new(None) };
}

/// One thread's last key and the header value made of it.
type RecentValue<K> = RefCell<Option<(<K as ToOwned>::Owned, HeaderValue)>>;

/// The header value of `key`: this thread's last one when `key` is the
/// same, else `make`'s, which is then kept.
fn recent_value<K: ToOwned + PartialEq + ?Sized>(
    slot: &'static std::thread::LocalKey<RecentValue<K>>,
    key: &K,
    make: impl FnOnce() -> Result<HeaderValue, SignError>,
) -> Result<HeaderValue, SignError>
where
    K::Owned: std::borrow::Borrow<K>,
{
    use std::borrow::Borrow;
    slot.with(|cell| {
        let mut recent = cell.borrow_mut();
        if let Some((k, v)) = recent.as_ref() {
            if k.borrow() == key {
                return Ok(v.clone());
            }
        }
        let v = make()?;
        *recent = Some((key.to_owned(), v.clone()));
        Ok(v)
    })
}

/// Most derived keys each worker thread keeps (one per SecretId in use).
const SIGNING_KEY_CACHE_MAX: usize = 64;

/// The TC3 derived keys (`SecretSigning`) of one worker thread, for one UTC
/// date: SecretId → (the secret key it was derived from, the key).
#[derive(Default)]
struct SigningKeyCache {
    date: String,
    keys: HashMap<String, (Secret, tc3::SigningKey)>,
}

thread_local! {
    static SIGNING_KEYS: RefCell<SigningKeyCache> = RefCell::new(SigningKeyCache::default());
}

/// `tc3::signing_key(secret_key, date, "scf")`, derived once per key pair
/// and day on each worker thread instead of on every call (the derivation
/// is three HMACs). A changed secret key for the same SecretId (rotation)
/// is derived afresh; the cache is emptied when the date moves on and when
/// it would exceed [`SIGNING_KEY_CACHE_MAX`] entries.
fn cached_signing_key(secret_id: &str, secret_key: &Secret, date: &str) -> tc3::SigningKey {
    SIGNING_KEYS.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.date != date {
            cache.keys.clear();
            cache.date = date.to_owned();
        }
        if let Some((secret, key)) = cache.keys.get(secret_id) {
            if secret == secret_key {
                return key.clone();
            }
        }
        let key = tc3::signing_key(secret_key.expose(), date, SERVICE);
        if cache.keys.len() >= SIGNING_KEY_CACHE_MAX {
            cache.keys.clear();
        }
        cache
            .keys
            .insert(secret_id.to_owned(), (secret_key.clone(), key.clone()));
        key
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(id: &str, key: &str) -> KeyPair {
        KeyPair {
            secret_id: id.into(),
            secret_key: Secret::new(key),
            token: None,
        }
    }

    /// The `Authorization` `tc3::sign` makes, deriving the key itself.
    fn uncached(host: &str, body: &[u8], k: &KeyPair, ts: u64) -> String {
        let headers = [("content-type", "application/json"), ("host", host)];
        let req = tc3::SignableRequest {
            method: "POST",
            uri: "/",
            query: "",
            headers: &headers,
            payload: body,
        };
        tc3::sign(
            &req,
            &tc3::SigningParams {
                secret_id: &k.secret_id,
                secret_key: k.secret_key.expose(),
                service: SERVICE,
                timestamp: ts,
            },
        )
        .authorization
    }

    fn call(ts: u64) -> Call<'static> {
        Call {
            action: "Invoke",
            version: "2018-04-16",
            region: "ap-guangzhou",
            timestamp: ts,
        }
    }

    fn cached(host: &str, body: &[u8], k: &KeyPair, ts: u64) -> String {
        let h = signed_headers(&HeaderValue::from_str(host).unwrap(), &call(ts), body, k)
            .expect("signs");
        h[AUTHORIZATION].to_str().unwrap().to_owned()
    }

    #[test]
    fn cached_signing_key_signs_exactly_as_deriving_every_time() {
        let host = "scf.tencentcloudapi.com";
        let a = keys("AKIDa", "key-a");
        let b = keys("AKIDb", "key-b");
        let day = 1_700_000_000;
        // Same key twice (second from the cache), another key, back again,
        // and across a UTC midnight.
        for (k, ts) in [
            (&a, day),
            (&a, day + 1),
            (&b, day + 2),
            (&a, day + 3),
            (&a, day + 86_400),
            (&b, day + 86_400),
        ] {
            assert_eq!(cached(host, b"{}", k, ts), uncached(host, b"{}", k, ts));
        }
    }

    #[test]
    fn a_rotated_secret_key_for_the_same_secret_id_is_not_served_from_the_cache() {
        let host = "h";
        let ts = 1_700_000_000;
        let old = keys("AKIDrot", "old-key");
        let new = keys("AKIDrot", "new-key");
        assert_eq!(cached(host, b"x", &old, ts), uncached(host, b"x", &old, ts));
        assert_eq!(cached(host, b"x", &new, ts), uncached(host, b"x", &new, ts));
        assert_ne!(cached(host, b"x", &old, ts), cached(host, b"x", &new, ts));
    }

    #[test]
    fn the_cache_stays_bounded() {
        let ts = 1_700_000_000;
        for i in 0..(SIGNING_KEY_CACHE_MAX * 2 + 3) {
            let k = keys(&format!("AKID{i}"), &format!("key{i}"));
            assert_eq!(cached("h", b"", &k, ts), uncached("h", b"", &k, ts));
        }
        SIGNING_KEYS.with(|c| assert!(c.borrow().keys.len() <= SIGNING_KEY_CACHE_MAX));
    }

    #[test]
    fn the_action_version_region_and_token_are_sent_and_secrets_are_sensitive() {
        let mut k = keys("AKIDx", "key");
        k.token = Some(Secret::new("tok"));
        let c = Call {
            action: "ListFunctions",
            version: "2018-04-16",
            region: "ap-shanghai",
            timestamp: 1_700_000_000,
        };
        let h = signed_headers(&HeaderValue::from_static("h"), &c, b"{}", &k).unwrap();
        assert_eq!(h["x-tc-action"], "ListFunctions");
        assert_eq!(h["x-tc-version"], "2018-04-16");
        assert_eq!(h["x-tc-region"], "ap-shanghai");
        assert_eq!(h["x-tc-timestamp"], "1700000000");
        assert_eq!(h["host"], "h");
        assert!(h["x-tc-token"].is_sensitive());
        assert!(h[AUTHORIZATION].is_sensitive());
        let bad = Call {
            region: "ap\nx",
            ..c
        };
        assert_eq!(
            signed_headers(&HeaderValue::from_static("h"), &bad, b"{}", &k),
            Err(SignError("the region"))
        );
    }
}
