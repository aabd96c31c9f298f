//! The floor: a no-op admission webhook in the same stack as driftgate (axum + rustls + tokio +
//! serde_json). It parses the review, echoes the uid and allows. Every load figure for driftgate
//! is quoted as a ratio to this, measured in the same run on the same machine.
//!
//! ```text
//! cargo run --release --example floor -- --cert certs/tls.crt --key certs/tls.key \
//!     --listen 127.0.0.1:9443 [--lazy]
//! ```
//! By default the whole body is parsed into a `serde_json::Value`, as a typical webhook does;
//! `--lazy` keeps `object`/`oldObject` raw (the least a webhook can do).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use serde_json::value::RawValue;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
struct Args {
    cert: PathBuf,
    key: PathBuf,
    listen: SocketAddr,
    lazy: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut cert = None;
    let mut key = None;
    let mut listen: SocketAddr = "127.0.0.1:9443".parse()?;
    let mut lazy = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--cert" => cert = it.next().map(PathBuf::from),
            "--key" => key = it.next().map(PathBuf::from),
            "--listen" => listen = it.next().context("--listen ADDR")?.parse()?,
            "--lazy" => lazy = true,
            "-h" | "--help" => {
                println!("floor --cert FILE --key FILE [--listen ADDR] [--lazy]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(Args {
        cert: cert.context("--cert FILE")?,
        key: key.context("--key FILE")?,
        listen,
        lazy,
    })
}

fn tls_config(args: &Args) -> anyhow::Result<rustls::ServerConfig> {
    let cert_pem = std::fs::read(&args.cert).with_context(|| args.cert.display().to_string())?;
    let key_pem = std::fs::read(&args.key).with_context(|| args.key.display().to_string())?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice()).collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())?.context("no private key")?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Just enough of a review to answer it, objects left raw.
#[derive(serde::Deserialize)]
struct LazyReview<'a> {
    #[serde(rename = "apiVersion", borrow)]
    api_version: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    request: Option<LazyRequest<'a>>,
}

#[derive(serde::Deserialize)]
struct LazyRequest<'a> {
    #[serde(borrow)]
    uid: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, rename = "object", borrow)]
    _object: Option<&'a RawValue>,
    #[serde(default, rename = "oldObject", borrow)]
    _old_object: Option<&'a RawValue>,
}

async fn validate(State(lazy): State<bool>, body: Bytes) -> Response {
    let (api_version, uid) = if lazy {
        match serde_json::from_slice::<LazyReview>(&body) {
            Ok(r) => (
                r.api_version
                    .map(|v| v.into_owned())
                    .unwrap_or_else(|| "admission.k8s.io/v1".into()),
                r.request.and_then(|q| q.uid).map(|u| u.into_owned()),
            ),
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        }
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => (
                v["apiVersion"]
                    .as_str()
                    .unwrap_or("admission.k8s.io/v1")
                    .to_string(),
                v["request"]["uid"].as_str().map(str::to_string),
            ),
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        }
    };
    let Some(uid) = uid else {
        return (StatusCode::BAD_REQUEST, "no request.uid").into_response();
    };
    axum::Json(json!({
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": true},
    }))
    .into_response()
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    let config = tls_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = Router::new()
            .route("/validate", post(validate))
            .with_state(args.lazy);
        let acceptor = RustlsAcceptor::new(RustlsConfig::from_config(Arc::new(config)))
            .acceptor(NoDelayAcceptor::new());
        let handle = axum_server::Handle::new();
        let listening = handle.clone();
        tokio::spawn(async move {
            if let Some(addr) = listening.listening().await {
                eprintln!("floor: listening on {addr} (lazy: {})", args.lazy);
            }
        });
        let shutdown = handle.clone();
        tokio::spawn(async move {
            if let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                term.recv().await;
                shutdown.graceful_shutdown(Some(std::time::Duration::from_secs(2)));
            }
        });
        axum_server::bind(args.listen)
            .acceptor(acceptor)
            .handle(handle)
            .serve(app.into_make_service())
            .await
    })?;
    Ok(())
}
