//! Every metric name, in one place, the Prometheus recorder, and the few
//! helpers that record. Names follow Prometheus conventions (`scf_bridge_`
//! prefix, base units, `_total` for counters); labels are bounded sets only.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Metric names.
pub mod names {
    /// Counter: legacy requests answered, by `action` and legacy `code`
    /// (and `function` when `metrics.function_label` is on).
    pub const REQUESTS: &str = "scf_bridge_requests_total";
    /// Histogram: time from request head to answer, seconds.
    pub const REQUEST_DURATION: &str = "scf_bridge_request_duration_seconds";
    /// Histogram: time spent waiting for SCF, seconds.
    pub const UPSTREAM_DURATION: &str = "scf_bridge_upstream_duration_seconds";
    /// Counter: failures on the way to SCF, by `kind`.
    pub const UPSTREAM_ERRORS: &str = "scf_bridge_upstream_errors_total";
    /// Counter: calls sent to SCF (a connection may carry many).
    pub const UPSTREAM_REQUESTS: &str = "scf_bridge_upstream_requests_total";
    /// Counter: new connections opened to SCF; reuse is
    /// `1 - connections / requests`.
    pub const UPSTREAM_CONNECTIONS: &str = "scf_bridge_upstream_connections_total";
    /// Counter: SCF error answers, by 3.0 `code`.
    pub const SCF_ERRORS: &str = "scf_bridge_scf_errors_total";
    /// Gauge: requests being handled.
    pub const IN_FLIGHT: &str = "scf_bridge_requests_in_flight";
    /// Counter: requests refused because the bridge was at a limit, by `reason`.
    pub const SHED: &str = "scf_bridge_requests_shed_total";
    /// Gauge: entries held in the replay memory.
    pub const REPLAY_ENTRIES: &str = "scf_bridge_replay_entries";
    /// Gauge: capacity of the replay memory.
    pub const REPLAY_CAPACITY: &str = "scf_bridge_replay_capacity";
    /// Counter: reloads of key sets, credentials, certificates and
    /// configuration, by `what` and `result`.
    pub const RELOADS: &str = "scf_bridge_reloads_total";
    /// Counter: 3.0 calls sent again because SCF's answer proved the
    /// previous one did not run (throttling), by `reason` (the 3.0 code, or
    /// `InvokeResult.<status>`).
    pub const THROTTLE_RETRIES: &str = "scf_bridge_throttle_retries_total";
    /// Counter: 3.0 calls that succeeded after at least one throttle retry.
    pub const THROTTLE_RECOVERED: &str = "scf_bridge_throttle_recovered_total";
    /// Counter: throttled 3.0 calls given up once the retry budget or the
    /// request's deadline ran out, by `reason`.
    pub const THROTTLE_GIVEN_UP: &str = "scf_bridge_throttle_given_up_total";
    /// Counter: synchronous invocations sent to 3.0 `Invoke` because 3.0
    /// refused `InvokeFunction` as unsupported (`upstream.sync_action =
    /// auto`), by the 3.0 `code` of the refusal.
    pub const INVOKE_FUNCTION_FALLBACKS: &str = "scf_bridge_invoke_function_fallbacks_total";
    /// Counter: requests whose client went away before the answer was
    /// written, by `sent` (`true` when a 3.0 call had been sent, so the
    /// function may have run).
    pub const CLIENT_CLOSED: &str = "scf_bridge_client_closed_total";
    /// Gauge: requests whose client went away while their 3.0 call is
    /// still running at SCF, with nobody waiting for the answer.
    pub const UNWAITED_CALLS: &str = "scf_bridge_unwaited_calls";
    /// Gauge: distinct callers (SecretIds) seen in the last hour (`/callers`).
    pub const CALLERS: &str = "scf_bridge_callers";
    /// Counter: `/callers` entries evicted, least recently seen first.
    pub const CALLERS_EVICTED: &str = "scf_bridge_callers_evicted_total";
    /// Counter: legacy requests by `request_client` family (the SDK name
    /// without its version, from an allow-list; else `other`).
    pub const CLIENT_REQUESTS: &str = "scf_bridge_client_requests_total";
    /// Counter: legacy connections accepted, by serving `worker` (its index
    /// under `server.runtime = "thread-per-core"`, `shared` otherwise) and
    /// `listener` (`plain`, `tls`): how evenly the kernel spreads them.
    pub const CONNECTIONS: &str = "scf_bridge_connections_accepted_total";
    /// Histogram: round trip of one Redis command, seconds, by `op`
    /// (`replay`, `throttle`, `ping`).
    pub const REDIS_DURATION: &str = "scf_bridge_redis_duration_seconds";
    /// Counter: Redis commands that failed, by `kind` (`timeout`,
    /// `connection`, `auth`, `other`).
    pub const REDIS_ERRORS: &str = "scf_bridge_redis_errors_total";
    /// Counter: requests that used this replica's own state because Redis
    /// failed (`redis.on_error = "local"`), by `what` (`replay`, `throttle`).
    pub const REDIS_FALLBACKS: &str = "scf_bridge_redis_fallbacks_total";
    /// Gauge: 1 while the last Redis health check answered, else 0.
    pub const REDIS_UP: &str = "scf_bridge_redis_up";
    /// Histogram: time 3.0 calls waited for a shared throttle token, seconds
    /// (its count is the calls that waited).
    pub const THROTTLE_WAIT: &str = "scf_bridge_throttle_wait_seconds";
    /// Counter: 3.0 calls refused because the shared budget had no token
    /// within `redis.rate_limit_wait_ms`.
    pub const THROTTLE_REFUSED: &str = "scf_bridge_throttle_refused_total";
    /// Gauge: always 1, with `version`.
    pub const BUILD_INFO: &str = "scf_bridge_build_info";
}

