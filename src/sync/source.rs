//! One sync attempt for one source, stages 1 to 3 of the pipeline: choose the commit (branch tip,
//! or the pinned revision) and fetch it into a local object database, read it, declare it. A
//! commit already served is not read again; a new one re-parses only the blobs that changed (see
//! [`declare`]).

use std::path::Path;

use super::declare::{self, Declared, Declarer};
use super::pin::PinReader;
use super::remote::{self, Location};
use super::{Error, Result};
use crate::config::Source;
use crate::git;
use crate::snapshot::{SourceDelta, SourceRevision, SourceState};

/// What an attempt found.
#[derive(Debug)]
pub enum Outcome {
    /// The commit is the one already served: nothing to rebuild.
    Unchanged { commit: gix::ObjectId },
    /// A state at a commit not served yet, with the number of blobs parsed for it.
    Read {
        state: Box<SourceState>,
        commit: gix::ObjectId,
        reparsed: usize,
    },
    /// What changed since the state served, when only some files changed (see
    /// [`declare::next`]).
    Delta {
        delta: Box<SourceDelta>,
        commit: gix::ObjectId,
        reparsed: usize,
    },
}

/// A source's memory between attempts.
#[derive(Debug)]
pub struct SourceSync {
    pub source: Source,
    location: Location,
    declarer: Declarer,
    pins: Option<PinReader>,
    /// Lets `revisionFrom` build its client lazily with this configuration (tests).
    kube_config: Option<kube::Config>,
    /// The commit whose state is being served; set by the engine once it is merged.
    served: Option<gix::ObjectId>,
    /// The branch the remote's `HEAD` pointed to at the last fetch, for labels.
    remote_branch: Option<String>,
    /// Whether attempts may return deltas: only when this source's state alone makes the
    /// snapshot, so the live snapshot is exactly what its declarer last built.
    incremental: bool,
    /// How the last attempt that read a commit read it.
    last_read: Option<ReadKind>,
}

/// How a commit was read: every file listed, or the diff from the served tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadKind {
    Whole,
    Delta,
}

impl SourceSync {
    pub fn new(source: Source, cache_dir: &Path, kube_config: Option<kube::Config>) -> SourceSync {
        SourceSync {
            location: remote::location(&source, cache_dir),
            source,
            declarer: Declarer::default(),
            pins: None,
            kube_config,
            served: None,
            remote_branch: None,
            incremental: false,
            last_read: None,
        }
    }

    /// Lets attempts return deltas against the served state (a single-source syncer).
    pub fn incremental(mut self) -> SourceSync {
        self.incremental = true;
        self
    }

    /// How the last read went (for the benchmark and tests).
    pub fn last_read(&self) -> Option<ReadKind> {
        self.last_read
    }

    /// The builds the last read rendered (none for a plain source).
    pub fn builds(&self) -> &[crate::render::build::Build] {
        self.declarer.renderer.memory.builds()
    }

    /// Blobs parsed by the last read (cache misses).
    pub fn last_parsed(&self) -> usize {
        self.declarer.last_parsed()
    }

    /// Records that the state at `commit` is now served, so an unchanged tip is skipped.
    pub fn mark_served(&mut self, commit: gix::ObjectId) {
        self.served = Some(commit);
    }

    /// Records that what the last attempt read was not served (the snapshot could not be
    /// built), so the next attempt reads the commit whole instead of as a delta.
    pub fn mark_unserved(&mut self) {
        self.declarer.forget_basis();
    }

    /// Fetches if needed and reads the chosen commit, unless it is the one already served.
    pub fn attempt(&mut self) -> Result<Outcome> {
        let (repo, commit_id) = self.choose()?;
        if self.served == Some(commit_id) {
            return Ok(Outcome::Unchanged { commit: commit_id });
        }
        let reparsed = |sync: &SourceSync| sync.declarer.last_parsed();
        if !self.incremental {
            let state = self.read(&repo, commit_id)?;
            self.last_read = Some(ReadKind::Whole);
            return Ok(Outcome::Read {
                state: Box::new(state),
                commit: commit_id,
                reparsed: reparsed(self),
            });
        }
        let (commit, revision) = self.commit_and_revision(&repo, commit_id)?;
        let declared = declare::next(&repo, &self.source, &commit, revision, &mut self.declarer);
        // Whatever went wrong, the declarer may be part-way: the next attempt reads whole.
        let declared = declared.inspect_err(|_| self.declarer.forget_basis())?;
        Ok(match declared {
            Declared::Whole(state) => {
                self.last_read = Some(ReadKind::Whole);
                Outcome::Read {
                    state: Box::new(state),
                    commit: commit_id,
                    reparsed: reparsed(self),
                }
            }
            Declared::Delta(delta) => {
                self.last_read = Some(ReadKind::Delta);
                Outcome::Delta {
                    delta: Box::new(delta),
                    commit: commit_id,
                    reparsed: reparsed(self),
                }
            }
        })
    }

