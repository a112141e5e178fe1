//! The `scf-bridge` command: `serve` (default), `check-config`, `emulator`,
//! `invoke` (a legacy client, src/client.rs).
//! Parses arguments, sets up logging and the runtime, waits for signals.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use scf_bridge::config::{ServerRuntime, Settings};
use scf_bridge::credentials::KeyPair;

/// With `--features mimalloc`, mimalloc instead of glibc's malloc: fewer
/// instructions per request, more resident memory per connection
/// (docs/performance.md, "Allocator").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "scf-bridge",
    version = concat!(
        env!("CARGO_PKG_VERSION"),
        " (commit ",
        env!("SCF_BRIDGE_GIT_COMMIT"),
        ")"
    ),
    about = "Legacy SCF v2 InvokeFunction → SCF API 3.0 Invoke bridge",
    after_help = "\
Configuration: built-in defaults, then the TOML file (--config or SCF_BRIDGE_CONFIG), then the \
environment: TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY / TENCENTCLOUD_SESSION_TOKEN for \
the bridge's key pair, and SCF_BRIDGE__<SECTION>__<KEY> for any key \
(SCF_BRIDGE__UPSTREAM__ENDPOINT=https://scf.tencentcloudapi.com; lists comma-separated: \
SCF_BRIDGE__AUTH__SIGNING_HOSTS=a,b). SCF_BRIDGE_LOG overrides log.filter.\n\
`scf-bridge check-config` runs every check `serve` makes before taking a port.\n\
Docs: README.md (quick start, every key), docs/operations.md (running it), docs/protocol.md."
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
    /// Validate the configuration and print it, secrets redacted, with the
    /// effective auth.mode, after every check `serve` makes before taking a
    /// port (key files, auth.clients_dir, certificates, ca_file included).
    CheckConfig {
        /// Skip reading key files and directories (to check a configuration
        /// away from the machine it is meant for).
        #[arg(long)]
        no_files: bool,
    },
    /// Call a legacy endpoint (the bridge) as a legacy SDK does, print the
    /// answer; exit status 0 only when its code is 0.
    Invoke(Box<scf_bridge::client::InvokeArgs>),
    /// Run only the SCF 3.0 emulator, for testing any 3.0 client. It accepts
    /// the key pair of TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY or [credentials].
    Emulator {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: std::net::SocketAddr,
        /// How long a function stays Creating/Updating/Deleting, milliseconds.
        #[arg(long, default_value_t = 200)]
        state_delay_ms: u64,
        /// Per-action frequency limit, requests a second (0 = unlimited),
        /// e.g. `--rate-limit Invoke=100 --rate-limit InvokeFunction=10000`.
        /// Unset actions keep SCF's documented defaults.
        #[arg(long = "rate-limit", value_name = "ACTION=N", value_parser = parse_rate_limit)]
        rate_limits: Vec<(String, u32)>,
        /// Serve GetFunctionLogs from the recorded invocations instead of
        /// answering ActionOffline as SCF 3.0 does.
        #[arg(long)]
        function_logs_online: bool,
        /// A region where InvokeFunction answers UnsupportedOperation.Region
        /// (to test falling back to Invoke); repeatable.
        #[arg(long = "invoke-function-unsupported-region", value_name = "REGION")]
        invoke_function_unsupported_regions: Vec<String>,
        /// Print each action's allowed request fields and default rate limit
        /// as JSON, and exit.
        #[arg(long, hide = true)]
        print_schema: bool,
    },
}

