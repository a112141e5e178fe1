//! What is done with a request before it is trusted: decoding under the
//! parameter cap, looking the action up, refusing values the signature does
//! not cover, and verifying the signature. Work here grows with the body
//! (decoding, sorting, hashing), so a request above
//! `server.offload_threshold_bytes` runs it on tokio's blocking pool:
//! small requests are never queued behind a large one on the threads that
//! serve everything else. The memory it takes is reserved by the server
//! beforehand (`decode_bytes_needed`).

use std::sync::Arc;

use bytes::Bytes;

use crate::actions::{self, Entry};
use crate::auth::{Authenticated, RequestHost, Signer, Verifier};
use crate::config::ServerSettings;
use crate::error::{BridgeError, ErrorKind};
use crate::legacy::decode::{decode_form_limited, DecodeError, Params};
use crate::legacy::request::{action_name, read_common, RequestError};
use crate::legacy::upload::unsigned_upload_violation;
use crate::legacy::{clip, Shown, SHOWN_MAX_CHARS};

/// Seconds since the Unix epoch; injected so tests can move time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The bounds on pre-authentication work.
#[derive(Clone, Copy, Debug)]
pub struct GateLimits {
    /// `server.max_params`.
    pub max_params: usize,
    /// `server.offload_threshold_bytes`.
    pub offload_threshold_bytes: usize,
}

impl GateLimits {
    pub fn from_settings(s: &ServerSettings) -> Self {
        GateLimits {
            max_params: s.max_params,
            offload_threshold_bytes: s.offload_threshold_bytes,
        }
    }
}

impl Default for GateLimits {
    fn default() -> Self {
        GateLimits {
            max_params: 256,
            offload_threshold_bytes: 64 * 1024,
        }
    }
}

/// A request that passed the gate, ready for its action: the registered
/// action, every decoded parameter (the action reads its own), who signs
/// upstream, and `Region` as sent.
pub struct Admitted {
    pub entry: &'static Entry,
    pub params: Params,
    pub signer: Signer,
    pub region: Option<String>,
    /// Who called, for `GET /callers`.
    pub caller: crate::callers::Caller,
    /// With a shared replay store, the replay check still to be made (in
    /// Redis, asynchronously) and the clock reading that decides it.
    pub pending_replay: Option<(Authenticated, u64)>,
}

/// A refusal, with the action when it was known (for the log and metrics).
pub struct Refused {
    pub error: BridgeError,
    pub action: Option<&'static str>,
    /// Who called, once the common parameters were read (boxed: refusals
    /// are the rare path and the `Result` stays small).
    pub caller: Box<crate::callers::Caller>,
}

impl From<BridgeError> for Refused {
    fn from(error: BridgeError) -> Self {
        Refused {
            error,
            action: None,
            caller: Default::default(),
        }
    }
}

/// [`admit_now`], on the blocking pool when `raw` is larger than the
/// offload threshold, inline otherwise.
/// `defer_replay`: leave the replay check to the caller
/// ([`Admitted::pending_replay`]), for a shared replay store.
pub async fn admit(
    raw: Bytes,
    http_method: &str,
    host: RequestHost<'_>,
    verifier: Option<Arc<Verifier>>,
    clock: Clock,
    limits: GateLimits,
    defer_replay: bool,
) -> Result<Admitted, Refused> {
    if raw.len() <= limits.offload_threshold_bytes {
        return admit_with(
            &raw,
            http_method,
            host,
            verifier.as_deref(),
            &*clock,
            limits,
            defer_replay,
        );
    }
    let method = http_method.to_owned();
    let (header, default_port) = (host.header.map(str::to_owned), host.default_port);
    let work = move || {
        let host = RequestHost {
            header: header.as_deref(),
            default_port,
        };
        admit_with(
            &raw,
            &method,
            host,
            verifier.as_deref(),
            &*clock,
            limits,
            defer_replay,
        )
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(error = %e, "pre-authentication work failed");
            Err(BridgeError::new(
                ErrorKind::Internal,
                "the bridge failed while reading the request",
            )
            .into())
        }
    }
}

