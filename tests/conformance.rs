//! The official vectors in `tests/vectors/legacy/` (every step
//! asserted on its own) and property tests tying [`decode_form`] to the
//! Python SDK's encoding and to the string to sign.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::Value;

use scf_bridge::actions::invoke_function::{self, InvokeFunction};
use scf_bridge::actions::{Action, LegacyParams};
use scf_bridge::legacy::decode::{decode_form, encode_form, Params};
use scf_bridge::legacy::request::read_common;
use scf_bridge::legacy::signature::{
    sign, sign_streamed, string_to_sign, verify, verify_streamed, SignatureMethod, ToSign,
    LEGACY_PATH,
};
use scf_bridge::scf3::invoke::{InvocationType, LogType};

/// `InvokeFunction`'s request read from `params`.
fn invoke(params: Params) -> invoke_function::Request {
    InvokeFunction::parse(LegacyParams::new(params)).unwrap()
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/legacy")
}

fn read(dir: &Path, file: &str) -> String {
    let path = dir.join(file);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.strip_suffix('\n').unwrap_or(&text).to_owned()
}

/// Every case the reference lists; a folder going missing fails the test.
const SIGNING_CASES: &[&str] = &[
    "v0-doc-oldest-get-sha1",
    "v1-doc-srcstr-get-sha1",
    "v2-doc-underscore-key-get-sha256",
    "v3-doc-underscore-key-get-sha1",
    "v4-sdk-post-sha1",
    "v4-sdk-get-sha1",
    "v4-sdk-post-sha256",
    "scf-get-sha1",
    "scf-post-sha1",
    "scf-get-sha256",
    "scf-get-sha1-utf8-space",
    "scf-post-sha1-at-value-excluded",
    "scf-get-sha1-at-value-included",
];

const DECODING_CASES: &[&str] = &["wire-python-sdk-captured-get", "wire-doc-real-case-get"];

struct SigningCase {
    name: String,
    params: Params,
    method: String,
    host: String,
    path: String,
    secret_key: String,
    signature_method: SignatureMethod,
    string_to_sign: String,
    signature: String,
}

fn signing_case(name: &str) -> SigningCase {
    let dir = vectors_dir().join(name);
    let params = decode_form(read(&dir, "params.txt").as_bytes())
        .unwrap_or_else(|e| panic!("{name}: params.txt: {e}"));
    let context: Value = serde_json::from_str(&read(&dir, "context.json")).unwrap();
    let field = |k: &str| {
        context[k]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: context.json lacks `{k}`"))
            .to_owned()
    };
    let signature_method = match field("signature_method").as_str() {
        "HmacSHA1" => SignatureMethod::HmacSha1,
        "HmacSHA256" => SignatureMethod::HmacSha256,
        other => panic!("{name}: signature_method {other}"),
    };
    SigningCase {
        name: name.to_owned(),
        params,
        method: field("method"),
        host: field("host"),
        path: field("path"),
        secret_key: field("secret_key"),
        signature_method,
        string_to_sign: read(&dir, "string-to-sign.txt"),
        signature: read(&dir, "signature.txt"),
    }
}

#[test]
fn vector_folders_are_exactly_the_listed_cases() {
    let mut found: Vec<String> = fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    found.sort();
    let mut listed: Vec<String> = SIGNING_CASES
        .iter()
        .chain(DECODING_CASES)
        .map(|s| (*s).to_owned())
        .collect();
    listed.sort();
    assert_eq!(found, listed);
}

#[test]
fn vectors_signature_method_resolves_from_the_parameter() {
    for c in SIGNING_CASES.iter().map(|n| signing_case(n)) {
        assert_eq!(
            SignatureMethod::from_param(c.params.get("SignatureMethod")),
            c.signature_method,
            "{}",
            c.name
        );
    }
}

#[test]
fn vectors_string_to_sign() {
    for c in SIGNING_CASES.iter().map(|n| signing_case(n)) {
        assert_eq!(c.path, LEGACY_PATH, "{}", c.name);
        assert_eq!(
            string_to_sign(&c.method, &c.host, &c.path, &c.params),
            c.string_to_sign,
            "{}",
            c.name
        );
    }
}

#[test]
fn vectors_signature() {
    for c in SIGNING_CASES.iter().map(|n| signing_case(n)) {
        assert_eq!(
            sign(&c.secret_key, c.signature_method, &c.string_to_sign),
            c.signature,
            "{}",
            c.name
        );
    }
}

#[test]
fn vectors_signature_on_the_wire_decodes_to_the_documented_one() {
    for c in SIGNING_CASES.iter().map(|n| signing_case(n)) {
        assert_eq!(
            c.params.get("Signature"),
            Some(c.signature.as_str()),
            "{}",
            c.name
        );
    }
}

