//! Migration telemetry: who still calls the legacy API, and how. One entry
//! per (caller SecretId, legacy action, `RequestClient` as sent), with counts
//! by legacy code, first and last seen, the functions called and the 3.0
//! identity that signed (`self` or `bridge`). Served by the admin listener as
//! `GET /callers` (docs/operations.md, "When can I turn the bridge off?").
//!
//! Memory is bounded: at most `capacity` entries, the least recently seen
//! evicted first (and counted), each string cut to [`MAX_FIELD_CHARS`], at
//! most [`MAX_FUNCTIONS`] function names per entry. Requests whose SecretId
//! the bridge does not know (with verification on) are pooled under
//! `(unknown)` with their `RequestClient` reduced to its family, so callers
//! that cannot sign cannot push real entries out. The table lives in memory
//! and starts empty on restart.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, RandomState};
use std::sync::Mutex;

use serde::Serialize;

/// Entries kept by default.
pub const DEFAULT_CAPACITY: usize = 1000;
/// Function names listed per entry in answers.
pub const TOP_FUNCTIONS: usize = 10;
/// Distinct function names counted per entry; later ones count as `(other)`.
pub const MAX_FUNCTIONS: usize = 64;
/// Characters kept of a SecretId, action, `RequestClient` or function name.
pub const MAX_FIELD_CHARS: usize = 64;
/// The pooled SecretId of callers the bridge does not know.
pub const UNKNOWN: &str = "(unknown)";
/// The SecretId of requests that carried none.
pub const NONE: &str = "(none)";

/// `RequestClient` families that become metric label values; everything
/// else is `other`, no value is `none`.
pub const CLIENT_FAMILIES: &[&str] = &[
    "SDK_PYTHON",
    "SDK_PHP",
    "SDK_NODEJS",
    "SDK_JAVA",
    "SDK_GO",
    "SDK_DOTNET",
    "SDK_CPP",
    "SCF_BRIDGE_INVOKE",
];

/// What one request tells the table about its caller, filled in by the
/// request walk and recorded where the access-log line is written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The SecretId as sent, when the bridge knows it (or does not verify).
    /// `None` pools the request under `(unknown)`.
    pub secret_id: Option<String>,
    /// Whether the request carried a SecretId at all.
    pub sent_secret_id: bool,
    /// `RequestClient` as sent (empty when absent).
    pub request_client: String,
    /// The 3.0 identity that signed: `self` or `bridge` (unset when the
    /// request was refused before).
    pub identity: Option<&'static str>,
}

/// The caller of one request as the table counts it: its SecretId only
/// when the bridge knows it (or does not verify), so unsigned traffic is
/// pooled. The identity is filled in once the signature is verified.
pub fn caller_of(
    params: &crate::legacy::decode::Params,
    common: &crate::legacy::request::CommonParams,
    verifier: Option<&crate::auth::Verifier>,
) -> Caller {
    let sent = common.secret_id.as_deref();
    let known = match (verifier, sent) {
        (_, None) => None,
        (None, Some(id)) => Some(id),
        (Some(v), Some(id)) => v.clients.load().get(id).is_some().then_some(id),
    };
    Caller {
        secret_id: known.map(str::to_owned),
        sent_secret_id: sent.is_some(),
        request_client: params
            .get("RequestClient")
            .unwrap_or("")
            .chars()
            .take(MAX_FIELD_CHARS)
            .collect(),
        identity: None,
    }
}

/// `self` when the caller's own key pair signs upstream, else `bridge`.
pub fn identity_of(signer: &crate::auth::Signer) -> &'static str {
    match signer {
        crate::auth::Signer::Caller(_) => "self",
        crate::auth::Signer::Bridge => "bridge",
    }
}

