//! Assembles a running bridge from settings — credentials, the embedded
//! emulator when asked for, the upstream pool, the listeners, the admin
//! server — and owns its lifecycle: readiness, reload, drain and deadline.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::actions::ActionSettings;
use crate::admin::{self, Admin, LogControl, Readiness};
use crate::auth::clients::{self, ClientSource};
use crate::auth::{AuthMode, ClientSet, ReplayMemory, SharedReplay, UpstreamIdentity, Verifier};
use crate::config::{Endpoint, ServerRuntime, Settings};
use crate::credentials::{KeyPair, Swappable};
use crate::emulator::{self, EmulatorConfig};
use crate::server::runtime::{self, WorkerSockets};
use crate::server::{self, Frontend, Limits};
use crate::tls::{self, CertFiles, TlsConfigCell};
use crate::upstream::Upstream;
use crate::walk::{system_clock, Bridge, Clock};

/// Start-up failures, each one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the serving threads: {0}")]
    Workers(std::io::Error),
    #[error("cannot start the embedded SCF emulator: {0}")]
    Emulator(std::io::Error),
    #[error("invalid configuration: auth.clients: {0}")]
    Clients(String),
    #[error("invalid configuration: server.tls_cert: {0}")]
    Tls(String),
    #[error("upstream: {0}")]
    Upstream(String),
    #[error("{0}")]
    Redis(String),
    #[error("no credentials: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, or [credentials], to call {0}")]
    NoCredentials(String),
}

/// What the caller supplies besides settings.
pub struct StartOptions {
    pub clock: Clock,
    /// Run-time control of the log filter, for the admin endpoint and reloads.
    pub log: Option<Arc<dyn LogControl>>,
    /// The configuration file, re-read on reload.
    pub config_file: Option<PathBuf>,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            clock: system_clock(),
            log: None,
            config_file: None,
        }
    }
}

/// A bridge that is accepting connections.
pub struct Running {
    /// The plain listener's address, if any.
    pub addr: Option<SocketAddr>,
    /// The TLS listener's address, if any.
    pub tls_addr: Option<SocketAddr>,
    pub admin_addr: Option<SocketAddr>,
    /// Where 3.0 calls go (the emulator's address when embedded).
    pub upstream: Endpoint,
    pub readiness: Readiness,
    pub reloader: Arc<Reloader>,
    /// Completes once shutdown has run its course.
    pub task: JoinHandle<()>,
}

/// Bind, start the emulator if embedded, and serve until `shutdown`.
pub async fn start(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    start_with(settings, shutdown, StartOptions::default()).await
}

/// Every check `serve` makes before it takes a port: the configuration's
/// values, the client keys (entries, key files, `clients_dir`), the TLS
/// certificate and key, `upstream.ca_file`, and the bridge credentials a
/// forwarding upstream needs. `check-config` runs exactly this, so its
/// success means `serve` starts unless a port is taken.
pub fn preflight(settings: &Settings) -> Result<(), StartError> {
    settings.validate()?;
    let clients = match settings.auth_mode() {
        AuthMode::Verify => Some(
            client_source(settings)
                .load()
                .map_err(StartError::Clients)?,
        ),
        AuthMode::None => None,
    };
    if let (Some(cert), Some(key)) = (&settings.server.tls_cert, &settings.server.tls_key) {
        let files = CertFiles {
            cert: cert.clone(),
            key: key.clone(),
        };
        tls::load(&files).map_err(StartError::Tls)?;
    }
    crate::upstream::client_tls_config(settings.upstream.ca_file.as_deref(), "upstream.ca_file")
        .map_err(StartError::Upstream)?;
    let needs_bridge_keys = match &clients {
        None => true,
        Some(set) => {
            set.needs_bridge_credentials()
                || settings.auth.clients_dir_upstream == UpstreamIdentity::Bridge
        }
    };
    if settings.upstream.endpoint != Endpoint::Embedded
        && needs_bridge_keys
        && KeyPair::from_settings(&settings.credentials).is_none()
    {
        return Err(StartError::NoCredentials(
            settings.upstream.endpoint.to_string(),
        ));
    }
    Ok(())
}

