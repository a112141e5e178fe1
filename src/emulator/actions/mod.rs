//! One module per concern of the 3.0 API: functions (create, list, get,
//! update, delete), invocations (`Invoke`, `InvokeFunction`), triggers, logs
//! (`GetFunctionLogs`, `GetRequestStatus`) and the account (`GetAccount`).
//! Each handler takes the validated [`Params`] and answers the `Response`
//! fields (without `RequestId`) or an [`ApiError`].

pub mod account;
pub mod functions;
pub mod invoke;
pub mod logs;
pub mod triggers;

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::time::Instant;

use super::account::Function;
use super::error::{code, ApiError};
use super::request::Params;
use super::schema::Action;
use super::State;

/// The `Response` fields of a successful call, without `RequestId`.
pub type Answer = Map<String, Value>;

/// What a handler knows besides its parameters.
pub struct Ctx {
    /// The emulator.
    pub state: Arc<State>,
    /// `X-TC-Region`.
    pub region: String,
    /// The clock of state transitions and rate limits.
    pub now: Instant,
    /// Unix seconds (for time strings).
    pub unix: u64,
    /// `unix` as SCF's `YYYY-MM-DD HH:MM:SS`.
    pub wall: String,
}

/// Runs the action `params` are for.
pub async fn dispatch(ctx: &Ctx, params: &Params) -> Result<Answer, ApiError> {
    match params.action() {
        Action::CreateFunction => functions::create(ctx, params),
        Action::ListFunctions => functions::list(ctx, params),
        Action::GetFunction => functions::get(ctx, params),
        Action::UpdateFunctionConfiguration => functions::update_configuration(ctx, params),
        Action::UpdateFunctionCode => functions::update_code(ctx, params),
        Action::DeleteFunction => functions::delete(ctx, params),
        Action::Invoke | Action::InvokeFunction => invoke::invoke(ctx, params).await,
        Action::CreateTrigger => triggers::create(ctx, params),
        Action::UpdateTrigger => triggers::update(ctx, params),
        Action::DeleteTrigger => triggers::delete(ctx, params),
        Action::ListTriggers => triggers::list(ctx, params),
        Action::GetFunctionLogs => logs::function_logs(ctx, params),
        Action::GetRequestStatus => logs::request_status(ctx, params),
        Action::GetAccount => Ok(account::get_account(ctx)),
    }
}

/// `ResourceNotFound.Function` for `name`.
pub fn not_found(name: &str) -> ApiError {
    ApiError::new(
        code::FUNCTION_NOT_FOUND,
        format!("the function {name} does not exist"),
    )
}

/// Runs `f` on the function the parameters name (`FunctionName`,
/// `Namespace`, `Qualifier`), with a fresh sequence number.
pub fn with_function<T>(
    ctx: &Ctx,
    params: &Params,
    f: impl FnOnce(&mut Function, u64) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let name = params.function_name()?;
    let namespace = params.namespace()?;
    check_qualifier(params, None)?;
    ctx.state
        .account
        .with_space(&ctx.region, namespace, ctx.now, &ctx.wall, |space, seq| {
            let function = space
                .functions
                .get_mut(name)
                .ok_or_else(|| not_found(name))?;
            f(function, seq)
        })
}

/// `Qualifier`, which may only name `$LATEST` (the emulator publishes no
/// versions); `extra` is one more accepted alias (`$DEFAULT` for invocations).
pub fn check_qualifier(params: &Params, extra: Option<&str>) -> Result<(), ApiError> {
    match params.str("Qualifier")? {
        None | Some("$LATEST") => Ok(()),
        Some(q) if Some(q) == extra => Ok(()),
        Some(q) => Err(ApiError::new(
            code::QUALIFIER_NOT_FOUND,
            format!("the version or alias {q:.64} does not exist; the emulator has only $LATEST"),
        )),
    }
}

/// `Order`: `ASC` or `DESC` (default), case as given by `upper`.
pub fn descending(params: &Params, upper: bool) -> Result<bool, ApiError> {
    let (asc, desc) = if upper {
        ("ASC", "DESC")
    } else {
        ("asc", "desc")
    };
    match params.str("Order")? {
        None => Ok(true),
        Some(v) if v == desc => Ok(true),
        Some(v) if v == asc => Ok(false),
        Some(_) => Err(ApiError::new(
            code::INVALID_PARAMETER_VALUE_ORDER,
            format!("Order must be {asc} or {desc}"),
        )),
    }
}

/// A page of `items`.
pub fn page<T>(items: Vec<T>, offset: usize, limit: usize) -> Vec<T> {
    items.into_iter().skip(offset).take(limit).collect()
}

