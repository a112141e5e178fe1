//! scf-bridge: accepts legacy Tencent Cloud SCF v2 `InvokeFunction` calls and
//! answers them through SCF API 3.0 `Invoke`.
//!
//! The crate is a functional core with an imperative shell:
//! - pure, I/O-free, clock-injected: [`legacy`], [`scf3`], [`translate`];
//! - the shell: [`config`], [`server`], [`upstream`], [`emulator`].
#![forbid(unsafe_code)]

pub mod config;
pub mod emulator;
pub mod error;
pub mod legacy;
pub mod scf3;
pub mod server;
pub mod translate;
pub mod upstream;
