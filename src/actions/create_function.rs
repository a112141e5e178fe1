//! `CreateFunction` → 3.0 `CreateFunction`, then `GetFunction` until the
//! function has left `Creating` (docs/protocol.md, "CreateFunction").
//!
//! `code=@<base64 zip>` becomes `Code.ZipFile` (the `@` stripped; the only
//! parameter allowed to be an unsigned `@` value on POST), the
//! `codeObject.*` pair becomes `Code.Cos*`. 3.0 creates asynchronously, and
//! legacy clients use a function as soon as its create answered, so the
//! answer waits — `upstream.function_ready_*` — until the function is
//! `Active`; a create that ends `CreateFailed`, or is still `Creating` when
//! the wait runs out, is a legacy 5100 naming the state.
//!
//! Also the pieces `UpdateFunction` shares: the code source, the
//! configuration fields, the 3.0 body size limit and the wait.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::params::{invalid_value, missing};
use super::{Action, Failure, LegacyParams, Polled, Scf3Client, Subject};
use crate::error::{BridgeError, ErrorKind};
use crate::legacy::answer::{codes, LegacyAnswer};
use crate::scf3::envelope::{self, CallKind};

/// `Action=CreateFunction`.
pub struct CreateFunction;

/// The largest 3.0 request body SCF takes (TC3 POST, 10 MB).
pub const MAX_SCF3_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Where the function's code comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeSource {
    /// `code=@…`: the base64 of a zip, `@` stripped.
    Zip(String),
    /// `codeObject.cosBucketName` / `codeObject.cosObjectName` (`/`-prefixed).
    Cos { bucket: String, object: String },
}

impl CodeSource {
    /// 3.0's `CodeSource` value.
    pub fn name(&self) -> &'static str {
        match self {
            CodeSource::Zip(_) => "ZipFile",
            CodeSource::Cos { .. } => "Cos",
        }
    }
}

/// The configuration fields both `CreateFunction` and 3.0
/// `UpdateFunctionConfiguration` have, ready to serialize into either body.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Configuration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<VpcConfig>,
}

impl Configuration {
    /// Whether any field was given.
    pub fn is_empty(&self) -> bool {
        *self == Configuration::default()
    }
}

/// 3.0 `Environment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    pub variables: Vec<Variable>,
}

/// One 3.0 environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Variable {
    pub key: String,
    pub value: String,
}

/// 3.0 `VpcConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
}

/// The legacy request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub function_name: String,
    pub namespace: Option<String>,
    pub handler: Option<String>,
    pub configuration: Configuration,
    pub code: CodeSource,
}

/// The 3.0 `CreateFunction` body: only these fields are ever sent.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFunctionBody<'a> {
    pub function_name: &'a str,
    pub code: CodeBody<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<&'a str>,
    #[serde(flatten)]
    pub configuration: &'a Configuration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
    pub code_source: &'static str,
}

/// 3.0 `Code` (also the top-level code fields of `UpdateFunctionCode`).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zip_file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cos_bucket_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cos_object_name: Option<&'a str>,
}

impl<'a> CodeBody<'a> {
    pub fn of(code: Option<&'a CodeSource>) -> Self {
        match code {
            Some(CodeSource::Zip(zip)) => CodeBody {
                zip_file: Some(zip),
                ..CodeBody::default()
            },
            Some(CodeSource::Cos { bucket, object }) => CodeBody {
                zip_file: None,
                cos_bucket_name: Some(bucket),
                cos_object_name: Some(object),
            },
            None => CodeBody::default(),
        }
    }
}

/// A 3.0 answer with nothing but its `RequestId`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Empty {}

impl envelope::Request for CreateFunctionBody<'_> {
    const ACTION: &'static str = "CreateFunction";
    const KIND: CallKind = CallKind::Mutation;
    type Response = Empty;
}

