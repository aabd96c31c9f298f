//! The TLS server both floors stand on (`examples/floor.rs`, `examples/transport_floor.rs`):
//! the same stack as driftgate (axum + axum-server + rustls + tokio, TCP_NODELAY, HTTP/1.1 and
//! HTTP/2), so a ratio to a floor measures what driftgate adds, not a different transport.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use axum::Router;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};

#[derive(Debug, Clone)]
pub struct Args {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub listen: SocketAddr,
    /// The flags `flags` named that were given.
    pub set: Vec<&'static str>,
}

/// `--cert FILE --key FILE [--listen ADDR]` and the boolean `flags` the floor takes.
pub fn args(usage: &str, flags: &[&'static str]) -> anyhow::Result<Args> {
    let mut cert = None;
    let mut key = None;
    let mut listen: SocketAddr = "127.0.0.1:9443".parse()?;
    let mut set = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--cert" => cert = it.next().map(PathBuf::from),
            "--key" => key = it.next().map(PathBuf::from),
            "--listen" => listen = it.next().context("--listen ADDR")?.parse()?,
            "-h" | "--help" => {
                println!("{usage}");
                std::process::exit(0);
            }
            other => match flags.iter().find(|f| **f == other) {
                Some(flag) => set.push(*flag),
                None => bail!("unknown argument {other:?}"),
            },
        }
    }
    Ok(Args {
        cert: cert.context("--cert FILE")?,
        key: key.context("--key FILE")?,
        listen,
        set,
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

/// Serves `app` over TLS on `args.listen` until SIGTERM.
pub fn serve(name: &'static str, args: &Args, app: Router) -> anyhow::Result<()> {
    let config = tls_config(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let listen = args.listen;
    let flags = args.set.clone();
    runtime.block_on(async move {
        let acceptor = RustlsAcceptor::new(RustlsConfig::from_config(Arc::new(config)))
            .acceptor(NoDelayAcceptor::new());
        let handle = axum_server::Handle::new();
        let listening = handle.clone();
        tokio::spawn(async move {
            if let Some(addr) = listening.listening().await {
                eprintln!("{name}: listening on {addr} {flags:?}");
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
        axum_server::bind(listen)
            .acceptor(acceptor)
            .handle(handle)
            .serve(app.into_make_service())
            .await
    })?;
    Ok(())
}
