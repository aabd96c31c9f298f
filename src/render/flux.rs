//! `discover: flux`: the repository read the way Flux's kustomize-controller applies it.
//!
//! The configured paths are the cluster's entry points (what `flux bootstrap --path` names, or a
//! `FluxInstance`'s `spec.sync.path`). Each is built as kustomize-controller builds a path (a
//! kustomization.yaml generated when it has none); the Kustomization that syncs that very path
//! (bootstrap's `flux-system`) then builds it instead, once. Every Flux `Kustomization`
//! (`kustomize.toolkit.fluxcd.io`) found in a build's output whose source is this repository is
//! followed in turn, as its parent's build rendered it (patches and substitutions included):
//! its `spec.path` is built with its `targetNamespace`, `namePrefix`/`nameSuffix`, `patches`,
//! `images` and `components` (any directory, exported with what it reads), then
//! `postBuild` substitution (`substitute`, `substituteFrom` ConfigMaps and Secrets that Git
//! declares, Flux's full expression grammar, strict when the repository's kustomize-controller
//! is) and `commonMetadata`. `dependsOn` orders applies, not what is applied: it is not read.
//!
//! Each Kustomization is a build of its own (see `settle`): one that fails keeps its last good
//! objects and every other one advances.
//!
//! Which source is "this repository": the `GitRepository` named by `discover` — `flux` means
//! `flux-system/flux-system`, the one `flux bootstrap` creates for the repository it writes to;
//! `flux:NAMESPACE/NAME` names another — and the one the Kustomization syncing a configured
//! path reads from (that path is in this repository, so its source is this repository; noted).
//! Matching by URL was rejected: tenants often point a
//! `GitRepository` at the same URL on another branch (flux2-multi-tenancy does), which is not
//! this revision. An `ExternalArtifact` made by an `ArtifactGenerator` declared in the repository
//! from that `GitRepository` is followed through its `copy` rules (see `artifact`).
//! Kustomizations whose source is anything else are listed as out of scope. The service
//! accounts that Kustomizations and HelmReleases name in `spec.serviceAccountName` join the
//! source's bypass users: Flux acts as them.

pub mod object;
mod vars;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::config::Source;
use crate::findings::{Findings, Note, OutOfScope};
use crate::git::ReadBlob;
use crate::manifest::parse::RawObject;
use crate::manifest::Built;
use crate::snapshot::{SourceRevision, SourceState};

use super::build::{Build, BuildError, How};
use super::kfile::Changes;
use super::plan::{self, TreeIndex};
use super::run;
use super::settle::{self, Outcome};
use super::{Error, Renderer, Result};

pub use object::{
    bypass_users, locate, read_kustomization, BuildOptions, FluxKustomization, Located,
};

/// The source's state under `discover: flux`.
pub fn declare(
    source: &Source,
    repo: &(String, String),
    revision: SourceRevision,
    index: &TreeIndex,
    scope: &[String],
    renderer: &mut Renderer,
    read: &ReadBlob<'_>,
) -> Result<SourceState> {
    let mut entries = Vec::new();
    for dir in scope {
        if !index.is_dir(dir) {
            return Err(Error::NotADirectory {
                source_name: source.name.clone(),
                discover: "flux",
                path: dir.clone(),
            });
        }
        entries.push(entry(dir, index, read));
    }
    // Strictness is read from what Git declares (the controller's flags), which may only show
    // once everything is built: discovery runs again, strict, if it turns out so.
    let mut strict = false;
    let (outcomes, findings) = loop {
        let (outcomes, findings, all) =
            follow_all(source, index, read, repo, entries.clone(), strict, renderer);
        let found = vars::strict_mode(all.iter());
        if found == strict {
            break (outcomes, findings);
        }
        strict = found;
    };
    let mut state = SourceState {
        name: source.name.clone(),
        default_namespace: source.default_namespace.clone(),
        revision: Some(revision),
        findings,
        ..SourceState::default()
    };
    settle::settle(source, outcomes, &mut renderer.memory, &mut state);
    state.bypass_users = bypass_users(&state.objects, &source.default_namespace);
    Ok(state)
}

