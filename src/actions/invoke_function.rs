//! `InvokeFunction` → 3.0 `Invoke` (docs/protocol.md, "InvokeFunction"):
//! `functionName`, `invokeType`, `logType`, `param`, `namespace`, `version`
//! become `FunctionName`, `InvocationType`, `LogType`, `ClientContext`,
//! `Namespace`, `Qualifier` (only what the caller sent); a synchronous
//! `Result` becomes the legacy `data` with lower-camel keys, an
//! asynchronous one just `data.requestId`.
//!
//! The hot path of the bridge: `param` is moved, never copied, from the
//! decoded form into the 3.0 body, and the answer is parsed borrowed.

use bytes::Bytes;

use super::{Action, Failure, LegacyParams, Scf3Client, Subject};
use crate::error::{BridgeError, ErrorKind};
use crate::legacy::answer::LegacyAnswer;
use crate::legacy::request::{self, InvokeType};
use crate::scf3::envelope::{CallKind, Scf3Error};
use crate::scf3::invoke::{self, Outcome};
use crate::translate;
use crate::walk::{request_error, DRY_RUN_CODE_DESC, DRY_RUN_MESSAGE};

/// `Action=InvokeFunction`.
pub struct InvokeFunction;

impl Action for InvokeFunction {
    const NAME: &'static str = "InvokeFunction";
    const SCF3_ACTIONS: &'static [&'static str] = &[invoke::ACTION];
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
        let body = Bytes::from(translate::invoke_body(&f));
        // `param` is in the body now; the call may take minutes.
        f.param = None;
        // An `Invoke` runs the function: a mutation, never sent twice.
        let answer = match scf
            .send(invoke::ACTION, invoke::VERSION, CallKind::Mutation, body)
            .await
        {
            Err(Failure::DryRun) => return Ok(dry_run(f.invoke_type)),
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
                let t = translate::from_outcome(outcome, f.invoke_type);
                scf.note_request_id(t.request_id);
                scf.note_function_request_id(t.function_request_id);
                Ok(t.answer)
            }
        }
    }
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
    use serde_json::json;

    use crate::config::UpstreamMode;
    use crate::testing::{bridge, get, json, Scripted, ScriptedTransport};

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
