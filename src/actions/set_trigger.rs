//! `SetTrigger` → 3.0 `CreateTrigger`, `UpdateTrigger` for an existing
//! timer, or `CreateTrigger` then `DeleteTrigger` to rename a timer
//! (docs/protocol.md, "SetTrigger and DeleteTrigger").
//!
//! The legacy action created and modified: a `CreateTrigger` (sent with
//! `Enable=OPEN`, legacy triggers were live at once) refused because the
//! timer exists becomes an `UpdateTrigger` of its `TriggerDesc`; COS and
//! CMQ triggers could not be updated, so for them that refusal stands.
//! `newTriggerName` renames a timer: the new trigger is created first (no
//! moment without one), then the old one deleted; when that delete fails
//! both exist and the legacy 5100 names the old one. A `CreateTrigger`
//! refused with `FailedOperation.CreateTrigger` (the function is not
//! `Active`; nothing was created) is sent once more after the function is
//! `Active`. Old COS trigger names (`bucket-appid.cn-south.myqcloud.com`)
//! are rewritten to 3.0's XML endpoints (`bucket-appid.cos.ap-guangzhou…`).

use serde::Serialize;
use serde_json::Value;

use super::create_function::{wait_ready, with_context, Empty, Ready};
use super::delete_trigger::DeleteTriggerBody;
use super::get_function::GetFunctionBody;
use super::params::{invalid_value, missing};
use super::{Action, Failure, LegacyParams, Scf3Client, Subject};
use crate::error::BridgeError;
use crate::legacy::answer::{codes, LegacyAnswer};
use crate::scf3::envelope::{self, CallKind};
use crate::translate::qualifier;

/// `Action=SetTrigger`.
pub struct SetTrigger;

/// The trigger a `SetTrigger` or `DeleteTrigger` names, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub function_name: String,
    /// 3.0's name for it (COS names rewritten).
    pub trigger_name: String,
    /// `timer`, `cos` or `cmq`.
    pub kind: &'static str,
    pub trigger_desc: Option<String>,
    pub namespace: Option<String>,
    pub version: Option<String>,
}

impl Trigger {
    /// Reads `functionName`, `type`, `triggerName`, `triggerDesc`,
    /// `namespace` and `version`.
    pub fn parse(p: &LegacyParams) -> Result<Trigger, BridgeError> {
        let function_name = p.required("functionName")?.to_owned();
        let kind = trigger_kind(p)?;
        Ok(Trigger {
            function_name,
            trigger_name: trigger_name(kind, p.required("triggerName")?),
            kind,
            trigger_desc: p.optional("triggerDesc").map(str::to_owned),
            namespace: p.optional("namespace").map(str::to_owned),
            version: p.optional("version").map(str::to_owned),
        })
    }

    /// The function and namespace, for the log line.
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            function: Some(&self.function_name),
            namespace: self.namespace.as_deref(),
        }
    }
}

/// The legacy request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub trigger: Trigger,
    /// A timer's new name.
    pub new_trigger_name: Option<String>,
}

/// The fields `CreateTrigger`, `UpdateTrigger` and `DeleteTrigger` share
/// (`DeleteTrigger` has exactly these).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TriggerBody<'a> {
    pub function_name: &'a str,
    pub trigger_name: &'a str,
    #[serde(rename = "Type")]
    pub kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_desc: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<&'a str>,
}

impl<'a> TriggerBody<'a> {
    /// The trigger `name` (with `desc`) of the function `t` names.
    pub fn of(t: &'a Trigger, name: &'a str, desc: Option<&'a str>) -> Self {
        TriggerBody {
            function_name: &t.function_name,
            trigger_name: name,
            kind: t.kind,
            trigger_desc: desc,
            namespace: t.namespace.as_deref(),
            qualifier: t.version.as_deref().map(qualifier),
        }
    }
}

/// The 3.0 `CreateTrigger` body: only these fields are ever sent.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateTriggerBody<'a> {
    #[serde(flatten)]
    pub trigger: TriggerBody<'a>,
    /// Always `OPEN`.
    pub enable: &'static str,
}

/// The 3.0 `UpdateTrigger` body.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct UpdateTriggerBody<'a>(pub TriggerBody<'a>);

impl envelope::Request for CreateTriggerBody<'_> {
    const ACTION: &'static str = "CreateTrigger";
    const KIND: CallKind = CallKind::Mutation;
    type Response = Empty;
}

