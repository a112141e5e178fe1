//! The SCF API 3.0 dialect, pure: TC3-HMAC-SHA256 signing and the `Invoke`
//! request/response types. Never imports hyper, tokio, the clock or the file
//! system, nor `legacy`.

pub mod invoke;
pub mod tc3;
