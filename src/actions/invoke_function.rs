//! `InvokeFunction` → 3.0 `Invoke` (docs/protocol.md, "InvokeFunction"):
//! `functionName`, `invokeType`, `logType`, `param`, `namespace`, `version`
//! become `FunctionName`, `InvocationType`, `LogType`, `ClientContext`,
//! `Namespace`, `Qualifier` — only what the caller sent, as SCF's defaults
//! equal the legacy ones. A synchronous `Result` becomes the legacy `data`
//! with lower-camel keys, an asynchronous one just `data.requestId`; a
//! function that failed is still `code` 0 with `errMsg` filled.
//!
//! The bridge's hot path: `param` is moved, never copied, from the decoded
//! form into the 3.0 body, and the answer is parsed borrowed.

use bytes::Bytes;
use serde_json::{Map, Number, Value};

use super::{Action, Failure, LegacyParams, Scf3Client, Subject};
use crate::error::{BridgeError, ErrorKind};
use crate::legacy::answer::LegacyAnswer;
use crate::scf3::envelope::{CallKind, Scf3Error};
use crate::scf3::invoke::{self, InvocationType, InvokeRequest, InvokeResult, LogType, Outcome};
use crate::walk::{DRY_RUN_CODE_DESC, DRY_RUN_MESSAGE};

/// `Action=InvokeFunction`.
pub struct InvokeFunction;

/// `InvokeFunction`'s parameters (docs/protocol.md, "Answers"), checked. An empty
/// optional value reads as absent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `functionName`, non-empty.
    pub function_name: String,
    /// `invokeType` when sent (`RequestResponse` or `Event`).
    pub invoke_type: Option<InvocationType>,
    /// `logType` when sent (`None` or `Tail`).
    pub log_type: Option<LogType>,
    /// `param`, the event as verbatim text (normally JSON); not parsed.
    pub param: Option<String>,
    pub namespace: Option<String>,
    /// `version`, the function version (not the common `Version`).
    pub version: Option<String>,
}

impl Request {
    /// The invocation SCF will make: `RequestResponse` unless `Event` was sent.
    pub fn invocation_type(&self) -> InvocationType {
        self.invoke_type.unwrap_or(InvocationType::RequestResponse)
    }
}

impl Action for InvokeFunction {
    const NAME: &'static str = "InvokeFunction";
    const SCF3_ACTIONS: &'static [&'static str] = &[invoke::ACTION];
    type Request = Request;

    fn parse(p: LegacyParams) -> Result<Request, BridgeError> {
        let function_name = match p.get("functionName") {
            None => return Err(super::params::missing("functionName")),
            Some("") => {
                return Err(super::params::invalid_value(
                    "functionName",
                    "a non-empty function name",
                ))
            }
            Some(name) => name.to_owned(),
        };
        let invoke_type = p.exact(
            "invokeType",
            &[
                ("RequestResponse", InvocationType::RequestResponse),
                ("Event", InvocationType::Event),
            ],
            "RequestResponse or Event",
        )?;
        let log_type = p.exact(
            "logType",
            &[("None", LogType::None), ("Tail", LogType::Tail)],
            "None or Tail",
        )?;
        let namespace = p.optional("namespace").map(str::to_owned);
        let version = p.optional("version").map(str::to_owned);
        let mut request = Request {
            function_name,
            invoke_type,
            log_type,
            param: None,
            namespace,
            version,
        };
        // Last: `param` is taken over from the decoded text, not copied.
        request.param = p.into_value("param").filter(|v| !v.is_empty());
        check_event_size(&request)?;
        Ok(request)
    }

    fn subject(r: &Request) -> Subject<'_> {
        Subject {
            function: Some(&r.function_name),
            namespace: r.namespace.as_deref(),
        }
    }

    async fn run(mut r: Request, scf: &mut Scf3Client<'_>) -> Result<LegacyAnswer, Failure> {
        let body = Bytes::from(invoke_body(&r));
        // `param` is in the body now; the call may take minutes.
        r.param = None;
        // An `Invoke` runs the function: a mutation, never sent twice.
        let answer = match scf
            .send(invoke::ACTION, invoke::VERSION, CallKind::Mutation, body)
            .await
        {
            Err(Failure::DryRun) => return Ok(dry_run(r.invocation_type())),
            other => other?,
        };
        let outcome = invoke::parse_response(&answer).map_err(super::client::unusable)?;
        match outcome {
            Outcome::Error {
                code,
                message,
                request_id,
            } => Err(scf.refused(Scf3Error {
                code,
                message,
                request_id,
            })),
            Outcome::Result { .. } => {
                let t = from_outcome(outcome, r.invocation_type());
                scf.note_request_id(t.request_id);
                scf.note_function_request_id(t.function_request_id);
                Ok(t.answer)
            }
        }
    }
}

