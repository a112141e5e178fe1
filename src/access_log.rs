//! The access log: one line per answered request. In JSON mode the line is
//! formatted here — the same flat shape as the rest of the JSON log
//! (`timestamp`, `level`, `target`, `message`, then the fields) — and written
//! to stderr with one `write`; going through tracing's JSON layer cost about
//! 8% of the bridge's CPU per request (docs/performance.md). Whether a line
//! is written is still decided by the running log filter (target
//! `scf_bridge::access`, level INFO), so `log.filter` and `/log-level` keep
//! controlling it. In text mode, or before logging is set up, the record goes
//! through tracing as an ordinary event.

use std::cell::RefCell;
use std::io::Write;
use std::sync::OnceLock;

use serde::Serialize;

/// The tracing target of access-log lines.
pub const TARGET: &str = "scf_bridge::access";

static JSON_LINES: OnceLock<bool> = OnceLock::new();

/// Called once by logging set-up: whether log lines are JSON.
pub fn set_json(json: bool) {
    let _ = JSON_LINES.set(json);
}

/// `outcome` of a request whose answer was handed to its client.
pub const ANSWERED: &str = "answered";
/// `outcome` of a request whose client went away before the answer was
/// ready; `code` is the answer it would have had.
pub const CLIENT_CLOSED: &str = "client_closed";

/// What one access-log line says. Strings are empty when unknown.
#[derive(Serialize)]
pub struct Record<'a> {
    pub request_id: &'a str,
    /// [`ANSWERED`] or [`CLIENT_CLOSED`].
    pub outcome: &'static str,
    /// Whether a 3.0 call was sent, so the function may have run.
    pub scf_call_sent: bool,
    /// When the client went away, from the request's start; `null` when it
    /// waited for the answer.
    pub client_closed_ms: Option<f64>,
    /// 3.0 calls sent again because SCF proved they had not run.
    pub throttle_retries: u32,
    pub method: &'a str,
    pub action: &'a str,
    pub function: &'a str,
    pub namespace: &'a str,
    pub region: &'a str,
    pub code: i64,
    pub code_desc: &'a str,
    pub scf_request_id: &'a str,
    pub function_request_id: &'a str,
    pub bridge_error: &'a str,
    pub error_detail: &'a str,
    pub total_ms: f64,
    pub upstream_ms: f64,
}

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

/// Log one answered request, if the filter lets access lines through.
pub fn log(record: &Record<'_>) {
    if !tracing::enabled!(target: "scf_bridge::access", tracing::Level::INFO) {
        return;
    }
    if JSON_LINES.get() != Some(&true) {
        return log_event(record);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    BUFFER.with(|cell| {
        let Ok(mut buf) = cell.try_borrow_mut() else {
            return log_event(record);
        };
        buf.clear();
        if write_line(&mut buf, now.as_secs(), now.subsec_micros(), record).is_ok() {
            // One write per line, like the rest of the log; a failed write
            // to stderr has nowhere better to be reported.
            let _ = std::io::stderr().lock().write_all(&buf);
        }
        if buf.capacity() > 64 * 1024 {
            *buf = Vec::with_capacity(1024);
        }
    })
}

/// `{"timestamp":…,"level":"INFO","target":…,"message":"request",<fields>}\n`
fn write_line(
    buf: &mut Vec<u8>,
    secs: u64,
    micros: u32,
    record: &Record<'_>,
) -> Result<(), serde_json::Error> {
    buf.extend_from_slice(b"{\"timestamp\":\"");
    write_rfc3339_micros(buf, secs, micros);
    buf.extend_from_slice(b"\",\"level\":\"INFO\",\"target\":\"");
    buf.extend_from_slice(TARGET.as_bytes());
    buf.extend_from_slice(b"\",\"message\":\"request\",");
    // The record's own object, without its opening brace.
    let start = buf.len();
    serde_json::to_writer(&mut *buf, record)?;
    buf.remove(start);
    buf.push(b'\n');
    Ok(())
}

/// The record as an ordinary tracing event (text logs, tests without set-up).
fn log_event(r: &Record<'_>) {
    tracing::info!(
        target: "scf_bridge::access",
        request_id = r.request_id,
        outcome = r.outcome,
        scf_call_sent = r.scf_call_sent,
        client_closed_ms = r.client_closed_ms,
        throttle_retries = r.throttle_retries,
        method = r.method,
        action = r.action,
        function = r.function,
        namespace = r.namespace,
        region = r.region,
        code = r.code,
        code_desc = r.code_desc,
        scf_request_id = r.scf_request_id,
        function_request_id = r.function_request_id,
        bridge_error = r.bridge_error,
        error_detail = r.error_detail,
        total_ms = r.total_ms,
        upstream_ms = r.upstream_ms,
        "request"
    );
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for a Unix time in UTC.
fn write_rfc3339_micros(buf: &mut Vec<u8>, secs: u64, micros: u32) {
    let (year, month, day) = crate::scf3::tc3::civil_date(secs);
    let s = secs % 86_400;
    let mut digits = |n: u64, width: usize, sep: u8| {
        let start = buf.len();
        let mut n = n;
        for _ in 0..width {
            buf.push(b'0' + (n % 10) as u8);
            n /= 10;
        }
        buf[start..].reverse();
        buf.push(sep);
    };
    digits(year, 4, b'-');
    digits(month, 2, b'-');
    digits(day, 2, b'T');
    digits(s / 3600, 2, b':');
    digits(s / 60 % 60, 2, b':');
    digits(s % 60, 2, b'.');
    digits(u64::from(micros), 6, b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc3339(secs: u64, micros: u32) -> String {
        let mut buf = Vec::new();
        write_rfc3339_micros(&mut buf, secs, micros);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000Z");
        // 2026-11-28 11:22:33 UTC
        assert_eq!(rfc3339(1_795_864_953, 42), "2026-11-28T11:22:33.000042Z");
        assert_eq!(rfc3339(951_868_799, 999_999), "2000-02-29T23:59:59.999999Z");
    }

    #[test]
    fn a_line_is_one_flat_json_object() {
        let record = Record {
            request_id: "id-1",
            outcome: ANSWERED,
            scf_call_sent: false,
            client_closed_ms: None,
            throttle_retries: 0,
            method: "POST",
            action: "InvokeFunction",
            function: "hello \"quoted\"\n",
            namespace: "",
            region: "ap-guangzhou",
            code: 4100,
            code_desc: "AuthFailure",
            scf_request_id: "",
            function_request_id: "",
            bridge_error: "signature",
            error_detail: "bad",
            total_ms: 1.5,
            upstream_ms: 0.0,
        };
        let mut buf = Vec::new();
        write_line(&mut buf, 1_795_864_953, 42, &record).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.matches('\n').count(), 1);
        assert!(text.ends_with("}\n"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["timestamp"], "2026-11-28T11:22:33.000042Z");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], "scf_bridge::access");
        assert_eq!(v["message"], "request");
        assert_eq!(v["function"], "hello \"quoted\"\n");
        assert_eq!(v["code"], 4100);
        assert_eq!(v["total_ms"], 1.5);
        assert_eq!(v["outcome"], "answered");
        assert_eq!(v["client_closed_ms"], serde_json::Value::Null);
        assert_eq!(v.as_object().unwrap().len(), 22);
    }
}
