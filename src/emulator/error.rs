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
    /// Over the action's frequency limit; nothing ran.
    pub const REQUEST_LIMIT_EXCEEDED: &str = "RequestLimitExceeded";
    /// The action is offline (`GetFunctionLogs` since 2021-07-01).
    pub const ACTION_OFFLINE: &str = "ActionOffline";
    /// `Event` of `InvokeFunction` is not valid JSON.
    pub const INVALID_PARAMETER_VALUE_CLIENT_CONTEXT: &str = "InvalidParameterValue.ClientContext";
    /// A function of that name exists (or is still being deleted).
    pub const FUNCTION_IN_USE: &str = "ResourceInUse.Function";
    /// A trigger of that type and name exists on the function.
    pub const TRIGGER_IN_USE: &str = "ResourceInUse.Trigger";
    /// No such trigger.
    pub const TRIGGER_NOT_FOUND: &str = "ResourceNotFound.Trigger";
    /// No such version or alias (only `$LATEST`, and `$DEFAULT` for invocations).
    pub const QUALIFIER_NOT_FOUND: &str = "ResourceNotFound.Qualifier";
    /// The function is not `Active` (creating, updating, deleting, failed).
    pub const FUNCTION_STATUS_ERROR: &str = "FailedOperation.FunctionStatusError";
    /// A trigger cannot be changed while the function is not `Active`.
    pub const CREATE_TRIGGER_FAILED: &str = "FailedOperation.CreateTrigger";
    /// Neither a zip nor a COS object (nor a handler) was given.
    pub const MISSING_PARAMETER_CODE: &str = "MissingParameter.Code";
    /// The code source is incomplete or contradictory.
    pub const INVALID_PARAMETER_VALUE_CODE: &str = "InvalidParameterValue.Code";
    /// `ZipFile` is not base64.
    pub const INVALID_PARAMETER_VALUE_ZIP_BASE64: &str =
        "InvalidParameterValue.ZipFileBase64BinasciiError";
    /// `ZipFile` decodes to something that is not a zip archive.
    pub const INVALID_PARAMETER_VALUE_ZIP_FILE: &str = "InvalidParameterValue.ZipFile";
    /// A COS reference is incomplete.
    pub const INVALID_PARAMETER_VALUE_COS: &str = "InvalidParameterValue.Cos";
    /// `MemorySize` is not 64 or a multiple of 128 from 128 to 3072.
    pub const INVALID_PARAMETER_VALUE_MEMORY_SIZE: &str = "InvalidParameterValue.MemorySize";
    /// `Timeout` is outside 1..=900 seconds.
    pub const LIMIT_EXCEEDED_TIMEOUT: &str = "LimitExceeded.Timeout";
    /// `Runtime` is unknown, or differs on an update (it cannot change).
    pub const INVALID_PARAMETER_VALUE_RUNTIME: &str = "InvalidParameterValue.Runtime";
    /// `Description` is over 1000 characters.
    pub const INVALID_PARAMETER_VALUE_DESCRIPTION: &str = "InvalidParameterValue.Description";
    /// `Offset` is negative.
    pub const INVALID_PARAMETER_VALUE_OFFSET: &str = "InvalidParameterValue.Offset";
    /// `Limit` is out of range.
    pub const INVALID_PARAMETER_VALUE_LIMIT: &str = "InvalidParameterValue.Limit";
    /// `Order` is not one of its values.
    pub const INVALID_PARAMETER_VALUE_ORDER: &str = "InvalidParameterValue.Order";
    /// `Orderby`/`OrderBy` is not one of its values.
    pub const INVALID_PARAMETER_VALUE_ORDER_BY: &str = "InvalidParameterValue.OrderBy";
    /// `ShowCode`, `Enable` or a similar switch has another value.
    /// The trigger `Type` is not served (timer and cos are).
    pub const INVALID_PARAMETER_VALUE_TYPE: &str = "InvalidParameterValue.Type";
    /// `TriggerDesc` does not fit the trigger type.
    pub const INVALID_PARAMETER_VALUE_TRIGGER_DESC: &str = "InvalidParameterValue.TriggerDesc";
    /// `TriggerName` does not fit the trigger type.
    pub const INVALID_PARAMETER_VALUE_TRIGGER_NAME: &str = "InvalidParameterValue.TriggerName";
    /// `Filters` is malformed.
    pub const INVALID_PARAMETER_VALUE_FILTERS: &str = "InvalidParameterValue.Filters";
    /// `Filter.RetCode` is not one of its values.
    pub const INVALID_PARAMETER_VALUE_RET_CODE: &str = "InvalidParameterValue.RetCode";
    /// `StartTime`/`EndTime` is not `YYYY-MM-DD HH:MM:SS`.
    pub const INVALID_PARAMETER_VALUE_DATE_TIME: &str = "InvalidParameterValue.DateTime";
    /// The region is not served.
    pub const UNSUPPORTED_REGION: &str = "UnsupportedRegion";
    /// The action is not served in this region.
    pub const UNSUPPORTED_OPERATION_REGION: &str = "UnsupportedOperation.Region";
    /// Too many functions in the namespace.
    pub const LIMIT_EXCEEDED_FUNCTION: &str = "LimitExceeded.Function";
    /// Too many triggers of that type on the function.
    pub const LIMIT_EXCEEDED_TRIGGER: &str = "LimitExceeded.Trigger";
}
