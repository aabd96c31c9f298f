//! Following Git as it moves, against real repositories made with the git CLI and a real
//! `git daemon` on 127.0.0.1: pushes, force-pushes, outages, deleted branches, duplicate keys,
//! revision pinning read from HTTP fixtures, and snapshot swaps under concurrent requests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

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

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "user.name=Test",
            "-c",
            "user.email=t@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

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

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn follows_pushes_force_pushes_and_outages_over_git_daemon() {
    let repos = Repos::new();
    let first = repos.commit(&[("apps/web.yaml", &deployment(3))], "three replicas");
    let port = free_port();
    let daemon = Daemon::start(&repos.base, port);
    let cache = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        &format!(
            "{{name: fleet, url: \"git://127.0.0.1:{port}/served.git\", ref: main, interval: 1s}}"
        ),
        cache.path(),
    );
    let policy = Policy::from_config(&cfg);
    let live = Arc::new(Live::new());
    let metrics = Metrics::new();
    let parts = Parts {
        metrics: Some(metrics.sync.clone()),
        ..Parts::default()
    };
    let handle = Syncer::with_parts(&cfg, live.clone(), parts)
        .start()
        .expect("threads start");
    let trigger = handle.trigger();
    let body = review_body();

    wait_for("first snapshot", Duration::from_secs(30), || {
        trigger.is_ready()
    });
    let (verdict, revision) = ask(&live, &policy, &body).expect("snapshot");
    assert_eq!(verdict, Verdict::Denied);
    assert_eq!(revision, format!("main@sha1:{}", short(&first)));
    let status = trigger.status().get("fleet").expect("status");
    assert_eq!(status.commit.as_deref(), Some(first.as_str()));
    assert_eq!(status.objects, 1);

    // A push that makes the request match Git: allowed within one interval (plus the fetch),
    // with no "sync now".
    let second = repos.commit(&[("apps/web.yaml", &deployment(5))], "five replicas");
    let pushed = Instant::now();
    wait_for("the pushed commit", Duration::from_secs(10), || {
        ask(&live, &policy, &body)
            .is_some_and(|(v, r)| v == Verdict::Allowed && r.contains(short(&second)))
    });
    eprintln!("push followed in {:?} (interval 1s)", pushed.elapsed());
    assert!(
        pushed.elapsed() < Duration::from_secs(4),
        "took {:?} for a 1s interval",
        pushed.elapsed()
    );

    // A force-push back to the first commit is followed too.
    repos.reset_to(&first);
    trigger.sync_now();
    wait_for("the force-pushed commit", Duration::from_secs(10), || {
        ask(&live, &policy, &body)
            .is_some_and(|(v, r)| v == Verdict::Denied && r.contains(short(&first)))
    });

    // The remote goes away: the last good snapshot keeps answering, the failure is visible.
    drop(daemon);
    trigger.sync_now();
    wait_for("the failure in status", Duration::from_secs(10), || {
        trigger
            .status()
            .get("fleet")
            .is_some_and(|s| s.consecutive_failures >= 1 && s.last_error.is_some())
    });
    let (verdict, revision) = ask(&live, &policy, &body).expect("still served");
    assert_eq!(verdict, Verdict::Denied);
    assert!(revision.contains(short(&first)), "{revision}");
    let metrics = metrics.encode();
    assert!(
        metrics.contains(r#"driftgate_source_syncs_total{source="fleet",result="failure"}"#),
        "{metrics}"
    );
    assert!(
        !metrics.contains(r#"driftgate_source_consecutive_failures{source="fleet"} 0"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            r#"driftgate_source_revision_info{{source="fleet",revision="main@sha1:{}"}} 1"#,
            short(&first)
        )),
        "{metrics}"
    );
    let detail = trigger.status().render(SystemTime::now());
    eprintln!("while the remote is down: {detail}");
    assert!(
        detail.contains("last attempt failed (") && detail.contains("fetch"),
        "{detail}"
    );

    // A commit lands while the remote is down; when it comes back, both are picked up.
    let third = repos.commit(&[("apps/web.yaml", &deployment(5)), ("apps/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: shop}\ndata: {a: b}\n")], "back to five");
    let _daemon = Daemon::start(&repos.base, port);
    trigger.sync_now();
    wait_for("recovery", Duration::from_secs(15), || {
        trigger.status().get("fleet").is_some_and(|s| {
            s.last_error.is_none()
                && s.consecutive_failures == 0
                && s.commit.as_deref() == Some(third.as_str())
        })
    });
    let (verdict, revision) = ask(&live, &policy, &body).expect("served");
    assert_eq!(verdict, Verdict::Allowed);
    assert!(revision.contains(short(&third)), "{revision}");
    assert_eq!(trigger.status().get("fleet").map(|s| s.objects), Some(2));

    // The branch is deleted on the remote: the error says so, the last good state stays.
    git(&repos.served, &["update-ref", "-d", "refs/heads/main"]);
    trigger.sync_now();
    wait_for(
        "the deleted branch in status",
        Duration::from_secs(10),
        || {
            trigger
                .status()
                .get("fleet")
                .is_some_and(|s| s.last_error.is_some())
        },
    );
    let error = trigger
        .status()
        .get("fleet")
        .and_then(|s| s.last_error)
        .unwrap_or_default();
    eprintln!("after the branch is deleted: {error}");
    assert!(error.contains("main"), "{error}");
    let (verdict, revision) = ask(&live, &policy, &body).expect("served");
    assert_eq!(verdict, Verdict::Allowed);
    assert!(revision.contains(short(&third)), "{revision}");
    handle.shutdown();
}

