//! The legacy-facing HTTP listener: accepts connections, routes
//! `/v2/index.php`, reads GET queries and form bodies within limits, hands
//! them to the walk, and writes exactly one answer per request — a panic
//! included. Stops accepting on shutdown and lets connections drain.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::ServerSettings;
use crate::error::{BridgeError, ErrorKind};
use crate::legacy::decode::decode_bytes_needed;
use crate::tls::TlsConfigCell;
use crate::walk::{Bridge, Reply, RequestInfo};

pub mod accept;
mod body;
mod conn_timers;
mod detach;
mod head_errors;

use accept::{AcceptBackoff, ConnectionLimit, ConnectionPermit};
pub mod listener;
pub mod runtime;

/// The one legacy path.
pub const LEGACY_PATH: &str = "/v2/index.php";
/// Header naming the kind of an answer the bridge made itself.
pub const BRIDGE_ERROR_HEADER: &str = "x-scf-bridge-error";
/// Header carrying SCF's `RequestId`.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// hyper's read buffer for a request head.
pub const HEAD_BUFFER_BYTES: usize = 1024 * 1024;

/// Header carrying the bridge's own id for the request.
pub const BRIDGE_REQUEST_ID_HEADER: &str = "x-scf-bridge-request-id";

/// What each request handler reads.
pub struct Frontend {
    pub bridge: Bridge,
    pub settings: ServerSettings,
    pub limits: Limits,
    /// Turns true at the shutdown deadline: requests still running answer
    /// with a legacy error.
    pub deadline: tokio::sync::watch::Receiver<bool>,
    /// Label request metrics with the function name (opt-in).
    pub function_label: bool,
    /// Who still calls (`GET /callers` on the admin listener).
    pub callers: Arc<crate::callers::Callers>,
}

/// Bounds on concurrent work: requests in flight, and request-body bytes
/// held (counted in KiB permits).
pub struct Limits {
    in_flight: Arc<Semaphore>,
    buffered_kib: Arc<Semaphore>,
    /// Open legacy connections, shared by every listener.
    pub connections: ConnectionLimit,
}

impl Limits {
    pub fn new(max_in_flight: usize, max_buffered_bytes: usize) -> Self {
        Self::with_connections(max_in_flight, max_buffered_bytes, usize::MAX >> 4)
    }

    pub fn with_connections(
        max_in_flight: usize,
        max_buffered_bytes: usize,
        max_connections: usize,
    ) -> Self {
        Limits {
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            buffered_kib: Arc::new(Semaphore::new(max_buffered_bytes.div_ceil(1024))),
            connections: ConnectionLimit::new(max_connections),
        }
    }
}

/// Accept on `listener` until `shutdown` completes, then stop accepting and
/// wait up to `drain` for open connections to finish. With `tls`, each
/// connection first completes a TLS handshake with the configuration current
/// at accept time.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsConfigCell>,
    frontend: Arc<Frontend>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's header timer would also run while a kept-alive connection waits
    // for its next request; `conn_timers` times heads and idleness apart.
    http.header_read_timeout(None)
        .keep_alive(true)
        // Room to read heads past our own limits, so that those get a legacy
        // answer; beyond this hyper answers 431 itself.
        .max_buf_size(HEAD_BUFFER_BYTES)
        .max_headers(hyper_max_headers(frontend.settings.max_headers));
    let http = Arc::new(http);
    let connections = frontend.limits.connections.clone();
    let mut backoff = AcceptBackoff::default();
    tokio::pin!(shutdown);
    loop {
        // Accept, then wait for a place: at the cap this loop holds the one
        // connection it accepted and accepts nothing more until a
        // connection closes. (Taking the place first would let a loop whose
        // own socket is empty hold a freed place while a connection waits
        // in another worker's backlog.) Open descriptors are bounded by
        // `server.max_connections` plus one per accept loop.
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => {
                backoff.succeeded();
                stream
            }
            Err(e) => {
                // Out of descriptors and the like: back off, keep serving.
                let wait = backoff.failed(&e);
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        let permit = tokio::select! {
            p = connections.acquire() => p,
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        crate::metrics::connection_accepted(tls.is_some());
        let fe = frontend.clone();
        let http = http.clone();
        let watcher = graceful.watcher();
        match &tls {
            None => serve_connection(&http, watcher, stream, fe, permit, ListenerPort(80)),
            Some(cell) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(cell.load().as_ref().clone());
                let handshake_timeout = Duration::from_millis(fe.settings.header_read_timeout_ms);
                tokio::spawn(async move {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => serve_connection(
                            &http,
                            watcher,
                            tls_stream,
                            fe,
                            permit,
                            ListenerPort(443),
                        ),
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(?drain, "connections still open at the drain deadline");
    }
}

/// The default port of the listener a request came in on (443 for TLS, 80
/// for plain HTTP), handed to each request's handler: a legacy signature
/// may cover the `Host` header with or without it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerPort(pub u16);

/// Serve HTTP/1.1 on one connection, watched for graceful shutdown, with the
/// head and keep-alive idle timers of [`conn_timers`].
fn serve_connection<I>(
    http: &hyper::server::conn::http1::Builder,
    watcher: Watcher,
    io: I,
    fe: Arc<Frontend>,
    permit: ConnectionPermit,
    port: ListenerPort,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let phase = conn_timers::Phase::new();
    let idle = match fe.settings.keepalive_idle_timeout_ms {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    };
    let io = conn_timers::TimedIo::new(
        io,
        phase.clone(),
        Duration::from_millis(fe.settings.header_read_timeout_ms),
        idle,
    );
    let handler = ServiceBuilder::new()
        .layer(CatchPanicLayer::custom(panic_answer))
        .service_fn(move |req| {
            let fe = fe.clone();
            async move { Ok::<_, Infallible>(handle(fe, req, port).await) }
        });
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        phase.busy();
        let answered = phase.clone();
        let call = handler.clone().oneshot(req);
        async move { call.await.map(|resp| resp.map(|body| answered.track(body))) }
    });
    let io = head_errors::LegacyHeadErrors::new(io);
    let conn = watcher.watch(http.serve_connection(TokioIo::new(io), svc));
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
        drop(permit);
    });
}

