//! The replay memory: every `(SecretId, Nonce, Timestamp)` accepted inside
//! the skew window, remembered exactly until its timestamp leaves the window.
//! Bounded: when full it refuses new requests rather than forget old ones,
//! because forgetting would let a replay through.
//!
//! Compact: an entry is a 128-bit keyed hash of `(SecretId, Nonce)` (its
//! *fingerprint*), filed under its `Timestamp`'s second in a small
//! open-addressing table per second and shard, kept 70–87.5% full: ≈ 21–23 B
//! of RSS per entry (`tests::rss_per_entry`, 1,000,000 entries), against
//! 103–118 B for the `(String, u64)` in a `HashSet` this replaced and
//! 28–36 B for a `HashSet<u128>` (whose power-of-two tables are 44–87.5%
//! full).
//!
//! A fingerprint is two SipHash-1-3 values (`std::hash::RandomState`, a key
//! drawn at random for each memory) over `(SecretId, Nonce)` with a
//! different leading byte: two 64-bit keyed hashes, independent as far as
//! SipHash is a pseudorandom function. Two
//! different pairs with the same `Timestamp` are confused — the later one
//! refused as a replay — only if their 128-bit fingerprints collide: for
//! inputs chosen without the key, probability 2^-128 per pair, so at most
//! n² / 2^129 for the n entries of one second: ≈ 1.5 × 10^-31 at
//! 10,000 requests in a second, ≈ 5 × 10^-24 for a year of 10,000 requests
//! per second, ≈ 5 × 10^-26 for the default capacity (6,000,000) all in one
//! second. A replay is never let through: the same pair always has the same
//! fingerprint.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Shards keep lock contention low under concurrent requests.
const SHARDS: usize = 16;
const _: () = assert!(SHARDS.is_power_of_two(), "the shard is picked by bits");

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
    /// `timestamp → {fingerprint}` per shard.
    shards: Vec<Mutex<Shard>>,
    entries: AtomicUsize,
    capacity: usize,
    window_secs: u64,
    /// The fingerprints' random key, this memory's own.
    keys: RandomState,
    /// Most entries one SecretId may hold ([`ReplayMemory::with_client_share`]).
    per_id_limit: usize,
    /// Entries held per SecretId and second, sharded by SecretId. Only
    /// verified SecretIds get here, so it holds at most one entry per
    /// configured client.
    per_id: Vec<Mutex<hashbrown::HashMap<String, IdCount, std::hash::RandomState>>>,
}

/// Seconds an entry is kept past the window: a request whose clock reading
/// was taken an instant before another's still finds every entry inside its
/// window (the reading and the check are microseconds apart; the margin
/// covers far more).
pub const EXPIRY_MARGIN_SECS: u64 = 2;

/// One SecretId's entries: per second, and their total.
#[derive(Default)]
struct IdCount {
    total: usize,
    by_second: std::collections::BTreeMap<u64, usize>,
}

