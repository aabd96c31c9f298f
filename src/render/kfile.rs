//! The root kustomization of a build as the GitOps controller hands it to kustomize: generated
//! when kustomize-controller would generate one, changed by the Flux Kustomization's or Argo CD
//! Application's settings, and always asked for `buildMetadata: [originAnnotations]`, so each
//! rendered object says which file declares it (see `origin`).

use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use crate::git::EntryKind;
use crate::manifest::yaml;

use super::argocd::kustomize::KustomizeOptions;
use super::export;
use super::flux::object::BuildOptions;
use super::plan::{self, TreeIndex, KUSTOMIZATION_FILES};

/// What the controller changes before building.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Changes {
    /// kustomize-controller's settings (a kustomization is generated when there is none).
    pub flux: Option<BuildOptions>,
    /// Argo CD's `spec.source.kustomize`.
    pub argo: Option<KustomizeOptions>,
}

/// Writes the root kustomization of `dir` in the export at `root`. A kustomization that does
/// not parse is left as written: kustomize reports it with its own message.
pub fn write(
    root: &Path,
    dir: &str,
    index: &TreeIndex,
    changes: &Changes,
) -> Result<(), export::Error> {
    let existing = index
        .kustomization_file(dir)
        .map(|(path, _)| root.join(path));
    let (file, mut doc) = match existing {
        Some(file) => {
            let text = std::fs::read_to_string(&file).map_err(|source| export::Error::Write {
                path: file.clone(),
                source,
            })?;
            let doc = yaml::parse_documents(&text)
                .ok()
                .and_then(|d| d.into_iter().next())
                .map(|d| d.value);
            match doc {
                Some(Value::Object(map)) => (file, Value::Object(map)),
                _ => return Ok(()),
            }
        }
        None if changes.flux.is_some() => (
            root.join(dir).join(KUSTOMIZATION_FILES[0]),
            json!({
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": generated_resources(index, dir),
            }),
        ),
        None => return Ok(()),
    };
    if let Some(options) = &changes.flux {
        flux_changes(&mut doc, options);
    }
    if let Some(options) = &changes.argo {
        options.apply(&mut doc);
    }
    let metadata = doc
        .as_object_mut()
        .map(|m| m.entry("buildMetadata").or_insert_with(|| json!([])));
    if let Some(Value::Array(list)) = metadata {
        if !list.iter().any(|v| v == "originAnnotations") {
            list.push(json!("originAnnotations"));
        }
    }
    // JSON is YAML: kustomize reads it back unchanged.
    let text = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    std::fs::write(&file, text).map_err(|source| export::Error::Write { path: file, source })
}

/// kustomize-controller's generator: `targetNamespace`, `namePrefix`, `nameSuffix` set, its
/// patches and components appended, an image replacing one of the same name.
fn flux_changes(doc: &mut Value, options: &BuildOptions) {
    if let Some(ns) = &options.target_namespace {
        doc["namespace"] = json!(ns);
    }
    if let Some(prefix) = &options.name_prefix {
        doc["namePrefix"] = json!(prefix);
    }
    if let Some(suffix) = &options.name_suffix {
        doc["nameSuffix"] = json!(suffix);
    }
    append(doc, "patches", &options.patches);
    for image in &options.images {
        let name = image.get("name");
        let images = doc
            .as_object_mut()
            .map(|m| m.entry("images").or_insert_with(|| json!([])));
        if let Some(Value::Array(list)) = images {
            match list.iter_mut().find(|i| i.get("name") == name) {
                Some(slot) => *slot = image.clone(),
                None => list.push(image.clone()),
            }
        }
    }
    let components: Vec<Value> = options.components.iter().map(|c| json!(c)).collect();
    append(doc, "components", &components);
}

/// source-controller's default exclusions from an artifact that a YAML file may match.
fn excluded_by_flux(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let hidden_dir = path
        .split('/')
        .any(|c| matches!(c, ".git" | ".github" | ".circleci"));
    hidden_dir
        || matches!(
            name,
            ".travis.yml"
                | ".gitlab-ci.yml"
                | "appveyor.yml"
                | ".drone.yml"
                | "cloudbuild.yaml"
                | "codeship-services.yml"
                | "codeship-steps.yml"
                | ".goreleaser.yml"
                | ".sops.yaml"
                | ".flux.yaml"
        )
}

/// Appends `items` to the list at `key`, creating it.
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
/// inside a sub-directory holding a kustomization, which is listed as one resource instead, and
/// except what source-controller leaves out of every artifact (CI files, `.sops.yaml`, ...).
pub fn generated_resources(index: &TreeIndex, dir: &str) -> Vec<String> {
    let mut units: Vec<String> = Vec::new();
    let mut resources = Vec::new();
    for (path, kind, _) in index.beneath(dir) {
        if units.iter().any(|u| plan::is_within(path, u)) || excluded_by_flux(path) {
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
    fn generated_kustomizations_leave_out_what_flux_artifacts_leave_out() {
        for path in [
            "apps/.github/workflows/ci.yml",
            "apps/.sops.yaml",
            "apps/x/.gitlab-ci.yml",
        ] {
            assert!(excluded_by_flux(path), "{path}");
        }
        for path in ["apps/deploy.yaml", "apps/sops.yaml", "apps/github/x.yml"] {
            assert!(!excluded_by_flux(path), "{path}");
        }
    }
}
