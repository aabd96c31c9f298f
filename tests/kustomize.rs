//! Rendering kustomize overlays and following Flux Kustomizations, against real git repositories
//! (made with the git CLI, or cloned from the corpus bundles) and the real `kubectl kustomize`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use driftgate::config::Source;
use driftgate::declare::Declarer;
use driftgate::git;
use driftgate::manifest::parse::{self, RawObject};
use driftgate::manifest::Origin;
use driftgate::render::Limits;
use driftgate::snapshot::{Snapshot, SourceState};
use serde_json::{json, Value};

fn kubectl() -> bool {
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("notice: kubectl is not installed; skipping this test");
    }
    ok
}

fn corpus_bundle(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/gitops")
        .join(format!("{name}.bundle"));
    if !path.exists() {
        eprintln!("notice: {} is absent; skipping this test", path.display());
        return None;
    }
    Some(path)
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=driftgate",
            "-c",
            "user.email=driftgate@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn clone_bundle(bundle: &Path, into: &Path) -> PathBuf {
    let dest = into.join("repo");
    git(
        into,
        &["clone", "-q", &bundle.display().to_string(), "repo"],
    );
    dest
}

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

fn read(source: &Source, declarer: &mut Declarer) -> Result<SourceState, git::Error> {
    let path = git::local_path(&source.url).expect("local");
    let repo = git::open(source, &path)?;
    git::read_repo(&repo, source, declarer)
}

