//! Accepting connections: TCP_NODELAY, an optional TLS handshake with a deadline, HTTP/1.1
//! keep-alive or h2 (hyper-util's auto builder reads the preface), a header-read deadline
//! against slow clients, a bound on open connections that closes the oldest idle one to admit
//! a new one ([`super::slots`]), and a drain on shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use super::slots::{Slot, Slots};
use crate::metrics::Metrics;

/// Bounds that protect the process from slow or numerous clients.
#[derive(Debug, Clone)]
pub struct Limits {
    pub handshake_timeout: Duration,
    /// A client must send a request's headers within this (slow-loris). hyper starts the clock
    /// when it waits for the next request head, so it is also how long an idle keep-alive
    /// connection stays open; the apiserver's Go client retries on a server-closed idle one.
    pub header_read_timeout: Duration,
    /// Open connections per port; a new one beyond it closes the oldest idle one.
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
    let slots = Slots::new(limits.max_connections, metrics.clone());
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
    let port = Arc::new(Port {
        tls,
        router,
        builder,
        limits,
        metrics,
    });
    let mut connections = JoinSet::new();
    loop {
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
        // Finished tasks free their slots; reap them before asking whether the port is full.
        while connections.try_join_next().is_some() {}
        let admitted = tokio::select! {
            admitted = slots.admit() => admitted,
            _ = stopped(&mut stop) => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, "TCP_NODELAY not set: {e}");
        }
        let task = connection(stream, port.clone(), admitted.slot.clone(), stop.clone());
        connections.spawn(async move {
            task.await;
            drop(admitted);
        });
    }
    // Closing the socket makes new connections fail fast instead of waiting in the backlog.
    drop(listener);
    while connections.try_join_next().is_some() {}
    let open = connections.len();
    if open > 0 {
        tracing::info!(open, "waiting for open connections to finish");
    }
    let drained = tokio::time::timeout(port.limits.grace, async {
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

/// What every connection of one port shares.
struct Port {
    tls: Option<TlsAcceptor>,
    router: Router,
    builder: auto::Builder<TokioExecutor>,
    limits: Limits,
    metrics: Option<Arc<Metrics>>,
}

async fn connection(
    stream: TcpStream,
    port: Arc<Port>,
    slot: Arc<Slot>,
    stop: watch::Receiver<bool>,
) {
    let Some(acceptor) = port.tls.clone() else {
        return http(stream, &port, slot, stop).await;
    };
    let peer = stream.peer_addr().ok();
    let handshake = tokio::select! {
        done = tokio::time::timeout(port.limits.handshake_timeout, acceptor.accept(stream)) => done,
        () = slot.evicted() => {
            tracing::debug!(?peer, "closed while handshaking to admit a newer connection");
            return;
        }
    };
    let stream = match handshake {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(?peer, "TLS handshake failed: {e}");
            if let Some(m) = &port.metrics {
                m.server.handshake_failures.inc();
            }
            return;
        }
        Err(_) => {
            tracing::debug!(?peer, "TLS handshake timed out");
            if let Some(m) = &port.metrics {
                m.server.handshake_failures.inc();
            }
            return;
        }
    };
    if let Some(m) = &port.metrics {
        m.server.connections.inc();
    }
    http(stream, &port, slot, stop).await;
}

/// One HTTP connection; on stop it finishes the request in flight and closes (h2: GOAWAY).
/// hyper's header-read timeout starts only once the auto builder has read the first bytes, so a
/// client that sends nothing after the handshake gets `first_request` to start its first
/// request; without it, idle connections would hold a slot of the bound for ever.
///
/// Chosen to make room for a newer connection, it closes at once when idle and like a stop
/// (finishing its request) when one is in flight.
async fn http<S>(stream: S, port: &Port, slot: Arc<Slot>, mut stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let first_request = port.limits.header_read_timeout;
    let router = port.router.clone();
    let in_service = slot.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let request = in_service.request();
        let answer = router.clone().oneshot(req.map(Body::new));
        async move {
            let answer = answer.await;
            drop(request);
            answer
        }
    });
    let conn = port.builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let finished = tokio::select! {
        // The connection first: a request whose head has just arrived is marked in flight
        // before an eviction is looked at.
        biased;
        result = conn.as_mut() => Some(result),
        _ = stopped(&mut stop) => None,
        () = slot.evicted() => {
            if slot.is_idle() {
                tracing::debug!("closed while idle to admit a newer connection");
                return;
            }
            None
        }
        _ = no_request_within(first_request, &slot) => {
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
async fn no_request_within(limit: Duration, slot: &Slot) {
    tokio::time::sleep(limit).await;
    if slot.has_served() {
        std::future::pending::<()>().await;
    }
}

/// Completes once shutdown has started (or the server is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await: it is not `Send`.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}
