//! Property tests over the two places where outside input decides what the
//! bridge says:
//!
//! - the response mapper: whatever an SCF 3.0 endpoint answers with HTTP 200
//!   (any JSON tree, any bytes, envelopes that almost fit), the legacy answer
//!   is well formed — checked on the pure functions and, for fewer cases,
//!   through a running bridge over real sockets;
//! - the legacy decoder and verifier: a request as the legacy SDK sends it
//!   (`quote_plus`-encoded, signed with the client's key), for arbitrary
//!   parameters, passes `auth::Verifier`; changing any one character of any
//!   one value makes it fail unless the legacy rules leave that value
//!   unsigned. (`src/legacy/conformance.rs` already ties `decode_form` to
//!   the SDK's encoding and to the string to sign; this adds the verifier
//!   with its hosts, clock and replay memory, and single-character changes.)

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Number, Value};

use scf_bridge::actions::invoke_function::{from_answer_with, from_outcome_with, SyncShape};
use scf_bridge::auth::clients::ClientSettings;
use scf_bridge::auth::{ClientSet, ReplayMemory, Signer, UpstreamIdentity, Verifier};
use scf_bridge::config::Secret;
use scf_bridge::credentials::Swappable;
use scf_bridge::error::{BridgeError, ErrorKind};
use scf_bridge::legacy::decode::decode_form;
use scf_bridge::legacy::request::read_common;
use scf_bridge::legacy::signature::{sign, SignatureMethod, LEGACY_PATH};
use scf_bridge::scf3::invoke::{
    parse_response, parse_response_ref, InvocationType as InvokeType, Outcome,
};

// ---------------------------------------------------------------------------
// The response mapper

const SYNC_KEYS: [&str; 8] = [
    "requestId",
    "duration",
    "billDuration",
    "memUsage",
    "log",
    "retMsg",
    "errMsg",
    "invokeResult",
];

/// A well-formed legacy answer: a JSON object with integer `code`, string
/// `message` and `codeDesc`, in that order, and `data` exactly when `code`
/// is 0 — then the 8 sync keys (strings and numbers) or only the async
/// `requestId`. Returns the parsed answer.
fn assert_well_formed(bytes: &[u8], invoke_type: InvokeType) -> Value {
    let v: Value = serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "the answer is not JSON ({e}): {:?}",
            String::from_utf8_lossy(bytes)
        )
    });
    let o = v.as_object().expect("the answer is an object");
    let keys: Vec<&str> = o.keys().map(String::as_str).collect();
    let code = o["code"].as_i64().expect("`code` is an integer");
    assert!(o["message"].is_string(), "{v}");
    assert!(o["codeDesc"].is_string(), "{v}");
    if code != 0 {
        assert_eq!(keys, ["code", "message", "codeDesc"], "{v}");
        return v;
    }
    assert_eq!(keys, ["code", "message", "codeDesc", "data"], "{v}");
    assert_eq!(o["message"], "", "{v}");
    assert_eq!(o["codeDesc"], "Success", "{v}");
    let data = o["data"].as_object().expect("`data` is an object");
    let data_keys: Vec<&str> = data.keys().map(String::as_str).collect();
    match invoke_type {
        InvokeType::RequestResponse => {
            // With or without the documented aliases.
            let aliases = ["payLoad", "logMsg", "memSize"];
            let with_aliases: Vec<&str> = SYNC_KEYS.iter().chain(&aliases).copied().collect();
            assert!(data_keys == SYNC_KEYS || data_keys == with_aliases, "{v}");
            for k in ["requestId", "log", "retMsg", "errMsg"] {
                assert!(data[k].is_string(), "{k}: {v}");
            }
            for k in ["duration", "billDuration", "memUsage", "invokeResult"] {
                assert!(data[k].is_number(), "{k}: {v}");
            }
        }
        InvokeType::Event => {
            assert_eq!(data_keys, ["requestId"], "{v}");
            assert!(data["requestId"].is_string(), "{v}");
        }
    }
    v
}

