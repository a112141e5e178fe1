//! `CreateFunction`, `ListFunctions`, `GetFunction`,
//! `UpdateFunctionConfiguration`, `UpdateFunctionCode`, `DeleteFunction`.
//!
//! Changes are asynchronous as in SCF 3.0: `Creating`/`Updating`/`Deleting`
//! for the configured state delay, and refused with
//! `FailedOperation.FunctionStatusError` while the function is not `Active`.
//! A COS object key ending in `create-failed.zip` (`update-failed.zip`) makes
//! the change end in `CreateFailed` (`UpdateFailed`), so clients can test
//! that path.

use base64::Engine;
use serde_json::{json, Map, Value};

use super::{descending, filters, page, passes, with_function, Answer, Ctx};
use crate::emulator::account::{Behaviour, CodeRef, Function, Status, MAX_FUNCTIONS};
use crate::emulator::error::{code, ApiError};
use crate::emulator::request::{string_in, Params};
use crate::emulator::schema::CODE_FIELDS;

/// Runtime families the emulator accepts (`Python3.9`, `Nodejs18.15`, `Go1`, …).
const RUNTIME_PREFIXES: [&str; 6] = ["Python", "Nodejs", "Php", "Go", "Java", "CustomRuntime"];
/// Largest `Description`, characters.
const DESCRIPTION_LIMIT: usize = 1000;
/// A COS key with this ending makes a create fail.
pub const CREATE_FAILED_SUFFIX: &str = "create-failed.zip";
/// A COS key with this ending makes a code update fail.
pub const UPDATE_FAILED_SUFFIX: &str = "update-failed.zip";

fn status_error(f: &Function) -> ApiError {
    ApiError::new(
        code::FUNCTION_STATUS_ERROR,
        format!(
            "the function {} is {}; retry when it is Active",
            f.name,
            f.status.as_str()
        ),
    )
}

/// A code source: inline zip or COS object.
fn code_source(
    zip: Option<&str>,
    bucket: Option<&str>,
    object: Option<&str>,
    region: Option<&str>,
) -> Result<Option<CodeRef>, ApiError> {
    match (zip, bucket, object) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(ApiError::new(
            code::INVALID_PARAMETER_VALUE_CODE,
            "give either ZipFile or a COS object, not both",
        )),
        (Some(zip), None, None) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(zip)
                .map_err(|_| {
                    ApiError::new(
                        code::INVALID_PARAMETER_VALUE_ZIP_BASE64,
                        "ZipFile is not base64",
                    )
                })?;
            if !bytes.starts_with(b"PK") {
                return Err(ApiError::new(
                    code::INVALID_PARAMETER_VALUE_ZIP_FILE,
                    "ZipFile is not a zip archive",
                ));
            }
            Ok(Some(CodeRef::Zip(bytes.len())))
        }
        (None, Some(bucket), Some(object)) if !bucket.is_empty() && !object.is_empty() => {
            Ok(Some(CodeRef::Cos {
                bucket: bucket.to_owned(),
                object: object.to_owned(),
                region: region.map(str::to_owned),
            }))
        }
        (None, None, None) => Ok(None),
        _ => Err(ApiError::new(
            code::INVALID_PARAMETER_VALUE_COS,
            "a COS code source needs both CosBucketName and CosObjectName",
        )),
    }
}

fn ends_with(code: &CodeRef, suffix: &str) -> bool {
    matches!(code, CodeRef::Cos { object, .. } if object.ends_with(suffix))
}

