//! `discover: argocd`: the repository read the way Argo CD's application controller applies it.
//!
//! The configured paths are where the root Applications live: the directory a user
//! `kubectl apply`s them from, read as Argo CD reads a plain directory (not recursive; `.yaml`,
//! `.yml`, `.json`; the repository root is a valid path). What is there is declared as found
//! (applied by hand), except what an Application's build declares too (a root that syncs its own
//! directory is built once). Every `Application` (`argoproj.io`) found there, and in what those
//! build (app of apps), is followed, source by source, when its `repoURL` is this source (`url`
//! or `aliases`, see `repo_url`) and its `targetRevision` is the commit read. Each path is built
//! as Argo CD builds it: a kustomization with the Application's `kustomize` settings, or a plain
//! directory (`directory.recurse`, `include`/`exclude` globs); namespaced objects without a
//! namespace get `spec.destination.namespace`. Helm charts, Jsonnet, plugins, other
//! repositories and kustomize `helmCharts` (no Helm binary here) are listed as out of scope,
//! never fatal; the Application object itself stays declared. Each Application source is a build
//! of its own (see `settle`).

pub mod app;
mod glob;
pub mod kustomize;
pub mod repo_url;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use gix::ObjectId;
use serde_json::Value;

use crate::config::Source;
use crate::findings::{Note, OutOfScope};
use crate::manifest::parse::{self, RawObject};
use crate::manifest::{yaml, Built, ObjectKey};
use crate::snapshot::{SourceRevision, SourceState};
use crate::tree::EntryKind;

use super::build::{Build, BuildError, How, Rendered};
use super::kfile::Changes;
use super::plan::{self, Inputs, TreeIndex};
use super::run;
use super::settle::{self, Outcome};
use super::{display_dir, Error, Renderer, Resolve, Result};

pub use app::is_application;
pub use kustomize::KustomizeOptions;

/// The source's state under `discover: argocd`.
pub fn declare(
    source: &Source,
    revision: SourceRevision,
    index: &TreeIndex,
    scope: &[String],
    renderer: &mut Renderer,
    read: &dyn Fn(ObjectId) -> Result<Vec<u8>, String>,
    resolve: Resolve<'_>,
) -> Result<SourceState> {
    let mut roots = Vec::new();
    for dir in scope {
        if !index.is_dir(dir) {
            return Err(Error::Argo {
                source_name: source.name.clone(),
                message: format!("discover: argocd reads directories, and {dir:?} is a file"),
            });
        }
        roots.push(root(dir, index));
    }
    let mut state = SourceState {
        name: source.name.clone(),
        default_namespace: source.default_namespace.clone(),
        revision: Some(revision.clone()),
        ..SourceState::default()
    };
    let mut d = Discovery {
        source,
        index,
        read,
        resolve,
        revision: &revision,
        outcomes: Vec::new(),
        seen: HashSet::new(),
        by_setting: HashMap::new(),
        state: &mut state,
    };
    d.render(roots, renderer);
    let mut scanned = 0;
    loop {
        let apps: Vec<app::Application> = d.outcomes[scanned..]
            .iter()
            .flat_map(|o| own_objects(o, renderer))
            .filter_map(|o| app::read(o, &source.default_namespace))
            .collect();
        let sets: Vec<OutOfScope> = d.outcomes[scanned..]
            .iter()
            .flat_map(|o| own_objects(o, renderer))
            .filter(|o| app::is_application_set(o))
            .map(|o| OutOfScope {
                source: source.name.clone(),
                file: o.file.to_string(),
                line: o.line,
                what: format!("Argo CD ApplicationSet {}", o.value.name()),
                why:
                    "the Applications it generates exist only in the cluster: they are not followed"
                        .into(),
            })
            .collect();
        d.state.findings.out_of_scope.extend(sets);
        scanned = d.outcomes.len();
        let mut queue = Vec::new();
        for application in apps {
            if d.seen
                .insert((application.namespace.clone(), application.name.clone()))
            {
                d.follow(&application, &mut queue);
            }
        }
        if queue.is_empty() {
            break;
        }
        d.render(queue, renderer);
    }
    d.cover_roots(renderer);
    let outcomes = std::mem::take(&mut d.outcomes);
    settle::settle(source, outcomes, &mut renderer.memory, &mut state);
    Ok(state)
}

