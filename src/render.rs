//! Declared state from kustomize overlays, Flux Kustomizations and Argo CD Applications, the
//! way the GitOps controller reads a repository.
//!
//! A directory holding a kustomization is rendered as a unit by the real kustomize
//! (`kubectl kustomize` by default), run on a temporary export of exactly the files the build may
//! read (written from the object database, never a worktree). Those same inputs key a cache, so a
//! sync that does not touch a kustomization's inputs does not run kustomize again.
//!
//! - [`plan`]: which directories are kustomization roots, which files stay plain, and the inputs
//!   (trees and blobs, `../` bases included) each build reads.
//! - [`auto`]: `render: auto|kustomize`: the configured paths' kustomization roots and files.
//! - [`flux`]: `discover: flux`, following Flux `Kustomization` objects declared in the repository.
//! - [`argocd`]: `discover: argocd`, following Argo CD `Application`s from the root ones.
//! - [`build`]: one build and its outcome; [`run`]: rendering builds (cache, export, kustomize or
//!   reading files, finish); [`settle`]: builds to a source's state.
//! - [`export`]: writes a build's inputs to a temporary directory; [`kfile`]: its root
//!   kustomization as the controller changes it; [`kustomize`]: runs the command with a timeout
//!   and an output limit; [`origin`]: which file declares each rendered object.
//! - [`cache`]: rendered objects by the hash of their inputs.
//! - [`artifact`]: Flux `ExternalArtifact`s assembled from this repository, mapped back to the tree.
//! - [`postbuild`] and [`envsubst`]: Flux's `postBuild` variable substitution.
//!
//! Each build stands alone: one that fails (kustomize's error, a missing path, a duplicate key)
//! keeps its own last good objects, marked stale, and every other build advances; on a first load
//! it declares nothing and the source still loads. The failure is named in `errors` (at the
//! Kustomization's or Application's file and line) and in the findings. Only what makes the
//! whole source meaningless (a configured path missing, a bad `discover`) fails the source.

pub mod argocd;
pub mod artifact;
pub mod auto;
pub mod build;
pub mod cache;
pub mod envsubst;
pub mod export;
pub mod flux;
pub mod kfile;
pub mod kustomize;
pub mod origin;
pub mod plan;
pub mod postbuild;
pub mod run;
pub mod settle;

use std::time::Duration;

use gix::ObjectId;

use crate::config::{Render, Source};
use crate::manifest::parse::FileError;
use crate::snapshot::{SourceRevision, SourceState};
use crate::tree::{TreeEntry, TreeFile};

use plan::TreeIndex;

/// What fails a whole source; a build's own failure is a [`build::BuildError`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("source {source_name}: path {path:?} is not in the tree")]
    MissingPath { source_name: String, path: String },
    #[error("source {source_name}: {dir}: render: kustomize, but the directory holds no kustomization file")]
    NotAKustomization { source_name: String, dir: String },
    #[error("source {source_name}: discover: {discover:?} is not `flux`, `flux:NAMESPACE/NAME` or `argocd`")]
    BadDiscover {
        source_name: String,
        discover: String,
    },
    #[error(
        "source {source_name}: discover: {discover} reads directories, and {path:?} is a file"
    )]
    NotADirectory {
        source_name: String,
        discover: &'static str,
        path: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Bounds on one kustomize run: a build that hangs or floods output is cut off, not waited for.
#[derive(Debug, Clone)]
pub struct Limits {
    pub timeout: Duration,
    /// Largest rendered output accepted, in bytes.
    pub max_output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(60),
            max_output: 64 * 1024 * 1024,
        }
    }
}

/// Per-source rendering memory between syncs.
#[derive(Debug, Default)]
pub struct Renderer {
    pub limits: Limits,
    pub cache: cache::Cache,
    /// Each build's last good render, for a build that fails later.
    pub memory: settle::Memory,
}

/// Does this source need the rendering path, or is every file plain YAML?
pub fn applies(source: &Source) -> bool {
    source.render != Render::Plain || source.discover.is_some()
}

/// What rendering needs from whoever reads the source: the parse cache for the files a plan
/// leaves plain (the `declare` module's), and the rendering memory kept beside it.
pub trait Reader {
    fn renderer(&mut self) -> &mut Renderer;

    /// The state of plain files, each parsed (or taken from the cache) and kept stale while it
    /// does not parse.
    fn plain(
        &mut self,
        source: &Source,
        revision: SourceRevision,
        files: &[TreeFile],
        errors: Vec<FileError>,
        read: &dyn Fn(ObjectId) -> Result<Vec<u8>, String>,
    ) -> SourceState;
}

/// The commit (hex) a revision name resolves to in the source's repository, if any.
pub type Resolve<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The source's state at a revision, rendering what its mode asks for.
pub fn declare(
    source: &Source,
    revision: SourceRevision,
    entries: &[TreeEntry],
    reader: &mut dyn Reader,
    read: &dyn Fn(ObjectId) -> Result<Vec<u8>, String>,
    resolve: Resolve<'_>,
) -> Result<SourceState> {
    let index = TreeIndex::new(entries);
    let scope = scope_paths(source, &index)?;
    reader.renderer().cache.begin();
    let mut state = match source.discover.as_deref().map(str::trim) {
        Some("argocd") => {
            let renderer = reader.renderer();
            argocd::declare(source, revision, &index, &scope, renderer, read, resolve)?
        }
        Some(discover) => {
            let renderer = reader.renderer();
            flux::declare(source, discover, revision, &index, &scope, renderer, read)?
        }
        None => auto::declare(source, revision, &index, &scope, reader, read)?,
    };
    reader.renderer().cache.finish();
    let findings = &mut state.findings;
    findings
        .notes
        .sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
    findings.notes.dedup();
    findings.out_of_scope.dedup();
    Ok(state)
}

/// The configured paths, cleaned; the whole tree (`""`) when none.
fn scope_paths(source: &Source, index: &TreeIndex) -> Result<Vec<String>> {
    let mut scope = Vec::new();
    for p in &source.paths {
        let Some(clean) = plan::resolve("", p) else {
            return Err(Error::MissingPath {
                source_name: source.name.clone(),
                path: p.clone(),
            });
        };
        if index.get(&clean).is_none() {
            return Err(Error::MissingPath {
                source_name: source.name.clone(),
                path: p.clone(),
            });
        }
        scope.push(clean);
    }
    if scope.is_empty() {
        scope.push(String::new());
    }
    Ok(scope)
}

/// The repository root shows as `.`.
pub fn display_dir(dir: &str) -> String {
    if dir.is_empty() {
        ".".into()
    } else {
        dir.to_string()
    }
}
