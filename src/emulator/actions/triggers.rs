//! `CreateTrigger`, `UpdateTrigger`, `DeleteTrigger`, `ListTriggers` for
//! timer and COS triggers. A trigger changes only while its function is
//! `Active` (`FailedOperation.CreateTrigger` otherwise).
//!
//! Timer: `TriggerName` follows the function-name rule, `TriggerDesc` is a
//! cron of 5 or 7 fields. COS: `TriggerName` is the bucket's XML endpoint
//! (`<bucket>-<appid>.cos.<region>.myqcloud.com`), `TriggerDesc` a JSON
//! object whose `event` starts with `cos:`.

use serde_json::{json, Map, Value};

use super::{descending, filters, page, passes, with_function, Answer, Ctx};
use crate::emulator::account::{Function, Status, Trigger, MAX_TRIGGERS_PER_TYPE};
use crate::emulator::error::{code, ApiError};
use crate::emulator::request::{valid_function_name, Params};

/// The trigger types served.
pub const TYPES: [&str; 2] = ["timer", "cos"];

fn trigger_type(params: &Params) -> Result<&str, ApiError> {
    let kind = params.required_str("Type")?;
    if !TYPES.contains(&kind) {
        return Err(ApiError::new(
            code::INVALID_PARAMETER_VALUE_TYPE,
            format!("the trigger type {kind:.32} is not served by the emulator (timer, cos)"),
        ));
    }
    Ok(kind)
}

fn check_name(kind: &str, name: &str) -> Result<(), ApiError> {
    let ok = match kind {
        "cos" => {
            let parts: Vec<&str> = name.split('.').collect();
            parts.len() == 5
                && parts[0].contains('-')
                && parts[1] == "cos"
                && !parts[2].is_empty()
                && parts[3..] == ["myqcloud", "com"]
        }
        _ => valid_function_name(name),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            code::INVALID_PARAMETER_VALUE_TRIGGER_NAME,
            format!("{name:.64} is not a valid {kind} trigger name"),
        ))
    }
}

fn check_desc(kind: &str, desc: &str) -> Result<(), ApiError> {
    let ok = match kind {
        "cos" => matches!(
            serde_json::from_str::<Value>(desc),
            Ok(Value::Object(m)) if m.get("event").and_then(Value::as_str).is_some_and(|e| e.starts_with("cos:"))
        ),
        _ => {
            let cron = serde_json::from_str::<Value>(desc)
                .ok()
                .and_then(|v| v.get("cron").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| desc.to_owned());
            matches!(cron.split_whitespace().count(), 5 | 7)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            code::INVALID_PARAMETER_VALUE_TRIGGER_DESC,
            format!("TriggerDesc does not describe a {kind} trigger"),
        ))
    }
}

fn enable(params: &Params) -> Result<Option<bool>, ApiError> {
    match params.str("Enable")? {
        None => Ok(None),
        Some("OPEN") => Ok(Some(true)),
        Some("CLOSE") => Ok(Some(false)),
        Some(_) => Err(ApiError::new(
            code::INVALID_PARAMETER_VALUE,
            "Enable must be OPEN or CLOSE",
        )),
    }
}

fn must_be_active(f: &Function) -> Result<(), ApiError> {
    if f.status == Status::Active {
        Ok(())
    } else {
        Err(ApiError::new(
            code::CREATE_TRIGGER_FAILED,
            format!(
                "the function {} is {}; triggers change only when it is Active",
                f.name,
                f.status.as_str()
            ),
        ))
    }
}

/// `CreateTrigger`: answers `TriggerInfo`. `Enable` defaults to `OPEN`.
pub fn create(ctx: &Ctx, params: &Params) -> Result<Answer, ApiError> {
    let kind = trigger_type(params)?;
    let name = params.required_str("TriggerName")?;
    check_name(kind, name)?;
    let desc = params.str("TriggerDesc")?.unwrap_or("");
    check_desc(kind, desc)?;
    let enabled = enable(params)?.unwrap_or(true);
    let custom_argument = params.str("CustomArgument")?.unwrap_or("").to_owned();
    let description = params.str("Description")?.unwrap_or("").to_owned();
    let info = with_function(ctx, params, |f, seq| {
        must_be_active(f)?;
        if f.triggers.iter().any(|t| t.kind == kind && t.name == name) {
            return Err(ApiError::new(
                code::TRIGGER_IN_USE,
                format!("the {kind} trigger {name} already exists"),
            ));
        }
        if f.triggers.iter().filter(|t| t.kind == kind).count() >= MAX_TRIGGERS_PER_TYPE {
            return Err(ApiError::new(
                code::LIMIT_EXCEEDED_TRIGGER,
                format!("a function has at most {MAX_TRIGGERS_PER_TYPE} {kind} triggers"),
            ));
        }
        let trigger = Trigger {
            name: name.to_owned(),
            kind: kind.to_owned(),
            desc: desc.to_owned(),
            enabled,
            custom_argument,
            description,
            add_time: ctx.wall.clone(),
            mod_time: ctx.wall.clone(),
            seq,
        };
        let info = trigger.to_json();
        f.triggers.push(trigger);
        Ok(info)
    })?;
    let mut answer = Map::new();
    answer.insert("TriggerInfo".into(), info);
    Ok(answer)
}

