//! `GetFunctionLogs` → 3.0 `GetFunctionLogs`, which SCF took offline in
//! 2021 (docs/protocol.md, "GetFunctionLogs"). When 3.0 refuses it as
//! offline or unsupported (`ActionOffline`, `InvalidAction`,
//! `UnsupportedOperation*`): with a `requestId`, the record comes from
//! `GetRequestStatus`; without one, a legacy 6100 says the logs now live in
//! CLS. The answer has the legacy shape: top-level `total`, then a
//! top-level `data` array.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use super::params::invalid_value;
use super::{Action, Failure, LegacyParams, Scf3Client, Subject};
use crate::error::BridgeError;
use crate::legacy::answer::{codes, LegacyAnswer};
use crate::scf3::envelope::{self, CallKind, Scf3Error};
use crate::translate::{legacy_time, qualifier};

/// `Action=GetFunctionLogs`.
pub struct GetFunctionLogs;

/// The legacy request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub function_name: String,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
    /// `desc` or `asc`.
    pub order: Option<&'static str>,
    /// 3.0 `OrderBy`; `None` also for legacy `requestId` (no 3.0 value).
    pub order_by: Option<&'static str>,
    pub ret_code: Option<&'static str>,
    pub request_id: Option<String>,
    pub namespace: Option<String>,
    pub version: Option<String>,
}

/// The 3.0 `GetFunctionLogs` body: only these fields are ever sent.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogsBody<'a> {
    pub function_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_by: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_request_id: Option<&'a str>,
}

/// 3.0 `Filter`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    pub ret_code: &'static str,
}

/// The 3.0 `GetFunctionLogs` answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogsResponse {
    pub total_count: i64,
    pub data: Vec<LogRecord>,
}

/// One 3.0 log record (`Level`, `Source`, `RetryNum` are not legacy).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogRecord {
    pub function_name: String,
    pub ret_msg: String,
    pub request_id: String,
    pub start_time: String,
    pub ret_code: i64,
    pub invoke_finished: i64,
    pub duration: Option<Number>,
    pub bill_duration: Option<Number>,
    pub mem_usage: Option<Number>,
    pub log: String,
}

/// The 3.0 `GetRequestStatus` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatusBody<'a> {
    pub function_name: &'a str,
    pub function_request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
}

/// The 3.0 `GetRequestStatus` answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StatusResponse {
    pub total_count: i64,
    pub data: Vec<RequestStatus>,
}

/// One 3.0 `RequestStatus`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestStatus {
    pub function_name: String,
    pub ret_msg: String,
    pub request_id: String,
    pub start_time: String,
    /// 0 succeeded, 1 running, -1 failed.
    pub ret_code: i64,
    /// Milliseconds.
    pub duration: f64,
    /// Megabytes, as documented.
    pub mem_usage: f64,
}

impl envelope::Request for LogsBody<'_> {
    const ACTION: &'static str = "GetFunctionLogs";
    const KIND: CallKind = CallKind::Read;
    type Response = LogsResponse;
}

impl envelope::Request for StatusBody<'_> {
    const ACTION: &'static str = "GetRequestStatus";
    const KIND: CallKind = CallKind::Read;
    type Response = StatusResponse;
}

/// 3.0 `Offset + Limit` may not exceed this.
const MAX_WINDOW: i64 = 10_000;

impl Action for GetFunctionLogs {
    const NAME: &'static str = "GetFunctionLogs";
    const SCF3_ACTIONS: &'static [&'static str] = &["GetFunctionLogs", "GetRequestStatus"];
    type Request = Request;

    fn parse(p: LegacyParams) -> Result<Request, BridgeError> {
        let offset = p.integer("offset", 0, MAX_WINDOW)?;
        let limit = p.integer("limit", 0, MAX_WINDOW)?;
        if offset.unwrap_or(0) + limit.unwrap_or(20) > MAX_WINDOW {
            return Err(invalid_value(
                "limit",
                "offset + limit of at most 10000",
            ));
        }
        let order_by = p.choice(
            "orderby",
            &[
                ("startTime", Some("start_time")),
                ("start_time", Some("start_time")),
                ("functionName", Some("function_name")),
                ("function_name", Some("function_name")),
                ("duration", Some("duration")),
                ("memUsage", Some("mem_usage")),
                ("mem_usage", Some("mem_usage")),
                ("requestId", None),
                ("request_id", None),
            ],
            "startTime, functionName, requestId, duration or memUsage",
        )?;
        Ok(Request {
            function_name: p.required("functionName")?.to_owned(),
            offset,
            limit,
            order: p.choice(
                "order",
                &[("desc", "desc"), ("asc", "asc"), ("acs", "asc")],
                "desc or asc",
            )?,
            order_by: order_by.flatten(),
            ret_code: p.choice(
                "filter.retCode",
                &[
                    ("not0", "not0"),
                    ("is0", "is0"),
                    ("TimeLimitExceeded", "TimeLimitExceeded"),
                    ("ResourceLimitExceeded", "ResourceLimitExceeded"),
                    ("UserCodeException", "UserCodeException"),
                ],
                "not0 or is0",
            )?,
            request_id: p.optional("requestId").map(str::to_owned),
            namespace: p.optional("namespace").map(str::to_owned),
            version: p.optional("version").map(str::to_owned),
        })
    }

    fn subject(r: &Request) -> Subject<'_> {
        Subject {
            function: Some(&r.function_name),
            namespace: r.namespace.as_deref(),
        }
    }

    async fn run(r: Request, scf: &mut Scf3Client<'_>) -> Result<LegacyAnswer, Failure> {
        match scf.call(&body(&r)).await {
            Ok(logs) => Ok(answer(logs)),
            Err(Failure::Scf(e)) if offline(&e.code) => match &r.request_id {
                Some(id) => {
                    let status = scf
                        .call(&StatusBody {
                            function_name: &r.function_name,
                            function_request_id: id,
                            namespace: r.namespace.as_deref(),
                        })
                        .await?;
                    Ok(status_answer(status))
                }
                None => Ok(logs_in_cls(&e)),
            },
            Err(e) => Err(e),
        }
    }
}

