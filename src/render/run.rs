//! Rendering builds: each from the cache when its inputs and settings are unchanged, else a
//! kustomize run on an export of exactly its inputs, with the root kustomization rewritten as the
//! controller would (`kfile`) and kustomize asked to say where each object comes from (`origin`);
//! or, for an Argo CD plain directory, its files parsed in process.

use std::path::Path;
use std::sync::Arc;

use gix::ObjectId;
use serde_json::{json, Value};

use crate::config::Source;
use crate::git::ReadBlob;
use crate::manifest::parse::{self, FileError, FileObjects};
use crate::manifest::Origin;

use super::build::{Build, BuildError, How, Rendered};
use super::plan::TreeIndex;
use super::{cache, export, kfile, kustomize, origin, postbuild, Renderer};

/// Renders builds, each from the cache when its inputs and settings are unchanged. Exports are
/// written one after the other (the object database is read from this thread), then the
/// kustomize runs go in parallel, a few at a time. Results are in the builds' order.
pub fn render_all(
    source: &Source,
    index: &TreeIndex,
    builds: &[Build],
    renderer: &mut Renderer,
    read: &ReadBlob<'_>,
) -> Vec<Result<Rendered, BuildError>> {
    let mut results: Vec<Option<Result<Rendered, BuildError>>> =
        builds.iter().map(|_| None).collect();
    let mut pending = Vec::new();
    for (i, build) in builds.iter().enumerate() {
        if let Err(e) = refuse(source, build) {
            results[i] = Some(Err(e));
            continue;
        }
        // Remote bases are not content-addressed by the tree, so their output is never cached.
        let key = build
            .inputs
            .remote
            .is_empty()
            .then(|| cache::key(&command(source, build), &build.dir, build, &build.inputs));
        if let Some(hit) = key.as_ref().and_then(|k| renderer.cache.get(k)) {
            results[i] = Some(Ok(hit));
            continue;
        }
        match &build.how {
            How::Files(files) => {
                let rendered = read_files(source, build, files, read);
                if let (Some(k), Ok(r)) = (key, &rendered) {
                    renderer.cache.insert(k, r.clone());
                }
                results[i] = Some(rendered);
            }
            How::Kustomize(changes) => match export_build(index, build, changes, read) {
                Ok(tmp) => pending.push((i, key, tmp)),
                Err(e) => results[i] = Some(Err(e)),
            },
        }
    }
    let jobs: Vec<(Vec<String>, &Path, String)> = pending
        .iter()
        .map(|(i, _, tmp)| {
            let build = &builds[*i];
            (command(source, build), tmp.path(), run_dir(&build.dir))
        })
        .collect();
    let outputs = kustomize::run_all(&jobs, &renderer.limits);
    for ((i, key, tmp), output) in pending.into_iter().zip(outputs) {
        drop(tmp);
        let build = &builds[i];
        let rendered = output
            .map_err(BuildError::from)
            .and_then(|out| finish(source, build, &out, index, read));
        if let (Some(k), Ok(r)) = (key, &rendered) {
            renderer.cache.insert(k, r.clone());
        }
        results[i] = Some(rendered);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(BuildError::Run(kustomize::Error::Lost))))
        .collect()
}

/// The command for one build: Flux builds with kustomize-controller's load restrictions (files
/// outside the kustomization's directory may be read, within the repository).
pub fn command(source: &Source, build: &Build) -> Vec<String> {
    let mut command = source.kustomize_command.clone();
    let flux = matches!(&build.how, How::Kustomize(c) if c.flux.is_some());
    let is_kustomize = match command.as_slice() {
        [.., last] if last.ends_with("kustomize") => true,
        [.., tool, last] => last == "build" && tool.ends_with("kustomize"),
        _ => false,
    };
    if flux && is_kustomize {
        command.push("--load-restrictor=LoadRestrictionsNone".into());
    }
    command
}

/// What a build may never do, whatever its output would be.
fn refuse(source: &Source, build: &Build) -> Result<(), BuildError> {
    if let Some(path) = build.inputs.outside.first() {
        return Err(BuildError::OutsideTree(path.clone()));
    }
    if let Some(url) = build.inputs.remote.first() {
        if !source.allow_remote_bases {
            return Err(BuildError::RemoteBase(url.clone()));
        }
    }
    Ok(())
}

