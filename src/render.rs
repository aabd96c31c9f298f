//! Declared state from kustomize overlays, Flux Kustomizations and Argo CD Applications, the
//! way the GitOps controller reads a repository.
//!
//! A directory holding a kustomization is rendered as a unit by the real kustomize
//! (`kubectl kustomize` by default), run on a temporary export of exactly the files the build may
//! read (written from the object database, never a worktree). Those same inputs key a cache, so a
//! sync that does not touch a kustomization's inputs does not run kustomize again.
//!
//! A renderer is a step of the declare stage (`sync::declare`), called in two steps so data
//! flows one way: [`plan()`] reads the tree and says which files stay plain; the declare stage
//! parses those with its own cache; the plan's `build` adds what the builds declare. Nothing
//! here imports the declare stage or calls back into it.
//!
//! - [`plan`](mod@plan): which directories are kustomization roots, which files stay plain, and the inputs
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
//! whole source meaningless (a configured path missing, a `discover` path that is a file) fails
//! the source.

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

use crate::config::{Discover, Source};
use crate::git::{ReadBlob, TreeEntry};
use crate::snapshot::{SourceRevision, SourceState};

use plan::TreeIndex;

/// What fails a whole source; a build's own failure is a [`build::BuildError`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("source {source_name}: path {path:?} is not in the tree")]
    MissingPath { source_name: String, path: String },
    #[error("source {source_name}: {dir}: render: kustomize, but the directory holds no kustomization file")]
    NotAKustomization { source_name: String, dir: String },
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

/// The commit (hex) a revision name resolves to in the source's repository, if any.
pub type Resolve<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A source that renders, planned: the first step of reading it. Data flows one way: the plan
/// says which files stay plain, the declare stage parses them with its own cache, and the plan's
/// `build` adds what the builds declare.
#[derive(Debug)]
pub enum Plan {
    /// `render: auto|kustomize`: plain files beside kustomization roots.
    Files(auto::Plan),
    /// `discover`: every object comes from the builds the GitOps objects name.
    Discover(Discovery),
}

/// Plans a source's tree at a revision.
pub fn plan(source: &Source, entries: &[TreeEntry], read: &ReadBlob<'_>) -> Result<Plan> {
    let index = TreeIndex::new(entries);
    let scope = scope_paths(source, &index)?;
    Ok(match &source.discover {
        None => Plan::Files(auto::Plan::new(source, index, scope, read)?),
        Some(discover) => Plan::Discover(Discovery {
            discover: discover.clone(),
            index,
            scope,
        }),
    })
}

/// `discover: flux` or `discover: argocd`, planned.
#[derive(Debug)]
pub struct Discovery {
    discover: Discover,
    index: TreeIndex,
    scope: Vec<String>,
}

impl Discovery {
    /// The source's state: what the builds the GitOps objects name declare.
    pub fn build(
        self,
        source: &Source,
        revision: SourceRevision,
        renderer: &mut Renderer,
        read: &ReadBlob<'_>,
        resolve: Resolve<'_>,
    ) -> Result<SourceState> {
        let (index, scope) = (&self.index, &self.scope);
        renderer.cache.begin();
        let state = match &self.discover {
            Discover::Argocd => {
                argocd::declare(source, revision, index, scope, renderer, read, resolve)?
            }
            Discover::Flux { namespace, name } => {
                let repo = (namespace.clone(), name.clone());
                flux::declare(source, &repo, revision, index, scope, renderer, read)?
            }
        };
        Ok(finish(renderer, state))
    }
}

/// Ends a render: the cache drops what this revision did not use, and notes read in order.
fn finish(renderer: &mut Renderer, mut state: SourceState) -> SourceState {
    renderer.cache.finish();
    let findings = &mut state.findings;
    findings
        .notes
        .sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
    findings.notes.dedup();
    findings.out_of_scope.dedup();
    state
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
