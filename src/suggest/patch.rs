//! A strategic-merge patch in the overlay: what changes a value that a shared base declares
//! without changing the base (other overlays build it too). An existing patch of the overlay
//! that targets the object is extended; otherwise a new file is written beside the
//! kustomization and registered in its `patches:`.

use serde_json::{json, Map, Value};

use super::create;
use super::provenance::Kustomization;
use super::repo::Files;
use super::want::FieldChange;
use super::Error;
use crate::manifest::{yaml, ObjectKey};
use crate::yamledit::{render, value, Editor, Step};

/// API groups whose kinds kustomize merges by their schema (lists by merge key); a custom
/// resource's lists are replaced whole by a strategic-merge patch.
const BUILT_IN_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
];

fn merges_lists(key: &ObjectKey) -> bool {
    BUILT_IN_GROUPS.contains(&key.group.as_str())
}

/// The patch body that makes `expected` (the object as it should render) out of the object
/// at the changed paths: the new value at each path, `null` for a removed key, a
/// `$patch: delete` element for a removed list element. For a custom resource a path stops at
/// its first list, which the patch carries whole.
pub fn body(key: &ObjectKey, expected: &Value, changes: &[FieldChange]) -> Value {
    let mut out = Value::Object(Map::new());
    for change in changes {
        let lists_merge = merges_lists(key);
        let cut = change
            .path
            .iter()
            .position(|s| match s {
                Step::Key(_) => false,
                Step::Select(_) => !lists_merge,
                Step::Index(_) => true,
            })
            .unwrap_or(change.path.len());
        let path = &change.path[..cut];
        let whole = cut < change.path.len();
        let new = match (&change.value, whole) {
            (_, true) | (Some(_), false) => value::get(expected, path).cloned(),
            (None, false) => None,
        };
        put(&mut out, expected, path, new);
    }
    out
}

/// Writes `new` (or a deletion) at `path` of a patch body, making the maps and list-map
/// elements (with their key fields, typed as the object has them) on the way.
fn put(body: &mut Value, expected: &Value, path: &[Step], new: Option<Value>) {
    let Some((step, rest)) = path.split_first() else {
        return;
    };
    let here_expected = |s: &Step| match (s, expected) {
        (Step::Key(k), Value::Object(m)) => m.get(k),
        (_, Value::Array(items)) => value::find(items, s).map(|i| &items[i]),
        _ => None,
    };
    match step {
        Step::Key(k) => {
            if !body.is_object() {
                *body = Value::Object(Map::new());
            }
            let Some(map) = body.as_object_mut() else {
                return;
            };
            if rest.is_empty() {
                map.insert(k.clone(), new.unwrap_or(Value::Null));
                return;
            }
            let next = here_expected(step).cloned().unwrap_or(Value::Null);
            let slot = map.entry(k.clone()).or_insert(Value::Null);
            put(slot, &next, rest, new);
        }
        // Cut off before any index (see `body`): an element is only ever named by its keys.
        Step::Index(_) => {}
        Step::Select(fields) => {
            if !body.is_array() {
                *body = Value::Array(Vec::new());
            }
            let element_expected = here_expected(step).cloned();
            let Some(items) = body.as_array_mut() else {
                return;
            };
            // The element as the patch names it: the key fields the object writes, typed as it
            // types them (a key the comparison shows with its default is not written).
            let written: Vec<&(String, String)> = fields
                .iter()
                .filter(|(f, _)| {
                    element_expected
                        .as_ref()
                        .is_some_and(|e| e.get(f).is_some())
                })
                .collect();
            let named = if written.is_empty() {
                fields.iter().collect()
            } else {
                written
            };
            let keyed: Map<String, Value> = named
                .into_iter()
                .map(|(f, v)| {
                    let typed = element_expected
                        .as_ref()
                        .and_then(|e| e.get(f))
                        .cloned()
                        .unwrap_or_else(|| json!(v));
                    (f.clone(), typed)
                })
                .collect();
            let at = match items
                .iter()
                .position(|i| keyed.iter().all(|(f, v)| i.get(f) == Some(v)))
            {
                Some(at) => at,
                None => {
                    items.push(Value::Object(keyed.clone()));
                    items.len() - 1
                }
            };
            if rest.is_empty() {
                items[at] = match new {
                    Some(v) => v,
                    None => {
                        let mut gone = keyed;
                        gone.insert("$patch".into(), json!("delete"));
                        Value::Object(gone)
                    }
                };
                return;
            }
            put(
                &mut items[at],
                &element_expected.unwrap_or(Value::Null),
                rest,
                new,
            );
        }
    }
}

