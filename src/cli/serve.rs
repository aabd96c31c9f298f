//! `driftgate serve`: the config with flags laid over it, the application built and run
//! ([`crate::app`]), and SIGTERM / ctrl-c as the shutdown input.

use std::process::ExitCode;

use super::{fail, fail_error, ServeArgs, EXIT_BAD_INPUT};
use crate::app::App;
use crate::config::Config;
use crate::server::{self, Options};
use crate::tls;

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
    let app = match App::build(&config, Options::for_config(&config)).await {
        Ok(app) => app,
        Err(e) => return startup_failure(e),
    };
    match app.run(shutdown_signal()).await {
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
