//! The operator's listener, never the data port: `GET /live`, `GET /ready`,
//! `GET /metrics` (Prometheus text) and `GET`/`PUT /log-level` (the tracing
//! filter, changed at run time) and `GET /callers` (who still calls the
//! legacy API: JSON, or a table with `Accept: text/plain`; `?since=`).

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Whether the bridge should receive traffic: set once configuration and
/// credentials are loaded, cleared for good when shutdown begins.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn set_not_ready(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Reads and replaces the log filter.
pub trait LogControl: Send + Sync {
    fn current(&self) -> String;
    fn set(&self, filter: &str) -> Result<(), String>;
}

pub struct Admin {
    pub readiness: Readiness,
    pub log: Option<Arc<dyn LogControl>>,
    /// The migration table served at `/callers`.
    pub callers: Option<Arc<crate::callers::Callers>>,
    /// Seconds since the Unix epoch (the bridge's clock).
    pub clock: crate::walk::Clock,
}

/// Serve until the task is dropped.
pub async fn serve(listener: TcpListener, admin: Arc<Admin>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let admin = admin.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let admin = admin.clone();
                async move { Ok::<_, Infallible>(route(&admin, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn route(admin: &Admin, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/live") => text(StatusCode::OK, "live\n"),
        (&Method::GET, "/ready") => {
            if admin.readiness.is_ready() {
                text(StatusCode::OK, "ready\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
            }
        }
        (&Method::GET, "/metrics") => {
            if let Some(c) = &admin.callers {
                let hour_ago = (admin.clock)().saturating_sub(3600);
                crate::metrics::callers(c.distinct_callers_since(hour_ago));
            }
            let mut r = text(StatusCode::OK, "");
            let mut body = crate::metrics::handle().render();
            body.push_str(&crate::metrics::render_process());
            *r.body_mut() = Full::new(Bytes::from(body));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        }
        (&Method::GET, "/log-level") => match &admin.log {
            Some(log) => text(StatusCode::OK, &format!("{}\n", log.current())),
            None => text(StatusCode::NOT_FOUND, "log control unavailable\n"),
        },
        (&Method::PUT, "/log-level") => {
            let Some(log) = &admin.log else {
                return text(StatusCode::NOT_FOUND, "log control unavailable\n");
            };
            let body = match Limited::new(req.into_body(), 4096).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return text(StatusCode::BAD_REQUEST, "body too large\n"),
            };
            let filter = String::from_utf8_lossy(&body).trim().to_owned();
            match log.set(&filter) {
                Ok(()) => {
                    tracing::info!(filter = %filter, "log filter changed");
                    text(StatusCode::OK, &format!("{filter}\n"))
                }
                Err(e) => text(StatusCode::BAD_REQUEST, &format!("{e}\n")),
            }
        }
        (&Method::GET, "/callers") => callers(admin, &req),
        (_, "/live" | "/ready" | "/metrics" | "/log-level" | "/callers") => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// `GET /callers[?since=…]`: JSON, or a table when the client asks for
/// `text/plain` (and not JSON).
fn callers(admin: &Admin, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(table) = &admin.callers else {
        return text(StatusCode::NOT_FOUND, "caller table unavailable\n");
    };
    let now = (admin.clock)();
    let mut since = None;
    for pair in req.uri().query().unwrap_or("").split('&') {
        if let Some(v) = pair.strip_prefix("since=") {
            match crate::callers::parse_since(v, now) {
                Ok(s) => since = Some(s),
                Err(e) => return text(StatusCode::BAD_REQUEST, &format!("{e}\n")),
            }
        }
    }
    let snapshot = table.snapshot(since, now);
    let accept = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("text/plain") && !accept.contains("application/json") {
        return text(StatusCode::OK, &snapshot.to_text());
    }
    let body = serde_json::to_vec_pretty(&snapshot).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
