//! The webhook server end to end: the router over the real AdmissionReview corpus and the HTTP
//! error mapping (`router`); real TLS with keep-alive and h2, stalled clients, certificate
//! rotation under traffic and client certificates (`tls`); the built binary draining on SIGTERM
//! and refusing bad config (`process`).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use common::git;
use driftgate::config::Config;
use driftgate::server::{self, AppState, Options, Server};
use driftgate::snapshot::Live;
use driftgate::sync::status::SyncStatus;
use driftgate::tls::certs::{self, Authority};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt as _;

const NAME: &str = "driftgate.driftgate-system.svc";

// ---------------------------------------------------------------- fixtures

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
        let snapshot = driftgate::sync::load_once(config).expect("loads");
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

#[path = "server/process.rs"]
mod process;
#[path = "server/router.rs"]
mod router;
#[path = "server/tls.rs"]
mod tls;
