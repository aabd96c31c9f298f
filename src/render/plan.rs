//! Which directories are kustomization roots, which files stay plain, and what each build reads.
//!
//! Under `render: auto`, a configured path (or a directory reached from it) holding a
//! kustomization is rendered as a unit, as Flux does: nothing beneath it is read as plain YAML or
//! rendered on its own, and a kustomization another root builds on (a shared base) is not
//! rendered alone either. What a root does not reference is not declared.
//!
//! A build's inputs are found by reading every kustomization file it may load and resolving each
//! string in it as a path: whatever names a file or directory of the tree outside the build's own
//! directory joins the inputs (directories recursively). This over-approximates what kustomize
//! reads (a string that only looks like a path costs a spurious re-render, never a stale one), and
//! since exactly these inputs are exported, kustomize cannot read anything the cache key misses.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use gix::ObjectId;
use serde_json::Value;

use crate::config::Render;
pub use crate::git::is_within;
use crate::git::{EntryKind, ReadBlob, TreeEntry, TreeFile};
use crate::manifest::parse;
use crate::manifest::yaml;

use super::Error;

/// The tree at the revision by path, for lookups while planning and exporting.
#[derive(Debug, Clone, Default)]
pub struct TreeIndex {
    entries: BTreeMap<String, (EntryKind, ObjectId)>,
}

/// File names kustomize recognises, in the order it looks for them.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

impl TreeIndex {
    pub fn new(entries: &[TreeEntry]) -> TreeIndex {
        TreeIndex {
            entries: entries
                .iter()
                .map(|e| (e.path.clone(), (e.kind, e.id)))
                .collect(),
        }
    }

    pub fn get(&self, path: &str) -> Option<(EntryKind, ObjectId)> {
        self.entries.get(path).copied()
    }

    pub fn is_dir(&self, path: &str) -> bool {
        matches!(self.get(path), Some((EntryKind::Tree, _)))
    }