impl Action for CreateFunction {
    const NAME: &'static str = "CreateFunction";
    const SCF3_ACTIONS: &'static [&'static str] = &["CreateFunction", "GetFunction"];
    const UPLOAD_PARAMS: &'static [&'static str] = &["code"];
    type Request = Request;

    fn parse(p: LegacyParams) -> Result<Request, BridgeError> {
        let function_name = p.required("functionName")?.to_owned();
        let namespace = p.optional("namespace").map(str::to_owned);
        let handler = p.optional("handler").map(str::to_owned);
        let configuration = configuration(&p)?;
        let cos = cos_object(&p)?;
        let code = take_code(p, cos)?.ok_or_else(|| missing("code"))?;
        Ok(Request {
            function_name,
            namespace,
            handler,
            configuration,
            code,
        })
    }

    fn subject(r: &Request) -> Subject<'_> {
        Subject {
            function: Some(&r.function_name),
            namespace: r.namespace.as_deref(),
        }
    }

    async fn run(r: Request, scf: &mut Scf3Client<'_>) -> Result<LegacyAnswer, Failure> {
        let body = body(&r);
        check_body_size(&body)?;
        scf.call(&body).await?;
        let name = &r.function_name;
        match wait_ready(scf, name, r.namespace.as_deref()).await {
            Ok(Ready::Active) => Ok(LegacyAnswer::success_without_data()),
            Ok(not_ready) => Ok(not_ready.answer("CreateFunction", name, scf)),
            Err(e) => Err(accepted_then(e, "CreateFunction", name)),
        }
    }
}

/// The 3.0 body for a legacy request.
pub fn body(r: &Request) -> CreateFunctionBody<'_> {
    CreateFunctionBody {
        function_name: &r.function_name,
        code: CodeBody::of(Some(&r.code)),
        handler: r.handler.as_deref(),
        configuration: &r.configuration,
        namespace: r.namespace.as_deref(),
        code_source: r.code.name(),
    }
}

/// Reads the configuration parameters: `description`, `memorySize`,
/// `timeout`, `runtime`, `environment.variables.N.{key,value}`,
/// `vpc.{vpcId,subnetId}`; `useGpu` has no 3.0 counterpart (only false
/// passes) and `stamp` is dropped.
pub fn configuration(p: &LegacyParams) -> Result<Configuration, BridgeError> {
    p.choice(
        "useGpu",
        &[("false", ()), ("0", ())],
        "FALSE (3.0 has no GPU functions)",
    )?;
    Ok(Configuration {
        description: p.optional("description").map(str::to_owned),
        memory_size: p.integer("memorySize", 64, 3072)?,
        timeout: p.integer("timeout", 1, 900)?,
        runtime: p.optional("runtime").map(str::to_owned),
        environment: environment(p)?,
        vpc_config: vpc(p)?,
    })
}

/// A flattened legacy key with `_` read as `.` (no SCF name has `_`).
fn dotted(key: &str) -> String {
    key.replace('_', ".")
}

/// `environment.variables.N.key` / `.value` → `Environment.Variables[N]`.
fn environment(p: &LegacyParams) -> Result<Option<Environment>, BridgeError> {
    const EXPECTED: &str = "flattened `environment.variables.N.key` and `.value` parameters";
    let mut found: BTreeMap<u32, (Option<String>, Option<String>)> = BTreeMap::new();
    for (key, value) in p.raw().iter() {
        let key = dotted(key);
        if key == "environment" {
            if value.is_empty() {
                continue;
            }
            return Err(invalid_value("environment", EXPECTED));
        }
        let Some(rest) = key.strip_prefix("environment.") else {
            continue;
        };
        let parts: Vec<&str> = rest.split('.').collect();
        let (index, field) = match parts[..] {
            ["variables", n, f @ ("key" | "value")]
                if !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()) =>
            {
                (n.parse::<u32>().unwrap_or(u32::MAX), f)
            }
            _ => return Err(invalid_value(&key, EXPECTED)),
        };
        let slot = found.entry(index).or_default();
        let v = Some(value.to_owned());
        if field == "key" {
            slot.0 = v;
        } else {
            slot.1 = v;
        }
    }
    if found.is_empty() {
        return Ok(None);
    }
    let variables = found
        .into_iter()
        .map(|(n, (key, value))| match key {
            Some(key) if !key.is_empty() => Ok(Variable {
                key,
                value: value.unwrap_or_default(),
            }),
            _ => Err(missing(&format!("environment.variables.{n}.key"))),
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(Environment { variables }))
}

