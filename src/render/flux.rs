//! `discover: flux`: the repository read the way Flux's kustomize-controller applies it.
//!
//! The configured paths are the cluster's entry points (what `flux bootstrap --path` names). Each
//! is built as kustomize-controller builds a `Kustomization` path, a kustomization.yaml generated
//! when it has none; every Flux `Kustomization` (`kustomize.toolkit.fluxcd.io`) found in the
//! output whose source is this repository is followed in turn: its `spec.path` is built with its
//! `targetNamespace`, `patches`, `images` and `components`, then `postBuild.substitute` is applied.
//!
//! Which source is "this repository": the `GitRepository` named by `discover` — `flux` means
//! `flux-system/flux-system`, the one `flux bootstrap` creates for the repository it writes to;
//! `flux:NAMESPACE/NAME` names another. Matching by URL was rejected: tenants often point a
//! `GitRepository` at the same URL on another branch (flux2-multi-tenancy does), which is not
//! this revision. An `ExternalArtifact` made by an `ArtifactGenerator` declared in the repository
//! from that `GitRepository` is followed through its `copy` rules (`@alias/dir/**` →
//! `@artifact/dest/`); the build runs at the mapped directory of the tree when every input keeps
//! its relative place in the artifact, and is listed as out of scope otherwise (see `artifact`).
//!
//! Kustomizations whose source is anything else are out of scope and listed in the snapshot's
//! errors as notes. The service accounts that Kustomizations and HelmReleases name in
//! `spec.serviceAccountName` join the source's bypass users: Flux acts as them.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use gix::ObjectId;
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::Source;
use crate::declare::Declarer;
use crate::git::EntryKind;
use crate::manifest::parse::{FileError, RawObject};
use crate::manifest::yaml;
use crate::snapshot::{SourceRevision, SourceState};

use super::artifact::{self, ArtifactMap};
use super::export;
use super::plan::{self, TreeIndex, KUSTOMIZATION_FILES};
use super::{Build, Error, Result};

pub use super::postbuild::post_build;

/// What kustomize-controller changes in a kustomization before building it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BuildOptions {
    pub target_namespace: Option<String>,
    pub patches: Vec<Value>,
    pub images: Vec<Value>,
    pub components: Vec<String>,
    /// `spec.postBuild` is set: substitution runs (with no variables, defaults still apply).
    pub post_build: bool,
    pub substitute: BTreeMap<String, String>,
}

/// A Flux `Kustomization` as declared.
#[derive(Debug, Clone)]
pub struct FluxKustomization {
    pub namespace: String,
    pub name: String,
    /// `spec.path` as written (relative to the source's root).
    pub path: String,
    pub source_kind: String,
    pub source_namespace: String,
    pub source_name: String,
    pub service_account: Option<String>,
    pub options: BuildOptions,
    pub substitute_from: bool,
    pub file: String,
    pub line: usize,
}

/// The `GitRepository` that stands for this source, from `discover`.
pub fn parse_discover(discover: &str) -> Option<(String, String)> {
    match discover.trim() {
        "flux" => Some(("flux-system".into(), "flux-system".into())),
        other => {
            let rest = other.strip_prefix("flux:")?;
            let (ns, name) = rest.split_once('/')?;
            (!ns.is_empty() && !name.is_empty()).then(|| (ns.to_string(), name.to_string()))
        }
    }
}

fn is_flux_kind(raw: &RawObject, group: &str, kind: &str) -> bool {
    raw.kind == kind && raw.api_version.split('/').next() == Some(group)
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// Reads a Flux `Kustomization`; `None` for any other object.
pub fn read_kustomization(raw: &RawObject, default_namespace: &str) -> Option<FluxKustomization> {
    if !is_flux_kind(raw, "kustomize.toolkit.fluxcd.io", "Kustomization") {
        return None;
    }
    let v = &raw.value;
    let namespace = str_at(v, "/metadata/namespace")
        .unwrap_or(default_namespace)
        .to_string();
    let list = |pointer: &str| -> Vec<Value> {
        v.pointer(pointer)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let substitute = v
        .pointer("/spec/postBuild/substitute")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, val)| {
                    let text = match val {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default();
    Some(FluxKustomization {
        source_namespace: str_at(v, "/spec/sourceRef/namespace")
            .unwrap_or(&namespace)
            .to_string(),
        namespace,
        name: str_at(v, "/metadata/name")?.to_string(),
        path: str_at(v, "/spec/path").unwrap_or("./").to_string(),
        source_kind: str_at(v, "/spec/sourceRef/kind")
            .unwrap_or("GitRepository")
            .to_string(),
        source_name: str_at(v, "/spec/sourceRef/name").unwrap_or("").to_string(),
        service_account: str_at(v, "/spec/serviceAccountName").map(str::to_string),
        options: BuildOptions {
            target_namespace: str_at(v, "/spec/targetNamespace")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            patches: list("/spec/patches"),
            images: list("/spec/images"),
            components: list("/spec/components")
                .iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect(),
            post_build: v.pointer("/spec/postBuild").is_some(),
            substitute,
        },
        substitute_from: v
            .pointer("/spec/postBuild/substituteFrom")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty()),
        file: raw.file.to_string(),
        line: raw.line,
    })
}

/// Where a Kustomization's path lies: in this tree, or elsewhere (with the reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    Here {
        dir: String,
        /// Set when the path is inside an artifact assembled from this repository.
        artifact: Option<(String, ArtifactMap)>,
    },
    Elsewhere(String),
}

