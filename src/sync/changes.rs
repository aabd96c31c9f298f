//! What a new revision changed for one source, counted for the log line that announces it.

use std::collections::HashMap;
use std::sync::Arc;

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

/// Compares the objects `source` declares in `old` (if any) and `new`.
pub fn count(old: Option<&Snapshot>, new: &Snapshot, source: &str) -> Changes {
    let mut before: HashMap<&ObjectKey, &Arc<serde_json::Value>> = HashMap::new();
    if let Some(old) = old {
        for object in old.objects().filter(|o| &*o.source == source) {
            before.insert(&object.key, &object.value);
        }
    }
    let mut changes = Changes::default();
    for object in new.objects().filter(|o| &*o.source == source) {
        changes.total += 1;
        match before.remove(&object.key) {
            None => changes.added += 1,
            // Unchanged files share their parsed value: the pointer answers without a walk.
            Some(value) if !Arc::ptr_eq(value, &object.value) && **value != *object.value => {
                changes.changed += 1
            }
            Some(_) => {}
        }
    }
    changes.removed = before.len();
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
        assert_eq!(count(None, &new, "other").total, 0);
    }
}
