//! `InvokeFunction` → 3.0 `InvokeFunction` or `Invoke` (docs/protocol.md,
//! "InvokeFunction"). A synchronous call goes to 3.0 `InvokeFunction`
//! (10,000/s against `Invoke`'s 100/s) unless `upstream.sync_action =
//! "invoke"`; an asynchronous one (`invokeType=Event`) always goes to
//! `Invoke`, the only 3.0 action that queues. `functionName`, `logType`,
//! `param`, `namespace` and `version` become `FunctionName`, `LogType`,
//! `Event` (`ClientContext` and `InvocationType` for `Invoke`), `Namespace`
//! and `Qualifier` — always sent, `$LATEST` when the caller named no
//! version. A synchronous `Result` becomes the legacy `data` with
//! lower-camel keys (and the documented aliases), an asynchronous one just
//! `data.requestId`; a function that failed is still `code` 0 with `errMsg`
//! filled.
//!
//! With `sync_action = "auto"`, a region whose 3.0 refuses `InvokeFunction`
//! in a way that proves nothing ran (`InvalidAction`, `UnsupportedOperation*`,
//! `UnsupportedRegion`), or that is not in the documented `InvokeFunction`
//! region list, is sent `Invoke` instead, and a refusal is remembered for
//! that region for a while. A CAM denial is never retried as `Invoke`.
//!
//! The bridge's hot path: `param` is moved, never copied, from the decoded
//! form into the 3.0 body, and the answer is parsed borrowed.

use std::ops::Range;

use bytes::Bytes;
use serde_json::Number;

use super::client::{throttle_reason, unusable, GaveUp, Judged};
use super::settings::SyncAction;
use super::{Action, Failure, LegacyParams, Scf3Client, Subject};
use crate::error::{BridgeError, ErrorKind};
use crate::legacy::answer::{codes, LegacyAnswer, RawJson};
use crate::metrics;
use crate::scf3::envelope::{CallKind, Scf3Error};
use crate::scf3::invoke::{
    self, InvocationType, InvokeFunctionRequest, InvokeRequest, InvokeResult, InvokeResultRef,
    JsonStr, LogType, Outcome, INVOKE_FUNCTION_ACTION,
};
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

/// The regions whose 3.0 documents `InvokeFunction` (docs/protocol.md,
/// "InvokeFunction"); `auto` sends `Invoke` anywhere else.
pub const INVOKE_FUNCTION_REGIONS: &[&str] = &[
    "ap-beijing",
    "ap-chengdu",
    "ap-chongqing",
    "ap-guangzhou",
    "ap-hongkong",
    "ap-jakarta",
    "ap-nanjing",
    "ap-seoul",
    "ap-shanghai",
    "ap-shanghai-fsi",
    "ap-shenzhen-fsi",
    "ap-singapore",
    "ap-tokyo",
    "eu-frankfurt",
    "na-ashburn",
    "na-siliconvalley",
    "sa-saopaulo",
];

/// The 3.0 action a legacy invocation is sent to first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Invoke,
    InvokeFunction,
}

/// Which 3.0 action a legacy invocation goes to first, in `region`.
pub fn choose(
    sync_action: SyncAction,
    invoke_type: InvocationType,
    region: &str,
    refused_recently: bool,
) -> Target {
    match (invoke_type, sync_action) {
        (InvocationType::Event, _) | (_, SyncAction::Invoke) => Target::Invoke,
        (_, SyncAction::InvokeFunction) => Target::InvokeFunction,
        (_, SyncAction::Auto) => {
            if INVOKE_FUNCTION_REGIONS.contains(&region) && !refused_recently {
                Target::InvokeFunction
            } else {
                Target::Invoke
            }
        }
    }
}

/// Whether 3.0's refusal of `InvokeFunction` says the action is unknown or
/// unsupported there — refused before anything ran, so `auto` may send
/// `Invoke` instead.
pub fn proves_unsupported(code: &str) -> bool {
    matches!(code, "InvalidAction" | "UnsupportedRegion")
        || code == "UnsupportedOperation"
        || code.starts_with("UnsupportedOperation.")
}

impl Action for InvokeFunction {
    const NAME: &'static str = "InvokeFunction";
    const SCF3_ACTIONS: &'static [&'static str] = &[INVOKE_FUNCTION_ACTION, invoke::ACTION];
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

    async fn run(
        mut f: Request,
        scf: &mut Scf3Client<'_>,
    ) -> Result<LegacyAnswer, Failure> {
        let settings = scf.settings();
        let region = scf.region().to_owned();
        let target = choose(
            settings.sync_action,
            f.invocation_type(),
            &region,
            settings.invoke_function_refused.remembers(&region),
        );
        let shape = SyncShape {
            status_code_result: false,
            documented_aliases: settings.documented_aliases,
        };
        if target == Target::InvokeFunction {
            let body = Bytes::from(invoke_function_body(&f));
            // `param` is in the body now: not held twice while SCF runs.
            f.param = None;
            let sent = body.clone();
            let shape = SyncShape {
                status_code_result: true,
                ..shape
            };
            match invoke(scf, INVOKE_FUNCTION_ACTION, body, &f, shape).await {
                Err(Failure::Scf(e))
                    if settings.sync_action == SyncAction::Auto
                        && proves_unsupported(&e.code) =>
                {
                    tracing::info!(
                        region = %region,
                        code = %e.code,
                        "3.0 refused InvokeFunction as unsupported; sending Invoke there for a while"
                    );
                    settings.invoke_function_refused.remember(&region);
                    metrics::invoke_function_fallback(&e.code);
                    // The event back from the body SCF refused (rare path).
                    f.param = event_of(&sent)?;
                }
                other => return other,
            }
        }
        let body = Bytes::from(invoke_body(&f));
        // `param` is in the body now; the call may take minutes.
        f.param = None;
        invoke(scf, invoke::ACTION, body, &f, shape).await
    }
}