#[derive(Default)]
struct Shard {
    by_second: HashMap<u64, Second>,
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
            keys: RandomState::new(),
            per_id_limit: capacity,
            per_id: (0..SHARDS)
                .map(|_| Mutex::new(hashbrown::HashMap::default()))
                .collect(),
        }
    }

    /// Caps what one SecretId may hold at `percent`% of the capacity (at
    /// least one entry), so one client filling the memory cannot refuse
    /// the others (`auth.replay_client_share_percent`).
    pub fn with_client_share(mut self, percent: u8) -> Self {
        let percent = usize::from(percent.clamp(1, 100));
        self.per_id_limit = (self.capacity.saturating_mul(percent) / 100).max(1);
        self
    }

    /// Most entries one SecretId may hold.
    pub fn per_client_limit(&self) -> usize {
        self.per_id_limit
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
    ///
    /// A SecretId holding its share ([`ReplayMemory::with_client_share`])
    /// gets [`Seen::Full`] for a new entry (and still [`Seen::Replay`] for
    /// a replay); the others are unaffected.
    pub fn check_and_insert(&self, secret_id: &str, nonce: u64, timestamp: u64, now: u64) -> Seen {
        let fp = self.fingerprint(secret_id, nonce);
        // The high half picks the shard; the tables index by the low half.
        let shard_ix = ((fp >> 64) as u64 >> (64 - SHARDS.trailing_zeros())) as usize;
        if self.per_id_limit >= self.capacity {
            return self.insert_expiring(shard_ix, fp, timestamp, now);
        }
        let id_ix = (self.keys.hash_one((2u8, secret_id)) as usize) & (SHARDS - 1);
        // The SecretId's count is reserved under its lock and the entry
        // inserted after it is released: with one SecretId for all the
        // traffic (the common case) this lock is every worker's, so it is
        // held only for the count. A reservation that did not become an
        // entry is given back.
        {
            let mut ids = lock(&self.per_id[id_ix]);
            // The SecretId is copied only when it is new.
            let count = ids.entry_ref(secret_id).or_default();
            let horizon = self.horizon(now);
            while let Some(entry) = count.by_second.first_entry() {
                if *entry.key() >= horizon {
                    break;
                }
                count.total -= entry.remove();
            }
            if count.total >= self.per_id_limit {
                drop(ids);
                let held = lock(&self.shards[shard_ix])
                    .by_second
                    .get(&timestamp)
                    .is_some_and(|s| s.find(fp).is_ok());
                return if held { Seen::Replay } else { Seen::Full };
            }
            count.total += 1;
            *count.by_second.entry(timestamp).or_default() += 1;
        }
        let seen = self.insert_expiring(shard_ix, fp, timestamp, now);
        if seen != Seen::New {
            let mut ids = lock(&self.per_id[id_ix]);
            if let Some(count) = ids.get_mut(secret_id) {
                // Unless the second has expired meanwhile (and taken the
                // reservation with it).
                if let Some(n) = count.by_second.get_mut(&timestamp) {
                    *n -= 1;
                    count.total -= 1;
                    if *n == 0 {
                        count.by_second.remove(&timestamp);
                    }
                }
            }
        }
        seen
    }

    fn insert_expiring(&self, shard_ix: usize, fp: u128, timestamp: u64, now: u64) -> Seen {
        match self.try_insert(shard_ix, fp, timestamp, now) {
            Seen::Full => {
                // Other shards may hold expired seconds nobody touched yet.
                self.expire_all(now);
                self.try_insert(shard_ix, fp, timestamp, now)
            }
            seen => seen,
        }
    }

    /// The oldest second still kept at `now`: the window plus
    /// [`EXPIRY_MARGIN_SECS`].
    fn horizon(&self, now: u64) -> u64 {
        now.saturating_sub(self.window_secs + EXPIRY_MARGIN_SECS)
    }

    /// The 128-bit keyed hash of `(secret_id, nonce)`; never 0 (the tables'
    /// empty mark), which costs another 2^-128 of collision probability.
    fn fingerprint(&self, secret_id: &str, nonce: u64) -> u128 {
        // `str` hashes as its bytes and a terminator: the input is unambiguous.
        let high = self.keys.hash_one((0u8, secret_id, nonce));
        let low = self.keys.hash_one((1u8, secret_id, nonce));
        ((u128::from(high) << 64) | u128::from(low)).max(1)
    }

    fn try_insert(&self, ix: usize, fp: u128, timestamp: u64, now: u64) -> Seen {
        let mut shard = lock(&self.shards[ix]);
        self.expire(&mut shard, now);
        let slot = match shard
            .by_second
            .get(&timestamp)
            .map_or(Err(0), |s| s.find(fp))
        {
            Ok(()) => return Seen::Replay,
            Err(slot) => slot,
        };
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
        shard
            .by_second
            .entry(timestamp)
            .or_default()
            .insert(slot, fp);
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
        let horizon = self.horizon(now);
        if shard.by_second.is_empty() || shard.oldest >= horizon {
            return;
        }
        let mut removed = 0;
        shard.by_second.retain(|&ts, second| {
            if ts < horizon {
                removed += second.len;
                false
            } else {
                true
            }
        });
        shard.oldest = shard.by_second.keys().copied().min().unwrap_or(horizon);
        self.entries.fetch_sub(removed, Ordering::AcqRel);
    }

    /// Heap bytes held by the tables (their capacities, not the allocator's
    /// overhead), for the size tests.
    #[cfg(test)]
    fn table_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = lock(s);
                s.by_second.capacity() * (std::mem::size_of::<(u64, Second)>() + 1)
                    + s.by_second
                        .values()
                        .map(|t| std::mem::size_of_val(&*t.slots))
                        .sum::<usize>()
            })
            .sum()
    }
}

