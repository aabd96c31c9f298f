//! `driftgate demo`: builds the example repository with `git`, generates certificates, starts the
//! real webhook on 127.0.0.1, and sends the tour's AdmissionReviews over HTTPS exactly as the
//! kube-apiserver would (HTTP/1.1, `?timeout=10s`, the `<svc>.<ns>.svc` server name).

pub mod example;
pub mod tour;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use crate::config::Config;
use crate::server::{AppState, Options, Server};
use crate::snapshot::Live;
use crate::sync::status::SyncStatus;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot prepare the example: {0}")]
    Setup(String),
    #[error("git {args}: {message}")]
    Git { args: String, message: String },
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    #[error(transparent)]
    Load(#[from] crate::sync::Error),
    #[error(transparent)]
    Server(#[from] crate::server::Error),
    #[error("request failed: {0}")]
    Http(String),
}

const SERVICE: &str = "driftgate";
const NAMESPACE: &str = "driftgate-system";

fn git(dir: &Path, args: &[&str]) -> Result<(), Error> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| Error::Git {
            args: args.join(" "),
            message: format!("cannot run git ({e}); the demo needs the git command"),
        })?;
    if !out.status.success() {
        return Err(Error::Git {
            args: args.join(" "),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Writes the example files and commits them on `main`.
fn make_repository(dir: &Path) -> Result<(), Error> {
    for (path, content) in example::FILES {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::Setup(e.to_string()))?;
        }
        std::fs::write(&file, content).map_err(|e| Error::Setup(e.to_string()))?;
    }
    git(dir, &["-c", "init.defaultBranch=main", "init", "-q"])?;
    git(dir, &["add", "-A"])?;
    git(
        dir,
        &[
            "-c",
            "user.name=Platform Team",
            "-c",
            "user.email=platform@example.com",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "-m",
            "shop: web, api and their config",
        ],
    )
}

/// Runs the tour; `Ok(true)` when every outcome was the expected one.
pub async fn run() -> Result<bool, Error> {
    let work = tempfile::tempdir().map_err(|e| Error::Setup(e.to_string()))?;
    let repo = work.path().join("fleet");
    std::fs::create_dir_all(&repo).map_err(|e| Error::Setup(e.to_string()))?;
    make_repository(&repo)?;
    let certs = crate::tls::certs::write(&work.path().join("certs"), SERVICE, NAMESPACE)
        .map_err(|e| Error::Setup(e.to_string()))?;

    let mut config = Config::from_yaml(example::CONFIG, "demo config")?;
    config.sources = Config::from_yaml(
        &format!(
            "sources: [{{name: shop-fleet, url: {:?}}}]",
            repo.display().to_string()
        ),
        "demo config",
    )?
    .sources;
    config.server.listen = "127.0.0.1:0".into();
    config.server.admin_listen = "127.0.0.1:0".into();
    config.server.cert_file = certs.cert.clone();
    config.server.key_file = certs.key.clone();

    let load_config = config.clone();
    let snapshot = tokio::task::spawn_blocking(move || crate::sync::load_once(&load_config))
        .await
        .map_err(|e| Error::Setup(e.to_string()))??;
    let live = Arc::new(Live::new());
    let status = Arc::new(SyncStatus::new(
        config.sources.iter().map(|s| s.name.clone()),
    ));
    println!("driftgate demo");
    println!(
        "  Git:     {} objects from {} at {}",
        snapshot.len(),
        repo.display(),
        snapshot.revision_label()
    );
    status.succeeded("shop-fleet", snapshot.revision_label());
    live.store(Arc::new(snapshot));

    let state = AppState::new(&config, live, status);
    let server = Server::bind(&config, state, Options::for_config(&config)).await?;
    let addr = server
        .tls_addr()
        .ok_or_else(|| Error::Setup("the webhook has no address".into()))?;
    let host = format!("{SERVICE}.{NAMESPACE}.svc");
    println!(
        "  webhook: https://{host}:{} (127.0.0.1, TLS verified against the demo CA)\n",
        addr.port()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));

    let ca = std::fs::read(&certs.ca).map_err(|e| Error::Setup(e.to_string()))?;
    let ca = reqwest::Certificate::from_pem(&ca).map_err(|e| Error::Http(e.to_string()))?;
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve(&host, addr)
        .http1_only()
        .build()
        .map_err(|e| Error::Http(e.to_string()))?;
    let url = format!("https://{host}:{}/validate?timeout=10s", addr.port());

    let mut all_expected = true;
    for (i, step) in tour::steps().into_iter().enumerate() {
        let response = client
            .post(&url)
            .header("content-type", "application/json")
            .body(step.review.to_string())
            .send()
            .await
            .map_err(|e| Error::Http(e.to_string()))?;
        let review: serde_json::Value = response
            .json()
            .await
            .map_err(|e| Error::Http(e.to_string()))?;
        let (verdict, lines) = tour::outcome(&review);
        let mark = if verdict == step.expect {
            ""
        } else {
            "   <-- unexpected"
        };
        all_expected &= verdict == step.expect;
        println!("{}. {}", i + 1, step.title);
        println!("   => {}{mark}", verdict.as_str());
        for line in lines {
            for (j, part) in line.lines().enumerate() {
                let indent = if j == 0 { "      " } else { "        " };
                println!("{indent}{part}");
            }
        }
        println!();
    }
    let _ = stop.send(());
    serving.await.map_err(|e| Error::Setup(e.to_string()))??;
    if all_expected {
        println!("Every outcome was as expected: Git stays the way to change the cluster.");
    }
    Ok(all_expected)
}
