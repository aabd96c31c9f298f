//! The webhook server: `POST /validate` on the TLS port, health, readiness and metrics on a
//! plain-HTTP admin port, certificate rotation, and a shutdown that drains.
//!
//! Parts: [`router`] (the TLS port's routes), [`admin`] (the admin port's routes), [`auth`]
//! (who may read the admin port), [`listener`] (accepting, TLS handshakes, HTTP/1.1 and h2, limits, draining), [`slots`] (the
//! bound on open connections: the oldest idle one makes room for a new one).
//!
//! Shutdown is an input: [`Server::serve`] takes a future, and when it completes the server stops
//! accepting, lets in-flight requests finish for up to `server.shutdownGrace`, and returns.

pub mod admin;
pub mod auth;
pub mod listener;
pub mod router;
pub mod slots;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::audit::Auditor;
use crate::config::{Config, NotReady};
use crate::metrics::{Metrics, ReloadLabels, ReloadResult};
use crate::policy::Policy;
use crate::snapshot::Live;
use crate::sync::status::SyncStatus;
use crate::tls::{self, Reloader};

pub use admin::admin_router;
pub use auth::AdminAuth;
pub use listener::Limits;
pub use router::tls_router;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{key}: cannot listen on {addr}: {source}")]
    Bind {
        key: &'static str,
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::Error),
    #[error(transparent)]
    AdminAuth(#[from] auth::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What every handler shares. Cheap to clone (all `Arc`s); other parts (sync, scan) add their
/// routes to the admin port with [`Server::merge_admin`].
#[derive(Debug, Clone)]
pub struct AppState {
    /// The declared state; the sync loop stores new snapshots here, handlers only load.
    pub live: Arc<Live>,
    pub policy: Arc<Policy>,
    pub metrics: Arc<Metrics>,
    pub status: Arc<SyncStatus>,
    /// What `/validate` answers before the first snapshot.
    pub not_ready: NotReady,
    pub max_body_bytes: usize,
    /// A request body must arrive within this once its headers have (slow-loris bodies); the
    /// apiserver sends a whole review at once, so this is generous.
    pub body_read_timeout: Duration,
    /// Hands audited decisions to the audit trail's writer; `None` records nothing.
    pub auditor: Option<Auditor>,
    /// Another part's section on `/report` (the drift scan's).
    pub report_section: Option<crate::audit::http::Section>,
    /// Makes a blocked edit's Git change for the report (`None`: not offered).
    pub suggester: Option<crate::audit::http::Suggester>,
}

/// Default for [`AppState::body_read_timeout`]: the apiserver's own default webhook deadline.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

impl AppState {
    pub fn new(config: &Config, live: Arc<Live>, status: Arc<SyncStatus>) -> AppState {
        AppState {
            live,
            policy: Arc::new(Policy::from_config(config)),
            metrics: Arc::new(Metrics::new()),
            status,
            not_ready: config.server.not_ready,
            max_body_bytes: config.server.max_body_bytes,
            body_read_timeout: BODY_READ_TIMEOUT,
            auditor: None,
            report_section: None,
            suggester: None,
        }
    }
}

/// Settings that are not part of the config file: fixed defaults in production, short in tests.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often the cert and key files are checked for a new pair.
    pub cert_poll_interval: Duration,
    pub limits: Limits,
    /// How often `server.adminAuth.tokenFile` is checked for new tokens.
    pub token_poll_interval: Duration,
    /// `server.adminAuth.mode: kubernetes`: the apiserver to ask instead of the inferred one
    /// (in-cluster or kubeconfig), e.g. a fixture with its own CA.
    pub kube_config: Option<kube::Config>,
    /// `server.adminAuth.mode: kubernetes`: how long answers are cached, how hard the
    /// apiserver may be asked.
    pub review: auth::kubernetes::ReviewSettings,
}

impl Options {
    /// The defaults, with the bounds the configuration sets.
    pub fn for_config(config: &Config) -> Options {
        Options {
            limits: Limits {
                max_connections: config.server.max_connections,
                ..Limits::default()
            },
            ..Options::default()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cert_poll_interval: Duration::from_secs(2),
            limits: Limits::default(),
            token_poll_interval: Duration::from_secs(1),
            kube_config: None,
            review: auth::kubernetes::ReviewSettings::default(),
        }
    }
}

/// Both ports bound, the serving pair loaded: everything that can fail at startup has.
pub struct Server {
    tls_listener: TcpListener,
    admin_listener: TcpListener,
    tls_config: Arc<rustls::ServerConfig>,
    reloader: Reloader,
    tls_router: Router,
    admin_router: Router,
    state: AppState,
    options: Options,
    grace: Duration,
    cert_paths: (PathBuf, PathBuf),
    client_auth: bool,
    /// Applied to the admin router when serving, after every part has merged its routes.
    admin_auth: Option<Arc<AdminAuth>>,
}