pub async fn start_with(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: StartOptions,
) -> Result<Running, StartError> {
    preflight(&settings)?;
    crate::metrics::handle();
    let readiness = Readiness::default();
    let reload_every = settings.auth.reload_interval();
    let mode = settings.auth_mode();
    let source = client_source(&settings);
    let clients = match mode {
        AuthMode::Verify => Some(source.load().map_err(StartError::Clients)?),
        AuthMode::None => None,
    };
    let client_count = clients.as_ref().map_or(0, ClientSet::len);
    // Created before the emulator, which follows it as keys are reloaded.
    let client_cell = clients.clone().map(|set| Arc::new(Swappable::new(set)));
    let live_clients = client_cell.clone();
    let needs_bridge_keys = match &clients {
        None => true,
        Some(set) => {
            set.needs_bridge_credentials()
                || settings.auth.clients_dir_upstream == UpstreamIdentity::Bridge
        }
    };
    let configured = KeyPair::from_settings(&settings.credentials);
    let (endpoint, keys) = match settings.upstream.endpoint.clone() {
        Endpoint::Embedded => {
            // With nothing configured, the bridge and its emulator share a
            // key pair that lives only in this process.
            let keys = configured.unwrap_or_else(KeyPair::ephemeral);
            let addr = start_emulator(&keys, live_clients.clone()).await?;
            let endpoint = Endpoint::Url {
                https: false,
                authority: addr.to_string(),
            };
            (endpoint, Some(keys))
        }
        url => {
            if needs_bridge_keys && configured.is_none() {
                return Err(StartError::NoCredentials(
                    settings.upstream.endpoint.to_string(),
                ));
            }
            (url, configured)
        }
    };
    let upstream = Upstream::new(&endpoint, &settings.upstream).map_err(StartError::Upstream)?;
    let credentials = Arc::new(Swappable::new(keys));
    let source = Arc::new(Swappable::new(source));

    let mut replay_capacity_used = None;
    let verifier = match client_cell.clone() {
        None => {
            tracing::warn!("legacy signatures are not verified (auth.mode = none)");
            None
        }
        Some(cell) => {
            tokio::spawn(clients::watch(source.clone(), cell.clone(), reload_every));
            // Unset: 10,000 requests/s over the whole window.
            let capacity = settings
                .auth
                .replay_capacity
                .unwrap_or_else(|| ReplayMemory::capacity_for(10_000, settings.auth.max_skew_secs));
            let replay = ReplayMemory::new(capacity, settings.auth.max_skew_secs)
                .with_client_share(settings.auth.replay_client_share_percent);
            replay_capacity_used = Some(replay.capacity());
            crate::metrics::replay_fill(0, replay.capacity());
            // The memory starts empty: requests signed before this start
            // (less the grace) may have been accepted by the previous run.
            let started = (options.clock)();
            Some(Arc::new(Verifier {
                clients: cell,
                signing_hosts: settings.auth.signing_hosts.clone(),
                max_skew_secs: settings.auth.max_skew_secs,
                replay,
                not_before: Some(started.saturating_sub(settings.auth.restart_grace_secs)),
            }))
        }
    };

    // Redis is connected to in the background: the bridge starts while it
    // is down (docs/operations.md, "Shared Redis").
    let redis = match settings.uses_redis() {
        true => {
            let redis =
                crate::redis_conn::SharedRedis::new(&settings.redis).map_err(StartError::Redis)?;
            tokio::spawn(
                redis
                    .clone()
                    .watch(reload_every.min(Duration::from_secs(1))),
            );
            Some(redis)
        }
        false => None,
    };
    let shared_replay = match (&redis, &verifier, settings.auth.replay_store) {
        (Some(redis), Some(_), crate::config::ReplayStoreKind::Redis) => Some(SharedReplay {
            redis: redis.clone(),
            max_skew_secs: settings.auth.max_skew_secs,
            margin_secs: settings.redis.expiry_margin_secs,
        }),
        _ => None,
    };
    let budget = match (&redis, settings.redis.rate_limits) {
        (Some(redis), true) => Some(crate::ratelimit::ThrottleBudget::new(
            redis.clone(),
            &settings.redis,
        )),
        _ => None,
    };

    let tls_cell = match settings.server.tls_listen {
        Some(_) => {
            let files = CertFiles {
                cert: settings.server.tls_cert.clone().expect("validated"),
                key: settings.server.tls_key.clone().expect("validated"),
            };
            let (config, bytes) = tls::load(&files).map_err(StartError::Tls)?;
            let cell: TlsConfigCell = Arc::new(Swappable::new(Arc::new(config)));
            tokio::spawn(tls::watch(files, cell.clone(), bytes, reload_every));
            Some(cell)
        }
        None => None,
    };
    let listeners = match settings.server.runtime {
        ServerRuntime::MultiThread => {
            let plain = match settings.server.listen {
                Some(addr) => Some(bind(addr).await?),
                None => None,
            };
            let tls = match settings.server.tls_listen {
                Some(addr) => Some(bind(addr).await?),
                None => None,
            };
            Listeners::Shared { plain, tls }
        }
        ServerRuntime::ThreadPerCore => {
            let workers = settings.worker_threads();
            let sockets =
                WorkerSockets::bind(workers, settings.server.listen, settings.server.tls_listen)
                    .map_err(|(addr, source)| StartError::Listen { addr, source })?;
            Listeners::PerWorker { workers, sockets }
        }
    };
    let admin_listener = match settings.admin.listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };

    let (deadline_tx, deadline_rx) = tokio::sync::watch::channel(false);
    let callers = Arc::new(crate::callers::Callers::default());
    let frontend = Arc::new(Frontend {
        bridge: Bridge {
            upstream: Arc::new(upstream),
            default_region: settings.default_region(),
            credentials: credentials.clone(),
            verifier,
            shared_replay,
            budget,
            mode: settings.upstream.mode,
            clock: options.clock,
            gate: crate::gate::GateLimits::from_settings(&settings.server),
            actions: ActionSettings {
                wait_limit: Duration::from_millis(settings.upstream.function_ready_timeout_ms),
                wait_interval: Duration::from_millis(settings.upstream.function_ready_poll_ms),
                sync_action: settings.upstream.sync_action,
                documented_aliases: settings.legacy.documented_aliases,
                throttle_retry_budget: Duration::from_millis(
                    settings.upstream.throttle_retry_budget_ms,
                ),
                request_deadline: Duration::from_secs(settings.upstream.timeout_secs),
                ..Default::default()
            },
        },
        limits: Limits::with_connections(
            settings.server.max_in_flight,
            settings.server.max_buffered_bytes,
            settings.server.max_connections,
        ),
        settings: settings.server.clone(),
        deadline: deadline_rx,
        function_label: settings.metrics.function_label,
        callers: callers.clone(),
    });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = {
        let stop_rx = stop_rx.clone();
        move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        }
    };
    // Connections get the deadline plus a moment to write their answers.
    let drain = settings.server.shutdown_deadline() + Duration::from_secs(2);
    let mut servers = Vec::new();
    let (addr, tls_addr);
    match listeners {
        Listeners::Shared { plain, tls } => {
            addr = plain.as_ref().and_then(|l| l.local_addr().ok());
            tls_addr = tls.as_ref().and_then(|l| l.local_addr().ok());
            if let Some(listener) = plain {
                servers.push(tokio::spawn(server::serve(
                    listener,
                    None,
                    frontend.clone(),
                    stopped(),
                    drain,
                )));
            }
            if let Some(listener) = tls {
                servers.push(tokio::spawn(server::serve(
                    listener,
                    tls_cell.clone(),
                    frontend.clone(),
                    stopped(),
                    drain,
                )));
            }
        }
        Listeners::PerWorker { workers, sockets } => {
            addr = sockets.plain_addr();
            tls_addr = sockets.tls_addr();
            servers = runtime::spawn(
                workers,
                sockets,
                tls_cell.clone(),
                frontend.clone(),
                stop_rx.clone(),
                drain,
            )
            .map_err(StartError::Workers)?;
        }
    }
    let admin_addr = admin_listener.as_ref().and_then(|l| l.local_addr().ok());
    if let Some(listener) = admin_listener {
        let admin = Arc::new(Admin {
            readiness: readiness.clone(),
            log: options.log.clone(),
            callers: Some(callers.clone()),
            clock: frontend.bridge.clock.clone(),
            redis: redis.clone(),
        });
        tokio::spawn(admin::serve(listener, admin));
    }

    let reloader = Arc::new(Reloader {
        running: settings.clone(),
        config_file: options.config_file,
        credentials,
        source,
        clients: client_cell,
        log: options.log,
    });

    let drain_delay = settings.server.drain_delay();
    let deadline = settings.server.shutdown_deadline();
    let ready = readiness.clone();
    let task = tokio::spawn(async move {
        shutdown.await;
        ready.set_not_ready();
        tracing::info!(
            drain_delay_secs = drain_delay.as_secs(),
            "shutdown: not ready; still accepting during the drain delay"
        );
        tokio::time::sleep(drain_delay).await;
        tracing::info!(
            deadline_secs = deadline.as_secs(),
            "shutdown: stopped accepting; waiting for requests in flight"
        );
        let _ = stop_tx.send(true);
        let all = async {
            for s in servers.iter_mut() {
                let _ = s.await;
            }
        };
        tokio::pin!(all);
        if tokio::time::timeout(deadline, &mut all).await.is_err() {
            tracing::warn!("shutdown deadline reached; answering requests still running");
            let _ = deadline_tx.send(true);
            all.await;
        }
        // Every request has been answered and logged: buffered access
        // lines go out before the process's last lines.
        crate::access_log::flush();
        tracing::info!("shutdown complete");
    });

    let serving_threads = match settings.server.runtime {
        ServerRuntime::ThreadPerCore => settings.worker_threads(),
        ServerRuntime::MultiThread => tokio::runtime::Handle::current().metrics().num_workers(),
    };
    readiness.set_ready();
    let summary = startup_summary(&StartupFacts {
        addr,
        tls_addr,
        admin_addr,
        endpoint: &endpoint,
        embedded: settings.upstream.endpoint == Endpoint::Embedded,
        mode: settings.upstream.mode,
        auth: mode,
        client_keys: client_count,
        replay_capacity: replay_capacity_used,
    });
    tracing::info!(
        addr = ?addr,
        tls_addr = ?tls_addr,
        admin_addr = ?admin_addr,
        auth = ?mode,
        runtime = ?settings.server.runtime,
        workers = serving_threads,
        upstream_mode = ?settings.upstream.mode,
        upstream = ?endpoint,
        client_keys = client_count,
        "scf-bridge ready: {summary}"
    );
    Ok(Running {
        addr,
        tls_addr,
        admin_addr,
        upstream: endpoint,
        readiness,
        reloader,
        task,
    })
}

