//! scf-bridge: accepts legacy Tencent Cloud SCF v2 `InvokeFunction` calls and
//! answers them through SCF API 3.0 `Invoke`.
//!
//! The crate is a functional core with an imperative shell:
//! - pure, I/O-free, clock-injected: [`legacy`] (the v2 dialect), [`scf3`]
//!   (the 3.0 dialect and TC3 signing), [`translate`] (between the two),
//!   [`error`] (the one error type and its legacy answer);
//! - the shell: [`config`] (settings), [`credentials`] (swappable key pairs),
//!   [`logging`] (tracing set-up), [`access_log`] (one line per request), [`admin`] (probes, metrics, log level),
//!   [`auth`] (verification, replay memory, client keys), [`tls`] (certificates),
//!   [`gate`] (bounded work before authentication), [`pipeline`] (one request's walk), [`upstream`] (the pooled 3.0 client),
//!   [`server`] (the legacy listener), [`app`] (assembly), [`emulator`]
//!   (an SCF 3.0 emulator), [`redis_conn`] (the Redis the replicas share) and
//!   [`ratelimit`] (the shared throttle budget).
#![forbid(unsafe_code)]

pub mod access_log;
pub mod actions;
pub mod admin;
pub mod app;
pub mod auth;
pub mod config;
pub mod credentials;
pub mod emulator;
pub mod error;
pub mod gate;
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
