//! What a new revision changed for one source, counted for the log line that announces it.

use std::collections::HashSet;
use std::sync::Arc;

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
/// did not change share their parsed value with the old snapshot, so they are recognised by
/// pointer; only the others are looked up by key.
pub fn count(old: Option<&Snapshot>, new: &Snapshot, source: &str) -> Changes {
    let mut changes = Changes::default();
    let Some(old) = old else {
        changes.total = new.objects().filter(|o| &*o.source == source).count();
        changes.added = changes.total;
        return changes;
    };
    let mut old_count: usize = 0;
    let mut shared: HashSet<*const serde_json::Value> = HashSet::new();
    for object in old.objects().filter(|o| &*o.source == source) {
        old_count += 1;
        shared.insert(Arc::as_ptr(&object.value));
    }
    for object in new.objects().filter(|o| &*o.source == source) {
        changes.total += 1;
        if shared.contains(&Arc::as_ptr(&object.value)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse::RawObject;
    use crate::manifest::Origin;
    use crate::snapshot::SourceState;
    use serde_json::json;

    fn snapshot(objects: &[(&str, &str)]) -> Snapshot {
        let objects = objects
            .iter()
            .map(|(name, data)| RawObject {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                value: Arc::new(json!({"metadata": {"name": name}, "data": {"k": data}})),
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
        edited[0].value = Arc::new(
            json!({"metadata": {"name": edited[0].value["metadata"]["name"]}, "data": {"k": "new"}}),
        );
        let edited = Snapshot::build(vec![state(edited)]).expect("builds");
        let c = count(Some(&old), &edited, "s");
        assert_eq!((c.added, c.changed, c.removed, c.total), (0, 1, 0, 3));
        assert_eq!(count(None, &new, "other").total, 0);
    }
}