const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0,
];

/// The process-wide Prometheus recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
            .expect("non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        // A second recorder (another bridge in the same test process) is fine:
        // every bridge records through the first.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        metrics::gauge!(names::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

/// `# HELP` text for every metric (the exporter writes it beside `# TYPE`).
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        names::REQUESTS,
        "Legacy requests answered, by action and legacy code."
    );
    describe_histogram!(
        names::REQUEST_DURATION,
        Unit::Seconds,
        "Time from a request's head to its answer."
    );
    describe_histogram!(
        names::UPSTREAM_DURATION,
        Unit::Seconds,
        "Time spent waiting for SCF API 3.0."
    );
    describe_counter!(
        names::UPSTREAM_ERRORS,
        "Failures on the way to SCF, by kind."
    );
    describe_counter!(names::UPSTREAM_REQUESTS, "Calls sent to SCF API 3.0.");
    describe_counter!(
        names::UPSTREAM_CONNECTIONS,
        "New connections opened to SCF (reuse = 1 - connections / requests)."
    );
    describe_counter!(names::SCF_ERRORS, "SCF error answers, by 3.0 code.");
    describe_gauge!(names::IN_FLIGHT, "Requests being handled.");
    describe_counter!(
        names::SHED,
        "Requests refused because the bridge was at a limit, by reason."
    );
    describe_gauge!(names::REPLAY_ENTRIES, "Entries held in the replay memory.");
    describe_gauge!(names::REPLAY_CAPACITY, "Capacity of the replay memory.");
    describe_counter!(
        names::RELOADS,
        "Reloads of key sets, credentials, certificates and configuration, by what and result."
    );
    describe_gauge!(
        names::CALLERS,
        "Distinct legacy callers (SecretIds) seen in the last hour (GET /callers)."
    );
    describe_counter!(
        names::CALLERS_EVICTED,
        "Entries evicted from the /callers table, least recently seen first."
    );
    describe_counter!(
        names::CLIENT_REQUESTS,
        "Legacy requests by RequestClient family (SDK name without version; unknown: other)."
    );
    describe_counter!(
        names::CONNECTIONS,
        "Legacy connections accepted, by serving worker and listener."
    );
    describe_histogram!(
        names::REDIS_DURATION,
        Unit::Seconds,
        "Round trip of one Redis command, by op."
    );
    describe_counter!(names::REDIS_ERRORS, "Redis commands that failed, by kind.");
    describe_counter!(
        names::REDIS_FALLBACKS,
        "Requests that used this replica's own state because Redis failed."
    );
    describe_gauge!(
        names::REDIS_UP,
        "1 while the last Redis health check answered, else 0."
    );
    describe_histogram!(
        names::THROTTLE_WAIT,
        Unit::Seconds,
        "Time 3.0 calls waited for a shared throttle token."
    );
    describe_counter!(
        names::THROTTLE_REFUSED,
        "3.0 calls refused because the shared throttle budget had no token in time."
    );
    describe_gauge!(names::BUILD_INFO, "Always 1, labelled with the version.");
    describe_counter!(
        names::THROTTLE_RETRIES,
        "3.0 calls sent again because SCF proved the previous one did not run (throttling), by reason."
    );
    describe_counter!(
        names::THROTTLE_RECOVERED,
        "3.0 calls answered after at least one throttle retry."
    );
    describe_counter!(
        names::THROTTLE_GIVEN_UP,
        "Throttled 3.0 calls given up when the retry budget or the deadline ran out, by reason."
    );
    describe_counter!(
        names::INVOKE_FUNCTION_FALLBACKS,
        "Synchronous invocations sent to 3.0 Invoke because 3.0 refused InvokeFunction as unsupported, by code."
    );
    describe_counter!(
        names::CLIENT_CLOSED,
        "Requests whose client went away before the answer was ready, by whether a 3.0 call had been sent."
    );
    describe_gauge!(
        names::UNWAITED_CALLS,
        "3.0 calls running whose client has gone away."
    );
}

