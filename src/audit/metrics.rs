//! The audit trail's own metrics. Kept here (typed, cheap to clone) and registered into the
//! server's registry with [`AuditMetrics::register`], so the sink works with or without one.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum DropReason {
    /// The writer could not keep up and the bounded queue was full.
    QueueFull,
    /// The writer has stopped (shutdown).
    Closed,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    pub reason: DropReason,
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum EventResult {
    Sent,
    RateLimited,
    Failed,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub result: EventResult,
}

#[derive(Debug, Clone, Default)]
pub struct AuditMetrics {
    /// Records stored in the trail.
    pub written: Counter,
    /// Records that never reached the writer.
    pub dropped: Family<DropLabels, Counter>,
    /// Records the writer could only log because the trail was unavailable.
    pub log_only: Counter,
    /// Failed attempts to open or write the trail.
    pub write_errors: Counter,
    /// 1 while the trail is unavailable and records go to the log only.
    pub degraded: Gauge,
    /// Records removed by retention.
    pub pruned: Counter,
    /// Kubernetes Events for blocked edits.
    pub events: Family<EventLabels, Counter>,
}

impl AuditMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "driftgate_audit_records_written",
            "Audit records stored in the trail",
            self.written.clone(),
        );
        registry.register(
            "driftgate_audit_records_dropped",
            "Audit records dropped before the writer, by reason",
            self.dropped.clone(),
        );
        registry.register(
            "driftgate_audit_records_log_only",
            "Audit records only logged because the trail was unavailable",
            self.log_only.clone(),
        );
        registry.register(
            "driftgate_audit_write_errors",
            "Failed attempts to open or write the audit trail",
            self.write_errors.clone(),
        );
        registry.register(
            "driftgate_audit_degraded",
            "1 while the audit trail is unavailable (records go to the log only)",
            self.degraded.clone(),
        );
        registry.register(
            "driftgate_audit_records_pruned",
            "Audit records removed by retention",
            self.pruned.clone(),
        );
        registry.register(
            "driftgate_audit_events",
            "Kubernetes Events for blocked edits, by result",
            self.events.clone(),
        );
    }

    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get_or_create(&DropLabels { reason }).get()
    }

    pub fn count_event(&self, result: EventResult) {
        self.events.get_or_create(&EventLabels { result }).inc();
    }

    pub fn events(&self, result: EventResult) -> u64 {
        self.events.get_or_create(&EventLabels { result }).get()
    }
}
