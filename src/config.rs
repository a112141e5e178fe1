//! Typed settings: built-in defaults, then the TOML file, then the
//! environment (`TENCENTCLOUD_*`, then `SCF_BRIDGE__<SECTION>__<KEY>`), and
//! validation that names the key at fault in one line. Addresses and the
//! upstream endpoint are parsed while loading (a bad one fails the load),
//! so no consumer parses a configuration string again; the `_secs`/`_ms`
//! keys have [`Duration`] accessors on their sections.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::types::{AuthMode, Secret, UpstreamIdentity};

/// Environment prefix for every key: `SCF_BRIDGE__UPSTREAM__ENDPOINT`.
pub const ENV_PREFIX: &str = "SCF_BRIDGE";
/// The names Tencent's own tools use for the bridge's key pair.
pub const ENV_SECRET_ID: &str = "TENCENTCLOUD_SECRET_ID";
pub const ENV_SECRET_KEY: &str = "TENCENTCLOUD_SECRET_KEY";
pub const ENV_SESSION_TOKEN: &str = "TENCENTCLOUD_SESSION_TOKEN";

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub upstream: UpstreamSettings,
    #[serde(default)]
    pub credentials: CredentialSettings,
    pub auth: AuthSettings,
    pub admin: AdminSettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
    /// The shared store behind `auth.replay_store = "redis"` and
    /// `redis.rate_limits`.
    pub redis: RedisSettings,
    pub legacy: LegacySettings,
}

/// The shape of legacy answers.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LegacySettings {
    /// Add the field names of the legacy documentation's table (`payLoad`,
    /// `logMsg`, `memSize`) beside the ones the service sent (`retMsg`,
    /// `log`, `memUsage`) in a synchronous `InvokeFunction` answer.
    pub documented_aliases: bool,
}

/// Which 3.0 action a synchronous legacy `InvokeFunction` becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncAction {
    /// 3.0 `InvokeFunction` (10,000/s) where the region offers it, `Invoke`
    /// (100/s) where it does not or where SCF refused it as unsupported.
    #[default]
    Auto,
    /// Always 3.0 `Invoke`.
    Invoke,
    /// Always 3.0 `InvokeFunction`, never falling back.
    InvokeFunction,
}

/// The operator's listener: probes, metrics, run-time log filter.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Never the data port; `""` turns it off.
    #[serde(with = "listen_addr")]
    pub listen: Option<SocketAddr>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A tracing filter such as `info` or `scf_bridge=debug`; the
    /// `SCF_BRIDGE_LOG` environment variable wins over it.
    pub filter: String,
    /// `json`, `text`, or `auto` (text on a terminal, JSON otherwise).
    pub format: String,
    /// Bytes of access-log lines each serving thread holds before writing
    /// them with one `write` (nginx's `access_log … buffer=`); 0, the
    /// default, writes each line as it is made. At most
    /// [`MAX_ACCESS_BUFFER_BYTES`]. Lines held are lost on a crash or
    /// SIGKILL (docs/operations.md, "Buffered access log").
    pub access_buffer_bytes: usize,
    /// While buffering, the longest a line is held before it is written
    /// (nginx's `flush=`).
    pub access_flush_ms: u64,
}

/// Largest `log.access_buffer_bytes`: 1 MiB per serving thread.
pub const MAX_ACCESS_BUFFER_BYTES: usize = 1024 * 1024;

impl LogSettings {
    /// `Some((bytes, interval))` when access-log lines are buffered.
    pub fn access_buffering(&self) -> Option<(usize, Duration)> {
        (self.access_buffer_bytes > 0).then(|| {
            (
                self.access_buffer_bytes,
                Duration::from_millis(self.access_flush_ms),
            )
        })
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Add a `function` label to the request counter. Off by default: the
    /// number of function names is not bounded by the bridge.
    pub function_label: bool,
}

/// What the bridge does with a translated, signed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamMode {
    /// Send it to SCF.
    Forward,
    /// Log it (secrets redacted) and answer without calling SCF.
    DryRun,
}

/// Legacy signature verification and the callers it knows.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// `verify` or `none`. Unset: `none` while every listener is on a
    /// loopback address, `verify` otherwise.
    pub mode: Option<AuthMode>,
    /// Allow `mode = "none"` on a non-loopback listener.
    pub allow_unauthenticated: bool,
    /// Hosts tried in the string to sign, after the request's `Host`.
    pub signing_hosts: Vec<String>,
    /// Largest accepted distance between `Timestamp` and the bridge's clock.
    pub max_skew_secs: u64,
    /// Replay-memory entries; unset: 10,000 requests/s over the whole window.
    pub replay_capacity: Option<usize>,
    /// Where accepted requests are remembered: `memory` (this replica) or
    /// `redis` (shared by every replica; `[redis]`).
    #[serde(default)]
    pub replay_store: ReplayStoreKind,
    #[serde(default)]
    pub clients: Vec<ClientSettings>,
    /// A directory of files named after a SecretId, each holding its key.
    pub clients_dir: Option<PathBuf>,
    /// Which identity signs upstream for callers found in `clients_dir`.
    #[serde(default)]
    pub clients_dir_upstream: UpstreamIdentity,
    /// How often key and certificate files are checked for changes.
    pub reload_interval_ms: u64,
    /// Timestamps earlier than the process's start less this many seconds
    /// are refused: the replay memory of the previous run is gone, so a
    /// request captured before a restart could otherwise be replayed.
    pub restart_grace_secs: u64,
    /// Largest share of the replay memory one SecretId may hold, in
    /// percent, so one client filling it cannot refuse the others.
    pub replay_client_share_percent: u8,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Plain-HTTP legacy listener; `""` to serve TLS only.
    #[serde(with = "listen_addr")]
    pub listen: Option<SocketAddr>,
    /// TLS legacy listener (the legacy SDKs speak HTTPS only).
    #[serde(default, with = "listen_addr")]
    pub tls_listen: Option<SocketAddr>,
    /// PEM certificate chain and private key for `tls_listen`.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Largest request body accepted (a 6 MB `param` form-encoded grows up to 3x).
    pub max_body_bytes: usize,
    /// Largest request target (path and query) answered normally; larger
    /// ones get a legacy error (past 1 MiB of head, HTTP 431 from hyper).
    pub max_uri_bytes: usize,
    /// Largest total size of the request's header names and values.
    pub max_header_bytes: usize,
    /// Time allowed for a client to send a request head: from accept for the
    /// first request, from its first byte for later ones.
    pub header_read_timeout_ms: u64,
    /// How long a kept-alive connection may wait for its next request before
    /// the bridge closes it; 0 leaves closing idle connections to the client.
    pub keepalive_idle_timeout_ms: u64,
    /// Time allowed for a client to send the request body.
    pub body_read_timeout_ms: u64,
    /// Requests handled at once; more are answered 4400 at once.
    pub max_in_flight: usize,
    /// Request-body bytes held at once across all requests, with the
    /// decoding state of each (`decode_bytes_needed`); beyond, 4400.
    pub max_buffered_bytes: usize,
    /// Most parameters in one request, counted while decoding; more: 4000.
    pub max_params: usize,
    /// Most header fields in one request; more: 4000 (hyper's own limit is
    /// set above it, so the bridge answers first).
    pub max_headers: usize,
    /// Open legacy connections at once; at the cap, accepting pauses until
    /// one closes.
    pub max_connections: usize,
    /// After `body_rate_grace_ms`, a body must keep arriving at this many
    /// bytes per second on average, or the request is refused with 4000;
    /// 0 turns the check off.
    pub min_body_rate_bytes_per_sec: u64,
    pub body_rate_grace_ms: u64,
    /// Requests larger than this are decoded and verified on the blocking
    /// pool, off the threads that serve every other request.
    pub offload_threshold_bytes: usize,
    /// After SIGTERM/SIGINT, keep accepting this long (readiness already
    /// false) so callers that have not yet noticed still get answers.
    pub drain_delay_secs: u64,
    /// Then stop accepting and give requests in flight this long; any still
    /// running get a legacy error instead of a dropped connection.
    pub shutdown_deadline_secs: u64,
    /// How requests are scheduled onto threads: `thread-per-core` or
    /// `multi-thread` (docs/performance.md, "Serving model").
    pub runtime: ServerRuntime,
    /// Serving threads; 0 = one per CPU the process may use.
    pub workers: usize,
}