/// Writes the build's inputs and its root kustomization to a temporary directory, removed on
/// drop.
fn export_build(
    index: &TreeIndex,
    build: &Build,
    changes: &kfile::Changes,
    read: &ReadBlob<'_>,
) -> Result<tempfile::TempDir, BuildError> {
    let tmp = tempfile::Builder::new()
        .prefix("driftgate-render-")
        .tempdir()
        .map_err(|e| BuildError::Export(export::Error::Io(e)))?;
    export::export(index, &build.inputs, tmp.path(), read).map_err(BuildError::Export)?;
    kfile::write(tmp.path(), &build.dir, index, changes).map_err(BuildError::Export)?;
    Ok(tmp)
}

/// The directory argument given to kustomize, relative to the export.
fn run_dir(dir: &str) -> String {
    if dir.is_empty() {
        ".".to_string()
    } else {
        dir.to_string()
    }
}

/// Flux's post-build step, then the output to objects that say where they come from. Parsed one
/// document at a time: the per-file limit on manifests is about one file someone wrote, while a
/// build's whole output (CRD bundles) may be larger and is bounded by `Limits::max_output`.
fn finish(
    source: &Source,
    build: &Build,
    output: &[u8],
    index: &TreeIndex,
    read: &ReadBlob<'_>,
) -> Result<Rendered, BuildError> {
    let text = std::str::from_utf8(output).map_err(|e| BuildError::Output {
        line: 0,
        message: format!("not UTF-8: {e}"),
    })?;
    let flux = match &build.how {
        How::Kustomize(changes) => changes.flux.as_ref(),
        How::Files(_) => None,
    };
    let mut objects = Vec::new();
    let mut skipped_documents = 0;
    for doc in postbuild::split_documents(text) {
        let doc = match flux {
            Some(options) => postbuild::substitute(doc, options)?,
            None => std::borrow::Cow::Borrowed(doc),
        };
        let parsed = parse::parse_as_written(&source.name, &build.info.dir, doc.as_bytes())
            .map_err(|e| BuildError::Output {
                line: e.line,
                message: e.message,
            })?;
        skipped_documents += parsed.skipped_documents;
        for raw in parsed.objects {
            objects.push(origin::finish(raw, build, flux));
        }
    }
    origin::assign_lines(&mut objects, index, read);
    Ok(Rendered {
        objects: Arc::new(objects),
        skipped_documents,
    })
}

/// An Argo CD plain directory: every listed file parsed as manifests; a file that does not
/// parse fails the build, as it fails the Application's sync.
fn read_files(
    source: &Source,
    build: &Build,
    files: &[(String, ObjectId)],
    read: &ReadBlob<'_>,
) -> Result<Rendered, BuildError> {
    let mut objects = Vec::new();
    let mut skipped_documents = 0;
    for (path, blob) in files {
        let bytes = read(*blob).map_err(|source| BuildError::Blob {
            file: path.clone(),
            source,
        })?;
        let parsed =
            parse_manifest(&source.name, path, &bytes).map_err(|e| BuildError::Manifest {
                file: e.file,
                line: e.line,
                message: e.message,
            })?;
        skipped_documents += parsed.skipped_documents;
        objects.extend(parsed.objects.into_iter().map(|mut o| {
            o.origin = Origin::Built(build.info.clone());
            o
        }));
    }
    Ok(Rendered {
        objects: Arc::new(objects),
        skipped_documents,
    })
}

/// One manifest file as Argo CD reads it: YAML documents, or JSON holding one object or an
/// array of them.
pub fn parse_manifest(source: &str, path: &str, bytes: &[u8]) -> Result<FileObjects, FileError> {
    if path.ends_with(".json") {
        if let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(bytes) {
            let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
            return parse::parse_as_written(source, path, list.to_string().as_bytes());
        }
    }
    // Argo CD reads a plain directory's YAML itself (no kustomize): folded scalars as written.
    parse::parse_as_written(source, path, bytes)
}