    /// Entries strictly beneath `dir` (`""` is the root), in path order.
    pub fn beneath<'a>(
        &'a self,
        dir: &str,
    ) -> impl Iterator<Item = (&'a str, EntryKind, ObjectId)> + 'a {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.entries
            .range(prefix.clone()..)
            .take_while(move |(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| !p.is_empty())
            .map(|(p, (k, id))| (p.as_str(), *k, *id))
    }

    /// The kustomization file directly in `dir`, if any.
    pub fn kustomization_file(&self, dir: &str) -> Option<(String, ObjectId)> {
        KUSTOMIZATION_FILES.iter().find_map(|name| {
            let path = join(dir, name);
            match self.get(&path) {
                Some((EntryKind::Blob, id)) => Some((path, id)),
                _ => None,
            }
        })
    }
}

/// `dir/name`, or `name` at the root (and `dir` for an empty name).
pub fn join(dir: &str, name: &str) -> String {
    if name.is_empty() {
        dir.to_string()
    } else if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The directory part of a path (`""` at the root).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// `rel` resolved against `dir` (`./`, `../` and doubled slashes folded); `None` when absolute or
/// when it climbs above the repository root.
pub fn resolve(dir: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') || rel.is_empty() && !dir.is_empty() {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    for segment in rel.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// What one build reads from the tree, and the remote bases it names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    /// Directories and files by path; none lies beneath another.
    pub entries: BTreeMap<String, (EntryKind, ObjectId)>,
    /// Resource entries that are URLs, not paths of this tree.
    pub remote: Vec<String>,
    /// Resource entries that climb above the repository root: kustomize would read the host's
    /// file system there, so such a build is refused.
    pub outside: Vec<String>,
}

impl Inputs {
    /// Is `path` inside one of the inputs?
    pub fn covers(&self, path: &str) -> bool {
        self.entries.keys().any(|p| is_within(path, p))
    }

    /// Adds everything `other` reads (a component's directory and what it reaches).
    pub fn merge(&mut self, other: &Inputs) {
        for (path, (kind, id)) in &other.entries {
            self.add(path, *kind, *id);
        }
        for url in &other.remote {
            if !self.remote.contains(url) {
                self.remote.push(url.clone());
            }
        }
        for path in &other.outside {
            if !self.outside.contains(path) {
                self.outside.push(path.clone());
            }
        }
    }

    fn add(&mut self, path: &str, kind: EntryKind, id: ObjectId) {
        if self.covers(path) {
            return;
        }
        if kind == EntryKind::Tree {
            self.entries.retain(|p, _| !is_within(p, path));
        }
        self.entries.insert(path.to_string(), (kind, id));
    }
}

/// Every input of the build of `dir`: its tree and whatever its kustomization files reach.
pub fn inputs(index: &TreeIndex, dir: &str, read: &ReadBlob<'_>) -> Inputs {
    let mut inputs = Inputs::default();
    let mut queue = vec![dir.to_string()];
    let mut seen = HashSet::new();
    while let Some(d) = queue.pop() {
        if !seen.insert(d.clone()) {
            continue;
        }
        let Some((EntryKind::Tree, id)) = index.get(&d) else {
            continue;
        };
        inputs.add(&d, EntryKind::Tree, id);
        let mut files: Vec<(String, ObjectId)> = index.kustomization_file(&d).into_iter().collect();
        files.extend(
            index
                .beneath(&d)
                .filter(|(p, k, _)| *k == EntryKind::Blob && parse::is_kustomization_file(p))
                .map(|(p, _, id)| (p.to_string(), id)),
        );
        for (path, blob) in files {
            let kdir = parent(&path).to_string();
            // An unreadable or broken kustomization is kustomize's to report, with its message.
            let Ok(bytes) = read(blob) else { continue };
            for (text, is_resource) in references(&bytes) {
                if is_resource
                    && !looks_remote(&text)
                    && resolve(&kdir, &text).is_none()
                    && !inputs.outside.contains(&text)
                {
                    inputs.outside.push(text.clone());
                }
                let mut found = false;
                let after_eq = text.split_once('=').map(|(_, p)| p);
                for candidate in std::iter::once(text.as_str()).chain(after_eq) {
                    let Some(p) = resolve(&kdir, candidate) else {
                        continue;
                    };
                    match index.get(&p) {
                        Some((EntryKind::Tree, _)) => {
                            found = true;
                            if !inputs.covers(&p) {
                                queue.push(p);
                            }
                        }
                        Some((EntryKind::Blob, id)) => {
                            found = true;
                            inputs.add(&p, EntryKind::Blob, id);
                        }
                        _ => {}
                    }
                }
                if is_resource && !found && looks_remote(&text) && !inputs.remote.contains(&text) {
                    inputs.remote.push(text);
                }
            }
        }
    }
    inputs
}

/// A resource entry kustomize would fetch over the network.
pub fn looks_remote(text: &str) -> bool {
    text.contains("://")
        || text.starts_with("git@")
        || text.starts_with("github.com/")
        || text.starts_with("gitlab.com/")
        || text.starts_with("bitbucket.org/")
        || text.contains("?ref=")
        || text.contains(".git//")
}

/// Every string value of a kustomization file, flagged when it is a `resources`, `bases` or
/// `components` entry (the fields that may name remote bases).
fn references(bytes: &[u8]) -> Vec<(String, bool)> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Vec::new();
    };
    let Ok(docs) = yaml::parse_documents(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for doc in docs {
        if let Value::Object(map) = &doc.value {
            for (key, value) in map {
                let is_resource = matches!(key.as_str(), "resources" | "bases" | "components");
                strings(value, is_resource, &mut out);
            }
        }
    }
    out
}

fn strings(value: &Value, is_resource: bool, out: &mut Vec<(String, bool)>) {
    match value {
        Value::String(s) if !s.is_empty() && s.len() <= 4096 && !s.contains('\n') => {
            out.push((s.trim().to_string(), is_resource));
        }
        Value::Array(items) => items.iter().for_each(|v| strings(v, is_resource, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, is_resource, out)),
        _ => {}
    }
}

/// A configured path that should have been a kustomization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAKustomization(pub String);

impl NotAKustomization {
    pub fn into_error(self, source_name: &str) -> Error {
        Error::NotAKustomization {
            source_name: source_name.to_string(),
            dir: super::display_dir(&self.0),
        }
    }
}

/// What a source reads at a revision: builds to render and files to parse as plain YAML.
#[derive(Debug, Clone, Default)]
pub struct Planned {
    /// Kustomization roots to build, with their inputs.
    pub roots: Vec<(String, Inputs)>,
    /// Configured paths not built on their own, with the root that covers them.
    pub covered: Vec<(String, String)>,
    pub plain: Vec<TreeFile>,
    /// Plain paths named like manifests that are symlinks: reported, never followed.
    pub links: Vec<String>,
}

/// Plans the reading of `scope` (cleaned configured paths; `""` is the whole tree).
pub fn plan(
    index: &TreeIndex,
    scope: &[String],
    mode: Render,
    read: &ReadBlob<'_>,
) -> Result<Planned, NotAKustomization> {
    let mut candidates: BTreeSet<String> = BTreeSet::new();
    match mode {
        Render::Plain => {}
        Render::Kustomize => {
            for s in scope {
                if index.kustomization_file(s).is_none() {
                    return Err(NotAKustomization(s.clone()));
                }
                candidates.insert(s.clone());
            }
        }
        Render::Auto => {
            for s in scope {
                if index.kustomization_file(s).is_some() {
                    candidates.insert(s.clone());
                    continue;
                }
                for (path, kind, _) in index.beneath(s) {
                    if kind == EntryKind::Blob && parse::is_kustomization_file(path) {
                        candidates.insert(parent(path).to_string());
                    }
                }
            }
        }
    }
    // The topmost kustomization of a subtree builds it; those beneath are its to read or not.
    let mut topmost: Vec<String> = Vec::new();
    for c in candidates {
        if !topmost.iter().any(|t| is_within(&c, t)) {
            topmost.push(c);
        }
    }
    let with_inputs: Vec<(String, Inputs)> = topmost
        .iter()
        .map(|dir| (dir.clone(), inputs(index, dir, read)))
        .collect();
    let referenced = |dir: &str| {
        with_inputs
            .iter()
            .any(|(other, inp)| other != dir && inp.covers(dir) && !is_within(dir, other))
    };
    let roots: Vec<(String, Inputs)> = with_inputs
        .iter()
        .filter(|(dir, _)| mode == Render::Kustomize || !referenced(dir))
        .cloned()
        .collect();
    let covered = scope
        .iter()
        .filter(|s| !roots.iter().any(|(dir, _)| dir == *s))
        .filter_map(|s| {
            let by = roots
                .iter()
                .find(|(dir, inputs)| is_within(s, dir) || inputs.covers(s))?;
            Some((s.clone(), by.0.clone()))
        })
        .collect();
    let mut plain = BTreeMap::new();
    let mut links = BTreeSet::new();
    for s in scope {
        let files: Vec<(&str, EntryKind, ObjectId)> = match index.get(s) {
            Some((kind, id)) if kind != EntryKind::Tree => vec![(s.as_str(), kind, id)],
            _ => index.beneath(s).collect(),
        };
        for (path, kind, id) in files {
            if kind == EntryKind::Link
                && parse::is_manifest_path(path)
                && !roots.iter().any(|(_, inputs)| inputs.covers(path))
            {
                links.insert(path.to_string());
            }
            if kind != EntryKind::Blob
                || !parse::is_manifest_path(path)
                || parse::is_kustomization_file(path)
                || topmost.iter().any(|t| is_within(path, t))
                || roots.iter().any(|(_, inputs)| inputs.covers(path))
            {
                continue;
            }
            plain.insert(path.to_string(), id);
        }
    }
    Ok(Planned {
        roots,
        covered,
        plain: plain
            .into_iter()
            .map(|(path, blob)| TreeFile { path, blob })
            .collect(),
        links: links.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests;
