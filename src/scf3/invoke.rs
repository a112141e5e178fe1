//! The SCF API 3.0 `Invoke` action (version 2018-04-16) on the wire: the
//! request body, its answer (`Response.Result` or `Error`) parsed borrowed
//! for the hot path, and the body builders the emulator answers with. Pure
//! serde, no I/O.
//!
//! The request side is strict: it can only ever serialize the documented
//! fields (SCF answers `UnknownParameter` to anything else). The response side
//! is tolerant: unknown fields are ignored and numbers are kept exactly as sent
//! (`Duration: 0.826` stays a float, `MemUsage: 3207168` an integer).
//!
//! The hot path ([`parse_response_ref`]) reads an answer that is a `Result`
//! in one pass, each string kept as its JSON text in the body
//! ([`JsonStr`], written back without being decoded), and leaves any other
//! answer to the envelope's careful reading, whose outcome it always equals.

use std::borrow::Cow;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Number;

/// `X-TC-Action` of this API.
pub const ACTION: &str = "Invoke";
use super::envelope::{self, EnvelopeError};
pub use super::envelope::{SERVICE, VERSION};
/// `X-TC-Action` of 3.0's synchronous-only invocation (same version), whose
/// frequency limit is 100 times `Invoke`'s (docs/protocol.md,
/// "InvokeFunction").
pub const INVOKE_FUNCTION_ACTION: &str = "InvokeFunction";
/// The `InvokeResult` of a successful 3.0 `InvokeFunction`: an execution
/// status code, where `Invoke`'s success is 0.
pub const INVOKE_FUNCTION_SUCCESS: i64 = 200;
/// Largest `ClientContext` (event) of a synchronous invocation, bytes.
pub const SYNC_EVENT_LIMIT: usize = 6 * 1024 * 1024;
/// Largest `ClientContext` (event) of an asynchronous (`Event`) invocation, bytes.
pub const ASYNC_EVENT_LIMIT: usize = 128 * 1024;

/// `InvocationType`: synchronous (the server default) or asynchronous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InvocationType {
    /// Synchronous: the response carries the function's result.
    RequestResponse,
    /// Asynchronous: the response carries only the `FunctionRequestId`.
    Event,
}

impl InvocationType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            InvocationType::RequestResponse => "RequestResponse",
            InvocationType::Event => "Event",
        }
    }

    /// Parses the exact wire value (case-sensitive, as the service does).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "RequestResponse" => Some(InvocationType::RequestResponse),
            "Event" => Some(InvocationType::Event),
            _ => None,
        }
    }

    /// The largest `ClientContext` this invocation type accepts, bytes.
    pub fn event_limit(self) -> usize {
        match self {
            InvocationType::RequestResponse => SYNC_EVENT_LIMIT,
            InvocationType::Event => ASYNC_EVENT_LIMIT,
        }
    }
}

/// `LogType`: whether a synchronous response carries the execution log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogType {
    /// No log (the server default).
    None,
    /// The last 4 KB of the execution log in `Result.Log`.
    Tail,
}

impl LogType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            LogType::None => "None",
            LogType::Tail => "Tail",
        }
    }

    /// Parses the exact wire value (case-sensitive).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "None" => Some(LogType::None),
            "Tail" => Some(LogType::Tail),
            _ => None,
        }
    }
}

/// The `Invoke` request body. Serializes (compact, PascalCase) only
/// `FunctionName` and the fields that are `Some`, in declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvokeRequest<'a> {
    /// The function to run (required).
    pub function_name: &'a str,
    /// Sync or async; the server defaults to `RequestResponse`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation_type: Option<InvocationType>,
    /// Version or alias; the server defaults to `$LATEST`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<&'a str>,
    /// The event, a JSON text passed as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_context: Option<&'a str>,
    /// `None` or `Tail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_type: Option<LogType>,
    /// The namespace; the server defaults to `default`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
}

/// The 3.0 `InvokeFunction` request body: synchronous only, so no
/// `InvocationType`; the event is `Event`, not `ClientContext`. Serializes
/// (compact, PascalCase) `FunctionName` and the fields that are `Some`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvokeFunctionRequest<'a> {
    /// The function to run (required).
    pub function_name: &'a str,
    /// Version or alias; the server defaults to `$DEFAULT`, not `$LATEST`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<&'a str>,
    /// The event, a JSON text passed as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<&'a str>,
    /// `None` or `Tail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_type: Option<LogType>,
    /// The namespace; the server defaults to `default`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
}

/// A `"Key":"value"` member after the first one.
fn push_member(out: &mut Vec<u8>, key: &'static str, value: Option<&str>) {
    if let Some(value) = value {
        out.push(b',');
        crate::json_text::push_key(out, key);
        crate::json_text::push_str(out, value);
    }
}

impl InvokeRequest<'_> {
    /// Appends the compact JSON body to `out`: byte for byte what the
    /// derived `Serialize` writes, by [`crate::json_text`] (tested against
    /// serde_json).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        crate::json_text::push_key(out, "FunctionName");
        crate::json_text::push_str(out, self.function_name);
        push_member(
            out,
            "InvocationType",
            self.invocation_type.map(InvocationType::as_str),
        );
        push_member(out, "Qualifier", self.qualifier);
        push_member(out, "ClientContext", self.client_context);
        push_member(out, "LogType", self.log_type.map(LogType::as_str));
        push_member(out, "Namespace", self.namespace);
        out.push(b'}');
    }
}

impl InvokeFunctionRequest<'_> {
    /// Appends the compact JSON body to `out`, as [`InvokeRequest::write_json`].
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        crate::json_text::push_key(out, "FunctionName");
        crate::json_text::push_str(out, self.function_name);
        push_member(out, "Qualifier", self.qualifier);
        push_member(out, "Event", self.event);
        push_member(out, "LogType", self.log_type.map(LogType::as_str));
        push_member(out, "Namespace", self.namespace);
        out.push(b'}');
    }
}

