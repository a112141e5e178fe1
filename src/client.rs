//! `scf-bridge invoke`: a legacy (v2) client in the binary, to check a
//! deployment in one command. It builds the parameters a legacy SDK sends
//! (`Action`, `Region`, `Timestamp`, `Nonce`, `SecretId`, `SignatureMethod`,
//! `RequestClient`, the action's own parameters), signs them with the
//! bridge's own v1 signer ([`crate::legacy::signature`], docs/protocol.md)
//! over the endpoint's host and `/v2/index.php`, sends them as a GET query or
//! a POST form over hyper + rustls, and prints the legacy answer.
//!
//! The exit status is 0 only when the answer's `code` is 0; 1 for any other
//! answer or a failed exchange; 2 for a usage error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::Secret;
use crate::legacy::decode::{encode_form, Params};
use crate::legacy::signature::{self, SignatureMethod, LEGACY_PATH};

/// The default endpoint: the host every legacy SDK hard-codes.
pub const DEFAULT_ENDPOINT: &str = "https://scf.api.qcloud.com";
/// `RequestClient` this client sends (its family is on the `/callers`
/// allow-list).
pub const REQUEST_CLIENT: &str = concat!("SCF_BRIDGE_INVOKE_", env!("CARGO_PKG_VERSION"));
/// Largest answer read.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// What `scf-bridge invoke` was asked to do.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// `http(s)://host[:port][/v2/index.php]`.
    pub endpoint: String,
    /// Connect here instead of resolving the endpoint's host (the signed
    /// host and the TLS name stay the endpoint's).
    pub connect_to: Option<SocketAddr>,
    pub secret_id: String,
    pub secret_key: Secret,
    pub token: Option<Secret>,
    pub region: String,
    pub method: Method,
    pub signature_method: SignatureMethod,
    pub action: String,
    /// `InvokeFunction`: FUNCTION [PARAM_JSON] [key=value…]; other actions:
    /// key=value…
    pub args: Vec<String>,
    pub event: bool,
    pub tail: bool,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

/// The exchange's result: the HTTP status and the answer's bytes.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl Answer {
    /// The legacy `code`, when the body is a legacy answer.
    pub fn code(&self) -> Option<i64> {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()?
            .get("code")?
            .as_i64()
    }

    /// Pretty JSON when the body is JSON, else the bytes as text.
    pub fn pretty(&self) -> String {
        match serde_json::from_slice::<serde_json::Value>(&self.body) {
            Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
            Err(_) => String::from_utf8_lossy(&self.body).into_owned(),
        }
    }
}

/// The endpoint's URI of `/v2/index.php` and the host that is signed (the
/// `Host` header the request carries: the authority as written).
fn endpoint_uri(endpoint: &str) -> Result<(Uri, String, bool), String> {
    let bad = |why: &str| format!("--endpoint `{endpoint}`: {why}");
    let uri: Uri = endpoint.parse().map_err(|_| bad("not a URL"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(bad("expected http:// or https://")),
    };
    let authority = uri.authority().ok_or_else(|| bad("no host"))?.clone();
    if authority.as_str().contains('@') {
        return Err(bad("user information is not allowed"));
    }
    match uri.path() {
        "" | "/" | LEGACY_PATH => {}
        _ => return Err(bad("the path must be /v2/index.php (or nothing)")),
    }
    if uri.query().is_some() {
        return Err(bad("no query allowed"));
    }
    let scheme = if https { "https" } else { "http" };
    let uri: Uri = format!("{scheme}://{authority}{LEGACY_PATH}")
        .parse()
        .map_err(|_| bad("not a URL"))?;
    Ok((uri, authority.as_str().to_owned(), https))
}

/// The signed parameters, in the order they are sent (`Signature` last).
pub fn signed_params(inv: &Invocation, host: &str, now: u64, nonce: u32) -> Result<Params, String> {
    let mut pairs: Vec<(String, String)> = vec![
        ("Action".into(), inv.action.clone()),
        ("Region".into(), inv.region.clone()),
        ("Timestamp".into(), now.to_string()),
        ("Nonce".into(), nonce.to_string()),
        ("SecretId".into(), inv.secret_id.clone()),
        (
            "SignatureMethod".into(),
            inv.signature_method.as_str().into(),
        ),
        ("RequestClient".into(), REQUEST_CLIENT.into()),
    ];
    if let Some(token) = &inv.token {
        pairs.push(("Token".into(), token.expose().to_owned()));
    }
    let mut rest = inv.args.iter();
    if inv.action == "InvokeFunction" {
        let function = rest
            .next()
            .filter(|f| !f.contains('='))
            .ok_or("InvokeFunction needs a FUNCTION name")?;
        pairs.push(("functionName".into(), function.clone()));
        let mut rest_peek = rest.clone();
        if let Some(param) = rest_peek.next().filter(|p| !is_key_value(p)) {
            serde_json::from_str::<serde_json::Value>(param)
                .map_err(|e| format!("PARAM_JSON is not JSON: {e}"))?;
            pairs.push(("param".into(), param.clone()));
            rest.next();
        }
        if inv.event {
            pairs.push(("invokeType".into(), "Event".into()));
        }
        if inv.tail {
            pairs.push(("logType".into(), "Tail".into()));
        }
    } else if inv.event || inv.tail {
        return Err("--event and --tail apply to InvokeFunction only".into());
    }
    for arg in rest {
        let (k, v) = arg
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| format!("`{arg}`: expected key=value"))?;
        if pairs.iter().any(|(have, _)| have == k) || k == signature::SIGNATURE_PARAM {
            return Err(format!("`{k}` is given twice or set by the client itself"));
        }
        pairs.push((k.to_owned(), v.to_owned()));
    }
    let params = Params::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| e.to_string())?;
    let to_sign = signature::string_to_sign(inv.method.as_str(), host, LEGACY_PATH, &params);
    let sig = signature::sign(inv.secret_key.expose(), inv.signature_method, &to_sign);
    pairs.push((signature::SIGNATURE_PARAM.into(), sig));
    Params::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| e.to_string())
}