#[test]
fn sync_endpoint_checks_the_github_signature() {
    use tower::ServiceExt;

    let repos = Repos::new();
    let first = repos.commit(&[("apps/web.yaml", &deployment(3))], "one");
    let cache = tempfile::tempdir().expect("tempdir");
    // A long interval: only "sync now" can make the second commit appear in time.
    let cfg = config(
        &format!(
            "{{name: local, url: {:?}, ref: main, interval: 1h}}",
            repos.work.display().to_string()
        ),
        cache.path(),
    );
    let live = Arc::new(Live::new());
    let handle = Syncer::new(&cfg, live.clone())
        .start()
        .expect("threads start");
    let trigger = handle.trigger();
    wait_for("first snapshot", Duration::from_secs(20), || {
        trigger.is_ready()
    });
    assert!(live
        .load()
        .expect("live")
        .revision_label()
        .contains(short(&first)));
    let second = repos.commit(&[("apps/web.yaml", &deployment(4))], "two");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let router = hook::router(trigger.clone(), Some("hunter2"));
    let payload = br#"{"ref":"refs/heads/main"}"#.to_vec();
    let send = |signature: Option<String>| {
        let mut request = axum::http::Request::post("/sync");
        if let Some(signature) = signature {
            request = request.header(hook::SIGNATURE_HEADER, signature);
        }
        let request = request
            .body(axum::body::Body::from(payload.clone()))
            .expect("request");
        runtime
            .block_on(router.clone().oneshot(request))
            .expect("response")
            .status()
    };
    assert_eq!(send(None), 401);
    assert_eq!(send(Some(hook::sign(b"wrong", &payload))), 401);
    assert!(!live
        .load()
        .expect("live")
        .revision_label()
        .contains(short(&second)));
    assert_eq!(send(Some(hook::sign(b"hunter2", &payload))), 202);
    wait_for("the signed sync", Duration::from_secs(10), || {
        live.load()
            .is_some_and(|s| s.revision_label().contains(short(&second)))
    });
    handle.shutdown();
}

