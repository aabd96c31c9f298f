//! Accepting connections: TCP_NODELAY, an optional TLS handshake with a deadline, HTTP/1.1
//! keep-alive or h2 (hyper-util's auto builder reads the preface), a header-read deadline
//! against slow clients, a bound on open connections, and a drain on shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::metrics::Metrics;

/// Bounds that protect the process from slow or numerous clients.
#[derive(Debug, Clone)]
pub struct Limits {
    pub handshake_timeout: Duration,
    /// A client must send a request's headers within this (slow-loris). hyper starts the clock
    /// when it waits for the next request head, so it is also how long an idle keep-alive
    /// connection stays open; the apiserver's Go client retries on a server-closed idle one.
    pub header_read_timeout: Duration,
    /// Open connections per port; beyond it the kernel backlog holds new ones.
    pub max_connections: usize,
    /// How long in-flight requests may take to finish once shutdown starts; [`super::Server`]
    /// sets it from `server.shutdownGrace`.
    pub grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
            grace: Duration::from_secs(20),
        }
    }
}

/// Serves `router` on `listener` until `stop` turns true, then drains.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    limits: Limits,
    metrics: Option<Arc<Metrics>>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256);
    let builder = Arc::new(builder);
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stopped(&mut stop) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, "TCP_NODELAY not set: {e}");
        }
        let task = connection(
            stream,
            tls.clone(),
            router.clone(),
            builder.clone(),
            limits.clone(),
            metrics.clone(),
            stop.clone(),
        );
        connections.spawn(async move {
            task.await;
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    // Closing the socket makes new connections fail fast instead of waiting in the backlog.
    drop(listener);
    while connections.try_join_next().is_some() {}
    let open = connections.len();
    if open > 0 {
        tracing::info!(open, "waiting for open connections to finish");
    }
    let drained = tokio::time::timeout(limits.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "grace period over; closing the remaining connections"
        );
        connections.abort_all();
    }
}

async fn connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    router: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: Limits,
    metrics: Option<Arc<Metrics>>,
    stop: watch::Receiver<bool>,
) {
    let first_request = limits.header_read_timeout;
    let Some(acceptor) = tls else {
        return http(stream, router, &builder, first_request, stop).await;
    };
    let peer = stream.peer_addr().ok();
    let handshake = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream)).await;
    let stream = match handshake {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(?peer, "TLS handshake failed: {e}");
            if let Some(m) = &metrics {
                m.server.handshake_failures.inc();
            }
            return;
        }
        Err(_) => {
            tracing::debug!(?peer, "TLS handshake timed out");
            if let Some(m) = &metrics {
                m.server.handshake_failures.inc();
            }
            return;
        }
    };
    if let Some(m) = &metrics {
        m.server.connections.inc();
        m.server.connections_open.inc();
    }
    http(stream, router, &builder, first_request, stop).await;
    if let Some(m) = &metrics {
        m.server.connections_open.dec();
    }
}

/// One HTTP connection; on stop it finishes the request in flight and closes (h2: GOAWAY).
/// hyper's header-read timeout starts only once the auto builder has read the first bytes, so a
/// client that sends nothing after the handshake gets `first_request` to start its first
/// request; without it, idle connections would hold every slot of the bound for ever.
async fn http<S>(
    stream: S,
    router: Router,
    builder: &auto::Builder<TokioExecutor>,
    first_request: Duration,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let started = Arc::new(AtomicBool::new(false));
    let seen = started.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        seen.store(true, Ordering::Relaxed);
        router.clone().oneshot(req.map(Body::new))
    });
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let finished = tokio::select! {
        result = conn.as_mut() => Some(result),
        _ = stopped(&mut stop) => None,
        _ = no_request_within(first_request, &started) => {
            tracing::debug!("no request within {first_request:?} of connecting; closing");
            return;
        }
    };
    let result = match finished {
        Some(result) => result,
        None => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection ended: {e}");
    }
}

/// Completes after `limit` if no request has started by then; otherwise never.
async fn no_request_within(limit: Duration, started: &AtomicBool) {
    tokio::time::sleep(limit).await;
    if started.load(Ordering::Relaxed) {
        std::future::pending::<()>().await;
    }
}

/// Completes once shutdown has started (or the server is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await: it is not `Send`.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}
