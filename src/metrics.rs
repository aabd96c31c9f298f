//! The Prometheus registry behind `/metrics`. Every metric is named `driftgate_…` and labelled
//! with typed label sets, so a call site cannot invent a label value (an attacker-chosen
//! `operation` string would otherwise grow the series without bound).
//!
//! To add metrics for a part (sync, audit): add a struct of its metrics with a
//! `fn register(registry: &mut Registry) -> Self`, and a field for it on [`Metrics`].

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::snapshot::Snapshot;

/// Implements `EncodeLabelValue` with the variant's `as_str`.
macro_rules! label_value {
    ($ty:ty) => {
        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                encoder.write_str(self.as_str())
            }
        }
    };
}

/// The label is the admission layer's own endpoint type.
pub use crate::admission::Endpoint;
label_value!(Endpoint);

/// The request's operation, folded to the ones the API knows.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
    Other,
}

impl Operation {
    pub fn parse(operation: &str) -> Operation {
        match operation {
            "CREATE" => Operation::Create,
            "UPDATE" => Operation::Update,
            "DELETE" => Operation::Delete,
            "CONNECT" => Operation::Connect,
            _ => Operation::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
            Operation::Other => "other",
        }
    }
}
label_value!(Operation);

/// How a request ended: a decision, or why there was none.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Warned,
    Denied,
    /// Answered before the first snapshot (per `server.notReady`).
    NotReady,
    /// HTTP 400: not an AdmissionReview.
    Invalid,
    /// HTTP 413: over `server.maxBodyBytes`.
    TooLarge,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Warned => "warned",
            Outcome::Denied => "denied",
            Outcome::NotReady => "not_ready",
            Outcome::Invalid => "invalid",
            Outcome::TooLarge => "too_large",
        }
    }
}
label_value!(Outcome);

impl From<crate::admission::Verdict> for Outcome {
    fn from(v: crate::admission::Verdict) -> Outcome {
        match v {
            crate::admission::Verdict::Allowed => Outcome::Allowed,
            crate::admission::Verdict::Warned => Outcome::Warned,
            crate::admission::Verdict::Denied => Outcome::Denied,
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub endpoint: Endpoint,
    pub operation: Operation,
    pub decision: Outcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: Endpoint,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RevisionLabels {
    pub revision: String,
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum ReloadResult {
    Reloaded,
    Rejected,
}

impl ReloadResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Reloaded => "reloaded",
            ReloadResult::Rejected => "rejected",
        }
    }
}
label_value!(ReloadResult);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    pub result: ReloadResult,
}

/// What a connection closed to make room under the connection bound was doing.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum EvictedState {
    /// Handshaking or between requests: closed at once.
    Idle,
    /// Serving a request: asked to finish it and close.
    InRequest,
}

impl EvictedState {
    pub fn as_str(self) -> &'static str {
        match self {
            EvictedState::Idle => "idle",
            EvictedState::InRequest => "in_request",
        }
    }
}
label_value!(EvictedState);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EvictLabels {
    pub state: EvictedState,
}

/// The webhook port: requests, latency, connections, certificate reloads.
#[derive(Debug)]
pub struct ServerMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    /// Connections accepted on the TLS port (keep-alive reuse shows as requests ≫ connections).
    pub connections: Counter,
    /// Sockets holding a slot of the connection bound, handshaking ones included.
    pub connections_open: Gauge,
    /// Connections closed to admit a newer one when the bound was reached.
    pub connections_evicted: Family<EvictLabels, Counter>,
    pub handshake_failures: Counter,
    pub cert_reloads: Family<ReloadLabels, Counter>,
    /// 1 while the cert and key files are missing or unusable and the last good pair serves.
    pub cert_stale: Gauge,
}

