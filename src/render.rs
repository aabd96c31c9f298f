//! Declared state from kustomize overlays, the way Flux and Argo CD read a repository.
//!
//! A directory holding a kustomization is rendered as a unit by the real kustomize
//! (`kubectl kustomize` by default), run on a temporary export of exactly the files the build may
//! read (written from the object database, never a worktree). Those same inputs key a cache, so a
//! sync that does not touch a kustomization's inputs does not run kustomize again.
//!
//! - [`plan`]: which directories are kustomization roots, which files stay plain, and the inputs
//!   (trees and blobs, `../` bases included) each build reads.
//! - [`export`]: writes those inputs to a temporary directory.
//! - [`kustomize`]: runs the command with a timeout and an output limit.
//! - [`cache`]: rendered objects by the hash of their inputs.
//! - [`flux`]: `discover: flux`, following Flux `Kustomization` objects declared in the repository.
//! - [`artifact`]: Flux `ExternalArtifact`s assembled from this repository, mapped back to the tree.
//! - [`postbuild`]: Flux's `postBuild` variable substitution.
//!
//! A failed render fails the whole source: a snapshot missing an overlay's objects would let
//! edits to them through as undeclared, so the caller keeps the last good snapshot instead.

pub mod artifact;
pub mod cache;
pub mod export;
pub mod flux;
pub mod kustomize;
pub mod plan;
pub mod postbuild;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gix::ObjectId;

use crate::config::{Render, Source};
use crate::declare::Declarer;
use crate::git::{TreeEntry, TreeFile};
use crate::manifest::parse::{self, FileError, RawObject};
use crate::manifest::Origin;
use crate::snapshot::{SourceRevision, SourceState};

use plan::{Inputs, TreeIndex};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("source {source_name}: path {path:?} is not in the tree")]
    MissingPath { source_name: String, path: String },
    #[error("source {source_name}: {dir}: render: kustomize, but the directory holds no kustomization file")]
    NotAKustomization { source_name: String, dir: String },
    #[error("source {source_name}: {dir} (kustomize): remote base {url:?} refused (set allowRemoteBases to allow it)")]
    RemoteBase {
        source_name: String,
        dir: String,
        url: String,
    },
    #[error(
        "source {source_name}: {dir} (kustomize): resource {path:?} lies outside the repository"
    )]
    OutsideTree {
        source_name: String,
        dir: String,
        path: String,
    },
    #[error("source {source_name}: {dir} (kustomize): cannot export the inputs: {source}")]
    Export {
        source_name: String,
        dir: String,
        #[source]
        source: export::Error,
    },
    #[error("source {source_name}: {dir} (kustomize): {source}")]
    Run {
        source_name: String,
        dir: String,
        #[source]
        source: kustomize::Error,
    },
    #[error("source {source_name}: {dir} (kustomize): the output does not parse: line {line}: {message}")]
    Output {
        source_name: String,
        dir: String,
        line: usize,
        message: String,
    },
    #[error("source {source_name}: {message}")]
    Flux {
        source_name: String,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Bounds on one kustomize run: a build that hangs or floods output is cut off, not waited for.
#[derive(Debug, Clone)]
pub struct Limits {
    pub timeout: Duration,
    /// Largest rendered output accepted, in bytes.
    pub max_output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(60),
            max_output: 64 * 1024 * 1024,
        }
    }
}

/// Per-source rendering memory between syncs.
#[derive(Debug, Default)]
pub struct Renderer {
    pub limits: Limits,
    pub cache: cache::Cache,
}

/// Does this source need the rendering path, or is every file plain YAML?
pub fn applies(source: &Source) -> bool {
    source.render != Render::Plain || source.discover.is_some()
}

/// One build: the directory, the inputs it reads, and what to change before building (Flux).
#[derive(Debug, Clone)]
pub struct Build {
    pub dir: String,
    pub inputs: Inputs,
    pub flux: Option<flux::BuildOptions>,
}

