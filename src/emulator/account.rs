//! The emulated account: per region and namespace, the functions (with their
//! configuration, code reference, triggers and state) and the recorded
//! invocations. Pure state, no I/O; the shell passes the clock in.
//!
//! SCF 3.0 management is asynchronous (docs/protocol.md, "Function states"):
//! a created function is `Creating`, an updated one `Updating`, a deleted one
//! `Deleting`, for the configured state delay; then `Active` (or
//! `CreateFailed`/`UpdateFailed`, or gone). Transitions are applied lazily
//! when the namespace is next touched, against `tokio::time::Instant` so tests
//! can use a paused clock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::runtime::Builtin;

/// Functions one namespace may hold (`LimitExceeded.Function` beyond).
pub const MAX_FUNCTIONS: usize = 1000;
/// Triggers of one type one function may have (`LimitExceeded.Trigger` beyond).
pub const MAX_TRIGGERS_PER_TYPE: usize = 10;
/// Invocations remembered per namespace for `GetRequestStatus`/`GetFunctionLogs`.
pub const MAX_INVOCATIONS: usize = 1000;
/// How much of a `RetMsg` an invocation record keeps, bytes.
pub const RECORDED_RET_MSG_LIMIT: usize = 16 * 1024;
/// Regions one emulator keeps an account in (`UnsupportedRegion` beyond), so
/// that a key holder cannot grow its memory without bound.
pub const MAX_REGIONS: usize = 32;

/// A function's `Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Being created.
    Creating,
    /// Creation failed.
    CreateFailed,
    /// Ready.
    Active,
    /// Being updated (invocations run the previous content).
    Updating,
    /// The last update failed (the previous content still runs).
    UpdateFailed,
    /// Being deleted.
    Deleting,
}

impl Status {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "Creating",
            Status::CreateFailed => "CreateFailed",
            Status::Active => "Active",
            Status::Updating => "Updating",
            Status::UpdateFailed => "UpdateFailed",
            Status::Deleting => "Deleting",
        }
    }
}

/// What a function runs when invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// One of the built-ins.
    Builtin(Builtin),
    /// A created function: returns its event, logs its handler.
    Echo,
}

/// Where a function's code came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRef {
    /// Built into the emulator.
    Builtin,
    /// An inline zip of this many bytes.
    Zip(usize),
    /// A COS object.
    Cos {
        /// Bucket name (without the app id).
        bucket: String,
        /// Object key.
        object: String,
        /// Bucket region, when given.
        region: Option<String>,
    },
}

/// A trigger of a function.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// `TriggerName`.
    pub name: String,
    /// `Type` (`timer` or `cos`).
    pub kind: String,
    /// `TriggerDesc`.
    pub desc: String,
    /// `Enable`.
    pub enabled: bool,
    /// `CustomArgument`.
    pub custom_argument: String,
    /// `Description`.
    pub description: String,
    /// `AddTime`.
    pub add_time: String,
    /// `ModTime`.
    pub mod_time: String,
    /// Creation order (ties of `AddTime`).
    pub seq: u64,
}

impl Trigger {
    /// The 3.0 `TriggerInfo` / `Trigger` object.
    pub fn to_json(&self) -> Value {
        json!({
            "Enable": i64::from(self.enabled),
            "Qualifier": "$LATEST",
            "TriggerName": self.name,
            "Type": self.kind,
            "TriggerDesc": self.desc,
            "AvailableStatus": "Available",
            "CustomArgument": self.custom_argument,
            "AddTime": self.add_time,
            "ModTime": self.mod_time,
            "ResourceId": format!("{}/{}", self.kind, self.name),
            "BindStatus": "",
            "TriggerAttribute": "",
            "Description": self.description,
        })
    }
}

/// A pending state change and what it ends in.
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    until: Instant,
    then: Option<Status>,
}