/// The serving model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerRuntime {
    /// One single-threaded runtime per worker thread, each with its own
    /// `SO_REUSEPORT` listeners and its own upstream connections: a request
    /// is accepted, handled and forwarded on one thread.
    ThreadPerCore,
    /// One work-stealing runtime shared by all worker threads, one accept
    /// loop per listener and one shared upstream pool.
    MultiThread,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    /// `forward` (default) or `dry-run`.
    pub mode: UpstreamMode,
    /// `embedded`, or `http(s)://host[:port]`, optionally with `{region}`.
    pub endpoint: Endpoint,
    /// 3.0 region used when a legacy request carries no `Region`.
    pub region: String,
    /// Whole-exchange deadline; above SCF's 300 s synchronous limit.
    pub timeout_secs: u64,
    pub connect_timeout_ms: u64,
    /// Idle pooled connections are closed after this, below typical server keep-alive.
    pub pool_idle_timeout_secs: u64,
    pub pool_max_idle_per_host: usize,
    /// Retries of a request that provably never left (refused, DNS, TLS handshake).
    pub connect_retries: u32,
    /// Extra PEM trust roots for the upstream, beside the built-in webpki roots.
    pub ca_file: Option<PathBuf>,
    /// How long `CreateFunction`/`UpdateFunction` wait for the function to
    /// leave `Creating`/`Updating` before answering.
    pub function_ready_timeout_ms: u64,
    /// How often they read the function's state while waiting.
    pub function_ready_poll_ms: u64,
    /// `auto`, `invoke` or `invoke-function`: the 3.0 action of a
    /// synchronous legacy `InvokeFunction` (asynchronous ones are `Invoke`).
    pub sync_action: SyncAction,
    /// Time a request may spend retrying 3.0 answers that prove the call
    /// did not run (throttling); 0 turns these retries off.
    pub throttle_retry_budget_ms: u64,
    /// Allow `endpoint = "embedded"` (the test emulator) on a listener that
    /// is not on a loopback address.
    pub allow_embedded_off_loopback: bool,
}

/// Where the replay check remembers accepted requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayStoreKind {
    /// This replica's own memory: a replay sent to another replica is not seen.
    #[default]
    Memory,
    /// One Redis shared by every replica.
    Redis,
}

/// What a request gets when Redis does not answer in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisOnError {
    /// A legacy 4400 naming the cause; nothing reaches SCF.
    #[default]
    Refuse,
    /// This replica's own memory (replay) or no shared budget (throttle).
    Local,
}

/// The Redis shared by the replicas (docs/operations.md, "Shared Redis").
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://host:port[/db]` or `rediss://…` (TLS); several, separated by
    /// commas, for a Redis Cluster's seed nodes. No credentials in it.
    pub url: String,
    /// ACL user name (Redis 6+); unset: the default user.
    pub username: Option<String>,
    /// A file holding the password, re-read when it changes.
    pub password_file: Option<PathBuf>,
    /// PEM trust roots for `rediss://`, instead of the built-in webpki and
    /// the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Prepended to every key the bridge writes.
    pub key_prefix: String,
    /// Longest a request waits on Redis before `on_error` applies.
    pub timeout_ms: u64,
    /// Time allowed to open a connection (in the background, never a
    /// request's time).
    pub connect_timeout_ms: u64,
    /// Multiplexed connections per replica (standalone Redis).
    pub pool_size: usize,
    /// `refuse` or `local`.
    pub on_error: RedisOnError,
    /// Added to the timestamp window when a remembered request expires,
    /// for clock differences between replicas.
    pub expiry_margin_secs: u64,
    /// A shared token bucket per (SecretId, 3.0 action, region).
    pub rate_limits: bool,
    /// The share of each 3.0 limit all replicas together use.
    pub rate_limit_share: f64,
    /// Longest a call waits for a token before it is answered 4400.
    pub rate_limit_wait_ms: u64,
    /// Per-second limits by 3.0 action, over the documented defaults.
    #[serde(default)]
    pub action_limits: std::collections::BTreeMap<String, u32>,
}

impl RedisSettings {
    /// The configured addresses, one per comma-separated entry.
    pub fn urls(&self) -> Vec<&str> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect()
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialSettings {
    pub secret_id: Option<String>,
    pub secret_key: Option<Secret>,
    pub token: Option<Secret>,
}

impl ServerSettings {
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }
    /// `None` when 0: idle connections are left to the client to close.
    pub fn keepalive_idle_timeout(&self) -> Option<Duration> {
        (self.keepalive_idle_timeout_ms > 0)
            .then(|| Duration::from_millis(self.keepalive_idle_timeout_ms))
    }
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }
    pub fn drain_delay(&self) -> Duration {
        Duration::from_secs(self.drain_delay_secs)
    }
    pub fn shutdown_deadline(&self) -> Duration {
        Duration::from_secs(self.shutdown_deadline_secs)
    }
}

impl UpstreamSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    pub fn pool_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.pool_idle_timeout_secs)
    }
}

impl AuthSettings {
    /// How often key and certificate files are checked (at least 100 ms).
    pub fn reload_interval(&self) -> Duration {
        Duration::from_millis(self.reload_interval_ms.max(100))
    }
}

impl CredentialSettings {
    pub fn is_configured(&self) -> bool {
        self.secret_id.is_some() || self.secret_key.is_some()
    }
}

/// Largest request target the HTTP parser (hyper) reads; longer ones get
/// the legacy answer from the connection layer.
pub const MAX_URI_BYTES: usize = 65534;
/// One `[[auth.clients]]` entry.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    pub secret_id: String,
    pub secret_key: Option<Secret>,
    pub secret_key_file: Option<PathBuf>,
    #[serde(default)]
    pub upstream: UpstreamIdentity,
}

