//! The source's files at the revision the snapshot was read at (from the object database, the
//! same repository or cache `check` and `serve` read), and the set of files a suggestion
//! changes on top of them.

use std::collections::BTreeMap;

use gix::ObjectId;

use super::Error;
use crate::config::{Config, Source};
use crate::git::{self, EntryKind};
use crate::render::plan::TreeIndex;
use crate::snapshot::Snapshot;
use crate::sync::remote::{self, Location};

/// One source's tree at the snapshot's commit.
pub struct Checkout {
    pub source: Source,
    repo: gix::Repository,
    pub commit: ObjectId,
    pub index: TreeIndex,
    /// Where the repository is on disk (a local source's directory, or the bare cache).
    pub location: std::path::PathBuf,
}

impl std::fmt::Debug for Checkout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkout")
            .field("source", &self.source.name)
            .field("commit", &self.commit)
            .finish()
    }
}

impl Checkout {
    /// The source named `name`, at the commit `snapshot` holds for it.
    pub fn open(config: &Config, snapshot: &Snapshot, name: &str) -> Result<Checkout, Error> {
        let source = config
            .sources
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .ok_or_else(|| Error::NoSource(name.to_string()))?;
        let revision = snapshot
            .revisions
            .iter()
            .find(|r| r.source == name)
            .ok_or_else(|| Error::NotRead(name.to_string()))?;
        let (repo, location) = open_repo(config, &source)?;
        let commit = commit_id(&source, &revision.commit)?;
        let entries = {
            let git = git_error(&source);
            let found = git::find_commit(&repo, commit).map_err(&git)?;
            git::entries(&found).map_err(&git)?
        };
        Ok(Checkout {
            index: TreeIndex::new(&entries),
            source,
            repo,
            commit,
            location,
        })
    }

    /// A blob's content.
    pub fn read_blob(&self, id: ObjectId) -> Result<Vec<u8>, git::Error> {
        git::read_blob(&self.repo, id)
    }

    /// The text of the file at `path`; `None` when the tree has no such file.
    pub fn read(&self, path: &str) -> Result<Option<String>, Error> {
        let Some((EntryKind::Blob, id)) = self.index.get(path) else {
            return Ok(None);
        };
        let bytes = self.read_blob(id).map_err(git_error(&self.source))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| Error::NotText {
                path: path.to_string(),
            })
    }
}

/// The repository a source is read from: its directory, or the bare cache a remote one is
/// fetched into (never fetched here).
pub fn open_repo(
    config: &Config,
    source: &Source,
) -> Result<(gix::Repository, std::path::PathBuf), Error> {
    match remote::location(source, &config.cache_dir) {
        Location::Local(path) => Ok((git::open(&path).map_err(git_error(source))?, path)),
        Location::Remote { cache, .. } => {
            let repo = remote::open_cache(&cache).map_err(|e| Error::Cache {
                source_name: source.name.clone(),
                source: Box::new(e),
            })?;
            Ok((repo, cache))
        }
    }
}

/// The commit a revision names (its full hex id).
pub fn commit_id(source: &Source, commit: &str) -> Result<ObjectId, Error> {
    ObjectId::from_hex(commit.as_bytes()).map_err(|e| Error::Revision {
        source_name: source.name.clone(),
        commit: commit.to_string(),
        source: e,
    })
}

/// A Git error of `source`.
pub fn git_error(source: &Source) -> impl Fn(git::Error) -> Error + '_ {
    |e| Error::Git {
        source_name: source.name.clone(),
        source: e,
    }
}

/// The files a suggestion writes: new contents by path (`None`: deleted), on top of a checkout.
#[derive(Debug, Clone)]
pub struct Files<'c> {
    pub base: &'c Checkout,
    changed: BTreeMap<String, Option<String>>,
    /// Other objects whose declaration the change also touches (the Flux Kustomization
    /// whose variable it sets), with what changes there.
    pub also: Vec<(crate::manifest::ObjectKey, String)>,
}

/// One changed file: before and after (`None` when it does not exist on that side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl<'c> Files<'c> {
    pub fn new(base: &'c Checkout) -> Files<'c> {
        Files {
            base,
            changed: BTreeMap::new(),
            also: Vec::new(),
        }
    }

    /// The file as the suggestion has it so far.
    pub fn read(&self, path: &str) -> Result<Option<String>, Error> {
        match self.changed.get(path) {
            Some(content) => Ok(content.clone()),
            None => self.base.read(path),
        }
    }

    pub fn write(&mut self, path: &str, content: String) {
        self.changed.insert(path.to_string(), Some(content));
    }

    pub fn delete(&mut self, path: &str) {
        self.changed.insert(path.to_string(), None);
    }

    pub fn exists(&self, path: &str) -> bool {
        match self.changed.get(path) {
            Some(content) => content.is_some(),
            None => self.base.index.get(path).is_some(),
        }
    }

    /// The files written or deleted so far, with their new content (`None`: deleted).
    pub fn pending(&self) -> impl Iterator<Item = (&String, Option<&str>)> {
        self.changed.iter().map(|(p, c)| (p, c.as_deref()))
    }

    /// Every file that ends up different, in path order.
    pub fn changes(&self) -> Result<Vec<FileChange>, Error> {
        let mut out = Vec::new();
        for (path, after) in &self.changed {
            let before = self.base.read(path)?;
            if &before != after {
                out.push(FileChange {
                    path: path.clone(),
                    before,
                    after: after.clone(),
                });
            }
        }
        Ok(out)
    }
}