#[cfg(test)]
impl<'a> InvokeRequest<'a> {
    /// A request with only `FunctionName` set.
    pub fn new(function_name: &'a str) -> Self {
        InvokeRequest {
            function_name,
            invocation_type: None,
            qualifier: None,
            client_context: None,
            log_type: None,
            namespace: None,
        }
    }

    /// The compact JSON body to send (and to hash for the signature).
    pub fn to_json(&self) -> Vec<u8> {
        to_vec(self)
    }

    /// The invocation type the server will apply (`RequestResponse` when unset).
    pub fn effective_invocation_type(&self) -> InvocationType {
        self.invocation_type
            .unwrap_or(InvocationType::RequestResponse)
    }
}

/// `Response.Result` of a successful `Invoke` (the function ran, or was queued).
/// A function-level failure is a `Result` with a non-empty `ErrMsg`, not an
/// API error. Every field may be absent (async answers carry only
/// `FunctionRequestId`); absent fields are not serialized.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvokeResult {
    /// Execution log (only with `LogType=Tail`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// The function's return value, serialized as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret_msg: Option<String>,
    /// The function's error, serialized as a string; empty on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err_msg: Option<String>,
    /// Memory used, bytes (an integer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_usage: Option<Number>,
    /// Execution time, milliseconds (a float; kept exactly as sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Number>,
    /// Billed time, milliseconds (an integer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill_duration: Option<Number>,
    /// The execution's id (the handle of an async invocation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_request_id: Option<String>,
    /// Deprecated status integer; 0 on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke_result: Option<Number>,
}

/// `Response.Result` read borrowed from the answer body, for the hot path:
/// each string is its JSON text in the body ([`JsonStr`]), the numbers are
/// [`InvokeResult`]'s. [`parse_response_ref`] reads (and refuses) exactly
/// what [`parse_response`] does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvokeResultRef<'a> {
    pub log: Option<JsonStr<'a>>,
    pub ret_msg: Option<JsonStr<'a>>,
    pub err_msg: Option<JsonStr<'a>>,
    pub mem_usage: Option<Number>,
    pub duration: Option<Number>,
    pub bill_duration: Option<Number>,
    pub function_request_id: Option<JsonStr<'a>>,
    pub invoke_result: Option<Number>,
}

impl InvokeResultRef<'_> {
    /// The owned result with the same values.
    pub fn to_result(&self) -> InvokeResult {
        let text = |s: &Option<JsonStr<'_>>| s.as_ref().map(|s| s.to_str().into_owned());
        InvokeResult {
            log: text(&self.log),
            ret_msg: text(&self.ret_msg),
            err_msg: text(&self.err_msg),
            mem_usage: self.mem_usage.clone(),
            duration: self.duration.clone(),
            bill_duration: self.bill_duration.clone(),
            function_request_id: text(&self.function_request_id),
            invoke_result: self.invoke_result.clone(),
        }
    }
}

impl InvokeResult {
    /// This result as the borrowed one (its strings escaped when written).
    pub fn as_ref(&self) -> InvokeResultRef<'_> {
        fn text(s: &Option<String>) -> Option<JsonStr<'_>> {
            s.as_deref().map(|s| JsonStr(Repr::Text(Cow::Borrowed(s))))
        }
        InvokeResultRef {
            log: text(&self.log),
            ret_msg: text(&self.ret_msg),
            err_msg: text(&self.err_msg),
            mem_usage: self.mem_usage.clone(),
            duration: self.duration.clone(),
            bill_duration: self.bill_duration.clone(),
            function_request_id: text(&self.function_request_id),
            invoke_result: self.invoke_result.clone(),
        }
    }

    /// This result as the borrowed one, its strings moved.
    fn into_ref(self) -> InvokeResultRef<'static> {
        fn text(s: Option<String>) -> Option<JsonStr<'static>> {
            s.map(|s| JsonStr(Repr::Text(Cow::Owned(s))))
        }
        InvokeResultRef {
            log: text(self.log),
            ret_msg: text(self.ret_msg),
            err_msg: text(self.err_msg),
            mem_usage: self.mem_usage,
            duration: self.duration,
            bill_duration: self.bill_duration,
            function_request_id: text(self.function_request_id),
            invoke_result: self.invoke_result,
        }
    }
}

/// The first, optimistic reading of a `Result`: strings as their raw JSON
/// text, checked afterwards ([`RawResult::checked`]). Read from an object
/// only, each field at most once, and only keys written without escapes;
/// whatever it does not take is read again as [`InvokeResult`].
#[derive(Default)]
struct RawResult<'a> {
    log: Option<&'a RawValue>,
    ret_msg: Option<&'a RawValue>,
    err_msg: Option<&'a RawValue>,
    mem_usage: Option<Number>,
    duration: Option<Number>,
    bill_duration: Option<Number>,
    function_request_id: Option<&'a RawValue>,
    invoke_result: Option<Number>,
}

impl<'de> Deserialize<'de> for RawResult<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = RawResult<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Result object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut r = RawResult::default();
                let mut seen = Seen::default();
                while let Some(key) = map.next_key::<&'de str>()? {
                    match key {
                        "Log" => r.log = seen.once(0, &mut map)?,
                        "RetMsg" => r.ret_msg = seen.once(1, &mut map)?,
                        "ErrMsg" => r.err_msg = seen.once(2, &mut map)?,
                        "MemUsage" => r.mem_usage = seen.once(3, &mut map)?,
                        "Duration" => r.duration = seen.once(4, &mut map)?,
                        "BillDuration" => r.bill_duration = seen.once(5, &mut map)?,
                        "FunctionRequestId" => r.function_request_id = seen.once(6, &mut map)?,
                        "InvokeResult" => r.invoke_result = seen.once(7, &mut map)?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(r)
            }
        }
        d.deserialize_map(Fields)
    }
}

impl<'a> RawResult<'a> {
    /// The result, when every string is one `String` would read.
    fn checked(self) -> Option<InvokeResultRef<'a>> {
        fn text(raw: Option<&RawValue>) -> Option<Option<JsonStr<'_>>> {
            match raw {
                None => Some(None),
                Some(raw) => JsonStr::from_raw(raw.get()).map(Some),
            }
        }
        Some(InvokeResultRef {
            log: text(self.log)?,
            ret_msg: text(self.ret_msg)?,
            err_msg: text(self.err_msg)?,
            mem_usage: self.mem_usage,
            duration: self.duration,
            bill_duration: self.bill_duration,
            function_request_id: text(self.function_request_id)?,
            invoke_result: self.invoke_result,
        })
    }
}