fn latency_histogram() -> Histogram {
    // 50µs … ~1.6s: decisions take microseconds, a slow one is the thing to see.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

impl ServerMetrics {
    pub fn register(registry: &mut Registry) -> ServerMetrics {
        let m = ServerMetrics {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            connections: Counter::default(),
            connections_open: Gauge::default(),
            connections_evicted: Family::default(),
            handshake_failures: Counter::default(),
            cert_reloads: Family::default(),
            cert_stale: Gauge::default(),
        };
        registry.register(
            "requests",
            "Admission requests by endpoint, operation and decision",
            m.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from the request's arrival to its answer",
            m.request_duration.clone(),
        );
        registry.register(
            "connections_accepted",
            "TLS connections accepted on the webhook port",
            m.connections.clone(),
        );
        registry.register(
            "connections_open",
            "Connections open on the webhook port, handshaking ones included (bounded)",
            m.connections_open.clone(),
        );
        registry.register(
            "connections_evicted",
            "Connections closed to admit a newer one at the connection bound, by what they were doing",
            m.connections_evicted.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed or timed out",
            m.handshake_failures.clone(),
        );
        registry.register(
            "cert_reloads",
            "Serving certificate changes seen on disk, installed or rejected",
            m.cert_reloads.clone(),
        );
        registry.register(
            "cert_stale",
            "1 while the cert and key files are missing or unusable and the last good pair serves",
            m.cert_stale.clone(),
        );
        m
    }
}

/// The live snapshot, read at scrape time so whoever stores a snapshot needs no metrics call.
#[derive(Debug, Default)]
pub struct SnapshotMetrics {
    pub objects: Gauge,
    pub info: Family<RevisionLabels, Gauge>,
    pub errors: Gauge,
}

impl SnapshotMetrics {
    pub fn register(registry: &mut Registry) -> SnapshotMetrics {
        let m = SnapshotMetrics::default();
        registry.register(
            "snapshot_objects",
            "Objects declared in the live snapshot",
            m.objects.clone(),
        );
        registry.register(
            "snapshot_info",
            "1 for the revision of the live snapshot",
            m.info.clone(),
        );
        registry.register(
            "snapshot_errors",
            "Files in the live snapshot's revision that did not parse",
            m.errors.clone(),
        );
        m
    }

    pub fn observe(&self, snapshot: Option<&Snapshot>) {
        self.info.clear();
        match snapshot {
            Some(s) => {
                self.objects.set(i64::try_from(s.len()).unwrap_or(i64::MAX));
                self.errors
                    .set(i64::try_from(s.errors.len()).unwrap_or(i64::MAX));
                self.info
                    .get_or_create(&RevisionLabels {
                        revision: s.revision_label().to_string(),
                    })
                    .set(1);
            }
            None => {
                self.objects.set(0);
                self.errors.set(0);
            }
        }
    }
}

/// All of driftgate's metrics and the registry that exposes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub server: ServerMetrics,
    pub snapshot: SnapshotMetrics,
    /// The sync loop: per-source revision, timestamps, durations, failures.
    pub sync: crate::sync::SyncMetrics,
    /// The audit trail's writer: records written, dropped, degraded state.
    pub audit: crate::audit::AuditMetrics,
    /// Who was let onto the admin port's protected paths, and what it cost the apiserver.
    pub admin_auth: crate::server::auth::metrics::AdminAuthMetrics,
    /// Periodic drift scans: drifted objects, duration, PolicyReport writes.
    pub scan: crate::scan::metrics::ScanMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("driftgate");
        let server = ServerMetrics::register(&mut registry);
        let snapshot = SnapshotMetrics::register(&mut registry);
        let sync = crate::sync::SyncMetrics::register(&mut registry);
        let audit = crate::audit::AuditMetrics::default();
        audit.register(&mut registry);
        let admin_auth = crate::server::auth::metrics::AdminAuthMetrics::default();
        admin_auth.register(&mut registry);
        let scan = crate::scan::metrics::ScanMetrics::register(&mut registry);
        Metrics {
            registry,
            server,
            snapshot,
            sync,
            audit,
            admin_auth,
            scan,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            let _ = writeln!(out, "# encoding failed: {e}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        let m = Metrics::new();
        m.server
            .requests
            .get_or_create(&RequestLabels {
                endpoint: Endpoint::Validate,
                operation: Operation::parse("weird"),
                decision: Outcome::Denied,
            })
            .inc();
        m.snapshot.observe(None);
        let text = m.encode();
        assert!(
            text.contains(
                r#"driftgate_requests_total{endpoint="validate",operation="other",decision="denied"} 1"#
            ),
            "{text}"
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("driftgate_"), "{line}");
        }
    }
}
