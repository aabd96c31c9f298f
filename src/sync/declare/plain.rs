//! Plain files to a source's declared objects. Parsed files are remembered by (path, blob id), so
//! a new revision re-parses only what changed, and a file that stops parsing keeps its last good
//! objects (marked stale): a typo in Git never opens a door. Holding the whole tree's parses, the
//! cache can also apply a tree diff to the state it last built (see [`Files::update`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gix::ObjectId;

use super::scope::Classified;
use crate::config::Source;
use crate::git::{ReadBlob, TreeFile};
use crate::manifest::parse::{self, FileError, FileObjects, RawObject};
use crate::snapshot::{SourceDelta, SourceRevision, SourceState};

/// A source's parsed plain files, kept between syncs.
#[derive(Debug, Default)]
pub struct Files {
    /// What each path of the last tree held, found by path without copying it: a sync after
    /// one changed file does a lookup per file, not an allocation.
    files: HashMap<String, FileEntry>,
    /// Counts `declare` calls; entries not seen by the current one are dropped.
    generation: u64,
    /// Blobs parsed by the last `declare` (cache misses), for logs and tests.
    pub last_parsed: usize,
    /// Set when `files` describes a whole tree of a plain source and the live snapshot holds
    /// exactly its state: the next revision may then be read as a diff (see `update`).
    basis: Option<Basis>,
}

/// What a tree diff is applied to: the tree `files` describes, and the source-wide figures
/// that a diff adjusts instead of recounting 100,000 files.
#[derive(Debug, Clone)]
struct Basis {
    tree: ObjectId,
    /// The source's errors by path (files that do not parse, refused entries).
    errors: BTreeMap<String, FileError>,
    files_read: usize,
    skipped_documents: usize,
}

/// One path of a tree diff, as a plain source sees it on each side.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: String,
    pub before: Classified,
    pub after: Classified,
}

type Parsed = Arc<Result<FileObjects, FileError>>;

#[derive(Debug)]
struct FileEntry {
    blob: ObjectId,
    /// The parse result of `blob`.
    parsed: Parsed,
    /// The last successful parse of this path, for a file that breaks later.
    last_good: Option<Parsed>,
    generation: u64,
}

impl Files {
    /// Builds a source's state from its files; `read` fetches a blob's content on a cache miss.
    pub fn declare(
        &mut self,
        source: &Source,
        revision: SourceRevision,
        files: &[TreeFile],
        mut errors: Vec<FileError>,
        read: &ReadBlob<'_>,
    ) -> SourceState {
        let mut state = SourceState {
            name: source.name.clone(),
            default_namespace: source.default_namespace.clone(),
            revision: Some(revision),
            ..SourceState::default()
        };
        state.objects.reserve(files.len());
        self.last_parsed = 0;
        self.basis = None;
        self.generation += 1;
        let generation = self.generation;
        let mut fresh = self.parse_misses(source, files, read);
        for (file, fresh) in files.iter().zip(fresh.iter_mut()) {
            if parse::is_kustomization_file(&file.path) {
                state.skipped_documents += 1;
                continue;
            }
            state.files_read += 1;
            let entry = match (self.files.get_mut(&file.path), fresh.take()) {
                (Some(entry), Some(parsed)) => {
                    entry.blob = file.blob;
                    entry.parsed = parsed;
                    entry
                }
                (Some(entry), None) => entry,
                (None, parsed) => self.files.entry(file.path.clone()).or_insert(FileEntry {
                    blob: file.blob,
                    parsed: parsed.unwrap_or_else(|| {
                        Arc::new(parse_blob(source, &file.path, file.blob, read))
                    }),
                    last_good: None,
                    generation,
                }),
            };
            entry.generation = generation;
            entry.remember_good();
            match &*entry.parsed {
                Ok(out) => state.skipped_documents += out.skipped_documents,
                Err(e) => errors.push(e.clone()),
            }
            contribute(entry, &mut state.objects);
        }
        // Only what the current tree holds is kept, so memory follows the repository's size.
        self.files.retain(|_, entry| entry.generation == generation);
        state.errors = errors;
        state
    }
}