impl envelope::Request for UpdateTriggerBody<'_> {
    const ACTION: &'static str = "UpdateTrigger";
    const KIND: CallKind = CallKind::Mutation;
    type Response = Empty;
}

impl Action for SetTrigger {
    const NAME: &'static str = "SetTrigger";
    const SCF3_ACTIONS: &'static [&'static str] = &[
        "CreateTrigger",
        "UpdateTrigger",
        "DeleteTrigger",
        "GetFunction",
    ];
    type Request = Request;

    fn parse(p: LegacyParams) -> Result<Request, BridgeError> {
        let trigger = Trigger::parse(&p)?;
        let new_trigger_name = p.optional("newTriggerName").map(str::to_owned);
        if new_trigger_name.is_some() && trigger.kind != "timer" {
            return Err(invalid_value(
                "newTriggerName",
                "no value: only a timer trigger can be renamed",
            ));
        }
        if trigger.trigger_desc.is_none() && trigger.kind != "cmq" && new_trigger_name.is_none() {
            return Err(missing("triggerDesc"));
        }
        Ok(Request {
            trigger,
            new_trigger_name,
        })
    }

    fn subject(r: &Request) -> Subject<'_> {
        r.trigger.subject()
    }

    async fn run(r: Request, scf: &mut Scf3Client<'_>) -> Result<LegacyAnswer, Failure> {
        match &r.new_trigger_name {
            Some(new_name) => rename(&r, new_name, scf).await,
            None => match create(&r, &r.trigger.trigger_name, r.trigger.trigger_desc.as_deref(), scf).await {
                Err(Failure::Scf(e)) if exists(&e.code) && r.trigger.kind == "timer" => {
                    scf.call(&update_body(&r)).await?;
                    Ok(LegacyAnswer::success_without_data())
                }
                other => other.map(|()| LegacyAnswer::success_without_data()),
            },
        }
    }
}

/// Whether a 3.0 error says the trigger already exists.
fn exists(code: &str) -> bool {
    code == "ResourceInUse.Trigger" || code == "ResourceInUse.TriggerName"
}

/// `CreateTrigger` of `name`; sent once more when SCF refused it because
/// the function was not `Active` and the function has become `Active`.
async fn create(
    r: &Request,
    name: &str,
    desc: Option<&str>,
    scf: &mut Scf3Client<'_>,
) -> Result<(), Failure> {
    let body = create_body(r, name, desc);
    match scf.call(&body).await {
        Err(Failure::Scf(e)) if e.code == "FailedOperation.CreateTrigger" => {
            let namespace = r.trigger.namespace.as_deref();
            match wait_ready(scf, &r.trigger.function_name, namespace).await? {
                Ready::Active => scf.call(&body).await.map(drop),
                _ => Err(Failure::Scf(e)),
            }
        }
        other => other.map(drop),
    }
}

/// Creates the timer `new_name`, then deletes the old one.
async fn rename(
    r: &Request,
    new_name: &str,
    scf: &mut Scf3Client<'_>,
) -> Result<LegacyAnswer, Failure> {
    let desc = match &r.trigger.trigger_desc {
        Some(desc) => desc.clone(),
        None => match timer_desc(r, scf).await? {
            Some(desc) => desc,
            None => {
                return Ok(LegacyAnswer::error(
                    codes::RESOURCE_NOT_FOUND,
                    "ResourceNotFound.Trigger",
                    format!(
                        "(ResourceNotFound.Trigger) the function `{}` has no timer trigger `{}` \
                         to rename",
                        r.trigger.function_name, r.trigger.trigger_name
                    ),
                ))
            }
        },
    };
    create(r, new_name, Some(&desc), scf).await?;
    let old = DeleteTriggerBody(TriggerBody::of(&r.trigger, &r.trigger.trigger_name, None));
    let context = format!(
        "the new trigger `{new_name}` was created, but deleting the old trigger `{}` failed, \
         so both exist",
        r.trigger.trigger_name
    );
    match scf.call(&old).await {
        Ok(_) => Ok(LegacyAnswer::success_without_data()),
        Err(Failure::Scf(e)) => Ok(LegacyAnswer::error(
            codes::OPERATION_FAILED,
            e.code.clone(),
            format!("({}) {context}: {}", e.code, e.message),
        )),
        Err(e) => Err(with_context(e, &context)),
    }
}

