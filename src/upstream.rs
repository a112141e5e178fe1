//! The pooled client that carries signed `Invoke` calls to SCF 3.0:
//! keep-alive with an idle timeout, TCP_NODELAY, rustls with webpki roots,
//! a connect timeout, a whole-exchange deadline, a cap on the answer size,
//! and retries only when the request provably never left.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE, HOST};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{capture_connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::actions::BoxFuture;
use crate::config::{Endpoint, UpstreamSettings, REGION_PLACEHOLDER};
use crate::error::{BridgeError, ErrorKind};

/// Largest 3.0 answer accepted: SCF caps a function's return at 6 MB, and
/// JSON escaping can double it; logs add 4 KB.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Where one request goes: the URI and the Host value that is signed and sent.
#[derive(Clone, Debug)]
pub struct Target {
    pub uri: Uri,
    pub host: HeaderValue,
}

/// What came back, before any 3.0 parsing.
#[derive(Debug)]
pub struct UpstreamResponse {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

/// How the walk reaches SCF 3.0: the pooled [`Upstream`] in production, a
/// scripted fake in tests (`crate::testing::ScriptedTransport`).
pub trait Scf3Transport: Send + Sync {
    /// The endpoint for a 3.0 region.
    fn target(&self, region: &str) -> Result<Target, BridgeError>;

    /// POST one signed body; `headers` hold `Host` and the TC3 headers.
    /// Only a failure that provably sent nothing may be retried inside.
    fn send<'a>(
        &'a self,
        target: &'a Target,
        headers: HeaderMap,
        body: Bytes,
    ) -> BoxFuture<'a, Result<UpstreamResponse, BridgeError>>;
}

impl Scf3Transport for Upstream {
    fn target(&self, region: &str) -> Result<Target, BridgeError> {
        Upstream::target(self, region)
    }

    fn send<'a>(
        &'a self,
        target: &'a Target,
        headers: HeaderMap,
        body: Bytes,
    ) -> BoxFuture<'a, Result<UpstreamResponse, BridgeError>> {
        Box::pin(Upstream::send(self, target, headers, body))
    }
}

pub struct Upstream {
    client: Client<Counted<HttpsConnector<HttpConnector>>, Full<Bytes>>,
    https: bool,
    authority: String,
    fixed: Option<Target>,
    timeout: Duration,
    connect_timeout: Duration,
    connect_retries: u32,
    max_response_bytes: usize,
}

