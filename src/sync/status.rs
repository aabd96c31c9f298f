//! What each source's last load did. The seam between whoever loads Git (the sync loop, or
//! `serve`'s one-shot load) and whoever reports on it (`/readyz`, logs). Readiness itself is
//! a latch on the live snapshot: once one is stored it stays ready, because a failed sync keeps
//! the last good snapshot serving.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// One source's latest outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStatus {
    /// Revision label of the last successful load (`main@sha1:0123456789ab`).
    pub revision: Option<String>,
    /// Full commit id being served.
    pub commit: Option<String>,
    pub last_success: Option<SystemTime>,
    pub last_attempt: Option<SystemTime>,
    /// The error of the last attempt, cleared by the next success.
    pub last_error: Option<String>,
    /// Attempts failed in a row; 0 once one succeeds.
    pub consecutive_failures: u64,
    /// Objects the source declares in the served snapshot.
    pub objects: usize,
    /// Builds that failed at the served revision (name, renderer's message); they keep their
    /// last good objects, or declare nothing.
    pub failed_builds: Vec<(String, String)>,
}

/// Per-source status, shared between the loader and the admin port.
#[derive(Debug, Default)]
pub struct SyncStatus {
    sources: Mutex<BTreeMap<String, SourceStatus>>,
}

impl SyncStatus {
    /// Every configured source starts as "not loaded yet", so `/readyz` names the ones missing.
    pub fn new<I, S>(names: I) -> SyncStatus
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let sources = names
            .into_iter()
            .map(|n| (n.into(), SourceStatus::default()))
            .collect();
        SyncStatus {
            sources: Mutex::new(sources),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, SourceStatus>) -> R) -> R {
        // A panic elsewhere while holding the lock leaves plain data behind; keep using it.
        let mut guard = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    pub fn succeeded(&self, source: &str, revision: &str) {
        let now = SystemTime::now();
        self.with(|m| {
            let s = m.entry(source.to_string()).or_default();
            s.revision = Some(revision.to_string());
            s.last_success = Some(now);
            s.last_attempt = Some(now);
            s.last_error = None;
            s.consecutive_failures = 0;
        });
    }

    pub fn failed(&self, source: &str, error: &dyn std::fmt::Display) {
        let now = SystemTime::now();
        self.with(|m| {
            let s = m.entry(source.to_string()).or_default();
            s.last_attempt = Some(now);
            s.last_error = Some(error.to_string());
            s.consecutive_failures += 1;
        });
    }

    /// Applies `change` to one source's status and returns the result (the sync loop records
    /// more than `succeeded`/`failed` carry: commit, object count).
    pub fn update(&self, source: &str, change: impl FnOnce(&mut SourceStatus)) -> SourceStatus {
        self.with(|m| {
            let s = m.entry(source.to_string()).or_default();
            change(s);
            s.clone()
        })
    }

    pub fn get(&self, source: &str) -> Option<SourceStatus> {
        self.with(|m| m.get(source).cloned())
    }

    pub fn all(&self) -> Vec<(String, SourceStatus)> {
        self.with(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// One line per source for `/readyz`, e.g.
    /// `source fleet: main@sha1:0123456789ab, loaded 12s ago; last attempt failed: …`.
    pub fn render(&self, now: SystemTime) -> String {
        let mut out = String::new();
        for (name, s) in self.all() {
            let _ = write!(out, "source {name}: ");
            match (&s.revision, s.last_success) {
                (Some(rev), Some(at)) => {
                    let _ = write!(out, "{rev}, loaded {} ago", ago(now, at));
                }
                _ => out.push_str("not loaded yet"),
            }
            for (build, message) in &s.failed_builds {
                let _ = write!(out, "; build {build} failed: {message}");
            }
            if let Some(err) = &s.last_error {
                let _ = write!(
                    out,
                    "; last attempt failed ({} in a row): {err}",
                    s.consecutive_failures
                );
            }
            out.push('\n');
        }
        out
    }
}

fn ago(now: SystemTime, then: SystemTime) -> String {
    let secs = now.duration_since(then).unwrap_or(Duration::ZERO).as_secs();
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_source() {
        let status = SyncStatus::new(["a", "b"]);
        assert!(status
            .render(SystemTime::now())
            .contains("source b: not loaded yet"));
        status.succeeded("a", "main@sha1:0123");
        status.failed("a", &"fetch failed");
        let text = status.render(SystemTime::now());
        assert!(
            text.contains(
                "source a: main@sha1:0123, loaded 0s ago; last attempt failed (1 in a row): fetch failed"
            ),
            "{text}"
        );
        status.succeeded("a", "main@sha1:4567");
        let a = status.get("a").expect("a");
        assert_eq!(a.last_error, None);
        assert_eq!(a.revision.as_deref(), Some("main@sha1:4567"));
    }
}
