//! Value types shared by configuration, credentials, authentication and the
//! 3.0 signer. A leaf: imports nothing of the crate, so the modules that use
//! these types never have to import one another for them.

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