/// One function.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// `FunctionName`.
    pub name: String,
    /// `FunctionId`.
    pub id: String,
    /// `Runtime`.
    pub runtime: String,
    /// `Handler`.
    pub handler: String,
    /// `Description`.
    pub description: String,
    /// `MemorySize`, MB.
    pub memory_size: i64,
    /// `Timeout`, seconds.
    pub timeout: i64,
    /// `InitTimeout`, seconds.
    pub init_timeout: i64,
    /// `Environment` as sent (`{"Variables":[…]}`).
    pub environment: Value,
    /// `VpcConfig` as sent.
    pub vpc_config: Value,
    /// `Role`.
    pub role: String,
    /// `Type` (`Event` or `HTTP`).
    pub kind: String,
    /// The code's origin.
    pub code: CodeRef,
    /// What it runs.
    pub behaviour: Behaviour,
    /// `AddTime`.
    pub add_time: String,
    /// `ModTime`.
    pub mod_time: String,
    /// Creation order (ties of `AddTime`).
    pub seq: u64,
    /// `Status` (see [`Space::settle`]).
    pub status: Status,
    /// `StatusReasons[].{ErrorCode, ErrorMessage}` of a failed change.
    pub status_reasons: Vec<(String, String)>,
    /// Triggers.
    pub triggers: Vec<Trigger>,
    pending: Option<Pending>,
    /// What invocations run while an update is pending: the previous content.
    previous: Option<Running>,
}

/// What an invocation of a function runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// The behaviour.
    pub behaviour: Behaviour,
    /// `Handler`.
    pub handler: String,
    /// `Runtime`.
    pub runtime: String,
}

impl Function {
    /// A function in state `status`; the caller fills in the rest.
    pub fn new(name: &str, seq: u64, wall: &str, behaviour: Behaviour, code: CodeRef) -> Function {
        Function {
            name: name.to_owned(),
            id: format!("lam-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            runtime: "Python2.7".to_owned(),
            handler: "index.main_handler".to_owned(),
            description: String::new(),
            memory_size: 128,
            timeout: 3,
            init_timeout: 65,
            environment: json!({ "Variables": [] }),
            vpc_config: json!({ "VpcId": "", "SubnetId": "" }),
            role: String::new(),
            kind: "Event".to_owned(),
            code,
            behaviour,
            add_time: wall.to_owned(),
            mod_time: wall.to_owned(),
            seq,
            status: Status::Active,
            status_reasons: Vec::new(),
            triggers: Vec::new(),
            pending: None,
            previous: None,
        }
    }

    /// Starts a change: `now_status` until `now + delay`, then `then`
    /// (`None` = the function disappears).
    pub fn begin(
        &mut self,
        now_status: Status,
        then: Option<Status>,
        now: Instant,
        delay: Duration,
    ) {
        self.status = now_status;
        self.pending = Some(Pending {
            until: now + delay,
            then,
        });
    }

    /// Starts an update: `Updating` until `now + delay`, then `then`;
    /// until then invocations run the content the function had before
    /// `before` was changed into `self`.
    pub fn begin_update(&mut self, before: &Function, then: Status, now: Instant, delay: Duration) {
        self.previous = Some(before.running());
        self.begin(Status::Updating, Some(then), now, delay);
    }

    /// What an invocation runs now.
    pub fn running(&self) -> Running {
        self.previous.clone().unwrap_or_else(|| Running {
            behaviour: self.behaviour,
            handler: self.handler.clone(),
            runtime: self.runtime.clone(),
        })
    }

    /// `CodeSize`, bytes.
    pub fn code_size(&self) -> usize {
        match &self.code {
            CodeRef::Builtin => 262,
            CodeRef::Zip(n) => *n,
            CodeRef::Cos { .. } => 1024,
        }
    }

    /// The entry file's text for `ShowCode=TRUE` (the emulator does not unzip).
    pub fn code_info(&self) -> String {
        match (&self.code, self.behaviour) {
            (CodeRef::Builtin, Behaviour::Builtin(b)) => {
                format!("# built-in emulator function {}\n", b.name())
            }
            _ => String::new(),
        }
    }
}

/// One recorded invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// `FunctionRequestId`.
    pub request_id: String,
    /// The function.
    pub function_name: String,
    /// `StartTime`, `YYYY-MM-DD HH:MM:SS`.
    pub start_time: String,
    /// 0 success, 1 running, -1 failed.
    pub ret_code: i64,
    /// `RetMsg` (the error text on failure).
    pub ret_msg: String,
    /// Duration, ms.
    pub duration_ms: f64,
    /// Billed duration, ms.
    pub bill_duration_ms: u64,
    /// Memory used, bytes.
    pub mem_usage: u64,
    /// The execution log.
    pub log: String,
    /// Order of arrival.
    pub seq: u64,
}