/// The fields of an object read so far, to refuse one read twice (as the
/// derived readings do).
#[derive(Default)]
struct Seen(u8);

impl Seen {
    fn once<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
        &mut self,
        field: u8,
        map: &mut A,
    ) -> Result<T, A::Error> {
        if self.0 & (1 << field) != 0 {
            return Err(serde::de::Error::custom("duplicate field"));
        }
        self.0 |= 1 << field;
        map.next_value()
    }
}

/// A whole answer whose `Response` has a `Result` and no `Error`, read in
/// one pass ([`one_pass`]); anything else is refused, to be read by
/// [`parse_with`].
struct OnePass<'a> {
    result: RawResult<'a>,
    request_id: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for OnePass<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Root;
        impl<'de> Visitor<'de> for Root {
            type Value = OnePass<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an answer object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut seen = Seen::default();
                let mut response = None;
                while let Some(key) = map.next_key::<&'de str>()? {
                    if key == "Response" {
                        response = Some(seen.once::<_, Response<'de>>(0, &mut map)?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                let Response(result, request_id) =
                    response.ok_or_else(|| serde::de::Error::custom("no Response"))?;
                Ok(OnePass {
                    result: result.ok_or_else(|| serde::de::Error::custom("no Result"))?,
                    request_id,
                })
            }
        }

        struct Response<'a>(Option<RawResult<'a>>, Option<&'a RawValue>);
        impl<'de> Deserialize<'de> for Response<'de> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Fields;
                impl<'de> Visitor<'de> for Fields {
                    type Value = Response<'de>;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a Response object")
                    }
                    fn visit_map<A: MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<Self::Value, A::Error> {
                        let mut seen = Seen::default();
                        let mut r = Response(None, None);
                        while let Some(key) = map.next_key::<&'de str>()? {
                            match key {
                                "Result" => r.0 = Some(seen.once(0, &mut map)?),
                                "RequestId" => r.1 = seen.once(1, &mut map)?,
                                "Error" => {
                                    let error: Option<IgnoredAny> = seen.once(2, &mut map)?;
                                    if error.is_some() {
                                        return Err(serde::de::Error::custom("an Error"));
                                    }
                                }
                                _ => {
                                    map.next_value::<IgnoredAny>()?;
                                }
                            }
                        }
                        Ok(r)
                    }
                }
                d.deserialize_map(Fields)
            }
        }
        d.deserialize_map(Root)
    }
}

/// The hot path's reading of an answer that is a `Result`: one pass over
/// the body, `Result` read as it goes. It takes only what
/// [`parse_with`] reads the same way — a UTF-8 body that is an object whose
/// `Response` (once, an object) has an object `Result` (once, its strings
/// as `String` reads them), no `Error` but `null`, and at most one
/// `RequestId` — and leaves the rest (errors, odd envelopes) to it.
fn one_pass(body: &[u8]) -> Option<Outcome<InvokeResultRef<'_>>> {
    // The other reading refuses invalid UTF-8 within `Response`; this one
    // would not notice it in a value it skips.
    let text = std::str::from_utf8(body).ok()?;
    let OnePass { result, request_id } = serde_json::from_str(text).ok()?;
    Some(Outcome::Result {
        result: result.checked()?,
        request_id: request_id.and_then(envelope::raw_string),
    })
}

/// A JSON string of an answer that is written back as JSON without being
/// decoded: read from an answer, it is its JSON text in the body, and
/// [`JsonStr::write_json`] writes exactly what serde_json writes for its
/// value — the text as it is when it has no escape (it then holds no `"`,
/// no `\` and no control character, and serde_json escapes nothing else),
/// else with each escape rewritten the way serde_json writes the character
/// (`\/` and `\u00e9` as the characters, `\u000A` as `\n`, `\u001F` as
/// `\u001f`, …). Any other string is escaped by serde_json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonStr<'a>(Repr<'a>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr<'a> {
    /// The text between the quotes of a JSON string without escapes.
    Verbatim(&'a str),
    /// A JSON string with escapes, quotes included, its escapes checked
    /// as serde_json checks them for a `String`.
    Escaped(&'a str),
    /// A string value: escaped by serde_json when written.
    Text(Cow<'a, str>),
}

impl<'a> JsonStr<'a> {
    /// `text`, escaped when written.
    pub fn new(text: &'a str) -> Self {
        JsonStr(Repr::Text(Cow::Borrowed(text)))
    }

    /// `raw`, the text of one JSON value as the parser found it, when it
    /// is a string that serde_json would read into a `String`.
    fn from_raw(raw: &'a str) -> Option<Self> {
        let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
        if !inner.contains('\\') {
            Some(JsonStr(Repr::Verbatim(inner)))
        } else if escapes_read_as_a_string(inner) {
            Some(JsonStr(Repr::Escaped(raw)))
        } else {
            None
        }
    }

    /// The value.
    pub fn to_str(&self) -> Cow<'_, str> {
        match &self.0 {
            Repr::Verbatim(s) => Cow::Borrowed(s),
            Repr::Escaped(raw) => Cow::Owned(
                serde_json::from_str(raw).expect("a JsonStr's escapes were checked when read"),
            ),
            Repr::Text(s) => Cow::Borrowed(s),
        }
    }

    /// Whether this is JSON text read from a body, written back without
    /// being decoded.
    pub fn is_json_text(&self) -> bool {
        !matches!(self.0, Repr::Text(_))
    }

    /// At most the length of [`Self::write_json`]'s output, when known
    /// without a scan (rewriting an escape never lengthens it); `None` for
    /// a string value, which serde_json's escaping may lengthen.
    pub fn json_len_bound(&self) -> Option<usize> {
        match &self.0 {
            Repr::Verbatim(s) => Some(s.len() + 2),
            Repr::Escaped(raw) => Some(raw.len()),
            Repr::Text(_) => None,
        }
    }

    /// Appends the string as JSON, byte for byte as serde_json writes it.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match &self.0 {
            Repr::Verbatim(s) => {
                out.push(b'"');
                out.extend_from_slice(s.as_bytes());
                out.push(b'"');
            }
            Repr::Escaped(raw) => rewrite_escapes(raw, out),
            Repr::Text(s) => serde_json::to_writer(out, s.as_ref())
                .expect("writing a string into a Vec cannot fail"),
        }
    }
}

