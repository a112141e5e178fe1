//! The throttle budget the replicas share (`redis.rate_limits = true`): one
//! token bucket in Redis per (upstream SecretId, 3.0 action, region), so
//! that all replicas together stay below SCF's per-second limits instead of
//! each spending them blind and being answered `RequestLimitExceeded`.
//!
//! The bucket is a GCRA ("generic cell rate algorithm") in a Lua script,
//! atomic in Redis and timed by Redis's own clock (`TIME`), so the
//! replicas' clocks do not matter. Its rate is the documented 3.0 limit
//! (docs/protocol.md, "Rate limits"; `redis.action_limits` overrides)
//! times `redis.rate_limit_share`; it holds a fiftieth of a second of
//! tokens (at least one) as burst, so that delivery jitter on the way to SCF
//! cannot bunch more than the share's headroom into one of SCF's seconds. A call that would have to wait longer than
//! `redis.rate_limit_wait_ms` for its token takes none and is answered 4400
//! (`throttle-budget`) at once; a shorter wait is reserved and slept.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::RedisSettings;
use crate::error::{BridgeError, ErrorKind};
use crate::redis_conn::SharedRedis;

/// The documented default limits per second of the 3.0 actions.
pub const DOCUMENTED_LIMITS: &[(&str, u32)] = &[
    ("Invoke", 100),
    ("InvokeFunction", 10_000),
    ("ListFunctions", 100),
    ("GetFunction", 100),
    ("CreateFunction", 100),
    ("UpdateFunctionCode", 100),
    ("UpdateFunctionConfiguration", 100),
    ("DeleteFunction", 100),
    ("GetFunctionLogs", 5),
    ("CreateTrigger", 100),
    ("UpdateTrigger", 20),
    ("DeleteTrigger", 100),
    ("ListTriggers", 20),
    ("GetAccount", 20),
    ("GetRequestStatus", 20),
];

/// Limit for actions missing from the table: the smallest documented one
/// that is not an outlier, so an unknown action is never paced too fast.
const UNKNOWN_ACTION_LIMIT: u32 = 20;

/// GCRA. KEYS[1]: the bucket (its theoretical arrival time, µs).
/// ARGV: microseconds per token, burst in tokens, longest wait (µs).
/// Returns the µs to wait before sending (≥ 0, token taken) or, when that
/// would exceed the longest wait, minus the wait (no token taken).
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - tonumber(ARGV[2]) * interval - now
if wait < 0 then wait = 0 end
if wait > tonumber(ARGV[3]) then return -wait end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return wait
"#;

pub struct ThrottleBudget {
    redis: Arc<SharedRedis>,
    script: redis::Script,
    limits: BTreeMap<String, u32>,
    share: f64,
    max_wait: Duration,
}

/// Per-second rate and burst of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub per_sec: f64,
    pub burst: u32,
}

impl ThrottleBudget {
    pub fn new(redis: Arc<SharedRedis>, settings: &RedisSettings) -> ThrottleBudget {
        let mut limits: BTreeMap<String, u32> = DOCUMENTED_LIMITS
            .iter()
            .map(|(a, n)| (a.to_ascii_lowercase(), *n))
            .collect();
        for (action, n) in &settings.action_limits {
            limits.insert(action.to_ascii_lowercase(), *n);
        }
        ThrottleBudget {
            redis,
            script: redis::Script::new(GCRA),
            limits,
            share: settings.rate_limit_share,
            max_wait: Duration::from_millis(settings.rate_limit_wait_ms),
        }
    }

    /// The pace of `action`'s buckets.
    pub fn pace(&self, action: &str) -> Pace {
        let limit = self
            .limits
            .get(&action.to_ascii_lowercase())
            .copied()
            .unwrap_or(UNKNOWN_ACTION_LIMIT);
        let per_sec = (f64::from(limit) * self.share).max(0.1);
        Pace {
            per_sec,
            burst: ((per_sec / 50.0) as u32).max(1),
        }
    }

    /// Take a token for one 3.0 call, waiting for it up to
    /// `redis.rate_limit_wait_ms`; call just before the call is sent.
    pub async fn acquire(
        &self,
        secret_id: &str,
        action: &str,
        region: &str,
    ) -> Result<(), BridgeError> {
        let pace = self.pace(action);
        let key = format!(
            "{}rl:{secret_id}:{action}:{region}",
            self.redis.key_prefix()
        );
        let interval_us = (1_000_000.0 / pace.per_sec).round() as u64;
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(&key)
            .arg(interval_us)
            .arg(pace.burst)
            .arg(self.max_wait.as_micros() as u64);
        match self.redis.script::<i64>("throttle", &invocation).await {
            Ok(0) => Ok(()),
            Ok(wait_us) if wait_us > 0 => {
                let started = Instant::now();
                tokio::time::sleep(Duration::from_micros(wait_us as u64)).await;
                crate::metrics::throttle_waited(started.elapsed());
                Ok(())
            }
            Ok(refused_us) => {
                crate::metrics::throttle_refused();
                Err(BridgeError::new(
                    ErrorKind::ThrottleBudget,
                    format!(
                        "the shared throttle budget for {action} in {region} ({:.0}/s across all \
                         replicas) has no token for {} ms; retry later",
                        pace.per_sec,
                        refused_us.unsigned_abs() / 1000
                    ),
                ))
            }
            Err(failure) => self
                .redis
                .on_failure("shared throttle budget", "throttle", &failure),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RedisSettings {
        RedisSettings {
            url: "redis://127.0.0.1:1".into(),
            username: None,
            password_file: None,
            ca_file: None,
            key_prefix: "p:".into(),
            timeout_ms: 50,
            connect_timeout_ms: 100,
            pool_size: 1,
            on_error: crate::config::RedisOnError::Refuse,
            expiry_margin_secs: 5,
            rate_limits: true,
            rate_limit_share: 0.9,
            rate_limit_wait_ms: 200,
            action_limits: [("GetFunctionLogs".to_string(), 50)].into_iter().collect(),
        }
    }

    #[tokio::test]
    async fn pace_is_the_documented_limit_times_the_share_with_a_fiftieth_of_a_second_burst() {
        let s = settings();
        let budget = ThrottleBudget::new(SharedRedis::new(&s).unwrap(), &s);
        assert_eq!(
            budget.pace("Invoke"),
            Pace {
                per_sec: 90.0,
                burst: 1
            }
        );
        // Overridden, case-insensitively.
        assert_eq!(budget.pace("getfunctionlogs").per_sec, 45.0);
        assert_eq!(budget.pace("InvokeFunction").burst, 180);
        assert_eq!(budget.pace("UpdateTrigger").burst, 1);
        assert_eq!(budget.pace("SomethingNew").per_sec, 18.0);
    }

    #[tokio::test]
    async fn an_unreachable_redis_refuses_the_call_within_the_timeout() {
        let s = settings();
        let budget = ThrottleBudget::new(SharedRedis::new(&s).unwrap(), &s);
        let started = Instant::now();
        let err = budget
            .acquire("AKID", "Invoke", "ap-guangzhou")
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::RedisUnavailable);
        assert_eq!(err.kind.legacy_code(), 4400);
        assert!(!err.may_have_reached_scf);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
