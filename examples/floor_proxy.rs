//! The floor a hyper-based hop can reach on a machine: a plain HTTP/1.1
//! reverse proxy built from the same crates as scf-bridge (hyper server,
//! hyper-util pooled client, tokio multi-thread runtime), doing nothing but
//! collecting the body, forwarding it and returning the answer. Used by
//! `bench/quick.sh` to separate what hyper and tokio cost from what the
//! bridge's own work costs. Not part of the product.
//!
//!   cargo run --release --example floor_proxy -- LISTEN UPSTREAM_HOST:PORT
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};

type Upstream = Client<HttpConnector, Full<Bytes>>;

async fn hop(client: &Upstream, target: &Uri, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut out = Request::post(target.clone());
    if let Some(ct) = parts.headers.get(http::header::CONTENT_TYPE) {
        out = out.header(http::header::CONTENT_TYPE, ct);
    }
    let out = out.body(Full::new(body)).expect("request");
    match client.request(out).await {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Response::from_parts(parts, Full::new(body))
        }
        Err(_) => Response::builder()
            .status(502)
            .body(Full::default())
            .expect("response"),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18290".into());
    let upstream = args.next().unwrap_or_else(|| "127.0.0.1:18281".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        let client: Upstream = Client::builder(TokioExecutor::new()).build(http);
        let target: Uri = format!("http://{upstream}/").parse().expect("upstream");
        let shared = Arc::new((client, target));
        let listener = tokio::net::TcpListener::bind(&listen).await.expect("bind");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let shared = shared.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(hop(&shared.0, &shared.1, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}
