//! One legacy request's walk, as plain calls on typed values:
//! decode → parse → translate → sign → send → map back.
//! HTTP concerns (paths, methods, bodies, limits) stay in `server`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use http::StatusCode;

use crate::auth::{SharedReplay, Signer, Verifier};
use crate::config::Secret;
use crate::config::UpstreamMode;
use crate::credentials::{KeyPair, Swappable};
use crate::error::{BridgeError, ErrorKind};
use crate::legacy::answer::LegacyAnswer;
use crate::legacy::decode::{decode_form, DecodeError};
use crate::legacy::region::resolve_region;
use crate::legacy::request::{parse_request_deferring_param, LegacyAction, RequestError};
use crate::metrics;
use crate::ratelimit::ThrottleBudget;
use crate::scf3::{invoke, tc3};
use crate::translate;
use crate::upstream::Upstream;

/// Seconds since the Unix epoch; injected so tests can move time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

/// `X-TC-RequestClient` sent with every 3.0 call.
pub const REQUEST_CLIENT: &str = concat!("scf-bridge/", env!("CARGO_PKG_VERSION"));

/// What the log line and metrics need to know about one request.
#[derive(Debug, Default, Clone)]
pub struct RequestInfo {
    pub action: Option<String>,
    pub function: Option<String>,
    pub namespace: Option<String>,
    pub region: Option<String>,
    pub function_request_id: Option<String>,
    pub scf_error: Option<String>,
    pub upstream_duration: Option<Duration>,
}

/// The answer to one legacy request.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub answer: LegacyAnswer,
    /// SCF's `RequestId`, when SCF answered.
    pub request_id: Option<String>,
    /// Set when the bridge made this answer itself.
    pub error: Option<BridgeError>,
    pub info: RequestInfo,
}

impl Reply {
    pub fn from_error(error: BridgeError, info: RequestInfo) -> Reply {
        Reply {
            status: StatusCode::from_u16(error.kind.http_status()).unwrap_or(StatusCode::OK),
            answer: error.to_answer(),
            request_id: None,
            error: Some(error),
            info,
        }
    }
}

/// Everything a request reads: configuration, the current key pair, the
/// connection pool and the clock.
pub struct Bridge {
    pub upstream: Upstream,
    pub default_region: String,
    pub credentials: Arc<Swappable<Option<KeyPair>>>,
    /// `None` when `auth.mode = "none"`.
    pub verifier: Option<Verifier>,
    /// The replay check in Redis (`auth.replay_store = "redis"`).
    pub shared_replay: Option<SharedReplay>,
    /// The throttle budget shared through Redis (`redis.rate_limits`).
    pub budget: Option<ThrottleBudget>,
    pub mode: UpstreamMode,
    pub clock: Clock,
}

impl Bridge {
    /// Handle the raw parameters of a GET query or POST form body; `host` is
    /// the request's `Host` header, one of the hosts a signature may cover.
    /// `sent` is set the moment the call may start reaching SCF. The raw
    /// parameters are taken by value so they can be freed once decoded.
    pub async fn handle(
        &self,
        http_method: &str,
        host: Option<&str>,
        raw_params: Bytes,
        sent: &AtomicBool,
    ) -> Reply {
        let mut info = RequestInfo::default();
        match self
            .walk(http_method, host, raw_params, sent, &mut info)
            .await
        {
            Ok(reply) => reply,
            Err(e) => Reply::from_error(e, info),
        }
    }

