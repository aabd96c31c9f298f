//! Objects rendered by kustomize (and Flux): each changed value is edited at its source
//! ([`actions`]): an `images:` or `replicas:` entry, a patch, the resource
//! file, a Flux variable, or, for a value of a base that other overlays also build, a patch of
//! this overlay. Nothing is trusted on the strength of the analysis alone: every plan is
//! rendered, and it is taken only when the object renders exactly as asked, every other
//! object of the build as before, and every other build that reads a changed file exactly as
//! before (no edit changes another cluster). The preferred plan is tried first, then one that
//! keeps to the overlay's own files, then one that patches everything in the overlay; when
//! none renders right, the change is declined with the reasons.

use serde_json::{json, Value};

use super::actions::{self, Action};
use super::builds;
use super::context::Ctx;
use super::patch;
use super::plain::{self, Scope};
use super::repo::{Checkout, Files};
use super::variables;
use super::verify::{verify, FluxChanges};
use super::want::{FieldChange, Want};
use super::Error;
use crate::manifest::{DeclaredObject, ObjectKey, Origin};
use crate::render::build::{Build, How};
use crate::snapshot::Snapshot;
use crate::yamledit::Step;

/// Makes the build that renders `declared` (from `dir`) render it as `want` asks.
pub fn apply(
    snapshot: &Snapshot,
    checkout: &Checkout,
    builds: &[Build],
    files: &mut Files,
    declared: &DeclaredObject,
    want: &Want,
) -> Result<(), Error> {
    let key = &declared.key;
    let build = match &declared.origin {
        Origin::Built(built) => builds::of(builds, built),
        Origin::File => None,
    }
    .ok_or_else(|| {
        Error::Declined(vec![format!(
            "{key}: the build that renders it is not known"
        )])
    })?;
    if let How::Files(_) = build.how {
        // An Argo CD plain directory: the object is its file's, as written.
        let scope = Scope {
            catalog: &snapshot.catalog,
            default_namespace: &checkout.source.default_namespace,
        };
        return plain::apply(files, &declared.file, key, want, scope);
    }
    let ctx = Ctx::new(snapshot, checkout, builds, declared, build)?;
    match want {
        Want::Fields(changes) => fields(&ctx, files, changes),
        Want::Delete => delete(&ctx, files),
        Want::Create(_) => Err(Error::Declined(vec![format!("{key} is already declared")])),
    }
}

fn fields(ctx: &Ctx, files: &mut Files, changes: &[FieldChange]) -> Result<(), Error> {
    plain::refuse_secret_values(ctx.key, changes)?;
    let expected = plain::changed(ctx.post.clone(), &[], changes)?;
    let mut candidates = Vec::new();
    let mut declined = Vec::new();
    for change in changes {
        match actions::candidates(ctx, change) {
            Ok(list) => candidates.push(list),
            Err(reason) => declined.push(format!("{}: {reason}", ctx.key)),
        }
    }
    if !declined.is_empty() {
        return Err(Error::Declined(declined));
    }
    let mut failures = Vec::new();
    for plan in plans(ctx, &candidates) {
        let mut trial = files.clone();
        match try_plan(ctx, &mut trial, changes, &plan, &expected) {
            Ok(()) => {
                *files = trial;
                return Ok(());
            }
            Err(e) => failures.push(e),
        }
    }
    let mut failures: Vec<String> = failures.iter().map(reason).collect();
    failures.dedup();
    let mut reasons = vec![format!(
        "{}: no change to the files of {} renders it as asked (origin: {}{})",
        ctx.key,
        ctx.label(),
        ctx.origin.describe(),
        if ctx.transformers.is_empty() {
            String::new()
        } else {
            format!("; {}", ctx.transformers.join(", "))
        }
    )];
    reasons.extend(failures);
    Err(Error::Declined(reasons))
}

/// Why a plan was not taken, for the person reading the declined reasons.
fn reason(error: &Error) -> String {
    crate::text::chain(error).to_string()
}

