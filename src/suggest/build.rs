//! One build rendered again, on demand, as `render` renders it (the same `Build`, its inputs
//! exported from the object database, its root kustomization as the controller changes it
//! with `kfile`, the source's kustomize command, Flux's `postBuild`): with the transformer
//! annotations added to the origin ones, to learn where an object's values come from, and
//! with a suggestion's files laid over the export, to check what the change renders to.

use std::path::Path;

use serde_json::{json, Value};

use super::repo::{Checkout, Files};
use crate::git::EntryKind;
use crate::manifest::yaml::{self, YamlError};
use crate::render::build::{Build, How};
use crate::render::flux::BuildOptions;
use crate::render::plan::{self, Inputs};
use crate::render::{export, kfile, kustomize, postbuild, run, Limits};

/// Why a build could not be rendered again.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    File {
        path: String,
        #[source]
        source: YamlError,
    },
    #[error("reads a remote base ({0}); its source is not in this repository")]
    RemoteBase(String),
    #[error("cannot make a directory to render in")]
    TempDir(#[source] std::io::Error),
    #[error("cannot export its inputs")]
    Export(#[source] export::Error),
    #[error("cannot write the change into the export")]
    Overlay(#[source] std::io::Error),
    #[error("cannot add transformerAnnotations to its kustomization")]
    Annotations(#[source] std::io::Error),
    #[error(transparent)]
    Kustomize(kustomize::Error),
    #[error("the output is not UTF-8")]
    NotUtf8,
    #[error("the output does not parse: {0}")]
    Output(#[source] YamlError),
    #[error(transparent)]
    Substitute(postbuild::Error),
    /// A file of the change (the suggestion's own files are read as the build reads them).
    #[error(transparent)]
    Files(Box<super::Error>),
}

/// The annotations kustomize writes for `buildMetadata`.
pub const ORIGIN: &str = "config.kubernetes.io/origin";
pub const TRANSFORMATIONS: &str = "alpha.config.kubernetes.io/transformations";

/// What a build rendered: the objects before Flux's variable substitution and after.
#[derive(Debug, Clone)]
pub struct Output {
    pub before_substitution: Vec<Value>,
    pub objects: Vec<Value>,
    /// The raw text before substitution, for counting where a variable is used.
    pub text: String,
}

/// The Flux settings of a build, when it is a Flux Kustomization's (or path's).
pub fn flux_options(build: &Build) -> Option<&BuildOptions> {
    match &build.how {
        How::Kustomize(changes) => changes.flux.as_ref(),
        How::Files(_) => None,
    }
}

/// The same build with its Flux settings changed (a variable, an added patch).
pub fn with_flux(build: &Build, change: impl FnOnce(&mut BuildOptions)) -> Build {
    let mut out = build.clone();
    if let How::Kustomize(changes) = &mut out.how {
        if let Some(options) = changes.flux.as_mut() {
            change(options);
        }
    }
    out
}

/// Renders `build` from the checkout with `files` laid over it; `provenance` adds the
/// transformer annotations (the origin ones are always asked for).
pub fn render(
    build: &Build,
    checkout: &Checkout,
    files: &Files,
    provenance: bool,
) -> Result<Output, super::Error> {
    render_build(build, checkout, files, provenance).map_err(|e| super::Error::Render {
        build: format!(
            "{} ({})",
            build.name,
            crate::render::display_dir(&build.dir)
        ),
        source: Box::new(e),
    })
}

fn render_build(
    build: &Build,
    checkout: &Checkout,
    files: &Files,
    provenance: bool,
) -> Result<Output, Error> {
    let changes = match &build.how {
        How::Kustomize(changes) => changes,
        How::Files(list) => {
            // An Argo CD plain directory: its files, as they would read after the change.
            let mut objects = Vec::new();
            for (path, _) in list {
                let text = files
                    .read(path)
                    .map_err(|e| Error::Files(Box::new(e)))?
                    .unwrap_or_default();
                let docs = yaml::parse_documents(&text).map_err(|source| Error::File {
                    path: path.clone(),
                    source,
                })?;
                objects.extend(docs.into_iter().map(|d| d.value));
            }
            return Ok(Output {
                before_substitution: objects.clone(),
                objects,
                text: String::new(),
            });
        }
    };
    if let Some(url) = build.inputs.remote.first() {
        return Err(Error::RemoteBase(url.to_string()));
    }
    let tmp = tempfile::Builder::new()
        .prefix("driftgate-suggest-")
        .tempdir()
        .map_err(Error::TempDir)?;
    let read = |id| checkout.read_blob(id);
    export::export(&checkout.index, &build.inputs, tmp.path(), &read).map_err(Error::Export)?;
    overlay(tmp.path(), &build.inputs, files).map_err(Error::Overlay)?;
    kfile::write(tmp.path(), &build.dir, &checkout.index, changes).map_err(Error::Export)?;
    if provenance {
        add_transformer_annotations(tmp.path(), &build.dir).map_err(Error::Annotations)?;
    }
    let run_dir = if build.dir.is_empty() {
        "."
    } else {
        build.dir.as_str()
    };
    let command = run::command(&checkout.source, build);
    let output = kustomize::run(&command, tmp.path(), run_dir, &Limits::default())
        .map_err(Error::Kustomize)?;
    let text = String::from_utf8(output).map_err(|_| Error::NotUtf8)?;
    let mut before_substitution = Vec::new();
    let mut objects = Vec::new();
    for doc in postbuild::split_documents(&text) {
        before_substitution.extend(documents(doc)?);
        let substituted = match &changes.flux {
            Some(options) => postbuild::substitute(doc, options).map_err(Error::Substitute)?,
            None => std::borrow::Cow::Borrowed(doc),
        };
        for mut value in documents(&substituted)? {
            if let Some(options) = &changes.flux {
                postbuild::after(&mut value, options);
            }
            objects.push(value);
        }
    }
    Ok(Output {
        before_substitution,
        objects,
        text,
    })
}

fn documents(text: &str) -> Result<Vec<Value>, Error> {
    yaml::parse_documents(text)
        .map(|docs| docs.into_iter().map(|d| d.value).collect())
        .map_err(Error::Output)
}

/// Writes the suggestion's files into the export: changed and new files under the exported
/// inputs, deleted ones removed.
fn overlay(root: &Path, inputs: &Inputs, files: &Files) -> std::io::Result<()> {
    for (path, content) in files.pending() {
        let inside = inputs.entries.iter().any(|(p, (kind, _))| match kind {
            EntryKind::Tree => plan::is_within(path, p),
            _ => path == p,
        });
        if !inside {
            continue;
        }
        let target = root.join(path);
        match content {
            Some(text) => {
                if let Some(dir) = target.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&target, text)?;
            }
            None => {
                if target.exists() {
                    std::fs::remove_file(&target)?;
                }
            }
        }
    }
    Ok(())
}

/// Adds `transformerAnnotations` to the `buildMetadata` the root kustomization asks for (it is
/// JSON once `kfile` has written it, which kustomize reads as YAML).
fn add_transformer_annotations(root: &Path, dir: &str) -> std::io::Result<()> {
    let base = root.join(dir);
    let Some(file) = plan::KUSTOMIZATION_FILES
        .iter()
        .map(|name| base.join(name))
        .find(|p| p.is_file())
    else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&file)?;
    let Some(mut doc) = yaml::parse_documents(&text)
        .ok()
        .and_then(|d| d.into_iter().next())
        .map(|d| d.value)
        .filter(Value::is_object)
    else {
        return Ok(());
    };
    let list = doc
        .as_object_mut()
        .map(|m| m.entry("buildMetadata").or_insert_with(|| json!([])));
    if let Some(Value::Array(list)) = list {
        if !list.iter().any(|v| v == "transformerAnnotations") {
            list.push(json!("transformerAnnotations"));
        }
    }
    // Serialising a JSON value into memory does not fail; were it to, it is this write's error.
    let out = serde_json::to_vec_pretty(&doc).map_err(std::io::Error::other)?;
    std::fs::write(&file, out)
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