/// `ACTION=N` of `--rate-limit`, for an action the emulator serves.
fn parse_rate_limit(value: &str) -> Result<(String, u32), String> {
    let (action, n) = value
        .split_once('=')
        .ok_or_else(|| format!("{value:?} is not ACTION=N"))?;
    if scf_bridge::emulator::schema::Action::parse(action).is_none() {
        return Err(format!("the emulator does not serve the action {action:?}"));
    }
    let n = n
        .parse::<u32>()
        .map_err(|_| format!("{n:?} is not a number of requests a second"))?;
    Ok((action.to_owned(), n))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Invoke(args)) = cli.command {
        // A client: the bridge's configuration plays no part.
        return scf_bridge::client::run(*args);
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("scf-bridge: {e}");
            return ExitCode::from(2);
        }
    };
    let log = scf_bridge::logging::init(&settings);
    match cli.command.unwrap_or(Command::Serve) {
        // Handled before the configuration is loaded.
        Command::Invoke(args) => scf_bridge::client::run(*args),
        Command::CheckConfig { no_files } => {
            // The effective mode, which the file may leave unset.
            let mode = settings.auth_mode();
            println!(
                "# effective auth.mode = \"{}\"",
                match mode {
                    scf_bridge::auth::AuthMode::Verify => "verify",
                    scf_bridge::auth::AuthMode::None => "none",
                }
            );
            // Every check `serve` makes before it takes a port; with
            // --no-files, those that read no file.
            let checked = if no_files {
                settings.validate().map_err(Into::into)
            } else {
                scf_bridge::app::preflight(&settings)
            };
            if let Err(e) = checked {
                eprintln!("scf-bridge: {e}");
                return ExitCode::from(2);
            }
            print!("{}", settings.to_redacted_toml());
            if mode == scf_bridge::auth::AuthMode::Verify && !no_files {
                // The clients (inline, key files, auth.clients_dir) must load
                // as the server would load them.
                let source = scf_bridge::auth::clients::ClientSource {
                    entries: settings.auth.clients.clone(),
                    dir: settings.auth.clients_dir.clone(),
                    dir_upstream: settings.auth.clients_dir_upstream,
                };
                match source.load() {
                    Ok(set) => eprintln!("scf-bridge: {} legacy client(s) load", set.len()),
                    Err(e) => {
                        eprintln!("scf-bridge: invalid configuration: auth.clients: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            eprintln!("scf-bridge: configuration is valid");
            ExitCode::SUCCESS
        }
        Command::Serve => serve(settings, log, cli.config),
        Command::Emulator {
            print_schema: true, ..
        } => {
            use std::io::Write;
            let schema = scf_bridge::emulator::schema::schema_json();
            match writeln!(std::io::stdout(), "{schema:#}") {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Command::Emulator {
            listen,
            state_delay_ms,
            rate_limits,
            function_logs_online,
            invoke_function_unsupported_regions,
            print_schema: false,
        } => run(tokio::runtime::Builder::new_multi_thread(), async move {
            let Some(keys) = KeyPair::from_settings(&settings.credentials) else {
                return Err("the emulator needs a key pair: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY".into());
            };
            let config = Arc::new(scf_bridge::emulator::EmulatorConfig {
                state_delay: std::time::Duration::from_millis(state_delay_ms),
                rate_limits: rate_limits.into_iter().collect(),
                function_logs_online,
                invoke_function_unsupported_regions,
                ..scf_bridge::emulator::EmulatorConfig::with_key(
                    keys.secret_id.clone(),
                    keys.secret_key.expose(),
                )
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

/// `serve`: the bridge until SIGTERM/SIGINT, then every buffered
/// access-log line written before the process exits.
fn serve(
    settings: Settings,
    log: Arc<dyn scf_bridge::admin::LogControl>,
    config: Option<PathBuf>,
) -> ExitCode {
    if let Some((bytes, every)) = settings.log.access_buffering() {
        if let Err(e) = scf_bridge::access_log::start_buffering(bytes, every) {
            eprintln!("scf-bridge: cannot start the access-log flusher: {e}");
            return ExitCode::FAILURE;
        }
    }
    let code = run(control_runtime(&settings), async move {
        let options = scf_bridge::app::StartOptions {
            log: Some(log),
            config_file: config,
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
    });
    // After the runtimes are gone: nothing logs any more.
    scf_bridge::access_log::finish();
    code
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The runtime `serve` starts on. Under the thread-per-core model requests
/// are served by the worker threads' own runtimes, and this one only runs
/// the admin listener, file watchers, signals and shutdown: one thread.
/// Under the multi-thread model it is the serving runtime, with
/// `server.workers` threads.
fn control_runtime(settings: &Settings) -> tokio::runtime::Builder {
    match settings.server.runtime {
        ServerRuntime::ThreadPerCore => tokio::runtime::Builder::new_current_thread(),
        ServerRuntime::MultiThread => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            // 0 leaves tokio's default (TOKIO_WORKER_THREADS, else one per CPU).
            if settings.server.workers != 0 {
                b.worker_threads(settings.server.workers);
            }
            b
        }
    }
}

fn run(
    mut builder: tokio::runtime::Builder,
    fut: impl std::future::Future<Output = Result<(), BoxError>>,
) -> ExitCode {
    let rt = match builder.enable_all().build() {
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

/// Completes on SIGINT or SIGTERM, saying which. From then on, a (further)
/// SIGINT ends the process at once: a person pressing Ctrl-C twice does not
/// want to wait for the drain.
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
        _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutting down (SIGINT to stop at once)"),
        _ = int.recv() => tracing::info!(signal = "SIGINT", "shutting down (SIGINT again to stop at once)"),
    }
    tokio::spawn(async move {
        if int.recv().await.is_some() {
            tracing::warn!(
                signal = "SIGINT",
                "second interrupt: exiting without draining"
            );
            scf_bridge::access_log::finish();
            std::process::exit(130);
        }
    });
}