/// The family of a `RequestClient` value: the text before the version
/// (`SDK_PYTHON_2.0.15` → `SDK_PYTHON`), when it is on the allow-list.
pub fn client_family(request_client: &str) -> &'static str {
    if request_client.is_empty() {
        return "none";
    }
    let name = request_client
        .trim_end_matches(|c: char| c.is_ascii_digit() || c == '.')
        .trim_end_matches(['_', '-', '/', ' ']);
    CLIENT_FAMILIES
        .iter()
        .find(|f| f.eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or("other")
}

/// `AKIDxxxxxxxxxxxxabcd` → `AKID************abcd`: all but a short prefix
/// and suffix masked; short values keep less (4 chars or fewer: nothing).
pub fn mask_secret_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    let keep = match chars.len() {
        0..=4 => 0,
        5..=11 => 2,
        _ => 4,
    };
    let n = chars.len();
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep || i >= n - keep { *c } else { '*' })
        .collect()
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(MAX_FIELD_CHARS) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    secret_id: String,
    action: String,
    request_client: String,
}

/// A [`Key`] borrowed from the request: it hashes as the key does (the
/// same strings in the same order), so a caller already in the table is
/// found without building one.
#[derive(Hash)]
struct KeyRef<'a> {
    secret_id: &'a str,
    action: &'a str,
    request_client: &'a str,
}

impl hashbrown::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.secret_id == key.secret_id
            && self.action == key.action
            && self.request_client == key.request_client
    }
}

impl KeyRef<'_> {
    fn to_key(&self) -> Key {
        Key {
            secret_id: self.secret_id.to_owned(),
            action: self.action.to_owned(),
            request_client: self.request_client.to_owned(),
        }
    }
}

struct Entry {
    codes: BTreeMap<i64, u64>,
    requests: u64,
    first_seen: u64,
    last_seen: u64,
    /// Sequence number of the last touch: orders entries by recency.
    touched: u64,
    functions: HashMap<String, u64>,
    identities: Vec<&'static str>,
}

struct Table {
    entries: hashbrown::HashMap<Key, Entry, RandomState>,
    /// Touch sequence → key, written when an entry is created or re-queued;
    /// an index entry older than its entry's `touched` is stale and is
    /// re-queued when it reaches the front (so eviction is least recently
    /// seen without re-indexing on every request).
    order: BTreeMap<u64, Key>,
    next: u64,
    evicted: u64,
}

/// The bounded table. Cheap to share (`Arc`); one short lock per request.
pub struct Callers {
    table: Mutex<Table>,
    capacity: usize,
}

impl Default for Callers {
    fn default() -> Self {
        Callers::new(DEFAULT_CAPACITY)
    }
}

/// One entry as `GET /callers` shows it.
#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct EntryView {
    pub secret_id: String,
    pub action: String,
    pub request_client: String,
    pub identity: Vec<&'static str>,
    pub requests: u64,
    pub codes: BTreeMap<String, u64>,
    pub first_seen: String,
    pub last_seen: String,
    pub functions: Vec<FunctionCount>,
}

#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct FunctionCount {
    pub name: String,
    pub requests: u64,
}

/// The whole answer of `GET /callers`.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    pub capacity: usize,
    pub entries_total: usize,
    pub evicted: u64,
    /// Distinct callers (SecretIds) seen in the last hour.
    pub callers_last_hour: usize,
    pub since: Option<String>,
    pub callers: Vec<EntryView>,
}

