//! The thread-per-core serving model: `server.workers` OS threads, each
//! running its own single-threaded tokio runtime with its own listening
//! sockets (`SO_REUSEPORT`, [`super::listener`]) and — because
//! [`crate::upstream::Upstream`] keeps one connection pool per
//! single-threaded runtime's thread — its own upstream connections. A
//! request is accepted, handled, forwarded and answered on one thread, with
//! no task hand-over between threads.
//!
//! What must stay exact across threads is shared, not per worker: the
//! [`Frontend`] (limits, the in-flight count, the deadline signal, the
//! verifier's replay memory, credentials and client keys) and each TLS
//! listener's configuration cell, so a reload or a certificate change
//! reaches every worker at once. Every worker runs the same accept loop
//! ([`super::serve`]) and drains on the same stop signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::{listener, Frontend};
use crate::tls::TlsConfigCell;

/// The sockets of every worker, bound before any worker starts so that a
/// taken port stops the bridge at start-up.
pub struct WorkerSockets {
    plain: Vec<std::net::TcpListener>,
    tls: Vec<std::net::TcpListener>,
}

impl WorkerSockets {
    /// One `SO_REUSEPORT` socket per worker on each listener address given.
    pub fn bind(
        workers: usize,
        plain: Option<SocketAddr>,
        tls: Option<SocketAddr>,
    ) -> Result<Self, (SocketAddr, std::io::Error)> {
        let group = |addr: Option<SocketAddr>| match addr {
            None => Ok(Vec::new()),
            Some(a) => listener::bind_group(a, workers).map_err(|e| (a, e)),
        };
        Ok(WorkerSockets {
            plain: group(plain)?,
            tls: group(tls)?,
        })
    }

    /// The bound plain address (the port picked when 0 was asked for).
    pub fn plain_addr(&self) -> Option<SocketAddr> {
        self.plain.first().and_then(|l| l.local_addr().ok())
    }

    /// The bound TLS address.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.first().and_then(|l| l.local_addr().ok())
    }
}

/// Start one thread per worker, each serving its sockets until `stop` turns
/// true, then draining for up to `drain`. Returns one handle per worker, on
/// the caller's runtime, that completes when that worker has drained and
/// stopped (its runtime dropped, with whatever it still held).
pub fn spawn(
    workers: usize,
    sockets: WorkerSockets,
    tls: Option<TlsConfigCell>,
    frontend: Arc<Frontend>,
    stop: watch::Receiver<bool>,
    drain: Duration,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let mut plain = sockets.plain.into_iter();
    let mut secure = sockets.tls.into_iter();
    let mut done = Vec::with_capacity(workers);
    for worker in 0..workers {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Registered with the worker's own reactor, so accepts wake that thread.
        let (plain, secure) = {
            let _in = rt.enter();
            let adopt = |l: std::net::TcpListener| tokio::net::TcpListener::from_std(l);
            (
                plain.next().map(adopt).transpose()?,
                secure.next().map(adopt).transpose()?,
            )
        };
        let fe = frontend.clone();
        let cell = tls.clone();
        let stop = stop.clone();
        let (tx, rx) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("scf-bridge-w{worker}"))
            .spawn(move || {
                crate::metrics::set_worker(worker);
                rt.block_on(async move {
                    let mut loops = Vec::new();
                    if let Some(l) = plain {
                        let s = stopped(stop.clone());
                        loops.push(tokio::spawn(super::serve(l, None, fe.clone(), s, drain)));
                    }
                    if let (Some(l), Some(cell)) = (secure, cell) {
                        let s = stopped(stop.clone());
                        loops.push(tokio::spawn(super::serve(l, Some(cell), fe, s, drain)));
                    }
                    for l in loops {
                        let _ = l.await;
                    }
                });
                drop(rt);
                let _ = tx.send(());
            })?;
        done.push(tokio::spawn(async move {
            let _ = rx.await;
        }));
    }
    Ok(done)
}

/// Completes once `stop` is true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
