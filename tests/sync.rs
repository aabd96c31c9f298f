//! Following Git as it moves, against real repositories made with the git CLI, a real
//! `git daemon`, `git http-backend` and `sshd` on 127.0.0.1: pushes, force-pushes, outages,
//! deleted branches, duplicate keys, credentials, ssh keys and host keys, silent remotes timing
//! out, revision pinning read from HTTP fixtures, snapshot swaps under concurrent requests, and
//! the built `driftgate serve` synced by a push webhook.
//! Shared fixtures live here; the tests in `sync/`.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::{git, kubectl};
use driftgate::admission::{self, Verdict};
use driftgate::config::Config;
use driftgate::metrics::Metrics;
use driftgate::policy::Policy;
use driftgate::snapshot::Live;
use driftgate::sync::engine::Parts;
use driftgate::sync::{hook, Syncer};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn deployment(replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n\
         spec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n\
         \x20   metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n\
         \x20     - name: web\n        image: nginx:1.25\n"
    )
}

/// A working repository (where commits are made) and, under `base`, the bare repository
/// `served.git` that the daemon serves and the work repository pushes to.
struct Repos {
    _dir: tempfile::TempDir,
    work: PathBuf,
    base: PathBuf,
    served: PathBuf,
}

impl Repos {
    fn new() -> Repos {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().join("work");
        let base = dir.path().join("base");
        let served = base.join("served.git");
        std::fs::create_dir_all(&work).expect("mkdir");
        std::fs::create_dir_all(&base).expect("mkdir");
        git(&work, &["init", "-q"]);
        git(&base, &["init", "-q", "--bare", "served.git"]);
        Repos {
            _dir: dir,
            work,
            base,
            served,
        }
    }

    /// Writes files, commits, pushes (forced), and returns the commit id.
    fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, text) in files {
            let path = self.work.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(path, text).expect("write");
        }
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", message]);
        self.push();
        git(&self.work, &["rev-parse", "HEAD"])
    }

    fn push(&self) {
        let served = self.served.display().to_string();
        git(&self.work, &["push", "-q", "--force", &served, "main"]);
    }

    fn reset_to(&self, commit: &str) {
        git(&self.work, &["reset", "-q", "--hard", commit]);
        self.push();
    }
}

/// The error of `source`'s last attempt, which must have failed.
fn last_error(trigger: &driftgate::sync::Trigger, source: &str) -> String {
    trigger
        .status()
        .get(source)
        .and_then(|s| s.last_error)
        .expect("the last attempt failed")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A `git daemon` serving `base`; killed (and reaped) on drop.
struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(base: &Path, port: u16) -> Daemon {
        // Run `git-daemon` itself: `git daemon` would run it as a child that outlives a kill.
        let exec_path = git(Path::new("."), &["--exec-path"]);
        let child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .arg("--reuseaddr")
            .arg(format!("--base-path={}", base.display()))
            .arg("--export-all")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        let daemon = Daemon { child };
        wait_for("git daemon accepting", Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        daemon
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn config(yaml_source: &str, cache: &Path) -> Config {
    Config::from_yaml(
        &format!("sources:\n- {yaml_source}\ncacheDir: {}\n", cache.display()),
        "test",
    )
    .expect("config")
}

/// The same CREATE of `shop/web` with 5 replicas (as `deployment(5)` declares it), answered
/// from the live snapshot.
fn review_body() -> Vec<u8> {
    let object = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}
    });
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "uid-1", "operation": "CREATE",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": "web", "namespace": "shop",
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": object
        }
    }))
    .expect("serialises")
}

/// (verdict, revision named in the answer) for the review against the live snapshot.
fn ask(live: &Live, policy: &Policy, body: &[u8]) -> Option<(Verdict, String)> {
    let snapshot = live.load()?;
    let (review, decision) = admission::validate(body, &snapshot, policy).expect("valid review");
    let revision = review["response"]["auditAnnotations"]["revision"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Some((decision.verdict, revision))
}

fn short(commit: &str) -> &str {
    &commit[..12]
}

/// One sync that succeeds and leaves `live` serving `commit`.
fn sync_to(syncer: &mut Syncer, live: &Live, commit: &str) {
    assert!(
        syncer.sync_once(),
        "{}",
        syncer.trigger().status().render(SystemTime::now())
    );
    assert!(live
        .load()
        .expect("live")
        .revision_label()
        .contains(short(commit)));
}

#[path = "sync/builds.rs"]
mod builds;
#[path = "sync/daemon.rs"]
mod daemon;
#[path = "sync/http.rs"]
mod http;
#[path = "sync/local.rs"]
mod local;
#[path = "sync/pinning.rs"]
mod pinning;
#[path = "sync/serve.rs"]
mod serve;
#[path = "sync/ssh.rs"]
mod ssh;
#[path = "sync/stall.rs"]
mod stall;
