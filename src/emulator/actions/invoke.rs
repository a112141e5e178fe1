//! `Invoke` (sync or async, event in `ClientContext`, `InvokeResult` 0 on
//! success) and `InvokeFunction` (sync only, event in `Event`, `InvokeResult`
//! the execution status code, 200 on success). Every invocation is recorded
//! for `GetRequestStatus` and (online) `GetFunctionLogs`.

use std::sync::Arc;
use std::time::Instant as StdInstant;

use serde_json::{json, Map, Value};

use super::{check_qualifier, not_found, Answer, Ctx};
use crate::emulator::account::{wall_time, Behaviour, Invocation, Status};
use crate::emulator::error::{code, ApiError};
use crate::emulator::request::Params;
use crate::emulator::runtime::{self, Caller, InvokeResult, LogType, Plan};
use crate::emulator::schema::Action;
use crate::emulator::State;

/// Largest event of a synchronous invocation, bytes.
pub const SYNC_EVENT_LIMIT: usize = 6 * 1024 * 1024;
/// Largest event of an asynchronous (`Event`) invocation, bytes.
pub const ASYNC_EVENT_LIMIT: usize = 128 * 1024;
/// Largest `RoutingKey`, bytes.
pub const ROUTING_KEY_LIMIT: usize = 1024;

/// A validated invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `FunctionName`.
    pub function_name: String,
    /// `Namespace`, defaulted.
    pub namespace: String,
    /// Which action was called.
    pub caller: Caller,
    /// `InvocationType=Event` (`Invoke` only).
    pub asynchronous: bool,
    /// `LogType`, defaulted.
    pub log_type: LogType,
    /// The event as sent (`{}` when absent).
    pub event_text: String,
    /// The event, parsed.
    pub event: Value,
}

/// Validates the parameters of `Invoke` or `InvokeFunction`.
pub fn parse(params: &Params) -> Result<Call, ApiError> {
    let function_name = params.function_name()?.to_owned();
    let caller = match params.action() {
        Action::InvokeFunction => Caller::InvokeFunction,
        _ => Caller::Invoke,
    };
    let asynchronous = match params.str("InvocationType")? {
        None | Some("RequestResponse") => false,
        Some("Event") => true,
        Some(_) => {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE,
                "InvocationType must be RequestResponse or Event",
            ))
        }
    };
    let log_type = match params.str("LogType")? {
        None | Some("None") => LogType::None,
        Some("Tail") => LogType::Tail,
        Some(_) => {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE,
                "LogType must be None or Tail",
            ))
        }
    };
    check_qualifier(params, Some("$DEFAULT"))?;
    let (field, bad_json) = match caller {
        Caller::Invoke => ("ClientContext", code::INVALID_PARAMETER_VALUE_PARAM),
        Caller::InvokeFunction => ("Event", code::INVALID_PARAMETER_VALUE_CLIENT_CONTEXT),
    };
    let (event_text, event) = match params.str(field)? {
        None => ("{}".to_owned(), Value::Object(Map::new())),
        Some(text) => {
            let (limit, kind) = if asynchronous {
                (ASYNC_EVENT_LIMIT, "Event")
            } else {
                (SYNC_EVENT_LIMIT, "RequestResponse")
            };
            if text.len() > limit {
                return Err(ApiError::new(
                    code::REQUEST_TOO_LARGE,
                    format!(
                        "{field} is {} bytes; the limit for {kind} is {limit} bytes",
                        text.len()
                    ),
                ));
            }
            let event = serde_json::from_str::<Value>(text)
                .map_err(|_| ApiError::new(bad_json, format!("{field} is not valid JSON")))?;
            (text.to_owned(), event)
        }
    };
    if let Some(key) = params.str("RoutingKey")? {
        let ok = key.len() <= ROUTING_KEY_LIMIT
            && matches!(
                serde_json::from_str::<Value>(key),
                Ok(Value::Object(m)) if m.values().all(Value::is_string)
            );
        if !ok {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE,
                "RoutingKey must be a JSON object of strings of at most 1024 bytes",
            ));
        }
    }
    let namespace = params.namespace()?.to_owned();
    Ok(Call {
        function_name,
        namespace,
        caller,
        asynchronous,
        log_type,
        event_text,
        event,
    })
}