/// SCF's event limits (6 MB sync, 128 KB async), checked before anything
/// is signed or sent.
fn check_event_size(r: &Request) -> Result<(), BridgeError> {
    let t = r.invocation_type();
    let limit = t.event_limit();
    let size = r.param.as_deref().map_or(0, str::len);
    if size > limit {
        return Err(BridgeError::new(
            ErrorKind::RequestTooLarge,
            format!(
                "`param` is {size} bytes; SCF accepts at most {limit} bytes for a {} invocation",
                t.as_str()
            ),
        ));
    }
    Ok(())
}

/// The answer of a dry run: the shape of a real one, with a made-up
/// execution id.
fn dry_run(invoke_type: InvocationType) -> LegacyAnswer {
    let id = format!("dry-run-{}", uuid::Uuid::new_v4());
    let outcome = Outcome::Result {
        result: InvokeResult {
            function_request_id: Some(id),
            ..Default::default()
        },
        request_id: None,
    };
    let mut answer = from_outcome(outcome, invoke_type).answer;
    answer.message = DRY_RUN_MESSAGE.into();
    answer.code_desc = DRY_RUN_CODE_DESC.into();
    answer
}

/// The 3.0 `Invoke` body for a legacy `InvokeFunction`: only what the
/// caller sent. `param` is passed on verbatim as `ClientContext`; `version`
/// becomes `Qualifier`. Nothing else of the legacy request reaches the body.
pub fn to_invoke(r: &Request) -> InvokeRequest<'_> {
    InvokeRequest {
        function_name: &r.function_name,
        invocation_type: r.invoke_type,
        qualifier: r.version.as_deref(),
        client_context: r.param.as_deref(),
        log_type: r.log_type,
        namespace: r.namespace.as_deref(),
    }
}

/// The compact JSON bytes of [`to_invoke`], written into a buffer sized up
/// front: `param` dominates a large body, and growing the buffer by
/// doubling would copy it several times and hold two copies at the peak.
/// The headroom covers escaping (`"` → `\"`) of one byte in eight.
pub fn invoke_body(r: &Request) -> Vec<u8> {
    let text = |s: &Option<String>| s.as_deref().map_or(0, str::len);
    let param = text(&r.param);
    let estimate =
        160 + r.function_name.len() + text(&r.namespace) + text(&r.version) + param + param / 8;
    let mut out = Vec::with_capacity(estimate);
    serde_json::to_writer(&mut out, &to_invoke(r))
        .expect("an Invoke body always serializes: it has only strings and enums");
    out
}

/// A legacy answer made from an `Invoke` answer, with what the log line needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    pub answer: LegacyAnswer,
    /// The 3.0 `RequestId`, sent back as `X-Request-Id`.
    pub request_id: Option<String>,
    /// The function's execution id (`FunctionRequestId`).
    pub function_request_id: Option<String>,
    /// The 3.0 error code, when SCF answered with an error.
    pub scf_error: Option<String>,
}

/// Maps a parsed `Invoke` answer to the legacy answer; an error through the
/// shared table (`translate::legacy_code_for`).
pub fn from_outcome(outcome: Outcome, invoke_type: InvocationType) -> Translated {
    match outcome {
        Outcome::Result { result, request_id } => {
            let function_request_id = result.function_request_id.clone();
            let data = match invoke_type {
                InvocationType::RequestResponse => sync_data(result),
                InvocationType::Event => async_data(result),
            };
            Translated {
                answer: LegacyAnswer::success(data),
                request_id,
                function_request_id,
                scf_error: None,
            }
        }
        Outcome::Error {
            code,
            message,
            request_id,
        } => {
            let e = Scf3Error {
                code,
                message,
                request_id,
            };
            Translated {
                answer: crate::walk::scf_error_answer(&e, None),
                request_id: e.request_id,
                function_request_id: None,
                scf_error: Some(e.code),
            }
        }
    }
}

