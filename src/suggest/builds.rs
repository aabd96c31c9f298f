//! Which builds a repository has, seen from one of them: the build that rendered an object
//! (with the Flux Kustomization that configures it, for `discover: flux`), the kustomizations
//! it reads, and every other build of the repository, including those of other clusters
//! this source does not read (another overlay of a shared base, another cluster's Flux
//! Kustomization). A file only this build reads may be edited; a change to one that another
//! build reads must leave that build's output as it was.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::build::Build;
use super::repo::Checkout;
use crate::git::EntryKind;
use crate::manifest::parse::{self, RawObject};
use crate::manifest::{yaml, DeclaredObject};
use crate::render::flux::{self, FluxKustomization, Located};
use crate::render::plan::{self, Inputs};
use crate::snapshot::Snapshot;

/// A build and the Flux Kustomization behind it, if any.
#[derive(Debug, Clone)]
pub struct Found {
    pub build: Build,
    pub flux: Option<FluxKustomization>,
}

fn raw(object: &DeclaredObject) -> RawObject {
    RawObject {
        api_version: object.api_version.clone(),
        kind: object.key.kind.clone(),
        value: object.value.clone(),
        file: object.file.clone(),
        line: object.line,
        origin: object.origin.clone(),
        stale: object.stale,
    }
}

/// The builds of this source that render `dir`: the directory itself, or under
/// `discover: flux` each Flux Kustomization whose path is there (and a configured path built
/// as Flux builds its entry points).
pub fn of(snapshot: &Snapshot, checkout: &Checkout, dir: &str) -> Vec<Found> {
    let source = &checkout.source;
    let Some(repo) = source.discover.as_deref().and_then(flux::parse_discover) else {
        return vec![Found {
            build: Build {
                dir: dir.to_string(),
                flux: None,
            },
            flux: None,
        }];
    };
    let raws: Vec<RawObject> = snapshot
        .objects()
        .filter(|o| *o.source == *source.name)
        .map(|o| raw(o))
        .collect();
    let mut found: Vec<Found> = raws
        .iter()
        .filter_map(|r| flux::read_kustomization(r, &source.default_namespace))
        .filter(
            |k| matches!(flux::locate(k, &raws, &repo), Located::Here { dir: d, .. } if d == dir),
        )
        .map(|k| Found {
            build: Build {
                dir: dir.to_string(),
                flux: Some(k.options.clone()),
            },
            flux: Some(k),
        })
        .collect();
    let entry = source
        .paths
        .iter()
        .any(|p| plan::resolve("", p).as_deref() == Some(dir));
    if entry || found.is_empty() {
        found.push(Found {
            build: Build {
                dir: dir.to_string(),
                flux: Some(Default::default()),
            },
            flux: None,
        });
    }
    found
}

/// Another build of the repository, with what reads it (for messages).
#[derive(Debug, Clone)]
pub struct Other {
    pub build: Build,
    pub inputs: Inputs,
    /// `apps/staging (kustomize)`, or the file of a Flux Kustomization of another cluster.
    pub by: String,
}

/// What the repository builds besides one build: every kustomization no other kustomization
/// reads (an overlay, a cluster), and every directory a Flux Kustomization anywhere in the
/// tree points at, each with the inputs it reads. A directory two Flux Kustomizations (in two
/// files: two clusters) point at is built by another cluster even when it is this build's
/// own: then none of its files is this build's alone.
#[derive(Debug)]
pub struct Others {
    pub builds: Vec<Other>,
    /// The kustomization directories the build reads (itself and its bases, components).
    pub chain: Vec<String>,
}