#[test]
fn vectors_verify_end_to_end_and_reject_tampering() {
    for c in SIGNING_CASES.iter().map(|n| signing_case(n)) {
        let sent = c.params.get("Signature").unwrap();
        let s = string_to_sign(&c.method, &c.host, LEGACY_PATH, &c.params);
        assert!(
            verify(&c.secret_key, c.signature_method, &s, sent),
            "{}",
            c.name
        );
        let other_host = string_to_sign(&c.method, "evil.example", LEGACY_PATH, &c.params);
        assert!(
            !verify(&c.secret_key, c.signature_method, &other_host, sent),
            "{}",
            c.name
        );
        assert!(!verify("wrong", c.signature_method, &s, sent), "{}", c.name);
    }
}

#[test]
fn vectors_streamed_string_to_sign_and_signature() {
    // What the verifier does: the string to sign fed into the HMAC piece by
    // piece. The pieces join to the vector's string to sign, and the
    // streamed MAC is the vector's signature, the MAC of the built string.
    for c in SIGNING_CASES.iter().map(|n| signing_case(n)) {
        let to_sign = ToSign::new(&c.method, &c.params);
        let mut pieces = String::new();
        to_sign.write(&c.host, &c.path, |p| pieces.push_str(p));
        assert_eq!(pieces, c.string_to_sign, "{}", c.name);
        assert_eq!(
            to_sign.len_for(&c.host, &c.path),
            c.string_to_sign.len(),
            "{}",
            c.name
        );
        let streamed = sign_streamed(
            &c.secret_key,
            c.signature_method,
            &to_sign,
            &c.host,
            &c.path,
        );
        assert_eq!(streamed, c.signature, "{}", c.name);
        assert_eq!(
            streamed,
            sign(&c.secret_key, c.signature_method, &c.string_to_sign),
            "{}",
            c.name
        );
        let sent = c.params.get("Signature").unwrap();
        assert!(
            verify_streamed(
                &c.secret_key,
                c.signature_method,
                &to_sign,
                &c.host,
                &c.path,
                sent
            ),
            "{}",
            c.name
        );
        assert!(
            !verify_streamed(
                &c.secret_key,
                c.signature_method,
                &to_sign,
                "evil.example",
                &c.path,
                sent
            ),
            "{}",
            c.name
        );
        assert!(
            !verify_streamed(
                "wrong",
                c.signature_method,
                &to_sign,
                &c.host,
                &c.path,
                sent
            ),
            "{}",
            c.name
        );
    }
}