/// Follows the Kustomizations from the entry builds; returns every outcome, what was decided,
/// and every object declared (for the strictness check).
fn follow_all(
    source: &Source,
    index: &TreeIndex,
    read: &ReadBlob<'_>,
    repo: &(String, String),
    entries: Vec<Build>,
    strict: bool,
    renderer: &mut Renderer,
) -> (Vec<Outcome>, Findings, Vec<RawObject>) {
    let mut findings = Findings::default();
    let mut d = Discovery {
        source,
        index,
        read,
        repos: vec![repo.clone()],
        outcomes: Vec::new(),
        seen: HashSet::new(),
        by_setting: HashMap::new(),
        waiting: Vec::new(),
        strict,
        encrypted: HashSet::new(),
        findings: &mut findings,
    };
    d.render(entries, renderer);
    let mut queue = d.supersede_entries(renderer);
    let mut scanned = 0;
    loop {
        let found: Vec<FluxKustomization> = d.outcomes[scanned..]
            .iter()
            .flat_map(|o| own_objects(o, renderer))
            .filter_map(|o| read_kustomization(o, &source.default_namespace))
            .collect();
        scanned = d.outcomes.len();
        let all: Vec<RawObject> = d.objects(renderer).cloned().collect();
        let lookup = vars::Lookup::new(&all, &source.default_namespace);
        for k in found {
            if d.seen.insert((k.namespace.clone(), k.name.clone())) {
                d.follow(k, &all, &lookup, &mut queue);
            }
        }
        let waiting = std::mem::take(&mut d.waiting);
        for (k, dir, _) in waiting {
            d.queue_or_wait(k, dir, &lookup, &mut queue);
        }
        if queue.is_empty() {
            break;
        }
        d.render(std::mem::take(&mut queue), renderer);
    }
    d.fail_waiting();
    d.drop_covered_entries();
    let all: Vec<RawObject> = d.objects(renderer).cloned().collect();
    let outcomes = std::mem::take(&mut d.outcomes);
    (outcomes, findings, all)
}

/// The build of a configured path, before any Kustomization is known.
fn entry(dir: &str, index: &TreeIndex, read: &ReadBlob<'_>) -> Build {
    Build {
        name: format!("Flux path {}", super::display_dir(dir)),
        info: Arc::new(Built {
            dir: super::display_dir(dir),
            by: "Flux path".into(),
            declared_at: None,
            default_namespace: None,
        }),
        dir: dir.to_string(),
        inputs: plan::inputs(index, dir, read),
        how: How::Kustomize(Box::new(Changes {
            flux: Some(BuildOptions::default()),
            argo: None,
        })),
    }
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
    /// The `GitRepository`s that stand for this repository: the configured one, and the one
    /// the configured path's own Kustomization syncs from.
    repos: Vec<(String, String)>,
    outcomes: Vec<Outcome>,
    /// Kustomizations already followed, by namespace and name.
    seen: HashSet<(String, String)>,
    /// Builds by directory and settings: two Kustomizations building the same are built once.
    by_setting: HashMap<String, String>,
    /// Kustomizations whose `substituteFrom` names an object not found yet.
    waiting: Vec<(FluxKustomization, String, vars::Missing)>,
    strict: bool,
    /// Encrypted `substituteFrom` Secrets already noted.
    encrypted: HashSet<String>,
    findings: &'a mut Findings,
}

