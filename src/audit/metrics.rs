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
    /// Registers into driftgate's registry, whose `driftgate` prefix makes these
    /// `driftgate_audit_…`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "audit_records_written",
            "Audit records stored in the trail",
            self.written.clone(),
        );
        registry.register(
            "audit_records_dropped",
            "Audit records dropped before the writer, by reason",
            self.dropped.clone(),
        );
        registry.register(
            "audit_records_log_only",
            "Audit records only logged because the trail was unavailable",
            self.log_only.clone(),
        );
        registry.register(
            "audit_write_errors",
            "Failed attempts to open or write the audit trail",
            self.write_errors.clone(),
        );
        registry.register(
            "audit_degraded",
            "1 while the audit trail is unavailable (records go to the log only)",
            self.degraded.clone(),
        );
        registry.register(
            "audit_records_pruned",
            "Audit records removed by retention",
            self.pruned.clone(),
        );
        registry.register(
            "audit_events",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_under_the_driftgate_prefix() {
        let m = AuditMetrics::default();
        let mut registry = Registry::with_prefix("driftgate");
        m.register(&mut registry);
        m.dropped
            .get_or_create(&DropLabels {
                reason: DropReason::QueueFull,
            })
            .inc();
        m.degraded.set(1);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        assert!(
            text.contains("driftgate_audit_records_dropped_total{reason=\"QueueFull\"} 1"),
            "{text}"
        );
        assert!(text.contains("driftgate_audit_degraded 1"), "{text}");
        assert!(
            text.contains("driftgate_audit_records_written_total 0"),
            "{text}"
        );
    }
}
