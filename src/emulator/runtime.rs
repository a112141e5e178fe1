//! What an invoked function does, pure: the built-ins (`hello`, `echo`,
//! `fail`, `sleep`) and the rule for created functions (they return their
//! event and log their handler). A function turns its event into a [`Plan`]
//! (what it returns, logs, and how long it sleeps); the shell sleeps and
//! measures, then [`sync_result`] builds the 3.0 `Result` from the plan and
//! the measured time.

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Number, Value};

/// `LogType`: whether a synchronous answer carries the execution log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogType {
    /// No log (the default).
    None,
    /// The last 4 KB of the log in `Result.Log`.
    Tail,
}

/// Which action ran the function: they differ in `InvokeResult`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `Invoke`: `InvokeResult` 0 on success, [`FAILED_INVOKE_RESULT`] on failure.
    Invoke,
    /// `InvokeFunction`: `InvokeResult` is the execution status code, 200 on
    /// success, [`USER_CODE_EXCEPTION`] on a function error.
    InvokeFunction,
}

/// The 3.0 `Result` object of `Invoke`/`InvokeFunction`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvokeResult {
    /// `Log`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// `RetMsg`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ret_msg: Option<String>,
    /// `ErrMsg`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub err_msg: Option<String>,
    /// `MemUsage`, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_usage: Option<Number>,
    /// `Duration`, ms (a float).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<Number>,
    /// `BillDuration`, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill_duration: Option<Number>,
    /// `FunctionRequestId`.
    pub function_request_id: Option<String>,
    /// `InvokeResult`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoke_result: Option<Number>,
}

/// Longest `sleep` the emulator honours, milliseconds.
pub const MAX_SLEEP_MS: u64 = 60_000;
/// `InvokeResult` of a failed execution (0 on success). The field is
/// deprecated and its failure values undocumented; the emulator uses -1.
pub const FAILED_INVOKE_RESULT: i64 = -1;
/// `InvokeFunction`'s `InvokeResult` on success (an execution status code).
pub const STATUS_OK: i64 = 200;
/// `InvokeFunction`'s `InvokeResult` for an exception in the user's code.
pub const USER_CODE_EXCEPTION: i64 = 430;
/// Memory the emulated runtime reports before the event, bytes.
pub const BASE_MEM_USAGE: u64 = 3_207_168;
/// `Log` carries at most this many bytes (the tail), as the service documents.
pub const LOG_TAIL_LIMIT: usize = 4096;

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// Greets `event.name`, or the World.
    Hello,
    /// Returns its event text.
    Echo,
    /// Fails with a function error (a `Result` with `ErrMsg`, not an API error).
    Fail,
    /// Sleeps `event.ms` milliseconds (≤ [`MAX_SLEEP_MS`]).
    Sleep,
}

impl Builtin {
    /// Every built-in.
    pub const ALL: [Builtin; 4] = [Builtin::Hello, Builtin::Echo, Builtin::Fail, Builtin::Sleep];

    /// Its function name.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Hello => "hello",
            Builtin::Echo => "echo",
            Builtin::Fail => "fail",
            Builtin::Sleep => "sleep",
        }
    }

    /// The function called `name`, if there is one.
    pub fn lookup(name: &str) -> Option<Builtin> {
        match name {
            "hello" => Some(Builtin::Hello),
            "echo" => Some(Builtin::Echo),
            "fail" => Some(Builtin::Fail),
            "sleep" => Some(Builtin::Sleep),
            _ => None,
        }
    }
}

/// What one execution will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// How long to sleep before answering.
    pub sleep: Duration,
    /// `RetMsg`: the return value as JSON text (empty on failure).
    pub ret_msg: String,
    /// `ErrMsg`: the error as JSON text (empty on success).
    pub err_msg: String,
    /// `InvokeResult`: 0 or [`FAILED_INVOKE_RESULT`].
    pub invoke_result: i64,
    /// Lines the function printed.
    pub log_lines: Vec<String>,
}

impl Plan {
    fn success(ret: &Value, log_lines: Vec<String>) -> Plan {
        Plan {
            sleep: Duration::ZERO,
            ret_msg: ret.to_string(),
            err_msg: String::new(),
            invoke_result: 0,
            log_lines,
        }
    }

