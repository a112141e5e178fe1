//! The legacy-facing HTTP listener: accepts connections, routes
//! `/v2/index.php`, reads GET queries and form bodies within limits, hands
//! them to the pipeline, and writes exactly one answer per request — a panic
//! included. Stops accepting on shutdown and lets connections drain.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::ServerSettings;
use crate::error::{BridgeError, ErrorKind};
use crate::pipeline::{Bridge, Reply, RequestInfo};
use crate::tls::TlsConfigCell;

/// The one legacy path.
pub const LEGACY_PATH: &str = "/v2/index.php";
/// Header naming the kind of an answer the bridge made itself.
pub const BRIDGE_ERROR_HEADER: &str = "x-scf-bridge-error";
/// Header carrying SCF's `RequestId`.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What each request handler reads.
pub struct Frontend {
    pub bridge: Bridge,
    pub settings: ServerSettings,
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
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(
            frontend.settings.header_read_timeout_ms,
        ))
        .keep_alive(true);
    let http = Arc::new(http);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let fe = frontend.clone();
                let http = http.clone();
                let watcher = graceful.watcher();
                match &tls {
                    None => serve_connection(&http, watcher, stream, fe),
                    Some(cell) => {
                        let acceptor = tokio_rustls::TlsAcceptor::from(cell.load().as_ref().clone());
                        let handshake_timeout = Duration::from_millis(fe.settings.header_read_timeout_ms);
                        tokio::spawn(async move {
                            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                                Ok(Ok(tls_stream)) => serve_connection(&http, watcher, tls_stream, fe),
                                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!("TLS handshake timed out"),
                            }
                        });
                    }
                }
            }
            _ = &mut shutdown => break,
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

/// Serve HTTP/1.1 on one connection, watched for graceful shutdown.
fn serve_connection<I>(
    http: &hyper::server::conn::http1::Builder,
    watcher: Watcher,
    io: I,
    fe: Arc<Frontend>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = ServiceBuilder::new()
        .layer(CatchPanicLayer::custom(panic_answer))
        .service_fn(move |req| {
            let fe = fe.clone();
            async move { Ok::<_, Infallible>(handle(&fe, req).await) }
        });
    let svc = hyper_util::service::TowerToHyperService::new(svc);
    let conn = watcher.watch(http.serve_connection(TokioIo::new(io), svc));
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    });
}

/// Route, read, run the pipeline, answer.
pub async fn handle(fe: &Frontend, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().clone();
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let reply = match read_params(fe, req).await {
        Ok(raw) => {
            fe.bridge
                .handle(method.as_str(), host.as_deref(), &raw)
                .await
        }
        Err(e) => Reply::from_error(e, RequestInfo::default()),
    };
    log_request(&method, &reply, started.elapsed());
    to_response(reply)
}

/// The raw form-encoded parameters: the query of a GET, the body of a POST
/// (after its query, if any).
async fn read_params(fe: &Frontend, req: Request<Incoming>) -> Result<Bytes, BridgeError> {
    if req.uri().path() != LEGACY_PATH {
        return Err(BridgeError::new(
            ErrorKind::NotFound,
            format!("no such path; the legacy API is served at {LEGACY_PATH}"),
        ));
    }
    let query = req.uri().query().unwrap_or("").to_owned();
    match *req.method() {
        Method::GET => Ok(Bytes::from(query)),
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
            if declared.is_some_and(|n| n > limit as u64) {
                return Err(too_large(limit));
            }
            let read = Limited::new(req.into_body(), limit).collect();
            let body = match tokio::time::timeout(
                Duration::from_millis(fe.settings.body_read_timeout_ms),
                read,
            )
            .await
            {
                Err(_) => {
                    return Err(BridgeError::new(
                        ErrorKind::InvalidParameter,
                        "the request body did not arrive in time",
                    ))
                }
                Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                    return Err(too_large(limit))
                }
                Ok(Err(e)) => {
                    return Err(BridgeError::new(
                        ErrorKind::InvalidParameter,
                        format!("the request body could not be read: {e}"),
                    ))
                }
                Ok(Ok(b)) => b.to_bytes(),
            };
            if query.is_empty() {
                Ok(body)
            } else {
                let mut all = Vec::with_capacity(query.len() + 1 + body.len());
                all.extend_from_slice(query.as_bytes());
                all.push(b'&');
                all.extend_from_slice(&body);
                Ok(Bytes::from(all))
            }
        }
        _ => Err(BridgeError::new(
            ErrorKind::MethodNotAllowed,
            "the legacy API accepts GET and POST only",
        )),
    }
}

fn too_large(limit: usize) -> BridgeError {
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

fn log_request(method: &Method, reply: &Reply, elapsed: Duration) {
    let i = &reply.info;
    tracing::info!(
        target: "scf_bridge::access",
        method = %method,
        action = i.action.as_deref().unwrap_or(""),
        function = i.function.as_deref().unwrap_or(""),
        namespace = i.namespace.as_deref().unwrap_or(""),
        region = i.region.as_deref().unwrap_or(""),
        code = reply.answer.code,
        code_desc = %reply.answer.code_desc,
        scf_request_id = reply.request_id.as_deref().unwrap_or(""),
        function_request_id = i.function_request_id.as_deref().unwrap_or(""),
        bridge_error = reply.error.as_ref().map(|e| e.kind.name()).unwrap_or(""),
        error_detail = reply.error.as_ref().map(|e| e.detail.as_str()).unwrap_or(""),
        total_ms = elapsed.as_secs_f64() * 1000.0,
        upstream_ms = i.upstream_duration.map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0),
        "request"
    );
}