/// The built-in defaults, as TOML: the quick start runs with nothing else.
pub const DEFAULTS: &str = r#"
[server]
listen = "127.0.0.1:8080"
max_body_bytes = 20971520
max_uri_bytes = 32768
max_header_bytes = 65536
header_read_timeout_ms = 10000
keepalive_idle_timeout_ms = 75000
body_read_timeout_ms = 30000
max_in_flight = 1024
max_buffered_bytes = 268435456
max_params = 256
max_headers = 100
max_connections = 4096
min_body_rate_bytes_per_sec = 1024
body_rate_grace_ms = 5000
offload_threshold_bytes = 65536
drain_delay_secs = 5
shutdown_deadline_secs = 25
runtime = "thread-per-core"
workers = 0

[upstream]
mode = "forward"
endpoint = "embedded"
region = "ap-guangzhou"
timeout_secs = 330
connect_timeout_ms = 3000
pool_idle_timeout_secs = 30
pool_max_idle_per_host = 64
connect_retries = 2
function_ready_timeout_ms = 90000
function_ready_poll_ms = 1000
sync_action = "auto"
throttle_retry_budget_ms = 2000
allow_embedded_off_loopback = false

[auth]
allow_unauthenticated = false
signing_hosts = ["scf.api.qcloud.com"]
max_skew_secs = 300
reload_interval_ms = 2000
restart_grace_secs = 0
replay_client_share_percent = 50

[admin]
listen = "127.0.0.1:9901"

[log]
filter = "info"
format = "auto"
access_buffer_bytes = 0
access_flush_ms = 1000

[metrics]
function_label = false

[redis]
url = ""
key_prefix = "scf-bridge:"
timeout_ms = 50
connect_timeout_ms = 1000
pool_size = 2
on_error = "refuse"
expiry_margin_secs = 5
rate_limits = false
rate_limit_share = 0.9
rate_limit_wait_ms = 200

[legacy]
documented_aliases = true
"#;

/// One line naming the key and the problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid configuration: {key}: {problem}")]
    Invalid { key: &'static str, problem: String },
}

fn invalid(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        problem: problem.into(),
    }
}

/// Where the environment comes from: the process, or a map in tests.
pub type EnvMap = std::collections::HashMap<String, String>;

