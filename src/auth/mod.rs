//! Who may call and with which key the 3.0 call is signed: verifies the
//! legacy v1 signature (HmacSHA1/HmacSHA256) against the known clients,
//! checks the timestamp window and the replay memory, and names the
//! identity that signs upstream.

pub mod clients;
pub mod replay;
pub mod replay_store;

use std::sync::Arc;

use crate::credentials::{KeyPair, Swappable};
use crate::error::{BridgeError, ErrorKind};
use crate::legacy::decode::Params;
use crate::legacy::request::CommonParams;
use crate::legacy::signature::{self, LEGACY_PATH};

pub use clients::{Client, ClientSet, UpstreamIdentity};
pub use replay::{ReplayMemory, Seen};
pub use replay_store::SharedReplay;

pub use crate::types::AuthMode;

/// The key pair that signs the 3.0 call for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// The bridge's own `[credentials]`.
    Bridge,
    /// The caller's own key pair (and its legacy `Token`, if any).
    Caller(KeyPair),
}

/// Checks legacy signatures. Pure apart from the replay memory it updates;
/// the time is passed in.
pub struct Verifier {
    pub clients: Arc<Swappable<ClientSet>>,
    pub signing_hosts: Vec<String>,
    pub max_skew_secs: u64,
    pub replay: ReplayMemory,
    /// Timestamps before this are refused: the process's start less
    /// `auth.restart_grace_secs`, since the replay memory of the previous
    /// run is gone (memory mode). `None`: no such floor.
    pub not_before: Option<u64>,
}

/// A request whose signature and timestamp are good, before the replay check.
pub struct Authenticated {
    pub secret_id: String,
    pub nonce: u64,
    pub timestamp: u64,
    /// The caller's key: it keys the fingerprint a shared replay store keeps.
    pub key: crate::config::Secret,
    pub signer: Signer,
}

impl Verifier {
    /// Verify one request at the fixed time `now` (tests, fuzzing); see
    /// [`Verifier::verify_with_clock`].
    pub fn verify(
        &self,
        http_method: &str,
        host: Option<&str>,
        params: &Params,
        common: &CommonParams,
        now: u64,
    ) -> Result<Signer, BridgeError> {
        self.verify_with_clock(http_method, host, params, common, &|| now)
    }

    /// Verify one request. `host` is the request's `Host` header, tried
    /// first, then each configured signing host. `clock` is read once
    /// before the signature is computed (to refuse a stale request
    /// cheaply) and once more at the replay check: that second reading
    /// decides both the time window and the replay memory, so a request
    /// that spent long in decoding or hashing cannot pass the window with
    /// an old reading after its entry was forgotten.
    pub fn verify_with_clock(
        &self,
        http_method: &str,
        host: Option<&str>,
        params: &Params,
        common: &CommonParams,
        clock: &dyn Fn() -> u64,
    ) -> Result<Signer, BridgeError> {
        let (checked, now) = self.authenticate(http_method, host, params, common, clock)?;
        self.remember_locally(&checked, now)?;
        Ok(checked.signer)
    }

