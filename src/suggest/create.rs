//! An object Git does not declare (a CREATE denied as `unmanaged`), added as a new file beside
//! the objects of its namespace and listed in that directory's kustomization when it has one,
//! written as a person would write it: no uid, resourceVersion, managedFields,
//! creationTimestamp or status.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::builds::Others;
use super::repo::{Checkout, Files};
use super::Error;
use crate::manifest::{ObjectKey, Origin};
use crate::render::build::Build;
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

/// The directories declared objects of the namespace live in (a kustomization's directory for
/// rendered ones), those of the source that declares most of them, most objects first.
pub fn homes(snapshot: &Snapshot, key: &ObjectKey) -> Option<(String, Vec<String>)> {
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
            Origin::Built(built) if built.dir == "." => String::new(),
            Origin::Built(built) => built.dir.clone(),
        };
        *counts.entry((object.source.to_string(), dir)).or_insert(0) += 1;
    }
    let mut per_source: BTreeMap<&str, usize> = BTreeMap::new();
    for ((source, _), n) in &counts {
        *per_source.entry(source).or_insert(0) += n;
    }
    let best = per_source.values().copied().max()?;
    let source = per_source.iter().find(|(_, n)| **n == best)?.0.to_string();
    let mut dirs: Vec<(usize, String)> = counts
        .into_iter()
        .filter(|((s, _), _)| *s == source)
        .map(|((_, d), n)| (n, d))
        .collect();
    // Most objects first; on a tie, path order.
    dirs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Some((source, dirs.into_iter().map(|(_, d)| d).collect()))
}

/// The first of `dirs` where a new file is read by no other build (another overlay, another
/// cluster): the object must be added to this cluster only.
pub fn private_home(
    checkout: &Checkout,
    dirs: &[String],
    key: &ObjectKey,
) -> Result<String, Error> {
    let mut shared = Vec::new();
    for dir in dirs {
        let build = Build::kustomize(dir, Default::default());
        let others = Others::find(checkout, &build);
        let probe = plan::join(dir, "driftgate-new.yaml");
        match others.reading(&probe).first() {
            None => return Ok(dir.clone()),
            Some(other) => shared.push(format!(
                "{} is also built by {}",
                crate::render::display_dir(dir),
                other.by
            )),
        }
    }
    let mut reasons = vec![format!(
        "{key}: every directory that declares namespace {} is read by another build too, so a new file there would add the object elsewhere as well",
        key.namespace
    )];
    reasons.extend(shared);
    Err(Error::Declined(reasons))
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