fn is_key_value(arg: &str) -> bool {
    arg.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    })
}

/// Sign, send and read the answer.
pub async fn invoke(inv: &Invocation) -> Result<Answer, String> {
    let (uri, host, https) = endpoint_uri(&inv.endpoint)?;
    if inv.connect_to.is_some() && uri.port().is_some() {
        return Err("--connect-to needs an --endpoint without a port".into());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Like the SDKs: a random positive Nonce.
    let nonce = (uuid::Uuid::new_v4().as_u128() as u32 % 1_000_000_000).max(1);
    let params = signed_params(inv, &host, now, nonce)?;
    let form = encode_form(params.iter());
    let request = if inv.method == Method::GET {
        let target: Uri = format!("{uri}?{form}")
            .parse()
            .map_err(|e| format!("cannot build the request URL: {e}"))?;
        Request::get(target).body(Full::new(Bytes::new()))
    } else {
        Request::post(uri)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(Full::new(Bytes::from(form)))
    }
    .map_err(|e| format!("cannot build the request: {e}"))?;
    let tls = crate::upstream::client_tls_config(inv.ca_file.as_deref(), "--ca-file")?;
    // The system resolver, or the one address of --connect-to.
    let connect_to = inv.connect_to;
    let resolver = tower::service_fn(move |name: Name| async move {
        let addrs: Vec<SocketAddr> = match connect_to {
            Some(addr) => vec![addr],
            None => tokio::net::lookup_host((name.as_str(), 0)).await?.collect(),
        };
        Ok::<_, std::io::Error>(addrs.into_iter())
    });
    let mut http = HttpConnector::new_with_resolver(resolver);
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
    let connector = if https {
        builder.https_only().enable_http1().wrap_connector(http)
    } else {
        builder.https_or_http().enable_http1().wrap_connector(http)
    };
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("request failed: {}", crate::upstream::error_chain(&e)))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?
            .to_bytes();
        Ok(Answer { status, body })
    };
    tokio::time::timeout(inv.timeout, exchange)
        .await
        .map_err(|_| format!("no answer within {} s", inv.timeout.as_secs()))?
}

