//! `GetAccount`: the region's usage (namespaces, their functions) and limits.

use serde_json::{json, Map, Value};

use super::{Answer, Ctx};
use crate::emulator::account::{MAX_FUNCTIONS, MAX_TRIGGERS_PER_TYPE};

/// Concurrency memory quota the emulated account reports, MB.
pub const CONCURRENCY_MEM_LIMIT: u64 = 128_000;

/// `GetAccount`: `AccountUsage` and `AccountLimit`.
pub fn get_account(ctx: &Ctx) -> Answer {
    let spaces = ctx
        .state
        .account
        .namespaces(&ctx.region, ctx.now, &ctx.wall);
    let usage: Vec<Value> = spaces
        .iter()
        .map(|(ns, count, names)| {
            json!({
                "Functions": names,
                "Namespace": ns,
                "FunctionsCount": count,
                "TotalConcurrencyMem": CONCURRENCY_MEM_LIMIT,
                "TotalAllocatedConcurrencyMem": 0,
                "TotalAllocatedProvisionedMem": 0,
            })
        })
        .collect();
    let per_type = MAX_TRIGGERS_PER_TYPE;
    let limits: Vec<Value> = spaces
        .iter()
        .map(|(ns, _, _)| {
            json!({
                "FunctionsCount": MAX_FUNCTIONS,
                "Trigger": {
                    "Cos": per_type, "Timer": per_type, "Cmq": 0, "Total": 2 * per_type,
                    "Ckafka": 0, "Apigw": 0, "Cls": 0, "Clb": 0, "Mps": 0, "Cm": 0, "Vod": 0, "Eb": 0,
                },
                "Namespace": ns,
                "ConcurrentExecutions": CONCURRENCY_MEM_LIMIT / 128,
                "TimeoutLimit": 900,
                "TestModelLimit": 10,
                "InitTimeoutLimit": 300,
                "RetryNumLimit": 2,
                "MinMsgTTL": 60,
                "MaxMsgTTL": 21_600,
            })
        })
        .collect();
    let mut answer = Map::new();
    answer.insert(
        "AccountUsage".into(),
        json!({
            "NamespacesCount": spaces.len(),
            "Namespace": usage,
            "TotalConcurrencyMem": CONCURRENCY_MEM_LIMIT,
            "TotalAllocatedConcurrencyMem": 0,
            "UserConcurrencyMemLimit": CONCURRENCY_MEM_LIMIT,
        }),
    );
    answer.insert(
        "AccountLimit".into(),
        json!({ "NamespacesCount": 5, "Namespace": limits }),
    );
    answer
}