/// `vpc.vpcId` / `vpc.subnetId` → `VpcConfig`.
fn vpc(p: &LegacyParams) -> Result<Option<VpcConfig>, BridgeError> {
    for (key, value) in p.raw().iter() {
        let key = dotted(key);
        let known = ["vpc.vpcId", "vpc.subnetId"].contains(&key.as_str());
        if !known && (key.starts_with("vpc.") || (key == "vpc" && !value.is_empty())) {
            return Err(invalid_value(
                &key,
                "flattened `vpc.vpcId` and `vpc.subnetId` parameters",
            ));
        }
    }
    let vpc_id = p.optional("vpc.vpcId").map(str::to_owned);
    let subnet_id = p.optional("vpc.subnetId").map(str::to_owned);
    Ok((vpc_id.is_some() || subnet_id.is_some()).then_some(VpcConfig { vpc_id, subnet_id }))
}

/// The `codeObject.*` pair, read before the zip is taken over.
pub fn cos_object(p: &LegacyParams) -> Result<Option<(String, String)>, BridgeError> {
    let bucket = p.optional("codeObject.cosBucketName");
    let object = p.optional("codeObject.cosObjectName");
    match (bucket, object) {
        (None, None) => Ok(None),
        (Some(bucket), Some(object)) => {
            let object = if object.starts_with('/') {
                object.to_owned()
            } else {
                format!("/{object}")
            };
            Ok(Some((bucket.to_owned(), object)))
        }
        (Some(_), None) => Err(missing("codeObject.cosObjectName")),
        (None, Some(_)) => Err(missing("codeObject.cosBucketName")),
    }
}

/// The code source: `code` (taken over without a copy, so the parameters
/// are consumed) or the COS object; both is refused.
pub fn take_code(
    p: LegacyParams,
    cos: Option<(String, String)>,
) -> Result<Option<CodeSource>, BridgeError> {
    let has_zip = p.optional("code").is_some();
    match (has_zip, cos) {
        (true, Some(_)) => Err(invalid_value(
            "code",
            "either `code` or `codeObject.*`, not both",
        )),
        (false, Some((bucket, object))) => Ok(Some(CodeSource::Cos { bucket, object })),
        (false, None) => Ok(None),
        (true, None) => {
            let zip = p.into_value("code").unwrap_or_default();
            Ok(Some(CodeSource::Zip(zip_base64(zip)?)))
        }
    }
}

/// A legacy `code` value as 3.0's `ZipFile`: one leading `@` stripped (a
/// value without it is taken too); a space is a `+` the client did not
/// percent-encode; a percent-encoded `=` padding left by a client that
/// encoded twice is decoded. Anything else outside base64 is refused.
pub fn zip_base64(mut zip: String) -> Result<String, BridgeError> {
    if zip.starts_with('@') {
        zip.drain(..1);
    }
    if zip.contains('%') {
        zip = zip.replace("%3d", "=").replace("%3D", "=");
    }
    if zip.contains(' ') {
        zip = zip.replace(' ', "+");
    }
    let base64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    if zip.is_empty() || !zip.bytes().all(base64) {
        return Err(invalid_value("code", "`@` followed by the base64 of a zip file"));
    }
    Ok(zip)
}

/// Refuses, before anything is sent, a 3.0 body above SCF's 10 MB request
/// limit (a zip of about 7.5 MB or more once base64-encoded): such code has
/// to come from COS.
pub fn check_body_size<T: Serialize>(body: &T) -> Result<(), BridgeError> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, body).map_err(|e| {
        BridgeError::new(
            ErrorKind::Internal,
            format!("a 3.0 body did not serialize: {e}"),
        )
    })?;
    if count.0 > MAX_SCF3_BODY_BYTES {
        return Err(BridgeError::new(
            ErrorKind::InvalidParameterValue,
            format!(
                "invalid value for `code`: the zip makes a {} byte SCF 3.0 request, above its \
                 {MAX_SCF3_BODY_BYTES} byte limit; upload the zip to COS and name it with \
                 `codeObject.cosBucketName` and `codeObject.cosObjectName` instead",
                count.0
            ),
        ));
    }
    Ok(())
}

