//! The bridge's one error type: where a failure came from (caller, bridge,
//! upstream), whether the request may have reached SCF, and which legacy
//! code it answers with. [`BridgeError::to_answer`] is the single place that
//! turns it into the legacy envelope.
//!
//! SCF's own error envelopes are not `BridgeError`s: they are answers, mapped
//! by `translate::legacy_code_for`.

use std::fmt;

use crate::legacy::answer::{codes, LegacyAnswer};

/// Who caused the failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The legacy client sent something the bridge cannot accept.
    Caller,
    /// The bridge itself refused or failed (overload, shutdown, a bug).
    Bridge,
    /// The SCF 3.0 endpoint failed, or the way to it did.
    Upstream,
}

/// What went wrong; each kind has one legacy code and one `codeDesc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    // Caller.
    InvalidParameter,
    MissingParameter,
    InvalidParameterValue,
    InvalidAction,
    RequestTooLarge,
    UnsupportedMediaType,
    NotFound,
    MethodNotAllowed,
    SignatureFailure,
    SecretIdNotFound,
    SignatureExpire,
    ReplayAttack,
    // Bridge.
    Overloaded,
    ReplayMemoryFull,
    ShuttingDown,
    NoCredentials,
    Internal,
    // Upstream.
    /// The connection was never made (refused, DNS, TLS handshake): nothing was sent.
    UpstreamUnreachable,
    /// No complete answer within the deadline.
    UpstreamTimeout,
    /// The connection broke after the request may have been written.
    UpstreamConnectionLost,
    /// SCF answered with something that is not a 3.0 envelope.
    UpstreamBadResponse,
}

impl ErrorKind {
    pub fn source(self) -> Source {
        use ErrorKind::*;
        match self {
            InvalidParameter
            | MissingParameter
            | InvalidParameterValue
            | InvalidAction
            | RequestTooLarge
            | UnsupportedMediaType
            | NotFound
            | MethodNotAllowed
            | SignatureFailure
            | SecretIdNotFound
            | SignatureExpire
            | ReplayAttack => Source::Caller,
            Overloaded | ReplayMemoryFull | ShuttingDown | NoCredentials | Internal => {
                Source::Bridge
            }
            UpstreamUnreachable
            | UpstreamTimeout
            | UpstreamConnectionLost
            | UpstreamBadResponse => Source::Upstream,
        }
    }

    /// The legacy `code`.
    pub fn legacy_code(self) -> i64 {
        use ErrorKind::*;
        match self {
            InvalidParameter
            | MissingParameter
            | InvalidParameterValue
            | InvalidAction
            | RequestTooLarge
            | UnsupportedMediaType
            | NotFound
            | MethodNotAllowed => codes::INVALID_PARAMETER,
            SignatureFailure => codes::AUTH_FAILURE,
            SecretIdNotFound => codes::SECRET_ID_NOT_FOUND,
            SignatureExpire => codes::SIGNATURE_EXPIRE,
            ReplayAttack => codes::REPLAY_ATTACK,
            Overloaded | ReplayMemoryFull => codes::QUOTA_EXCEEDED,
            ShuttingDown | UpstreamUnreachable | UpstreamTimeout => codes::TEMPORARILY_UNAVAILABLE,
            NoCredentials | Internal | UpstreamConnectionLost | UpstreamBadResponse => {
                codes::INTERNAL_ERROR
            }
        }
    }

    /// The legacy `codeDesc`, in the 3.0 vocabulary SCF itself uses.
    pub fn code_desc(self) -> &'static str {
        use ErrorKind::*;
        match self {
            InvalidParameter | NotFound | MethodNotAllowed | UnsupportedMediaType => {
                "InvalidParameter"
            }
            MissingParameter => "MissingParameter",
            InvalidParameterValue => "InvalidParameterValue",
            InvalidAction => "InvalidAction",
            RequestTooLarge => "InvalidParameter.RequestTooLarge",
            SignatureFailure => "AuthFailure.SignatureFailure",
            SecretIdNotFound => "AuthFailure.SecretIdNotFound",
            SignatureExpire => "AuthFailure.SignatureExpire",
            ReplayAttack => "AuthFailure.ReplayAttack",
            Overloaded | ReplayMemoryFull => "RequestLimitExceeded",
            ShuttingDown | UpstreamUnreachable | UpstreamTimeout => "ServiceUnavailable",
            NoCredentials | Internal | UpstreamConnectionLost | UpstreamBadResponse => {
                "InternalError"
            }
        }
    }

    /// The `X-Scf-Bridge-Error` header value: a stable, bounded name.
    pub fn name(self) -> &'static str {
        use ErrorKind::*;
        match self {
            InvalidParameter => "invalid-parameter",
            MissingParameter => "missing-parameter",
            InvalidParameterValue => "invalid-parameter-value",
            InvalidAction => "invalid-action",
            RequestTooLarge => "request-too-large",
            UnsupportedMediaType => "unsupported-media-type",
            NotFound => "not-found",
            MethodNotAllowed => "method-not-allowed",
            SignatureFailure => "signature-failure",
            SecretIdNotFound => "secret-id-not-found",
            SignatureExpire => "signature-expired",
            ReplayAttack => "replay",
            Overloaded => "overloaded",
            ReplayMemoryFull => "replay-memory-full",
            ShuttingDown => "shutting-down",
            NoCredentials => "no-credentials",
            Internal => "internal",
            UpstreamUnreachable => "upstream-unreachable",
            UpstreamTimeout => "upstream-timeout",
            UpstreamConnectionLost => "upstream-connection-lost",
            UpstreamBadResponse => "upstream-bad-response",
        }
    }

    /// HTTP status: always 200 (legacy clients drop any other body), except
    /// for a wrong path or method, which are not legacy API calls at all.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            _ => 200,
        }
    }
}

