//! The webhook server end to end: the router over the real AdmissionReview corpus, HTTP error
//! mapping, real TLS with keep-alive and h2, certificate rotation under traffic, client
//! certificates, and SIGTERM draining of the built binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use driftgate::config::Config;
use driftgate::server::{self, AppState, Options, Server};
use driftgate::snapshot::Live;
use driftgate::status::SyncStatus;
use driftgate::tls::certs::{self, Authority};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt as _;

const NAME: &str = "driftgate.driftgate-system.svc";

// ---------------------------------------------------------------- fixtures

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

/// A repository declaring a namespace, a Deployment and a ConfigMap.
fn make_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q"]);
    std::fs::write(
        repo.join("apps.yaml"),
        r#"apiVersion: v1
kind: Namespace
metadata: {name: apps}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: apps}
data: {level: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.27"}]
"#,
    )
    .expect("write");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "declare"]);
    repo
}

/// A CA and a serving pair for NAME, written as `ca.crt`, `tls.crt`, `tls.key`.
struct Pki {
    ca: Authority,
    dir: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let dir = dir.join("certs");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let ca = Authority::new("test CA").expect("ca");
        let pair = ca
            .issue_server(&certs::service_names("driftgate", "driftgate-system"))
            .expect("pair");
        certs::write_file(&dir.join("ca.crt"), ca.cert_pem(), 0o644).expect("ca");
        certs::write_file(&dir.join("tls.crt"), &pair.cert_pem, 0o644).expect("crt");
        certs::write_file(&dir.join("tls.key"), &pair.key_pem, 0o600).expect("key");
        Pki { ca, dir }
    }

    fn cert(&self) -> PathBuf {
        self.dir.join("tls.crt")
    }

    fn key(&self) -> PathBuf {
        self.dir.join("tls.key")
    }
}

fn config(repo: &Path, pki: &Pki, extra: &str) -> Config {
    let text = format!(
        "sources: [{{name: fleet, url: {:?}, ref: main}}]\nserver:\n  listen: 127.0.0.1:0\n  adminListen: 127.0.0.1:0\n  certFile: {:?}\n  keyFile: {:?}\n{extra}",
        repo.display().to_string(),
        pki.cert().display().to_string(),
        pki.key().display().to_string(),
    );
    Config::from_yaml(&text, "test").expect("config")
}

fn state(config: &Config, loaded: bool) -> AppState {
    let live = Arc::new(Live::new());
    let status = Arc::new(SyncStatus::new(["fleet"]));
    if loaded {
        let snapshot = driftgate::sources::load_once(config).expect("loads");
        for rev in &snapshot.revisions {
            status.succeeded(&rev.source, &rev.label());
        }
        live.store(Arc::new(snapshot));
    }
    AppState::new(config, live, status)
}

fn configmap(level: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "settings", "namespace": "apps"}, "data": {"level": level}})
}

/// An UPDATE of the declared ConfigMap by a person; `level` "1" is Git's value.
fn review(version: &str, uid: &str, level: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": version, "kind": "AdmissionReview",
        "request": {
            "uid": uid, "operation": "UPDATE",
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "name": "settings", "namespace": "apps",
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": configmap(level), "oldObject": configmap("1"), "dryRun": false
        }
    }))
    .expect("json")
}