/// Count a reload of `what` (`clients`, `credentials`, `certificate`, `config`).
pub fn reload(what: &'static str, ok: bool) {
    let result = if ok { "success" } else { "failure" };
    metrics::counter!(names::RELOADS, "what" => what, "result" => result).increment(1);
}

/// Handles of the metrics every request touches, registered once: looking a
/// labelled metric up by name costs a hash of its key on every call.
struct Hot {
    request_duration: Histogram,
    upstream_duration: Histogram,
    upstream_requests: Counter,
    in_flight: Gauge,
    replay_entries: Gauge,
    replay_capacity: Gauge,
}

fn hot() -> &'static Hot {
    static HOT: OnceLock<Hot> = OnceLock::new();
    HOT.get_or_init(|| {
        // The recorder must exist before handles are taken from it.
        handle();
        Hot {
            request_duration: metrics::histogram!(names::REQUEST_DURATION),
            upstream_duration: metrics::histogram!(names::UPSTREAM_DURATION),
            upstream_requests: metrics::counter!(names::UPSTREAM_REQUESTS),
            in_flight: metrics::gauge!(names::IN_FLIGHT),
            replay_entries: metrics::gauge!(names::REPLAY_ENTRIES),
            replay_capacity: metrics::gauge!(names::REPLAY_CAPACITY),
        }
    })
}

thread_local! {
    /// `scf_bridge_requests_total` handles by (action, code), per thread:
    /// the set is small (a few actions × the legacy codes).
    static REQUEST_COUNTERS: RefCell<Vec<(&'static str, i64, Counter)>> = const { RefCell::new(Vec::new()) };
}

/// One answered legacy request.
pub fn request(action: &str, code: i64, function: Option<&str>, elapsed: Duration) {
    let action = bounded_action(action);
    match function {
        Some(f) => {
            let (code, function) = (code.to_string(), f.to_owned());
            metrics::counter!(names::REQUESTS, "action" => action, "code" => code, "function" => function).increment(1)
        }
        None => REQUEST_COUNTERS.with(|cell| {
            let mut counters = cell.borrow_mut();
            match counters.iter().find(|(a, c, _)| *a == action && *c == code) {
                Some((_, _, counter)) => counter.increment(1),
                None => {
                    handle();
                    let label = code.to_string();
                    let counter =
                        metrics::counter!(names::REQUESTS, "action" => action, "code" => label);
                    counter.increment(1);
                    counters.push((action, code, counter));
                }
            }
        }),
    }
    hot().request_duration.record(elapsed.as_secs_f64());
}

/// Only actions the bridge knows become label values.
pub(crate) fn bounded_action(action: &str) -> &'static str {
    match action {
        "InvokeFunction" => "InvokeFunction",
        "" => "none",
        _ => "other",
    }
}

