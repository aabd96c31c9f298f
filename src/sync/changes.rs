//! What a new revision changed for one source, counted for the log line that announces it.

use std::collections::HashSet;

use crate::manifest::ObjectKey;
use crate::snapshot::Snapshot;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    /// Objects the source declares in the new snapshot.
    pub total: usize,
    /// Files of the source that did not parse or render at this revision.
    pub file_errors: usize,
}

/// Compares the objects `source` declares in `old` (if any) and `new`. Objects of files that
/// did not change share their declaration with the old snapshot, so they are recognised by
/// pointer; only the others are looked up by key and compared by their compact JSON text (a
/// reordering of keys counts as a change).
pub fn count(old: Option<&Snapshot>, new: &Snapshot, source: &str) -> Changes {
    let mut changes = Changes::default();
    let Some(old) = old else {
        changes.total = new.objects().filter(|o| &*o.source == source).count();
        changes.added = changes.total;
        return changes;
    };
    let mut old_count: usize = 0;
    let mut shared: HashSet<*const ()> = HashSet::new();
    for object in old.objects().filter(|o| &*o.source == source) {
        old_count += 1;
        shared.insert(object.value.as_ptr());
    }
    for object in new.objects().filter(|o| &*o.source == source) {
        changes.total += 1;
        if shared.contains(&object.value.as_ptr()) {
            continue;
        }
        match old.get(&object.key) {
            Some(before) if &*before.source == source => {
                if before.value != object.value {
                    changes.changed += 1;
                }
            }
            _ => changes.added += 1,
        }
    }
    // Keys are unique per snapshot: every old key still present is matched by a new object.
    changes.removed = old_count.saturating_sub(changes.total - changes.added);
    changes
}

/// `count` for a delta: only the keys it touched can differ, so only they are looked at.
pub fn count_keys(old: &Snapshot, new: &Snapshot, source: &str, touched: &[ObjectKey]) -> Changes {
    let mut changes = Changes {
        total: new.objects().filter(|o| &*o.source == source).count(),
        ..Changes::default()
    };
    let mut seen: HashSet<&ObjectKey> = HashSet::with_capacity(touched.len());
    for key in touched {
        if !seen.insert(key) {
            continue;
        }
        let ours = |o: &&std::sync::Arc<_>| {
            let o: &crate::manifest::DeclaredObject = o;
            &*o.source == source
        };
        match (old.get(key).filter(ours), new.get(key).filter(ours)) {
            (Some(before), Some(after)) if before.value != after.value => changes.changed += 1,
            (Some(_), Some(_)) | (None, None) => {}
            (None, Some(_)) => changes.added += 1,
            (Some(_), None) => changes.removed += 1,
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse::RawObject;
    use crate::manifest::Origin;
    use crate::snapshot::SourceState;
    use serde_json::json;
    use std::sync::Arc;

    fn snapshot(objects: &[(&str, &str)]) -> Snapshot {
        let objects = objects
            .iter()
            .map(|(name, data)| RawObject {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                value: json!({"metadata": {"name": name}, "data": {"k": data}}).into(),
                file: Arc::from("f.yaml"),
                line: 1,
                origin: Origin::File,
                stale: false,
            })
            .collect();
        Snapshot::build(vec![SourceState {
            name: "s".into(),
            default_namespace: "default".into(),
            objects,
            ..SourceState::default()
        }])
        .expect("builds")
    }

    #[test]
    fn counts_added_changed_removed() {
        let old = snapshot(&[("a", "1"), ("b", "1"), ("c", "1")]);
        let new = snapshot(&[("a", "1"), ("b", "2"), ("d", "1")]);
        assert_eq!(
            count(Some(&old), &new, "s"),
            Changes {
                added: 1,
                changed: 1,
                removed: 1,
                total: 3,
                file_errors: 0
            }
        );
        assert_eq!(count(None, &new, "s").added, 3);

        // Shared values (unchanged files) are matched by pointer.
        let state = |objects: Vec<RawObject>| SourceState {
            name: "s".into(),
            default_namespace: "default".into(),
            objects,
            ..SourceState::default()
        };
        let raws: Vec<RawObject> = old
            .objects()
            .map(|o| RawObject {
                api_version: o.api_version.clone(),
                kind: o.key.kind.clone(),
                value: o.value.clone(),
                file: o.file.clone(),
                line: 1,
                origin: Origin::File,
                stale: false,
            })
            .collect();
        let same = Snapshot::build(vec![state(raws.clone())]).expect("builds");
        assert_eq!(count(Some(&old), &same, "s").changed, 0);
        let mut edited = raws;
        edited[0].value =
            json!({"metadata": {"name": edited[0].value.name()}, "data": {"k": "new"}}).into();
        let edited = Snapshot::build(vec![state(edited)]).expect("builds");
        let c = count(Some(&old), &edited, "s");
        assert_eq!((c.added, c.changed, c.removed, c.total), (0, 1, 0, 3));
        assert_eq!(count(None, &new, "other").total, 0);
    }

    #[test]
    fn counts_only_the_touched_keys_of_a_delta() {
        let old = snapshot(&[("a", "1"), ("b", "1"), ("c", "1")]);
        let new = snapshot(&[("a", "1"), ("b", "2"), ("d", "1")]);
        let key = |name: &str| ObjectKey::new("", "ConfigMap", "default", name);
        // `a` touched (re-declared unchanged), twice; `b` changed; `c` gone; `d` new.
        let touched = [key("a"), key("a"), key("b"), key("c"), key("d")];
        let c = count_keys(&old, &new, "s", &touched);
        assert_eq!((c.added, c.changed, c.removed, c.total), (1, 1, 1, 3));
        // Keys not touched are not looked at, whatever they hold.
        let c = count_keys(&old, &new, "s", &[key("a")]);
        assert_eq!((c.added, c.changed, c.removed), (0, 0, 0));
        assert_eq!(count_keys(&old, &new, "other", &touched).total, 0);
    }
}
