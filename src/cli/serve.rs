//! `driftgate serve`: the config with flags laid over it, the server bound (with `POST /sync`
//! on the admin port), Git followed by the sync threads, and SIGTERM / ctrl-c as the shutdown
//! input.

use std::process::ExitCode;
use std::sync::Arc;

use super::{fail, fail_error, ServeArgs, EXIT_BAD_INPUT};
use crate::audit::Auditor;
use crate::config::Config;
use crate::scan::periodic::{Latest, Periodic};
use crate::server::{self, AppState, Options, Server};
use crate::snapshot::Live;
use crate::sync::engine::Parts;
use crate::sync::status::SyncStatus;
use crate::sync::{hook, Syncer};
use crate::tls;

/// How long shutdown waits for queued audit records to be written.
const AUDIT_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

pub fn run(args: ServeArgs) -> ExitCode {
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    // The comparison's schema is read once, here, so no request waits for it.
    let started = std::time::Instant::now();
    let kinds = crate::schema::builtin().kinds().count();
    tracing::info!(
        kinds,
        took_ms = started.elapsed().as_millis() as u64,
        "Kubernetes schema loaded"
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(1, format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(serve(config))
}

fn config(args: &ServeArgs) -> Result<Config, crate::config::Error> {
    let mut config = args.source.load()?;
    let server = &mut config.server;
    if let Some(cert) = &args.cert {
        server.cert_file = cert.clone();
    }
    if let Some(key) = &args.key {
        server.key_file = key.clone();
    }
    if let Some(listen) = &args.listen {
        server.listen = listen.clone();
    }
    if let Some(admin) = &args.admin_listen {
        server.admin_listen = admin.clone();
    }
    if let Some(mode) = args.admin_auth {
        server.admin_auth.mode = mode;
    }
    if let Some(file) = &args.admin_token_file {
        server.admin_auth.token_file = Some(file.clone());
    }
    if let Some(protect) = args.admin_protect_metrics {
        server.admin_auth.protect_metrics = protect;
    }
    if let Some(mode) = args.mode {
        config.mode = mode;
    }
    config.validate()?;
    Ok(config)
}

async fn serve(config: Config) -> ExitCode {
    let live = Arc::new(Live::new());
    let status = Arc::new(SyncStatus::new(
        config.sources.iter().map(|s| s.name.clone()),
    ));
    let mut state = AppState::new(&config, live.clone(), status.clone());
    let (auditor, audit_writer) = Auditor::start(&config.audit, state.metrics.audit.clone());
    state.auditor = Some(auditor);
    // Drift scans run beside the webhook on a thread of their own (`scan.interval`).
    let latest = Arc::new(Latest::new(config.scan.interval.is_some()));
    let section_source = latest.clone();
    state.report_section = Some(crate::audit::http::Section(Arc::new(move || {
        crate::scan::http::report_section(&section_source)
    })));
    let periodic = Periodic {
        settings: config.scan.clone(),
        live: live.clone(),
        policy: state.policy.clone(),
        latest: latest.clone(),
        metrics: state.metrics.scan.clone(),
        kube_config: None,
    };
    let parts = Parts {
        status: Some(status),
        metrics: Some(state.metrics.sync.clone()),
        ..Parts::default()
    };
    let syncer = Syncer::with_parts(&config, live, parts);
    let sync_route = hook::router(syncer.trigger(), config.server.sync_secret.as_deref());
    let server = match Server::bind(&config, state, Options::for_config(&config)).await {
        Ok(s) => s
            .merge_admin(sync_route)
            .merge_admin(crate::scan::http::router(latest)),
        Err(e) => return startup_failure(e),
    };
    // Git is followed on blocking threads of its own; requests only ever load `live`.
    let sync = match syncer.start() {
        Ok(handle) => handle,
        Err(e) => return fail(1, format!("cannot start the sync threads: {e}")),
    };
    let scans = match periodic.start() {
        Ok(handle) => handle,
        Err(e) => return fail(1, format!("cannot start the drift scan thread: {e}")),
    };
    let result = server.serve(shutdown_signal()).await;
    drop(scans);
    drop(sync);
    // Every handle on the auditor is gone with the server: the writer drains its queue.
    if tokio::time::timeout(AUDIT_FLUSH, audit_writer)
        .await
        .is_err()
    {
        tracing::warn!(within = ?AUDIT_FLUSH, "audit records still queued at exit were not written");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail_error(1, &e),
    }
}

/// Names the setting behind a startup failure; all of them are fixed by changing config.
fn startup_failure(e: server::Error) -> ExitCode {
    let key = match &e {
        server::Error::Bind { .. } => "",
        server::Error::Tls(tls::Error::ClientCa { .. }) => "server.clientCaFile: ",
        server::Error::Tls(_) => "server.certFile/server.keyFile: ",
        // Its messages name the setting themselves.
        server::Error::AdminAuth(_) => "",
    };
    fail(EXIT_BAD_INPUT, format!("{key}{}", crate::text::chain(&e)))
}

/// Completes on SIGTERM (what the kubelet sends) or ctrl-c.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for ctrl-c: {e}");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = ctrl_c => tracing::info!("ctrl-c"),
        _ = term => tracing::info!("SIGTERM"),
    }
}