impl Others {
    pub fn find(checkout: &Checkout, build: &Build) -> Others {
        let index = &checkout.index;
        let read = |id| checkout.read_blob(id);
        let dirs: BTreeSet<String> = index
            .beneath("")
            .filter(|(p, k, _)| *k == EntryKind::Blob && parse::is_kustomization_file(p))
            .map(|(p, _, _)| plan::parent(p).to_string())
            .chain(index.kustomization_file("").map(|_| String::new()))
            .collect();
        let inputs: Vec<(String, Inputs)> = dirs
            .iter()
            .map(|d| (d.clone(), plan::inputs(index, d, &read)))
            .collect();
        let own = plan::inputs(index, &build.dir, &read);
        let chain: Vec<String> = dirs.iter().filter(|d| own.covers(d)).cloned().collect();
        let read_by_other = |dir: &str| {
            inputs
                .iter()
                .any(|(other, inp)| other != dir && inp.covers(dir) && !plan::is_within(dir, other))
        };
        let mut builds: Vec<Other> = inputs
            .iter()
            .filter(|(d, _)| *d != build.dir && !read_by_other(d))
            .map(|(d, inp)| Other {
                build: Build {
                    dir: d.clone(),
                    flux: None,
                },
                inputs: inp.clone(),
                by: format!("{} (kustomize)", crate::render::display_dir(d)),
            })
            .collect();
        let references = flux_paths(checkout);
        for (dir, files) in &references {
            let own_dir = *dir == build.dir;
            if (own_dir && files.len() < 2)
                || (!own_dir && builds.iter().any(|b| b.build.dir == *dir))
            {
                continue;
            }
            // A Flux path with no kustomization is built from a generated one.
            let options = index
                .kustomization_file(dir)
                .is_none()
                .then(Default::default);
            let by = files.iter().cloned().collect::<Vec<_>>().join(" and ");
            builds.push(Other {
                build: Build {
                    dir: dir.clone(),
                    flux: options,
                },
                inputs: plan::inputs(index, dir, &read),
                by: format!("the Flux Kustomizations in {by}"),
            });
        }
        Others { builds, chain }
    }

    /// The other builds that read `path` (a file, or a new file's place).
    pub fn reading(&self, path: &str) -> Vec<&Other> {
        self.builds
            .iter()
            .filter(|other| other.inputs.covers(path))
            .collect()
    }
}

/// The directories Flux Kustomizations anywhere in the tree build (`spec.path`) from this
/// repository, each with the files that hold those Kustomizations (the `GitRepository` `discover` names; `flux-system/flux-system`, the one
/// `flux bootstrap` makes, when it names none), whatever cluster they belong to.
fn flux_paths(checkout: &Checkout) -> BTreeMap<String, BTreeSet<String>> {
    let (repo_ns, repo_name) = checkout
        .source
        .discover
        .as_deref()
        .and_then(flux::parse_discover)
        .unwrap_or_else(|| ("flux-system".into(), "flux-system".into()));
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, kind, id) in checkout.index.beneath("") {
        if kind != EntryKind::Blob || !parse::is_manifest_path(path) {
            continue;
        }
        let Ok(bytes) = checkout.read_blob(id) else {
            continue;
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        if !text.contains("kustomize.toolkit.fluxcd.io") {
            continue;
        }
        let Ok(docs) = yaml::parse_documents(text) else {
            continue;
        };
        for doc in docs {
            let v = &doc.value;
            let is_flux = v
                .get("apiVersion")
                .and_then(Value::as_str)
                .is_some_and(|a| a.starts_with("kustomize.toolkit.fluxcd.io/"))
                && v.get("kind").and_then(Value::as_str) == Some("Kustomization");
            let text = |p: &str| v.pointer(p).and_then(Value::as_str);
            let namespace = text("/metadata/namespace").unwrap_or("flux-system");
            let from_here = text("/spec/sourceRef/kind").unwrap_or("GitRepository")
                == "GitRepository"
                && text("/spec/sourceRef/name") == Some(repo_name.as_str())
                && text("/spec/sourceRef/namespace").unwrap_or(namespace) == repo_ns;
            let spec_path = text("/spec/path").unwrap_or("./");
            if let Some(dir) = (is_flux && from_here)
                .then(|| plan::resolve("", spec_path))
                .flatten()
            {
                if checkout.index.is_dir(&dir) {
                    out.entry(dir).or_default().insert(path.to_string());
                }
            }
        }
    }
    out
}