/// A failure with the context an operator needs, and never a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeError {
    pub kind: ErrorKind,
    /// Human-readable detail: which parameter, which fault.
    pub detail: String,
    /// Whether any byte of an `Invoke` may have reached SCF (then the
    /// function may have run, and the request is never retried).
    pub may_have_reached_scf: bool,
    /// For the operator's log only, never the caller: the upstream's
    /// address, the OS error and the like.
    pub internal: Option<String>,
}

impl BridgeError {
    /// An error raised before anything was sent upstream.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        BridgeError {
            kind,
            detail: detail.into(),
            may_have_reached_scf: false,
            internal: None,
        }
    }

    /// An upstream failure after the request may have been delivered.
    pub fn after_send(kind: ErrorKind, detail: impl Into<String>) -> Self {
        BridgeError {
            kind,
            detail: detail.into(),
            may_have_reached_scf: true,
            internal: None,
        }
    }

    /// Adds what only the log may show ([`BridgeError::internal`]).
    pub fn with_internal(mut self, internal: impl Into<String>) -> Self {
        self.internal = Some(internal.into());
        self
    }

    /// The detail and the internal part, for the log.
    pub fn log_detail(&self) -> std::borrow::Cow<'_, str> {
        match &self.internal {
            None => std::borrow::Cow::Borrowed(&self.detail),
            Some(i) => std::borrow::Cow::Owned(format!("{}; {i}", self.detail)),
        }
    }

    pub fn source(&self) -> Source {
        self.kind.source()
    }

    /// The legacy envelope for this error.
    pub fn to_answer(&self) -> LegacyAnswer {
        let mut message = format!("({}) {}", self.kind.code_desc(), self.detail);
        if self.may_have_reached_scf {
            message.push_str(
                " (the request may have reached SCF: the function may have run; \
                 check before invoking again)",
            );
        }
        LegacyAnswer::error(self.kind.legacy_code(), self.kind.code_desc(), message)
    }
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.detail)
    }
}

impl std::error::Error for BridgeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_errors_are_http_200_with_code_4000_family() {
        let e = BridgeError::new(ErrorKind::MissingParameter, "missing `functionName`");
        let a = e.to_answer();
        assert_eq!(a.code, 4000);
        assert_eq!(a.code_desc, "MissingParameter");
        assert_eq!(a.message, "(MissingParameter) missing `functionName`");
        assert_eq!(e.kind.http_status(), 200);
        assert_eq!(e.source(), Source::Caller);
    }

    #[test]
    fn wrong_path_and_method_keep_their_http_status() {
        assert_eq!(ErrorKind::NotFound.http_status(), 404);
        assert_eq!(ErrorKind::MethodNotAllowed.http_status(), 405);
    }

    #[test]
    fn may_have_run_is_said_in_the_message() {
        let e = BridgeError::after_send(ErrorKind::UpstreamTimeout, "no answer within 330 s");
        let a = e.to_answer();
        assert_eq!(a.code, 6200);
        assert!(a.message.contains("may have run"), "{}", a.message);
        let e = BridgeError::new(ErrorKind::UpstreamUnreachable, "connection refused");
        assert!(!e.to_answer().message.contains("may have run"));
    }

    #[test]
    fn the_internal_part_is_logged_but_never_answered() {
        let e = BridgeError::new(ErrorKind::UpstreamUnreachable, "cannot connect (refused)")
            .with_internal("10.1.2.3:443: tcp connect error: Connection refused (os error 111)");
        let a = e.to_answer();
        assert!(!a.message.contains("10.1.2.3"), "{}", a.message);
        assert!(!a.message.contains("os error"), "{}", a.message);
        assert!(e.log_detail().contains("10.1.2.3:443"));
        assert!(e.log_detail().contains("cannot connect"));
    }

    #[test]
    fn auth_kinds_have_their_legacy_codes() {
        assert_eq!(ErrorKind::SignatureFailure.legacy_code(), 4100);
        assert_eq!(ErrorKind::SecretIdNotFound.legacy_code(), 4104);
        assert_eq!(ErrorKind::SignatureExpire.legacy_code(), 4200);
        assert_eq!(ErrorKind::ReplayAttack.legacy_code(), 4500);
        assert_eq!(ErrorKind::Overloaded.legacy_code(), 4400);
    }
}
