//! Configuration errors a person can act on, each one line (a TOML syntax
//! error, with file and line, is `config::check_toml_syntax`'s): an unknown key names the file or environment variable it came from
//! and the closest valid key; a bad enum value lists the valid ones; a value
//! of a key that holds a secret is never shown. Also: list-valued keys set
//! from the environment as comma-separated values.

use std::path::Path;

use serde::de::value::{Error as DeError, StrDeserializer};
use serde::de::IntoDeserializer;
use serde::Deserialize;

use crate::auth::{AuthMode, UpstreamIdentity};
use crate::config::{EnvMap, UpstreamMode, ENV_PREFIX};

/// Keys whose value is a list: from the environment, `a,b` is `["a", "b"]`.
pub const LIST_KEYS: &[&str] = &["auth.signing_hosts"];

/// `SCF_BRIDGE__AUTH__SIGNING_HOSTS` → `auth.signing_hosts`.
pub fn env_key(var: &str) -> Option<String> {
    let rest = var.strip_prefix(ENV_PREFIX)?.strip_prefix("__")?;
    Some(rest.to_ascii_lowercase().replace("__", "."))
}

/// Take the list-valued keys out of `env`: (key, items) to set as overrides.
pub fn take_list_keys(env: &mut EnvMap) -> Vec<(String, Vec<String>)> {
    let vars: Vec<String> = env
        .keys()
        .filter(|v| env_key(v).is_some_and(|k| LIST_KEYS.contains(&k.as_str())))
        .cloned()
        .collect();
    vars.into_iter()
        .filter_map(|var| {
            let value = env.remove(&var)?;
            let items = value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            Some((env_key(&var)?, items))
        })
        .collect()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Rewrite an error of the `config` crate into one actionable line.
/// `file` is the configuration file, `env` the environment it was loaded
/// with (to say where an unknown key came from).
pub fn explain(message: &str, file: Option<&Path>, env: &EnvMap) -> String {
    let message = one_line(message);
    let key = message
        .rsplit_once(" for key `")
        .and_then(|(_, k)| k.strip_suffix('`'))
        .map(normalize_key);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((field, expected)) = rest.split_once("`, expected ") {
            let section = key.clone().unwrap_or_default();
            let full = join_key(&section, field);
            let valid = backticked(expected.split(" for key `").next().unwrap_or(""));
            let hint = closest(field, &valid)
                .map(|c| format!("; did you mean {}?", join_key(&section, c)))
                .unwrap_or_else(|| format!("; valid keys here: {}", valid.join(", ")));
            return format!(
                "{full} {} is not a known key{hint}",
                origin(&full, file, env)
            );
        }
    }
    if message.starts_with("enum ") && message.contains("does not have variant constructor ") {
        if let (Some(key), Some(value)) = (
            key.as_deref(),
            message
                .split("variant constructor ")
                .nth(1)
                .and_then(|r| r.split(" for key `").next()),
        ) {
            let shown = if is_secret_key(key) {
                "<redacted>"
            } else {
                value
            };
            return match variants_of(key) {
                Some(v) => format!("{key}: \"{shown}\" is not one of {}", v.join(", ")),
                None => format!("{key}: \"{shown}\" is not a valid value"),
            };
        }
    }
    if let Some(key) = key.as_deref() {
        if is_secret_key(key) {
            return format!("{key}: a value of the wrong type (not shown: the key holds a secret)");
        }
        if message.contains("expected a sequence") && LIST_KEYS.contains(&key) {
            return format!(
                "{key}: expected a list (in TOML [\"a\", \"b\"]; in the environment comma-separated: a,b)"
            );
        }
        if let Some((what, _)) = message.rsplit_once(" for key `") {
            return format!("{key}: {}", crate::config::without_values(what));
        }
    }
    crate::config::without_values(&message)
}

/// `auth.clients[0]upstream` (as the `config` crate writes it) →
/// `auth.clients[0].upstream`.
fn normalize_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    let mut after_bracket = false;
    for c in key.chars() {
        if after_bracket && c != '.' && c != '[' {
            out.push('.');
        }
        after_bracket = c == ']';
        out.push(c);
    }
    out
}

fn join_key(section: &str, field: &str) -> String {
    if section.is_empty() {
        field.to_owned()
    } else {
        format!("{section}.{field}")
    }
}

/// Where a key was set: an environment variable, else the file.
fn origin(full_key: &str, file: Option<&Path>, env: &EnvMap) -> String {
    let from_env = env
        .keys()
        .find(|v| env_key(v).as_deref() == Some(full_key))
        .cloned();
    match (from_env, file) {
        (Some(var), _) => format!("(environment variable {var})"),
        (None, Some(f)) => format!("in {}", f.display()),
        (None, None) => "(environment)".to_owned(),
    }
}

/// `` `a`, `b` or `c` `` → [a, b, c].
fn backticked(s: &str) -> Vec<String> {
    s.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

fn is_secret_key(key: &str) -> bool {
    key.ends_with("secret_key") || key.ends_with("token") || key.ends_with("password")
}

/// The accepted values of an enum-valued key, read from its type.
pub fn variants_of(key: &str) -> Option<Vec<String>> {
    fn probe<T: for<'de> Deserialize<'de>>() -> Vec<String> {
        let d: StrDeserializer<'_, DeError> = "\u{0}".into_deserializer();
        match T::deserialize(d) {
            Ok(_) => Vec::new(),
            Err(e) => {
                let text = e.to_string();
                let mut v = backticked(text.split("expected").nth(1).unwrap_or(""));
                v.sort();
                v
            }
        }
    }
    let values = match key {
        "auth.mode" => probe::<AuthMode>(),
        "upstream.mode" => probe::<UpstreamMode>(),
        "auth.clients_dir_upstream" => probe::<UpstreamIdentity>(),
        k if k.starts_with("auth.clients") && k.ends_with(".upstream") => {
            probe::<UpstreamIdentity>()
        }
        _ => return None,
    };
    (!values.is_empty()).then_some(values)
}

/// The valid name nearest to `got` (edit distance at most a third of its
/// length, and at least 1 allowed).
pub fn closest<'a>(got: &str, valid: &'a [String]) -> Option<&'a str> {
    let limit = (got.chars().count() / 3).max(2);
    valid
        .iter()
        .map(|v| (edit_distance(got, v), v))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_come_from_the_types() {
        assert_eq!(variants_of("auth.mode").unwrap(), vec!["none", "verify"]);
        assert_eq!(
            variants_of("upstream.mode").unwrap(),
            vec!["dry-run", "forward"]
        );
        assert_eq!(
            variants_of("auth.clients[0].upstream").unwrap(),
            vec!["bridge", "self"]
        );
        assert_eq!(variants_of("server.listen"), None);
    }

    #[test]
    fn closest_names_the_typo_not_a_stranger() {
        let valid: Vec<String> = ["endpoint", "region", "mode"].map(String::from).to_vec();
        assert_eq!(closest("endpiont", &valid), Some("endpoint"));
        assert_eq!(closest("regoin", &valid), Some("region"));
        assert_eq!(closest("completely_else", &valid), None);
    }
}
