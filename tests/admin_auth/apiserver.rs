//! A stand-in kube-apiserver for the two reviews driftgate sends: HTTPS on 127.0.0.1:0 with a
//! certificate from a CA generated here (clients must verify it), answering
//! `POST /apis/authentication.k8s.io/v1/tokenreviews` and
//! `POST /apis/authorization.k8s.io/v1/subjectaccessreviews` with bodies shaped as a real
//! apiserver's (v1.30, service account tokens, RBAC), and counting every call that reaches it.
//!
//! Who is who: `grafana-token` is the service account `monitoring/grafana`, bound to
//! `driftgate-report-reader` (`get` on `/report` and `/api/*`); `intern-token` is the user
//! `intern`, authenticated but bound to nothing; every other token is rejected as the
//! apiserver's service account authenticator rejects a forged one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use driftgate::tls::certs::Authority;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};

pub const READER_TOKEN: &str = "grafana-token";
pub const READER: &str = "system:serviceaccount:monitoring:grafana";
pub const UNBOUND_TOKEN: &str = "intern-token";
pub const UNBOUND: &str = "intern";

/// What reached the fixture.
#[derive(Debug, Default)]
pub struct Seen {
    /// TokenReviews per token presented.
    pub token_reviews: HashMap<String, usize>,
    /// SubjectAccessReviews per (user, path).
    pub access_reviews: HashMap<(String, String), usize>,
    /// Every SubjectAccessReview spec, as sent.
    pub access_specs: Vec<Value>,
    /// The `Authorization` header of each call (driftgate's own credentials).
    pub callers: Vec<String>,
}

impl Seen {
    pub fn token_reviews(&self, token: &str) -> usize {
        self.token_reviews.get(token).copied().unwrap_or(0)
    }

    pub fn access_reviews(&self, user: &str, path: &str) -> usize {
        self.access_reviews
            .get(&(user.to_string(), path.to_string()))
            .copied()
            .unwrap_or(0)
    }

    pub fn calls(&self) -> usize {
        self.token_reviews.values().sum::<usize>() + self.access_reviews.values().sum::<usize>()
    }
}

#[derive(Clone, Default)]
struct Shared {
    seen: Arc<Mutex<Seen>>,
    /// Answer every call with a 500, as an apiserver whose etcd is gone does.
    failing: Arc<AtomicBool>,
}

pub struct Apiserver {
    pub addr: SocketAddr,
    pub ca_pem: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Apiserver {
    pub async fn start() -> Apiserver {
        let ca = Authority::new("fixture apiserver CA").expect("ca");
        let pair = ca
            .issue_server(&["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("serving pair");
        let mut config = rustls::ServerConfig::builder_with_provider(driftgate::tls::provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from_pem_slice(pair.cert_pem.as_bytes()).expect("cert")],
                PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes()).expect("key"),
            )
            .expect("tls config");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let shared = Shared::default();
        let app = Router::new()
            .route(
                "/apis/authentication.k8s.io/v1/tokenreviews",
                post(token_review),
            )
            .route(
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                post(subject_access_review),
            )
            .with_state(shared.clone());
        let server = axum_server::tls_rustls::from_tcp_rustls(
            listener,
            axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config)),
        )
        .expect("server");
        let task = tokio::spawn(async move {
            let _ = server.serve(app.into_make_service()).await;
        });
        Apiserver {
            addr,
            ca_pem: ca.cert_pem().to_string(),
            shared,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// A client configuration trusting only this fixture's CA.
    pub fn kube_config(&self) -> kube::Config {
        let mut config = kube::Config::new(self.url().parse().expect("uri"));
        config.root_cert = Some(vec![CertificateDer::from_pem_slice(self.ca_pem.as_bytes())
            .expect("ca")
            .to_vec()]);
        config
    }

    /// A kubeconfig file for this fixture, as `kubectl` would read it, authenticating as
    /// `token`.
    pub fn kubeconfig(&self, token: &str) -> String {
        use base64::Engine as _;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fixture\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: driftgate\n  user:\n    token: {token}\ncontexts:\n- name: fixture\n  context: {{cluster: fixture, user: driftgate}}\ncurrent-context: fixture\n",
            self.url()
        )
    }

