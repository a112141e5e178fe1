//! scf-bridge: accepts legacy Tencent Cloud SCF v2 calls (`/v2/index.php`,
//! v1 signatures) and answers them through SCF API 3.0.
//!
//! The crate is a functional core with an imperative shell:
//! - pure, I/O-free, clock-injected: [`legacy`] (the v2 dialect), [`scf3`]
//!   (the 3.0 dialect: envelope, TC3 signer, `Invoke`), [`translate`] (what
//!   every action shares between the two), [`types`] (shared value types),
//!   [`error`] (the one error type and its legacy answer);
//! - [`actions`]: one module per legacy action, the trait they implement
//!   and the registry; [`walk`]: the shared walk of one request, which
//!   knows no action by name;
//! - the shell: [`config`] (settings), [`credentials`] (swappable key pairs),
//!   [`logging`] (tracing set-up), [`access_log`] (one line per request),
//!   [`admin`] (probes, metrics, log level), [`metrics`] (every metric name),
//!   [`auth`] (verification, replay memory, client keys), [`tls`]
//!   (certificates), [`gate`] (bounded work before authentication),
//!   [`upstream`] (the 3.0 transport trait and the pooled
//!   client), [`server`] (the legacy listener), [`app`] (assembly),
//!   [`emulator`] (an SCF 3.0 emulator), [`testing`] (a scripted transport
//!   for walk tests), [`redis_conn`] (the Redis the replicas share),
//!   [`ratelimit`] (the shared throttle budget).
#![forbid(unsafe_code)]

pub mod access_log;
pub mod actions;
pub mod admin;
pub mod app;
pub mod auth;
pub mod callers;
pub mod client;
pub mod config;
pub mod config_messages;
pub mod credentials;
pub mod emulator;
pub mod error;
pub mod gate;
pub mod json_text;
pub mod legacy;
pub mod logging;
pub mod metrics;
pub mod ratelimit;
pub mod redis_conn;
pub mod scf3;
pub mod server;
pub mod testing;
pub mod tls;
pub mod translate;
pub mod types;
pub mod upstream;
pub mod walk;
