//! `driftgate demo`: builds the example repository with `git`, generates certificates, runs the
//! application exactly as `serve` does ([`crate::app`]) on 127.0.0.1, and sends the tour's
//! AdmissionReviews over HTTPS as the kube-apiserver would (HTTP/1.1, `?timeout=10s`, the
//! `<svc>.<ns>.svc` server name). The tour
//! ends with the Git change that makes the denied `kubectl scale` legitimate (`suggest`).

pub mod example;
pub mod tour;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use super::{fail, fail_error, DemoArgs};
use crate::app::{self, App};
use crate::config::Config;
use crate::server::Options;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot prepare the example: {what}")]
    Setup {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("git {args}: cannot run git; the demo needs the git command")]
    NoGit {
        args: String,
        #[source]
        source: std::io::Error,
    },
    #[error("git {args}: {stderr}")]
    Git { args: String, stderr: String },
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    #[error(transparent)]
    Certs(#[from] crate::tls::certs::Error),
    #[error(transparent)]
    Server(#[from] crate::server::Error),
    #[error(transparent)]
    App(#[from] app::Error),
    #[error("Git was not loaded within {0:?}: {1}")]
    NotLoaded(Duration, String),
    #[error("the webhook has no address")]
    NoAddress,
    #[error("request failed")]
    Http(#[from] reqwest::Error),
    #[error("the webhook stopped")]
    Stopped(#[from] tokio::task::JoinError),
}

const SERVICE: &str = "driftgate";
const NAMESPACE: &str = "driftgate-system";

fn git(dir: &Path, args: &[&str]) -> Result<(), Error> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|source| Error::NoGit {
            args: args.join(" "),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Git {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

fn setup(what: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Setup {
        what: what.display().to_string(),
        source,
    }
}

/// Writes the example files and commits them on `main`.
fn make_repository(dir: &Path) -> Result<(), Error> {
    for (path, content) in example::FILES {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(setup(parent))?;
        }
        std::fs::write(&file, content).map_err(setup(&file))?;
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

/// `driftgate demo`: exit 0 when every outcome of the tour was the expected one.
pub fn run(_args: DemoArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail_error(1, &e),
    };
    match runtime.block_on(tour()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => fail(1, "an outcome of the tour was not the expected one"),
        Err(e) => fail_error(1, &e),
    }
}

/// How long the demo waits for its example repository to load.
const LOAD_WITHIN: Duration = Duration::from_secs(60);

/// Runs the tour; `Ok(true)` when every outcome was the expected one.
async fn tour() -> Result<bool, Error> {
    let work = tempfile::tempdir().map_err(setup("a temporary directory"))?;
    let repo = work.path().join("fleet");
    std::fs::create_dir_all(&repo).map_err(setup(&repo))?;
    make_repository(&repo)?;
    let certs = crate::tls::certs::write(&work.path().join("certs"), SERVICE, NAMESPACE)?;

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

    let app = App::build(&config, Options::for_config(&config)).await?;
    let addr = app.tls_addr().ok_or(Error::NoAddress)?;
    let (live, status) = (app.live.clone(), app.status.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    // The sync thread loads the repository as it would in a cluster; the tour starts once
    // the first snapshot is live.
    let deadline = Instant::now() + LOAD_WITHIN;
    let snapshot = loop {
        if let Some(snapshot) = live.load() {
            break snapshot;
        }
        if Instant::now() > deadline {
            let why = status.render(std::time::SystemTime::now());
            return Err(Error::NotLoaded(LOAD_WITHIN, why.trim().to_string()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!("driftgate demo");
    println!(
        "  Git:     {} objects from {} at {}",
        snapshot.len(),
        repo.display(),
        snapshot.revision_label()
    );
    let host = format!("{SERVICE}.{NAMESPACE}.svc");
    println!(
        "  webhook: https://{host}:{} (127.0.0.1, TLS verified against the demo CA)\n",
        addr.port()
    );

    let ca = std::fs::read(&certs.ca).map_err(setup(&certs.ca))?;
    let ca = reqwest::Certificate::from_pem(&ca)?;
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve(&host, addr)
        .http1_only()
        .build()?;
    let url = format!("https://{host}:{}/validate?timeout=10s", addr.port());

    let mut all_expected = true;
    let steps = tour::steps();
    let scale = steps
        .iter()
        .position(|s| s.review["request"]["subResource"] == "scale");
    let scale_review = scale.map(|i| steps[i].review.clone());
    for (i, step) in steps.into_iter().enumerate() {
        let response = client
            .post(&url)
            .header("content-type", "application/json")
            .body(step.review.to_string())
            .send()
            .await?;
        let review: serde_json::Value = response.json().await?;
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
    serving.await??;
    if let (Some(i), Some(review)) = (scale, scale_review) {
        all_expected &= suggested(i + 1, &review, config.clone()).await;
    }
    if all_expected {
        println!("Every outcome was as expected: Git stays the way to change the cluster.");
    }
    Ok(all_expected)
}

/// The tour's last stop: the Git change that makes the denied `kubectl scale` (step `n`)
/// legitimate, as `driftgate suggest` prints it; `false` when there is none.
async fn suggested(n: usize, review: &serde_json::Value, config: Config) -> bool {
    let body = review.to_string();
    // The repository has not moved since the tour's load: the same revision, with its builds.
    let made = tokio::task::spawn_blocking(move || -> Result<_, crate::suggest::Error> {
        let (snapshot, builds) = crate::sync::load_with_builds(&config)
            .map_err(|e| crate::suggest::Error::Load(Box::new(e)))?;
        match crate::suggest::want::from_review(body.as_bytes(), &snapshot, &config)? {
            Some(target) => crate::suggest::suggest(&config, &snapshot, &builds, &target).map(Some),
            None => Ok(None),
        }
    })
    .await;
    println!("And the way to Git: the change that makes step {n} legitimate (driftgate suggest):");
    match made {
        Ok(Ok(Some(suggestion))) if !suggestion.is_empty() => {
            for line in suggestion.diff().lines() {
                println!("      {line}");
            }
            println!("   Commit it on a branch (driftgate suggest --commit --branch NAME), push it and open");
            println!(
                "   a pull request: once GitOps applies it, the cluster has what alice asked for."
            );
            println!();
            true
        }
        Ok(Ok(_)) => {
            println!("   nothing to change   <-- unexpected\n");
            false
        }
        Ok(Err(e)) => {
            println!("   {}   <-- unexpected\n", crate::text::chain(&e));
            false
        }
        Err(e) => {
            println!("   {e}   <-- unexpected\n");
            false
        }
    }
}
