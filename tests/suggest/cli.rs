//! The command line: the diff on stdout, `--write`, `--commit`, "nothing to change", exit codes.

use std::io::Write as _;
use std::process::Stdio;

use super::plain::shop_repo;
use super::*;
use common::driftgate;

fn write_review(dir: &Path, review: &Value) -> String {
    let path = dir.join("review.json");
    std::fs::write(&path, review.to_string()).expect("write review");
    path.display().to_string()
}

fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = driftgate()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("driftgate runs");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("driftgate exits");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_diff_applies_and_nothing_to_change_is_said() {
    let repo = shop_repo();
    let tmp = tempfile::tempdir().expect("tempdir");
    let review = write_review(tmp.path(), &scale_review("shop", "web", 3, 10));
    let repo_arg = repo.path().display().to_string();
    let (code, stdout, stderr) = run(&["suggest", "--repo", &repo_arg, "--review", &review], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("diff --git a/apps/web.yaml b/apps/web.yaml\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-  replicas: 3\n+  replicas: 10\n"),
        "{stdout}"
    );
    try_git(repo.path(), &["apply", "--check", "-"], Some(&stdout)).expect("git apply accepts it");
    // Scaling to what Git declares: nothing to change.
    let same = write_review(tmp.path(), &scale_review("shop", "web", 5, 3));
    let (code, stdout, _) = run(&["suggest", "--repo", &repo_arg, "--review", &same], None);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("nothing to change"), "{stdout}");
}

#[test]
fn bad_input_exits_2() {
    let repo = shop_repo();
    let repo_arg = repo.path().display().to_string();
    let (code, _, stderr) = run(
        &["suggest", "--repo", &repo_arg, "--review", "-"],
        Some("{\"kind\": \"Pod\"}"),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("AdmissionReview"), "{stderr}");
    let (code, _, _) = run(
        &[
            "suggest",
            "--repo",
            &repo_arg,
            "--review",
            "/nonexistent/review.json",
        ],
        None,
    );
    assert_eq!(code, 2);
    let (code, _, _) = run(
        &["suggest", "--repo", &repo_arg, "--object", "-"],
        Some("kind: ConfigMap\n"),
    );
    assert_eq!(code, 2);
    let (code, _, _) = run(
        &[
            "suggest", "--repo", &repo_arg, "--review", "x", "--object", "y",
        ],
        None,
    );
    assert_eq!(code, 2, "one input at a time");
    let (code, _, _) = run(&["suggest", "--repo", &repo_arg], None);
    assert_eq!(code, 2, "an input is required");
}