/// Runs the function and answers `{"Result": …}`.
pub async fn invoke(ctx: &Ctx, params: &Params) -> Result<Answer, ApiError> {
    let call = parse(params)?;
    if call.caller == Caller::InvokeFunction
        && ctx
            .state
            .config
            .invoke_function_unsupported_regions
            .contains(&ctx.region)
    {
        return Err(ApiError::new(
            code::UNSUPPORTED_OPERATION_REGION,
            format!(
                "InvokeFunction is not supported in {}; use Invoke",
                ctx.region
            ),
        ));
    }
    let function_request_id = uuid::Uuid::new_v4().to_string();
    let plan = ctx.state.account.with_space(
        &ctx.region,
        &call.namespace,
        ctx.now,
        &ctx.wall,
        |space, seq| {
            let f = space
                .functions
                .get(&call.function_name)
                .ok_or_else(|| not_found(&call.function_name))?;
            if matches!(
                f.status,
                Status::Creating | Status::CreateFailed | Status::Deleting
            ) {
                return Err(ApiError::new(
                    code::FUNCTION_STATUS_ERROR,
                    format!("the function {} is {}", f.name, f.status.as_str()),
                ));
            }
            let running = f.running();
            let plan = match running.behaviour {
                Behaviour::Builtin(b) => runtime::plan(b, &call.event, &call.event_text),
                Behaviour::Echo => {
                    runtime::plan_created(&running.handler, &running.runtime, &call.event_text)
                }
            };
            space.record(Invocation {
                request_id: function_request_id.clone(),
                function_name: call.function_name.clone(),
                start_time: ctx.wall.clone(),
                ret_code: 1,
                ret_msg: String::new(),
                duration_ms: 0.0,
                bill_duration_ms: 0,
                mem_usage: 0,
                log: String::new(),
                seq,
            });
            Ok(plan)
        },
    )?;
    let result = if call.asynchronous {
        let state = Arc::clone(&ctx.state);
        let (region, id, start) = (
            ctx.region.clone(),
            function_request_id.clone(),
            ctx.wall.clone(),
        );
        let call = call.clone();
        tokio::spawn(async move {
            execute(&state, &region, &call, &plan, &id, &start).await;
        });
        runtime::async_result(&function_request_id)
    } else {
        execute(
            &ctx.state,
            &ctx.region,
            &call,
            &plan,
            &function_request_id,
            &ctx.wall,
        )
        .await
    };
    let mut answer = Map::new();
    answer.insert("Result".into(), json!(result));
    Ok(answer)
}