    pub fn fail(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::SeqCst);
    }

    pub fn seen<R>(&self, f: impl FnOnce(&Seen) -> R) -> R {
        f(&self.shared.seen.lock().expect("lock"))
    }
}

impl Drop for Apiserver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn caller(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The apiserver's answer when its storage fails.
fn internal_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Internal error occurred: etcdserver: request timed out",
            "reason": "InternalError",
            "details": {"causes": [{"message": "etcdserver: request timed out"}]},
            "code": 500
        })),
    )
        .into_response()
}

async fn token_review(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(review): Json<Value>,
) -> Response {
    let token = review["spec"]["token"].as_str().unwrap_or("").to_string();
    {
        let mut seen = shared.seen.lock().expect("lock");
        *seen.token_reviews.entry(token.clone()).or_default() += 1;
        seen.callers.push(caller(&headers));
    }
    if shared.failing.load(Ordering::SeqCst) {
        return internal_error();
    }
    assert_eq!(review["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(review["kind"], "TokenReview");
    let status = match token.as_str() {
        READER_TOKEN => json!({
            "authenticated": true,
            "user": {
                "username": READER,
                "uid": "0b3f4a0e-6f1e-4d7a-9c55-2f1d0c9e7a11",
                "groups": ["system:serviceaccounts", "system:serviceaccounts:monitoring",
                           "system:authenticated"],
                "extra": {
                    "authentication.kubernetes.io/credential-id": ["JTI=6c1f3f1e-1b0a-4d6e-8f7a-0e4c5b2d9a31"],
                    "authentication.kubernetes.io/node-name": ["worker-2"],
                    "authentication.kubernetes.io/pod-name": ["grafana-7d9c8b6f5-x2k4p"],
                    "authentication.kubernetes.io/pod-uid": ["9a1e2b3c-4d5e-6f70-8192-a3b4c5d6e7f8"]
                }
            },
            "audiences": ["https://kubernetes.default.svc.cluster.local"]
        }),
        UNBOUND_TOKEN => json!({
            "authenticated": true,
            "user": {"username": UNBOUND, "groups": ["interns", "system:authenticated"]},
            "audiences": ["https://kubernetes.default.svc.cluster.local"]
        }),
        _ => json!({
            "user": {},
            "error": "[invalid bearer token, square/go-jose: error in cryptographic primitive]"
        }),
    };
    (
        StatusCode::CREATED,
        Json(json!({
            "kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": review["spec"],
            "status": status
        })),
    )
        .into_response()
}

/// RBAC's rule for non-resource URLs: an exact path, or a prefix ending in `*`.
fn rbac_allows(user: &str, path: &str, verb: &str) -> bool {
    let granted: &[&str] = if user == READER {
        &["/report", "/api/*"]
    } else {
        &[]
    };
    verb == "get"
        && granted.iter().any(|rule| match rule.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == *rule,
        })
}

async fn subject_access_review(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(review): Json<Value>,
) -> Response {
    let spec = &review["spec"];
    let user = spec["user"].as_str().unwrap_or("").to_string();
    let path = spec["nonResourceAttributes"]["path"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let verb = spec["nonResourceAttributes"]["verb"].as_str().unwrap_or("");
    {
        let mut seen = shared.seen.lock().expect("lock");
        *seen
            .access_reviews
            .entry((user.clone(), path.clone()))
            .or_default() += 1;
        seen.access_specs.push(spec.clone());
        seen.callers.push(caller(&headers));
    }
    if shared.failing.load(Ordering::SeqCst) {
        return internal_error();
    }
    assert_eq!(review["apiVersion"], "authorization.k8s.io/v1");
    assert_eq!(review["kind"], "SubjectAccessReview");
    let status = if rbac_allows(&user, &path, verb) {
        json!({"allowed": true, "reason": "RBAC: allowed by ClusterRoleBinding \"grafana-reads-driftgate\" of ClusterRole \"driftgate-report-reader\" to ServiceAccount \"grafana/monitoring\""})
    } else {
        json!({"allowed": false})
    };
    (
        StatusCode::CREATED,
        Json(json!({
            "kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": spec,
            "status": status
        })),
    )
        .into_response()
}