/// Validates and applies the configuration fields shared by create and update.
fn apply_configuration(f: &mut Function, params: &Params, creating: bool) -> Result<(), ApiError> {
    if let Some(d) = params.str("Description")? {
        if d.chars().count() > DESCRIPTION_LIMIT {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE_DESCRIPTION,
                format!("Description has more than {DESCRIPTION_LIMIT} characters"),
            ));
        }
        f.description = d.to_owned();
    }
    if let Some(m) = params.int("MemorySize")? {
        if !(m == 64 || (128..=3072).contains(&m) && m % 128 == 0) {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE_MEMORY_SIZE,
                "MemorySize must be 64 or a multiple of 128 from 128 to 3072",
            ));
        }
        f.memory_size = m;
    }
    if let Some(t) = params.int("Timeout")? {
        if !(1..=900).contains(&t) {
            return Err(ApiError::new(
                code::LIMIT_EXCEEDED_TIMEOUT,
                "Timeout must be from 1 to 900 seconds",
            ));
        }
        f.timeout = t;
    }
    if let Some(t) = params.int("InitTimeout")? {
        f.init_timeout = t;
    }
    if let Some(r) = params.str("Runtime")? {
        let known = RUNTIME_PREFIXES.iter().any(|p| r.starts_with(p));
        if !known || (!creating && r != f.runtime) {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE_RUNTIME,
                if known {
                    format!("the runtime cannot change (it is {})", f.runtime)
                } else {
                    format!("the runtime {r:.32} is not supported")
                },
            ));
        }
        f.runtime = r.to_owned();
    }
    if let Some(env) = params.object("Environment")? {
        f.environment = Value::Object(env.clone());
    }
    if let Some(vpc) = params.object("VpcConfig")? {
        f.vpc_config = Value::Object(vpc.clone());
    }
    if let Some(role) = params.str("Role")? {
        f.role = role.to_owned();
    }
    Ok(())
}

/// `CreateFunction`: `Creating`, then `Active` after the state delay.
pub fn create(ctx: &Ctx, params: &Params) -> Result<Answer, ApiError> {
    let name = params.function_name()?;
    let namespace = params.namespace()?;
    let Some(code_obj) = params.object("Code")? else {
        return Err(ApiError::new(
            code::MISSING_PARAMETER_CODE,
            "the parameter Code is missing",
        ));
    };
    if let Some(unknown) = code_obj.keys().find(|k| !CODE_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::new(
            code::UNKNOWN_PARAMETER,
            format!("the parameter Code.{unknown:.64} is not defined for CreateFunction"),
        ));
    }
    let source = code_source(
        string_in(code_obj, "ZipFile")?,
        string_in(code_obj, "CosBucketName")?,
        string_in(code_obj, "CosObjectName")?,
        string_in(code_obj, "CosBucketRegion")?,
    )?
    .ok_or_else(|| {
        ApiError::new(
            code::INVALID_PARAMETER_VALUE_CODE,
            "Code needs ZipFile, or CosBucketName and CosObjectName (the emulator serves no other source)",
        )
    })?;
    let kind = match params.str("Type")? {
        None => "Event",
        Some(t @ ("Event" | "HTTP")) => t,
        Some(_) => {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE,
                "Type must be Event or HTTP",
            ))
        }
    };
    let delay = ctx.state.config.state_delay;
    ctx.state
        .account
        .with_space(&ctx.region, namespace, ctx.now, &ctx.wall, |space, seq| {
            if space.functions.contains_key(name) {
                return Err(ApiError::new(
                    code::FUNCTION_IN_USE,
                    format!("the function {name} already exists"),
                ));
            }
            if space.functions.len() >= MAX_FUNCTIONS {
                return Err(ApiError::new(
                    code::LIMIT_EXCEEDED_FUNCTION,
                    format!("a namespace holds at most {MAX_FUNCTIONS} functions"),
                ));
            }
            let fails = ends_with(&source, CREATE_FAILED_SUFFIX);
            let mut f = Function::new(name, seq, &ctx.wall, Behaviour::Echo, source);
            f.kind = kind.to_owned();
            if let Some(h) = params.str("Handler")? {
                f.handler = h.to_owned();
            }
            apply_configuration(&mut f, params, true)?;
            let then = if fails {
                f.status_reasons = vec![(
                    code::INVALID_PARAMETER_VALUE_CODE.to_owned(),
                    "the code package could not be deployed (emulated failure)".to_owned(),
                )];
                Status::CreateFailed
            } else {
                Status::Active
            };
            f.begin(Status::Creating, Some(then), ctx.now, delay);
            space.functions.insert(name.to_owned(), f);
            Ok(Map::new())
        })
}

