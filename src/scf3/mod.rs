//! The SCF API 3.0 dialect, pure: the generic answer envelope, the one
//! TC3-HMAC-SHA256 signer, and the `Invoke` request/response types. Never
//! imports hyper, tokio, the clock or the file system, nor `legacy`.

pub mod envelope;
pub mod invoke;
pub mod signer;
pub mod tc3;