impl Callers {
    pub fn new(capacity: usize) -> Self {
        Callers {
            table: Mutex::new(Table {
                entries: hashbrown::HashMap::with_hasher(RandomState::new()),
                order: BTreeMap::new(),
                next: 0,
                evicted: 0,
            }),
            capacity: capacity.max(1),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Count one answered request at `now` (Unix seconds). Requests without
    /// an action (refused before it was read) are not counted.
    pub fn record(&self, caller: &Caller, action: &str, function: &str, code: i64, now: u64) {
        if action.is_empty() {
            return;
        }
        let key = match &caller.secret_id {
            Some(id) => KeyRef {
                secret_id: clip(id),
                action: clip(action),
                request_client: clip(&caller.request_client),
            },
            None => KeyRef {
                secret_id: if caller.sent_secret_id { UNKNOWN } else { NONE },
                action: crate::metrics::bounded_action(action),
                request_client: client_family(&caller.request_client),
            },
        };
        let Ok(mut t) = self.table.lock() else {
            return;
        };
        let t = &mut *t;
        t.next += 1;
        let seq = t.next;
        if !t.entries.contains_key(&key) {
            while t.entries.len() >= self.capacity {
                if !evict_one(t) {
                    break;
                }
            }
            let key = key.to_key();
            t.order.insert(seq, key.clone());
            t.entries.insert(
                key,
                Entry {
                    codes: BTreeMap::new(),
                    requests: 0,
                    first_seen: now,
                    last_seen: now,
                    touched: seq,
                    functions: HashMap::new(),
                    identities: Vec::new(),
                },
            );
        }
        let Some(e) = t.entries.get_mut(&key) else {
            return;
        };
        e.touched = seq;
        e.requests += 1;
        e.last_seen = e.last_seen.max(now);
        *e.codes.entry(code).or_default() += 1;
        if let Some(identity) = caller.identity {
            if !e.identities.contains(&identity) {
                e.identities.push(identity);
                e.identities.sort_unstable();
            }
        }
        if !function.is_empty() {
            let name = clip(function);
            if let Some(n) = e.functions.get_mut(name) {
                *n += 1;
            } else if e.functions.len() < MAX_FUNCTIONS {
                e.functions.insert(name.to_owned(), 1);
            } else {
                *e.functions.entry("(other)".to_owned()).or_default() += 1;
            }
        }
    }

    /// Distinct SecretIds (pooled ones included) seen at or after `since`.
    pub fn distinct_callers_since(&self, since: u64) -> usize {
        let Ok(t) = self.table.lock() else { return 0 };
        let mut ids: Vec<&str> = t
            .entries
            .iter()
            .filter(|(_, e)| e.last_seen >= since)
            .map(|(k, _)| k.secret_id.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// Entries last seen at or after `since`, most recently seen first.
    pub fn snapshot(&self, since: Option<u64>, now: u64) -> Snapshot {
        let callers_last_hour = self.distinct_callers_since(now.saturating_sub(3600));
        let Ok(t) = self.table.lock() else {
            return Snapshot {
                capacity: self.capacity,
                entries_total: 0,
                evicted: 0,
                callers_last_hour,
                since: since.map(rfc3339),
                callers: Vec::new(),
            };
        };
        let mut rows: Vec<(&Key, &Entry)> = t
            .entries
            .iter()
            .filter(|(_, e)| since.is_none_or(|s| e.last_seen >= s))
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1.touched));
        let callers = rows
            .into_iter()
            .map(|(k, e)| {
                let mut functions: Vec<FunctionCount> = e
                    .functions
                    .iter()
                    .map(|(name, n)| FunctionCount {
                        name: name.clone(),
                        requests: *n,
                    })
                    .collect();
                functions.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.name.cmp(&b.name)));
                functions.truncate(TOP_FUNCTIONS);
                EntryView {
                    secret_id: if k.secret_id.starts_with('(') {
                        k.secret_id.clone()
                    } else {
                        mask_secret_id(&k.secret_id)
                    },
                    action: k.action.clone(),
                    request_client: k.request_client.clone(),
                    identity: e.identities.clone(),
                    requests: e.requests,
                    codes: e.codes.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
                    first_seen: rfc3339(e.first_seen),
                    last_seen: rfc3339(e.last_seen),
                    functions,
                }
            })
            .collect();
        Snapshot {
            capacity: self.capacity,
            entries_total: t.entries.len(),
            evicted: t.evicted,
            callers_last_hour,
            since: since.map(rfc3339),
            callers,
        }
    }
}

