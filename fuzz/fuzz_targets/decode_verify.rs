//! Arbitrary bytes as a legacy request: the first byte picks the HTTP method
//! (bit 0: GET/POST) and whether a `Host` header came (bit 1); the rest is
//! the query or form body. It walks the bridge's own path — the gate
//! (`decode_form_limited` under a parameter cap → `read_common` → the
//! unsigned-`@` check → `Verifier::verify`) with a fixed client set — and
//! checks:
//!
//! - nothing panics;
//! - the parameter cap refuses exactly the forms with more parameters than
//!   it (the uncapped decoder agrees on every other form);
//! - nothing the gate admits carries a POST value outside the signature;
//! - a request the verifier accepts carries exactly the signature the
//!   client's key gives, and is refused as a replay the second time;
//! - the same request re-signed with the client's key (the known SecretId,
//!   a Timestamp and a Nonce) is accepted once, for that client, then refused
//!   as a replay.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use scf_bridge::auth::clients::ClientSettings;
use scf_bridge::auth::{ClientSet, ReplayMemory, Signer, UpstreamIdentity, Verifier};
use scf_bridge::config::Secret;
use scf_bridge::credentials::Swappable;
use scf_bridge::error::ErrorKind;
use scf_bridge::gate::{admit_now, GateLimits};
use scf_bridge::legacy::decode::{decode_form, decode_form_limited, DecodeError, Params};
use scf_bridge::legacy::request::read_common;
use scf_bridge::legacy::signature::{sign, string_to_sign, LEGACY_PATH};
use scf_bridge::legacy::upload::unsigned_upload_violation;

/// The key pair of the legacy vectors in tests/vectors/legacy (the seeds).
const SECRET_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA";
const SECRET_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3Cozk1qA";
const SIGNING_HOST: &str = "scf.api.qcloud.com";
const HOST_HEADER: &str = "127.0.0.1:8080";
/// A small cap, so that inputs reach it often.
const MAX_PARAMS: usize = 24;

fn verifier() -> Verifier {
    let client = ClientSettings {
        secret_id: SECRET_ID.to_owned(),
        secret_key: Some(Secret::new(SECRET_KEY)),
        secret_key_file: None,
        upstream: UpstreamIdentity::Caller,
    };
    let clients = ClientSet::load(&[client], None, UpstreamIdentity::Caller).expect("client set");
    Verifier {
        clients: Arc::new(Swappable::new(clients)),
        signing_hosts: vec![SIGNING_HOST.to_owned()],
        max_skew_secs: 300,
        replay: ReplayMemory::new(16, 300),
        not_before: None,
    }
}

fn is_replay(r: &Result<Signer, scf_bridge::error::BridgeError>) -> bool {
    matches!(r, Err(e) if e.kind == ErrorKind::ReplayAttack)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, form)) = data.split_first() else {
        return;
    };
    let method = if selector & 1 == 0 { "GET" } else { "POST" };
    let host = (selector & 2 != 0).then_some(HOST_HEADER);
    let capped = decode_form_limited(form, MAX_PARAMS);
    match (&capped, decode_form(form)) {
        (Err(DecodeError::TooManyParameters { max }), all) => {
            assert_eq!(*max, MAX_PARAMS);
            if let Ok(all) = all {
                assert!(
                    all.len() > MAX_PARAMS,
                    "the cap refused {} parameters",
                    all.len()
                );
            }
        }
        (Ok(capped), Ok(all)) => assert_eq!(capped, &all, "the cap changed a result"),
        (Err(e), Err(all)) => assert_eq!(e, &all, "the cap changed an error"),
        (capped, all) => panic!("capped {capped:?} but uncapped {all:?}"),
    }
    let gate = verifier();
    let limits = GateLimits {
        max_params: MAX_PARAMS,
        offload_threshold_bytes: usize::MAX,
    };
    let clock = || {
        decode_form_limited(form, MAX_PARAMS)
            .ok()
            .and_then(|p| p.get("Timestamp").and_then(|t| t.parse().ok()))
            .unwrap_or(0)
    };
    if let Ok(admitted) = admit_now(form, method, host, Some(&gate), &clock, limits) {
        assert_eq!(
            unsigned_upload_violation(&admitted.params, method, &[]),
            None,
            "admitted an unsigned value"
        );
    }
    let Ok(params) = capped else {
        return;
    };
    let Ok(common) = read_common(&params) else {
        return;
    };
    let common = &common;
    // The bridge's clock reads the request's own Timestamp: always inside
    // the window, so the signature check is reached.
    let now = common.timestamp.unwrap_or(0);

    let v = verifier();
    let first = v.verify(method, host, &params, common, now);
    if first.is_ok() {
        let sent = common
            .signature
            .as_deref()
            .expect("accepted with a signature");
        let hosts = host.into_iter().chain([SIGNING_HOST]);
        let expected: Vec<String> = hosts
            .map(|h| {
                let s = string_to_sign(method, h, LEGACY_PATH, &params);
                sign(SECRET_KEY, common.signature_method, &s)
            })
            .collect();
        assert!(
            expected.iter().any(|e| e == sent),
            "accepted a signature the key does not give"
        );
        assert!(is_replay(&v.verify(method, host, &params, common, now)));
    }

    if common.secret_id.as_deref() == Some(SECRET_ID)
        && common.timestamp.is_some()
        && common.nonce.is_some()
    {
        let s = string_to_sign(method, SIGNING_HOST, LEGACY_PATH, &params);
        let signature = sign(SECRET_KEY, common.signature_method, &s);
        let resigned = Params::from_pairs(
            params
                .iter()
                .filter(|(k, _)| *k != "Signature")
                .chain([("Signature", signature.as_str())]),
        )
        .expect("the same keys");
        let again = read_common(&resigned).expect("still parses");
        let v = verifier();
        match v.verify(method, host, &resigned, &again, now) {
            Ok(Signer::Caller(keys)) => assert_eq!(keys.secret_id, SECRET_ID),
            other => panic!("a correctly signed request was refused: {other:?}"),
        }
        assert!(is_replay(&v.verify(method, host, &resigned, &again, now)));
    }
});