pub fn upstream_call(elapsed: Duration) {
    let hot = hot();
    hot.upstream_requests.increment(1);
    hot.upstream_duration.record(elapsed.as_secs_f64());
}

thread_local! {
    /// This thread's worker index under the thread-per-core model.
    static WORKER: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
    /// `scf_bridge_connections_accepted_total` handles of this thread: plain, TLS.
    static ACCEPTED: RefCell<Option<[Counter; 2]>> = const { RefCell::new(None) };
}

/// Marks the calling thread as serving worker `index`.
pub fn set_worker(index: usize) {
    WORKER.with(|w| w.set(Some(index)));
}

/// One legacy connection accepted on this thread.
pub fn connection_accepted(tls: bool) {
    ACCEPTED.with(|cell| {
        let mut cell = cell.borrow_mut();
        let counters = cell.get_or_insert_with(|| {
            handle();
            let worker = WORKER.with(|w| w.get()).map_or("shared".to_owned(), |i| i.to_string());
            ["plain", "tls"].map(|listener| {
                metrics::counter!(names::CONNECTIONS, "worker" => worker.clone(), "listener" => listener)
            })
        });
        counters[usize::from(tls)].increment(1);
    });
}

pub fn upstream_connection() {
    metrics::counter!(names::UPSTREAM_CONNECTIONS).increment(1);
}

pub fn upstream_error(kind: &'static str) {
    metrics::counter!(names::UPSTREAM_ERRORS, "kind" => kind).increment(1);
}

/// SCF's 3.0 error codes form a documented, bounded set.
pub fn scf_error(code: &str) {
    let code: String = code.chars().take(64).collect();
    metrics::counter!(names::SCF_ERRORS, "code" => code).increment(1);
}

pub fn shed(reason: &'static str) {
    metrics::counter!(names::SHED, "reason" => reason).increment(1);
}

pub fn in_flight(delta: f64) {
    hot().in_flight.increment(delta);
}

pub fn replay_fill(entries: usize, capacity: usize) {
    let hot = hot();
    hot.replay_entries.set(entries as f64);
    hot.replay_capacity.set(capacity as f64);
}

/// One Redis command's round trip.
pub fn redis_call(op: &'static str, elapsed: Duration) {
    metrics::histogram!(names::REDIS_DURATION, "op" => op).record(elapsed.as_secs_f64());
}

pub fn redis_error(kind: &'static str) {
    metrics::counter!(names::REDIS_ERRORS, "kind" => kind).increment(1);
}

pub fn redis_fallback(what: &'static str) {
    metrics::counter!(names::REDIS_FALLBACKS, "what" => what).increment(1);
}

pub fn redis_up(up: bool) {
    metrics::gauge!(names::REDIS_UP).set(if up { 1.0 } else { 0.0 });
}

pub fn throttle_waited(waited: Duration) {
    metrics::histogram!(names::THROTTLE_WAIT).record(waited.as_secs_f64());
}

pub fn throttle_refused() {
    metrics::counter!(names::THROTTLE_REFUSED).increment(1);
}

/// A throttled 3.0 call is sent again.
pub fn throttle_retry(reason: &'static str) {
    metrics::counter!(names::THROTTLE_RETRIES, "reason" => reason).increment(1);
}

/// A 3.0 call succeeded after at least one throttle retry.
pub fn throttle_recovered() {
    metrics::counter!(names::THROTTLE_RECOVERED).increment(1);
}

/// A throttled 3.0 call was given up.
pub fn throttle_given_up(reason: &'static str) {
    metrics::counter!(names::THROTTLE_GIVEN_UP, "reason" => reason).increment(1);
}

/// 3.0 refused `InvokeFunction` as unsupported; `Invoke` is used instead.
pub fn invoke_function_fallback(code: &str) {
    let code: String = code.chars().take(64).collect();
    metrics::counter!(names::INVOKE_FUNCTION_FALLBACKS, "code" => code).increment(1);
}