#[test]
fn an_object_from_kubectl_get_yaml_on_stdin() {
    let repo = shop_repo();
    let repo_arg = repo.path().display().to_string();
    let object = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\n  uid: 1f2e\n  resourceVersion: \"99\"\n  managedFields: [{manager: kubectl}]\ndata:\n  mode: \"off\"\n  retries: \"3\"\n  nginx.conf: |\n    server {\n      listen 80;\n    }\n  extra: undeclared\n";
    let (code, stdout, stderr) = run(
        &["suggest", "--repo", &repo_arg, "--object", "-"],
        Some(object),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("-  mode: \"on\"\n+  mode: \"off\"\n"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("extra"),
        "undeclared data is not written: {stdout}"
    );
}

#[test]
fn write_applies_to_a_checkout_and_commit_makes_a_branch() {
    let repo = shop_repo();
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo_arg = repo.path().display().to_string();
    let review = write_review(tmp.path(), &scale_review("shop", "web", 3, 7));
    // --write: a second clone, changed in its working tree.
    let checkout = tmp.path().join("checkout");
    common::git(tmp.path(), &["clone", "-q", &repo_arg, "checkout"]);
    let checkout_arg = checkout.display().to_string();
    let (code, _, stderr) = run(
        &[
            "suggest",
            "--repo",
            &repo_arg,
            "--review",
            &review,
            "--write",
            &checkout_arg,
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(checkout.join("apps/web.yaml")).expect("read");
    assert_eq!(text, plain::WEB.replace("replicas: 3", "replicas: 7"));

    // --commit: a branch on top of the revision, working tree and HEAD untouched.
    let head = repo.git(&["rev-parse", "HEAD"]);
    let (code, _, stderr) = run(
        &[
            "suggest",
            "--repo",
            &repo_arg,
            "--review",
            &review,
            "--commit",
            "--branch",
            "scale-web",
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("on branch scale-web"), "{stderr}");
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    assert_eq!(repo.git(&["rev-parse", "scale-web^"]), head);
    let message = repo.git(&["log", "-1", "--format=%B", "scale-web"]);
    assert!(message.contains("apps/Deployment shop/web"), "{message}");
    assert!(message.contains("spec.replicas"), "{message}");
    assert!(message.contains("alice@example.com"), "{message}");
    assert_eq!(
        repo.git(&["show", "scale-web:apps/web.yaml"]),
        plain::WEB.replace("replicas: 3", "replicas: 7").trim_end()
    );
    // The branch read as Git: the same request is allowed.
    let on_branch = {
        let mut c = config(repo.path(), &[], "");
        c.sources[0].git_ref = "scale-web".into();
        c
    };
    let snapshot = load(&on_branch);
    let (_, d) = admission::validate(
        scale_review("shop", "web", 3, 7).to_string().as_bytes(),
        &snapshot,
        &Policy::from_config(&on_branch),
    )
    .expect("valid");
    assert_eq!(d.verdict, Verdict::Allowed, "{:?}", d.violations);
    // A branch that exists is not overwritten.
    let (code, _, stderr) = run(
        &[
            "suggest",
            "--repo",
            &repo_arg,
            "--review",
            &review,
            "--commit",
            "--branch",
            "scale-web",
        ],
        None,
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("already exists"), "{stderr}");
}

/// The denial message's "In Git:" line: for one value of a plain file its file, line and
/// both values; otherwise what to change and the command that writes the change.
#[test]
fn the_denial_says_where_in_git() {
    let repo = shop_repo();
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo_arg = repo.path().display().to_string();
    let message = |review: &Value| {
        let path = write_review(tmp.path(), review);
        let (code, stdout, stderr) = run(&["check", "--repo", &repo_arg, "--review", &path], None);
        assert_eq!(code, 3, "denied: {stdout}{stderr}");
        let answer: Value = serde_json::from_str(&stdout).expect("json");
        answer["response"]["status"]["message"]
            .as_str()
            .expect("message")
            .to_string()
    };
    let scale = message(&scale_review("shop", "web", 3, 10));
    assert!(
        scale.ends_with("\nIn Git: apps/web.yaml:11 replicas: 3 → 10"),
        "{scale}"
    );
    let cfg = config(repo.path(), &[], "");
    let web = ObjectKey::new("apps", "Deployment", "shop", "web");
    let git = declared(&load(&cfg), &web);
    let container = |field: &str| {
        vec![
            Step::Key("spec".into()),
            Step::Key("template".into()),
            Step::Key("spec".into()),
            Step::Key("containers".into()),
            Step::Select(vec![("name".into(), "web".into())]),
            Step::Key(field.into()),
        ]
    };
    let image = message(&review(
        "UPDATE",
        "alice",
        &edited(&live(&git), &container("image"), Some(json!("nginx:1.27"))),
        &live(&git),
    ));
    assert!(
        image.ends_with("\nIn Git: apps/web.yaml:22 image: \"nginx:1.25\" → \"nginx:1.27\""),
        "{image}"
    );
    // Two values: the file and the command.
    let both = edited(
        &edited(&live(&git), &container("image"), Some(json!("nginx:1.27"))),
        &[Step::Key("spec".into()), Step::Key("replicas".into())],
        Some(json!(4)),
    );
    let uid = "5d6a0c1e-2f3b-4a5c-8d9e-0f1a2b3c4d5e";
    let two = message(&review("UPDATE", "alice", &both, &live(&git)));
    assert!(
        two.ends_with(&format!(
            "\nIn Git: change apps/web.yaml; the change: driftgate suggest --id {uid}"
        )),
        "{two}"
    );
}

#[test]
fn the_demo_ends_with_the_change_for_the_denied_scale() {
    let (code, stdout, stderr) = run(&["demo"], None);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("In Git: apps/web/deployment.yaml:8 replicas: 3 → 10"),
        "{stdout}"
    );
    let last = stdout
        .split("And the way to Git")
        .nth(1)
        .expect("the last stop");
    assert!(
        last.contains("diff --git a/apps/web/deployment.yaml b/apps/web/deployment.yaml"),
        "{last}"
    );
    assert!(
        last.contains("-  replicas: 3\n") && last.contains("+  replicas: 10\n"),
        "{last}"
    );
    assert!(stdout.contains("Every outcome was as expected"), "{stdout}");
}
