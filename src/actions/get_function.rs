//! `GetFunction` → 3.0 `GetFunction` (docs/protocol.md, "GetFunction"):
//! `functionName` (required), `code=1` → `ShowCode=TRUE`, `version` →
//! `Qualifier` (`LATEST` → `$LATEST`), `namespace`; the answer keeps the
//! captured legacy keys, `version` without its `$`, `triggers[]`, and the
//! code fields only when the caller asked for the code.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Action, Failure, LegacyParams, Scf3Client, Subject};
use crate::error::BridgeError;
use crate::legacy::answer::{codes, LegacyAnswer};
use crate::scf3::envelope::{self, CallKind};
use crate::translate::{legacy_time, legacy_version, qualifier};

/// `Action=GetFunction`.
pub struct GetFunction;

/// The legacy request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub function_name: String,
    /// `code=1`: the answer carries the entry file's source.
    pub show_code: bool,
    pub version: Option<String>,
    pub namespace: Option<String>,
}

/// The 3.0 `GetFunction` body: only these fields are ever sent.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetFunctionBody<'a> {
    pub function_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
    /// `TRUE` or absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_code: Option<&'static str>,
}

/// The parts of the 3.0 answer the legacy answer has (the rest is
/// skipped unread).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetFunctionResponse {
    pub mod_time: String,
    pub add_time: String,
    pub function_name: String,
    pub handler: Option<String>,
    pub code_size: Option<i64>,
    pub memory_size: Option<i64>,
    pub timeout: Option<i64>,
    pub function_version: Option<String>,
    pub runtime: Option<String>,
    pub description: Option<String>,
    pub triggers: Option<Vec<Trigger>>,
    pub code_info: Option<String>,
    pub code_result: Option<String>,
    pub code_error: Option<String>,
    pub err_no: Option<i64>,
    /// The function's state (`Active`, `Creating`, …): not in the legacy
    /// answer, read by actions that wait on it.
    pub status: Option<String>,
}

/// One trigger of a 3.0 function.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Trigger {
    pub mod_time: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub trigger_desc: String,
    pub trigger_name: String,
    pub add_time: String,
}

impl envelope::Request for GetFunctionBody<'_> {
    const ACTION: &'static str = "GetFunction";
    const KIND: CallKind = CallKind::Read;
    type Response = GetFunctionResponse;
}

impl Action for GetFunction {
    const NAME: &'static str = "GetFunction";
    const SCF3_ACTIONS: &'static [&'static str] = &["GetFunction"];
    type Request = Request;

    fn parse(p: LegacyParams) -> Result<Request, BridgeError> {
        Ok(Request {
            function_name: p.required("functionName")?.to_owned(),
            show_code: p.choice("code", &[("0", false), ("1", true)], "0 or 1")? == Some(true),
            version: p.optional("version").map(str::to_owned),
            namespace: p.optional("namespace").map(str::to_owned),
        })
    }

    fn subject(r: &Request) -> Subject<'_> {
        Subject {
            function: Some(&r.function_name),
            namespace: r.namespace.as_deref(),
        }
    }

    async fn run(r: Request, scf: &mut Scf3Client<'_>) -> Result<LegacyAnswer, Failure> {
        let answer = scf.call(&body(&r)).await?;
        Ok(LegacyAnswer::success(data(answer, r.show_code)))
    }

    fn legacy_code(scf3_code: &str) -> Option<i64> {
        // Its documented meaning for this action is "the function does not exist".
        (scf3_code == "InvalidParameterValue.FunctionName").then_some(codes::RESOURCE_NOT_FOUND)
    }
}

/// The 3.0 body for a legacy request.
pub fn body(r: &Request) -> GetFunctionBody<'_> {
    GetFunctionBody {
        function_name: &r.function_name,
        qualifier: r.version.as_deref().map(qualifier),
        namespace: r.namespace.as_deref(),
        show_code: r.show_code.then_some("TRUE"),
    }
}