/// The `Event` of an `InvokeFunction` body the bridge built.
fn event_of(body: &[u8]) -> Result<Option<String>, Failure> {
    #[derive(serde::Deserialize)]
    struct EventOnly {
        #[serde(rename = "Event")]
        event: Option<String>,
    }
    serde_json::from_slice::<EventOnly>(body)
        .map(|b| b.event)
        .map_err(|e| {
            Failure::Bridge(BridgeError::new(
                ErrorKind::Internal,
                format!("the InvokeFunction body did not read back: {e}"),
            ))
        })
}

/// Sends one invocation to `action` (`Invoke` or `InvokeFunction`) and maps
/// its answer. Throttled answers are sent again by the client within the
/// budget; an invocation is otherwise never sent twice.
async fn invoke(
    scf: &mut Scf3Client<'_>,
    action: &'static str,
    body: Bytes,
    f: &Request,
    shape: SyncShape,
) -> Result<LegacyAnswer, Failure> {
    let invoke_type = f.invocation_type();
    // The answer is read borrowed from its buffer and the legacy answer
    // written from it in the same step: nothing of it outlives the buffer
    // but the legacy text and the two ids the log line needs.
    let judge = |answer: Bytes| {
        let outcome =
            invoke::parse_response_ref(&answer).map_err(|e| Failure::Bridge(unusable(e)))?;
        let reason = not_run(action, &outcome);
        let mapped = match outcome {
            Outcome::Error {
                code,
                message,
                request_id,
            } => Err(Scf3Error {
                code,
                message,
                request_id,
            }),
            Outcome::Result { result, request_id } => {
                Ok(ran(&result, request_id, invoke_type, shape))
            }
        };
        Ok(match reason {
            Some(reason) => Judged::NotRun {
                reason,
                answer: mapped,
            },
            None => Judged::Answer(mapped),
        })
    };
    // An invocation runs the function: a mutation, never sent twice
    // unless SCF proved it did not run.
    let sent = match scf
        .send_judged(action, invoke::VERSION, CallKind::Mutation, body, judge)
        .await
    {
        Err(Failure::DryRun) => return Ok(dry_run(invoke_type)),
        other => other?,
    };
    match sent.answer {
        Err(mut e) => {
            if let Some(g) = sent.gave_up {
                e.message = format!("{}; {}", e.message, g.describe());
            }
            Err(scf.refused(e))
        }
        Ok(t) => {
            scf.note_request_id(t.request_id);
            scf.note_function_request_id(t.function_request_id);
            Ok(match sent.gave_up {
                Some(g) => gave_up_answer(g),
                None => t.answer,
            })
        }
    }
}

/// The retry reason of an invocation answer that proves the function did
/// not run: the frequency limits, `LimitExceeded.Quota`, and 3.0
/// `InvokeFunction`'s burst (429), concurrency (432) and capacity (449)
/// status codes, all rejected before execution (docs/protocol.md, "Which
/// errors are safe to retry").
pub fn not_run(action: &str, outcome: &Outcome<InvokeResultRef<'_>>) -> Option<&'static str> {
    match outcome {
        Outcome::Error { code, .. } => throttle_reason(code)
            .or_else(|| (code == "LimitExceeded.Quota").then_some("LimitExceeded.Quota")),
        Outcome::Result { result, .. } if action == INVOKE_FUNCTION_ACTION => {
            match result.invoke_result.as_ref().and_then(|n| n.as_i64()) {
                Some(429) => Some("InvokeResult.429"),
                Some(432) => Some("InvokeResult.432"),
                Some(449) => Some("InvokeResult.449"),
                _ => None,
            }
        }
        Outcome::Result { .. } => None,
    }
}

/// The legacy 4400 of an invocation SCF kept refusing with a status code
/// that proves it did not run.
fn gave_up_answer(g: GaveUp) -> LegacyAnswer {
    let (desc, what) = match g.reason {
        "InvokeResult.429" => ("ResourceLimit", "the function's burst limit (status 429)"),
        "InvokeResult.449" => ("InsufficientResources", "SCF had no capacity (status 449)"),
        _ => (
            "ResourceLimitReached",
            "the function's concurrency limit (status 432)",
        ),
    };
    LegacyAnswer::error(
        codes::QUOTA_EXCEEDED,
        desc,
        format!("({desc}) the function did not run: {what}; {}", g.describe()),
    )
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

/// The 3.0 `Invoke` body for a legacy `InvokeFunction`: what the caller
/// sent (SCF's defaults equal the legacy ones), and always `Qualifier`.
/// `param` is passed on verbatim as `ClientContext`. Nothing else of the
/// legacy request reaches the body.
pub fn to_invoke(r: &Request) -> InvokeRequest<'_> {
    InvokeRequest {
        function_name: &r.function_name,
        invocation_type: r.invoke_type,
        qualifier: Some(invoke_qualifier(r)),
        client_context: r.param.as_deref(),
        log_type: r.log_type,
        namespace: r.namespace.as_deref(),
    }
}

/// The 3.0 `InvokeFunction` body for a synchronous legacy `InvokeFunction`:
/// `param` becomes `Event`, there is no `InvocationType`, and `Qualifier`
/// is always sent — 3.0 `InvokeFunction` would otherwise run the
/// `$DEFAULT` alias, which may route to published versions, where the
/// legacy service (and `Invoke`) ran `$LATEST`.
pub fn to_invoke_function(r: &Request) -> InvokeFunctionRequest<'_> {
    InvokeFunctionRequest {
        function_name: &r.function_name,
        qualifier: Some(invoke_qualifier(r)),
        event: r.param.as_deref(),
        log_type: r.log_type,
        namespace: r.namespace.as_deref(),
    }
}

