//! `UpdateFunction` → 3.0 `UpdateFunctionConfiguration` and/or
//! `UpdateFunctionCode` (docs/protocol.md, "UpdateFunction").
//!
//! `description`, `memorySize`, `timeout`, `runtime`, `environment.*` and
//! `vpc.*` go to `UpdateFunctionConfiguration`; `code=@…`,
//! `codeObject.*`, `codeType` and `handler` to `UpdateFunctionCode`. With
//! both, the configuration goes first, the function is waited for until
//! `Active`, then the code, and it is waited for again — as Tencent's own
//! deploy tool does. The two calls are not atomic: when the second half
//! fails, the legacy error says the first half did apply. An update with
//! nothing to change answers success without calling SCF.

use serde::Serialize;

use super::create_function::{
    accepted_then, check_body_size, configuration, cos_object, take_code, wait_ready, CodeBody,
    CodeSource, Configuration, Empty, Ready, with_context,
};
use super::params::invalid_value;
use super::{Action, Failure, LegacyParams, Scf3Client, Subject};
use crate::error::BridgeError;
use crate::legacy::answer::LegacyAnswer;
use crate::scf3::envelope::{self, CallKind};
use crate::translate::is_latest;

/// `Action=UpdateFunction`.
pub struct UpdateFunction;

/// 3.0 `CodeSource` of an update, from the legacy `codeType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeType {
    Inline,
    ZipFile,
    Cos,
}

impl CodeType {
    fn name(self) -> &'static str {
        match self {
            CodeType::Inline => "Inline",
            CodeType::ZipFile => "ZipFile",
            CodeType::Cos => "Cos",
        }
    }
}

/// The legacy request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub function_name: String,
    pub namespace: Option<String>,
    /// For `UpdateFunctionConfiguration`; empty when none was given.
    pub configuration: Configuration,
    /// For `UpdateFunctionCode`, with `handler` and `code_type`.
    pub code: Option<CodeSource>,
    pub handler: Option<String>,
    pub code_type: Option<CodeType>,
}

impl Request {
    fn updates_code(&self) -> bool {
        self.code.is_some() || self.handler.is_some()
    }
}

/// The 3.0 `UpdateFunctionConfiguration` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigurationBody<'a> {
    pub function_name: &'a str,
    #[serde(flatten)]
    pub configuration: &'a Configuration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
}

/// The 3.0 `UpdateFunctionCode` body (its code fields are top-level).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeUpdateBody<'a> {
    pub function_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<&'a str>,
    #[serde(flatten)]
    pub code: CodeBody<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_source: Option<&'static str>,
}

impl envelope::Request for ConfigurationBody<'_> {
    const ACTION: &'static str = "UpdateFunctionConfiguration";
    const KIND: CallKind = CallKind::Mutation;
    type Response = Empty;
}

impl envelope::Request for CodeUpdateBody<'_> {
    const ACTION: &'static str = "UpdateFunctionCode";
    const KIND: CallKind = CallKind::Mutation;
    type Response = Empty;
}

