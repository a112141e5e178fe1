//! Reading a POST body within the bridge's limits: at most `limit` bytes;
//! buffer budget reserved only for bytes that have arrived (a client that
//! declares 20 MiB and sends one byte holds 1 KiB of the budget, not 20
//! MiB); the whole body within `server.body_read_timeout_ms`; and, after
//! `server.body_rate_grace_ms`, at least `server.min_body_rate_bytes_per_sec`
//! on average, so a slow sender is refused long before the timeout.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::error::{BridgeError, ErrorKind};

/// The limits one body is read under.
pub(super) struct ReadRules {
    pub limit: usize,
    /// `Content-Length`, already checked against `limit`.
    pub declared: Option<u64>,
    pub timeout: Duration,
    /// Bytes per second; 0: no rate check.
    pub min_rate: u64,
    pub grace: Duration,
}

/// `need` KiB of the buffer budget, or 4400.
pub(super) fn reserve_kib(
    budget: &Arc<Semaphore>,
    need: usize,
) -> Result<OwnedSemaphorePermit, BridgeError> {
    let need = u32::try_from(need).unwrap_or(u32::MAX);
    budget.clone().try_acquire_many_owned(need).map_err(|_| {
        crate::metrics::shed("buffered_bytes");
        BridgeError::new(
            ErrorKind::Overloaded,
            "too many request bytes buffered; retry shortly",
        )
    })
}

/// The budget held for the bytes read so far, grown as they arrive.
struct Held {
    permit: Option<OwnedSemaphorePermit>,
    kib: usize,
}

impl Held {
    fn cover(&mut self, budget: &Arc<Semaphore>, bytes: usize) -> Result<(), BridgeError> {
        let need = bytes.div_ceil(1024);
        if need <= self.kib {
            return Ok(());
        }
        let more = need - self.kib;
        let permit = reserve_kib(budget, more)?;
        self.kib += more;
        match &mut self.permit {
            Some(p) => p.merge(permit),
            None => self.permit = Some(permit),
        }
        Ok(())
    }
}

/// Reads the body and returns `query&body` (just the body when `query` is
/// empty) as one contiguous buffer, the body's length, and the budget it
/// holds. A body that arrives as one piece is kept as it is; otherwise the
/// pieces are copied, as they arrive, into one buffer sized from
/// `Content-Length` — never more than the body plus the piece being read.
pub(super) async fn read(
    body: Incoming,
    rules: &ReadRules,
    query: &str,
    budget: &Arc<Semaphore>,
) -> Result<(Bytes, usize, OwnedSemaphorePermit), BridgeError> {
    let started = Instant::now();
    let deadline = started + rules.timeout;
    let mut body = Limited::new(body, rules.limit);
    let mut held = Held {
        permit: None,
        kib: 0,
    };
    held.cover(budget, query.len() + 1)?;
    let mut first: Option<Bytes> = None;
    let mut joined: Option<Vec<u8>> = None;
    let mut len = 0;
    let start = |len: usize| {
        let expected = rules.declared.map_or(len, |n| (n as usize).max(len));
        let mut buf = Vec::with_capacity(query.len() + 1 + expected);
        if !query.is_empty() {
            buf.extend_from_slice(query.as_bytes());
            buf.push(b'&');
        }
        buf
    };
    if !query.is_empty() {
        joined = Some(start(0));
    }
    loop {
        // The next piece must come before the timeout, and before the
        // moment the bytes so far fall behind the minimum rate.
        let behind = (rules.min_rate > 0).then(|| {
            started
                + rules.grace
                + Duration::from_secs_f64((len as f64 + 1.0) / rules.min_rate as f64)
        });
        let until = behind.map_or(deadline, |b| b.min(deadline));
        let frame = match tokio::time::timeout_at(until, body.frame()).await {
            Err(_) if Some(until) == behind && until < deadline => {
                crate::metrics::shed("slow_body");
                return Err(BridgeError::new(
                    ErrorKind::InvalidParameter,
                    format!(
                        "the request body is arriving too slowly: {len} bytes in {} ms, \
                         below {} bytes/s (server.min_body_rate_bytes_per_sec)",
                        started.elapsed().as_millis(),
                        rules.min_rate
                    ),
                ));
            }
            Err(_) => {
                return Err(BridgeError::new(
                    ErrorKind::InvalidParameter,
                    "the request body did not arrive in time",
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(super::too_large(rules.limit))
            }
            Ok(Some(Err(e))) => {
                return Err(BridgeError::new(
                    ErrorKind::InvalidParameter,
                    format!("the request body could not be read: {e}"),
                ))
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if data.is_empty() {
            continue;
        }
        len += data.len();
        held.cover(budget, query.len() + 1 + len)?;
        if let Some(buf) = &mut joined {
            buf.extend_from_slice(&data);
        } else if let Some(one) = first.take() {
            let mut buf = start(len);
            buf.extend_from_slice(&one);
            buf.extend_from_slice(&data);
            joined = Some(buf);
        } else {
            first = Some(data);
        }
    }
    let raw = match (joined, first) {
        (Some(buf), _) => Bytes::from(buf),
        (None, Some(one)) => one,
        (None, None) => Bytes::new(),
    };
    let permit = held.permit.expect("the query's budget is always reserved");
    Ok((raw, len, permit))
}
