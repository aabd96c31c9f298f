//! An object Git does not declare (a CREATE denied as `unmanaged`), added as a new file beside
//! the objects of its namespace and listed in that directory's kustomization when it has one,
//! written as a person would write it: no uid, resourceVersion, managedFields,
//! creationTimestamp or status.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::repo::{Checkout, Files};
use super::Error;
use crate::manifest::{ObjectKey, Origin};
use crate::render::plan;
use crate::snapshot::Snapshot;
use crate::yamledit::{render, value, Editor};

/// Metadata the apiserver writes; nobody declares it.
const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Annotations clients write about themselves.
const CLIENT_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
];

/// The object as a person would declare it.
pub fn clean(object: &Value) -> Value {
    let mut out = object.clone();
    if let Some(map) = out.as_object_mut() {
        map.shift_remove("status");
    }
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in SERVER_METADATA {
            meta.shift_remove(*field);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            for a in CLIENT_ANNOTATIONS {
                annotations.shift_remove(*a);
            }
        }
        if meta
            .get("annotations")
            .and_then(Value::as_object)
            .is_some_and(|a| a.is_empty())
        {
            meta.shift_remove("annotations");
        }
    }
    out
}

/// The directory most declared objects of the namespace live in (a kustomization's directory
/// for rendered ones), with the source that declares them.
pub fn home(snapshot: &Snapshot, key: &ObjectKey) -> Option<(String, String)> {
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for object in snapshot.objects() {
        let own = object.key.namespace == key.namespace
            || (object.key.kind == "Namespace"
                && object.key.group.is_empty()
                && object.key.name == key.namespace);
        if !own {
            continue;
        }
        let dir = match &object.origin {
            Origin::File => plan::parent(&object.file).to_string(),
            Origin::Kustomize { dir } if dir == "." => String::new(),
            Origin::Kustomize { dir } => dir.clone(),
        };
        *counts.entry((object.source.to_string(), dir)).or_insert(0) += 1;
    }
    // The most objects; on a tie, the first in path order.
    let best = counts.values().copied().max()?;
    counts.into_iter().find(|(_, n)| *n == best).map(|(k, _)| k)
}

/// A file name for the object that is free in `dir`: `configmap-settings.yaml`.
fn file_name(files: &Files, dir: &str, key: &ObjectKey) -> String {
    let kind = key.kind.to_ascii_lowercase();
    let name: String = key
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut candidate = format!("{kind}-{name}.yaml");
    let mut n = 2;
    while files.exists(&plan::join(dir, &candidate)) {
        candidate = format!("{kind}-{name}-{n}.yaml");
        n += 1;
    }
    candidate
}

/// Adds the object in `dir` (and to its kustomization's `resources:`).
pub fn apply(
    files: &mut Files,
    checkout: &Checkout,
    dir: &str,
    key: &ObjectKey,
    object: &Value,
) -> Result<(), Error> {
    let declared = clean(object);
    let name = file_name(files, dir, key);
    let path = plan::join(dir, &name);
    let text = render::block(&declared, 0, render::Layout::default()).join("\n") + "\n";
    // The new file must read back as exactly this object, like every edit.
    let read = crate::manifest::yaml::parse_documents(&text)
        .ok()
        .and_then(|mut d| (d.len() == 1).then(|| d.remove(0).value));
    if !read.is_some_and(|r| value::same(&r, &declared)) {
        return Err(Error::Declined(vec![format!(
            "{key}: the object cannot be written as YAML that reads back the same"
        )]));
    }
    files.write(&path, text);
    if let Some((kustomization, _)) = checkout.index.kustomization_file(dir) {
        list_resource(files, &kustomization, &name)?;
    }
    Ok(())
}

/// Adds `entry` to a kustomization's `resources:` (the list made when there is none).
pub fn list_resource(files: &mut Files, kustomization: &str, entry: &str) -> Result<(), Error> {
    let text = files.read(kustomization)?.unwrap_or_default();
    let edit_err = |source| Error::Edit {
        file: kustomization.to_string(),
        source,
    };
    let mut editor = Editor::new(&text).map_err(edit_err)?;
    let mut doc = editor.value(0).cloned().unwrap_or_else(|| json!({}));
    match doc.get_mut("resources").and_then(Value::as_array_mut) {
        Some(list) => list.push(json!(entry)),
        None => doc["resources"] = json!([entry]),
    }
    editor.replace(0, doc).map_err(edit_err)?;
    let out = editor.finish().map_err(edit_err)?;
    files.write(kustomization, out);
    Ok(())
}

/// Takes `entry` out of a kustomization's `resources:`.
pub fn unlist_resource(files: &mut Files, kustomization: &str, entry: &str) -> Result<bool, Error> {
    let Some(text) = files.read(kustomization)? else {
        return Ok(false);
    };
    let edit_err = |source| Error::Edit {
        file: kustomization.to_string(),
        source,
    };
    let mut editor = Editor::new(&text).map_err(edit_err)?;
    let Some(mut doc) = editor.value(0).cloned() else {
        return Ok(false);
    };
    let Some(list) = doc.get_mut("resources").and_then(Value::as_array_mut) else {
        return Ok(false);
    };
    let before = list.len();
    list.retain(|r| {
        r.as_str().map(|s| s.trim_start_matches("./")) != Some(entry.trim_start_matches("./"))
    });
    if list.len() == before {
        return Ok(false);
    }
    editor.replace(0, doc).map_err(edit_err)?;
    let out = editor.finish().map_err(edit_err)?;
    files.write(kustomization, out);
    Ok(true)
}
