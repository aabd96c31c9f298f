//! The immutable declared state at one revision per source. The request path only ever reads a
//! `Snapshot` through an `Arc`; a new one is built whole off the request path and swapped in.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::findings::Findings;
use crate::kinds::Catalog;
use crate::manifest::parse::{FileError, RawObject};
use crate::manifest::{split_api_version, DeclaredObject, ObjectKey};

mod lookup;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{key} is declared twice: in {first} and in {second} (Git must declare each object once; \
         for a repository holding several clusters, set the source's `paths` or `discover: flux`)"
    )]
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
    /// Notes, what is out of scope, failed builds.
    pub findings: Findings,
}

/// What a new revision of one source changed, file by file: the objects the changed files
/// declared before (to take out of the snapshot) and declare now (to put in), with the
/// source's whole error list and figures at the new revision.
#[derive(Debug, Clone, Default)]
pub struct SourceDelta {
    pub revision: Option<SourceRevision>,
    pub removed: Vec<RawObject>,
    pub added: Vec<RawObject>,
    pub errors: Vec<FileError>,
    pub files_read: usize,
    pub skipped_documents: usize,
    /// The source's figures the delta starts from, to take out of the snapshot's sums.
    pub before_files_read: usize,
    pub before_skipped_documents: usize,
}

#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub revisions: Vec<SourceRevision>,
    objects: HashSet<ByKey>,
    /// Namespaces Git declares or declares anything in, with how many objects do: a delta
    /// that removes the last one removes the namespace.
    namespaces: HashMap<String, usize>,
    pub catalog: Catalog,
    pub errors: Vec<FileError>,
    pub files_read: usize,
    pub skipped_documents: usize,
    pub bypass_users: Vec<String>,
    /// Every source's notes, out-of-scope parts and failed builds.
    pub findings: Findings,
    /// One label for all sources: `main@sha1:…` for one, `a=main@sha1:…,b=…` for several.
    revision_label: String,
    /// Objects Git declares with `generateName` and no name: not keyed by name, matched with a
    /// CREATE by group, kind, namespace and `generateName`.
    untracked: Vec<Arc<DeclaredObject>>,
    /// Objects of a kind whose scope nothing says (not built in, no CRD in Git) declared
    /// without a namespace: keyed with the default namespace, and found here by their key
    /// without one when a request says they are cluster-scoped.
    unscoped: HashMap<ObjectKey, ObjectKey>,
    /// group → English plural → kind, for declared kinds nothing else names the plural of
    /// (a `scale` request names only the resource).
    guessed: HashMap<String, HashMap<String, String>>,
}

impl Snapshot {
    /// Merges sources into one snapshot. A key declared twice (in one source or across sources) is
    /// an error: there is no single Git truth to compare against.
    pub fn build(sources: Vec<SourceState>) -> Result<Snapshot, Error> {
        Snapshot::rebuild(sources, None)
    }

    /// `build`, taking from `previous` every object that is unchanged (same shared declaration,
    /// file and identity) instead of making it again: after a one-file change, a sync allocates
    /// for that file's objects only, and freeing the previous snapshot frees only those.
    pub fn rebuild(
        sources: Vec<SourceState>,
        previous: Option<&Snapshot>,
    ) -> Result<Snapshot, Error> {
        let reuse: HashMap<*const (), &Arc<DeclaredObject>> = previous
            .into_iter()
            .flat_map(Snapshot::objects)
            .map(|object| (object.value.as_ptr(), object))
            .collect();
        let mut catalog = Catalog::built_in();
        for source in &sources {
            for raw in &source.objects {
                if raw.kind == "CustomResourceDefinition"
                    && raw.api_version.starts_with("apiextensions.k8s.io/")
                {
                    // Text made from a `Value` always parses back; nothing to add otherwise.
                    if let Ok(crd) = raw.value.parse() {
                        catalog.add_crd(&crd);
                    }
                }
            }
        }
        let mut snapshot = Snapshot {
            catalog,
            ..Snapshot::default()
        };
        snapshot
            .objects
            .reserve(sources.iter().map(|s| s.objects.len()).sum());
        for source in sources {
            let name: Arc<str> = Arc::from(source.name.as_str());
            if let Some(rev) = &source.revision {
                snapshot.revisions.push(rev.clone());
            }
            snapshot.errors.extend(source.errors);
            snapshot.files_read += source.files_read;
            snapshot.skipped_documents += source.skipped_documents;
            snapshot.bypass_users.extend(source.bypass_users);
            snapshot.findings.extend(source.findings);
            for raw in source.objects {
                let object = declare(
                    &snapshot.catalog,
                    &name,
                    &source.default_namespace,
                    raw,
                    &reuse,
                );
                snapshot.insert(object)?;
            }
        }
        snapshot.label_revisions();
        Ok(snapshot)
    }