impl Discovery<'_> {
    fn render(&mut self, builds: Vec<Build>, renderer: &mut Renderer) {
        let results = run::render_all(self.source, self.index, &builds, renderer, self.read);
        for (build, result) in builds.into_iter().zip(results) {
            self.outcomes.push(Outcome { build, result });
        }
    }

    fn objects<'r>(&'r self, renderer: &'r Renderer) -> impl Iterator<Item = &'r RawObject> {
        self.outcomes
            .iter()
            .flat_map(move |o| own_objects(o, renderer))
    }

    /// The Kustomization that syncs a configured path (bootstrap's `flux-system`) builds it in
    /// place of the plain entry, so its settings apply and the path is built once; and the
    /// `GitRepository` it syncs from is this repository, whatever its name.
    fn supersede_entries(&mut self, renderer: &Renderer) -> Vec<Build> {
        let all: Vec<RawObject> = self.objects(renderer).cloned().collect();
        for o in &self.outcomes {
            let dir = &o.build.dir;
            let syncs_path = own_objects(o, renderer)
                .filter_map(|raw| read_kustomization(raw, &self.source.default_namespace))
                .find(|k| {
                    k.source_kind == "GitRepository"
                        && plan::resolve("", &k.path).as_ref() == Some(dir)
                });
            if let Some(k) = syncs_path {
                let repo = (k.source_namespace.clone(), k.source_name.clone());
                if !self.repos.contains(&repo) {
                    self.findings.notes.push(Note {
                        source: self.source.name.clone(),
                        file: k.file.clone(),
                        line: k.line,
                        message: format!(
                            "{} syncs the configured path {} from GitRepository {}/{}: that GitRepository is this repository too",
                            k.label(),
                            super::display_dir(dir),
                            repo.0,
                            repo.1
                        ),
                    });
                    self.repos.push(repo);
                }
            }
        }
        let lookup = vars::Lookup::new(&all, &self.source.default_namespace);
        let mut queue = Vec::new();
        let mut i = 0;
        while i < self.outcomes.len() {
            let dir = self.outcomes[i].build.dir.clone();
            let syncing = own_objects(&self.outcomes[i], renderer)
                .filter_map(|o| read_kustomization(o, &self.source.default_namespace))
                .find(|k| {
                    matches!(locate(k, &all, &self.repos), Located::Here { dir: d, artifact: None } if d == dir)
                });
            let Some(k) = syncing else {
                i += 1;
                continue;
            };
            match self.build_for(&k, &dir, &lookup) {
                Ok(build) => {
                    self.seen.insert((k.namespace.clone(), k.name.clone()));
                    self.by_setting.insert(setting(&build), build.name.clone());
                    self.outcomes.remove(i);
                    queue.push(build);
                }
                Err(_) => i += 1,
            }
        }
        queue
    }

    fn follow(
        &mut self,
        k: FluxKustomization,
        all: &[RawObject],
        lookup: &vars::Lookup,
        queue: &mut Vec<Build>,
    ) {
        match locate(&k, all, &self.repos) {
            Located::Elsewhere(why) => self.findings.out_of_scope.push(OutOfScope {
                source: self.source.name.clone(),
                file: k.file.clone(),
                line: k.line,
                what: k.label(),
                why: format!("{why}; its objects are not declared by this source"),
            }),
            Located::Here { dir, artifact } => {
                if let Some((path, map)) = &artifact {
                    let inputs = plan::inputs(self.index, &dir, self.read);
                    if let Err(why) = map.verify(path, &dir, &inputs) {
                        self.findings.out_of_scope.push(OutOfScope {
                            source: self.source.name.clone(),
                            file: k.file.clone(),
                            line: k.line,
                            what: k.label(),
                            why: format!(
                                "artifact {}/{} cannot be built from the tree ({why})",
                                k.source_namespace, k.source_name
                            ),
                        });
                        return;
                    }
                }
                self.queue_or_wait(k, dir, lookup, queue);
            }
        }
    }

    /// Queues the Kustomization's build, or keeps it waiting for its `substituteFrom` objects.
    fn queue_or_wait(
        &mut self,
        k: FluxKustomization,
        dir: String,
        lookup: &vars::Lookup,
        queue: &mut Vec<Build>,
    ) {
        if !self.index.is_dir(&dir) {
            let build = self.shell(&k, &dir);
            let path = k.path.clone();
            self.outcomes.push(Outcome {
                build,
                result: Err(BuildError::NoDirectory(path)),
            });
            return;
        }
        let build = match self.build_for(&k, &dir, lookup) {
            Ok(build) => build,
            Err(missing) => {
                self.waiting.push((k, dir, missing));
                return;
            }
        };
        match self.by_setting.get(&setting(&build)) {
            Some(first) => self.findings.notes.push(Note {
                source: self.source.name.clone(),
                file: k.file.clone(),
                line: k.line,
                message: format!(
                    "{} builds {} with the same settings as {first}: its objects are declared once, by {first}",
                    k.label(),
                    super::display_dir(&dir)
                ),
            }),
            None => {
                self.by_setting.insert(setting(&build), build.name.clone());
                queue.push(build);
            }
        }
    }

    /// The Kustomization's build, with its variables resolved and its components' inputs.
    fn build_for(
        &mut self,
        k: &FluxKustomization,
        dir: &str,
        lookup: &vars::Lookup,
    ) -> Result<Build, vars::Missing> {
        let resolved = vars::resolve(k, lookup, self.strict)?;
        for secret in &resolved.encrypted {
            if !self.encrypted.insert(secret.clone()) {
                continue;
            }
            self.findings.notes.push(Note {
                source: self.source.name.clone(),
                file: k.file.clone(),
                line: k.line,
                message: format!(
                    "postBuild.substituteFrom {secret} (first of {}) is encrypted in Git: expressions using its variables are declared as written",
                    k.label()
                ),
            });
        }
        let mut options = k.options.clone();
        options.vars = resolved.vars;
        let mut inputs = plan::inputs(self.index, dir, self.read);
        options.components.retain(|component| {
            match plan::resolve(dir, component).filter(|c| self.index.is_dir(c)) {
                Some(c) => {
                    inputs.merge(&plan::inputs(self.index, &c, self.read));
                    true
                }
                // Missing: kustomize says so, unless the Kustomization ignores missing ones.
                None => !k.ignore_missing_components,
            }
        });
        let mut build = self.shell(k, dir);
        build.inputs = inputs;
        build.how = How::Kustomize(Box::new(Changes {
            flux: Some(options),
            argo: None,
        }));
        Ok(build)
    }

    /// A build named after the Kustomization, with no inputs yet.
    fn shell(&self, k: &FluxKustomization, dir: &str) -> Build {
        Build {
            name: k.label(),
            info: Arc::new(Built {
                dir: super::display_dir(dir),
                by: k.label(),
                declared_at: Some((k.file.clone(), k.line)),
                default_namespace: None,
            }),
            dir: dir.to_string(),
            inputs: plan::Inputs::default(),
            how: How::Kustomize(Box::default()),
        }
    }

    /// Kustomizations still waiting for a `substituteFrom` object fail: Git does not declare it.
    fn fail_waiting(&mut self) {
        for (k, dir, missing) in std::mem::take(&mut self.waiting) {
            self.outcomes.push(Outcome {
                build: self.shell(&k, &dir),
                result: Err(BuildError::SubstituteFrom {
                    kind: missing.kind,
                    namespace: missing.namespace,
                    name: missing.name,
                }),
            });
        }
    }

    /// A configured path that a Kustomization builds is declared by that Kustomization.
    fn drop_covered_entries(&mut self) {
        let built: Vec<(String, String)> = self
            .outcomes
            .iter()
            .filter(|o| o.build.info.declared_at.is_some())
            .map(|o| (o.build.dir.clone(), o.build.name.clone()))
            .collect();
        let source = self.source.name.clone();
        let notes = &mut self.findings.notes;
        self.outcomes.retain(|o| {
            if o.build.info.declared_at.is_some() {
                return true;
            }
            match built.iter().find(|(dir, _)| *dir == o.build.dir) {
                Some((dir, by)) => {
                    notes.push(Note {
                        source: source.clone(),
                        file: super::display_dir(dir),
                        line: 0,
                        message: format!(
                            "configured path {} is built by {by}",
                            super::display_dir(dir)
                        ),
                    });
                    false
                }
                None => true,
            }
        });
    }
}

/// Directory and settings of a build, as one comparable text.
fn setting(build: &Build) -> String {
    format!(
        "{}\0{}",
        build.dir,
        serde_json::to_string(&build.how).unwrap_or_default()
    )
}
