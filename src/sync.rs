//! Git to the live snapshot, one pipeline. Each stage hands its result to the next and never
//! calls back:
//!
//! 1. **fetch**: the commit to serve into a local object database: [`remote`] (bare caches,
//!    first clone, incremental fetch of one ref), [`transport`] (per-scheme timeouts, a private
//!    CA, ssh keys and known hosts), [`credentials`] (HTTPS tokens, never logged), [`pin`]
//!    (`revisionFrom`: the revision the GitOps controller reports as applied).
//! 2. **read**: [`crate::git`]: trees, blobs and diffs at that commit, nothing else.
//! 3. **declare**: [`declare`]: plain files through a parse cache, or a renderer
//!    ([`crate::render`]: kustomize, Flux, Argo CD); a whole state, or a delta from the last.
//! 4. **snapshot**: [`merge`] merges every source's state (or applies the delta) into a
//!    [`crate::snapshot::Snapshot`] and swaps it into the live pointer atomically.
//!
//! [`source`] runs stages 1 to 3 for one source (one attempt); [`engine`] runs the attempts on
//! blocking threads and hands their results to stage 4; [`once`] is the same pipeline run once
//! (`check`, `index`).
//! Around them: [`schedule`] (when a source polls next), [`changes`] (what a revision changed, for
//! the log), [`report`] (status, metrics and logs of an attempt), [`status`] (per-source status
//! for `/readyz`), [`metrics`], and [`hook`] (`POST /sync`, GitHub signatures checked).
//!
//! Everything here runs on blocking sync threads; the request path only reads `Live`.

pub mod changes;
pub mod credentials;
pub mod declare;
pub mod engine;
pub mod hook;
pub mod merge;
pub mod metrics;
pub mod once;
pub mod pin;
pub mod remote;
pub mod report;
pub mod schedule;
pub mod source;
pub mod status;
pub mod transport;

pub use engine::{SyncHandle, Syncer, Trigger};
pub use metrics::SyncMetrics;
pub use once::{load_once, load_with_builds, Builds};

/// What syncing a source fails with: each stage's error, and the source it was for. The text
/// an operator reads (`/readyz`, the log, the command line) is this and its causes, made where
/// it is shown (see [`crate::text::chain`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Getting the commit: the cache, the remote, its transport or credentials. Boxed: a
    /// fetch error carries URLs and what ssh said, and this error travels by value.
    #[error("source {source_name}")]
    Fetch {
        source_name: String,
        #[source]
        source: Box<remote::Error>,
    },
    /// `revisionFrom`: the applied revision could not be read.
    #[error("source {source_name}")]
    Pin {
        source_name: String,
        #[source]
        source: pin::Error,
    },
    #[error("source {source_name}: pinned commit {commit} is not in {location}")]
    PinnedMissing {
        source_name: String,
        commit: String,
        location: String,
    },
    /// Reading the repository.
    #[error("source {source_name}")]
    Git {
        source_name: String,
        #[source]
        source: crate::git::Error,
    },
    #[error("source {source_name}: path {path:?} is not in the tree at {commit}")]
    MissingPath {
        source_name: String,
        path: String,
        commit: String,
    },
    /// What makes a whole source meaningless to render (a build's own failure is not an
    /// error: it keeps its last good objects).
    #[error(transparent)]
    Render(#[from] crate::render::Error),
    /// The new state could not become a snapshot (an object declared twice): the last good
    /// one keeps serving.
    #[error("source {source_name}: snapshot not updated")]
    Snapshot {
        source_name: String,
        #[source]
        source: crate::snapshot::Error,
    },
    #[error("source {source_name}: snapshot not updated: no snapshot to apply a delta to")]
    NoBasis { source_name: String },
    #[error("source {source_name}: the sync attempt panicked: {message}")]
    Panicked {
        source_name: String,
        message: String,
    },
    /// A one-shot load: the sources' states do not make one snapshot.
    #[error(transparent)]
    Merge(crate::snapshot::Error),
    #[error("cannot start the loader thread")]
    Thread(#[source] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