/// A configured path: its files, as `kubectl apply -f DIR` (and Argo CD) read a directory.
fn root(dir: &str, index: &TreeIndex) -> Build {
    let files = files(index, dir, false, None, None).0;
    Build {
        name: format!("Argo CD root {}", display_dir(dir)),
        info: Arc::new(Built {
            dir: display_dir(dir),
            by: "applied by hand from".into(),
            declared_at: None,
            default_namespace: None,
        }),
        dir: dir.to_string(),
        inputs: file_inputs(&files),
        how: How::Files(files),
    }
}

fn file_inputs(files: &[(String, ObjectId)]) -> Inputs {
    let mut inputs = Inputs::default();
    for (path, id) in files {
        inputs.entries.insert(path.clone(), (EntryKind::Blob, *id));
    }
    inputs
}

/// The manifests Argo CD reads in `dir` (`.yaml`, `.yml`, `.json`), recursively when asked,
/// filtered by the include and exclude globs (on the path relative to `dir`); and the Jsonnet
/// files it would evaluate.
fn files(
    index: &TreeIndex,
    dir: &str,
    recurse: bool,
    include: Option<&str>,
    exclude: Option<&str>,
) -> (Vec<(String, ObjectId)>, Vec<String>) {
    let mut manifests = Vec::new();
    let mut jsonnet = Vec::new();
    for (path, kind, id) in index.beneath(dir) {
        if kind != EntryKind::Blob {
            continue;
        }
        let rel = if dir.is_empty() {
            path
        } else {
            &path[dir.len() + 1..]
        };
        if !recurse && rel.contains('/') {
            continue;
        }
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let is_jsonnet = name.ends_with(".jsonnet");
        let is_manifest = [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e));
        if !is_manifest && !is_jsonnet {
            continue;
        }
        if exclude.is_some_and(|g| glob::matches(g, rel)) {
            continue;
        }
        if include.is_some_and(|g| !glob::matches(g, rel)) {
            continue;
        }
        if is_jsonnet {
            jsonnet.push(path.to_string());
        } else {
            manifests.push((path.to_string(), id));
        }
    }
    (manifests, jsonnet)
}

/// Objects an outcome declares now: its render, or its last good one.
fn own_objects<'a>(
    outcome: &'a Outcome,
    renderer: &'a Renderer,
) -> impl Iterator<Item = &'a RawObject> {
    let rendered = match &outcome.result {
        Ok(r) => Some(r),
        Err(_) => renderer.memory.last_good(&outcome.build.name),
    };
    rendered.into_iter().flat_map(|r| r.objects.iter())
}

struct Discovery<'a> {
    source: &'a Source,
    index: &'a TreeIndex,
    read: &'a dyn Fn(ObjectId) -> Result<Vec<u8>, String>,
    resolve: Resolve<'a>,
    revision: &'a SourceRevision,
    outcomes: Vec<Outcome>,
    seen: HashSet<(String, String)>,
    by_setting: HashMap<String, String>,
    state: &'a mut SourceState,
}

