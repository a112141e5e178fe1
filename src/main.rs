//! The `scf-bridge` command: `serve` (default), `check-config`, `emulator`.
//! Parses arguments, sets up logging and the runtime, waits for signals.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use scf_bridge::admin::LogControl;
use scf_bridge::config::Settings;
use scf_bridge::credentials::KeyPair;

#[derive(Parser)]
#[command(
    name = "scf-bridge",
    version,
    about = "Legacy SCF v2 InvokeFunction → SCF API 3.0 Invoke bridge"
)]
struct Cli {
    /// TOML configuration file (defaults apply when absent).
    #[arg(long, global = true, env = "SCF_BRIDGE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bridge (the default).
    Serve,
    /// Validate the configuration and print it, secrets redacted.
    CheckConfig,
    /// Run only the SCF 3.0 emulator, for testing any 3.0 client. It accepts
    /// the key pair of TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY or [credentials].
    Emulator {
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: std::net::SocketAddr,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("scf-bridge: {e}");
            return ExitCode::from(2);
        }
    };
    let log = init_logging(&settings);
    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => {
            print!("{}", settings.to_redacted_toml());
            eprintln!("scf-bridge: configuration is valid");
            ExitCode::SUCCESS
        }
        Command::Serve => run(async move {
            let options = scf_bridge::app::StartOptions {
                log: Some(log),
                config_file: cli.config.clone(),
                ..Default::default()
            };
            let running = scf_bridge::app::start_with(settings, shutdown_signal(), options).await?;
            let reloader = running.reloader.clone();
            tokio::spawn(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let Ok(mut hup) = signal(SignalKind::hangup()) else {
                    tracing::warn!("cannot listen for SIGHUP; reload by restarting");
                    return;
                };
                while hup.recv().await.is_some() {
                    tracing::info!(signal = "SIGHUP", "reloading");
                    let _ = reloader.reload();
                }
            });
            running.task.await.ok();
            tracing::info!("scf-bridge stopped");
            Ok(())
        }),
        Command::Emulator { listen } => run(async move {
            let Some(keys) = KeyPair::from_settings(&settings.credentials) else {
                return Err("the emulator needs a key pair: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY".into());
            };
            let mut known = std::collections::HashMap::new();
            known.insert(keys.secret_id.clone(), keys.secret_key.expose().to_owned());
            let config = Arc::new(scf_bridge::emulator::EmulatorConfig {
                keys: known,
                max_skew_secs: 300,
                live_keys: None,
            });
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            tracing::info!(addr = %listen, "SCF 3.0 emulator listening");
            tokio::select! {
                _ = scf_bridge::emulator::serve(listener, config) => {}
                _ = shutdown_signal() => {}
            }
            Ok(())
        }),
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn run(fut: impl std::future::Future<Output = Result<(), BoxError>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scf-bridge: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scf-bridge: {e}");
            ExitCode::FAILURE
        }
    }
}

/// JSON lines (or text on a terminal, or as `log.format` says) on stderr.
/// The filter is `SCF_BRIDGE_LOG` if set, else `log.filter`; it can be
/// changed at run time through the returned control.
fn init_logging(settings: &Settings) -> Arc<dyn LogControl> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{fmt, reload, EnvFilter};
    let wanted = std::env::var("SCF_BRIDGE_LOG").unwrap_or_else(|_| settings.log.filter.clone());
    let filter = EnvFilter::try_new(&wanted).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let json = match settings.log.format.as_str() {
        "json" => true,
        "text" => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_writer(std::io::stderr),
            )
            .init();
    } else {
        registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .init();
    }
    Arc::new(FilterControl {
        handle,
        current: std::sync::Mutex::new(wanted),
    })
}

struct FilterControl {
    handle: tracing_subscriber::reload::Handle<
        tracing_subscriber::EnvFilter,
        tracing_subscriber::Registry,
    >,
    current: std::sync::Mutex<String>,
}

impl LogControl for FilterControl {
    fn current(&self) -> String {
        self.current.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn set(&self, filter: &str) -> Result<(), String> {
        let parsed = tracing_subscriber::EnvFilter::try_new(filter)
            .map_err(|e| format!("invalid filter `{filter}`: {e}"))?;
        self.handle.reload(parsed).map_err(|e| e.to_string())?;
        if let Ok(mut c) = self.current.lock() {
            *c = filter.to_owned();
        }
        Ok(())
    }
}

/// Completes on SIGINT or SIGTERM, saying which.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
        _ = int.recv() => tracing::info!(signal = "SIGINT", "shutting down"),
    }
}