/// Deep-merges a patch body into an existing patch document (maps by key, list-map
/// elements by their key fields, anything else replaced).
fn merge(into: &mut Value, add: &Value) {
    match (into, add) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(slot) if v.is_object() || v.is_array() => merge(slot, v),
                    _ => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if b.iter().all(Value::is_object) => {
            for element in b {
                let key = element
                    .as_object()
                    .and_then(|m| m.iter().next())
                    .map(|(k, v)| (k.clone(), v.clone()));
                let found = key
                    .as_ref()
                    .and_then(|(k, v)| a.iter_mut().find(|e| e.get(k) == Some(v)));
                match found {
                    Some(slot) => merge(slot, element),
                    None => a.push(element.clone()),
                }
            }
        }
        (slot, other) => *slot = other.clone(),
    }
}

/// Writes `patch` (a body to merge, or a whole document for a delete) into the overlay:
/// extending one of its patch files that targets the object by `name`, or a new file
/// registered in its kustomization.
pub fn write(
    files: &mut Files,
    overlay: &Kustomization,
    key: &ObjectKey,
    api_version: &str,
    name: &str,
    patch: &Value,
) -> Result<String, Error> {
    for (_, file, target) in overlay.patch_files() {
        let Some(text) = files.read(&file)? else {
            continue;
        };
        let Ok(mut editor) = Editor::new(&text) else {
            continue;
        };
        let found = (0..editor.len()).find(|&i| {
            editor.value(i).is_some_and(|doc| {
                let kind = doc.get("kind").and_then(Value::as_str) == Some(key.kind.as_str());
                let target_name = target
                    .as_ref()
                    .and_then(|t| t.get("name"))
                    .and_then(Value::as_str);
                let doc_name = doc.pointer("/metadata/name").and_then(Value::as_str);
                kind && target_name.or(doc_name) == Some(name)
            })
        });
        let Some(doc) = found else { continue };
        let mut value = editor.value(doc).cloned().unwrap_or(Value::Null);
        merge(&mut value, patch);
        let edit_err = |source| Error::Edit {
            file: file.clone(),
            source,
        };
        editor.replace(doc, value).map_err(edit_err)?;
        let out = editor.finish().map_err(edit_err)?;
        files.write(&file, out);
        return Ok(file);
    }
    let doc = document(key, api_version, name, patch);
    let file_name = format!("{}-{}-patch.yaml", name, key.kind.to_ascii_lowercase());
    let path = crate::render::plan::join(&overlay.dir, &file_name);
    let text = text(&doc);
    let reads_back = yaml::parse_documents(&text)
        .ok()
        .and_then(|d| d.into_iter().next())
        .is_some_and(|d| value::same(&d.value, &doc));
    if !reads_back {
        return Err(Error::Declined(vec![format!(
            "{key}: the patch cannot be written as YAML that reads back the same"
        )]));
    }
    files.write(&path, text);
    register(files, overlay, &file_name, target(key, name))?;
    Ok(path)
}

/// A whole patch document: the object's identity and the body.
pub fn document(key: &ObjectKey, api_version: &str, name: &str, body: &Value) -> Value {
    let mut doc = json!({"apiVersion": api_version, "kind": key.kind, "metadata": {"name": name}});
    merge(&mut doc, body);
    doc
}

/// A patch document as the text of an inline patch (a kustomization's or a Flux
/// Kustomization's `patches[].patch`). kustomize trims an inline patch before reading it, so
/// a literal block scalar on its last lines would lose its final line break (`|` reads back
/// without it): such a document is written as JSON, which YAML reads the same.
pub fn text(doc: &Value) -> String {
    if ends_in_line_break(doc) {
        if let Ok(json) = serde_json::to_string_pretty(doc) {
            return json + "\n";
        }
    }
    render::block(doc, 0, render::Layout::default()).join("\n") + "\n"
}

/// Whether the value written last (the last entry of the last map, all the way down) is a
/// multi-line string ending in a line break.
fn ends_in_line_break(doc: &Value) -> bool {
    match doc {
        Value::Object(map) => map.values().next_back().is_some_and(ends_in_line_break),
        Value::Array(items) => items.last().is_some_and(ends_in_line_break),
        Value::String(s) => s.contains('\n') && s.ends_with('\n'),
        _ => false,
    }
}

/// Whether a change goes in JSON 6902 operations rather than a strategic merge: a removal (a
/// strategic-merge `null` is not reliable: kustomize writes a label set to `null` as the
/// string `"null"`), and a map written whole (an atomic one, a `LabelSelector`, which a
/// strategic merge would merge into the old one instead of replacing).
pub fn needs_operation(change: &FieldChange) -> bool {
    !matches!(&change.value, Some(v) if !v.is_object())
}

