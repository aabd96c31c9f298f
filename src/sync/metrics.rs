//! The sync side's Prometheus metrics, typed by label structs; registered into the crate's
//! `driftgate`-prefixed registry as `Metrics::sync`. Cloning shares the series.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RevisionLabels {
    pub source: String,
    pub revision: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub source: String,
    /// `Flux Kustomization flux-system/apps`, `kustomize apps/production`.
    pub build: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub source: String,
    /// `success` or `failure`.
    pub result: String,
}

#[derive(Debug, Clone, Copy)]
pub struct DurationBuckets;

impl MetricConstructor<Histogram> for DurationBuckets {
    fn new_metric(&self) -> Histogram {
        // 10 ms … ~80 s: a no-op poll to a slow first clone.
        Histogram::new(exponential_buckets(0.01, 2.0, 14))
    }
}

type Timestamp = Gauge<f64, AtomicU64>;

#[derive(Debug, Clone)]
pub struct SyncMetrics {
    /// 1 for the revision each source serves; the old revision's series is removed.
    pub revision_info: Family<RevisionLabels, Gauge>,
    pub last_attempt: Family<SourceLabels, Timestamp>,
    pub last_success: Family<SourceLabels, Timestamp>,
    pub duration: Family<SourceLabels, Histogram, DurationBuckets>,
    pub objects: Family<SourceLabels, Gauge>,
    pub consecutive_failures: Family<SourceLabels, Gauge>,
    pub syncs: Family<ResultLabels, Counter>,
    /// 1 for each build that failed at the served revision (its series goes when it recovers).
    pub build_failed: Family<BuildLabels, Gauge>,
}

/// Seconds since the Unix epoch, for the timestamp gauges.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub fn source(name: &str) -> SourceLabels {
    SourceLabels {
        source: name.to_string(),
    }
}

impl SyncMetrics {
    /// Registers every metric into `registry` (prefixed `driftgate` by the caller).
    pub fn register(registry: &mut Registry) -> SyncMetrics {
        let m = SyncMetrics {
            revision_info: Family::default(),
            last_attempt: Family::default(),
            last_success: Family::default(),
            duration: Family::new_with_constructor(DurationBuckets),
            objects: Family::default(),
            consecutive_failures: Family::default(),
            syncs: Family::default(),
            build_failed: Family::default(),
        };
        registry.register(
            "source_revision_info",
            "The revision each source serves (value 1)",
            m.revision_info.clone(),
        );
        registry.register(
            "source_last_sync_attempt_timestamp_seconds",
            "Unix time of the last sync attempt",
            m.last_attempt.clone(),
        );
        registry.register(
            "source_last_sync_success_timestamp_seconds",
            "Unix time of the last successful sync",
            m.last_success.clone(),
        );
        registry.register(
            "source_sync_duration_seconds",
            "Time a sync attempt took (fetch, read, index)",
            m.duration.clone(),
        );
        registry.register(
            "source_objects",
            "Objects the source declares in the served snapshot",
            m.objects.clone(),
        );
        registry.register(
            "source_consecutive_failures",
            "Sync attempts failed in a row (0 when the last succeeded)",
            m.consecutive_failures.clone(),
        );
        registry.register("source_syncs", "Sync attempts by result", m.syncs.clone());
        registry.register(
            "source_build_failed",
            "Builds (kustomizations, Flux Kustomizations, Argo CD Applications) that failed at the served revision and keep their last good objects (value 1)",
            m.build_failed.clone(),
        );
        m
    }

    /// Moves the source's failed-build series from `old` to `new`.
    pub fn set_failed_builds(&self, name: &str, old: &[String], new: &[String]) {
        let labels = |build: &String| BuildLabels {
            source: name.to_string(),
            build: build.clone(),
        };
        for build in old.iter().filter(|b| !new.contains(b)) {
            self.build_failed.remove(&labels(build));
        }
        for build in new {
            self.build_failed.get_or_create(&labels(build)).set(1);
        }
    }

    /// Moves the source's revision series to `revision`.
    pub fn set_revision(&self, name: &str, old: Option<&str>, revision: &str) {
        if let Some(old) = old.filter(|o| *o != revision) {
            self.revision_info.remove(&RevisionLabels {
                source: name.to_string(),
                revision: old.to_string(),
            });
        }
        self.revision_info
            .get_or_create(&RevisionLabels {
                source: name.to_string(),
                revision: revision.to_string(),
            })
            .set(1);
    }

    pub fn record_attempt(&self, name: &str, seconds: f64, ok: bool, failures: u64) {
        let labels = source(name);
        let now = unix_now();
        self.last_attempt.get_or_create(&labels).set(now);
        if ok {
            self.last_success.get_or_create(&labels).set(now);
        }
        self.duration.get_or_create(&labels).observe(seconds);
        self.consecutive_failures
            .get_or_create(&labels)
            .set(i64::try_from(failures).unwrap_or(i64::MAX));
        self.syncs
            .get_or_create(&ResultLabels {
                source: name.to_string(),
                result: if ok { "success" } else { "failure" }.to_string(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn revision_series_moves() {
        let metrics = crate::metrics::Metrics::new();
        let m = &metrics.sync;
        m.set_revision("fleet", None, "main@sha1:aaaa");
        m.set_revision("fleet", Some("main@sha1:aaaa"), "main@sha1:bbbb");
        m.record_attempt("fleet", 0.2, false, 3);
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"driftgate_source_revision_info{source="fleet",revision="main@sha1:bbbb"} 1"#
            ),
            "{text}"
        );
        assert!(!text.contains("aaaa"), "{text}");
        assert!(text.contains(r#"driftgate_source_consecutive_failures{source="fleet"} 3"#));
        assert!(text.contains(r#"driftgate_source_syncs_total{source="fleet",result="failure"} 1"#));
        let broken = vec!["Flux Kustomization flux-system/a".to_string()];
        m.set_failed_builds("fleet", &[], &broken);
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"driftgate_source_build_failed{source="fleet",build="Flux Kustomization flux-system/a"} 1"#
            ),
            "{text}"
        );
        m.set_failed_builds("fleet", &broken, &[]);
        assert!(!metrics.encode().contains("build_failed{"));
    }
}