impl Settings {
    /// Layer defaults → file → `TENCENTCLOUD_*` → `SCF_BRIDGE__*`, then validate.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with_env(file, std::env::vars().collect())
    }

    pub fn load_with_env(file: Option<&Path>, mut env: EnvMap) -> Result<Settings, ConfigError> {
        use crate::config_messages as messages;
        use config::{Config, Environment, File, FileFormat};
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
            // Checked here first: the parser's own message quotes the
            // offending line, which may hold a secret.
            check_toml_syntax(path, &text)?;
            builder = builder.add_source(File::from_str(&text, FileFormat::Toml));
        }
        // Only the names, to say where an unknown key came from.
        let names: EnvMap = env
            .keys()
            .filter(|k| k.starts_with(ENV_PREFIX))
            .map(|k| (k.clone(), String::new()))
            .collect();
        for (key, items) in messages::take_list_keys(&mut env) {
            builder = builder
                .set_override(key, items)
                .map_err(|e| ConfigError::Parse(e.to_string()))?;
        }
        let tencent = [
            (ENV_SECRET_ID, "credentials.secret_id"),
            (ENV_SECRET_KEY, "credentials.secret_key"),
            (ENV_SESSION_TOKEN, "credentials.token"),
        ];
        for (var, key) in tencent {
            if let Some(value) = env.get(var).filter(|v| !v.is_empty()) {
                builder = builder
                    .set_override(key, value.as_str())
                    .map_err(|e| ConfigError::Parse(e.to_string()))?;
            }
        }
        let ours: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        builder = builder.add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .source(Some(ours)),
        );
        let settings: Settings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError::Parse(messages::explain(&e.to_string(), file, &names)))?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let listeners = self.listeners();
        if listeners.is_empty() {
            return Err(invalid(
                "server.listen",
                "no listener: set server.listen or server.tls_listen",
            ));
        }
        match (
            &self.server.tls_listen,
            &self.server.tls_cert,
            &self.server.tls_key,
        ) {
            (Some(_), Some(_), Some(_)) | (None, None, None) => {}
            (Some(_), _, _) => {
                return Err(invalid(
                    "server.tls_cert",
                    "server.tls_listen needs both server.tls_cert and server.tls_key",
                ))
            }
            (None, _, _) => {
                return Err(invalid(
                    "server.tls_listen",
                    "server.tls_cert/tls_key are set but server.tls_listen is not",
                ))
            }
        }
        if self.auth_mode() == AuthMode::None
            && !self.auth.allow_unauthenticated
            && listeners.iter().any(|a| !is_loopback(a.ip()))
        {
            return Err(invalid(
                "auth.mode",
                "\"none\" is only allowed when every listener is on a loopback address; \
                 set auth.allow_unauthenticated = true to override",
            ));
        }
        let named: Vec<(&'static str, SocketAddr)> = [
            ("server.listen", self.server.listen),
            ("server.tls_listen", self.server.tls_listen),
            ("admin.listen", self.admin.listen),
        ]
        .into_iter()
        .filter_map(|(k, a)| a.map(|a| (k, a)))
        .collect();
        for (i, (key_a, a)) in named.iter().enumerate() {
            for (key_b, b) in &named[i + 1..] {
                let overlap =
                    a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified();
                if a.port() != 0 && a.port() == b.port() && overlap {
                    return Err(invalid(
                        key_b,
                        format!("{b} is the same port as {key_a} ({a})"),
                    ));
                }
            }
        }
        if !matches!(self.log.format.as_str(), "json" | "text" | "auto") {
            return Err(invalid(
                "log.format",
                format!(
                    "\"{}\" is not one of auto, json, text",
                    self.log.format.chars().take(32).collect::<String>()
                ),
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.filter).is_err() {
            return Err(invalid(
                "log.filter",
                format!("`{}` is not a tracing filter", self.log.filter),
            ));
        }
        if self.log.access_buffer_bytes > MAX_ACCESS_BUFFER_BYTES {
            return Err(invalid(
                "log.access_buffer_bytes",
                format!("must be at most {MAX_ACCESS_BUFFER_BYTES} (1 MiB; 0 = off)"),
            ));
        }
        if self.log.access_buffer_bytes > 0 && self.log.access_flush_ms == 0 {
            return Err(invalid(
                "log.access_flush_ms",
                "must be greater than 0 while log.access_buffer_bytes is set",
            ));
        }
        if self.server.header_read_timeout_ms == 0 {
            return Err(invalid(
                "server.header_read_timeout_ms",
                "must be greater than 0",
            ));
        }
        for (key, value) in [
            ("server.max_params", self.server.max_params),
            ("server.max_headers", self.server.max_headers),
            ("server.max_connections", self.server.max_connections),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        if self.server.max_uri_bytes > MAX_URI_BYTES {
            return Err(invalid(
                "server.max_uri_bytes",
                format!("must be at most {MAX_URI_BYTES} (the HTTP parser's own limit)"),
            ));
        }
        if !(1..=100).contains(&self.auth.replay_client_share_percent) {
            return Err(invalid(
                "auth.replay_client_share_percent",
                "must be between 1 and 100",
            ));
        }
        if self.server.workers > 1024 {
            return Err(invalid("server.workers", "at most 1024 (0 = one per CPU)"));
        }
        if self.server.max_in_flight == 0 {
            return Err(invalid("server.max_in_flight", "must be greater than 0"));
        }
        let largest =
            self.server
                .max_body_bytes
                .saturating_add(crate::legacy::decode::decode_bytes_needed(
                    self.server.max_body_bytes,
                    self.server.max_params,
                ));
        if self.server.max_buffered_bytes < largest {
            return Err(invalid(
                "server.max_buffered_bytes",
                format!(
                    "must be at least {largest}: a largest body and its decoding \
                     (2 × server.max_body_bytes + {} B × server.max_params)",
                    crate::legacy::decode::DECODE_BYTES_PER_PARAM
                ),
            ));
        }
        if self.auth.max_skew_secs == 0 {
            return Err(invalid("auth.max_skew_secs", "must be greater than 0"));
        }
        if self.auth_mode() == AuthMode::Verify
            && self.auth.clients.is_empty()
            && self.auth.clients_dir.is_none()
        {
            return Err(invalid(
                "auth.clients",
                "signature verification is on but no client is configured \
                 (add [[auth.clients]] or auth.clients_dir)",
            ));
        }
        if self.upstream.endpoint == Endpoint::Embedded
            && !self.upstream.allow_embedded_off_loopback
            && listeners.iter().any(|a| !is_loopback(a.ip()))
        {
            return Err(invalid(
                "upstream.endpoint",
                "\"embedded\" (the test emulator, fake answers) is only allowed when every \
                 listener is on a loopback address; set it to the SCF 3.0 endpoint, or \
                 upstream.allow_embedded_off_loopback = true to override",
            ));
        }
        // The rule a request's `Region` follows: a legacy short code or a
        // region name.
        crate::legacy::region::resolve_region(&self.upstream.region)
            .map_err(|e| invalid("upstream.region", e.to_string()))?;
        if self.upstream.timeout_secs == 0 {
            return Err(invalid("upstream.timeout_secs", "must be greater than 0"));
        }
        if self.upstream.connect_timeout_ms == 0 {
            return Err(invalid(
                "upstream.connect_timeout_ms",
                "must be greater than 0",
            ));
        }
        if self.upstream.function_ready_poll_ms == 0 {
            return Err(invalid(
                "upstream.function_ready_poll_ms",
                "must be greater than 0",
            ));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(invalid("server.max_body_bytes", "must be at least 1024"));
        }
        let c = &self.credentials;
        match (&c.secret_id, &c.secret_key) {
            (Some(_), None) => {
                return Err(invalid(
                    "credentials.secret_key",
                    "missing while credentials.secret_id is set",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "credentials.secret_id",
                    "missing while credentials.secret_key is set",
                ))
            }
            _ => {}
        }
        if c.token.is_some() && c.secret_id.is_none() {
            return Err(invalid(
                "credentials.token",
                "set without credentials.secret_id/secret_key",
            ));
        }
        self.validate_redis()
    }

    /// Whether anything needs the shared Redis.
    pub fn uses_redis(&self) -> bool {
        self.auth.replay_store == ReplayStoreKind::Redis || self.redis.rate_limits
    }

    fn validate_redis(&self) -> Result<(), ConfigError> {
        if !self.uses_redis() {
            return Ok(());
        }
        let r = &self.redis;
        let urls = r.urls();
        if urls.is_empty() {
            return Err(invalid(
                "redis.url",
                "required when auth.replay_store = \"redis\" or redis.rate_limits = true",
            ));
        }
        for url in &urls {
            let rest = url
                .strip_prefix("redis://")
                .or_else(|| url.strip_prefix("rediss://"));
            match rest {
                None => {
                    return Err(invalid(
                        "redis.url",
                        format!("`{url}`: expected redis://host:port or rediss://host:port"),
                    ))
                }
                Some(rest) if rest.contains('@') => {
                    return Err(invalid(
                        "redis.url",
                        "credentials do not belong in the URL: use redis.username and \
                         redis.password_file",
                    ))
                }
                Some(_) => {}
            }
            if redis::IntoConnectionInfo::into_connection_info(*url).is_err() {
                return Err(invalid("redis.url", format!("`{url}` is not a Redis URL")));
            }
        }
        if r.timeout_ms == 0 {
            return Err(invalid("redis.timeout_ms", "must be greater than 0"));
        }
        if r.connect_timeout_ms == 0 {
            return Err(invalid(
                "redis.connect_timeout_ms",
                "must be greater than 0",
            ));
        }
        if r.pool_size == 0 || r.pool_size > 64 {
            return Err(invalid("redis.pool_size", "must be between 1 and 64"));
        }
        if !(r.rate_limit_share > 0.0 && r.rate_limit_share <= 1.0) {
            return Err(invalid("redis.rate_limit_share", "must be in (0, 1]"));
        }
        if let Some((action, _)) = r.action_limits.iter().find(|(_, &n)| n == 0) {
            return Err(invalid(
                "redis.action_limits",
                format!("{action}: a limit must be at least 1 per second"),
            ));
        }
        Ok(())
    }

    /// Serving threads: `server.workers`, or one per CPU the process may use.
    pub fn worker_threads(&self) -> usize {
        match self.server.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// The legacy listeners' addresses (plain, then TLS).
    fn listeners(&self) -> Vec<SocketAddr> {
        self.server
            .listen
            .into_iter()
            .chain(self.server.tls_listen)
            .collect()
    }

    /// The effective mode: explicit, or `none` on loopback-only listeners
    /// and `verify` otherwise. `auth.allow_unauthenticated` only permits an
    /// explicit `none` off loopback; it never chooses it.
    pub fn auth_mode(&self) -> AuthMode {
        self.auth.mode.unwrap_or_else(|| {
            let listeners = self.listeners();
            let loopback_only =
                !listeners.is_empty() && listeners.iter().all(|a| is_loopback(a.ip()));
            if loopback_only {
                AuthMode::None
            } else {
                AuthMode::Verify
            }
        })
    }

    /// `upstream.region` as a 3.0 region name (`gz` → `ap-guangzhou`).
    pub fn default_region(&self) -> String {
        crate::legacy::region::resolve_region(&self.upstream.region)
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_else(|_| self.upstream.region.clone())
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// Keys a reload (SIGHUP) cannot apply: every setting but the client
/// list, the bridge's credentials and the log filter. The running values
/// stay until a restart.
pub fn restart_only_changes(running: &Settings, loaded: &Settings) -> Vec<String> {
    fn flat(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
        if let serde_json::Value::Object(map) = value {
            for (k, v) in map {
                flat(&format!("{prefix}.{k}"), v, out);
            }
        } else {
            out.push((prefix.to_owned(), value.to_string()));
        }
    }
    let applied = [
        "auth.clients",
        "auth.clients_dir",
        "auth.clients_dir_upstream",
        "log.filter",
    ];
    let view = |s: &Settings| {
        let mut out = Vec::new();
        let mut value = serde_json::to_value(s).unwrap_or_default();
        if let Some(obj) = value.as_object_mut() {
            obj.remove("credentials");
            if let Some(auth) = obj.get_mut("auth").and_then(|a| a.as_object_mut()) {
                auth.insert(
                    "mode".into(),
                    serde_json::to_value(s.auth_mode()).unwrap_or_default(),
                );
                for key in applied.iter().filter_map(|k| k.strip_prefix("auth.")) {
                    auth.remove(key);
                }
            }
        }
        for (section, v) in value.as_object().into_iter().flatten() {
            flat(section, v, &mut out);
        }
        out.retain(|(k, _)| !applied.contains(&k.as_str()));
        out
    };
    let (old, new) = (view(running), view(loaded));
    let mut changed: Vec<String> = new
        .iter()
        .filter(|kv| !old.contains(kv))
        .map(|(k, _)| k.clone())
        .chain(
            old.iter()
                .filter(|(k, _)| !new.iter().any(|(n, _)| n == k))
                .map(|(k, _)| k.clone()),
        )
        .collect();
    changed.sort();
    changed.dedup();
    changed
}

/// A TOML syntax error as its position and the parser's message, never
/// the text around it.
fn check_toml_syntax(path: &Path, text: &str) -> Result<(), ConfigError> {
    let Err(e) = text.parse::<toml::Table>() else {
        return Ok(());
    };
    let at = e.span().map_or(0, |s| s.start.min(text.len()));
    let line = text[..at].matches('\n').count() + 1;
    let column = at - text[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
    let message = e.message().lines().next().unwrap_or("").trim().to_owned();
    Err(ConfigError::Parse(format!(
        "{}: TOML syntax error at line {line}, column {column}: {}",
        path.display(),
        without_values(&message)
    )))
}

/// A parse or type error with every quoted value replaced by `<value>`:
/// the messages of `config` and `toml` quote the offending value in
/// backticks or double quotes (`invalid type: string "abc", expected an
/// integer for key `x``), and that value may be a secret. Key names (in
/// backticks after `key `) are kept.
pub(crate) fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        let Some(len) = rest[open + 1..].find(quote) else {
            break;
        };
        let (before, quoted) = (&rest[..open], &rest[open + 1..open + 1 + len]);
        out.push_str(before);
        if quote == '`' && (before.ends_with("key ") || before.ends_with("field ")) {
            out.push('`');
            out.push_str(quoted);
            out.push('`');
        } else {
            out.push(quote);
            out.push_str("<value>");
            out.push(quote);
        }
        rest = &rest[open + len + 2..];
    }
    out.push_str(rest);
    out.replace('\n', " ")
}

/// Loopback, IPv4-mapped IPv6 (`::ffff:127.0.0.1`) included.
pub fn is_loopback(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
        v4 => v4.is_loopback(),
    }
}

/// A listener address in the file: `host:port`, or `""` for none.
mod listen_addr {
    use std::net::SocketAddr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!("`{text}` is not an address such as 127.0.0.1:8080"))
        })
    }

    pub fn serialize<S: Serializer>(addr: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        match addr {
            Some(a) => s.collect_str(a),
            None => s.serialize_str(""),
        }
    }
}

