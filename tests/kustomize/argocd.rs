//! `discover: argocd` on a repository shaped like Argo CD's app-of-apps examples: a root
//! Application applied by hand, three Applications with their own namespaces (a plain
//! directory, a recursive one with an exclude glob, a kustomization with images and a prefix),
//! a Helm chart and a pinned branch out of scope. What is declared is checked key for key
//! against what Argo CD applies, written out by hand.

use std::collections::BTreeSet;

use super::*;

pub const REPO_URL: &str = "https://github.com/example/fleet";

fn application(name: &str, source: &str, namespace: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\nspec:\n  project: default\n  source:\n{source}  destination:\n    server: https://kubernetes.default.svc\n    namespace: {namespace}\n  syncPolicy:\n    automated: {{prune: true}}\n"
    )
}

pub fn fixture() -> Option<(tempfile::TempDir, PathBuf)> {
    if !kubectl() {
        return None;
    }
    let (tmp, repo) = new_repo();
    write_and_commit(&repo, &[("README.md", "fleet\n")], "start");
    git(&repo, &["branch", "release-1"]);
    let root = application(
        "root",
        &format!("    repoURL: {REPO_URL}.git\n    targetRevision: HEAD\n    path: argocd/apps\n"),
        "argocd",
    );
    let plain = application(
        "plain",
        &format!("    repoURL: {REPO_URL}/\n    targetRevision: main\n    path: manifests/plain\n"),
        "plain",
    );
    let recursive = application(
        "recursive",
        "    repoURL: git@GitHub.com:example/fleet.git\n    path: manifests/recursive\n    directory:\n      recurse: true\n      exclude: '{skip/*,*.md}'\n",
        "recursive",
    );
    let kustomized = application(
        "kustomized",
        &format!("    repoURL: {REPO_URL}\n    targetRevision: HEAD\n    path: manifests/kustomized\n    kustomize:\n      namePrefix: kz-\n      commonLabels:\n        team: a\n      images:\n      - nginx=ghcr.io/example/nginx:1.27\n"),
        "kustomized",
    );
    let helm = application(
        "podinfo",
        "    repoURL: https://stefanprodan.github.io/podinfo\n    chart: podinfo\n    targetRevision: 6.5.0\n",
        "podinfo",
    );
    let pinned = application(
        "pinned",
        &format!(
            "    repoURL: {REPO_URL}\n    targetRevision: release-1\n    path: manifests/plain\n"
        ),
        "pinned",
    );
    let remote = application(
        "remote",
        &format!("    repoURL: {REPO_URL}\n    path: manifests/plain\n"),
        "plain",
    )
    .replace(
        "https://kubernetes.default.svc",
        "https://edge.example.com:6443",
    );
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n";
    let cm = |name: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n")
    };
    write_and_commit(
        &repo,
        &[
            ("argocd/root.yaml", &root),
            ("argocd/project.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata:\n  name: fleet\n  namespace: argocd\nspec:\n  sourceRepos: ['*']\n"),
            ("argocd/nested/ignored.yaml", &cm("not-read-recursively")),
            ("argocd/apps/plain.yaml", &plain),
            ("argocd/apps/recursive.yaml", &recursive),
            ("argocd/apps/kustomized.yaml", &kustomized),
            ("argocd/apps/helm.yaml", &helm),
            ("argocd/apps/pinned.yaml", &pinned),
            ("argocd/apps/remote.yaml", &remote),
            ("argocd/apps/set.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: clusters\n  namespace: argocd\nspec:\n  generators: [{list: {elements: []}}]\n  template: {metadata: {name: x}, spec: {project: default}}\n"),
            ("manifests/plain/deployment.yaml", deployment),
            ("manifests/plain/service.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 80}]\n"),
            ("manifests/plain/config.json", "[{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"json-a\"}}, {\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"json-b\"}}]"),
            ("manifests/plain/sub/not-recursive.yaml", &cm("not-recursive")),
            ("manifests/recursive/a/cm.yaml", &cm("cm-a")),
            ("manifests/recursive/b/c/cm.yaml", &cm("cm-c")),
            ("manifests/recursive/skip/cm.yaml", &cm("skipped")),
            ("manifests/recursive/top.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: top\n  namespace: elsewhere\n"),
            ("manifests/recursive/notes.md", "not a manifest\n"),
            ("manifests/kustomized/kustomization.yaml", "resources:\n- deployment.yaml\n"),
            ("manifests/kustomized/deployment.yaml", deployment),
        ],
        "app of apps",
    );
    Some((tmp, repo))
}

fn argo_source(repo: &Path, paths: &[&str]) -> Source {
    source(
        repo,
        "main",
        paths,
        json!({"discover": "argocd", "aliases": [REPO_URL]}),
    )
}

