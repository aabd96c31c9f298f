//! Revision pinning: the commit the GitOps controller reports as applied, read from its
//! status with the kube client. Comparing against that commit instead of the branch tip means a
//! commit Git has but the cluster has not received yet is not enforced early (and a rollback the
//! controller applied is followed).

use crate::config::{PinKind, RevisionFrom};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("revisionFrom: cannot start the Kubernetes client's runtime")]
    Runtime(#[source] std::io::Error),
    #[error("revisionFrom: no Kubernetes configuration (in-cluster or kubeconfig)")]
    Config(#[source] kube::config::InferConfigError),
    #[error("revisionFrom: cannot build a Kubernetes client")]
    Client(#[source] kube::Error),
    #[error("revisionFrom: cannot read {object}")]
    Read {
        object: String,
        #[source]
        source: kube::Error,
    },
    #[error("revisionFrom: {object} has no {field} yet")]
    Missing { object: String, field: &'static str },
    #[error("revisionFrom: {object} reports revision {revision:?}")]
    Format {
        object: String,
        revision: String,
        #[source]
        source: BadRevision,
    },
}

/// Why a revision a controller reports names no commit driftgate can read.
#[derive(Debug, thiserror::Error)]
pub enum BadRevision {
    #[error("SHA-256 repositories are not supported")]
    Sha256,
    #[error("expected a full 40-digit commit id")]
    NotACommitId,
    #[error(transparent)]
    Hex(#[from] gix::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where each kind keeps the applied revision, and the API it is served under.
struct KindInfo {
    api_version: &'static str,
    plural: &'static str,
    kind: &'static str,
    pointer: &'static str,
    field: &'static str,
}

fn kind_info(kind: PinKind) -> KindInfo {
    match kind {
        PinKind::Kustomization => KindInfo {
            api_version: "kustomize.toolkit.fluxcd.io/v1",
            plural: "kustomizations",
            kind: "Kustomization",
            pointer: "/status/lastAppliedRevision",
            field: ".status.lastAppliedRevision",
        },
        PinKind::GitRepository => KindInfo {
            api_version: "source.toolkit.fluxcd.io/v1",
            plural: "gitrepositories",
            kind: "GitRepository",
            pointer: "/status/artifact/revision",
            field: ".status.artifact.revision",
        },
        PinKind::Application => KindInfo {
            api_version: "argoproj.io/v1alpha1",
            plural: "applications",
            kind: "Application",
            pointer: "/status/sync/revision",
            field: ".status.sync.revision",
        },
    }
}

/// The commit id in a revision as the controllers write it: `main@sha1:<hex>` and `sha1:<hex>`
/// (Flux v2), `main/<hex>` (older Flux), or a plain id (Argo CD).
pub fn parse_revision(text: &str) -> Result<gix::ObjectId, BadRevision> {
    let text = text.trim();
    let digest = text.rsplit_once('@').map_or(text, |(_, d)| d);
    let hex = if let Some(hex) = digest.strip_prefix("sha1:") {
        hex
    } else if digest.starts_with("sha256:") {
        return Err(BadRevision::Sha256);
    } else {
        digest.rsplit_once('/').map_or(digest, |(_, h)| h)
    };
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(BadRevision::NotACommitId);
    }
    Ok(gix::ObjectId::from_hex(hex.as_bytes())?)
}

/// The applied revision found in a status object of `kind`.
pub fn revision_in(kind: PinKind, object: &serde_json::Value, name: &str) -> Result<gix::ObjectId> {
    let info = kind_info(kind);
    let described = format!("{} {name}", info.kind);
    let text = object
        .pointer(info.pointer)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .ok_or(Error::Missing {
            object: described.clone(),
            field: info.field,
        })?;
    parse_revision(text).map_err(|source| Error::Format {
        object: described,
        revision: text.to_string(),
        source,
    })
}

/// Reads pinned revisions. Owns a small runtime because the sync threads are blocking and
/// the kube client is async; the client (and its connection pool) is reused across polls.
pub struct PinReader {
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
}

impl std::fmt::Debug for PinReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinReader").finish_non_exhaustive()
    }
}

impl PinReader {
    /// `None` infers the configuration as kubectl does: in-cluster service account, else
    /// kubeconfig.
    pub fn new(config: Option<kube::Config>) -> Result<PinReader> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let client = block_on(&runtime, async {
            let config = match config {
                Some(config) => config,
                None => kube::Config::infer().await.map_err(Error::Config)?,
            };
            kube::Client::try_from(config).map_err(Error::Client)
        })?;
        Ok(PinReader { runtime, client })
    }

    /// The commit `pin` reports as applied.
    pub fn read(&self, pin: &RevisionFrom) -> Result<gix::ObjectId> {
        let info = kind_info(pin.kind);
        let api_version = pin.api_version.as_deref().unwrap_or(info.api_version);
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, info.kind);
        let resource = kube::api::ApiResource::from_gvk_with_plural(&gvk, info.plural);
        let api: kube::Api<kube::api::DynamicObject> =
            kube::Api::namespaced_with(self.client.clone(), &pin.namespace, &resource);
        let object = block_on(&self.runtime, api.get(&pin.name)).map_err(|source| Error::Read {
            object: format!("{} {}/{}", info.kind, pin.namespace, pin.name),
            source,
        })?;
        revision_in(pin.kind, &object.data, &pin.name)
    }
}

/// Runs `future` to completion on a scoped thread of its own: `block_on` panics on a thread
/// that is already inside a runtime (a `spawn_blocking` caller such as the demo's loader).
fn block_on<F>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(
        |scope| match scope.spawn(|| runtime.block_on(future)).join() {
            Ok(output) => output,
            Err(panic) => std::panic::resume_unwind(panic),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn revision_formats() {
        for text in [
            format!("main@sha1:{ID}"),
            format!("refs/heads/main@sha1:{ID}"),
            format!("sha1:{ID}"),
            format!("main/{ID}"),
            ID.to_string(),
        ] {
            assert_eq!(
                parse_revision(&text).expect(&text).to_string(),
                ID,
                "{text}"
            );
        }
        assert!(parse_revision("main@sha1:0123abc").is_err());
        assert!(parse_revision(&format!("main@sha256:{ID}{ID}")).is_err());
        assert!(parse_revision("").is_err());
    }

    #[test]
    fn missing_status_is_named() {
        let err = revision_in(
            PinKind::Application,
            &serde_json::json!({"status": {}}),
            "apps",
        )
        .expect_err("missing");
        assert!(err.to_string().contains(".status.sync.revision"), "{err}");
    }
}