/// What the bridge answers for an HTTP-200 body: SCF's answer mapped, or
/// its own bad-response error, exactly as the walk builds it.
fn legacy_answer_for(body: &[u8], invoke_type: InvokeType) -> (Vec<u8>, Option<Outcome>) {
    match parse_response(body) {
        Ok(outcome) => (
            from_outcome_with(
                outcome.clone(),
                invoke_type,
                SyncShape {
                    status_code_result: false,
                    documented_aliases: true,
                },
            )
            .answer
            .to_json(),
            Some(outcome),
        ),
        Err(e) => {
            let e = BridgeError::after_send(
                ErrorKind::UpstreamBadResponse,
                format!("SCF endpoint answered with an unusable body: {e}"),
            );
            (e.to_answer().to_json(), None)
        }
    }
}

/// Both invoke types: well formed, and consistent with what was parsed.
fn check_mapping(body: &[u8]) {
    for t in [InvokeType::RequestResponse, InvokeType::Event] {
        let (answer, outcome) = legacy_answer_for(body, t);
        let v = assert_well_formed(&answer, t);
        match outcome {
            Some(Outcome::Result { .. }) => assert_eq!(v["code"], 0, "{v}"),
            Some(Outcome::Error { code, .. }) => {
                assert_ne!(v["code"], 0, "{v}");
                assert_eq!(v["codeDesc"], code.as_str(), "{v}");
            }
            None => {
                assert_eq!(v["code"], 6000, "{v}");
                assert_eq!(v["codeDesc"], "InternalError", "{v}");
            }
        }
    }
}

/// Names from the 3.0 envelope, so random trees often hit its structure.
const ENVELOPE_NAMES: &[&str] = &[
    "Response",
    "Result",
    "Error",
    "Code",
    "Message",
    "RequestId",
    "FunctionRequestId",
    "RetMsg",
    "Log",
    "ErrMsg",
    "Duration",
    "BillDuration",
    "MemUsage",
    "InvokeResult",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(ENVELOPE_NAMES).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        any::<String>().prop_map(Value::String),
        proptest::sample::select(ENVELOPE_NAMES).prop_map(|s| json!(s)),
    ]
}

fn any_json() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(6, 96, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((key(), inner), 0..8)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
        .boxed()
}

/// Right-typed or not: strings, numbers, nulls, or anything.
fn field_value() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        Just(Value::Null),
        any_json(),
    ]
    .boxed()
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
    ]
}

fn string() -> impl Strategy<Value = Value> {
    any::<String>().prop_map(Value::String)
}

/// A field mostly as SCF sends it, sometimes absent, null or of any type,
/// so that whole envelopes are often right and often just wrong.
fn field(right: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        14 => right.prop_map(Some),
        4 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => field_value().prop_map(Some),
    ]
    .boxed()
}

fn object(fields: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect(),
    )
}

/// `{"Response":{"Result"?,"Error"?,"RequestId"?}}` with every field
/// maybe missing, null, or of the wrong type.
fn near_miss_envelope() -> BoxedStrategy<Value> {
    let result = (
        (
            field(string()),
            field(number()),
            field(number()),
            field(number()),
        ),
        (
            field(string()),
            field(string()),
            field(string()),
            field(number()),
        ),
        proptest::option::weighted(0.2, any_json()),
    )
        .prop_map(
            |((id, duration, bill, mem), (log, ret, err, invoke), extra)| {
                object(vec![
                    ("FunctionRequestId", id),
                    ("Duration", duration),
                    ("BillDuration", bill),
                    ("MemUsage", mem),
                    ("Log", log),
                    ("RetMsg", ret),
                    ("ErrMsg", err),
                    ("InvokeResult", invoke),
                    ("Unknown", extra),
                ])
            },
        );
    let error = (field(string()), field(string()))
        .prop_map(|(code, message)| object(vec![("Code", code), ("Message", message)]));
    (
        field(result),
        prop_oneof![3 => Just(None), 1 => field(error)],
        field(string()),
    )
        .prop_map(|(result, error, request_id)| {
            json!({"Response": object(vec![
                ("Result", result),
                ("Error", error),
                ("RequestId", request_id),
            ])})
        })
        .boxed()
}

