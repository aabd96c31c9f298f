//! Objects declared in plain manifest files: the document is found by the object's identity
//! and edited in place with the format-preserving editor.

use serde_json::Value;

use super::repo::Files;
use super::want::{FieldChange, Want};
use super::Error;
use crate::kinds::Catalog;
use crate::manifest::{split_api_version, ObjectKey};
use crate::yamledit::{value, Editor, Step};

/// What identifies an object in a file: the catalog (scope) and the source's default namespace.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub catalog: &'a Catalog,
    pub default_namespace: &'a str,
}

/// Whether `value` is the object `key` names.
pub fn is_object(value: &Value, key: &ObjectKey, scope: Scope) -> bool {
    let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str).unwrap_or("");
    let (group, _) = split_api_version(text("/apiVersion"));
    if group != key.group || text("/kind") != key.kind || text("/metadata/name") != key.name {
        return false;
    }
    let namespace = if scope.catalog.is_namespaced(group, &key.kind) {
        match text("/metadata/namespace") {
            "" => scope.default_namespace,
            ns => ns,
        }
    } else {
        ""
    };
    namespace == key.namespace
}

/// The document holding the object, and the path to it inside the document (`items[i]` for
/// an item of a `kind: List`).
pub fn locate(editor: &Editor, key: &ObjectKey, scope: Scope) -> Option<(usize, Vec<Step>)> {
    (0..editor.len()).find_map(|i| {
        let doc = editor.value(i)?;
        if is_object(doc, key, scope) {
            return Some((i, Vec::new()));
        }
        let items = doc.get("items")?.as_array()?;
        items
            .iter()
            .position(|item| is_object(item, key, scope))
            .map(|at| (i, vec![Step::Key("items".into()), Step::Index(at)]))
    })
}

/// Fields whose values driftgate never writes into Git.
pub fn refuse_secret_values(key: &ObjectKey, changes: &[FieldChange]) -> Result<(), Error> {
    let secret = key.group.is_empty() && key.kind == "Secret";
    let values = changes
        .iter()
        .filter(
            |c| matches!(c.path.first(), Some(Step::Key(k)) if k == "data" || k == "stringData"),
        )
        .map(FieldChange::display)
        .collect::<Vec<_>>();
    if secret && !values.is_empty() {
        return Err(Error::Declined(vec![format!(
            "{}: a Secret's values are never written by driftgate (Git usually holds them encrypted); change them where they are sealed or encrypted",
            values.join(", ")
        )]));
    }
    Ok(())
}

/// The document's value with the changes made along `prefix`.
pub fn changed(mut doc: Value, prefix: &[Step], changes: &[FieldChange]) -> Result<Value, Error> {
    for change in changes {
        let path: Vec<Step> = prefix.iter().chain(&change.path).cloned().collect();
        let result = match &change.value {
            Some(v) => value::set(&mut doc, &path, v.clone()),
            None => value::remove(&mut doc, &path),
        };
        result?;
    }
    Ok(doc)
}

/// Makes `file` declare what `want` asks of the object `key` declared in it.
pub fn apply(
    files: &mut Files,
    file: &str,
    key: &ObjectKey,
    want: &Want,
    scope: Scope,
) -> Result<(), Error> {
    let text = files.read(file)?.ok_or_else(|| Error::NotFound {
        key: key.to_string(),
        file: file.to_string(),
    })?;
    let edit_err = |source| Error::Edit {
        file: file.to_string(),
        source,
    };
    let mut editor = Editor::new(&text).map_err(edit_err)?;
    let (doc, prefix) = locate(&editor, key, scope).ok_or_else(|| Error::NotFound {
        key: key.to_string(),
        file: file.to_string(),
    })?;
    let current = editor.value(doc).cloned().unwrap_or(Value::Null);
    match want {
        Want::Fields(changes) => {
            refuse_secret_values(key, changes)?;
            let new = changed(current, &prefix, changes)?;
            editor.replace(doc, new).map_err(edit_err)?;
        }
        Want::Delete if prefix.is_empty() => editor.delete(doc).map_err(edit_err)?,
        Want::Delete => {
            let mut new = current;
            value::remove(&mut new, &prefix)?;
            editor.replace(doc, new).map_err(edit_err)?;
        }
        Want::Create(_) => {
            return Err(Error::Declined(vec![format!(
                "{key} is already declared in {file}"
            )]))
        }
    }
    if editor.deletes_everything() {
        files.delete(file);
    } else {
        let out = editor.finish().map_err(edit_err)?;
        files.write(file, out);
    }
    Ok(())
}