/// The plans tried, in order: each change's preferred action; the overlay's own files; the
/// overlay's patch for everything (a value an entry cannot express: an image without a tag
/// keeps the old tag under `images:`); and, for a Flux build, a patch in this cluster's Flux
/// Kustomization (for a directory another cluster builds too).
fn plans(ctx: &Ctx, candidates: &[Vec<Action>]) -> Vec<Vec<Action>> {
    let keep_variable = |l: &Vec<Action>, otherwise: Action| match &l[0] {
        Action::Variable(v) => Action::Variable(v.clone()),
        _ => otherwise,
    };
    let first: Vec<Action> = candidates.iter().map(|l| l[0].clone()).collect();
    let own: Vec<Action> = candidates
        .iter()
        .map(|l| {
            l.iter()
                .find(|a| a.in_overlay(ctx))
                .cloned()
                .unwrap_or(Action::OverlayPatch)
        })
        .collect();
    let patched = candidates
        .iter()
        .map(|l| keep_variable(l, Action::OverlayPatch))
        .collect();
    let mut all = vec![first, own, patched];
    if ctx.flux.is_some() {
        all.push(
            candidates
                .iter()
                .map(|l| keep_variable(l, Action::FluxPatch))
                .collect(),
        );
    }
    let mut out: Vec<Vec<Action>> = Vec::new();
    for plan in all {
        if !out.contains(&plan) {
            out.push(plan);
        }
    }
    out
}

/// Applies a plan (one action per change) and renders it.
fn try_plan(
    ctx: &Ctx,
    files: &mut Files,
    changes: &[FieldChange],
    plan: &[Action],
    expected: &Value,
) -> Result<(), Error> {
    let mut flux = FluxChanges::default();
    let mut in_patch = Vec::new();
    let mut in_flux_patch = Vec::new();
    for (change, action) in changes.iter().zip(plan) {
        match action {
            Action::Variable(name) => {
                let text = variables::text_of(change.value.as_ref().unwrap_or(&Value::Null));
                let path = ["spec", "postBuild", "substitute", name.as_str()];
                edit_flux(ctx, files, &path, json!(text))?;
                flux.vars.insert(name.clone(), text);
            }
            Action::OverlayPatch => in_patch.push(change.clone()),
            Action::FluxPatch => in_flux_patch.push(change.clone()),
            // A value an entry sets, removed: the entry goes, and the overlay removes the
            // value the base has (the entry's transformer runs after the overlay's patches).
            Action::ReplicasEntry { file, index } | Action::ImageEntry { file, index }
                if change.value.is_none() =>
            {
                let field = match action {
                    Action::ReplicasEntry { .. } => "replicas",
                    _ => "images",
                };
                actions::drop_entry(files, file, field, *index)?;
                in_patch.push(change.clone());
            }
            other => actions::apply(ctx, files, change, other)?,
        }
    }
    if in_patch.is_empty() && in_flux_patch.is_empty() {
        return verify(ctx, files, &flux, Some(expected));
    }
    // A patch names the object as the overlay sees it: its rendered name, or the name in its
    // source when a name prefix is added later.
    let mut last = None;
    for name in names(ctx) {
        let mut trial = files.clone();
        let mut trial_flux = flux.clone();
        let written = write_patches(
            ctx,
            &mut trial,
            &mut trial_flux,
            &name,
            expected,
            &in_patch,
            &in_flux_patch,
        )
        .and_then(|()| verify(ctx, &trial, &trial_flux, Some(expected)));
        match written {
            Ok(()) => {
                *files = trial;
                return Ok(());
            }
            Err(e) => last = Some(e),
        }
    }
    // `names` always gives the rendered name, so a failure was kept.
    Err(last.unwrap_or_else(|| Error::Declined(Vec::new())))
}