/// What the start-up line says.
struct StartupFacts<'a> {
    addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    endpoint: &'a Endpoint,
    embedded: bool,
    mode: crate::config::UpstreamMode,
    auth: AuthMode,
    client_keys: usize,
    replay_capacity: Option<usize>,
}

/// The start-up line in words: listeners, upstream, auth, keys, replay store.
fn startup_summary(f: &StartupFacts<'_>) -> String {
    let mut listeners: Vec<String> = Vec::new();
    if let Some(a) = f.addr {
        listeners.push(format!("http://{a}"));
    }
    if let Some(a) = f.tls_addr {
        listeners.push(format!("https://{a}"));
    }
    let admin = match f.admin_addr {
        Some(a) => format!("admin on http://{a}"),
        None => "no admin listener".to_owned(),
    };
    let target = match f.endpoint {
        Endpoint::Embedded => "the embedded SCF emulator".to_owned(),
        Endpoint::Url { https, authority } => {
            let scheme = if *https { "https" } else { "http" };
            if f.embedded {
                format!("the embedded SCF emulator at {scheme}://{authority}")
            } else {
                format!("{scheme}://{authority}")
            }
        }
    };
    let upstream = match f.mode {
        crate::config::UpstreamMode::Forward => format!("calls forwarded to {target}"),
        crate::config::UpstreamMode::DryRun => {
            format!("dry-run: calls to {target} are logged, never sent")
        }
    };
    let auth = match f.auth {
        AuthMode::Verify => format!(
            "legacy signatures verified against {} client key{}",
            f.client_keys,
            if f.client_keys == 1 { "" } else { "s" }
        ),
        AuthMode::None => "legacy signatures NOT verified (auth.mode = none)".to_owned(),
    };
    let replay = match f.replay_capacity {
        Some(n) => format!("replay memory in this process ({n} entries)"),
        None => "no replay memory".to_owned(),
    };
    format!(
        "listening on {}, {admin}; {upstream}; {auth}; {replay}",
        listeners.join(" and ")
    )
}

