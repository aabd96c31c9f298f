//! The sync loop: one blocking thread per source, each polling its source every `interval`
//! (jittered, and backed off after failures) or at once when asked ("sync now"). An attempt
//! runs the source's stages ([`super::source`]) and hands a new state to the snapshot stage
//! ([`super::merge`]). Any failure keeps the last good state serving and is logged once per
//! change of error.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::merge::Merger;
use super::metrics::SyncMetrics;
use super::report;
use super::source::{Outcome, SourceSync};
use super::status::SyncStatus;
use super::Error;
use crate::config::Config;
use crate::snapshot::Live;

/// Wakes the source threads: a generation bumped by "sync now", and the stop flag.
#[derive(Debug, Default)]
struct Signal {
    state: Mutex<SignalState>,
    cond: Condvar,
}

#[derive(Debug, Default, Clone, Copy)]
struct SignalState {
    generation: u64,
    stop: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[derive(Debug)]
struct Shared {
    /// The snapshot stage: every source's last good state, merged and swapped into `Live`.
    merger: Merger,
    status: Arc<SyncStatus>,
    metrics: SyncMetrics,
    signal: Signal,
}

/// Cheap handle for whoever asks for a sync (the `/sync` endpoint) or shows status.
#[derive(Debug, Clone)]
pub struct Trigger {
    shared: Arc<Shared>,
}

impl Trigger {
    /// Every source syncs now (a source in the middle of an attempt syncs again right after).
    pub fn sync_now(&self) {
        let mut state = lock(&self.shared.signal.state);
        state.generation = state.generation.wrapping_add(1);
        self.shared.signal.cond.notify_all();
    }

    pub fn status(&self) -> &Arc<SyncStatus> {
        &self.shared.status
    }

    pub fn metrics(&self) -> &SyncMetrics {
        &self.shared.metrics
    }

    /// True once a snapshot holding every source is live (and from then on: a failing sync
    /// keeps the last good snapshot serving).
    pub fn is_ready(&self) -> bool {
        self.shared.merger.live().load().is_some()
    }

    pub fn live(&self) -> &Arc<Live> {
        self.shared.merger.live()
    }
}

/// One source and what it remembers.
#[derive(Debug)]
struct Worker {
    index: usize,
    interval: Duration,
    sync: SourceSync,
}

/// Sources not started yet. `start` runs them on threads; `sync_once` runs one round inline.
#[derive(Debug)]
pub struct Syncer {
    shared: Arc<Shared>,
    workers: Vec<Worker>,
}

/// What a `Syncer` reports into and reads with; defaults are private to the syncer.
#[derive(Debug, Default)]
pub struct Parts {
    /// Per-source status shared with `/readyz`.
    pub status: Option<Arc<SyncStatus>>,
    /// Series registered in the server's registry (`Metrics::sync`).
    pub metrics: Option<SyncMetrics>,
    /// Used by pinned sources instead of the inferred cluster configuration (tests).
    pub kube_config: Option<kube::Config>,
    /// Reads every revision whole, never as a delta: the baseline the index benchmark and the
    /// delta tests compare against.
    pub whole_reads: bool,
}

impl Syncer {
    /// A syncer with its own status and metrics (one-shot use, tests, benchmarks).
    pub fn new(config: &Config, live: Arc<Live>) -> Syncer {
        Syncer::with_parts(config, live, Parts::default())
    }

    pub fn with_parts(config: &Config, live: Arc<Live>, parts: Parts) -> Syncer {
        let status = parts.status.unwrap_or_else(|| {
            Arc::new(SyncStatus::new(
                config.sources.iter().map(|s| s.name.clone()),
            ))
        });
        let metrics = parts.metrics.unwrap_or_else(|| {
            SyncMetrics::register(&mut prometheus_client::registry::Registry::default())
        });
        let shared = Arc::new(Shared {
            merger: Merger::new(live, config.sources.len()),
            status,
            metrics,
            signal: Signal::default(),
        });
        let single = config.sources.len() == 1 && !parts.whole_reads;
        let workers = config
            .sources
            .iter()
            .enumerate()
            .map(|(index, source)| {
                let sync =
                    SourceSync::new(source.clone(), &config.cache_dir, parts.kube_config.clone());
                Worker {
                    index,
                    interval: source.interval.max(Duration::from_millis(100)),
                    // With one source its state alone is the snapshot, so a new revision can
                    // be applied to the live snapshot as a delta.
                    sync: if single { sync.incremental() } else { sync },
                }
            })
            .collect();
        Syncer { shared, workers }
    }

    pub fn trigger(&self) -> Trigger {
        Trigger {
            shared: self.shared.clone(),
        }
    }

    /// One attempt per source, in order, on this thread. True when every source succeeded.
    pub fn sync_once(&mut self) -> bool {
        let (workers, shared) = (&mut self.workers, &self.shared);
        crate::manifest::yaml::on_parser_stack(|| {
            let mut all_ok = true;
            for worker in workers.iter_mut() {
                all_ok &= worker.attempt(shared);
            }
            all_ok
        })
        .unwrap_or_else(|e| {
            tracing::error!("cannot start a thread to sync on: {e}");
            false
        })
    }

    /// Blobs parsed by each source's last read, in configuration order.
    pub fn last_parsed(&self) -> Vec<usize> {
        self.workers.iter().map(|w| w.sync.last_parsed()).collect()
    }

