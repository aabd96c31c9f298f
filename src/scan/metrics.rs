//! The periodic scan's metrics, registered into driftgate's registry as `Metrics::scan`:
//! `driftgate_drifted_objects{namespace,kind}` (objects not in sync: drifted, missing, or
//! unmanaged when asked for), the scan's duration, when it last succeeded, and the lists it
//! could not read. Cloning shares the series.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::report::Report;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabels {
    /// `""` for cluster-scoped objects.
    pub namespace: String,
    /// `apps/Deployment`, `ConfigMap`.
    pub kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    /// `written`, `unchanged` or `failed`.
    pub result: &'static str,
}

#[derive(Debug, Clone)]
pub struct ScanMetrics {
    pub drifted: Family<DriftLabels, Gauge>,
    pub duration: Histogram,
    pub last_success: Gauge<f64, AtomicU64>,
    /// Lists the last scan could not read (forbidden, failing).
    pub list_errors: Gauge,
    pub failures: Counter,
    pub report_writes: Family<WriteLabels, Counter>,
}

impl Default for ScanMetrics {
    fn default() -> Self {
        ScanMetrics {
            drifted: Family::default(),
            // 50 ms … ~7 min: a small fleet to a large cluster.
            duration: Histogram::new(exponential_buckets(0.05, 2.0, 14)),
            last_success: Gauge::default(),
            list_errors: Gauge::default(),
            failures: Counter::default(),
            report_writes: Family::default(),
        }
    }
}

impl ScanMetrics {
    pub fn register(registry: &mut Registry) -> ScanMetrics {
        let m = ScanMetrics::default();
        registry.register(
            "drifted_objects",
            "Objects not in sync with Git at the last scan (drifted, missing, unmanaged), per namespace and kind",
            m.drifted.clone(),
        );
        registry.register(
            "scan_duration_seconds",
            "Time a drift scan of the cluster took",
            m.duration.clone(),
        );
        registry.register(
            "scan_last_success_timestamp_seconds",
            "Unix time the last drift scan finished",
            m.last_success.clone(),
        );
        registry.register(
            "scan_list_errors",
            "Lists the last drift scan could not read (forbidden or failing)",
            m.list_errors.clone(),
        );
        registry.register(
            "scan_failures",
            "Drift scans that could not run (no snapshot or no cluster client)",
            m.failures.clone(),
        );
        registry.register(
            "policy_report_writes",
            "PolicyReport writes by result (unchanged ones are skipped)",
            m.report_writes.clone(),
        );
        m
    }

    /// The gauges after a finished scan: the old namespaces and kinds are removed.
    pub fn observe(&self, report: &Report, seconds: f64) {
        self.duration.observe(seconds);
        self.drifted.clear();
        for ((namespace, kind), count) in report.diverged_by_namespace_kind() {
            self.drifted
                .get_or_create(&DriftLabels { namespace, kind })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        self.list_errors
            .set(i64::try_from(report.errors.len()).unwrap_or(i64::MAX));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.last_success.set(now);
    }
}
