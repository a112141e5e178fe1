//! `DeleteTrigger` → 3.0 `DeleteTrigger` (docs/protocol.md,
//! "SetTrigger and DeleteTrigger"): `functionName`, `triggerName`, `type`
//! (lower-cased), `triggerDesc` (required for COS), `namespace`, `version`
//! → `Qualifier`; an old-style COS trigger name is rewritten as
//! `SetTrigger` does. The legacy answer has no `data`.

use serde::Serialize;

use super::create_function::Empty;
use super::params::missing;
use super::set_trigger::{Trigger, TriggerBody};
use super::{Action, Failure, LegacyParams, Scf3Client, Subject};
use crate::error::BridgeError;
use crate::legacy::answer::LegacyAnswer;
use crate::scf3::envelope::{self, CallKind};

/// `Action=DeleteTrigger`.
pub struct DeleteTrigger;

/// The legacy request: the trigger, checked.
pub type Request = Trigger;

/// The 3.0 `DeleteTrigger` body: only these fields are ever sent.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct DeleteTriggerBody<'a>(pub TriggerBody<'a>);

impl envelope::Request for DeleteTriggerBody<'_> {
    const ACTION: &'static str = "DeleteTrigger";
    const KIND: CallKind = CallKind::Mutation;
    type Response = Empty;
}

impl Action for DeleteTrigger {
    const NAME: &'static str = "DeleteTrigger";
    const SCF3_ACTIONS: &'static [&'static str] = &["DeleteTrigger"];
    type Request = Request;

    fn parse(p: LegacyParams) -> Result<Request, BridgeError> {
        let trigger = Trigger::parse(&p)?;
        if trigger.kind == "cos" && trigger.trigger_desc.is_none() {
            return Err(missing("triggerDesc"));
        }
        Ok(trigger)
    }

    fn subject(r: &Request) -> Subject<'_> {
        r.subject()
    }

    async fn run(r: Request, scf: &mut Scf3Client<'_>) -> Result<LegacyAnswer, Failure> {
        scf.call(&body(&r)).await?;
        Ok(LegacyAnswer::success_without_data())
    }
}

/// The 3.0 body for a legacy request.
pub fn body(r: &Request) -> DeleteTriggerBody<'_> {
    DeleteTriggerBody(TriggerBody::of(r, &r.trigger_name, r.trigger_desc.as_deref()))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::error::ErrorKind;
    use crate::testing::{bridge, get, json, Scripted, ScriptedTransport};

    fn parse(form: &str) -> Result<Request, BridgeError> {
        crate::testing::parse::<DeleteTrigger>(form)
    }

    fn body_json(form: &str) -> Value {
        serde_json::to_value(body(&parse(form).unwrap())).unwrap()
    }

    #[test]
    fn parameters_map_with_type_and_cos_name_translated() {
        assert_eq!(
            body_json("functionName=f&triggerName=t1&type=Timer&version=LATEST&namespace=ns"),
            json!({"FunctionName": "f", "TriggerName": "t1", "Type": "timer",
                "Namespace": "ns", "Qualifier": "$LATEST"})
        );
        // The legacy doc's COS example.
        assert_eq!(
            body_json(
                "functionName=f&type=cos&triggerName=scfdest-1251762227.cn-south.myqcloud.com\
                 &triggerDesc=%7B%22event%22%3A%22cos%3AObjectCreated%3A*%22%7D"
            ),
            json!({"FunctionName": "f", "Type": "cos",
                "TriggerName": "scfdest-1251762227.cos.ap-guangzhou.myqcloud.com",
                "TriggerDesc": "{\"event\":\"cos:ObjectCreated:*\"}"})
        );
    }

    #[test]
    fn cos_needs_its_desc_and_the_type_is_checked() {
        let e = parse("functionName=f&type=cos&triggerName=b-1.cn-east.myqcloud.com").unwrap_err();
        assert_eq!(e.detail, "missing required parameter `triggerDesc`");
        let e = parse("functionName=f&type=apigw&triggerName=t").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidParameterValue);
        assert!(e.detail.contains("`type`"), "{}", e.detail);
        assert_eq!(parse("functionName=f&type=timer").unwrap_err().kind, ErrorKind::MissingParameter);
    }

    #[tokio::test]
    async fn the_walk_answers_without_data_and_maps_not_found() {
        let t = ScriptedTransport::new([
            Scripted::ok(json!({}), "r1"),
            Scripted::error("ResourceNotFound.Trigger", "no such trigger", "r2"),
        ]);
        let b = bridge(t.clone());
        let q = [("Action", "DeleteTrigger"), ("functionName", "f"), ("triggerName", "t"), ("type", "timer")];
        assert_eq!(
            get(&b, &q).await.answer.to_json(),
            br#"{"code":0,"message":"","codeDesc":"Success"}"#
        );
        let v = json(&get(&b, &q).await);
        assert_eq!((v["code"].as_i64(), v["codeDesc"].as_str()), (Some(5000), Some("ResourceNotFound.Trigger")));
        assert_eq!(t.actions(), ["DeleteTrigger", "DeleteTrigger"]);
    }
}
