//! Criterion micro-benchmarks of the per-request CPU work of the bridge, each
//! at 256 B, 1 KB, 16 KB and 1 MB of payload:
//!
//! * `tc3_sign`: TC3-HMAC-SHA256 over an `Invoke` body of that size, deriving
//!   the key every time (`tc3::sign`) and with a cached key
//!   (`tc3::sign_with_key`);
//! * `legacy_sign` / `legacy_verify`: the v1 string to sign plus HmacSHA256
//!   (and HmacSHA1 for `verify`) over an `InvokeFunction` whose `param` has
//!   that size;
//! * `legacy_signature/verify_streamed_sha256`: the same check as the
//!   verifier makes it, the string to sign fed into the HMAC in pieces;
//! * `decode_form`: the form body of that request (and `decode_form_dense`:
//!   a JSON event whose punctuation makes most of the wire `%XX` escapes);
//! * `verify_path`: decode, read the request, verify its signature with
//!   `auth::Verifier` and parse the action (moving `param` out), as the
//!   walk does;
//! * `map_response`: `invoke::parse_response_ref` +
//!   `invoke_function::from_answer_with` + `LegacyAnswer::to_json` of a 3.0
//!   answer whose `RetMsg` has that size, as the bridge maps it.
//!
//! Run: `cargo bench --bench micro` (add `-- --quick` for a short pass).

use std::hint::black_box;

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use scf_bridge::actions::invoke_function::{self, InvokeFunction};
use scf_bridge::actions::{Action, LegacyParams};
use scf_bridge::auth::clients::ClientSettings;
use scf_bridge::auth::{ClientSet, ReplayMemory, UpstreamIdentity, Verifier};
use scf_bridge::config::Secret;
use scf_bridge::credentials::Swappable;
use scf_bridge::legacy::decode::{decode_form, encode_form};
use scf_bridge::legacy::request::read_common;
use scf_bridge::legacy::signature::{self, SignatureMethod, LEGACY_PATH};
use scf_bridge::scf3::invoke::{self, InvocationType};
use scf_bridge::scf3::tc3;

const SIZES: [(&str, usize); 4] = [
    ("256B", 256),
    ("1KB", 1024),
    ("16KB", 16 * 1024),
    ("1MB", 1024 * 1024),
];

const KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3Cozk1qA";
const HOST: &str = "scf.api.qcloud.com";
const TIMESTAMP: u64 = 1_700_000_000;
const SECRET_ID: &str = "AKIDbenchbenchbenchbenchbench";

