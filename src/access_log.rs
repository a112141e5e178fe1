//! The access log: one line per answered request. In JSON mode the line is
//! formatted here — the same flat shape as the rest of the JSON log
//! (`timestamp`, `level`, `target`, `message`, then the fields) — and written
//! to stderr with one `write`; going through tracing's JSON layer cost about
//! 8% of the bridge's CPU per request (docs/performance.md). Whether a line
//! is written is still decided by the running log filter (target
//! `scf_bridge::access`, level INFO), so `log.filter` and `/log-level` keep
//! controlling it. In text mode (`log.format = "text"`, or `auto` on a
//! terminal) the line is one compact, readable line — time, level, bridge
//! request id, action, function, legacy code, total and upstream
//! milliseconds to 0.1 — with empty fields left out. Before logging is set
//! up the record goes through tracing as an ordinary event.
//!
//! The line's level says who should act: WARN for upstream failures (the
//! 6000/6200 answers) and for the bridge at a limit, ERROR for the bridge's
//! own failures, INFO for everything else, caller mistakes included.
//!
//! With `log.access_buffer_bytes` set (nginx's `access_log … buffer=
//! flush=`), a line is appended to its thread's batch instead: the batch
//! is written with one `write` when the next line would not fit, by a
//! flusher thread every `log.access_flush_ms`, when its thread ends, and
//! by [`flush`]/[`finish`] at shutdown. Lines stay whole and keep their
//! order within a thread; batches of different threads interleave. Off
//! (the default), the per-request cost is one relaxed atomic load more.

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::Duration;

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
/// The level of a request's line: WARN when the way to SCF failed (or SCF
/// answered 6000/6200) or the bridge was at a limit, ERROR when the bridge
/// itself failed, INFO otherwise (successes and caller mistakes).
pub fn level_for(code: i64, error: Option<crate::error::ErrorKind>) -> tracing::Level {
    use crate::error::{ErrorKind, Source};
    use crate::legacy::answer::codes;
    match error {
        Some(ErrorKind::Internal | ErrorKind::NoCredentials) => tracing::Level::ERROR,
        Some(kind) if kind.source() != Source::Caller => tracing::Level::WARN,
        Some(_) => tracing::Level::INFO,
        None if code == codes::INTERNAL_ERROR || code == codes::TEMPORARILY_UNAVAILABLE => {
            tracing::Level::WARN
        }
        None => tracing::Level::INFO,
    }
}

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
    /// See [`level_for`].
    #[serde(skip)]
    pub level: tracing::Level,
}

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

