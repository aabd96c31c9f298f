//! One build: the unit that renders, fails, and keeps its last good objects. A build is a
//! kustomization root, a Flux `Kustomization` or an Argo CD `Application`; each renders on its
//! own (`run`) and its failure is its own (`settle`).

use std::sync::Arc;

use gix::ObjectId;
use serde::Serialize;

use crate::manifest::parse::RawObject;
use crate::manifest::Built;

use super::plan::Inputs;
use super::{export, kfile, kustomize, postbuild};

/// Why one build failed; the build is named by the caller.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("resource {0:?} lies outside the repository")]
    OutsideTree(String),
    #[error(
        "remote base {0:?}: another repository, not rendered (set allowRemoteBases to render it)"
    )]
    RemoteBase(String),
    #[error("path {0:?} is not a directory of the tree")]
    NoDirectory(String),
    #[error("cannot export the inputs: {0}")]
    Export(#[source] export::Error),
    #[error(transparent)]
    Run(#[from] kustomize::Error),
    #[error("the output does not parse: line {line}: {message}")]
    Output { line: usize, message: String },
    #[error(transparent)]
    PostBuild(#[from] postbuild::Error),
    #[error("{file}")]
    Blob {
        file: String,
        #[source]
        source: crate::git::Error,
    },
    #[error("{file}:{line}: {message}")]
    Manifest {
        file: String,
        line: usize,
        message: String,
    },
    #[error("postBuild.substituteFrom: {kind} {namespace}/{name} is not declared in Git (mark it optional: true if the cluster may lack it)")]
    SubstituteFrom {
        kind: String,
        namespace: String,
        name: String,
    },
    #[error(transparent)]
    Settings(#[from] super::argocd::kustomize::BadImage),
    #[error("{key} is also declared by {other}")]
    Duplicate { key: String, other: String },
}

impl BuildError {
    /// A build that needs what driftgate does not render (a remote base, another repository):
    /// listed as out of scope, declaring nothing, rather than failed and kept.
    pub fn out_of_scope(&self) -> bool {
        matches!(self, BuildError::RemoteBase(_))
    }
}

/// How a build turns its inputs into objects.
#[derive(Debug, Clone, Serialize)]
pub enum How {
    /// Run kustomize on the directory, after the controller's changes.
    Kustomize(Box<kfile::Changes>),
    /// Read these files as manifests (Argo CD's plain directory); their blobs are inputs.
    Files(#[serde(serialize_with = "paths_only")] Vec<(String, ObjectId)>),
}

/// A file list's paths (the blob ids are in the build's inputs, and so in its cache key).
fn paths_only<S: serde::Serializer>(files: &[(String, ObjectId)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(files.iter().map(|(path, _)| path))
}

/// One build to render.
#[derive(Debug, Clone)]
pub struct Build {
    /// Unique within the source: `Flux Kustomization flux-system/apps`, `kustomize apps/prod`.
    pub name: String,
    /// Shared by every object the build declares (provenance, default namespace).
    pub info: Arc<Built>,
    pub dir: String,
    pub inputs: Inputs,
    pub how: How,
}

impl Build {
    /// A kustomization root of the source's own configuration (`render: auto|kustomize`).
    pub fn kustomize(dir: &str, inputs: Inputs) -> Build {
        Build {
            name: format!("kustomize {}", super::display_dir(dir)),
            info: Arc::new(Built {
                dir: super::display_dir(dir),
                by: "kustomize".into(),
                declared_at: None,
                default_namespace: None,
            }),
            dir: dir.to_string(),
            inputs,
            how: How::Kustomize(Box::default()),
        }
    }

    /// Where the build is declared, for errors: its object's file and line, or its directory.
    pub fn location(&self) -> (String, usize) {
        self.info
            .declared_at
            .clone()
            .unwrap_or_else(|| (self.info.dir.clone(), 0))
    }
}

/// What one build produced.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub objects: Arc<Vec<RawObject>>,
    pub skipped_documents: usize,
}