/// The `Function` object of `ListFunctions`.
fn summary(f: &Function, namespace: &str) -> Value {
    json!({
        "ModTime": f.mod_time,
        "AddTime": f.add_time,
        "Runtime": f.runtime,
        "FunctionName": f.name,
        "FunctionId": f.id,
        "Namespace": namespace,
        "Status": f.status.as_str(),
        "StatusDesc": status_desc(f),
        "Description": f.description,
        "Tags": [],
        "Type": f.kind,
        "StatusReasons": status_reasons(f),
        "TotalProvisionedConcurrencyMem": 0,
        "ReservedConcurrencyMem": 0,
        "AsyncRunEnable": "FALSE",
        "TraceEnable": "FALSE",
    })
}

fn status_desc(f: &Function) -> String {
    f.status_reasons
        .first()
        .map(|(_, m)| m.clone())
        .unwrap_or_default()
}

fn status_reasons(f: &Function) -> Value {
    f.status_reasons
        .iter()
        .map(|(c, m)| json!({ "ErrorCode": c, "ErrorMessage": m }))
        .collect()
}

/// `ListFunctions`: `Order` (ASC/DESC, default DESC), `Orderby` (AddTime,
/// ModTime, FunctionName; default AddTime), `Offset`, `Limit` (≤ 1000),
/// `SearchKey` (substring of the name), `Description` (substring), `Filters`
/// (on the listed object's fields).
pub fn list(ctx: &Ctx, params: &Params) -> Result<Answer, ApiError> {
    let namespace = params.namespace()?;
    let desc = descending(params, true)?;
    let order_by = match params.str("Orderby")? {
        None | Some("AddTime") => "AddTime",
        Some(v @ ("ModTime" | "FunctionName")) => v,
        Some(_) => {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE_ORDER_BY,
                "Orderby must be AddTime, ModTime or FunctionName",
            ))
        }
    };
    let (offset, limit) = params.offset_limit(1000)?;
    let search = params.str("SearchKey")?.unwrap_or("");
    let description = params.str("Description")?.unwrap_or("");
    let filters = filters(params)?;
    let (total, functions) =
        ctx.state
            .account
            .with_space(&ctx.region, namespace, ctx.now, &ctx.wall, |space, _| {
                let mut found: Vec<&Function> = space
                    .functions
                    .values()
                    .filter(|f| f.name.contains(search) && f.description.contains(description))
                    .filter(|f| passes(&summary(f, namespace), &filters))
                    .collect();
                found.sort_by(|a, b| match order_by {
                    "FunctionName" => a.name.cmp(&b.name),
                    "ModTime" => (&a.mod_time, a.seq).cmp(&(&b.mod_time, b.seq)),
                    _ => (&a.add_time, a.seq).cmp(&(&b.add_time, b.seq)),
                });
                if desc {
                    found.reverse();
                }
                let total = found.len();
                let listed: Vec<Value> = page(found, offset, limit)
                    .into_iter()
                    .map(|f| summary(f, namespace))
                    .collect();
                (total, listed)
            });
    let mut answer = Map::new();
    answer.insert("Functions".into(), Value::Array(functions));
    answer.insert("TotalCount".into(), json!(total));
    Ok(answer)
}

/// `GetFunction`: the whole configuration, `Status`, `Triggers`; `CodeInfo`
/// only with `ShowCode=TRUE`.
pub fn get(ctx: &Ctx, params: &Params) -> Result<Answer, ApiError> {
    let namespace = params.namespace()?;
    let show_code = match params.str("ShowCode")? {
        None | Some("FALSE") => false,
        Some("TRUE") => true,
        Some(_) => {
            return Err(ApiError::new(
                code::INVALID_PARAMETER_VALUE,
                "ShowCode must be TRUE or FALSE",
            ))
        }
    };
    with_function(ctx, params, |f, _| {
        let triggers: Vec<Value> = f.triggers.iter().map(|t| t.to_json()).collect();
        let mut answer = json!({
            "ModTime": f.mod_time,
            "Description": f.description,
            "Triggers": triggers,
            "Handler": f.handler,
            "CodeSize": f.code_size(),
            "Timeout": f.timeout,
            "FunctionVersion": "$LATEST",
            "MemorySize": f.memory_size,
            "Runtime": f.runtime,
            "FunctionName": f.name,
            "VpcConfig": f.vpc_config,
            "UseGpu": "FALSE",
            "Environment": f.environment,
            "CodeResult": "success",
            "CodeError": "",
            "ErrNo": 0,
            "Namespace": namespace,
            "Role": f.role,
            "InstallDependency": "FALSE",
            "Status": f.status.as_str(),
            "StatusDesc": status_desc(f),
            "ClsLogsetId": "",
            "ClsTopicId": "",
            "FunctionId": f.id,
            "Tags": [],
            "Type": f.kind,
            "L5Enable": "FALSE",
            "Layers": [],
            "AddTime": f.add_time,
            "OnsEnable": "FALSE",
            "AvailableStatus": "Available",
            "Qualifier": "$LATEST",
            "InitTimeout": f.init_timeout,
            "StatusReasons": status_reasons(f),
            "AsyncRunEnable": "FALSE",
            "TraceEnable": "FALSE",
        });
        if show_code {
            answer["CodeInfo"] = Value::String(f.code_info());
        }
        let Value::Object(answer) = answer else {
            unreachable!("json! of an object literal is an object")
        };
        Ok(answer)
    })
}

