//! What loading a source decided besides its objects, for `index`, `/readyz`, metrics and logs:
//! notes (a path another build covers, a guessed plural, a suggested `discover`), what cannot be
//! rendered here (Helm, Jsonnet, plugins, other repositories) and the builds that failed. Parse
//! failures and failed builds also stay in the snapshot's `errors`; these lists say the rest.

use serde::Serialize;

/// Something driftgate decided that the operator should know about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub source: String,
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// A part of the repository that the GitOps controller applies but driftgate cannot render;
/// its objects are not declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutOfScope {
    pub source: String,
    pub file: String,
    pub line: usize,
    /// The Flux Kustomization, Argo CD Application or kustomization concerned.
    pub what: String,
    pub why: String,
}

/// A build (kustomization root, Flux Kustomization, Argo CD Application) that failed at this
/// revision: it declares its last good objects, marked stale, or nothing on a first load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedBuild {
    pub source: String,
    /// `Flux Kustomization flux-system/apps`, `kustomize apps/production`.
    pub build: String,
    /// Where the build is declared (the Kustomization's or Application's file), or its directory.
    pub file: String,
    pub line: usize,
    /// The renderer's message.
    pub message: String,
    /// Objects kept from the build's last good render.
    pub stale_objects: usize,
}

/// Everything a load found besides objects and errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Builds rendered or kept (kustomization roots, Flux Kustomizations, Argo CD sources).
    pub builds: usize,
    pub notes: Vec<Note>,
    pub out_of_scope: Vec<OutOfScope>,
    pub failed_builds: Vec<FailedBuild>,
}

impl Findings {
    pub fn extend(&mut self, other: Findings) {
        self.builds += other.builds;
        self.notes.extend(other.notes);
        self.out_of_scope.extend(other.out_of_scope);
        self.failed_builds.extend(other.failed_builds);
    }

    pub fn is_empty(&self) -> bool {
        self.builds == 0
            && self.notes.is_empty()
            && self.out_of_scope.is_empty()
            && self.failed_builds.is_empty()
    }
}
