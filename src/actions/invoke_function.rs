//! `InvokeFunction` → 3.0 `InvokeFunction` or `Invoke` (docs/protocol.md,
//! "InvokeFunction"). A synchronous call goes to 3.0 `InvokeFunction`
//! (10,000/s against `Invoke`'s 100/s) unless `upstream.sync_action =
//! "invoke"`; an asynchronous one (`invokeType=Event`) always goes to
//! `Invoke`, the only 3.0 action that queues. `functionName`, `logType`,
//! `param`, `namespace` and `version` become `FunctionName`, `LogType`,
//! `Event` (`ClientContext` for `Invoke`), `Namespace` and `Qualifier` —
//! always sent, `$LATEST` when the caller named no version. A synchronous
//! `Result` becomes the legacy `data` with lower-camel keys (and the
//! documented aliases), an asynchronous one just `data.requestId`.
//!
//! With `sync_action = "auto"`, a region whose 3.0 refuses `InvokeFunction`
//! in a way that proves nothing ran (`InvalidAction`, `UnsupportedOperation*`,
//! `UnsupportedRegion`), or that is not in the documented `InvokeFunction`
//! region list, is sent `Invoke` instead, and a refusal is remembered for
//! that region for a while. A CAM denial is never retried as `Invoke`.
//!
//! The hot path of the bridge: `param` is moved, never copied, from the
//! decoded form into the 3.0 body, and the answer is parsed borrowed.

use bytes::Bytes;

use super::client::{throttle_reason, unusable, GaveUp, Judged};
use super::settings::SyncAction;
use super::{Action, Failure, LegacyParams, Scf3Client, Subject};
use crate::error::{BridgeError, ErrorKind};
use crate::legacy::answer::{codes, LegacyAnswer};
use crate::legacy::request::{self, InvokeType};
use crate::metrics;
use crate::scf3::envelope::{CallKind, Scf3Error};
use crate::scf3::invoke::{self, Outcome, INVOKE_FUNCTION_ACTION};
use crate::translate::{self, SyncShape};
use crate::walk::{request_error, DRY_RUN_CODE_DESC, DRY_RUN_MESSAGE};

/// `Action=InvokeFunction`.
pub struct InvokeFunction;

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
    invoke_type: InvokeType,
    region: &str,
    refused_recently: bool,
) -> Target {
    match (invoke_type, sync_action) {
        (InvokeType::Event, _) | (_, SyncAction::Invoke) => Target::Invoke,
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
    type Request = request::InvokeFunction;

    fn parse(params: LegacyParams) -> Result<Self::Request, BridgeError> {
        let mut f = request::parse_invoke_function(params.raw(), false).map_err(request_error)?;
        // `param` is taken over from the decoded text, not copied.
        f.param = params.into_value("param").filter(|v| !v.is_empty());
        check_event_size(&f)?;
        Ok(f)
    }

    fn subject(f: &Self::Request) -> Subject<'_> {
        Subject {
            function: Some(&f.function_name),
            namespace: f.namespace.as_deref(),
        }
    }

    async fn run(
        mut f: Self::Request,
        scf: &mut Scf3Client<'_>,
    ) -> Result<LegacyAnswer, Failure> {
        let settings = scf.settings();
        let region = scf.region().to_owned();
        let target = choose(
            settings.sync_action,
            f.invoke_type,
            &region,
            settings.invoke_function_refused.remembers(&region),
        );
        let shape = SyncShape {
            status_code_result: false,
            documented_aliases: settings.documented_aliases,
        };
        if target == Target::InvokeFunction {
            let body = Bytes::from(translate::invoke_function_body(&f));
            let fall_back = settings.sync_action == SyncAction::Auto;
            if !fall_back {
                // `param` is in the body now and will not be needed again.
                f.param = None;
            }
            let shape = SyncShape {
                status_code_result: true,
                ..shape
            };
            match invoke(scf, INVOKE_FUNCTION_ACTION, body, &f, shape).await {
                Err(Failure::Scf(e)) if fall_back && proves_unsupported(&e.code) => {
                    tracing::info!(
                        region = %region,
                        code = %e.code,
                        "3.0 refused InvokeFunction as unsupported; sending Invoke there for a while"
                    );
                    settings.invoke_function_refused.remember(&region);
                    metrics::invoke_function_fallback(&e.code);
                }
                other => return other,
            }
        }
        let body = Bytes::from(translate::invoke_body(&f));
        // `param` is in the body now; the call may take minutes.
        f.param = None;
        invoke(scf, invoke::ACTION, body, &f, shape).await
    }
}

