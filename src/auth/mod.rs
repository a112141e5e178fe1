//! Who may call and with which key the 3.0 call is signed: verifies the
//! legacy v1 signature (HmacSHA1/HmacSHA256) against the known clients,
//! checks the timestamp window and the replay memory, and names the
//! identity that signs upstream.

pub mod clients;
pub mod replay;
pub mod replay_store;

use std::borrow::Cow;
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

/// The request's `Host` header and the default port of the listener it
/// came in on (443 for TLS, 80 for plain HTTP): together they give the
/// hosts a legacy signature may cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHost<'a> {
    pub header: Option<&'a str>,
    pub default_port: u16,
}

impl<'a> From<Option<&'a str>> for RequestHost<'a> {
    /// A `Host` header seen on a plain-HTTP listener.
    fn from(header: Option<&'a str>) -> Self {
        RequestHost {
            header,
            default_port: 80,
        }
    }
}

/// The hosts a signature is checked against, each once, in order: the
/// `Host` header; the same host with the listener's default port when the
/// header has no port, or without it when the header has that port (the
/// Node SDK signs the host as configured, `127.0.0.1:443`, while its HTTP
/// library leaves a default port out of the header); then the configured
/// signing hosts.
pub fn candidate_hosts<'a>(host: RequestHost<'a>, configured: &'a [String]) -> Vec<Cow<'a, str>> {
    let mut hosts: Vec<Cow<'a, str>> = Vec::with_capacity(2 + configured.len());
    let mut push = |h: Cow<'a, str>| {
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    };
    if let Some(h) = host.header {
        push(Cow::Borrowed(h));
        match split_port(h) {
            (name, Some(port)) if port == host.default_port.to_string() => {
                push(Cow::Borrowed(name))
            }
            (_, Some(_)) => {}
            (name, None) => push(Cow::Owned(format!("{name}:{}", host.default_port))),
        }
    }
    for h in configured {
        push(Cow::Borrowed(h.as_str()));
    }
    hosts
}

