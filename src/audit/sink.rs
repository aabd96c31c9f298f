//! The bounded background writer. The request path hands a record over with `try_send` and
//! never waits: when the queue is full the record is counted as dropped and logged. One task
//! drains the queue in batches, so a burst costs one transaction, and a record written alone
//! reaches the store at once (readable well within two seconds).
//!
//! An unavailable trail (read-only or full disk, database down) never fails a request: the
//! writer switches to log-only, says so once (log and `driftgate_audit_degraded`), keeps
//! logging each record, retries on a timer, and says once more when the trail is back.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::metrics::{AuditMetrics, DropLabels, DropReason};
use super::record::Record;
use super::store::{Store, Target};

/// How the writer runs; `SinkOptions::new` has the production defaults.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// `None`: no store configured, records go to the log (and stdout when asked).
    pub target: Option<Target>,
    pub queue: usize,
    /// Most bytes of records waiting in the queue: a flood of denials carrying large values
    /// cannot grow memory past this, whatever the record count.
    pub queue_bytes: usize,
    /// Also print each record as one JSON line on stdout.
    pub stdout: bool,
    pub retention: Duration,
    pub prune_every: Duration,
    /// Wait between attempts while the trail is unavailable.
    pub retry_every: Duration,
    /// Most records in one transaction.
    pub batch: usize,
}

impl SinkOptions {
    pub fn new(target: Option<Target>) -> SinkOptions {
        SinkOptions {
            target,
            queue: 4096,
            queue_bytes: 32 * 1024 * 1024,
            stdout: false,
            retention: Duration::from_secs(30 * 24 * 3600),
            prune_every: Duration::from_secs(3600),
            retry_every: Duration::from_secs(5),
            batch: 256,
        }
    }
}

/// Shared between clones of a sink: rate-limits the "dropped" warning to one per interval.
#[derive(Debug, Default)]
struct DropLog {
    last_ms: AtomicI64,
    unlogged: AtomicU64,
}

const DROP_LOG_EVERY_MS: i64 = 10_000;

/// The request path's handle. Cloning is cheap; the writer stops once every clone is gone.
#[derive(Debug, Clone)]
pub struct Sink {
    tx: mpsc::Sender<(Record, usize)>,
    /// Bytes of the records in the queue (see [`SinkOptions::queue_bytes`]).
    queued: Arc<AtomicUsize>,
    max_bytes: usize,
    metrics: AuditMetrics,
    drops: Arc<DropLog>,
}

impl Sink {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(options: SinkOptions, metrics: AuditMetrics) -> (Sink, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let queued = Arc::new(AtomicUsize::new(0));
        let max_bytes = options.queue_bytes;
        let writer = Writer {
            rx,
            queued: queued.clone(),
            store: None,
            options,
            metrics: metrics.clone(),
            degraded_since: None,
            retry_at: Instant::now(),
            next_prune: Instant::now(),
        };
        let handle = tokio::spawn(writer.run());
        (
            Sink {
                tx,
                queued,
                max_bytes,
                metrics,
                drops: Arc::default(),
            },
            handle,
        )
    }

    /// Hands a record to the writer without waiting. Never blocks, never fails the caller.
    pub fn record(&self, record: Record) {
        let weight = record.weight();
        let before = self.queued.fetch_add(weight, Ordering::Relaxed);
        if before.saturating_add(weight) > self.max_bytes {
            self.queued.fetch_sub(weight, Ordering::Relaxed);
            self.dropped(DropReason::QueueFull, &record);
            return;
        }
        let (reason, record) = match self.tx.try_send((record, weight)) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(r)) => (DropReason::QueueFull, r.0),
            Err(mpsc::error::TrySendError::Closed(r)) => (DropReason::Closed, r.0),
        };
        self.queued.fetch_sub(weight, Ordering::Relaxed);
        self.dropped(reason, &record);
    }

    /// Counts (and now and then logs) a record that was not queued.
    fn dropped(&self, reason: DropReason, record: &Record) {
        self.metrics
            .dropped
            .get_or_create(&DropLabels { reason })
            .inc();
        let unlogged = self.drops.unlogged.fetch_add(1, Ordering::Relaxed) + 1;
        let now = Timestamp::now().as_millisecond();
        let last = self.drops.last_ms.load(Ordering::Relaxed);
        if now - last >= DROP_LOG_EVERY_MS
            && self
                .drops
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.drops.unlogged.fetch_sub(unlogged, Ordering::Relaxed);
            tracing::warn!(
                reason = ?reason,
                dropped = unlogged,
                user = %record.user,
                object = %record.object(),
                decision = %record.decision,
                uid = %record.uid,
                "audit queue full: records dropped (the answers to the apiserver are unchanged)"
            );
        }
    }
}

