//! Reading a source's declared files at a revision, straight from the object database with gix:
//! no worktree is ever checked out, so what is compared is exactly what the commit holds.

use std::path::{Path, PathBuf};

use gix::bstr::ByteSlice;

use crate::config::Source;
use crate::manifest::parse::{self, FileError};
use crate::snapshot::{SourceRevision, SourceState};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("source {source_name}: cannot open repository {location}: {message}")]
    Open {
        source_name: String,
        location: String,
        message: String,
    },
    #[error("source {source_name}: cannot resolve ref {git_ref:?}: {message}")]
    Resolve {
        source_name: String,
        git_ref: String,
        message: String,
    },
    #[error("source {source_name}: path {path:?} is not in the tree at {commit}")]
    MissingPath {
        source_name: String,
        path: String,
        commit: String,
    },
    #[error("source {source_name}: cannot read the tree: {message}")]
    Read {
        source_name: String,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A file in the tree at the revision: its path from the repository root and its content.
#[derive(Debug, Clone)]
pub struct TreeFile {
    pub path: String,
    pub data: Vec<u8>,
    pub blob: gix::ObjectId,
}

/// Where a local source lives on disk: a path, or a `file://` URL.
pub fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(PathBuf::from(rest));
    }
    if url.contains("://") || url.starts_with("git@") {
        return None;
    }
    Some(PathBuf::from(url))
}

pub fn open(source: &Source, path: &Path) -> Result<gix::Repository> {
    gix::open(path).map_err(|e| Error::Open {
        source_name: source.name.clone(),
        location: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Resolves the configured ref (branch, tag, commit id, `HEAD`) to a commit.
pub fn resolve<'r>(repo: &'r gix::Repository, source: &Source) -> Result<gix::Commit<'r>> {
    let err = |message: String| Error::Resolve {
        source_name: source.name.clone(),
        git_ref: source.git_ref.clone(),
        message,
    };
    let spec = source.git_ref.as_str();
    let candidates = [
        spec.to_string(),
        format!("refs/heads/{spec}"),
        format!("refs/tags/{spec}"),
        format!("refs/remotes/origin/{spec}"),
    ];
    let mut last = String::from("not found");
    for candidate in candidates {
        match repo.rev_parse_single(candidate.as_str()) {
            Ok(id) => {
                let object = id.object().map_err(|e| err(e.to_string()))?;
                return object.peel_to_commit().map_err(|e| err(e.to_string()));
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(err(last))
}

/// Every file under the configured paths (whole tree when none), read from the object database.
/// Symlinks and submodules are not followed; a symlink named like a manifest is reported.
pub fn tree_files(
    repo: &gix::Repository,
    commit: &gix::Commit<'_>,
    source: &Source,
    errors: &mut Vec<FileError>,
) -> Result<Vec<TreeFile>> {
    let read_err = |message: String| Error::Read {
        source_name: source.name.clone(),
        message,
    };
    let tree = commit.tree().map_err(|e| read_err(e.to_string()))?;
    let mut recorder = gix::traverse::tree::Recorder::default();
    tree.traverse()
        .breadthfirst(&mut recorder)
        .map_err(|e| read_err(e.to_string()))?;
    let prefixes: Vec<String> = source
        .paths
        .iter()
        .map(|p| p.trim_matches('/').to_string())
        .filter(|p| !p.is_empty() && p != ".")
        .collect();
    for prefix in &prefixes {
        let found = recorder.records.iter().any(|e| {
            let path = e.filepath.to_str_lossy();
            path == prefix.as_str() || path.starts_with(&format!("{prefix}/"))
        });
        if !found {
            return Err(Error::MissingPath {
                source_name: source.name.clone(),
                path: prefix.clone(),
                commit: commit.id.to_string(),
            });
        }
    }
    let mut files = Vec::new();
    for entry in recorder.records {
        let path = entry.filepath.to_str_lossy().into_owned();
        let wanted = prefixes.is_empty()
            || prefixes
                .iter()
                .any(|p| path == *p || path.starts_with(&format!("{p}/")));
        if !wanted {
            continue;
        }
        let mode = entry.mode;
        if mode.is_tree() || mode.is_commit() {
            continue;
        }
        if mode.is_link() {
            if parse::is_manifest_path(&path) {
                errors.push(FileError {
                    source: source.name.clone(),
                    file: path,
                    line: 0,
                    message: "symlink: not followed (declare the file itself)".into(),
                });
            }
            continue;
        }
        if !parse::is_manifest_path(&path) && !parse::is_kustomization_file(&path) {
            continue;
        }
        let object = repo
            .find_object(entry.oid)
            .map_err(|e| read_err(format!("{path}: {e}")))?;
        files.push(TreeFile {
            path,
            data: object.data.clone(),
            blob: entry.oid,
        });
    }
    Ok(files)
}

/// Reads a local source at its ref: the files parsed into objects, errors listed per file.
pub fn read_local(source: &Source) -> Result<SourceState> {
    let path = local_path(&source.url).ok_or_else(|| Error::Open {
        source_name: source.name.clone(),
        location: source.url.clone(),
        message: "not a local path or file:// URL".into(),
    })?;
    let repo = open(source, &path)?;
    read_repo(&repo, source)
}

/// Reads an opened repository at the source's ref.
pub fn read_repo(repo: &gix::Repository, source: &Source) -> Result<SourceState> {
    let commit = resolve(repo, source)?;
    let mut state = SourceState {
        name: source.name.clone(),
        default_namespace: source.default_namespace.clone(),
        revision: Some(SourceRevision {
            source: source.name.clone(),
            git_ref: display_ref(repo, source),
            commit: commit.id.to_string(),
        }),
        ..SourceState::default()
    };
    let files = tree_files(repo, &commit, source, &mut state.errors)?;
    for file in files {
        if parse::is_kustomization_file(&file.path) {
            state.skipped_documents += 1;
            continue;
        }
        state.files_read += 1;
        match parse::parse_file(&source.name, &file.path, &file.data) {
            Ok(out) => {
                state.skipped_documents += out.skipped_documents;
                state.objects.extend(out.objects);
            }
            Err(e) => state.errors.push(e),
        }
    }
    Ok(state)
}

/// The ref as people know it: `HEAD` shows as the branch it points at.
fn display_ref(repo: &gix::Repository, source: &Source) -> String {
    if source.git_ref == "HEAD" {
        if let Ok(Some(name)) = repo.head_name() {
            return name.shorten().to_str_lossy().into_owned();
        }
    }
    source.git_ref.clone()
}
