//! The set of legacy callers the bridge knows: `[[auth.clients]]` entries
//! (key inline or in a file) and `auth.clients_dir`, a directory of key files
//! named after their SecretId — the shape of a Kubernetes Secret mounted as
//! a directory.

use std::collections::HashMap;
use std::path::Path;

use crate::config::Secret;

pub use crate::config::ClientSettings;
pub use crate::types::UpstreamIdentity;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub secret_key: Secret,
    pub upstream: UpstreamIdentity,
}

/// SecretId → client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientSet {
    by_id: HashMap<String, Client>,
}

impl ClientSet {
    pub fn get(&self, secret_id: &str) -> Option<&Client> {
        self.by_id.get(secret_id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Client)> {
        self.by_id.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn needs_bridge_credentials(&self) -> bool {
        self.by_id
            .values()
            .any(|c| c.upstream == UpstreamIdentity::Bridge)
    }

    /// Build the set from the configured entries and, if given, a directory.
    /// Any unreadable or malformed entry fails the whole load, so a reload
    /// never half-applies.
    pub fn load(
        entries: &[ClientSettings],
        dir: Option<&Path>,
        dir_upstream: UpstreamIdentity,
    ) -> Result<ClientSet, String> {
        let mut set = ClientSet::default();
        for e in entries {
            let key = match (&e.secret_key, &e.secret_key_file) {
                (Some(k), None) => k.clone(),
                (None, Some(path)) => read_key(path)?,
                _ => {
                    return Err(format!(
                        "auth.clients `{}`: set exactly one of secret_key and secret_key_file",
                        e.secret_id
                    ))
                }
            };
            set.insert(&e.secret_id, key, e.upstream, "auth.clients")?;
        }
        if let Some(dir) = dir {
            let listing = std::fs::read_dir(dir)
                .map_err(|e| format!("auth.clients_dir {}: {e}", dir.display()))?;
            // Symlinks are followed only to files inside the directory
            // (Kubernetes links each key to `..data/<key>`); anything that
            // leads out of it is refused.
            let root = std::fs::canonicalize(dir)
                .map_err(|e| format!("auth.clients_dir {}: {e}", dir.display()))?;
            let mut names = Vec::new();
            for entry in listing {
                let entry =
                    entry.map_err(|e| format!("auth.clients_dir {}: {e}", dir.display()))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    return Err(format!(
                        "auth.clients_dir {}: a file name is not UTF-8",
                        dir.display()
                    ));
                };
                // Kubernetes keeps `..data` and `..<timestamp>` beside the keys.
                if name.starts_with('.') {
                    continue;
                }
                if entry.path().is_file() {
                    names.push(name.to_owned());
                }
            }
            names.sort();
            for name in names {
                let path = dir.join(&name);
                let real = std::fs::canonicalize(&path)
                    .map_err(|e| format!("key file {}: {e}", path.display()))?;
                if !real.starts_with(&root) {
                    return Err(format!(
                        "key file {} leads out of auth.clients_dir; refused",
                        path.display()
                    ));
                }
                let key = read_key(&path)?;
                set.insert(&name, key, dir_upstream, "auth.clients_dir")?;
            }
        }
        Ok(set)
    }

    fn insert(
        &mut self,
        secret_id: &str,
        secret_key: Secret,
        upstream: UpstreamIdentity,
        origin: &str,
    ) -> Result<(), String> {
        if secret_id.is_empty()
            || secret_id.len() > 128
            || !secret_id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(format!("{origin}: `{secret_id}` is not a SecretId"));
        }
        if self.by_id.contains_key(secret_id) {
            return Err(format!("{origin}: SecretId `{secret_id}` is listed twice"));
        }
        self.by_id.insert(
            secret_id.to_owned(),
            Client {
                secret_key,
                upstream,
            },
        );
        Ok(())
    }
}

/// Where the client set comes from; replaced on a configuration reload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientSource {
    pub entries: Vec<ClientSettings>,
    pub dir: Option<std::path::PathBuf>,
    pub dir_upstream: UpstreamIdentity,
}

impl ClientSource {
    pub fn load(&self) -> Result<ClientSet, String> {
        ClientSet::load(&self.entries, self.dir.as_deref(), self.dir_upstream)
    }
}

/// Load `source` into `cell` if it changed; keep the current set (and say
/// why, once per distinct problem) if it does not load.
pub fn refresh(
    source: &ClientSource,
    cell: &crate::credentials::Swappable<ClientSet>,
    last_error: &mut Option<String>,
) {
    match source.load() {
        Ok(set) => {
            *last_error = None;
            if *cell.load() != set {
                let count = set.len();
                cell.store(set);
                tracing::info!(clients = count, "legacy client keys reloaded");
                crate::metrics::reload("clients", true);
            }
        }
        Err(e) => {
            if last_error.as_deref() != Some(e.as_str()) {
                tracing::error!(error = %e, "legacy client keys reload failed; keeping the current set");
                crate::metrics::reload("clients", false);
                *last_error = Some(e);
            }
        }
    }
}

/// Re-read the clients every `interval`.
pub async fn watch(
    source: std::sync::Arc<crate::credentials::Swappable<ClientSource>>,
    cell: std::sync::Arc<crate::credentials::Swappable<ClientSet>>,
    interval: std::time::Duration,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error = None;
    loop {
        tick.tick().await;
        refresh(&source.load(), &cell, &mut last_error);
    }
}

/// Largest key file read; a SecretKey is 32 characters.
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

