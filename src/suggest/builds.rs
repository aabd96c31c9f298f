//! Which builds a repository has, seen from one of them: the build that rendered an object
//! (with the Flux Kustomization that configures it, for `discover: flux`), the kustomizations
//! it reads, and every other build of the repository, including those of other clusters
//! this source does not read (another overlay of a shared base, another cluster's Flux
//! Kustomization). A file only this build reads may be edited; a change to one that another
//! build reads must leave that build's output as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;

use super::repo::Checkout;
use crate::config::Discover;
use crate::git::EntryKind;
use crate::manifest::parse;
use crate::manifest::{yaml, Built};
use crate::render::build::{Build, How};
use crate::render::kfile::Changes;
use crate::render::plan::{self, Inputs};

/// The build that rendered an object (its origin names it), among those the source's last
/// read rendered.
pub fn of<'b>(builds: &'b [Build], built: &Built) -> Option<&'b Build> {
    builds.iter().find(|b| *b.info == *built)
}

/// A build of `dir` as a Flux Kustomization with no settings builds it (a kustomization
/// generated when there is none).
fn flux_path(dir: &str, inputs: Inputs) -> Build {
    Build {
        name: format!("Flux path {}", crate::render::display_dir(dir)),
        info: Arc::new(Built {
            dir: crate::render::display_dir(dir),
            by: "Flux path".into(),
            declared_at: None,
            default_namespace: None,
        }),
        dir: dir.to_string(),
        inputs,
        how: How::Kustomize(Box::new(Changes {
            flux: Some(Default::default()),
            argo: None,
        })),
    }
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
                build: Build::kustomize(d, inp.clone()),
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
            let inputs = plan::inputs(index, dir, &read);
            let build = match index.kustomization_file(dir) {
                Some(_) => Build::kustomize(dir, inputs.clone()),
                None => flux_path(dir, inputs.clone()),
            };
            let by = files.iter().cloned().collect::<Vec<_>>().join(" and ");
            builds.push(Other {
                build,
                inputs,
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
    let (repo_ns, repo_name) = match &checkout.source.discover {
        Some(Discover::Flux { namespace, name }) => (namespace.clone(), name.clone()),
        _ => ("flux-system".to_string(), "flux-system".to_string()),
    };
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
