//! The application, assembled in one place: the live snapshot pointer and per-source status,
//! the auditor and its writer, the syncer (with `POST /sync`), periodic drift scans (with
//! `/api/drift`), and the server with every route. `serve` and `demo` both run this, so what the
//! demo shows is what a cluster runs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::audit::Auditor;
use crate::config::Config;
use crate::scan::periodic::{Latest, Periodic};
use crate::server::{self, AppState, Options, Server};
use crate::snapshot::Live;
use crate::sync::engine::Parts;
use crate::sync::status::SyncStatus;
use crate::sync::{hook, Syncer};

/// How long shutdown waits for queued audit records to be written.
const AUDIT_FLUSH: Duration = Duration::from_secs(5);

/// What running the application fails with once it is built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start the sync threads")]
    SyncThreads(#[source] std::io::Error),
    #[error("cannot start the drift scan thread")]
    ScanThread(#[source] std::io::Error),
    #[error(transparent)]
    Server(#[from] server::Error),
}

/// Everything bound and wired, nothing started: the ports are listening, Git is not read yet.
pub struct App {
    /// The declared state requests are compared with; empty until the first sync.
    pub live: Arc<Live>,
    pub status: Arc<SyncStatus>,
    server: Server,
    syncer: Syncer,
    scans: Periodic,
    audit_writer: JoinHandle<()>,
}

impl App {
    /// Builds the parts and binds both ports: everything that can fail at startup has.
    pub async fn build(config: &Config, options: Options) -> Result<App, server::Error> {
        let live = Arc::new(Live::new());
        let status = Arc::new(SyncStatus::new(
            config.sources.iter().map(|s| s.name.clone()),
        ));
        let mut state = AppState::new(config, live.clone(), status.clone());
        let (auditor, audit_writer) = Auditor::start(&config.audit, state.metrics.audit.clone());
        state.auditor = Some(auditor);
        // Drift scans run beside the webhook on a thread of their own (`scan.interval`).
        let latest = Arc::new(Latest::new(config.scan.interval.is_some()));
        let section_source = latest.clone();
        state.report_section = Some(crate::audit::http::Section(Arc::new(move || {
            crate::scan::http::report_section(&section_source)
        })));
        // A blocked edit's Git change, made on demand for the report from the revision served.
        let (suggest_config, suggest_live) = (config.clone(), live.clone());
        state.suggester = Some(crate::audit::http::Suggester(Arc::new(move |record| {
            let snapshot = suggest_live
                .load()
                .ok_or(crate::suggest::Error::NotLoaded)?;
            Ok(crate::suggest::for_record(
                &suggest_config,
                &snapshot,
                record,
            )?)
        })));
        let scans = Periodic {
            settings: config.scan.clone(),
            live: live.clone(),
            policy: state.policy.clone(),
            latest: latest.clone(),
            metrics: state.metrics.scan.clone(),
            kube_config: None,
        };
        let parts = Parts {
            status: Some(status.clone()),
            metrics: Some(state.metrics.sync.clone()),
            ..Parts::default()
        };
        let syncer = Syncer::with_parts(config, live.clone(), parts);
        let sync_route = hook::router(syncer.trigger(), config.server.sync_secret.as_deref());
        let server = Server::bind(config, state, options)
            .await?
            .merge_admin(sync_route)
            .merge_admin(crate::scan::http::router(latest));
        Ok(App {
            live,
            status,
            server,
            syncer,
            scans,
            audit_writer,
        })
    }

    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.server.tls_addr()
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.server.admin_addr()
    }

    /// Follows Git and serves until `shutdown` completes; then stops the sync and scan
    /// threads, drains the server and writes the audit records still queued.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        // Git is followed on blocking threads of its own; requests only ever load `live`.
        let sync = self.syncer.start().map_err(Error::SyncThreads)?;
        let scans = self.scans.start().map_err(Error::ScanThread)?;
        let served = self.server.serve(shutdown).await;
        drop(scans);
        drop(sync);
        // Every handle on the auditor is gone with the server: the writer drains its queue.
        if tokio::time::timeout(AUDIT_FLUSH, self.audit_writer)
            .await
            .is_err()
        {
            tracing::warn!(within = ?AUDIT_FLUSH, "audit records still queued at exit were not written");
        }
        Ok(served?)
    }
}