struct Writer {
    /// Records with their weight (see [`Sink::queued`]).
    rx: mpsc::Receiver<(Record, usize)>,
    queued: Arc<AtomicUsize>,
    store: Option<Store>,
    options: SinkOptions,
    metrics: AuditMetrics,
    degraded_since: Option<Instant>,
    retry_at: Instant,
    next_prune: Instant,
}

impl Writer {
    async fn run(mut self) {
        match &self.options.target {
            Some(target) => {
                tracing::info!(trail = %target.redacted(), "audit trail");
            }
            None => tracing::info!("audit: no path or url set; records go to the log only"),
        }
        // Open (and migrate) at start, so a bad trail is reported before the first request.
        if let Some(target) = self.options.target.clone() {
            match Store::open(&target).await {
                Ok(store) => self.store = Some(store),
                Err(e) => self.degrade(&target, &e).await,
            }
        }
        let mut incoming = Vec::with_capacity(self.options.batch);
        let mut batch = Vec::with_capacity(self.options.batch);
        loop {
            let prune_in = self.next_prune.saturating_duration_since(Instant::now());
            let retry_in = self.retry_at.saturating_duration_since(Instant::now());
            let degraded = self.degraded_since.is_some();
            tokio::select! {
                got = self.rx.recv_many(&mut incoming, self.options.batch) => {
                    if got == 0 {
                        break;
                    }
                    let mut weight = 0usize;
                    batch.extend(incoming.drain(..).map(|(record, w)| {
                        weight += w;
                        record
                    }));
                    self.write(&batch).await;
                    batch.clear();
                    // Written (or logged): their bytes leave the queue's bound.
                    self.queued.fetch_sub(weight, Ordering::Relaxed);
                }
                () = tokio::time::sleep(prune_in) => self.prune().await,
                // Without traffic, a trail that came back is noticed (and the gauge cleared).
                () = tokio::time::sleep(retry_in), if degraded => self.probe().await,
            }
        }
        if let Some(store) = self.store.take() {
            store.close().await;
        }
    }