/// hyper's own header-count limit: above the bridge's, so that the bridge
/// answers an over-limit request itself, in the legacy shape.
fn hyper_max_headers(bridge_max: usize) -> usize {
    bridge_max.saturating_add(100)
}

/// Route, read, run the walk, answer — exactly once per request.
///
/// When the client goes away before the answer is ready (hyper then drops
/// this future), the request still runs to its end on a task of its own
/// ([`detach::Detaching`]) — a synchronous 3.0 call is never cut halfway,
/// its function runs at SCF anyway — and is logged and counted once, with
/// the outcome `client_closed` (docs/operations.md, "Clients that go
/// away"). A panic is answered by the `CatchPanicLayer` around this.
pub async fn handle(
    fe: Arc<Frontend>,
    req: Request<Incoming>,
    port: ListenerPort,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let sent = Arc::new(AtomicBool::new(false));
    let waiter = Arc::new(Waiter::default());
    // Declared before `waiting`, so dropped after it: the client's leaving
    // is recorded before the rest of the work is handed on.
    let mut work =
        detach::Detaching::new(run(fe, req, port, started, sent.clone(), waiter.clone()));
    let mut waiting = Waiting {
        waiter,
        sent,
        started,
        answered: false,
    };
    let response = (&mut work).await;
    waiting.answered = true;
    response
}

/// Whether the client of a request is still waiting for its answer.
#[derive(Default)]
struct Waiter {
    state: std::sync::Mutex<WaiterState>,
}

#[derive(Default)]
struct WaiterState {
    /// The request's answer is ready (logged, counted).
    finished: bool,
    /// When the client went away, from the request's start.
    closed_after: Option<Duration>,
    /// Counted in the gauge of calls running with nobody waiting.
    unwaited: bool,
}

impl Waiter {
    /// The request finished: whether (and when) its client had gone.
    fn finish(&self) -> Option<Duration> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.finished = true;
        if std::mem::take(&mut s.unwaited) {
            crate::metrics::unwaited_calls(-1.0);
        }
        s.closed_after
    }
}

/// Lives in the future hyper holds for the request: dropped before the
/// answer was handed over, it records that the client went away.
struct Waiting {
    waiter: Arc<Waiter>,
    sent: Arc<AtomicBool>,
    started: Instant,
    answered: bool,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let mut s = self.waiter.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.finished {
            return;
        }
        s.closed_after = Some(self.started.elapsed());
        if self.sent.load(Ordering::SeqCst) {
            s.unwaited = true;
            crate::metrics::unwaited_calls(1.0);
        }
    }
}