impl Server {
    /// Loads the serving pair (and client CA) and binds both ports.
    pub async fn bind(config: &Config, state: AppState, options: Options) -> Result<Server> {
        let server = &config.server;
        let reloader = Reloader::load(&server.cert_file, &server.key_file)?;
        let tls_config = tls::server_config(reloader.resolver(), server.client_ca_file.as_deref())?;
        let tls_listener = bind("server.listen", &server.listen).await?;
        let admin_listener = bind("server.adminListen", &server.admin_listen).await?;
        let admin_auth = AdminAuth::start(
            &server.admin_auth,
            options.kube_config.clone(),
            options.review.clone(),
            state.metrics.admin_auth.clone(),
        )
        .await?;
        auth::warn_if_open(&server.admin_auth, admin_listener.local_addr().ok());
        Ok(Server {
            tls_listener,
            admin_listener,
            tls_config: Arc::new(tls_config),
            reloader,
            tls_router: tls_router(state.clone()),
            admin_router: admin_router(state.clone()).merge(crate::audit::http::router(Arc::new(
                crate::audit::http::Reader::new(crate::audit::target(&config.audit))
                    .with_section(state.report_section.clone())
                    .with_suggester(state.suggester.clone()),
            ))),
            state,
            options,
            grace: server.shutdown_grace,
            cert_paths: (server.cert_file.clone(), server.key_file.clone()),
            client_auth: server.client_ca_file.is_some(),
            admin_auth: admin_auth.map(Arc::new),
        })
    }

    /// Adds routes to the admin port (e.g. `GET /report`).
    pub fn merge_admin(mut self, routes: Router) -> Server {
        self.admin_router = self.admin_router.merge(routes);
        self
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_listener.local_addr().ok()
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_listener.local_addr().ok()
    }

    /// Serves until `shutdown` completes, then drains both ports within the grace period.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        tracing::info!(
            tls = %display_addr(self.tls_addr()),
            admin = %display_addr(self.admin_addr()),
            cert = %self.cert_paths.0.display(),
            client_auth = self.client_auth,
            admin_auth = self
                .admin_auth
                .as_ref()
                .map_or(crate::config::AdminAuthMode::None, |a| a.mode())
                .as_str(),
            "listening"
        );
        // JoinSets abort their tasks when dropped, so dropping this future stops everything.
        let mut reload = JoinSet::new();
        reload.spawn(watch_certs(
            self.reloader,
            self.options.cert_poll_interval,
            self.state.metrics.clone(),
        ));
        let admin_router = match self.admin_auth {
            Some(auth) => {
                if let Some(watch) = auth.watch(self.options.token_poll_interval) {
                    reload.spawn(watch);
                }
                auth.protect(self.admin_router)
            }
            None => self.admin_router,
        };
        let limits = Limits {
            grace: self.grace,
            ..self.options.limits
        };
        let mut listeners = JoinSet::new();
        listeners.spawn(listener::serve(
            self.tls_listener,
            Some(tokio_rustls::TlsAcceptor::from(self.tls_config)),
            self.tls_router,
            limits.clone(),
            Some(self.state.metrics.clone()),
            stop_rx.clone(),
        ));
        listeners.spawn(listener::serve(
            self.admin_listener,
            None,
            admin_router,
            limits,
            None,
            stop_rx,
        ));
        shutdown.await;
        tracing::info!(grace = ?self.grace, "shutting down: no new connections, draining");
        // A send error means every receiver is gone: the loops have already ended.
        let _ = stop_tx.send(true);
        while let Some(done) = listeners.join_next().await {
            if let Err(e) = done {
                tracing::error!("a listener task failed: {e}");
            }
        }
        reload.abort_all();
        tracing::info!("drained");
        Ok(())
    }
}

fn display_addr(addr: Option<SocketAddr>) -> String {
    addr.map(|a| a.to_string()).unwrap_or_else(|| "?".into())
}

async fn bind(key: &'static str, addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|source| Error::Bind {
        key,
        addr: addr.to_string(),
        source,
    })
}

/// Polls the serving pair; a new valid pair is installed, a bad one logged once and skipped.
async fn watch_certs(mut reloader: Reloader, interval: Duration, metrics: Arc<Metrics>) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let poll = reloader.poll();
        metrics.server.cert_stale.set(i64::from(reloader.stale()));
        let result = match poll {
            tls::reload::Poll::Unchanged => continue,
            tls::reload::Poll::Reloaded => {
                tracing::info!("serving certificate reloaded; new handshakes use it");
                ReloadResult::Reloaded
            }
            tls::reload::Poll::Rejected(e) => {
                tracing::error!(
                    "serving certificate not reloaded, the old one stays: {}",
                    crate::text::chain(&e)
                );
                ReloadResult::Rejected
            }
        };
        metrics
            .server
            .cert_reloads
            .get_or_create(&ReloadLabels { result })
            .inc();
    }
}