/// Whether the escapes in `inner` (a JSON string's text between its quotes,
/// as the parser accepted it: escape letters and hex digits valid, no raw
/// control character) read as serde_json reads them into a `String`:
/// `\uD800`–`\uDBFF` only followed at once by `\uDC00`–`\uDFFF`, and no
/// `\uDC00`–`\uDFFF` otherwise.
fn escapes_read_as_a_string(inner: &str) -> bool {
    let b = inner.as_bytes();
    let mut at = 0;
    while let Some(found) = inner[at..].find('\\') {
        let i = at + found;
        match b.get(i + 1) {
            Some(b'u') => {
                let Some(n) = hex4(b, i + 2) else {
                    return false;
                };
                match n {
                    0xDC00..=0xDFFF => return false,
                    0xD800..=0xDBFF => {
                        let low = (b.get(i + 6..i + 8) == Some(b"\\u"))
                            .then(|| hex4(b, i + 8))
                            .flatten();
                        if !matches!(low, Some(0xDC00..=0xDFFF)) {
                            return false;
                        }
                        at = i + 12;
                    }
                    _ => at = i + 6,
                }
            }
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => at = i + 2,
            _ => return false,
        }
    }
    true
}

/// The four hex digits at `at`.
fn hex4(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)?
        .iter()
        .try_fold(0, |n, &d| char::from(d).to_digit(16).map(|d| n * 16 + d))
}

/// Writes the JSON string `raw` (quotes included, its escapes checked by
/// [`escapes_read_as_a_string`]) as serde_json writes its value: the text
/// between escapes copied, each escape rewritten.
fn rewrite_escapes(raw: &str, out: &mut Vec<u8>) {
    let mut rest = &raw[1..raw.len() - 1];
    out.push(b'"');
    while let Some(i) = rest.find('\\') {
        out.extend_from_slice(&rest.as_bytes()[..i]);
        let b = &rest.as_bytes()[i..];
        let (c, used) = match b[1] {
            b'u' => {
                let n = hex4(b, 2).expect("checked");
                if (0xD800..=0xDBFF).contains(&n) {
                    let low = hex4(b, 8).expect("checked");
                    (0x10000 + ((n - 0xD800) << 10) + (low - 0xDC00), 12)
                } else {
                    (n, 6)
                }
            }
            b'b' => (0x08, 2),
            b'f' => (0x0c, 2),
            b'n' => (0x0a, 2),
            b'r' => (0x0d, 2),
            b't' => (0x09, 2),
            other => (u32::from(other), 2),
        };
        write_escaped_char(char::from_u32(c).expect("checked: not a surrogate"), out);
        rest = &rest[i + used..];
    }
    out.extend_from_slice(rest.as_bytes());
    out.push(b'"');
}

/// One character as serde_json writes it inside a string.
fn write_escaped_char(c: char, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match c {
        '"' => out.extend_from_slice(b"\\\""),
        '\\' => out.extend_from_slice(b"\\\\"),
        '\u{8}' => out.extend_from_slice(b"\\b"),
        '\u{c}' => out.extend_from_slice(b"\\f"),
        '\n' => out.extend_from_slice(b"\\n"),
        '\r' => out.extend_from_slice(b"\\r"),
        '\t' => out.extend_from_slice(b"\\t"),
        '\0'..='\u{1f}' => {
            let n = c as usize;
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[n >> 4], HEX[n & 0xf]]);
        }
        c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
    }
}

/// What an HTTP-200 `Invoke` answer said; `R` is the result as read
/// ([`InvokeResult`], or [`InvokeResultRef`] borrowed from the body).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<R = InvokeResult> {
    /// `Response.Result`: the invocation happened (check `err_msg` for a function error).
    Result {
        /// The result fields.
        result: R,
        /// `Response.RequestId`, if sent.
        request_id: Option<String>,
    },
    /// `Response.Error`: the API refused the call; map on `code`, never on `message`.
    Error {
        /// e.g. `ResourceNotFound.Function`.
        code: String,
        /// Human text; may change at any time.
        message: String,
        /// `Response.RequestId`, if sent.
        request_id: Option<String>,
    },
}

/// Why a response body could not be understood. Carries no body content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON (or not UTF-8).
    #[error("response body is not valid JSON (line {line}, column {column})")]
    InvalidJson {
        /// 1-based line of the syntax error.
        line: usize,
        /// 1-based column of the syntax error.
        column: usize,
    },
    /// JSON, but not an object with an object `Response`.
    #[error("response body has no \"Response\" object")]
    MissingResponse,
    /// `Response` has neither a `Result` nor an `Error` object.
    #[error("response has neither \"Result\" nor \"Error\"")]
    NeitherResultNorError,
    /// `Response.Error` is not an object with a string `Code`.
    #[error("response \"Error\" has no string \"Code\"")]
    MalformedError,
    /// `Response.Result` has a field of the wrong type.
    #[error("response \"Result\" is malformed: {0}")]
    MalformedResult(String),
}

/// Parses an `Invoke` response body. Never panics; `Error` wins over `Result`
/// when both are present (as the official SDK checks `Error` first).
pub fn parse_response(body: &[u8]) -> Result<Outcome, ParseError> {
    parse_with(body, read_owned)
}

