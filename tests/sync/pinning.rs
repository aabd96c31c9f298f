//! Revision pinning: the Flux and Argo CD readers against an HTTP fixture serving real-shaped
//! status objects, and a pinned source fetching what the controller applied.

use super::*;

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
    sync_to(&mut syncer, &live, &later);

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
    sync_to(&mut syncer, &live, &applied);
}
