//! The comparison driver: each live object is matched with Git's declaration and compared as
//! `/validate` compares a CREATE of it (there is no old object), through [`live_diffs`], the one
//! place the scan calls the project's comparison. Results are tallied into a [`Report`]; what
//! Git declares and the cluster lacks is missing.

use std::collections::{HashMap, HashSet};

use super::live::{LiveObject, NotAnObject};
use super::report::{ListError, ObjectReport, PathDiff, Report, State};
use crate::admission::marks::is_own_annotation;
use crate::config::Mode;
use crate::drift::{self, FieldDiff};
use crate::encoded::Node;
use crate::kinds::Catalog;
use crate::manifest::{DeclaredObject, ObjectKey};
use crate::policy::Policy;
use crate::snapshot::Snapshot;

/// A declared object whose live content cannot be compared.
#[derive(Debug, thiserror::Error)]
#[error("{key}")]
pub struct Unreadable {
    key: String,
    #[source]
    source: NotAnObject,
}

/// Git's object against a live one, as a CREATE of the live object is compared: the
/// object's `ignore` paths left out, driftgate's own annotations never drift. Bypass and
/// break-glass do not apply: drift is drift, whoever made it.
///
/// Every scan comparison goes through here, so pointing the scan at another comparison is a
/// change to this function alone.
pub fn live_diffs(
    declared: &DeclaredObject,
    live: Node<'_>,
    policy: &Policy,
    catalog: &Catalog,
) -> Vec<FieldDiff> {
    let opts = drift::Options {
        ignore: policy.ignores_for(&declared.key),
        compare_secret_data: policy.compare_secret_data,
    };
    let key = &declared.key;
    let shape = catalog.shape(&key.group, declared.version(), &key.kind);
    drift::diff_nodes(shape, &key.kind, declared.value.tree(), live, &opts)
        .into_iter()
        .filter(|d| !is_own_annotation(&d.path))
        .collect()
}

/// Objects the control plane itself makes in every namespace: never someone's edit.
const CLUSTER_MADE: &[(&str, &str, &str)] = &[
    ("", "ConfigMap", "kube-root-ca.crt"),
    ("", "ServiceAccount", "default"),
];

/// Matches live objects with the snapshot. Read-only, so several lists can be compared at once.
pub struct Scanner<'s> {
    snapshot: &'s Snapshot,
    policy: &'s Policy,
    unmanaged: bool,
    /// The (group, kind)s Git declares: the kinds the webhook guards, and so the only ones an
    /// unmanaged object is looked for among.
    declared_kinds: HashSet<(String, String)>,
    /// Declared objects of kinds whose scope driftgate does not know, written without a
    /// namespace, by (group, kind, name): a live one without a namespace is cluster-scoped and
    /// is that object (as `/validate` matches such a request).
    scope_unknown: HashMap<(String, String, String), ObjectKey>,
}

impl<'s> Scanner<'s> {
    pub fn new(snapshot: &'s Snapshot, policy: &'s Policy, unmanaged: bool) -> Scanner<'s> {
        let declared_kinds = snapshot
            .objects()
            .map(|o| (o.key.group.clone(), o.key.kind.clone()))
            .collect();
        let scope_unknown = snapshot
            .objects()
            .filter(|o| {
                o.value.namespace().is_none()
                    && snapshot
                        .catalog
                        .by_kind(&o.key.group, &o.key.kind)
                        .is_none()
            })
            .map(|o| {
                let k = &o.key;
                ((k.group.clone(), k.kind.clone(), k.name.clone()), k.clone())
            })
            .collect();
        Scanner {
            snapshot,
            policy,
            unmanaged,
            declared_kinds,
            scope_unknown,
        }
    }

    pub fn snapshot(&self) -> &'s Snapshot {
        self.snapshot
    }

    pub fn policy(&self) -> &'s Policy {
        self.policy
    }

    pub fn wants_unmanaged(&self) -> bool {
        self.unmanaged
    }

    /// Declared objects the scan compares (`mode: off` ones are skipped).
    pub fn in_scope(&self) -> impl Iterator<Item = &'s DeclaredObject> + '_ {
        let policy = self.policy;
        self.snapshot
            .objects()
            .map(|o| &**o)
            .filter(move |o| policy.mode_for(&o.key) != Mode::Off)
    }

    /// The key a live object has in the snapshot: a cluster-scoped kind has no namespace,
    /// whatever the object says; a live object of a kind of unknown scope without a namespace
    /// is the one Git declares of that kind and name without a namespace.
    fn key_of(&self, live: &LiveObject) -> ObjectKey {
        let k = &live.key;
        if k.namespace.is_empty() {
            let unknown = (k.group.clone(), k.kind.clone(), k.name.clone());
            return match self.scope_unknown.get(&unknown) {
                Some(declared) if self.snapshot.get(k).is_none() => declared.clone(),
                _ => k.clone(),
            };
        }
        if self.snapshot.catalog.is_namespaced(&k.group, &k.kind) {
            k.clone()
        } else {
            ObjectKey::new(&k.group, &k.kind, "", &k.name)
        }
    }

    /// What one live object is: declared (in sync or drifted), unmanaged, or nothing to report
    /// (undeclared elsewhere, `mode: off`). An error is an object whose content cannot be read.
    pub fn observe(&self, live: &LiveObject) -> Result<Option<Found>, Unreadable> {
        let key = self.key_of(live);
        if self.policy.mode_for(&key) == Mode::Off {
            return Ok(None);
        }
        if let Some(declared) = self.snapshot.get(&key) {
            let tree = live
                .tree_for(declared.value.tree())
                .map_err(|source| Unreadable {
                    key: key.to_string(),
                    source,
                })?;
            let paths: Vec<PathDiff> =
                live_diffs(declared, tree.root(), self.policy, &self.snapshot.catalog)
                    .into_iter()
                    .map(|d| PathDiff {
                        path: d.path.to_string(),
                        git: d.git,
                        live: d.actual,
                    })
                    .collect();
            let state = if paths.is_empty() {
                State::InSync
            } else {
                State::Drifted
            };
            let mut found = report(declared, state, paths, live.uid.clone());
            // The cluster's word on scope, where driftgate had to guess it.
            found.namespace = live.key.namespace.clone();
            return Ok(Some(Found {
                key: declared.key.clone(),
                report: found,
            }));
        }
        let unmanaged = self.unmanaged
            && !key.namespace.is_empty()
            && !live.controlled
            && self.snapshot.is_managed_namespace(&key.namespace)
            && self
                .declared_kinds
                .contains(&(key.group.clone(), key.kind.clone()))
            && !CLUSTER_MADE
                .iter()
                .any(|(g, k, n)| *g == key.group && *k == key.kind && *n == key.name);
        Ok(unmanaged.then(|| Found {
            report: ObjectReport {
                version: live.version.clone(),
                source: String::new(),
                file: String::new(),
                state: State::Unmanaged,
                paths: Vec::new(),
                uid: live.uid.clone(),
                group: key.group.clone(),
                kind: key.kind.clone(),
                namespace: key.namespace.clone(),
                name: key.name.clone(),
            },
            key,
        }))
    }
}