fn keys(snapshot: &Snapshot) -> BTreeSet<String> {
    snapshot
        .objects()
        .map(|o| format!("{} {}/{}", o.key.group_kind(), o.key.namespace, o.key.name))
        .collect()
}

#[test]
fn app_of_apps_declares_what_argo_cd_applies() {
    let Some((_tmp, repo)) = fixture() else {
        return;
    };
    let state = read(&argo_source(&repo, &["argocd"]), &mut Declarer::default()).expect("loads");
    assert!(state.errors.is_empty(), "{:?}", state.errors);
    let snapshot = Snapshot::build(vec![state.clone()]).expect("no duplicates");
    let expected: BTreeSet<String> = [
        // applied by hand from the root directory (not recursive)
        "argoproj.io/Application argocd/root",
        "argoproj.io/AppProject argocd/fleet",
        // built by root
        "argoproj.io/Application argocd/plain",
        "argoproj.io/Application argocd/recursive",
        "argoproj.io/Application argocd/kustomized",
        "argoproj.io/Application argocd/podinfo",
        "argoproj.io/Application argocd/pinned",
        "argoproj.io/Application argocd/remote",
        "argoproj.io/ApplicationSet argocd/clusters",
        // plain: one directory, JSON arrays included
        "apps/Deployment plain/web",
        "Service plain/web",
        "ConfigMap plain/json-a",
        "ConfigMap plain/json-b",
        // recursive, minus the excluded directory; an explicit namespace kept
        "ConfigMap recursive/cm-a",
        "ConfigMap recursive/cm-c",
        "ConfigMap elsewhere/top",
        // kustomize with the Application's settings
        "apps/Deployment kustomized/kz-web",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(keys(&snapshot), expected);
    let kz = snapshot
        .objects()
        .find(|o| o.key.name == "kz-web")
        .expect("kustomized")
        .value
        .parse()
        .expect("json");
    assert_eq!(
        kz["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/example/nginx:1.27"
    );
    assert_eq!(kz["metadata"]["labels"]["team"], "a");
    let out: Vec<(&str, &str)> = state
        .findings
        .out_of_scope
        .iter()
        .map(|o| (o.what.as_str(), o.file.as_str()))
        .collect();
    assert_eq!(
        out,
        [
            ("Argo CD ApplicationSet clusters", "argocd/apps/set.yaml"),
            (
                "Argo CD Application argocd/podinfo",
                "argocd/apps/helm.yaml"
            ),
            (
                "Argo CD Application argocd/pinned",
                "argocd/apps/pinned.yaml"
            ),
            (
                "Argo CD Application argocd/remote",
                "argocd/apps/remote.yaml"
            ),
        ]
    );
    let why = |i: usize| state.findings.out_of_scope[i].why.as_str();
    assert!(
        why(1).contains("Helm")
            && why(2).contains("release-1")
            && why(3).contains("another cluster")
    );
    // Provenance: the file, and the Application that builds it.
    let web = snapshot
        .objects()
        .find(|o| o.key.name == "web" && o.key.kind == "Deployment")
        .expect("plain web");
    assert_eq!(
        web.location(),
        "fleet: manifests/plain/deployment.yaml:1 (Argo CD Application argocd/plain at argocd/apps/plain.yaml:1, path manifests/plain)"
    );
}

#[test]
fn a_root_that_syncs_its_own_directory_is_built_once_and_others_are_out_of_scope() {
    let Some((_tmp, repo)) = fixture() else {
        return;
    };
    let own = application(
        "root",
        &format!(
            "    repoURL: {REPO_URL}\n    path: argocd\n    directory:\n      recurse: true\n"
        ),
        "argocd",
    );
    write_and_commit(&repo, &[("argocd/root.yaml", &own)], "root syncs argocd/");
    let state = read(&argo_source(&repo, &["argocd"]), &mut Declarer::default()).expect("loads");
    assert!(state.errors.is_empty(), "{:?}", state.errors);
    let snapshot = Snapshot::build(vec![state.clone()]).expect("built once, no duplicates");
    let keys = keys(&snapshot);
    assert!(keys.contains("argoproj.io/Application argocd/root"));
    assert!(
        keys.contains("ConfigMap argocd/not-read-recursively"),
        "{keys:?}"
    );
    assert!(keys.contains("apps/Deployment kustomized/kz-web"));
    assert!(
        state.findings.notes.iter().any(|n| n
            .message
            .contains("built by Argo CD Application argocd/root")),
        "{:?}",
        state.findings.notes
    );
    // Without the alias, this repository's Applications are another repository's.
    let state = read(
        &source(&repo, "main", &["argocd"], json!({"discover": "argocd"})),
        &mut Declarer::default(),
    )
    .expect("loads");
    assert!(state.errors.is_empty());
    assert!(state
        .findings
        .out_of_scope
        .iter()
        .any(|o| o.what == "Argo CD Application argocd/root" && o.why.contains("aliases")));
}
