//! Shared test fixtures: real Git repositories made with the `git` command in temp dirs, the
//! corpus and kubectl when present, and the driftgate binary with its JSON output.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub mod browser;
pub mod served;

/// A throwaway repository on branch `main`.
pub struct GitRepo {
    pub dir: tempfile::TempDir,
}

impl GitRepo {
    pub fn new() -> GitRepo {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = GitRepo { dir };
        repo.git(&["-c", "init.defaultBranch=main", "init", "-q"]);
        repo.git(&["config", "user.name", "Test"]);
        repo.git(&["config", "user.email", "test@example.com"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(self.dir.path(), args)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.dir.path().join(rel)).expect("remove");
    }

    /// Commits everything and returns the new commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

/// Runs `git` in `dir` as every fixture repository is made: a throwaway identity, `main` as the
/// default branch, no signing, no prompt. Panics with git's message when it fails; returns its
/// output, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    try_git(dir, args, None).unwrap_or_else(|e| panic!("{e}"))
}

/// [`git`] with `input` on its stdin (a diff for `git apply`), its failure returned (what git
/// said) for a caller that reports it rather than panics.
pub fn try_git(dir: &Path, args: &[&str], input: Option<&str>) -> Result<String, String> {
    let mut child = Command::new("git")
        .args(["-c", "init.defaultBranch=main", "-c", "user.name=Test"])
        .args([
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("git {args:?} does not run: {e}"))?;
    if let (Some(text), Some(mut pipe)) = (input, child.stdin.take()) {
        use std::io::Write as _;
        pipe.write_all(text.as_bytes())
            .map_err(|e| format!("git {args:?}: cannot write its input: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("git {args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The driftgate binary built for these tests.
pub fn driftgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_driftgate"))
}

/// The one JSON document a driftgate command printed, after checking it exited with `code`
/// (its stderr shown when not).
pub fn stdout_json(out: &Output, code: i32) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(code),
        "driftgate exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON document")
}

/// Whether `kubectl` (and its kustomize) can run here; a test that needs it returns early
/// after this prints a notice.
pub fn kubectl() -> bool {
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("notice: kubectl is not installed; skipping this test");
    }
    ok
}

/// `../shared/corpus` relative to the crate root, when present.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("notice: ../shared/corpus is absent; skipping corpus checks");
        None
    }
}

/// The corpus's `gitops/NAME.bundle` (a real GitOps repository), when present.
pub fn corpus_bundle(name: &str) -> Option<PathBuf> {
    let path = corpus_dir()?.join("gitops").join(format!("{name}.bundle"));
    if !path.exists() {
        eprintln!("notice: {} is absent; skipping this test", path.display());
        return None;
    }
    Some(path)
}

/// A checkout of `bundle`'s `main` at `into/repo`.
pub fn clone_bundle(bundle: &Path, into: &Path) -> PathBuf {
    let bundle = bundle.display().to_string();
    git(into, &["clone", "-q", "-b", "main", &bundle, "repo"]);
    into.join("repo")
}

pub fn deployment(name: &str, namespace: &str, replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: {name}\n        image: {image}\n"
    )
}

/// An AdmissionReview v1 as the apiserver sends it for a Deployment.
pub fn deployment_review(
    op: &str,
    user: &str,
    object: serde_json::Value,
    old: serde_json::Value,
) -> serde_json::Value {
    let name = object
        .pointer("/metadata/name")
        .or_else(|| old.pointer("/metadata/name"))
        .cloned()
        .unwrap_or_default();
    let namespace = object
        .pointer("/metadata/namespace")
        .or_else(|| old.pointer("/metadata/namespace"))
        .cloned()
        .unwrap_or_default();
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "3b0d8a4c-0f3e-4c55-9d2f-6f1f2b9b1a00",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": name,
            "namespace": namespace,
            "operation": op,
            "userInfo": {"username": user, "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": old,
            "dryRun": false,
            "options": {"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

/// YAML text to the JSON the apiserver would carry.
pub fn yaml_to_json(text: &str) -> serde_json::Value {
    let docs = driftgate::manifest::yaml::parse_documents(text).expect("yaml");
    docs.into_iter().next().expect("one document").value
}