/// JSON number literals serde_json may refuse or keep only approximately:
/// huge integers, tiny and huge exponents, negative zero.
fn number_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,40}",
        "-?[0-9]{1,20}\\.[0-9]{1,30}",
        "-?[0-9]{1,3}(\\.[0-9]{1,5})?[eE][+-]?[0-9]{1,4}",
        Just("-0".to_owned()),
        Just("-0.0".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("-9223372036854775809".to_owned()),
        Just("1e309".to_owned()),
        Just("4.9e-325".to_owned()),
    ]
}

fn envelope_with_number() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::sample::select(&[
            "Duration",
            "BillDuration",
            "MemUsage",
            "InvokeResult",
            "RetMsg",
        ][..]),
        number_literal(),
    )
        .prop_map(|(field, n)| {
            format!(r#"{{"Response":{{"Result":{{"FunctionRequestId":"f","{field}":{n}}},"RequestId":"r"}}}}"#)
                .into_bytes()
        })
}

proptest! {
    #![proptest_config(Config::with_cases(512))]

    #[test]
    fn any_json_tree_maps_to_a_well_formed_answer(v in any_json()) {
        check_mapping(&serde_json::to_vec(&v).unwrap());
        // And the same tree as the whole Response.
        check_mapping(&serde_json::to_vec(&json!({"Response": v})).unwrap());
    }

    #[test]
    fn any_bytes_map_to_a_well_formed_answer(
        body in proptest::collection::vec(any::<u8>(), 0..512)
    ) {
        check_mapping(&body);
    }

    #[test]
    fn near_miss_envelopes_map_to_a_well_formed_answer(v in near_miss_envelope()) {
        check_mapping(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn extreme_numbers_map_to_a_well_formed_answer(body in envelope_with_number()) {
        check_mapping(&body);
    }
}

// ---------------------------------------------------------------------------
// The legacy answer written straight from SCF's buffer, against serde_json

/// The four shapes of a synchronous answer.
const SHAPES: [SyncShape; 4] = [
    SyncShape {
        status_code_result: false,
        documented_aliases: false,
    },
    SyncShape {
        status_code_result: true,
        documented_aliases: false,
    },
    SyncShape {
        status_code_result: false,
        documented_aliases: true,
    },
    SyncShape {
        status_code_result: true,
        documented_aliases: true,
    },
];

/// The success answer as serde_json writes it for a `serde_json::Value`
/// built here, independently of the bridge's writer, from the owned
/// reading (`parse_response`) by the legacy rules (docs/protocol.md,
/// "Answers"): the keys in order, the zero value of what SCF left out
/// (`duration` the float 0.0), `invokeResult` 200 read as 0 from 3.0
/// `InvokeFunction`, the documented aliases last. `None` when the body is
/// not a success.
fn oracle(body: &[u8], invoke_type: InvokeType, shape: SyncShape) -> Option<Vec<u8>> {
    let Ok(Outcome::Result { result: r, .. }) = parse_response(body) else {
        return None;
    };
    let text = |s: &Option<String>| Value::String(s.clone().unwrap_or_default());
    let number = |n: &Option<Number>| Value::Number(n.clone().unwrap_or_else(|| 0.into()));
    let data = match invoke_type {
        InvokeType::Event => json!({"requestId": text(&r.function_request_id)}),
        InvokeType::RequestResponse => {
            let invoke_result = match &r.invoke_result {
                Some(n) if shape.status_code_result && n.as_i64() == Some(200) => json!(0),
                other => number(other),
            };
            let mut m = Map::new();
            m.insert("requestId".into(), text(&r.function_request_id));
            m.insert(
                "duration".into(),
                match &r.duration {
                    Some(n) => Value::Number(n.clone()),
                    None => json!(0.0),
                },
            );
            m.insert("billDuration".into(), number(&r.bill_duration));
            m.insert("memUsage".into(), number(&r.mem_usage));
            m.insert("log".into(), text(&r.log));
            m.insert("retMsg".into(), text(&r.ret_msg));
            m.insert("errMsg".into(), text(&r.err_msg));
            m.insert("invokeResult".into(), invoke_result);
            if shape.documented_aliases {
                m.insert("payLoad".into(), text(&r.ret_msg));
                m.insert("logMsg".into(), text(&r.log));
                m.insert("memSize".into(), number(&r.mem_usage));
            }
            Value::Object(m)
        }
    };
    let answer = json!({"code": 0, "message": "", "codeDesc": "Success", "data": data});
    Some(serde_json::to_vec(&answer).unwrap())
}

/// The borrowed reading reads what the owned one reads (the same values,
/// `RequestId`, SCF error, or refusal with the same words); the answer
/// written straight from the body is, byte for byte, serde_json's text of
/// the oracle's value; an SCF error maps as from the owned reading.
fn check_written(body: &[u8]) {
    let owned = parse_response(body);
    let borrowed = parse_response_ref(body);
    let as_owned = borrowed.clone().map(|o| match o {
        Outcome::Result { result, request_id } => Outcome::Result {
            result: result.to_result(),
            request_id,
        },
        Outcome::Error {
            code,
            message,
            request_id,
        } => Outcome::Error {
            code,
            message,
            request_id,
        },
    });
    assert_eq!(as_owned, owned, "{:?}", String::from_utf8_lossy(body));
    let Ok(borrowed) = borrowed else {
        return;
    };
    for t in [InvokeType::RequestResponse, InvokeType::Event] {
        for shape in SHAPES {
            let written = from_answer_with(borrowed.clone(), t, shape)
                .answer
                .to_json();
            let want = oracle(body, t, shape).unwrap_or_else(|| {
                let o = owned.clone().unwrap();
                from_outcome_with(o, t, shape).answer.to_json()
            });
            assert_eq!(
                String::from_utf8(written).unwrap(),
                String::from_utf8(want).unwrap(),
                "{t:?} {shape:?} for {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}

/// The JSON text of a string as anyone could write it: raw characters
/// (non-ASCII included), every short escape, `\u` escapes of ASCII,
/// controls, non-ASCII and surrogate pairs, and now and then a lone
/// surrogate (which serde_json refuses).
fn json_string_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => any::<char>()
            .prop_filter("needs no escape", |c| *c != '"' && *c != '\\' && *c >= ' ')
            .prop_map(String::from),
        3 => "[a-zA-Z0-9 <>&'=]{0,12}",
        3 => proptest::sample::select(
            &[
                r#"\n"#, r#"\""#, r#"\\"#, r#"\/"#, r#"\b"#, r#"\f"#, r#"\r"#, r#"\t"#,
                r#"\u0000"#, r#"\u001f"#, r#"\u007f"#, r#"\u00e9"#, r#"\u4E91"#,
                r#"\ud83d\ude00"#, r#"\u2028"#, r#"\u0022"#, r#"\u005c"#, r#"\u0041"#,
            ][..]
        )
        .prop_map(str::to_owned),
        1 => any::<u16>().prop_map(|u| format!("\\u{u:04x}")),
    ];
    proptest::collection::vec(piece, 0..10).prop_map(|v| format!("\"{}\"", v.concat()))
}

/// A `Result` object written by hand: each field absent, null, or of its
/// type (strings from [`json_string_text`], numbers from
/// [`number_literal`]), now and then an unknown field, a key written with
/// an escape, or a field twice.
fn written_result() -> impl Strategy<Value = String> {
    fn maybe(s: impl Strategy<Value = String> + 'static) -> BoxedStrategy<Option<String>> {
        prop_oneof![
            6 => s.prop_map(Some),
            2 => Just(None),
            1 => Just(Some("null".to_owned())),
        ]
        .boxed()
    }
    (
        (
            maybe(json_string_text()),
            maybe(json_string_text()),
            maybe(json_string_text()),
            maybe(json_string_text()),
        ),
        (
            maybe(number_literal()),
            maybe(number_literal()),
            maybe(number_literal()),
            maybe(prop_oneof![
                Just("200".to_owned()),
                Just("200.0".to_owned()),
                number_literal()
            ]),
        ),
        (
            maybe(json_string_text()),
            proptest::option::weighted(
                0.05,
                proptest::sample::select(
                    &[
                        r#""Ret\u004dsg":"escaped key""#,
                        r#""RetMsg":"twice""#,
                        r#""Duration":1"#,
                        r#""X":[[[[[[[[[[[[[[[[[[[[{"a":[1,"\ud83d\ude00"]}]]]]]]]]]]]]]]]]]]]"#,
                    ][..],
                ),
            ),
        ),
    )
        .prop_map(
            |((id, log, ret, err), (duration, bill, mem, invoke), (extra, odd))| {
                let fields = [
                    ("FunctionRequestId", id),
                    ("Log", log),
                    ("RetMsg", ret),
                    ("ErrMsg", err),
                    ("Duration", duration),
                    ("BillDuration", bill),
                    ("MemUsage", mem),
                    ("InvokeResult", invoke),
                    ("Unknown", extra),
                ];
                let mut result: Vec<String> = fields
                    .into_iter()
                    .filter_map(|(k, v)| v.map(|v| format!(r#""{k}":{v}"#)))
                    .collect();
                result.extend(odd.map(str::to_owned));
                format!("{{{}}}", result.join(","))
            },
        )
}

/// A whole answer around a [`written_result`] (at `@`): mostly as SCF sends it,
/// sometimes an envelope that only the careful reading gets right
/// (`Error` beside `Result`, fields twice, escaped or invalid UTF-8 text
/// where nothing is read, a top-level array, trailing bytes, …).
fn written_result_body() -> impl Strategy<Value = Vec<u8>> {
    let envelopes: &[&[u8]] = &[
        br#"{"Response":{"Result":@,"RequestId":"r-1"}}"#,
        br#"{"Response":{"RequestId":"r-1","Error":null,"Result":@}}"#,
        br#" { "Extra" : [1, {"Result": 2}] , "Response" : { "Result" : @ } } "#,
        br#"{"Response":{"Result":@,"Error":{"Code":"InternalError","Message":"m"}}}"#,
        br#"{"Response":{"Result":@,"Error":"x"}}"#,
        br#"{"Response":{"Result":@,"Result":@}}"#,
        br#"{"Response":{"Result":@,"RequestId":"a","RequestId":"b"}}"#,
        br#"{"Response":{"Result":@},"Response":{"Result":@}}"#,
        br#"[{"Response":{"Result":@}}]"#,
        br#"{"Resp\u006fnse":{"Result":@}}"#,
        br#"{"Response":{"Res\u0075lt":@}}"#,
        b"{\"X\":\"\xff\",\"Response\":{\"Result\":@}}",
        b"{\"Response\":{\"X\":\"\xc3\",\"Result\":@}}",
        br#"{"Response":{"Result":@,"RequestId":"r\u0041\n"}}"#,
        br#"{"Response":{"Result":@,"RequestId":"\ud800"}}"#,
        br#"{"Response":{"Result":@,"RequestId":5}}"#,
        br#"{"Response":{"Result":@}} x"#,
        br#"{"Response":[@]}"#,
        br#"{"Response":{"Result":[@]}}"#,
        br#"{"Response":null,"Response":{"Result":@}}"#,
    ];
    (
        written_result(),
        prop_oneof![
            6 => Just(0usize),
            4 => 0..envelopes.len(),
        ],
    )
        .prop_map(move |(result, at)| {
            let mut body = Vec::new();
            for (i, part) in envelopes[at].split(|&b| b == b'@').enumerate() {
                if i > 0 {
                    body.extend_from_slice(result.as_bytes());
                }
                body.extend_from_slice(part);
            }
            body
        })
}

proptest! {
    #![proptest_config(Config::with_cases(512))]

    #[test]
    fn a_written_answer_is_serde_json_s_text_of_the_legacy_value(body in written_result_body()) {
        check_written(&body);
    }

    #[test]
    fn a_written_answer_matches_serde_json_for_near_misses(v in near_miss_envelope()) {
        check_written(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn a_written_answer_matches_serde_json_for_extreme_numbers(body in envelope_with_number()) {
        check_written(&body);
    }

    #[test]
    fn a_written_answer_matches_serde_json_for_any_tree_and_bytes(
        v in any_json(),
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        check_written(&serde_json::to_vec(&json!({"Response": v})).unwrap());
        check_written(&bytes);
    }
}

#[test]
fn the_fuzz_seeds_are_written_as_serde_json_writes_them() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/map_response");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        check_written(&std::fs::read(entry.unwrap().path()).unwrap());
        seen += 1;
    }
    assert!(seen >= 5, "{seen}");
}

#[test]
fn deeply_nested_answers_map_to_a_well_formed_answer() {
    for depth in [127, 128, 129, 10_000] {
        let deep = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        check_mapping(deep.as_bytes());
        check_written(deep.as_bytes());
        let in_result = format!(r#"{{"Response":{{"Result":{{"X":{deep}}},"RequestId":"r"}}}}"#);
        check_mapping(in_result.as_bytes());
        check_written(in_result.as_bytes());
    }
}

/// A scripted SCF 3.0 endpoint answering HTTP 200 with whatever body the
/// test put in `body` last.
async fn scripted_upstream(body: Arc<Mutex<Bytes>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let body = body.clone();
                    async move {
                        let _ = req.into_body().collect().await;
                        let answer = body.lock().unwrap().clone();
                        let mut resp = http::Response::new(Full::new(answer));
                        resp.headers_mut()
                            .insert("content-type", "application/json".parse().unwrap());
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// The same property through a running bridge: for bodies from every
/// strategy above, the HTTP answer is 200 JSON, well formed, equal to the
/// pure mapping, and marked `upstream-bad-response` exactly when SCF's body
/// was unusable.
#[test]
fn through_the_bridge_any_upstream_body_gets_a_well_formed_answer() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body: Arc<Mutex<Bytes>> = Arc::default();
    let bridge = rt.block_on(async {
        let up = scripted_upstream(body.clone()).await;
        support::start_bridge(&[
            ("SCF_BRIDGE__UPSTREAM__ENDPOINT", &format!("http://{up}")),
            ("TENCENTCLOUD_SECRET_ID", "AKIDprop"),
            ("TENCENTCLOUD_SECRET_KEY", "prop-key"),
            // The `Invoke` mapping (3.0 InvokeFunction's is unit-tested).
            ("SCF_BRIDGE__UPSTREAM__SYNC_ACTION", "invoke"),
        ])
        .await
    });
    let bodies = prop_oneof![
        any_json().prop_map(|v| serde_json::to_vec(&json!({"Response": v})).unwrap()),
        near_miss_envelope().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        envelope_with_number(),
        proptest::collection::vec(any::<u8>(), 0..256),
    ];
    let mut runner = TestRunner::new(Config::with_cases(96));
    runner
        .run(&(bodies, any::<bool>()), |(sent, event)| {
            *body.lock().unwrap() = Bytes::from(sent.clone());
            let invoke_type = if event {
                InvokeType::Event
            } else {
                InvokeType::RequestResponse
            };
            let q = support::form(&[
                ("Action", "InvokeFunction"),
                ("functionName", "f"),
                ("invokeType", invoke_type.as_str()),
            ]);
            let a = rt.block_on(async {
                tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    support::get(bridge, &format!("/v2/index.php?{q}")),
                )
                .await
                .expect("the bridge answered")
            });
            prop_assert_eq!(a.status, 200);
            prop_assert_eq!(a.header("content-type"), Some("application/json"));
            assert_well_formed(&a.body, invoke_type);
            let (expected, outcome) = legacy_answer_for(&sent, invoke_type);
            let got: Value = serde_json::from_slice(&a.body).unwrap();
            match outcome {
                Some(_) => {
                    prop_assert_eq!(a.header("x-scf-bridge-error"), None);
                    prop_assert_eq!(&a.body[..], &expected[..]);
                }
                None => {
                    prop_assert_eq!(
                        a.header("x-scf-bridge-error"),
                        Some("upstream-bad-response")
                    );
                    let expected: Value = serde_json::from_slice(&expected).unwrap();
                    prop_assert_eq!(&got["code"], &expected["code"]);
                    let message = got["message"].as_str().unwrap();
                    prop_assert!(message.starts_with(expected["message"].as_str().unwrap()));
                }
            }
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------
// The legacy decoder and verifier

const SECRET_ID: &str = "AKIDpropertyCLIENT";
const SECRET_KEY: &str = "property-client-key";
const SIGNING_HOST: &str = "scf.api.qcloud.com";
const NOW: u64 = 1_700_000_000;

fn verifier() -> Verifier {
    let client = ClientSettings {
        secret_id: SECRET_ID.to_owned(),
        secret_key: Some(Secret::new(SECRET_KEY)),
        secret_key_file: None,
        upstream: UpstreamIdentity::Caller,
    };
    Verifier {
        clients: Arc::new(Swappable::new(
            ClientSet::load(&[client], None, UpstreamIdentity::Caller).unwrap(),
        )),
        signing_hosts: vec![SIGNING_HOST.to_owned()],
        max_skew_secs: 300,
        replay: ReplayMemory::new(64, 300),
        not_before: None,
    }
}

/// The string to sign straight from the pairs the client meant to send,
/// as the legacy SDK computes it: no decoding involved.
fn reference_string_to_sign(method: &str, host: &str, pairs: &[(String, String)]) -> String {
    let mut items: Vec<(String, &str)> = pairs
        .iter()
        .filter(|(k, v)| k != "Signature" && !(method == "POST" && v.starts_with('@')))
        .map(|(k, v)| (k.replace('_', "."), v.as_str()))
        .collect();
    items.sort();
    let query: Vec<String> = items.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{method}{host}{LEGACY_PATH}?{}", query.join("&"))
}

/// What the bridge does with a raw query or form: decode, parse, verify.
fn decode_and_verify(method: &str, host: Option<&str>, wire: &str) -> Result<Signer, String> {
    let params = decode_form(wire.as_bytes()).map_err(|e| e.to_string())?;
    let common = read_common(&params).map_err(|e| e.to_string())?;
    verifier()
        .verify(method, host, &params, &common, NOW)
        .map_err(|e| e.to_string())
}

fn wire(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", support::quote_plus(k), support::quote_plus(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The parameters the verifier or the parser read themselves.
const RESERVED: &[&str] = &[
    "Action",
    "Region",
    "Timestamp",
    "Nonce",
    "SecretId",
    "Signature",
    "SignatureMethod",
    "Token",
    "functionName",
    "invokeType",
    "logType",
    "param",
    "namespace",
    "version",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ +%&=@_.~a-zA-Z0-9云函数é\\-]{0,24}",
        "@[A-Za-z0-9+/=]{0,12}",
        Just(String::new()),
    ]
}

/// A legacy `InvokeFunction` as a client means it, before signing: the
/// required parameters with arbitrary values where the format allows, and
/// arbitrary extra parameters, in random order.
fn legacy_request() -> impl Strategy<Value = Vec<(String, String)>> {
    let extra = proptest::collection::vec(("[A-Za-z_.0-9]{1,12}", value()), 0..10);
    (
        extra,
        "[^\\x00]{1,24}",
        proptest::option::of(value()),
        0..=1u8,
        NOW - 300..=NOW + 300,
        any::<u64>(),
        prop_oneof![Just("gz"), Just("ap-shanghai"), Just("")],
    )
        .prop_map(|(extra, function, param, sha, ts, nonce, region)| {
            let mut pairs = vec![
                ("Action".to_owned(), "InvokeFunction".to_owned()),
                ("SecretId".to_owned(), SECRET_ID.to_owned()),
                ("Timestamp".to_owned(), ts.to_string()),
                ("Nonce".to_owned(), nonce.to_string()),
                ("functionName".to_owned(), function),
                ("Region".to_owned(), region.to_owned()),
            ];
            if sha == 1 {
                pairs.push(("SignatureMethod".to_owned(), "HmacSHA256".to_owned()));
            }
            if let Some(p) = param {
                pairs.push(("param".to_owned(), p));
            }
            let mut seen: std::collections::HashSet<String> =
                pairs.iter().map(|(k, _)| k.clone()).collect();
            for (k, v) in extra {
                if !RESERVED.contains(&k.as_str()) && seen.insert(k.replace('_', ".")) {
                    pairs.push((k, v));
                }
            }
            pairs
        })
        .prop_shuffle()
}

/// Signs `pairs` for `method` and `host` as the SDK does and appends
/// `Signature`.
fn signed(method: &str, host: &str, mut pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    let sha = pairs
        .iter()
        .any(|(k, v)| k == "SignatureMethod" && v == "HmacSHA256");
    let m = if sha {
        SignatureMethod::HmacSha256
    } else {
        SignatureMethod::HmacSha1
    };
    let s = reference_string_to_sign(method, host, &pairs);
    let sig = sign(SECRET_KEY, m, &s);
    pairs.push(("Signature".to_owned(), sig));
    pairs
}

/// Where the request is sent and which host the client signed: the `Host`
/// header itself, or the legacy name while `Host` is the bridge's address
/// (or absent).
fn hosts() -> impl Strategy<Value = (Option<&'static str>, &'static str)> {
    prop_oneof![
        Just((Some(SIGNING_HOST), SIGNING_HOST)),
        Just((Some("127.0.0.1:8080"), "127.0.0.1:8080")),
        Just((Some("127.0.0.1:8080"), SIGNING_HOST)),
        Just((None, SIGNING_HOST)),
    ]
}

fn method() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("GET"), Just("POST")]
}

proptest! {
    #![proptest_config(Config::with_cases(384))]

    #[test]
    fn an_sdk_signed_request_passes_the_verifier_once(
        pairs in legacy_request(),
        (host, signed_for) in hosts(),
        method in method(),
    ) {
        let pairs = signed(method, signed_for, pairs);
        let wire = wire(&pairs);
        let params = decode_form(wire.as_bytes()).unwrap();
        let common = read_common(&params).unwrap();
        let v = verifier();
        match v.verify(method, host, &params, &common, NOW) {
            Ok(Signer::Caller(keys)) => {
                prop_assert_eq!(keys.secret_id, SECRET_ID);
                prop_assert_eq!(keys.secret_key.expose(), SECRET_KEY);
            }
            other => prop_assert!(false, "refused: {:?}", other),
        }
        // The very same request again is a replay.
        let again = v.verify(method, host, &params, &common, NOW);
        prop_assert!(
            matches!(&again, Err(e) if e.kind == ErrorKind::ReplayAttack),
            "{:?}", again
        );
    }

    #[test]
    fn changing_one_character_of_one_value_fails_unless_unsigned(
        pairs in legacy_request(),
        (host, signed_for) in hosts(),
        method in method(),
        which in any::<proptest::sample::Index>(),
        at in any::<proptest::sample::Index>(),
    ) {
        let pairs = signed(method, signed_for, pairs);
        let candidates: Vec<usize> =
            (0..pairs.len()).filter(|&i| !pairs[i].1.is_empty()).collect();
        let i = candidates[which.index(candidates.len())];
        let mut changed = pairs.clone();
        let value: Vec<char> = changed[i].1.chars().collect();
        let j = at.index(value.len());
        // Flip the lowest bit of one character: always a different, valid
        // character (code points ^ 1 never land in the surrogate range).
        let flipped = char::from_u32(value[j] as u32 ^ 1).unwrap();
        changed[i].1 = value
            .iter()
            .enumerate()
            .map(|(n, &c)| if n == j { flipped } else { c })
            .collect();
        let result = decode_and_verify(method, host, &wire(&changed));
        // Only a value the legacy rules do not sign may change: a POST
        // `@`-value that stays one (the legacy file upload).
        let unsigned = changed[i].0 != "Signature"
            && reference_string_to_sign(method, signed_for, &changed)
                == reference_string_to_sign(method, signed_for, &pairs);
        if unsigned {
            prop_assert!(result.is_ok(), "{}: {:?}", pairs[i].0, result);
        } else {
            prop_assert!(
                result.is_err(),
                "`{}` changed from {:?} to {:?} and still verified",
                pairs[i].0, pairs[i].1, changed[i].1
            );
        }
    }
}