async fn run(
    fe: Arc<Frontend>,
    req: Request<Incoming>,
    port: ListenerPort,
    started: Instant,
    sent: Arc<AtomicBool>,
    waiter: Arc<Waiter>,
) -> Response<Full<Bytes>> {
    let fe = &*fe;
    let method = req.method().clone();
    let request_id = request_id(req.headers());
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let default_port = port.0;
    let work = async {
        // The body is read before a slot is taken: a slow sender holds no
        // slot, and only the buffer budget for the bytes it has sent.
        let admitted = match read_params(fe, req).await {
            Ok((raw, held)) => take_slot(fe).and_then(|slot| {
                let held = reserve_decoding(fe, raw.len(), held)?;
                Ok((raw, slot, held))
            }),
            Err(e) => Err(e),
        };
        match admitted {
            Ok((raw, _slot, _held)) => {
                let _counted = InFlight::enter();
                let host = crate::auth::RequestHost {
                    header: host.as_deref(),
                    default_port,
                };
                fe.bridge.handle(method.as_str(), host, raw, &sent).await
            }
            Err(e) => Reply::from_error(e, RequestInfo::default()),
        }
    };
    let reply = tokio::select! {
        biased;
        reply = work => reply,
        _ = deadline_reached(&fe.deadline) => {
            let detail = "the bridge is shutting down and the request did not finish in time";
            let e = if sent.load(Ordering::SeqCst) {
                BridgeError::after_send(ErrorKind::ShuttingDown, detail)
            } else {
                BridgeError::new(ErrorKind::ShuttingDown, detail)
            };
            Reply::from_error(e, RequestInfo::default())
        }
    };
    let ended = Ended {
        closed_after: waiter.finish(),
        sent: sent.load(Ordering::SeqCst),
    };
    finish(fe, &method, reply, &request_id, started, ended)
}

/// How a request ended, beside its answer.
#[derive(Clone, Copy, Debug)]
struct Ended {
    /// Set when the client went away before the answer was ready.
    closed_after: Option<Duration>,
    /// A 3.0 call had been sent: the function may have run.
    sent: bool,
}

/// An in-flight slot for a request whose parameters have arrived; 4400 when
/// `server.max_in_flight` are taken.
fn take_slot(fe: &Frontend) -> Result<OwnedSemaphorePermit, BridgeError> {
    fe.limits
        .in_flight
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            crate::metrics::shed("in_flight");
            BridgeError::new(
                ErrorKind::Overloaded,
                "too many requests in flight; retry shortly",
            )
        })
}

/// Adds to `held` the budget decoding `len` bytes of parameters takes
/// ([`decode_bytes_needed`]: the decoded text and per-parameter state), so
/// that the buffer budget bounds decoding as well as bodies; 4400 when the
/// budget has no room.
fn reserve_decoding(
    fe: &Frontend,
    len: usize,
    held: Option<OwnedSemaphorePermit>,
) -> Result<Option<OwnedSemaphorePermit>, BridgeError> {
    let need = decode_bytes_needed(len, fe.settings.max_params).div_ceil(1024);
    let more = body::reserve_kib(&fe.limits.buffered_kib, need)?;
    Ok(Some(match held {
        Some(mut h) => {
            h.merge(more);
            h
        }
        None => more,
    }))
}

/// Counts a request in the in-flight gauge until dropped — also when the
/// client goes away and hyper drops the request's future.
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        crate::metrics::in_flight(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        crate::metrics::in_flight(-1.0);
    }
}

fn finish(
    fe: &Frontend,
    method: &Method,
    reply: Reply,
    request_id: &str,
    started: Instant,
    ended: Ended,
) -> Response<Full<Bytes>> {
    let elapsed = started.elapsed();
    crate::metrics::request(
        reply.info.action.unwrap_or(""),
        reply.answer.code,
        reply.info.function.as_deref().filter(|_| fe.function_label),
        elapsed,
    );
    if ended.closed_after.is_some() {
        crate::metrics::client_closed(ended.sent);
    }
    log_request(method, &reply, request_id, elapsed, ended);
    record_caller(fe, &reply);
    let mut resp = to_response(reply);
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut()
            .insert(HeaderName::from_static(BRIDGE_REQUEST_ID_HEADER), v);
    }
    resp
}

async fn deadline_reached(shared: &tokio::sync::watch::Receiver<bool>) {
    let mut rx = thread_deadline(shared);
    if rx.wait_for(|d| *d).await.is_err() {
        // No deadline will ever come.
        std::future::pending::<()>().await;
    }
}

