//! Reading a source's declared files at a revision, straight from the object database with gix:
//! no worktree is ever checked out, so what is compared is exactly what the commit holds.

use std::path::{Path, PathBuf};

use gix::bstr::ByteSlice;

use crate::config::{Render, Source};
use crate::declare::{Declarer, FileChange};
use crate::manifest::parse::{self, FileError};
use crate::render::plan::is_within;
use crate::snapshot::{SourceDelta, SourceRevision, SourceState};

mod diff;

pub use crate::tree::{Classified, EntryKind, TreeEntry, TreeFile};

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
    #[error(transparent)]
    Render(#[from] crate::render::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

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

/// The commit (hex) a branch, tag or revision name resolves to, as `resolve` looks a ref up.
fn resolve_name(repo: &gix::Repository, name: &str) -> Option<String> {
    [
        name.to_string(),
        format!("refs/heads/{name}"),
        format!("refs/tags/{name}"),
        format!("refs/remotes/origin/{name}"),
    ]
    .iter()
    .find_map(|candidate| {
        let id = repo.rev_parse_single(candidate.as_str()).ok()?;
        let commit = id.object().ok()?.peel_to_commit().ok()?;
        Some(commit.id.to_string())
    })
}

/// Every entry of the commit's tree, breadth-first, from the object database.
/// Returns the root tree's id with them (the root is not among the recorded entries).
fn walk_tree(
    commit: &gix::Commit<'_>,
    source: &Source,
) -> Result<(gix::ObjectId, gix::traverse::tree::Recorder)> {
    let read_err = |message: String| Error::Read {
        source_name: source.name.clone(),
        message,
    };
    let tree = commit.tree().map_err(|e| read_err(e.to_string()))?;
    let mut recorder = gix::traverse::tree::Recorder::default();
    tree.traverse()
        .breadthfirst(&mut recorder)
        .map_err(|e| read_err(e.to_string()))?;
    Ok((tree.id, recorder))
}

/// Every file under the configured paths (whole tree when none), read from the object database.
/// Symlinks and submodules are not followed; a symlink named like a manifest is reported.
pub fn tree_files(
    commit: &gix::Commit<'_>,
    source: &Source,
    errors: &mut Vec<FileError>,
) -> Result<Vec<TreeFile>> {
    let (_, recorder) = walk_tree(commit, source)?;
    let prefixes = scope_prefixes(source);
    for prefix in &prefixes {
        let found = recorder
            .records
            .iter()
            .any(|e| is_within(&e.filepath.to_str_lossy(), prefix));
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
        if !in_scope(&path, &prefixes) {
            continue;
        }
        match classify(&path, kind_of(entry.mode), entry.oid, source) {
            Classified::File(blob) => files.push(TreeFile { path, blob }),
            Classified::Refused(error) => errors.push(error),
            Classified::Ignored => {}
        }
    }
    Ok(files)
}

/// The configured paths as tree prefixes; none means the whole tree.
fn scope_prefixes(source: &Source) -> Vec<String> {
    source
        .paths
        .iter()
        .map(|p| p.trim_matches('/').to_string())
        .filter(|p| !p.is_empty() && p != ".")
        .collect()
}

fn in_scope(path: &str, prefixes: &[String]) -> bool {
    prefixes.is_empty() || prefixes.iter().any(|p| is_within(path, p))
}

/// Classifies one entry the same way for a whole-tree read and for a tree diff, so both give
/// the same state.
pub fn classify(path: &str, kind: EntryKind, id: gix::ObjectId, source: &Source) -> Classified {
    let refused = |message: String| {
        if parse::is_manifest_path(path) {
            Classified::Refused(FileError {
                source: source.name.clone(),
                file: path.to_string(),
                line: 0,
                message,
            })
        } else {
            Classified::Ignored
        }
    };
    match kind {
        EntryKind::Tree | EntryKind::Other => return Classified::Ignored,
        EntryKind::Blob | EntryKind::Link => {}
    }
    if let Some(part) = unsafe_component(path) {
        return refused(format!(
            "path component {part:?} is refused: git will not check it out, so no GitOps controller applies it"
        ));
    }
    if kind == EntryKind::Link {
        return refused("symlink: not followed (declare the file itself)".into());
    }
    if !parse::is_manifest_path(path) && !parse::is_kustomization_file(path) {
        return Classified::Ignored;
    }
    Classified::File(id)
}

/// A component that git itself refuses to check out (`..`, `.`, `.git`, empty): such entries
/// only exist in crafted commits, and declaring them would guard objects nobody can apply.
fn unsafe_component(path: &str) -> Option<&str> {
    path.split('/')
        .find(|c| c.is_empty() || *c == "." || *c == ".." || c.eq_ignore_ascii_case(".git"))
}

/// Drops entries under a path git would refuse (see [`unsafe_component`]); the manifests among
/// them are reported, so a crafted commit shows in the snapshot's errors.
fn refuse_unsafe(entries: Vec<TreeEntry>, source: &Source) -> (Vec<TreeEntry>, Vec<FileError>) {
    let mut refused = Vec::new();
    let kept = entries
        .into_iter()
        .filter(|e| {
            // The root tree's path is empty and is the one entry allowed to be.
            let Some(part) = (!e.path.is_empty()).then(|| unsafe_component(&e.path)).flatten()
            else {
                return true;
            };
            if e.kind == EntryKind::Blob && parse::is_manifest_path(&e.path) {
                refused.push(FileError {
                    source: source.name.clone(),
                    file: e.path.clone(),
                    line: 0,
                    message: format!(
                        "path component {part:?} is refused: git will not check it out, so no GitOps controller applies it"
                    ),
                });
            }
            false
        })
        .collect();
    (kept, refused)
}

/// Every entry of the commit's tree, breadth-first, read from the object database.
pub fn tree_entries(commit: &gix::Commit<'_>, source: &Source) -> Result<Vec<TreeEntry>> {
    let (root, recorder) = walk_tree(commit, source)?;
    let mut entries = Vec::with_capacity(recorder.records.len() + 1);
    entries.push(TreeEntry {
        path: String::new(),
        id: root,
        kind: EntryKind::Tree,
    });
    entries.extend(recorder.records.into_iter().map(|e| TreeEntry {
        path: e.filepath.to_str_lossy().into_owned(),
        id: e.oid,
        kind: kind_of(e.mode),
    }));
    Ok(entries)
}

fn kind_of(mode: gix::object::tree::EntryMode) -> EntryKind {
    if mode.is_tree() {
        EntryKind::Tree
    } else if mode.is_blob() {
        EntryKind::Blob
    } else if mode.is_link() {
        EntryKind::Link
    } else {
        EntryKind::Other
    }
}

/// Reads a blob's content from the object database.
pub fn read_blob(repo: &gix::Repository, id: gix::ObjectId) -> Result<Vec<u8>, String> {
    repo.find_object(id)
        .map(|o| o.data.clone())
        .map_err(|e| e.to_string())
}

/// Reads a local source at its ref: the files parsed into objects, errors listed per file.
pub fn read_local(source: &Source) -> Result<SourceState> {
    let path = local_path(&source.url).ok_or_else(|| Error::Open {
        source_name: source.name.clone(),
        location: source.url.clone(),
        message: "not a local path or file:// URL".into(),
    })?;
    let repo = open(source, &path)?;
    read_repo(&repo, source, &mut Declarer::default())
}

/// Reads an opened repository at the source's ref. `declarer` keeps parsed files between
/// calls, so a later revision re-parses only the blobs that changed.
pub fn read_repo(
    repo: &gix::Repository,
    source: &Source,
    declarer: &mut Declarer,
) -> Result<SourceState> {
    let commit = resolve(repo, source)?;
    read_commit(repo, source, &commit, display_ref(repo, source), declarer)
}

/// A commit's declared state: whole, or as what changed since the declarer's basis.
#[derive(Debug)]
pub enum Read {
    Whole(SourceState),
    Delta(SourceDelta),
}

/// `read_commit`, but as a delta when the declarer holds a basis (the state the live snapshot
/// was built from) and the source is plain: only the directories on the changed paths are read
/// and only the changed files parsed, so a one-file commit costs the same at any repository size.
pub fn read_commit_delta(
    repo: &gix::Repository,
    source: &Source,
    commit: &gix::Commit<'_>,
    git_ref: String,
    declarer: &mut Declarer,
) -> Result<Read> {
    if let Some(old) = declarer.basis_tree() {
        let new = tree_id(commit, source)?;
        if let Some(changes) = plain_changes(repo, source, old, new)? {
            let revision = SourceRevision {
                source: source.name.clone(),
                git_ref: git_ref.clone(),
                commit: commit.id.to_string(),
            };
            let read = |id| read_blob(repo, id);
            if let Some(delta) = declarer.update(source, revision, new, &changes, &read) {
                return Ok(Read::Delta(delta));
            }
        }
    }
    read_commit(repo, source, commit, git_ref, declarer).map(Read::Whole)
}

fn tree_id(commit: &gix::Commit<'_>, source: &Source) -> Result<gix::ObjectId> {
    commit
        .tree_id()
        .map(|id| id.detach())
        .map_err(|e| Error::Read {
            source_name: source.name.clone(),
            message: e.to_string(),
        })
}

/// The diff between two trees as a plain source sees it, or `None` when it must be read whole:
/// a kustomization appeared, changed or went (under `render: auto` it decides what is plain),
/// or a configured path is gone (the whole read reports it).
fn plain_changes(
    repo: &gix::Repository,
    source: &Source,
    old: gix::ObjectId,
    new: gix::ObjectId,
) -> Result<Option<Vec<FileChange>>> {
    let read_err = |message: String| Error::Read {
        source_name: source.name.clone(),
        message,
    };
    let changes = diff::changes(repo, old, new).map_err(read_err)?;
    let prefixes = scope_prefixes(source);
    let renders = crate::render::applies(source);
    let mut out = Vec::with_capacity(changes.len());
    let mut deleted = false;
    for change in changes {
        if renders && parse::is_kustomization_file(&change.path) {
            return Ok(None);
        }
        if !in_scope(&change.path, &prefixes) {
            continue;
        }
        deleted |= change.after.is_none();
        let side = |side: Option<diff::Side>| {
            side.map_or(Classified::Ignored, |s| {
                classify(&change.path, s.kind, s.id, source)
            })
        };
        out.push(FileChange {
            before: side(change.before),
            after: side(change.after),
            path: change.path,
        });
    }
    if deleted && !prefixes.is_empty() {
        let tree = repo.find_tree(new).map_err(|e| read_err(e.to_string()))?;
        for prefix in &prefixes {
            let found = tree
                .lookup_entry_by_path(prefix)
                .map_err(|e| read_err(e.to_string()))?;
            if found.is_none() {
                return Ok(None);
            }
        }
    }
    Ok(Some(out))
}

/// Whether the state just read whole can be the basis of a later diff: plain reading only
/// (`render: auto` qualifies while the tree holds no kustomization).
fn plain_basis(source: &Source, entries: Option<&[TreeEntry]>) -> bool {
    if source.discover.is_some() {
        return false;
    }
    match source.render {
        Render::Plain => true,
        Render::Kustomize => false,
        Render::Auto => entries.is_some_and(|entries| {
            !entries
                .iter()
                .any(|e| parse::is_kustomization_file(&e.path))
        }),
    }
}

/// Reads an opened repository at a commit already chosen (fetched tip, pinned revision);
/// `git_ref` is how the revision is labelled (`main` in `main@sha1:…`).
pub fn read_commit(
    repo: &gix::Repository,
    source: &Source,
    commit: &gix::Commit<'_>,
    git_ref: String,
    declarer: &mut Declarer,
) -> Result<SourceState> {
    let revision = SourceRevision {
        source: source.name.clone(),
        git_ref,
        commit: commit.id.to_string(),
    };
    declare_commit(repo, source, commit, revision, declarer)
}

/// The declared state of one commit: its manifests read as plain files, or, when the source
/// renders (`render`, `discover`), its kustomizations built from the whole tree.
pub fn declare_commit(
    repo: &gix::Repository,
    source: &Source,
    commit: &gix::Commit<'_>,
    revision: SourceRevision,
    declarer: &mut Declarer,
) -> Result<SourceState> {
    let read = |id| read_blob(repo, id);
    let tree = tree_id(commit, source)?;
    if crate::render::applies(source) {
        let (entries, refused) = refuse_unsafe(tree_entries(commit, source)?, source);
        let resolve = |name: &str| resolve_name(repo, name);
        let mut state =
            crate::render::declare(source, revision, &entries, declarer, &read, &resolve)?;
        state.errors.extend(refused);
        if plain_basis(source, Some(&entries)) {
            declarer.keep_basis(tree, &state);
        }
        return Ok(state);
    }
    let mut errors = Vec::new();
    let files = tree_files(commit, source, &mut errors)?;
    let state = declarer.declare(source, revision, &files, errors, &read);
    if plain_basis(source, None) {
        declarer.keep_basis(tree, &state);
    }
    Ok(state)
}

/// The commit with this id, for a revision that was fetched or pinned by id.
pub fn find_commit<'r>(
    repo: &'r gix::Repository,
    source: &Source,
    id: gix::ObjectId,
) -> Result<gix::Commit<'r>> {
    let err = |message: String| Error::Resolve {
        source_name: source.name.clone(),
        git_ref: id.to_string(),
        message,
    };
    let object = repo.find_object(id).map_err(|e| err(e.to_string()))?;
    object.peel_to_commit().map_err(|e| err(e.to_string()))
}

/// The ref as people know it: `HEAD` shows as the branch it points at.
pub fn display_ref(repo: &gix::Repository, source: &Source) -> String {
    if source.git_ref == "HEAD" {
        if let Ok(Some(name)) = repo.head_name() {
            return name.shorten().to_str_lossy().into_owned();
        }
    }
    source.git_ref.clone()
}
