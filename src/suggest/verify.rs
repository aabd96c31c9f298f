//! Whether a planned change renders right: the object exactly as asked (or gone), the
//! build's other objects as before, and every other build that reads a changed file as
//! before. Nothing is suggested on the strength of the analysis alone.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::build::{self, Output};
use super::context::Ctx;
use super::plain;
use super::repo::Files;
use super::Error;
use crate::render::envsubst::Value::Known;
use crate::yamledit::value;

/// How a plan renders other than asked.
#[derive(Debug, thiserror::Error)]
pub enum Mismatch {
    #[error("{0} would render differently from what was asked")]
    Differs(String),
    #[error("{0} would no longer render")]
    Gone(String),
    #[error("{0} would still render")]
    Stays(String),
    #[error("the change would also change other objects of {0}")]
    Others(String),
    #[error(
        "{path} is also read by {by}: the change would change what it renders (another cluster)"
    )]
    OtherCluster { path: String, by: String },
}

/// What a plan changes in the build's Flux Kustomization (it is an object, not a file of the
/// build): `postBuild.substitute` entries and added `spec.patches`.
#[derive(Debug, Clone, Default)]
pub struct FluxChanges {
    pub vars: BTreeMap<String, String>,
    pub patches: Vec<Value>,
}

/// Renders the plan: the object as `expect` (absent for `None`), the build's other objects
/// as before, and every other build that reads a changed file as before.
pub fn verify(
    ctx: &Ctx,
    files: &Files,
    flux: &FluxChanges,
    expect: Option<&Value>,
) -> Result<(), Error> {
    let build = build::with_flux(&ctx.build, |options| {
        for (k, v) in &flux.vars {
            options.vars.values.insert(k.clone(), Known(v.clone()));
        }
        options.patches.extend(flux.patches.iter().cloned());
    });
    let after = build::render(&build, ctx.checkout, files, false)?;
    let key = ctx.key.to_string();
    let scope = ctx.scope();
    let is_it = |o: &&Value| plain::is_object(o, ctx.key, scope);
    let found = after
        .objects
        .iter()
        .find(is_it)
        .map(build::without_provenance);
    match (expect, found) {
        (Some(want), Some(got)) if value::same(want, &got) => {}
        (None, None) => {}
        (Some(_), Some(_)) => return Err(Mismatch::Differs(key).into()),
        (Some(_), None) => return Err(Mismatch::Gone(key).into()),
        (None, Some(_)) => return Err(Mismatch::Stays(key).into()),
    }
    let rest = |out: &Output| -> Vec<Value> {
        out.objects
            .iter()
            .filter(|o| !is_it(o))
            .map(build::without_provenance)
            .collect()
    };
    let (was, now) = (rest(&ctx.baseline), rest(&after));
    if was.len() != now.len() || was.iter().zip(&now).any(|(a, b)| !value::same(a, b)) {
        return Err(Mismatch::Others(ctx.label()).into());
    }
    let empty = Files::new(ctx.checkout);
    let mut checked = BTreeSet::new();
    for (path, _) in files.pending() {
        for other in ctx.others.reading(path) {
            if !checked.insert(other.build.dir.clone()) {
                continue;
            }
            // A build that does not render as it is cannot be changed by this either.
            let Ok(before) = build::render(&other.build, ctx.checkout, &empty, false) else {
                continue;
            };
            let after = build::render(&other.build, ctx.checkout, files, false)?;
            let same = before.objects.len() == after.objects.len()
                && before
                    .objects
                    .iter()
                    .zip(&after.objects)
                    .all(|(a, b)| value::same(a, b));
            if !same {
                return Err(Mismatch::OtherCluster {
                    path: path.to_string(),
                    by: other.by.clone(),
                }
                .into());
            }
        }
    }
    Ok(())
}