/// Remove the least recently seen entry; false when there is none.
fn evict_one(t: &mut Table) -> bool {
    while let Some((seq, key)) = t.order.pop_first() {
        let Some(touched) = t.entries.get(&key).map(|e| e.touched) else {
            continue;
        };
        if touched > seq {
            // Seen again since it was queued: queue it at its last touch.
            t.order.insert(touched, key);
            continue;
        }
        t.entries.remove(&key);
        t.evicted += 1;
        crate::metrics::callers_evicted();
        return true;
    }
    false
}

impl Snapshot {
    /// A fixed-width table for `Accept: text/plain`.
    pub fn to_text(&self) -> String {
        let mut rows = vec![[
            "SECRET_ID".to_owned(),
            "ACTION".to_owned(),
            "REQUEST_CLIENT".to_owned(),
            "IDENTITY".to_owned(),
            "REQUESTS".to_owned(),
            "CODES".to_owned(),
            "LAST_SEEN".to_owned(),
            "FUNCTIONS".to_owned(),
        ]];
        for c in &self.callers {
            let or_dash = |s: String| if s.is_empty() { "-".to_owned() } else { s };
            rows.push([
                c.secret_id.clone(),
                c.action.clone(),
                or_dash(c.request_client.clone()),
                or_dash(c.identity.join(",")),
                c.requests.to_string(),
                c.codes
                    .iter()
                    .map(|(code, n)| format!("{code}:{n}"))
                    .collect::<Vec<_>>()
                    .join(","),
                c.last_seen.clone(),
                or_dash(
                    c.functions
                        .iter()
                        .map(|f| format!("{}:{}", f.name, f.requests))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
            ]);
        }
        let mut widths = [0usize; 8];
        for r in &rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out.push_str(&format!(
            "# {} of {} entries shown; capacity {}; evicted {}; distinct callers in the last hour {}\n",
            self.callers.len(),
            self.entries_total,
            self.capacity,
            self.evicted,
            self.callers_last_hour
        ));
        out
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: u64) -> String {
    let (y, m, d) = crate::scf3::tc3::civil_date(secs);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The `since` query value: Unix seconds, an age (`90s`, `15m`, `2h`, `7d`)
/// counted back from `now`, or `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_since(value: &str, now: u64) -> Result<u64, String> {
    let bad = || {
        format!(
            "since: `{}` is not Unix seconds, an age such as 15m, 2h or 7d, or YYYY-MM-DDTHH:MM:SSZ",
            value.chars().take(40).collect::<String>()
        )
    };
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().map_err(|_| bad());
    }
    if let Some(unit) = value.chars().last().filter(|c| "smhd".contains(*c)) {
        let n: u64 = value[..value.len() - 1].parse().map_err(|_| bad())?;
        let per = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => 86_400,
        };
        return Ok(now.saturating_sub(n.saturating_mul(per)));
    }
    parse_rfc3339(value).ok_or_else(bad)
}