/// Maps a Kustomization's path to a directory of this tree, following its source.
pub fn locate(k: &FluxKustomization, objects: &[RawObject], repo: &(String, String)) -> Located {
    let Some(path) = plan::resolve("", &k.path) else {
        return Located::Elsewhere(format!("spec.path {:?} leaves the source's root", k.path));
    };
    let this = |ns: &str, name: &str| ns == repo.0 && name == repo.1;
    match k.source_kind.as_str() {
        "GitRepository" if this(&k.source_namespace, &k.source_name) => Located::Here {
            dir: path,
            artifact: None,
        },
        "ExternalArtifact" => {
            let map = artifact::find(objects, &k.source_namespace, &k.source_name, &this);
            match map.and_then(|m| m.to_tree(&path).map(|dir| (dir, m))) {
                Some((dir, map)) => Located::Here {
                    dir,
                    artifact: Some((path, map)),
                },
                None => Located::Elsewhere(format!(
                    "source ExternalArtifact {}/{} is not produced from GitRepository {}/{} by an ArtifactGenerator declared here",
                    k.source_namespace, k.source_name, repo.0, repo.1
                )),
            }
        }
        kind => Located::Elsewhere(format!(
            "source {kind} {}/{} is not this repository (GitRepository {}/{})",
            k.source_namespace, k.source_name, repo.0, repo.1
        )),
    }
}

/// The source's state under `discover: flux`.
pub fn declare(
    source: &Source,
    discover: &str,
    revision: SourceRevision,
    index: &TreeIndex,
    scope: &[String],
    declarer: &mut Declarer,
    read: &dyn Fn(ObjectId) -> Result<Vec<u8>, String>,
) -> Result<SourceState> {
    let flux_err = |message: String| Error::Flux {
        source_name: source.name.clone(),
        message,
    };
    let repo = parse_discover(discover).ok_or_else(|| {
        flux_err(format!(
            "discover: {discover:?} is not `flux` or `flux:NAMESPACE/NAME`"
        ))
    })?;
    let mut state = SourceState {
        name: source.name.clone(),
        default_namespace: source.default_namespace.clone(),
        revision: Some(revision),
        ..SourceState::default()
    };
    let mut built: HashSet<(String, String)> = HashSet::new();
    let mut round: Vec<Build> = Vec::new();
    let mut queue = |dir: &str, options: BuildOptions, round: &mut Vec<Build>| {
        let id = (
            dir.to_string(),
            serde_json::to_string(&options).unwrap_or_default(),
        );
        if built.insert(id) {
            round.push(Build {
                dir: dir.to_string(),
                inputs: plan::inputs(index, dir, read),
                flux: Some(options),
            });
        }
    };
    for dir in scope {
        if !index.is_dir(dir) {
            return Err(flux_err(format!(
                "discover: flux reads directories, and {dir:?} is a file"
            )));
        }
        queue(dir, BuildOptions::default(), &mut round);
    }
    // Each round renders what the previous one's Kustomizations point at.
    let mut seen: HashSet<(String, String)> = HashSet::new();
    while !round.is_empty() {
        let rendered = super::render_all(source, index, &round, &mut declarer.renderer, read)?;
        for r in &rendered {
            super::add_rendered(&mut state, r);
        }
        round.clear();
        let pending: Vec<FluxKustomization> = state
            .objects
            .iter()
            .filter_map(|o| read_kustomization(o, &source.default_namespace))
            .filter(|k| !seen.contains(&(k.namespace.clone(), k.name.clone())))
            .collect();
        for k in pending {
            seen.insert((k.namespace.clone(), k.name.clone()));
            let note = |message: String| FileError {
                source: source.name.clone(),
                file: k.file.clone(),
                line: k.line,
                message: format!("Flux Kustomization {}/{}: {message}", k.namespace, k.name),
            };
            match locate(&k, &state.objects, &repo) {
                Located::Here { dir, artifact } => {
                    if !index.is_dir(&dir) {
                        return Err(flux_err(format!(
                            "Flux Kustomization {}/{} (in {}): spec.path {:?} is not a directory of the tree",
                            k.namespace, k.name, k.file, k.path
                        )));
                    }
                    if let Some((path, map)) = &artifact {
                        let inputs = plan::inputs(index, &dir, read);
                        if let Err(why) = map.verify(path, &dir, &inputs) {
                            state.errors.push(note(format!(
                                "artifact {}/{} cannot be built from the tree ({why}); its objects are out of scope",
                                k.source_namespace, k.source_name
                            )));
                            continue;
                        }
                    }
                    if k.substitute_from {
                        state.errors.push(note(
                            "postBuild.substituteFrom values live in the cluster, not in Git: only inline substitute values and ${VAR:=default} defaults are applied".into(),
                        ));
                    }
                    queue(&dir, k.options.clone(), &mut round);
                }
                Located::Elsewhere(why) => {
                    state.errors.push(note(format!(
                        "{why}; its objects are out of scope (not declared by this source)"
                    )));
                }
            }
        }
    }
    state.bypass_users = bypass_users(&state.objects, &source.default_namespace);
    Ok(state)
}

