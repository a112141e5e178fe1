//! `GetAccountSettings` → 3.0 `GetAccount` (docs/protocol.md,
//! "GetAccountSettings"). The legacy answer was never documented; the
//! bridge answers `data.{accountUsage, accountLimit}` with every 3.0 key
//! lower-camel-cased, the convention of the other legacy answers (and
//! the names AWS Lambda's `GetAccountSettings`, which the legacy action
//! names mirror, answers with).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Action, Failure, LegacyParams, Scf3Client};
use crate::error::BridgeError;
use crate::legacy::answer::LegacyAnswer;
use crate::scf3::envelope::{self, CallKind};
use crate::translate::lower_camel_keys;

/// `Action=GetAccountSettings`.
pub struct GetAccountSettings;

/// The 3.0 `GetAccount` body: it has no fields.
#[derive(Debug, Serialize)]
pub struct GetAccountBody {}

/// The 3.0 answer: usage and limits, kept whole.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetAccountResponse {
    pub account_usage: Value,
    pub account_limit: Value,
}

impl envelope::Request for GetAccountBody {
    const ACTION: &'static str = "GetAccount";
    const KIND: CallKind = CallKind::Read;
    type Response = GetAccountResponse;
}

impl Action for GetAccountSettings {
    const NAME: &'static str = "GetAccountSettings";
    const SCF3_ACTIONS: &'static [&'static str] = &["GetAccount"];
    /// No parameters.
    type Request = ();

    fn parse(_params: LegacyParams) -> Result<(), BridgeError> {
        Ok(())
    }

    async fn run(_: (), scf: &mut Scf3Client<'_>) -> Result<LegacyAnswer, Failure> {
        let answer = scf.call(&GetAccountBody {}).await?;
        Ok(LegacyAnswer::success(data(answer)))
    }
}

/// The legacy `data`: `accountUsage` then `accountLimit`, keys lower-camel.
pub fn data(a: GetAccountResponse) -> Value {
    let object = |v: Value| if v.is_null() { json!({}) } else { lower_camel_keys(v) };
    json!({
        "accountUsage": object(a.account_usage),
        "accountLimit": object(a.account_limit),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{bridge, get, json, Scripted, ScriptedTransport};

    /// A 3.0 `GetAccount` answer with every documented field
    /// (docs/protocol.md, "GetAccountSettings").
    fn account() -> Value {
        json!({
            "AccountUsage": {"NamespacesCount": 1, "Namespace": [{"Functions": ["hello"],
                "Namespace": "default", "FunctionsCount": 1, "TotalConcurrencyMem": 0,
                "TotalAllocatedConcurrencyMem": 0, "TotalAllocatedProvisionedMem": 0}],
                "TotalConcurrencyMem": 128000, "TotalAllocatedConcurrencyMem": 0,
                "UserConcurrencyMemLimit": 128000},
            "AccountLimit": {"NamespacesCount": 5, "Namespace": [{"FunctionsCount": 1000,
                "Trigger": {"Cos": 10, "Timer": 100, "Cmq": 10, "Total": 200},
                "Namespace": "default", "ConcurrentExecutions": 1000, "TimeoutLimit": 900,
                "TestModelLimit": 10, "InitTimeoutLimit": 300, "RetryNumLimit": 10,
                "MinMsgTTL": 60, "MaxMsgTTL": 21600}]}
        })
    }

    #[test]
    fn usage_and_limits_are_lower_camel_cased_all_the_way_down() {
        let a: GetAccountResponse = serde_json::from_value(account()).unwrap();
        let d = data(a);
        assert_eq!(
            d,
            json!({
                "accountUsage": {"namespacesCount": 1, "namespace": [{"functions": ["hello"],
                    "namespace": "default", "functionsCount": 1, "totalConcurrencyMem": 0,
                    "totalAllocatedConcurrencyMem": 0, "totalAllocatedProvisionedMem": 0}],
                    "totalConcurrencyMem": 128000, "totalAllocatedConcurrencyMem": 0,
                    "userConcurrencyMemLimit": 128000},
                "accountLimit": {"namespacesCount": 5, "namespace": [{"functionsCount": 1000,
                    "trigger": {"cos": 10, "timer": 100, "cmq": 10, "total": 200},
                    "namespace": "default", "concurrentExecutions": 1000, "timeoutLimit": 900,
                    "testModelLimit": 10, "initTimeoutLimit": 300, "retryNumLimit": 10,
                    "minMsgTTL": 60, "maxMsgTTL": 21600}]}
            })
        );
        let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["accountUsage", "accountLimit"]);
    }

    #[tokio::test]
    async fn the_walk_sends_an_empty_get_account_and_ignores_legacy_extras() {
        let t = ScriptedTransport::new([
            Scripted::ok(account(), "r"),
            Scripted::error("UnauthorizedOperation.CAM", "no", "r2"),
        ]);
        let b = bridge(t.clone());
        let q = [("Action", "GetAccountSettings"), ("functionName", "ignored")];
        let v = json(&get(&b, &q).await);
        assert_eq!(v["code"], 0);
        assert_eq!(v["data"]["accountLimit"]["namespacesCount"], 5);
        let calls = t.calls();
        assert_eq!(calls[0].action, "GetAccount");
        assert_eq!(calls[0].body, json!({}));
        let v = json(&get(&b, &q).await);
        assert_eq!(v["code"], 4102);
    }
}
