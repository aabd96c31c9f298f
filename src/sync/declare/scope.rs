//! Which entries of a tree a source declares from: those under its configured paths, each
//! classified the same way for a whole-tree read and for a tree diff, so both give the same state.

use crate::config::Source;
use crate::git::{is_within, EntryKind, TreeEntry, TreeFile};
use crate::manifest::parse::{self, FileError};

/// What a tree entry is to a plain source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// A manifest or kustomization file to read.
    File(gix::ObjectId),
    /// A manifest that cannot be declared (symlink, refused path): reported.
    Refused(FileError),
    /// Directories, submodules, other files.
    Ignored,
}

/// The configured paths as tree prefixes; none means the whole tree.
pub fn prefixes(source: &Source) -> Vec<String> {
    source
        .paths
        .iter()
        .map(|p| p.trim_matches('/').to_string())
        .filter(|p| !p.is_empty() && p != ".")
        .collect()
}

pub fn in_scope(path: &str, prefixes: &[String]) -> bool {
    prefixes.is_empty() || prefixes.iter().any(|p| is_within(path, p))
}

/// The first configured path the tree does not hold, if any.
pub fn missing(entries: &[TreeEntry], source: &Source) -> Option<String> {
    prefixes(source)
        .into_iter()
        .find(|prefix| !entries.iter().any(|e| is_within(&e.path, prefix)))
}

/// The files a plain source reads, with the manifests it refuses (symlinks, refused paths).
pub fn files(entries: Vec<TreeEntry>, source: &Source) -> (Vec<TreeFile>, Vec<FileError>) {
    let prefixes = prefixes(source);
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for entry in entries {
        if !in_scope(&entry.path, &prefixes) {
            continue;
        }
        match classify(&entry.path, entry.kind, entry.id, source) {
            Classified::File(blob) => files.push(TreeFile {
                path: entry.path,
                blob,
            }),
            Classified::Refused(error) => errors.push(error),
            Classified::Ignored => {}
        }
    }
    (files, errors)
}

/// What one entry is to a plain source. Symlinks and submodules are not followed; a symlink
/// named like a manifest is reported.
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
        return refused(refusal(part));
    }
    if kind == EntryKind::Link {
        return refused("symlink: not followed (declare the file itself)".into());
    }
    if !parse::is_manifest_path(path) && !parse::is_kustomization_file(path) {
        return Classified::Ignored;
    }
    Classified::File(id)
}

fn refusal(part: &str) -> String {
    format!(
        "path component {part:?} is refused: git will not check it out, so no GitOps controller applies it"
    )
}

/// A component that git itself refuses to check out (`..`, `.`, `.git`, empty): such entries
/// only exist in crafted commits, and declaring them would guard objects nobody can apply.
fn unsafe_component(path: &str) -> Option<&str> {
    path.split('/')
        .find(|c| c.is_empty() || *c == "." || *c == ".." || c.eq_ignore_ascii_case(".git"))
}

/// Drops entries under a path git would refuse (see `unsafe_component`); the manifests among
/// them are reported, so a crafted commit shows in the snapshot's errors.
pub fn refuse_unsafe(entries: Vec<TreeEntry>, source: &Source) -> (Vec<TreeEntry>, Vec<FileError>) {
    let mut refused = Vec::new();
    let kept = entries
        .into_iter()
        .filter(|e| {
            // The root tree's path is empty and is the one entry allowed to be.
            let Some(part) = (!e.path.is_empty())
                .then(|| unsafe_component(&e.path))
                .flatten()
            else {
                return true;
            };
            if e.kind == EntryKind::Blob && parse::is_manifest_path(&e.path) {
                refused.push(FileError {
                    source: source.name.clone(),
                    file: e.path.clone(),
                    line: 0,
                    message: refusal(part),
                });
            }
            false
        })
        .collect();
    (kept, refused)
}
