//! The entries of a commit's tree as the readers see them (a file to parse, a directory a build
//! reads, a link never followed). Kept apart from `git`, which walks the object database, so
//! that what reads the entries (`declare`, `render`) does not depend on how they are found.

use crate::manifest::parse::FileError;

/// A file in the tree at the revision: its path from the repository root and its blob id.
/// Content is read only when the blob was not parsed before (see `declare`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    pub path: String,
    pub blob: gix::ObjectId,
}

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

/// What a tree entry is, as far as rendering cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Tree,
    Blob,
    /// Never followed, never exported: a link could point out of the tree.
    Link,
    /// Submodules.
    Other,
}

/// One entry of the whole tree at the revision: kustomize may read any file a kustomization
/// names (patches, generator inputs), so rendering needs every blob and every tree id, not only
/// the manifests `tree_files` keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    pub id: gix::ObjectId,
    pub kind: EntryKind,
}