/// The caller's `version` as a 3.0 `Qualifier` (`translate::qualifier`),
/// else `$LATEST`, the version the legacy service ran.
fn invoke_qualifier(r: &Request) -> &str {
    r.version
        .as_deref()
        .map_or("$LATEST", crate::translate::qualifier)
}

/// The compact JSON bytes of [`to_invoke`], written into a buffer sized up
/// front: `param` dominates a large body, and growing the buffer by
/// doubling would copy it several times and hold two copies at the peak.
/// The headroom covers escaping (`"` → `\"`) of one byte in eight.
pub fn invoke_body(r: &Request) -> Vec<u8> {
    let mut out = sized_buffer(r);
    to_invoke(r).write_json(&mut out);
    out
}

/// The compact JSON bytes of [`to_invoke_function`], sized as
/// [`invoke_body`] is.
pub fn invoke_function_body(r: &Request) -> Vec<u8> {
    let mut out = sized_buffer(r);
    to_invoke_function(r).write_json(&mut out);
    out
}

fn sized_buffer(r: &Request) -> Vec<u8> {
    let text = |s: &Option<String>| s.as_deref().map_or(0, str::len);
    let param = text(&r.param);
    let estimate =
        160 + r.function_name.len() + text(&r.namespace) + text(&r.version) + param + param / 8;
    Vec::with_capacity(estimate)
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

/// How a synchronous `Result` becomes the legacy `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncShape {
    /// The answer is 3.0 `InvokeFunction`'s, whose `InvokeResult` is an
    /// execution status code: 200 becomes the legacy 0, any other value is
    /// kept (non-zero means failure, as it did).
    pub status_code_result: bool,
    /// Add `payLoad`, `logMsg` and `memSize` (the legacy documentation's
    /// names) beside `retMsg`, `log` and `memUsage` (the service's).
    pub documented_aliases: bool,
}

/// Maps a parsed `Invoke` answer to the legacy answer, without the
/// documented aliases ([`from_outcome_with`]); an error through the shared
/// table (`translate::legacy_code_for`).
pub fn from_outcome(outcome: Outcome, invoke_type: InvocationType) -> Translated {
    from_outcome_with(outcome, invoke_type, SyncShape::default())
}

/// [`from_outcome`] with the shape of a synchronous answer chosen.
pub fn from_outcome_with(
    outcome: Outcome,
    invoke_type: InvocationType,
    shape: SyncShape,
) -> Translated {
    match outcome {
        Outcome::Result { result, request_id } => {
            ran(&result.as_ref(), request_id, invoke_type, shape)
        }
        Outcome::Error {
            code,
            message,
            request_id,
        } => refused(code, message, request_id),
    }
}

/// [`from_outcome_with`] of an answer read borrowed
/// ([`invoke::parse_response_ref`]), as the bridge maps it: the same
/// legacy answer, written straight from the answer's buffer.
pub fn from_answer_with(
    outcome: Outcome<InvokeResultRef<'_>>,
    invoke_type: InvocationType,
    shape: SyncShape,
) -> Translated {
    match outcome {
        Outcome::Result { result, request_id } => ran(&result, request_id, invoke_type, shape),
        Outcome::Error {
            code,
            message,
            request_id,
        } => refused(code, message, request_id),
    }
}