    fn failure(message: &str, log_lines: Vec<String>) -> Plan {
        let err = json!({
            "errorCode": -1,
            "errorMessage": message,
            "statusCode": 430,
            "stackTrace": "Traceback (most recent call last):\n  File \"/var/user/index.py\", line 1, in main_handler\nException: ".to_owned() + message,
        });
        Plan {
            sleep: Duration::ZERO,
            ret_msg: String::new(),
            err_msg: err.to_string(),
            invoke_result: FAILED_INVOKE_RESULT,
            log_lines,
        }
    }
}

/// Runs `function` on `event` (parsed) / `event_text` (as sent), without sleeping.
pub fn plan(function: Builtin, event: &Value, event_text: &str) -> Plan {
    match function {
        Builtin::Hello => {
            let greeting = match event.get("name").and_then(Value::as_str) {
                Some(name) => format!("Hello {name}"),
                None => "Hello World".to_owned(),
            };
            let line = format!("hello: {greeting}");
            Plan::success(&Value::String(greeting), vec![line])
        }
        Builtin::Echo => Plan {
            ret_msg: event_text.to_owned(),
            ..Plan::success(&Value::Null, vec![format!("echo: {event_text}")])
        },
        Builtin::Fail => {
            let message = event
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("emulated function failure");
            Plan::failure(message, vec![format!("fail: raising {message}")])
        }
        Builtin::Sleep => match event.get("ms") {
            None => Plan::success(&json!({ "slept_ms": 0 }), vec!["sleep: 0 ms".to_owned()]),
            Some(ms) => match ms.as_u64() {
                Some(ms) if ms <= MAX_SLEEP_MS => Plan {
                    sleep: Duration::from_millis(ms),
                    ..Plan::success(&json!({ "slept_ms": ms }), vec![format!("sleep: {ms} ms")])
                },
                _ => Plan::failure(
                    &format!("sleep: \"ms\" must be an integer from 0 to {MAX_SLEEP_MS}"),
                    Vec::new(),
                ),
            },
        },
    }
}

/// A created function: it returns its event text unchanged and logs one
/// line naming its handler and runtime.
pub fn plan_created(handler: &str, runtime: &str, event_text: &str) -> Plan {
    Plan {
        ret_msg: event_text.to_owned(),
        ..Plan::success(
            &Value::Null,
            vec![format!("{handler} ({runtime}): event {event_text}")],
        )
    }
}

