//! Assembles a running bridge from settings: the credentials, the embedded
//! emulator when asked for, the upstream pool and the listener.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::auth::{self, AuthMode, ClientSet, ReplayMemory, UpstreamIdentity, Verifier};
use crate::config::{Endpoint, Settings};
use crate::credentials::{KeyPair, Swappable};
use crate::emulator::{self, EmulatorConfig};
use crate::pipeline::{system_clock, Bridge, Clock};
use crate::server::{self, Frontend};
use crate::tls::{self, CertFiles, TlsConfigCell};
use crate::upstream::Upstream;

/// A bridge that is accepting connections.
pub struct Running {
    /// The plain listener's address, if any.
    pub addr: Option<SocketAddr>,
    /// The TLS listener's address, if any.
    pub tls_addr: Option<SocketAddr>,
    /// Where 3.0 calls go (the emulator's address when embedded).
    pub upstream: Endpoint,
    pub task: JoinHandle<()>,
}

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
    #[error("cannot start the embedded SCF emulator: {0}")]
    Emulator(std::io::Error),
    #[error("invalid configuration: auth.clients: {0}")]
    Clients(String),
    #[error("invalid configuration: server.tls_cert: {0}")]
    Tls(String),
    #[error("upstream: {0}")]
    Upstream(String),
    #[error("no credentials: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, or [credentials], to call {0}")]
    NoCredentials(String),
}

/// Bind, start the emulator if embedded, and serve until `shutdown`.
pub async fn start(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    start_with_clock(settings, shutdown, system_clock()).await
}

pub async fn start_with_clock(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Clock,
) -> Result<Running, StartError> {
    settings.validate()?;
    let reload_every = Duration::from_millis(settings.auth.reload_interval_ms.max(100));
    let mode = settings.auth_mode();
    let clients = match mode {
        AuthMode::Verify => Some(
            ClientSet::load(
                &settings.auth.clients,
                settings.auth.clients_dir.as_deref(),
                settings.auth.clients_dir_upstream,
            )
            .map_err(StartError::Clients)?,
        ),
        AuthMode::None => None,
    };
    let needs_bridge_keys = match &clients {
        None => true,
        Some(set) => {
            set.needs_bridge_credentials()
                || settings.auth.clients_dir_upstream == UpstreamIdentity::Bridge
        }
    };
    let configured = KeyPair::from_settings(&settings.credentials);
    let (endpoint, keys) = match settings.endpoint() {
        Endpoint::Embedded => {
            // With nothing configured, the bridge and its emulator share a
            // key pair that lives only in this process.
            let keys = configured.unwrap_or_else(KeyPair::ephemeral);
            let mut known = HashMap::new();
            known.insert(keys.secret_id.clone(), keys.secret_key.expose().to_owned());
            // Callers signing for themselves must be known to the emulator too.
            for (id, c) in clients.iter().flat_map(|s| s.iter()) {
                known.insert(id.to_owned(), c.secret_key.expose().to_owned());
            }
            let emu = EmulatorConfig {
                keys: known,
                max_skew_secs: 300,
            };
            let addr = emulator::spawn_ephemeral(Arc::new(emu))
                .await
                .map_err(StartError::Emulator)?;
            tracing::info!(%addr, "embedded SCF 3.0 emulator started");
            let endpoint = Endpoint::Url {
                https: false,
                authority: addr.to_string(),
            };
            (endpoint, Some(keys))
        }
        url => {
            if needs_bridge_keys && configured.is_none() {
                return Err(StartError::NoCredentials(
                    settings.upstream.endpoint.clone(),
                ));
            }
            (url, configured)
        }
    };
    let upstream = Upstream::new(&endpoint, &settings.upstream).map_err(StartError::Upstream)?;

    let verifier = match clients {
        None => {
            tracing::warn!("legacy signatures are not verified (auth.mode = none)");
            None
        }
        Some(set) => {
            let cell = Arc::new(Swappable::new(set));
            tokio::spawn(auth::clients::watch(
                settings.auth.clients.clone(),
                settings.auth.clients_dir.clone(),
                settings.auth.clients_dir_upstream,
                cell.clone(),
                reload_every,
            ));
            Some(Verifier {
                clients: cell,
                signing_hosts: settings.auth.signing_hosts.clone(),
                max_skew_secs: settings.auth.max_skew_secs,
                replay: ReplayMemory::new(settings.replay_capacity(), settings.auth.max_skew_secs),
            })
        }
    };

    let plain = match settings.listen_addr()? {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let tls = match settings.tls_listen_addr()? {
        Some(addr) => {
            let files = CertFiles {
                cert: settings.server.tls_cert.clone().expect("validated"),
                key: settings.server.tls_key.clone().expect("validated"),
            };
            let (config, bytes) = tls::load(&files).map_err(StartError::Tls)?;
            let cell: TlsConfigCell = Arc::new(Swappable::new(Arc::new(config)));
            tokio::spawn(tls::watch(files, cell.clone(), bytes, reload_every));
            Some((bind(addr).await?, cell))
        }
        None => None,
    };

    let frontend = Arc::new(Frontend {
        bridge: Bridge {
            upstream,
            default_region: settings.upstream.region.clone(),
            credentials: Arc::new(Swappable::new(keys)),
            verifier,
            clock,
        },
        settings: settings.server.clone(),
    });
    let drain = Duration::from_secs(30);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut tasks = Vec::new();
    let mut addr = None;
    let mut tls_addr = None;
    if let Some(listener) = plain {
        addr = listener.local_addr().ok();
        tasks.push(tokio::spawn(server::serve(
            listener,
            None,
            frontend.clone(),
            stopped(),
            drain,
        )));
    }
    if let Some((listener, cell)) = tls {
        tls_addr = listener.local_addr().ok();
        tasks.push(tokio::spawn(server::serve(
            listener,
            Some(cell),
            frontend.clone(),
            stopped(),
            drain,
        )));
    }
    let task = tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
    });
    tracing::info!(addr = ?addr, tls_addr = ?tls_addr, auth = ?mode, upstream = ?endpoint, "scf-bridge listening");
    Ok(Running {
        addr,
        tls_addr,
        upstream: endpoint,
        task,
    })
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })
}
