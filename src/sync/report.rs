//! What one sync attempt leaves behind: the source's status (for `/readyz`), its metrics, and
//! the log lines: one per new revision with what changed, one per *change* of error (a remote
//! that stays down is not logged every poll), one on recovery.

use super::changes::Changes;
use super::metrics::{self, SyncMetrics};
use super::status::SyncStatus;

/// A revision that became live (or, before every source has loaded, was accepted).
#[derive(Debug)]
pub struct NewRevision {
    /// `main@sha1:<12 hex>`.
    pub revision: Option<String>,
    pub commit: String,
    pub changes: Changes,
    /// Blobs parsed for it (the rest came from the parse cache).
    pub reparsed: usize,
    /// Builds that failed at this revision (name, message); `None` when it was read as a delta
    /// of plain files (which has no builds, so they stay as they were).
    pub failed_builds: Option<Vec<(String, String)>>,
}

/// `Ok(None)`: nothing new; `Err`: what the attempt failed with.
pub type Result = std::result::Result<Option<NewRevision>, super::Error>;

/// Records the attempt; returns whether it succeeded.
pub fn attempt(
    status: &SyncStatus,
    metrics: &SyncMetrics,
    name: &str,
    seconds: f64,
    result: Result,
) -> bool {
    let ok = result.is_ok();
    // The error as operators read it, on `/readyz` and in the log: made once, here.
    let shown = result
        .as_ref()
        .err()
        .map(|e| crate::text::chain(e).to_string());
    let previous = status.get(name).unwrap_or_default();
    let now = std::time::SystemTime::now();
    let current = status.update(name, |s| {
        s.last_attempt = Some(now);
        match &result {
            Ok(new) => {
                s.last_success = Some(now);
                s.last_error = None;
                s.consecutive_failures = 0;
                if let Some(new) = new {
                    s.revision = new.revision.clone();
                    s.commit = Some(new.commit.clone());
                    s.objects = new.changes.total;
                    if let Some(failed) = &new.failed_builds {
                        s.failed_builds = failed.clone();
                    }
                }
            }
            Err(_) => {
                s.last_error = shown.clone();
                s.consecutive_failures += 1;
            }
        }
    });
    metrics.record_attempt(name, seconds, ok, current.consecutive_failures);
    match &result {
        Ok(Some(new)) => {
            if let Some(revision) = &new.revision {
                metrics.set_revision(name, previous.revision.as_deref(), revision);
            }
            metrics
                .objects
                .get_or_create(&metrics::source(name))
                .set(i64::try_from(new.changes.total).unwrap_or(i64::MAX));
            let names = |builds: &[(String, String)]| -> Vec<String> {
                builds.iter().map(|(b, _)| b.clone()).collect()
            };
            metrics.set_failed_builds(
                name,
                &names(&previous.failed_builds),
                &names(&current.failed_builds),
            );
            for (build, message) in &current.failed_builds {
                if !previous
                    .failed_builds
                    .iter()
                    .any(|(b, m)| b == build && m == message)
                {
                    tracing::warn!(source = %name, build = %build, error = %message, "build failed; it keeps its last good objects");
                }
            }
            for (build, _) in &previous.failed_builds {
                if !current.failed_builds.iter().any(|(b, _)| b == build) {
                    tracing::info!(source = %name, build = %build, "build recovered");
                }
            }
            tracing::info!(
                source = %name,
                revision = new.revision.as_deref().unwrap_or(""),
                added = new.changes.added,
                changed = new.changes.changed,
                removed = new.changes.removed,
                objects = new.changes.total,
                file_errors = new.changes.file_errors,
                reparsed_files = new.reparsed,
                ms = (seconds * 1000.0) as u64,
                "new revision"
            );
        }
        Ok(None) => {}
        Err(_) => {
            let e = shown.as_deref().unwrap_or_default();
            if previous.last_error.as_deref() != Some(e) {
                tracing::warn!(
                    source = %name,
                    serving = previous.revision.as_deref().unwrap_or("nothing yet"),
                    error = %e,
                    "sync failed; the last good state keeps serving"
                );
            }
        }
    }
    if ok && previous.last_error.is_some() {
        tracing::info!(source = %name, "sync recovered");
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_failures_and_recovery() {
        let status = SyncStatus::new(["s"]);
        let metrics = SyncMetrics::register(&mut prometheus_client::registry::Registry::default());
        let down = || {
            Err(crate::sync::Error::MissingPath {
                source_name: "s".into(),
                path: "apps".into(),
                commit: "0123".into(),
            })
        };
        assert!(!attempt(&status, &metrics, "s", 0.1, down()));
        assert!(!attempt(&status, &metrics, "s", 0.1, down()));
        let s = status.get("s").expect("status");
        assert_eq!(
            (s.consecutive_failures, s.last_error.as_deref()),
            (
                2,
                Some("source s: path \"apps\" is not in the tree at 0123")
            )
        );
        let new = NewRevision {
            revision: Some("main@sha1:0123456789ab".into()),
            commit: "0123456789ab0123456789ab0123456789ab0123".into(),
            changes: Changes {
                added: 2,
                total: 2,
                ..Changes::default()
            },
            reparsed: 2,
            failed_builds: Some(vec![("kustomize apps".into(), "boom".into())]),
        };
        assert!(attempt(&status, &metrics, "s", 0.1, Ok(Some(new))));
        let s = status.get("s").expect("status");
        assert_eq!(s.consecutive_failures, 0);
        assert_eq!(s.last_error, None);
        assert_eq!(s.objects, 2);
        assert_eq!(s.revision.as_deref(), Some("main@sha1:0123456789ab"));
        assert!(s.last_success.is_some());
        assert_eq!(
            s.failed_builds,
            [("kustomize apps".to_string(), "boom".to_string())]
        );
        let text = status.render(std::time::SystemTime::now());
        assert!(text.contains("build kustomize apps failed: boom"), "{text}");
    }
}
