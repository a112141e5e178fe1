//! `ListFunctions` → 3.0 `ListFunctions` (docs/protocol.md,
//! "ListFunctions"): `order` asc/desc → `Order` ASC/DESC, `orderby`
//! addtime/modtime/functionname → `Orderby` (lower-case b) AddTime/ModTime/
//! FunctionName, `offset`/`limit`/`searchKey`/`namespace` as sent; the
//! answer is `data.{functions[{modTime,addTime,runtime,functionName}],total}`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Action, Failure, LegacyParams, Scf3Client, Subject};
use crate::error::BridgeError;
use crate::legacy::answer::LegacyAnswer;
use crate::scf3::envelope::{self, CallKind};
use crate::translate::legacy_time;

/// `Action=ListFunctions`.
pub struct ListFunctions;

/// The legacy request, checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    pub order: Option<&'static str>,
    pub orderby: Option<&'static str>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
    pub search_key: Option<String>,
    pub namespace: Option<String>,
}

const ORDER: &[(&str, &str)] = &[("asc", "ASC"), ("desc", "DESC")];
const ORDERBY: &[(&str, &str)] = &[
    ("addtime", "AddTime"),
    ("modtime", "ModTime"),
    ("functionname", "FunctionName"),
];

/// The 3.0 `ListFunctions` body: only these fields are ever sent.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFunctionsBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<&'static str>,
    /// `Orderby`, with a lower-case b in this action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orderby: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
}

/// The parts of the 3.0 answer the legacy answer has.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFunctionsResponse {
    #[serde(default)]
    pub functions: Vec<Function>,
    #[serde(default)]
    pub total_count: u64,
}

/// One function of the 3.0 list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Function {
    #[serde(default)]
    pub function_name: String,
    /// Null for some function types.
    #[serde(default)]
    pub runtime: Option<String>,
    #[serde(default)]
    pub add_time: String,
    #[serde(default)]
    pub mod_time: String,
}

impl envelope::Request for ListFunctionsBody<'_> {
    const ACTION: &'static str = "ListFunctions";
    const KIND: CallKind = CallKind::Read;
    type Response = ListFunctionsResponse;
}

impl Action for ListFunctions {
    const NAME: &'static str = "ListFunctions";
    const SCF3_ACTIONS: &'static [&'static str] = &["ListFunctions"];
    type Request = Request;

    fn parse(p: LegacyParams) -> Result<Request, BridgeError> {
        Ok(Request {
            order: p.choice("order", ORDER, "asc or desc")?,
            orderby: p.choice("orderby", ORDERBY, "addtime, modtime or functionname")?,
            offset: p.integer("offset", 0, i64::from(u32::MAX))?,
            limit: p.integer("limit", 0, i64::from(u32::MAX))?,
            search_key: p.optional("searchKey").map(str::to_owned),
            namespace: p.optional("namespace").map(str::to_owned),
        })
    }

    fn subject(r: &Request) -> Subject<'_> {
        Subject {
            function: None,
            namespace: r.namespace.as_deref(),
        }
    }

    async fn run(r: Request, scf: &mut Scf3Client<'_>) -> Result<LegacyAnswer, Failure> {
        let answer = scf.call(&body(&r)).await?;
        Ok(LegacyAnswer::success(data(answer)))
    }
}

/// The 3.0 body for a legacy request.
pub fn body(r: &Request) -> ListFunctionsBody<'_> {
    ListFunctionsBody {
        order: r.order,
        orderby: r.orderby,
        offset: r.offset,
        limit: r.limit,
        search_key: r.search_key.as_deref(),
        namespace: r.namespace.as_deref(),
    }
}