impl Discovery<'_> {
    fn render(&mut self, builds: Vec<Build>, renderer: &mut Renderer) {
        let results = run::render_all(self.source, self.index, &builds, renderer, self.read);
        for (build, result) in builds.into_iter().zip(results) {
            self.outcomes.push(Outcome { build, result });
        }
    }

    fn out_of_scope(&mut self, application: &app::Application, what: String, why: String) {
        self.state.findings.out_of_scope.push(OutOfScope {
            source: self.source.name.clone(),
            file: application.file.clone(),
            line: application.line,
            what,
            why,
        });
    }

    fn follow(&mut self, application: &app::Application, queue: &mut Vec<Build>) {
        if let Some(cluster) = &application.remote {
            let why = format!("it deploys to another cluster ({cluster})");
            self.out_of_scope(application, application.label(), why);
            return;
        }
        let many = application.sources.iter().filter(|s| !s.ref_only).count() > 1;
        for (i, s) in application.sources.iter().enumerate() {
            if s.ref_only {
                continue;
            }
            let what = if many {
                format!("{} source {}", application.label(), i + 1)
            } else {
                application.label()
            };
            if s.kind == app::Declared::Helm && !repo_url::is_source(self.source, &s.repo_url) {
                let why = format!(
                    "a Helm chart from {}: driftgate does not render Helm",
                    s.repo_url
                );
                self.out_of_scope(application, what, why);
                continue;
            }
            if !repo_url::is_source(self.source, &s.repo_url) {
                let why = format!(
                    "repoURL {} is another repository (this source is {}; list other URLs of it in `aliases`)",
                    s.repo_url, self.source.url
                );
                self.out_of_scope(application, what, why);
                continue;
            }
            let in_scope = repo_url::in_scope(
                &s.target_revision,
                self.source,
                &self.revision.git_ref,
                &self.revision.commit,
                self.resolve,
            );
            if !in_scope {
                let why = format!(
                    "targetRevision {:?} is not the revision this source reads ({})",
                    s.target_revision,
                    self.revision.label()
                );
                self.out_of_scope(application, what, why);
                continue;
            }
            match self.build(application, s, &what) {
                Ok(Some(build)) => match self.by_setting.get(&setting(&build)) {
                    Some(first) => self.state.findings.notes.push(Note {
                        source: self.source.name.clone(),
                        file: application.file.clone(),
                        line: application.line,
                        message: format!(
                            "{what} builds {} as {first} does: its objects are declared once, by {first}",
                            build.info.dir
                        ),
                    }),
                    None => {
                        self.by_setting.insert(setting(&build), build.name.clone());
                        queue.push(build);
                    }
                },
                Ok(None) => {}
                Err((build, error)) => self.outcomes.push(Outcome {
                    build: *build,
                    result: Err(error),
                }),
            }
        }
    }

    /// The build of one source; `None` when it is out of scope (listed).
    #[allow(clippy::type_complexity)]
    fn build(
        &mut self,
        application: &app::Application,
        s: &app::AppSource,
        what: &str,
    ) -> Result<Option<Build>, (Box<Build>, BuildError)> {
        let mut build = Build {
            name: what.to_string(),
            info: Arc::new(Built {
                dir: display_dir(&s.path),
                by: what.to_string(),
                declared_at: Some((application.file.clone(), application.line)),
                default_namespace: application.destination_namespace.clone(),
            }),
            dir: String::new(),
            inputs: Inputs::default(),
            how: How::Files(Vec::new()),
        };
        let why = match s.kind {
            app::Declared::Helm => Some("a Helm chart: driftgate does not render Helm".to_string()),
            app::Declared::Plugin => {
                Some("a config management plugin: driftgate does not run plugins".to_string())
            }
            app::Declared::Ambiguous => Some(
                "sets more than one of helm, kustomize, directory and plugin, which Argo CD refuses"
                    .to_string(),
            ),
            _ => None,
        };
        if let Some(why) = why {
            self.out_of_scope(application, what.to_string(), why);
            return Ok(None);
        }
        let Some(dir) = plan::resolve("", &s.path) else {
            let why = format!("path {:?} leaves the repository", s.path);
            self.out_of_scope(application, what.to_string(), why);
            return Ok(None);
        };
        build.dir = dir.clone();
        if !self.index.is_dir(&dir) {
            return Err((Box::new(build), BuildError::NoDirectory(s.path.clone())));
        }
        let kustomize = match s.kind {
            app::Declared::Kustomize => true,
            app::Declared::Directory => false,
            _ => {
                if self.index.kustomization_file(&dir).is_none()
                    && self.index.get(&plan::join(&dir, "Chart.yaml")).is_some()
                {
                    let why =
                        "a Helm chart (Chart.yaml): driftgate does not render Helm".to_string();
                    self.out_of_scope(application, what.to_string(), why);
                    return Ok(None);
                }
                self.index.kustomization_file(&dir).is_some()
            }
        };
        if kustomize {
            let options = match KustomizeOptions::read(s.kustomize.as_ref()) {
                Ok(options) => options,
                Err(message) => return Err((Box::new(build), BuildError::Settings(message))),
            };
            let mut inputs = plan::inputs(self.index, &dir, self.read);
            for component in &options.components {
                if let Some(c) = plan::resolve(&dir, component).filter(|c| self.index.is_dir(c)) {
                    inputs.merge(&plan::inputs(self.index, &c, self.read));
                }
            }
            if let Some(file) = helm_charts(self.index, &inputs, self.read) {
                let why = format!(
                    "kustomize helmCharts ({file}): inflating charts needs Helm, which driftgate does not run"
                );
                self.out_of_scope(application, what.to_string(), why);
                return Ok(None);
            }
            build.inputs = inputs;
            build.how = How::Kustomize(Box::new(Changes {
                flux: None,
                argo: Some(options),
            }));
            return Ok(Some(build));
        }
        let directory = s.directory.as_ref();
        let text = |key: &str| {
            directory
                .and_then(|d| d.get(key))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let recurse = directory
            .and_then(|d| d.get("recurse"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let (manifests, jsonnet) =
            files(self.index, &dir, recurse, text("include"), text("exclude"));
        for file in jsonnet {
            self.out_of_scope(
                application,
                what.to_string(),
                format!("Jsonnet ({file}): driftgate does not evaluate Jsonnet"),
            );
        }
        build.inputs = file_inputs(&manifests);
        build.how = How::Files(manifests);
        Ok(Some(build))
    }

    /// Objects of a configured path that an Application's build declares too are that build's:
    /// a root that syncs its own directory is built once.
    fn cover_roots(&mut self, renderer: &Renderer) {
        let all: Vec<&RawObject> = self
            .outcomes
            .iter()
            .flat_map(|o| own_objects(o, renderer))
            .collect();
        let catalog = settle::catalog(all.iter().copied());
        let default_namespace = &self.source.default_namespace;
        let built: HashMap<ObjectKey, String> = self
            .outcomes
            .iter()
            .filter(|o| o.build.info.declared_at.is_some())
            .flat_map(|o| {
                own_objects(o, renderer).map(|raw| {
                    (
                        settle::key(&catalog, default_namespace, raw),
                        o.build.name.clone(),
                    )
                })
            })
            .collect();
        for outcome in &mut self.outcomes {
            if outcome.build.info.declared_at.is_some() {
                continue;
            }
            let Ok(rendered) = &outcome.result else {
                continue;
            };
            let mut by = None;
            let kept: Vec<RawObject> = rendered
                .objects
                .iter()
                .filter(
                    |raw| match built.get(&settle::key(&catalog, default_namespace, raw)) {
                        Some(name) => {
                            by.get_or_insert_with(|| name.clone());
                            false
                        }
                        None => true,
                    },
                )
                .cloned()
                .collect();
            let Some(by) = by else {
                continue;
            };
            if kept.is_empty() {
                self.state.findings.notes.push(Note {
                    source: self.source.name.clone(),
                    file: outcome.build.info.dir.clone(),
                    line: 0,
                    message: format!(
                        "configured path {} is built by {by}: its objects are declared once, by it",
                        outcome.build.info.dir
                    ),
                });
            }
            outcome.result = Ok(Rendered {
                objects: Arc::new(kept),
                skipped_documents: rendered.skipped_documents,
            });
        }
    }
}

/// The first kustomization among the inputs that inflates Helm charts, if any.
fn helm_charts(
    index: &TreeIndex,
    inputs: &Inputs,
    read: &dyn Fn(ObjectId) -> Result<Vec<u8>, String>,
) -> Option<String> {
    for (path, (kind, id)) in &inputs.entries {
        let files: Vec<(String, ObjectId)> = match kind {
            EntryKind::Tree => index
                .beneath(path)
                .chain(std::iter::once((path.as_str(), *kind, *id)))
                .filter(|(p, k, _)| *k == EntryKind::Blob && parse::is_kustomization_file(p))
                .map(|(p, _, id)| (p.to_string(), id))
                .collect(),
            _ => Vec::new(),
        };
        for (file, blob) in files {
            let Ok(bytes) = read(blob) else { continue };
            let Ok(text) = std::str::from_utf8(&bytes) else {
                continue;
            };
            let charts = yaml::parse_documents(text).ok().is_some_and(|docs| {
                docs.iter().any(|d| {
                    d.value.get("helmCharts").is_some()
                        || d.value.get("helmChartInflationGenerator").is_some()
                })
            });
            if charts {
                return Some(file);
            }
        }
    }
    None
}

/// Directory, settings and default namespace of a build, as one comparable text.
fn setting(build: &Build) -> String {
    format!(
        "{}\0{}\0{:?}",
        build.dir,
        serde_json::to_string(&build.how).unwrap_or_default(),
        build.info.default_namespace
    )
}