/// `Filters` (`[{Name, Values[]}]`) applied to the JSON view of an item: an
/// item passes when, for every filter, its field `Name` is one of `Values`.
pub fn filters(params: &Params) -> Result<Vec<(String, Vec<String>)>, ApiError> {
    let bad = || {
        ApiError::new(
            code::INVALID_PARAMETER_VALUE_FILTERS,
            "Filters must be a list of {Name: string, Values: [string]}",
        )
    };
    let Some(list) = params.array("Filters")? else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|f| {
            let name = f.get("Name").and_then(Value::as_str).ok_or_else(bad)?;
            let values = f
                .get("Values")
                .and_then(Value::as_array)
                .ok_or_else(bad)?
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((name.to_owned(), values))
        })
        .collect()
}

/// Whether `item` passes `filters`.
pub fn passes(item: &Value, filters: &[(String, Vec<String>)]) -> bool {
    filters.iter().all(|(name, values)| {
        let field = match item.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return false,
        };
        values.contains(&field)
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::emulator::account::wall_time;
    use crate::emulator::EmulatorConfig;

    fn state(delay_ms: u64) -> Arc<State> {
        Arc::new(State::new(Arc::new(EmulatorConfig {
            state_delay: Duration::from_millis(delay_ms),
            ..EmulatorConfig::default()
        })))
    }

    /// Runs `action` with `body` now (on tokio's clock).
    async fn run(state: &Arc<State>, action: Action, body: Value) -> Result<Answer, ApiError> {
        let params = Params::parse(action, body.to_string().as_bytes())?;
        let ctx = Ctx {
            state: Arc::clone(state),
            region: "ap-guangzhou".into(),
            now: Instant::now(),
            unix: 1_700_000_000,
            wall: wall_time(1_700_000_000),
        };
        dispatch(&ctx, &params).await
    }

    async fn status(state: &Arc<State>, name: &str) -> String {
        let f = run(state, Action::GetFunction, json!({ "FunctionName": name }))
            .await
            .expect("GetFunction");
        f["Status"].as_str().expect("Status").to_owned()
    }

    #[tokio::test(start_paused = true)]
    async fn states_change_exactly_after_the_delay_on_a_paused_clock() {
        let s = state(200);
        let zip = json!({ "ZipFile": "UEsDBA==" });
        run(
            &s,
            Action::CreateFunction,
            json!({ "FunctionName": "f", "Code": zip }),
        )
        .await
        .expect("created");
        tokio::time::advance(Duration::from_millis(199)).await;
        assert_eq!(status(&s, "f").await, "Creating");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(status(&s, "f").await, "Active");

        run(
            &s,
            Action::UpdateFunctionConfiguration,
            json!({ "FunctionName": "f", "Timeout": 9 }),
        )
        .await
        .expect("updated");
        assert_eq!(status(&s, "f").await, "Updating");
        let busy = run(
            &s,
            Action::UpdateFunctionCode,
            json!({ "FunctionName": "f", "Handler": "a.b" }),
        )
        .await;
        assert_eq!(busy.expect_err("busy").code, code::FUNCTION_STATUS_ERROR);
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(status(&s, "f").await, "Active");

        run(&s, Action::DeleteFunction, json!({ "FunctionName": "f" }))
            .await
            .expect("deleting");
        assert_eq!(status(&s, "f").await, "Deleting");
        tokio::time::advance(Duration::from_millis(200)).await;
        let gone = run(&s, Action::GetFunction, json!({ "FunctionName": "f" })).await;
        assert_eq!(gone.expect_err("gone").code, code::FUNCTION_NOT_FOUND);
    }

    #[tokio::test(start_paused = true)]
    async fn an_async_invocation_runs_then_is_recorded_done() {
        let s = state(0);
        let r = run(
            &s,
            Action::Invoke,
            json!({ "FunctionName": "sleep", "InvocationType": "Event", "ClientContext": "{\"ms\": 5000}" }),
        )
        .await
        .expect("queued");
        let id = r["Result"]["FunctionRequestId"]
            .as_str()
            .expect("id")
            .to_owned();
        let ask = json!({ "FunctionName": "sleep", "FunctionRequestId": id });
        let rc = |a: Answer| a["Data"][0]["RetCode"].clone();
        let now = run(&s, Action::GetRequestStatus, ask.clone())
            .await
            .expect("status");
        assert_eq!(rc(now), json!(1), "running");
        tokio::time::sleep(Duration::from_millis(5001)).await;
        tokio::task::yield_now().await;
        let later = run(&s, Action::GetRequestStatus, ask)
            .await
            .expect("status");
        assert_eq!(rc(later), json!(0), "done after its 5 s");
    }

    #[test]
    fn filters_match_the_listed_fields() {
        let f = vec![("Runtime".to_owned(), vec!["Go1".to_owned()])];
        assert!(passes(&json!({ "Runtime": "Go1" }), &f));
        assert!(!passes(&json!({ "Runtime": "Python3.9" }), &f));
        assert!(!passes(&json!({}), &f));
        assert!(passes(
            &json!({ "Enable": 1 }),
            &[("Enable".to_owned(), vec!["1".to_owned()])]
        ));
    }
}
