//! From the files of a tree to a source's declared objects. Parsed files are remembered by
//! (path, blob id), so a new revision re-parses only what changed, and a file that stops parsing
//! keeps its last good objects (marked stale): a typo in Git never opens a door.

use std::collections::HashMap;
use std::sync::Arc;

use gix::ObjectId;

use crate::config::Source;
use crate::git::TreeFile;
use crate::manifest::parse::{self, FileError, FileObjects};
use crate::snapshot::{SourceRevision, SourceState};

/// Per-source memory between syncs.
#[derive(Debug, Default)]
pub struct Declarer {
    /// What each path of the last tree held, found by path without copying it: a sync after
    /// one changed file does a lookup per file, not an allocation.
    files: HashMap<String, FileEntry>,
    /// Counts `declare` calls; entries not seen by the current one are dropped.
    generation: u64,
    /// Blobs parsed by the last `declare` (cache misses), for logs and tests.
    pub last_parsed: usize,
    /// Rendered kustomizations by their inputs, and the limits a render runs under.
    pub renderer: crate::render::Renderer,
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

impl Declarer {
    /// Builds a source's state from its files; `read` fetches a blob's content on a cache miss.
    pub fn declare(
        &mut self,
        source: &Source,
        revision: SourceRevision,
        files: &[TreeFile],
        mut errors: Vec<FileError>,
        read: &dyn Fn(ObjectId) -> Result<Vec<u8>, String>,
    ) -> SourceState {
        let mut state = SourceState {
            name: source.name.clone(),
            default_namespace: source.default_namespace.clone(),
            revision: Some(revision),
            ..SourceState::default()
        };
        state.objects.reserve(files.len());
        self.last_parsed = 0;
        self.generation += 1;
        let generation = self.generation;
        let parse = |blob: ObjectId, path: &str| -> Parsed {
            let result = match read(blob) {
                Ok(bytes) => parse::parse_file(&source.name, path, &bytes),
                Err(message) => Err(FileError {
                    source: source.name.clone(),
                    file: path.to_string(),
                    line: 0,
                    message: format!("cannot read blob: {message}"),
                }),
            };
            Arc::new(result)
        };
        for file in files {
            if parse::is_kustomization_file(&file.path) {
                state.skipped_documents += 1;
                continue;
            }
            state.files_read += 1;
            let entry = match self.files.get_mut(&file.path) {
                Some(entry) => {
                    if entry.blob != file.blob {
                        self.last_parsed += 1;
                        entry.blob = file.blob;
                        entry.parsed = parse(file.blob, &file.path);
                    }
                    entry
                }
                None => {
                    self.last_parsed += 1;
                    self.files.entry(file.path.clone()).or_insert(FileEntry {
                        blob: file.blob,
                        parsed: parse(file.blob, &file.path),
                        last_good: None,
                        generation,
                    })
                }
            };
            entry.generation = generation;
            match &*entry.parsed {
                Ok(out) => {
                    state.skipped_documents += out.skipped_documents;
                    state.objects.extend(out.objects.iter().cloned());
                    entry.last_good = Some(entry.parsed.clone());
                }
                Err(e) => {
                    errors.push(e.clone());
                    if let Some(Ok(out)) = entry.last_good.as_deref() {
                        state
                            .objects
                            .extend(out.objects.iter().cloned().map(|mut o| {
                                o.stale = true;
                                o
                            }));
                    }
                }
            }
        }
        // Only what the current tree holds is kept, so memory follows the repository's size.
        self.files.retain(|_, entry| entry.generation == generation);
        state.errors = errors;
        state
    }
}
