//! The audit trail: every denied, warned, break-glass or annotated request becomes a [`Record`],
//! handed to a bounded background writer ([`Sink`]) that stores it in SQLite or PostgreSQL
//! ([`Store`]); reports read it back ([`report`], [`html`], [`http`]); blocked edits can also
//! become Kubernetes Events ([`events`]). Nothing here ever makes a request wait or fail.

pub mod changes;
pub mod events;
pub mod html;
pub mod http;
pub mod metrics;
pub mod record;
pub mod report;
pub mod sink;
pub mod store;

use k8s_openapi::jiff::Timestamp;
use tokio::task::JoinHandle;

pub use metrics::AuditMetrics;
pub use record::{Record, RecordViolation};
pub use sink::{Sink, SinkOptions};
pub use store::{Filter, Store, Target};

use crate::admission::{self, Endpoint, Outcome, Verdict};
use crate::config;

/// The server's one handle on auditing: decides which endpoint records, stamps the replica,
/// and feeds the sink and the Event emitter.
#[derive(Debug, Clone)]
pub struct Auditor {
    sink: Sink,
    /// The endpoint whose decisions are recorded (`audit.from`), so an edit seen by both
    /// webhooks gives exactly one record.
    from: Endpoint,
    replica: std::sync::Arc<str>,
    events: Option<events::Events>,
}

/// The store `audit.url` or `audit.path` names; `None` when neither is set.
pub fn target(config: &config::Audit) -> Option<Target> {
    match (&config.url, &config.path) {
        (Some(url), _) => Some(Target::parse(url)),
        (None, Some(path)) => Some(Target::Sqlite(path.clone())),
        (None, None) => None,
    }
}

/// This replica's name: the pod name when Kubernetes gives it, else the host name.
pub fn replica_name() -> String {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "driftgate".to_string())
}

impl Auditor {
    /// Starts the writer (and the Event emitter when `audit.events` is on) on the current
    /// runtime. The handle ends once every clone of the auditor is dropped and the queue drained.
    pub fn start(config: &config::Audit, metrics: AuditMetrics) -> (Auditor, JoinHandle<()>) {
        let options = SinkOptions {
            queue: config.queue,
            stdout: config.stdout,
            retention: config.retention,
            ..SinkOptions::new(target(config))
        };
        let (sink, handle) = Sink::start(options, metrics.clone());
        let replica = replica_name();
        let events = config
            .events
            .then(|| events::Events::start(replica.clone(), metrics));
        let from = config.from;
        (
            Auditor {
                sink,
                from,
                replica: replica.into(),
                events,
            },
            handle,
        )
    }

    pub fn new(sink: Sink, from: Endpoint, replica: &str) -> Auditor {
        Auditor {
            sink,
            from,
            replica: replica.into(),
            events: None,
        }
    }

    /// Records an answered review when it should be (never blocks; dry-runs and allowed
    /// requests are skipped), and queues the Event for a blocked edit.
    pub fn observe(&self, endpoint: Endpoint, outcome: &Outcome) {
        let Some(info) = &outcome.request else {
            return;
        };
        let decision = &outcome.decision;
        if endpoint == self.from {
            if let Some(record) =
                Record::new(decision, info, endpoint, &self.replica, Timestamp::now())
            {
                self.sink.record(record);
            }
        }
        if let Some(events) = &self.events {
            if decision.verdict == Verdict::Denied && !decision.dry_run {
                let key = decision.key.as_ref();
                events.emit(events::BlockedEdit {
                    group: key.map(|k| k.group.clone()).unwrap_or(info.group.clone()),
                    version: info.version.clone(),
                    kind: key.map(|k| k.kind.clone()).unwrap_or(info.kind.clone()),
                    namespace: key
                        .map(|k| k.namespace.clone())
                        .unwrap_or(info.namespace.clone()),
                    name: key.map(|k| k.name.clone()).unwrap_or(info.name.clone()),
                    message: admission::message(decision, &info.user.username, &info.uid),
                });
            }
        }
    }
}
