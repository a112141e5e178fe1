//! Legacy signature verification, caller identities, key rotation and the
//! TLS listener, against a real bridge and a scripted upstream.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use scf_bridge::legacy::signature::{self, SignatureMethod};
use support::{form, mock_upstream, start_bridge};

const RESULT: &str = r#"{"Response":{"Result":{"MemUsage":1,"Log":"","RetMsg":"\"ok\"","BillDuration":1,"FunctionRequestId":"f-1","Duration":0.5,"ErrMsg":"","InvokeResult":0},"RequestId":"r-1"}}"#;

const CALLER_ID: &str = "AKIDlegacyCaller";
const CALLER_KEY: &str = "caller-secret-key";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Sign like the legacy SDK: every parameter but `Signature`, for `host`.
fn signed_query(
    method: &str,
    host: &str,
    id: &str,
    key: &str,
    sig_method: SignatureMethod,
    timestamp: u64,
    extra: &[(&str, &str)],
) -> String {
    let nonce = NONCE
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_string();
    let ts = timestamp.to_string();
    let mut pairs: Vec<(&str, &str)> = vec![
        ("Action", "InvokeFunction"),
        ("Region", "gz"),
        ("Timestamp", &ts),
        ("Nonce", &nonce),
        ("SecretId", id),
        ("RequestClient", "SDK_PYTHON_2.0.15"),
        ("functionName", "hello"),
        ("param", r#"{"name": "云函数 x"}"#),
    ];
    if sig_method == SignatureMethod::HmacSha256 {
        pairs.push(("SignatureMethod", "HmacSHA256"));
    }
    pairs.extend_from_slice(extra);
    let params = scf_bridge::legacy::decode::decode_form(form(&pairs).as_bytes()).unwrap();
    let s = signature::string_to_sign(method, host, signature::LEGACY_PATH, &params);
    let sig = signature::sign(key, sig_method, &s);
    pairs.push(("Signature", &sig));
    form(&pairs)
}

/// A signed HmacSHA1 GET for `host`, sent now; the legacy answer.
async fn signed_get(
    addr: std::net::SocketAddr,
    host: &str,
    id: &str,
    key: &str,
) -> serde_json::Value {
    let q = signed_query("GET", host, id, key, SignatureMethod::HmacSha1, now(), &[]);
    support::get(addr, &format!("/v2/index.php?{q}"))
        .await
        .json()
}

/// A verifying bridge whose clients come from `dir`, re-read every 100 ms.
async fn dir_bridge(upstream: std::net::SocketAddr, dir: &std::path::Path) -> std::net::SocketAddr {
    let endpoint = format!("http://{upstream}");
    let dir_s = dir.display().to_string();
    start_bridge(&[
        ("SCF_BRIDGE__UPSTREAM__ENDPOINT", endpoint.as_str()),
        ("SCF_BRIDGE__AUTH__MODE", "verify"),
        ("SCF_BRIDGE__AUTH__CLIENTS_DIR", dir_s.as_str()),
        ("SCF_BRIDGE__AUTH__RELOAD_INTERVAL_MS", "100"),
    ])
    .await
}

async fn verifying_bridge(
    upstream: std::net::SocketAddr,
    extra: &[(&str, &str)],
) -> std::net::SocketAddr {
    let dir = tempdir("clients");
    std::fs::write(dir.join(CALLER_ID), CALLER_KEY).unwrap();
    let endpoint = format!("http://{upstream}");
    let dir_s = dir.display().to_string();
    let mut env = vec![
        ("SCF_BRIDGE__UPSTREAM__ENDPOINT", endpoint.as_str()),
        ("SCF_BRIDGE__AUTH__MODE", "verify"),
        ("SCF_BRIDGE__AUTH__CLIENTS_DIR", dir_s.as_str()),
    ];
    env.extend_from_slice(extra);
    start_bridge(&env).await
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("scf-bridge-test-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn valid_signatures_pass_for_get_and_post_with_both_methods() {
    let up = mock_upstream(RESULT).await;
    let addr = verifying_bridge(up.addr, &[]).await;
    let host = addr.to_string();
    for m in [SignatureMethod::HmacSha1, SignatureMethod::HmacSha256] {
        let q = signed_query("GET", &host, CALLER_ID, CALLER_KEY, m, now(), &[]);
        let v = support::get(addr, &format!("/v2/index.php?{q}"))
            .await
            .json();
        assert_eq!(v["code"], 0, "GET {m:?}: {v}");
        let b = signed_query("POST", &host, CALLER_ID, CALLER_KEY, m, now(), &[]);
        let v = support::post_form(addr, &b).await.json();
        assert_eq!(v["code"], 0, "POST {m:?}: {v}");
    }
    assert_eq!(up.requests().len(), 4);
}

#[tokio::test]
async fn a_signature_for_the_legacy_host_verifies_when_routed_to_the_bridge() {
    let up = mock_upstream(RESULT).await;
    let addr = verifying_bridge(up.addr, &[]).await;
    let v = signed_get(addr, "scf.api.qcloud.com", CALLER_ID, CALLER_KEY).await;
    assert_eq!(v["code"], 0, "{v}");
}

#[tokio::test]
async fn upstream_self_signs_the_3_0_call_with_the_caller_s_key_and_token() {
    let up = mock_upstream(RESULT).await;
    let addr = verifying_bridge(up.addr, &[]).await;
    let q = signed_query(
        "GET",
        &addr.to_string(),
        CALLER_ID,
        CALLER_KEY,
        SignatureMethod::HmacSha1,
        now(),
        &[("Token", "caller-session-token")],
    );
    let v = support::get(addr, &format!("/v2/index.php?{q}"))
        .await
        .json();
    assert_eq!(v["code"], 0, "{v}");
    let r = &up.requests()[0];
    let h = support::header_map(&r.headers);
    assert_eq!(h["x-tc-token"], "caller-session-token");
    let ts: u64 = h["x-tc-timestamp"].parse().unwrap();
    let host = up.addr.to_string();
    let signed = [
        ("content-type", "application/json"),
        ("host", host.as_str()),
    ];
    let expected = scf_bridge::scf3::tc3::sign(
        &scf_bridge::scf3::tc3::SignableRequest {
            method: "POST",
            uri: "/",
            query: "",
            headers: &signed,
            payload: &r.body,
        },
        &scf_bridge::scf3::tc3::SigningParams {
            secret_id: CALLER_ID,
            secret_key: CALLER_KEY,
            service: "scf",
            timestamp: ts,
        },
    );
    assert_eq!(h["authorization"], expected.authorization);
    // The legacy Token is not a 3.0 body field.
    assert!(!std::str::from_utf8(&r.body).unwrap().contains("Token"));
}

#[tokio::test]
async fn authentication_failures_get_their_codes_and_never_reach_upstream() {
    let up = mock_upstream(RESULT).await;
    let addr = verifying_bridge(up.addr, &[]).await;
    let host = addr.to_string();
    let sha1 = SignatureMethod::HmacSha1;

    let wrong_key = signed_query("GET", &host, CALLER_ID, "not-the-key", sha1, now(), &[]);
    let unknown = signed_query("GET", &host, "AKIDnobody", CALLER_KEY, sha1, now(), &[]);
    let stale = signed_query("GET", &host, CALLER_ID, CALLER_KEY, sha1, now() - 301, &[]);
    // Far enough ahead that the clock ticking on before the bridge checks it
    // (a loaded machine) cannot bring it back inside the window.
    let future = signed_query("GET", &host, CALLER_ID, CALLER_KEY, sha1, now() + 330, &[]);
    let cases = [
        (wrong_key, 4100, "AuthFailure.SignatureFailure"),
        (unknown, 4104, "AuthFailure.SecretIdNotFound"),
        (stale, 4200, "AuthFailure.SignatureExpire"),
        (future, 4200, "AuthFailure.SignatureExpire"),
    ];
    for (q, code, desc) in cases {
        let a = support::get(addr, &format!("/v2/index.php?{q}")).await;
        let v = a.json();
        assert_eq!(v["code"], code, "{v}");
        assert_eq!(v["codeDesc"], desc, "{v}");
        assert!(a.header("x-scf-bridge-error").is_some());
    }
    // A parameter changed after signing.
    let q = signed_query("GET", &host, CALLER_ID, CALLER_KEY, sha1, now(), &[])
        .replace("functionName=hello", "functionName=other");
    let v = support::get(addr, &format!("/v2/index.php?{q}"))
        .await
        .json();
    assert_eq!(v["code"], 4100, "{v}");
    assert_eq!(up.requests().len(), 0, "nothing reached upstream");
}

#[tokio::test]
async fn a_replayed_request_is_4500_and_never_reaches_upstream_twice() {
    let up = mock_upstream(RESULT).await;
    let addr = verifying_bridge(up.addr, &[]).await;
    let q = signed_query(
        "GET",
        &addr.to_string(),
        CALLER_ID,
        CALLER_KEY,
        SignatureMethod::HmacSha256,
        now(),
        &[],
    );
    let first = support::get(addr, &format!("/v2/index.php?{q}"))
        .await
        .json();
    assert_eq!(first["code"], 0, "{first}");
    let again = support::get(addr, &format!("/v2/index.php?{q}"))
        .await
        .json();
    assert_eq!(again["code"], 4500, "{again}");
    assert_eq!(again["codeDesc"], "AuthFailure.ReplayAttack");
    assert_eq!(up.requests().len(), 1);
}

#[tokio::test]
async fn missing_auth_parameters_are_named() {
    let up = mock_upstream(RESULT).await;
    let addr = verifying_bridge(up.addr, &[]).await;
    let ts = now().to_string();
    let full = [
        ("SecretId", CALLER_ID),
        ("Signature", "abc="),
        ("Timestamp", ts.as_str()),
        ("Nonce", "1"),
    ];
    for skip in ["SecretId", "Signature", "Timestamp", "Nonce"] {
        let mut pairs = vec![("Action", "InvokeFunction"), ("functionName", "hello")];
        pairs.extend(full.iter().filter(|(k, _)| *k != skip).copied());
        let v = support::get(addr, &format!("/v2/index.php?{}", form(&pairs)))
            .await
            .json();
        assert_eq!(v["code"], 4100, "{skip}: {v}");
        assert!(v["message"].as_str().unwrap().contains(skip), "{skip}: {v}");
    }
    assert_eq!(up.requests().len(), 0);
}

#[tokio::test]
async fn nonce_zero_is_accepted() {
    let up = mock_upstream(RESULT).await;
    let addr = verifying_bridge(up.addr, &[]).await;
    let ts = now().to_string();
    let mut pairs = vec![
        ("Action", "InvokeFunction"),
        ("functionName", "hello"),
        ("SecretId", CALLER_ID),
        ("Timestamp", ts.as_str()),
        ("Nonce", "0"),
    ];
    let params = scf_bridge::legacy::decode::decode_form(form(&pairs).as_bytes()).unwrap();
    let s = signature::string_to_sign("GET", &addr.to_string(), signature::LEGACY_PATH, &params);
    let sig = signature::sign(CALLER_KEY, SignatureMethod::HmacSha1, &s);
    pairs.push(("Signature", &sig));
    let v = support::get(addr, &format!("/v2/index.php?{}", form(&pairs)))
        .await
        .json();
    assert_eq!(v["code"], 0, "{v}");
}

#[tokio::test]
async fn key_rotation_through_the_directory_loses_no_request() {
    let up = mock_upstream(RESULT).await;
    let dir = tempdir("rotation");
    std::fs::write(dir.join("AKIDold"), "old-key").unwrap();
    let addr = dir_bridge(up.addr, &dir).await;
    let host = addr.to_string();
    let send = |id: &'static str, key: &'static str| signed_get(addr, &host, id, key);
    // The client keeps calling with the old key while the new one is added.
    std::fs::write(dir.join(".AKIDnew.tmp"), "new-key").unwrap();
    std::fs::rename(dir.join(".AKIDnew.tmp"), dir.join("AKIDnew")).unwrap();
    let mut switched = false;
    for _ in 0..50 {
        let v = send("AKIDold", "old-key").await;
        assert_eq!(v["code"], 0, "old key during rotation: {v}");
        let v = send("AKIDnew", "new-key").await;
        if v["code"] == 0 {
            switched = true;
            break;
        }
        assert_eq!(v["code"], 4104, "not yet loaded: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(switched, "the new key was picked up without a restart");
    // The client has moved over; the old key is retired.
    std::fs::remove_file(dir.join("AKIDold")).unwrap();
    let mut retired = false;
    for _ in 0..50 {
        let v = send("AKIDnew", "new-key").await;
        assert_eq!(v["code"], 0, "new key after rotation: {v}");
        if send("AKIDold", "old-key").await["code"] == 4104 {
            retired = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(retired, "the removed key stops working");
}

#[tokio::test]
async fn a_broken_key_directory_keeps_the_current_set() {
    let up = mock_upstream(RESULT).await;
    let dir = tempdir("broken");
    std::fs::write(dir.join(CALLER_ID), CALLER_KEY).unwrap();
    let addr = dir_bridge(up.addr, &dir).await;
    std::fs::write(dir.join("AKIDempty"), "").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let v = signed_get(addr, &addr.to_string(), CALLER_ID, CALLER_KEY).await;
    assert_eq!(v["code"], 0, "old set kept: {v}");
}

#[test]
fn auth_none_is_refused_off_loopback_without_the_override() {
    let e = scf_bridge::config::Settings::load_with_env(
        None,
        support::env(&[
            ("SCF_BRIDGE__SERVER__LISTEN", "0.0.0.0:8080"),
            ("SCF_BRIDGE__AUTH__MODE", "none"),
        ]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("auth.mode"), "{e}");
    let ok = scf_bridge::config::Settings::load_with_env(
        None,
        support::env(&[
            ("SCF_BRIDGE__SERVER__LISTEN", "0.0.0.0:8080"),
            ("SCF_BRIDGE__AUTH__MODE", "none"),
            ("SCF_BRIDGE__AUTH__ALLOW_UNAUTHENTICATED", "true"),
            (
                "SCF_BRIDGE__UPSTREAM__ENDPOINT",
                "https://scf.tencentcloudapi.com",
            ),
        ]),
    );
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn the_embedded_emulator_is_refused_off_loopback_without_the_override() {
    let listen = ("SCF_BRIDGE__SERVER__LISTEN", "0.0.0.0:8080");
    let none = ("SCF_BRIDGE__AUTH__MODE", "none");
    let unauthenticated = ("SCF_BRIDGE__AUTH__ALLOW_UNAUTHENTICATED", "true");
    let e = scf_bridge::config::Settings::load_with_env(
        None,
        support::env(&[listen, none, unauthenticated]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("upstream.endpoint"), "{e}");
    assert!(e.contains("allow_embedded_off_loopback"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    let ok = scf_bridge::config::Settings::load_with_env(
        None,
        support::env(&[
            listen,
            none,
            unauthenticated,
            ("SCF_BRIDGE__UPSTREAM__ALLOW_EMBEDDED_OFF_LOOPBACK", "true"),
        ]),
    );
    assert!(ok.is_ok(), "{ok:?}");
    // On loopback it needs nothing.
    assert!(scf_bridge::config::Settings::load_with_env(None, support::env(&[])).is_ok());
}

#[test]
fn the_default_becomes_verify_off_loopback() {
    use scf_bridge::auth::AuthMode;
    let s = scf_bridge::config::Settings::load_with_env(None, support::env(&[])).unwrap();
    assert_eq!(s.auth_mode(), AuthMode::None);
    // Off loopback, the default verifies — and so needs clients.
    let e = scf_bridge::config::Settings::load_with_env(
        None,
        support::env(&[("SCF_BRIDGE__SERVER__LISTEN", "0.0.0.0:8080")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("auth.clients"), "{e}");
}

#[tokio::test]
async fn a_full_replay_memory_refuses_instead_of_forgetting() {
    let up = mock_upstream(RESULT).await;
    // One client may fill the whole memory here (its share is 100%).
    let addr = verifying_bridge(
        up.addr,
        &[
            ("SCF_BRIDGE__AUTH__REPLAY_CAPACITY", "2"),
            ("SCF_BRIDGE__AUTH__REPLAY_CLIENT_SHARE_PERCENT", "100"),
        ],
    )
    .await;
    let host = addr.to_string();
    let q: Vec<String> = (0..3)
        .map(|_| {
            signed_query(
                "GET",
                &host,
                CALLER_ID,
                CALLER_KEY,
                SignatureMethod::HmacSha1,
                now(),
                &[],
            )
        })
        .collect();
    for q in &q[..2] {
        let v = support::get(addr, &format!("/v2/index.php?{q}"))
            .await
            .json();
        assert_eq!(v["code"], 0, "{v}");
    }
    let a = support::get(addr, &format!("/v2/index.php?{}", q[2])).await;
    let v = a.json();
    assert_eq!(v["code"], 4400, "{v}");
    assert_eq!(a.header("x-scf-bridge-error"), Some("replay-memory-full"));
    // The remembered ones are still refused as replays, not forgotten.
    let v = support::get(addr, &format!("/v2/index.php?{}", q[0]))
        .await
        .json();
    assert_eq!(v["code"], 4500, "{v}");
    assert_eq!(up.requests().len(), 2);
}

#[tokio::test]
async fn an_unsigned_at_value_in_a_post_is_4100_and_never_reaches_upstream() {
    let up = mock_upstream(RESULT).await;
    let addr = verifying_bridge(up.addr, &[]).await;
    let host = addr.to_string();
    let sha1 = SignatureMethod::HmacSha1;
    // Signed without `namespace` (the legacy rule leaves `@` values out of
    // the string to sign), then sent with it: the signature still verifies.
    let b = signed_query("POST", &host, CALLER_ID, CALLER_KEY, sha1, now(), &[]);
    let b = format!("{b}&namespace=%40evil");
    let a = support::post_form(addr, &b).await;
    let v = a.json();
    assert_eq!(v["code"], 4100, "{v}");
    assert_eq!(v["codeDesc"], "AuthFailure.SignatureFailure", "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("`namespace`"),
        "{v}"
    );
    assert_eq!(up.requests().len(), 0, "nothing reached upstream");
    // The same value in a GET is signed like any other.
    let q = signed_query(
        "GET",
        &host,
        CALLER_ID,
        CALLER_KEY,
        sha1,
        now(),
        &[("namespace", "@fine")],
    );
    let v = support::get(addr, &format!("/v2/index.php?{q}"))
        .await
        .json();
    assert_eq!(v["code"], 0, "{v}");
}