/// `host[:port]` (with `[v6]` literals) split into the host and the port
/// text, if any.
fn split_port(h: &str) -> (&str, Option<&str>) {
    match h.rsplit_once(':') {
        Some((name, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!name.contains(':') || name.ends_with(']')) =>
        {
            (name, Some(port))
        }
        _ => (h, None),
    }
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
    pub fn verify<'h>(
        &self,
        http_method: &str,
        host: impl Into<RequestHost<'h>>,
        params: &Params,
        common: &CommonParams,
        now: u64,
    ) -> Result<Signer, BridgeError> {
        self.verify_with_clock(http_method, host, params, common, &|| now)
    }

    /// Verify one request. `host` is the request's `Host` header (and its
    /// listener's default port); the hosts tried are [`candidate_hosts`],
    /// each in the Python SDK's parameter order and, when it differs, in
    /// the Node and PHP SDKs' order. `clock` is read once
    /// before the signature is computed (to refuse a stale request
    /// cheaply) and once more at the replay check: that second reading
    /// decides both the time window and the replay memory, so a request
    /// that spent long in decoding or hashing cannot pass the window with
    /// an old reading after its entry was forgotten.
    pub fn verify_with_clock<'h>(
        &self,
        http_method: &str,
        host: impl Into<RequestHost<'h>>,
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
    pub fn authenticate<'h>(
        &self,
        http_method: &str,
        host: impl Into<RequestHost<'h>>,
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
        let other_order = to_sign.other_order();
        let orders: Vec<&signature::ToSign<'_>> = std::iter::once(&to_sign)
            .chain(other_order.as_ref())
            .collect();
        let hosts = candidate_hosts(host.into(), &self.signing_hosts);
        let verified = hosts.iter().any(|h| {
            orders
                .iter()
                .any(|o| signature::verify_streamed(key, method, o, h, LEGACY_PATH, sig))
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::clients::ClientSettings;
    use crate::legacy::decode::{decode_form, encode_form};
    use crate::legacy::request::read_common;
    use crate::legacy::signature::{sign, KeyOrder, SignatureMethod, ToSign};
    use crate::types::Secret;

    fn hosts(header: Option<&str>, port: u16, configured: &[&str]) -> Vec<String> {
        let configured: Vec<String> = configured.iter().map(|s| s.to_string()).collect();
        candidate_hosts(
            RequestHost {
                header,
                default_port: port,
            },
            &configured,
        )
        .into_iter()
        .map(|h| h.into_owned())
        .collect()
    }

    #[test]
    fn a_host_without_port_is_also_tried_with_the_listeners_default_port() {
        let c = ["scf.api.qcloud.com"];
        assert_eq!(
            hosts(Some("127.0.0.1"), 443, &c),
            ["127.0.0.1", "127.0.0.1:443", "scf.api.qcloud.com"]
        );
        assert_eq!(
            hosts(Some("127.0.0.1"), 80, &c),
            ["127.0.0.1", "127.0.0.1:80", "scf.api.qcloud.com"]
        );
        assert_eq!(hosts(Some("[::1]"), 443, &[]), ["[::1]", "[::1]:443"]);
    }

    #[test]
    fn a_host_with_the_default_port_is_also_tried_without_it() {
        assert_eq!(
            hosts(Some("scf.api.qcloud.com:443"), 443, &["scf.api.qcloud.com"]),
            ["scf.api.qcloud.com:443", "scf.api.qcloud.com"]
        );
        assert_eq!(hosts(Some("[::1]:80"), 80, &[]), ["[::1]:80", "[::1]"]);
        // Another port is the one the client signed: nothing to add.
        assert_eq!(hosts(Some("h:8443"), 443, &[]), ["h:8443"]);
        assert_eq!(hosts(Some("h:443"), 80, &[]), ["h:443"]);
    }

    #[test]
    fn each_host_is_tried_once() {
        assert_eq!(
            hosts(
                Some("scf.api.qcloud.com"),
                443,
                &["scf.api.qcloud.com:443", "scf.api.qcloud.com", "other"]
            ),
            ["scf.api.qcloud.com", "scf.api.qcloud.com:443", "other"]
        );
        assert_eq!(hosts(None, 443, &["a", "a"]), ["a"]);
    }

    const ID: &str = "AKIDnode";
    const KEY: &str = "node-key";

    fn verifier() -> Verifier {
        let client = ClientSettings {
            secret_id: ID.to_owned(),
            secret_key: Some(Secret::new(KEY)),
            secret_key_file: None,
            upstream: UpstreamIdentity::Caller,
        };
        Verifier {
            clients: Arc::new(Swappable::new(
                ClientSet::load(&[client], None, UpstreamIdentity::Caller).unwrap(),
            )),
            signing_hosts: vec!["scf.api.qcloud.com".into()],
            max_skew_secs: 300,
            replay: ReplayMemory::new(64, 300),
            not_before: None,
        }
    }

    /// A signed GET as an SDK building its string in `order` for `host`
    /// would send it.
    fn signed(pairs: &[(&str, &str)], host: &str, order: KeyOrder, nonce: &str) -> Params {
        let mut all: Vec<(&str, &str)> = vec![
            ("Action", "InvokeFunction"),
            ("SecretId", ID),
            ("Timestamp", "1700000000"),
            ("Nonce", nonce),
        ];
        all.extend_from_slice(pairs);
        let unsigned = decode_form(encode_form(all.iter().copied()).as_bytes()).unwrap();
        let text = ToSign::with_order("GET", &unsigned, order).to_string_for(host, LEGACY_PATH);
        let signature = sign(KEY, SignatureMethod::HmacSha1, &text);
        all.push(("Signature", &signature));
        decode_form(encode_form(all.iter().copied()).as_bytes()).unwrap()
    }

    fn check(v: &Verifier, params: &Params, host: RequestHost<'_>) -> Result<Signer, BridgeError> {
        let common = read_common(params).unwrap();
        v.verify("GET", host, params, &common, 1_700_000_000)
    }

    #[test]
    fn node_and_php_order_is_accepted_beside_pythons() {
        let v = verifier();
        let extra = [
            ("functionName", "f"),
            ("Request_Source", "x"),
            ("RequestClient", "SDK_NODEJS_0.2.1"),
        ];
        for (n, order) in [KeyOrder::ReplacedThenSorted, KeyOrder::SortedThenReplaced]
            .into_iter()
            .enumerate()
        {
            let nonce = (n + 1).to_string();
            let p = signed(&extra, "scf.api.qcloud.com", order, &nonce);
            check(&v, &p, Some("127.0.0.1:8080").into())
                .unwrap_or_else(|e| panic!("{order:?}: {e}"));
        }
        // The two strings really differ for this request.
        let p = signed(&extra, "h", KeyOrder::ReplacedThenSorted, "9");
        let python = ToSign::new("GET", &p).to_string_for("h", LEGACY_PATH);
        let node = ToSign::new("GET", &p)
            .other_order()
            .expect("orders differ")
            .to_string_for("h", LEGACY_PATH);
        assert!(
            python.contains("&Request.Source=x&RequestClient=SDK_NODEJS_0.2.1&"),
            "{python}"
        );
        assert!(
            node.contains("&RequestClient=SDK_NODEJS_0.2.1&Request.Source=x&"),
            "{node}"
        );
        // So a Node signature is not a Python one.
        assert_ne!(
            sign(KEY, SignatureMethod::HmacSha1, &python),
            sign(KEY, SignatureMethod::HmacSha1, &node)
        );
    }

    #[test]
    fn without_an_underscore_there_is_one_order() {
        let p = signed(
            &[("functionName", "f")],
            "h",
            KeyOrder::ReplacedThenSorted,
            "1",
        );
        assert!(ToSign::new("GET", &p).other_order().is_none());
    }

    #[test]
    fn a_leading_underscore_is_kept_by_node_and_php() {
        let p = decode_form(b"_x_y=1&b=2").unwrap();
        let node = ToSign::with_order("GET", &p, KeyOrder::SortedThenReplaced);
        assert_eq!(node.to_string_for("h", "/p"), "GETh/p?_x_y=1&b=2");
        let python = ToSign::new("GET", &p);
        assert_eq!(python.to_string_for("h", "/p"), "GETh/p?.x.y=1&b=2");
        assert!(python.other_order().is_some());
    }

    #[test]
    fn a_port_signed_but_not_sent_or_sent_but_not_signed_is_accepted() {
        let v = verifier();
        // Signed with `:443`, sent as `Host: 127.0.0.1` to the TLS listener.
        let p = signed(
            &[("functionName", "f")],
            "127.0.0.1:443",
            KeyOrder::SortedThenReplaced,
            "1",
        );
        let tls = RequestHost {
            header: Some("127.0.0.1"),
            default_port: 443,
        };
        check(&v, &p, tls).unwrap();
        // The same on the plain listener: `:80` is tried, not `:443`.
        let p = signed(
            &[("functionName", "f")],
            "127.0.0.1:443",
            KeyOrder::SortedThenReplaced,
            "2",
        );
        let e = check(&v, &p, Some("127.0.0.1").into()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::SignatureFailure, "{}", e.detail);
        // Signed without a port, sent with the default one.
        let p = signed(
            &[("functionName", "f")],
            "127.0.0.1",
            KeyOrder::ReplacedThenSorted,
            "3",
        );
        let plain = RequestHost {
            header: Some("127.0.0.1:80"),
            default_port: 80,
        };
        check(&v, &p, plain).unwrap();
    }
}
