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

use crate::actions::{Action, ActionSettings, BoxFuture, Failure, LegacyParams, Scf3Client};
use crate::auth::{RequestHost, SharedReplay, Signer, Verifier};
use crate::config::UpstreamMode;
use crate::credentials::{KeyPair, Swappable};
use crate::error::{BridgeError, ErrorKind};
use crate::gate::{self, GateLimits};
use crate::legacy::answer::LegacyAnswer;
use crate::legacy::region::resolve_region;
use crate::metrics;
use crate::scf3::envelope::Scf3Error;
use crate::translate;
use crate::upstream::Scf3Transport;

pub use crate::scf3::signer::REQUEST_CLIENT;

pub use crate::gate::{request_error, Admitted, Clock};

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
    /// Who called, for `GET /callers` (crate::callers).
    pub caller: crate::callers::Caller,
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
    pub verifier: Option<Arc<Verifier>>,
    pub mode: UpstreamMode,
    pub clock: Clock,
    /// Bounds on the work done before the signature is checked.
    pub gate: GateLimits,
    /// What actions read from the configuration.
    pub actions: ActionSettings,
    /// The replay check in Redis (`auth.replay_store = "redis"`).
    pub shared_replay: Option<SharedReplay>,
    /// The throttle budget shared through Redis (`redis.rate_limits`).
    pub budget: Option<crate::ratelimit::ThrottleBudget>,
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
        let admitted = gate::admit(
            raw_params,
            http_method,
            host.into(),
            self.verifier.clone(),
            self.clock.clone(),
            self.gate,
            self.shared_replay.is_some(),
        )
        .await;
        let admitted = match (admitted, &self.shared_replay, &self.verifier) {
            (Ok(a), Some(shared), Some(v)) => match &a.pending_replay {
                Some((checked, now)) => match shared.check(v, checked, *now).await {
                    Ok(()) => Ok(a),
                    Err(error) => Err(gate::Refused {
                        error,
                        action: Some(a.entry.name),
                        caller: Box::new(a.caller),
                    }),
                },
                None => Ok(a),
            },
            (admitted, _, _) => admitted,
        };
        if let Some(v) = &self.verifier {
            metrics::replay_fill(v.replay.len(), v.replay.capacity());
        }
        let result = match admitted {
            Ok(mut admitted) => {
                info.action = Some(admitted.entry.name);
                info.caller = std::mem::take(&mut admitted.caller);
                (admitted.entry.run)(self, admitted, sent, &mut info).await
            }
            Err(refused) => {
                info.action = refused.action;
                info.caller = *refused.caller;
                Err(refused.error)
            }
        };
        match result {
            Ok(reply) => reply,
            Err(e) => Reply::from_error(e, info),
        }
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
            ..
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
        )
        .with_budget(bridge.budget.as_ref());
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