impl Files {
    /// Parses every file whose blob is not the one parsed for its path last time, on every
    /// core, in batches (so the blobs read ahead stay a few megabytes). The result is by
    /// position in `files`; `None` where the cache holds the parse.
    fn parse_misses(
        &mut self,
        source: &Source,
        files: &[TreeFile],
        read: &ReadBlob<'_>,
    ) -> Vec<Option<Parsed>> {
        const BATCH: usize = 4096;
        let mut fresh: Vec<Option<Parsed>> = vec![None; files.len()];
        let misses: Vec<usize> = files
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                !parse::is_kustomization_file(&f.path)
                    && self.files.get(&f.path).is_none_or(|e| e.blob != f.blob)
            })
            .map(|(i, _)| i)
            .collect();
        self.last_parsed = misses.len();
        for batch in misses.chunks(BATCH) {
            let mut inputs: Vec<(usize, Vec<u8>)> = Vec::with_capacity(batch.len());
            for &i in batch {
                let file = &files[i];
                match read(file.blob) {
                    Ok(bytes) => inputs.push((i, bytes)),
                    Err(error) => {
                        fresh[i] = Some(Arc::new(Err(unreadable(source, &file.path, &error))));
                    }
                }
            }
            let texts: Vec<(&str, Vec<u8>)> = inputs
                .iter_mut()
                .map(|(i, bytes)| (files[*i].path.as_str(), std::mem::take(bytes)))
                .collect();
            let parsed = crate::manifest::batch::parse_all(&source.name, &texts);
            for ((i, _), result) in inputs.iter().zip(parsed) {
                fresh[*i] = Some(Arc::new(result));
            }
        }
        fresh
    }

    /// Records that `files` now describes the whole tree `tree` and that the state just built
    /// from it (`state`) is what the live snapshot holds, so the next revision may be a diff.
    /// Only plain sources qualify: a kustomization's output depends on files outside it.
    pub fn keep_basis(&mut self, tree: ObjectId, state: &SourceState) {
        self.basis = Some(Basis {
            tree,
            errors: state
                .errors
                .iter()
                .map(|e| (e.file.clone(), e.clone()))
                .collect(),
            files_read: state.files_read,
            skipped_documents: state.skipped_documents,
        });
    }

    /// Forgets the basis: the snapshot no longer matches it (a merge failed), so the next
    /// revision is read whole.
    pub fn forget_basis(&mut self) {
        self.basis = None;
    }

    /// The tree a diff must start from, if there is a basis.
    pub fn basis_tree(&self) -> Option<ObjectId> {
        self.basis.as_ref().map(|b| b.tree)
    }

    /// Applies a tree diff: re-parses the changed files only, and says which objects they
    /// declared before and declare now. `None` when the diff cannot be applied as a delta
    /// (no basis; a CRD involved, which changes other objects' scope): read the tree whole.
    pub fn update(
        &mut self,
        source: &Source,
        revision: SourceRevision,
        tree: ObjectId,
        changes: &[FileChange],
        read: &ReadBlob<'_>,
    ) -> Option<SourceDelta> {
        let basis = self.basis.as_ref()?;
        // Parse first and touch nothing until the diff is known to apply.
        let mut parsed: Vec<Option<Parsed>> = Vec::with_capacity(changes.len());
        let mut reparsed = 0;
        for change in changes {
            let now = match change.after {
                Classified::File(blob) if !parse::is_kustomization_file(&change.path) => {
                    Some(match self.files.get(&change.path) {
                        Some(entry) if entry.blob == blob => entry.parsed.clone(),
                        _ => {
                            reparsed += 1;
                            Arc::new(parse_blob(source, &change.path, blob, read))
                        }
                    })
                }
                _ => None,
            };
            // A file that breaks gives its last good objects, already checked as `before`.
            let before_crd = self
                .files
                .get(&change.path)
                .is_some_and(FileEntry::declares_crd);
            let now_crd = now
                .as_deref()
                .is_some_and(|p| matches!(p, Ok(out) if out.objects.iter().any(is_crd)));
            if before_crd || now_crd {
                return None;
            }
            parsed.push(now);
        }
        let mut basis = basis.clone();
        let mut delta = SourceDelta {
            revision: Some(revision),
            before_files_read: basis.files_read,
            before_skipped_documents: basis.skipped_documents,
            ..SourceDelta::default()
        };
        for (change, now) in changes.iter().zip(parsed) {
            let path = &change.path;
            basis.errors.remove(path);
            let kustomization = parse::is_kustomization_file(path);
            if kustomization && matches!(change.before, Classified::File(_)) {
                basis.skipped_documents = basis.skipped_documents.saturating_sub(1);
            }
            let mut last_good = None;
            if let Some(entry) = self.files.remove(path) {
                basis.files_read = basis.files_read.saturating_sub(1);
                if let Ok(out) = &*entry.parsed {
                    basis.skipped_documents = basis
                        .skipped_documents
                        .saturating_sub(out.skipped_documents);
                }
                contribute(&entry, &mut delta.removed);
                last_good = entry.last_good;
            }
            match (&change.after, now) {
                (Classified::File(blob), Some(parsed)) => {
                    let mut entry = FileEntry {
                        blob: *blob,
                        parsed,
                        last_good,
                        generation: self.generation,
                    };
                    basis.files_read += 1;
                    entry.remember_good();
                    match &*entry.parsed {
                        Ok(out) => basis.skipped_documents += out.skipped_documents,
                        Err(e) => {
                            basis.errors.insert(path.clone(), e.clone());
                        }
                    }
                    contribute(&entry, &mut delta.added);
                    self.files.insert(path.clone(), entry);
                }
                (Classified::File(_), None) if kustomization => basis.skipped_documents += 1,
                (Classified::Refused(error), _) => {
                    basis.errors.insert(path.clone(), error.clone());
                }
                _ => {}
            }
        }
        basis.tree = tree;
        delta.errors = basis.errors.values().cloned().collect();
        delta.files_read = basis.files_read;
        delta.skipped_documents = basis.skipped_documents;
        self.basis = Some(basis);
        self.last_parsed = reparsed;
        Some(delta)
    }
}

