//! The 3.0 client an action is handed for one request: it signs each call
//! (TC3, the request's region and key pair, the clock at the call), sends it
//! through the injected transport, parses the generic envelope into the
//! call's typed answer, and notes what the access log and metrics need.
//! Reads are sent again after a transport failure; mutations never are once
//! a byte may have reached SCF.
//!
//! Any call, read or mutation, is sent again when SCF's answer proves it did
//! not run — throttling (`RequestLimitExceeded*`, and what an action's own
//! judge recognises, e.g. an `InvokeFunction` burst or concurrency
//! rejection) — with jittered exponential back-off, within the request's
//! throttle budget and never past its deadline (docs/operations.md,
//! "Throttling").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;

use super::settings::{RegionMemory, SyncAction};
use crate::error::{BridgeError, ErrorKind};
use crate::metrics;
use crate::scf3::envelope::{self, CallKind, Envelope, Scf3Error};
use crate::scf3::signer;
use crate::types::KeyPair;
use crate::upstream::{Scf3Transport, Target};
use crate::walk::Clock;

/// How often a read is sent again after its connection broke.
const READ_RETRIES: u32 = 2;

/// The first back-off after a throttled answer; each next one doubles, up
/// to [`BACKOFF_MAX`], and each is drawn uniformly from its upper half.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_millis(800);

/// What a judge made of one HTTP-200 answer.
#[derive(Debug)]
pub enum Judged<T> {
    /// The answer to use.
    Answer(T),
    /// SCF refused the call before running anything (throttling), so
    /// another try is safe; `reason` is a bounded metric label.
    NotRun { reason: &'static str, answer: T },
}

/// The answer of [`Scf3Client::send_judged`].
#[derive(Debug)]
pub struct Sent<T> {
    pub answer: T,
    /// Set when the last answer was still a throttled one: the budget or
    /// the deadline left no room for another try.
    pub gave_up: Option<GaveUp>,
}

/// How long a throttled call was tried before the bridge gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaveUp {
    pub reason: &'static str,
    /// Calls sent, the first included.
    pub tries: u32,
    /// From the first call to the last answer.
    pub tried_for: Duration,
}

impl GaveUp {
    /// The sentence the legacy message carries.
    pub fn describe(&self) -> String {
        format!(
            "SCF throttled the call; the bridge tried {} time{} over {} ms and gave up \
             (upstream.throttle_retry_budget_ms)",
            self.tries,
            if self.tries == 1 { "" } else { "s" },
            self.tried_for.as_millis()
        )
    }
}

/// The metric label of a 3.0 error code that proves the call was refused
/// before anything ran, for every action: the API gateway's frequency
/// limits (docs/protocol.md, "Which errors are safe to retry").
pub fn throttle_reason(code: &str) -> Option<&'static str> {
    match code {
        "RequestLimitExceeded" => Some("RequestLimitExceeded"),
        "RequestLimitExceeded.UinLimitExceeded" => Some("RequestLimitExceeded.UinLimitExceeded"),
        "RequestLimitExceeded.IPLimitExceeded" => Some("RequestLimitExceeded.IPLimitExceeded"),
        "RequestLimitExceeded.GlobalRegionUinLimitExceeded" => {
            Some("RequestLimitExceeded.GlobalRegionUinLimitExceeded")
        }
        _ if code.starts_with("RequestLimitExceeded.") => Some("RequestLimitExceeded.other"),
        _ => None,
    }
}

/// Answers larger than this are not read for a throttling error by
/// [`Scf3Client::send`]: error envelopes are small, results may be large.
const SMALL_ANSWER: usize = 16 * 1024;

/// Why an action's 3.0 call gave no answer it can map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// SCF refused the call (`Response.Error`).
    Scf(Scf3Error),
    /// The bridge could not make the call or read its answer.
    Bridge(BridgeError),
    /// `upstream.mode = "dry-run"`: the call was signed and logged, not sent.
    DryRun,
}