    async fn walk(
        &self,
        http_method: &str,
        host: Option<&str>,
        raw_params: Bytes,
        sent: &AtomicBool,
        info: &mut RequestInfo,
    ) -> Result<Reply, BridgeError> {
        let now = (self.clock)();
        // Each body-sized buffer is freed as soon as the next one is made:
        // the raw form once decoded; the decoded text becomes `param` after
        // verification (moved, not copied); `param` once it is in the 3.0
        // body.
        let params = decode_form(&raw_params).map_err(decode_error)?;
        drop(raw_params);
        let mut request = parse_request_deferring_param(&params).map_err(request_error)?;
        info.action = Some(request.common.action.clone());
        let signer = match &self.verifier {
            Some(v) => {
                let verified = match &self.shared_replay {
                    None => v.verify(http_method, host, &params, &request.common, now),
                    Some(shared) => {
                        let common = &request.common;
                        shared
                            .verify(v, http_method, host, &params, common, now)
                            .await
                    }
                };
                metrics::replay_fill(v.replay.len(), v.replay.capacity());
                verified?
            }
            None => Signer::Bridge,
        };
        // The decoded text is only needed to verify; `param` is moved out of
        // it and the rest freed.
        request.move_param_from(params);
        let LegacyAction::InvokeFunction(f) = &mut request.action;
        info.function = Some(f.function_name.clone());
        info.namespace = f.namespace.clone();
        check_event_size(f)?;
        let region = match request.common.region.as_deref() {
            Some(r) => resolve_region(r)
                .map_err(|e| BridgeError::new(ErrorKind::InvalidParameterValue, e.to_string()))?
                .into_owned(),
            None => self.default_region.clone(),
        };
        info.region = Some(region.clone());

        let bridge_keys = self.credentials.load();
        let keys = match &signer {
            Signer::Caller(keys) => keys,
            Signer::Bridge => bridge_keys.as_ref().as_ref().ok_or_else(|| {
                BridgeError::new(
                    ErrorKind::NoCredentials,
                    "the bridge has no credentials to sign the SCF 3.0 call",
                )
            })?,
        };

        let body = Bytes::from(translate::invoke_body(f));
        // `param` is in the body now; the call may take minutes.
        f.param = None;
        let target = self.upstream.target(&region)?;
        let headers = signed_headers(&target.host, &region, &body, keys, now)?;

        if self.mode == UpstreamMode::DryRun {
            return Ok(dry_run(&target.uri, &headers, &body, f.invoke_type, info));
        }

        if let Some(budget) = &self.budget {
            budget
                .acquire(&keys.secret_id, invoke::ACTION, &region)
                .await?;
        }
        let started = Instant::now();
        sent.store(true, Ordering::SeqCst);
        let result = self.upstream.send(&target, headers, body).await;
        info.upstream_duration = Some(started.elapsed());
        let response = result.inspect_err(|e| metrics::upstream_error(e.kind.name()))?;
        metrics::upstream_call(started.elapsed());
        if response.status != StatusCode::OK {
            metrics::upstream_error(ErrorKind::UpstreamBadResponse.name());
            return Err(BridgeError::after_send(
                ErrorKind::UpstreamBadResponse,
                format!(
                    "SCF endpoint answered HTTP {} instead of a 3.0 envelope",
                    response.status.as_u16()
                ),
            ));
        }
        let outcome = invoke::parse_response(&response.body)
            .map_err(|e| {
                BridgeError::after_send(
                    ErrorKind::UpstreamBadResponse,
                    format!("SCF endpoint answered with an unusable body: {e}"),
                )
            })
            .inspect_err(|e| metrics::upstream_error(e.kind.name()))?;
        let t = translate::from_outcome(outcome, f.invoke_type);
        if let Some(code) = &t.scf_error {
            metrics::scf_error(code);
        }
        info.function_request_id = t.function_request_id;
        info.scf_error = t.scf_error;
        Ok(Reply {
            status: StatusCode::OK,
            answer: t.answer,
            request_id: t.request_id,
            error: None,
            info: std::mem::take(info),
        })
    }
}

/// The headers of a signed 3.0 `Invoke` call; the signed `host` is the
/// `Host` that is sent.
pub fn signed_headers(
    host: &HeaderValue,
    region: &str,
    body: &[u8],
    keys: &KeyPair,
    timestamp: u64,
) -> Result<HeaderMap, BridgeError> {
    const JSON: &str = "application/json";
    let host_str = host
        .to_str()
        .map_err(|_| BridgeError::new(ErrorKind::Internal, "upstream host is not ASCII"))?;
    let to_sign = [("content-type", JSON), ("host", host_str)];
    let request = tc3::SignableRequest {
        method: "POST",
        uri: "/",
        query: "",
        headers: &to_sign,
        payload: body,
    };
    let date = tc3::utc_date(timestamp);
    let key = cached_signing_key(&keys.secret_id, &keys.secret_key, &date);
    let signed = tc3::sign_with_key(
        &request,
        &keys.secret_id,
        &key,
        &date,
        invoke::SERVICE,
        timestamp,
    );
    let value = |s: &str| {
        HeaderValue::from_str(s).map_err(|_| {
            BridgeError::new(
                ErrorKind::InvalidParameterValue,
                "a header value is not valid",
            )
        })
    };
    let mut h = HeaderMap::with_capacity(10);
    h.insert(HOST, host.clone());
    h.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    h.insert(
        HeaderName::from_static("x-tc-action"),
        HeaderValue::from_static(invoke::ACTION),
    );
    h.insert(
        HeaderName::from_static("x-tc-version"),
        HeaderValue::from_static(invoke::VERSION),
    );
    h.insert(HeaderName::from_static("x-tc-region"), value(region)?);
    h.insert(
        HeaderName::from_static("x-tc-timestamp"),
        HeaderValue::from(timestamp),
    );
    h.insert(
        HeaderName::from_static("x-tc-requestclient"),
        HeaderValue::from_static(REQUEST_CLIENT),
    );
    if let Some(token) = &keys.token {
        let mut v = value(token.expose())?;
        v.set_sensitive(true);
        h.insert(HeaderName::from_static("x-tc-token"), v);
    }
    let mut auth = value(&signed.authorization)?;
    auth.set_sensitive(true);
    h.insert(AUTHORIZATION, auth);
    Ok(h)
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
/// and day on each worker thread instead of on every request (the
/// derivation is three HMACs). A changed secret key for the same SecretId
/// (rotation) is derived afresh; the cache is emptied when the date moves on
/// and when it would exceed [`SIGNING_KEY_CACHE_MAX`] entries.
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
        let key = tc3::signing_key(secret_key.expose(), date, invoke::SERVICE);
        if cache.keys.len() >= SIGNING_KEY_CACHE_MAX {
            cache.keys.clear();
        }
        cache
            .keys
            .insert(secret_id.to_owned(), (secret_key.clone(), key.clone()));
        key
    })
}

