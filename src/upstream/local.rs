//! Per-thread upstream connections, for calls made from a single-threaded
//! runtime (each worker of the thread-per-core model): hyper's HTTP/1
//! connection handles (`client::conn::http1`) kept idle in a list of the
//! thread's own, with no lock and no task between the request and its
//! connection. A connection's task runs on the thread that opened it, so a
//! request is written, and its answer read, on the thread that handles it.
//!
//! The rules are the shared pool's: an idle connection is reused most
//! recently used first, at most `upstream.pool_max_idle_per_host` per thread
//! and endpoint are kept, and one idle for longer than
//! `upstream.pool_idle_timeout_secs` is closed when next looked at (or when
//! the endpoint closes it). A request that a pooled connection refused
//! before taking it (closed meanwhile) is re-sent once on a fresh
//! connection; hyper hands the request back only when none of it was
//! written, so nothing that may have reached SCF is sent again.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Request, Uri};
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use tower::ServiceExt;

use super::{
    connect_failure, error_chain, host_str, public_cause, Target, Upstream, UpstreamResponse,
};
use crate::error::{BridgeError, ErrorKind};

type Sender = SendRequest<Full<Bytes>>;

/// An idle connection of one upstream to one endpoint.
struct Idle {
    upstream: Weak<()>,
    /// The endpoint's `Host` value: within one upstream (one scheme) it
    /// names the endpoint, and compares as plain bytes.
    endpoint: HeaderValue,
    sender: Sender,
    since: Instant,
}

thread_local! {
    /// This thread's idle connections, most recently used last.
    static IDLE: RefCell<Vec<Idle>> = const { RefCell::new(Vec::new()) };
}

/// Whether calls from here use the per-thread connections: on a
/// single-threaded runtime. (On a multi-threaded one the shared pool is
/// used, whose connections any worker may drive.)
pub(super) fn on_local_runtime() -> bool {
    use tokio::runtime::{Handle, RuntimeFlavor};
    Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::CurrentThread)
}

/// One exchange on this thread's connections. `handed` turns true once a
/// connection holds the request (for the timeout's wording).
pub(super) async fn exchange(
    up: &Upstream,
    target: &Target,
    mut req: Request<Full<Bytes>>,
    handed: &AtomicBool,
) -> Result<UpstreamResponse, BridgeError> {
    // Origin form on a direct connection.
    *req.uri_mut() = Uri::from_static("/");
    let (mut sender, pooled) = match checkout(up, target).await {
        Some(s) => (s, true),
        None => (connect(up, target).await?, false),
    };
    handed.store(true, Ordering::Relaxed);
    let resp = match sender.try_send_request(req).await {
        Ok(resp) => resp,
        Err(mut e) => match e.take_message() {
            // The pooled connection closed before it took the request.
            Some(req) if pooled => {
                sender = connect(up, target).await?;
                match sender.try_send_request(req).await {
                    Ok(resp) => resp,
                    Err(e) => return Err(send_failure(e, target)),
                }
            }
            Some(_) => return Err(not_taken(target, e.into_error())),
            None => return Err(lost(target, &e.into_error())),
        },
    };
    let answer = up.read_answer(&target.host, resp).await?;
    checkin(up, target, sender);
    Ok(answer)
}

fn send_failure(
    mut e: hyper::client::conn::TrySendError<Request<Full<Bytes>>>,
    target: &Target,
) -> BridgeError {
    match e.take_message() {
        Some(_) => not_taken(target, e.into_error()),
        None => lost(target, &e.into_error()),
    }
}

/// The connection refused the request before writing any of it.
fn not_taken(target: &Target, e: hyper::Error) -> BridgeError {
    BridgeError::new(
        ErrorKind::UpstreamUnreachable,
        "the connection to the SCF endpoint closed before the request was sent",
    )
    .with_internal(format!(
        "endpoint {}: {}",
        host_str(&target.host),
        error_chain(&e)
    ))
}

fn lost(target: &Target, e: &hyper::Error) -> BridgeError {
    BridgeError::after_send(
        ErrorKind::UpstreamConnectionLost,
        format!(
            "connection to the SCF endpoint failed ({})",
            public_cause(e)
        ),
    )
    .with_internal(format!(
        "endpoint {}: {}",
        host_str(&target.host),
        error_chain(e)
    ))
}

fn same(i: &Idle, up: &Upstream, target: &Target) -> bool {
    std::ptr::eq(i.upstream.as_ptr(), Arc::as_ptr(&up.identity)) && i.endpoint == target.host
}

/// The most recently used idle connection that can take a request.
async fn checkout(up: &Upstream, target: &Target) -> Option<Sender> {
    loop {
        let idle = IDLE.with(|cell| {
            let mut list = cell.borrow_mut();
            let at = list.iter().rposition(|i| same(i, up, target))?;
            Some(list.remove(at))
        })?;
        if idle.sender.is_closed() || idle.since.elapsed() >= up.pool_idle_timeout {
            continue; // dropped: closes it
        }
        let mut sender = idle.sender;
        if sender.ready().await.is_ok() {
            return Some(sender);
        }
    }
}

/// Keep a connection whose exchange completed, within the bounds.
fn checkin(up: &Upstream, target: &Target, sender: Sender) {
    if sender.is_closed() {
        return;
    }
    IDLE.with(|cell| {
        let mut list = cell.borrow_mut();
        let timeout = up.pool_idle_timeout;
        list.retain(|i| {
            i.upstream.strong_count() > 0 && !i.sender.is_closed() && i.since.elapsed() < timeout
        });
        if list.iter().filter(|i| same(i, up, target)).count() < up.pool_max_idle {
            list.push(Idle {
                upstream: Arc::downgrade(&up.identity),
                endpoint: target.host.clone(),
                sender,
                since: Instant::now(),
            });
        }
    });
}

/// A new connection (counted by the connector), its task on this thread.
async fn connect(up: &Upstream, target: &Target) -> Result<Sender, BridgeError> {
    let io = up
        .connector
        .clone()
        .oneshot(target.uri.clone())
        .await
        .map_err(|e| connect_failure(&*e, &target.host, up.connect_timeout))?;
    let (sender, conn) = http1::Builder::new()
        .handshake(io)
        .await
        .map_err(|e| connect_failure(&e, &target.host, up.connect_timeout))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}