/// Applies `change` to a copy of the `Active` (or `UpdateFailed`) function
/// the parameters name and, when it succeeds, stores it `Updating` until the
/// state delay has passed, then in the state `change` returned.
fn update(
    ctx: &Ctx,
    params: &Params,
    change: impl FnOnce(&mut Function) -> Result<Status, ApiError>,
) -> Result<Answer, ApiError> {
    let delay = ctx.state.config.state_delay;
    with_function(ctx, params, |f, _| {
        if !matches!(f.status, Status::Active | Status::UpdateFailed) {
            return Err(status_error(f));
        }
        let mut updated = f.clone();
        updated.status_reasons.clear();
        let then = change(&mut updated)?;
        updated.mod_time = ctx.wall.clone();
        updated.begin_update(f, then, ctx.now, delay);
        *f = updated;
        Ok(Map::new())
    })
}

/// `UpdateFunctionConfiguration`: `Updating`, then `Active`.
pub fn update_configuration(ctx: &Ctx, params: &Params) -> Result<Answer, ApiError> {
    update(ctx, params, |f| {
        apply_configuration(f, params, false)?;
        Ok(Status::Active)
    })
}

/// `UpdateFunctionCode`: a new zip or COS object (top-level fields or the
/// `Code` object) and/or `Handler`; `Updating`, then `Active` (or
/// `UpdateFailed` for a COS key ending in [`UPDATE_FAILED_SUFFIX`], the
/// previous code staying in force).
pub fn update_code(ctx: &Ctx, params: &Params) -> Result<Answer, ApiError> {
    let nested = params.object("Code")?;
    let field = |key: &str| -> Result<Option<&str>, ApiError> {
        match params.str(key)? {
            Some(v) => Ok(Some(v)),
            None => nested.map_or(Ok(None), |c| string_in(c, key)),
        }
    };
    let source = code_source(
        field("ZipFile")?,
        field("CosBucketName")?,
        field("CosObjectName")?,
        field("CosBucketRegion")?,
    )?;
    let handler = params.str("Handler")?;
    if source.is_none() && handler.is_none() {
        return Err(ApiError::new(
            code::MISSING_PARAMETER_CODE,
            "give ZipFile, CosBucketName and CosObjectName, or Handler",
        ));
    }
    update(ctx, params, |f| {
        if source
            .as_ref()
            .is_some_and(|s| ends_with(s, UPDATE_FAILED_SUFFIX))
        {
            f.status_reasons = vec![(
                code::INVALID_PARAMETER_VALUE_CODE.to_owned(),
                "the code package could not be deployed (emulated failure)".to_owned(),
            )];
            return Ok(Status::UpdateFailed);
        }
        if let Some(source) = source {
            f.code = source;
            f.behaviour = Behaviour::Echo;
        }
        if let Some(h) = handler {
            f.handler = h.to_owned();
        }
        Ok(Status::Active)
    })
}

/// `DeleteFunction`: `Deleting`, then gone (with its triggers).
pub fn delete(ctx: &Ctx, params: &Params) -> Result<Answer, ApiError> {
    let delay = ctx.state.config.state_delay;
    with_function(ctx, params, |f, _| {
        if matches!(
            f.status,
            Status::Creating | Status::Updating | Status::Deleting
        ) {
            return Err(status_error(f));
        }
        f.begin(Status::Deleting, None, ctx.now, delay);
        Ok(Map::new())
    })
}