/// The 3.0 `GetFunction` body the wait sends: the state only, no code.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StateQuery<'a> {
    pub function_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
}

/// The parts of a 3.0 `GetFunction` answer the wait reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct FunctionState {
    pub status: String,
    pub status_desc: Option<String>,
    pub status_reasons: Option<Vec<StatusReason>>,
}

/// One of 3.0's `StatusReasons`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StatusReason {
    pub error_code: String,
    pub error_message: String,
}

impl envelope::Request for StateQuery<'_> {
    const ACTION: &'static str = "GetFunction";
    const KIND: CallKind = CallKind::Read;
    type Response = FunctionState;
}

/// How waiting for a function ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    /// `Active`.
    Active,
    /// Settled in another state (`CreateFailed`, `UpdateFailed`, …).
    Ended(FunctionState),
    /// Still in a transitional state when the wait ran out.
    StillIn(FunctionState),
}

impl Ready {
    /// The legacy 5100 for a function that is not `Active` after `step`,
    /// naming its state; `codeDesc` is the state.
    pub fn answer(&self, step: &str, name: &str, scf: &Scf3Client<'_>) -> LegacyAnswer {
        let status = |s: &FunctionState| -> String {
            if s.status.is_empty() {
                "Unknown".to_owned()
            } else {
                s.status.clone()
            }
        };
        let (state, message) = match self {
            Ready::Active => return LegacyAnswer::success_without_data(),
            Ready::Ended(s) => (
                status(s),
                format!(
                    "SCF accepted {step} but the function `{name}` ended {}{}",
                    status(s),
                    reasons(s)
                ),
            ),
            Ready::StillIn(s) => (
                status(s),
                format!(
                    "SCF accepted {step} but the function `{name}` is still {} after {} s; \
                     do not send it again: read GetFunction until it is Active",
                    status(s),
                    scf.settings().wait_limit.as_secs()
                ),
            ),
        };
        LegacyAnswer::error(
            codes::OPERATION_FAILED,
            state.clone(),
            format!("({state}) {message}"),
        )
    }
}