/// `scf-bridge invoke` arguments.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Credentials: --secret-id (or TENCENTCLOUD_SECRET_ID) and --secret-key-file (or \
TENCENTCLOUD_SECRET_KEY); TENCENTCLOUD_SESSION_TOKEN adds Token.\n\
Exit status: 0 when the answer's code is 0, 1 for any other answer or failure, 2 for a usage error.\n\
Examples:\n  \
scf-bridge invoke --endpoint http://127.0.0.1:8080 hello '{\"name\":\"x\"}' --tail\n  \
scf-bridge invoke --endpoint https://scf.api.qcloud.com --ca-file ca.pem hello\n  \
scf-bridge invoke --action ListFunctions Limit=5")]
pub struct InvokeArgs {
    /// The legacy endpoint: http(s)://host[:port] (the path /v2/index.php is added).
    #[arg(long, default_value = DEFAULT_ENDPOINT)]
    pub endpoint: String,
    /// Connect to this IP:PORT instead of resolving the endpoint's host; the
    /// signed host and the TLS name stay the endpoint's (like curl --connect-to).
    #[arg(long, value_name = "IP:PORT")]
    pub connect_to: Option<SocketAddr>,
    /// The caller's SecretId.
    #[arg(long, env = "TENCENTCLOUD_SECRET_ID", hide_env_values = true)]
    pub secret_id: Option<String>,
    /// A file holding the caller's SecretKey (else TENCENTCLOUD_SECRET_KEY).
    #[arg(long, value_name = "FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Legacy Region: a short code (gz, sh, …) or a region name.
    #[arg(long, default_value = "gz")]
    pub region: String,
    /// GET (query) or POST (form body).
    #[arg(long, default_value = "POST", value_parser = ["GET", "POST"])]
    pub method: String,
    #[arg(long, default_value = "HmacSHA1", value_parser = ["HmacSHA1", "HmacSHA256"])]
    pub signature_method: String,
    /// The legacy Action; other actions take key=value parameters.
    #[arg(long, default_value = "InvokeFunction")]
    pub action: String,
    /// Asynchronous invocation (invokeType=Event).
    #[arg(long)]
    pub event: bool,
    /// Ask for the function's log tail (logType=Tail).
    #[arg(long)]
    pub tail: bool,
    /// Print the answer's bytes as received instead of pretty JSON.
    #[arg(long)]
    pub raw: bool,
    /// Extra PEM trust roots for an https endpoint (the built-in webpki roots stay).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Seconds to wait for the whole exchange.
    #[arg(long, default_value_t = 330)]
    pub timeout_secs: u64,
    /// InvokeFunction: FUNCTION [PARAM_JSON] [key=value…]; other actions: key=value…
    #[arg(value_name = "ARGS")]
    pub args: Vec<String>,
}

