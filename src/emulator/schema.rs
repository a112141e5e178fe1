//! The SCF 3.0 actions the emulator serves: each action's request fields (the
//! allow-list behind `UnknownParameter`) and its default frequency limit.
//!
//! The field lists are the request models of the official 3.0 SDK
//! (`tencentcloud.scf.v20180416.models.<Action>Request`); a test in
//! `tests/clients/test_sdk3_schema.py` compares [`schema_json`] with the SDK
//! itself so the two cannot drift. Limits are the documented per-second
//! defaults (docs/protocol.md, "Rate limits").

use serde_json::{json, Map, Value};

/// One served action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `CreateFunction`.
    CreateFunction,
    /// `ListFunctions`.
    ListFunctions,
    /// `GetFunction`.
    GetFunction,
    /// `UpdateFunctionConfiguration`.
    UpdateFunctionConfiguration,
    /// `UpdateFunctionCode`.
    UpdateFunctionCode,
    /// `DeleteFunction`.
    DeleteFunction,
    /// `Invoke` (sync or async).
    Invoke,
    /// `InvokeFunction` (sync only).
    InvokeFunction,
    /// `CreateTrigger`.
    CreateTrigger,
    /// `UpdateTrigger`.
    UpdateTrigger,
    /// `DeleteTrigger`.
    DeleteTrigger,
    /// `ListTriggers`.
    ListTriggers,
    /// `GetFunctionLogs` (offline by default, like the real service).
    GetFunctionLogs,
    /// `GetRequestStatus`.
    GetRequestStatus,
    /// `GetAccount`.
    GetAccount,
}

/// Every served action, in a stable order.
pub const ALL: [Action; 15] = [
    Action::CreateFunction,
    Action::ListFunctions,
    Action::GetFunction,
    Action::UpdateFunctionConfiguration,
    Action::UpdateFunctionCode,
    Action::DeleteFunction,
    Action::Invoke,
    Action::InvokeFunction,
    Action::CreateTrigger,
    Action::UpdateTrigger,
    Action::DeleteTrigger,
    Action::ListTriggers,
    Action::GetFunctionLogs,
    Action::GetRequestStatus,
    Action::GetAccount,
];

/// The fields of the `Code` object of `CreateFunction`.
pub const CODE_FIELDS: &[&str] = &[
    "CosBucketName",
    "CosObjectName",
    "ZipFile",
    "CosBucketRegion",
    "DemoId",
    "TempCosObjectName",
    "GitUrl",
    "GitUserName",
    "GitPassword",
    "GitPasswordSecret",
    "GitBranch",
    "GitDirectory",
    "GitCommitId",
    "GitUserNameSecret",
    "ImageConfig",
];

impl Action {
    /// The action called `name` (case-sensitive, as `X-TC-Action` is).
    pub fn parse(name: &str) -> Option<Action> {
        ALL.into_iter().find(|a| a.name() == name)
    }