/// One live object's result, under the key it has in the snapshot.
#[derive(Debug, Clone)]
pub struct Found {
    pub key: ObjectKey,
    pub report: ObjectReport,
}

fn report(
    declared: &DeclaredObject,
    state: State,
    paths: Vec<PathDiff>,
    uid: Option<String>,
) -> ObjectReport {
    let k = &declared.key;
    ObjectReport {
        group: k.group.clone(),
        version: declared.version().to_string(),
        kind: k.kind.clone(),
        namespace: k.namespace.clone(),
        name: k.name.clone(),
        source: declared.source.to_string(),
        file: declared.file.to_string(),
        state,
        paths,
        uid,
    }
}

/// What a scan has found so far. A live object seen twice (two dump files, say) counts once:
/// the later one.
#[derive(Debug, Default)]
pub struct Tally {
    found: HashMap<ObjectKey, ObjectReport>,
    errors: Vec<ListError>,
    /// (group, kind)s with at least one live object, declared or not.
    kinds_seen: HashSet<(String, String)>,
}

impl Tally {
    pub fn add(&mut self, found: Found) {
        self.found.insert(found.key, found.report);
    }

    /// A live object of this kind was read (declared or not).
    pub fn saw_kind(&mut self, group: &str, kind: &str) {
        if !self
            .kinds_seen
            .contains(&(group.to_string(), kind.to_string()))
        {
            self.kinds_seen
                .insert((group.to_string(), kind.to_string()));
        }
    }

    pub fn error(&mut self, error: ListError) {
        self.errors.push(error);
    }

    /// What was found, the errors, and the kinds read: a part of a scan (one list) handed on.
    pub fn into_parts(
        self,
    ) -> (
        impl Iterator<Item = Found>,
        Vec<ListError>,
        HashSet<(String, String)>,
    ) {
        let found = self
            .found
            .into_iter()
            .map(|(key, report)| Found { key, report });
        (found, self.errors, self.kinds_seen)
    }

    /// Declared kinds in scope of which no live object was read at all: from a dump, most
    /// likely a kind left out of `kubectl get`, so every such object shows as missing.
    pub fn unseen_kinds(&self, scanner: &Scanner) -> Vec<String> {
        let mut out = std::collections::BTreeSet::new();
        for o in scanner.in_scope() {
            let k = &o.key;
            if !self.kinds_seen.contains(&(k.group.clone(), k.kind.clone())) {
                out.insert(k.group_kind());
            }
        }
        out.into_iter().collect()
    }

    /// The report: every declared object in scope (missing when no live object was seen,
    /// left out when `unread` says its list failed), and the unmanaged objects found.
    pub fn finish(mut self, scanner: &Scanner, unread: impl Fn(&ObjectKey) -> bool) -> Report {
        let mut objects = Vec::with_capacity(self.found.len());
        let mut skipped = 0;
        for declared in scanner.snapshot.objects() {
            if scanner.policy.mode_for(&declared.key) == Mode::Off {
                skipped += 1;
                continue;
            }
            match self.found.remove(&declared.key) {
                Some(found) => objects.push(found),
                None if unread(&declared.key) => {}
                None => objects.push(report(declared, State::Missing, Vec::new(), None)),
            }
        }
        // What is left was found without a declaration: unmanaged.
        objects.extend(self.found.into_values());
        objects.sort_by(|a, b| {
            (&a.group, &a.kind, &a.namespace, &a.name).cmp(&(
                &b.group,
                &b.kind,
                &b.namespace,
                &b.name,
            ))
        });
        Report {
            revision: scanner.snapshot.revision_label().to_string(),
            objects,
            errors: self.errors,
            skipped,
            notes: Vec::new(),
        }
    }
}