/// The overlay's patch and the Flux Kustomization's patch of a plan, naming the object `name`.
fn write_patches(
    ctx: &Ctx,
    files: &mut Files,
    flux: &mut FluxChanges,
    name: &str,
    expected: &Value,
    in_patch: &[FieldChange],
    in_flux_patch: &[FieldChange],
) -> Result<(), Error> {
    // Values set go in a strategic-merge patch; fields removed and maps written whole in JSON
    // 6902 operations.
    let split = |changes: &[FieldChange]| -> (Vec<FieldChange>, Vec<FieldChange>) {
        changes
            .iter()
            .cloned()
            .partition(|c| !patch::needs_operation(c))
    };
    if !in_patch.is_empty() {
        let Some(overlay) = &ctx.overlay else {
            return Err(ctx
                .overlay_file()
                .err()
                .unwrap_or_else(|| Error::Declined(Vec::new())));
        };
        let (sets, operations) = split(in_patch);
        if !sets.is_empty() {
            let body = patch::body(ctx.key, expected, &sets);
            patch::write(files, overlay, ctx.key, &ctx.api_version, name, &body)?;
        }
        if !operations.is_empty() {
            let ops = patch::operations(&ctx.pre, &operations)?;
            patch::write_ops(files, overlay, ctx.key, name, &ops)?;
        }
    }
    if !in_flux_patch.is_empty() {
        let (sets, operations) = split(in_flux_patch);
        let mut documents = Vec::new();
        if !sets.is_empty() {
            let body = patch::body(ctx.key, expected, &sets);
            documents.push(patch::document(ctx.key, &ctx.api_version, name, &body));
        }
        if !operations.is_empty() {
            documents.push(patch::operations(&ctx.pre, &operations)?);
        }
        let mut list = ctx
            .flux
            .as_ref()
            .map(|k| k.options.patches.clone())
            .unwrap_or_default();
        for document in documents {
            let entry =
                json!({"patch": patch::text(&document), "target": patch::target(ctx.key, name)});
            list.push(entry.clone());
            flux.patches.push(entry);
        }
        edit_flux(ctx, files, &["spec", "patches"], Value::Array(list))?;
    }
    Ok(())
}

fn names(ctx: &Ctx) -> Vec<String> {
    let mut out = vec![ctx.rendered_name.clone()];
    out.extend(ctx.source_name.clone().filter(|n| *n != ctx.rendered_name));
    out
}

/// Sets a field of the build's Flux Kustomization (a `postBuild.substitute` entry, its
/// `patches`), wherever that object is declared: a plain file, or rendered itself.
fn edit_flux(ctx: &Ctx, files: &mut Files, path: &[&str], new: Value) -> Result<(), Error> {
    let k = ctx
        .flux
        .as_ref()
        .ok_or_else(|| Error::Declined(vec!["no Flux Kustomization builds this".into()]))?;
    let key = ObjectKey::new(
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        &k.namespace,
        &k.name,
    );
    let declared = ctx
        .snapshot
        .get(&key)
        .ok_or_else(|| Error::Declined(vec![format!("{key} is not declared here")]))?;
    let shown = match &new {
        Value::Array(_) | Value::Object(_) => path.join("."),
        scalar => format!("{}: {scalar}", path.join(".")),
    };
    let want = Want::Fields(vec![FieldChange {
        path: path.iter().map(|s| Step::Key(s.to_string())).collect(),
        value: Some(new),
    }]);
    match &declared.origin {
        Origin::File => plain::apply(files, &declared.file, &key, &want, ctx.scope())?,
        Origin::Built(_) => apply(
            ctx.snapshot,
            ctx.checkout,
            ctx.builds,
            files,
            declared,
            &want,
        )?,
    }
    files.also.push((key, shown));
    Ok(())
}

fn delete(ctx: &Ctx, files: &mut Files) -> Result<(), Error> {
    let mut failures = Vec::new();
    if let Some((file, _)) = ctx.resource.as_ref().filter(|(f, _)| ctx.is_private(f)) {
        let mut trial = files.clone();
        match drop_document(ctx, &mut trial, file)
            .and_then(|()| drop_entries(ctx, &mut trial))
            .and_then(|()| verify(ctx, &trial, &FluxChanges::default(), None))
        {
            Ok(()) => {
                *files = trial;
                return Ok(());
            }
            Err(e) => failures.push(e),
        }
    }
    if let Some(overlay) = &ctx.overlay {
        for name in names(ctx) {
            let mut trial = files.clone();
            let result = patch::delete(&mut trial, overlay, ctx.key, &ctx.api_version, &name)
                .and_then(|_| drop_entries(ctx, &mut trial))
                .and_then(|_| verify(ctx, &trial, &FluxChanges::default(), None));
            match result {
                Ok(()) => {
                    *files = trial;
                    return Ok(());
                }
                Err(e) => failures.push(e),
            }
        }
    }
    // A directory another cluster builds too: this cluster's Flux Kustomization drops it.
    if ctx.flux.is_some() {
        for name in names(ctx) {
            let mut trial = files.clone();
            let mut flux = FluxChanges::default();
            let result = flux_delete(ctx, &mut trial, &mut flux, &name)
                .and_then(|()| verify(ctx, &trial, &flux, None));
            match result {
                Ok(()) => {
                    *files = trial;
                    return Ok(());
                }
                Err(e) => failures.push(e),
            }
        }
    }
    let mut failures: Vec<String> = failures.iter().map(reason).collect();
    failures.dedup();
    let mut reasons = vec![format!(
        "{}: no change to the files of {} removes it from the build alone",
        ctx.key,
        ctx.label()
    )];
    reasons.extend(failures);
    Err(Error::Declined(reasons))
}