/// Whether a 3.0 error says `GetFunctionLogs` is not served.
pub fn offline(code: &str) -> bool {
    code == "ActionOffline" || code == "InvalidAction" || code.starts_with("UnsupportedOperation")
}

/// The 3.0 body for a legacy request.
pub fn body(r: &Request) -> LogsBody<'_> {
    LogsBody {
        function_name: &r.function_name,
        offset: r.offset,
        limit: r.limit,
        order: r.order,
        order_by: r.order_by,
        filter: r.ret_code.map(|ret_code| Filter { ret_code }),
        namespace: r.namespace.as_deref(),
        qualifier: r.version.as_deref().map(qualifier),
        function_request_id: r.request_id.as_deref(),
    }
}

/// The legacy answer: `total`, then `data[]` with the captured keys in
/// their order.
pub fn answer(logs: LogsResponse) -> LegacyAnswer {
    let data = logs
        .data
        .into_iter()
        .map(|l| {
            record(Record {
                function_name: l.function_name,
                ret_msg: l.ret_msg,
                request_id: l.request_id,
                start_time: l.start_time,
                ret_code: l.ret_code,
                invoke_finished: l.invoke_finished,
                duration: number(l.duration, Number::from(0)),
                bill_duration: number(l.bill_duration, Number::from(0)),
                mem_usage: number(l.mem_usage, Number::from(0)),
                log: l.log,
            })
        })
        .collect();
    LegacyAnswer::success(Value::Array(data)).with_field("total", logs.total_count.into())
}

/// `GetRequestStatus` as legacy records: `retCode` 0 stays, -1 (failed)
/// is 1, 1 (running) is 2 with `invokeFinished` 0 (3.0 `GetFunctionLogs`'
/// value for a running request); `memUsage` MB → bytes; `billDuration`
/// is the duration rounded up (the exact figure is not reported); `log`
/// is empty (logs live in CLS).
pub fn status_answer(status: StatusResponse) -> LegacyAnswer {
    let data: Vec<Value> = status
        .data
        .into_iter()
        .map(|s| {
            let running = s.ret_code == 1;
            record(Record {
                function_name: s.function_name,
                ret_msg: s.ret_msg,
                request_id: s.request_id,
                start_time: s.start_time,
                ret_code: match s.ret_code {
                    0 => 0,
                    1 => 2,
                    _ => 1,
                },
                invoke_finished: i64::from(!running),
                duration: Number::from_f64(s.duration).unwrap_or_else(|| Number::from(0)),
                bill_duration: Number::from(s.duration.max(0.0).ceil() as i64),
                mem_usage: Number::from((s.mem_usage.max(0.0) * 1024.0 * 1024.0).round() as i64),
                log: String::new(),
            })
        })
        .collect();
    let total = data.len();
    LegacyAnswer::success(Value::Array(data)).with_field("total", total.into())
}

/// The legacy 6100 when there is no way to the logs through 3.0.
pub fn logs_in_cls(e: &Scf3Error) -> LegacyAnswer {
    LegacyAnswer::error(
        codes::UNSUPPORTED_VERSION,
        e.code.clone(),
        format!(
            "({}) GetFunctionLogs is no longer served by SCF 3.0: function logs now live in \
             CLS (Cloud Log Service), search them there; for the result of one invocation, \
             send its `requestId` and the bridge asks GetRequestStatus",
            e.code
        ),
    )
}

