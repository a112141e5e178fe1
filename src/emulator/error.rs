//! The emulator's API errors: a documented 3.0 error code and a human message
//! (never a secret), answered inside the `Response.Error` envelope.

/// An API-level refusal, answered as HTTP 200 with the Error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The 3.0 error code, e.g. `AuthFailure.SignatureFailure`.
    pub code: &'static str,
    /// Human text for the caller; names the parameter at fault, never a secret.
    pub message: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

/// The error codes the emulator answers with (common codes and SCF's own).
pub mod code {
    /// `Authorization` missing or not a TC3 header.
    pub const INVALID_AUTHORIZATION: &str = "AuthFailure.InvalidAuthorization";
    /// The SecretId is not configured.
    pub const SECRET_ID_NOT_FOUND: &str = "AuthFailure.SecretIdNotFound";
    /// Timestamp too far from the server clock, or credential date not its UTC date.
    pub const SIGNATURE_EXPIRE: &str = "AuthFailure.SignatureExpire";
    /// The signature does not match.
    pub const SIGNATURE_FAILURE: &str = "AuthFailure.SignatureFailure";
    /// `X-TC-Action` is not an action of this service.
    pub const INVALID_ACTION: &str = "InvalidAction";
    /// `X-TC-Version` is not `2018-04-16`.
    pub const NO_SUCH_VERSION: &str = "NoSuchVersion";
    /// A required parameter (header or body field) is missing.
    pub const MISSING_PARAMETER: &str = "MissingParameter";
    /// A parameter has the wrong format or type.
    pub const INVALID_PARAMETER: &str = "InvalidParameter";
    /// `FunctionName` does not follow the naming rules.
    pub const INVALID_PARAMETER_FUNCTION_NAME: &str = "InvalidParameter.FunctionName";
    /// The event is larger than 6 MB (sync) / 128 KB (async).
    pub const REQUEST_TOO_LARGE: &str = "InvalidParameter.RequestTooLarge";
    /// A parameter has a value outside its allowed set.
    pub const INVALID_PARAMETER_VALUE: &str = "InvalidParameterValue";
    /// `ClientContext` is not valid JSON.
    pub const INVALID_PARAMETER_VALUE_PARAM: &str = "InvalidParameterValue.Param";
    /// A body field that `Invoke` does not define.
    pub const UNKNOWN_PARAMETER: &str = "UnknownParameter";
    /// The request body is above 10 MB.
    pub const REQUEST_SIZE_LIMIT_EXCEEDED: &str = "RequestSizeLimitExceeded";
    /// Not a POST.
    pub const UNSUPPORTED_PROTOCOL: &str = "UnsupportedProtocol";
    /// No such function.
    pub const FUNCTION_NOT_FOUND: &str = "ResourceNotFound.Function";
    /// No such namespace (only `default` exists).
    pub const NAMESPACE_NOT_FOUND: &str = "ResourceNotFound.Namespace";
    /// The request could not be read.
    pub const INTERNAL_ERROR: &str = "InternalError";
}