/// One region's namespace.
#[derive(Debug, Default)]
pub struct Space {
    /// Functions by name.
    pub functions: BTreeMap<String, Function>,
    invocations: HashMap<String, Invocation>,
    order: VecDeque<String>,
}

impl Space {
    fn seeded(wall: &str, seq: &mut u64) -> Space {
        let mut space = Space::default();
        for builtin in Builtin::ALL {
            *seq += 1;
            let mut f = Function::new(
                builtin.name(),
                *seq,
                wall,
                Behaviour::Builtin(builtin),
                CodeRef::Builtin,
            );
            f.runtime = "Python3.9".to_owned();
            f.description = format!("built-in emulator function {}", builtin.name());
            space.functions.insert(f.name.clone(), f);
        }
        space
    }

    /// Applies every state change whose delay has passed at `now`.
    pub fn settle(&mut self, now: Instant) {
        let mut gone = Vec::new();
        for f in self.functions.values_mut() {
            if let Some(p) = &f.pending {
                if now >= p.until {
                    match p.then {
                        Some(status) => {
                            f.status = status;
                            f.pending = None;
                            f.previous = None;
                        }
                        None => gone.push(f.name.clone()),
                    }
                }
            }
        }
        for name in gone {
            self.functions.remove(&name);
        }
    }

    /// Records (or replaces, by request id) an invocation, its `RetMsg`
    /// cut to [`RECORDED_RET_MSG_LIMIT`].
    pub fn record(&mut self, mut invocation: Invocation) {
        if invocation.ret_msg.len() > RECORDED_RET_MSG_LIMIT {
            let mut end = RECORDED_RET_MSG_LIMIT;
            while !invocation.ret_msg.is_char_boundary(end) {
                end -= 1;
            }
            invocation.ret_msg.truncate(end);
        }
        let id = invocation.request_id.clone();
        if self.invocations.insert(id.clone(), invocation).is_none() {
            self.order.push_back(id);
            while self.order.len() > MAX_INVOCATIONS {
                if let Some(old) = self.order.pop_front() {
                    self.invocations.remove(&old);
                }
            }
        }
    }

    /// The invocation `request_id` of `function`.
    pub fn invocation(&self, function: &str, request_id: &str) -> Option<&Invocation> {
        self.invocations
            .get(request_id)
            .filter(|i| i.function_name == function)
    }

    /// Every recorded invocation, oldest first.
    pub fn invocations(&self) -> impl Iterator<Item = &Invocation> {
        self.order.iter().filter_map(|id| self.invocations.get(id))
    }
}

/// The whole account: namespaces by (region, namespace).
#[derive(Debug, Default)]
pub struct Account {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    spaces: HashMap<(String, String), Space>,
    seq: u64,
}

impl Account {
    /// Runs `f` on the settled namespace `region`/`namespace` (created with
    /// the built-ins on first use), with a fresh sequence number for ordering.
    pub fn with_space<T>(
        &self,
        region: &str,
        namespace: &str,
        now: Instant,
        wall: &str,
        f: impl FnOnce(&mut Space, u64) -> T,
    ) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Inner { spaces, seq } = &mut *inner;
        let space = spaces
            .entry((region.to_owned(), namespace.to_owned()))
            .or_insert_with(|| Space::seeded(wall, seq));
        space.settle(now);
        *seq += 1;
        f(space, *seq)
    }

    /// Whether `region` has an account, or one more may be opened
    /// ([`MAX_REGIONS`]).
    pub fn admits_region(&self, region: &str) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut regions: Vec<&str> = inner.spaces.keys().map(|(r, _)| r.as_str()).collect();
        regions.sort_unstable();
        regions.dedup();
        regions.contains(&region) || regions.len() < MAX_REGIONS
    }

    /// The namespaces of `region` that have been touched, by name.
    pub fn namespaces(
        &self,
        region: &str,
        now: Instant,
        wall: &str,
    ) -> Vec<(String, usize, Vec<String>)> {
        // The default namespace always exists.
        self.with_space(
            region,
            super::request::DEFAULT_NAMESPACE,
            now,
            wall,
            |_, _| (),
        );
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = inner
            .spaces
            .iter_mut()
            .filter(|((r, _), _)| r == region)
            .map(|((_, ns), space)| {
                space.settle(now);
                let names: Vec<String> = space.functions.keys().cloned().collect();
                (ns.clone(), names.len(), names)
            })
            .collect();
        out.sort();
        out
    }
}

