//! The `scf-bridge` command: `serve` (default), `check-config`, `emulator`.
//! Parses arguments, sets up logging and the runtime, waits for signals.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
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
    init_logging();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("scf-bridge: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => {
            print!("{}", settings.to_redacted_toml());
            eprintln!("scf-bridge: configuration is valid");
            ExitCode::SUCCESS
        }
        Command::Serve => run(async move {
            let running = scf_bridge::app::start(settings, shutdown_signal()).await?;
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

/// JSON lines, or human-readable text on a terminal. The filter comes from
/// `SCF_BRIDGE_LOG` (default `info`).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("SCF_BRIDGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
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
