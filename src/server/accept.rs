//! Admission of connections, for any accept loop: a cap on open
//! connections (`server.max_connections`), taken before `accept` so that
//! at the cap the bridge stops accepting (the kernel's backlog holds the
//! rest) instead of taking descriptors it cannot serve; and a back-off for
//! failed accepts that logs one line per episode (out of descriptors, say)
//! rather than one per attempt.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Open connections allowed at once; cloned into every accept loop.
#[derive(Clone)]
pub struct ConnectionLimit {
    permits: Arc<Semaphore>,
    max: usize,
}

/// One open connection; dropping it frees its place.
pub struct ConnectionPermit(#[allow(dead_code)] OwnedSemaphorePermit);

impl ConnectionLimit {
    pub fn new(max: usize) -> Self {
        ConnectionLimit {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A place for one more connection, if there is one now.
    pub fn try_acquire(&self) -> Option<ConnectionPermit> {
        self.permits
            .clone()
            .try_acquire_owned()
            .ok()
            .map(ConnectionPermit)
    }

    /// Waits for a place; says so once when the cap is reached.
    pub async fn acquire(&self) -> ConnectionPermit {
        if let Some(p) = self.try_acquire() {
            return p;
        }
        crate::metrics::shed("max_connections");
        tracing::warn!(
            max_connections = self.max,
            "connection cap reached; not accepting until a connection closes"
        );
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        ConnectionPermit(permit)
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max - self.permits.available_permits()
    }
}

/// Back-off after failed accepts: 10 ms doubling to 640 ms, and one log line
/// when failures start (and one when they end), however many there are.
#[derive(Default)]
pub struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);

    /// A failed accept: how long to wait before the next one.
    pub fn failed(&mut self, error: &std::io::Error) -> Duration {
        if self.failures == 0 {
            let descriptors = matches!(error.raw_os_error(), Some(23 | 24)); // ENFILE, EMFILE
            tracing::error!(
                error = %error,
                out_of_descriptors = descriptors,
                "accept failed; backing off until accepting works again (logged once per episode)"
            );
            crate::metrics::shed("accept_failed");
        }
        self.failures = self.failures.saturating_add(1);
        Self::FIRST.saturating_mul(1u32 << self.failures.min(7).saturating_sub(1))
    }

    /// A successful accept ends an episode.
    pub fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(
                failed_attempts = self.failures,
                "accepting connections again"
            );
            self.failures = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_to_a_second_and_resets() {
        let mut b = AcceptBackoff::default();
        let e = std::io::Error::from_raw_os_error(24);
        let waits: Vec<u128> = (0..10).map(|_| b.failed(&e).as_millis()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 640, 640, 640]);
        b.succeeded();
        assert_eq!(b.failed(&e).as_millis(), 10);
    }

    #[test]
    fn permits_are_returned_when_dropped() {
        let l = ConnectionLimit::new(2);
        let a = l.try_acquire().unwrap();
        let _b = l.try_acquire().unwrap();
        assert!(l.try_acquire().is_none());
        assert_eq!(l.open(), 2);
        drop(a);
        assert!(l.try_acquire().is_some());
    }
}