/// (apiVersion, kind, namespace, name) → object, sorted, for comparing renders.
fn keyed(objects: &[RawObject]) -> Vec<(String, String, String, String, Value)> {
    let mut out: Vec<_> = objects
        .iter()
        .map(|o| {
            let s = |p: &str| {
                o.value
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
                Value::clone(&o.value),
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
    parse::parse_file("kubectl", "out", &out.stdout)
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

#[test]
fn corpus_kustomizations_render_as_kubectl_kustomize_does() {
    if !kubectl() {
        return;
    }
    for name in CORPUS {
        let Some(bundle) = corpus_bundle(name) else {
            return;
        };
        let tmp = tempfile::tempdir().expect("tempdir");
        let checkout = clone_bundle(&bundle, tmp.path());
        let dirs = kustomization_dirs(&checkout);
        assert!(dirs.len() >= 4, "{name}: {dirs:?}");
        let mut declarer = Declarer::default();
        for dir in &dirs {
            let expected = kubectl_kustomize(&checkout.join(dir))
                .unwrap_or_else(|e| panic!("{name}: kubectl kustomize {dir}: {e}"));
            let src = source(&checkout, "main", &[dir], json!({"render": "kustomize"}));
            let state = read(&src, &mut declarer).unwrap_or_else(|e| panic!("{name}: {dir}: {e}"));
            assert!(state.errors.is_empty(), "{name}: {dir}: {:?}", state.errors);
            for o in &state.objects {
                assert_eq!(o.origin, Origin::Kustomize { dir: dir.clone() });
                assert_eq!(&*o.file, dir.as_str());
            }
            assert_eq!(
                keyed(&state.objects),
                keyed(&expected),
                "{name}: {dir} differs from kubectl kustomize"
            );
        }
    }
}

#[test]
fn index_reports_per_directory_counts() {
    if !kubectl() {
        return;
    }
    let Some(bundle) = corpus_bundle(CORPUS[0]) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let checkout = clone_bundle(&bundle, tmp.path());
    let dirs = [
        "apps/production",
        "infrastructure/controllers",
        "infrastructure/configs",
    ];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftgate"));
    cmd.args(["index", "--repo"]).arg(&checkout);
    for d in dirs {
        cmd.args(["--path", d]);
    }
    let out = cmd.output().expect("driftgate runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for d in dirs {
        let count = kubectl_kustomize(&checkout.join(d)).expect("renders").len();
        let line = format!("{count:>6}  repo: {d} (kustomize)");
        assert!(stdout.contains(&line), "missing {line:?} in:\n{stdout}");
    }
}

/// Every first-parent revision of `main`, oldest first: each reads without a crash, a revision
/// kustomize cannot render is an error for the whole source, and the last good state stays.
#[test]
fn corpus_history_reads_revision_by_revision() {
    if !kubectl() {
        return;
    }
    for name in CORPUS {
        let Some(bundle) = corpus_bundle(name) else {
            return;
        };
        let tmp = tempfile::tempdir().expect("tempdir");
        let checkout = clone_bundle(&bundle, tmp.path());
        let revs = git(
            &checkout,
            &["rev-list", "--first-parent", "--reverse", "main"],
        );
        let mut declarer = Declarer::default();
        let mut flux = Declarer::default();
        let mut live: Option<(String, usize)> = None;
        let (mut good, mut renders, mut flux_read) = (0, 0, 0);
        let mut failures: Vec<String> = Vec::new();
        for rev in revs.lines() {
            let src = source(&checkout, rev, &[], json!({}));
            match read(&src, &mut declarer) {
                Ok(state) => {
                    good += 1;
                    renders += declarer.renderer.cache.renders;
                    // Staging and production overlays of one repository may declare the same
                    // keys: a snapshot error, reported like any other, never a crash.
                    let _ = Snapshot::build(vec![state.clone()]);
                    live = Some((rev.to_string(), state.objects.len()));
                }
                Err(e) => {
                    let message = e.to_string();
                    assert!(message.contains("(kustomize)"), "{name} {rev}: {message}");
                    failures.push(format!("{} (kept {:?}): {message}", &rev[..12], live));
                }
            }
            let has_cluster = Command::new("git")
                .args(["cat-file", "-e", &format!("{rev}:clusters/production")])
                .current_dir(&checkout)
                .stderr(std::process::Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if has_cluster {
                let src = source(
                    &checkout,
                    rev,
                    &["clusters/production"],
                    json!({"discover": "flux"}),
                );
                if read(&src, &mut flux).is_ok() {
                    flux_read += 1;
                }
            }
        }
        let failed = failures.len();
        eprintln!(
            "{name}: {good} revisions read, {failed} reported, {renders} kustomize runs; \
             discover: flux read {flux_read} revisions"
        );
        for f in failures.iter().take(3) {
            eprintln!("  e.g. {f}");
        }
        let (last, count) = live.expect("some revision reads");
        assert_eq!(
            last,
            revs.lines().last().expect("has revisions"),
            "{name}: the tip reads"
        );
        assert!(count > 0);
        assert!(flux_read > 0, "{name}: discover: flux reads some revision");
        assert!(good > failed, "{name}: {good} good, {failed} failed");
    }
}

#[test]
fn flux_discovery_follows_cluster_kustomizations() {
    if !kubectl() {
        return;
    }
    let Some(bundle) = corpus_bundle(CORPUS[0]) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let checkout = clone_bundle(&bundle, tmp.path());
    // The tip reaches apps through ExternalArtifacts; 3eba2c0 (Flux 2.3) through the
    // flux-system GitRepository with repository-root paths.
    let old = git(&checkout, &["rev-parse", "3eba2c0"]);
    for rev in ["main", old.as_str()] {
        let src = source(
            &checkout,
            rev,
            &["clusters/production"],
            json!({"discover": "flux"}),
        );
        let state = read(&src, &mut Declarer::default()).unwrap_or_else(|e| panic!("{rev}: {e}"));
        let find = |kind: &str, name: &str| {
            state
                .objects
                .iter()
                .find(|o| o.kind == kind && o.value["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{rev}: no {kind} {name}"))
        };
        let dir_of = |o: &RawObject| match &o.origin {
            Origin::Kustomize { dir } => dir.clone(),
            Origin::File => panic!("rendered objects remember their directory"),
        };
        let podinfo = find("HelmRelease", "podinfo");
        assert_eq!(dir_of(podinfo), "apps/production", "{rev}");
        assert_eq!(podinfo.value["metadata"]["namespace"], "podinfo", "{rev}");
        let cert_manager = find("HelmRelease", "cert-manager");
        assert!(dir_of(cert_manager).starts_with("infrastructure/"), "{rev}");
        assert_eq!(cert_manager.value["metadata"]["namespace"], "cert-manager");
        // The Flux Kustomization's own patch replaces the staging ACME server.
        let issuer = find("ClusterIssuer", "letsencrypt")
            .value
            .pointer("/spec/acme/server")
            .cloned();
        assert_eq!(
            issuer,
            Some(json!("https://acme-v02.api.letsencrypt.org/directory")),
            "{rev}"
        );
        let dirs: std::collections::BTreeSet<String> = state.objects.iter().map(dir_of).collect();
        assert!(dirs.contains("clusters/production"), "{rev}: {dirs:?}");
        let snapshot = Snapshot::build(vec![state]).unwrap_or_else(|e| panic!("{rev}: {e}"));
        let declared = snapshot
            .objects()
            .find(|o| o.key.kind == "HelmRelease" && o.key.name == "podinfo")
            .expect("podinfo declared");
        assert_eq!(declared.key.namespace, "podinfo");
        assert_eq!(declared.location(), "fleet: apps/production (kustomize)");
    }
}

#[test]
fn flux_discovery_lists_other_sources_and_bypasses_tenant_accounts() {
    if !kubectl() {
        return;
    }
    let Some(bundle) = corpus_bundle(CORPUS[1]) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let checkout = clone_bundle(&bundle, tmp.path());
    let src = source(
        &checkout,
        "main",
        &["clusters/production"],
        json!({"discover": "flux"}),
    );
    let state = read(&src, &mut Declarer::default()).expect("reads");
    assert!(
        state
            .bypass_users
            .contains(&"system:serviceaccount:apps:dev-team".to_string()),
        "{:?}",
        state.bypass_users
    );
    assert!(state
        .bypass_users
        .contains(&"system:serviceaccount:flux-system:kustomize-controller".to_string()));
    let note = state
        .errors
        .iter()
        .find(|e| e.message.contains("apps/dev-team"))
        .expect("the tenant's Kustomization is listed");
    assert!(note.message.contains("out of scope"), "{note:?}");
    assert_eq!(note.file, "tenants/production");
    let ns = state
        .objects
        .iter()
        .find(|o| o.kind == "ServiceAccount")
        .expect("tenant account declared");
    assert_eq!(ns.value["metadata"]["namespace"], "apps");
}

#[test]
fn flux_target_namespace_generated_kustomization_and_substitution() {
    if !kubectl() {
        return;
    }
    let (_tmp, repo) = new_repo();
    write_and_commit(
        &repo,
        &[
            (
                "clusters/prod/apps.yaml",
                "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  path: ./apps\n  targetNamespace: team\n  serviceAccountName: deployer\n  postBuild:\n    substitute:\n      REPLICAS: \"3\"\n  patches:\n    - patch: |\n        - op: add\n          path: /data/patched\n          value: \"yes\"\n      target:\n        kind: ConfigMap\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: ext\n  namespace: flux-system\nspec:\n  sourceRef:\n    kind: OCIRepository\n    name: elsewhere\n  path: ./\n",
            ),
            (
                "apps/deploy.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: ${REPLICAS}\n  template:\n    spec:\n      containers:\n        - name: web\n          image: ${IMAGE:=nginx:1.25}\n",
            ),
            ("apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n"),
            ("apps/sub/kustomization.yaml", "resources: [svc.yaml]\n"),
            ("apps/sub/svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 80}]\n"),
            ("apps/sub/unused.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: not-referenced\n"),
        ],
        "flux layout",
    );
    let src = source(
        &repo,
        "main",
        &["clusters/prod"],
        json!({"discover": "flux"}),
    );
    let state = read(&src, &mut Declarer::default()).expect("reads");
    let get = |kind: &str| {
        state
            .objects
            .iter()
            .find(|o| o.kind == kind && o.origin == Origin::Kustomize { dir: "apps".into() })
            .unwrap_or_else(|| panic!("no {kind} from apps: {:?}", state.objects))
    };
    let deploy = get("Deployment");
    assert_eq!(deploy.value["metadata"]["namespace"], "team");
    assert_eq!(deploy.value["spec"]["replicas"], json!(3));
    assert_eq!(
        deploy.value["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
    assert_eq!(get("Service").value["metadata"]["namespace"], "team");
    assert_eq!(get("ConfigMap").value["data"]["patched"], "yes");
    assert!(!state.objects.iter().any(|o| o.kind == "Secret"));
    assert_eq!(
        state.bypass_users,
        ["system:serviceaccount:flux-system:deployer"]
    );
    assert!(
        state
            .errors
            .iter()
            .any(|e| e.message.contains("flux-system/ext") && e.message.contains("out of scope")),
        "{:?}",
        state.errors
    );
}

fn overlay_repo() -> (tempfile::TempDir, PathBuf, String) {
    let (tmp, repo) = new_repo();
    let rev = write_and_commit(
        &repo,
        &[
            ("base/kustomization.yaml", "resources: [cm.yaml]\n"),
            ("base/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  v: \"1\"\n"),
            ("overlays/a/kustomization.yaml", "namespace: a\nresources: [../../base]\nconfigMapGenerator:\n  - name: gen\n    envs: [settings.env]\n"),
            ("overlays/a/settings.env", "LEVEL=debug\n"),
            ("overlays/b/kustomization.yaml", "namespace: b\nresources: [../../base]\n"),
            ("plain/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"),
        ],
        "overlays",
    );
    (tmp, repo, rev)
}

#[test]
fn renders_are_cached_by_their_inputs_and_a_broken_render_fails_the_source() {
    if !kubectl() {
        return;
    }
    let (_tmp, repo, first) = overlay_repo();
    let mut declarer = Declarer::default();
    let at =
        |rev: &str, declarer: &mut Declarer| read(&source(&repo, rev, &[], json!({})), declarer);
    let state = at(&first, &mut declarer).expect("reads");
    assert_eq!(
        declarer.renderer.cache.renders, 2,
        "a and b; the base is theirs"
    );
    let mut names: Vec<String> = state
        .objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o.value["metadata"]["namespace"].as_str().unwrap_or(""),
                o.value["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("a/gen-")),
        "generated name with hash: {names:?}"
    );
    assert!(
        names.contains(&"/a".to_string()),
        "plain namespace: {names:?}"
    );

    let unrelated = write_and_commit(
        &repo,
        &[(
            "plain/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: {x: y}\n",
        )],
        "unrelated",
    );
    at(&unrelated, &mut declarer).expect("reads");
    assert_eq!(
        declarer.renderer.cache.renders, 0,
        "untouched inputs are not rendered again"
    );
    assert_eq!(declarer.renderer.cache.hits, 2);

    let env_only = write_and_commit(&repo, &[("overlays/a/settings.env", "LEVEL=info\n")], "env");
    at(&env_only, &mut declarer).expect("reads");
    assert_eq!(
        declarer.renderer.cache.renders, 1,
        "only a reads settings.env"
    );

    let base = write_and_commit(
        &repo,
        &[(
            "base/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  v: \"2\"\n",
        )],
        "base",
    );
    let state = at(&base, &mut declarer).expect("reads");
    assert_eq!(
        declarer.renderer.cache.renders, 2,
        "a shared base re-renders both overlays"
    );
    assert!(state
        .objects
        .iter()
        .filter(|o| o.value["metadata"]["name"] == "shared")
        .all(|o| o.value["data"]["v"] == "2"));

    let broken = write_and_commit(
        &repo,
        &[(
            "overlays/b/kustomization.yaml",
            "namespace: b\nresources: [../../base, missing.yaml]\n",
        )],
        "broken",
    );
    let err = at(&broken, &mut declarer).expect_err("kustomize fails");
    let message = err.to_string();
    assert!(message.contains("overlays/b (kustomize)"), "{message}");
    assert!(
        message.contains("missing.yaml"),
        "kustomize's stderr is kept: {message}"
    );

    // The failed sync did not drop the cache of the last good revision.
    at(&base, &mut declarer).expect("reads");
    assert_eq!(declarer.renderer.cache.renders, 0);
}

#[test]
fn remote_bases_are_refused_unless_allowed() {
    let (_tmp, repo) = new_repo();
    write_and_commit(
        &repo,
        &[(
            "app/kustomization.yaml",
            "resources:\n  - https://github.com/example/repo//deploy?ref=v1\n",
        )],
        "remote",
    );
    let err = read(
        &source(&repo, "main", &["app"], json!({})),
        &mut Declarer::default(),
    )
    .expect_err("refused");
    assert!(err.to_string().contains("allowRemoteBases"), "{err}");
    // Allowed, the command runs (here one that prints nothing, to stay off the network).
    let allowed = source(
        &repo,
        "main",
        &["app"],
        json!({"allowRemoteBases": true, "kustomizeCommand": ["true"]}),
    );
    let state = read(&allowed, &mut Declarer::default()).expect("runs");
    assert!(state.objects.is_empty());
}

#[test]
fn a_render_that_hangs_or_floods_is_cut_off() {
    let (tmp, repo, _) = overlay_repo();
    let limits = Limits {
        timeout: Duration::from_secs(1),
        max_output: 1024 * 1024,
    };
    let cases: [(&str, &str); 3] = [
        ("sleep 30", "did not finish within 1s and was killed"),
        (
            "yes driftgate",
            "wrote more than 1048576 bytes of output and was killed",
        ),
        ("echo kaboom >&2; exit 3", "kaboom"),
    ];
    for (script, expected) in cases {
        let src = source(
            &repo,
            "main",
            &["overlays/a"],
            json!({"kustomizeCommand": ["sh", "-c", script, "sh"]}),
        );
        let mut declarer = Declarer::default();
        declarer.renderer.limits = limits.clone();
        let started = Instant::now();
        let err = read(&src, &mut declarer).expect_err("cut off");
        let message = err.to_string();
        assert!(message.contains(expected), "{script}: {message}");
        assert!(message.contains("overlays/a (kustomize)"), "{message}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{script}: took {:?}",
            started.elapsed()
        );
    }
    // What the command started goes with it: the group is killed, not only the shell.
    let pid_file = tmp.path().join("sleeper.pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
    let src = source(
        &repo,
        "main",
        &["overlays/a"],
        json!({"kustomizeCommand": ["sh", "-c", script, "sh"]}),
    );
    let mut declarer = Declarer::default();
    declarer.renderer.limits = limits;
    read(&src, &mut declarer).expect_err("cut off");
    let pid = std::fs::read_to_string(&pid_file).expect("pid written");
    let proc_dir = PathBuf::from(format!("/proc/{}", pid.trim()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !proc_dir.exists(),
        "the sleeping grandchild {} survived",
        pid.trim()
    );
}

/// kustomize resolves YAML scalars the way yaml.rs does: `yes`/`on`/`y` stay strings, `0777` is
/// octal, `1e3` an integer. A disagreement would make a plain file and the same file rendered
/// declare different values.
#[test]
fn yaml_scalars_resolve_as_kustomize_resolves_them() {
    if !kubectl() {
        return;
    }
    let thing = "apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: t\nspec:\n  a: yes\n  b: on\n  c: y\n  d: 0777\n  e: 1e3\n  f: true\n  g: ~\n  h: '0777'\n  i: 0x1F\n  k: .5\n  l: 012\n  m: 0o17\n  n: +1\n  o: 1.0\n  p: No\n  q: off\n  s: 2.5e-3\n  v: True\n  w: NULL\n  x: -0\n  y: n\n  z: \"1e3\"\n";
    let (_tmp, repo) = new_repo();
    write_and_commit(
        &repo,
        &[
            ("plain/thing.yaml", thing),
            ("rendered/thing.yaml", thing),
            ("rendered/kustomization.yaml", "resources: [thing.yaml]\n"),
        ],
        "scalars",
    );
    let plain = read(
        &source(&repo, "main", &["plain"], json!({})),
        &mut Declarer::default(),
    )
    .expect("reads");
    let rendered = read(
        &source(&repo, "main", &["rendered"], json!({})),
        &mut Declarer::default(),
    )
    .expect("renders");
    assert_eq!(plain.objects.len(), 1);
    assert_eq!(rendered.objects.len(), 1);
    let (p, r) = (
        &plain.objects[0].value["spec"],
        &rendered.objects[0].value["spec"],
    );
    let keys: Vec<&String> = r.as_object().expect("map").keys().collect();
    for key in keys {
        assert_eq!(
            p[key], r[key],
            "spec.{key}: yaml.rs {} vs kustomize {}",
            p[key], r[key]
        );
    }
    assert_eq!(r["a"], "yes");
    assert_eq!(r["d"], 511);
    assert_eq!(r["e"], 1000);
}

/// Render time per corpus repository, cold and cached. Run with
/// `cargo test --test kustomize render_timings -- --ignored --nocapture`.
#[test]
#[ignore]
fn render_timings() {
    if !kubectl() {
        return;
    }
    for name in CORPUS {
        let Some(bundle) = corpus_bundle(name) else {
            return;
        };
        let tmp = tempfile::tempdir().expect("tempdir");
        let checkout = clone_bundle(&bundle, tmp.path());
        for (label, paths, extra) in [
            ("auto, whole tree", vec![], json!({})),
            (
                "discover: flux, clusters/production",
                vec!["clusters/production"],
                json!({"discover": "flux"}),
            ),
        ] {
            let src = source(&checkout, "main", &paths, extra);
            let mut declarer = Declarer::default();
            let started = Instant::now();
            let state = read(&src, &mut declarer).expect("reads");
            let cold = started.elapsed();
            let runs = declarer.renderer.cache.renders;
            let started = Instant::now();
            read(&src, &mut declarer).expect("reads");
            let cached = started.elapsed();
            eprintln!(
                "{name} [{label}]: {} objects, {runs} kustomize runs; cold {:.0} ms, cached {:.1} ms ({} runs)",
                state.objects.len(),
                cold.as_secs_f64() * 1000.0,
                cached.as_secs_f64() * 1000.0,
                declarer.renderer.cache.renders
            );
        }
    }
}

/// End to end: a tenant's objects rendered by Flux discovery are guarded, the denial points at
/// the overlay, and the tenant's own service account (which Flux impersonates) passes.
#[test]
fn rendered_objects_are_guarded_and_the_tenant_account_passes() {
    if !kubectl() {
        return;
    }
    let Some(bundle) = corpus_bundle(CORPUS[1]) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let checkout = clone_bundle(&bundle, tmp.path());
    let src = source(
        &checkout,
        "main",
        &["clusters/production"],
        json!({"discover": "flux"}),
    );
    let state = read(&src, &mut Declarer::default()).expect("reads");
    let snapshot = Snapshot::build(vec![state]).expect("no duplicates");
    let policy = driftgate::policy::Policy::from_config(&driftgate::config::Config::default());
    let review = |user: &str| {
        json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "5f1d0c1e-9a43-4f8e-8a4b-2b1c3d4e5f60",
                "kind": {"group": "", "version": "v1", "kind": "ServiceAccount"},
                "resource": {"group": "", "version": "v1", "resource": "serviceaccounts"},
                "name": "dev-team",
                "namespace": "apps",
                "operation": "DELETE",
                "userInfo": {"username": user, "groups": ["system:authenticated"]},
                "object": null,
                "oldObject": {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": "dev-team", "namespace": "apps"}
                }
            }
        })
        .to_string()
    };
    let (answer, decision) =
        driftgate::admission::validate(review("alice").as_bytes(), &snapshot, &policy)
            .expect("valid review");
    assert_eq!(
        decision.verdict,
        driftgate::admission::decide::Verdict::Denied,
        "{answer}"
    );
    let message = answer
        .pointer("/response/status/message")
        .and_then(Value::as_str)
        .unwrap_or("");
    assert!(
        message.contains("tenants/production (kustomize)"),
        "{message}"
    );
    let (_, decision) = driftgate::admission::validate(
        review("system:serviceaccount:apps:dev-team").as_bytes(),
        &snapshot,
        &policy,
    )
    .expect("valid review");
    assert_eq!(
        decision.verdict,
        driftgate::admission::decide::Verdict::Allowed
    );
}