/// [`parse_response`] with the result borrowed from `body` (the hot path):
/// the same answers, the same errors. A `Result` that the borrowed reading
/// does not take (a field of the wrong type, a lone surrogate, …) is read
/// as [`parse_response`] reads it, for its error.
pub fn parse_response_ref(body: &[u8]) -> Result<Outcome<InvokeResultRef<'_>>, ParseError> {
    if let Some(outcome) = one_pass(body) {
        return Ok(outcome);
    }
    parse_with(body, |text| {
        match serde_json::from_str::<RawResult<'_>>(text)
            .ok()
            .and_then(RawResult::checked)
        {
            Some(result) => Ok(result),
            None => read_owned(text).map(InvokeResult::into_ref),
        }
    })
}

fn read_owned(text: &str) -> Result<InvokeResult, ParseError> {
    serde_json::from_str(text).map_err(|e| ParseError::MalformedResult(e.to_string()))
}

fn parse_with<'a, R>(
    body: &'a [u8],
    read: impl FnOnce(&'a str) -> Result<R, ParseError>,
) -> Result<Outcome<R>, ParseError> {
    let split = envelope::split(body).map_err(|e| match e {
        EnvelopeError::InvalidJson { line, column } => ParseError::InvalidJson { line, column },
        EnvelopeError::MissingResponse => ParseError::MissingResponse,
        EnvelopeError::MalformedError => ParseError::MalformedError,
        EnvelopeError::Malformed(m) => ParseError::MalformedResult(m),
    })?;
    let request_id = split.request_id;
    if let Some((code, message)) = split.error {
        return Ok(Outcome::Error {
            code,
            message,
            request_id,
        });
    }
    match split.result {
        Some(r) if r.get().starts_with('{') => Ok(Outcome::Result {
            result: read(r.get())?,
            request_id,
        }),
        Some(r) if r.get() != "null" => {
            Err(ParseError::MalformedResult("not an object".to_owned()))
        }
        _ => Err(ParseError::NeitherResultNorError),
    }
}

#[derive(Serialize)]
struct Envelope<T: Serialize> {
    #[serde(rename = "Response")]
    response: T,
}

#[derive(Serialize)]
struct SuccessResponse<'a> {
    #[serde(rename = "Result")]
    result: &'a InvokeResult,
    #[serde(rename = "RequestId")]
    request_id: &'a str,
}

#[derive(Serialize)]
struct ErrorResponse<'a> {
    #[serde(rename = "Error")]
    error: ErrorBody<'a>,
    #[serde(rename = "RequestId")]
    request_id: &'a str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "Code")]
    code: &'a str,
    #[serde(rename = "Message")]
    message: &'a str,
}

fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    // Only strings, finite numbers and derived structs: serialization cannot fail.
    serde_json::to_vec(value).unwrap_or_else(|e| unreachable!("serializing a plain struct: {e}"))
}

/// `{"Response":{"Result":{…},"RequestId":"…"}}`, compact.
pub fn success_body(result: &InvokeResult, request_id: &str) -> Vec<u8> {
    to_vec(&Envelope {
        response: SuccessResponse { result, request_id },
    })
}

