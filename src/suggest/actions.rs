//! Where to change one value of a rendered object, in order of preference: the Flux variable
//! it comes from, the `images:` or `replicas:` entry that sets it, the patch that sets it,
//! the resource file that declares it (each only when no other build reads that file), else
//! a patch of this overlay. Each candidate is tried by rendering (see `rendered`).

use serde_json::{json, Value};

use super::build;
use super::context::Ctx;
use super::provenance::{self, Kustomization};
use super::repo::Files;
use super::variables::{self, Unsettable};
use super::want::FieldChange;
use super::{plain, Error};
use crate::yamledit::{value, Editor};

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Set the Flux `postBuild.substitute` entry of this variable.
    Variable(String),
    /// Change the `images:` entry at this index of this kustomization.
    ImageEntry {
        file: String,
        index: usize,
    },
    /// Add an `images:` entry for this image name to the overlay.
    AddImageEntry(String),
    ReplicasEntry {
        file: String,
        index: usize,
    },
    AddReplicasEntry(String),
    /// Change the strategic-merge patch file that sets the value.
    PatchFile(String),
    /// Change the resource file that declares the value.
    Resource(String),
    /// Add (or extend) a patch in the overlay.
    OverlayPatch,
    /// Add a patch to the build's Flux Kustomization (`spec.patches`): this cluster's own.
    FluxPatch,
}

impl Action {
    /// Whether it touches only the overlay's own files (or a variable of its own build).
    pub fn in_overlay(&self, ctx: &Ctx) -> bool {
        let overlay = ctx.overlay.as_ref().map(|k| k.file.as_str());
        match self {
            Action::Variable(_)
            | Action::AddImageEntry(_)
            | Action::AddReplicasEntry(_)
            | Action::OverlayPatch
            | Action::FluxPatch => true,
            Action::ImageEntry { file, .. } | Action::ReplicasEntry { file, .. } => {
                Some(file.as_str()) == overlay
            }
            Action::PatchFile(_) | Action::Resource(_) => false,
        }
    }
}

/// Entries of `field` (`images`, `replicas`) of the build's kustomizations, outermost first,
/// whose `name` is one of `names`.
fn entries<'c>(ctx: &'c Ctx, field: &str, names: &[&str]) -> Option<(&'c Kustomization, usize)> {
    ctx.chain.iter().find_map(|k| {
        k.list(field)
            .iter()
            .position(|e| {
                e.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| names.contains(&n))
            })
            .map(|i| (k, i))
    })
}