fn parse_blob(
    source: &Source,
    path: &str,
    blob: ObjectId,
    read: &ReadBlob<'_>,
) -> Result<FileObjects, FileError> {
    match read(blob) {
        Ok(bytes) => parse::parse_manifest(&source.name, path, &bytes),
        Err(error) => Err(unreadable(source, path, &error)),
    }
}

/// A blob that cannot be read is that file's error, listed with the others; the text is
/// written here because a file's error is shown as it is (`index`, `/readyz`).
fn unreadable(source: &Source, path: &str, error: &crate::git::Error) -> FileError {
    FileError {
        source: source.name.clone(),
        file: path.to_string(),
        line: 0,
        message: crate::text::chain(error).to_string(),
    }
}

/// Adds the objects a file gives the snapshot: what it holds, or, while it does not parse, its
/// last good objects marked stale.
fn contribute(entry: &FileEntry, into: &mut Vec<RawObject>) {
    match (&*entry.parsed, entry.last_good.as_deref()) {
        (Ok(out), _) => into.extend(out.objects.iter().cloned()),
        (Err(_), Some(Ok(out))) => into.extend(out.objects.iter().cloned().map(|mut o| {
            o.stale = true;
            o
        })),
        (Err(_), _) => {}
    }
}

impl FileEntry {
    /// Remembers a successful parse as the path's last good one, for when the file breaks.
    fn remember_good(&mut self) {
        if self.parsed.is_ok() {
            self.last_good = Some(self.parsed.clone());
        }
    }

    /// Whether what the file gives the snapshot includes a CRD (which scopes other objects).
    fn declares_crd(&self) -> bool {
        let mut objects = Vec::new();
        contribute(self, &mut objects);
        objects.iter().any(is_crd)
    }
}

fn is_crd(object: &RawObject) -> bool {
    object.kind == "CustomResourceDefinition"
        && object.api_version.starts_with("apiextensions.k8s.io/")
}