/// `{"Response":{"Error":{"Code":"…","Message":"…"},"RequestId":"…"}}`, compact.
pub fn error_body(code: &str, message: &str, request_id: &str) -> Vec<u8> {
    to_vec(&Envelope {
        response: ErrorResponse {
            error: ErrorBody { code, message },
            request_id,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn written_bodies_are_what_serde_json_writes() {
        let texts = [
            "hello",
            "",
            "{\"a\":\"x y\"}",
            "line\nbreak\u{1}",
            "été😀\\",
        ];
        let types = [
            None,
            Some(InvocationType::RequestResponse),
            Some(InvocationType::Event),
        ];
        let logs = [None, Some(LogType::None), Some(LogType::Tail)];
        for (i, text) in texts.iter().enumerate() {
            let opt = |k: usize| !(i + k).is_multiple_of(3);
            let pick = |k: usize| opt(k).then_some(*text);
            for invocation_type in types {
                for log_type in logs {
                    let invoke = InvokeRequest {
                        function_name: text,
                        invocation_type,
                        qualifier: pick(1),
                        client_context: pick(2),
                        log_type,
                        namespace: pick(0),
                    };
                    let mut ours = Vec::new();
                    invoke.write_json(&mut ours);
                    assert_eq!(ours, serde_json::to_vec(&invoke).unwrap(), "{invoke:?}");
                }
            }
            for log_type in logs {
                let invoke = InvokeFunctionRequest {
                    function_name: text,
                    qualifier: pick(0),
                    event: pick(1),
                    log_type,
                    namespace: pick(2),
                };
                let mut ours = Vec::new();
                invoke.write_json(&mut ours);
                assert_eq!(ours, serde_json::to_vec(&invoke).unwrap(), "{invoke:?}");
            }
        }
    }

    #[test]
    fn request_with_only_function_name() {
        assert_eq!(
            text(InvokeRequest::new("hello").to_json()),
            r#"{"FunctionName":"hello"}"#
        );
    }

    #[test]
    fn request_all_fields_compact_pascal_case_in_order() {
        let req = InvokeRequest {
            function_name: "f",
            invocation_type: Some(InvocationType::Event),
            qualifier: Some("$LATEST"),
            client_context: Some(r#"{"k": "v"}"#),
            log_type: Some(LogType::Tail),
            namespace: Some("default"),
        };
        assert_eq!(
            text(req.to_json()),
            r#"{"FunctionName":"f","InvocationType":"Event","Qualifier":"$LATEST","ClientContext":"{\"k\": \"v\"}","LogType":"Tail","Namespace":"default"}"#
        );
    }

    #[test]
    fn request_never_has_other_fields() {
        let req = InvokeRequest {
            function_name: "f",
            invocation_type: Some(InvocationType::RequestResponse),
            qualifier: Some("1"),
            client_context: Some("{}"),
            log_type: Some(LogType::None),
            namespace: Some("ns"),
        };
        let value: Value = serde_json::from_slice(&req.to_json()).expect("json");
        let keys: Vec<&str> = value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "FunctionName",
                "InvocationType",
                "Qualifier",
                "ClientContext",
                "LogType",
                "Namespace"
            ]
        );
        // Every value is a string, as the API requires.
        assert!(value
            .as_object()
            .expect("object")
            .values()
            .all(Value::is_string));
    }

    #[test]
    fn request_client_context_is_a_string_not_an_object() {
        let mut req = InvokeRequest::new("f");
        req.client_context = Some(r#"{"a":[1,"\u00e9"]}"#);
        let value: Value = serde_json::from_slice(&req.to_json()).expect("json");
        assert_eq!(
            value["ClientContext"],
            Value::String(r#"{"a":[1,"\u00e9"]}"#.into())
        );
    }

    #[test]
    fn invocation_type_and_log_type_wire_values() {
        for t in [InvocationType::RequestResponse, InvocationType::Event] {
            assert_eq!(InvocationType::parse(t.as_str()), Some(t));
        }
        for t in [LogType::None, LogType::Tail] {
            assert_eq!(LogType::parse(t.as_str()), Some(t));
        }
        assert_eq!(InvocationType::parse("event"), None);
        assert_eq!(InvocationType::parse(""), None);
        assert_eq!(LogType::parse("tail"), None);
        assert_eq!(LogType::parse("Full"), None);
    }

    #[test]
    fn event_limits_sync_6mb_async_128kb() {
        assert_eq!(SYNC_EVENT_LIMIT, 6_291_456);
        assert_eq!(ASYNC_EVENT_LIMIT, 131_072);
        assert_eq!(
            InvocationType::RequestResponse.event_limit(),
            SYNC_EVENT_LIMIT
        );
        assert_eq!(InvocationType::Event.event_limit(), ASYNC_EVENT_LIMIT);
        assert_eq!(
            InvokeRequest::new("f").effective_invocation_type(),
            InvocationType::RequestResponse
        );
    }

    #[test]
    fn constants() {
        assert_eq!((ACTION, VERSION, SERVICE), ("Invoke", "2018-04-16", "scf"));
    }

    /// The official sample response (doc 17243), layout as published.
    const OFFICIAL_SAMPLE: &str = r#"{
"Response": {
"Result": {
"MemUsage": 3207168,
"Log": "",
"RetMsg": "hello from scf",
"BillDuration": 100,
"FunctionRequestId": "6add56fa-58f1-11e8-89a9-5254005d5fdb",
"Duration": 0.826,
"ErrMsg": "",
"InvokeResult": 0
},
"RequestId": "c2af8a64-c922-4d55-aee0-bd86a5c2cd12"
}
}"#;

    #[test]
    fn parses_official_sample_response() {
        let Ok(Outcome::Result { result, request_id }) = parse_response(OFFICIAL_SAMPLE.as_bytes())
        else {
            panic!("official sample must parse as a Result");
        };
        assert_eq!(
            request_id.as_deref(),
            Some("c2af8a64-c922-4d55-aee0-bd86a5c2cd12")
        );
        assert_eq!(result.ret_msg.as_deref(), Some("hello from scf"));
        assert_eq!(result.log.as_deref(), Some(""));
        assert_eq!(result.err_msg.as_deref(), Some(""));
        assert_eq!(
            result.function_request_id.as_deref(),
            Some("6add56fa-58f1-11e8-89a9-5254005d5fdb")
        );
        let duration = result.duration.expect("Duration");
        assert!(duration.is_f64(), "Duration stays a float");
        assert_eq!(duration.to_string(), "0.826");
        let mem = result.mem_usage.expect("MemUsage");
        assert!(mem.is_u64());
        assert_eq!(mem.to_string(), "3207168");
        assert_eq!(
            result.bill_duration.expect("BillDuration").as_u64(),
            Some(100)
        );
        assert_eq!(
            result.invoke_result.expect("InvokeResult").as_i64(),
            Some(0)
        );
    }

    #[test]
    fn numbers_are_kept_as_sent() {
        let body = br#"{"Response":{"Result":{"Duration":1,"MemUsage":1.5,"InvokeResult":-1},"RequestId":"r"}}"#;
        let Ok(Outcome::Result { result, .. }) = parse_response(body) else {
            panic!("parses");
        };
        assert_eq!(result.duration.expect("d").to_string(), "1");
        assert_eq!(result.mem_usage.expect("m").to_string(), "1.5");
        assert_eq!(result.invoke_result.expect("i").as_i64(), Some(-1));
        // And they round-trip through the builder unchanged.
        let again = parse_response(&success_body(
            &InvokeResult {
                duration: Some(Number::from_f64(2.0).expect("finite")),
                ..InvokeResult::default()
            },
            "r",
        ));
        let Ok(Outcome::Result { result, .. }) = again else {
            panic!("parses");
        };
        assert_eq!(result.duration.expect("d").to_string(), "2.0");
    }

    #[test]
    fn parses_error_envelope() {
        let body = br#"{"Response":{"Error":{"Code":"ResourceNotFound.Function","Message":"no such function"},"RequestId":"abc"}}"#;
        assert_eq!(
            parse_response(body),
            Ok(Outcome::Error {
                code: "ResourceNotFound.Function".into(),
                message: "no such function".into(),
                request_id: Some("abc".into()),
            })
        );
    }

    #[test]
    fn error_wins_over_result() {
        let body = br#"{"Response":{"Result":{"RetMsg":"x"},"Error":{"Code":"InternalError"},"RequestId":"r"}}"#;
        assert!(matches!(
            parse_response(body),
            Ok(Outcome::Error { code, message, .. }) if code == "InternalError" && message.is_empty()
        ));
    }

    #[test]
    fn tolerates_unknown_fields_and_missing_request_id() {
        let body = br#"{"Extra":1,"Response":{"DeprecatedWarning":"x","Result":{"RetMsg":"1","NewField":{"a":[1]}}}}"#;
        let Ok(Outcome::Result { result, request_id }) = parse_response(body) else {
            panic!("parses");
        };
        assert_eq!(result.ret_msg.as_deref(), Some("1"));
        assert_eq!(request_id, None);
    }

    #[test]
    fn async_result_has_only_function_request_id() {
        let body = br#"{"Response":{"Result":{"FunctionRequestId":"f-1"},"RequestId":"r"}}"#;
        let Ok(Outcome::Result { result, .. }) = parse_response(body) else {
            panic!("parses");
        };
        assert_eq!(
            result,
            InvokeResult {
                function_request_id: Some("f-1".into()),
                ..InvokeResult::default()
            }
        );
    }

    #[test]
    fn whitespace_and_odd_types_around_the_parts_used() {
        let body = b" {\n \"Response\" :\n  { \"Error\" : { \"Code\" : \"InternalError\" , \"Message\": 7 },\n \"RequestId\": 12 } }\n";
        assert_eq!(
            parse_response(body),
            Ok(Outcome::Error {
                code: "InternalError".into(),
                message: String::new(),
                request_id: None,
            })
        );
        let body = b"{ \"Response\": { \"Result\" :\t{ \"RetMsg\" : \"a\\u0022b\" }, \"RequestId\" : \"r\\n1\" } }";
        let Ok(Outcome::Result { result, request_id }) = parse_response(body) else {
            panic!("parses");
        };
        assert_eq!(result.ret_msg.as_deref(), Some("a\"b"));
        assert_eq!(request_id.as_deref(), Some("r\n1"));
    }

    /// A borrowed reading as the owned one.
    fn owned(o: Outcome<InvokeResultRef<'_>>) -> Outcome {
        match o {
            Outcome::Result { result, request_id } => Outcome::Result {
                result: result.to_result(),
                request_id,
            },
            Outcome::Error {
                code,
                message,
                request_id,
            } => Outcome::Error {
                code,
                message,
                request_id,
            },
        }
    }

    #[test]
    fn the_one_pass_reads_an_answer_as_scf_sends_it() {
        let body = OFFICIAL_SAMPLE.as_bytes();
        let one = one_pass(body).expect("the common answer is read in one pass");
        assert_eq!(owned(one), parse_response(body).unwrap());
        let body = br#"{"Response":{"Error":null,"Result":{"RetMsg":"\"x\"","X":[{}]},"RequestId":"r\n"},"Y":1}"#;
        let one = one_pass(body).expect("read in one pass");
        assert_eq!(owned(one), parse_response(body).unwrap());
    }

    #[test]
    fn odd_envelopes_are_left_to_the_careful_reading_and_read_as_before() {
        for body in [
            &br#"{"Response":{"Result":{"RetMsg":"a"},"Error":{"Code":"InternalError"}}}"#[..],
            br#"{"Response":{"Result":{"RetMsg":"a"},"Error":"x"}}"#,
            br#"{"Response":{"Result":{"RetMsg":"a"},"Result":{"RetMsg":"b"}}}"#,
            br#"{"Response":{"Result":{"RetMsg":"a","RetMsg":"b"}}}"#,
            br#"{"Response":{"Result":{}},"Response":{"Result":{}}}"#,
            br#"{"Response":{"Result":{},"RequestId":"a","RequestId":"b"}}"#,
            br#"[{"Response":{"Result":{}}}]"#,
            br#"{"Response":{"Result":[]}}"#,
            br#"{"Response":[{"RetMsg":"a"}]}"#,
            br#"{"Resp\u006fnse":{"Result":{}}}"#,
            br#"{"Response":{"Res\u0075lt":{}}}"#,
            br#"{"Response":{"Result":{"Ret\u004dsg":"a"}}}"#,
            b"{\"X\":\"\xff\",\"Response\":{\"Result\":{}}}",
            b"{\"Response\":{\"X\":\"\xc3\",\"Result\":{}}}",
            br#"{"Response":{"Result":{"RetMsg":"\ud800"}}}"#,
            br#"{"Response":{"Result":{"RetMsg":7}}}"#,
            br#"{"Response":{"Result":{}}} x"#,
            br#"{"Response":null}"#,
            br#"{"Response":{"Result":null}}"#,
            br#"{"Response":{"Result":{"RetMsg":"a","Ret\u004dsg":"b"},"Error":null}}"#,
            br#"{"Response":{"Result":{"RetMsg":"a"}},"Response":null}"#,
        ] {
            assert!(
                one_pass(body).is_none(),
                "{}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(
                parse_response_ref(body).map(owned),
                parse_response(body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// What serde_json writes for the string its reading of `raw` gives.
    fn serde_json_rewrite(raw: &str) -> Option<Vec<u8>> {
        let value: String = serde_json::from_str(raw).ok()?;
        Some(serde_json::to_vec(&value).unwrap())
    }

    fn rewrite(raw: &str) -> Option<Vec<u8>> {
        let s = JsonStr::from_raw(raw)?;
        let mut out = Vec::new();
        s.write_json(&mut out);
        assert!(out.len() <= s.json_len_bound().unwrap(), "{raw}");
        Some(out)
    }

    #[test]
    fn every_escape_is_rewritten_as_serde_json_writes_its_character() {
        let cases = [
            (r#""a\nb""#, r#""a\nb""#),
            (r#""\/\"\\\b\f\n\r\t""#, r#""/\"\\\b\f\n\r\t""#),
            (
                r#""\u0000\u001F\u001f\u007f""#,
                "\"\\u0000\\u001f\\u001f\u{7f}\"",
            ),
            (r#""\u000a\u0008\u000C\u000d\u0009""#, r#""\n\b\f\r\t""#),
            (r#""\u0022\u005C\u002F\u0041""#, r#""\"\\/A""#),
            (r#""\u00e9\u4E91\u2028""#, "\"é云\u{2028}\""),
            (r#""\ud83d\ude00 \uD83D\uDE00""#, "\"😀 😀\""),
            (r#""é😀\u00e9""#, "\"é😀é\""),
            (r#""""#, r#""""#),
            (r#""plain""#, r#""plain""#),
        ];
        for (raw, want) in cases {
            assert_eq!(rewrite(raw).as_deref(), Some(want.as_bytes()), "{raw}");
            assert_eq!(
                serde_json_rewrite(raw).as_deref(),
                Some(want.as_bytes()),
                "{raw}"
            );
        }
    }

    #[test]
    fn every_u_escape_reads_as_serde_json_reads_it() {
        for n in 0..=0xffff_u32 {
            for raw in [format!("\"x\\u{n:04x}y\""), format!("\"\\u{n:04X}\"")] {
                assert_eq!(rewrite(&raw), serde_json_rewrite(&raw), "{raw}");
            }
        }
        // Surrogate pairs, and a leading surrogate followed by anything else.
        for (high, low) in [(0xd800, 0xdc00), (0xdbff, 0xdfff), (0xd83d, 0xde00)] {
            let raw = format!("\"\\u{high:04x}\\u{low:04X}\"");
            assert!(rewrite(&raw).is_some(), "{raw}");
            assert_eq!(rewrite(&raw), serde_json_rewrite(&raw), "{raw}");
        }
        for raw in [
            r#""\ud800\u0041""#,
            r#""\ud800\ud800""#,
            r#""\ud800\n""#,
            r#""\ud800x""#,
            r#""\ud800""#,
            r#""\udc00\ud800""#,
        ] {
            assert_eq!(rewrite(raw), None, "{raw}");
            assert_eq!(serde_json_rewrite(raw), None, "{raw}");
        }
    }

    #[test]
    fn a_string_without_escapes_is_its_own_text_and_other_values_are_not_strings() {
        let s = JsonStr::from_raw("\"云 <a href='x'>&amp;\u{7f}\"").unwrap();
        assert_eq!(s.to_str(), "云 <a href='x'>&amp;\u{7f}");
        assert_eq!(
            s.json_len_bound(),
            Some("\"云 <a href='x'>&amp;\u{7f}\"".len())
        );
        for raw in ["1", "null", "[\"a\"]", "{}", "true"] {
            assert_eq!(JsonStr::from_raw(raw), None, "{raw}");
        }
        assert_eq!(
            JsonStr::from_raw(r#""a\u0062""#).unwrap().to_str(),
            "ab",
            "decoded on demand"
        );
    }

    #[test]
    fn null_fields_are_absent() {
        let body = br#"{"Response":{"Result":{"RetMsg":null,"Duration":null},"Error":null,"RequestId":"r"}}"#;
        let Ok(Outcome::Result { result, .. }) = parse_response(body) else {
            panic!("parses");
        };
        assert_eq!(result, InvokeResult::default());
    }

    #[test]
    fn parse_errors_are_typed() {
        type Check = fn(&ParseError) -> bool;
        let cases: [(&[u8], Check); 14] = [
            (b"", |e| matches!(e, ParseError::InvalidJson { .. })),
            (b"not json", |e| matches!(e, ParseError::InvalidJson { .. })),
            (b"{\"Response\":", |e| {
                matches!(e, ParseError::InvalidJson { .. })
            }),
            (b"\xff\xfe", |e| matches!(e, ParseError::InvalidJson { .. })),
            (b"{}", |e| *e == ParseError::MissingResponse),
            (b"[]", |e| *e == ParseError::MissingResponse),
            (b"null", |e| *e == ParseError::MissingResponse),
            (br#"{"Response":"x"}"#, |e| {
                *e == ParseError::MissingResponse
            }),
            (br#"{"Response":{"RequestId":"r"}}"#, |e| {
                *e == ParseError::NeitherResultNorError
            }),
            (br#"{"Response":{"Result":null,"RequestId":"r"}}"#, |e| {
                *e == ParseError::NeitherResultNorError
            }),
            (br#"{"Response":{"Error":{"Code":5}}}"#, |e| {
                *e == ParseError::MalformedError
            }),
            (br#"{"Response":{"Error":"boom"}}"#, |e| {
                *e == ParseError::MalformedError
            }),
            (br#"{"Response":{"Result":{"RetMsg":5}}}"#, |e| {
                matches!(e, ParseError::MalformedResult(_))
            }),
            (br#"{"Response":{"Result":[1]}}"#, |e| {
                matches!(e, ParseError::MalformedResult(_))
            }),
        ];
        for (body, check) in cases {
            let got = parse_response(body).expect_err("must fail");
            assert!(
                check(&got),
                "{:?} -> {got:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn never_panics_on_truncations_and_deep_nesting() {
        let full = OFFICIAL_SAMPLE.as_bytes();
        for end in 0..full.len() {
            let _ = parse_response(&full[..end]);
        }
        let deep = "[".repeat(100_000);
        assert!(matches!(
            parse_response(deep.as_bytes()),
            Err(ParseError::InvalidJson { .. })
        ));
        let deep_in_result = format!(
            r#"{{"Response":{{"Result":{{"X":{}1{}}}}}}}"#,
            "[".repeat(120),
            "]".repeat(120)
        );
        let _ = parse_response(deep_in_result.as_bytes());
    }

    #[test]
    fn success_body_exact_and_round_trips() {
        let result = InvokeResult {
            log: Some(String::new()),
            ret_msg: Some("\"Hello World\"".into()),
            err_msg: Some(String::new()),
            mem_usage: Some(Number::from(3_207_168u64)),
            duration: Number::from_f64(1.234),
            bill_duration: Some(Number::from(2u64)),
            function_request_id: Some("fid".into()),
            invoke_result: Some(Number::from(0u64)),
        };
        let body = success_body(&result, "rid");
        assert_eq!(
            text(body.clone()),
            r#"{"Response":{"Result":{"Log":"","RetMsg":"\"Hello World\"","ErrMsg":"","MemUsage":3207168,"Duration":1.234,"BillDuration":2,"FunctionRequestId":"fid","InvokeResult":0},"RequestId":"rid"}}"#
        );
        assert_eq!(
            parse_response(&body),
            Ok(Outcome::Result {
                result,
                request_id: Some("rid".into())
            })
        );
    }

    #[test]
    fn error_body_exact_and_round_trips() {
        let body = error_body("AuthFailure.SignatureFailure", "bad \"sig\"", "rid");
        assert_eq!(
            text(body.clone()),
            r#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"bad \"sig\""},"RequestId":"rid"}}"#
        );
        assert_eq!(
            parse_response(&body),
            Ok(Outcome::Error {
                code: "AuthFailure.SignatureFailure".into(),
                message: "bad \"sig\"".into(),
                request_id: Some("rid".into())
            })
        );
    }
}