/// `system:serviceaccount:NS:NAME` for every Kustomization and HelmRelease naming an account.
pub fn bypass_users(objects: &[RawObject], default_namespace: &str) -> Vec<String> {
    let mut users: Vec<String> = objects
        .iter()
        .filter(|o| {
            is_flux_kind(o, "kustomize.toolkit.fluxcd.io", "Kustomization")
                || is_flux_kind(o, "helm.toolkit.fluxcd.io", "HelmRelease")
        })
        .filter_map(|o| {
            let sa = str_at(&o.value, "/spec/serviceAccountName")?;
            let ns = str_at(&o.value, "/metadata/namespace").unwrap_or(default_namespace);
            Some(format!("system:serviceaccount:{ns}:{sa}"))
        })
        .collect();
    users.sort();
    users.dedup();
    users
}

/// Writes what kustomize-controller would change before building `dir` in the export: a
/// generated kustomization.yaml when there is none, then the Kustomization's own settings.
pub fn prepare(
    root: &Path,
    dir: &str,
    index: &TreeIndex,
    options: &BuildOptions,
) -> Result<(), export::Error> {
    let base = root.join(dir);
    let existing = index
        .kustomization_file(dir)
        .map(|(path, _)| root.join(path));
    let (file, mut doc) = match existing {
        Some(file) => {
            let text = std::fs::read_to_string(&file).map_err(|source| export::Error::Write {
                path: file.clone(),
                source,
            })?;
            // A kustomization that does not parse is left as written: kustomize reports it.
            let doc = yaml::parse_documents(&text)
                .ok()
                .and_then(|d| d.into_iter().next())
                .map(|d| d.value);
            match doc {
                Some(Value::Object(map)) => (file, Value::Object(map)),
                _ => return Ok(()),
            }
        }
        None => (
            base.join(KUSTOMIZATION_FILES[0]),
            json!({
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": generated_resources(index, dir),
            }),
        ),
    };
    if let Some(ns) = &options.target_namespace {
        doc["namespace"] = json!(ns);
    }
    append(&mut doc, "patches", &options.patches);
    append(&mut doc, "images", &options.images);
    let components: Vec<Value> = options.components.iter().map(|c| json!(c)).collect();
    append(&mut doc, "components", &components);
    // JSON is YAML: kustomize reads it back unchanged.
    let text = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    std::fs::write(&file, text).map_err(|source| export::Error::Write { path: file, source })
}

fn append(doc: &mut Value, key: &str, items: &[Value]) {
    if items.is_empty() {
        return;
    }
    match doc.get_mut(key).and_then(Value::as_array_mut) {
        Some(list) => list.extend(items.iter().cloned()),
        None => doc[key] = Value::Array(items.to_vec()),
    }
}

/// What kustomize-controller's generator lists: every `.yaml`/`.yml` file beneath `dir`, except
/// inside a sub-directory holding a kustomization, which is listed as one resource instead.
pub fn generated_resources(index: &TreeIndex, dir: &str) -> Vec<String> {
    let mut units: Vec<String> = Vec::new();
    let mut resources = Vec::new();
    for (path, kind, _) in index.beneath(dir) {
        if units.iter().any(|u| plan::is_within(path, u)) {
            continue;
        }
        let rel = if dir.is_empty() {
            path
        } else {
            &path[dir.len() + 1..]
        };
        match kind {
            EntryKind::Tree if index.kustomization_file(path).is_some() => {
                units.push(path.to_string());
                resources.push(rel.to_string());
            }
            EntryKind::Blob if path.ends_with(".yaml") || path.ends_with(".yml") => {
                resources.push(rel.to_string());
            }
            _ => {}
        }
    }
    resources
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discover_names_the_repository() {
        assert_eq!(
            parse_discover("flux"),
            Some(("flux-system".into(), "flux-system".into()))
        );
        assert_eq!(
            parse_discover("flux:infra/fleet"),
            Some(("infra".into(), "fleet".into()))
        );
        assert_eq!(parse_discover("argo"), None);
        assert_eq!(parse_discover("flux:nobody"), None);
        let config = |discover: &str| {
            crate::config::Config::from_yaml(
                &format!("sources:\n  - name: s\n    url: /r\n    discover: {discover}\n"),
                "test.yaml",
            )
        };
        assert!(config("flux:infra/fleet").is_ok());
        let err = config("argo").expect_err("bad discover is a startup error");
        assert!(err.to_string().contains("discover"), "{err}");
    }
}