/// The legacy `data`, keys in the captured order; the code fields only
/// with `show_code`.
pub fn data(a: GetFunctionResponse, show_code: bool) -> Value {
    let text = |s: Option<String>| Value::String(s.unwrap_or_default());
    let int = |n: Option<i64>| Value::from(n.unwrap_or(0));
    let triggers: Vec<Value> = a
        .triggers
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            let mut m = Map::with_capacity(5);
            m.insert("modTime".into(), legacy_time(&t.mod_time).into());
            m.insert("type".into(), t.kind.into());
            m.insert("triggerDesc".into(), t.trigger_desc.into());
            m.insert("triggerName".into(), t.trigger_name.into());
            m.insert("addTime".into(), legacy_time(&t.add_time).into());
            Value::Object(m)
        })
        .collect();
    let version = a
        .function_version
        .as_deref()
        .map_or("LATEST", legacy_version)
        .to_owned();
    let mut m = Map::with_capacity(14);
    m.insert("modTime".into(), legacy_time(&a.mod_time).into());
    m.insert("functionName".into(), a.function_name.into());
    m.insert("triggers".into(), Value::Array(triggers));
    m.insert("handler".into(), text(a.handler));
    m.insert("codeSize".into(), int(a.code_size));
    m.insert("memorySize".into(), int(a.memory_size));
    m.insert("version".into(), version.into());
    m.insert("timeout".into(), int(a.timeout));
    m.insert("runtime".into(), text(a.runtime));
    m.insert("description".into(), text(a.description));
    if show_code {
        m.insert("code".into(), text(a.code_info));
        m.insert("codeError".into(), text(a.code_error));
        m.insert("codeResult".into(), text(a.code_result));
        m.insert("errNo".into(), int(a.err_no));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ErrorKind;
    use crate::testing::{bridge, get, json, Scripted, ScriptedTransport};

    fn parse(form: &str) -> Result<Request, BridgeError> {
        crate::testing::parse::<GetFunction>(form)
    }

    fn body_json(form: &str) -> Value {
        serde_json::to_value(body(&parse(form).unwrap())).unwrap()
    }

    #[test]
    fn parameters_map_to_their_3_0_fields() {
        assert_eq!(body_json("functionName=f"), json!({"FunctionName": "f"}));
        assert_eq!(
            body_json("functionName=f&code=1&version=LATEST&namespace=ns"),
            json!({"FunctionName": "f", "Qualifier": "$LATEST", "Namespace": "ns", "ShowCode": "TRUE"})
        );
        assert_eq!(
            body_json("functionName=f&code=0&version=2"),
            json!({"FunctionName": "f", "Qualifier": "2"})
        );
    }

    #[test]
    fn a_missing_or_empty_name_and_a_bad_code_are_refused() {
        assert_eq!(parse("code=1").unwrap_err().kind, ErrorKind::MissingParameter);
        assert_eq!(
            parse("functionName=").unwrap_err().kind,
            ErrorKind::InvalidParameterValue
        );
        let e = parse("functionName=f&code=yes").unwrap_err();
        assert_eq!(e.detail, "invalid value for `code`: expected 0 or 1");
    }

    /// The 3.0 answer for the function of the captured legacy answer.
    fn answer() -> GetFunctionResponse {
        serde_json::from_value(json!({
            "ModTime": "2017-06-08 17:36:38", "AddTime": "2017-06-08 17:36:38",
            "FunctionName": "ziptest", "Handler": "index.main_handler", "CodeSize": 2600020,
            "MemorySize": 128, "Timeout": 3, "FunctionVersion": "$LATEST",
            "Runtime": "Python2.7", "Description": "", "Status": "Active",
            "Namespace": "default", "Environment": {"Variables": []},
            "Triggers": [{"ModTime": "2017-09-18 16:52:33", "Type": "cos",
                "TriggerDesc": "{\"event\":\"cos:ObjectCreated:*\"}",
                "TriggerName": "testscfcode-1251762227.cn-south.myqcloud.com",
                "AddTime": "2017-09-18 16:52:33", "Enable": 1, "Qualifier": "$LATEST"}],
            "CodeInfo": "def main_handler(event, context): pass", "CodeResult": "success",
            "CodeError": "", "ErrNo": 0
        }))
        .unwrap()
    }

    #[test]
    fn the_answer_reproduces_the_captured_legacy_data() {
        // The 2017-09 capture (docs/protocol.md, "GetFunction"), key for key.
        assert_eq!(
            serde_json::to_string(&data(answer(), false)).unwrap(),
            r#"{"modTime":"2017-06-08 17:36:38","functionName":"ziptest","triggers":[{"modTime":"2017-09-18 16:52:33","type":"cos","triggerDesc":"{\"event\":\"cos:ObjectCreated:*\"}","triggerName":"testscfcode-1251762227.cn-south.myqcloud.com","addTime":"2017-09-18 16:52:33"}],"handler":"index.main_handler","codeSize":2600020,"memorySize":128,"version":"LATEST","timeout":3,"runtime":"Python2.7","description":""}"#
        );
    }

    #[test]
    fn with_code_1_the_code_fields_follow() {
        let d = data(answer(), true);
        let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(&keys[10..], ["code", "codeError", "codeResult", "errNo"]);
        assert_eq!(d["code"], "def main_handler(event, context): pass");
        assert_eq!(d["codeResult"], "success");
        assert_eq!(d["errNo"], 0);
    }

    #[test]
    fn a_numbered_version_stays_and_absent_fields_get_zero_values() {
        let a: GetFunctionResponse =
            serde_json::from_value(json!({"FunctionName": "f", "FunctionVersion": "3"})).unwrap();
        let d = data(a, false);
        assert_eq!(d["version"], "3");
        assert_eq!(d["triggers"], json!([]));
        assert_eq!((d["codeSize"].as_i64(), d["runtime"].as_str()), (Some(0), Some("")));
    }

    #[tokio::test]
    async fn the_walk_reads_the_function_and_maps_its_not_found_codes_to_5000() {
        let ok = Scripted::ok(serde_json::to_value(json!({"FunctionName": "f",
            "FunctionVersion": "$LATEST", "Triggers": []})).unwrap(), "r1");
        let t = ScriptedTransport::new([
            ok,
            Scripted::error("InvalidParameterValue.FunctionName", "函数不存在", "r2"),
            Scripted::error("ResourceNotFound.Function", "gone", "r3"),
        ]);
        let b = bridge(t.clone());
        let q = [("Action", "GetFunction"), ("functionName", "f"), ("code", "1")];
        let v = json(&get(&b, &q).await);
        assert_eq!(v["data"]["version"], "LATEST");
        assert_eq!(v["data"]["code"], "");
        assert_eq!(t.calls()[0].body, json!({"FunctionName": "f", "ShowCode": "TRUE"}));
        for desc in ["InvalidParameterValue.FunctionName", "ResourceNotFound.Function"] {
            let v = json(&get(&b, &q).await);
            assert_eq!(v["code"], 5000, "{v}");
            assert_eq!(v["codeDesc"], desc);
        }
        let v = json(&get(&b, &[("Action", "GetFunction")]).await);
        assert_eq!(v["codeDesc"], "MissingParameter");
        assert_eq!(t.calls().len(), 3);
    }
}