/// The source's state at a revision, rendering what its mode asks for.
pub fn declare(
    source: &Source,
    revision: SourceRevision,
    entries: &[TreeEntry],
    declarer: &mut Declarer,
    read: &dyn Fn(ObjectId) -> Result<Vec<u8>, String>,
) -> Result<SourceState> {
    let index = TreeIndex::new(entries);
    let scope = scope_paths(source, &index)?;
    declarer.renderer.cache.begin();
    let state = match source.discover.as_deref() {
        Some(discover) => {
            flux::declare(source, discover, revision, &index, &scope, declarer, read)?
        }
        None => {
            let planned = plan::plan(&index, &scope, source.render, read)
                .map_err(|e| e.into_error(&source.name))?;
            let links = planned
                .links
                .iter()
                .map(|file| FileError {
                    source: source.name.clone(),
                    file: file.clone(),
                    line: 0,
                    message: "symlink: not followed (declare the file itself)".into(),
                })
                .collect();
            let mut state = declarer.declare(source, revision, &planned.plain, links, read);
            let rendered =
                render_all(source, &index, &planned.roots, &mut declarer.renderer, read)?;
            for r in &rendered {
                add_rendered(&mut state, r);
            }
            state
        }
    };
    declarer.renderer.cache.finish();
    Ok(state)
}

/// The configured paths, cleaned; the whole tree (`""`) when none.
fn scope_paths(source: &Source, index: &TreeIndex) -> Result<Vec<String>> {
    let mut scope = Vec::new();
    for p in &source.paths {
        let Some(clean) = plan::resolve("", p) else {
            return Err(Error::MissingPath {
                source_name: source.name.clone(),
                path: p.clone(),
            });
        };
        if index.get(&clean).is_none() {
            return Err(Error::MissingPath {
                source_name: source.name.clone(),
                path: p.clone(),
            });
        }
        scope.push(clean);
    }
    if scope.is_empty() {
        scope.push(String::new());
    }
    Ok(scope)
}

/// What one build produced.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub dir: String,
    pub objects: Arc<Vec<RawObject>>,
    pub skipped_documents: usize,
}

fn add_rendered(state: &mut SourceState, rendered: &Rendered) {
    state.files_read += 1;
    state.skipped_documents += rendered.skipped_documents;
    state.objects.extend(rendered.objects.iter().cloned());
}

/// Renders builds, each from the cache when its inputs are unchanged. Exports are written one
/// after the other (the object database is read from this thread), then the kustomize runs go
/// in parallel, a few at a time: a cold sync of many overlays is bound by them.
pub fn render_all(
    source: &Source,
    index: &TreeIndex,
    builds: &[Build],
    renderer: &mut Renderer,
    read: &dyn Fn(ObjectId) -> Result<Vec<u8>, String>,
) -> Result<Vec<Rendered>> {
    let mut results: Vec<Option<Rendered>> = vec![None; builds.len()];
    let mut pending = Vec::new();
    for (i, build) in builds.iter().enumerate() {
        refuse(source, build)?;
        // Remote bases are not content-addressed by the tree, so their output is never cached.
        let key = build.inputs.remote.is_empty().then(|| {
            cache::key(
                &source.kustomize_command,
                &build.dir,
                build.flux.as_ref(),
                &build.inputs,
            )
        });
        if let Some(hit) = key.as_ref().and_then(|k| renderer.cache.get(k)) {
            results[i] = Some(hit);
            continue;
        }
        pending.push((i, key, export_build(source, index, build, read)?));
    }
    let jobs: Vec<(&Path, String)> = pending
        .iter()
        .map(|(i, _, tmp)| (tmp.path(), run_dir(&builds[*i].dir)))
        .collect();
    let outputs = kustomize::run_all(&source.kustomize_command, &jobs, &renderer.limits);
    for ((i, key, tmp), output) in pending.into_iter().zip(outputs) {
        drop(tmp);
        let build = &builds[i];
        let output = output.map_err(|e| Error::Run {
            source_name: source.name.clone(),
            dir: display_dir(&build.dir),
            source: e,
        })?;
        let rendered = finish(source, build, &output)?;
        if let Some(k) = key {
            renderer.cache.insert(k, rendered.clone());
        }
        results[i] = Some(rendered);
    }
    Ok(results.into_iter().flatten().collect())
}