    async fn write(&mut self, batch: &[Record]) {
        if self.options.stdout {
            let mut out = Vec::new();
            for r in batch {
                if serde_json::to_writer(&mut out, r).is_ok() {
                    out.push(b'\n');
                }
            }
            // A slow stdout reader must not stall a runtime worker.
            let written = tokio::task::spawn_blocking(move || {
                use std::io::Write as _;
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(&out).and_then(|()| stdout.flush())
            })
            .await;
            if let Ok(Err(e)) = written {
                tracing::warn!(error = %crate::text::chain(&e), "audit: cannot write records to stdout");
            }
        }
        let Some(target) = self.options.target.clone() else {
            // No store: stdout is the trail when asked for, the log otherwise.
            if !self.options.stdout {
                for r in batch {
                    log_record(r);
                }
            }
            return;
        };
        if self.degraded_since.is_some() && Instant::now() < self.retry_at {
            self.log_only(batch);
            return;
        }
        let result = match &self.store {
            Some(store) => store.insert(batch).await,
            None => match Store::open(&target).await {
                Ok(store) => {
                    let r = store.insert(batch).await;
                    self.store = Some(store);
                    r
                }
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(()) => {
                self.metrics.written.inc_by(batch.len() as u64);
                self.recovered(&target);
            }
            Err(e) => {
                self.degrade(&target, &e).await;
                self.log_only(batch);
            }
        }
    }

    /// Enters (or stays in) log-only mode; says so once per change of state.
    async fn degrade(&mut self, target: &Target, error: &super::store::Error) {
        self.metrics.write_errors.inc();
        if self.degraded_since.is_none() {
            self.degraded_since = Some(Instant::now());
            self.metrics.degraded.set(1);
            tracing::error!(
                trail = %target.redacted(),
                error = %error,
                retry_every = ?self.options.retry_every,
                "audit trail unavailable: records go to the log only until it recovers"
            );
        }
        // A SQLite file that turned read-only or vanished may need a fresh open.
        if matches!(target, Target::Sqlite(_)) {
            if let Some(store) = self.store.take() {
                store.close().await;
            }
        }
        self.retry_at = Instant::now() + self.options.retry_every;
    }

    /// While degraded: reopens the trail (or pings the database) and clears the state when
    /// that works. A SQLite file on a full disk opens fine and fails again on the next write;
    /// that is logged as the state changes it is.
    async fn probe(&mut self) {
        let Some(target) = self.options.target.clone() else {
            return;
        };
        let result = match &self.store {
            Some(store) => store.ping().await,
            None => Store::open(&target).await.map(|store| {
                self.store = Some(store);
            }),
        };
        match result {
            Ok(()) => self.recovered(&target),
            Err(e) => self.degrade(&target, &e).await,
        }
    }

    fn recovered(&mut self, target: &Target) {
        if let Some(since) = self.degraded_since.take() {
            self.metrics.degraded.set(0);
            tracing::warn!(
                trail = %target.redacted(),
                after = ?since.elapsed(),
                "audit trail is back: records are stored again"
            );
        }
    }

    fn log_only(&self, batch: &[Record]) {
        self.metrics.log_only.inc_by(batch.len() as u64);
        for r in batch {
            log_record(r);
        }
    }

    async fn prune(&mut self) {
        self.next_prune = Instant::now() + self.options.prune_every;
        let Some(store) = &self.store else {
            return;
        };
        let retention = k8s_openapi::jiff::SignedDuration::try_from(self.options.retention)
            .unwrap_or(k8s_openapi::jiff::SignedDuration::MAX);
        let cutoff = Timestamp::now()
            .checked_sub(retention)
            .unwrap_or(Timestamp::MIN);
        match store.prune(cutoff).await {
            Ok(0) => {}
            Ok(n) => {
                self.metrics.pruned.inc_by(n);
                tracing::info!(removed = n, before = %cutoff, "audit: retention pruned old records");
            }
            Err(e) => {
                tracing::warn!(error = %crate::text::chain(&e), "audit: retention pruning failed")
            }
        }
    }
}

fn log_record(record: &Record) {
    match serde_json::to_string(record) {
        Ok(json) => {
            tracing::warn!(target: "driftgate::audit", record = %json, "audit record (log only)")
        }
        Err(e) => {
            tracing::warn!(target: "driftgate::audit", error = %crate::text::chain(&e), uid = %record.uid, "audit record (log only)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::changes::{Changes, Field};

    /// A record carrying `bytes` of requested value.
    fn heavy(bytes: usize) -> Record {
        let mut r = crate::audit::report::tests::record("alice", "shop", "web", "denied", 1);
        r.changes = Some(Changes {
            complete: true,
            fields: vec![Field {
                path: Vec::new(),
                value: Some(serde_json::Value::String("x".repeat(bytes))),
            }],
        });
        r
    }

    #[tokio::test]
    async fn the_queue_is_bounded_in_bytes_as_well_as_records() {
        let metrics = AuditMetrics::default();
        let options = SinkOptions {
            queue: 1000,
            queue_bytes: 100_000,
            ..SinkOptions::new(None)
        };
        let (sink, writer) = Sink::start(options, metrics.clone());
        // The writer runs only when this task yields: everything below queues up.
        for _ in 0..20 {
            sink.record(heavy(20_000));
        }
        assert_eq!(
            metrics.dropped(DropReason::QueueFull),
            16,
            "four of ~20 KB fit in 100 KB"
        );
        assert!(sink.queued.load(Ordering::Relaxed) <= 100_000);
        // Small records still fit beside them.
        sink.record(heavy(10));
        assert_eq!(metrics.dropped(DropReason::QueueFull), 16);
        drop(sink);
        writer.await.expect("the writer drains and ends");
    }
}