/// SCF's event limits (6 MB sync, 128 KB async), checked before anything
/// is signed or sent.
fn check_event_size(f: &crate::legacy::request::InvokeFunction) -> Result<(), BridgeError> {
    let limit = match f.invoke_type {
        crate::legacy::request::InvokeType::RequestResponse => invoke::SYNC_EVENT_LIMIT,
        crate::legacy::request::InvokeType::Event => invoke::ASYNC_EVENT_LIMIT,
    };
    let size = f.param.as_deref().map_or(0, str::len);
    if size > limit {
        return Err(BridgeError::new(
            ErrorKind::RequestTooLarge,
            format!(
                "`param` is {size} bytes; SCF accepts at most {limit} bytes for a {} invocation",
                translate::invocation_type(f.invoke_type).as_str()
            ),
        ));
    }
    Ok(())
}

/// `upstream.mode = "dry-run"`: log the would-be 3.0 call with its secrets
/// redacted, and answer without calling SCF.
fn dry_run(
    uri: &http::Uri,
    headers: &HeaderMap,
    body: &[u8],
    invoke_type: crate::legacy::request::InvokeType,
    info: &mut RequestInfo,
) -> Reply {
    let shown: Vec<String> = headers
        .iter()
        .map(|(k, v)| {
            let v = if v.is_sensitive() {
                "<redacted>"
            } else {
                v.to_str().unwrap_or("<binary>")
            };
            format!("{k}: {v}")
        })
        .collect();
    tracing::info!(
        target: "scf_bridge::dry_run",
        uri = %uri,
        headers = ?shown,
        body = %String::from_utf8_lossy(body),
        "dry run: 3.0 Invoke translated and signed, not sent"
    );
    let id = format!("dry-run-{}", uuid::Uuid::new_v4());
    let outcome = invoke::Outcome::Result {
        result: invoke::InvokeResult {
            function_request_id: Some(id),
            ..Default::default()
        },
        request_id: None,
    };
    let mut answer = translate::from_outcome(outcome, invoke_type).answer;
    answer.message = "dry run: the request was translated and signed but not sent to SCF".into();
    answer.code_desc = "DryRunOperation".into();
    Reply {
        status: StatusCode::OK,
        answer,
        request_id: None,
        error: None,
        info: std::mem::take(info),
    }
}

fn decode_error(e: DecodeError) -> BridgeError {
    BridgeError::new(ErrorKind::InvalidParameter, e.to_string())
}

fn request_error(e: RequestError) -> BridgeError {
    let kind = match &e {
        RequestError::MissingAction | RequestError::MissingParameter(_) => {
            ErrorKind::MissingParameter
        }
        RequestError::UnsupportedAction(_) => ErrorKind::InvalidAction,
        RequestError::InvalidValue { .. } => ErrorKind::InvalidParameterValue,
    };
    BridgeError::new(kind, e.to_string())
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
                service: invoke::SERVICE,
                timestamp: ts,
            },
        )
        .authorization
    }

    fn cached(host: &str, body: &[u8], k: &KeyPair, ts: u64) -> String {
        let h = signed_headers(
            &HeaderValue::from_str(host).unwrap(),
            "ap-guangzhou",
            body,
            k,
            ts,
        )
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
}
