//! Following Git as it moves: remote sources fetched into bare caches, polled (or synced now
//! by a push webhook), read incrementally, merged into one snapshot and swapped in atomically.
//! Everything here runs on blocking sync threads; the request path only reads `Live`.
//!
//! - [`remote`]: cache directories, first clone and incremental fetch of one ref (gix).
//! - [`credentials`]: HTTPS tokens from a file or the environment, never logged.
//! - [`transport`]: per-scheme connections: timeouts, a private CA, ssh keys and known hosts.
//! - [`pin`]: `revisionFrom`, the revision a Flux or Argo CD object reports as applied.
//! - [`source`]: one attempt for one source: choose the commit, fetch it, read it.
//! - [`engine`]: the threads, "sync now", merging and swapping snapshots, failure handling.
//! - [`schedule`]: when a source polls next (jitter, backoff after failures).
//! - [`changes`]: objects added/changed/removed by a new revision, for the log.
//! - [`report`]: status, metrics and logs of one attempt (errors logged once per change).
//! - [`metrics`]: the Prometheus side; per-source status goes to [`crate::status`].
//! - [`hook`]: `POST /sync` with GitHub signature checking.

pub mod changes;
pub mod credentials;
pub mod engine;
pub mod hook;
pub mod metrics;
pub mod pin;
pub mod remote;
pub mod report;
pub mod schedule;
pub mod source;
pub mod transport;

pub use engine::{SyncHandle, Syncer, Trigger};
pub use metrics::SyncMetrics;