/// What a build may never do, whatever its output would be.
fn refuse(source: &Source, build: &Build) -> Result<()> {
    if let Some(path) = build.inputs.outside.first() {
        return Err(Error::OutsideTree {
            source_name: source.name.clone(),
            dir: display_dir(&build.dir),
            path: path.clone(),
        });
    }
    if let Some(url) = build.inputs.remote.first() {
        if !source.allow_remote_bases {
            return Err(Error::RemoteBase {
                source_name: source.name.clone(),
                dir: display_dir(&build.dir),
                url: url.clone(),
            });
        }
    }
    Ok(())
}

/// Writes the build's inputs (and Flux's changes) to a temporary directory, removed on drop.
fn export_build(
    source: &Source,
    index: &TreeIndex,
    build: &Build,
    read: &dyn Fn(ObjectId) -> Result<Vec<u8>, String>,
) -> Result<tempfile::TempDir> {
    let export_err = |e: export::Error| Error::Export {
        source_name: source.name.clone(),
        dir: display_dir(&build.dir),
        source: e,
    };
    let tmp = tempfile::Builder::new()
        .prefix("driftgate-render-")
        .tempdir()
        .map_err(|e| export_err(export::Error::Io(e)))?;
    export::export(index, &build.inputs, tmp.path(), read).map_err(export_err)?;
    if let Some(options) = &build.flux {
        flux::prepare(tmp.path(), &build.dir, index, options).map_err(export_err)?;
    }
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

/// Flux's post-build step, then the output to objects.
fn finish(source: &Source, build: &Build, output: &[u8]) -> Result<Rendered> {
    let output = match &build.flux {
        Some(options) => flux::post_build(output, options).map_err(|message| Error::Output {
            source_name: source.name.clone(),
            dir: display_dir(&build.dir),
            line: 0,
            message,
        })?,
        None => output.to_vec(),
    };
    parse_output(&source.name, &build.dir, &output)
}

/// The rendered YAML stream to objects that remember the kustomization directory. Parsed one
/// document at a time: the per-file limit on manifests is about one file someone wrote, while a
/// build's whole output (CRD bundles) may be larger and is bounded by `Limits::max_output`.
fn parse_output(source_name: &str, dir: &str, output: &[u8]) -> Result<Rendered> {
    let label = display_dir(dir);
    let output_err = |line: usize, message: String| Error::Output {
        source_name: source_name.to_string(),
        dir: label.clone(),
        line,
        message,
    };
    let text = std::str::from_utf8(output).map_err(|e| output_err(0, format!("not UTF-8: {e}")))?;
    let mut objects = Vec::new();
    let mut skipped_documents = 0;
    for doc in postbuild::split_documents(text) {
        let parsed = parse::parse_rendered(source_name, &label, doc.as_bytes())
            .map_err(|e: FileError| output_err(e.line, e.message))?;
        skipped_documents += parsed.skipped_documents;
        objects.extend(parsed.objects.into_iter().map(|mut o| {
            o.origin = Origin::Kustomize { dir: label.clone() };
            o.line = 0;
            o
        }));
    }
    Ok(Rendered {
        dir: label,
        objects: Arc::new(objects),
        skipped_documents,
    })
}

/// The repository root shows as `.`.
pub fn display_dir(dir: &str) -> String {
    if dir.is_empty() {
        ".".into()
    } else {
        dir.to_string()
    }
}

/// A file the plan leaves to the plain reader.
pub(crate) fn plain_file(path: &str, id: ObjectId) -> TreeFile {
    TreeFile {
        path: path.to_string(),
        blob: id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_larger_than_one_manifest_file_parses_per_document() {
        let big = "x".repeat(parse::MAX_FILE_BYTES / 2 + 1);
        let doc = |name: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: {big}\n"
            )
        };
        let output = format!("{}---\n{}---\nnot: an object\n", doc("a"), doc("b"));
        assert!(output.len() > parse::MAX_FILE_BYTES);
        let rendered = parse_output("s", "apps/prod", output.as_bytes()).expect("parses");
        assert_eq!(rendered.objects.len(), 2);
        assert_eq!(rendered.skipped_documents, 1);
        assert_eq!(
            rendered.objects[1].origin,
            Origin::Kustomize {
                dir: "apps/prod".into()
            }
        );
        assert_eq!(&*rendered.objects[1].file, "apps/prod");
        let err = parse_output("s", "", b"a: [\n").expect_err("broken output");
        assert!(err.to_string().contains(". (kustomize)"), "{err}");
    }
}
