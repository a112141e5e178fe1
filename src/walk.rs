//! The shared walk of one legacy request, as plain calls on typed values:
//! decode → look the action up → verify (signature, replay) → refuse
//! unsigned `@` values → the action parses → region and signing identity →
//! the action makes its 3.0 call(s) through a [`Scf3Client`] → the legacy
//! answer. It knows no action by name (`crate::actions` does); HTTP
//! concerns (paths, methods, bodies, limits) stay in `server`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;

use crate::actions::{
    self, Action, ActionSettings, BoxFuture, Entry, Failure, LegacyParams, Scf3Client,
};
use crate::auth::{RequestHost, Signer, Verifier};
use crate::config::UpstreamMode;
use crate::credentials::{KeyPair, Swappable};
use crate::error::{BridgeError, ErrorKind};
use crate::legacy::answer::LegacyAnswer;
use crate::legacy::decode::{decode_form, DecodeError, Params};
use crate::legacy::region::resolve_region;
use crate::legacy::request::{action_name, read_common, RequestError};
use crate::legacy::signature::unsigned_upload;
use crate::legacy::{clip, Shown, SHOWN_MAX_CHARS};
use crate::metrics;
use crate::scf3::envelope::Scf3Error;
use crate::translate;
use crate::upstream::Scf3Transport;

pub use crate::scf3::signer::REQUEST_CLIENT;

/// Seconds since the Unix epoch; injected so tests can move time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

/// What the log line and metrics need to know about one request.
#[derive(Debug, Default, Clone)]
pub struct RequestInfo {
    /// The registered action's name; `None` until the action is known.
    pub action: Option<&'static str>,
    pub function: Option<String>,
    pub namespace: Option<String>,
    pub region: Option<String>,
    pub function_request_id: Option<String>,
    pub scf_error: Option<String>,
    pub upstream_duration: Option<Duration>,
    /// 3.0 calls sent again because SCF proved they had not run.
    pub throttle_retries: u32,
}

/// The answer to one legacy request.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub answer: LegacyAnswer,
    /// SCF's `RequestId`, when SCF answered.
    pub request_id: Option<String>,
    /// Set when the bridge made this answer itself.
    pub error: Option<BridgeError>,
    pub info: RequestInfo,
}

impl Reply {
    pub fn from_error(error: BridgeError, info: RequestInfo) -> Reply {
        Reply {
            status: StatusCode::from_u16(error.kind.http_status()).unwrap_or(StatusCode::OK),
            answer: error.to_answer(),
            request_id: None,
            error: Some(error),
            info,
        }
    }
}

/// Everything a request reads: configuration, the current key pair, the
/// way to SCF and the clock.
pub struct Bridge {
    pub upstream: Arc<dyn Scf3Transport>,
    pub default_region: String,
    pub credentials: Arc<Swappable<Option<KeyPair>>>,
    /// `None` when `auth.mode = "none"`.
    pub verifier: Option<Verifier>,
    pub mode: UpstreamMode,
    pub clock: Clock,
    /// What actions read from the configuration.
    pub actions: ActionSettings,
}

/// A request that passed the shared checks, ready for its action.
pub struct Admitted {
    /// The decoded parameters, all of them (the action reads its own).
    pub params: Params,
    /// Whose key pair signs the 3.0 call(s).
    pub signer: Signer,
    /// `Region` as sent, unresolved.
    pub region: Option<String>,
}

/// A registered action's walk from [`Admitted`] to its [`Reply`].
pub type RunFn = for<'a> fn(
    &'a Bridge,
    Admitted,
    &'a AtomicBool,
    &'a mut RequestInfo,
) -> BoxFuture<'a, Result<Reply, BridgeError>>;

impl Bridge {
    /// Handle the raw parameters of a GET query or POST form body; `host` is
    /// the request's `Host` header (and its listener's default port), from
    /// which the hosts a signature may cover are drawn.
    /// `sent` is set the moment a call may start reaching SCF. The raw
    /// parameters are taken by value so they can be freed once decoded.
    pub async fn handle<'h>(
        &self,
        http_method: &str,
        host: impl Into<RequestHost<'h>>,
        raw_params: Bytes,
        sent: &AtomicBool,
    ) -> Reply {
        let mut info = RequestInfo::default();
        let result = match self.admit(http_method, host.into(), raw_params, &mut info) {
            Ok((entry, admitted)) => (entry.run)(self, admitted, sent, &mut info).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(reply) => reply,
            Err(e) => Reply::from_error(e, info),
        }
    }

    /// The checks every action shares, before any action code runs:
    /// decode, the `Action` lookup, the common parameters, the signature
    /// and replay memory, and unsigned `@` values on POST.
    pub fn admit(
        &self,
        http_method: &str,
        host: RequestHost<'_>,
        raw_params: Bytes,
        info: &mut RequestInfo,
    ) -> Result<(&'static Entry, Admitted), BridgeError> {
        let now = (self.clock)();
        let params = decode_form(&raw_params).map_err(decode_error)?;
        drop(raw_params);
        let name =
            action_name(&params).ok_or_else(|| request_error(RequestError::MissingAction))?;
        let entry = actions::lookup(name).ok_or_else(|| unsupported_action(name))?;
        info.action = Some(entry.name);
        let common = read_common(&params).map_err(request_error)?;
        let signer = match &self.verifier {
            Some(v) => {
                let verified = v.verify(http_method, host, &params, &common, now);
                metrics::replay_fill(v.replay.len(), v.replay.capacity());
                let signer = verified?;
                if let Some(name) = unsigned_upload(http_method, &params, entry.upload_params) {
                    return Err(BridgeError::new(
                        ErrorKind::SignatureFailure,
                        format!(
                            "`{}` starts with `@` in a POST, which no legacy signature covers; \
                             only {} may carry an `@` upload",
                            Shown(&clip(name, SHOWN_MAX_CHARS)),
                            upload_list(entry.upload_params)
                        ),
                    ));
                }
                signer
            }
            None => Signer::Bridge,
        };
        Ok((
            entry,
            Admitted {
                params,
                signer,
                region: common.region,
            },
        ))
    }

    /// The 3.0 region: the request's `Region` resolved, else the default.
    fn region(&self, sent: Option<&str>) -> Result<String, BridgeError> {
        match sent {
            Some(r) => resolve_region(r)
                .map(|r| r.into_owned())
                .map_err(|e| BridgeError::new(ErrorKind::InvalidParameterValue, e.to_string())),
            None => Ok(self.default_region.clone()),
        }
    }
}