#[test]
fn one_changed_file_reparses_one_blob_and_duplicates_keep_the_last_good_snapshot() {
    let repos = Repos::new();
    let cm = |name: &str, value: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: shop}}\ndata: {{k: {value:?}}}\n")
    };
    repos.commit(
        &[
            ("a.yaml", &cm("a", "1")),
            ("b.yaml", &cm("b", "1")),
            ("c.yaml", &cm("c", "1")),
        ],
        "three files",
    );
    let cache = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        &format!(
            "{{name: local, url: {:?}, ref: main}}",
            repos.work.display().to_string()
        ),
        cache.path(),
    );
    let live = Arc::new(Live::new());
    let mut syncer = Syncer::new(&cfg, live.clone());
    let trigger = syncer.trigger();
    assert!(syncer.sync_once());
    assert_eq!(syncer.last_parsed(), vec![3]);

    let second = repos.commit(&[("b.yaml", &cm("b", "2"))], "change b");
    assert!(syncer.sync_once());
    assert_eq!(
        syncer.last_parsed(),
        vec![1],
        "only the changed blob is parsed"
    );
    let snapshot = live.load().expect("live");
    assert!(snapshot.revision_label().contains(short(&second)));
    assert_eq!(snapshot.len(), 3);

    // A second file declaring `a` again: the sync fails naming both files; the old snapshot stays.
    repos.commit(&[("dup.yaml", &cm("a", "9"))], "duplicate a");
    assert!(!syncer.sync_once());
    let status = trigger.status().get("local").expect("status");
    let error = status.last_error.expect("error");
    assert!(
        error.contains("declared twice") && error.contains("a.yaml") && error.contains("dup.yaml"),
        "{error}"
    );
    assert!(
        Arc::ptr_eq(&snapshot, &live.load().expect("live")),
        "snapshot not replaced"
    );
    assert_eq!(status.commit.as_deref(), Some(second.as_str()));

    // Fixed in Git: the sync recovers.
    git(&repos.work, &["rm", "-q", "dup.yaml"]);
    git(&repos.work, &["commit", "-q", "-m", "drop duplicate"]);
    let fixed = git(&repos.work, &["rev-parse", "HEAD"]);
    assert!(syncer.sync_once());
    assert!(live
        .load()
        .expect("live")
        .revision_label()
        .contains(short(&fixed)));
    assert!(trigger
        .status()
        .get("local")
        .expect("status")
        .last_error
        .is_none());
}

#[test]
fn every_answer_names_one_revision_consistent_with_its_decision() {
    let repos = Repos::new();
    let denied_at = repos.commit(&[("apps/web.yaml", &deployment(3))], "three");
    let allowed_at = repos.commit(&[("apps/web.yaml", &deployment(5))], "five");
    let cache = tempfile::tempdir().expect("tempdir");
    let snapshot_at = |commit: &str| {
        let cfg = config(
            &format!(
                "{{name: fleet, url: {:?}, ref: {commit}}}",
                repos.work.display().to_string()
            ),
            cache.path(),
        );
        let live = Arc::new(Live::new());
        assert!(Syncer::new(&cfg, live.clone()).sync_once());
        live.load().expect("snapshot")
    };
    let denying = snapshot_at(&denied_at);
    let allowing = snapshot_at(&allowed_at);
    let cfg = Config::default();
    let policy = Arc::new(Policy::from_config(&cfg));
    let live = Arc::new(Live::new());
    live.store(denying.clone());
    let body = Arc::new(review_body());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (live, policy, body, stop) =
                (live.clone(), policy.clone(), body.clone(), stop.clone());
            let (deny_rev, allow_rev) = (
                short(&denied_at).to_string(),
                short(&allowed_at).to_string(),
            );
            std::thread::spawn(move || {
                let mut seen = HashMap::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (verdict, revision) = ask(&live, &policy, &body).expect("snapshot");
                    let expected = if revision.contains(&deny_rev) {
                        Verdict::Denied
                    } else {
                        assert!(revision.contains(&allow_rev), "unknown revision {revision}");
                        Verdict::Allowed
                    };
                    assert_eq!(verdict, expected, "answer mixes revisions: {revision}");
                    *seen.entry(revision).or_insert(0u64) += 1;
                }
                seen
            })
        })
        .collect();
    for i in 0..2_000 {
        live.store(if i % 2 == 0 {
            allowing.clone()
        } else {
            denying.clone()
        });
        std::thread::yield_now();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total: HashMap<String, u64> = HashMap::new();
    for reader in readers {
        for (revision, n) in reader.join().expect("reader") {
            *total.entry(revision).or_default() += n;
        }
    }
    assert!(total.values().sum::<u64>() > 0, "{total:?}");
}

