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
mod source;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::config::Source;
use crate::findings::{Note, OutOfScope};
use crate::git::ReadBlob;
use crate::manifest::parse::RawObject;
use crate::manifest::ObjectKey;
use crate::snapshot::{SourceRevision, SourceState};

use super::build::{Build, Rendered};
use super::plan::TreeIndex;
use super::run;
use super::settle::{self, Outcome};
use super::{Error, Renderer, Resolve, Result};

pub use app::is_application;
pub use kustomize::KustomizeOptions;
use source::Planned;

/// The source's state under `discover: argocd`.
pub fn declare(
    source: &Source,
    revision: SourceRevision,
    index: &TreeIndex,
    scope: &[String],
    renderer: &mut Renderer,
    read: &ReadBlob<'_>,
    resolve: Resolve<'_>,
) -> Result<SourceState> {
    let mut roots = Vec::new();
    for dir in scope {
        if !index.is_dir(dir) {
            return Err(Error::NotADirectory {
                source_name: source.name.clone(),
                discover: "argocd",
                path: dir.clone(),
            });
        }
        roots.push(source::root(dir, index));
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

/// Objects an outcome declares now: its render, or its last good one.
fn own_objects<'a>(
    outcome: &'a Outcome,
    renderer: &'a Renderer,
) -> impl Iterator<Item = &'a RawObject> {
    let rendered = match &outcome.result {
        Ok(r) => Some(r),
        Err(e) if e.out_of_scope() => None,
        Err(_) => renderer.memory.last_good(&outcome.build.name),
    };
    rendered.into_iter().flat_map(|r| r.objects.iter())
}

struct Discovery<'a> {
    source: &'a Source,
    index: &'a TreeIndex,
    read: &'a ReadBlob<'a>,
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
            let (planned, jsonnet) = source::plan(self.index, self.read, application, s, &what);
            for why in jsonnet {
                self.out_of_scope(application, what.clone(), why);
            }
            match planned {
                Planned::Build(build) => match self.by_setting.get(&setting(&build)) {
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
                Planned::OutOfScope(why) => self.out_of_scope(application, what, why),
                Planned::Failed(build, error) => self.outcomes.push(Outcome {
                    build: *build,
                    result: Err(error),
                }),
            }
        }
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

/// Directory, settings and default namespace of a build, as one comparable text.
fn setting(build: &Build) -> String {
    format!(
        "{}\0{}\0{:?}",
        build.dir,
        serde_json::to_string(&build.how).unwrap_or_default(),
        build.info.default_namespace
    )
}