/// The last `limit` bytes of `text`, cut at a character boundary.
fn tail(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut start = text.len() - limit;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// `Duration` in ms rounded to 3 decimals, always a JSON float.
fn duration_ms(elapsed: Duration) -> Number {
    let ms = (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    // `elapsed` is always finite, so `from_f64` cannot refuse it.
    Number::from_f64(ms).unwrap_or_else(|| Number::from(0u8))
}

/// The `Result` of a synchronous execution of `plan` that took `elapsed`.
pub fn sync_result(
    plan: &Plan,
    function_request_id: &str,
    event_len: usize,
    elapsed: Duration,
    log_type: LogType,
    caller: Caller,
) -> InvokeResult {
    let duration = duration_ms(elapsed);
    let billed = (elapsed.as_micros().div_ceil(1000)).max(1);
    let mem_usage = BASE_MEM_USAGE + event_len as u64;
    let log = match log_type {
        LogType::None => String::new(),
        LogType::Tail => {
            let mut log = format!(
                "START RequestId: {function_request_id}\nEvent RequestId: {function_request_id}\n"
            );
            for line in &plan.log_lines {
                log.push_str(line);
                log.push('\n');
            }
            log.push_str(&format!(
                "END RequestId: {function_request_id}\nReport RequestId: {function_request_id} Duration:{duration}ms Memory:128MB MemUsage:{mem_usage}B\n"
            ));
            tail(&log, LOG_TAIL_LIMIT).to_owned()
        }
    };
    InvokeResult {
        log: Some(log),
        ret_msg: Some(plan.ret_msg.clone()),
        err_msg: Some(plan.err_msg.clone()),
        mem_usage: Some(Number::from(mem_usage)),
        duration: Some(duration),
        bill_duration: Some(Number::from(billed as u64)),
        function_request_id: Some(function_request_id.to_owned()),
        invoke_result: Some(Number::from(match caller {
            Caller::Invoke => plan.invoke_result,
            Caller::InvokeFunction if plan.invoke_result == 0 => STATUS_OK,
            Caller::InvokeFunction => USER_CODE_EXCEPTION,
        })),
    }
}

/// The `Result` of an asynchronous (`Event`) invocation: only the id.
pub fn async_result(function_request_id: &str) -> InvokeResult {
    InvokeResult {
        function_request_id: Some(function_request_id.to_owned()),
        ..InvokeResult::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_knows_the_four_builtins() {
        assert_eq!(Builtin::lookup("hello"), Some(Builtin::Hello));
        assert_eq!(Builtin::lookup("echo"), Some(Builtin::Echo));
        assert_eq!(Builtin::lookup("fail"), Some(Builtin::Fail));
        assert_eq!(Builtin::lookup("sleep"), Some(Builtin::Sleep));
        assert_eq!(Builtin::lookup("Hello"), None);
        assert_eq!(Builtin::lookup("nope"), None);
    }

    #[test]
    fn hello_returns_a_json_serialized_greeting() {
        let p = plan(Builtin::Hello, &json!({}), "{}");
        assert_eq!(p.ret_msg, "\"Hello World\"");
        assert_eq!((p.err_msg.as_str(), p.invoke_result), ("", 0));
        let p = plan(Builtin::Hello, &json!({"name": "SCF \"3\""}), "");
        assert_eq!(p.ret_msg, r#""Hello SCF \"3\"""#);
        let p = plan(Builtin::Hello, &json!([1]), "[1]");
        assert_eq!(p.ret_msg, "\"Hello World\"");
    }

    #[test]
    fn echo_returns_the_event_text_verbatim() {
        let text = r#"{"k": "v", "n": [1, 2.50]}"#;
        let p = plan(
            Builtin::Echo,
            &serde_json::from_str(text).expect("json"),
            text,
        );
        assert_eq!(p.ret_msg, text);
        assert_eq!(p.log_lines, [format!("echo: {text}")]);
        assert_eq!(p.err_msg, "");
    }

    #[test]
    fn fail_is_a_function_error() {
        let p = plan(Builtin::Fail, &json!({}), "{}");
        assert_eq!(p.ret_msg, "");
        assert_ne!(p.invoke_result, 0);
        let err: Value = serde_json::from_str(&p.err_msg).expect("ErrMsg is JSON text");
        assert_eq!(err["errorMessage"], "emulated function failure");
        let p = plan(Builtin::Fail, &json!({"message": "boom"}), "");
        let err: Value = serde_json::from_str(&p.err_msg).expect("ErrMsg is JSON text");
        assert_eq!(err["errorMessage"], "boom");
    }

    #[test]
    fn sleep_is_bounded() {
        let p = plan(Builtin::Sleep, &json!({"ms": 25}), "");
        assert_eq!(p.sleep, Duration::from_millis(25));
        assert_eq!(p.ret_msg, r#"{"slept_ms":25}"#);
        let p = plan(Builtin::Sleep, &json!({}), "");
        assert_eq!(p.sleep, Duration::ZERO);
        assert_eq!(
            plan(Builtin::Sleep, &json!({"ms": MAX_SLEEP_MS}), "")
                .sleep
                .as_millis(),
            60_000
        );
        for bad in [
            json!({"ms": MAX_SLEEP_MS + 1}),
            json!({"ms": -1}),
            json!({"ms": "5"}),
            json!({"ms": 1.5}),
        ] {
            let p = plan(Builtin::Sleep, &bad, "");
            assert_eq!(p.sleep, Duration::ZERO, "{bad}");
            assert_ne!(p.err_msg, "", "{bad}");
        }
    }

    #[test]
    fn sync_result_has_every_field_with_the_documented_types() {
        let p = plan(Builtin::Hello, &json!({}), "{}");
        let r = sync_result(
            &p,
            "fid",
            2,
            Duration::from_micros(1_234_400),
            LogType::None,
            Caller::Invoke,
        );
        assert_eq!(r.log.as_deref(), Some(""));
        assert_eq!(r.ret_msg.as_deref(), Some("\"Hello World\""));
        assert_eq!(r.err_msg.as_deref(), Some(""));
        assert_eq!(r.function_request_id.as_deref(), Some("fid"));
        let d = r.duration.expect("Duration");
        assert!(d.is_f64());
        assert_eq!(d.to_string(), "1234.4");
        assert_eq!(r.bill_duration.expect("BillDuration").as_u64(), Some(1235));
        assert_eq!(
            r.mem_usage.expect("MemUsage").as_u64(),
            Some(BASE_MEM_USAGE + 2)
        );
        assert_eq!(r.invoke_result.expect("InvokeResult").as_i64(), Some(0));
    }

    #[test]
    fn duration_is_a_float_even_when_whole() {
        let p = plan(Builtin::Hello, &json!({}), "{}");
        let r = sync_result(
            &p,
            "fid",
            0,
            Duration::from_millis(3),
            LogType::None,
            Caller::Invoke,
        );
        assert_eq!(r.duration.expect("d").to_string(), "3.0");
        let r = sync_result(&p, "fid", 0, Duration::ZERO, LogType::None, Caller::Invoke);
        assert_eq!(r.bill_duration.expect("b").as_u64(), Some(1));
    }

    #[test]
    fn tail_log_has_the_lines_and_is_capped() {
        let p = plan(Builtin::Echo, &json!({}), r#"{"e":1}"#);
        let r = sync_result(
            &p,
            "fid",
            7,
            Duration::from_millis(1),
            LogType::Tail,
            Caller::Invoke,
        );
        let log = r.log.expect("log");
        assert!(log.starts_with("START RequestId: fid\n"), "{log}");
        assert!(log.contains("echo: {\"e\":1}\n"), "{log}");
        assert!(log.contains("END RequestId: fid\n"), "{log}");
        let big = format!("\"{}é\"", "x".repeat(10_000));
        let p = plan(Builtin::Echo, &Value::Null, &big);
        let log = sync_result(
            &p,
            "fid",
            big.len(),
            Duration::ZERO,
            LogType::Tail,
            Caller::Invoke,
        )
        .log
        .expect("log");
        assert!(log.len() <= LOG_TAIL_LIMIT);
        assert!(
            log.contains("Report RequestId: fid"),
            "the tail keeps the end"
        );
    }

    #[test]
    fn tail_cuts_at_char_boundaries() {
        assert_eq!(tail("abc", 5), "abc");
        assert_eq!(tail("aéb", 2), "b"); // 'é' is 2 bytes: cutting inside it moves forward
        assert_eq!(tail("aéb", 3), "éb");
    }

    #[test]
    fn created_functions_echo_and_log_their_handler() {
        let p = plan_created("app.run", "Python3.9", r#"{"a":1}"#);
        assert_eq!(p.ret_msg, r#"{"a":1}"#);
        assert_eq!(p.log_lines, [r#"app.run (Python3.9): event {"a":1}"#]);
    }

    #[test]
    fn invoke_function_reports_status_codes() {
        let ok = plan(Builtin::Hello, &json!({}), "{}");
        let r = sync_result(
            &ok,
            "f",
            2,
            Duration::ZERO,
            LogType::None,
            Caller::InvokeFunction,
        );
        assert_eq!(r.invoke_result.expect("set").as_i64(), Some(200));
        let failed = plan(Builtin::Fail, &json!({}), "{}");
        let r = sync_result(
            &failed,
            "f",
            2,
            Duration::ZERO,
            LogType::None,
            Caller::InvokeFunction,
        );
        assert_eq!(r.invoke_result.expect("set").as_i64(), Some(430));
        let r = sync_result(
            &failed,
            "f",
            2,
            Duration::ZERO,
            LogType::None,
            Caller::Invoke,
        );
        assert_eq!(r.invoke_result.expect("set").as_i64(), Some(-1));
    }

    #[test]
    fn async_result_is_only_the_id() {
        assert_eq!(
            async_result("fid"),
            InvokeResult {
                function_request_id: Some("fid".into()),
                ..InvokeResult::default()
            }
        );
    }
}