/// Legacy sync `data`: 3.0 `Result` with lower-camel keys and
/// `FunctionRequestId` renamed to `requestId`; numbers keep their JSON type.
/// A field SCF left out is given its type's zero value, so the legacy shape
/// is always complete.
fn sync_data(r: InvokeResult) -> Value {
    let mut m = Map::with_capacity(8);
    m.insert(
        "requestId".into(),
        Value::String(r.function_request_id.unwrap_or_default()),
    );
    m.insert("duration".into(), number_or(r.duration, zero_float()));
    m.insert("billDuration".into(), number_or(r.bill_duration, 0.into()));
    m.insert("memUsage".into(), number_or(r.mem_usage, 0.into()));
    m.insert("log".into(), Value::String(r.log.unwrap_or_default()));
    m.insert(
        "retMsg".into(),
        Value::String(r.ret_msg.unwrap_or_default()),
    );
    m.insert(
        "errMsg".into(),
        Value::String(r.err_msg.unwrap_or_default()),
    );
    m.insert("invokeResult".into(), number_or(r.invoke_result, 0.into()));
    Value::Object(m)
}

/// Legacy async `data`: just the execution id.
fn async_data(r: InvokeResult) -> Value {
    let mut m = Map::with_capacity(1);
    m.insert(
        "requestId".into(),
        Value::String(r.function_request_id.unwrap_or_default()),
    );
    Value::Object(m)
}

fn number_or(n: Option<Number>, default: Number) -> Value {
    Value::Number(n.unwrap_or(default))
}

fn zero_float() -> Number {
    Number::from_f64(0.0).expect("0.0 is finite")
}


