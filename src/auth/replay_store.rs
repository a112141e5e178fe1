//! The replay check shared by every replica (`auth.replay_store = "redis"`):
//! one Redis key per accepted `(SecretId, Nonce, Timestamp)`, set only if
//! absent (`SET … NX PX`) and expiring once the timestamp has left the
//! window (plus `redis.expiry_margin_secs`), so Redis holds at most the
//! requests of one window and needs no cleanup.
//!
//! The key is a keyed hash: HMAC-SHA256 under the caller's own secret key
//! (which every replica holds and Redis never sees) over the triple, cut to
//! 128 bits. Nothing in Redis names a caller or can be turned back into a
//! request; the value is a single byte.
//!
//! When Redis gives no answer within `redis.timeout_ms`, `redis.on_error`
//! decides: `refuse` answers 4400 (`redis-unavailable`) and nothing reaches
//! SCF; `local` checks this replica's own memory instead (counted, logged
//! once per incident) — replays sent to other replicas meanwhile are not
//! seen, and what was remembered locally is never copied to Redis.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{replay_error, Authenticated, Verifier};
use crate::error::BridgeError;
use crate::redis_conn::{RedisFailure, SharedRedis};

/// Bytes of the HMAC kept in a key: 128 bits, as the in-memory store.
const FINGERPRINT_BYTES: usize = 16;

pub struct SharedReplay {
    pub redis: Arc<SharedRedis>,
    /// The timestamp window's half-width (`auth.max_skew_secs`).
    pub max_skew_secs: u64,
    pub margin_secs: u64,
}

impl SharedReplay {
    /// The replay check of an authenticated request, in Redis, at the
    /// deciding clock reading `now` ([`Verifier::authenticate`]); with
    /// `redis.on_error = "local"`, in `verifier`'s own memory when Redis
    /// fails.
    pub async fn check(
        &self,
        verifier: &Verifier,
        checked: &Authenticated,
        now: u64,
    ) -> Result<(), BridgeError> {
        match self.check_and_insert(checked, now).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(replay_error(checked)),
            Err(failure) => {
                self.redis
                    .on_failure("shared replay store", "replay", &failure)?;
                verifier.remember_locally(checked, now)
            }
        }
    }

    /// `Ok(true)` when the request is new (and now remembered), `Ok(false)`
    /// when Redis already holds it.
    pub async fn check_and_insert(
        &self,
        a: &Authenticated,
        now: u64,
    ) -> Result<bool, RedisFailure> {
        let key = self.key(a);
        let ttl_ms = self.ttl_secs(a.timestamp, now) * 1000;
        let set: Option<String> = self
            .redis
            .query(
                "replay",
                redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms),
            )
            .await?;
        Ok(set.is_some())
    }

    /// Seconds until `timestamp` leaves the window, plus the margin; at
    /// least one.
    fn ttl_secs(&self, timestamp: u64, now: u64) -> u64 {
        (timestamp + self.max_skew_secs + self.margin_secs)
            .saturating_sub(now)
            .max(1)
    }

    /// `<prefix>r:<32 hex digits>`.
    pub fn key(&self, a: &Authenticated) -> String {
        let fp = fingerprint(a);
        format!("{}r:{}", self.redis.key_prefix(), hex::encode(fp))
    }
}

/// HMAC-SHA256 under the caller's key over the triple, each part ended so
/// the input is unambiguous; the first 128 bits.
fn fingerprint(a: &Authenticated) -> [u8; FINGERPRINT_BYTES] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(a.key.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(b"scf-bridge replay v1\0");
    mac.update(a.secret_id.as_bytes());
    mac.update(b"\0");
    mac.update(&a.nonce.to_be_bytes());
    mac.update(&a.timestamp.to_be_bytes());
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; FINGERPRINT_BYTES];
    out.copy_from_slice(&full[..FINGERPRINT_BYTES]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Signer;
    use crate::config::Secret;

    fn authenticated(id: &str, key: &str, nonce: u64, timestamp: u64) -> Authenticated {
        Authenticated {
            secret_id: id.into(),
            nonce,
            timestamp,
            key: Secret::new(key),
            signer: Signer::Bridge,
        }
    }

    #[test]
    fn fingerprints_depend_on_every_part_and_on_the_key() {
        let base = fingerprint(&authenticated("AKID1", "k", 7, 1000));
        assert_eq!(base, fingerprint(&authenticated("AKID1", "k", 7, 1000)));
        for other in [
            authenticated("AKID2", "k", 7, 1000),
            authenticated("AKID1", "k", 8, 1000),
            authenticated("AKID1", "k", 7, 1001),
            authenticated("AKID1", "k2", 7, 1000),
            // The id's end is marked: "AKID1" + nonce is not "AKID" + …
            authenticated("AKID", "k", 7, 1000),
        ] {
            assert_ne!(base, fingerprint(&other));
        }
    }

    #[tokio::test]
    async fn the_key_shows_no_part_of_the_request_or_its_key() {
        let redis = SharedRedis::new(&crate::config::RedisSettings {
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
            rate_limits: false,
            rate_limit_share: 0.9,
            rate_limit_wait_ms: 0,
            action_limits: Default::default(),
        })
        .unwrap();
        let store = SharedReplay {
            redis,
            max_skew_secs: 300,
            margin_secs: 5,
        };
        let a = authenticated("AKIDcaller", "theSecretKey", 123456789, 1_700_000_000);
        let key = store.key(&a);
        assert!(key.starts_with("p:r:"), "{key}");
        assert_eq!(key.len(), "p:r:".len() + 32);
        for part in ["AKIDcaller", "theSecretKey", "123456789", "1700000000"] {
            assert!(!key.contains(part), "{key} contains {part}");
        }
        // Expiry: the rest of the window plus the margin, at least a second.
        assert_eq!(store.ttl_secs(1000, 1000), 305);
        assert_eq!(store.ttl_secs(1000, 1300), 5);
        assert_eq!(store.ttl_secs(1000, 1400), 1);
        assert_eq!(store.ttl_secs(1300, 1000), 605);
    }
}
