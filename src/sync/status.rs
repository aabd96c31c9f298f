//! Per-source sync status, shared between the sync threads (writers) and the admin port
//! (`/readyz` detail) as plain data. Readiness is a latch: released once the first snapshot with
//! every source is live, never taken back (a failing sync keeps the last good snapshot serving).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// What `/readyz` shows for one source.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    pub name: String,
    /// Unix seconds of the last attempt, successful or not.
    pub last_attempt: Option<f64>,
    pub last_success: Option<f64>,
    /// The error of the last attempt; `None` once an attempt succeeds.
    pub last_error: Option<String>,
    /// `main@sha1:<12 hex>` of the state being served.
    pub revision: Option<String>,
    /// Full commit id being served.
    pub commit: Option<String>,
    pub consecutive_failures: u64,
    pub objects: usize,
}

/// Every source's status, in configuration order.
#[derive(Debug, Default)]
pub struct StatusBoard {
    sources: RwLock<Vec<SourceStatus>>,
    ready: AtomicBool,
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl StatusBoard {
    pub fn new(names: impl IntoIterator<Item = String>) -> StatusBoard {
        StatusBoard {
            sources: RwLock::new(
                names
                    .into_iter()
                    .map(|name| SourceStatus {
                        name,
                        ..SourceStatus::default()
                    })
                    .collect(),
            ),
            ready: AtomicBool::new(false),
        }
    }

    /// A copy of every source's status.
    pub fn sources(&self) -> Vec<SourceStatus> {
        match self.sources.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn get(&self, name: &str) -> Option<SourceStatus> {
        self.sources().into_iter().find(|s| s.name == name)
    }

    /// True once a snapshot holding every source has been stored.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub(crate) fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Applies `change` to one source's status and returns the result.
    pub(crate) fn update(
        &self,
        index: usize,
        change: impl FnOnce(&mut SourceStatus),
    ) -> SourceStatus {
        let mut guard = match self.sources.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        match guard.get_mut(index) {
            Some(status) => {
                change(status);
                status.clone()
            }
            None => SourceStatus::default(),
        }
    }

    /// One line per source that is failing, for a not-ready or degraded `/readyz` answer.
    pub fn problems(&self) -> Vec<String> {
        self.sources()
            .into_iter()
            .filter_map(|s| {
                s.last_error.map(|e| {
                    format!(
                        "{} (failing {} time(s); serving {})",
                        e,
                        s.consecutive_failures,
                        s.revision.as_deref().unwrap_or("nothing yet")
                    )
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_and_problems() {
        let board = StatusBoard::new(["a".to_string(), "b".to_string()]);
        assert!(!board.is_ready());
        board.update(1, |s| {
            s.last_error = Some("unreachable".into());
            s.consecutive_failures = 2;
        });
        let problems = board.problems();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("unreachable (failing 2 time(s)"),
            "{problems:?}"
        );
        assert_eq!(board.get("b").map(|s| s.consecutive_failures), Some(2));
        board.set_ready();
        assert!(board.is_ready());
    }
}
