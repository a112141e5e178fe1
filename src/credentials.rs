//! The key pairs the bridge signs 3.0 calls with, held so that a reload can
//! swap them atomically while requests keep reading the old set.

use std::sync::{Arc, RwLock};

use crate::config::{CredentialSettings, Secret};

pub use crate::types::KeyPair;

impl KeyPair {
    pub fn from_settings(c: &CredentialSettings) -> Option<KeyPair> {
        Some(KeyPair {
            secret_id: c.secret_id.clone()?,
            secret_key: c.secret_key.clone()?,
            token: c.token.clone(),
        })
    }

    /// A fresh random pair, for the bridge and its embedded emulator when
    /// nothing is configured. It lives only in this process.
    pub fn ephemeral() -> KeyPair {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let key = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        KeyPair {
            secret_id: format!("AKIDephemeral{}", &id[..20]),
            secret_key: Secret::new(key),
            token: None,
        }
    }
}

/// A value read by every request and replaced whole on reload.
pub struct Swappable<T> {
    current: RwLock<Arc<T>>,
}

impl<T> Swappable<T> {
    pub fn new(value: T) -> Self {
        Swappable {
            current: RwLock::new(Arc::new(value)),
        }
    }

    /// The current value; cheap (one `Arc` clone under a short read lock).
    pub fn load(&self) -> Arc<T> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replace the value; requests already holding the old one finish with it.
    pub fn store(&self, value: T) {
        let value = Arc::new(value);
        match self.current.write() {
            Ok(mut g) => *g = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_pairs_are_distinct_and_never_printed() {
        let a = KeyPair::ephemeral();
        let b = KeyPair::ephemeral();
        assert_ne!(a.secret_key, b.secret_key);
        assert_ne!(a.secret_id, b.secret_id);
        assert!(a.secret_key.expose().len() >= 64);
        assert!(!format!("{a:?}").contains(a.secret_key.expose()));
    }

    #[test]
    fn swap_replaces_for_new_readers_only() {
        let s = Swappable::new(1);
        let old = s.load();
        s.store(2);
        assert_eq!(*old, 1);
        assert_eq!(*s.load(), 2);
    }
}