#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::UpstreamMode;
    use crate::testing::{bridge, get, json, Scripted, ScriptedTransport};

    fn parse(form: &str) -> Result<Request, BridgeError> {
        crate::testing::parse::<InvokeFunction>(form)
    }

    fn parse_error(form: &str) -> String {
        parse(form).unwrap_err().detail
    }

    #[test]
    fn invoke_function_parameters_are_read() {
        assert_eq!(
            parse(
                "functionName=hello&invokeType=Event&param=%7B%22a%22%3A+1%7D&logType=Tail\
                 &namespace=ns&version=3"
            )
            .unwrap(),
            Request {
                function_name: "hello".into(),
                invoke_type: Some(InvocationType::Event),
                log_type: Some(LogType::Tail),
                param: Some("{\"a\": 1}".into()),
                namespace: Some("ns".into()),
                version: Some("3".into()),
            }
        );
    }

    #[test]
    fn empty_optional_values_mean_absent_and_explicit_defaults_are_kept() {
        let r = parse("functionName=hello&invokeType=&logType=&param=&namespace=&version=").unwrap();
        assert_eq!(r, invoke("hello"));
        assert_eq!(r.invocation_type(), InvocationType::RequestResponse);
        let r = parse("functionName=f&invokeType=RequestResponse&logType=None").unwrap();
        assert_eq!(r.invoke_type, Some(InvocationType::RequestResponse));
        assert_eq!(r.log_type, Some(LogType::None));
    }

    #[test]
    fn param_is_kept_verbatim() {
        let text = "  {\"name\":\"云函数 x\", \"s\": \"a\\u00e9&=+%\"} ";
        let form = crate::legacy::decode::encode_form([("functionName", "f"), ("param", text)]);
        assert_eq!(parse(&form).unwrap().param.as_deref(), Some(text));
    }

    #[test]
    fn a_missing_or_empty_function_name_is_refused() {
        assert_eq!(parse_error(""), "missing required parameter `functionName`");
        assert_eq!(
            parse_error("FunctionName=f"),
            "missing required parameter `functionName`"
        );
        assert_eq!(
            parse_error("functionName="),
            "invalid value for `functionName`: expected a non-empty function name"
        );
    }

    #[test]
    fn unknown_invoke_and_log_types_are_refused_case_sensitively() {
        for bad in ["event", "Sync", "RequestResponse%20"] {
            assert_eq!(
                parse_error(&format!("functionName=f&invokeType={bad}")),
                "invalid value for `invokeType`: expected RequestResponse or Event",
                "{bad}"
            );
        }
        assert_eq!(
            parse_error("functionName=f&logType=tail"),
            "invalid value for `logType`: expected None or Tail"
        );
    }

    #[test]
    fn sdk_extras_are_ignored_and_common_version_is_not_function_version() {
        let r = parse(
            "functionName=f&RequestClient=SDK_PYTHON_2.0.15&RequestSource=qcloudcli_1.9.19\
             &Version=2017-03-12&somethingElse=1",
        )
        .unwrap();
        assert_eq!(r, invoke("f"));
    }

    #[test]
    fn events_above_scf_s_limits_are_refused_before_sending() {
        let big = "x".repeat(invoke::ASYNC_EVENT_LIMIT + 1);
        let form = crate::legacy::decode::encode_form([
            ("functionName", "f"),
            ("invokeType", "Event"),
            ("param", big.as_str()),
        ]);
        let e = parse(&form).unwrap_err();
        assert_eq!(e.kind, ErrorKind::RequestTooLarge);
        let form = crate::legacy::decode::encode_form([("functionName", "f"), ("param", big.as_str())]);
        assert!(parse(&form).is_ok(), "a sync event may be 6 MB");
    }

    fn invoke(name: &str) -> Request {
        Request {
            function_name: name.into(),
            invoke_type: None,
            log_type: None,
            param: None,
            namespace: None,
            version: None,
        }
    }

    #[test]
    fn request_maps_every_legacy_field_to_its_invoke_field() {
        let f = Request {
            function_name: "hello".into(),
            invoke_type: Some(InvocationType::Event),
            log_type: Some(LogType::Tail),
            param: Some(r#"{"a": 1, "s": "x y"}"#.into()),
            namespace: Some("prod".into()),
            version: Some("3".into()),
        };
        let body: Value = serde_json::to_value(to_invoke(&f)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "FunctionName": "hello",
                "InvocationType": "Event",
                "Qualifier": "3",
                "ClientContext": "{\"a\": 1, \"s\": \"x y\"}",
                "LogType": "Tail",
                "Namespace": "prod",
            })
        );
    }

    #[test]
    fn invoke_body_is_exactly_the_serialized_request() {
        let mut f = invoke("f");
        for param in [
            None,
            Some(String::new()),
            Some(r#"{"q":"\"x\"","t":"\t\n"}"#.repeat(50)),
        ] {
            f.param = param;
            f.namespace = Some("ns".into());
            assert_eq!(invoke_body(&f), to_invoke(&f).to_json());
        }
    }

    #[test]
    fn request_leaves_out_what_the_caller_did_not_send() {
        let body: Value = serde_json::to_value(to_invoke(&invoke("f"))).unwrap();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(keys, ["FunctionName"]);
    }

    fn result_from(json: &str) -> InvokeResult {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn sync_result_keeps_legacy_keys_order_and_number_types() {
        let r = result_from(
            r#"{"MemUsage":3207168,"Log":"l","RetMsg":"hello from scf","BillDuration":100,
            "FunctionRequestId":"6add56fa","Duration":0.826,"ErrMsg":"","InvokeResult":0}"#,
        );
        let t = from_outcome(
            Outcome::Result {
                result: r,
                request_id: Some("c2af8a64".into()),
            },
            InvocationType::RequestResponse,
        );
        let bytes = t.answer.to_json();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"code":0,"message":"","codeDesc":"Success","data":{"requestId":"6add56fa","duration":0.826,"billDuration":100,"memUsage":3207168,"log":"l","retMsg":"hello from scf","errMsg":"","invokeResult":0}}"#
        );
        assert_eq!(t.request_id.as_deref(), Some("c2af8a64"));
        assert_eq!(t.function_request_id.as_deref(), Some("6add56fa"));
    }

    #[test]
    fn integral_duration_stays_as_sent_and_missing_fields_get_zero_values() {
        let r = result_from(r#"{"FunctionRequestId":"x","Duration":2}"#);
        let t = from_outcome(
            Outcome::Result {
                result: r,
                request_id: None,
            },
            InvocationType::RequestResponse,
        );
        let data = t.answer.data.unwrap();
        assert_eq!(data["duration"], serde_json::json!(2));
        assert_eq!(data["memUsage"], serde_json::json!(0));
        assert_eq!(data["log"], "");
    }

    #[test]
    fn function_error_is_still_code_zero_with_err_msg() {
        let r = result_from(r#"{"FunctionRequestId":"x","ErrMsg":"boom","InvokeResult":-1}"#);
        let t = from_outcome(
            Outcome::Result {
                result: r,
                request_id: None,
            },
            InvocationType::RequestResponse,
        );
        assert_eq!(t.answer.code, 0);
        assert_eq!(t.answer.data.unwrap()["errMsg"], "boom");
    }

    #[test]
    fn async_result_is_only_the_request_id() {
        let r = result_from(r#"{"FunctionRequestId":"abc"}"#);
        let t = from_outcome(
            Outcome::Result {
                result: r,
                request_id: None,
            },
            InvocationType::Event,
        );
        assert_eq!(
            t.answer.data.unwrap(),
            serde_json::json!({"requestId": "abc"})
        );
    }

    #[test]
    fn scf_error_becomes_legacy_error_with_code_desc_and_message() {
        let t = from_outcome(
            Outcome::Error {
                code: "ResourceNotFound.Function".into(),
                message: "function not found".into(),
                request_id: Some("r1".into()),
            },
            InvocationType::RequestResponse,
        );
        assert_eq!(t.answer.code, 5000);
        assert_eq!(t.answer.code_desc, "ResourceNotFound.Function");
        assert_eq!(
            t.answer.message,
            "(ResourceNotFound.Function) function not found"
        );
        assert_eq!(t.answer.data, None);
        assert_eq!(t.scf_error.as_deref(), Some("ResourceNotFound.Function"));
    }




    /// The official 3.0 sample result (docs/protocol.md, "Invoke").
    fn sample() -> Scripted {
        Scripted::ok(
            json!({"Result": {"MemUsage": 3207168, "Log": "", "RetMsg": "hello from scf",
                "BillDuration": 100, "FunctionRequestId": "6add56fa-58f1-11e8-89a9-5254005d5fdb",
                "Duration": 0.826, "ErrMsg": "", "InvokeResult": 0}}),
            "c2af8a64-c922-4d55-aee0-bd86a5c2cd12",
        )
    }

    #[tokio::test]
    async fn a_sync_invoke_is_one_signed_invoke_call_mapped_to_legacy_data() {
        let t = ScriptedTransport::new([sample()]);
        let b = bridge(t.clone());
        let reply = get(
            &b,
            &[
                ("Action", "InvokeFunction"),
                ("functionName", "hello"),
                ("param", r#"{"a":1}"#),
                ("namespace", "prod"),
            ],
        )
        .await;
        assert_eq!(
            String::from_utf8(reply.answer.to_json()).unwrap(),
            r#"{"code":0,"message":"","codeDesc":"Success","data":{"requestId":"6add56fa-58f1-11e8-89a9-5254005d5fdb","duration":0.826,"billDuration":100,"memUsage":3207168,"log":"","retMsg":"hello from scf","errMsg":"","invokeResult":0}}"#
        );
        assert_eq!(
            reply.request_id.as_deref(),
            Some("c2af8a64-c922-4d55-aee0-bd86a5c2cd12")
        );
        let calls = t.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].action, "Invoke");
        assert_eq!(calls[0].region, "ap-guangzhou");
        assert!(calls[0].signed);
        assert_eq!(
            calls[0].body,
            json!({"FunctionName": "hello", "ClientContext": "{\"a\":1}", "Namespace": "prod"})
        );
        assert_eq!(reply.info.action, Some("InvokeFunction"));
        assert_eq!(reply.info.function.as_deref(), Some("hello"));
        assert_eq!(reply.info.namespace.as_deref(), Some("prod"));
        assert_eq!(
            reply.info.function_request_id.as_deref(),
            Some("6add56fa-58f1-11e8-89a9-5254005d5fdb")
        );
    }

    #[tokio::test]
    async fn an_scf_error_is_the_legacy_error_of_the_shared_table() {
        let t = ScriptedTransport::new([Scripted::error(
            "ResourceNotFound.Function",
            "not found",
            "rid",
        )]);
        let reply = get(
            &bridge(t.clone()),
            &[("Action", "InvokeFunction"), ("functionName", "nope")],
        )
        .await;
        assert_eq!(
            json(&reply),
            json!({"code": 5000, "message": "(ResourceNotFound.Function) not found",
                "codeDesc": "ResourceNotFound.Function"})
        );
        assert_eq!(reply.request_id.as_deref(), Some("rid"));
        assert_eq!(
            reply.info.scf_error.as_deref(),
            Some("ResourceNotFound.Function")
        );
        assert!(reply.error.is_none());
    }

    #[tokio::test]
    async fn a_bad_value_is_refused_before_anything_is_sent() {
        let t = ScriptedTransport::new([sample()]);
        let reply = get(
            &bridge(t.clone()),
            &[
                ("Action", "InvokeFunction"),
                ("functionName", "f"),
                ("invokeType", "Sync"),
            ],
        )
        .await;
        let v = json(&reply);
        assert_eq!(v["code"], 4000);
        assert_eq!(v["codeDesc"], "InvalidParameterValue");
        assert!(v["message"].as_str().unwrap().contains("invokeType"));
        assert!(t.calls().is_empty());
    }

    #[tokio::test]
    async fn an_invoke_is_never_sent_again_after_its_connection_broke() {
        let t = ScriptedTransport::new([Scripted::connection_lost(), sample()]);
        let reply = get(
            &bridge(t.clone()),
            &[("Action", "InvokeFunction"), ("functionName", "f")],
        )
        .await;
        assert_eq!(t.calls().len(), 1);
        assert_eq!(t.remaining(), 1);
        let e = reply.error.expect("the bridge's own error");
        assert!(e.may_have_reached_scf);
        assert_eq!(reply.answer.code, 6000);
    }

    #[tokio::test]
    async fn an_async_invoke_answers_only_the_request_id() {
        let t = ScriptedTransport::new([Scripted::ok(
            json!({"Result": {"FunctionRequestId": "abc"}}),
            "r",
        )]);
        let reply = get(
            &bridge(t.clone()),
            &[
                ("Action", "InvokeFunction"),
                ("functionName", "f"),
                ("invokeType", "Event"),
            ],
        )
        .await;
        assert_eq!(json(&reply)["data"], json!({"requestId": "abc"}));
        assert_eq!(t.calls()[0].body["InvocationType"], "Event");
    }

    #[tokio::test]
    async fn a_dry_run_signs_and_answers_without_sending() {
        let t = ScriptedTransport::new([]);
        let mut b = bridge(t.clone());
        b.mode = UpstreamMode::DryRun;
        let reply = get(&b, &[("Action", "InvokeFunction"), ("functionName", "f")]).await;
        let v = json(&reply);
        assert_eq!(v["code"], 0);
        assert_eq!(v["codeDesc"], "DryRunOperation");
        assert!(v["data"]["requestId"]
            .as_str()
            .unwrap()
            .starts_with("dry-run-"));
        assert!(t.calls().is_empty());
    }

    #[tokio::test]
    async fn an_unknown_action_lists_the_supported_ones_and_sends_nothing() {
        let t = ScriptedTransport::new([sample()]);
        let reply = get(&bridge(t.clone()), &[("Action", "RenameFunction")]).await;
        let v = json(&reply);
        assert_eq!(v["code"], 4000);
        assert_eq!(v["codeDesc"], "InvalidAction");
        let message = v["message"].as_str().unwrap();
        assert!(message.contains("RenameFunction"), "{message}");
        for e in crate::actions::REGISTRY {
            assert!(message.contains(e.name), "{message}");
        }
        assert!(t.calls().is_empty());
        assert_eq!(reply.info.action, None);
    }
}
