//! `GetRequestStatus` (the result of one recorded invocation) and
//! `GetFunctionLogs`, which SCF 3.0 took offline on 2021-07-01: by default it
//! answers `ActionOffline` pointing to `GetRequestStatus`, as the real
//! service's own documentation does; with `function_logs_online` it serves
//! the recorded invocations.

use serde_json::{json, Map, Value};

use super::{check_qualifier, not_found, page, Answer, Ctx};
use crate::emulator::account::{is_wall_time, wall_time, Invocation};
use crate::emulator::error::{code, ApiError};
use crate::emulator::request::Params;

/// Default look-back of `GetRequestStatus` without `StartTime`, seconds.
pub const DEFAULT_LOOK_BACK_SECS: u64 = 15 * 60;

/// `StartTime`/`EndTime` as given, checked: both `YYYY-MM-DD HH:MM:SS`, and
/// with `StartTime` also `EndTime`, later than it.
fn window(params: &Params) -> Result<(Option<String>, Option<String>), ApiError> {
    let start = params.str("StartTime")?;
    let end = params.str("EndTime")?;
    for t in [start, end].into_iter().flatten() {
        if !is_wall_time(t) {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE_DATE_TIME,
                "StartTime and EndTime are YYYY-MM-DD HH:MM:SS",
            ));
        }
    }
    match (start, end) {
        (Some(_), None) => Err(ApiError::new(
            code::MISSING_PARAMETER,
            "EndTime is required with StartTime",
        )),
        (Some(s), Some(e)) if e <= s => Err(ApiError::new(
            code::INVALID_PARAMETER_VALUE_DATE_TIME,
            "EndTime must be later than StartTime",
        )),
        _ => Ok((start.map(str::to_owned), end.map(str::to_owned))),
    }
}

fn within(i: &Invocation, (start, end): &(Option<String>, Option<String>)) -> bool {
    start.as_deref().is_none_or(|s| i.start_time.as_str() >= s)
        && end.as_deref().is_none_or(|e| i.start_time.as_str() <= e)
}

/// `GetRequestStatus`: `FunctionName` and `FunctionRequestId` required;
/// `Data` holds the one matching `RequestStatus` (none when unknown or
/// outside the window, by default the last 15 minutes).
pub fn request_status(ctx: &Ctx, params: &Params) -> Result<Answer, ApiError> {
    let name = params.function_name()?;
    let request_id = params.required_str("FunctionRequestId")?;
    let namespace = params.namespace()?;
    let mut window = window(params)?;
    if window.0.is_none() {
        // Without StartTime, the last 15 minutes.
        window.0 = Some(wall_time(ctx.unix.saturating_sub(DEFAULT_LOOK_BACK_SECS)));
    }
    let data: Vec<Value> =
        ctx.state
            .account
            .with_space(&ctx.region, namespace, ctx.now, &ctx.wall, |space, _| {
                if !space.functions.contains_key(name) {
                    return Err(not_found(name));
                }
                Ok(space
                    .invocation(name, request_id)
                    .filter(|i| within(i, &window))
                    .map(|i| {
                        json!({
                            "FunctionName": i.function_name,
                            "RetMsg": i.ret_msg,
                            "RequestId": i.request_id,
                            "StartTime": i.start_time,
                            "RetCode": i.ret_code,
                            "Duration": i.duration_ms,
                            "MemUsage": i.mem_usage as f64 / (1024.0 * 1024.0),
                            "RetryNum": 0,
                        })
                    })
                    .into_iter()
                    .collect())
            })?;
    let mut answer = Map::new();
    answer.insert("TotalCount".into(), json!(data.len()));
    answer.insert("Data".into(), Value::Array(data));
    Ok(answer)
}

/// `GetFunctionLogs`.
pub fn function_logs(ctx: &Ctx, params: &Params) -> Result<Answer, ApiError> {
    if !ctx.state.config.function_logs_online {
        return Err(ApiError::new(
            code::ACTION_OFFLINE,
            "GetFunctionLogs is offline; use GetRequestStatus for the result of a request, and CLS for logs",
        ));
    }
    let name = params.function_name()?;
    let namespace = params.namespace()?;
    check_qualifier(params, None)?;
    let (offset, limit) = params.offset_limit(10_000)?;
    if offset + limit > 10_000 {
        return Err(ApiError::new(
            code::INVALID_PARAMETER_VALUE_LIMIT,
            "Offset+Limit must not exceed 10000",
        ));
    }
    let desc = match params.str("Order")? {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE_ORDER,
                "Order must be desc or asc",
            ))
        }
    };
    let order_by = match params.str("OrderBy")? {
        None => "start_time",
        Some(v @ ("function_name" | "duration" | "mem_usage" | "start_time")) => v,
        Some(_) => {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE_ORDER_BY,
                "OrderBy must be function_name, duration, mem_usage or start_time",
            ))
        }
    };
    let ret_code = match params.object("Filter")?.map(|f| f.get("RetCode")) {
        None | Some(None) => None,
        Some(Some(Value::String(v))) if ["not0", "is0"].contains(&v.as_str()) => {
            Some(v.as_str() == "is0")
        }
        Some(Some(_)) => {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE_RET_CODE,
                "Filter.RetCode must be not0 or is0 in the emulator",
            ))
        }
    };
    let request_id = params.str("FunctionRequestId")?;
    let window = window(params)?;
    let (total, data) =
        ctx.state
            .account
            .with_space(&ctx.region, namespace, ctx.now, &ctx.wall, |space, _| {
                let mut found: Vec<&Invocation> = space
                    .invocations()
                    .filter(|i| i.function_name == name && i.ret_code != 1)
                    .filter(|i| request_id.is_none_or(|id| i.request_id == id))
                    .filter(|i| ret_code.is_none_or(|zero| (i.ret_code == 0) == zero))
                    .filter(|i| within(i, &window))
                    .collect();
                found.sort_by(|a, b| match order_by {
                    "duration" => a.duration_ms.total_cmp(&b.duration_ms),
                    "mem_usage" => a.mem_usage.cmp(&b.mem_usage),
                    "function_name" => a.function_name.cmp(&b.function_name),
                    _ => (&a.start_time, a.seq).cmp(&(&b.start_time, b.seq)),
                });
                if desc {
                    found.reverse();
                }
                let total = found.len();
                let data: Vec<Value> = page(found, offset, limit)
                    .into_iter()
                    .map(|i| {
                        json!({
                            "FunctionName": i.function_name,
                            "RetMsg": i.ret_msg,
                            "RequestId": i.request_id,
                            "StartTime": i.start_time,
                            "RetCode": if i.ret_code == 0 { 0 } else { 1 },
                            "InvokeFinished": 1,
                            "Duration": i.duration_ms,
                            "BillDuration": i.bill_duration_ms,
                            "MemUsage": i.mem_usage,
                            "Log": i.log,
                            "Level": "",
                            "Source": "",
                            "RetryNum": 0,
                        })
                    })
                    .collect();
                (total, data)
            });
    let mut answer = Map::new();
    answer.insert("TotalCount".into(), json!(total));
    answer.insert("Data".into(), Value::Array(data));
    answer.insert(
        "SearchContext".into(),
        json!({ "Offset": offset, "Limit": limit, "Keyword": "", "Type": "" }),
    );
    Ok(answer)
}