/// The `TriggerDesc` of the timer being renamed, read from `GetFunction`
/// (3.0 reports a timer's as `{"cron":"…"}`; `CreateTrigger` takes the
/// cron itself).
async fn timer_desc(r: &Request, scf: &mut Scf3Client<'_>) -> Result<Option<String>, Failure> {
    let function = scf
        .call(&GetFunctionBody {
            function_name: &r.trigger.function_name,
            qualifier: r.trigger.version.as_deref().map(qualifier),
            namespace: r.trigger.namespace.as_deref(),
            show_code: None,
        })
        .await?;
    Ok(function
        .triggers
        .unwrap_or_default()
        .into_iter()
        .find(|t| t.kind == "timer" && t.trigger_name == r.trigger.trigger_name)
        .map(|t| cron(&t.trigger_desc)))
}

/// `{"cron":"…"}` → the cron; anything else as it is.
fn cron(desc: &str) -> String {
    serde_json::from_str::<Value>(desc)
        .ok()
        .and_then(|v| v.get("cron").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| desc.to_owned())
}

/// The 3.0 `CreateTrigger` body for the trigger `name`.
pub fn create_body<'a>(
    r: &'a Request,
    name: &'a str,
    desc: Option<&'a str>,
) -> CreateTriggerBody<'a> {
    CreateTriggerBody {
        trigger: TriggerBody::of(&r.trigger, name, desc),
        enable: "OPEN",
    }
}

/// The 3.0 `UpdateTrigger` body of an existing timer: its new schedule.
pub fn update_body(r: &Request) -> UpdateTriggerBody<'_> {
    let t = &r.trigger;
    UpdateTriggerBody(TriggerBody::of(t, &t.trigger_name, t.trigger_desc.as_deref()))
}

/// The legacy `type` as 3.0's lower-case `Type`: `timer`, `cos` or `cmq`.
pub fn trigger_kind(p: &LegacyParams) -> Result<&'static str, BridgeError> {
    p.choice(
        "type",
        &[("timer", "timer"), ("cos", "cos"), ("cmq", "cmq")],
        "timer, cos or cmq",
    )?
    .ok_or_else(|| missing("type"))
}

