//! An embedded SCF API 3.0 emulator: a real hyper 1 HTTP/1.1 server that
//! verifies TC3-HMAC-SHA256 (with the same `scf3::tc3` code that signs) and
//! serves a small stateful SCF: an in-memory account whose functions can be
//! created, listed, fetched, updated, deleted, invoked (`Invoke`,
//! `InvokeFunction`), given timer/COS triggers and asked for their request
//! status, each action with its own fields (`UnknownParameter` otherwise,
//! [`schema`]) and its own frequency limit ([`ratelimit`]). The built-in
//! functions `hello`, `echo`, `fail` and `sleep` exist in every region.
//!
//! It answers like the real service: always HTTP 200 with
//! `Content-Type: application/json` exactly (the official Python SDK parses
//! errors only for that value) and a `{"Response":{…,"RequestId":…}}` body.
//! It never uses the bridge's server code.
//!
//! Shell and core: this file does the I/O (socket, body, clock); the checks
//! are in [`auth`] and [`request`], the state in [`account`], each action in
//! [`actions`], what a function does in [`runtime`].

pub mod account;
pub mod actions;
pub mod auth;
pub mod error;
pub mod ratelimit;
pub mod request;
pub mod runtime;
pub mod schema;

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

use actions::Ctx;
use error::{code, ApiError};
use ratelimit::RateLimits;
use request::Params;

/// Largest request body accepted (API 3.0 limit for TC3 POST), bytes.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// How much of an oversized body is still read (and discarded) so that the
/// client, still writing, receives the error answer instead of a reset.
pub const MAX_DRAIN_BYTES: usize = 4 * MAX_BODY_BYTES;
/// Default allowed clock skew, seconds (the documented five minutes).
pub const DEFAULT_MAX_SKEW_SECS: u64 = 300;
/// Default time a function stays `Creating`/`Updating`/`Deleting`.
pub const DEFAULT_STATE_DELAY: Duration = Duration::from_millis(200);

/// The emulator's settings.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// SecretId → SecretKey. `Debug` shows only the ids.
    pub keys: HashMap<String, String>,
    /// Largest allowed `|now - X-TC-Timestamp|`, seconds.
    pub max_skew_secs: u64,
    /// Keys that can change while the emulator runs (the embedded emulator
    /// follows the bridge's reloaded client set), asked after `keys`.
    pub live_keys: Option<LiveKeys>,
    /// How long a function stays `Creating`, `Updating` or `Deleting`.
    pub state_delay: Duration,
    /// Per-action frequency limits overriding the documented defaults
    /// (action name → requests per second; 0 = unlimited).
    pub rate_limits: HashMap<String, u32>,
    /// Serve `GetFunctionLogs` from the recorded invocations instead of
    /// answering `ActionOffline` as the real service does.
    pub function_logs_online: bool,
    /// Regions where `InvokeFunction` answers `UnsupportedOperation.Region`
    /// (where SCF serves it is not settled; none by default), so clients can
    /// test falling back to `Invoke`.
    pub invoke_function_unsupported_regions: Vec<String>,
}

/// SecretId → SecretKey, looked up at request time.
pub type LiveKeys = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

impl EmulatorConfig {
    /// A config with one key pair and the default skew.
    pub fn with_key(secret_id: impl Into<String>, secret_key: impl Into<String>) -> Self {
        EmulatorConfig {
            keys: HashMap::from([(secret_id.into(), secret_key.into())]),
            ..EmulatorConfig::default()
        }
    }

