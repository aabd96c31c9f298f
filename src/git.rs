//! The read stage of a sync: a repository read with gix, straight from the object database. No
//! worktree is ever checked out, so what is read is exactly what the commit holds. It opens a
//! repository, resolves a ref, lists a commit's tree, reads blobs and diffs two trees; what the
//! files mean (manifests, builds, a source's paths) is the declare stage's (`sync::declare`).

use std::path::{Path, PathBuf};

use gix::bstr::ByteSlice;
use gix::ObjectId;

pub mod diff;
pub mod entries;

pub use entries::{is_within, EntryKind, TreeEntry, TreeFile};

/// What reading a repository fails with; gix's error is the cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open repository {location}")]
    Open {
        location: PathBuf,
        #[source]
        source: gix::Error,
    },
    #[error("cannot resolve ref {git_ref:?}")]
    Resolve {
        git_ref: String,
        #[source]
        source: gix::Error,
    },
    #[error("cannot read commit {id}")]
    Commit {
        id: ObjectId,
        #[source]
        source: gix::Error,
    },
    #[error("cannot read the tree")]
    Tree(#[source] gix::Error),
    #[error("cannot read blob {id}")]
    Blob {
        id: ObjectId,
        #[source]
        source: gix::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the later stages read a blob: from the repository, or (in tests) from anywhere.
pub type ReadBlob<'a> = dyn Fn(ObjectId) -> Result<Vec<u8>> + 'a;

pub fn open(path: &Path) -> Result<gix::Repository> {
    gix::open(path).map_err(|source| Error::Open {
        location: path.to_path_buf(),
        source,
    })
}

/// The names a ref is looked up as, in order.
fn candidates(name: &str) -> [String; 4] {
    [
        name.to_string(),
        format!("refs/heads/{name}"),
        format!("refs/tags/{name}"),
        format!("refs/remotes/origin/{name}"),
    ]
}

/// Resolves a ref (branch, tag, commit id, `HEAD`) to a commit.
pub fn resolve<'r>(repo: &'r gix::Repository, git_ref: &str) -> Result<gix::Commit<'r>> {
    let err = |source| Error::Resolve {
        git_ref: git_ref.to_string(),
        source,
    };
    // When no name resolves, the error of the last one tried is reported.
    let [names @ .., last] = candidates(git_ref);
    let id = match names
        .iter()
        .find_map(|name| repo.rev_parse_single(name.as_str()).ok())
    {
        Some(id) => id,
        None => repo.rev_parse_single(last.as_str()).map_err(err)?,
    };
    let object = id.object().map_err(err)?;
    object.peel_to_commit().map_err(err)
}

/// The commit (hex) a branch, tag or revision name resolves to, as [`resolve`] looks a ref up.
pub fn commit_of(repo: &gix::Repository, name: &str) -> Option<String> {
    candidates(name).iter().find_map(|candidate| {
        let id = repo.rev_parse_single(candidate.as_str()).ok()?;
        let commit = id.object().ok()?.peel_to_commit().ok()?;
        Some(commit.id.to_string())
    })
}

/// The commit with this id, for a revision that was fetched or pinned by id.
pub fn find_commit(repo: &gix::Repository, id: ObjectId) -> Result<gix::Commit<'_>> {
    let err = |source| Error::Commit { id, source };
    let object = repo.find_object(id).map_err(err)?;
    object.peel_to_commit().map_err(err)
}

/// The ref as people know it: `HEAD` shows as the branch it points at.
pub fn display_ref(repo: &gix::Repository, git_ref: &str) -> String {
    if git_ref == "HEAD" {
        if let Ok(Some(name)) = repo.head_name() {
            return name.shorten().to_str_lossy().into_owned();
        }
    }
    git_ref.to_string()
}

/// The id of the commit's root tree.
pub fn tree_id(commit: &gix::Commit<'_>) -> Result<ObjectId> {
    commit.tree_id().map(|id| id.detach()).map_err(Error::Tree)
}

/// Every entry of the commit's tree, breadth-first, the root tree first (its path is empty).
pub fn entries(commit: &gix::Commit<'_>) -> Result<Vec<TreeEntry>> {
    let tree = commit.tree().map_err(Error::Tree)?;
    let mut recorder = gix::traverse::tree::Recorder::default();
    tree.traverse()
        .breadthfirst(&mut recorder)
        .map_err(Error::Tree)?;
    let mut entries = Vec::with_capacity(recorder.records.len() + 1);
    entries.push(TreeEntry {
        path: String::new(),
        id: tree.id,
        kind: EntryKind::Tree,
    });
    entries.extend(recorder.records.into_iter().map(|e| TreeEntry {
        path: e.filepath.to_str_lossy().into_owned(),
        id: e.oid,
        kind: kind_of(e.mode),
    }));
    Ok(entries)
}

/// Whether the tree `tree` holds anything at `path`.
pub fn has_path(repo: &gix::Repository, tree: ObjectId, path: &str) -> Result<bool> {
    let tree = repo.find_tree(tree).map_err(Error::Tree)?;
    let found = tree.lookup_entry_by_path(path).map_err(Error::Tree)?;
    Ok(found.is_some())
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
pub fn read_blob(repo: &gix::Repository, id: ObjectId) -> Result<Vec<u8>> {
    repo.find_object(id)
        .map(|o| o.data.clone())
        .map_err(|source| Error::Blob { id, source })
}
