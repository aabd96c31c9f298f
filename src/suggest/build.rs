//! One kustomize build as `render` runs it (the inputs exported from the object database,
//! Flux's changes laid over, the configured kustomize command, Flux's `postBuild`), run here
//! on demand: with origin annotations (`buildMetadata: [originAnnotations,
//! transformerAnnotations]`) to learn where an object's values come from, and with a
//! suggestion's files laid over the export to check what the change renders to.

use std::path::Path;

use serde_json::{json, Value};

use super::repo::{Checkout, Files};
use super::Error;
use crate::git::EntryKind;
use crate::manifest::yaml;
use crate::render::flux::{self, BuildOptions};
use crate::render::{export, kustomize, plan, postbuild, Limits};

/// The annotations kustomize writes for `buildMetadata`.
pub const ORIGIN: &str = "config.kubernetes.io/origin";
pub const TRANSFORMATIONS: &str = "alpha.config.kubernetes.io/transformations";

/// A build: a directory (`""` is the root) and, for a Flux Kustomization, what the controller
/// changes before building.
#[derive(Debug, Clone, PartialEq)]
pub struct Build {
    pub dir: String,
    pub flux: Option<BuildOptions>,
}

/// What a build rendered: the objects before Flux's variable substitution and after.
#[derive(Debug, Clone)]
pub struct Output {
    pub before_substitution: Vec<Value>,
    pub objects: Vec<Value>,
    /// The raw text before substitution, for counting where a variable is used.
    pub text: String,
}

impl Build {
    pub fn label(&self) -> String {
        crate::render::display_dir(&self.dir)
    }

    /// Renders the build from the checkout with `files` laid over it; `provenance` adds the
    /// origin and transformer annotations.
    pub fn render(
        &self,
        checkout: &Checkout,
        files: &Files,
        provenance: bool,
    ) -> Result<Output, Error> {
        let fail = |message: String| {
            Error::Declined(vec![format!("{} (kustomize): {message}", self.label())])
        };
        let tmp = tempfile::Builder::new()
            .prefix("driftgate-suggest-")
            .tempdir()
            .map_err(|e| fail(e.to_string()))?;
        let read = |id| checkout.read_blob(id);
        let inputs = plan::inputs(&checkout.index, &self.dir, &read);
        if let Some(url) = inputs.remote.first() {
            return Err(fail(format!(
                "reads a remote base ({url}); its source is not in this repository"
            )));
        }
        export::export(&checkout.index, &inputs, tmp.path(), &read)
            .map_err(|e| fail(e.to_string()))?;
        overlay(tmp.path(), &inputs, files).map_err(|e| fail(e.to_string()))?;
        if let Some(options) = &self.flux {
            flux::prepare(tmp.path(), &self.dir, &checkout.index, options)
                .map_err(|e| fail(e.to_string()))?;
        }
        if provenance {
            add_build_metadata(tmp.path(), &self.dir).map_err(fail)?;
        }
        let run_dir = if self.dir.is_empty() {
            "."
        } else {
            self.dir.as_str()
        };
        let output = kustomize::run(
            &checkout.source.kustomize_command,
            tmp.path(),
            run_dir,
            &Limits::default(),
        )
        .map_err(|e| fail(e.to_string()))?;
        let text = String::from_utf8(output).map_err(|_| fail("the output is not UTF-8".into()))?;
        let substituted = match &self.flux {
            Some(options) => {
                let out = flux::post_build(text.as_bytes(), options).map_err(fail)?;
                String::from_utf8(out).map_err(|_| fail("the output is not UTF-8".into()))?
            }
            None => text.clone(),
        };
        Ok(Output {
            before_substitution: documents(&text).map_err(fail)?,
            objects: documents(&substituted).map_err(fail)?,
            text,
        })
    }
}

fn documents(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for doc in postbuild::split_documents(text) {
        let parsed =
            yaml::parse_documents(doc).map_err(|e| format!("line {}: {}", e.line, e.message))?;
        out.extend(parsed.into_iter().map(|d| d.value));
    }
    Ok(out)
}

/// Writes the suggestion's files into the export: changed and new files under the exported
/// inputs, deleted ones removed.
fn overlay(root: &Path, inputs: &plan::Inputs, files: &Files) -> std::io::Result<()> {
    for change in files.pending() {
        let inside = inputs.entries.iter().any(|(p, (kind, _))| match kind {
            EntryKind::Tree => plan::is_within(change.0, p),
            _ => change.0 == p,
        });
        if !inside {
            continue;
        }
        let path = root.join(change.0);
        match change.1 {
            Some(text) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&path, text)?;
            }
            None => {
                if path.exists() {
                    std::fs::remove_file(&path)?;
                }
            }
        }
    }
    Ok(())
}

/// Adds `buildMetadata: [originAnnotations, transformerAnnotations]` to the build's
/// kustomization in the export (rewritten as JSON, which kustomize reads as YAML).
fn add_build_metadata(root: &Path, dir: &str) -> Result<(), String> {
    let base = root.join(dir);
    let file = plan::KUSTOMIZATION_FILES
        .iter()
        .map(|name| base.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| "no kustomization file to build".to_string())?;
    let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
    let mut doc = yaml::parse_documents(&text)
        .ok()
        .and_then(|d| d.into_iter().next())
        .map(|d| d.value)
        .filter(Value::is_object)
        .ok_or_else(|| "its kustomization does not parse".to_string())?;
    doc["buildMetadata"] = json!(["originAnnotations", "transformerAnnotations"]);
    let out = serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(&file, out).map_err(|e| e.to_string())
}

/// An object's identity in an output: group, kind, namespace and name.
pub fn identity(value: &Value, default_namespace: &str) -> (String, String, String, String) {
    let text = |p: &str| {
        value
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (group, _) = crate::manifest::split_api_version(
        value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or(""),
    );
    let namespace = match text("/metadata/namespace") {
        ns if ns.is_empty() => default_namespace.to_string(),
        ns => ns,
    };
    (
        group.to_string(),
        text("/kind"),
        namespace,
        text("/metadata/name"),
    )
}

/// The object without the annotations `buildMetadata` adds.
pub fn without_provenance(value: &Value) -> Value {
    let mut v = value.clone();
    if let Some(annotations) = v
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.shift_remove(ORIGIN);
        annotations.shift_remove(TRANSFORMATIONS);
        if annotations.is_empty() {
            if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.shift_remove("annotations");
            }
        }
    }
    v
}
