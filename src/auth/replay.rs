//! The replay memory: every `(SecretId, Nonce, Timestamp)` accepted inside
//! the skew window, remembered exactly until its timestamp leaves the window.
//! Bounded: when full it refuses new requests rather than forget old ones,
//! because forgetting would let a replay through.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Shards keep lock contention low under concurrent requests.
const SHARDS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First time: remembered now.
    New,
    /// Already accepted inside the window: a replay.
    Replay,
    /// The memory holds `capacity` entries; nothing was remembered.
    Full,
}

pub struct ReplayMemory {
    /// `timestamp → {(secret id, nonce)}` per shard.
    shards: Vec<Mutex<Shard>>,
    entries: AtomicUsize,
    capacity: usize,
    window_secs: u64,
}

#[derive(Default)]
struct Shard {
    by_second: HashMap<u64, HashSet<(String, u64)>>,
    /// Oldest second still held, for cheap expiry.
    oldest: u64,
}

impl ReplayMemory {
    /// `window_secs` is the allowed clock skew: a timestamp older than
    /// `now - window_secs` is rejected before it gets here, so it can be
    /// forgotten then.
    pub fn new(capacity: usize, window_secs: u64) -> Self {
        ReplayMemory {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            entries: AtomicUsize::new(0),
            capacity,
            window_secs,
        }
    }

    /// Capacity for `rate` requests per second sustained over the whole
    /// window, which spans `2 * skew` seconds (timestamps may be early or late).
    pub fn capacity_for(rate_per_sec: usize, skew_secs: u64) -> usize {
        rate_per_sec.saturating_mul((2 * skew_secs) as usize)
    }

    pub fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Check and remember in one step. `timestamp` must already be inside
    /// `[now - window, now + window]`.
    pub fn check_and_insert(&self, secret_id: &str, nonce: u64, timestamp: u64, now: u64) -> Seen {
        let shard_ix = shard_of(secret_id, nonce, timestamp);
        match self.try_insert(shard_ix, secret_id, nonce, timestamp, now) {
            Seen::Full => {
                // Other shards may hold expired seconds nobody touched yet.
                self.expire_all(now);
                self.try_insert(shard_ix, secret_id, nonce, timestamp, now)
            }
            seen => seen,
        }
    }

    fn try_insert(&self, ix: usize, secret_id: &str, nonce: u64, timestamp: u64, now: u64) -> Seen {
        let mut shard = lock(&self.shards[ix]);
        self.expire(&mut shard, now);
        let key = (secret_id.to_owned(), nonce);
        if shard
            .by_second
            .get(&timestamp)
            .is_some_and(|s| s.contains(&key))
        {
            return Seen::Replay;
        }
        // Reserve a slot first so concurrent shards never overshoot.
        let reserved = self
            .entries
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            });
        if reserved.is_err() {
            return Seen::Full;
        }
        if shard.by_second.is_empty() || timestamp < shard.oldest {
            shard.oldest = timestamp;
        }
        shard.by_second.entry(timestamp).or_default().insert(key);
        Seen::New
    }

    /// Expire every shard, one lock at a time.
    pub fn expire_all(&self, now: u64) {
        for shard in &self.shards {
            self.expire(&mut lock(shard), now);
        }
    }

    /// Forget every second that has left the window.
    fn expire(&self, shard: &mut Shard, now: u64) {
        let horizon = now.saturating_sub(self.window_secs);
        if shard.by_second.is_empty() || shard.oldest >= horizon {
            return;
        }
        let mut removed = 0;
        shard.by_second.retain(|&ts, set| {
            if ts < horizon {
                removed += set.len();
                false
            } else {
                true
            }
        });
        shard.oldest = shard.by_second.keys().copied().min().unwrap_or(horizon);
        self.entries.fetch_sub(removed, Ordering::AcqRel);
    }
}

fn lock(m: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn shard_of(secret_id: &str, nonce: u64, timestamp: u64) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (secret_id, nonce, timestamp).hash(&mut h);
    (h.finish() as usize) % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_triple_inside_the_window_is_a_replay() {
        let m = ReplayMemory::new(100, 300);
        assert_eq!(m.check_and_insert("AKID1", 7, 1000, 1000), Seen::New);
        assert_eq!(m.check_and_insert("AKID1", 7, 1000, 1100), Seen::Replay);
        // Any one part different is a new request.
        assert_eq!(m.check_and_insert("AKID2", 7, 1000, 1000), Seen::New);
        assert_eq!(m.check_and_insert("AKID1", 8, 1000, 1000), Seen::New);
        assert_eq!(m.check_and_insert("AKID1", 7, 1001, 1000), Seen::New);
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn nonce_zero_is_an_ordinary_nonce() {
        let m = ReplayMemory::new(10, 300);
        assert_eq!(m.check_and_insert("AKID", 0, 50, 50), Seen::New);
        assert_eq!(m.check_and_insert("AKID", 0, 50, 50), Seen::Replay);
    }

    #[test]
    fn entries_are_forgotten_only_once_their_timestamp_left_the_window() {
        let m = ReplayMemory::new(100, 300);
        for n in 0..10 {
            assert_eq!(m.check_and_insert("AKID", n, 1000, 1000), Seen::New);
        }
        // Still inside the window at now = 1300: all remembered.
        m.expire_all(1300);
        assert_eq!(m.len(), 10);
        assert_eq!(m.check_and_insert("AKID", 1, 1000, 1300), Seen::Replay);
        // One second later they have left it (the verifier would now reject
        // the timestamp as expired anyway).
        m.expire_all(1301);
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn full_memory_refuses_instead_of_forgetting() {
        let m = ReplayMemory::new(3, 300);
        for n in 0..3 {
            assert_eq!(m.check_and_insert("AKID", n, 10, 10), Seen::New);
        }
        assert_eq!(m.check_and_insert("AKID", 99, 10, 10), Seen::Full);
        // The remembered ones are still replays.
        assert_eq!(m.check_and_insert("AKID", 0, 10, 10), Seen::Replay);
        // Room comes back when the window moves on.
        assert_eq!(m.check_and_insert("AKID", 99, 400, 400), Seen::New);
    }

    #[test]
    fn capacity_covers_ten_thousand_per_second_over_the_window() {
        assert_eq!(ReplayMemory::capacity_for(10_000, 300), 6_000_000);
    }
}
