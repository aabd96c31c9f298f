//! Rendering kustomize overlays and following Flux Kustomizations, against real git repositories
//! (made with the git CLI, or cloned from the corpus bundles) and the real `kubectl kustomize`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{clone_bundle, corpus_bundle, git, kubectl};
use driftgate::config::Source;
use driftgate::git;
use driftgate::manifest::parse::{self, RawObject};
use driftgate::render::Limits;
use driftgate::snapshot::{Snapshot, SourceState};
use driftgate::sync::declare::{self, Declarer};
use driftgate::sync::remote::local_path;
use serde_json::{json, Value};

/// A repository made of `files`, committed; returns the commit id.
fn write_and_commit(dir: &Path, files: &[(&str, &str)], message: &str) -> String {
    for (path, text) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().expect("has parent")).expect("mkdir");
        std::fs::write(file, text).expect("write");
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

fn new_repo() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q"]);
    (tmp, repo)
}

fn source(url: &Path, git_ref: &str, paths: &[&str], extra: Value) -> Source {
    let mut value = json!({
        "name": "fleet",
        "url": url.display().to_string(),
        "ref": git_ref,
        "paths": paths,
    });
    if let (Some(map), Value::Object(extra)) = (value.as_object_mut(), extra) {
        map.extend(extra);
    }
    serde_json::from_value(value).expect("valid source")
}

fn read(source: &Source, declarer: &mut Declarer) -> Result<SourceState, driftgate::sync::Error> {
    let path = local_path(&source.url).expect("local");
    let repo = git::open(&path).expect("opens");
    declare::at_ref(&repo, source, declarer)
}

/// (apiVersion, kind, namespace, name) → object, sorted, for comparing renders.
fn keyed(objects: &[RawObject]) -> Vec<(String, String, String, String, Value)> {
    let mut out: Vec<_> = objects
        .iter()
        .map(|o| {
            let value = o.value.parse().expect("json");
            let s = |p: &str| {
                value
                    .pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            (
                o.api_version.clone(),
                o.kind.clone(),
                s("/metadata/namespace"),
                s("/metadata/name"),
                value.clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1, &a.2, &a.3).cmp(&(&b.0, &b.1, &b.2, &b.3)));
    out
}

fn kubectl_kustomize(dir: &Path) -> Result<Vec<RawObject>, String> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    parse::parse_as_written("kubectl", "out", &out.stdout)
        .map(|f| f.objects)
        .map_err(|e| e.to_string())
}

fn kustomization_dirs(checkout: &Path) -> Vec<String> {
    let mut dirs: Vec<String> = git(checkout, &["ls-files"])
        .lines()
        .filter(|p| parse::is_kustomization_file(p))
        .map(|p| p.rsplit_once('/').map(|(d, _)| d).unwrap_or("").to_string())
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

const CORPUS: [&str; 2] = ["flux2-kustomize-helm-example", "flux2-multi-tenancy"];

/// flux2-multi-tenancy read from `clusters/production` with Flux discovery; `None` (after a
/// notice) when kubectl or the corpus is absent. The temp dir holds the checkout.
fn multi_tenancy_by_flux() -> Option<(tempfile::TempDir, SourceState)> {
    if !kubectl() {
        return None;
    }
    let bundle = corpus_bundle(CORPUS[1])?;
    let tmp = tempfile::tempdir().expect("tempdir");
    let checkout = clone_bundle(&bundle, tmp.path());
    let src = source(
        &checkout,
        "main",
        &["clusters/production"],
        json!({"discover": "flux"}),
    );
    let state = read(&src, &mut Declarer::default()).expect("reads");
    Some((tmp, state))
}

#[path = "kustomize/argocd.rs"]
mod argocd;
#[path = "kustomize/cli.rs"]
mod cli;
#[path = "kustomize/corpus.rs"]
mod corpus;
#[path = "kustomize/figures.rs"]
mod figures;
#[path = "kustomize/fleet.rs"]
mod fleet;
#[path = "kustomize/fleet_failures.rs"]
mod fleet_failures;
#[path = "kustomize/flux.rs"]
mod flux;
#[path = "kustomize/local.rs"]
mod local;
#[path = "kustomize/reference.rs"]
mod reference;
