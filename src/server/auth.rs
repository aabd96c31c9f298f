//! Who may read the admin port (`server.adminAuth`). The port carries the audit trail (`/report`,
//! `/api/*`: user names, objects, blocked values), but also the kubelet's probes and Prometheus,
//! so a NetworkPolicy cannot narrow it; the requests themselves have to prove who sent them.
//!
//! What is protected, in every mode but `none`: every path except `/healthz`, `/readyz` (probes),
//! `/sync` (a Git host's push webhook, which has its own HMAC check) and `/metrics` (unless
//! `protectMetrics`). Protection is a layer over the whole admin router, applied after every
//! part has merged its routes ([`AdminAuth::protect`]), so a route added later (`/api/drift`) is
//! protected without saying so, and an unknown path answers 401 before it answers 404.
//!
//! - `token` ([`token`]): the bearer token must be listed in `tokenFile`.
//! - `kubernetes` ([`kubernetes`]): the apiserver authenticates the bearer token (TokenReview)
//!   and authorizes `get` on the path as a non-resource URL (SubjectAccessReview), so access is
//!   granted with ordinary RBAC (the ClusterRole `driftgate-report-reader` in `deploy/`).
//!
//! [`bearer`](mod@bearer) reads the token and maps every refusal to its status: 401 without a bearer token
//! or with one that is not accepted, 403 when RBAC does not allow the path, 400 for an
//! `Authorization` header that is not a bearer token, 503 (with the reason) when the apiserver
//! cannot answer: an outage never opens the door.

pub mod bearer;
pub mod cache;
pub mod kubernetes;
pub mod metrics;
pub mod token;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::config::{AdminAuth as Settings, AdminAuthMode};
use bearer::{bearer, verb, Refusal};
use kubernetes::{KubernetesAuth, ReviewSettings};
use metrics::{AdminAuthMetrics, AuthResult};
use token::TokenFile;

/// Why the admin port's authentication cannot start; each names its setting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("server.adminAuth.tokenFile {path}: cannot read it: {source}")]
    TokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("server.adminAuth.tokenFile {path}")]
    TokenLine {
        path: PathBuf,
        #[source]
        source: token::BadTokens,
    },
    #[error("server.adminAuth.tokenFile {path} lists no token: nobody could read the admin port")]
    NoTokens { path: PathBuf },
    #[error("server.adminAuth.tokenFile is required with mode: token")]
    NoTokenFile,
    #[error("server.adminAuth.mode: kubernetes needs cluster credentials (an in-cluster service account or a kubeconfig): {source}")]
    KubeConfig {
        #[source]
        source: kube::config::InferConfigError,
    },
    #[error("server.adminAuth.mode: kubernetes: cannot build a Kubernetes client: {source}")]
    KubeClient {
        #[source]
        source: kube::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One protected request's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed {
        user: String,
    },
    /// 401: the token is not accepted (the reason is logged, never told to the caller).
    Unauthenticated,
    /// 403: `user` is authenticated, RBAC does not allow the path.
    Forbidden {
        user: String,
    },
    /// 503: the apiserver could not answer; `reason` says why.
    Unavailable {
        reason: String,
    },
}

/// How a protected request is checked.
enum Check {
    Token(Arc<TokenFile>),
    Kubernetes(Arc<KubernetesAuth>),
}

/// The admin port's authentication, built at startup from `server.adminAuth`.
pub struct AdminAuth {
    check: Check,
    protect_metrics: bool,
    metrics: AdminAuthMetrics,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuth")
            .field("mode", &self.mode().as_str())
            .field("protect_metrics", &self.protect_metrics)
            .finish_non_exhaustive()
    }
}

impl AdminAuth {
    /// `None` for mode `none`. `kube` replaces the inferred cluster configuration (tests point
    /// it at a fixture apiserver); in-cluster or kubeconfig credentials are used otherwise.
    pub async fn start(
        settings: &Settings,
        kube: Option<kube::Config>,
        review: ReviewSettings,
        metrics: AdminAuthMetrics,
    ) -> Result<Option<AdminAuth>> {
        let check = match (settings.mode, &settings.token_file) {
            (AdminAuthMode::None, _) => return Ok(None),
            (AdminAuthMode::Token, Some(path)) => Check::Token(Arc::new(TokenFile::load(path)?)),
            // Config validation refuses this too; never start open because of it.
            (AdminAuthMode::Token, None) => return Err(Error::NoTokenFile),
            (AdminAuthMode::Kubernetes, _) => Check::Kubernetes(Arc::new(
                KubernetesAuth::connect(kube, review, metrics.clone()).await?,
            )),
        };
        Ok(Some(AdminAuth {
            check,
            protect_metrics: settings.protect_metrics,
            metrics,
        }))
    }