/// `: <reasons>` from `StatusReasons` (else `StatusDesc`), or nothing.
fn reasons(s: &FunctionState) -> String {
    let listed: Vec<String> = s
        .status_reasons
        .iter()
        .flatten()
        .map(|r| format!("{} {}", r.error_code, r.error_message).trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    match (listed.is_empty(), s.status_desc.as_deref()) {
        (false, _) => format!(": {}", listed.join("; ")),
        (true, Some(desc)) if !desc.is_empty() => format!(": {desc}"),
        _ => String::new(),
    }
}

/// Whether SCF is still working on the function.
fn transitional(status: &str) -> bool {
    matches!(status, "Creating" | "Updating" | "Publishing")
}

/// Reads the function's state (a read: sent again after a lost
/// connection) every `settings().wait_interval` until it is no longer
/// transitional or `settings().wait_limit` has passed.
pub async fn wait_ready(
    scf: &mut Scf3Client<'_>,
    function_name: &str,
    namespace: Option<&str>,
) -> Result<Ready, Failure> {
    let (every, limit) = (scf.settings().wait_interval, scf.settings().wait_limit);
    let query = StateQuery {
        function_name,
        namespace,
    };
    let polled = scf
        .poll(&query, every, limit, |s| {
            (!transitional(&s.status)).then(|| s.clone())
        })
        .await?;
    Ok(match polled {
        Polled::Done(s) if s.status == "Active" => Ready::Active,
        Polled::Done(s) => Ready::Ended(s),
        Polled::TimedOut(s) => Ready::StillIn(s),
    })
}

/// A failure after SCF accepted `step`: the message says the change was
/// made, so the caller does not send it again.
pub fn accepted_then(e: Failure, step: &str, name: &str) -> Failure {
    with_context(
        e,
        &format!("SCF accepted {step} for `{name}`, but reading the function's state failed"),
    )
}

/// `e` with `context` put before its message.
pub fn with_context(e: Failure, context: &str) -> Failure {
    match e {
        Failure::Scf(mut e) => {
            e.message = format!("{context}: {}", e.message);
            Failure::Scf(e)
        }
        Failure::Bridge(mut e) => {
            e.detail = format!("{context}: {}", e.detail);
            Failure::Bridge(e)
        }
        Failure::DryRun => Failure::DryRun,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::*;
    use crate::testing::{bridge, get, json, Scripted, ScriptedTransport};

    fn parse(form: &str) -> Result<Request, BridgeError> {
        crate::testing::parse::<CreateFunction>(form)
    }

    fn body_json(form: &str) -> Value {
        serde_json::to_value(body(&parse(form).unwrap())).unwrap()
    }

    #[test]
    fn a_zip_upload_becomes_code_zip_file_without_its_at() {
        // The legacy doc's shape: `code=@` + URL-encoded base64.
        assert_eq!(
            body_json(
                "functionName=ziptest&handler=index.main_handler&runtime=Python2.7\
                 &memorySize=128&timeout=3&description=d&code=%40UEsDBA%2B%2F%3D"
            ),
            json!({"FunctionName": "ziptest", "Code": {"ZipFile": "UEsDBA+/="},
                "Handler": "index.main_handler", "Description": "d", "MemorySize": 128,
                "Timeout": 3, "Runtime": "Python2.7", "CodeSource": "ZipFile"})
        );
    }

    #[test]
    fn the_zip_value_tolerates_a_missing_at_spaces_and_encoded_padding() {
        // `%253d` in the doc's example is `%3d` after one decode.
        for (form, zip) in [
            ("code=UEsDBA%3D%3D", "UEsDBA=="),
            ("code=%40UEsDBA%253d%253D", "UEsDBA=="),
            ("code=%40UEs+DBA", "UEs+DBA"),
        ] {
            let b = body_json(&format!("functionName=f&{form}"));
            assert_eq!(b["Code"], json!({"ZipFile": zip}), "{form}");
        }
        for form in ["code=%40", "code=%40UEs%25DB", "code=%40%40UEsDBA"] {
            let e = parse(&format!("functionName=f&{form}")).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidParameterValue, "{form}");
            assert!(e.detail.contains("`code`"), "{}", e.detail);
        }
    }

    #[test]
    fn a_cos_object_becomes_code_cos_with_a_leading_slash() {
        for form in [
            "functionName=f&codeObject.cosBucketName=b&codeObject.cosObjectName=k.zip",
            "functionName=f&codeObject_cosBucketName=b&codeObject_cosObjectName=%2Fk.zip",
        ] {
            assert_eq!(
                body_json(form),
                json!({"FunctionName": "f", "CodeSource": "Cos",
                    "Code": {"CosBucketName": "b", "CosObjectName": "/k.zip"}}),
                "{form}"
            );
        }
    }

    #[test]
    fn code_is_required_once_and_cos_needs_both_halves() {
        let e = parse("functionName=f").unwrap_err();
        assert_eq!((e.kind, e.detail.as_str()), (ErrorKind::MissingParameter, "missing required parameter `code`"));
        let e = parse("functionName=f&code=%40UEs&codeObject.cosBucketName=b&codeObject.cosObjectName=k")
            .unwrap_err();
        assert!(e.detail.contains("not both"), "{}", e.detail);
        let e = parse("functionName=f&codeObject.cosBucketName=b").unwrap_err();
        assert_eq!(e.detail, "missing required parameter `codeObject.cosObjectName`");
        assert_eq!(parse("code=%40UEs").unwrap_err().kind, ErrorKind::MissingParameter);
    }

    #[test]
    fn environment_and_vpc_are_read_flattened() {
        let b = body_json(
            "functionName=f&code=UEs&environment.variables.1.key=B&environment.variables.0.key=A\
             &environment.variables.0.value=1&environment_variables_1_value=2\
             &vpc.vpcId=vpc-1&vpc.subnetId=subnet-2&stamp=MINI_PROGRAM&useGpu=FALSE",
        );
        assert_eq!(
            b["Environment"],
            json!({"Variables": [{"Key": "A", "Value": "1"}, {"Key": "B", "Value": "2"}]})
        );
        assert_eq!(b["VpcConfig"], json!({"VpcId": "vpc-1", "SubnetId": "subnet-2"}));
        let keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["FunctionName", "Code", "Environment", "VpcConfig", "CodeSource"]);
    }

    #[test]
    fn values_with_no_3_0_counterpart_are_refused_naming_the_parameter() {
        for (form, name) in [
            ("useGpu=TRUE", "`useGpu`"),
            ("environment=%7B%22a%22%3A1%7D", "`environment`"),
            ("environment.vars.0.key=A", "`environment.vars.0.key`"),
            ("environment.variables.0.value=1", "`environment.variables.0.key`"),
            ("vpc.zone=x", "`vpc.zone`"),
            ("memorySize=4096", "`memorySize`"),
            ("timeout=0", "`timeout`"),
            ("timeout=3s", "`timeout`"),
        ] {
            let e = parse(&format!("functionName=f&code=UEs&{form}")).unwrap_err();
            assert!(e.detail.contains(name), "{form}: {}", e.detail);
        }
    }

    #[test]
    fn a_body_above_10_mb_is_refused_naming_cos() {
        let zip = "A".repeat(MAX_SCF3_BODY_BYTES);
        let r = parse(&format!("functionName=f&code=%40{zip}")).unwrap();
        let e = check_body_size(&body(&r)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidParameterValue);
        assert!(e.detail.contains("codeObject.cosBucketName"), "{}", e.detail);
        let zip = "A".repeat(MAX_SCF3_BODY_BYTES - 200);
        let r = parse(&format!("functionName=f&code={zip}")).unwrap();
        assert!(check_body_size(&body(&r)).is_ok());
    }

    fn state(s: &str) -> Scripted {
        Scripted::ok(json!({"FunctionName": "f", "Status": s}), "rg")
    }

    const CREATE: [(&str, &str); 4] = [
        ("Action", "CreateFunction"),
        ("functionName", "f"),
        ("handler", "index.main"),
        ("code", "@UEsDBA=="),
    ];

    #[tokio::test(start_paused = true)]
    async fn the_walk_creates_then_waits_until_active() {
        let t = ScriptedTransport::new([
            Scripted::ok(json!({}), "rc"),
            state("Creating"),
            state("Creating"),
            state("Active"),
        ]);
        let b = bridge(t.clone());
        let started = tokio::time::Instant::now();
        let reply = get(&b, &CREATE).await;
        assert_eq!(
            reply.answer.to_json(),
            br#"{"code":0,"message":"","codeDesc":"Success"}"#
        );
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(
            t.actions(),
            ["CreateFunction", "GetFunction", "GetFunction", "GetFunction"]
        );
        assert_eq!(t.calls()[1].body, json!({"FunctionName": "f"}));
        assert_eq!(
            t.calls()[0].body,
            json!({"FunctionName": "f", "Code": {"ZipFile": "UEsDBA=="},
                "Handler": "index.main", "CodeSource": "ZipFile"})
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_create_that_ends_create_failed_is_a_5100_naming_the_state() {
        let failed = Scripted::ok(
            json!({"FunctionName": "f", "Status": "CreateFailed", "StatusDesc": "d",
                "StatusReasons": [{"ErrorCode": "InvalidParameterValue.Code",
                    "ErrorMessage": "bad zip"}]}),
            "rg",
        );
        let t = ScriptedTransport::new([Scripted::ok(json!({}), "rc"), state("Creating"), failed]);
        let v = json(&get(&bridge(t.clone()), &CREATE).await);
        assert_eq!(v["code"], 5100);
        assert_eq!(v["codeDesc"], "CreateFailed");
        assert_eq!(
            v["message"],
            "(CreateFailed) SCF accepted CreateFunction but the function `f` ended CreateFailed: \
             InvalidParameterValue.Code bad zip"
        );
        assert_eq!(t.remaining(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_create_still_creating_when_the_wait_runs_out_names_the_state() {
        let mut script = vec![Scripted::ok(json!({}), "rc")];
        script.extend(std::iter::repeat_n(state("Creating"), 200));
        let t = ScriptedTransport::new(script);
        let started = tokio::time::Instant::now();
        let v = json(&get(&bridge(t.clone()), &CREATE).await);
        assert_eq!(started.elapsed(), Duration::from_secs(90));
        assert_eq!((v["code"].as_i64(), v["codeDesc"].as_str()), (Some(5100), Some("Creating")));
        assert!(v["message"].as_str().unwrap().contains("still Creating after 90 s"), "{v}");
        // One CreateFunction, then a read at 0, 1, …, 90 s.
        let actions = t.actions();
        assert_eq!(actions.iter().filter(|a| *a == "CreateFunction").count(), 1);
        assert_eq!(actions.len(), 1 + 91);
    }

    #[tokio::test(start_paused = true)]
    async fn reads_throttled_past_the_retry_budget_are_read_again_at_the_next_interval() {
        // Far more throttled reads than the retry budget covers: the wait
        // reads again each interval until SCF answers, within its limit.
        let mut script = vec![Scripted::ok(json!({}), "rc")];
        script.extend(
            std::iter::repeat_with(|| Scripted::error("RequestLimitExceeded", "slow down", "rt"))
                .take(60),
        );
        script.push(state("Active"));
        let t = ScriptedTransport::new(script);
        let started = tokio::time::Instant::now();
        let reply = get(&bridge(t.clone()), &CREATE).await;
        assert_eq!(
            reply.answer.to_json(),
            br#"{"code":0,"message":"","codeDesc":"Success"}"#
        );
        assert!(started.elapsed() < Duration::from_secs(90));
        assert_eq!(reply.info.scf_error, None, "the final answer was not an error");
        let actions = t.actions();
        assert_eq!(actions.iter().filter(|a| *a == "CreateFunction").count(), 1);
        assert_eq!(actions.len(), 1 + 61);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_create_is_not_sent_again_and_lost_reads_are() {
        let t = ScriptedTransport::new([Scripted::connection_lost()]);
        let reply = get(&bridge(t.clone()), &CREATE).await;
        assert!(reply.error.unwrap().may_have_reached_scf);
        assert_eq!(t.actions(), ["CreateFunction"]);

        let t = ScriptedTransport::new([
            Scripted::ok(json!({}), "rc"),
            Scripted::connection_lost(),
            state("Active"),
        ]);
        let v = json(&get(&bridge(t.clone()), &CREATE).await);
        assert_eq!(v["code"], 0, "{v}");
        assert_eq!(t.actions(), ["CreateFunction", "GetFunction", "GetFunction"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_create_and_a_refused_read_map_through_the_table() {
        let t = ScriptedTransport::new([
            Scripted::error("ResourceInUse.Function", "exists", "r1"),
            Scripted::ok(json!({}), "r2"),
            Scripted::error("ResourceNotFound.Function", "gone", "r3"),
        ]);
        let b = bridge(t.clone());
        let v = json(&get(&b, &CREATE).await);
        assert_eq!((v["code"].as_i64(), v["codeDesc"].as_str()), (Some(4000), Some("ResourceInUse.Function")));
        let v = json(&get(&b, &CREATE).await);
        assert_eq!(v["code"], 5000);
        assert!(v["message"].as_str().unwrap().contains("SCF accepted CreateFunction"), "{v}");
        assert_eq!(t.actions(), ["CreateFunction", "CreateFunction", "GetFunction"]);
    }

    #[tokio::test]
    async fn a_refused_parameter_sends_nothing() {
        let t = ScriptedTransport::new([]);
        let v = json(&get(&bridge(t.clone()), &[("Action", "CreateFunction"), ("functionName", "f"), ("code", "@UEs"), ("useGpu", "TRUE")]).await);
        assert_eq!(v["code"], 4000);
        assert!(t.calls().is_empty());
    }
}
