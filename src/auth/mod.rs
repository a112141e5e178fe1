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

/// Whether legacy signatures are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Verify,
    None,
}

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
    /// Verify one request. `host` is the request's `Host` header, tried
    /// first, then each configured signing host.
    pub fn verify(
        &self,
        http_method: &str,
        host: Option<&str>,
        params: &Params,
        common: &CommonParams,
        now: u64,
    ) -> Result<Signer, BridgeError> {
        let checked = self.authenticate(http_method, host, params, common, now)?;
        self.remember_locally(&checked, now)?;
        Ok(checked.signer)
    }

    /// Everything [`Verifier::verify`] checks except the replay memory.
    pub fn authenticate(
        &self,
        http_method: &str,
        host: Option<&str>,
        params: &Params,
        common: &CommonParams,
        now: u64,
    ) -> Result<Authenticated, BridgeError> {
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

        if timestamp.abs_diff(now) > self.max_skew_secs {
            return Err(BridgeError::new(
                ErrorKind::SignatureExpire,
                format!(
                    "Timestamp {timestamp} is more than {} s away from the bridge's clock ({now})",
                    self.max_skew_secs
                ),
            ));
        }
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
            return Err(BridgeError::new(
                ErrorKind::SignatureFailure,
                format!(
                    "the {} signature does not match for SecretId `{}` (hosts tried: {})",
                    method.as_str(),
                    shorten(secret_id),
                    host.into_iter()
                        .chain(self.signing_hosts.iter().map(String::as_str))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let signer = match client.upstream {
            UpstreamIdentity::Bridge => Signer::Bridge,
            UpstreamIdentity::Caller => Signer::Caller(KeyPair {
                secret_id: secret_id.to_owned(),
                secret_key: client.secret_key.clone(),
                token: common.token.clone().map(crate::config::Secret::new),
            }),
        };
        Ok(Authenticated {
            secret_id: secret_id.to_owned(),
            nonce,
            timestamp,
            key: client.secret_key.clone(),
            signer,
        })
    }

    /// The replay check against this replica's own memory.
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

/// A SecretId is not a secret, but cap what an unknown caller can make us log.
fn shorten(s: &str) -> String {
    if s.chars().count() > 64 {
        format!("{}…", s.chars().take(64).collect::<String>())
    } else {
        s.to_owned()
    }
}