/// A `$patch: delete` in the build's Flux Kustomization's `spec.patches`.
fn flux_delete(
    ctx: &Ctx,
    files: &mut Files,
    flux: &mut FluxChanges,
    name: &str,
) -> Result<(), Error> {
    let document = patch::document(
        ctx.key,
        &ctx.api_version,
        name,
        &json!({"$patch": "delete"}),
    );
    let entry = json!({"patch": patch::text(&document), "target": patch::target(ctx.key, name)});
    let mut list = ctx
        .flux
        .as_ref()
        .map(|k| k.options.patches.clone())
        .unwrap_or_default();
    list.push(entry.clone());
    flux.patches.push(entry);
    edit_flux(ctx, files, &["spec", "patches"], Value::Array(list))
}

/// Kinds a `replicas:` entry applies to.
const SCALED: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "ReplicaSet",
    "ReplicationController",
];

/// Takes out the overlay's `replicas:` entries naming the object: kustomize refuses an
/// entry that names nothing its build has (an entry applies to every scalable kind of that
/// name, so it stays while another one remains).
fn drop_entries(ctx: &Ctx, files: &mut Files) -> Result<(), Error> {
    let Some(overlay) = &ctx.overlay else {
        return Ok(());
    };
    let names = names(ctx);
    let scaled = |o: &Value| {
        o.get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| SCALED.contains(&k))
    };
    let others_named = ctx.baseline.objects.iter().any(|o| {
        scaled(o)
            && !plain::is_object(o, ctx.key, ctx.scope())
            && o.pointer("/metadata/name")
                .and_then(Value::as_str)
                .is_some_and(|n| names.iter().any(|m| m == n))
    });
    if !SCALED.contains(&ctx.key.kind.as_str()) || others_named {
        return Ok(());
    }
    let names_it = |entry: &Value| {
        entry
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| names.iter().any(|m| m == n))
    };
    if !overlay.list("replicas").iter().any(names_it) {
        return Ok(());
    }
    let text = files.read(&overlay.file)?.unwrap_or_default();
    let edit_err = |source| Error::Edit {
        file: overlay.file.clone(),
        source,
    };
    let mut editor = crate::yamledit::Editor::new(&text).map_err(edit_err)?;
    let mut doc = editor.value(0).cloned().unwrap_or(Value::Null);
    if let Some(list) = doc.get_mut("replicas").and_then(Value::as_array_mut) {
        list.retain(|e| !names_it(e));
        if list.is_empty() {
            if let Some(map) = doc.as_object_mut() {
                map.shift_remove("replicas");
            }
        }
    }
    editor.replace(0, doc).map_err(edit_err)?;
    files.write(&overlay.file, editor.finish().map_err(edit_err)?);
    Ok(())
}

/// Removes the object's document from its resource file; a file left empty goes, with its
/// `resources:` entry.
fn drop_document(ctx: &Ctx, files: &mut Files, file: &str) -> Result<(), Error> {
    let text = files.read(file)?.unwrap_or_default();
    let edit_err = |source| Error::Edit {
        file: file.to_string(),
        source,
    };
    let mut editor = crate::yamledit::Editor::new(&text).map_err(edit_err)?;
    let doc = ctx.find_document(&editor).ok_or_else(|| Error::NotFound {
        key: ctx.key.to_string(),
        file: file.to_string(),
    })?;
    editor.delete(doc).map_err(edit_err)?;
    if !editor.deletes_everything() {
        files.write(file, editor.finish().map_err(edit_err)?);
        return Ok(());
    }
    files.delete(file);
    for k in &ctx.chain {
        if patch::unlist(files, k, file)? {
            return Ok(());
        }
    }
    Ok(())
}