/// A key file holds the SecretKey; surrounding whitespace is ignored. At
/// most [`MAX_KEY_FILE_BYTES`] are read, whatever the file's size.
fn read_key(path: &Path) -> Result<Secret, String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).map_err(|e| format!("key file {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("key file {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(format!(
            "key file {} is larger than {MAX_KEY_FILE_BYTES} bytes",
            path.display()
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("key file {} is not UTF-8 text", path.display()))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(format!("key file {} is empty", path.display()));
    }
    if key.contains(char::is_whitespace) {
        return Err(format!(
            "key file {} holds more than one word",
            path.display()
        ));
    }
    Ok(Secret::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("scf-bridge-clients-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn directory_files_are_secret_ids_and_hidden_entries_are_skipped() {
        let d = tmpdir("dir");
        std::fs::write(d.join("AKIDone"), "key-one\n").unwrap();
        std::fs::write(d.join("AKIDtwo"), "key-two").unwrap();
        std::fs::create_dir(d.join("..2026_11_28")).unwrap();
        std::fs::write(d.join("..data"), "x").unwrap();
        let set = ClientSet::load(&[], Some(&d), UpstreamIdentity::Caller).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.get("AKIDone").unwrap().secret_key.expose(), "key-one");
        assert_eq!(
            set.get("AKIDtwo").unwrap().upstream,
            UpstreamIdentity::Caller
        );
    }

    #[test]
    fn entries_take_a_key_inline_or_from_a_file() {
        let d = tmpdir("entries");
        std::fs::write(d.join("k"), "from-file\n").unwrap();
        let entries = vec![
            ClientSettings {
                secret_id: "AKIDa".into(),
                secret_key: Some(Secret::new("inline")),
                secret_key_file: None,
                upstream: UpstreamIdentity::Bridge,
            },
            ClientSettings {
                secret_id: "AKIDb".into(),
                secret_key: None,
                secret_key_file: Some(d.join("k")),
                upstream: UpstreamIdentity::Caller,
            },
        ];
        let set = ClientSet::load(&entries, None, UpstreamIdentity::Caller).unwrap();
        assert_eq!(set.get("AKIDa").unwrap().secret_key.expose(), "inline");
        assert_eq!(set.get("AKIDb").unwrap().secret_key.expose(), "from-file");
        assert!(set.needs_bridge_credentials());
    }

    #[test]
    fn a_bad_entry_fails_the_whole_load() {
        let d = tmpdir("bad");
        std::fs::write(d.join("AKIDgood"), "k").unwrap();
        std::fs::write(d.join("AKIDempty"), "\n").unwrap();
        let err = ClientSet::load(&[], Some(&d), UpstreamIdentity::Caller).unwrap_err();
        assert!(err.contains("AKIDempty"), "{err}");
        assert!(!err.contains("k\n"));

        let both = vec![ClientSettings {
            secret_id: "AKIDx".into(),
            secret_key: Some(Secret::new("a")),
            secret_key_file: Some("/nonexistent".into()),
            upstream: UpstreamIdentity::Caller,
        }];
        assert!(ClientSet::load(&both, None, UpstreamIdentity::Caller).is_err());
    }

    #[test]
    fn key_files_are_capped_and_symlinks_stay_inside_the_directory() {
        let d = tmpdir("links");
        let data = d.join("..2026_11_30");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("AKIDin"), "key-in").unwrap();
        std::os::unix::fs::symlink("..2026_11_30", d.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/AKIDin", d.join("AKIDin")).unwrap();
        // The Kubernetes layout loads.
        let set = ClientSet::load(&[], Some(&d), UpstreamIdentity::Caller).unwrap();
        assert_eq!(set.get("AKIDin").unwrap().secret_key.expose(), "key-in");
        // A link out of the directory is refused, not read.
        let outside = tmpdir("outside");
        std::fs::write(outside.join("k"), "OUTSIDEKEY").unwrap();
        std::os::unix::fs::symlink(outside.join("k"), d.join("AKIDout")).unwrap();
        let err = ClientSet::load(&[], Some(&d), UpstreamIdentity::Caller).unwrap_err();
        assert!(err.contains("AKIDout") && err.contains("out of"), "{err}");
        std::fs::remove_file(d.join("AKIDout")).unwrap();
        std::os::unix::fs::symlink("/proc/self/environ", d.join("AKIDenv")).unwrap();
        assert!(ClientSet::load(&[], Some(&d), UpstreamIdentity::Caller).is_err());
        std::fs::remove_file(d.join("AKIDenv")).unwrap();
        // A big file is refused after reading at most the cap.
        std::fs::write(d.join("AKIDbig"), "k".repeat(100_000)).unwrap();
        let err = ClientSet::load(&[], Some(&d), UpstreamIdentity::Caller).unwrap_err();
        assert!(err.contains("larger than 4096"), "{err}");
        assert!(!err.contains("kkkk"), "{err}");
    }

    #[test]
    fn a_secret_id_listed_twice_is_refused() {
        let d = tmpdir("twice");
        std::fs::write(d.join("AKIDa"), "k").unwrap();
        let entries = vec![ClientSettings {
            secret_id: "AKIDa".into(),
            secret_key: Some(Secret::new("x")),
            secret_key_file: None,
            upstream: UpstreamIdentity::Caller,
        }];
        let err = ClientSet::load(&entries, Some(&d), UpstreamIdentity::Caller).unwrap_err();
        assert!(err.contains("twice"), "{err}");
    }
}