/// The legacy `data` for a 3.0 answer, keys in the captured order.
pub fn data(a: ListFunctionsResponse) -> Value {
    let functions: Vec<Value> = a
        .functions
        .iter()
        .map(|f| {
            json!({
                "modTime": legacy_time(&f.mod_time),
                "addTime": legacy_time(&f.add_time),
                "runtime": f.runtime.as_deref().unwrap_or(""),
                "functionName": f.function_name,
            })
        })
        .collect();
    json!({"functions": functions, "total": a.total_count})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::testing::{bridge, get, json, Scripted, ScriptedTransport};

    fn parse(form: &str) -> Result<Request, BridgeError> {
        crate::testing::parse::<ListFunctions>(form)
    }

    fn body_json(form: &str) -> Value {
        serde_json::to_value(body(&parse(form).unwrap())).unwrap()
    }

    #[test]
    fn every_parameter_maps_to_its_3_0_field_with_orderby_lower_case_b() {
        assert_eq!(
            body_json("order=desc&orderby=modtime&offset=20&limit=10&searchKey=zip&namespace=ns"),
            json!({"Order": "DESC", "Orderby": "ModTime", "Offset": 20, "Limit": 10,
                "SearchKey": "zip", "Namespace": "ns"})
        );
        let text = serde_json::to_string(&body(&parse("orderby=addtime").unwrap())).unwrap();
        assert_eq!(text, r#"{"Orderby":"AddTime"}"#);
    }

    #[test]
    fn vocabularies_are_case_insensitive() {
        assert_eq!(
            body_json("order=ASC&orderby=FunctionName"),
            json!({"Order": "ASC", "Orderby": "FunctionName"})
        );
    }

    #[test]
    fn nothing_sent_means_an_empty_body_and_empty_values_are_absent() {
        assert_eq!(body_json(""), json!({}));
        assert_eq!(body_json("order=&orderby=&offset=&limit=&searchKey="), json!({}));
    }

    #[test]
    fn bad_values_are_refused_naming_the_parameter() {
        for (form, name) in [
            ("order=up", "order"),
            ("orderby=size", "orderby"),
            ("offset=-1", "offset"),
            ("limit=ten", "limit"),
        ] {
            let e = parse(form).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidParameterValue, "{form}");
            assert!(e.detail.contains(&format!("`{name}`")), "{}", e.detail);
        }
    }

    #[test]
    fn the_answer_reproduces_the_captured_legacy_data() {
        let a: ListFunctionsResponse = serde_json::from_value(json!({
            "Functions": [{"FunctionName": "ziptest", "Runtime": "Python2.7",
                "AddTime": "2017-06-08 17:36:38", "ModTime": "2017-06-08 17:36:38",
                "Namespace": "default", "Status": "Active", "FunctionId": "lam-1"}],
            "TotalCount": 7
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_string(&data(a)).unwrap(),
            r#"{"functions":[{"modTime":"2017-06-08 17:36:38","addTime":"2017-06-08 17:36:38","runtime":"Python2.7","functionName":"ziptest"}],"total":7}"#
        );
    }

    #[test]
    fn a_null_runtime_is_an_empty_string() {
        let a: ListFunctionsResponse = serde_json::from_value(json!({
            "Functions": [{"FunctionName": "img", "Runtime": null,
                "AddTime": " 2024-12-20 11:27:07", "ModTime": "2024-12-20 11:27:07"}],
            "TotalCount": 1
        }))
        .unwrap();
        let d = data(a);
        assert_eq!(d["functions"][0]["runtime"], "");
        assert_eq!(d["functions"][0]["addTime"], "2024-12-20 11:27:07");
    }

    #[tokio::test]
    async fn the_walk_sends_one_read_and_answers_legacy_data() {
        let t = ScriptedTransport::new([Scripted::ok(
            json!({"Functions": [{"FunctionName": "a", "Runtime": "Nodejs6.10",
                "AddTime": "2017-06-08 17:36:38", "ModTime": "2017-06-09 10:00:00"}],
                "TotalCount": 1}),
            "r-list",
        )]);
        let reply = get(
            &bridge(t.clone()),
            &[("Action", "ListFunctions"), ("orderby", "addtime"), ("limit", "1")],
        )
        .await;
        assert_eq!(
            json(&reply),
            json!({"code": 0, "message": "", "codeDesc": "Success", "data": {"functions": [
                {"modTime": "2017-06-09 10:00:00", "addTime": "2017-06-08 17:36:38",
                 "runtime": "Nodejs6.10", "functionName": "a"}], "total": 1}})
        );
        assert_eq!(reply.request_id.as_deref(), Some("r-list"));
        let calls = t.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].action, "ListFunctions");
        assert_eq!(calls[0].body, json!({"Orderby": "AddTime", "Limit": 1}));
    }

    #[tokio::test]
    async fn a_read_is_retried_once_its_connection_broke() {
        let t = ScriptedTransport::new([
            Scripted::connection_lost(),
            Scripted::ok(json!({"Functions": [], "TotalCount": 0}), "r"),
        ]);
        let reply = get(&bridge(t.clone()), &[("Action", "ListFunctions")]).await;
        assert_eq!(json(&reply)["data"], json!({"functions": [], "total": 0}));
        assert_eq!(t.actions(), ["ListFunctions", "ListFunctions"]);
    }

    #[tokio::test]
    async fn a_3_0_error_goes_through_the_shared_table_and_bad_values_send_nothing() {
        let t = ScriptedTransport::new([Scripted::error(
            "ResourceNotFound.Namespace",
            "no namespace",
            "r",
        )]);
        let b = bridge(t.clone());
        let v = json(&get(&b, &[("Action", "ListFunctions"), ("order", "sideways")]).await);
        assert_eq!((v["code"].as_i64(), v["codeDesc"].as_str()), (Some(4000), Some("InvalidParameterValue")));
        assert!(t.calls().is_empty());
        let v = json(&get(&b, &[("Action", "ListFunctions"), ("namespace", "x")]).await);
        assert_eq!(v["code"], 5000);
        assert_eq!(v["codeDesc"], "ResourceNotFound.Namespace");
    }
}