/// JSON 6902 operations for changes: `remove` for a removed field, `replace` (or `add` where
/// the field is new) for one written whole; paths resolved in `rendered`, list elements by
/// their index there.
pub fn operations(rendered: &Value, changes: &[FieldChange]) -> Result<Value, Error> {
    let mut ops = Vec::new();
    for change in changes {
        let mut pointer = String::new();
        let mut at = Some(rendered);
        let mut exists = true;
        for (i, step) in change.path.iter().enumerate() {
            let last = i + 1 == change.path.len();
            let (segment, next) = match (step, at) {
                (Step::Key(k), Some(Value::Object(m))) => {
                    (k.replace('~', "~0").replace('/', "~1"), m.get(k))
                }
                (_, Some(Value::Array(items))) => match value::find(items, step) {
                    Some(i) => (i.to_string(), items.get(i)),
                    None => (String::new(), None),
                },
                _ => (String::new(), None),
            };
            if next.is_none() && !(last && matches!(step, Step::Key(_))) {
                return Err(Error::Declined(vec![format!(
                    "{}: not in the rendered object",
                    change.display()
                )]));
            }
            exists = next.is_some();
            pointer.push('/');
            pointer.push_str(&segment);
            at = next;
        }
        ops.push(match &change.value {
            None => json!({"op": "remove", "path": pointer}),
            Some(v) if exists => json!({"op": "replace", "path": pointer, "value": v}),
            Some(v) => json!({"op": "add", "path": pointer, "value": v}),
        });
    }
    Ok(Value::Array(ops))
}

/// Writes JSON 6902 operations as a new patch file of the overlay, registered with the
/// object as its target.
pub fn write_ops(
    files: &mut Files,
    overlay: &Kustomization,
    key: &ObjectKey,
    name: &str,
    ops: &Value,
) -> Result<String, Error> {
    let stem = format!("{}-{}-operations", name, key.kind.to_ascii_lowercase());
    let mut file_name = format!("{stem}.yaml");
    let mut n = 2;
    while files.exists(&crate::render::plan::join(&overlay.dir, &file_name)) {
        file_name = format!("{stem}-{n}.yaml");
        n += 1;
    }
    let path = crate::render::plan::join(&overlay.dir, &file_name);
    files.write(&path, text(ops));
    register(files, overlay, &file_name, target(key, name))?;
    Ok(path)
}

/// The `target:` selecting the object by group, kind and name.
pub fn target(key: &ObjectKey, name: &str) -> Value {
    if key.group.is_empty() {
        json!({"kind": key.kind, "name": name})
    } else {
        json!({"group": key.group, "kind": key.kind, "name": name})
    }
}

/// Adds `{path, target}` to the overlay's `patches:`.
fn register(
    files: &mut Files,
    overlay: &Kustomization,
    file_name: &str,
    target: Value,
) -> Result<(), Error> {
    let text = files.read(&overlay.file)?.unwrap_or_default();
    let edit_err = |source| Error::Edit {
        file: overlay.file.clone(),
        source,
    };
    let mut editor = Editor::new(&text).map_err(edit_err)?;
    let mut doc = editor.value(0).cloned().unwrap_or_else(|| json!({}));
    let entry = json!({"path": file_name, "target": target});
    match doc.get_mut("patches").and_then(Value::as_array_mut) {
        Some(list) => list.push(entry),
        None => doc["patches"] = json!([entry]),
    }
    editor.replace(0, doc).map_err(edit_err)?;
    files.write(&overlay.file, editor.finish().map_err(edit_err)?);
    Ok(())
}

/// A `$patch: delete` patch for the object, in the overlay.
pub fn delete(
    files: &mut Files,
    overlay: &Kustomization,
    key: &ObjectKey,
    api_version: &str,
    name: &str,
) -> Result<String, Error> {
    let mut body = json!({"$patch": "delete"});
    if !key.namespace.is_empty() {
        body["metadata"] = json!({"namespace": key.namespace});
    }
    write(files, overlay, key, api_version, name, &body)
}

/// Removes a resource entry (for a file that goes) from the kustomization that lists it.
pub fn unlist(files: &mut Files, kustomization: &Kustomization, file: &str) -> Result<bool, Error> {
    let rel = relative(&kustomization.dir, file);
    create::unlist_resource(files, &kustomization.file, &rel)
}

/// `file` relative to `dir` (both from the repository root).
pub fn relative(dir: &str, file: &str) -> String {
    let d: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    let f: Vec<&str> = file.split('/').filter(|s| !s.is_empty()).collect();
    let common = d.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; d.len() - common];
    parts.extend(&f[common..]);
    parts.join("/")
}
