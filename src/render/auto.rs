//! `render: auto` and `render: kustomize`: each kustomization root the plan finds is a build of
//! its own (it fails alone and keeps its last good objects), every other manifest is read as a
//! plain file. And what was decided is said: a configured path that another root builds is a
//! note naming it, and paths holding Flux Kustomizations or Argo CD Applications of this
//! repository get a warning and a note suggesting the `discover` that reads them as the
//! controller does (here they only declare the Kustomization or Application objects).

use gix::ObjectId;
use serde_json::Value;

use crate::config::Source;
use crate::findings::Note;
use crate::manifest::parse::{FileError, RawObject};
use crate::snapshot::{SourceRevision, SourceState};

use super::argocd::{app, repo_url};
use super::build::Build;
use super::flux::object::read_kustomization;
use super::plan::{self, TreeIndex};
use super::run;
use super::settle::{self, Outcome};
use super::{display_dir, Reader, Result};

pub fn declare(
    source: &Source,
    revision: SourceRevision,
    index: &TreeIndex,
    scope: &[String],
    reader: &mut dyn Reader,
    read: &dyn Fn(ObjectId) -> Result<Vec<u8>, String>,
) -> Result<SourceState> {
    let planned =
        plan::plan(index, scope, source.render, read).map_err(|e| e.into_error(&source.name))?;
    let links = planned
        .links
        .iter()
        .map(|file| FileError {
            source: source.name.clone(),
            file: file.clone(),
            line: 0,
            message: "symlink: not followed (declare the file itself)".into(),
        })
        .collect();
    let mut state = reader.plain(source, revision, &planned.plain, links, read);
    for (path, by) in &planned.covered {
        state.findings.notes.push(Note {
            source: source.name.clone(),
            file: display_dir(path),
            line: 0,
            message: format!(
                "configured path {} is not built on its own: kustomize {} builds it",
                display_dir(path),
                display_dir(by)
            ),
        });
    }
    let builds: Vec<Build> = planned
        .roots
        .into_iter()
        .map(|(dir, inputs)| Build::kustomize(&dir, inputs))
        .collect();
    let results = run::render_all(source, index, &builds, reader.renderer(), read);
    let outcomes = builds
        .into_iter()
        .zip(results)
        .map(|(build, result)| Outcome { build, result })
        .collect();
    settle::settle(source, outcomes, &mut reader.renderer().memory, &mut state);
    suggest_discover(source, &mut state);
    Ok(state)
}

/// A note (and a warning) when the objects include Flux Kustomizations syncing a
/// `GitRepository`, or Argo CD Applications of this repository: `discover` would build what
/// they name, where this mode only declares the objects themselves.
fn suggest_discover(source: &Source, state: &mut SourceState) {
    let flux = state.objects.iter().find(|o| {
        read_kustomization(o, &source.default_namespace)
            .is_some_and(|k| k.source_kind == "GitRepository")
    });
    let argo = state.objects.iter().find(|o| is_own_application(source, o));
    for (found, discover, what) in [
        (flux, "flux", "Flux Kustomizations"),
        (argo, "argocd", "Argo CD Applications of this repository"),
    ] {
        let Some(found) = found else {
            continue;
        };
        let message = format!(
            "{what} are declared here (e.g. {} {}), but only as objects: set `discover: {discover}` to declare what they build",
            found.kind,
            found.value.name()
        );
        tracing::warn!(source = %source.name, file = %found.file, "{message}");
        state.findings.notes.push(Note {
            source: source.name.clone(),
            file: found.file.to_string(),
            line: found.line,
            message,
        });
    }
}

fn is_own_application(source: &Source, raw: &RawObject) -> bool {
    if !app::is_application(raw) {
        return false;
    }
    let Ok(value) = raw.value.parse() else {
        return false;
    };
    let single = value.pointer("/spec/source").into_iter();
    let many = value
        .pointer("/spec/sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    single.chain(many).any(|s| {
        s.get("repoURL")
            .and_then(Value::as_str)
            .is_some_and(|url| repo_url::is_source(source, url))
    })
}
