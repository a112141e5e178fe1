//! Value types shared by configuration, credentials, authentication and the
//! 3.0 signer. A leaf: imports nothing of the crate, so `config`, `auth`
//! and `credentials` never have to import one another for them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A value that must never be printed: `Debug`, `Display` and `Serialize`
/// all show `<redacted>`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The only way to read the value; grep for it when auditing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// A Tencent Cloud key pair, with an optional temporary-credential token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPair {
    pub secret_id: String,
    pub secret_key: Secret,
    pub token: Option<Secret>,
}

/// Whether legacy signatures are checked (`auth.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Verify,
    None,
}

/// Which key pair signs the 3.0 call made for a caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum UpstreamIdentity {
    /// The caller's own key pair: its CAM permissions and audit trail are kept.
    #[default]
    #[serde(rename = "self")]
    Caller,
    /// The bridge's `[credentials]`.
    #[serde(rename = "bridge")]
    Bridge,
}
