//! How Argo CD renders one Application source, decided from the Application and the tree: a
//! kustomization with the Application's `kustomize` settings, or a plain directory; or out of
//! scope (Helm, plugins, kustomize `helmCharts`). Also the configured paths' own files.

use std::sync::Arc;

use gix::ObjectId;
use serde_json::Value;

use crate::git::{EntryKind, ReadBlob};
use crate::manifest::parse;
use crate::manifest::{yaml, Built};

use super::app::{AppSource, Application, Declared};
use super::glob;
use super::kustomize::KustomizeOptions;
use crate::render::build::{Build, BuildError, How};
use crate::render::display_dir;
use crate::render::kfile::Changes;
use crate::render::plan::{self, Inputs, TreeIndex};

/// What becomes of one source.
#[derive(Debug)]
pub enum Planned {
    Build(Build),
    /// Not rendered here, and why.
    OutOfScope(String),
    /// A build that cannot start (its path is not a directory, its settings are refused).
    Failed(Box<Build>, BuildError),
}

/// How one source of an Application is built, or why it is not; and the files in it that are
/// out of scope (Jsonnet).
pub fn plan(
    index: &TreeIndex,
    read: &ReadBlob<'_>,
    application: &Application,
    s: &AppSource,
    what: &str,
) -> (Planned, Vec<String>) {
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
        Declared::Helm => Some("a Helm chart: driftgate does not render Helm".to_string()),
        Declared::Plugin => {
            Some("a config management plugin: driftgate does not run plugins".to_string())
        }
        Declared::Ambiguous => Some(
            "sets more than one of helm, kustomize, directory and plugin, which Argo CD refuses"
                .to_string(),
        ),
        _ => None,
    };
    if let Some(why) = why {
        return (Planned::OutOfScope(why), Vec::new());
    }
    let Some(dir) = plan::resolve("", &s.path) else {
        let why = format!("path {:?} leaves the repository", s.path);
        return (Planned::OutOfScope(why), Vec::new());
    };
    build.dir = dir.clone();
    if !index.is_dir(&dir) {
        let error = BuildError::NoDirectory(s.path.clone());
        return (Planned::Failed(Box::new(build), error), Vec::new());
    }
    let kustomize = match s.kind {
        Declared::Kustomize => true,
        Declared::Directory => false,
        _ => {
            if index.kustomization_file(&dir).is_none()
                && index.get(&plan::join(&dir, "Chart.yaml")).is_some()
            {
                let why = "a Helm chart (Chart.yaml): driftgate does not render Helm";
                return (Planned::OutOfScope(why.to_string()), Vec::new());
            }
            index.kustomization_file(&dir).is_some()
        }
    };
    if kustomize {
        let options = match KustomizeOptions::read(s.kustomize.as_ref()) {
            Ok(options) => options,
            Err(bad) => {
                let error = BuildError::Settings(bad);
                return (Planned::Failed(Box::new(build), error), Vec::new());
            }
        };
        let mut inputs = plan::inputs(index, &dir, read);
        for component in &options.components {
            if let Some(c) = plan::resolve(&dir, component).filter(|c| index.is_dir(c)) {
                inputs.merge(&plan::inputs(index, &c, read));
            }
        }
        if let Some(file) = helm_charts(index, &inputs, read) {
            let why = format!(
                "kustomize helmCharts ({file}): inflating charts needs Helm, which driftgate does not run"
            );
            return (Planned::OutOfScope(why), Vec::new());
        }
        build.inputs = inputs;
        build.how = How::Kustomize(Box::new(Changes {
            flux: None,
            argo: Some(options),
        }));
        return (Planned::Build(build), Vec::new());
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
    let (manifests, jsonnet) = files(index, &dir, recurse, text("include"), text("exclude"));
    let jsonnet = jsonnet
        .into_iter()
        .map(|file| format!("Jsonnet ({file}): driftgate does not evaluate Jsonnet"))
        .collect();
    build.inputs = file_inputs(&manifests);
    build.how = How::Files(manifests);
    (Planned::Build(build), jsonnet)
}

/// A configured path: its files, as `kubectl apply -f DIR` (and Argo CD) read a directory.
pub fn root(dir: &str, index: &TreeIndex) -> Build {
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

/// The first kustomization among the inputs that inflates Helm charts, if any.
fn helm_charts(index: &TreeIndex, inputs: &Inputs, read: &ReadBlob<'_>) -> Option<String> {
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