    /// Everything [`Verifier::verify_with_clock`] checks except the replay
    /// memory; also the deciding clock reading the replay check must use.
    pub fn authenticate(
        &self,
        http_method: &str,
        host: Option<&str>,
        params: &Params,
        common: &CommonParams,
        clock: &dyn Fn() -> u64,
    ) -> Result<(Authenticated, u64), BridgeError> {
        let missing = |name: &str| {
            BridgeError::new(
                ErrorKind::SignatureFailure,
                format!("missing required parameter `{name}` for signature verification"),
            )
        };
        let secret_id = common
            .secret_id
            .as_deref()
            .ok_or_else(|| missing("SecretId"))?;
        let sig = common
            .signature
            .as_deref()
            .ok_or_else(|| missing("Signature"))?;
        let timestamp = common.timestamp.ok_or_else(|| missing("Timestamp"))?;
        let nonce = common.nonce.ok_or_else(|| missing("Nonce"))?;

        self.check_time(timestamp, clock())?;
        let clients = self.clients.load();
        let client = clients.get(secret_id).ok_or_else(|| {
            BridgeError::new(
                ErrorKind::SecretIdNotFound,
                format!(
                    "SecretId `{}` is not known to the bridge",
                    shorten(secret_id)
                ),
            )
        })?;
        let method = common.signature_method;
        let key = client.secret_key.expose();
        // The string to sign is fed into the HMAC piece by piece, never
        // built: with a large `param` it would be another body-sized copy.
        let to_sign = signature::ToSign::new(http_method, params);
        let verified = host
            .into_iter()
            .chain(self.signing_hosts.iter().map(String::as_str))
            .any(|h| signature::verify_streamed(key, method, &to_sign, h, LEGACY_PATH, sig));
        if !verified {
            // Neither the Host nor the configured signing hosts are named:
            // an unauthenticated caller learns nothing of the configuration.
            return Err(BridgeError::new(
                ErrorKind::SignatureFailure,
                format!(
                    "the {} signature does not match for SecretId `{}`",
                    method.as_str(),
                    shorten(secret_id),
                ),
            ));
        }
        // The reading that decides: the window and the memory agree on it.
        let now = clock();
        self.check_time(timestamp, now)?;
        let signer = match client.upstream {
            UpstreamIdentity::Bridge => Signer::Bridge,
            UpstreamIdentity::Caller => Signer::Caller(KeyPair {
                secret_id: secret_id.to_owned(),
                secret_key: client.secret_key.clone(),
                token: common.token.clone().map(crate::config::Secret::new),
            }),
        };
        let checked = Authenticated {
            secret_id: secret_id.to_owned(),
            nonce,
            timestamp,
            key: client.secret_key.clone(),
            signer,
        };
        Ok((checked, now))
    }

    /// The replay check against this replica's own memory, at the deciding
    /// reading `now`.
    pub fn remember_locally(&self, a: &Authenticated, now: u64) -> Result<(), BridgeError> {
        match self
            .replay
            .check_and_insert(&a.secret_id, a.nonce, a.timestamp, now)
        {
            Seen::New => Ok(()),
            Seen::Replay => Err(replay_error(a)),
            Seen::Full => {
                crate::metrics::shed("replay_memory_full");
                tracing::error!(
                    capacity = self.replay.capacity(),
                    "replay memory full; refusing requests until entries expire"
                );
                Err(BridgeError::new(
                    ErrorKind::ReplayMemoryFull,
                    "the bridge's replay memory is full; retry shortly",
                ))
            }
        }
    }
}

/// The answer to a request already accepted inside the window.
pub fn replay_error(a: &Authenticated) -> BridgeError {
    BridgeError::new(
        ErrorKind::ReplayAttack,
        format!(
            "Nonce {} with Timestamp {} was already used",
            a.nonce, a.timestamp
        ),
    )
}

impl Verifier {
    /// The time window, and the floor a restart sets.
    fn check_time(&self, timestamp: u64, now: u64) -> Result<(), BridgeError> {
        if timestamp.abs_diff(now) > self.max_skew_secs {
            return Err(BridgeError::new(
                ErrorKind::SignatureExpire,
                format!(
                    "Timestamp {timestamp} is more than {} s away from the bridge's clock ({now})",
                    self.max_skew_secs
                ),
            ));
        }
        if let Some(floor) = self.not_before.filter(|f| timestamp < *f) {
            return Err(BridgeError::new(
                ErrorKind::SignatureExpire,
                format!(
                    "Timestamp {timestamp} is before the bridge started ({floor}, \
                     auth.restart_grace_secs): a request signed before a restart is not \
                     accepted, as the replay memory of the previous run is gone"
                ),
            ));
        }
        Ok(())
    }
}

/// A SecretId is not a secret, but cap what an unknown caller can make us log.
fn shorten(s: &str) -> String {
    if s.chars().count() > 64 {
        format!("{}…", s.chars().take(64).collect::<String>())
    } else {
        s.to_owned()
    }
}