/// Sleeps as planned, records the outcome and returns the sync `Result`.
async fn execute(
    state: &State,
    region: &str,
    call: &Call,
    plan: &Plan,
    function_request_id: &str,
    start_time: &str,
) -> InvokeResult {
    let started = StdInstant::now();
    if !plan.sleep.is_zero() {
        tokio::time::sleep(plan.sleep).await;
    }
    let elapsed = started.elapsed();
    let result = runtime::sync_result(
        plan,
        function_request_id,
        call.event_text.len(),
        elapsed,
        call.log_type,
        call.caller,
    );
    let full_log = runtime::sync_result(
        plan,
        function_request_id,
        call.event_text.len(),
        elapsed,
        LogType::Tail,
        call.caller,
    )
    .log
    .unwrap_or_default();
    let failed = !plan.err_msg.is_empty();
    let record = Invocation {
        request_id: function_request_id.to_owned(),
        function_name: call.function_name.clone(),
        start_time: start_time.to_owned(),
        ret_code: if failed { -1 } else { 0 },
        ret_msg: if failed {
            plan.err_msg.clone()
        } else {
            plan.ret_msg.clone()
        },
        duration_ms: result
            .duration
            .as_ref()
            .and_then(|d| d.as_f64())
            .unwrap_or(0.0),
        bill_duration_ms: result
            .bill_duration
            .as_ref()
            .and_then(|d| d.as_u64())
            .unwrap_or(0),
        mem_usage: result
            .mem_usage
            .as_ref()
            .and_then(|d| d.as_u64())
            .unwrap_or(0),
        log: full_log,
        seq: 0,
    };
    let now = tokio::time::Instant::now();
    let wall = wall_time(super::super::unix_now());
    state
        .account
        .with_space(region, &call.namespace, now, &wall, |space, seq| {
            space.record(Invocation { seq, ..record });
        });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(action: Action, body: &str) -> Result<Call, ApiError> {
        parse(&Params::parse(action, body.as_bytes())?)
    }

    fn code_of(action: Action, body: &str) -> &'static str {
        call(action, body).expect_err("refused").code
    }

    #[test]
    fn minimal_invoke_defaults() {
        let c = call(Action::Invoke, r#"{"FunctionName":"hello"}"#).expect("ok");
        assert!(!c.asynchronous);
        assert_eq!(c.log_type, LogType::None);
        assert_eq!(c.event_text, "{}");
        assert_eq!(c.namespace, "default");
        assert_eq!(c.caller, Caller::Invoke);
    }

    #[test]
    fn full_body_like_the_python_sdk_sends() {
        let body = r#"{"FunctionName": "echo", "InvocationType": "Event", "Qualifier": "$LATEST", "ClientContext": "{\"k\": \"v\"}", "LogType": "Tail", "Namespace": "default", "RoutingKey": "{\"a\": \"b\"}"}"#;
        let c = call(Action::Invoke, body).expect("ok");
        assert!(c.asynchronous);
        assert_eq!(c.log_type, LogType::Tail);
        assert_eq!(c.event, json!({"k": "v"}));
    }

    #[test]
    fn invoke_function_takes_event_and_no_invocation_type() {
        let c = call(
            Action::InvokeFunction,
            r#"{"FunctionName":"echo","Event":"{\"a\":1}","Qualifier":"$DEFAULT"}"#,
        )
        .expect("ok");
        assert_eq!(c.caller, Caller::InvokeFunction);
        assert_eq!(c.event_text, r#"{"a":1}"#);
        assert_eq!(
            code_of(
                Action::InvokeFunction,
                r#"{"FunctionName":"echo","InvocationType":"Event"}"#
            ),
            code::UNKNOWN_PARAMETER
        );
        assert_eq!(
            code_of(
                Action::InvokeFunction,
                r#"{"FunctionName":"echo","ClientContext":"{}"}"#
            ),
            code::UNKNOWN_PARAMETER
        );
        assert_eq!(
            code_of(
                Action::InvokeFunction,
                r#"{"FunctionName":"echo","Event":"{x"}"#
            ),
            code::INVALID_PARAMETER_VALUE_CLIENT_CONTEXT
        );
    }

    #[test]
    fn only_latest_and_default_qualifiers_exist() {
        assert_eq!(
            code_of(
                Action::Invoke,
                r#"{"FunctionName":"hello","Qualifier":"2"}"#
            ),
            code::QUALIFIER_NOT_FOUND
        );
        assert!(call(
            Action::Invoke,
            r#"{"FunctionName":"hello","Qualifier":"$DEFAULT"}"#
        )
        .is_ok());
    }

    #[test]
    fn bad_values() {
        for (body, want) in [
            (
                r#"{"FunctionName":"hello","InvocationType":"Sync"}"#,
                code::INVALID_PARAMETER_VALUE,
            ),
            (
                r#"{"FunctionName":"hello","LogType":"tail"}"#,
                code::INVALID_PARAMETER_VALUE,
            ),
            (
                r#"{"FunctionName":"hello","ClientContext":"{not json"}"#,
                code::INVALID_PARAMETER_VALUE_PARAM,
            ),
            (
                r#"{"FunctionName":"hello","ClientContext":{"a":1}}"#,
                code::INVALID_PARAMETER,
            ),
            (
                r#"{"FunctionName":"hello","RoutingKey":"{\"a\":1}"}"#,
                code::INVALID_PARAMETER_VALUE,
            ),
            (
                r#"{"FunctionName":"hello","Namespace":"prod"}"#,
                code::NAMESPACE_NOT_FOUND,
            ),
            ("{}", code::MISSING_PARAMETER),
        ] {
            assert_eq!(code_of(Action::Invoke, body), want, "{body}");
        }
    }

    fn event_of_len(len: usize) -> String {
        format!("\"{}\"", "a".repeat(len - 2))
    }

    #[test]
    fn event_size_limits() {
        let body = |event: &str, kind: &str| {
            json!({"FunctionName": "echo", "ClientContext": event, "InvocationType": kind})
                .to_string()
        };
        let over_async = event_of_len(ASYNC_EVENT_LIMIT + 1);
        assert!(call(
            Action::Invoke,
            &body(&event_of_len(ASYNC_EVENT_LIMIT), "Event")
        )
        .is_ok());
        assert_eq!(
            code_of(Action::Invoke, &body(&over_async, "Event")),
            code::REQUEST_TOO_LARGE
        );
        assert!(call(Action::Invoke, &body(&over_async, "RequestResponse")).is_ok());
        let over_sync = event_of_len(SYNC_EVENT_LIMIT + 1);
        assert_eq!(
            code_of(Action::Invoke, &body(&over_sync, "RequestResponse")),
            code::REQUEST_TOO_LARGE
        );
        let body = json!({"FunctionName": "echo", "Event": over_sync}).to_string();
        assert_eq!(
            code_of(Action::InvokeFunction, &body),
            code::REQUEST_TOO_LARGE
        );
    }
}
