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
    /// Parse results of the blobs in the last tree.
    parsed: HashMap<(String, ObjectId), Arc<Result<FileObjects, FileError>>>,
    /// The last successful parse of each path, for files that break later.
    last_good: HashMap<String, Arc<Result<FileObjects, FileError>>>,
    /// Blobs parsed by the last `declare` (cache misses), for logs and tests.
    pub last_parsed: usize,
    /// Rendered kustomizations by their inputs, and the limits a render runs under.
    pub renderer: crate::render::Renderer,
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
        let mut parsed = HashMap::with_capacity(files.len());
        let mut last_good = HashMap::with_capacity(files.len());
        self.last_parsed = 0;
        for file in files {
            if parse::is_kustomization_file(&file.path) {
                state.skipped_documents += 1;
                continue;
            }
            state.files_read += 1;
            let key = (file.path.clone(), file.blob);
            let result = match self.parsed.get(&key) {
                Some(hit) => hit.clone(),
                None => {
                    self.last_parsed += 1;
                    let result = match read(file.blob) {
                        Ok(bytes) => parse::parse_file(&source.name, &file.path, &bytes),
                        Err(message) => Err(FileError {
                            source: source.name.clone(),
                            file: file.path.clone(),
                            line: 0,
                            message: format!("cannot read blob: {message}"),
                        }),
                    };
                    Arc::new(result)
                }
            };
            match &*result {
                Ok(out) => {
                    state.skipped_documents += out.skipped_documents;
                    state.objects.extend(out.objects.iter().cloned());
                    last_good.insert(file.path.clone(), result.clone());
                }
                Err(e) => {
                    errors.push(e.clone());
                    if let Some(prev) = self.last_good.get(&file.path) {
                        if let Ok(out) = &**prev {
                            state
                                .objects
                                .extend(out.objects.iter().cloned().map(|mut o| {
                                    o.stale = true;
                                    o
                                }));
                        }
                        last_good.insert(file.path.clone(), prev.clone());
                    }
                }
            }
            parsed.insert(key, result);
        }
        // Only what the current tree holds is kept, so memory follows the repository's size.
        self.parsed = parsed;
        self.last_good = last_good;
        state.errors = errors;
        state
    }
}
