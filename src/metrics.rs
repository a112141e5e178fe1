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
        metrics::gauge!(names::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
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
fn bounded_action(action: &str) -> &'static str {
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