/// Candidates for one change, best first; `Err` when the value cannot be changed in Git (the
/// reason names where it comes from).
pub fn candidates(ctx: &Ctx, change: &FieldChange) -> Result<Vec<Action>, Unsettable> {
    let mut out = Vec::new();
    let pre = value::get(&ctx.pre, &change.path);
    if let Some(Value::String(text)) = pre.filter(|_| build::flux_options(&ctx.build).is_some()) {
        if text.contains("${") {
            return variables::candidate(ctx, text, change)
                .map(|name| vec![Action::Variable(name)]);
        }
    }
    let raw = ctx
        .resource
        .as_ref()
        .and_then(|(_, doc)| value::get(doc, &change.path));
    if provenance::is_image_path(&change.path) {
        let rendered = pre
            .and_then(Value::as_str)
            .map(|i| provenance::split_image(i).0);
        let original = raw
            .and_then(Value::as_str)
            .map(|i| provenance::split_image(i).0);
        let names: Vec<&str> = rendered.into_iter().chain(original).collect();
        match entries(ctx, "images", &names) {
            Some((k, index)) if ctx.is_private(&k.file) => out.push(Action::ImageEntry {
                file: k.file.clone(),
                index,
            }),
            Some(_) => out.extend(rendered.map(|n| Action::AddImageEntry(n.to_string()))),
            None => {}
        }
    }
    if provenance::is_replicas_path(&change.path) {
        let names: Vec<&str> = [Some(ctx.rendered_name.as_str()), ctx.source_name.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        match entries(ctx, "replicas", &names) {
            Some((k, index)) if ctx.is_private(&k.file) => out.push(Action::ReplicasEntry {
                file: k.file.clone(),
                index,
            }),
            Some(_) => out.push(Action::AddReplicasEntry(ctx.rendered_name.clone())),
            None => {}
        }
    }
    if let Some(file) = ctx.patch_setting(&change.path) {
        if ctx.is_private(&file) {
            out.push(Action::PatchFile(file));
        }
    }
    // The resource file declares the value as it renders (or, for a field added, neither
    // has it yet).
    if let Some((file, _)) = &ctx.resource {
        let from_file = match (pre, raw) {
            (Some(p), Some(r)) => value::same(p, r),
            (None, None) => true,
            _ => false,
        };
        if from_file && ctx.is_private(file) {
            out.push(Action::Resource(file.clone()));
        }
    }
    out.push(Action::OverlayPatch);
    Ok(out)
}

/// Applies one action for one change; variables and overlay patches are left to the caller
/// (they gather several changes).
pub fn apply(
    ctx: &Ctx,
    files: &mut Files,
    change: &FieldChange,
    action: &Action,
) -> Result<(), Error> {
    match action {
        Action::Variable(_) | Action::OverlayPatch | Action::FluxPatch => Ok(()),
        Action::ImageEntry { file, index } => edit_entry(files, file, "images", *index, |entry| {
            image_entry(entry, change)
        }),
        Action::ReplicasEntry { file, index } => {
            edit_entry(files, file, "replicas", *index, |entry| {
                entry["count"] = change.value.clone().unwrap_or(Value::Null)
            })
        }
        Action::AddImageEntry(name) => {
            let overlay = ctx.overlay_file()?;
            let mut entry = json!({"name": name});
            image_entry(&mut entry, change);
            add_entry(files, &overlay, "images", entry)
        }
        Action::AddReplicasEntry(name) => {
            let overlay = ctx.overlay_file()?;
            add_entry(
                files,
                &overlay,
                "replicas",
                json!({"name": name, "count": change.value}),
            )
        }
        Action::PatchFile(file) | Action::Resource(file) => edit_document(ctx, files, file, change),
    }
}

/// The entry's `newName`, `newTag` and `digest` for the requested image.
fn image_entry(entry: &mut Value, change: &FieldChange) {
    let Some(Value::Object(map)) = Some(entry) else {
        return;
    };
    let requested = change.value.as_ref().and_then(Value::as_str).unwrap_or("");
    let (name, tag, digest) = provenance::split_image(requested);
    if map.get("name").and_then(Value::as_str) == Some(name) {
        map.shift_remove("newName");
    } else {
        map.insert("newName".into(), json!(name));
    }
    map.shift_remove("newTag");
    map.shift_remove("digest");
    if let Some(tag) = tag {
        map.insert("newTag".into(), json!(tag));
    }
    if let Some(digest) = digest {
        map.insert("digest".into(), json!(digest));
    }
}

fn edit_kustomization(
    files: &mut Files,
    file: &str,
    edit: impl FnOnce(&mut Value),
) -> Result<(), Error> {
    let text = files.read(file)?.unwrap_or_default();
    let edit_err = |source| Error::Edit {
        file: file.to_string(),
        source,
    };
    let mut editor = Editor::new(&text).map_err(edit_err)?;
    let mut doc = editor.value(0).cloned().unwrap_or_else(|| json!({}));
    edit(&mut doc);
    editor.replace(0, doc).map_err(edit_err)?;
    files.write(file, editor.finish().map_err(edit_err)?);
    Ok(())
}

fn edit_entry(
    files: &mut Files,
    file: &str,
    field: &str,
    index: usize,
    edit: impl FnOnce(&mut Value),
) -> Result<(), Error> {
    edit_kustomization(files, file, |doc| {
        if let Some(entry) = doc.get_mut(field).and_then(|l| l.get_mut(index)) {
            edit(entry);
        }
    })
}

/// Takes entry `index` out of a kustomization's `field` list (the list goes when empty).
pub fn drop_entry(files: &mut Files, file: &str, field: &str, index: usize) -> Result<(), Error> {
    edit_kustomization(files, file, |doc| {
        let emptied = match doc.get_mut(field).and_then(Value::as_array_mut) {
            Some(list) if index < list.len() => {
                list.remove(index);
                list.is_empty()
            }
            _ => false,
        };
        if emptied {
            if let Some(map) = doc.as_object_mut() {
                map.shift_remove(field);
            }
        }
    })
}

fn add_entry(files: &mut Files, file: &str, field: &str, entry: Value) -> Result<(), Error> {
    edit_kustomization(files, file, |doc| {
        match doc.get_mut(field).and_then(Value::as_array_mut) {
            Some(list) => list.push(entry),
            None => doc[field] = json!([entry]),
        }
    })
}

/// Sets or removes the changed path in the document of `file` that declares (or patches)
/// the object.
fn edit_document(
    ctx: &Ctx,
    files: &mut Files,
    file: &str,
    change: &FieldChange,
) -> Result<(), Error> {
    let text = files.read(file)?.unwrap_or_default();
    let edit_err = |source| Error::Edit {
        file: file.to_string(),
        source,
    };
    let mut editor = Editor::new(&text).map_err(edit_err)?;
    let doc = ctx.find_document(&editor).ok_or_else(|| Error::NotFound {
        key: ctx.key.to_string(),
        file: file.to_string(),
    })?;
    let current = editor.value(doc).cloned().unwrap_or(Value::Null);
    let new = plain::changed(current, &[], std::slice::from_ref(change))?;
    editor.replace(doc, new).map_err(edit_err)?;
    files.write(file, editor.finish().map_err(edit_err)?);
    Ok(())
}
