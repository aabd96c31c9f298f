//! What changed between two trees, read from the object database. Subtrees with the same id on
//! both sides are skipped whole, so a one-file commit costs the directories on its path (a few
//! thousand entries), not the 100,000 files of the tree.

use std::collections::HashMap;

use gix::bstr::ByteSlice;
use gix::ObjectId;

use super::{kind_of, EntryKind, Error, Result};

/// One side of a changed path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    pub id: ObjectId,
    pub kind: EntryKind,
}

/// A path that is not a directory on at least one side, and differs between the trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    /// The entry in the old tree, if it was not a directory there.
    pub before: Option<Side>,
    /// The entry in the new tree, if it is not a directory there.
    pub after: Option<Side>,
}

/// Every non-directory path whose entry differs between the trees `old` and `new`.
pub fn changes(repo: &gix::Repository, old: ObjectId, new: ObjectId) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    walk(repo, "", Some(old), Some(new), &mut out)?;
    Ok(out)
}

fn entries(repo: &gix::Repository, id: Option<ObjectId>) -> Result<Vec<(String, Side)>> {
    let Some(id) = id else {
        return Ok(Vec::new());
    };
    let tree = repo.find_tree(id).map_err(Error::Tree)?;
    let decoded = tree.decode().map_err(Error::Tree)?;
    Ok(decoded
        .entries
        .iter()
        .map(|e| {
            let side = Side {
                id: e.oid.to_owned(),
                kind: kind_of(e.mode),
            };
            (e.filename.to_str_lossy().into_owned(), side)
        })
        .collect())
}

/// Compares the directories `old` and `new` (either may be absent) found at `dir`.
fn walk(
    repo: &gix::Repository,
    dir: &str,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    out: &mut Vec<Change>,
) -> Result<()> {
    if old == new {
        return Ok(());
    }
    let before = entries(repo, old)?;
    let after = entries(repo, new)?;
    let mut unmatched: HashMap<&str, Side> = before
        .iter()
        .map(|(name, side)| (name.as_str(), *side))
        .collect();
    for (name, now) in &after {
        let was = unmatched.remove(name.as_str());
        if was != Some(*now) {
            differ(repo, &join(dir, name), was, Some(*now), out)?;
        }
    }
    for (name, was) in &before {
        if unmatched.contains_key(name.as_str()) {
            differ(repo, &join(dir, name), Some(*was), None, out)?;
        }
    }
    Ok(())
}

/// One name whose entry differs: a directory on either side is walked, and a non-directory on
/// either side is a change (a file replaced by a directory is both).
fn differ(
    repo: &gix::Repository,
    path: &str,
    was: Option<Side>,
    now: Option<Side>,
    out: &mut Vec<Change>,
) -> Result<()> {
    let tree = |side: Option<Side>| side.filter(|s| s.kind == EntryKind::Tree).map(|s| s.id);
    let file = |side: Option<Side>| side.filter(|s| s.kind != EntryKind::Tree);
    if tree(was).is_some() || tree(now).is_some() {
        walk(repo, path, tree(was), tree(now), out)?;
    }
    let (before, after) = (file(was), file(now));
    if before.is_some() || after.is_some() {
        out.push(Change {
            path: path.to_string(),
            before,
            after,
        });
    }
    Ok(())
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}
