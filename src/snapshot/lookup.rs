//! Finding declared objects a request does not name by their key: `generateName` objects
//! (matched by group, kind, namespace and `generateName`), objects of a kind whose scope
//! nothing says (found without namespace when a request is about a cluster-scoped one), and
//! kinds whose plural only English gives (a `scale` request names the resource).

use std::sync::Arc;

use super::Snapshot;
use crate::manifest::{DeclaredObject, ObjectKey};

impl Snapshot {
    /// Records what a request may need to find `object` of a kind whose scope and plural
    /// nothing says: an alias without namespace when Git declares it without one, and the
    /// kind's English plural.
    pub(super) fn index_unknown_kind(&mut self, object: &DeclaredObject) {
        let key = &object.key;
        if self.catalog.knows(&key.group, &key.kind) {
            return;
        }
        if !key.namespace.is_empty() && object.value.namespace().is_none() {
            let mut alias = key.clone();
            alias.namespace.clear();
            self.unscoped.insert(alias, key.clone());
        }
        let plurals = self.guessed.entry(key.group.clone()).or_default();
        if !plurals.values().any(|k| *k == key.kind) {
            plurals.insert(crate::kinds::english_plural(&key.kind), key.kind.clone());
        }
    }

    pub(super) fn forget_unscoped(&mut self, object: &DeclaredObject) {
        let mut alias = object.key.clone();
        alias.namespace.clear();
        if self.unscoped.get(&alias) == Some(&object.key) {
            self.unscoped.remove(&alias);
        }
    }

    /// Drops the `generateName` objects `file` of `source` declared (a delta re-adds what the
    /// file declares now).
    pub(super) fn forget_untracked(&mut self, source: &str, file: &str) {
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.untracked)
            .into_iter()
            .partition(|o| &*o.source == source && &*o.file == file);
        self.untracked = kept;
        for object in gone {
            self.forget_namespaces(&object.key);
        }
    }

    /// The object a request without a namespace is about, for a kind whose scope nothing
    /// says: Git's object of that kind and name declared without a namespace.
    pub fn get_unscoped(&self, key: &ObjectKey) -> Option<&Arc<DeclaredObject>> {
        if !key.namespace.is_empty() {
            return None;
        }
        self.unscoped.get(key).and_then(|primary| self.get(primary))
    }

    /// The kind a request's plural resource names, for a declared kind that neither the
    /// built-in table nor a CRD in Git names (its English plural).
    pub fn guessed_kind(&self, group: &str, plural: &str) -> Option<&str> {
        self.guessed.get(group)?.get(plural).map(String::as_str)
    }

    /// Objects declared with `generateName` and no name.
    pub fn untracked(&self) -> impl Iterator<Item = &Arc<DeclaredObject>> {
        self.untracked.iter()
    }

    /// The `generateName` objects a CREATE of `generate_name` in `group`, `kind` and
    /// `namespace` may be.
    pub fn untracked_for<'a>(
        &'a self,
        group: &'a str,
        kind: &'a str,
        namespace: &'a str,
        generate_name: &'a str,
    ) -> impl Iterator<Item = &'a Arc<DeclaredObject>> + 'a {
        self.untracked.iter().filter(move |o| {
            o.key.group == group
                && o.key.kind == kind
                && o.key.namespace == namespace
                && o.value.generate_name() == Some(generate_name)
        })
    }
}