/// 3.0's name of a trigger: a COS trigger named after the bucket's old
/// endpoint (`<bucket>-<appid>.<region>.myqcloud.com`, old region names
/// such as `cn-south`) becomes its XML endpoint
/// (`<bucket>-<appid>.cos.<ap-region>.myqcloud.com`), with the COS SDKs'
/// own region table. Other names pass as they are.
pub fn trigger_name(kind: &str, name: &str) -> String {
    if kind != "cos" {
        return name.to_owned();
    }
    let Some(host) = name.strip_suffix(".myqcloud.com") else {
        return name.to_owned();
    };
    let parts: Vec<&str> = host.split('.').collect();
    let (bucket, region) = match parts[..] {
        [bucket, region] | [bucket, "cos", region] if !bucket.is_empty() && !region.is_empty() => {
            (bucket, region)
        }
        _ => return name.to_owned(),
    };
    let region = match region {
        "cn-south" => "ap-guangzhou",
        "cn-south-2" => "ap-guangzhou-2",
        "cn-east" => "ap-shanghai",
        "cn-southwest" => "ap-chengdu",
        "cn-north" | "tianjin" => "ap-beijing-1",
        other => other,
    };
    format!("{bucket}.cos.{region}.myqcloud.com")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ErrorKind;
    use crate::testing::{bridge, get, json, Scripted, ScriptedTransport};

    fn parse(form: &str) -> Result<Request, BridgeError> {
        crate::testing::parse::<SetTrigger>(form)
    }

    fn create_json(form: &str) -> Value {
        let r = parse(form).unwrap();
        serde_json::to_value(create_body(&r, &r.trigger.trigger_name, r.trigger.trigger_desc.as_deref())).unwrap()
    }

    #[test]
    fn a_timer_becomes_an_open_create_trigger() {
        // The legacy doc's timer example.
        assert_eq!(
            create_json(
                "functionName=testnode&triggerName=timer1&type=Timer\
                 &triggerDesc=*%2F2+*+*+*+*&version=LATEST&namespace=ns"
            ),
            json!({"FunctionName": "testnode", "TriggerName": "timer1", "Type": "timer",
                "TriggerDesc": "*/2 * * * *", "Namespace": "ns", "Qualifier": "$LATEST",
                "Enable": "OPEN"})
        );
    }

    #[test]
    fn old_cos_trigger_names_become_xml_endpoints() {
        for (old, new) in [
            ("scfdest-1251762227.cn-south.myqcloud.com", "scfdest-1251762227.cos.ap-guangzhou.myqcloud.com"),
            ("b-1.cn-east.myqcloud.com", "b-1.cos.ap-shanghai.myqcloud.com"),
            ("b-1.tianjin.myqcloud.com", "b-1.cos.ap-beijing-1.myqcloud.com"),
            ("b-1.cos.cn-southwest.myqcloud.com", "b-1.cos.ap-chengdu.myqcloud.com"),
            ("b-1.ap-beijing.myqcloud.com", "b-1.cos.ap-beijing.myqcloud.com"),
            ("b-1.cos.ap-shanghai.myqcloud.com", "b-1.cos.ap-shanghai.myqcloud.com"),
            ("odd.name", "odd.name"),
        ] {
            assert_eq!(trigger_name("cos", old), new, "{old}");
        }
        assert_eq!(trigger_name("timer", "b-1.cn-east.myqcloud.com"), "b-1.cn-east.myqcloud.com");
        let b = create_json(
            "functionName=f&type=cos&triggerName=scfdest-1251762227.cn-south.myqcloud.com\
             &triggerDesc=%7B%22event%22%3A%22cos%3AObjectCreated%3A*%22%7D",
        );
        assert_eq!(b["TriggerName"], "scfdest-1251762227.cos.ap-guangzhou.myqcloud.com");
        assert_eq!(b["TriggerDesc"], "{\"event\":\"cos:ObjectCreated:*\"}");
    }

    #[test]
    fn values_with_no_3_0_counterpart_are_refused() {
        for (form, name) in [
            ("type=ckafka&triggerName=t&triggerDesc=d", "`type`"),
            ("type=cos&triggerName=b-1.cn-east.myqcloud.com&triggerDesc=d&newTriggerName=x", "`newTriggerName`"),
        ] {
            let e = parse(&format!("functionName=f&{form}")).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidParameterValue, "{form}");
            assert!(e.detail.contains(name), "{form}: {}", e.detail);
        }
        let e = parse("functionName=f&type=timer&triggerName=t").unwrap_err();
        assert_eq!(e.detail, "missing required parameter `triggerDesc`");
        assert!(parse("functionName=f&type=cmq&triggerName=topic").is_ok());
        assert!(parse("functionName=f&type=timer&triggerName=t&newTriggerName=u").is_ok());
    }

    const TIMER: [(&str, &str); 5] = [
        ("Action", "SetTrigger"),
        ("functionName", "f"),
        ("triggerName", "t"),
        ("type", "timer"),
        ("triggerDesc", "*/5 * * * *"),
    ];

    #[tokio::test]
    async fn a_new_timer_is_created_and_an_existing_one_updated() {
        let t = ScriptedTransport::new([
            Scripted::ok(json!({"TriggerInfo": {}}), "r1"),
            Scripted::error("ResourceInUse.Trigger", "exists", "r2"),
            Scripted::ok(json!({}), "r3"),
        ]);
        let b = bridge(t.clone());
        for _ in 0..2 {
            assert_eq!(
                get(&b, &TIMER).await.answer.to_json(),
                br#"{"code":0,"message":"","codeDesc":"Success"}"#
            );
        }
        assert_eq!(t.actions(), ["CreateTrigger", "CreateTrigger", "UpdateTrigger"]);
        assert_eq!(
            t.calls()[2].body,
            json!({"FunctionName": "f", "TriggerName": "t", "Type": "timer",
                "TriggerDesc": "*/5 * * * *"})
        );
    }

    #[tokio::test]
    async fn an_existing_cos_trigger_is_not_updated() {
        let t = ScriptedTransport::new([Scripted::error("ResourceInUse.Trigger", "exists", "r1")]);
        let q = [
            ("Action", "SetTrigger"), ("functionName", "f"), ("type", "cos"),
            ("triggerName", "b-1.cos.ap-guangzhou.myqcloud.com"),
            ("triggerDesc", r#"{"event":"cos:ObjectCreated:*"}"#),
        ];
        let v = json(&get(&bridge(t.clone()), &q).await);
        assert_eq!((v["code"].as_i64(), v["codeDesc"].as_str()), (Some(4000), Some("ResourceInUse.Trigger")));
        assert_eq!(t.actions(), ["CreateTrigger"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_create_refused_while_the_function_is_busy_is_sent_once_more_when_active() {
        let t = ScriptedTransport::new([
            Scripted::error("FailedOperation.CreateTrigger", "not active", "r1"),
            Scripted::ok(json!({"Status": "Updating"}), "r2"),
            Scripted::ok(json!({"Status": "Active"}), "r3"),
            Scripted::ok(json!({}), "r4"),
        ]);
        let v = json(&get(&bridge(t.clone()), &TIMER).await);
        assert_eq!(v["code"], 0, "{v}");
        assert_eq!(
            t.actions(),
            ["CreateTrigger", "GetFunction", "GetFunction", "CreateTrigger"]
        );
        // Never a third time.
        let t = ScriptedTransport::new([
            Scripted::error("FailedOperation.CreateTrigger", "not active", "r1"),
            Scripted::ok(json!({"Status": "Active"}), "r2"),
            Scripted::error("FailedOperation.CreateTrigger", "not active", "r3"),
        ]);
        let v = json(&get(&bridge(t.clone()), &TIMER).await);
        assert_eq!((v["code"].as_i64(), v["codeDesc"].as_str()), (Some(5100), Some("FailedOperation.CreateTrigger")));
        assert_eq!(t.remaining(), 0);
    }

    fn rename_query(desc: bool) -> Vec<(&'static str, &'static str)> {
        let mut q = vec![
            ("Action", "SetTrigger"), ("functionName", "f"), ("triggerName", "old"),
            ("type", "timer"), ("newTriggerName", "new"),
        ];
        if desc {
            q.push(("triggerDesc", "0 * * * *"));
        }
        q
    }

    #[tokio::test]
    async fn a_rename_creates_the_new_timer_then_deletes_the_old() {
        let t = ScriptedTransport::new([
            Scripted::ok(json!({"Triggers": [
                {"Type": "cos", "TriggerName": "old", "TriggerDesc": "{}"},
                {"Type": "timer", "TriggerName": "old", "TriggerDesc": "{\"cron\":\"0 */5 * * * * *\"}"}]}), "r1"),
            Scripted::ok(json!({}), "r2"),
            Scripted::ok(json!({}), "r3"),
        ]);
        let v = json(&get(&bridge(t.clone()), &rename_query(false)).await);
        assert_eq!(v, json!({"code": 0, "message": "", "codeDesc": "Success"}));
        assert_eq!(t.actions(), ["GetFunction", "CreateTrigger", "DeleteTrigger"]);
        let calls = t.calls();
        assert_eq!(calls[1].body["TriggerName"], "new");
        assert_eq!(calls[1].body["TriggerDesc"], "0 */5 * * * * *");
        assert_eq!(
            calls[2].body,
            json!({"FunctionName": "f", "TriggerName": "old", "Type": "timer"})
        );
    }

    #[tokio::test]
    async fn a_rename_whose_delete_fails_says_both_exist() {
        let t = ScriptedTransport::new([
            Scripted::ok(json!({}), "r1"),
            Scripted::error("FailedOperation.DeleteTrigger", "busy", "r2"),
        ]);
        let v = json(&get(&bridge(t.clone()), &rename_query(true)).await);
        assert_eq!((v["code"].as_i64(), v["codeDesc"].as_str()), (Some(5100), Some("FailedOperation.DeleteTrigger")));
        assert_eq!(
            v["message"],
            "(FailedOperation.DeleteTrigger) the new trigger `new` was created, but deleting the \
             old trigger `old` failed, so both exist: busy"
        );
        assert_eq!(t.actions(), ["CreateTrigger", "DeleteTrigger"]);
    }

    #[tokio::test]
    async fn a_rename_whose_create_fails_deletes_nothing_and_a_missing_timer_is_5000() {
        let t = ScriptedTransport::new([
            Scripted::error("InvalidParameterValue.TriggerName", "bad", "r1"),
            Scripted::ok(json!({"Triggers": []}), "r2"),
        ]);
        let b = bridge(t.clone());
        let v = json(&get(&b, &rename_query(true)).await);
        assert_eq!(v["code"], 4000);
        let v = json(&get(&b, &rename_query(false)).await);
        assert_eq!((v["code"].as_i64(), v["codeDesc"].as_str()), (Some(5000), Some("ResourceNotFound.Trigger")));
        assert_eq!(t.actions(), ["CreateTrigger", "GetFunction"]);
    }
}