/// The walk of action `A` from its parsed parameters to the legacy answer;
/// the registry holds one per action.
pub(crate) fn run_action<'a, A: Action>(
    bridge: &'a Bridge,
    admitted: Admitted,
    sent: &'a AtomicBool,
    info: &'a mut RequestInfo,
) -> BoxFuture<'a, Result<Reply, BridgeError>> {
    Box::pin(async move {
        let Admitted {
            params,
            signer,
            region,
        } = admitted;
        let request = A::parse(LegacyParams::new(params))?;
        let subject = A::subject(&request);
        info.function = subject.function.map(str::to_owned);
        info.namespace = subject.namespace.map(str::to_owned);
        let region = bridge.region(region.as_deref())?;
        info.region = Some(region.clone());
        let bridge_keys = bridge.credentials.load();
        let keys = match &signer {
            Signer::Caller(keys) => keys,
            Signer::Bridge => bridge_keys.as_ref().as_ref().ok_or_else(|| {
                BridgeError::new(
                    ErrorKind::NoCredentials,
                    "the bridge has no credentials to sign the SCF 3.0 call",
                )
            })?,
        };
        let target = bridge.upstream.target(&region)?;
        let mut scf = Scf3Client::new(
            &*bridge.upstream,
            target,
            &region,
            keys,
            &bridge.clock,
            sent,
            bridge.mode == UpstreamMode::DryRun,
            &bridge.actions,
            tokio::time::Instant::now() + bridge.actions.request_deadline,
        );
        let result = A::run(request, &mut scf).await;
        let notes = scf.into_notes();
        info.upstream_duration = notes.upstream;
        info.function_request_id = notes.function_request_id;
        info.scf_error = notes.scf_error;
        info.throttle_retries = notes.throttle_retries;
        let answer = match result {
            Ok(answer) => answer,
            Err(Failure::Scf(mut e)) => {
                if let Some(action) = notes.last_action.filter(|_| is_cam_denial(&e.code)) {
                    e.message = format!(
                        "{}; CAM denied the SCF 3.0 action `{action}` the bridge called \
                         (the signing identity needs `scf:{action}`, docs/operations.md)",
                        e.message
                    );
                }
                scf_error_answer(&e, A::legacy_code(&e.code))
            }
            Err(Failure::DryRun) => dry_run_answer(),
            Err(Failure::Bridge(e)) => return Err(e),
        };
        Ok(Reply {
            status: StatusCode::OK,
            answer,
            request_id: notes.request_id,
            error: None,
            info: std::mem::take(info),
        })
    })
}

/// Whether a 3.0 error code is a CAM (permission) denial of the action.
pub fn is_cam_denial(code: &str) -> bool {
    code == "UnauthorizedOperation"
        || code.starts_with("UnauthorizedOperation.")
        || code == "AuthFailure.UnauthorizedOperation"
}

/// The legacy answer to a 3.0 error: `code` from the action's own rule or
/// the shared table, `codeDesc` the 3.0 code, the message both.
pub fn scf_error_answer(e: &Scf3Error, action_code: Option<i64>) -> LegacyAnswer {
    LegacyAnswer::error(
        action_code.unwrap_or_else(|| translate::legacy_code_for(&e.code)),
        e.code.clone(),
        format!("({}) {}", e.code, e.message),
    )
}

/// The answer of an action that did not handle a dry run itself.
pub fn dry_run_answer() -> LegacyAnswer {
    let mut answer = LegacyAnswer::success_without_data();
    answer.message = DRY_RUN_MESSAGE.into();
    answer.code_desc = DRY_RUN_CODE_DESC.into();
    answer
}

/// `message` of a dry-run answer.
pub const DRY_RUN_MESSAGE: &str =
    "dry run: the request was translated and signed but not sent to SCF";
/// `codeDesc` of a dry-run answer.
pub const DRY_RUN_CODE_DESC: &str = "DryRunOperation";

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