/// `UpdateTrigger`: `Enable`, `TriggerDesc`, `Description`, `CustomArgument`.
pub fn update(ctx: &Ctx, params: &Params) -> Result<Answer, ApiError> {
    let kind = trigger_type(params)?;
    let name = params.required_str("TriggerName")?;
    let desc = params.str("TriggerDesc")?;
    if let Some(desc) = desc {
        check_desc(kind, desc)?;
    }
    let enabled = enable(params)?;
    let custom_argument = params.str("CustomArgument")?;
    let description = params.str("Description")?;
    with_function(ctx, params, |f, _| {
        must_be_active(f)?;
        let t = f
            .triggers
            .iter_mut()
            .find(|t| t.kind == kind && t.name == name)
            .ok_or_else(|| trigger_not_found(kind, name))?;
        if let Some(desc) = desc {
            t.desc = desc.to_owned();
        }
        if let Some(enabled) = enabled {
            t.enabled = enabled;
        }
        if let Some(a) = custom_argument {
            t.custom_argument = a.to_owned();
        }
        if let Some(d) = description {
            t.description = d.to_owned();
        }
        t.mod_time = ctx.wall.clone();
        Ok(Map::new())
    })
}

fn trigger_not_found(kind: &str, name: &str) -> ApiError {
    ApiError::new(
        code::TRIGGER_NOT_FOUND,
        format!("the {kind} trigger {name:.128} does not exist"),
    )
}

/// `DeleteTrigger`: a COS trigger needs its `TriggerDesc`.
pub fn delete(ctx: &Ctx, params: &Params) -> Result<Answer, ApiError> {
    let kind = trigger_type(params)?;
    let name = params.required_str("TriggerName")?;
    if kind == "cos" && !params.has("TriggerDesc") {
        return Err(ApiError::new(
            code::MISSING_PARAMETER,
            "the parameter TriggerDesc is required to delete a cos trigger",
        ));
    }
    with_function(ctx, params, |f, _| {
        must_be_active(f)?;
        let before = f.triggers.len();
        f.triggers.retain(|t| !(t.kind == kind && t.name == name));
        if f.triggers.len() == before {
            return Err(trigger_not_found(kind, name));
        }
        Ok(Map::new())
    })
}

/// `ListTriggers`: `OrderBy` (AddTime default, ModTime), `Order` (DESC
/// default), `Offset`, `Limit` (≤ 200), `Filters` (on `TriggerInfo` fields).
pub fn list(ctx: &Ctx, params: &Params) -> Result<Answer, ApiError> {
    let desc = descending(params, true)?;
    let by_mod = match params.str("OrderBy")? {
        None | Some("AddTime") => false,
        Some("ModTime") => true,
        Some(_) => {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE_ORDER_BY,
                "OrderBy must be AddTime or ModTime",
            ))
        }
    };
    let (offset, limit) = params.offset_limit(200)?;
    let filters = filters(params)?;
    let (total, triggers) = with_function(ctx, params, |f, _| {
        let mut found: Vec<&Trigger> = f
            .triggers
            .iter()
            .filter(|t| passes(&t.to_json(), &filters))
            .collect();
        found.sort_by(|a, b| {
            if by_mod {
                (&a.mod_time, a.seq).cmp(&(&b.mod_time, b.seq))
            } else {
                (&a.add_time, a.seq).cmp(&(&b.add_time, b.seq))
            }
        });
        if desc {
            found.reverse();
        }
        let total = found.len();
        let listed: Vec<Value> = page(found, offset, limit)
            .into_iter()
            .map(Trigger::to_json)
            .collect();
        Ok((total, listed))
    })?;
    let mut answer = Map::new();
    answer.insert("TotalCount".into(), json!(total));
    answer.insert("Triggers".into(), Value::Array(triggers));
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_descriptions_by_type() {
        assert!(check_name("timer", "every-minute").is_ok());
        assert!(check_name("timer", "1bad").is_err());
        assert!(check_name("cos", "bucket-1250000000.cos.ap-guangzhou.myqcloud.com").is_ok());
        assert!(check_name("cos", "bucket-1250000000.cn-south.myqcloud.com").is_err());
        assert!(check_desc("timer", "0 */5 * * * * *").is_ok());
        assert!(check_desc("timer", "*/5 * * * *").is_ok());
        assert!(check_desc("timer", r#"{"cron":"*/5 * * * *"}"#).is_ok());
        assert!(check_desc("timer", "* *").is_err());
        assert!(check_desc("cos", r#"{"event":"cos:ObjectCreated:*"}"#).is_ok());
        assert!(check_desc("cos", r#"{"event":"ObjectCreated"}"#).is_err());
        assert_eq!(
            check_desc("cos", "").expect_err("x").code,
            code::INVALID_PARAMETER_VALUE_TRIGGER_DESC
        );
    }
}