/// A JSON event of exactly `size` bytes: `{"data":"xxxx…"}` with a mix of
/// letters, spaces and punctuation, so form encoding has work to do.
fn event(size: usize) -> String {
    const FILL: &[u8] = b"The quick brown fox, 42 jumps over: the lazy dog! ";
    let overhead = r#"{"data":""}"#.len();
    let mut s = String::with_capacity(size);
    s.push_str(r#"{"data":""#);
    for i in 0..size.saturating_sub(overhead) {
        s.push(char::from(FILL[i % FILL.len()]));
    }
    s.push_str(r#""}"#);
    assert_eq!(s.len(), size.max(overhead));
    s
}

/// The legacy form of an `InvokeFunction` call with `param` = `event`,
/// signed with HmacSHA256 as the Python SDK would send it.
fn legacy_form(event: &str) -> String {
    let mut pairs: Vec<(&str, String)> = vec![
        ("Action", "InvokeFunction".into()),
        ("Region", "gz".into()),
        ("Timestamp", TIMESTAMP.to_string()),
        ("Nonce", "48151".into()),
        ("SecretId", SECRET_ID.into()),
        ("SignatureMethod", "HmacSHA256".into()),
        ("functionName", "hello".into()),
        ("invokeType", "RequestResponse".into()),
        ("logType", "None".into()),
        ("param", event.to_owned()),
    ];
    let unsigned = encode_form(pairs.iter().map(|(k, v)| (*k, v.as_str())));
    let params = decode_form(unsigned.as_bytes()).expect("decodes");
    let sts = signature::string_to_sign("POST", HOST, LEGACY_PATH, &params);
    pairs.push((
        "Signature",
        signature::sign(KEY, SignatureMethod::HmacSha256, &sts),
    ));
    encode_form(pairs.iter().map(|(k, v)| (*k, v.as_str())))
}

/// The `Invoke` body the bridge would send for `param` = `event`.
fn invoke_body(event: &str) -> Vec<u8> {
    let f = invoke_function::Request {
        function_name: "hello".into(),
        invoke_type: Some(InvocationType::RequestResponse),
        log_type: None,
        param: Some(event.to_owned()),
        namespace: None,
        version: None,
    };
    invoke_function::invoke_body(&f)
}

/// A 3.0 `Invoke` answer whose `RetMsg` is a JSON string of `size` bytes.
fn invoke_answer(size: usize) -> Vec<u8> {
    let ret_msg = event(size);
    serde_json::to_vec(&serde_json::json!({
        "Response": {
            "Result": {
                "MemUsage": 3_207_168,
                "Log": "",
                "RetMsg": ret_msg,
                "BillDuration": 1,
                "FunctionRequestId": "6add56fa-68d3-4c87-8e1b-6b2e45a0b1f3",
                "Duration": 0.826,
                "ErrMsg": "",
                "InvokeResult": 0
            },
            "RequestId": "c2af8a64-7f3e-4b0a-9d2c-5b2f0b1e6a11"
        }
    }))
    .expect("serializes")
}

fn tc3_sign(c: &mut Criterion) {
    // The work a cached derived key saves on every request: three HMACs.
    let date = tc3::utc_date(TIMESTAMP);
    c.bench_function("tc3_signing_key_derivation", |b| {
        b.iter(|| tc3::signing_key(black_box(KEY), black_box(&date), invoke::SERVICE))
    });
    let mut g = c.benchmark_group("tc3_sign");
    let host = "scf.tencentcloudapi.com";
    let headers = [("content-type", "application/json"), ("host", host)];
    for (name, size) in SIZES {
        let body = invoke_body(&event(size));
        g.throughput(Throughput::Bytes(body.len() as u64));
        let req = tc3::SignableRequest {
            method: "POST",
            uri: "/",
            query: "",
            headers: &headers,
            payload: &body,
        };
        let params = tc3::SigningParams {
            secret_id: "AKIDbenchbenchbenchbenchbench",
            secret_key: KEY,
            service: invoke::SERVICE,
            timestamp: TIMESTAMP,
        };
        g.bench_with_input(BenchmarkId::new("derive_key", name), &req, |b, req| {
            b.iter(|| tc3::sign(black_box(req), black_box(&params)))
        });
        let date = tc3::utc_date(TIMESTAMP);
        let key = tc3::signing_key(KEY, &date, invoke::SERVICE);
        g.bench_with_input(BenchmarkId::new("cached_key", name), &req, |b, req| {
            b.iter(|| {
                tc3::sign_with_key(
                    black_box(req),
                    "AKIDbenchbenchbenchbenchbench",
                    &key,
                    &date,
                    invoke::SERVICE,
                    TIMESTAMP,
                )
            })
        });
    }
    g.finish();
}

fn legacy_signature(c: &mut Criterion) {
    let mut g = c.benchmark_group("legacy_signature");
    for (name, size) in SIZES {
        let form = legacy_form(&event(size));
        let params = decode_form(form.as_bytes()).expect("decodes");
        let sig = params.get("Signature").expect("signed").to_owned();
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("sign_sha256", name), &params, |b, p| {
            b.iter(|| {
                let sts = signature::string_to_sign("POST", HOST, LEGACY_PATH, black_box(p));
                signature::sign(KEY, SignatureMethod::HmacSha256, &sts)
            })
        });
        g.bench_with_input(BenchmarkId::new("verify_sha256", name), &params, |b, p| {
            b.iter(|| {
                let sts = signature::string_to_sign("POST", HOST, LEGACY_PATH, black_box(p));
                assert!(signature::verify(
                    KEY,
                    SignatureMethod::HmacSha256,
                    &sts,
                    &sig
                ));
            })
        });
        // What the verifier does: the string to sign streamed into the HMAC.
        g.bench_with_input(
            BenchmarkId::new("verify_streamed_sha256", name),
            &params,
            |b, p| {
                b.iter(|| {
                    let to_sign = signature::ToSign::new("POST", black_box(p));
                    assert!(signature::verify_streamed(
                        KEY,
                        SignatureMethod::HmacSha256,
                        &to_sign,
                        HOST,
                        LEGACY_PATH,
                        &sig
                    ));
                })
            },
        );
        let sts = signature::string_to_sign("POST", HOST, LEGACY_PATH, &params);
        let sig1 = signature::sign(KEY, SignatureMethod::HmacSha1, &sts);
        g.bench_with_input(BenchmarkId::new("verify_sha1", name), &params, |b, p| {
            b.iter(|| {
                let sts = signature::string_to_sign("POST", HOST, LEGACY_PATH, black_box(p));
                assert!(signature::verify(
                    KEY,
                    SignatureMethod::HmacSha1,
                    &sts,
                    &sig1
                ));
            })
        });
    }
    g.finish();
}

/// A verifier that knows the benchmark's key; a fresh one per iteration, so
/// the replay memory never refuses the (same) request.
fn bench_verifier() -> Verifier {
    let client = ClientSettings {
        secret_id: SECRET_ID.to_owned(),
        secret_key: Some(Secret::new(KEY)),
        secret_key_file: None,
        upstream: UpstreamIdentity::Caller,
    };
    Verifier {
        clients: Arc::new(Swappable::new(
            ClientSet::load(&[client], None, UpstreamIdentity::Caller).expect("client set"),
        )),
        signing_hosts: vec![HOST.to_owned()],
        max_skew_secs: 300,
        replay: ReplayMemory::new(16, 300),
        not_before: None,
    }
}

/// The bridge's walk up to the translation: decode the form, read the
/// request, verify the HmacSHA256 signature, and end with `param` owned.
fn verify_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify_path");
    for (name, size) in SIZES {
        let form = legacy_form(&event(size));
        g.throughput(Throughput::Bytes(form.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &form, |b, f| {
            b.iter_batched(
                bench_verifier,
                |v| {
                    let params = decode_form(black_box(f.as_bytes())).expect("decodes");
                    let common = read_common(&params).expect("parses");
                    v.verify("POST", Some(HOST), &params, &common, TIMESTAMP)
                        .expect("verifies");
                    InvokeFunction::parse(LegacyParams::new(params)).expect("parses")
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn form_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_form");
    for (name, size) in SIZES {
        let form = legacy_form(&event(size));
        g.throughput(Throughput::Bytes(form.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &form, |b, f| {
            b.iter(|| decode_form(black_box(f.as_bytes())).expect("decodes"))
        });
    }
    g.finish();
    // JSON punctuation everywhere: nearly every other byte on the wire is
    // part of a `%XX` escape.
    let mut g = c.benchmark_group("decode_form_dense");
    for (name, size) in [SIZES[1], SIZES[3]] {
        let form = legacy_form(&dense_event(size));
        g.throughput(Throughput::Bytes(form.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &form, |b, f| {
            b.iter(|| decode_form(black_box(f.as_bytes())).expect("decodes"))
        });
    }
    g.finish();
}

/// A JSON array of small objects of about `size` bytes.
fn dense_event(size: usize) -> String {
    const ITEM: &str = r#"{"id":1234,"ok":true,"tags":["a","b"],"v":[1,2]},"#;
    let mut s = String::from("[");
    while s.len() + ITEM.len() < size {
        s.push_str(ITEM);
    }
    s.push_str("null]");
    s
}

fn map_response(c: &mut Criterion) {
    let mut g = c.benchmark_group("map_response");
    for (name, size) in SIZES {
        let body = invoke_answer(size);
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &body, |b, body| {
            b.iter(|| {
                let outcome = invoke::parse_response_ref(black_box(body)).expect("parses");
                let t = invoke_function::from_answer_with(
                    outcome,
                    InvocationType::RequestResponse,
                    invoke_function::SyncShape::default(),
                );
                t.answer.to_json()
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    tc3_sign,
    legacy_signature,
    form_decode,
    verify_path,
    map_response
);
criterion_main!(benches);