#[test]
fn a_large_request_verifies_through_the_streamed_path() {
    // Long enough that the string to sign is streamed, not built; signed
    // over the reference string, as a client would.
    let param = r#"{"k": "v & w = 云"}, "#.repeat(3000);
    let pairs: Vec<(String, String)> = [
        ("Action", "InvokeFunction"),
        ("functionName", "f"),
        ("Nonce", "1"),
        ("param", param.as_str()),
        ("zzz", "last"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let host = "scf.api.qcloud.com";
    let reference = reference_string_to_sign("POST", host, &pairs);
    let params =
        decode_form(encode_form(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).as_bytes())
            .unwrap();
    let to_sign = ToSign::new("POST", &params);
    assert!(to_sign.len_for(host, LEGACY_PATH) > 50_000);
    for m in [SignatureMethod::HmacSha1, SignatureMethod::HmacSha256] {
        let sig = sign("key", m, &reference);
        assert_eq!(sign_streamed("key", m, &to_sign, host, LEGACY_PATH), sig);
        assert!(verify_streamed("key", m, &to_sign, host, LEGACY_PATH, &sig));
        let mut tampered = pairs.clone();
        tampered[3].1.push(' ');
        let other = sign("key", m, &reference_string_to_sign("POST", host, &tampered));
        assert!(!verify_streamed(
            "key",
            m,
            &to_sign,
            host,
            LEGACY_PATH,
            &other
        ));
    }
}

#[test]
fn vectors_post_and_get_differ_only_by_the_at_rule_and_method() {
    // The `@` value changes the GET signature but not the POST one.
    let plain = signing_case("scf-post-sha1");
    let with_code = signing_case("scf-post-sha1-at-value-excluded");
    assert_eq!(plain.string_to_sign, with_code.string_to_sign);
    assert_eq!(plain.signature, with_code.signature);
    let get_plain = signing_case("scf-get-sha1");
    let get_code = signing_case("scf-get-sha1-at-value-included");
    assert_ne!(get_plain.signature, get_code.signature);
}

#[test]
fn vectors_scf_requests_parse_as_invoke_function() {
    let c = signing_case("scf-get-sha1-utf8-space");
    let common = read_common(&c.params).unwrap();
    assert_eq!(common.nonce, Some(11886));
    assert_eq!(common.timestamp, Some(1465185768));
    let i = invoke(c.params);
    assert_eq!(i.function_name, "hello");
    assert_eq!(i.param.as_deref(), Some("{\"name\":\"云函数 x\"}"));
    assert_eq!(i.invocation_type(), InvocationType::RequestResponse);
    assert_eq!(i.log_type, Some(LogType::Tail));
}

#[test]
fn vectors_captured_wire_strings_decode_to_the_expected_pairs() {
    for name in DECODING_CASES {
        let dir = vectors_dir().join(name);
        let params = decode_form(read(&dir, "params.txt").as_bytes()).unwrap();
        let expected: Value = serde_json::from_str(&read(&dir, "decoded.json")).unwrap();
        let expected: Vec<(String, String)> =
            serde_json::from_value(expected["pairs"].clone()).unwrap();
        let got: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn python_sdk_wire_format_decodes_plus_as_space_and_keeps_json_escapes() {
    let dir = vectors_dir().join("wire-python-sdk-captured-get");
    let params = decode_form(read(&dir, "params.txt").as_bytes()).unwrap();
    assert_eq!(params.get("param"), Some(r#"{"a": 1, "s": "x y/\u00e9"}"#));
    assert_eq!(
        params.get("Signature"),
        Some("4sP+yc2lPW5UULRV/bv2OvMWs1I=")
    );
    assert_eq!(params.get("RequestClient"), Some("SDK_PYTHON_2.0.15"));
    let i = invoke(params);
    assert_eq!(i.function_name, "hello");
    assert_eq!(i.log_type, Some(LogType::Tail));
}

// ---------------------------------------------------------------------------
// Property tests

/// The string to sign computed straight from the original pairs, the way
/// the reference signing script does: no decoding involved.
fn reference_string_to_sign(method: &str, host: &str, pairs: &[(String, String)]) -> String {
    let mut items: Vec<(String, &str)> = pairs
        .iter()
        .filter(|(k, v)| k != "Signature" && !(method == "POST" && v.starts_with('@')))
        .map(|(k, v)| (k.replace('_', "."), v.as_str()))
        .collect();
    items.sort();
    let query: Vec<String> = items.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}{host}{LEGACY_PATH}?{}",
        method.to_uppercase(),
        query.join("&")
    )
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ +%&=@_.~a-zA-Z0-9云函数é\\-]{0,24}",
        "@[A-Za-z0-9+/=]{0,12}",
        Just(String::new()),
    ]
}

/// Parameter lists with unique keys (also once `_` is read as `.`), in a
/// random wire order.
fn pairs_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(("[A-Za-z_.0-9]{1,12}", value_strategy()), 0..16)
        .prop_map(|raw| {
            let mut seen = std::collections::HashSet::new();
            raw.into_iter()
                .filter(|(k, _)| seen.insert(k.replace('_', ".")))
                .collect::<Vec<_>>()
        })
        .prop_shuffle()
}

fn form_bytes_strategy() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        any::<u8>(),
        Just(b'%'),
        Just(b'&'),
        Just(b'='),
        Just(b'+'),
        Just(b'_'),
        b'0'..=b'9',
        b'A'..=b'F',
        0x80u8..=0xBF,
        0xC2u8..=0xF4,
    ];
    proptest::collection::vec(byte, 0..200)
}