impl Upstream {
    /// `endpoint` must be a URL; the embedded emulator is resolved to its
    /// loopback address by the caller.
    pub fn new(endpoint: &Endpoint, settings: &UpstreamSettings) -> Result<Self, String> {
        let Endpoint::Url { https, authority } = endpoint else {
            return Err("the embedded endpoint must be resolved to an address first".into());
        };
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)));
        http.set_keepalive(Some(Duration::from_secs(60)));
        let tls = tls_config(settings)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(settings.pool_idle_timeout_secs))
            .pool_max_idle_per_host(settings.pool_max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            // A request that lost a race with a closing pooled connection
            // before a byte was written is re-sent by hyper on a fresh one.
            .retry_canceled_requests(true)
            .build(Counted(connector));
        let mut upstream = Upstream {
            client,
            https: *https,
            authority: authority.clone(),
            fixed: None,
            timeout: Duration::from_secs(settings.timeout_secs),
            connect_timeout: Duration::from_millis(settings.connect_timeout_ms),
            connect_retries: settings.connect_retries,
            max_response_bytes: MAX_RESPONSE_BYTES,
        };
        if !authority.contains(REGION_PLACEHOLDER) {
            upstream.fixed = Some(upstream.build_target(authority)?);
        }
        Ok(upstream)
    }

    /// The endpoint for a 3.0 region (`{region}` substituted when present).
    pub fn target(&self, region: &str) -> Result<Target, BridgeError> {
        if let Some(t) = &self.fixed {
            return Ok(t.clone());
        }
        let authority = self.authority.replace(REGION_PLACEHOLDER, region);
        self.build_target(&authority)
            .map_err(|e| BridgeError::new(ErrorKind::InvalidParameterValue, e))
    }

    fn build_target(&self, authority: &str) -> Result<Target, String> {
        let scheme = if self.https { "https" } else { "http" };
        let uri: Uri = format!("{scheme}://{authority}/")
            .parse()
            .map_err(|_| format!("`{authority}` is not a valid upstream host"))?;
        let host = HeaderValue::from_str(authority)
            .map_err(|_| format!("`{authority}` is not a valid Host value"))?;
        Ok(Target { uri, host })
    }

    /// POST a signed body. `headers` must already hold `Host` (the signed
    /// value), `Content-Type` and the `X-TC-*`/`Authorization` headers.
    ///
    /// One deadline covers the whole exchange, retries included. A failure
    /// before any connection was made (refused, DNS, TLS handshake, connect
    /// timeout) is retried up to `connect_retries` times while the deadline
    /// allows; once a connection was handed the request, it is never sent
    /// again.
    pub async fn send(
        &self,
        target: &Target,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, BridgeError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut tries = 0u32;
        loop {
            tries += 1;
            let e = match self
                .send_once(target, &headers, body.clone(), deadline)
                .await
            {
                Ok(response) => return Ok(response),
                Err(e) => e,
            };
            if e.kind != ErrorKind::UpstreamUnreachable || e.may_have_reached_scf {
                return Err(e);
            }
            let backoff = Duration::from_millis(50u64 << tries.min(6));
            if tries > self.connect_retries || tokio::time::Instant::now() + backoff >= deadline {
                return Err(gave_up(e, tries));
            }
            tracing::debug!(attempt = tries, error = %e, "upstream not reached; retrying");
            tokio::time::sleep(backoff).await;
        }
    }

    async fn send_once(
        &self,
        target: &Target,
        headers: &HeaderMap,
        body: Bytes,
        deadline: tokio::time::Instant,
    ) -> Result<UpstreamResponse, BridgeError> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(target.uri.clone())
            .body(Full::new(body))
            .map_err(|e| BridgeError::new(ErrorKind::Internal, e.to_string()))?;
        *req.headers_mut() = headers.clone();
        debug_assert!(req.headers().contains_key(HOST));
        // Set once the client holds a connection for this request, before a
        // byte of it is written: until then, nothing can have reached SCF.
        let connection = capture_connection(&mut req);
        match tokio::time::timeout_at(deadline, self.exchange(target, req)).await {
            Ok(result) => result,
            Err(_) if connection.connection_metadata().is_none() => Err(BridgeError::new(
                ErrorKind::UpstreamTimeout,
                format!(
                    "no connection to the SCF endpoint within {} s; nothing was sent",
                    self.timeout.as_secs()
                ),
            )
            .with_internal(format!("endpoint {}", host_str(&target.host)))),
            Err(_) => Err(BridgeError::after_send(
                ErrorKind::UpstreamTimeout,
                format!(
                    "SCF endpoint gave no complete answer within {} s",
                    self.timeout.as_secs()
                ),
            )),
        }
    }

    async fn exchange(
        &self,
        target: &Target,
        req: Request<Full<Bytes>>,
    ) -> Result<UpstreamResponse, BridgeError> {
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| classify_send_error(e, &target.host, self.connect_timeout))?;
        let status = resp.status();
        let content_type = resp.headers().get(CONTENT_TYPE).cloned();
        let limited = Limited::new(resp.into_body(), self.max_response_bytes);
        let body = match limited.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(BridgeError::after_send(
                    ErrorKind::UpstreamBadResponse,
                    format!(
                        "SCF endpoint answered with more than {} bytes",
                        self.max_response_bytes
                    ),
                ))
            }
            Err(e) => {
                return Err(BridgeError::after_send(
                    ErrorKind::UpstreamConnectionLost,
                    format!(
                        "connection to the SCF endpoint lost while reading the answer ({})",
                        public_cause(&*e)
                    ),
                )
                .with_internal(format!(
                    "endpoint {}: {}",
                    host_str(&target.host),
                    error_chain(&*e)
                )))
            }
        };
        Ok(UpstreamResponse {
            status,
            content_type,
            body,
        })
    }
}