async fn post(router: &axum::Router, uri: &str, body: Body) -> (StatusCode, Bytes) {
    let response = router
        .clone()
        .oneshot(
            Request::post(uri)
                .header("content-type", "application/json")
                .body(body)
                .expect("request"),
        )
        .await
        .expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, body)
}

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, String) {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Checks the shape the apiserver verifies: version, kind, uid, allowed.
fn assert_review(body: &[u8], version: &str, uid: &str) -> Value {
    let answer: Value = serde_json::from_slice(body).expect("answer is JSON");
    assert_eq!(answer["apiVersion"], version, "{answer}");
    assert_eq!(answer["kind"], "AdmissionReview", "{answer}");
    assert_eq!(answer["response"]["uid"], uid, "{answer}");
    assert!(answer["response"]["allowed"].is_boolean(), "{answer}");
    answer
}

// ---------------------------------------------------------------- router

fn corpus_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read corpus dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            corpus_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[tokio::test]
async fn every_corpus_review_gets_a_well_formed_answer() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/admission-reviews");
    if !corpus.join("INDEX.tsv").exists() {
        eprintln!("skipped: {} is absent", corpus.display());
        return;
    }
    let index = std::fs::read_to_string(corpus.join("INDEX.tsv")).expect("index");
    let listed = index
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count();
    let mut files = Vec::new();
    corpus_files(&corpus, &mut files);
    files.sort();
    assert!(
        files.len() >= listed,
        "{} files, {listed} listed",
        files.len()
    );

    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config = config(&repo, &pki, "");
    let ready = server::tls_router(state(&config, true));
    let starting = server::tls_router(state(&config, false));
    for file in &files {
        let raw: Value =
            serde_json::from_slice(&std::fs::read(file).expect("read")).expect("corpus is JSON");
        // A bare AdmissionRequest (its `kind` is the object's GVK, it has no `request`) is
        // wrapped in a v1 review, as the apiserver would send it.
        let bare = raw.get("apiVersion").is_none() && raw.get("request").is_none();
        let body = if bare {
            assert!(
                raw.get("uid").is_some(),
                "{}: neither review nor request",
                file.display()
            );
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": raw})
        } else {
            raw
        };
        let version = body["apiVersion"].as_str().expect("apiVersion").to_string();
        let uid = body["request"]["uid"].as_str().expect("uid").to_string();
        let bytes = serde_json::to_vec(&body).expect("json");
        let (status, answer) =
            post(&ready, "/validate?timeout=10s", Body::from(bytes.clone())).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&answer)
        );
        assert_review(&answer, &version, &uid);

        // Before Git is loaded: the same shape, denied with 503.
        let (status, answer) = post(&starting, "/validate", Body::from(bytes)).await;
        assert_eq!(status, StatusCode::OK, "{}", file.display());
        let answer = assert_review(&answer, &version, &uid);
        assert_eq!(answer["response"]["allowed"], false);
        assert_eq!(answer["response"]["status"]["code"], 503);
    }
    eprintln!("{} corpus reviews answered", files.len());
}