/// One second's fingerprints: open addressing with linear probing, 0 marking
/// an empty slot. Grows by a quarter when it would pass 7/8 full, so it is
/// always 70–87.5% full (after its first few entries) and has an empty slot.
#[derive(Default)]
struct Second {
    slots: Box<[u128]>,
    len: usize,
}

/// The smallest table.
const MIN_SLOTS: usize = 8;

impl Second {
    /// The first slot to try: the low 64 bits scaled to the table's size.
    fn home(&self, fp: u128) -> usize {
        ((u128::from(fp as u64) * self.slots.len() as u128) >> 64) as usize
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() {
            0
        } else {
            i + 1
        }
    }

    /// `Ok` if `fp` is held, else `Err` with the empty slot it would take
    /// (0 for a table with no slots yet).
    fn find(&self, fp: u128) -> Result<(), usize> {
        if self.slots.is_empty() {
            return Err(0);
        }
        let mut i = self.home(fp);
        loop {
            match self.slots[i] {
                0 => return Err(i),
                held if held == fp => return Ok(()),
                _ => i = self.next(i),
            }
        }
    }

    /// Store `fp`, which `find` just reported missing at `slot`; if the
    /// table must grow first, `fp` goes where the bigger table puts it.
    fn insert(&mut self, slot: usize, fp: u128) {
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            let size = self.slots.len();
            let old = std::mem::replace(
                &mut self.slots,
                vec![0; (size + size / 4).max(MIN_SLOTS)].into_boxed_slice(),
            );
            for held in old.iter().copied().filter(|&f| f != 0) {
                self.place(held);
            }
            self.place(fp);
        } else {
            self.slots[slot] = fp;
        }
        self.len += 1;
    }

    /// Put a missing `fp` in the first empty slot from its home.
    fn place(&mut self, fp: u128) {
        let mut i = self.home(fp);
        while self.slots[i] != 0 {
            i = self.next(i);
        }
        self.slots[i] = fp;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
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
        // Still inside the window at now = 1300, and its margin after: all
        // remembered.
        m.expire_all(1300);
        assert_eq!(m.len(), 10);
        assert_eq!(m.check_and_insert("AKID", 1, 1000, 1300), Seen::Replay);
        m.expire_all(1300 + EXPIRY_MARGIN_SECS);
        assert_eq!(m.len(), 10);
        assert_eq!(
            m.check_and_insert("AKID", 1, 1000, 1300 + EXPIRY_MARGIN_SECS),
            Seen::Replay
        );
        // Past the margin they are gone (the verifier rejects the timestamp
        // as expired from 1301 on anyway).
        m.expire_all(1301 + EXPIRY_MARGIN_SECS);
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
    fn one_client_filling_its_share_does_not_refuse_the_others() {
        let m = ReplayMemory::new(10, 300).with_client_share(50);
        assert_eq!(m.per_client_limit(), 5);
        for n in 0..5 {
            assert_eq!(m.check_and_insert("AKIDgreedy", n, 10, 10), Seen::New);
        }
        assert_eq!(m.check_and_insert("AKIDgreedy", 99, 10, 10), Seen::Full);
        // Its own replays are still replays, not "full".
        assert_eq!(m.check_and_insert("AKIDgreedy", 3, 10, 10), Seen::Replay);
        for n in 0..5 {
            assert_eq!(m.check_and_insert("AKIDother", n, 10, 10), Seen::New);
        }
        assert_eq!(m.len(), 10);
        // The share comes back as the window moves on.
        let later = 10 + 300 + EXPIRY_MARGIN_SECS + 1;
        assert_eq!(
            m.check_and_insert("AKIDgreedy", 99, later, later),
            Seen::New
        );
    }

    #[test]
    fn replays_below_the_share_take_none_of_it() {
        let m = ReplayMemory::new(10, 300).with_client_share(50);
        for n in 0..4 {
            assert_eq!(m.check_and_insert("AKIDa", n, 10, 10), Seen::New);
        }
        // Replays of entries it holds, many times: its count stays at 4.
        for _ in 0..20 {
            assert_eq!(m.check_and_insert("AKIDa", 2, 10, 10), Seen::Replay);
        }
        assert_eq!(m.check_and_insert("AKIDa", 50, 10, 10), Seen::New);
        assert_eq!(m.check_and_insert("AKIDa", 51, 10, 10), Seen::Full);
        assert_eq!(m.len(), 5);
    }

    #[test]
    fn two_threads_of_one_client_never_pass_its_share() {
        let m = std::sync::Arc::new(ReplayMemory::new(1_000, 300).with_client_share(50));
        let threads: Vec<_> = (0..2u64)
            .map(|t| {
                let m = m.clone();
                std::thread::spawn(move || {
                    (0..1_000u64)
                        .filter(|n| {
                            m.check_and_insert("AKIDone", t * 10_000 + n, 10, 10) == Seen::New
                        })
                        .count()
                })
            })
            .collect();
        let accepted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(accepted, 500);
        assert_eq!(m.len(), 500);
    }

    #[test]
    fn capacity_covers_ten_thousand_per_second_over_the_window() {
        assert_eq!(ReplayMemory::capacity_for(10_000, 300), 6_000_000);
    }

    #[test]
    fn different_ids_and_nonces_are_never_confused() {
        // 1,000 SecretIds that are prefixes of one another ("AKID1",
        // "AKID12", …) times 250 nonces, all in the same second: a quarter
        // of a million distinct pairs, each new once and a replay after.
        let m = ReplayMemory::new(250_000, 300);
        let ids: Vec<String> = (0..1000).map(|i| format!("AKID{i}")).collect();
        for id in &ids {
            for nonce in 0..250 {
                assert_eq!(
                    m.check_and_insert(id, nonce, 77, 77),
                    Seen::New,
                    "{id} {nonce}"
                );
            }
        }
        assert_eq!(m.len(), 250_000);
        for id in &ids {
            for nonce in 0..250 {
                assert_eq!(m.check_and_insert(id, nonce, 77, 77), Seen::Replay);
            }
        }
        assert_eq!(m.check_and_insert("AKID1", 250, 77, 77), Seen::Full);
    }

    #[test]
    fn each_memory_has_its_own_hash_key() {
        let a = ReplayMemory::new(10, 300);
        let b = ReplayMemory::new(10, 300);
        for (id, nonce) in [("AKID", 0), ("AKID", 1), ("AKIDother", u64::MAX)] {
            assert_eq!(a.fingerprint(id, nonce), a.fingerprint(id, nonce));
            assert_ne!(a.fingerprint(id, nonce), b.fingerprint(id, nonce));
        }
        // And the same request is remembered by each on its own.
        assert_eq!(a.check_and_insert("AKID", 5, 9, 9), Seen::New);
        assert_eq!(b.check_and_insert("AKID", 5, 9, 9), Seen::New);
        assert_eq!(a.check_and_insert("AKID", 5, 9, 9), Seen::Replay);
    }

    #[test]
    fn a_second_table_keeps_every_fingerprint_as_it_grows() {
        let mut t = Second::default();
        // The worst case for linear probing: every fingerprint's home is the
        // last slot, so each probe runs through one cluster that wraps
        // around the end of the table.
        let fps: Vec<u128> = (1..=2000u128)
            .map(|i| (i << 64) | u128::from(u64::MAX - i as u64))
            .collect();
        for (n, &fp) in fps.iter().enumerate() {
            assert_eq!(t.home(fp), t.slots.len().saturating_sub(1));
            match t.find(fp) {
                Ok(()) => panic!("{fp} reported before it was inserted"),
                Err(slot) => t.insert(slot, fp),
            }
            assert_eq!(t.len, n + 1);
            assert!(t.len * 8 <= t.slots.len() * 7, "at most 7/8 full");
        }
        assert!(fps.iter().all(|&fp| t.find(fp).is_ok()));
        assert!(t.find(u128::MAX).is_err());
        assert!(
            t.len * 10 >= t.slots.len() * 7,
            "at least 70% full after growing"
        );
    }

    #[test]
    fn an_entry_costs_about_twenty_bytes_of_table() {
        // 1,000 requests/s for 300 s, spread over the shards as in service:
        // the tables' capacities over the entries (the allocator's own
        // overhead is not counted; `rss_per_entry` measures that).
        let m = ReplayMemory::new(300_000, 300);
        let mut nonce = 0u64;
        for second in 0..300u64 {
            for _ in 0..1000 {
                nonce += 1;
                let ts = 10_000 + second;
                assert_eq!(
                    m.check_and_insert("AKID0123456789", nonce, ts, ts),
                    Seen::New
                );
            }
        }
        let per_entry = m.table_bytes() as f64 / m.len() as f64;
        assert!(
            (16.0..=24.0).contains(&per_entry),
            "{per_entry:.1} B per entry"
        );
    }

    /// Resident set size of this process, from /proc/self/status.
    fn vm_rss_bytes() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .expect("VmRSS line");
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .expect("VmRSS value");
        kib * 1024
    }

    /// RSS growth per entry for 1,000,000 entries at `REPLAY_RATE` requests
    /// per second (default 1,000), allocator overhead included. Alone in its
    /// process for a clean figure: `REPLAY_RATE=1000 cargo test --lib --
    /// --ignored --exact auth::replay::tests::rss_per_entry --nocapture`
    #[test]
    #[ignore = "measures RSS: run alone (see the doc comment)"]
    fn rss_per_entry() {
        const ENTRIES: u64 = 1_000_000;
        let rate: u64 = std::env::var("REPLAY_RATE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000);
        let seconds = ENTRIES.div_ceil(rate);
        // Nothing expires during the run: the window covers every second.
        let m = ReplayMemory::new(ENTRIES as usize, seconds + 1);
        // Eight callers with SecretIds of the real length (36 characters).
        let ids: Vec<String> = (0..8).map(|i| format!("AKID{i:032}")).collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let before = vm_rss_bytes();
        for i in 0..ENTRIES {
            // xorshift64*: random nonces, as the legacy SDKs draw them.
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let nonce = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
            let ts = 1_000_000 + i / rate;
            let id = &ids[(i % 8) as usize];
            assert_eq!(m.check_and_insert(id, nonce, ts, ts), Seen::New);
        }
        let after = vm_rss_bytes();
        assert_eq!(m.len(), ENTRIES as usize);
        println!(
            "rate {rate}/s over {seconds} s: {} entries, RSS {:.1} -> {:.1} MiB, \
             {:.1} B per entry ({:.1} B of table)",
            m.len(),
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            (after - before) as f64 / ENTRIES as f64,
            m.table_bytes() as f64 / ENTRIES as f64,
        );
    }
}
