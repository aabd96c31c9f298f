//! The immutable declared state at one revision per source. The request path only ever reads a
//! `Snapshot` through an `Arc`; a new one is built whole off the request path and swapped in.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::kinds::Catalog;
use crate::manifest::parse::{FileError, RawObject};
use crate::manifest::{split_api_version, DeclaredObject, ObjectKey};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{key} is declared twice: in {first} and in {second}")]
    Duplicate {
        key: Box<ObjectKey>,
        first: String,
        second: String,
    },
}

/// The commit a source was read at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceRevision {
    pub source: String,
    /// The ref as configured (`main`, `v1.2.0`, a commit id, `HEAD`).
    pub git_ref: String,
    /// Full commit id (hex).
    pub commit: String,
}

impl SourceRevision {
    /// `main@sha1:0123456789ab`, the form Flux prints.
    pub fn label(&self) -> String {
        let short = &self.commit[..self.commit.len().min(12)];
        format!("{}@sha1:{}", self.git_ref, short)
    }
}

/// Everything read from one source at one commit, before merging with other sources.
#[derive(Debug, Clone, Default)]
pub struct SourceState {
    pub name: String,
    pub default_namespace: String,
    pub revision: Option<SourceRevision>,
    pub objects: Vec<RawObject>,
    /// Objects whose namespace a kustomization or Flux already decided; keyed by position in
    /// `objects` is avoided: a rendered object simply carries `metadata.namespace`.
    pub errors: Vec<FileError>,
    pub files_read: usize,
    pub skipped_documents: usize,
    /// Identities that act for GitOps on this source's behalf (Flux tenants' service accounts).
    pub bypass_users: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Snapshot {
    pub revisions: Vec<SourceRevision>,
    objects: HashMap<ObjectKey, Arc<DeclaredObject>>,
    namespaces: HashSet<String>,
    pub catalog: Catalog,
    pub errors: Vec<FileError>,
    pub files_read: usize,
    pub skipped_documents: usize,
    pub bypass_users: Vec<String>,
    /// One label for all sources: `main@sha1:…` for one, `a=main@sha1:…,b=…` for several.
    revision_label: String,
}

impl Snapshot {
    /// Merges sources into one snapshot. A key declared twice (in one source or across sources) is
    /// an error: there is no single Git truth to compare against.
    pub fn build(sources: Vec<SourceState>) -> Result<Snapshot, Error> {
        let mut catalog = Catalog::built_in();
        for source in &sources {
            for raw in &source.objects {
                if raw.kind == "CustomResourceDefinition"
                    && raw.api_version.starts_with("apiextensions.k8s.io/")
                {
                    catalog.add_crd(&raw.value);
                }
            }
        }
        let mut snapshot = Snapshot {
            catalog,
            ..Snapshot::default()
        };
        let source_count = sources.len();
        for source in sources {
            let name: Arc<str> = Arc::from(source.name.as_str());
            if let Some(rev) = &source.revision {
                snapshot.revisions.push(rev.clone());
            }
            snapshot.errors.extend(source.errors);
            snapshot.files_read += source.files_read;
            snapshot.skipped_documents += source.skipped_documents;
            snapshot.bypass_users.extend(source.bypass_users);
            for raw in source.objects {
                let object = declare(&snapshot.catalog, &name, &source.default_namespace, raw);
                snapshot.insert(object)?;
            }
        }
        snapshot.revision_label = if source_count == 1 || snapshot.revisions.len() == 1 {
            snapshot
                .revisions
                .first()
                .map(SourceRevision::label)
                .unwrap_or_default()
        } else {
            snapshot
                .revisions
                .iter()
                .map(|r| format!("{}={}", r.source, r.label()))
                .collect::<Vec<_>>()
                .join(",")
        };
        Ok(snapshot)
    }

