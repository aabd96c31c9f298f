//! `render: auto` and `render: kustomize`: each kustomization root the plan finds is a build of
//! its own (it fails alone and keeps its last good objects), every other manifest is read as a
//! plain file. And what was decided is said: a configured path that another root builds is a
//! note naming it, and paths holding Flux Kustomizations or Argo CD Applications of this
//! repository get a warning and a note suggesting the `discover` that reads them as the
//! controller does (here they only declare the Kustomization or Application objects).

use serde_json::Value;

use crate::config::Source;
use crate::findings::Note;
use crate::git::ReadBlob;
use crate::git::TreeFile;
use crate::manifest::parse::{FileError, RawObject};
use crate::snapshot::SourceState;

use super::argocd::{app, repo_url};
use super::build::Build;
use super::flux::object::read_kustomization;
use super::plan::{self, TreeIndex};
use super::run;
use super::settle::{self, Outcome};
use super::{display_dir, Renderer, Result};

/// `render: auto|kustomize`, planned: the kustomization roots to build, and the files left plain.
#[derive(Debug)]
pub struct Plan {
    index: TreeIndex,
    planned: plan::Planned,
}

impl Plan {
    pub fn new(
        source: &Source,
        index: TreeIndex,
        scope: Vec<String>,
        read: &ReadBlob<'_>,
    ) -> Result<Plan> {
        let planned = plan::plan(&index, &scope, source.render, read)
            .map_err(|e| e.into_error(&source.name))?;
        Ok(Plan { index, planned })
    }

    /// The files read as plain manifests: outside every kustomization root.
    pub fn plain_files(&self) -> &[TreeFile] {
        &self.planned.plain
    }

    /// The links among the files, refused: never followed.
    pub fn refused_links(&self, source: &Source) -> Vec<FileError> {
        self.planned
            .links
            .iter()
            .map(|file| FileError {
                source: source.name.clone(),
                file: file.clone(),
                line: 0,
                message: "symlink: not followed (declare the file itself)".into(),
            })
            .collect()
    }

    /// The source's state: `plain` (what the plain files declare) with the builds' objects.
    pub fn build(
        self,
        source: &Source,
        mut state: SourceState,
        renderer: &mut Renderer,
        read: &ReadBlob<'_>,
    ) -> SourceState {
        renderer.cache.begin();
        for (path, by) in &self.planned.covered {
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
        let builds: Vec<Build> = self
            .planned
            .roots
            .into_iter()
            .map(|(dir, inputs)| Build::kustomize(&dir, inputs))
            .collect();
        let results = run::render_all(source, &self.index, &builds, renderer, read);
        let outcomes = builds
            .into_iter()
            .zip(results)
            .map(|(build, result)| Outcome { build, result })
            .collect();
        settle::settle(source, outcomes, &mut renderer.memory, &mut state);
        suggest_discover(source, &mut state);
        super::finish(renderer, state)
    }
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