    /// How each source read its last new revision (whole or as a delta), in configuration order.
    pub fn last_reads(&self) -> Vec<Option<super::source::ReadKind>> {
        self.workers.iter().map(|w| w.sync.last_read()).collect()
    }

    /// Starts one thread per source; they stop when the handle is shut down or dropped.
    pub fn start(self) -> std::io::Result<SyncHandle> {
        let mut threads = Vec::with_capacity(self.workers.len());
        for mut worker in self.workers {
            let shared = self.shared.clone();
            let name = format!("sync-{}", worker.sync.source.name);
            threads.push(
                // Sized for the YAML parser, so every file parses in place on this thread.
                std::thread::Builder::new()
                    .name(name)
                    .stack_size(crate::manifest::yaml::PARSER_STACK_BYTES)
                    .spawn(move || {
                        crate::manifest::yaml::mark_parser_stack();
                        worker.run(&shared)
                    })?,
            );
        }
        Ok(SyncHandle {
            trigger: Trigger {
                shared: self.shared,
            },
            threads,
        })
    }
}

/// The running sync threads.
#[derive(Debug)]
pub struct SyncHandle {
    trigger: Trigger,
    threads: Vec<JoinHandle<()>>,
}

impl SyncHandle {
    pub fn trigger(&self) -> Trigger {
        self.trigger.clone()
    }

    /// Stops the threads and waits for attempts in flight to finish (a fetch from a dead
    /// server can take until its timeout).
    pub fn shutdown(mut self) {
        self.stop();
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a sync thread panicked");
            }
        }
    }

    fn stop(&self) {
        let shared = &self.trigger.shared;
        let mut state = lock(&shared.signal.state);
        state.stop = true;
        shared.signal.cond.notify_all();
    }
}

/// Dropping stops the threads after their current attempt without waiting for it, so a
/// process shutting down is never held by a slow remote.
impl Drop for SyncHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Worker {
    /// Attempts, then waits for the next poll (see [`schedule`](super::schedule)) or "sync
    /// now", whichever comes first, until stopped.
    fn run(&mut self, shared: &Shared) {
        let mut seen = lock(&shared.signal.state).generation;
        // Randomly keyed per thread: the jitter differs between sources and between replicas.
        let jitter = std::collections::hash_map::RandomState::new();
        let mut failures: u32 = 0;
        for round in 0u64.. {
            failures = if self.attempt(shared) {
                0
            } else {
                failures.saturating_add(1)
            };
            let seed = std::hash::BuildHasher::hash_one(&jitter, round);
            // A failure is retried after a backoff, but "sync now" still wakes the thread.
            let delay = super::schedule::next_delay(self.interval, failures, seed);
            let state = lock(&shared.signal.state);
            let (state, _) = match shared
                .signal
                .cond
                .wait_timeout_while(state, delay, |s| !s.stop && s.generation == seen)
            {
                Ok(woken) => woken,
                Err(poisoned) => poisoned.into_inner(),
            };
            if state.stop {
                return;
            }
            seen = state.generation;
        }
    }

    /// One attempt, with its status, metrics and logs. True on success.
    fn attempt(&mut self, shared: &Shared) -> bool {
        let name = self.sync.source.name.clone();
        let started = Instant::now();
        // A panic (a gix bug on odd repository data, say) fails this attempt, not the thread:
        // the source keeps being polled and the last good snapshot keeps serving.
        let attempt: std::thread::Result<report::Result> =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let label =
                    |r: &Option<crate::snapshot::SourceRevision>| r.as_ref().map(|r| r.label());
                let (merged, revision, commit, reparsed, failed_builds) = match self.sync.attempt()
                {
                    Ok(Outcome::Unchanged { .. }) => return Ok(None),
                    Ok(Outcome::Read {
                        state,
                        commit,
                        reparsed,
                    }) => {
                        let revision = label(&state.revision);
                        let failed = state
                            .findings
                            .failed_builds
                            .iter()
                            .map(|f| (f.build.clone(), f.message.clone()))
                            .collect();
                        (
                            shared.merger.whole(self.index, *state),
                            revision,
                            commit,
                            reparsed,
                            Some(failed),
                        )
                    }
                    Ok(Outcome::Delta {
                        delta,
                        commit,
                        reparsed,
                    }) => {
                        let revision = label(&delta.revision);
                        let merged = shared.merger.delta(&self.sync.source, *delta);
                        (merged, revision, commit, reparsed, None)
                    }
                    Err(e) => return Err(e),
                };
                match merged {
                    Ok(changes) => {
                        self.sync.mark_served(commit);
                        Ok(Some(report::NewRevision {
                            revision,
                            commit: commit.to_string(),
                            changes,
                            reparsed,
                            failed_builds,
                        }))
                    }
                    Err(e) => {
                        self.sync.mark_unserved();
                        Err(e)
                    }
                }
            }));
        if attempt.is_err() {
            // A panic may have left the declarer part-way through a delta.
            self.sync.mark_unserved();
        }
        let result = attempt.unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(Error::Panicked {
                source_name: name.clone(),
                message,
            })
        });
        let seconds = started.elapsed().as_secs_f64();
        report::attempt(&shared.status, &shared.metrics, &name, seconds, result)
    }
}