    /// A new snapshot: this one with one source's delta applied. Costs a copy of the object
    /// set's pointers plus the changed objects, where `rebuild` costs a pass over every object.
    /// Returns the keys the delta touched, for counting what changed.
    ///
    /// The delta must not add or remove CustomResourceDefinitions (the scope of other objects
    /// would change); `Declarer::update` falls back to a whole read when it would.
    pub fn apply(
        &self,
        source: &str,
        default_namespace: &str,
        delta: SourceDelta,
    ) -> Result<(Snapshot, Vec<ObjectKey>), Error> {
        let mut next = self.clone();
        let name: Arc<str> = self
            .objects()
            .find(|o| &*o.source == source)
            .map_or_else(|| Arc::from(source), |o| o.source.clone());
        let mut touched = Vec::with_capacity(delta.removed.len() + delta.added.len());
        for raw in &delta.removed {
            if raw.value.name().is_empty() {
                next.forget_untracked(source, &raw.file);
                continue;
            }
            let key = next.key_of(default_namespace, raw);
            let ours = next
                .objects
                .get(&key)
                .is_some_and(|o| &*o.0.source == source && o.0.file == raw.file);
            if ours {
                if let Some(gone) = next.objects.take(&key) {
                    next.forget_namespaces(&gone.0.key);
                    next.forget_unscoped(&gone.0);
                }
                touched.push(key);
            }
        }
        for raw in delta.added {
            let object = declare(
                &next.catalog,
                &name,
                default_namespace,
                raw,
                &HashMap::new(),
            );
            touched.push(object.key.clone());
            next.insert(object)?;
        }
        next.errors.retain(|e| e.source != source);
        next.errors.extend(delta.errors);
        next.files_read =
            next.files_read - delta.before_files_read.min(next.files_read) + delta.files_read;
        next.skipped_documents = next.skipped_documents
            - delta.before_skipped_documents.min(next.skipped_documents)
            + delta.skipped_documents;
        if let Some(revision) = delta.revision {
            match next.revisions.iter_mut().find(|r| r.source == source) {
                Some(slot) => *slot = revision,
                None => next.revisions.push(revision),
            }
        }
        next.label_revisions();
        Ok((next, touched))
    }

    /// One label for all sources: `main@sha1:…` for one, `a=main@sha1:…,b=…` for several.
    fn label_revisions(&mut self) {
        self.revision_label = if self.revisions.len() == 1 {
            self.revisions
                .first()
                .map(SourceRevision::label)
                .unwrap_or_default()
        } else {
            self.revisions
                .iter()
                .map(|r| format!("{}={}", r.source, r.label()))
                .collect::<Vec<_>>()
                .join(",")
        };
    }

    /// The key `raw` has in this snapshot (see [`declare`]).
    fn key_of(&self, default_namespace: &str, raw: &RawObject) -> ObjectKey {
        let (group, _) = split_api_version(&raw.api_version);
        let namespace = namespace_of(&self.catalog, default_namespace, raw);
        ObjectKey::new(group, &raw.kind, namespace, raw.value.name())
    }

    /// The namespaces an object makes managed: its own, and its name for a Namespace.
    fn namespaces_of(key: &ObjectKey) -> impl Iterator<Item = &str> {
        let own = (!key.namespace.is_empty()).then_some(key.namespace.as_str());
        let declared = (key.group.is_empty() && key.kind == "Namespace" && !key.name.is_empty())
            .then_some(key.name.as_str());
        own.into_iter().chain(declared)
    }

    fn forget_namespaces(&mut self, key: &ObjectKey) {
        for namespace in Snapshot::namespaces_of(key) {
            if let Some(count) = self.namespaces.get_mut(namespace) {
                *count -= 1;
                if *count == 0 {
                    self.namespaces.remove(namespace);
                }
            }
        }
    }

    fn insert(&mut self, object: Arc<DeclaredObject>) -> Result<(), Error> {
        if object.key.name.is_empty() {
            self.count_namespaces(&object.key);
            self.untracked.push(object);
            return Ok(());
        }
        if !self.objects.insert(ByKey(Arc::clone(&object))) {
            return Err(Error::Duplicate {
                key: Box::new(object.key.clone()),
                first: self
                    .objects
                    .get(&object.key)
                    .map(|existing| existing.0.location())
                    .unwrap_or_default(),
                second: object.location(),
            });
        }
        self.index_unknown_kind(&object);
        self.count_namespaces(&object.key);
        Ok(())
    }

    /// Counts the namespaces `key` makes managed.
    fn count_namespaces(&mut self, key: &ObjectKey) {
        // Looked up before copying: at every sync each object's namespace is one already known.
        for namespace in Snapshot::namespaces_of(key) {
            match self.namespaces.get_mut(namespace) {
                Some(count) => *count += 1,
                None => {
                    self.namespaces.insert(namespace.to_string(), 1);
                }
            }
        }
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Arc<DeclaredObject>> {
        self.objects.get(key).map(|entry| &entry.0)
    }

    /// A namespace Git declares, or declares anything in.
    pub fn is_managed_namespace(&self, namespace: &str) -> bool {
        self.namespaces.contains_key(namespace)
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    pub fn objects(&self) -> impl Iterator<Item = &Arc<DeclaredObject>> {
        self.objects.iter().map(|entry| &entry.0)
    }

    pub fn revision_label(&self) -> &str {
        &self.revision_label
    }

    /// Objects per `group/Kind`, sorted, for summaries.
    pub fn counts_by_kind(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for entry in &self.objects {
            *counts.entry(entry.0.key.group_kind()).or_insert(0) += 1;
        }
        counts
    }
}

/// An object in the snapshot's set, found by its key: the key is stored once, inside the
/// object, instead of again as a map key (four strings per object, 100,000 objects, built
/// anew at every sync).
#[derive(Debug, Clone)]
struct ByKey(Arc<DeclaredObject>);

impl Borrow<ObjectKey> for ByKey {
    fn borrow(&self) -> &ObjectKey {
        &self.0.key
    }
}

impl Hash for ByKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.key.hash(state);
    }
}