/// The legacy listeners, per serving model.
enum Listeners {
    /// One socket per address, one accept loop each on the caller's runtime.
    Shared {
        plain: Option<TcpListener>,
        tls: Option<TcpListener>,
    },
    /// One socket per address and worker thread.
    PerWorker {
        workers: usize,
        sockets: WorkerSockets,
    },
}

fn client_source(settings: &Settings) -> ClientSource {
    ClientSource {
        entries: settings.auth.clients.clone(),
        dir: settings.auth.clients_dir.clone(),
        dir_upstream: settings.auth.clients_dir_upstream,
    }
}

async fn start_emulator(
    keys: &KeyPair,
    clients: Option<Arc<Swappable<ClientSet>>>,
) -> Result<SocketAddr, StartError> {
    let mut known = HashMap::new();
    known.insert(keys.secret_id.clone(), keys.secret_key.expose().to_owned());
    // Callers signing for themselves (`upstream = "self"`) must be known to
    // the emulator too, including keys added by a reload.
    let live_keys: Option<emulator::LiveKeys> = clients.map(|cell| {
        let lookup: emulator::LiveKeys = Arc::new(move |id: &str| {
            cell.load()
                .get(id)
                .map(|c| c.secret_key.expose().to_owned())
        });
        lookup
    });
    let emu = EmulatorConfig {
        keys: known,
        max_skew_secs: 300,
        live_keys,
        ..EmulatorConfig::default()
    };
    let addr = emulator::spawn_ephemeral(Arc::new(emu))
        .await
        .map_err(StartError::Emulator)?;
    tracing::info!(%addr, "embedded SCF 3.0 emulator started");
    Ok(addr)
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })
}