    fn insert(&mut self, object: DeclaredObject) -> Result<(), Error> {
        if let Some(existing) = self.objects.get(&object.key) {
            return Err(Error::Duplicate {
                key: Box::new(object.key.clone()),
                first: existing.location(),
                second: object.location(),
            });
        }
        let key = &object.key;
        if !key.namespace.is_empty() {
            self.namespaces.insert(key.namespace.clone());
        }
        if key.group.is_empty() && key.kind == "Namespace" {
            self.namespaces.insert(key.name.clone());
        }
        self.objects.insert(object.key.clone(), Arc::new(object));
        Ok(())
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Arc<DeclaredObject>> {
        self.objects.get(key)
    }

    /// A namespace Git declares, or declares anything in.
    pub fn is_managed_namespace(&self, namespace: &str) -> bool {
        self.namespaces.contains(namespace)
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    pub fn objects(&self) -> impl Iterator<Item = &Arc<DeclaredObject>> {
        self.objects.values()
    }

    pub fn revision_label(&self) -> &str {
        &self.revision_label
    }

    /// Objects per `group/Kind`, sorted, for summaries.
    pub fn counts_by_kind(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for key in self.objects.keys() {
            *counts.entry(key.group_kind()).or_insert(0) += 1;
        }
        counts
    }
}

/// Gives a raw object its identity: cluster-scoped kinds never get a namespace, namespaced ones
/// without `metadata.namespace` get the source's default.
fn declare(
    catalog: &Catalog,
    source: &Arc<str>,
    default_namespace: &str,
    raw: RawObject,
) -> DeclaredObject {
    let (group, _) = split_api_version(&raw.api_version);
    let name = raw
        .value
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let namespace = if catalog.is_namespaced(group, &raw.kind) {
        raw.value
            .pointer("/metadata/namespace")
            .and_then(|v| v.as_str())
            .filter(|ns| !ns.is_empty())
            .unwrap_or(default_namespace)
            .to_string()
    } else {
        String::new()
    };
    DeclaredObject {
        key: ObjectKey {
            group: group.to_string(),
            kind: raw.kind,
            namespace,
            name,
        },
        api_version: raw.api_version,
        value: raw.value,
        source: source.clone(),
        file: raw.file,
        line: raw.line,
        origin: raw.origin,
        stale: raw.stale,
    }
}

/// The live snapshot: readers load it without locks; the sync side stores a new one whole.
#[derive(Debug, Default)]
pub struct Live {
    current: ArcSwapOption<Snapshot>,
}

impl Live {
    pub fn new() -> Live {
        Live::default()
    }

    pub fn load(&self) -> Option<Arc<Snapshot>> {
        self.current.load_full()
    }

    pub fn store(&self, snapshot: Arc<Snapshot>) {
        self.current.store(Some(snapshot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Origin;
    use serde_json::json;

    fn raw(api_version: &str, kind: &str, value: serde_json::Value) -> RawObject {
        RawObject {
            api_version: api_version.into(),
            kind: kind.into(),
            value: value.into(),
            file: Arc::from("f.yaml"),
            line: 1,
            origin: Origin::File,
            stale: false,
        }
    }

    #[test]
    fn namespaces_scope_and_duplicates() {
        let source = SourceState {
            name: "s".into(),
            default_namespace: "apps".into(),
            objects: vec![
                raw(
                    "apps/v1",
                    "Deployment",
                    json!({"metadata": {"name": "web"}}),
                ),
                raw(
                    "v1",
                    "Namespace",
                    json!({"metadata": {"name": "team", "namespace": "x"}}),
                ),
                raw(
                    "example.com/v1",
                    "Widget",
                    json!({"metadata": {"name": "w", "namespace": "zzz"}}),
                ),
                raw(
                    "apiextensions.k8s.io/v1",
                    "CustomResourceDefinition",
                    json!({"metadata": {"name": "widgets.example.com"},
                    "spec": {"group": "example.com", "scope": "Cluster", "names": {"plural": "widgets", "kind": "Widget"}}}),
                ),
            ],
            ..SourceState::default()
        };
        let snap = Snapshot::build(vec![source.clone()]).expect("builds");
        assert!(snap
            .get(&ObjectKey::new("apps", "Deployment", "apps", "web"))
            .is_some());
        assert!(snap
            .get(&ObjectKey::new("", "Namespace", "", "team"))
            .is_some());
        assert!(snap
            .get(&ObjectKey::new("example.com", "Widget", "", "w"))
            .is_some());
        assert!(snap.is_managed_namespace("team"));
        assert!(snap.is_managed_namespace("apps"));
        assert!(!snap.is_managed_namespace("zzz"));

        let mut other = source;
        other.name = "t".into();
        let err = Snapshot::build(vec![
            SourceState {
                name: "s".into(),
                default_namespace: "apps".into(),
                objects: vec![raw(
                    "apps/v1",
                    "Deployment",
                    json!({"metadata": {"name": "web"}}),
                )],
                ..SourceState::default()
            },
            other,
        ])
        .expect_err("duplicate");
        assert!(err.to_string().contains("declared twice"), "{err}");
    }
}