impl From<BridgeError> for Failure {
    fn from(e: BridgeError) -> Self {
        Failure::Bridge(e)
    }
}

/// Settings an action reads (through [`Scf3Client::settings`]): the
/// waits of multi-call actions, which 3.0 action a synchronous invocation
/// becomes and the shape of its answer, and the client's throttle retries.
#[derive(Debug, Clone)]
pub struct ActionSettings {
    /// How long an action waits for a function to become `Active` after
    /// creating or updating it.
    pub wait_limit: Duration,
    /// How often it asks meanwhile.
    pub wait_interval: Duration,
    /// `upstream.sync_action`.
    pub sync_action: SyncAction,
    /// `legacy.documented_aliases`.
    pub documented_aliases: bool,
    /// `upstream.throttle_retry_budget_ms`.
    pub throttle_retry_budget: Duration,
    /// The longest a request waits for SCF in all (`upstream.timeout_secs`):
    /// no throttle retry is started that would end past it.
    pub request_deadline: Duration,
    /// Regions where 3.0 refused `InvokeFunction` as unsupported, and when
    /// (shared by every request).
    pub invoke_function_refused: Arc<RegionMemory>,
}

impl Default for ActionSettings {
    /// Waits of 90 s, asking every second: what Tencent's own 3.0 deploy
    /// tool does (docs/protocol.md, "SCF 3.0 envelope"); the configuration's
    /// defaults otherwise.
    fn default() -> Self {
        ActionSettings {
            wait_limit: Duration::from_secs(90),
            wait_interval: Duration::from_secs(1),
            sync_action: SyncAction::Auto,
            documented_aliases: true,
            throttle_retry_budget: Duration::from_millis(2000),
            request_deadline: Duration::from_secs(330),
            invoke_function_refused: Arc::default(),
        }
    }
}

/// How a [`Scf3Client::poll`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled<T, A> {
    /// The answer was final; what `done` made of it.
    Done(T),
    /// The limit passed first; the last answer.
    TimedOut(A),
}

/// What the calls of one request leave for the log line and metrics.
#[derive(Debug, Default, Clone)]
pub struct CallNotes {
    /// The last 3.0 `RequestId` seen.
    pub request_id: Option<String>,
    /// The last 3.0 error code seen.
    pub scf_error: Option<String>,
    /// The function's execution id, when the action learned one.
    pub function_request_id: Option<String>,
    /// Time spent waiting for SCF, all calls together.
    pub upstream: Option<Duration>,
    /// 3.0 calls sent (retries included).
    pub calls: u32,
    /// The 3.0 action of the last call sent.
    pub last_action: Option<&'static str>,
    /// Calls sent again because SCF proved the previous one did not run.
    pub throttle_retries: u32,
}

/// Signs and sends the 3.0 calls of one request.
pub struct Scf3Client<'a> {
    transport: &'a dyn Scf3Transport,
    target: Target,
    region: &'a str,
    keys: &'a KeyPair,
    clock: &'a Clock,
    sent: &'a AtomicBool,
    dry_run: bool,
    settings: &'a ActionSettings,
    /// No throttle retry is started that would end after this.
    deadline: tokio::time::Instant,
    notes: CallNotes,
    /// The throttle budget shared through Redis, consulted before each call.
    budget: Option<&'a crate::ratelimit::ThrottleBudget>,
}