/// A 3.0 region name: lowercase letters, digits and dashes, with a dash.
pub fn is_region_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.contains('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Where 3.0 calls go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// The in-process emulator.
    Embedded,
    /// `scheme://authority`, where the authority may contain `{region}`.
    Url { https: bool, authority: String },
}

pub const REGION_PLACEHOLDER: &str = "{region}";

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Embedded => f.write_str("embedded"),
            Endpoint::Url {
                https: true,
                authority,
            } => write!(f, "https://{authority}"),
            Endpoint::Url {
                https: false,
                authority,
            } => write!(f, "http://{authority}"),
        }
    }
}

impl Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Endpoint::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Endpoint {
    pub fn parse(value: &str) -> Result<Endpoint, ConfigError> {
        let bad = |why: &str| {
            invalid(
                "upstream.endpoint",
                format!("{why}: expected `embedded` or http(s)://host[:port], got `{value}`"),
            )
        };
        if value == "embedded" {
            return Ok(Endpoint::Embedded);
        }
        let (https, rest) = if let Some(r) = value.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = value.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad("unknown scheme"));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        if authority.contains(['/', '?', '#', '@', ' ']) {
            return Err(bad("only scheme, host and port are allowed"));
        }
        // The authority must parse once a region is substituted in.
        let probe = authority.replace(REGION_PLACEHOLDER, "ap-guangzhou");
        if probe.contains(['{', '}']) || probe.parse::<http::uri::Authority>().is_err() {
            return Err(bad("not a valid host[:port]"));
        }
        Ok(Endpoint::Url {
            https,
            authority: authority.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sync_action_budget_and_aliases_have_defaults_and_can_be_set() {
        let s = Settings::load_with_env(None, EnvMap::new()).unwrap();
        assert_eq!(s.upstream.sync_action, SyncAction::Auto);
        assert_eq!(s.upstream.throttle_retry_budget_ms, 2000);
        assert!(!s.upstream.allow_embedded_off_loopback);
        assert!(s.legacy.documented_aliases);
        let s = Settings::load_with_env(
            None,
            env(&[
                ("SCF_BRIDGE__UPSTREAM__SYNC_ACTION", "invoke-function"),
                ("SCF_BRIDGE__UPSTREAM__THROTTLE_RETRY_BUDGET_MS", "0"),
                ("SCF_BRIDGE__LEGACY__DOCUMENTED_ALIASES", "false"),
            ]),
        )
        .unwrap();
        assert_eq!(s.upstream.sync_action, SyncAction::InvokeFunction);
        assert_eq!(s.upstream.throttle_retry_budget_ms, 0);
        assert!(!s.legacy.documented_aliases);
        let e = Settings::load_with_env(
            None,
            env(&[("SCF_BRIDGE__UPSTREAM__SYNC_ACTION", "sometimes")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("sync_action"), "{e}");
    }

    #[test]
    fn defaults_run_with_nothing_configured() {
        let s = Settings::load_with_env(None, EnvMap::new()).unwrap();
        assert_eq!(s.server.listen, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(s.upstream.endpoint, Endpoint::Embedded);
        assert_eq!(s.upstream.region, "ap-guangzhou");
        assert!(
            s.upstream.timeout_secs > 300,
            "above SCF's 300 s sync limit"
        );
        assert!(!s.credentials.is_configured());
        assert_eq!(s.server.header_read_timeout_ms, 10_000);
        assert_eq!(
            s.server.keepalive_idle_timeout_ms, 75_000,
            "nginx's default"
        );
    }

    #[test]
    fn keepalive_idle_timeout_is_set_by_file_or_environment_and_0_turns_it_off() {
        let s = Settings::load_with_env(
            None,
            env(&[("SCF_BRIDGE__SERVER__KEEPALIVE_IDLE_TIMEOUT_MS", "0")]),
        )
        .unwrap();
        assert_eq!(s.server.keepalive_idle_timeout_ms, 0);
        let dir = std::env::temp_dir().join(format!("scf-bridge-ka-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "[server]\nkeepalive_idle_timeout_ms = 5000\n").unwrap();
        let s = Settings::load_with_env(Some(&path), EnvMap::new()).unwrap();
        assert_eq!(s.server.keepalive_idle_timeout_ms, 5000);
        assert!(s
            .to_redacted_toml()
            .contains("keepalive_idle_timeout_ms = 5000"));
        let err = Settings::load_with_env(
            None,
            env(&[("SCF_BRIDGE__SERVER__KEEPALIVE_IDLE_TIMEOUT_MS", "-1")]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("keepalive_idle_timeout_ms"),
            "{err}"
        );
    }

    #[test]
    fn environment_overrides_keys_by_section() {
        let s = Settings::load_with_env(
            None,
            env(&[
                (
                    "SCF_BRIDGE__UPSTREAM__ENDPOINT",
                    "https://scf.{region}.tencentcloudapi.com",
                ),
                ("SCF_BRIDGE__UPSTREAM__TIMEOUT_SECS", "400"),
                ("SCF_BRIDGE__SERVER__LISTEN", "127.0.0.1:9000"),
            ]),
        )
        .unwrap();
        assert_eq!(s.upstream.timeout_secs, 400);
        assert_eq!(s.server.listen, Some("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(
            s.upstream.endpoint,
            Endpoint::Url {
                https: true,
                authority: "scf.{region}.tencentcloudapi.com".into()
            }
        );
    }

    #[test]
    fn tencentcloud_variables_set_bridge_credentials() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("TENCENTCLOUD_SECRET_ID", "AKIDabc"),
                ("TENCENTCLOUD_SECRET_KEY", "k"),
                ("TENCENTCLOUD_SESSION_TOKEN", "t"),
            ]),
        )
        .unwrap();
        assert_eq!(s.credentials.secret_id.as_deref(), Some("AKIDabc"));
        assert_eq!(s.credentials.secret_key.as_ref().unwrap().expose(), "k");
        assert_eq!(s.credentials.token.as_ref().unwrap().expose(), "t");
    }

    #[test]
    fn file_layers_over_defaults_and_env_over_file() {
        let dir = std::env::temp_dir().join(format!("scf-bridge-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "[upstream]\nregion = \"ap-shanghai\"\nendpoint = \"http://127.0.0.1:9\"\n",
        )
        .unwrap();
        let s = Settings::load_with_env(
            Some(&path),
            env(&[("SCF_BRIDGE__UPSTREAM__REGION", "ap-beijing")]),
        )
        .unwrap();
        assert_eq!(s.upstream.region, "ap-beijing");
        assert_eq!(s.upstream.endpoint.to_string(), "http://127.0.0.1:9");
        assert_eq!(s.server.listen, Some("127.0.0.1:8080".parse().unwrap()));
    }

    #[test]
    fn bad_values_name_the_key() {
        for (key, value, needle) in [
            (
                "SCF_BRIDGE__UPSTREAM__ENDPOINT",
                "ftp://x",
                "upstream.endpoint",
            ),
            (
                "SCF_BRIDGE__UPSTREAM__ENDPOINT",
                "https://h/path",
                "upstream.endpoint",
            ),
            (
                "SCF_BRIDGE__UPSTREAM__ENDPOINT",
                "https://{zone}.x",
                "upstream.endpoint",
            ),
            ("SCF_BRIDGE__UPSTREAM__REGION", "GZ", "upstream.region"),
            (
                "SCF_BRIDGE__UPSTREAM__REGION",
                "ap_guangzhou",
                "upstream.region",
            ),
            ("SCF_BRIDGE__SERVER__LISTEN", "nowhere", "server.listen"),
            (
                "SCF_BRIDGE__SERVER__TLS_LISTEN",
                "nowhere",
                "server.tls_listen",
            ),
            ("SCF_BRIDGE__ADMIN__LISTEN", "nowhere", "admin.listen"),
            (
                "SCF_BRIDGE__SERVER__HEADER_READ_TIMEOUT_MS",
                "0",
                "server.header_read_timeout_ms",
            ),
            (
                "SCF_BRIDGE__UPSTREAM__TIMEOUT_SECS",
                "0",
                "upstream.timeout_secs",
            ),
            (
                "SCF_BRIDGE__UPSTREAM__FUNCTION_READY_POLL_MS",
                "0",
                "upstream.function_ready_poll_ms",
            ),
            (
                "TENCENTCLOUD_SECRET_ID",
                "AKIDonly",
                "credentials.secret_key",
            ),
        ] {
            let err = Settings::load_with_env(None, env(&[(key, value)])).unwrap_err();
            let line = err.to_string();
            assert!(line.contains(needle), "{key}={value}: {line}");
            assert!(!line.contains('\n'), "one line: {line}");
        }
    }

    #[test]
    fn addresses_and_the_endpoint_are_typed_at_load_and_render_back() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("SCF_BRIDGE__ADMIN__LISTEN", ""),
                (
                    "SCF_BRIDGE__UPSTREAM__ENDPOINT",
                    "https://scf.{region}.example.com/",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(s.admin.listen, None);
        assert_eq!(s.server.tls_listen, None);
        let toml = s.to_redacted_toml();
        assert!(
            toml.contains("endpoint = \"https://scf.{region}.example.com\""),
            "{toml}"
        );
        assert!(toml.contains("listen = \"127.0.0.1:8080\""), "{toml}");
        assert_eq!(s.server.header_read_timeout(), Duration::from_secs(10));
        assert_eq!(
            s.server.keepalive_idle_timeout(),
            Some(Duration::from_secs(75))
        );
        assert_eq!(s.upstream.timeout(), Duration::from_secs(330));
        assert_eq!(s.auth.reload_interval(), Duration::from_secs(2));
    }

    #[test]
    fn redis_settings_default_to_off_and_name_their_key_when_wrong() {
        let s = Settings::load_with_env(None, EnvMap::new()).unwrap();
        assert_eq!(s.auth.replay_store, ReplayStoreKind::Memory);
        assert!(!s.uses_redis());
        assert_eq!(s.redis.key_prefix, "scf-bridge:");
        assert_eq!(s.redis.timeout_ms, 50);
        assert_eq!(s.redis.on_error, RedisOnError::Refuse);

        let s = Settings::load_with_env(
            None,
            env(&[
                ("SCF_BRIDGE__AUTH__REPLAY_STORE", "redis"),
                (
                    "SCF_BRIDGE__REDIS__URL",
                    "redis://10.0.0.1:7000, redis://10.0.0.2:7000",
                ),
                ("SCF_BRIDGE__REDIS__ON_ERROR", "local"),
            ]),
        )
        .unwrap();
        assert!(s.uses_redis());
        assert_eq!(
            s.redis.urls(),
            ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]
        );
        assert_eq!(s.redis.on_error, RedisOnError::Local);

        for (pairs, needle) in [
            (
                vec![("SCF_BRIDGE__AUTH__REPLAY_STORE", "redis")],
                "redis.url",
            ),
            (
                vec![("SCF_BRIDGE__REDIS__RATE_LIMITS", "true")],
                "redis.url",
            ),
            (
                vec![
                    ("SCF_BRIDGE__AUTH__REPLAY_STORE", "redis"),
                    ("SCF_BRIDGE__REDIS__URL", "http://redis:6379"),
                ],
                "redis.url",
            ),
            (
                vec![
                    ("SCF_BRIDGE__AUTH__REPLAY_STORE", "redis"),
                    ("SCF_BRIDGE__REDIS__URL", "redis://:hunter2@redis:6379"),
                ],
                "redis.password_file",
            ),
            (
                vec![
                    ("SCF_BRIDGE__AUTH__REPLAY_STORE", "redis"),
                    ("SCF_BRIDGE__REDIS__URL", "redis://redis:6379"),
                    ("SCF_BRIDGE__REDIS__TIMEOUT_MS", "0"),
                ],
                "redis.timeout_ms",
            ),
            (
                vec![
                    ("SCF_BRIDGE__AUTH__REPLAY_STORE", "redis"),
                    ("SCF_BRIDGE__REDIS__URL", "redis://redis:6379"),
                    ("SCF_BRIDGE__REDIS__RATE_LIMIT_SHARE", "1.5"),
                ],
                "redis.rate_limit_share",
            ),
            (
                vec![("SCF_BRIDGE__AUTH__REPLAY_STORE", "disk")],
                "replay_store",
            ),
        ] {
            let err = Settings::load_with_env(None, env(&pairs)).unwrap_err();
            let line = err.to_string();
            assert!(line.contains(needle), "{pairs:?}: {line}");
            assert!(!line.contains("hunter2"), "{line}");
        }
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Settings::load_with_env(None, env(&[("SCF_BRIDGE__UPSTREAM__ENDPIONT", "x")]))
            .unwrap_err();
        assert!(err.to_string().contains("endpiont"), "{err}");
    }

    #[test]
    fn allow_unauthenticated_only_permits_none_and_mapped_loopback_is_loopback() {
        // Off loopback with the flag but no explicit mode: still verify,
        // so clients are needed.
        let err = Settings::load_with_env(
            None,
            env(&[
                ("SCF_BRIDGE__SERVER__LISTEN", "0.0.0.0:8080"),
                ("SCF_BRIDGE__AUTH__ALLOW_UNAUTHENTICATED", "true"),
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("auth.clients"), "{err}");
        let s = Settings::load_with_env(
            None,
            env(&[
                ("SCF_BRIDGE__SERVER__LISTEN", "0.0.0.0:8080"),
                ("SCF_BRIDGE__AUTH__ALLOW_UNAUTHENTICATED", "true"),
                ("SCF_BRIDGE__AUTH__MODE", "none"),
                // Off loopback the embedded emulator is refused on its own.
                (
                    "SCF_BRIDGE__UPSTREAM__ENDPOINT",
                    "https://scf.tencentcloudapi.com",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(s.auth_mode(), AuthMode::None);
        let s = Settings::load_with_env(
            None,
            env(&[("SCF_BRIDGE__SERVER__LISTEN", "[::ffff:127.0.0.1]:8080")]),
        )
        .unwrap();
        assert_eq!(s.auth_mode(), AuthMode::None, "mapped loopback");
        assert!(is_loopback("::1".parse().unwrap()));
        assert!(!is_loopback("::ffff:10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn a_reload_names_the_settings_it_cannot_apply() {
        let a = Settings::load_with_env(None, EnvMap::new()).unwrap();
        assert!(restart_only_changes(&a, &a).is_empty());
        let b = Settings::load_with_env(
            None,
            env(&[
                ("SCF_BRIDGE__AUTH__MODE", "none"),
                ("SCF_BRIDGE__SERVER__MAX_PARAMS", "10"),
                ("SCF_BRIDGE__LOG__FILTER", "debug"),
                ("TENCENTCLOUD_SECRET_ID", "AKIDx"),
                ("TENCENTCLOUD_SECRET_KEY", "k"),
            ]),
        )
        .unwrap();
        // `none` is the effective mode of `a` already (loopback): no change.
        assert_eq!(restart_only_changes(&a, &b), ["server.max_params"]);
        let c = Settings::load_with_env(
            None,
            env(&[
                ("SCF_BRIDGE__AUTH__MODE", "verify"),
                ("SCF_BRIDGE__AUTH__CLIENTS_DIR", "/tmp"),
                ("SCF_BRIDGE__UPSTREAM__REGION", "ap-beijing"),
            ]),
        )
        .unwrap();
        assert_eq!(
            restart_only_changes(&a, &c),
            ["auth.mode", "upstream.region"]
        );
    }

    #[test]
    fn the_access_log_buffer_is_off_by_default_and_validated() {
        let s = Settings::load_with_env(None, EnvMap::new()).unwrap();
        assert_eq!(s.log.access_buffer_bytes, 0);
        assert_eq!(s.log.access_flush_ms, 1000);
        assert_eq!(s.log.access_buffering(), None);
        let s = Settings::load_with_env(
            None,
            env(&[
                ("SCF_BRIDGE__LOG__ACCESS_BUFFER_BYTES", "65536"),
                ("SCF_BRIDGE__LOG__ACCESS_FLUSH_MS", "250"),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.log.access_buffering(),
            Some((65536, Duration::from_millis(250)))
        );
        let s = Settings::load_with_env(
            None,
            env(&[("SCF_BRIDGE__LOG__ACCESS_BUFFER_BYTES", "1048576")]),
        )
        .unwrap();
        assert_eq!(s.log.access_buffer_bytes, 1024 * 1024, "1 MiB is allowed");
        // Off, a flush interval of 0 means nothing.
        Settings::load_with_env(None, env(&[("SCF_BRIDGE__LOG__ACCESS_FLUSH_MS", "0")])).unwrap();
        for (vars, line) in [
            (
                vec![("SCF_BRIDGE__LOG__ACCESS_BUFFER_BYTES", "1048577")],
                "log.access_buffer_bytes: must be at most 1048576 (1 MiB; 0 = off)",
            ),
            (
                vec![
                    ("SCF_BRIDGE__LOG__ACCESS_BUFFER_BYTES", "4096"),
                    ("SCF_BRIDGE__LOG__ACCESS_FLUSH_MS", "0"),
                ],
                "log.access_flush_ms: must be greater than 0 while log.access_buffer_bytes is set",
            ),
        ] {
            let err = Settings::load_with_env(None, env(&vars)).unwrap_err();
            assert_eq!(err.to_string(), format!("invalid configuration: {line}"));
        }
        let err =
            Settings::load_with_env(None, env(&[("SCF_BRIDGE__LOG__ACCESS_BUFFER_BYTES", "-1")]))
                .unwrap_err()
                .to_string();
        assert!(err.contains("log.access_buffer_bytes"), "{err}");
        // A reload cannot start or stop buffering: named as needing a restart.
        let a = Settings::load_with_env(None, EnvMap::new()).unwrap();
        let b = Settings::load_with_env(
            None,
            env(&[
                ("SCF_BRIDGE__LOG__ACCESS_BUFFER_BYTES", "4096"),
                ("SCF_BRIDGE__LOG__ACCESS_FLUSH_MS", "500"),
                ("SCF_BRIDGE__LOG__FILTER", "debug"),
            ]),
        )
        .unwrap();
        assert_eq!(
            restart_only_changes(&a, &b),
            ["log.access_buffer_bytes", "log.access_flush_ms"]
        );
    }

    #[test]
    fn config_errors_never_print_secret_values() {
        let dir = std::env::temp_dir().join(format!("scf-bridge-cfgsecret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        for text in [
            "[credentials]\nsecret_id = \"AKIDx\"\nsecret_key = \"SUPERSECRETVALUE\n",
            "[credentials]\nsecret_id = \"AKIDx\"\nsecret_key = SUPERSECRETVALUE\n",
            "[credentials]\nsecret_id = \"AKIDx\"\nsecret_key = \"SUPERSECRETVALUE\" x\n",
            "[[auth.clients]]\nsecret_id = \"AKIDx\"\nsecret_key = [\"SUPERSECRETVALUE\"]\n",
        ] {
            std::fs::write(&path, text).unwrap();
            let err = Settings::load_with_env(Some(&path), EnvMap::new()).unwrap_err();
            let line = err.to_string();
            assert!(!line.contains("SUPERSECRETVALUE"), "{line}");
            assert!(!line.contains('\n'), "one line: {line}");
        }
        let err = Settings::load_with_env(
            None,
            env(&[("SCF_BRIDGE__AUTH__MAX_SKEW_SECS", "SUPERSECRETVALUE")]),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("SUPERSECRETVALUE"), "{err}");
        assert!(err.to_string().contains("max_skew_secs"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_rendering() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("TENCENTCLOUD_SECRET_ID", "AKIDvisible"),
                ("TENCENTCLOUD_SECRET_KEY", "super-secret-key"),
                ("TENCENTCLOUD_SESSION_TOKEN", "session-token-value"),
            ]),
        )
        .unwrap();
        for text in [format!("{s:?}"), s.to_redacted_toml()] {
            assert!(!text.contains("super-secret-key"), "{text}");
            assert!(!text.contains("session-token-value"), "{text}");
            assert!(text.contains("AKIDvisible"));
            assert!(text.contains("<redacted>"));
        }
    }

    fn file_with(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("scf-bridge-msg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_bad_enum_value_lists_the_valid_ones() {
        for (var, value, line) in [
            (
                "SCF_BRIDGE__AUTH__MODE",
                "verfy",
                "auth.mode: \"verfy\" is not one of none, verify",
            ),
            (
                "SCF_BRIDGE__UPSTREAM__MODE",
                "dryrun",
                "upstream.mode: \"dryrun\" is not one of dry-run, forward",
            ),
            (
                "SCF_BRIDGE__LOG__FORMAT",
                "jsn",
                "log.format: \"jsn\" is not one of auto, json, text",
            ),
        ] {
            let err = Settings::load_with_env(None, env(&[(var, value)])).unwrap_err();
            assert_eq!(err.to_string(), format!("invalid configuration: {line}"));
        }
        let path = file_with(
            "enum.toml",
            "[[auth.clients]]\nsecret_id = \"a\"\nsecret_key = \"k\"\nupstream = \"me\"\n",
        );
        let err = Settings::load_with_env(Some(&path), EnvMap::new()).unwrap_err();
        assert!(
            err.to_string().contains("is not one of bridge, self"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_key_names_the_closest_valid_key_and_where_it_was_set() {
        let path = file_with("typo.toml", "[upstream]\nendpiont = \"x\"\n");
        let err = Settings::load_with_env(Some(&path), EnvMap::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid configuration: upstream.endpiont in {} is not a known key; did you mean upstream.endpoint?",
                path.display()
            )
        );
        let err = Settings::load_with_env(None, env(&[("SCF_BRIDGE__SERVER__LISTN", "x")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable SCF_BRIDGE__SERVER__LISTN"),
            "{err}"
        );
        assert!(err.contains("did you mean server.listen?"), "{err}");
    }

    #[test]
    fn a_toml_syntax_error_names_file_and_line_in_one_line_without_the_text() {
        let path = file_with(
            "syntax.toml",
            "[credentials]\nsecret_id = \"AKIDx\"\nsecret_key = \"TopSecretValue\n",
        );
        let err = Settings::load_with_env(Some(&path), EnvMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "invalid configuration: {}: TOML syntax error at line 3, column ",
                path.display()
            )),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        assert!(!err.contains("TopSecretValue"), "{err}");
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_not_shown() {
        let path = file_with(
            "secret-type.toml",
            "[credentials]\nsecret_id = \"AKIDx\"\nsecret_key = [\"TopSecret99\"]\n",
        );
        let err = Settings::load_with_env(Some(&path), EnvMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("credentials.secret_key"), "{err}");
        assert!(!err.contains("TopSecret99"), "{err}");
    }

    #[test]
    fn list_keys_are_set_from_the_environment_comma_separated() {
        let s = Settings::load_with_env(
            None,
            env(&[("SCF_BRIDGE__AUTH__SIGNING_HOSTS", "a.example, b.example")]),
        )
        .unwrap();
        assert_eq!(s.auth.signing_hosts, vec!["a.example", "b.example"]);
        let s = Settings::load_with_env(None, env(&[("SCF_BRIDGE__AUTH__SIGNING_HOSTS", "one")]))
            .unwrap();
        assert_eq!(s.auth.signing_hosts, vec!["one"]);
    }

    #[test]
    fn region_follows_the_request_rule() {
        let s =
            Settings::load_with_env(None, env(&[("SCF_BRIDGE__UPSTREAM__REGION", "sh")])).unwrap();
        assert_eq!(s.default_region(), "ap-shanghai");
        let s = Settings::load_with_env(
            None,
            env(&[("SCF_BRIDGE__UPSTREAM__REGION", "ap-shanghai-fsi")]),
        )
        .unwrap();
        assert_eq!(s.default_region(), "ap-shanghai-fsi");
        for bad in ["GZ", "guangzhou", "ap_guangzhou", ""] {
            let err = Settings::load_with_env(None, env(&[("SCF_BRIDGE__UPSTREAM__REGION", bad)]))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("upstream.region: unknown region"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn listeners_must_be_distinct() {
        for (vars, key) in [
            (
                vec![("SCF_BRIDGE__ADMIN__LISTEN", "127.0.0.1:8080")],
                "admin.listen",
            ),
            (
                vec![
                    ("SCF_BRIDGE__SERVER__LISTEN", "0.0.0.0:9000"),
                    ("SCF_BRIDGE__ADMIN__LISTEN", "127.0.0.1:9000"),
                    ("SCF_BRIDGE__AUTH__MODE", "none"),
                    ("SCF_BRIDGE__AUTH__ALLOW_UNAUTHENTICATED", "true"),
                ],
                "admin.listen",
            ),
        ] {
            let err = Settings::load_with_env(None, env(&vars))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("{key}: ")) && err.contains("same port"),
                "{err}"
            );
        }
        // Port 0 (any free port) never collides.
        Settings::load_with_env(
            None,
            env(&[
                ("SCF_BRIDGE__SERVER__LISTEN", "127.0.0.1:0"),
                ("SCF_BRIDGE__ADMIN__LISTEN", "127.0.0.1:0"),
            ]),
        )
        .unwrap();
    }
}