/// A request's client went away before its answer was written.
pub fn client_closed(sent: bool) {
    let sent = if sent { "true" } else { "false" };
    metrics::counter!(names::CLIENT_CLOSED, "sent" => sent).increment(1);
}

/// A 3.0 call left running with nobody waiting (+1), or it ended (-1).
pub fn unwaited_calls(delta: f64) {
    metrics::gauge!(names::UNWAITED_CALLS).increment(delta);
}

pub fn callers(distinct_last_hour: usize) {
    metrics::gauge!(names::CALLERS).set(distinct_last_hour as f64);
}

pub fn callers_evicted() {
    metrics::counter!(names::CALLERS_EVICTED).increment(1);
}

thread_local! {
    /// `scf_bridge_client_requests_total` handles by family, per thread (a
    /// fixed, small set).
    static CLIENT_COUNTERS: RefCell<Vec<(&'static str, Counter)>> = const { RefCell::new(Vec::new()) };
}

/// One legacy request, by its `RequestClient` family.
pub fn client_request(request_client: &str) {
    let family = crate::callers::client_family(request_client);
    CLIENT_COUNTERS.with(|cell| {
        let mut counters = cell.borrow_mut();
        match counters.iter().find(|(f, _)| *f == family) {
            Some((_, counter)) => counter.increment(1),
            None => {
                handle();
                let counter = metrics::counter!(names::CLIENT_REQUESTS, "request_client" => family);
                counter.increment(1);
                counters.push((family, counter));
            }
        }
    })
}

/// The process metrics Prometheus clients usually export, read from /proc
/// on each scrape: resident memory, CPU seconds, open and maximum file
/// descriptors, start time. Empty where /proc is not available.
pub fn render_process() -> String {
    let mut out = String::new();
    let mut put = |name: &str, kind: &str, help: &str, value: f64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    };
    // /proc reports times in USER_HZ, fixed at 100 for user space on Linux.
    const USER_HZ: f64 = 100.0;
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // utime, stime and starttime are fields 14, 15 and 22 (1-based);
        // `fields` starts at field 3.
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        if let (Some(u), Some(s)) = (field(14), field(15)) {
            put(
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                (u + s) / USER_HZ,
            );
        }
        let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        });
        if let (Some(start), Some(boot)) = (field(22), boot) {
            put(
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                boot + start / USER_HZ,
            );
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
        if let Some(kib) = kib {
            put(
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                kib * 1024.0,
            );
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        put(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            dir.count() as f64,
        );
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        let max = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse::<f64>().ok());
        if let Some(max) = max {
            put(
                "process_max_fds",
                "gauge",
                "Maximum number of open file descriptors.",
                max,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_help_and_process_metrics_are_read() {
        request("InvokeFunction", 0, None, Duration::from_millis(3));
        request("InvokeFunction", 0, Some("f"), Duration::from_millis(3));
        upstream_call(Duration::from_millis(1));
        upstream_connection();
        upstream_error("upstream-timeout");
        scf_error("ResourceNotFound.Function");
        shed("in_flight");
        in_flight(0.0);
        replay_fill(1, 10);
        reload("config", true);
        callers(2);
        callers_evicted();
        client_request("SDK_PYTHON_2.0.15");
        throttle_retry("RequestLimitExceeded");
        throttle_recovered();
        throttle_given_up("RequestLimitExceeded");
        invoke_function_fallback("UnsupportedOperation.Region");
        client_closed(true);
        unwaited_calls(0.0);
        let text = format!("{}{}", handle().render(), render_process());
        let types: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert!(types.len() >= 20, "{text}");
        for name in &types {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "no HELP for {name}:\n{text}"
            );
        }
        for name in [
            names::CALLERS,
            names::CLIENT_REQUESTS,
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(types.contains(&name), "{name} missing:\n{text}");
        }
        let rss: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(rss > 1_000_000.0, "{rss}");
        let start: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("process_start_time_seconds "))
            .unwrap()
            .parse()
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            start <= now + 1.0 && start > now - 86_400.0 * 30.0,
            "{start} vs {now}"
        );
    }
}
