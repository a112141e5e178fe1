//! Per-action frequency limits, as SCF 3.0 applies them before running
//! anything: a token bucket per action holding one second of requests,
//! refilled continuously. A refused request is `RequestLimitExceeded`.
//!
//! Time is `tokio::time::Instant`, so tests can drive it with a paused clock.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::time::Instant;

use super::schema::{Action, ALL};

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The limits of every action and their buckets.
#[derive(Debug)]
pub struct RateLimits {
    per_second: HashMap<Action, u32>,
    buckets: Mutex<HashMap<Action, Bucket>>,
}

impl RateLimits {
    /// The documented defaults, with `overrides` (action name → requests per
    /// second; 0 = unlimited) applied. An unknown action name is the error.
    pub fn new(overrides: &HashMap<String, u32>) -> Result<RateLimits, String> {
        let limits = RateLimits::lenient(overrides);
        match overrides.keys().find(|k| Action::parse(k).is_none()) {
            Some(bad) => Err(bad.clone()),
            None => Ok(limits),
        }
    }

    /// Like [`RateLimits::new`], ignoring unknown action names.
    pub fn lenient(overrides: &HashMap<String, u32>) -> RateLimits {
        let mut per_second: HashMap<Action, u32> =
            ALL.iter().map(|a| (*a, a.default_rate_limit())).collect();
        for (name, limit) in overrides {
            if let Some(action) = Action::parse(name) {
                per_second.insert(action, *limit);
            }
        }
        RateLimits {
            per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The limit in force for `action` (0 = unlimited).
    pub fn limit(&self, action: Action) -> u32 {
        self.per_second.get(&action).copied().unwrap_or(0)
    }

    /// Takes one request of `action` at `now`; false when over the limit.
    pub fn admit(&self, action: Action, now: Instant) -> bool {
        let limit = self.limit(action);
        if limit == 0 {
            return true;
        }
        let capacity = f64::from(limit);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(action).or_insert(Bucket {
            tokens: capacity,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * capacity).min(capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(pairs: &[(&str, u32)]) -> RateLimits {
        let map = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        RateLimits::new(&map).expect("known actions")
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let l = limits(&[]);
        assert_eq!(l.limit(Action::Invoke), 100);
        assert_eq!(l.limit(Action::InvokeFunction), 10_000);
        assert_eq!(l.limit(Action::ListTriggers), 20);
        assert_eq!(l.limit(Action::GetFunctionLogs), 5);
    }

    #[test]
    fn unknown_action_names_are_refused() {
        let map = HashMap::from([("Nope".to_owned(), 1)]);
        assert_eq!(RateLimits::new(&map).err().as_deref(), Some("Nope"));
    }

    #[test]
    fn a_burst_beyond_the_limit_is_refused_and_refills_over_time() {
        let l = limits(&[("Invoke", 5)]);
        let t0 = Instant::now();
        let admitted = (0..8).filter(|_| l.admit(Action::Invoke, t0)).count();
        assert_eq!(admitted, 5);
        // Other actions have their own buckets.
        assert!(l.admit(Action::InvokeFunction, t0));
        // The clock is passed in: no real time passes in this test.
        let t1 = t0 + Duration::from_millis(200);
        assert!(l.admit(Action::Invoke, t1), "one token back after 1/5 s");
        assert!(!l.admit(Action::Invoke, t1));
        let t2 = t1 + Duration::from_secs(10);
        let admitted = (0..8).filter(|_| l.admit(Action::Invoke, t2)).count();
        assert_eq!(admitted, 5, "never more than one second of burst");
    }

    #[test]
    fn zero_is_unlimited() {
        let l = limits(&[("Invoke", 0)]);
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| l.admit(Action::Invoke, t0)));
    }
}
