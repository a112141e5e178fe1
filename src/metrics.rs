//! Every metric name, in one place, and the few helpers that record them.
//! Names follow Prometheus conventions (`scf_bridge_` prefix, base units,
//! `_total` for counters); labels are bounded sets only.

/// Metric names.
pub mod names {
    /// Counter: legacy requests answered, by `action` and legacy `code`.
    pub const REQUESTS: &str = "scf_bridge_requests_total";
    /// Histogram: time from request head to answer, seconds.
    pub const REQUEST_DURATION: &str = "scf_bridge_request_duration_seconds";
    /// Histogram: time spent waiting for SCF, seconds.
    pub const UPSTREAM_DURATION: &str = "scf_bridge_upstream_duration_seconds";
    /// Counter: failures on the way to SCF, by `kind`.
    pub const UPSTREAM_ERRORS: &str = "scf_bridge_upstream_errors_total";
    /// Counter: SCF error answers, by 3.0 `code`.
    pub const SCF_ERRORS: &str = "scf_bridge_scf_errors_total";
    /// Gauge: requests being handled.
    pub const IN_FLIGHT: &str = "scf_bridge_requests_in_flight";
    /// Counter: requests refused because the bridge was at its limits, by `reason`.
    pub const SHED: &str = "scf_bridge_requests_shed_total";
    /// Gauge: entries held in the replay memory.
    pub const REPLAY_ENTRIES: &str = "scf_bridge_replay_entries";
    /// Gauge: capacity of the replay memory.
    pub const REPLAY_CAPACITY: &str = "scf_bridge_replay_capacity";
    /// Counter: reloads of key sets and certificates, by `what` and `result`.
    pub const RELOADS: &str = "scf_bridge_reloads_total";
    /// Gauge: always 1, with `version`.
    pub const BUILD_INFO: &str = "scf_bridge_build_info";
}

/// Count a reload of `what` (`clients`, `credentials`, `certificate`).
pub fn reload(what: &'static str, ok: bool) {
    let result = if ok { "success" } else { "failure" };
    metrics::counter!(names::RELOADS, "what" => what, "result" => result).increment(1);
}
