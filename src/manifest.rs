//! Declared objects: what one Kubernetes object in Git is, how it is identified, and how files
//! become objects (`yaml` parses, `parse` turns documents into objects).

pub mod batch;
pub mod declared;
mod folded;
pub mod lines;
pub mod parse;
pub mod yaml;

use std::fmt;
use std::sync::Arc;

pub use declared::Declared;

/// An object's identity. Version is deliberately not part of it: the apiserver converts between
/// versions, and a request in another version must still be compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// API group; `""` is the core group.
    pub group: String,
    pub kind: String,
    /// `""` for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(group: &str, kind: &str, namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: group.to_string(),
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// `apps/Deployment` or `ConfigMap` for the core group.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}/{}", self.group, self.kind)
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.group_kind(), self.name)
        } else {
            write!(f, "{} {}/{}", self.group_kind(), self.namespace, self.name)
        }
    }
}

/// How an object came to be declared, so a message can send the person to the right place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A plain manifest file.
    File,
    /// Rendered by a build (kustomize, a Flux Kustomization, an Argo CD Application); every
    /// object of one build shares this.
    Built(Arc<Built>),
}

impl Origin {
    /// The namespace the build's controller gives a namespaced object that sets none, when it
    /// is not the source's default (Argo CD's destination namespace).
    pub fn default_namespace(&self) -> Option<&str> {
        match self {
            Origin::File => None,
            Origin::Built(built) => built.default_namespace.as_deref(),
        }
    }

    /// The directory a build rendered, for summaries.
    pub fn dir(&self) -> Option<&str> {
        match self {
            Origin::File => None,
            Origin::Built(built) => Some(&built.dir),
        }
    }
}

/// The build that rendered an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The directory built, relative to the repository root (`.` for the root).
    pub dir: String,
    /// What built it: `kustomize`, `Flux Kustomization flux-system/apps`,
    /// `Argo CD Application argocd/web`.
    pub by: String,
    /// Where `by` is declared when it is an object in Git (file, line).
    pub declared_at: Option<(String, usize)>,
    /// See [`Origin::default_namespace`].
    pub default_namespace: Option<String>,
}

impl Built {
    /// `kustomize apps/production`, or
    /// `Flux Kustomization flux-system/apps at clusters/prod/apps.yaml:3, path apps/production`.
    pub fn describe(&self) -> String {
        match &self.declared_at {
            Some((file, line)) => format!("{} at {file}:{line}, path {}", self.by, self.dir),
            None => format!("{} {}", self.by, self.dir),
        }
    }
}

/// One object as Git declares it.
#[derive(Debug, Clone)]
pub struct DeclaredObject {
    pub key: ObjectKey,
    /// `apps/v1`, `v1`.
    pub api_version: String,
    /// The object as written in Git (after rendering), YAML scalars resolved; shared with
    /// the parse cache (see `RawObject::value`).
    pub value: Declared,
    pub source: Arc<str>,
    /// The file that declares it, relative to the repository root (for a rendered object whose
    /// file kustomize cannot tell, the directory built).
    pub file: Arc<str>,
    /// 1-based line of the document in `file` (0 when rendered).
    pub line: usize,
    pub origin: Origin,
    /// Kept from an earlier revision because its file no longer parses.
    pub stale: bool,
}

impl DeclaredObject {
    /// The version part of `apiVersion`.
    pub fn version(&self) -> &str {
        split_api_version(&self.api_version).1
    }

    /// "fleet: apps/web.yaml:12", or for a rendered object the file that declares it and the
    /// build: "fleet: apps/base/web.yaml (kustomize apps/production)".
    pub fn location(&self) -> String {
        match &self.origin {
            Origin::File if self.line > 0 => {
                format!("{}: {}:{}", self.source, self.file, self.line)
            }
            Origin::File => format!("{}: {}", self.source, self.file),
            Origin::Built(built) if self.line > 0 => format!(
                "{}: {}:{} ({})",
                self.source,
                self.file,
                self.line,
                built.describe()
            ),
            Origin::Built(built) => {
                format!("{}: {} ({})", self.source, self.file, built.describe())
            }
        }
    }
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}