/// `unix_secs` as `YYYY-MM-DD HH:MM:SS` in China Standard Time (UTC+8), the
/// zone of SCF's time strings.
pub fn wall_time(unix_secs: u64) -> String {
    let local = unix_secs + 8 * 3600;
    let (y, m, d) = crate::scf3::tc3::civil_date(local);
    let s = local % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

/// Whether `text` has the shape `YYYY-MM-DD HH:MM:SS` (such strings order
/// like the instants they name).
pub fn is_wall_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_time_is_china_time() {
        assert_eq!(wall_time(0), "1970-01-01 08:00:00");
        assert_eq!(wall_time(1_700_000_000), "2023-11-15 06:13:20");
        assert!(is_wall_time(&wall_time(1_700_000_000)));
        assert!(!is_wall_time("2023-11-15T06:13:20"));
        assert!(!is_wall_time("2023-11-15 06:13"));
    }

    #[test]
    fn a_change_settles_after_its_delay() {
        let account = Account::default();
        let t0 = Instant::now();
        let delay = Duration::from_millis(200);
        account.with_space("r", "default", t0, "w", |space, seq| {
            assert_eq!(space.functions.len(), 4, "the built-ins are there");
            let mut f = Function::new("f", seq, "w", Behaviour::Echo, CodeRef::Zip(3));
            f.begin(Status::Creating, Some(Status::Active), t0, delay);
            space.functions.insert("f".into(), f);
        });
        let status = |at| {
            account.with_space("r", "default", at, "w", |s, _| {
                s.functions.get("f").map(|f| f.status)
            })
        };
        assert_eq!(
            status(t0 + Duration::from_millis(199)),
            Some(Status::Creating)
        );
        assert_eq!(status(t0 + delay), Some(Status::Active));
        account.with_space("r", "default", t0 + delay, "w", |space, _| {
            let f = space.functions.get_mut("f").expect("f");
            f.begin(Status::Deleting, None, t0 + delay, delay);
        });
        assert_eq!(status(t0 + delay), Some(Status::Deleting));
        assert_eq!(status(t0 + delay * 2), None);
        assert!(account.admits_region("r"));
        for i in 0..MAX_REGIONS {
            account.with_space(&format!("x{i}"), "default", t0, "w", |_, _| ());
        }
        assert!(account.admits_region("r"), "a known region stays");
        assert!(!account.admits_region("new"), "no more than MAX_REGIONS");
        // Other regions are other accounts' namespaces.
        let other = account.with_space("r2", "default", t0, "w", |s, _| {
            s.functions.contains_key("f")
        });
        assert!(!other);
    }

    #[test]
    fn invocations_are_bounded_and_found_by_function() {
        let mut space = Space::default();
        for i in 0..(MAX_INVOCATIONS + 5) {
            space.record(Invocation {
                request_id: format!("id{i}"),
                function_name: "f".into(),
                start_time: String::new(),
                ret_code: 0,
                ret_msg: String::new(),
                duration_ms: 0.0,
                bill_duration_ms: 1,
                mem_usage: 0,
                log: String::new(),
                seq: i as u64,
            });
        }
        assert_eq!(space.invocations().count(), MAX_INVOCATIONS);
        let big = Invocation {
            request_id: "big".into(),
            ret_msg: "é".repeat(RECORDED_RET_MSG_LIMIT),
            ..space.invocation("f", "id9").expect("id9").clone()
        };
        space.record(big);
        let kept = &space.invocation("f", "big").expect("big").ret_msg;
        assert!(kept.len() <= RECORDED_RET_MSG_LIMIT && kept.len() > RECORDED_RET_MSG_LIMIT - 2);
        assert!(space.invocation("f", "id0").is_none(), "oldest dropped");
        assert!(space.invocation("f", "id9").is_some());
        assert!(space.invocation("g", "id9").is_none());
    }
}