    /// Fetches if needed and reads the chosen commit, whatever was served before (one-shot
    /// commands).
    pub fn read_current(&mut self) -> Result<SourceState> {
        let (repo, commit_id) = self.choose()?;
        self.read(&repo, commit_id)
    }

    /// The repository holding the commit to serve, and that commit.
    fn choose(&mut self) -> Result<(gix::Repository, gix::ObjectId)> {
        let pinned = self.pinned()?;
        let name = &self.source.name;
        let fetch = |source| Error::Fetch {
            source_name: name.clone(),
            source: Box::new(source),
        };
        match &self.location {
            Location::Local(path) => {
                let repo = git::open(path).map_err(self.git_error())?;
                let id = match pinned {
                    Some(id) if remote::has_commit(&repo, id) => id,
                    Some(id) => {
                        return Err(Error::PinnedMissing {
                            source_name: name.clone(),
                            commit: id.to_string(),
                            location: path.display().to_string(),
                        })
                    }
                    None => {
                        git::resolve(&repo, &self.source.git_ref)
                            .map_err(self.git_error())?
                            .id
                    }
                };
                Ok((repo, id))
            }
            Location::Remote { cache, .. } => {
                let repo = remote::open_cache(cache).map_err(fetch)?;
                let id = match pinned {
                    Some(id) if remote::has_commit(&repo, id) => id,
                    Some(id) => {
                        // Usually the tip of the tracked branch brings it (its error, if any,
                        // is superseded by fetching the commit by id); else ask by id.
                        if let Ok(tip) = remote::fetch_ref(&repo, &self.source) {
                            self.remote_branch = tip.branch;
                        }
                        remote::fetch_commit(&repo, &self.source, id).map_err(fetch)?
                    }
                    None => {
                        let tip = remote::fetch_ref(&repo, &self.source).map_err(fetch)?;
                        self.remote_branch = tip.branch;
                        tip.commit
                    }
                };
                Ok((repo, id))
            }
        }
    }

    fn git_error(&self) -> impl Fn(git::Error) -> Error + '_ {
        |source| Error::Git {
            source_name: self.source.name.clone(),
            source,
        }
    }

    fn read(&mut self, repo: &gix::Repository, commit_id: gix::ObjectId) -> Result<SourceState> {
        let (commit, revision) = self.commit_and_revision(repo, commit_id)?;
        declare::whole(repo, &self.source, &commit, revision, &mut self.declarer)
    }

    /// The commit, and its revision labelled with the ref people know (`HEAD` as its branch,
    /// a remote's `HEAD` as the branch it pointed to at the fetch).
    fn commit_and_revision<'r>(
        &self,
        repo: &'r gix::Repository,
        commit_id: gix::ObjectId,
    ) -> Result<(gix::Commit<'r>, SourceRevision)> {
        let commit = git::find_commit(repo, commit_id).map_err(self.git_error())?;
        let git_ref = match &self.location {
            Location::Local(_) => git::display_ref(repo, &self.source.git_ref),
            Location::Remote { .. } => self
                .remote_branch
                .clone()
                .unwrap_or_else(|| self.source.git_ref.clone()),
        };
        let revision = SourceRevision {
            source: self.source.name.clone(),
            git_ref,
            commit: commit.id.to_string(),
        };
        Ok((commit, revision))
    }

    /// The commit `revisionFrom` names, if the source is pinned.
    fn pinned(&mut self) -> Result<Option<gix::ObjectId>> {
        let Some(pin) = self.source.revision_from.clone() else {
            return Ok(None);
        };
        let pin_err = |source| Error::Pin {
            source_name: self.source.name.clone(),
            source,
        };
        if self.pins.is_none() {
            self.pins = Some(PinReader::new(self.kube_config.clone()).map_err(pin_err)?);
        }
        match &self.pins {
            Some(reader) => reader.read(&pin).map(Some).map_err(pin_err),
            None => Ok(None),
        }
    }
}