#[tokio::test]
async fn decides_on_the_snapshot_and_answers_in_the_request_version() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config = config(&repo, &pki, "");
    let router = server::tls_router(state(&config, true));

    let (status, body) = post(
        &router,
        "/validate?timeout=10s",
        Body::from(review("admission.k8s.io/v1beta1", "b1", "5")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let answer = assert_review(&body, "admission.k8s.io/v1beta1", "b1");
    assert_eq!(answer["response"]["allowed"], false);
    assert_eq!(answer["response"]["status"]["code"], 403);
    let message = answer["response"]["status"]["message"]
        .as_str()
        .expect("message");
    assert!(message.contains("data.level"), "{message}");

    let (_, body) = post(
        &router,
        "/validate",
        Body::from(review("admission.k8s.io/v1", "a1", "1")),
    )
    .await;
    let answer = assert_review(&body, "admission.k8s.io/v1", "a1");
    assert_eq!(answer["response"]["allowed"], true);
}

#[tokio::test]
async fn not_ready_answers_per_policy() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());

    let deny = server::tls_router(state(&config(&repo, &pki, ""), false));
    let (status, body) = post(
        &deny,
        "/validate",
        Body::from(review("admission.k8s.io/v1beta1", "n1", "1")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let answer = assert_review(&body, "admission.k8s.io/v1beta1", "n1");
    assert_eq!(answer["response"]["allowed"], false);
    assert_eq!(answer["response"]["status"]["code"], 503);
    let message = answer["response"]["status"]["message"]
        .as_str()
        .expect("message");
    assert!(message.contains("has not loaded Git yet"), "{message}");

    let allow = server::tls_router(state(&config(&repo, &pki, "  notReady: allow\n"), false));
    let (_, body) = post(
        &allow,
        "/validate",
        Body::from(review("admission.k8s.io/v1", "n2", "9")),
    )
    .await;
    let answer = assert_review(&body, "admission.k8s.io/v1", "n2");
    assert_eq!(answer["response"]["allowed"], true);
}

#[tokio::test]
async fn what_is_not_a_review_is_a_400_with_the_reason() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config = config(&repo, &pki, "");
    // Loaded and not loaded: a malformed body is a 400 either way.
    for loaded in [true, false] {
        let router = server::tls_router(state(&config, loaded));
        let cases: [(&str, &str); 6] = [
            ("", "not JSON"),
            ("hello", "not JSON"),
            (r#"{"apiVersion":"v1","kind":"Pod"}"#, "apiVersion"),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}"#,
                "kind",
            ),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
                "no request",
            ),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}"#,
                "uid",
            ),
        ];
        for (body, reason) in cases {
            let (status, answer) = post(&router, "/validate", Body::from(body)).await;
            let text = String::from_utf8_lossy(&answer);
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}: {text}");
            assert!(text.contains(reason), "{body:?}: {text}");
        }
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_without_being_read() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());

    // The default accepts 8 MiB: a review with a 7 MiB annotation is decided.
    let router = server::tls_router(state(&config(&repo, &pki, ""), true));
    let mut big: Value =
        serde_json::from_slice(&review("admission.k8s.io/v1", "big", "1")).expect("json");
    big["request"]["object"]["metadata"]["annotations"] = json!({"blob": "x".repeat(7 << 20)});
    let (status, body) = post(
        &router,
        "/validate",
        Body::from(serde_json::to_vec(&big).expect("json")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_review(&body, "admission.k8s.io/v1", "big");

    let limit = 64 * 1024;
    let router = server::tls_router(state(
        &config(&repo, &pki, &format!("  maxBodyBytes: {limit}\n")),
        true,
    ));
    const CHUNK: usize = 16 * 1024;
    const HUNDRED_MB: usize = 100 << 20;
    for declared in [true, false] {
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = pulled.clone();
        let stream = futures_util::stream::iter(0..HUNDRED_MB / CHUNK).map(move |_| {
            counter.fetch_add(CHUNK, Ordering::SeqCst);
            Ok::<_, std::io::Error>(Bytes::from(vec![b' '; CHUNK]))
        });
        let mut request = Request::post("/validate?timeout=10s");
        if declared {
            request = request.header("content-length", HUNDRED_MB.to_string());
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::from_stream(stream)).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(
            response.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "declared={declared}"
        );
        let read = pulled.load(Ordering::SeqCst);
        assert!(
            read <= limit + CHUNK,
            "declared={declared}: read {read} bytes"
        );
        if declared {
            assert_eq!(
                read, 0,
                "a declared length over the limit is refused unread"
            );
        }
    }
}

use futures_util::StreamExt as _;

#[tokio::test]
async fn admin_port_health_readiness_and_metrics() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config = config(&repo, &pki, "");
    let state = state(&config, false);
    let admin = server::admin_router(state.clone());
    let tls = server::tls_router(state.clone());

    assert_eq!(get(&admin, "/healthz").await.0, StatusCode::OK);
    let (status, text) = get(&admin, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(text.contains("source fleet: not loaded yet"), "{text}");

    let snapshot = driftgate::sources::load_once(&config).expect("loads");
    let revision = snapshot.revision_label().to_string();
    state.status.succeeded("fleet", &revision);
    state.live.store(Arc::new(snapshot));
    let (status, text) = get(&admin, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.contains(&format!("source fleet: {revision}, loaded")),
        "{text}"
    );

    post(
        &tls,
        "/validate",
        Body::from(review("admission.k8s.io/v1", "m1", "7")),
    )
    .await;
    post(&tls, "/validate", Body::from("nope")).await;
    let (status, text) = get(&admin, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    for expected in [
        r#"driftgate_requests_total{endpoint="validate",operation="UPDATE",decision="denied"} 1"#,
        r#"driftgate_requests_total{endpoint="validate",operation="other",decision="invalid"} 1"#,
        r#"driftgate_request_duration_seconds_count{endpoint="validate"} 2"#,
        "driftgate_snapshot_objects 3",
        &format!(r#"driftgate_snapshot_info{{revision="{revision}"}} 1"#),
        "driftgate_snapshot_errors 0",
    ] {
        assert!(text.contains(expected), "missing {expected}:\n{text}");
    }
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("driftgate_"), "{line}");
    }
}

// ---------------------------------------------------------------- real TLS

/// A server on 127.0.0.1:0, stopped when dropped.
struct Running {
    tls: SocketAddr,
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<server::Result<()>>>,
}

impl Running {
    async fn start(config: &Config, options: Options) -> Running {
        let state = state(config, true);
        let server = Server::bind(config, state.clone(), options)
            .await
            .expect("binds");
        let tls = server.tls_addr().expect("tls addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async {
            let _ = stopped.await;
        }));
        Running {
            tls,
            state,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn url(&self) -> String {
        format!("https://{NAME}:{}/validate?timeout=10s", self.tls.port())
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(10), task).await;
            assert!(matches!(result, Ok(Ok(Ok(())))), "server stops cleanly");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

fn client_builder(pki: &Pki, addr: SocketAddr) -> reqwest::ClientBuilder {
    let ca = std::fs::read(pki.dir.join("ca.crt")).expect("ca");
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("ca pem")])
        .resolve(NAME, addr)
        .no_proxy()
        .timeout(Duration::from_secs(10))
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_keep_alive_reuses_one_connection_and_h2_works() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config = config(&repo, &pki, "");
    let server = Running::start(&config, Options::default()).await;

    // One TLS connection, as the apiserver keeps it: five requests in turn on it.
    let tcp = tokio::net::TcpStream::connect(server.tls)
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from(NAME).expect("name");
    let stream = rustls_client(&pki)
        .connect(name, tcp)
        .await
        .expect("handshake");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("http/1.1");
    let connection = tokio::spawn(connection);
    for i in 0..5 {
        let uid = format!("k{i}");
        sender.ready().await.expect("connection still open");
        let request = Request::post("/validate?timeout=10s")
            .header("host", NAME)
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(Bytes::from(review(
                "admission.k8s.io/v1",
                &uid,
                "1",
            ))))
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.version(), axum::http::Version::HTTP_11);
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body")
            .to_bytes();
        assert_review(&body, "admission.k8s.io/v1", &uid);
    }
    assert_eq!(
        server.state.metrics.server.connections.get(),
        1,
        "five requests, one connection"
    );
    drop(sender);
    let _ = connection.await;

    let h2 = client_builder(&pki, server.tls).build().expect("client");
    let response = h2
        .post(server.url())
        .body(review("admission.k8s.io/v1", "h2", "3"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_2,
        "ALPN chose h2"
    );
    let answer = assert_review(
        &response.bytes().await.expect("body"),
        "admission.k8s.io/v1",
        "h2",
    );
    assert_eq!(answer["response"]["allowed"], false);
    assert!(server.state.metrics.server.connections.get() >= 2);

    // A client that does not trust the CA is refused.
    let stranger = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            Authority::new("other").expect("ca").cert_pem().as_bytes(),
        )
        .expect("pem")])
        .resolve(NAME, server.tls)
        .no_proxy()
        .build()
        .expect("client");
    assert!(stranger.post(server.url()).body("{}").send().await.is_err());
    server.shutdown().await;
}