impl Action for UpdateFunction {
    const NAME: &'static str = "UpdateFunction";
    const SCF3_ACTIONS: &'static [&'static str] = &[
        "UpdateFunctionConfiguration",
        "UpdateFunctionCode",
        "GetFunction",
    ];
    const UPLOAD_PARAMS: &'static [&'static str] = &["code"];
    type Request = Request;

    fn parse(p: LegacyParams) -> Result<Request, BridgeError> {
        let function_name = p.required("functionName")?.to_owned();
        let namespace = p.optional("namespace").map(str::to_owned);
        if !is_latest(p.optional("version")) {
            return Err(invalid_value(
                "version",
                "LATEST (SCF 3.0 updates only $LATEST)",
            ));
        }
        let handler = p.optional("handler").map(str::to_owned);
        let code_type = p.choice(
            "codeType",
            &[
                ("Inline", CodeType::Inline),
                ("Zipfile", CodeType::ZipFile),
                ("Cos", CodeType::Cos),
            ],
            "Inline, Zipfile or Cos",
        )?;
        let configuration = configuration(&p)?;
        let cos = cos_object(&p)?;
        let code = take_code(p, cos)?;
        let fits = matches!(
            (code_type, &code),
            (None, _)
                | (Some(CodeType::Cos), Some(CodeSource::Cos { .. }))
                | (
                    Some(CodeType::ZipFile | CodeType::Inline),
                    Some(CodeSource::Zip(_))
                )
        );
        if !fits {
            return Err(invalid_value(
                "codeType",
                "Zipfile or Inline with `code`, Cos with `codeObject.*`",
            ));
        }
        Ok(Request {
            function_name,
            namespace,
            configuration,
            code,
            handler,
            code_type,
        })
    }

    fn subject(r: &Request) -> Subject<'_> {
        Subject {
            function: Some(&r.function_name),
            namespace: r.namespace.as_deref(),
        }
    }

    async fn run(r: Request, scf: &mut Scf3Client<'_>) -> Result<LegacyAnswer, Failure> {
        let name = &r.function_name;
        let namespace = r.namespace.as_deref();
        let config = (!r.configuration.is_empty()).then(|| configuration_body(&r));
        let code = r.updates_code().then(|| code_body(&r));
        if let Some(body) = &code {
            check_body_size(body)?;
        }
        if let Some(body) = &config {
            scf.call(body).await?;
            match wait_ready(scf, name, namespace).await {
                Ok(Ready::Active) => {}
                Ok(not_ready) => {
                    return Ok(half(not_ready.answer(CONFIG, name, scf), code.is_some()))
                }
                Err(e) => return Err(accepted_then(e, CONFIG, name)),
            }
        }
        if let Some(body) = &code {
            if let Err(e) = scf.call(body).await {
                return Err(second_half_failed(e, config.is_some()));
            }
            match wait_ready(scf, name, namespace).await {
                Ok(Ready::Active) => {}
                Ok(not_ready) => return Ok(not_ready.answer(CODE, name, scf)),
                Err(e) => return Err(accepted_then(e, CODE, name)),
            }
        }
        Ok(LegacyAnswer::success_without_data())
    }
}

const CONFIG: &str = "UpdateFunctionConfiguration";
const CODE: &str = "UpdateFunctionCode";

/// The 3.0 `UpdateFunctionConfiguration` body.
pub fn configuration_body(r: &Request) -> ConfigurationBody<'_> {
    ConfigurationBody {
        function_name: &r.function_name,
        configuration: &r.configuration,
        namespace: r.namespace.as_deref(),
    }
}

/// The 3.0 `UpdateFunctionCode` body.
pub fn code_body(r: &Request) -> CodeUpdateBody<'_> {
    let source = r
        .code_type
        .map(CodeType::name)
        .or(r.code.as_ref().map(CodeSource::name));
    CodeUpdateBody {
        function_name: &r.function_name,
        handler: r.handler.as_deref(),
        code: CodeBody::of(r.code.as_ref()),
        namespace: r.namespace.as_deref(),
        code_source: source,
    }
}

/// The configuration half did not settle: when a code half was to follow,
/// the message says it was not sent.
fn half(mut answer: LegacyAnswer, code_follows: bool) -> LegacyAnswer {
    if code_follows {
        answer
            .message
            .push_str("; the code (UpdateFunctionCode) was not updated");
    }
    answer
}