fn parse_rfc3339(v: &str) -> Option<u64> {
    let b = v.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let s = v.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (proleptic Gregorian), from 1970-01-01.
    let (y, m) = (y as i64 - i64::from(m <= 2), m as i64);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days)
        .ok()
        .map(|d| d * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(id: &str, rc: &str, identity: &'static str) -> Caller {
        Caller {
            secret_id: Some(id.to_owned()),
            sent_secret_id: true,
            request_client: rc.to_owned(),
            identity: Some(identity),
        }
    }

    #[test]
    fn families_are_an_allow_list() {
        assert_eq!(client_family("SDK_PYTHON_2.0.15"), "SDK_PYTHON");
        assert_eq!(client_family("SDK_PYTHON_1.1"), "SDK_PYTHON");
        assert_eq!(client_family("SDK_PHP_2.0.9"), "SDK_PHP");
        assert_eq!(client_family("SDK_NODEJS_0.2.1"), "SDK_NODEJS");
        assert_eq!(
            client_family("SCF_BRIDGE_INVOKE_0.1.0"),
            "SCF_BRIDGE_INVOKE"
        );
        assert_eq!(client_family("curl/8.0"), "other");
        assert_eq!(client_family("SDK_EVIL_\u{1F600}"), "other");
        assert_eq!(client_family(""), "none");
    }

    #[test]
    fn secret_ids_keep_only_a_short_prefix_and_suffix() {
        assert_eq!(
            mask_secret_id("AKIDabcdefghijklmnopWXYZ"),
            "AKID****************WXYZ"
        );
        assert_eq!(mask_secret_id("AKID1234"), "AK****34");
        assert_eq!(mask_secret_id("abcd"), "****");
        assert_eq!(mask_secret_id(""), "");
    }

    #[test]
    fn entries_are_keyed_by_secret_id_action_and_request_client() {
        let t = Callers::new(10);
        let a = caller("AKIDaaaaaaaaaaaaaaaa1111", "SDK_PYTHON_2.0.15", "bridge");
        t.record(&a, "InvokeFunction", "hello", 0, 100);
        t.record(&a, "InvokeFunction", "hello", 0, 200);
        t.record(&a, "InvokeFunction", "other", 4100, 150);
        let b = caller("AKIDaaaaaaaaaaaaaaaa1111", "SDK_PHP_2.0.9", "self");
        t.record(&b, "InvokeFunction", "hello", 0, 300);
        let s = t.snapshot(None, 300);
        assert_eq!(s.callers.len(), 2);
        let py = s
            .callers
            .iter()
            .find(|c| c.request_client == "SDK_PYTHON_2.0.15")
            .unwrap();
        assert_eq!(py.requests, 3);
        assert_eq!(py.codes.get("0"), Some(&2));
        assert_eq!(py.codes.get("4100"), Some(&1));
        assert_eq!(py.first_seen, "1970-01-01T00:01:40Z");
        assert_eq!(py.last_seen, "1970-01-01T00:03:20Z");
        assert_eq!(py.functions[0].name, "hello");
        assert_eq!(py.functions[0].requests, 2);
        assert_eq!(py.identity, vec!["bridge"]);
        assert_eq!(py.secret_id, "AKID****************1111");
        // Most recently seen first.
        assert_eq!(s.callers[0].request_client, "SDK_PHP_2.0.9");
        assert_eq!(s.callers_last_hour, 1);
    }

    #[test]
    fn long_fields_are_cut_to_64_characters_and_count_as_one_caller() {
        let t = Callers::new(8);
        // 70 two-byte characters: the cut falls on a character boundary.
        let client = "é".repeat(70);
        let function = format!("{}tail", "f".repeat(64));
        for now in 1..=3 {
            t.record(
                &caller("AKIDlong", &client, "self"),
                "InvokeFunction",
                &function,
                0,
                now,
            );
        }
        let s = t.snapshot(None, 3);
        assert_eq!(s.entries_total, 1);
        assert_eq!(s.callers[0].request_client, "é".repeat(64));
        assert_eq!(s.callers[0].requests, 3);
        assert_eq!(s.callers[0].functions[0].name, "f".repeat(64));
        assert_eq!(s.callers[0].functions[0].requests, 3);
    }

    #[test]
    fn the_least_recently_seen_entry_is_evicted_and_counted() {
        let t = Callers::new(2);
        let (a, b, c) = (
            caller("AKIDa", "x", "self"),
            caller("AKIDb", "x", "self"),
            caller("AKIDc", "x", "self"),
        );
        t.record(&a, "InvokeFunction", "", 0, 1);
        t.record(&b, "InvokeFunction", "", 0, 2);
        t.record(&a, "InvokeFunction", "", 0, 3); // a is now the newest
        t.record(&c, "InvokeFunction", "", 0, 4); // evicts b
        let s = t.snapshot(None, 4);
        assert_eq!(s.evicted, 1);
        assert_eq!(s.entries_total, 2);
        let ids: Vec<_> = s.callers.iter().map(|c| c.secret_id.as_str()).collect();
        assert_eq!(ids, vec!["AK*Dc", "AK*Da"]);
        // Many more keys: never above capacity.
        for i in 0..100 {
            t.record(
                &caller(&format!("AKID{i:04}"), "x", "self"),
                "InvokeFunction",
                "",
                0,
                10 + i,
            );
        }
        let s = t.snapshot(None, 200);
        assert_eq!(s.entries_total, 2);
        assert_eq!(s.evicted, 101);
    }

    #[test]
    fn unknown_callers_are_pooled_by_family() {
        let t = Callers::new(4);
        for i in 0..50 {
            let c = Caller {
                secret_id: None,
                sent_secret_id: true,
                request_client: format!("SDK_PYTHON_{i}"),
                identity: None,
            };
            t.record(&c, &format!("Action{i}"), "f", 4104, 5);
        }
        let s = t.snapshot(None, 5);
        assert_eq!(s.callers.len(), 1);
        assert_eq!(s.callers[0].secret_id, UNKNOWN);
        assert_eq!(s.callers[0].request_client, "SDK_PYTHON");
        assert_eq!(s.callers[0].action, "other");
        assert_eq!(s.callers[0].requests, 50);
        assert_eq!(s.evicted, 0);
    }

    #[test]
    fn functions_per_entry_are_bounded() {
        let t = Callers::new(4);
        let a = caller("AKIDa", "x", "self");
        for i in 0..(MAX_FUNCTIONS + 20) {
            t.record(&a, "InvokeFunction", &format!("f{i}"), 0, 1);
        }
        t.record(&a, "InvokeFunction", "f0", 0, 1);
        let s = t.snapshot(None, 1);
        let f = &s.callers[0].functions;
        assert_eq!(f.len(), TOP_FUNCTIONS);
        assert_eq!(f[0].name, "(other)");
        assert_eq!(f[0].requests, 20);
        assert_eq!(f[1].name, "f0");
        assert_eq!(f[1].requests, 2);
    }

    #[test]
    fn since_filters_and_parses_three_forms() {
        let t = Callers::new(4);
        t.record(&caller("AKIDa", "x", "self"), "InvokeFunction", "", 0, 1000);
        t.record(&caller("AKIDb", "x", "self"), "InvokeFunction", "", 0, 5000);
        assert_eq!(t.snapshot(Some(2000), 5000).callers.len(), 1);
        assert_eq!(t.snapshot(Some(1000), 5000).callers.len(), 2);
        assert_eq!(parse_since("2000", 0), Ok(2000));
        assert_eq!(parse_since("15m", 5000), Ok(5000 - 900));
        assert_eq!(parse_since("2h", 100), Ok(0));
        assert_eq!(parse_since("1970-01-01T01:00:00Z", 0), Ok(3600));
        assert_eq!(parse_since("2026-11-28T11:22:33Z", 0), Ok(1_795_864_953));
        assert!(parse_since("yesterday", 0).unwrap_err().contains("since"));
        assert!(parse_since("", 0).is_err());
        assert!(parse_since("xm", 0).is_err());
    }

    #[test]
    fn the_text_table_has_a_header_and_one_line_per_entry() {
        let t = Callers::new(4);
        t.record(
            &caller("AKIDaaaaaaaaaaaaaaaa1111", "SDK_PYTHON_2.0.15", "bridge"),
            "InvokeFunction",
            "hello",
            0,
            60,
        );
        let text = t.snapshot(None, 60).to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("SECRET_ID"));
        assert!(lines[1].contains("AKID****************1111"));
        assert!(lines[1].contains("SDK_PYTHON_2.0.15"));
        assert!(lines[1].contains("0:1"));
        assert!(lines[1].contains("hello:1"));
        assert!(!text.contains("aaaaaaaa"));
    }
}