/// Reads until the peer closes; panics if it stays open past the deadline.
async fn until_closed<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept a stalled connection open");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_clients_are_cut_off() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config = config(&repo, &pki, "");
    let limits = server::Limits {
        handshake_timeout: Duration::from_millis(300),
        header_read_timeout: Duration::from_millis(300),
        ..server::Limits::default()
    };
    let options = Options {
        limits,
        ..Options::default()
    };
    let server = Running::start(&config, options).await;

    // TCP connected, no ClientHello.
    let started = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(server.tls)
        .await
        .expect("connect");
    until_closed(&mut silent).await;
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed after the handshake timeout, not before"
    );
    let failures = &server.state.metrics.server.handshake_failures;
    wait_for("the handshake timeout counted", || failures.get() == 1).await;

    // Handshake done, request headers never finished.
    let tcp = tokio::net::TcpStream::connect(server.tls)
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from(NAME).expect("name");
    let mut stream = rustls_client(&pki)
        .connect(name, tcp)
        .await
        .expect("handshake");
    stream
        .write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    stream.flush().await.expect("flush");
    let answer = until_closed(&mut stream).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("200 OK"), "{answer}");

    // Others are still served.
    let client = client_builder(&pki, server.tls).build().expect("client");
    let response = client
        .post(server.url())
        .body(review("admission.k8s.io/v1", "after", "1"))
        .send()
        .await
        .expect("served");
    assert_eq!(response.status(), 200);
    server.shutdown().await;
}