/// The code half failed: when the configuration half went first, the
/// message says that it did apply.
fn second_half_failed(e: Failure, after_config: bool) -> Failure {
    if !after_config {
        return e;
    }
    with_context(
        e,
        "the configuration (UpdateFunctionConfiguration) was updated, \
         but the code update (UpdateFunctionCode) failed",
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::*;
    use crate::error::ErrorKind;
    use crate::testing::{bridge, get, json, Scripted, ScriptedTransport};

    fn parse(form: &str) -> Result<Request, BridgeError> {
        crate::testing::parse::<UpdateFunction>(form)
    }

    fn bodies(form: &str) -> (Option<Value>, Option<Value>) {
        let r = parse(form).unwrap();
        let config = (!r.configuration.is_empty())
            .then(|| serde_json::to_value(configuration_body(&r)).unwrap());
        let code = r
            .updates_code()
            .then(|| serde_json::to_value(code_body(&r)).unwrap());
        (config, code)
    }

    #[test]
    fn configuration_fields_go_to_update_function_configuration() {
        // The legacy English example: memorySize and timeout only.
        assert_eq!(
            bodies("functionName=test&memorySize=256&timeout=10&description=d&runtime=Python3.6"),
            (
                Some(json!({"FunctionName": "test", "Description": "d", "MemorySize": 256,
                    "Timeout": 10, "Runtime": "Python3.6"})),
                None
            )
        );
    }

    #[test]
    fn code_fields_and_the_handler_go_to_update_function_code() {
        assert_eq!(
            bodies("functionName=f&code=%40UEsDBA%3D%3D&handler=index.h&namespace=ns"),
            (
                None,
                Some(json!({"FunctionName": "f", "Handler": "index.h", "ZipFile": "UEsDBA==",
                    "Namespace": "ns", "CodeSource": "ZipFile"}))
            )
        );
        assert_eq!(
            bodies("functionName=f&codeType=Cos&codeObject.cosBucketName=b&codeObject.cosObjectName=k.zip").1,
            Some(json!({"FunctionName": "f", "CosBucketName": "b", "CosObjectName": "/k.zip",
                "CodeSource": "Cos"}))
        );
        assert_eq!(
            bodies("functionName=f&handler=a.b").1,
            Some(json!({"FunctionName": "f", "Handler": "a.b"}))
        );
        assert_eq!(
            bodies("functionName=f&codeType=Inline&code=UEs").1.unwrap()["CodeSource"],
            "Inline"
        );
    }

    #[test]
    fn both_halves_and_nothing_at_all() {
        let (config, code) = bodies("functionName=f&timeout=5&code=UEs");
        assert_eq!(config, Some(json!({"FunctionName": "f", "Timeout": 5})));
        assert_eq!(code.unwrap()["ZipFile"], "UEs");
        assert_eq!(bodies("functionName=f&version=LATEST"), (None, None));
    }

    #[test]
    fn values_with_no_3_0_counterpart_are_refused() {
        for (form, name) in [
            ("version=2", "`version`"),
            ("codeType=Git", "`codeType`"),
            ("codeType=Cos&code=UEs", "`codeType`"),
            ("codeType=Zipfile", "`codeType`"),
            ("memorySize=big", "`memorySize`"),
            ("useGpu=TRUE", "`useGpu`"),
        ] {
            let e = parse(&format!("functionName=f&{form}")).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidParameterValue, "{form}");
            assert!(e.detail.contains(name), "{form}: {}", e.detail);
        }
        assert_eq!(parse("timeout=3").unwrap_err().kind, ErrorKind::MissingParameter);
    }

    fn state(s: &str) -> Scripted {
        Scripted::ok(json!({"FunctionName": "f", "Status": s}), "rg")
    }

    const BOTH: [(&str, &str); 5] = [
        ("Action", "UpdateFunction"),
        ("functionName", "f"),
        ("timeout", "5"),
        ("handler", "index.h"),
        ("code", "@UEsDBA=="),
    ];

    #[tokio::test(start_paused = true)]
    async fn configuration_then_wait_then_code_then_wait() {
        let t = ScriptedTransport::new([
            Scripted::ok(json!({}), "r1"),
            state("Updating"),
            state("Active"),
            Scripted::ok(json!({}), "r2"),
            state("Updating"),
            state("Active"),
        ]);
        let v = json(&get(&bridge(t.clone()), &BOTH).await);
        assert_eq!(v, json!({"code": 0, "message": "", "codeDesc": "Success"}));
        assert_eq!(
            t.actions(),
            [
                "UpdateFunctionConfiguration",
                "GetFunction",
                "GetFunction",
                "UpdateFunctionCode",
                "GetFunction",
                "GetFunction"
            ]
        );
        assert_eq!(t.calls()[0].body, json!({"FunctionName": "f", "Timeout": 5}));
        assert_eq!(
            t.calls()[3].body,
            json!({"FunctionName": "f", "Handler": "index.h", "ZipFile": "UEsDBA==",
                "CodeSource": "ZipFile"})
        );
    }

    #[tokio::test]
    async fn nothing_to_change_calls_nothing() {
        let t = ScriptedTransport::new([]);
        let v = json(&get(&bridge(t.clone()), &[("Action", "UpdateFunction"), ("functionName", "f")]).await);
        assert_eq!(v["code"], 0);
        assert!(t.calls().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_code_half_says_the_configuration_did_apply() {
        let t = ScriptedTransport::new([
            Scripted::ok(json!({}), "r1"),
            state("Active"),
            Scripted::error("InvalidParameterValue.ZipFile", "not a zip", "r2"),
        ]);
        let v = json(&get(&bridge(t.clone()), &BOTH).await);
        assert_eq!((v["code"].as_i64(), v["codeDesc"].as_str()), (Some(4000), Some("InvalidParameterValue.ZipFile")));
        assert_eq!(
            v["message"],
            "(InvalidParameterValue.ZipFile) the configuration (UpdateFunctionConfiguration) \
             was updated, but the code update (UpdateFunctionCode) failed: not a zip"
        );
        assert_eq!(t.remaining(), 0);

        // A code half lost on the way is not sent again.
        let t = ScriptedTransport::new([
            Scripted::ok(json!({}), "r1"),
            state("Active"),
            Scripted::connection_lost(),
        ]);
        let reply = get(&bridge(t.clone()), &BOTH).await;
        let e = reply.error.unwrap();
        assert!(e.may_have_reached_scf);
        assert!(e.detail.starts_with("the configuration (UpdateFunctionConfiguration) was updated"), "{}", e.detail);
        assert_eq!(t.actions().last().unwrap(), "UpdateFunctionCode");
        assert_eq!(t.actions().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_configuration_that_ends_update_failed_stops_before_the_code() {
        let t = ScriptedTransport::new([Scripted::ok(json!({}), "r1"), state("UpdateFailed")]);
        let v = json(&get(&bridge(t.clone()), &BOTH).await);
        assert_eq!((v["code"].as_i64(), v["codeDesc"].as_str()), (Some(5100), Some("UpdateFailed")));
        let m = v["message"].as_str().unwrap();
        assert!(m.contains("UpdateFunctionConfiguration but the function `f` ended UpdateFailed"), "{m}");
        assert!(m.ends_with("the code (UpdateFunctionCode) was not updated"), "{m}");
        assert_eq!(t.actions(), ["UpdateFunctionConfiguration", "GetFunction"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_code_update_still_updating_at_the_limit_names_the_state() {
        let mut script = vec![Scripted::ok(json!({}), "r1")];
        script.extend(std::iter::repeat_n(state("Updating"), 100));
        let t = ScriptedTransport::new(script);
        let q = [("Action", "UpdateFunction"), ("functionName", "f"), ("handler", "a.b")];
        let started = tokio::time::Instant::now();
        let v = json(&get(&bridge(t.clone()), &q).await);
        assert_eq!(started.elapsed(), Duration::from_secs(90));
        assert_eq!((v["code"].as_i64(), v["codeDesc"].as_str()), (Some(5100), Some("Updating")));
        assert!(v["message"].as_str().unwrap().contains("UpdateFunctionCode but the function `f` is still Updating"), "{v}");
    }

    #[tokio::test]
    async fn a_refused_configuration_half_sends_no_code() {
        let t = ScriptedTransport::new([Scripted::error("ResourceNotFound.Function", "no f", "r1")]);
        let v = json(&get(&bridge(t.clone()), &BOTH).await);
        assert_eq!(v["code"], 5000);
        assert_eq!(v["message"], "(ResourceNotFound.Function) no f");
        assert_eq!(t.actions(), ["UpdateFunctionConfiguration"]);
    }
}