thread_local! {
    /// This thread's copies of the deadline signals it has served, each
    /// with the process-wide one it follows.
    static THREAD_DEADLINES: std::cell::RefCell<Vec<(DeadlineRx, DeadlineRx)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

type DeadlineRx = tokio::sync::watch::Receiver<bool>;

/// Most signals a thread keeps copies of (one per bridge it serves; more
/// only in tests that run several).
const THREAD_DEADLINES_MAX: usize = 8;

/// A receiver of a copy of `shared` kept for this thread, fed by a task on
/// this thread's runtime. Every request waits on the deadline; on the
/// shared signal each wait takes a lock every worker thread contends for,
/// on this thread's copy only this thread does. Falls back to `shared`
/// itself outside a runtime.
fn thread_deadline(shared: &DeadlineRx) -> DeadlineRx {
    THREAD_DEADLINES.with(|cell| {
        let mut copies = cell.borrow_mut();
        // A copy whose feeding task is gone (its runtime ended) is dropped.
        copies.retain(|(_, local)| local.has_changed().is_ok());
        if let Some((_, local)) = copies.iter().find(|(s, _)| s.same_channel(shared)) {
            return local.clone();
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return shared.clone();
        };
        let (tx, local) = tokio::sync::watch::channel(*shared.borrow());
        let mut follow = shared.clone();
        runtime.spawn(async move {
            if follow.wait_for(|d| *d).await.is_ok() {
                let _ = tx.send(true);
            }
            // Else the shared sender is gone and no deadline will come:
            // dropping `tx` tells the copies the same.
        });
        if copies.len() >= THREAD_DEADLINES_MAX {
            copies.remove(0);
        }
        copies.push((shared.clone(), local.clone()));
        local
    })
}

/// The caller's `X-Request-Id` when it is a plain token, else a new one.
fn request_id(headers: &http::HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The raw form-encoded parameters: the query of a GET, the body of a POST
/// (after its query, if any), with the buffer budget they hold.
async fn read_params(
    fe: &Frontend,
    req: Request<Incoming>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), BridgeError> {
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > fe.settings.max_uri_bytes {
        return Err(BridgeError::new(
            ErrorKind::InvalidParameter,
            format!(
                "the request URI is {uri_len} bytes, more than {}; send large parameters by POST",
                fe.settings.max_uri_bytes
            ),
        ));
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if header_bytes > fe.settings.max_header_bytes {
        return Err(BridgeError::new(
            ErrorKind::InvalidParameter,
            format!(
                "the request headers are {header_bytes} bytes, more than {}",
                fe.settings.max_header_bytes
            ),
        ));
    }
    if req.headers().len() > fe.settings.max_headers {
        return Err(BridgeError::new(
            ErrorKind::InvalidParameter,
            format!(
                "the request has {} header fields, more than {}",
                req.headers().len(),
                fe.settings.max_headers
            ),
        ));
    }
    if req.uri().path() != LEGACY_PATH {
        return Err(BridgeError::new(
            ErrorKind::NotFound,
            format!("no such path; the legacy API is served at {LEGACY_PATH}"),
        ));
    }
    let query = req.uri().query().unwrap_or("").to_owned();
    match *req.method() {
        Method::GET => Ok((Bytes::from(query), None)),
        Method::POST => {
            let form = req
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|ct| {
                    ct.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
                .unwrap_or(false);
            if !form {
                return Err(BridgeError::new(
                    ErrorKind::UnsupportedMediaType,
                    "a POST must carry Content-Type: application/x-www-form-urlencoded",
                ));
            }
            let limit = fe.settings.max_body_bytes;
            let declared = req
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            // Decided from the head alone: the rest of an oversized body is never read.
            if declared.is_some_and(|n| n > limit as u64) {
                return Err(too_large(limit));
            }
            let rules = body::ReadRules {
                limit,
                declared,
                timeout: Duration::from_millis(fe.settings.body_read_timeout_ms),
                min_rate: fe.settings.min_body_rate_bytes_per_sec,
                grace: Duration::from_millis(fe.settings.body_rate_grace_ms),
            };
            let (raw, body_len, held) =
                body::read(req.into_body(), &rules, &query, &fe.limits.buffered_kib).await?;
            if body_len == 0 && query.is_empty() {
                return Err(BridgeError::new(
                    ErrorKind::MissingParameter,
                    "the request body is empty: no parameters",
                ));
            }
            Ok((raw, Some(held)))
        }
        _ => Err(BridgeError::new(
            ErrorKind::MethodNotAllowed,
            "the legacy API accepts GET and POST only",
        )),
    }
}

pub(crate) fn too_large(limit: usize) -> BridgeError {
    BridgeError::new(
        ErrorKind::RequestTooLarge,
        format!("the request body is larger than {limit} bytes"),
    )
}

/// The legacy answer as an HTTP response.
pub fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(reply.answer.to_json())));
    *resp.status_mut() = reply.status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(id) = reply.request_id.as_deref() {
        if let Ok(v) = HeaderValue::from_str(id) {
            h.insert(HeaderName::from_static(REQUEST_ID_HEADER), v);
        }
    }
    if let Some(e) = &reply.error {
        h.insert(
            HeaderName::from_static(BRIDGE_ERROR_HEADER),
            HeaderValue::from_static(e.kind.name()),
        );
    }
    if reply.status == StatusCode::METHOD_NOT_ALLOWED {
        h.insert(http::header::ALLOW, HeaderValue::from_static("GET, POST"));
    }
    resp
}

/// A panic anywhere in a request still gets a legacy answer.
fn panic_answer(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Full<Bytes>> {
    tracing::error!("request handler panicked; answered with InternalError");
    let e = BridgeError::new(
        ErrorKind::Internal,
        "the bridge failed while handling the request",
    );
    to_response(Reply::from_error(e, RequestInfo::default()))
}

fn record_caller(fe: &Frontend, reply: &Reply) {
    let i = &reply.info;
    let Some(action) = i.action else {
        return;
    };
    crate::metrics::client_request(&i.caller.request_client);
    fe.callers.record(
        &i.caller,
        action,
        i.function.as_deref().unwrap_or(""),
        reply.answer.code,
        (fe.bridge.clock)(),
    );
}

fn log_request(method: &Method, reply: &Reply, request_id: &str, elapsed: Duration, ended: Ended) {
    let i = &reply.info;
    crate::access_log::log(&crate::access_log::Record {
        request_id,
        outcome: if ended.closed_after.is_some() {
            crate::access_log::CLIENT_CLOSED
        } else {
            crate::access_log::ANSWERED
        },
        scf_call_sent: ended.sent,
        client_closed_ms: ended.closed_after.map(|d| d.as_secs_f64() * 1000.0),
        throttle_retries: i.throttle_retries,
        method: method.as_str(),
        action: i.action.unwrap_or(""),
        function: i.function.as_deref().unwrap_or(""),
        namespace: i.namespace.as_deref().unwrap_or(""),
        region: i.region.as_deref().unwrap_or(""),
        code: reply.answer.code,
        code_desc: &reply.answer.code_desc,
        scf_request_id: reply.request_id.as_deref().unwrap_or(""),
        function_request_id: i.function_request_id.as_deref().unwrap_or(""),
        bridge_error: reply.error.as_ref().map(|e| e.kind.name()).unwrap_or(""),
        error_detail: &reply
            .error
            .as_ref()
            .map(|e| e.log_detail())
            .unwrap_or_default(),
        total_ms: elapsed.as_secs_f64() * 1000.0,
        upstream_ms: i
            .upstream_duration
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0),
        level: crate::access_log::level_for(
            reply.answer.code,
            reply.error.as_ref().map(|e| e.kind),
        ),
    });
}

#[cfg(test)]
mod deadline_tests {
    use super::*;

    #[tokio::test]
    async fn a_thread_copy_follows_the_shared_deadline() {
        let (tx, shared) = tokio::sync::watch::channel(false);
        let waiting = tokio::spawn({
            let shared = shared.clone();
            async move { deadline_reached(&shared).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        // A second request on the thread shares the copy.
        let copy = thread_deadline(&shared);
        assert!(!*copy.borrow());
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the deadline reaches the waiting request")
            .unwrap();
        // A request arriving after the deadline sees it at once.
        tokio::time::timeout(Duration::from_secs(5), deadline_reached(&shared))
            .await
            .expect("already past the deadline");
    }

    #[test]
    fn a_copy_from_an_ended_runtime_is_not_reused() {
        let (tx, shared) = tokio::sync::watch::channel(false);
        let first = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        first.block_on(async { drop(thread_deadline(&shared)) });
        drop(first);
        let second = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        second.block_on(async {
            let waiting = tokio::spawn({
                let shared = shared.clone();
                async move { deadline_reached(&shared).await }
            });
            tokio::task::yield_now().await;
            tx.send(true).unwrap();
            tokio::time::timeout(Duration::from_secs(5), waiting)
                .await
                .expect("the second runtime's copy is fed")
                .unwrap();
        });
    }
}