/// Run `scf-bridge invoke`: print the answer on stdout; the exit status
/// says whether its `code` is 0.
pub fn run(args: InvokeArgs) -> std::process::ExitCode {
    use std::process::ExitCode;
    // Usage mistakes (exit 2) are found before anything is sent.
    let checked = Invocation::from_args(&args).and_then(|inv| {
        let (_, host, _) = endpoint_uri(&inv.endpoint)?;
        signed_params(&inv, &host, 0, 1)?;
        Ok(inv)
    });
    let inv = match checked {
        Ok(i) => i,
        Err(e) => {
            eprintln!("scf-bridge invoke: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scf-bridge invoke: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(invoke(&inv)) {
        Ok(answer) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = if args.raw {
                out.write_all(&answer.body)
            } else {
                writeln!(out, "{}", answer.pretty())
            };
            let _ = out.flush();
            match answer.code() {
                Some(0) => ExitCode::SUCCESS,
                Some(code) => {
                    eprintln!(
                        "scf-bridge invoke: the answer's code is {code} (HTTP {})",
                        answer.status
                    );
                    ExitCode::FAILURE
                }
                None => {
                    eprintln!(
                        "scf-bridge invoke: HTTP {} without a legacy answer",
                        answer.status
                    );
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("scf-bridge invoke: {e}");
            ExitCode::FAILURE
        }
    }
}

impl Invocation {
    fn from_args(a: &InvokeArgs) -> Result<Invocation, String> {
        let secret_id = a
            .secret_id
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or("no SecretId: give --secret-id or set TENCENTCLOUD_SECRET_ID")?;
        let secret_key = match &a.secret_key_file {
            Some(path) => std::fs::read_to_string(path)
                .map(|k| k.trim().to_owned())
                .map_err(|e| format!("--secret-key-file {}: {e}", path.display()))?,
            None => std::env::var(crate::config::ENV_SECRET_KEY).unwrap_or_default(),
        };
        if secret_key.is_empty() {
            return Err(
                "no SecretKey: give --secret-key-file or set TENCENTCLOUD_SECRET_KEY".into(),
            );
        }
        let token = std::env::var(crate::config::ENV_SESSION_TOKEN)
            .ok()
            .filter(|t| !t.is_empty())
            .map(Secret::new);
        Ok(Invocation {
            endpoint: a.endpoint.clone(),
            connect_to: a.connect_to,
            secret_id,
            secret_key: Secret::new(secret_key),
            token,
            region: a.region.clone(),
            method: if a.method == "GET" {
                Method::GET
            } else {
                Method::POST
            },
            signature_method: SignatureMethod::from_param(Some(&a.signature_method)),
            action: a.action.clone(),
            args: a.args.clone(),
            event: a.event,
            tail: a.tail,
            ca_file: a.ca_file.clone(),
            timeout: Duration::from_secs(a.timeout_secs.max(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(args: &[&str]) -> Invocation {
        Invocation {
            endpoint: DEFAULT_ENDPOINT.into(),
            connect_to: None,
            secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE".into(),
            secret_key: Secret::new("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"),
            token: None,
            region: "gz".into(),
            method: Method::GET,
            signature_method: SignatureMethod::HmacSha1,
            action: "InvokeFunction".into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            event: false,
            tail: false,
            ca_file: None,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_signature_verifies_with_the_bridges_own_check() {
        for (method, sm) in [
            (Method::GET, SignatureMethod::HmacSha1),
            (Method::POST, SignatureMethod::HmacSha256),
        ] {
            let mut i = inv(&["hello", r#"{"a":1}"#, "namespace=prod"]);
            i.method = method.clone();
            i.signature_method = sm;
            i.tail = true;
            let p = signed_params(&i, "scf.api.qcloud.com", 1_700_000_000, 42).unwrap();
            assert_eq!(p.get("functionName"), Some("hello"));
            assert_eq!(p.get("param"), Some(r#"{"a":1}"#));
            assert_eq!(p.get("namespace"), Some("prod"));
            assert_eq!(p.get("logType"), Some("Tail"));
            assert_eq!(p.get("RequestClient"), Some(REQUEST_CLIENT));
            assert_eq!(p.get("SignatureMethod"), Some(sm.as_str()));
            let to_sign =
                signature::string_to_sign(method.as_str(), "scf.api.qcloud.com", LEGACY_PATH, &p);
            assert!(to_sign.starts_with(&format!("{}scf.api.qcloud.com/v2/index.php?", method)));
            let sig = p.get("Signature").unwrap();
            assert!(signature::verify(
                "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
                sm,
                &to_sign,
                sig
            ));
            assert!(!signature::verify("other", sm, &to_sign, sig));
        }
    }

    #[test]
    fn other_actions_take_key_value_pairs() {
        let mut i = inv(&["Limit=5", "Offset=0"]);
        i.action = "ListFunctions".into();
        let p = signed_params(&i, "h", 1, 1).unwrap();
        assert_eq!(p.get("Action"), Some("ListFunctions"));
        assert_eq!(p.get("Limit"), Some("5"));
        assert_eq!(p.get("functionName"), None);
        i.args = vec!["oops".into()];
        assert!(signed_params(&i, "h", 1, 1)
            .unwrap_err()
            .contains("key=value"));
        i.args = vec!["Nonce=3".into()];
        assert!(signed_params(&i, "h", 1, 1).unwrap_err().contains("Nonce"));
        i.event = true;
        i.args.clear();
        assert!(signed_params(&i, "h", 1, 1).is_err());
    }

    #[test]
    fn usage_mistakes_are_refused() {
        assert!(signed_params(&inv(&[]), "h", 1, 1).is_err());
        assert!(signed_params(&inv(&["f", "{not json"]), "h", 1, 1)
            .unwrap_err()
            .contains("PARAM_JSON"));
        let mut i = inv(&["f"]);
        i.event = true;
        assert_eq!(
            signed_params(&i, "h", 1, 1).unwrap().get("invokeType"),
            Some("Event")
        );
        assert!(endpoint_uri("ftp://x").is_err());
        assert!(endpoint_uri("https://h/other").is_err());
        let (uri, host, https) = endpoint_uri("http://127.0.0.1:8080").unwrap();
        assert_eq!(uri.to_string(), "http://127.0.0.1:8080/v2/index.php");
        assert_eq!(host, "127.0.0.1:8080");
        assert!(!https);
    }
}