proptest! {
    #[test]
    fn prop_sdk_encoded_params_decode_to_the_same_string_to_sign(
        pairs in pairs_strategy(),
        method in prop_oneof![Just("GET"), Just("POST")],
    ) {
        let wire = encode_form(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let params = decode_form(wire.as_bytes()).unwrap();
        let decoded: Vec<(String, String)> =
            params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        prop_assert_eq!(&decoded, &pairs);
        prop_assert_eq!(
            string_to_sign(method, "scf.api.qcloud.com", LEGACY_PATH, &params),
            reference_string_to_sign(method, "scf.api.qcloud.com", &pairs)
        );
    }

    #[test]
    fn prop_streamed_mac_is_the_mac_of_the_built_string(
        pairs in pairs_strategy(),
        // Strings to sign on both sides of `BUILD_MAX` (4096 bytes): built,
        // or streamed piece by piece.
        long in proptest::option::of(prop_oneof![
            "[a-z {}\":,]{200,700}",
            "[a-z {}\":,]{3900,4400}",
            "[a-z {}\":,]{5000,9000}",
        ]),
        method in prop_oneof![
            Just("GET"), Just("POST"), Just("post"), Just("Get"), Just("PATCH"), Just("ǆelete"),
        ],
        host in prop_oneof![Just("scf.api.qcloud.com".to_owned()), any::<String>()],
        key in any::<String>(),
        sha256 in any::<bool>(),
    ) {
        let m = if sha256 { SignatureMethod::HmacSha256 } else { SignatureMethod::HmacSha1 };
        let mut pairs = pairs;
        if let Some(v) = long {
            if !pairs.iter().any(|(k, _)| k.replace('_', ".") == "zzlong") {
                pairs.push(("zzlong".into(), v));
            }
        }
        let params = Params::from_pairs(pairs.iter().map(|(k, v)| (k, v))).unwrap();
        let built = string_to_sign(method, &host, LEGACY_PATH, &params);
        prop_assert_eq!(&built, &reference_string_to_sign(method, &host, &pairs));
        let to_sign = ToSign::new(method, &params);
        prop_assert_eq!(to_sign.len_for(&host, LEGACY_PATH), built.len());
        let streamed = sign_streamed(&key, m, &to_sign, &host, LEGACY_PATH);
        prop_assert_eq!(&streamed, &sign(&key, m, &built));
        prop_assert!(verify_streamed(&key, m, &to_sign, &host, LEGACY_PATH, &streamed));
        // A signature made over a different string fails both ways alike.
        let other = sign(&key, m, &format!("{built}x"));
        prop_assert!(!verify_streamed(&key, m, &to_sign, &host, LEGACY_PATH, &other));
        prop_assert!(!verify(&key, m, &built, &other));
    }

    #[test]
    fn prop_param_moved_out_of_the_decoded_text_is_the_decoded_value(
        pairs in pairs_strategy(),
        with_param in proptest::option::of(value_strategy()),
        function in proptest::option::of(value_strategy()),
    ) {
        let mut pairs: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(k, _)| !["param", "functionName", "Action"].contains(&k.as_str()))
            .collect();
        pairs.push(("Action".into(), "InvokeFunction".into()));
        if let Some(f) = function {
            pairs.push(("functionName".into(), f));
        }
        if let Some(p) = with_param {
            pairs.push(("param".into(), p));
        }
        let wire = encode_form(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let params = decode_form(wire.as_bytes()).unwrap();
        let copied = params.get("param").filter(|v| !v.is_empty()).map(str::to_owned);
        let other = params.get("namespace").filter(|v| !v.is_empty()).map(str::to_owned);
        match InvokeFunction::parse(LegacyParams::new(params)) {
            Ok(r) => {
                prop_assert_eq!(r.param, copied);
                prop_assert_eq!(r.namespace, other);
            }
            Err(e) => prop_assert!(e.detail.contains("functionName"), "{}", e.detail),
        }
    }

    #[test]
    fn prop_decode_form_never_panics_on_arbitrary_bytes(input in form_bytes_strategy()) {
        let _ = decode_form(&input);
    }

    #[test]
    fn prop_decode_form_never_panics_on_any_bytes(
        input in proptest::collection::vec(any::<u8>(), 0..300)
    ) {
        let _ = decode_form(&input);
    }

    #[test]
    fn prop_decoded_params_reencode_to_the_same_params(input in form_bytes_strategy()) {
        if let Ok(params) = decode_form(&input) {
            prop_assert!(params.iter().all(|(k, _)| !k.is_empty()));
            let again = decode_form(encode_form(params.iter()).as_bytes()).unwrap();
            prop_assert_eq!(&again, &params);
            let _ = string_to_sign("POST", "h", LEGACY_PATH, &params);
        }
    }

    #[test]
    fn prop_signed_request_verifies_and_any_changed_value_does_not(
        pairs in pairs_strategy().prop_filter("needs a signed pair", |p| {
            p.iter().any(|(k, _)| k != "Signature")
        }),
        sha256 in any::<bool>(),
    ) {
        let method = if sha256 { SignatureMethod::HmacSha256 } else { SignatureMethod::HmacSha1 };
        let params = Params::from_pairs(pairs.iter().map(|(k, v)| (k, v))).unwrap();
        let s = string_to_sign("GET", "h", LEGACY_PATH, &params);
        let sig = sign("key", method, &s);
        prop_assert!(verify("key", method, &s, &sig));
        let changed: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| if k == "Signature" { (k.clone(), v.clone()) } else { (k.clone(), format!("{v}x")) })
            .collect();
        let changed = Params::from_pairs(changed.iter().map(|(k, v)| (k, v))).unwrap();
        let s2 = string_to_sign("GET", "h", LEGACY_PATH, &changed);
        prop_assert!(!verify("key", method, &s2, &sig));
    }
}