impl<'a> Scf3Client<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        transport: &'a dyn Scf3Transport,
        target: Target,
        region: &'a str,
        keys: &'a KeyPair,
        clock: &'a Clock,
        sent: &'a AtomicBool,
        dry_run: bool,
        settings: &'a ActionSettings,
        deadline: tokio::time::Instant,
    ) -> Self {
        Scf3Client {
            transport,
            target,
            region,
            keys,
            clock,
            sent,
            dry_run,
            settings,
            deadline,
            notes: CallNotes::default(),
            budget: None,
        }
    }

    /// The configuration actions read.
    pub fn settings(&self) -> &'a ActionSettings {
        self.settings
    }

    /// Take a token from `budget` before each call (`redis.rate_limits`).
    pub(crate) fn with_budget(
        mut self,
        budget: Option<&'a crate::ratelimit::ThrottleBudget>,
    ) -> Self {
        self.budget = budget;
        self
    }

    /// The 3.0 region the calls go to.
    pub fn region(&self) -> &str {
        self.region
    }

    /// Records the function's execution id for the log line.
    pub fn note_function_request_id(&mut self, id: Option<String>) {
        self.notes.function_request_id = id;
    }

    pub(crate) fn into_notes(self) -> CallNotes {
        self.notes
    }

    /// One typed 3.0 call: the body is `request` serialized, the answer
    /// the envelope parsed into `R::Response`.
    pub async fn call<R: envelope::Request>(
        &mut self,
        request: &R,
    ) -> Result<R::Response, Failure> {
        let body = serde_json::to_vec(request).map_err(|e| {
            BridgeError::new(
                ErrorKind::Internal,
                format!("a 3.0 body did not serialize: {e}"),
            )
        })?;
        let sent = self
            .send_judged(
                R::ACTION,
                R::VERSION,
                R::KIND,
                Bytes::from(body),
                |answer| match envelope::parse::<R::Response>(&answer) {
                    Ok(Envelope::Error(e)) => Ok(match throttle_reason(&e.code) {
                        Some(reason) => Judged::NotRun {
                            reason,
                            answer: Envelope::Error(e),
                        },
                        None => Judged::Answer(Envelope::Error(e)),
                    }),
                    Ok(ok) => Ok(Judged::Answer(ok)),
                    Err(e) => Err(Failure::Bridge(unusable(e))),
                },
            )
            .await?;
        match sent.answer {
            Envelope::Ok {
                response,
                request_id,
            } => {
                self.notes.request_id = request_id;
                Ok(response)
            }
            Envelope::Error(mut e) => {
                if let Some(g) = sent.gave_up {
                    e.message = format!("{}; {}", e.message, g.describe());
                }
                Err(self.refused(e))
            }
        }
    }

    /// Notes a 3.0 error answer and returns it as a [`Failure`].
    pub fn refused(&mut self, e: Scf3Error) -> Failure {
        metrics::scf_error(&e.code);
        self.notes.request_id.clone_from(&e.request_id);
        self.notes.scf_error = Some(e.code.clone());
        Failure::Scf(e)
    }

    /// Notes the `RequestId` of an answer the action parsed itself.
    pub fn note_request_id(&mut self, id: Option<String>) {
        self.notes.request_id = id;
    }

    /// Sends the read `request` every `every` until `done` says the answer
    /// is final (`Some`), or until `limit` has passed: then the last answer
    /// is returned as [`Polled::TimedOut`]. The first call goes out at once;
    /// the waits run on tokio's clock (paused in tests). A 3.0 error ends
    /// the polling as a [`Failure`], for the action to read — except a
    /// throttling refusal still there after [`Self::call`]'s own retries:
    /// nothing ran, so the read is sent again at the next interval while
    /// the limit allows.
    pub async fn poll<R, T>(
        &mut self,
        request: &R,
        every: Duration,
        limit: Duration,
        mut done: impl FnMut(&R::Response) -> Option<T> + Send,
    ) -> Result<Polled<T, R::Response>, Failure>
    where
        R: envelope::Request,
    {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let answer = match self.call(request).await {
                Err(Failure::Scf(e))
                    if throttle_reason(&e.code).is_some()
                        && tokio::time::Instant::now() + every <= deadline =>
                {
                    self.notes.scf_error = None;
                    tokio::time::sleep(every).await;
                    continue;
                }
                answer => answer?,
            };
            if let Some(t) = done(&answer) {
                return Ok(Polled::Done(t));
            }
            if tokio::time::Instant::now() + every > deadline {
                return Ok(Polled::TimedOut(answer));
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Signs and sends one 3.0 body, returning the body of its HTTP-200
    /// answer unparsed (for an action that parses its own answer). A small
    /// answer that is a throttling error is retried as [`Self::send_judged`]
    /// does; the last one is returned as it is.
    pub async fn send(
        &mut self,
        action: &'static str,
        version: &'static str,
        kind: CallKind,
        body: Bytes,
    ) -> Result<Bytes, Failure> {
        let sent = self
            .send_judged(action, version, kind, body, |answer| {
                let reason = (answer.len() <= SMALL_ANSWER)
                    .then(|| envelope::split(&answer).ok())
                    .flatten()
                    .and_then(|split| split.error)
                    .and_then(|(code, _)| throttle_reason(&code));
                Ok(match reason {
                    Some(reason) => Judged::NotRun { reason, answer },
                    None => Judged::Answer(answer),
                })
            })
            .await?;
        Ok(sent.answer)
    }

    /// Signs and sends one 3.0 body and hands each HTTP-200 answer to
    /// `judge`. While the judge finds that SCF refused the call before
    /// running anything, the call is sent again after a jittered,
    /// exponentially growing wait — as long as the wait ends within the
    /// throttle budget (from the first call) and before the request's
    /// deadline; then the last answer is returned with [`Sent::gave_up`].
    /// Only what the judge proves not run is ever sent again (besides
    /// reads whose connection broke, as [`Self::send`] says).
    pub async fn send_judged<T>(
        &mut self,
        action: &'static str,
        version: &'static str,
        kind: CallKind,
        body: Bytes,
        mut judge: impl FnMut(Bytes) -> Result<Judged<T>, Failure> + Send,
    ) -> Result<Sent<T>, Failure> {
        let started = tokio::time::Instant::now();
        let stop = (started + self.settings.throttle_retry_budget).min(self.deadline);
        let mut tries = 0u32;
        loop {
            tries += 1;
            let answer = self
                .send_transport(action, version, kind, body.clone())
                .await?;
            match judge(answer)? {
                Judged::Answer(answer) => {
                    if tries > 1 {
                        metrics::throttle_recovered();
                    }
                    return Ok(Sent {
                        answer,
                        gave_up: None,
                    });
                }
                Judged::NotRun { reason, answer } => {
                    let now = tokio::time::Instant::now();
                    let wait = backoff(tries);
                    if now + wait > stop {
                        metrics::throttle_given_up(reason);
                        return Ok(Sent {
                            answer,
                            gave_up: Some(GaveUp {
                                reason,
                                tries,
                                tried_for: now - started,
                            }),
                        });
                    }
                    metrics::throttle_retry(reason);
                    self.notes.throttle_retries += 1;
                    tracing::debug!(
                        action,
                        attempt = tries,
                        reason,
                        ?wait,
                        "3.0 call throttled; sending again"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One call as the transport sees it, a read sent again after its
    /// connection broke.
    async fn send_transport(
        &mut self,
        action: &'static str,
        version: &'static str,
        kind: CallKind,
        body: Bytes,
    ) -> Result<Bytes, Failure> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.send_once(action, version, body.clone()).await {
                Err(Failure::Bridge(e))
                    if kind == CallKind::Read
                        && tries <= READ_RETRIES
                        && e.kind == ErrorKind::UpstreamConnectionLost =>
                {
                    tracing::debug!(action, attempt = tries, error = %e, "3.0 read lost; sending again");
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &mut self,
        action: &'static str,
        version: &'static str,
        body: Bytes,
    ) -> Result<Bytes, Failure> {
        let call = signer::Call {
            action,
            version,
            region: self.region,
            timestamp: (self.clock)(),
        };
        let headers = signer::signed_headers(&self.target.host, &call, &body, self.keys)
            .map_err(|e| BridgeError::new(ErrorKind::InvalidParameterValue, e.to_string()))?;
        if self.dry_run {
            dry_run_log(&self.target, &headers, &body, action);
            return Err(Failure::DryRun);
        }
        if let Some(budget) = self.budget {
            budget
                .acquire(&self.keys.secret_id, action, self.region)
                .await?;
        }
        let started = Instant::now();
        self.sent.store(true, Ordering::SeqCst);
        self.notes.calls += 1;
        self.notes.last_action = Some(action);
        let result = self.transport.send(&self.target, headers, body).await;
        let elapsed = started.elapsed();
        self.notes.upstream = Some(self.notes.upstream.unwrap_or_default() + elapsed);
        let response = result.inspect_err(|e| metrics::upstream_error(e.kind.name()))?;
        metrics::upstream_call(elapsed);
        if response.status != StatusCode::OK {
            metrics::upstream_error(ErrorKind::UpstreamBadResponse.name());
            return Err(Failure::Bridge(BridgeError::after_send(
                ErrorKind::UpstreamBadResponse,
                format!(
                    "SCF endpoint answered HTTP {} instead of a 3.0 envelope",
                    response.status.as_u16()
                ),
            )));
        }
        Ok(response.body)
    }
}

/// The wait before try `tries + 1`: drawn uniformly from the upper half of
/// `BACKOFF_FIRST · 2^(tries-1)`, capped at `BACKOFF_MAX`, so that callers
/// throttled together do not come back together.
pub fn backoff(tries: u32) -> Duration {
    let ceiling = BACKOFF_FIRST
        .saturating_mul(1 << tries.saturating_sub(1).min(16))
        .min(BACKOFF_MAX);
    let half = ceiling / 2;
    // Random bits from the UUID generator the bridge already has.
    let fraction = (uuid::Uuid::new_v4().as_u128() & 0xffff) as u32;
    half + half.mul_f64(f64::from(fraction) / 65_536.0)
}

/// The error for an HTTP-200 answer that is not a usable 3.0 envelope.
pub fn unusable(e: impl std::fmt::Display) -> BridgeError {
    let e = BridgeError::after_send(
        ErrorKind::UpstreamBadResponse,
        format!("SCF endpoint answered with an unusable body: {e}"),
    );
    metrics::upstream_error(e.kind.name());
    e
}

/// `upstream.mode = "dry-run"`: the would-be call, secrets redacted.
fn dry_run_log(target: &Target, headers: &http::HeaderMap, body: &[u8], action: &str) {
    let shown: Vec<String> = headers
        .iter()
        .map(|(k, v)| {
            let v = if v.is_sensitive() {
                "<redacted>"
            } else {
                v.to_str().unwrap_or("<binary>")
            };
            format!("{k}: {v}")
        })
        .collect();
    tracing::info!(
        target: "scf_bridge::dry_run",
        uri = %target.uri,
        headers = ?shown,
        body = %String::from_utf8_lossy(body),
        "dry run: 3.0 {action} translated and signed, not sent"
    );
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::Duration;

    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;
    use crate::testing::{Scripted, ScriptedTransport};
    use crate::types::Secret;

    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct GetFunction<'a> {
        function_name: &'a str,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Function {
        status: String,
    }

    impl envelope::Request for GetFunction<'_> {
        const ACTION: &'static str = "GetFunction";
        const KIND: CallKind = CallKind::Read;
        type Response = Function;
    }

    #[derive(Serialize)]
    struct Delete {}

    #[derive(Debug, Deserialize)]
    struct Nothing {}

    impl envelope::Request for Delete {
        const ACTION: &'static str = "DeleteFunction";
        const KIND: CallKind = CallKind::Mutation;
        type Response = Nothing;
    }

    struct Fixture {
        transport: Arc<ScriptedTransport>,
        keys: KeyPair,
        clock: Clock,
        sent: AtomicBool,
        settings: ActionSettings,
        deadline: tokio::time::Instant,
    }

    impl Fixture {
        fn new(script: impl IntoIterator<Item = Scripted>) -> Self {
            Fixture {
                transport: ScriptedTransport::new(script),
                keys: KeyPair {
                    secret_id: "AKIDt".into(),
                    secret_key: Secret::new("k"),
                    token: None,
                },
                clock: Arc::new(|| 1_700_000_000),
                sent: AtomicBool::new(false),
                settings: ActionSettings::default(),
                deadline: tokio::time::Instant::now() + Duration::from_secs(330),
            }
        }

        fn client(&self) -> Scf3Client<'_> {
            let target = self.transport.target("ap-guangzhou").unwrap();
            Scf3Client::new(
                &*self.transport,
                target,
                "ap-guangzhou",
                &self.keys,
                &self.clock,
                &self.sent,
                false,
                &self.settings,
                self.deadline,
            )
        }
    }

    fn status(s: &str) -> Scripted {
        Scripted::ok(json!({"Status": s, "FunctionName": "f"}), "r")
    }

    #[tokio::test]
    async fn a_read_is_sent_again_after_its_connection_broke() {
        let f = Fixture::new([
            Scripted::connection_lost(),
            Scripted::connection_lost(),
            status("Active"),
        ]);
        let mut c = f.client();
        let got = c.call(&GetFunction { function_name: "f" }).await.unwrap();
        assert_eq!(got.status, "Active");
        assert_eq!(f.transport.actions(), ["GetFunction"; 3]);
        assert_eq!(c.into_notes().calls, 3);
    }

    #[tokio::test]
    async fn a_read_gives_up_after_its_retries() {
        let f = Fixture::new([
            Scripted::connection_lost(),
            Scripted::connection_lost(),
            Scripted::connection_lost(),
            status("Active"),
        ]);
        let got = f.client().call(&GetFunction { function_name: "f" }).await;
        assert!(matches!(got, Err(Failure::Bridge(e)) if e.may_have_reached_scf));
        assert_eq!(f.transport.remaining(), 1);
    }

    #[tokio::test]
    async fn a_mutation_is_never_sent_again() {
        let f = Fixture::new([Scripted::connection_lost(), Scripted::ok(json!({}), "r")]);
        let got = f.client().call(&Delete {}).await;
        assert!(matches!(got, Err(Failure::Bridge(_))));
        assert_eq!(f.transport.actions(), ["DeleteFunction"]);
        assert!(f.sent.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn an_error_envelope_is_a_failure_noted_for_the_log() {
        let f = Fixture::new([Scripted::error("ResourceInUse.Function", "busy", "rid-9")]);
        let mut c = f.client();
        let got = c.call(&Delete {}).await;
        assert!(matches!(&got, Err(Failure::Scf(e)) if e.code == "ResourceInUse.Function"));
        let notes = c.into_notes();
        assert_eq!(notes.request_id.as_deref(), Some("rid-9"));
        assert_eq!(notes.scf_error.as_deref(), Some("ResourceInUse.Function"));
    }

    #[tokio::test]
    async fn a_non_200_or_unusable_answer_is_a_bad_response() {
        let f = Fixture::new([
            Scripted::Status(502, b"bad gateway".to_vec()),
            Scripted::Body(b"{}".to_vec()),
        ]);
        let mut c = f.client();
        for _ in 0..2 {
            let got = c.call(&Delete {}).await;
            assert!(
                matches!(&got, Err(Failure::Bridge(e)) if e.kind == ErrorKind::UpstreamBadResponse),
                "{got:?}"
            );
        }
    }

    fn throttled() -> Scripted {
        Scripted::error(
            "RequestLimitExceeded.UinLimitExceeded",
            "slow down",
            "rid-t",
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_read_or_mutation_is_sent_again_until_it_is_answered() {
        let f = Fixture::new([throttled(), throttled(), status("Active")]);
        let mut c = f.client();
        let got = c.call(&GetFunction { function_name: "f" }).await.unwrap();
        assert_eq!(got.status, "Active");
        assert_eq!(f.transport.actions(), ["GetFunction"; 3]);
        assert_eq!(c.into_notes().throttle_retries, 2);
        // A mutation too: the throttling proves it did not run.
        let f = Fixture::new([throttled(), Scripted::ok(json!({}), "r")]);
        f.client().call(&Delete {}).await.unwrap();
        assert_eq!(f.transport.actions(), ["DeleteFunction"; 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn raw_sends_are_retried_when_their_small_answer_is_throttling() {
        let f = Fixture::new([throttled(), Scripted::ok(json!({"Ok": 1}), "r")]);
        let body = f
            .client()
            .send(
                "Invoke",
                "2018-04-16",
                CallKind::Mutation,
                Bytes::from_static(b"{}"),
            )
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("\"Ok\":1"));
        assert_eq!(f.transport.actions().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_call_gives_up_within_the_budget_and_says_so() {
        let mut f = Fixture::new(std::iter::repeat_n(throttled(), 50));
        f.settings.throttle_retry_budget = Duration::from_millis(500);
        let started = tokio::time::Instant::now();
        let got = f.client().call(&Delete {}).await;
        let Err(Failure::Scf(e)) = got else {
            panic!("{got:?}")
        };
        assert_eq!(e.code, "RequestLimitExceeded.UinLimitExceeded");
        let tries = f.transport.actions().len();
        assert!(
            e.message.contains(&format!("tried {tries} times")),
            "{}",
            e.message
        );
        assert!(started.elapsed() <= Duration::from_millis(500));
        // 25–50, 50–100, 100–200 ms fit in 500 ms; a 200–400 ms step may.
        assert!((4..=5).contains(&tries), "{tries}");
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_are_never_sent_again() {
        for code in [
            "InternalError",
            "LimitExceeded.Quota",
            "ResourceInUse.Function",
        ] {
            let f = Fixture::new([Scripted::error(code, "no", "r"), status("Active")]);
            let got = f.client().call(&Delete {}).await;
            assert!(matches!(got, Err(Failure::Scf(e)) if e.code == code));
            assert_eq!(f.transport.actions().len(), 1, "{code}");
        }
    }

    #[test]
    fn back_off_grows_with_jitter_and_a_ceiling() {
        for tries in 1..20 {
            let ceiling = (BACKOFF_FIRST * (1 << (tries - 1).min(10))).min(BACKOFF_MAX);
            for _ in 0..50 {
                let wait = backoff(tries);
                assert!(wait >= ceiling / 2 && wait <= ceiling, "{tries}: {wait:?}");
            }
        }
        let waits: std::collections::HashSet<Duration> = (0..50).map(|_| backoff(5)).collect();
        assert!(waits.len() > 10, "jittered: {waits:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn polling_waits_between_reads_until_the_answer_is_final() {
        let f = Fixture::new([status("Creating"), status("Creating"), status("Active")]);
        let started = tokio::time::Instant::now();
        let got = f
            .client()
            .poll(
                &GetFunction { function_name: "f" },
                Duration::from_secs(1),
                Duration::from_secs(90),
                |a| (a.status != "Creating").then(|| a.status.clone()),
            )
            .await
            .unwrap();
        assert!(matches!(got, Polled::Done(s) if s == "Active"));
        assert_eq!(f.transport.actions().len(), 3);
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn polling_stops_at_its_limit_with_the_last_answer() {
        let f = Fixture::new(std::iter::repeat_n(status("Creating"), 20));
        let got = f
            .client()
            .poll(
                &GetFunction { function_name: "f" },
                Duration::from_secs(1),
                Duration::from_secs(5),
                |a| (a.status == "Active").then_some(()),
            )
            .await
            .unwrap();
        assert!(matches!(got, Polled::TimedOut(a) if a.status == "Creating"));
        // At 0, 1, 2, 3, 4 and 5 s.
        assert_eq!(f.transport.actions().len(), 6);
    }
}
