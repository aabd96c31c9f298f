//! A Flux `Kustomization` as declared in Git, read into what kustomize-controller does with it:
//! where its path is, what it changes before building (`BuildOptions`), where its variables
//! come from. `dependsOn`, intervals, health checks and the like change when it is applied,
//! never what, and are not read.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::manifest::parse::RawObject;
use crate::render::envsubst::Vars;
use crate::render::{artifact, plan};

use super::super::artifact::ArtifactMap;

/// What kustomize-controller changes in a build.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BuildOptions {
    pub target_namespace: Option<String>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    pub patches: Vec<Value>,
    pub images: Vec<Value>,
    /// Paths relative to the build's directory, those missing already dropped when the
    /// Kustomization ignores missing components.
    pub components: Vec<String>,
    /// The variables (`substituteFrom` then `substitute`); substitution runs when any is set.
    pub vars: Vars,
    pub common_labels: BTreeMap<String, String>,
    pub common_annotations: BTreeMap<String, String>,
}

/// One `postBuild.substituteFrom` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubstituteFrom {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    pub name: String,
    pub optional: bool,
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
    /// Everything but the variables, which depend on other objects (see `vars`).
    pub options: BuildOptions,
    pub ignore_missing_components: bool,
    /// `spec.postBuild.substitute`, newlines removed as Flux removes them.
    pub substitute: BTreeMap<String, String>,
    pub substitute_from: Vec<SubstituteFrom>,
    /// `spec.kubeConfig` is set: it applies to another cluster.
    pub kube_config: bool,
    pub file: String,
    pub line: usize,
}

impl FluxKustomization {
    /// `Flux Kustomization flux-system/apps`: the build's name.
    pub fn label(&self) -> String {
        format!("Flux Kustomization {}/{}", self.namespace, self.name)
    }
}

pub fn is_kind(raw: &RawObject, group: &str, kind: &str) -> bool {
    raw.kind == kind && raw.api_version.split('/').next() == Some(group)
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a Flux `Kustomization`; `None` for any other object.
pub fn read_kustomization(raw: &RawObject, default_namespace: &str) -> Option<FluxKustomization> {
    if !is_kind(raw, "kustomize.toolkit.fluxcd.io", "Kustomization") {
        return None;
    }
    let v = &raw.value.parse().ok()?;
    let namespace = str_at(v, "/metadata/namespace")
        .or(raw.origin.default_namespace())
        .unwrap_or(default_namespace)
        .to_string();
    let list = |pointer: &str| -> Vec<Value> {
        v.pointer(pointer)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let non_empty = |pointer: &str| {
        str_at(v, pointer)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let substitute = string_map(v.pointer("/spec/postBuild/substitute"))
        .into_iter()
        .map(|(k, val)| (k, val.replace('\n', "")))
        .collect();
    let substitute_from = list("/spec/postBuild/substituteFrom")
        .iter()
        .filter_map(|r| {
            Some(SubstituteFrom {
                kind: str_at(r, "/kind")?.to_string(),
                name: str_at(r, "/name")?.to_string(),
                optional: r.get("optional").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect();
    Some(FluxKustomization {
        source_namespace: str_at(v, "/spec/sourceRef/namespace")
            .unwrap_or(&namespace)
            .to_string(),
        name: str_at(v, "/metadata/name")?.to_string(),
        namespace,
        path: str_at(v, "/spec/path").unwrap_or("./").to_string(),
        source_kind: str_at(v, "/spec/sourceRef/kind")
            .unwrap_or("GitRepository")
            .to_string(),
        source_name: str_at(v, "/spec/sourceRef/name").unwrap_or("").to_string(),
        options: BuildOptions {
            target_namespace: non_empty("/spec/targetNamespace"),
            name_prefix: non_empty("/spec/namePrefix"),
            name_suffix: non_empty("/spec/nameSuffix"),
            patches: list("/spec/patches"),
            images: list("/spec/images"),
            components: list("/spec/components")
                .iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect(),
            vars: Vars::default(),
            common_labels: string_map(v.pointer("/spec/commonMetadata/labels")),
            common_annotations: string_map(v.pointer("/spec/commonMetadata/annotations")),
        },
        ignore_missing_components: v
            .pointer("/spec/ignoreMissingComponents")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        substitute,
        substitute_from,
        kube_config: v.pointer("/spec/kubeConfig").is_some_and(|c| !c.is_null()),
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

/// Maps a Kustomization's path to a directory of this tree, following its source; `repos` are
/// the `GitRepository`s that stand for this repository (the first is the configured one).
pub fn locate(k: &FluxKustomization, objects: &[RawObject], repos: &[(String, String)]) -> Located {
    let Some(path) = plan::resolve("", &k.path) else {
        return Located::Elsewhere(format!("spec.path {:?} leaves the source's root", k.path));
    };
    if k.kube_config {
        return Located::Elsewhere("it applies to another cluster (spec.kubeConfig)".to_string());
    }
    let this = |ns: &str, name: &str| repos.iter().any(|(n, m)| n == ns && m == name);
    let (repo_ns, repo_name) = repos
        .first()
        .map(|(n, m)| (n.as_str(), m.as_str()))
        .unwrap_or(("", ""));
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
                    "source ExternalArtifact {}/{} is not produced from GitRepository {repo_ns}/{repo_name} by an ArtifactGenerator declared here",
                    k.source_namespace, k.source_name
                )),
            }
        }
        kind => Located::Elsewhere(format!(
            "source {kind} {}/{} is not this repository (GitRepository {repo_ns}/{repo_name})",
            k.source_namespace, k.source_name
        )),
    }
}

/// `system:serviceaccount:NS:NAME` for every Kustomization and HelmRelease naming an account.
pub fn bypass_users(objects: &[RawObject], default_namespace: &str) -> Vec<String> {
    let mut users: Vec<String> = objects
        .iter()
        .filter(|o| {
            is_kind(o, "kustomize.toolkit.fluxcd.io", "Kustomization")
                || is_kind(o, "helm.toolkit.fluxcd.io", "HelmRelease")
        })
        .filter_map(|o| {
            let v = o.value.parse().ok()?;
            let sa = str_at(&v, "/spec/serviceAccountName")?;
            let ns = str_at(&v, "/metadata/namespace")
                .or(o.origin.default_namespace())
                .unwrap_or(default_namespace);
            Some(format!("system:serviceaccount:{ns}:{sa}"))
        })
        .collect();
    users.sort();
    users.dedup();
    users
}
