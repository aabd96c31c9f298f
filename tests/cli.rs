//! The CLI end to end on real Git repositories: refs, paths, broken files, exit codes.

mod common;

use common::{deployment, deployment_review, driftgate, stdout_json, yaml_to_json, GitRepo};
use serde_json::Value;

fn index_json(args: &[&str]) -> Value {
    let out = driftgate()
        .arg("index")
        .arg("--json")
        .args(args)
        .output()
        .expect("runs");
    stdout_json(&out, 0)
}

fn names(index: &Value) -> Vec<String> {
    index["objects"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| o["name"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn index_reads_branch_tag_commit_and_subpath() {
    let repo = GitRepo::new();
    repo.write("apps/web.yaml", &deployment("web", "shop", 3, "nginx:1.25"));
    repo.write(
        "infra/ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    );
    let first = repo.commit("first");
    repo.git(&["tag", "v1"]);
    repo.write("apps/api.yaml", &deployment("api", "shop", 1, "api:1"));
    repo.commit("second");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("apps/feature.yaml", &deployment("feat", "shop", 1, "f:1"));
    repo.commit("feature");
    repo.git(&["checkout", "-q", "main"]);
    let path = repo.path().to_str().expect("utf-8 path");

    let head = index_json(&["--repo", path]);
    assert_eq!(names(&head), ["shop", "api", "web"]);
    assert!(
        head["revision"]
            .as_str()
            .unwrap_or_default()
            .starts_with("main@sha1:"),
        "{head}"
    );
    let dep = &head["objects"][1];
    assert_eq!(
        (
            dep["group"].as_str(),
            dep["version"].as_str(),
            dep["kind"].as_str()
        ),
        (Some("apps"), Some("v1"), Some("Deployment"))
    );
    assert_eq!(dep["file"], "apps/api.yaml");
    assert_eq!(
        head["objects"][0]["namespace"], "",
        "cluster-scoped has no namespace"
    );
    assert_eq!(head["objects"][0]["group"], "", "core group is empty");

    assert_eq!(
        names(&index_json(&["--repo", path, "--ref", "v1"])),
        ["shop", "web"]
    );
    assert_eq!(
        names(&index_json(&["--repo", path, "--ref", &first])),
        ["shop", "web"]
    );
    assert_eq!(
        names(&index_json(&["--repo", path, "--ref", "feature"])),
        ["shop", "api", "feat", "web"]
    );
    assert_eq!(
        names(&index_json(&["--repo", path, "--path", "apps"])),
        ["api", "web"]
    );
    let url = format!("file://{path}");
    assert_eq!(
        names(&index_json(&["--repo", &url, "--path", "infra"])),
        ["shop"]
    );

    let out = driftgate()
        .args(["index", "--repo", path, "--ref", "no-such-ref"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-ref"));
}

#[test]
fn a_broken_file_is_reported_and_the_rest_is_declared() {
    let repo = GitRepo::new();
    repo.write("good.yaml", &deployment("web", "shop", 3, "nginx"));
    repo.write(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: [unclosed\n",
    );
    repo.write("notes.yaml", "just: a config file\n");
    repo.write("kustomization.yaml", "resources: [good.yaml]\n");
    repo.commit("mixed");
    // Read as plain files: under the default `render: auto` the root kustomization would be
    // built instead, and bad.yaml, which it does not reference, would not be read at all.
    let config = tempfile::NamedTempFile::new().expect("config file");
    std::fs::write(
        config.path(),
        format!(
            "sources:\n  - name: repo\n    url: {}\n    ref: main\n    render: plain\n",
            repo.path().display()
        ),
    )
    .expect("write config");
    let index = index_json(&["--config", config.path().to_str().expect("path")]);
    assert_eq!(names(&index), ["web"]);
    let errors = index["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 1, "{index}");
    assert_eq!(errors[0]["file"], "bad.yaml");
    assert!(errors[0]["line"].as_u64().unwrap_or(0) >= 6, "{index}");
}

#[test]
fn check_answers_like_validate_with_exit_codes() {
    let repo = GitRepo::new();
    let text = deployment("web", "shop", 3, "nginx:1.25");
    repo.write("web.yaml", &text);
    repo.commit("web");
    let git = yaml_to_json(&text);
    let mut scaled = git.clone();
    scaled["spec"]["replicas"] = Value::from(5);
    let dir = tempfile::tempdir().expect("tempdir");
    let review_path = dir.path().join("review.json");
    let path = repo.path().to_str().expect("path");

    std::fs::write(
        &review_path,
        deployment_review("UPDATE", "alice", scaled, git.clone()).to_string(),
    )
    .expect("write");
    let out = driftgate()
        .args(["check", "--repo", path, "--review"])
        .arg(&review_path)
        .output()
        .expect("runs");
    let review = stdout_json(&out, 3);
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(review["kind"], "AdmissionReview");
    assert_eq!(
        review["response"]["uid"],
        "3b0d8a4c-0f3e-4c55-9d2f-6f1f2b9b1a00"
    );
    assert_eq!(review["response"]["allowed"], false);
    assert!(review["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("web.yaml"));

    std::fs::write(
        &review_path,
        deployment_review("UPDATE", "alice", git.clone(), git.clone()).to_string(),
    )
    .expect("write");
    let out = driftgate()
        .args(["check", "--repo", path, "--review"])
        .arg(&review_path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));

    // Config file with a relative source path, and the review on stdin.
    let config = dir.path().join("driftgate.yaml");
    std::fs::write(
        &config,
        format!("sources:\n  - name: fleet\n    url: {path}\nmode: warn\n"),
    )
    .expect("write");
    let mut child = driftgate()
        .args(["check", "--review", "-", "--config"])
        .arg(&config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut scaled = git.clone();
    scaled["spec"]["replicas"] = Value::from(7);
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(
            deployment_review("UPDATE", "bob", scaled, git)
                .to_string()
                .as_bytes(),
        )
        .expect("write");
    let out = child.wait_with_output().expect("waits");
    // Warn mode allows: exit 0.
    let review = stdout_json(&out, 0);
    assert!(review["response"]["warnings"]
        .to_string()
        .contains("spec.replicas"));

    std::fs::write(&review_path, "{not json").expect("write");
    let out = driftgate()
        .args(["check", "--repo", path, "--review"])
        .arg(&review_path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_config_names_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, "sources: []\nmodee: warn\n").expect("write");
    let out = driftgate()
        .args(["index", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("modee"), "{err}");
    assert!(err.contains("line 2"), "{err}");
    std::fs::write(&config, "sources: [{name: a, url: /x, interval: soon}]\n").expect("write");
    let out = driftgate()
        .args(["index", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("soon"));
    std::fs::write(&config, "mode: block\n").expect("write");
    let out = driftgate()
        .args(["index", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("block"));
}

#[test]
fn demo_runs_the_tour_over_tls() {
    let out = driftgate().arg("demo").output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for word in [
        "=> allowed",
        "=> denied",
        "=> warned",
        "spec.replicas: Git has 3, request has 10",
        "Every outcome was as expected",
    ] {
        assert!(text.contains(word), "missing {word:?} in:\n{text}");
    }
    assert_eq!(text.matches("=> denied").count(), 3, "{text}");
}

#[test]
fn the_readme_config_reference_parses() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let section = readme
        .split("## Configuration reference")
        .nth(1)
        .expect("section");
    let block = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("yaml block");
    let config = driftgate::config::Config::from_yaml(block, "README.md")
        .expect("the documented config is valid");
    assert_eq!(config.sources.len(), 1);
    assert_eq!(config.server.listen, "0.0.0.0:8443");
}