// ---------------------------------------------------------------------------------------------
// Revision pinning against HTTP fixtures of real status objects
// ---------------------------------------------------------------------------------------------

/// A tiny HTTP/1.1 server on 127.0.0.1:0 answering GETs from a path → JSON map (404 otherwise).
struct Fixtures {
    addr: std::net::SocketAddr,
    objects: Arc<Mutex<HashMap<String, Value>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fixtures {
    fn start() -> Fixtures {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let objects: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (map, flag) = (objects.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &map),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Fixtures {
            addr,
            objects,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, path: &str, object: Value) {
        self.objects
            .lock()
            .expect("lock")
            .insert(path.to_string(), object);
    }

    fn kube_config(&self) -> kube::Config {
        let uri: axum::http::Uri = format!("http://{}", self.addr).parse().expect("uri");
        kube::Config::new(uri)
    }
}

impl Drop for Fixtures {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, objects: &Mutex<HashMap<String, Value>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split('?')
        .next()
        .unwrap_or("")
        .to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let found = objects.lock().expect("lock").get(&path).cloned();
    let (status, body) = match found {
        Some(object) => ("200 OK", object),
        None => (
            "404 Not Found",
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": format!("{path} not found"), "reason": "NotFound", "code": 404}),
        ),
    };
    let body = body.to_string();
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

const KUSTOMIZATION: &str =
    "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/apps";
const GIT_REPOSITORY: &str =
    "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/fleet";
const APPLICATION: &str = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/shop";

fn flux_kustomization(revision: &str) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system", "resourceVersion": "4121"},
        "spec": {"interval": "10m", "path": "./apps", "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "fleet"}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                "message": format!("Applied revision: {revision}"),
                "lastTransitionTime": "2026-11-26T08:00:00Z", "observedGeneration": 1}],
            "inventory": {"entries": []},
            "lastAppliedRevision": revision,
            "lastAttemptedRevision": revision,
            "observedGeneration": 1
        }
    })
}

fn flux_git_repository(revision: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "fleet", "namespace": "flux-system"},
        "spec": {"interval": "1m", "ref": {"branch": "main"}, "url": "https://example.com/fleet.git"},
        "status": {
            "artifact": {"digest": "sha256:2d3f", "lastUpdateTime": "2026-11-26T08:00:00Z",
                "path": "gitrepository/flux-system/fleet/x.tar.gz", "revision": revision,
                "size": 1024, "url": "http://source-controller.flux-system.svc/x.tar.gz"},
            "observedGeneration": 1
        }
    })
}

fn argo_application(revision: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "shop", "namespace": "argocd"},
        "spec": {"destination": {"namespace": "shop", "server": "https://kubernetes.default.svc"},
            "project": "default",
            "source": {"path": "apps", "repoURL": "https://example.com/fleet.git", "targetRevision": "main"}},
        "status": {
            "health": {"status": "Healthy"},
            "sync": {"comparedTo": {"destination": {}, "source": {}}, "revision": revision, "status": "Synced"},
            "operationState": {"phase": "Succeeded", "syncResult": {"revision": revision}}
        }
    })
}

