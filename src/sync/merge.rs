//! The snapshot stage of a sync: a source's new state (or delta) becomes the live snapshot.
//! The last good state of every source is merged into a new `Snapshot` and stored whole in
//! `Live`: a request sees the old snapshot or the new one, never a mix, and never waits. A
//! state that cannot be merged (a key declared twice) leaves the previous snapshot serving.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use super::changes::{self, Changes};
use super::Error;
use crate::config::Source;
use crate::snapshot::{Live, Snapshot, SourceDelta, SourceState};

/// The snapshot stage's memory, shared by the sources' threads.
#[derive(Debug)]
pub struct Merger {
    live: Arc<Live>,
    /// The last good state of each source, in configuration order, for rebuilding the merged
    /// snapshot when another source changes (unused with a single source).
    good: Mutex<Vec<Option<SourceState>>>,
    /// Kinds whose plural resource is a guess, already warned about (once per kind).
    guessed: Mutex<HashSet<(String, String)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind; keep using it.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Merger {
    pub fn new(live: Arc<Live>, sources: usize) -> Merger {
        Merger {
            live,
            good: Mutex::new(vec![None; sources]),
            guessed: Mutex::default(),
        }
    }

    pub fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// Stores `state` as source `index`'s last good state and, once every source has one,
    /// builds and swaps in the merged snapshot. A snapshot that cannot be built leaves the
    /// previous state and snapshot in place.
    pub fn whole(&self, index: usize, state: SourceState) -> Result<Changes, Error> {
        let mut good = lock(&self.good);
        let name = state.name.clone();
        let objects = state.objects.len();
        let file_errors = state.errors.len();
        // With one source nothing else ever rebuilds from its state: build from it directly,
        // and keep no copy (a failed build leaves the live snapshot, which is all that is needed).
        let old = self.live.load();
        let (built, previous) = if good.len() == 1 {
            (Snapshot::rebuild(vec![state], old.as_deref()), None)
        } else {
            let previous = good.get_mut(index).and_then(|slot| slot.replace(state));
            if good.iter().any(Option::is_none) {
                return Ok(Changes {
                    added: objects,
                    total: objects,
                    file_errors,
                    ..Changes::default()
                });
            }
            let states: Vec<SourceState> = good.iter().flatten().cloned().collect();
            (Snapshot::rebuild(states, old.as_deref()), previous)
        };
        match built {
            Ok(snapshot) => {
                let changes = Changes {
                    file_errors,
                    ..changes::count(old.as_deref(), &snapshot, &name)
                };
                let first = old.is_none().then(|| {
                    (
                        snapshot.revision_label().to_string(),
                        snapshot.len(),
                        snapshot.errors.clone(),
                    )
                });
                self.warn_guessed_plurals(&snapshot);
                self.live.store(Arc::new(snapshot));
                if let Some((revision, objects, errors)) = first {
                    for error in &errors {
                        tracing::warn!(file = %error.file, line = error.line, "skipped: {}", error.message);
                    }
                    tracing::info!(revision, objects, "declared state loaded; ready");
                }
                Ok(changes)
            }
            Err(e) => {
                if let Some(slot) = good.get_mut(index) {
                    *slot = previous;
                }
                Err(Error::Snapshot {
                    source_name: name,
                    source: e,
                })
            }
        }
    }

    /// Applies one source's delta to the live snapshot (single-source syncers only, see
    /// `SourceSync::incremental`) and swaps in the result.
    pub fn delta(&self, source: &Source, delta: SourceDelta) -> Result<Changes, Error> {
        let _serialised = lock(&self.good);
        let file_errors = delta.errors.len();
        let Some(old) = self.live.load() else {
            return Err(Error::NoBasis {
                source_name: source.name.clone(),
            });
        };
        let (snapshot, touched) = old
            .apply(&source.name, &source.default_namespace, delta)
            .map_err(|e| Error::Snapshot {
                source_name: source.name.clone(),
                source: e,
            })?;
        let changes = Changes {
            file_errors,
            ..changes::count_keys(&old, &snapshot, &source.name, &touched)
        };
        self.live.store(Arc::new(snapshot));
        Ok(changes)
    }

    /// Warns once per kind whose plural resource (for `*/scale` requests and `webhook-config`)
    /// is a guess: neither built in, nor a CRD in Git, nor a kind driftgate knows. Checked when
    /// a revision is read whole (a delta's new kinds are seen at the next whole read).
    fn warn_guessed_plurals(&self, snapshot: &Snapshot) {
        let guesses = crate::kinds::guessed(
            &snapshot.catalog,
            snapshot
                .objects()
                .map(|o| (o.key.group.as_str(), o.key.kind.as_str(), &*o.file, o.line)),
        );
        let mut warned = lock(&self.guessed);
        for guess in guesses {
            if warned.insert((guess.group.clone(), guess.kind.clone())) {
                tracing::warn!(file = %guess.file, line = guess.line, "{}", guess.message());
            }
        }
    }
}
