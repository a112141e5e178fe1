//! Test doubles for the walk: a scripted 3.0 transport that answers from a
//! queue without sockets, records every call (action, region, body) and can
//! fail like a network does. Used by the unit tests of each action and by
//! `tests/`.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::HeaderMap;
use http::{HeaderValue, StatusCode};

use crate::actions::BoxFuture;
use crate::config::UpstreamMode;
use crate::credentials::Swappable;
use crate::error::{BridgeError, ErrorKind};
use crate::legacy::decode::encode_form;
use crate::scf3::envelope;
use crate::types::{KeyPair, Secret};
use crate::upstream::{Scf3Transport, Target, UpstreamResponse};
use crate::walk::{Bridge, Reply};

/// One scripted outcome of a 3.0 call.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// HTTP 200 with this body.
    Body(Vec<u8>),
    /// A non-200 HTTP status with this body.
    Status(u16, Vec<u8>),
    /// The transport fails with this error.
    Fail(BridgeError),
}

impl Scripted {
    /// `{"Response":{…response…,"RequestId":"…"}}`.
    pub fn ok(response: serde_json::Value, request_id: &str) -> Self {
        Scripted::Body(envelope::success_body(&response, request_id))
    }

    /// `{"Response":{"Error":{…},"RequestId":"…"}}`.
    pub fn error(code: &str, message: &str, request_id: &str) -> Self {
        Scripted::Body(envelope::error_body(code, message, request_id))
    }

    /// The connection broke after the request may have been written.
    pub fn connection_lost() -> Self {
        Scripted::Fail(BridgeError::after_send(
            ErrorKind::UpstreamConnectionLost,
            "scripted: connection lost",
        ))
    }
}

/// A 3.0 call as the transport saw it.
#[derive(Debug, Clone)]
pub struct SeenCall {
    /// `X-TC-Action`.
    pub action: String,
    /// `X-TC-Region`.
    pub region: String,
    /// The body, parsed.
    pub body: serde_json::Value,
    /// Whether an `Authorization` header was present.
    pub signed: bool,
}

/// A transport that answers each call with the next scripted outcome.
#[derive(Default)]
pub struct ScriptedTransport {
    script: Mutex<VecDeque<Scripted>>,
    seen: Mutex<Vec<SeenCall>>,
}

impl ScriptedTransport {
    pub fn new(script: impl IntoIterator<Item = Scripted>) -> Arc<Self> {
        Arc::new(ScriptedTransport {
            script: Mutex::new(script.into_iter().collect()),
            seen: Mutex::new(Vec::new()),
        })
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<SeenCall> {
        self.seen.lock().expect("not poisoned").clone()
    }

    /// The `X-TC-Action` of every call so far, in order.
    pub fn actions(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.action).collect()
    }

    /// Outcomes not used yet.
    pub fn remaining(&self) -> usize {
        self.script.lock().expect("not poisoned").len()
    }
}

impl Scf3Transport for ScriptedTransport {
    fn target(&self, _region: &str) -> Result<Target, BridgeError> {
        Ok(Target {
            uri: "http://scf.scripted.invalid/".parse().expect("valid"),
            host: HeaderValue::from_static("scf.scripted.invalid"),
        })
    }

    fn send<'a>(
        &'a self,
        _target: &'a Target,
        headers: HeaderMap,
        body: Bytes,
    ) -> BoxFuture<'a, Result<UpstreamResponse, BridgeError>> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        self.seen.lock().expect("not poisoned").push(SeenCall {
            action: header("x-tc-action"),
            region: header("x-tc-region"),
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            signed: headers.contains_key(http::header::AUTHORIZATION),
        });
        let next = self.script.lock().expect("not poisoned").pop_front();
        Box::pin(async move {
            let (status, body) = match next {
                Some(Scripted::Body(b)) => (200, b),
                Some(Scripted::Status(s, b)) => (s, b),
                Some(Scripted::Fail(e)) => return Err(e),
                None => {
                    return Err(BridgeError::after_send(
                        ErrorKind::Internal,
                        "scripted transport: no answer left for this call",
                    ))
                }
            };
            Ok(UpstreamResponse {
                status: StatusCode::from_u16(status).expect("a valid status"),
                content_type: Some(HeaderValue::from_static("application/json")),
                body: Bytes::from(body),
            })
        })
    }
}

/// A bridge without signature checks (`auth.mode = "none"`), signing with a
/// fixed key pair, region `ap-guangzhou`, clock at 1,700,000,000 s.
pub fn bridge(transport: Arc<ScriptedTransport>) -> Bridge {
    Bridge {
        upstream: transport,
        default_region: "ap-guangzhou".into(),
        credentials: Arc::new(Swappable::new(Some(KeyPair {
            secret_id: "AKIDscripted".into(),
            secret_key: Secret::new("scripted-key"),
            token: None,
        }))),
        verifier: None,
        mode: UpstreamMode::Forward,
        gate: crate::gate::GateLimits::default(),
        clock: Arc::new(|| 1_700_000_000),
        actions: crate::actions::ActionSettings::default(),
    }
}

/// A GET with these parameters through `bridge`'s walk.
pub async fn get(bridge: &Bridge, params: &[(&str, &str)]) -> Reply {
    let form = encode_form(params.iter().copied());
    let sent = AtomicBool::new(false);
    bridge
        .handle("GET", Some("scf.api.qcloud.com"), Bytes::from(form), &sent)
        .await
}

/// Action `A`'s parse of a form-encoded parameter string (no `Action`,
/// no signature): for an action's parameter tests.
pub fn parse<A: crate::actions::Action>(form: &str) -> Result<A::Request, BridgeError> {
    let params = crate::legacy::decode::decode_form(form.as_bytes())
        .map_err(|e| BridgeError::new(ErrorKind::InvalidParameter, e.to_string()))?;
    A::parse(crate::actions::LegacyParams::new(params))
}

/// The legacy answer of a reply as JSON.
pub fn json(reply: &Reply) -> serde_json::Value {
    serde_json::from_slice(&reply.answer.to_json()).expect("an answer is JSON")
}