impl PartialEq for ByKey {
    fn eq(&self, other: &ByKey) -> bool {
        self.0.key == other.0.key
    }
}

impl Eq for ByKey {}

/// Gives a raw object its identity: cluster-scoped kinds never get a namespace, namespaced ones
/// without `metadata.namespace` get the source's default. An equal object of the previous
/// snapshot (found by its shared declaration) is returned instead of a new one.
fn declare(
    catalog: &Catalog,
    source: &Arc<str>,
    default_namespace: &str,
    raw: RawObject,
    reuse: &HashMap<*const (), &Arc<DeclaredObject>>,
) -> Arc<DeclaredObject> {
    let namespace = namespace_of(catalog, default_namespace, &raw);
    if let Some(old) = reuse.get(&raw.value.as_ptr()) {
        // apiVersion, kind and name come from the declaration itself, so they are equal; the
        // scope may have changed with a CRD, staleness with the file breaking.
        let same = old.key.namespace == namespace
            && old.stale == raw.stale
            && old.line == raw.line
            && Arc::ptr_eq(&old.file, &raw.file)
            && old.source == *source
            && old.origin == raw.origin;
        if same {
            return Arc::clone(old);
        }
    }
    // Copied only for a new object, so reused ones cost no allocation.
    let namespace = namespace.to_string();
    let group = split_api_version(&raw.api_version).0.to_string();
    Arc::new(DeclaredObject {
        key: ObjectKey {
            group,
            kind: raw.kind,
            namespace,
            name: raw.value.name().to_string(),
        },
        api_version: raw.api_version,
        value: raw.value,
        source: source.clone(),
        file: raw.file,
        line: raw.line,
        origin: raw.origin,
        stale: raw.stale,
    })
}

/// Cluster-scoped kinds never get a namespace; namespaced ones without `metadata.namespace` get
/// the source's default.
pub(crate) fn namespace_of<'r>(
    catalog: &Catalog,
    default_namespace: &'r str,
    raw: &'r RawObject,
) -> &'r str {
    let (group, _) = split_api_version(&raw.api_version);
    if catalog.is_namespaced(group, &raw.kind) {
        raw.value
            .namespace()
            .or(raw.origin.default_namespace())
            .unwrap_or(default_namespace)
    } else {
        ""
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
        assert!(err.to_string().contains("discover: flux"), "{err}");
    }

    #[test]
    fn rebuild_reuses_unchanged_objects_only() {
        let widget = raw(
            "example.com/v1",
            "Widget",
            json!({"metadata": {"name": "w", "namespace": "team"}}),
        );
        let crd = |scope: &str| {
            raw(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                json!({"metadata": {"name": "widgets.example.com"},
                "spec": {"group": "example.com", "scope": scope, "names": {"plural": "widgets", "kind": "Widget"}}}),
            )
        };
        let state = |objects: Vec<RawObject>| SourceState {
            name: "s".into(),
            default_namespace: "apps".into(),
            objects,
            ..SourceState::default()
        };
        let namespaced = ObjectKey::new("example.com", "Widget", "team", "w");
        let first =
            Snapshot::build(vec![state(vec![widget.clone(), crd("Namespaced")])]).expect("builds");
        let same = Snapshot::rebuild(
            vec![state(vec![widget.clone(), crd("Namespaced")])],
            Some(&first),
        )
        .expect("builds");
        let (before, after) = (first.get(&namespaced), same.get(&namespaced));
        assert!(matches!((before, after), (Some(b), Some(a)) if Arc::ptr_eq(b, a)));

        // Same declaration, but the CRD now makes it cluster-scoped: a new identity.
        let scoped = Snapshot::rebuild(
            vec![state(vec![widget.clone(), crd("Cluster")])],
            Some(&first),
        )
        .expect("builds");
        assert!(scoped.get(&namespaced).is_none());
        assert!(scoped
            .get(&ObjectKey::new("example.com", "Widget", "", "w"))
            .is_some());

        // Same declaration kept from an earlier revision: marked stale, so not the old object.
        let mut stale = widget;
        stale.stale = true;
        let kept = Snapshot::rebuild(vec![state(vec![stale, crd("Namespaced")])], Some(&first))
            .expect("builds");
        assert!(kept.get(&namespaced).is_some_and(|o| o.stale));
    }
}