#[test]
fn pin_readers_read_flux_and_argo_status() {
    use driftgate::config::{PinKind, RevisionFrom};
    use driftgate::sync::pin::PinReader;

    let id = "0123456789abcdef0123456789abcdef01234567";
    let fixtures = Fixtures::start();
    fixtures.set(
        KUSTOMIZATION,
        flux_kustomization(&format!("main@sha1:{id}")),
    );
    fixtures.set(GIT_REPOSITORY, flux_git_repository(&format!("sha1:{id}")));
    fixtures.set(APPLICATION, argo_application(id));
    let reader = PinReader::new(Some(fixtures.kube_config())).expect("client");
    let pin = |kind, name: &str, namespace: &str| RevisionFrom {
        kind,
        name: name.into(),
        namespace: namespace.into(),
        api_version: None,
    };
    for pin in [
        pin(PinKind::Kustomization, "apps", "flux-system"),
        pin(PinKind::GitRepository, "fleet", "flux-system"),
        pin(PinKind::Application, "shop", "argocd"),
    ] {
        assert_eq!(reader.read(&pin).expect("read").to_string(), id, "{pin:?}");
    }
    // From a blocking task of another runtime too (the demo loads sources that way).
    let outer = tokio::runtime::Runtime::new().expect("runtime");
    let config = fixtures.kube_config();
    let from_task = outer
        .block_on(outer.spawn_blocking(move || {
            let reader = PinReader::new(Some(config)).expect("client");
            reader.read(&RevisionFrom {
                kind: PinKind::Application,
                name: "shop".into(),
                namespace: "argocd".into(),
                api_version: None,
            })
        }))
        .expect("joins")
        .expect("read");
    assert_eq!(from_task.to_string(), id);
    let err = reader
        .read(&pin(PinKind::Kustomization, "gone", "flux-system"))
        .expect_err("404");
    assert!(
        err.to_string().contains("Kustomization flux-system/gone"),
        "{err}"
    );
    fixtures.set(
        KUSTOMIZATION,
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization", "metadata": {"name": "apps"}, "status": {}}),
    );
    let err = reader
        .read(&pin(PinKind::Kustomization, "apps", "flux-system"))
        .expect_err("no status yet");
    assert!(err.to_string().contains("lastAppliedRevision"), "{err}");
}