/// Log one answered request, if the filter lets access lines through.
pub fn log(record: &Record<'_>) {
    let enabled = match record.level {
        tracing::Level::ERROR => {
            tracing::enabled!(target: "scf_bridge::access", tracing::Level::ERROR)
        }
        tracing::Level::WARN => {
            tracing::enabled!(target: "scf_bridge::access", tracing::Level::WARN)
        }
        _ => tracing::enabled!(target: "scf_bridge::access", tracing::Level::INFO),
    };
    if !enabled {
        return;
    }
    let Some(&json) = JSON_LINES.get() else {
        return log_event(record);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    BUFFER.with(|cell| {
        let Ok(mut buf) = cell.try_borrow_mut() else {
            return log_event(record);
        };
        buf.clear();
        let written = if json {
            write_line(&mut buf, now.as_secs(), now.subsec_micros(), record)
        } else {
            write_text_line(&mut buf, now.as_secs(), now.subsec_micros(), record);
            Ok(())
        };
        if written.is_ok() {
            if BATCHING.load(Ordering::Relaxed) {
                append(&buf);
            } else {
                write_to_stderr(&buf);
            }
        }
        if buf.capacity() > 64 * 1024 {
            *buf = Vec::with_capacity(1024);
        }
    })
}

/// Longest line the kernel writes to a pipe in one piece (`PIPE_BUF`).
const ATOMIC_LINE_BYTES: usize = 4096;

/// Access lines of several threads at once: a short line is one `write`,
/// whole on a file or a pipe, so its writers share the lock; a longer one
/// could be split on a pipe, so it is written alone.
static LONG_LINE: RwLock<()> = RwLock::new(());

/// The process's stderr as a `File` of its own (a duplicate descriptor of
/// the same open file): written without std's stderr lock, which every
/// worker thread took for each line, and held across the `write` — in the
/// closed-loop benchmark the two workers waited on it 0.6 times a request
/// (`futex`, docs/performance.md). `None` when the duplicate failed: the
/// std handle is used.
static STDERR_FILE: OnceLock<Option<std::fs::File>> = OnceLock::new();

/// One write per line, like the rest of the log; a failed write to stderr
/// has nowhere better to be reported.
fn write_to_stderr(line: &[u8]) {
    use std::os::fd::AsFd;
    let file = STDERR_FILE.get_or_init(|| {
        std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .map(std::fs::File::from)
    });
    let Some(mut file) = file.as_ref() else {
        let _ = std::io::stderr().lock().write_all(line);
        return;
    };
    if line.len() <= ATOMIC_LINE_BYTES {
        let _shared = LONG_LINE.read();
        let _ = file.write_all(line);
    } else {
        let _alone = LONG_LINE.write();
        let _ = file.write_all(line);
    }
}

/// Whether lines go to the per-thread batches: set by
/// [`start_buffering`], cleared by [`finish`].
static BATCHING: AtomicBool = AtomicBool::new(false);
/// Every thread's batch, for the flusher and shutdown.
static BATCHES: OnceLock<Batches> = OnceLock::new();

struct Batches {
    limit: usize,
    registry: Mutex<Registry>,
}

struct Registry {
    batches: Vec<Arc<Mutex<Batch>>>,
    /// [`finish`] ran: new batches start closed.
    closed: bool,
}

/// One thread's pending lines. Its mutex is taken by its own thread for
/// each line and by the flusher once an interval, so it is contended only
/// while a flush writes.
struct Batch {
    lines: Vec<u8>,
    limit: usize,
    /// Set by [`finish`]: lines are written as they come.
    closed: bool,
}

impl Batch {
    fn new(limit: usize, closed: bool) -> Self {
        Batch {
            lines: Vec::new(),
            limit,
            closed,
        }
    }

    /// Add one whole line. What is pending is written first when the line
    /// would take the batch past its limit; a line longer than the limit is
    /// then written on its own, never held or split.
    fn push(&mut self, line: &[u8], out: &mut impl Write) {
        if self.closed {
            write_out(out, line);
            return;
        }
        if self.lines.len() + line.len() > self.limit {
            self.flush(out);
            if line.len() > self.limit {
                write_out(out, line);
                return;
            }
        }
        if self.lines.capacity() == 0 {
            self.lines.reserve_exact(self.limit);
        }
        self.lines.extend_from_slice(line);
    }

    /// Write what is pending with one `write_all`. On an error the lines
    /// are dropped, as an unbuffered line would be.
    fn flush(&mut self, out: &mut impl Write) {
        if !self.lines.is_empty() {
            write_out(out, &self.lines);
            self.lines.clear();
        }
    }
}

/// A failed write to stderr has nowhere better to be reported.
fn write_out(out: &mut impl Write, bytes: &[u8]) {
    let _ = out.write_all(bytes);
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The current thread's batch; written out when the thread ends.
struct Mine(Arc<Mutex<Batch>>);

impl Drop for Mine {
    fn drop(&mut self) {
        locked(&self.0).flush(&mut std::io::stderr());
    }
}

thread_local! {
    static MINE: RefCell<Option<Mine>> = const { RefCell::new(None) };
}

/// Buffer access lines from now on: `bytes` per thread, every batch written
/// at least every `every` by a flusher thread. Called once, by `serve`
/// before it starts; a second call changes nothing.
pub fn start_buffering(bytes: usize, every: Duration) -> std::io::Result<()> {
    if bytes == 0 {
        return Ok(());
    }
    let batches = Batches {
        limit: bytes,
        registry: Mutex::new(Registry {
            batches: Vec::new(),
            closed: false,
        }),
    };
    if BATCHES.set(batches).is_err() {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("scf-bridge-alog".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            if !flush_all(false) {
                return;
            }
        })?;
    BATCHING.store(true, Ordering::Release);
    Ok(())
}

/// Append a formatted line to this thread's batch (written directly when
/// the thread-local is gone, i.e. while the thread ends).
fn append(line: &[u8]) {
    let Some(batches) = BATCHES.get() else {
        return write_out(&mut std::io::stderr(), line);
    };
    let done = MINE.try_with(|cell| {
        let Ok(mut mine) = cell.try_borrow_mut() else {
            return false;
        };
        let mine = mine.get_or_insert_with(|| Mine(batches.register()));
        locked(&mine.0).push(line, &mut std::io::stderr());
        true
    });
    if done != Ok(true) {
        write_out(&mut std::io::stderr(), line);
    }
}

impl Batches {
    fn register(&self) -> Arc<Mutex<Batch>> {
        let mut registry = locked(&self.registry);
        let batch = Arc::new(Mutex::new(Batch::new(self.limit, registry.closed)));
        if !registry.closed {
            registry.batches.push(batch.clone());
        }
        batch
    }
}

/// Write every thread's pending lines now (the end of the drain, before the
/// process's last log lines). Lines logged afterwards are still buffered.
pub fn flush() {
    flush_all(false);
}

/// Write every pending line and stop buffering: later lines are written as
/// they come. Called last before the process exits.
pub fn finish() {
    BATCHING.store(false, Ordering::Release);
    flush_all(true);
}

/// Whether buffering is still on afterwards.
fn flush_all(close: bool) -> bool {
    let Some(batches) = BATCHES.get() else {
        return false;
    };
    let mut registry = locked(&batches.registry);
    if registry.closed {
        return false;
    }
    let mut out = std::io::stderr();
    for batch in &registry.batches {
        let mut batch = locked(batch);
        batch.flush(&mut out);
        batch.closed |= close;
    }
    // A batch only the registry holds belonged to a thread that has ended
    // (and written it out).
    registry.batches.retain(|b| Arc::strong_count(b) > 1);
    if close {
        registry.closed = true;
        registry.batches.clear();
    }
    !close
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
    buf.extend_from_slice(b"\",\"level\":\"");
    buf.extend_from_slice(record.level.as_str().as_bytes());
    buf.extend_from_slice(b"\",\"target\":\"");
    buf.extend_from_slice(TARGET.as_bytes());
    buf.extend_from_slice(b"\",\"message\":\"request\",");
    write_fields(buf, record);
    buf.push(b'\n');
    Ok(())
}

/// The record's fields and the closing brace, byte for byte what its
/// derived `Serialize` gives through serde_json (tested), written directly:
/// the derived path was half the line's cost.
fn write_fields(buf: &mut Vec<u8>, r: &Record<'_>) {
    use crate::json_text::{push_key, push_str};
    let mut digits = itoa::Buffer::new();
    let mut float = zmij::Buffer::new();
    let mut number = |buf: &mut Vec<u8>, key, value: Option<f64>| {
        push_key(buf, key);
        match value {
            Some(v) if v.is_finite() => buf.extend_from_slice(float.format_finite(v).as_bytes()),
            _ => buf.extend_from_slice(b"null"),
        }
        buf.push(b',');
    };
    push_key(buf, "request_id");
    push_str(buf, r.request_id);
    buf.push(b',');
    push_key(buf, "outcome");
    push_str(buf, r.outcome);
    buf.push(b',');
    push_key(buf, "scf_call_sent");
    buf.extend_from_slice(if r.scf_call_sent { b"true," } else { b"false," });
    number(buf, "client_closed_ms", r.client_closed_ms);
    push_key(buf, "throttle_retries");
    buf.extend_from_slice(digits.format(r.throttle_retries).as_bytes());
    buf.push(b',');
    for (key, value) in [
        ("method", r.method),
        ("action", r.action),
        ("function", r.function),
        ("namespace", r.namespace),
        ("region", r.region),
    ] {
        push_key(buf, key);
        push_str(buf, value);
        buf.push(b',');
    }
    push_key(buf, "code");
    buf.extend_from_slice(digits.format(r.code).as_bytes());
    buf.push(b',');
    for (key, value) in [
        ("code_desc", r.code_desc),
        ("scf_request_id", r.scf_request_id),
        ("function_request_id", r.function_request_id),
        ("bridge_error", r.bridge_error),
        ("error_detail", r.error_detail),
    ] {
        push_key(buf, key);
        push_str(buf, value);
        buf.push(b',');
    }
    number(buf, "total_ms", Some(r.total_ms));
    number(buf, "upstream_ms", Some(r.upstream_ms));
    // The last field's comma becomes the closing brace.
    if let Some(last) = buf.last_mut() {
        *last = b'}';
    }
}

/// `2026-11-28T11:22:33.042Z  INFO 6f1c… InvokeFunction hello code=0 total=4.4ms upstream=3.5ms`,
/// fields left out when empty; the error's kind and detail when the bridge
/// made the answer. Control characters of caller-chosen text are escaped.
fn write_text_line(buf: &mut Vec<u8>, secs: u64, micros: u32, r: &Record<'_>) {
    use std::fmt::Write as _;
    let mut line = String::with_capacity(160);
    let mut ts = Vec::with_capacity(27);
    write_rfc3339_micros(&mut ts, secs, micros);
    // Milliseconds are enough for a person: drop the last three digits.
    let ts = String::from_utf8_lossy(&ts);
    let _ = write!(line, "{}Z {:>5}", &ts[..23], r.level.as_str());
    for field in [r.request_id, r.action, r.function] {
        if !field.is_empty() {
            line.push(' ');
            push_escaped(&mut line, field);
        }
    }
    let _ = write!(line, " code={}", r.code);
    let _ = write!(line, " total={:.1}ms", r.total_ms);
    if r.upstream_ms > 0.0 {
        let _ = write!(line, " upstream={:.1}ms", r.upstream_ms);
    }
    if r.throttle_retries > 0 {
        let _ = write!(line, " throttle_retries={}", r.throttle_retries);
    }
    if let Some(ms) = r.client_closed_ms {
        let _ = write!(
            line,
            " client_closed={ms:.1}ms scf_call_sent={}",
            r.scf_call_sent
        );
    }
    if !r.bridge_error.is_empty() {
        let _ = write!(line, " error={}", r.bridge_error);
    }
    if !r.error_detail.is_empty() {
        line.push_str(" (");
        push_escaped(&mut line, r.error_detail);
        line.push(')');
    }
    line.push('\n');
    buf.extend_from_slice(line.as_bytes());
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

/// The record as an ordinary tracing event (tests without set-up).
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
            level: tracing::Level::INFO,
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

    #[test]
    fn fields_are_what_serde_json_writes_for_the_record() {
        let texts = ["", "id-1", "hello \"quoted\"\n\u{1}", "été 😀 \\ end"];
        let numbers = [
            0.0,
            1.5,
            0.061562000000000006,
            1e21,
            f64::NAN,
            f64::INFINITY,
        ];
        for (i, text) in texts.iter().enumerate() {
            for (j, ms) in numbers.iter().enumerate() {
                let record = Record {
                    request_id: text,
                    outcome: if j % 2 == 0 { ANSWERED } else { CLIENT_CLOSED },
                    scf_call_sent: j % 2 == 1,
                    client_closed_ms: (j % 3 != 0).then_some(*ms),
                    throttle_retries: (i * 7 + j) as u32,
                    method: "POST",
                    action: text,
                    function: text,
                    namespace: "default",
                    region: text,
                    code: [0, -1, 4100, i64::MIN][i],
                    code_desc: text,
                    scf_request_id: text,
                    function_request_id: "",
                    bridge_error: text,
                    error_detail: text,
                    total_ms: *ms,
                    upstream_ms: numbers[(j + 1) % numbers.len()],
                    level: tracing::Level::INFO,
                };
                let mut ours = vec![b'{'];
                write_fields(&mut ours, &record);
                let expected = serde_json::to_vec(&record).unwrap();
                assert_eq!(
                    String::from_utf8(ours).unwrap(),
                    String::from_utf8(expected).unwrap()
                );
            }
        }
    }

    #[test]
    fn a_text_line_is_compact_without_empty_fields() {
        let mut record = Record {
            request_id: "6f1c2d",
            outcome: ANSWERED,
            scf_call_sent: true,
            client_closed_ms: None,
            throttle_retries: 0,
            method: "POST",
            action: "InvokeFunction",
            function: "hello",
            namespace: "",
            region: "ap-guangzhou",
            code: 0,
            code_desc: "Success",
            scf_request_id: "x",
            function_request_id: "",
            bridge_error: "",
            error_detail: "",
            total_ms: 4.44,
            upstream_ms: 3.46,
            level: tracing::Level::INFO,
        };
        let mut buf = Vec::new();
        write_text_line(&mut buf, 1_795_864_953, 42_000, &record);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "2026-11-28T11:22:33.042Z  INFO 6f1c2d InvokeFunction hello code=0 total=4.4ms upstream=3.5ms\n"
        );
        record.function = "";
        record.upstream_ms = 0.0;
        record.code = 4100;
        record.bridge_error = "signature-failure";
        record.error_detail = "bad\nsignature";
        let mut buf = Vec::new();
        write_text_line(&mut buf, 1_795_864_953, 42_000, &record);
        let line = String::from_utf8(buf).unwrap();
        assert_eq!(
            line,
            "2026-11-28T11:22:33.042Z  INFO 6f1c2d InvokeFunction code=4100 total=4.4ms error=signature-failure (bad\\nsignature)\n"
        );
        assert!(!line.contains('\u{1b}'), "no ANSI escapes");
    }

    /// Records each `write` call, as the kernel would see it.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn texts(w: &Writes) -> Vec<&str> {
        w.0.iter()
            .map(|b| std::str::from_utf8(b).unwrap())
            .collect()
    }

    #[test]
    fn a_batch_is_written_once_when_the_next_line_would_not_fit() {
        let mut out = Writes::default();
        let mut batch = Batch::new(10, false);
        batch.push(b"aaa\n", &mut out);
        batch.push(b"bbb\n", &mut out);
        assert!(out.0.is_empty(), "8 of 10 bytes: held");
        batch.push(b"ccc\n", &mut out);
        assert_eq!(texts(&out), ["aaa\nbbb\n"], "one write of the whole lines");
        batch.flush(&mut out);
        assert_eq!(texts(&out), ["aaa\nbbb\n", "ccc\n"]);
        batch.flush(&mut out);
        assert_eq!(out.0.len(), 2, "nothing pending, nothing written");

        // A line that exactly fills the batch is held.
        let mut out = Writes::default();
        let mut batch = Batch::new(8, false);
        batch.push(b"aaa\n", &mut out);
        batch.push(b"bbb\n", &mut out);
        assert!(out.0.is_empty());
        batch.push(b"c\n", &mut out);
        assert_eq!(texts(&out), ["aaa\nbbb\n"]);
    }

    #[test]
    fn a_line_larger_than_the_batch_is_written_on_its_own_after_what_is_pending() {
        let mut out = Writes::default();
        let mut batch = Batch::new(8, false);
        batch.push(b"0123456789\n", &mut out);
        assert_eq!(texts(&out), ["0123456789\n"], "never held");
        batch.push(b"aa\n", &mut out);
        batch.push(b"0123456789abc\n", &mut out);
        assert_eq!(
            texts(&out),
            ["0123456789\n", "aa\n", "0123456789abc\n"],
            "order kept"
        );
        batch.flush(&mut out);
        assert_eq!(out.0.len(), 3, "nothing left pending");
    }

    #[test]
    fn a_closed_batch_writes_each_line_as_it_comes() {
        let mut out = Writes::default();
        let mut batch = Batch::new(1024, true);
        batch.push(b"a\n", &mut out);
        batch.push(b"b\n", &mut out);
        assert_eq!(texts(&out), ["a\n", "b\n"]);
    }

    #[test]
    fn a_failed_write_drops_the_batch_and_buffering_goes_on() {
        struct Broken(usize);
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                self.0 += 1;
                Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut broken = Broken(0);
        let mut batch = Batch::new(8, false);
        batch.push(b"aaa\n", &mut broken);
        batch.push(b"bbb\n", &mut broken);
        batch.push(b"ccc\n", &mut broken);
        assert_eq!(broken.0, 1, "one failed write");
        let mut out = Writes::default();
        batch.push(b"ddd\n", &mut out);
        batch.flush(&mut out);
        assert_eq!(texts(&out), ["ccc\nddd\n"], "the failed batch is gone");
    }

    proptest::proptest! {
        #[test]
        fn writes_are_whole_lines_in_order_within_the_limit(
            limit in 1usize..200,
            lengths in proptest::collection::vec(0usize..300, 0..60),
        ) {
            // Line i is `i` in letters, padded with dots, then '\n'.
            let lines: Vec<Vec<u8>> = lengths
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let mut l = format!("{i}:").into_bytes();
                    l.resize(l.len() + n, b'.');
                    l.push(b'\n');
                    l
                })
                .collect();
            let mut out = Writes::default();
            let mut batch = Batch::new(limit, false);
            for line in &lines {
                batch.push(line, &mut out);
                proptest::prop_assert!(batch.lines.len() <= limit);
            }
            batch.flush(&mut out);
            let mut next = 0;
            for write in &out.0 {
                proptest::prop_assert!(write.ends_with(b"\n"));
                let in_write: Vec<&[u8]> = write.split_inclusive(|&b| b == b'\n').collect();
                proptest::prop_assert!(
                    write.len() <= limit || in_write.len() == 1,
                    "a write over the limit holds one line"
                );
                for piece in in_write {
                    proptest::prop_assert_eq!(piece, lines[next].as_slice());
                    next += 1;
                }
            }
            proptest::prop_assert_eq!(next, lines.len(), "every line written once");
        }
    }

    #[test]
    fn levels_follow_who_must_act() {
        use crate::error::ErrorKind;
        use tracing::Level;
        assert_eq!(level_for(0, None), Level::INFO);
        assert_eq!(
            level_for(4100, Some(ErrorKind::SignatureFailure)),
            Level::INFO
        );
        assert_eq!(
            level_for(4000, Some(ErrorKind::InvalidParameter)),
            Level::INFO
        );
        assert_eq!(
            level_for(6200, Some(ErrorKind::UpstreamTimeout)),
            Level::WARN
        );
        assert_eq!(
            level_for(6000, Some(ErrorKind::UpstreamBadResponse)),
            Level::WARN
        );
        assert_eq!(level_for(6000, None), Level::WARN);
        assert_eq!(level_for(6200, None), Level::WARN);
        assert_eq!(level_for(4400, Some(ErrorKind::Overloaded)), Level::WARN);
        assert_eq!(level_for(6000, Some(ErrorKind::Internal)), Level::ERROR);
        assert_eq!(
            level_for(6000, Some(ErrorKind::NoCredentials)),
            Level::ERROR
        );
    }
}