/// Decode (at most `max_params` parameters), look the action up, refuse
/// values the signature does not cover, read the common parameters and
/// verify (when `verifier` is set). Synchronous and bounded by the input.
pub fn admit_now<'h>(
    raw: &[u8],
    http_method: &str,
    host: impl Into<RequestHost<'h>>,
    verifier: Option<&Verifier>,
    clock: &dyn Fn() -> u64,
    limits: GateLimits,
) -> Result<Admitted, Refused> {
    admit_with(raw, http_method, host, verifier, clock, limits, false)
}

/// [`admit_now`], leaving the replay check to the caller when
/// `defer_replay` is set.
fn admit_with<'h>(
    raw: &[u8],
    http_method: &str,
    host: impl Into<RequestHost<'h>>,
    verifier: Option<&Verifier>,
    clock: &dyn Fn() -> u64,
    limits: GateLimits,
    defer_replay: bool,
) -> Result<Admitted, Refused> {
    let params = decode_form_limited(raw, limits.max_params).map_err(decode_error)?;
    let name = action_name(&params).ok_or_else(|| request_error(RequestError::MissingAction))?;
    let entry = actions::lookup(name).ok_or_else(|| unsupported_action(name))?;
    let refused = |error| Refused {
        error,
        action: Some(entry.name),
        caller: Default::default(),
    };
    // Before anything is read from them: a value the signature does not
    // cover is refused whatever else the request says.
    if let Some(key) = unsigned_upload_violation(&params, http_method, entry.upload_params) {
        return Err(refused(BridgeError::new(
            ErrorKind::SignatureFailure,
            format!(
                "`{}` starts with `@` in a POST, which no legacy signature covers; \
                 only {} may carry an `@` upload",
                Shown(&clip(key, SHOWN_MAX_CHARS)),
                upload_list(entry.upload_params)
            ),
        )));
    }
    let common = read_common(&params).map_err(|e| refused(request_error(e)))?;
    let mut caller = crate::callers::caller_of(&params, &common, verifier);
    let refused_by = |error| Refused {
        error,
        action: Some(entry.name),
        caller: Box::new(caller.clone()),
    };
    let (signer, pending_replay) = match verifier {
        Some(v) if defer_replay => {
            let (checked, now) = v
                .authenticate(http_method, host, &params, &common, clock)
                .map_err(refused_by)?;
            (checked.signer.clone(), Some((checked, now)))
        }
        Some(v) => (
            v.verify_with_clock(http_method, host, &params, &common, clock)
                .map_err(refused_by)?,
            None,
        ),
        None => (Signer::Bridge, None),
    };
    caller.identity = Some(crate::callers::identity_of(&signer));
    Ok(Admitted {
        entry,
        params,
        signer,
        region: common.region,
        caller,
        pending_replay,
    })
}

fn upload_list(names: &[&str]) -> String {
    if names.is_empty() {
        "no parameter of this action".to_owned()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn unsupported_action(name: &str) -> BridgeError {
    BridgeError::new(
        ErrorKind::InvalidAction,
        format!(
            "unsupported Action `{}`: supported actions are {}",
            Shown(&clip(name, SHOWN_MAX_CHARS)),
            actions::supported_names()
        ),
    )
}

fn decode_error(e: DecodeError) -> BridgeError {
    BridgeError::new(ErrorKind::InvalidParameter, e.to_string())
}

/// A [`RequestError`] from the legacy readers as a bridge error.
pub fn request_error(e: RequestError) -> BridgeError {
    let kind = match &e {
        RequestError::MissingAction | RequestError::MissingParameter(_) => {
            ErrorKind::MissingParameter
        }
        RequestError::InvalidValue { .. } => ErrorKind::InvalidParameterValue,
    };
    BridgeError::new(kind, e.to_string())
}