/// Applies what can change safely at run time (SIGHUP): the bridge's key
/// pair, the client set and its sources, the log filter. Certificates and
/// key directories are also watched on their own. A configuration that does
/// not validate changes nothing.
pub struct Reloader {
    /// The settings the process started with: what a reload cannot change.
    running: Settings,
    config_file: Option<PathBuf>,
    credentials: Arc<Swappable<Option<KeyPair>>>,
    source: Arc<Swappable<ClientSource>>,
    clients: Option<Arc<Swappable<ClientSet>>>,
    log: Option<Arc<dyn LogControl>>,
}

impl Reloader {
    pub fn reload(&self) -> Result<(), String> {
        let result = self.try_reload();
        match &result {
            Ok(()) => tracing::info!("configuration reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "reload failed; keeping the running configuration")
            }
        }
        crate::metrics::reload("config", result.is_ok());
        result
    }

    fn try_reload(&self) -> Result<(), String> {
        let settings = Settings::load(self.config_file.as_deref()).map_err(|e| e.to_string())?;
        let unapplied = crate::config::restart_only_changes(&self.running, &settings);
        if !unapplied.is_empty() {
            tracing::warn!(
                settings = %unapplied.join(", "),
                "reload: these changed settings need a restart and are not applied"
            );
        }
        let source = client_source(&settings);
        if let Some(cell) = &self.clients {
            // Load before storing anything, so a bad set changes nothing.
            let set = source.load()?;
            cell.store(set);
        }
        if let Some(log) = &self.log {
            if std::env::var_os("SCF_BRIDGE_LOG").is_none() {
                log.set(&settings.log.filter)?;
            }
        }
        self.source.store(source);
        if let Some(keys) = KeyPair::from_settings(&settings.credentials) {
            if self.credentials.load().as_ref().as_ref() != Some(&keys) {
                self.credentials.store(Some(keys));
                crate::metrics::reload("credentials", true);
                tracing::info!("bridge credentials replaced");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_startup_line_says_it_in_words() {
        let endpoint = Endpoint::Url {
            https: true,
            authority: "scf.tencentcloudapi.com".into(),
        };
        let line = startup_summary(&StartupFacts {
            addr: Some("127.0.0.1:8080".parse().unwrap()),
            tls_addr: Some("0.0.0.0:8443".parse().unwrap()),
            admin_addr: Some("127.0.0.1:9901".parse().unwrap()),
            endpoint: &endpoint,
            embedded: false,
            mode: crate::config::UpstreamMode::Forward,
            auth: AuthMode::Verify,
            client_keys: 3,
            replay_capacity: Some(6000),
        });
        assert_eq!(
            line,
            "listening on http://127.0.0.1:8080 and https://0.0.0.0:8443, admin on http://127.0.0.1:9901; \
             calls forwarded to https://scf.tencentcloudapi.com; \
             legacy signatures verified against 3 client keys; replay memory in this process (6000 entries)"
        );
        let local = Endpoint::Url {
            https: false,
            authority: "127.0.0.1:4000".into(),
        };
        let line = startup_summary(&StartupFacts {
            addr: Some("127.0.0.1:8080".parse().unwrap()),
            tls_addr: None,
            admin_addr: None,
            endpoint: &local,
            embedded: true,
            mode: crate::config::UpstreamMode::DryRun,
            auth: AuthMode::None,
            client_keys: 0,
            replay_capacity: None,
        });
        assert!(
            line.contains("dry-run: calls to the embedded SCF emulator at http://127.0.0.1:4000"),
            "{line}"
        );
        assert!(line.contains("NOT verified"), "{line}");
        assert!(line.contains("no admin listener"), "{line}");
    }
}