/// A connector that counts the connections it opens, so the pool's reuse
/// can be read off the metrics (`connections / requests`).
#[derive(Clone)]
pub struct Counted<C>(C);

impl<C> tower::Service<Uri> for Counted<C>
where
    C: tower::Service<Uri>,
{
    type Response = C::Response;
    type Error = C::Error;
    type Future = C::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        crate::metrics::upstream_connection();
        self.0.call(dst)
    }
}

/// Says how often a request that never left was tried.
fn gave_up(mut e: BridgeError, tries: u32) -> BridgeError {
    if tries > 1 {
        e.detail
            .push_str(&format!("; gave up after {tries} attempts"));
    }
    e
}

fn host_str(host: &HeaderValue) -> &str {
    host.to_str().unwrap_or("?")
}

/// A connect failure (refused, DNS, TLS handshake, connect timeout) happened
/// before a byte of the request was written; anything else may have been sent.
fn classify_send_error(
    e: hyper_util::client::legacy::Error,
    host: &HeaderValue,
    connect_timeout: Duration,
) -> BridgeError {
    // The caller learns what kind of failure it was; the address and the
    // OS error go to the log (`internal`).
    let internal = format!("endpoint {}: {}", host_str(host), error_chain(&e));
    if e.is_connect() {
        let what = if has_cause(&e, |c| c.is::<rustls::Error>()) {
            "TLS handshake with the SCF endpoint failed".to_owned()
        } else if has_cause(&e, |c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        }) {
            format!(
                "cannot connect to the SCF endpoint within {} ms",
                connect_timeout.as_millis()
            )
        } else {
            format!("cannot connect to the SCF endpoint ({})", public_cause(&e))
        };
        BridgeError::new(ErrorKind::UpstreamUnreachable, what).with_internal(internal)
    } else {
        BridgeError::after_send(
            ErrorKind::UpstreamConnectionLost,
            format!(
                "connection to the SCF endpoint failed ({})",
                public_cause(&e)
            ),
        )
        .with_internal(internal)
    }
}

/// The kind of a connection failure in a few fixed words, for the caller:
/// never an address or the OS's own text.
fn public_cause(e: &(dyn std::error::Error + 'static)) -> &'static str {
    use std::io::ErrorKind as K;
    let io_kind = |k: K| {
        has_cause(e, |c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == k)
        })
    };
    if io_kind(K::ConnectionRefused) {
        "connection refused"
    } else if io_kind(K::ConnectionReset) {
        "connection reset"
    } else if io_kind(K::TimedOut) {
        "timed out"
    } else if io_kind(K::UnexpectedEof) {
        "connection closed before the answer was complete"
    } else if error_chain(e).contains("dns error") {
        "name resolution failed"
    } else if has_cause(e, |c| {
        c.downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_incomplete_message())
    }) {
        "connection closed before the answer was complete"
    } else if has_cause(e, |c| {
        c.downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_closed() || h.is_canceled())
    }) {
        "connection closed"
    } else {
        "connection error"
    }
}

/// Whether `e` or any of its causes is `wanted`. Errors wrapped in an
/// `io::Error` (how rustls reaches hyper: tokio-rustls and hyper-rustls
/// each wrap it) are opened too, since `io::Error::source` skips them.
fn has_cause(
    e: &(dyn std::error::Error + 'static),
    wanted: impl Fn(&(dyn std::error::Error + 'static)) -> bool,
) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        let mut inner = err;
        loop {
            if wanted(inner) {
                return true;
            }
            match inner
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(wrapped) => inner = wrapped,
                None => break,
            }
        }
        cur = err.source();
    }
    false
}

/// `a: b: c` from an error and its sources, for the operator.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

fn tls_config(settings: &UpstreamSettings) -> Result<rustls::ClientConfig, String> {
    client_tls_config(settings.ca_file.as_deref(), "upstream.ca_file")
}

/// A rustls client configuration trusting the built-in webpki roots plus the
/// PEM certificates of `ca_file`; `what` names the file in errors.
pub fn client_tls_config(
    ca_file: Option<&std::path::Path>,
    what: &str,
) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        use rustls_pki_types::pem::PemObject;
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("{what} {}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("{what} {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{what} {}: {e}", path.display()))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
