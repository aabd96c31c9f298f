//! Periodic scans in `serve` (`scan.interval`): every replica scans the cluster on a thread of
//! its own (with its own small runtime, so a scan never takes a worker the webhook answers
//! on), publishes the result for `/api/drift` and `/report`, sets the metrics, and, with
//! `scan.policyReports`, writes PolicyReports whose content changed.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use k8s_openapi::jiff::Timestamp;

use super::metrics::ScanMetrics;
use super::policy_report::{self, Writer};
use super::report::Report;
use crate::config::Scan;
use crate::policy::Policy;
use crate::snapshot::Live;

/// A finished scan, as `/api/drift` and `/report` show it.
#[derive(Debug)]
pub struct Published {
    pub report: Report,
    pub finished: Timestamp,
    pub took: Duration,
}

/// The last finished scan; handlers only load it.
#[derive(Debug, Default)]
pub struct Latest {
    scan: ArcSwapOption<Published>,
    /// Periodic scans are configured (an absent result then means "not yet", not "off").
    enabled: bool,
}

impl Latest {
    pub fn new(enabled: bool) -> Latest {
        Latest {
            scan: ArcSwapOption::empty(),
            enabled,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn load(&self) -> Option<Arc<Published>> {
        self.scan.load_full()
    }

    pub fn store(&self, published: Published) {
        self.scan.store(Some(Arc::new(published)));
    }
}

/// Stops the scan thread when dropped (an in-flight scan finishes its current list first).
#[derive(Debug)]
pub struct ScanHandle {
    stop: Option<Sender<()>>,
}

impl Drop for ScanHandle {
    fn drop(&mut self) {
        // The thread sees the closed channel at its next wait; it is not joined, so shutdown
        // never waits on a slow apiserver.
        self.stop.take();
    }
}

/// What the scan thread needs.
pub struct Periodic {
    pub settings: Scan,
    pub live: Arc<Live>,
    pub policy: Arc<Policy>,
    pub latest: Arc<Latest>,
    pub metrics: ScanMetrics,
    /// `None`: inferred as kubectl does (in-cluster service account, else kubeconfig).
    pub kube_config: Option<kube::Config>,
}

impl Periodic {
    /// Starts the thread; `None` when `scan.interval` is not set.
    pub fn start(self) -> std::io::Result<Option<ScanHandle>> {
        let Some(interval) = self.settings.interval else {
            return Ok(None);
        };
        let (stop, stopped) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("drift-scan".into())
            .spawn(move || self.run(interval, &stopped))?;
        Ok(Some(ScanHandle { stop: Some(stop) }))
    }

    fn run(self, interval: Duration, stopped: &Receiver<()>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("drift scans are off: cannot start their runtime: {e}");
                return;
            }
        };
        let mut client = None;
        let mut writer = Writer::default();
        loop {
            let started = Instant::now();
            runtime.block_on(self.once(&mut client, &mut writer));
            // Scans start `interval` apart; one that took longer is followed at once.
            let wait = interval.saturating_sub(started.elapsed());
            match stopped.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    async fn once(&self, client: &mut Option<kube::Client>, writer: &mut Writer) {
        let Some(snapshot) = self.live.load() else {
            tracing::debug!("drift scan waits for the first snapshot");
            return;
        };
        if client.is_none() {
            match super::cluster::client(self.kube_config.clone()).await {
                Ok(c) => *client = Some(c),
                Err(e) => {
                    self.metrics.failures.inc();
                    tracing::error!("drift scan: {}", crate::text::chain(&e));
                    return;
                }
            }
        }
        let Some(client) = client.as_ref() else {
            return;
        };
        let started = Instant::now();
        let report =
            match super::cluster::scan(client, &snapshot, &self.policy, self.settings.unmanaged)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    self.metrics.failures.inc();
                    tracing::error!("drift scan: {}", crate::text::chain(&e));
                    return;
                }
            };
        let took = started.elapsed();
        self.metrics.observe(&report, took.as_secs_f64());
        let c = report.counts();
        tracing::info!(
            revision = %report.revision,
            in_sync = c.in_sync,
            drifted = c.drifted,
            missing = c.missing,
            unmanaged = c.unmanaged,
            lists_not_read = report.errors.len(),
            took_ms = took.as_millis() as u64,
            "drift scan"
        );
        if self.settings.policy_reports {
            let reports = policy_report::build(&report);
            let mut done = writer.write(client, &reports).await;
            // A namespace whose list failed is not known to be clean: its report stays.
            let unread = report.errors.iter().map(|e| e.namespace.clone()).collect();
            writer.prune(client, &reports, &unread, &mut done).await;
            let count = |result, n: usize| {
                self.metrics
                    .report_writes
                    .get_or_create(&super::metrics::WriteLabels { result })
                    .inc_by(n as u64);
            };
            count("written", done.written);
            count("unchanged", done.unchanged);
            count("deleted", done.deleted);
            count("failed", done.failed.len());
            for f in &done.failed {
                tracing::warn!("PolicyReport not written: {f}");
            }
        }
        self.latest.store(Published {
            report,
            finished: Timestamp::now(),
            took,
        });
    }
}
