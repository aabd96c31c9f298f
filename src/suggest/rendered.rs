//! Objects rendered by kustomize (and Flux): each changed value is edited at its source
//! ([`actions`](super::actions)): an `images:` or `replicas:` entry, a patch, the resource
//! file, a Flux variable, or, for a value of a base that other overlays also build, a patch of
//! this overlay. Nothing is trusted on the strength of the analysis alone: every plan is
//! rendered, and it is taken only when the object renders exactly as asked, every other
//! object of the build as before, and every other build that reads a changed file exactly as
//! before (no edit changes another cluster). The preferred plan is tried first, then one that
//! keeps to the overlay's own files, then one that patches everything in the overlay; when
//! none renders right, the change is declined with the reasons.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::actions::{self, Action};
use super::build::Output;
use super::context::Ctx;
use super::patch;
use super::plain;
use super::repo::{Checkout, Files};
use super::variables;
use super::want::{FieldChange, Want};
use super::Error;
use crate::manifest::{DeclaredObject, ObjectKey, Origin};
use crate::snapshot::Snapshot;
use crate::yamledit::{value, Step};

/// Makes the build that renders `declared` (from `dir`) render it as `want` asks.
pub fn apply(
    snapshot: &Snapshot,
    checkout: &Checkout,
    files: &mut Files,
    declared: &DeclaredObject,
    dir: &str,
    want: &Want,
) -> Result<(), Error> {
    let dir = if dir == "." { "" } else { dir };
    let ctx = Ctx::new(snapshot, checkout, declared, dir)?;
    match want {
        Want::Fields(changes) => fields(&ctx, files, changes),
        Want::Delete => delete(&ctx, files),
        Want::Create(_) => Err(Error::Declined(vec![format!(
            "{} is already declared",
            ctx.key
        )])),
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
    // Last, everything by the overlay's patch (a value an entry cannot express: an image
    // without a tag keeps the old tag under `images:`, not under a patch).
    let patched: Vec<Action> = candidates
        .iter()
        .map(|l| match &l[0] {
            Action::Variable(v) => Action::Variable(v.clone()),
            _ => Action::OverlayPatch,
        })
        .collect();
    let mut plans: Vec<Vec<Action>> = Vec::new();
    for plan in [first, own, patched] {
        if !plans.contains(&plan) {
            plans.push(plan);
        }
    }
    let mut failures = Vec::new();
    for plan in plans {
        let mut trial = files.clone();
        match try_plan(ctx, &mut trial, changes, &plan, &expected) {
            Ok(()) => {
                *files = trial;
                return Ok(());
            }
            Err(e) => failures.push(e),
        }
    }
    failures.dedup();
    let mut reasons = vec![format!(
        "{}: no change to the files of {} renders it as asked (origin: {}{})",
        ctx.key,
        ctx.build.label(),
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

/// Applies a plan (one action per change) and renders it.
fn try_plan(
    ctx: &Ctx,
    files: &mut Files,
    changes: &[FieldChange],
    plan: &[Action],
    expected: &Value,
) -> Result<(), String> {
    let mut vars = BTreeMap::new();
    let mut in_patch = Vec::new();
    for (change, action) in changes.iter().zip(plan) {
        match action {
            Action::Variable(name) => {
                let text = variables::text_of(change.value.as_ref().unwrap_or(&Value::Null));
                set_variable(ctx, files, name, &text).map_err(|e| e.to_string())?;
                vars.insert(name.clone(), text);
            }
            Action::OverlayPatch => in_patch.push(change.clone()),
            other => actions::apply(ctx, files, change, other).map_err(|e| e.to_string())?,
        }
    }
    if in_patch.is_empty() {
        return verify(ctx, files, &vars, Some(expected));
    }
    let Some(overlay) = ctx.overlay.clone() else {
        return Err(ctx
            .overlay_file()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default());
    };
    let body = patch::body(ctx.key, expected, &in_patch);
    // The patch names the object as this overlay sees it: its rendered name, or the name
    // in its source when a name prefix is added later.
    let mut last = String::new();
    for name in names(ctx) {
        let mut trial = files.clone();
        patch::write(
            &mut trial,
            &overlay,
            ctx.key,
            &ctx.api_version,
            &name,
            &body,
        )
        .map_err(|e| e.to_string())?;
        match verify(ctx, &trial, &vars, Some(expected)) {
            Ok(()) => {
                *files = trial;
                return Ok(());
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn names(ctx: &Ctx) -> Vec<String> {
    let mut out = vec![ctx.rendered_name.clone()];
    out.extend(ctx.source_name.clone().filter(|n| *n != ctx.rendered_name));
    out
}

/// Sets a `postBuild.substitute` entry of the build's Flux Kustomization, wherever that
/// object is declared (a plain file, or rendered itself).
fn set_variable(ctx: &Ctx, files: &mut Files, name: &str, text: &str) -> Result<(), Error> {
    let k = ctx
        .flux
        .as_ref()
        .ok_or_else(|| Error::Declined(vec!["no Flux Kustomization".into()]))?;
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
    let path = ["spec", "postBuild", "substitute", name]
        .iter()
        .map(|s| Step::Key(s.to_string()))
        .collect();
    let want = Want::Fields(vec![FieldChange {
        path,
        value: Some(json!(text)),
    }]);
    match &declared.origin {
        Origin::File => plain::apply(files, &declared.file, &key, &want, ctx.scope())?,
        Origin::Kustomize { dir } => {
            apply(ctx.snapshot, ctx.checkout, files, declared, dir, &want)?
        }
    }
    files
        .also
        .push((key, format!("spec.postBuild.substitute.{name}: {text:?}")));
    Ok(())
}

fn delete(ctx: &Ctx, files: &mut Files) -> Result<(), Error> {
    let mut failures = Vec::new();
    if let Some((file, _)) = ctx.resource.as_ref().filter(|(f, _)| ctx.is_private(f)) {
        let mut trial = files.clone();
        match drop_document(ctx, &mut trial, file)
            .map_err(|e| e.to_string())
            .and_then(|()| verify(ctx, &trial, &BTreeMap::new(), None))
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
                .map_err(|e| e.to_string())
                .and_then(|_| verify(ctx, &trial, &BTreeMap::new(), None));
            match result {
                Ok(()) => {
                    *files = trial;
                    return Ok(());
                }
                Err(e) => failures.push(e),
            }
        }
    }
    let mut reasons = vec![format!(
        "{}: no change to the files of {} removes it from the build alone",
        ctx.key,
        ctx.build.label()
    )];
    reasons.extend(failures);
    Err(Error::Declined(reasons))
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

/// Renders the plan: the object as `expect` (absent for `None`), the build's other objects
/// as before, and every other build that reads a changed file as before.
fn verify(
    ctx: &Ctx,
    files: &Files,
    vars: &BTreeMap<String, String>,
    expect: Option<&Value>,
) -> Result<(), String> {
    let mut build = ctx.build.clone();
    if let Some(options) = build.flux.as_mut() {
        options
            .substitute
            .extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let after = build
        .render(ctx.checkout, files, false)
        .map_err(|e| e.to_string())?;
    let scope = ctx.scope();
    let is_it = |o: &&Value| plain::is_object(o, ctx.key, scope);
    let found = after.objects.iter().find(is_it);
    match (expect, found) {
        (Some(want), Some(got)) if value::same(want, got) => {}
        (None, None) => {}
        (Some(_), Some(_)) => {
            return Err(format!(
                "{} would render differently from what was asked",
                ctx.key
            ))
        }
        (Some(_), None) => return Err(format!("{} would no longer render", ctx.key)),
        (None, Some(_)) => return Err(format!("{} would still render", ctx.key)),
    }
    let rest = |out: &Output| -> Vec<Value> {
        out.objects.iter().filter(|o| !is_it(o)).cloned().collect()
    };
    let (was, now) = (rest(&ctx.baseline), rest(&after));
    if was.len() != now.len() || was.iter().zip(&now).any(|(a, b)| !value::same(a, b)) {
        return Err(format!(
            "the change would also change other objects of {}",
            ctx.build.label()
        ));
    }
    let empty = Files::new(ctx.checkout);
    let mut checked = BTreeSet::new();
    for (path, _) in files.pending() {
        for other in ctx.others.reading(path) {
            if !checked.insert(other.dir.clone()) {
                continue;
            }
            // A build that does not render as it is cannot be changed by this either.
            let Ok(before) = other.render(ctx.checkout, &empty, false) else {
                continue;
            };
            let after = other
                .render(ctx.checkout, files, false)
                .map_err(|e| e.to_string())?;
            let same = before.objects.len() == after.objects.len()
                && before
                    .objects
                    .iter()
                    .zip(&after.objects)
                    .all(|(a, b)| value::same(a, b));
            if !same {
                return Err(format!("{path} is also read by {}: the change would change what it renders (another cluster)", other.label()));
            }
        }
    }
    Ok(())
}
