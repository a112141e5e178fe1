//! `DeleteFunction` → 3.0 `DeleteFunction` (docs/protocol.md,
//! "DeleteFunction"): `functionName` (required), `namespace`, and
//! `version` → `Qualifier` only for a numbered version (absent, `LATEST`
//! and `$LATEST` meant "delete the function", which is 3.0 without a
//! `Qualifier`). The legacy answer has no `data`.

use serde::{Deserialize, Serialize};

use super::{Action, Failure, LegacyParams, Scf3Client, Subject};
use crate::error::BridgeError;
use crate::legacy::answer::{codes, LegacyAnswer};
use crate::scf3::envelope::{self, CallKind};
use crate::translate::is_latest;

/// `Action=DeleteFunction`.
pub struct DeleteFunction;

/// The legacy request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub function_name: String,
    pub namespace: Option<String>,
    /// A numbered version to delete; `None` deletes the function.
    pub qualifier: Option<String>,
}

/// The 3.0 `DeleteFunction` body: only these fields are ever sent.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteFunctionBody<'a> {
    pub function_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<&'a str>,
}

/// A 3.0 answer with nothing but its `RequestId`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Empty {}

impl envelope::Request for DeleteFunctionBody<'_> {
    const ACTION: &'static str = "DeleteFunction";
    const KIND: CallKind = CallKind::Mutation;
    type Response = Empty;
}

impl Action for DeleteFunction {
    const NAME: &'static str = "DeleteFunction";
    const SCF3_ACTIONS: &'static [&'static str] = &["DeleteFunction"];
    type Request = Request;

    fn parse(p: LegacyParams) -> Result<Request, BridgeError> {
        let version = p.optional("version");
        Ok(Request {
            function_name: p.required("functionName")?.to_owned(),
            namespace: p.optional("namespace").map(str::to_owned),
            qualifier: version.filter(|v| !is_latest(Some(v))).map(str::to_owned),
        })
    }

    fn subject(r: &Request) -> Subject<'_> {
        Subject {
            function: Some(&r.function_name),
            namespace: r.namespace.as_deref(),
        }
    }

    async fn run(r: Request, scf: &mut Scf3Client<'_>) -> Result<LegacyAnswer, Failure> {
        scf.call(&body(&r)).await?;
        Ok(LegacyAnswer::success_without_data())
    }

    fn legacy_code(scf3_code: &str) -> Option<i64> {
        // "Unbind the alias first": an operation that failed, not an
        // unsupported one.
        (scf3_code == "UnsupportedOperation.AliasBind").then_some(codes::OPERATION_FAILED)
    }
}

/// The 3.0 body for a legacy request.
pub fn body(r: &Request) -> DeleteFunctionBody<'_> {
    DeleteFunctionBody {
        function_name: &r.function_name,
        namespace: r.namespace.as_deref(),
        qualifier: r.qualifier.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::error::ErrorKind;
    use crate::testing::{bridge, get, json, Scripted, ScriptedTransport};

    fn parse(form: &str) -> Result<Request, BridgeError> {
        crate::testing::parse::<DeleteFunction>(form)
    }

    fn body_json(form: &str) -> Value {
        serde_json::to_value(body(&parse(form).unwrap())).unwrap()
    }

    #[test]
    fn only_a_numbered_version_becomes_a_qualifier() {
        for form in [
            "functionName=f",
            "functionName=f&version=LATEST",
            "functionName=f&version=%24LATEST",
            "functionName=f&version=",
        ] {
            assert_eq!(body_json(form), json!({"FunctionName": "f"}), "{form}");
        }
        assert_eq!(
            body_json("functionName=f&version=2&namespace=ns"),
            json!({"FunctionName": "f", "Namespace": "ns", "Qualifier": "2"})
        );
    }

    #[test]
    fn the_function_name_is_required() {
        assert_eq!(parse("").unwrap_err().kind, ErrorKind::MissingParameter);
    }

    #[tokio::test]
    async fn the_walk_answers_without_data_and_never_resends() {
        let t = ScriptedTransport::new([
            Scripted::ok(json!({}), "r1"),
            Scripted::connection_lost(),
            Scripted::ok(json!({}), "r3"),
            Scripted::error("UnsupportedOperation.AliasBind", "unbind first", "r4"),
        ]);
        let b = bridge(t.clone());
        let q = [("Action", "DeleteFunction"), ("functionName", "f")];
        let reply = get(&b, &q).await;
        assert_eq!(
            reply.answer.to_json(),
            br#"{"code":0,"message":"","codeDesc":"Success"}"#
        );
        assert_eq!(reply.request_id.as_deref(), Some("r1"));
        let reply = get(&b, &q).await;
        assert!(reply.error.unwrap().may_have_reached_scf);
        assert_eq!(t.calls().len(), 2, "a lost DeleteFunction is not sent again");
        let _ = get(&b, &q).await;
        let v = json(&get(&b, &q).await);
        assert_eq!(v["code"], 5100);
        assert_eq!(v["codeDesc"], "UnsupportedOperation.AliasBind");
        assert_eq!(t.actions(), ["DeleteFunction"; 4]);
    }
}