    /// The key set to verify one request against.
    fn keys_for(&self, headers: &http::HeaderMap) -> std::borrow::Cow<'_, HashMap<String, String>> {
        let Some(live) = &self.live_keys else {
            return std::borrow::Cow::Borrowed(&self.keys);
        };
        let id = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::scf3::tc3::parse_authorization(v).ok())
            .map(|a| a.secret_id.to_owned());
        match id {
            Some(id) if !self.keys.contains_key(&id) => match live(&id) {
                Some(key) => std::borrow::Cow::Owned(HashMap::from([(id, key)])),
                None => std::borrow::Cow::Borrowed(&self.keys),
            },
            _ => std::borrow::Cow::Borrowed(&self.keys),
        }
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            keys: HashMap::new(),
            max_skew_secs: DEFAULT_MAX_SKEW_SECS,
            live_keys: None,
            state_delay: DEFAULT_STATE_DELAY,
            rate_limits: HashMap::new(),
            function_logs_online: false,
            invoke_function_unsupported_regions: Vec::new(),
        }
    }
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        ids.sort_unstable();
        f.debug_struct("EmulatorConfig")
            .field("secret_ids", &ids)
            .field("secret_keys", &"<redacted>")
            .field("max_skew_secs", &self.max_skew_secs)
            .field("state_delay", &self.state_delay)
            .field("rate_limits", &self.rate_limits)
            .field("function_logs_online", &self.function_logs_online)
            .field(
                "invoke_function_unsupported_regions",
                &self.invoke_function_unsupported_regions,
            )
            .finish()
    }
}

/// Serves on an already-bound listener until the future is dropped (or the
/// process ends). Each connection is served on its own tokio task; dropping
/// this future stops accepting, connections already open run to their end.
pub async fn serve(listener: TcpListener, config: Arc<EmulatorConfig>) {
    let state = Arc::new(State::new(config));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // E.g. out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "emulator: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(handle(req, state).await) }
            });
            // The timer makes hyper's default 30 s header-read timeout take effect.
            if let Err(e) = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "emulator: connection ended with an error");
            }
        });
    }
}

/// Binds `127.0.0.1:0`, spawns [`serve`] on it and returns the bound address.
pub async fn spawn_ephemeral(config: Arc<EmulatorConfig>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, config));
    Ok(addr)
}

/// One emulator's state: its settings, account and rate limits.
pub struct State {
    /// The settings.
    pub config: Arc<EmulatorConfig>,
    /// The in-memory account.
    pub account: account::Account,
    /// The frequency limits.
    pub limits: RateLimits,
}