fn refused(code: String, message: String, request_id: Option<String>) -> Translated {
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

/// The legacy answer of a function that ran (or was queued).
fn ran(
    r: &InvokeResultRef<'_>,
    request_id: Option<String>,
    invoke_type: InvocationType,
    shape: SyncShape,
) -> Translated {
    let data = match invoke_type {
        InvocationType::RequestResponse => sync_data(r, shape),
        InvocationType::Event => async_data(r),
    };
    Translated {
        answer: LegacyAnswer::success(data),
        request_id,
        function_request_id: r.function_request_id.as_ref().map(|s| s.to_str().into_owned()),
        scf_error: None,
    }
}

/// Legacy sync `data`: 3.0 `Result` with lower-camel keys and
/// `FunctionRequestId` renamed to `requestId`; numbers keep their JSON type.
/// A field SCF left out is given its type's zero value (`duration` the
/// float `0.0`), so the legacy shape is always complete.
///
/// Written as compact JSON in one pass into a buffer sized up front, byte
/// for byte what serde_json writes for the same object (tests hold it to
/// serde_json): each string is copied from its JSON text in SCF's answer
/// with only its escapes rewritten ([`JsonStr`]), numbers are written by
/// serde_json, and each documented alias copies the text already written
/// for its field.
fn sync_data(r: &InvokeResultRef<'_>, shape: SyncShape) -> RawJson {
    let invoke_result = match &r.invoke_result {
        Some(n)
            if shape.status_code_result
                && n.as_i64() == Some(invoke::INVOKE_FUNCTION_SUCCESS) =>
        {
            None
        }
        other => other.as_ref(),
    };
    let text_len = |s: &Option<JsonStr<'_>>| s.as_ref().map_or(2, json_len);
    let (log, ret_msg) = (text_len(&r.log), text_len(&r.ret_msg));
    let mut size = SYNC_KEYS_LEN
        + 4 * MAX_NUMBER_LEN
        + text_len(&r.function_request_id)
        + log
        + ret_msg
        + text_len(&r.err_msg);
    if shape.documented_aliases {
        size += ALIAS_KEYS_LEN + ret_msg + log + MAX_NUMBER_LEN;
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(br#"{"requestId":"#);
    write_text(&mut out, r.function_request_id.as_ref());
    out.extend_from_slice(br#","duration":"#);
    match &r.duration {
        Some(n) => write_number(&mut out, n),
        // serde_json's text of the float zero.
        None => out.extend_from_slice(b"0.0"),
    }
    out.extend_from_slice(br#","billDuration":"#);
    write_number_or_zero(&mut out, r.bill_duration.as_ref());
    out.extend_from_slice(br#","memUsage":"#);
    let mem_usage = write_number_or_zero(&mut out, r.mem_usage.as_ref());
    out.extend_from_slice(br#","log":"#);
    let log = write_text(&mut out, r.log.as_ref());
    out.extend_from_slice(br#","retMsg":"#);
    let ret_msg = write_text(&mut out, r.ret_msg.as_ref());
    out.extend_from_slice(br#","errMsg":"#);
    write_text(&mut out, r.err_msg.as_ref());
    out.extend_from_slice(br#","invokeResult":"#);
    write_number_or_zero(&mut out, invoke_result);
    if shape.documented_aliases {
        out.extend_from_slice(br#","payLoad":"#);
        out.extend_from_within(ret_msg);
        out.extend_from_slice(br#","logMsg":"#);
        out.extend_from_within(log);
        out.extend_from_slice(br#","memSize":"#);
        out.extend_from_within(mem_usage);
    }
    out.push(b'}');
    debug_assert!(out.len() <= size, "{} > {size}", out.len());
    RawJson::from_written(out)
}

/// The keys, punctuation and braces of the sync `data`.
const SYNC_KEYS_LEN: usize = r#"{"requestId":,"duration":,"billDuration":,"memUsage":,"log":,"retMsg":,"errMsg":,"invokeResult":}"#.len();
/// What the documented aliases add besides their values.
const ALIAS_KEYS_LEN: usize = r#","payLoad":,"logMsg":,"memSize":"#.len();
/// The longest text serde_json writes for a JSON number without
/// `arbitrary_precision`: `-9223372036854775808` (20), a `u64` (20), an
/// `f64` such as `-2.2250738585072014e-308` (24).
const MAX_NUMBER_LEN: usize = 24;

/// Legacy async `data`: just the execution id.
fn async_data(r: &InvokeResultRef<'_>) -> RawJson {
    let id = r.function_request_id.as_ref();
    let mut out = Vec::with_capacity(r#"{"requestId":}"#.len() + id.map_or(2, json_len));
    out.extend_from_slice(br#"{"requestId":"#);
    write_text(&mut out, id);
    out.push(b'}');
    RawJson::from_written(out)
}

/// At most the length of what [`JsonStr::write_json`] writes.
fn json_len(s: &JsonStr<'_>) -> usize {
    s.json_len_bound()
        .unwrap_or_else(|| crate::legacy::answer::escaped_len(&s.to_str()))
}

/// Writes the string (`""` when absent); returns where its text is in `out`.
fn write_text(out: &mut Vec<u8>, s: Option<&JsonStr<'_>>) -> Range<usize> {
    let start = out.len();
    match s {
        Some(s) => s.write_json(out),
        None => out.extend_from_slice(b"\"\""),
    }
    start..out.len()
}

/// Writes the number (the integer `0` when absent); returns where its text
/// is in `out`.
fn write_number_or_zero(out: &mut Vec<u8>, n: Option<&Number>) -> Range<usize> {
    let start = out.len();
    match n {
        Some(n) => write_number(out, n),
        None => out.push(b'0'),
    }
    start..out.len()
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    serde_json::to_writer(out, n).expect("a JSON number always serializes (it is finite)");
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use std::time::Duration;

    use super::*;
    use crate::actions::ActionSettings;
    use crate::config::UpstreamMode;
    use crate::testing::{bridge, get, json, Scripted, ScriptedTransport};
    use crate::walk::Bridge;

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
        assert_eq!(keys, ["FunctionName", "Qualifier"]);
        assert_eq!(body["Qualifier"], "$LATEST");
    }

    #[test]
    fn invoke_function_body_has_event_and_no_invocation_type() {
        let mut f = invoke("hello");
        f.param = Some(r#"{"a":1}"#.into());
        f.version = Some("LATEST".into());
        f.log_type = Some(LogType::Tail);
        let body: Value = serde_json::from_slice(&invoke_function_body(&f)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"FunctionName": "hello", "Qualifier": "$LATEST",
                "Event": "{\"a\":1}", "LogType": "Tail"})
        );
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
        let data = t.answer.data.unwrap().to_value();
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
        assert_eq!(t.answer.data.unwrap().to_value()["errMsg"], "boom");
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

    /// The legacy answer to a 3.0 answer whose `Result` is `result` (JSON
    /// text, as SCF could send it), mapped as the bridge maps it — read
    /// borrowed — and checked against the owned reading's.
    fn legacy_text(result: &str, invoke_type: InvocationType, shape: SyncShape) -> String {
        let body = format!(r#"{{"Response":{{"Result":{result},"RequestId":"r"}}}}"#);
        let borrowed = invoke::parse_response_ref(body.as_bytes()).unwrap();
        let t = from_answer_with(borrowed, invoke_type, shape);
        let owned = invoke::parse_response(body.as_bytes()).unwrap();
        let o = from_outcome_with(owned, invoke_type, shape);
        assert_eq!(t.answer.to_json(), o.answer.to_json(), "{result}");
        assert_eq!(t.request_id.as_deref(), Some("r"));
        assert_eq!(t.function_request_id, o.function_request_id);
        String::from_utf8(t.answer.to_json()).unwrap()
    }

    fn sync_text(result: &str, shape: SyncShape) -> String {
        legacy_text(result, InvocationType::RequestResponse, shape)
    }

    const PLAIN: SyncShape = SyncShape {
        status_code_result: false,
        documented_aliases: false,
    };
    const HEAD: &str = r#"{"code":0,"message":"","codeDesc":"Success","data":"#;

    #[test]
    fn escaped_strings_are_written_as_serde_json_escapes_them() {
        let text = sync_text(
            r#"{"RetMsg":"a\nb\"c\u0000d\/e\u00e9f😀\ud83d\ude00\\g","Log":"l1\n\ttab\r\b\f\u001f\u007f","ErrMsg":"\u0022x\u005c","FunctionRequestId":"i\u0064"}"#,
            PLAIN,
        );
        assert_eq!(
            text,
            format!(
                "{HEAD}{{\"requestId\":\"id\",\"duration\":0.0,\"billDuration\":0,\"memUsage\":0,\
                 \"log\":\"l1\\n\\ttab\\r\\b\\f\\u001f\u{7f}\",\
                 \"retMsg\":\"a\\nb\\\"c\\u0000d/eéf😀😀\\\\g\",\
                 \"errMsg\":\"\\\"x\\\\\",\"invokeResult\":0}}}}"
            )
        );
    }

    #[test]
    fn strings_are_kept_as_their_json_text_in_the_answer() {
        let body = r#"{"Response":{"Result":{"RetMsg":"云函数 ✓ <b>&amp;</b>","Log":"a\nb\u00e9"}}}"#;
        let Ok(Outcome::Result { result, .. }) = invoke::parse_response_ref(body.as_bytes()) else {
            panic!("parses");
        };
        let ret_msg = result.ret_msg.as_ref().unwrap();
        assert!(ret_msg.is_json_text());
        assert_eq!(ret_msg.to_str(), "云函数 ✓ <b>&amp;</b>");
        assert_eq!(ret_msg.json_len_bound(), Some("云函数 ✓ <b>&amp;</b>".len() + 2));
        let log = result.log.as_ref().unwrap();
        assert!(log.is_json_text(), "not decoded, though it has escapes");
        assert_eq!(log.to_str(), "a\nbé");
        assert_eq!(log.json_len_bound(), Some(r#""a\nb\u00e9""#.len()));
        let mut written = Vec::new();
        log.write_json(&mut written);
        assert_eq!(written, "\"a\\nbé\"".as_bytes());
        // What was read owned is a value, escaped when written.
        let owned = InvokeResult {
            log: Some("a\nb".into()),
            ..InvokeResult::default()
        };
        let log = owned.as_ref().log.unwrap();
        assert!(!log.is_json_text());
        assert_eq!(log.json_len_bound(), None);
        assert_eq!(
            sync_text(r#"{"RetMsg":"云函数 ✓ <b>&amp;</b>","FunctionRequestId":"f-1"}"#, PLAIN),
            format!(
                r#"{HEAD}{{"requestId":"f-1","duration":0.0,"billDuration":0,"memUsage":0,"log":"","retMsg":"云函数 ✓ <b>&amp;</b>","errMsg":"","invokeResult":0}}}}"#
            )
        );
    }

    #[test]
    fn missing_and_null_fields_are_zero_values_with_a_float_zero_duration() {
        let want = format!(
            r#"{HEAD}{{"requestId":"","duration":0.0,"billDuration":0,"memUsage":0,"log":"","retMsg":"","errMsg":"","invokeResult":0,"payLoad":"","logMsg":"","memSize":0}}}}"#
        );
        let aliases = SyncShape {
            status_code_result: true,
            documented_aliases: true,
        };
        assert_eq!(sync_text("{}", aliases), want);
        assert_eq!(
            sync_text(
                r#"{"RetMsg":null,"Log":null,"ErrMsg":null,"FunctionRequestId":null,"Duration":null,"BillDuration":null,"MemUsage":null,"InvokeResult":null,"Other":[1,{"x":"\n"}]}"#,
                aliases
            ),
            want
        );
    }

    #[test]
    fn numbers_keep_their_type_and_serde_json_s_text() {
        let data = |result: &str| {
            let text = sync_text(result, PLAIN);
            let start = text.find(r#""duration":"#).unwrap();
            let end = text.find(r#","log":"#).unwrap();
            text[start..end].to_owned()
        };
        for (duration, want) in [
            ("0", "0"),
            ("0.0", "0.0"),
            ("12.5", "12.5"),
            ("12.50", "12.5"),
            ("1e3", "1000.0"),
            ("0.826", "0.826"),
            ("-3", "-3"),
        ] {
            assert_eq!(
                data(&format!(r#"{{"Duration":{duration}}}"#)),
                format!(r#""duration":{want},"billDuration":0,"memUsage":0"#),
                "{duration}"
            );
        }
        for (mem, want) in [
            ("3207168", "3207168"),
            ("18446744073709551615", "18446744073709551615"),
            ("-9223372036854775808", "-9223372036854775808"),
            ("18446744073709551616", "1.8446744073709552e+19"),
            ("1.5", "1.5"),
        ] {
            assert_eq!(
                data(&format!(r#"{{"MemUsage":{mem},"BillDuration":100}}"#)),
                format!(r#""duration":0.0,"billDuration":100,"memUsage":{want}"#),
                "{mem}"
            );
        }
    }

    #[test]
    fn the_aliases_repeat_their_fields_text_and_the_status_code_rule_applies() {
        let result = r#"{"MemUsage":18446744073709551615,"Log":"x\ty","RetMsg":"\"ok\"","Duration":2,"FunctionRequestId":"f","InvokeResult":200}"#;
        let tail = r#"{"requestId":"f","duration":2,"billDuration":0,"memUsage":18446744073709551615,"log":"x\ty","retMsg":"\"ok\"","errMsg":"","#;
        let cases = [
            (false, false, r#""invokeResult":200}"#),
            (true, false, r#""invokeResult":0}"#),
            (
                true,
                true,
                r#""invokeResult":0,"payLoad":"\"ok\"","logMsg":"x\ty","memSize":18446744073709551615}"#,
            ),
            (
                false,
                true,
                r#""invokeResult":200,"payLoad":"\"ok\"","logMsg":"x\ty","memSize":18446744073709551615}"#,
            ),
        ];
        for (status_code_result, documented_aliases, end) in cases {
            let shape = SyncShape {
                status_code_result,
                documented_aliases,
            };
            assert_eq!(sync_text(result, shape), format!("{HEAD}{tail}{end}}}"), "{shape:?}");
        }
        // Only the integer 200 is the status code of a success.
        for (sent, kept) in [("200.0", "200.0"), ("430", "430"), ("-1", "-1")] {
            let text = sync_text(
                &format!(r#"{{"InvokeResult":{sent}}}"#),
                SyncShape {
                    status_code_result: true,
                    documented_aliases: false,
                },
            );
            assert!(text.ends_with(&format!(r#""invokeResult":{kept}}}}}"#)), "{text}");
        }
    }

    #[test]
    fn the_async_answer_is_only_the_request_id_however_it_was_written() {
        for (result, want) in [
            (r#"{"FunctionRequestId":"abc"}"#, r#""abc""#),
            (r#"{"FunctionRequestId":"a\u0062c","RetMsg":"x"}"#, r#""abc""#),
            (r#"{"FunctionRequestId":"a\"b\u0001"}"#, r#""a\"b\u0001""#),
            (r#"{}"#, r#""""#),
        ] {
            assert_eq!(
                legacy_text(result, InvocationType::Event, PLAIN),
                format!(r#"{HEAD}{{"requestId":{want}}}}}"#),
                "{result}"
            );
        }
    }

    #[test]
    fn the_borrowed_reading_refuses_what_the_owned_one_refuses_with_the_same_words() {
        for result in [
            r#"{"RetMsg":5}"#,
            r#"{"RetMsg":"\ud800"}"#,
            r#"{"Log":"\udc00x"}"#,
            r#"{"FunctionRequestId":["a"]}"#,
            r#"{"Duration":"1"}"#,
            r#"{"RetMsg":"a","RetMsg":"b"}"#,
            r#"{"ErrMsg":{}}"#,
            r#"[1]"#,
        ] {
            let body = format!(r#"{{"Response":{{"Result":{result},"RequestId":"r"}}}}"#);
            let owned = invoke::parse_response(body.as_bytes()).unwrap_err();
            assert!(
                matches!(owned, invoke::ParseError::MalformedResult(_)),
                "{result}: {owned:?}"
            );
            assert_eq!(
                invoke::parse_response_ref(body.as_bytes()).unwrap_err(),
                owned,
                "{result}"
            );
        }
    }

    /// The official 3.0 sample result (docs/protocol.md, "Invoke"), with
    /// `InvokeResult` as given.
    fn result(invoke_result: i64) -> Scripted {
        Scripted::ok(
            json!({"Result": {"MemUsage": 3207168, "Log": "", "RetMsg": "hello from scf",
                "BillDuration": 100, "FunctionRequestId": "6add56fa-58f1-11e8-89a9-5254005d5fdb",
                "Duration": 0.826, "ErrMsg": "", "InvokeResult": invoke_result}}),
            "c2af8a64-c922-4d55-aee0-bd86a5c2cd12",
        )
    }

    /// `Invoke`'s success.
    fn sample() -> Scripted {
        result(0)
    }

    fn throttled() -> Scripted {
        Scripted::error("RequestLimitExceeded", "too many requests", "rid-t")
    }

    fn with(t: &std::sync::Arc<ScriptedTransport>, settings: ActionSettings) -> Bridge {
        let mut b = bridge(t.clone());
        b.actions = settings;
        b
    }

    fn mode(sync_action: SyncAction) -> ActionSettings {
        ActionSettings {
            sync_action,
            ..ActionSettings::default()
        }
    }

    const SYNC: &[(&str, &str)] = &[
        ("Action", "InvokeFunction"),
        ("functionName", "hello"),
        ("param", r#"{"a":1}"#),
        ("namespace", "prod"),
    ];

    #[tokio::test]
    async fn a_sync_call_is_one_3_0_invoke_function_with_event_and_latest_qualifier() {
        let t = ScriptedTransport::new([result(200)]);
        let reply = get(&bridge(t.clone()), SYNC).await;
        assert_eq!(
            String::from_utf8(reply.answer.to_json()).unwrap(),
            r#"{"code":0,"message":"","codeDesc":"Success","data":{"requestId":"6add56fa-58f1-11e8-89a9-5254005d5fdb","duration":0.826,"billDuration":100,"memUsage":3207168,"log":"","retMsg":"hello from scf","errMsg":"","invokeResult":0,"payLoad":"hello from scf","logMsg":"","memSize":3207168}}"#
        );
        let calls = t.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].action, "InvokeFunction");
        assert_eq!(calls[0].region, "ap-guangzhou");
        assert!(calls[0].signed);
        assert_eq!(
            calls[0].body,
            json!({"FunctionName": "hello", "Qualifier": "$LATEST", "Event": "{\"a\":1}",
                "Namespace": "prod"})
        );
        assert_eq!(
            reply.request_id.as_deref(),
            Some("c2af8a64-c922-4d55-aee0-bd86a5c2cd12")
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
    async fn invoke_mode_sends_invoke_with_client_context_and_keeps_its_invoke_result() {
        let t = ScriptedTransport::new([sample()]);
        let reply = get(&with(&t, mode(SyncAction::Invoke)), SYNC).await;
        let v = json(&reply);
        assert_eq!(v["data"]["invokeResult"], 0);
        assert_eq!(v["data"]["retMsg"], "hello from scf");
        let calls = t.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].action, "Invoke");
        assert_eq!(
            calls[0].body,
            json!({"FunctionName": "hello", "Qualifier": "$LATEST",
                "ClientContext": "{\"a\":1}", "Namespace": "prod"})
        );
    }

    #[tokio::test]
    async fn the_callers_version_is_the_qualifier_mapped_as_for_every_action() {
        for (version, qualifier) in [("LATEST", "$LATEST"), ("3", "3"), ("$LATEST", "$LATEST")] {
            for sync_action in [SyncAction::Auto, SyncAction::Invoke] {
                let t = ScriptedTransport::new([result(200), sample()]);
                get(
                    &with(&t, mode(sync_action)),
                    &[
                        ("Action", "InvokeFunction"),
                        ("functionName", "f"),
                        ("version", version),
                    ],
                )
                .await;
                assert_eq!(t.calls()[0].body["Qualifier"], qualifier, "{version}");
            }
        }
    }

    #[tokio::test]
    async fn a_status_code_other_than_200_is_kept_as_invoke_result() {
        let t = ScriptedTransport::new([result(430)]);
        let reply = get(&bridge(t.clone()), SYNC).await;
        let v = json(&reply);
        assert_eq!(v["code"], 0);
        assert_eq!(v["data"]["invokeResult"], 430);
        assert_eq!(t.calls().len(), 1, "430 may have run: never sent again");
    }

    #[tokio::test]
    async fn an_invoke_answer_of_200_is_not_rewritten() {
        // Only 3.0 InvokeFunction's InvokeResult is a status code.
        let t = ScriptedTransport::new([result(200)]);
        let reply = get(&with(&t, mode(SyncAction::Invoke)), SYNC).await;
        assert_eq!(json(&reply)["data"]["invokeResult"], 200);
    }

    #[tokio::test]
    async fn documented_aliases_can_be_turned_off() {
        let t = ScriptedTransport::new([result(200)]);
        let settings = ActionSettings {
            documented_aliases: false,
            ..ActionSettings::default()
        };
        let v = json(&get(&with(&t, settings), SYNC).await);
        let keys: Vec<&String> = v["data"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "requestId",
                "duration",
                "billDuration",
                "memUsage",
                "log",
                "retMsg",
                "errMsg",
                "invokeResult"
            ]
        );
    }

    #[tokio::test]
    async fn an_async_call_always_goes_to_invoke() {
        for sync_action in [SyncAction::Auto, SyncAction::InvokeFunction] {
            let t = ScriptedTransport::new([Scripted::ok(
                json!({"Result": {"FunctionRequestId": "abc"}}),
                "r",
            )]);
            let reply = get(
                &with(&t, mode(sync_action)),
                &[
                    ("Action", "InvokeFunction"),
                    ("functionName", "f"),
                    ("invokeType", "Event"),
                ],
            )
            .await;
            assert_eq!(json(&reply)["data"], json!({"requestId": "abc"}));
            let calls = t.calls();
            assert_eq!(calls[0].action, "Invoke");
            assert_eq!(calls[0].body["InvocationType"], "Event");
            assert_eq!(calls[0].body["Qualifier"], "$LATEST");
        }
    }

    #[tokio::test]
    async fn auto_falls_back_to_invoke_once_and_remembers_the_region() {
        let t = ScriptedTransport::new([
            Scripted::error("UnsupportedOperation.Region", "not here", "r1"),
            sample(),
            sample(),
        ]);
        let b = bridge(t.clone());
        let before = fallbacks("UnsupportedOperation.Region");
        let reply = get(&b, SYNC).await;
        let v = json(&reply);
        assert_eq!(v["code"], 0, "{v}");
        assert_eq!(v["data"]["invokeResult"], 0);
        assert_eq!(t.actions(), ["InvokeFunction", "Invoke"]);
        assert_eq!(t.calls()[1].body["ClientContext"], "{\"a\":1}");
        assert!(fallbacks("UnsupportedOperation.Region") > before);
        // The next call in that region goes straight to Invoke.
        get(&b, SYNC).await;
        assert_eq!(t.actions(), ["InvokeFunction", "Invoke", "Invoke"]);
        assert!(b.actions.invoke_function_refused.remembers("ap-guangzhou"));
    }

    fn fallbacks(code: &str) -> f64 {
        let text = crate::metrics::handle().render();
        let prefix = format!(
            "{}{{code=\"{code}\"}} ",
            crate::metrics::names::INVOKE_FUNCTION_FALLBACKS
        );
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0.0, |n| n.parse().unwrap())
    }

    #[tokio::test]
    async fn invalid_action_also_proves_invoke_function_unsupported() {
        let t = ScriptedTransport::new([
            Scripted::error("InvalidAction", "no such action", "r1"),
            sample(),
        ]);
        let v = json(&get(&bridge(t.clone()), SYNC).await);
        assert_eq!(v["code"], 0, "{v}");
        assert_eq!(t.actions(), ["InvokeFunction", "Invoke"]);
    }

    #[tokio::test]
    async fn a_region_without_invoke_function_gets_invoke_in_auto_mode() {
        let t = ScriptedTransport::new([sample()]);
        let mut params = SYNC.to_vec();
        params.push(("Region", "ap-bangkok"));
        get(&bridge(t.clone()), &params).await;
        assert_eq!(t.actions(), ["Invoke"]);
        assert_eq!(t.calls()[0].region, "ap-bangkok");
    }

    #[tokio::test]
    async fn invoke_function_mode_never_falls_back() {
        let t = ScriptedTransport::new([
            Scripted::error("UnsupportedOperation.Region", "not here", "r1"),
            sample(),
        ]);
        let mut params = SYNC.to_vec();
        params.push(("Region", "ap-bangkok"));
        let v = json(&get(&with(&t, mode(SyncAction::InvokeFunction)), &params).await);
        assert_eq!(v["codeDesc"], "UnsupportedOperation.Region");
        assert_eq!(t.actions(), ["InvokeFunction"]);
    }

    #[tokio::test]
    async fn a_cam_denial_is_not_retried_as_invoke_and_names_the_denied_action() {
        let t = ScriptedTransport::new([
            Scripted::error("UnauthorizedOperation.CAM", "no permission", "r1"),
            sample(),
        ]);
        let v = json(&get(&bridge(t.clone()), SYNC).await);
        assert_eq!(v["code"], 4102);
        assert_eq!(v["codeDesc"], "UnauthorizedOperation.CAM");
        let message = v["message"].as_str().unwrap();
        assert!(message.contains("scf:InvokeFunction"), "{message}");
        assert_eq!(t.actions(), ["InvokeFunction"]);
    }

    #[tokio::test]
    async fn what_may_have_run_is_neither_retried_nor_sent_to_invoke() {
        for answer in [
            Scripted::error("InternalError", "oops", "r1"),
            Scripted::error("FailedOperation.InvokeFunction", "oops", "r1"),
            Scripted::connection_lost(),
            result(500),
            result(433),
        ] {
            let t = ScriptedTransport::new([answer, sample(), sample()]);
            get(&bridge(t.clone()), SYNC).await;
            assert_eq!(t.actions(), ["InvokeFunction"]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_call_is_sent_again_until_it_runs() {
        let t = ScriptedTransport::new([throttled(), throttled(), throttled(), result(200)]);
        let started = tokio::time::Instant::now();
        let reply = get(&bridge(t.clone()), SYNC).await;
        let v = json(&reply);
        assert_eq!(v["code"], 0, "{v}");
        assert_eq!(t.actions(), ["InvokeFunction"; 4]);
        assert_eq!(reply.info.throttle_retries, 3);
        // Three back-offs: 25–50, 50–100 and 100–200 ms.
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(175), "{waited:?}");
        assert!(waited <= Duration::from_millis(350), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn burst_and_concurrency_status_codes_are_retried_too() {
        let t = ScriptedTransport::new([
            result(432),
            result(429),
            Scripted::error("LimitExceeded.Quota", "quota", "r"),
            result(200),
        ]);
        let v = json(&get(&bridge(t.clone()), SYNC).await);
        assert_eq!(v["code"], 0, "{v}");
        assert_eq!(v["data"]["invokeResult"], 0);
        assert_eq!(t.calls().len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn the_bridge_gives_up_at_the_budget_with_4400_saying_how_long_it_tried() {
        let t = ScriptedTransport::new(std::iter::repeat_n(throttled(), 100));
        let started = tokio::time::Instant::now();
        let reply = get(&bridge(t.clone()), SYNC).await;
        let elapsed = started.elapsed();
        let v = json(&reply);
        assert_eq!(v["code"], 4400);
        assert_eq!(v["codeDesc"], "RequestLimitExceeded");
        let message = v["message"].as_str().unwrap();
        let tries = t.calls().len();
        assert!(
            message.contains(&format!("tried {tries} times over")),
            "{message}"
        );
        assert!(elapsed <= Duration::from_millis(2000), "{elapsed:?}");
        // 25+50+100+200+400 ms at the least before the 800 ms steps.
        assert!((6..=12).contains(&tries), "{tries}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_bridge_never_retries_past_the_request_deadline() {
        let t = ScriptedTransport::new(std::iter::repeat_n(throttled(), 100));
        let settings = ActionSettings {
            request_deadline: Duration::from_millis(120),
            ..ActionSettings::default()
        };
        let started = tokio::time::Instant::now();
        let v = json(&get(&with(&t, settings), SYNC).await);
        assert_eq!(v["code"], 4400);
        assert!(started.elapsed() <= Duration::from_millis(120));
        // Waits of 25–50 and 50–100 ms fit; 100–200 ms more cannot.
        assert!((2..=3).contains(&t.calls().len()), "{}", t.calls().len());
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_budget_turns_retries_off() {
        let t = ScriptedTransport::new([throttled(), sample()]);
        let settings = ActionSettings {
            throttle_retry_budget: Duration::ZERO,
            ..ActionSettings::default()
        };
        let v = json(&get(&with(&t, settings), SYNC).await);
        assert_eq!(v["code"], 4400);
        assert_eq!(t.calls().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_concurrency_rejection_given_up_is_4400_not_a_function_result() {
        let t = ScriptedTransport::new(std::iter::repeat_n(result(432), 100));
        let v = json(&get(&bridge(t.clone()), SYNC).await);
        assert_eq!(v["code"], 4400);
        assert_eq!(v["codeDesc"], "ResourceLimitReached");
        assert!(v["message"].as_str().unwrap().contains("did not run"));
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
            &with(&t, mode(SyncAction::Invoke)),
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
    async fn a_dry_run_signs_and_answers_without_sending() {
        for sync_action in [SyncAction::Auto, SyncAction::Invoke] {
            let t = ScriptedTransport::new([]);
            let mut b = with(&t, mode(sync_action));
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

    #[test]
    fn the_choice_of_3_0_action() {
        use InvocationType::{Event, RequestResponse as Sync};
        use SyncAction::*;
        use Target::{Invoke as I, InvokeFunction as F};
        let cases = [
            (Auto, Sync, "ap-guangzhou", false, F),
            (Auto, Sync, "ap-guangzhou", true, I),
            (Auto, Sync, "ap-bangkok", false, I),
            (Auto, Sync, "na-toronto", false, I),
            (Auto, Event, "ap-guangzhou", false, I),
            (Invoke, Sync, "ap-guangzhou", false, I),
            (InvokeFunction, Sync, "ap-bangkok", true, F),
            (InvokeFunction, Event, "ap-guangzhou", false, I),
        ];
        for (mode, kind, region, refused, want) in cases {
            assert_eq!(
                choose(mode, kind, region, refused),
                want,
                "{mode:?} {kind:?} {region} {refused}"
            );
        }
    }

    #[test]
    fn only_unknown_or_unsupported_proves_invoke_function_unavailable() {
        for code in [
            "InvalidAction",
            "UnsupportedOperation",
            "UnsupportedOperation.Region",
            "UnsupportedRegion",
        ] {
            assert!(proves_unsupported(code), "{code}");
        }
        for code in [
            "UnauthorizedOperation.CAM",
            "InternalError",
            "ResourceNotFound.Function",
            "UnsupportedOperationX",
            "RequestLimitExceeded",
        ] {
            assert!(!proves_unsupported(code), "{code}");
        }
    }
}