/// The serial number of a DER certificate (Certificate → tbsCertificate → [0] version → serial).
fn serial(der: &[u8]) -> Vec<u8> {
    fn header(der: &[u8]) -> (u8, usize, usize) {
        let tag = der[0];
        let first = der[1] as usize;
        if first < 0x80 {
            (tag, 2, first)
        } else {
            let n = first & 0x7f;
            let len = der[2..2 + n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (tag, 2 + n, len)
        }
    }
    let (_, outer, _) = header(der);
    let tbs = &der[outer..];
    let (_, inner, _) = header(tbs);
    let mut rest = &tbs[inner..];
    let (tag, hl, len) = header(rest);
    if tag == 0xa0 {
        rest = &rest[hl + len..];
    }
    let (tag, hl, len) = header(rest);
    assert_eq!(tag, 0x02, "serial is an INTEGER");
    rest[hl..hl + len].to_vec()
}

fn leaf_der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("pem")
        .to_vec()
}

/// The leaf a fresh handshake is served.
async fn served_leaf(pki: &Pki, addr: SocketAddr) -> Vec<u8> {
    let client = client_builder(pki, addr)
        .tls_info(true)
        .build()
        .expect("client");
    let response = client
        .post(format!("https://{NAME}:{}/validate", addr.port()))
        .body(review("admission.k8s.io/v1", "probe", "1"))
        .send()
        .await
        .expect("fresh handshake");
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .expect("tls info");
    info.peer_certificate().expect("peer cert").to_vec()
}