impl State {
    /// A fresh emulator (unknown action names in `rate_limits` are ignored
    /// with a warning).
    pub fn new(config: Arc<EmulatorConfig>) -> State {
        let limits = RateLimits::new(&config.rate_limits).unwrap_or_else(|bad| {
            tracing::warn!(action = %bad, "emulator: rate limit for an action it does not serve ignored");
            RateLimits::lenient(&config.rate_limits)
        });
        State {
            config,
            account: account::Account::default(),
            limits,
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `{"Response": {…fields, "RequestId"}}`.
fn success_body(mut fields: Map<String, Value>, request_id: &str) -> Vec<u8> {
    fields.insert("RequestId".into(), Value::String(request_id.to_owned()));
    json!({ "Response": fields }).to_string().into_bytes()
}

/// `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`.
fn error_body(e: &ApiError, request_id: &str) -> Vec<u8> {
    json!({
        "Response": {
            "Error": { "Code": e.code, "Message": e.message },
            "RequestId": request_id,
        }
    })
    .to_string()
    .into_bytes()
}

/// One request: always HTTP 200, `Content-Type: application/json`.
async fn handle<B>(req: Request<B>, state: Arc<State>) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: fmt::Display,
{
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = match call(req, state).await {
        Ok(fields) => success_body(fields, &request_id),
        Err(e) => {
            tracing::debug!(code = e.code, message = %e.message, %request_id, "emulator: refused");
            error_body(&e, &request_id)
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Reads the body up to [`MAX_BODY_BYTES`]; beyond that keeps draining up to
/// [`MAX_DRAIN_BYTES`] and answers `RequestSizeLimitExceeded`.
async fn read_body<B>(mut body: B, content_length: Option<u64>) -> Result<Vec<u8>, ApiError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: fmt::Display,
{
    let too_large = || {
        ApiError::new(
            code::REQUEST_SIZE_LIMIT_EXCEEDED,
            format!("the request body exceeds {MAX_BODY_BYTES} bytes"),
        )
    };
    if content_length.is_some_and(|n| n > MAX_DRAIN_BYTES as u64) {
        return Err(too_large());
    }
    let mut buf =
        Vec::with_capacity(content_length.map_or(0, |n| n.min(MAX_BODY_BYTES as u64) as usize));
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::new(
                code::INTERNAL_ERROR,
                format!("reading the request body failed: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        total = total.saturating_add(data.len());
        if total > MAX_DRAIN_BYTES {
            return Err(too_large());
        }
        if total <= MAX_BODY_BYTES {
            buf.extend_from_slice(&data);
        }
    }
    if total > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(buf)
}

/// Checks the request (method, path, size, signature, common headers, rate
/// limit, fields) and runs its action.
async fn call<B>(req: Request<B>, state: Arc<State>) -> Result<Map<String, Value>, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: fmt::Display,
{
    let now = unix_now();
    let (parts, body) = req.into_parts();
    if parts.method != Method::POST {
        return Err(ApiError::new(
            code::UNSUPPORTED_PROTOCOL,
            "the emulator serves only POST with a JSON body",
        ));
    }
    if parts.uri.path() != "/" {
        return Err(ApiError::new(
            code::INVALID_ACTION,
            "the emulator serves only the path /",
        ));
    }
    let content_length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = read_body(Box::pin(body), content_length).await?;

    let received = auth::Received {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
    };
    let keys = state.config.keys_for(&parts.headers);
    auth::verify(&received, &keys, now, state.config.max_skew_secs)?;
    let (action, region) = request::check_common_headers(&parts.headers)?;
    let clock = tokio::time::Instant::now();
    if !state.limits.admit(action, clock) {
        return Err(ApiError::new(
            code::REQUEST_LIMIT_EXCEEDED,
            format!(
                "{} is limited to {} requests a second",
                action.name(),
                state.limits.limit(action)
            ),
        ));
    }
    let params = Params::parse(action, &body)?;
    drop(body);
    if !state.account.admits_region(&region) {
        return Err(ApiError::new(
            code::UNSUPPORTED_REGION,
            format!(
                "the emulator keeps at most {} regions",
                account::MAX_REGIONS
            ),
        ));
    }
    let ctx = Ctx {
        state,
        region,
        now: clock,
        unix: now,
        wall: account::wall_time(now),
    };
    actions::dispatch(&ctx, &params).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_redacts_keys() {
        let config = EmulatorConfig::with_key("AKIDvisible", "SUPERSECRET");
        let shown = format!("{config:?}");
        assert!(shown.contains("AKIDvisible"), "{shown}");
        assert!(!shown.contains("SUPERSECRET"), "{shown}");
        assert_eq!(config.max_skew_secs, 300);
    }

    #[tokio::test]
    async fn oversized_body_is_request_size_limit_exceeded() {
        let body = Full::new(Bytes::from(vec![b' '; MAX_BODY_BYTES + 1]));
        let err = read_body(body, None).await.expect_err("too large");
        assert_eq!(err.code, code::REQUEST_SIZE_LIMIT_EXCEEDED);
        let body = Full::new(Bytes::from(vec![b' '; MAX_BODY_BYTES]));
        assert_eq!(
            read_body(body, None).await.map(|b| b.len()),
            Ok(MAX_BODY_BYTES)
        );
        let err = read_body(Full::new(Bytes::new()), Some(MAX_DRAIN_BYTES as u64 + 1))
            .await
            .expect_err("announced too large");
        assert_eq!(err.code, code::REQUEST_SIZE_LIMIT_EXCEEDED);
    }

    #[tokio::test]
    async fn non_post_is_unsupported_protocol_with_http_200_json() {
        let req = Request::get("/")
            .body(Full::new(Bytes::new()))
            .expect("request");
        let state = Arc::new(State::new(Arc::new(EmulatorConfig::default())));
        let resp = handle(req, state).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let answer: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            answer["Response"]["Error"]["Code"],
            code::UNSUPPORTED_PROTOCOL
        );
        let id = answer["Response"]["RequestId"].as_str().expect("RequestId");
        assert!(uuid::Uuid::parse_str(id).is_ok());
    }
}