#[test]
fn pinned_source_follows_what_flux_applied_over_git_daemon() {
    let repos = Repos::new();
    let applied = repos.commit(&[("apps/web.yaml", &deployment(3))], "applied");
    let ahead = repos.commit(&[("apps/web.yaml", &deployment(5))], "not applied yet");
    let port = free_port();
    let _daemon = Daemon::start(&repos.base, port);
    let fixtures = Fixtures::start();
    fixtures.set(
        KUSTOMIZATION,
        flux_kustomization(&format!("main@sha1:{applied}")),
    );
    let cache = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        &format!(
            "{{name: fleet, url: \"git://127.0.0.1:{port}/served.git\", ref: main, \
             revisionFrom: {{kind: Kustomization, name: apps, namespace: flux-system}}}}"
        ),
        cache.path(),
    );
    let policy = Policy::from_config(&cfg);
    let live = Arc::new(Live::new());
    let mut syncer = Syncer::with_parts(
        &cfg,
        live.clone(),
        Parts {
            kube_config: Some(fixtures.kube_config()),
            ..Parts::default()
        },
    );
    let trigger = syncer.trigger();
    let body = review_body();

    // The branch is ahead; the snapshot is what Flux applied.
    assert!(
        syncer.sync_once(),
        "{}",
        trigger.status().render(SystemTime::now())
    );
    let (verdict, revision) = ask(&live, &policy, &body).expect("served");
    assert_eq!(
        (verdict, revision),
        (Verdict::Denied, format!("main@sha1:{}", short(&applied)))
    );

    // Flux applies the next commit: the snapshot follows.
    fixtures.set(
        KUSTOMIZATION,
        flux_kustomization(&format!("main@sha1:{ahead}")),
    );
    assert!(
        syncer.sync_once(),
        "{}",
        trigger.status().render(SystemTime::now())
    );
    let (verdict, revision) = ask(&live, &policy, &body).expect("served");
    assert_eq!(
        (verdict, revision),
        (Verdict::Allowed, format!("main@sha1:{}", short(&ahead)))
    );

    // A commit pushed after the cache last fetched is fetched when Flux reports it.
    let later = repos.commit(&[("apps/web.yaml", &deployment(7))], "later");
    fixtures.set(
        KUSTOMIZATION,
        flux_kustomization(&format!("main@sha1:{later}")),
    );
    assert!(
        syncer.sync_once(),
        "{}",
        trigger.status().render(SystemTime::now())
    );
    assert!(live
        .load()
        .expect("live")
        .revision_label()
        .contains(short(&later)));

    // A revision nobody has: the last good snapshot stays and the status says why.
    let unknown = "00000000000000000000000000000000000000ff";
    fixtures.set(
        KUSTOMIZATION,
        flux_kustomization(&format!("main@sha1:{unknown}")),
    );
    assert!(!syncer.sync_once());
    let status = trigger.status().get("fleet").expect("status");
    let error = status.last_error.expect("error");
    assert!(error.contains(unknown), "{error}");
    assert!(live
        .load()
        .expect("live")
        .revision_label()
        .contains(short(&later)));

    // No ref: the remote's HEAD is followed.
    let cfg = config(
        &format!("{{name: fleet, url: \"git://127.0.0.1:{port}/served.git\"}}"),
        &cache.path().join("head"),
    );
    let live = Arc::new(Live::new());
    let mut syncer = Syncer::new(&cfg, live.clone());
    assert!(
        syncer.sync_once(),
        "{}",
        syncer.trigger().status().render(SystemTime::now())
    );
    assert_eq!(
        live.load().expect("live").revision_label(),
        format!("main@sha1:{}", short(&later)),
        "HEAD is labelled with the branch it points to"
    );

    // A source whose ref is a commit id is fetched by id into an empty cache.
    let cache = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        &format!("{{name: fleet, url: \"git://127.0.0.1:{port}/served.git\", ref: {applied}}}"),
        cache.path(),
    );
    let live = Arc::new(Live::new());
    let mut syncer = Syncer::new(&cfg, live.clone());
    assert!(
        syncer.sync_once(),
        "{:?}",
        syncer.trigger().status().render(SystemTime::now())
    );
    assert!(live
        .load()
        .expect("live")
        .revision_label()
        .contains(short(&applied)));
}

