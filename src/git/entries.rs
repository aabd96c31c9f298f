//! The entries of a commit's tree as the later stages see them: a blob to parse, a directory a
//! build reads, a link never followed. Plain data, apart from how [`super`] finds them, so what
//! reads entries (the declare stage, `render`) does not depend on gix's walk.

/// A file in the tree at the revision: its path from the repository root and its blob id.
/// Content is read only when the blob was not parsed before (see `sync::declare`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    pub path: String,
    pub blob: gix::ObjectId,
}

/// What a tree entry is.
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
/// the manifests a plain source reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    pub id: gix::ObjectId,
    pub kind: EntryKind,
}

/// Whether `path` is `dir` or lies under it; every path is within the root (`""`).
pub fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || path.starts_with(dir) && path[dir.len()..].starts_with('/')
}