/// Sends one invocation to `action` (`Invoke` or `InvokeFunction`) and maps
/// its answer. Throttled answers are sent again by the client within the
/// budget; an invocation is otherwise never sent twice.
async fn invoke(
    scf: &mut Scf3Client<'_>,
    action: &'static str,
    body: Bytes,
    f: &request::InvokeFunction,
    shape: SyncShape,
) -> Result<LegacyAnswer, Failure> {
    let judge = |answer: Bytes| {
        let outcome = invoke::parse_response(&answer).map_err(|e| Failure::Bridge(unusable(e)))?;
        Ok(match not_run(action, &outcome) {
            Some(reason) => Judged::NotRun {
                reason,
                answer: outcome,
            },
            None => Judged::Answer(outcome),
        })
    };
    // An invocation runs the function: a mutation, never sent twice
    // unless SCF proved it did not run.
    let sent = match scf
        .send_judged(action, invoke::VERSION, CallKind::Mutation, body, judge)
        .await
    {
        Err(Failure::DryRun) => return Ok(dry_run(f.invoke_type)),
        other => other?,
    };
    match sent.answer {
        Outcome::Error {
            code,
            mut message,
            request_id,
        } => {
            if let Some(g) = sent.gave_up {
                message = format!("{message}; {}", g.describe());
            }
            Err(scf.refused(Scf3Error {
                code,
                message,
                request_id,
            }))
        }
        outcome @ Outcome::Result { .. } => {
            if let (Some(g), Outcome::Result { result, request_id }) = (sent.gave_up, &outcome) {
                scf.note_request_id(request_id.clone());
                scf.note_function_request_id(result.function_request_id.clone());
                return Ok(gave_up_answer(g));
            }
            let t = translate::from_outcome_with(outcome, f.invoke_type, shape);
            scf.note_request_id(t.request_id);
            scf.note_function_request_id(t.function_request_id);
            Ok(t.answer)
        }
    }
}

/// The retry reason of an invocation answer that proves the function did
/// not run: the frequency limits, `LimitExceeded.Quota`, and 3.0
/// `InvokeFunction`'s burst (429), concurrency (432) and capacity (449)
/// status codes, all rejected before execution (docs/protocol.md, "Which
/// errors are safe to retry").
pub fn not_run(action: &str, outcome: &Outcome) -> Option<&'static str> {
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
fn check_event_size(f: &request::InvokeFunction) -> Result<(), BridgeError> {
    let limit = match f.invoke_type {
        InvokeType::RequestResponse => invoke::SYNC_EVENT_LIMIT,
        InvokeType::Event => invoke::ASYNC_EVENT_LIMIT,
    };
    let size = f.param.as_deref().map_or(0, str::len);
    if size > limit {
        return Err(BridgeError::new(
            ErrorKind::RequestTooLarge,
            format!(
                "`param` is {size} bytes; SCF accepts at most {limit} bytes for a {} invocation",
                translate::invocation_type(f.invoke_type).as_str()
            ),
        ));
    }
    Ok(())
}

/// The answer of a dry run: the shape of a real one, with a made-up
/// execution id.
fn dry_run(invoke_type: InvokeType) -> LegacyAnswer {
    let id = format!("dry-run-{}", uuid::Uuid::new_v4());
    let outcome = Outcome::Result {
        result: invoke::InvokeResult {
            function_request_id: Some(id),
            ..Default::default()
        },
        request_id: None,
    };
    let mut answer = translate::from_outcome(outcome, invoke_type).answer;
    answer.message = DRY_RUN_MESSAGE.into();
    answer.code_desc = DRY_RUN_CODE_DESC.into();
    answer
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::actions::settings::ActionSettings;
    use crate::config::UpstreamMode;
    use crate::testing::{bridge, get, json, Scripted, ScriptedTransport};
    use crate::walk::Bridge;

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

    fn with(t: &Arc<ScriptedTransport>, settings: ActionSettings) -> Bridge {
        let mut b = bridge(t.clone());
        b.actions = Arc::new(settings);
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
        use InvokeType::{Event, RequestResponse as Sync};
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