#[test]
fn unreachable_https_remote_fails_without_leaking_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, "ghp_supersecret\n").expect("write");
    let port = free_port();
    let cfg = config(
        &format!(
            "{{name: fleet, url: \"https://user:pw-in-url@127.0.0.1:{port}/fleet.git\", ref: main, \
             tokenFile: {}}}",
            token.display()
        ),
        &dir.path().join("cache"),
    );
    let live = Arc::new(Live::new());
    let mut syncer = Syncer::new(&cfg, live.clone());
    assert!(!syncer.sync_once());
    assert!(live.load().is_none(), "nothing to serve yet");
    let trigger = syncer.trigger();
    assert!(!trigger.is_ready());
    let error = trigger
        .status()
        .get("fleet")
        .and_then(|s| s.last_error)
        .expect("error");
    eprintln!("{error}");
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(
        !error.contains("supersecret") && !error.contains("pw-in-url"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// The built binary: `driftgate serve` following a git daemon, synced by a signed push webhook
// ---------------------------------------------------------------------------------------------

/// `driftgate serve`, killed (and reaped) on drop; stderr lines arrive on a channel.
struct Serve {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Serve {
    fn spawn(config: &Path) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_driftgate"))
            .args(["serve", "--config"])
            .arg(config)
            .env("DRIFTGATE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("driftgate starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("driftgate: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Serve { child, lines }
    }

    fn line_containing(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line with {needle:?}: {e}"),
            }
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One plain HTTP/1.1 request to the admin port: (status code, body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body).expect("write body");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

#[test]
fn serve_follows_a_signed_push_webhook() {
    use driftgate::tls::certs::{self, Authority};

    let repos = Repos::new();
    let first = repos.commit(&[("apps/web.yaml", &deployment(3))], "three");
    let port = free_port();
    let _daemon = Daemon::start(&repos.base, port);
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = Authority::new("test CA").expect("ca");
    let pair = ca
        .issue_server(&certs::service_names("driftgate", "driftgate-system"))
        .expect("pair");
    let (cert, key) = (tmp.path().join("tls.crt"), tmp.path().join("tls.key"));
    certs::write_file(&cert, &pair.cert_pem, 0o644).expect("crt");
    certs::write_file(&key, &pair.key_pem, 0o600).expect("key");
    let config_file = tmp.path().join("driftgate.yaml");
    std::fs::write(
        &config_file,
        format!(
            "sources: [{{name: fleet, url: \"git://127.0.0.1:{port}/served.git\", ref: main, interval: 1h}}]\n\
             cacheDir: {:?}\nserver:\n  listen: 127.0.0.1:0\n  adminListen: 127.0.0.1:0\n  certFile: {:?}\n  \
             keyFile: {:?}\n  syncSecret: hunter2\n",
            tmp.path().join("cache").display().to_string(),
            cert.display().to_string(),
            key.display().to_string()
        ),
    )
    .expect("config");
    let serve = Serve::spawn(&config_file);
    let listening = serve.line_containing("listening");
    let admin = listening
        .split("admin=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("admin address")
        .to_string();
    // The sync threads and the listener start together: poll readiness, not the log order.
    wait_for("/readyz 200", Duration::from_secs(30), || {
        http(&admin, "GET", "/readyz", &[], b"").0 == 200
    });
    let (_, body) = http(&admin, "GET", "/readyz", &[], b"");
    assert!(body.contains(short(&first)), "{body}");

    // The interval is an hour: only the webhook can bring the push in.
    let second = repos.commit(&[("apps/web.yaml", &deployment(5))], "five");
    let payload = br#"{"ref":"refs/heads/main","after":"x"}"#;
    let (code, _) = http(&admin, "POST", "/sync", &[], payload);
    assert_eq!(code, 401, "unsigned");
    let forged = vec![(hook::SIGNATURE_HEADER, hook::sign(b"guess", payload))];
    assert_eq!(http(&admin, "POST", "/sync", &forged, payload).0, 401);
    let signed = vec![(hook::SIGNATURE_HEADER, hook::sign(b"hunter2", payload))];
    assert_eq!(http(&admin, "POST", "/sync", &signed, payload).0, 202);
    wait_for(
        "the new revision in /readyz",
        Duration::from_secs(15),
        || {
            http(&admin, "GET", "/readyz", &[], b"")
                .1
                .contains(short(&second))
        },
    );
    let (_, metrics) = http(&admin, "GET", "/metrics", &[], b"");
    assert!(
        metrics.contains(&format!(
            r#"driftgate_source_revision_info{{source="fleet",revision="main@sha1:{}"}} 1"#,
            short(&second)
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"driftgate_source_consecutive_failures{source="fleet"} 0"#),
        "{metrics}"
    );
}

// ---------------------------------------------------------------------------------------------
// Smart HTTP with a token: `git http-backend` behind a tiny server that demands Basic auth
// ---------------------------------------------------------------------------------------------

/// Serves `root` over Git's smart HTTP protocol through `git http-backend` (CGI); with `auth`,
/// answers 401 to any request without `Authorization: Basic base64(user:token)`.
struct GitHttp {
    addr: std::net::SocketAddr,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GitHttp {
    fn start(root: PathBuf, auth: Option<(&str, &str)>) -> GitHttp {
        use base64::Engine as _;
        let expected = auth.map(|(user, token)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
            )
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => serve_git(stream, &root, expected.as_deref()),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        GitHttp {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_git(stream: TcpStream, root: &Path, expected_auth: Option<&str>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers: HashMap<String, String> = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).is_err() {
                return;
            }
            let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
                return;
            };
            let mut chunk = vec![0; n + 2];
            if reader.read_exact(&mut chunk).is_err() {
                return;
            }
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(length) = headers.get("content-length").and_then(|l| l.parse().ok()) {
        body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
    }
    let mut stream = reader.into_inner();
    if expected_auth.is_some() && headers.get("authorization").map(String::as_str) != expected_auth
    {
        let _ = write!(
            stream,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (header, var) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ] {
        if let Some(value) = headers.get(header) {
            cgi.env(var, value);
        }
    }
    let Ok(mut child) = cgi.spawn() else { return };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&body);
    }
    let Ok(output) = child.wait_with_output() else {
        return;
    };
    let out = output.stdout;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)));
    let Some((at, sep)) = split else { return };
    let head = String::from_utf8_lossy(&out[..at]).to_string();
    let content = &out[at + sep..];
    let mut status = "200 OK".to_string();
    let mut response = String::new();
    for line in head.lines() {
        match line.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("status") => {
                status = value.trim().to_string()
            }
            Some((name, value)) => response.push_str(&format!("{name}: {}\r\n", value.trim())),
            None => {}
        }
    }
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
        content.len()
    );
    let _ = stream.write_all(content);
}

#[test]
fn smart_http_remotes_and_credentials() {
    let repos = Repos::new();
    let first = repos.commit(&[("apps/web.yaml", &deployment(3))], "three");
    let dir = tempfile::tempdir().expect("tempdir");

    // An open server: cloned, then fetched incrementally after a push.
    let open = GitHttp::start(repos.base.clone(), None);
    let url = format!("http://{}/served.git", open.addr);
    let cfg = config(
        &format!("{{name: fleet, url: {url:?}, ref: main}}"),
        &dir.path().join("cache"),
    );
    let live = Arc::new(Live::new());
    let mut syncer = Syncer::new(&cfg, live.clone());
    assert!(
        syncer.sync_once(),
        "{}",
        syncer.trigger().status().render(SystemTime::now())
    );
    assert!(live
        .load()
        .expect("live")
        .revision_label()
        .contains(short(&first)));
    let second = repos.commit(&[("apps/web.yaml", &deployment(4))], "four");
    assert!(
        syncer.sync_once(),
        "{}",
        syncer.trigger().status().render(SystemTime::now())
    );
    assert!(live
        .load()
        .expect("live")
        .revision_label()
        .contains(short(&second)));

    // A server that wants credentials. Without a token the fetch fails (nothing prompts); with
    // one, gix refuses to send it in clear text over http:// (https only), and says so.
    let guarded = GitHttp::start(repos.base.clone(), Some(("git", "t0ken")));
    let url = format!("http://{}/served.git", guarded.addr);
    let token = dir.path().join("token");
    std::fs::write(&token, "t0ken\n").expect("write");
    for (extra, expected) in [
        (String::new(), "tokenFile or tokenEnv"),
        (
            format!(", tokenFile: {:?}", token.display().to_string()),
            "clear text",
        ),
    ] {
        let cfg = config(
            &format!("{{name: fleet, url: {url:?}, ref: main{extra}}}"),
            &dir.path().join("cache-guarded"),
        );
        let mut syncer = Syncer::new(&cfg, Arc::new(Live::new()));
        assert!(!syncer.sync_once());
        let error = syncer
            .trigger()
            .status()
            .get("fleet")
            .and_then(|s| s.last_error)
            .expect("error");
        eprintln!("{error}");
        assert!(
            error.contains(expected) || error.to_lowercase().contains("auth"),
            "{error}"
        );
        assert!(!error.contains("t0ken"), "{error}");
    }
}