/// Lays the pair out as the kubelet mounts a Secret: files are symlinks through `..data`,
/// which is swapped atomically, so both files change at once.
fn mount_secret(dir: &Path, version: &str, cert: &str, key: &str) {
    let data = dir.join(version);
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join("tls.crt"), cert).expect("crt");
    std::fs::write(data.join("tls.key"), key).expect("key");
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(version, &tmp).expect("symlink");
    std::fs::rename(&tmp, dir.join("..data")).expect("swap");
    for file in ["tls.crt", "tls.key"] {
        let link = dir.join(file);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{file}"), &link).expect("symlink");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_keep_alive_traffic() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let names = certs::service_names("driftgate", "driftgate-system");
    let mount = tmp.path().join("mount");
    let first = pki.ca.issue_server(&names).expect("pair");
    mount_secret(&mount, "..v1", &first.cert_pem, &first.key_pem);
    let mut config = config(&repo, &pki, "");
    config.server.cert_file = mount.join("tls.crt");
    config.server.key_file = mount.join("tls.key");
    let options = Options {
        cert_poll_interval: Duration::from_millis(50),
        ..Options::default()
    };
    let server = Running::start(&config, options).await;
    assert_eq!(
        served_leaf(&pki, server.tls).await,
        leaf_der(&first.cert_pem)
    );

    // Steady keep-alive traffic for the whole test.
    let done = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let traffic = {
        let client = client_builder(&pki, server.tls)
            .http1_only()
            .build()
            .expect("client");
        let (url, done, ok, failures) = (server.url(), done.clone(), ok.clone(), failures.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !done.load(Ordering::SeqCst) {
                i += 1;
                let result = client
                    .post(&url)
                    .body(review("admission.k8s.io/v1", &format!("t{i}"), "1"))
                    .send()
                    .await;
                match result {
                    Ok(r) if r.status() == 200 => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => failures
                        .lock()
                        .expect("lock")
                        .push(format!("status {}", r.status())),
                    Err(e) => failures.lock().expect("lock").push(format!("{e:?}")),
                }
                // Paced so the other tests' compile and run keep their CPU.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    wait_for("traffic", || ok.load(Ordering::SeqCst) >= 3).await;

    // Renewal to a chain: a leaf from an intermediate, the intermediate appended.
    let intermediate = pki
        .ca
        .intermediate("test intermediate")
        .expect("intermediate");
    let second = intermediate.issue_server(&names).expect("pair");
    let chain = format!("{}{}", second.cert_pem, intermediate.cert_pem());
    mount_secret(&mount, "..v2", &chain, &second.key_pem);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let leaf = served_leaf(&pki, server.tls).await;
        if leaf == leaf_der(&second.cert_pem) {
            assert_eq!(serial(&leaf), serial(&leaf_der(&second.cert_pem)));
            assert_ne!(serial(&leaf), serial(&leaf_der(&first.cert_pem)));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate is never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rejected = |state: &AppState| {
        state
            .metrics
            .server
            .cert_reloads
            .get_or_create(&driftgate::metrics::ReloadLabels {
                result: driftgate::metrics::ReloadResult::Rejected,
            })
            .get()
    };
    assert_eq!(
        rejected(&server.state),
        0,
        "an atomic swap is never seen half-done"
    );

    // A cert whose key is not the one beside it, then an unreadable key: both refused.
    let third = pki.ca.issue_server(&names).expect("pair");
    mount_secret(&mount, "..v3", &third.cert_pem, &second.key_pem);
    wait_for("mismatch rejected", || rejected(&server.state) == 1).await;
    assert_eq!(
        served_leaf(&pki, server.tls).await,
        leaf_der(&second.cert_pem)
    );
    mount_secret(&mount, "..v4", &third.cert_pem, "not a key");
    wait_for("garbage rejected", || rejected(&server.state) == 2).await;
    assert_eq!(
        served_leaf(&pki, server.tls).await,
        leaf_der(&second.cert_pem)
    );

    let before = ok.load(Ordering::SeqCst);
    wait_for("more traffic", || ok.load(Ordering::SeqCst) > before + 3).await;
    done.store(true, Ordering::SeqCst);
    traffic.await.expect("traffic task");
    let failures = failures.lock().expect("lock").clone();
    assert!(
        failures.is_empty(),
        "failed requests during rotation: {failures:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ca_requires_a_certificate_from_that_ca() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let clients = Authority::new("apiserver clients").expect("ca");
    let client_ca = tmp.path().join("client-ca.crt");
    std::fs::write(&client_ca, clients.cert_pem()).expect("write");
    let extra = format!("  clientCaFile: {:?}\n", client_ca.display().to_string());
    let config = config(&repo, &pki, &extra);
    let server = Running::start(&config, Options::default()).await;
    let identity = |pair: certs::Pair| {
        reqwest::Identity::from_pem(format!("{}{}", pair.cert_pem, pair.key_pem).as_bytes())
            .expect("identity")
    };
    let send = |client: reqwest::Client| {
        let url = server.url();
        async move {
            client
                .post(url)
                .body(review("admission.k8s.io/v1", "c1", "1"))
                .send()
                .await
        }
    };

    let anonymous = client_builder(&pki, server.tls).build().expect("client");
    assert!(send(anonymous).await.is_err(), "no client certificate");
    let other = Authority::new("someone else")
        .expect("ca")
        .issue_client("kube-apiserver")
        .expect("pair");
    let forged = client_builder(&pki, server.tls)
        .identity(identity(other))
        .build()
        .expect("client");
    assert!(send(forged).await.is_err(), "certificate from another CA");
    let failures = &server.state.metrics.server.handshake_failures;
    wait_for("two refused handshakes", || failures.get() == 2).await;
    assert_eq!(server.state.metrics.server.connections.get(), 0);

    let apiserver = clients.issue_client("kube-apiserver").expect("pair");
    let trusted = client_builder(&pki, server.tls)
        .identity(identity(apiserver))
        .build()
        .expect("client");
    let response = send(trusted).await.expect("served");
    assert_eq!(response.status(), 200);
    assert_review(
        &response.bytes().await.expect("body"),
        "admission.k8s.io/v1",
        "c1",
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- the binary

/// The `driftgate serve` process, killed if the test ends early.
struct Process {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Process {
    fn spawn(args: &[&str]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_driftgate"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("driftgate starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        // Drains stderr for the whole run so logging never blocks the process.
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                eprintln!("driftgate: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Process { child, lines }
    }

    fn line_containing(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line with {needle:?}: {e}"),
            }
        }
    }

    fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "driftgate did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn field(line: &str, name: &str) -> SocketAddr {
    let start = line.find(&format!("{name}=")).expect("field") + name.len() + 1;
    line[start..]
        .split_whitespace()
        .next()
        .expect("value")
        .parse()
        .expect("address")
}

fn rustls_client(pki: &Pki) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(pki.dir.join("ca.crt")).expect("ca");
    roots
        .add(CertificateDer::from_pem_slice(&ca).expect("pem"))
        .expect("root");
    let mut config = rustls::ClientConfig::builder_with_provider(driftgate::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config_file = tmp.path().join("driftgate.yaml");
    std::fs::write(
        &config_file,
        format!(
            "sources: [{{name: fleet, url: {:?}}}]\nserver:\n  listen: 127.0.0.1:0\n  adminListen: 127.0.0.1:0\n  certFile: {:?}\n  keyFile: {:?}\n  shutdownGrace: 10s\n",
            repo.display().to_string(),
            pki.cert().display().to_string(),
            pki.key().display().to_string()
        ),
    )
    .expect("config");
    let mut process = Process::spawn(&["serve", "--config", config_file.to_str().expect("utf-8")]);
    let listening = process.line_containing("listening");
    let (tls, admin) = (field(&listening, "tls"), field(&listening, "admin"));
    process.line_containing("declared state loaded");
    let admin_client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let metrics = |client: reqwest::Client| async move {
        client
            .get(format!("http://{admin}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    let ready = admin_client
        .get(format!("http://{admin}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);

    // Headers and half the body, then SIGTERM.
    let body = review("admission.k8s.io/v1", "inflight", "4");
    let (head, tail) = body.split_at(body.len() / 2);
    let tcp = tokio::net::TcpStream::connect(tls).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from(NAME).expect("name");
    let mut stream = rustls_client(&pki)
        .connect(name, tcp)
        .await
        .expect("handshake");
    let headers = format!(
        "POST /validate?timeout=10s HTTP/1.1\r\nHost: {NAME}:443\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(headers.as_bytes()).await.expect("headers");
    stream.write_all(head).await.expect("half the body");
    stream.flush().await.expect("flush");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !metrics(admin_client.clone())
        .await
        .contains("driftgate_connections_open 1")
    {
        assert!(
            Instant::now() < deadline,
            "the connection never shows as open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = process.child.id().to_string();
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(kill.success());
    process.line_containing("shutting down");

    // New connections are refused while the request in flight is still open.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::net::TcpStream::connect(tls).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            _ => {
                assert!(Instant::now() < deadline, "new connections still accepted");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    assert!(
        process.child.try_wait().expect("try_wait").is_none(),
        "exited with a request in flight"
    );

    stream.write_all(tail).await.expect("rest of the body");
    stream.flush().await.expect("flush");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let json = &answer[answer.find("\r\n\r\n").expect("head ends") + 4..];
    let review = assert_review(json.as_bytes(), "admission.k8s.io/v1", "inflight");
    assert_eq!(review["response"]["allowed"], false);

    let status = process.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit code after draining");
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "within the grace period"
    );
}

#[test]
fn bad_config_exits_2_naming_the_key() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let config_file = tmp.path().join("driftgate.yaml");
    std::fs::write(
        &config_file,
        format!(
            "sources: [{{name: fleet, url: {:?}}}]\nserver:\n  listn: 127.0.0.1:0\n",
            repo.display().to_string()
        ),
    )
    .expect("config");
    let output = Command::new(env!("CARGO_BIN_EXE_driftgate"))
        .args(["serve", "--config", config_file.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("listn"), "{stderr}");

    // A missing serving certificate names its setting.
    let output = Command::new(env!("CARGO_BIN_EXE_driftgate"))
        .args([
            "serve",
            "--repo",
            repo.to_str().expect("utf-8"),
            "--cert",
            "/nonexistent/tls.crt",
        ])
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("server.certFile"), "{stderr}");
}