    pub fn mode(&self) -> AdminAuthMode {
        match self.check {
            Check::Token(_) => AdminAuthMode::Token,
            Check::Kubernetes(_) => AdminAuthMode::Kubernetes,
        }
    }

    /// Whether requests to `path` must authenticate.
    pub fn protects(&self, path: &str) -> bool {
        match path {
            "/healthz" | "/readyz" | "/sync" => false,
            "/metrics" => self.protect_metrics,
            _ => true,
        }
    }

    /// The background work this mode needs (re-reading the token file), to run while serving.
    pub fn watch(&self, interval: Duration) -> Option<impl Future<Output = ()> + Send + 'static> {
        match &self.check {
            Check::Token(file) => Some(file.clone().watch(interval, self.metrics.clone())),
            Check::Kubernetes(_) => None,
        }
    }

    /// `router` with every route behind the check (call once every route is merged).
    pub fn protect(self: Arc<Self>, router: Router) -> Router {
        router.layer(axum::middleware::from_fn_with_state(self, guard))
    }

    async fn verdict(&self, token: String, verb: &str, path: &str) -> Verdict {
        match &self.check {
            Check::Token(file) => {
                if file.accepts(token.as_bytes()) {
                    Verdict::Allowed {
                        user: "a token from server.adminAuth.tokenFile".into(),
                    }
                } else {
                    Verdict::Unauthenticated
                }
            }
            Check::Kubernetes(kube) => kube.check(token, verb, path).await,
        }
    }
}

/// Mode `none` on an address others can reach: say so at startup, since anyone who can open
/// the port reads the audit trail.
pub fn warn_if_open(settings: &Settings, admin: Option<SocketAddr>) {
    let exposed = admin.is_some_and(|addr| !addr.ip().is_loopback());
    if settings.mode == AdminAuthMode::None && exposed {
        tracing::warn!(
            admin = %admin.map(|a| a.to_string()).unwrap_or_default(),
            "the admin port serves /report and /api/* to anyone who can reach it \
             (server.adminAuth.mode: none); set mode: kubernetes or token, or listen on loopback"
        );
    }
}

async fn guard(State(auth): State<Arc<AdminAuth>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if !auth.protects(&path) {
        return next.run(request).await;
    }
    let token = match bearer(request.headers()) {
        Ok(token) => token,
        Err(refusal) => {
            auth.metrics.count(refusal.result());
            return refusal.into_response();
        }
    };
    let verb = verb(request.method());
    let verdict = auth.verdict(token, &verb, &path).await;
    match verdict {
        Verdict::Allowed { user } => {
            auth.metrics.count(AuthResult::Allowed);
            tracing::debug!(%user, %path, "admin request allowed");
            let mut response = next.run(request).await;
            // What is behind the check must not be kept by a shared cache on the way.
            response
                .headers_mut()
                .entry(header::CACHE_CONTROL)
                .or_insert(HeaderValue::from_static("no-store"));
            response
        }
        Verdict::Unauthenticated => {
            auth.metrics.count(AuthResult::Unauthenticated);
            tracing::debug!(%path, "admin request refused: bearer token not accepted");
            Refusal::Rejected.into_response()
        }
        Verdict::Forbidden { user } => {
            auth.metrics.count(AuthResult::Forbidden);
            tracing::info!(%user, %verb, %path, "admin request forbidden by RBAC");
            Refusal::Forbidden { user, verb, path }.into_response()
        }
        Verdict::Unavailable { reason } => {
            auth.metrics.count(AuthResult::Unavailable);
            tracing::warn!(%path, "admin request refused, access cannot be checked: {reason}");
            Refusal::Unavailable(reason).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_and_the_push_hook_stay_open() {
        let file = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(file.path(), "t0k3n\n").expect("write");
        for protect_metrics in [false, true] {
            let auth = AdminAuth {
                check: Check::Token(Arc::new(TokenFile::load(file.path()).expect("loads"))),
                protect_metrics,
                metrics: AdminAuthMetrics::default(),
            };
            for open in ["/healthz", "/readyz", "/sync"] {
                assert!(!auth.protects(open), "{open}");
            }
            for closed in [
                "/report",
                "/api/audit",
                "/api/drift",
                "/",
                "/healthz/",
                "/nope",
            ] {
                assert!(auth.protects(closed), "{closed}");
            }
            assert_eq!(auth.protects("/metrics"), protect_metrics);
        }
    }
}
