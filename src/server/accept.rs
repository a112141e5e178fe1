//! Admission of connections, for any accept loop: a cap on open
//! connections (`server.max_connections`), taken before `accept` so that
//! at the cap the bridge stops accepting (the kernel's backlog holds the
//! rest) instead of taking descriptors it cannot serve; and a back-off for
//! failed accepts that logs one line per episode (out of descriptors, say)
//! rather than one per attempt.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Open connections allowed at once; cloned into every accept loop.
#[derive(Clone)]
pub struct ConnectionLimit {
    permits: Arc<Semaphore>,
    max: usize,
    /// Set while at the cap, so that reaching it is logged once, not once
    /// per connection, until the open connections fall well below it.
    capped: Arc<AtomicBool>,
}

/// One open connection; dropping it frees its place.
pub struct ConnectionPermit(#[allow(dead_code)] OwnedSemaphorePermit);

impl ConnectionLimit {
    pub fn new(max: usize) -> Self {
        ConnectionLimit {
            permits: Arc::new(Semaphore::new(max)),
            max,
            capped: Arc::new(AtomicBool::new(false)),
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
            if self.permits.available_permits() > self.max / 10
                && self.capped.swap(false, Ordering::Relaxed)
            {
                tracing::info!(open = self.open(), "below the connection cap again");
            }
            return p;
        }
        crate::metrics::shed("max_connections");
        if !self.capped.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                max_connections = self.max,
                "connection cap reached; not accepting until a connection closes"
            );
        }
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

/// Back-off after failed accepts: 10 ms doubling to 640 ms. An *episode*
/// starts with a failure and ends once accepts have gone on succeeding for
/// [`AcceptBackoff::QUIET`] after the last failure; it is logged once when
/// it starts and once when it ends, however often the limit flaps in
/// between (a descriptor freed and taken again, say).
#[derive(Default)]
pub struct AcceptBackoff {
    failures: u32,
    /// The last failure of the current episode.
    last_failure: Option<Instant>,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    /// Failure-free time that ends an episode.
    pub const QUIET: Duration = Duration::from_secs(1);

    /// A failed accept: how long to wait before the next one.
    pub fn failed(&mut self, error: &std::io::Error) -> Duration {
        self.failed_at(Instant::now(), error)
    }

    fn failed_at(&mut self, now: Instant, error: &std::io::Error) -> Duration {
        if self.last_failure.is_none() {
            let descriptors = matches!(error.raw_os_error(), Some(23 | 24)); // ENFILE, EMFILE
            tracing::error!(
                error = %error,
                out_of_descriptors = descriptors,
                "accept failed; backing off until accepting works again (logged once per episode)"
            );
            crate::metrics::shed("accept_failed");
        }
        self.last_failure = Some(now);
        self.failures = self.failures.saturating_add(1);
        Self::FIRST.saturating_mul(1u32 << self.failures.min(7).saturating_sub(1))
    }

    /// A successful accept: the back-off starts over, and the episode ends
    /// if the last failure is [`AcceptBackoff::QUIET`] old.
    pub fn succeeded(&mut self) {
        self.succeeded_at(Instant::now())
    }

    fn succeeded_at(&mut self, now: Instant) {
        let Some(last) = self.last_failure else {
            return;
        };
        self.failures = 0;
        if now.duration_since(last) >= Self::QUIET {
            tracing::info!("accepting connections again");
            self.last_failure = None;
        }
    }

    /// Whether an episode is going on (for tests).
    pub fn in_episode(&self) -> bool {
        self.last_failure.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_and_an_episode_ends_after_a_quiet_second() {
        let mut b = AcceptBackoff::default();
        let e = std::io::Error::from_raw_os_error(24);
        let t0 = Instant::now();
        let waits: Vec<u128> = (0..10).map(|_| b.failed_at(t0, &e).as_millis()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 640, 640, 640]);
        // A success soon after: the back-off restarts, the episode goes on.
        b.succeeded_at(t0 + Duration::from_millis(100));
        assert!(b.in_episode());
        assert_eq!(
            b.failed_at(t0 + Duration::from_millis(200), &e).as_millis(),
            10
        );
        // A success a quiet second after the last failure ends it.
        b.succeeded_at(t0 + Duration::from_millis(1300));
        assert!(!b.in_episode());
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