    /// The `X-TC-Action` value.
    pub fn name(self) -> &'static str {
        match self {
            Action::CreateFunction => "CreateFunction",
            Action::ListFunctions => "ListFunctions",
            Action::GetFunction => "GetFunction",
            Action::UpdateFunctionConfiguration => "UpdateFunctionConfiguration",
            Action::UpdateFunctionCode => "UpdateFunctionCode",
            Action::DeleteFunction => "DeleteFunction",
            Action::Invoke => "Invoke",
            Action::InvokeFunction => "InvokeFunction",
            Action::CreateTrigger => "CreateTrigger",
            Action::UpdateTrigger => "UpdateTrigger",
            Action::DeleteTrigger => "DeleteTrigger",
            Action::ListTriggers => "ListTriggers",
            Action::GetFunctionLogs => "GetFunctionLogs",
            Action::GetRequestStatus => "GetRequestStatus",
            Action::GetAccount => "GetAccount",
        }
    }

    /// The request fields this action defines; any other is `UnknownParameter`.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Action::CreateFunction => &[
                "FunctionName",
                "Code",
                "Handler",
                "Description",
                "MemorySize",
                "Timeout",
                "Environment",
                "Runtime",
                "VpcConfig",
                "Namespace",
                "Role",
                "InstallDependency",
                "ClsLogsetId",
                "ClsTopicId",
                "Type",
                "CodeSource",
                "Layers",
                "DeadLetterConfig",
                "PublicNetConfig",
                "CfsConfig",
                "InitTimeout",
                "Tags",
                "AsyncRunEnable",
                "TraceEnable",
                "AutoDeployClsTopicIndex",
                "AutoCreateClsTopic",
                "ProtocolType",
                "ProtocolParams",
                "InstanceConcurrencyConfig",
                "DnsCache",
                "IntranetConfig",
            ],
            Action::ListFunctions => &[
                "Order",
                "Orderby",
                "Offset",
                "Limit",
                "SearchKey",
                "Namespace",
                "Description",
                "Filters",
            ],
            Action::GetFunction => &["FunctionName", "Qualifier", "Namespace", "ShowCode"],
            Action::UpdateFunctionConfiguration => &[
                "FunctionName",
                "Description",
                "MemorySize",
                "Timeout",
                "Runtime",
                "Environment",
                "Namespace",
                "VpcConfig",
                "Role",
                "InstallDependency",
                "ClsLogsetId",
                "ClsTopicId",
                "Publish",
                "L5Enable",
                "Layers",
                "DeadLetterConfig",
                "PublicNetConfig",
                "CfsConfig",
                "InitTimeout",
                "ProtocolParams",
                "InstanceConcurrencyConfig",
                "DnsCache",
                "IntranetConfig",
                "IgnoreSysLog",
            ],
            Action::UpdateFunctionCode => &[
                "FunctionName",
                "Handler",
                "CosBucketName",
                "CosObjectName",
                "ZipFile",
                "Namespace",
                "CosBucketRegion",
                "InstallDependency",
                "EnvId",
                "Publish",
                "Code",
                "CodeSource",
            ],
            Action::DeleteFunction => &["FunctionName", "Namespace", "Qualifier"],
            Action::Invoke => &[
                "FunctionName",
                "InvocationType",
                "Qualifier",
                "ClientContext",
                "LogType",
                "Namespace",
                "RoutingKey",
            ],
            Action::InvokeFunction => &[
                "FunctionName",
                "Qualifier",
                "Event",
                "LogType",
                "Namespace",
                "RoutingKey",
            ],
            Action::CreateTrigger => &[
                "FunctionName",
                "TriggerName",
                "Type",
                "TriggerDesc",
                "Namespace",
                "Qualifier",
                "Enable",
                "CustomArgument",
                "Description",
            ],
            Action::UpdateTrigger => &[
                "FunctionName",
                "TriggerName",
                "Type",
                "Enable",
                "Qualifier",
                "Namespace",
                "TriggerDesc",
                "Description",
                "CustomArgument",
            ],
            Action::DeleteTrigger => &[
                "FunctionName",
                "TriggerName",
                "Type",
                "Namespace",
                "TriggerDesc",
                "Qualifier",
            ],
            Action::ListTriggers => &[
                "FunctionName",
                "Namespace",
                "Offset",
                "Limit",
                "OrderBy",
                "Order",
                "Filters",
            ],
            Action::GetFunctionLogs => &[
                "FunctionName",
                "Offset",
                "Limit",
                "Order",
                "OrderBy",
                "Filter",
                "Namespace",
                "Qualifier",
                "FunctionRequestId",
                "StartTime",
                "EndTime",
                "SearchContext",
            ],
            Action::GetRequestStatus => &[
                "FunctionName",
                "FunctionRequestId",
                "Namespace",
                "StartTime",
                "EndTime",
            ],
            Action::GetAccount => &[],
        }
    }

    /// The documented default frequency limit, requests per second.
    pub fn default_rate_limit(self) -> u32 {
        match self {
            Action::GetFunctionLogs => 5,
            Action::UpdateTrigger
            | Action::ListTriggers
            | Action::GetAccount
            | Action::GetRequestStatus => 20,
            Action::InvokeFunction => 10_000,
            _ => 100,
        }
    }
}

/// The allow-lists as JSON: `{"actions": {Action: [fields]}, "objects":
/// {"Code": [fields]}, "rate_limits": {Action: per_second}}`
/// (`scf-bridge emulator --print-schema`).
pub fn schema_json() -> Value {
    let mut actions = Map::new();
    let mut limits = Map::new();
    for action in ALL {
        actions.insert(action.name().to_owned(), json!(action.fields()));
        limits.insert(action.name().to_owned(), json!(action.default_rate_limit()));
    }
    json!({
        "actions": actions,
        "objects": { "Code": CODE_FIELDS },
        "rate_limits": limits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for action in ALL {
            assert_eq!(Action::parse(action.name()), Some(action));
        }
        assert_eq!(Action::parse("invoke"), None);
        assert_eq!(Action::parse("PublishVersion"), None);
    }

    #[test]
    fn invoke_function_has_no_invocation_type_and_invoke_no_event() {
        assert!(!Action::InvokeFunction.fields().contains(&"InvocationType"));
        assert!(Action::InvokeFunction.fields().contains(&"Event"));
        assert!(!Action::Invoke.fields().contains(&"Event"));
        assert_eq!(Action::Invoke.default_rate_limit(), 100);
        assert_eq!(Action::InvokeFunction.default_rate_limit(), 10_000);
        assert_eq!(Action::GetFunctionLogs.default_rate_limit(), 5);
    }

    #[test]
    fn list_functions_spells_orderby_and_list_triggers_order_by() {
        assert!(Action::ListFunctions.fields().contains(&"Orderby"));
        assert!(Action::ListTriggers.fields().contains(&"OrderBy"));
    }
}