/// One legacy log record's fields.
struct Record {
    function_name: String,
    ret_msg: String,
    request_id: String,
    start_time: String,
    ret_code: i64,
    invoke_finished: i64,
    duration: Number,
    bill_duration: Number,
    mem_usage: Number,
    log: String,
}

fn record(r: Record) -> Value {
    let start_time = legacy_time(&r.start_time).to_owned();
    let mut m = Map::with_capacity(10);
    m.insert("functionName".into(), r.function_name.into());
    m.insert("retMsg".into(), r.ret_msg.into());
    m.insert("requestId".into(), r.request_id.into());
    m.insert("startTime".into(), start_time.into());
    m.insert("retCode".into(), r.ret_code.into());
    m.insert("invokeFinished".into(), r.invoke_finished.into());
    m.insert("duration".into(), Value::Number(r.duration));
    m.insert("billDuration".into(), Value::Number(r.bill_duration));
    m.insert("memUsage".into(), Value::Number(r.mem_usage));
    m.insert("log".into(), r.log.into());
    Value::Object(m)
}

fn number(n: Option<Number>, default: Number) -> Number {
    n.unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ErrorKind;
    use crate::testing::{bridge, get, json, Scripted, ScriptedTransport};

    fn parse(form: &str) -> Result<Request, BridgeError> {
        crate::testing::parse::<GetFunctionLogs>(form)
    }

    fn body_json(form: &str) -> Value {
        serde_json::to_value(body(&parse(form).unwrap())).unwrap()
    }

    #[test]
    fn parameters_map_to_their_3_0_fields() {
        assert_eq!(
            body_json(
                "functionName=testnode&offset=0&limit=2&order=acs&orderby=startTime\
                 &filter.retCode=is0&requestId=r-1&namespace=ns&version=LATEST"
            ),
            json!({"FunctionName": "testnode", "Offset": 0, "Limit": 2, "Order": "asc",
                "OrderBy": "start_time", "Filter": {"RetCode": "is0"}, "Namespace": "ns",
                "Qualifier": "$LATEST", "FunctionRequestId": "r-1"})
        );
        for (legacy, scf3) in [
            ("functionName", json!("function_name")),
            ("mem_usage", json!("mem_usage")),
            ("memUsage", json!("mem_usage")),
            ("duration", json!("duration")),
            ("requestId", Value::Null),
        ] {
            let b = body_json(&format!("functionName=f&orderby={legacy}&filter_retCode=not0"));
            assert_eq!(b.get("OrderBy").cloned().unwrap_or(Value::Null), scf3, "{legacy}");
            assert_eq!(b["Filter"], json!({"RetCode": "not0"}));
        }
        assert_eq!(body_json("functionName=f"), json!({"FunctionName": "f"}));
    }

    #[test]
    fn values_with_no_3_0_counterpart_are_refused() {
        for (form, name) in [
            ("order=up", "`order`"),
            ("orderby=size", "`orderby`"),
            ("filter.retCode=all", "`filter.retCode`"),
            ("offset=-1", "`offset`"),
            ("offset=9990&limit=20", "`limit`"),
        ] {
            let e = parse(&format!("functionName=f&{form}")).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidParameterValue, "{form}");
            assert!(e.detail.contains(name), "{form}: {}", e.detail);
        }
        assert_eq!(parse("limit=1").unwrap_err().kind, ErrorKind::MissingParameter);
    }

    #[test]
    fn the_answer_reproduces_the_captured_legacy_answer() {
        // The captured legacy answer (actions §7.3), its 3.0 counterpart typed in.
        let logs: LogsResponse = serde_json::from_value(json!({
            "TotalCount": 2,
            "Data": [{"FunctionName": "testnode", "RetMsg": "\"ok\"",
                "RequestId": "b5a9a4c5-9c54-11e7-8fb0-5254001df6c6",
                "StartTime": "2017-09-18 17:14:01", "RetCode": 0, "InvokeFinished": 1,
                "Duration": 2.735, "BillDuration": 100, "MemUsage": 131072,
                "Log": "2017-09-18T09:14:01.236Z\tundefined\t{ test: 'value' }\n",
                "Level": "", "Source": "", "RetryNum": 0}],
            "SearchContext": {"Offset": 0, "Limit": 1, "Keyword": "", "Type": ""}
        }))
        .unwrap();
        assert_eq!(
            String::from_utf8(answer(logs).to_json()).unwrap(),
            r#"{"code":0,"message":"","codeDesc":"Success","total":2,"data":[{"functionName":"testnode","retMsg":"\"ok\"","requestId":"b5a9a4c5-9c54-11e7-8fb0-5254001df6c6","startTime":"2017-09-18 17:14:01","retCode":0,"invokeFinished":1,"duration":2.735,"billDuration":100,"memUsage":131072,"log":"2017-09-18T09:14:01.236Z\tundefined\t{ test: 'value' }\n"}]}"#
        );
    }

    #[test]
    fn a_request_status_becomes_one_legacy_record() {
        let status: StatusResponse = serde_json::from_value(json!({
            "TotalCount": 1,
            "Data": [{"FunctionName": "f", "RetMsg": "boom", "RequestId": "r-1",
                "StartTime": "2024-08-27 15:27:43", "RetCode": -1, "Duration": 2.2,
                "MemUsage": 0.125, "RetryNum": 0}]
        }))
        .unwrap();
        let v: Value = serde_json::from_slice(&status_answer(status).to_json()).unwrap();
        assert_eq!(
            v,
            json!({"code": 0, "message": "", "codeDesc": "Success", "total": 1, "data": [
                {"functionName": "f", "retMsg": "boom", "requestId": "r-1",
                 "startTime": "2024-08-27 15:27:43", "retCode": 1, "invokeFinished": 1,
                 "duration": 2.2, "billDuration": 3, "memUsage": 131072, "log": ""}]})
        );
        let running: StatusResponse =
            serde_json::from_value(json!({"Data": [{"RetCode": 1}]})).unwrap();
        let v = status_answer(running).data.unwrap().to_value();
        assert_eq!((v[0]["retCode"].as_i64(), v[0]["invokeFinished"].as_i64()), (Some(2), Some(0)));
    }

    const LOGS: [(&str, &str); 2] = [("Action", "GetFunctionLogs"), ("functionName", "f")];

    #[tokio::test]
    async fn the_walk_answers_top_level_total_and_data() {
        let t = ScriptedTransport::new([Scripted::ok(json!({"TotalCount": 0, "Data": []}), "r1")]);
        let reply = get(&bridge(t.clone()), &LOGS).await;
        assert_eq!(
            reply.answer.to_json(),
            br#"{"code":0,"message":"","codeDesc":"Success","total":0,"data":[]}"#
        );
        assert_eq!(t.actions(), ["GetFunctionLogs"]);
    }

    #[tokio::test]
    async fn offline_without_a_request_id_is_a_clear_6100() {
        for code in ["ActionOffline", "InvalidAction", "UnsupportedOperation.NotSupportRegion"] {
            let t = ScriptedTransport::new([Scripted::error(code, "offline", "r1")]);
            let v = json(&get(&bridge(t.clone()), &LOGS).await);
            assert_eq!((v["code"].as_i64(), v["codeDesc"].as_str()), (Some(6100), Some(code)));
            assert!(v["message"].as_str().unwrap().contains("now live in CLS"), "{v}");
            assert_eq!(v.get("data"), None);
            assert_eq!(t.actions(), ["GetFunctionLogs"]);
        }
    }

    #[tokio::test]
    async fn offline_with_a_request_id_asks_get_request_status() {
        let t = ScriptedTransport::new([
            Scripted::error("ActionOffline", "offline", "r1"),
            Scripted::ok(json!({"TotalCount": 1, "Data": [{"FunctionName": "f",
                "RequestId": "x-1", "RetCode": 0, "RetMsg": "ok", "Duration": 1.0,
                "MemUsage": 1.0, "StartTime": "2024-01-01 00:00:00"}]}), "r2"),
        ]);
        let mut q = LOGS.to_vec();
        q.extend([("requestId", "x-1"), ("namespace", "ns")]);
        let v = json(&get(&bridge(t.clone()), &q).await);
        assert_eq!(v["total"], 1);
        assert_eq!(v["data"][0]["requestId"], "x-1");
        assert_eq!(v["data"][0]["memUsage"], 1_048_576);
        assert_eq!(t.actions(), ["GetFunctionLogs", "GetRequestStatus"]);
        assert_eq!(
            t.calls()[1].body,
            json!({"FunctionName": "f", "FunctionRequestId": "x-1", "Namespace": "ns"})
        );
    }

    #[tokio::test]
    async fn other_refusals_map_through_the_table_and_reads_are_retried() {
        let t = ScriptedTransport::new([
            Scripted::connection_lost(),
            Scripted::error("FailedOperation.TopicNotExist", "no topic", "r1"),
            Scripted::error("ActionOffline", "offline", "r2"),
            Scripted::error("ResourceNotFound.Function", "no f", "r3"),
        ]);
        let b = bridge(t.clone());
        let v = json(&get(&b, &LOGS).await);
        assert_eq!(v["code"], 5100);
        let mut q = LOGS.to_vec();
        q.push(("requestId", "x"));
        let v = json(&get(&b, &q).await);
        assert_eq!((v["code"].as_i64(), v["codeDesc"].as_str()), (Some(5000), Some("ResourceNotFound.Function")));
        assert_eq!(t.remaining(), 0);
    }
}
