//! Repositories made with git: the render cache, remote bases, limits, YAML scalars.

use super::*;

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
fn renders_are_cached_by_their_inputs_and_a_broken_overlay_keeps_its_last_good_objects() {
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
                o.value.parse().expect("json")["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or(""),
                o.value.parse().expect("json")["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
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
        .filter(|o| o.value.parse().expect("json")["metadata"]["name"] == "shared")
        .all(|o| o.value.parse().expect("json")["data"]["v"] == "2"));

    let broken = write_and_commit(
        &repo,
        &[(
            "overlays/b/kustomization.yaml",
            "namespace: b\nresources: [../../base, missing.yaml]\n",
        )],
        "broken",
    );
    let state = at(&broken, &mut declarer).expect("one overlay failing does not fail the source");
    let error = state
        .errors
        .iter()
        .find(|e| e.file == "overlays/b")
        .unwrap_or_else(|| panic!("the broken overlay is named: {:?}", state.errors));
    assert!(error.message.contains("kustomize overlays/b"), "{error:?}");
    assert!(
        error.message.contains("missing.yaml"),
        "kustomize's stderr is kept: {error:?}"
    );
    assert!(
        !error.message.contains("driftgate-render-"),
        "the message does not change from run to run: {error:?}"
    );
    let failed: Vec<&str> = state
        .findings
        .failed_builds
        .iter()
        .map(|f| f.build.as_str())
        .collect();
    assert_eq!(failed, ["kustomize overlays/b"]);
    let shared = |state: &SourceState, ns: &str| {
        state
            .objects
            .iter()
            .find(|o| {
                let v = o.value.parse().expect("json");
                v["metadata"]["name"] == "shared" && v["metadata"]["namespace"] == ns
            })
            .map(|o| (o.stale, o.value.parse().expect("json")["data"]["v"].clone()))
    };
    assert_eq!(
        shared(&state, "b"),
        Some((true, json!("2"))),
        "b keeps its last good objects, marked stale"
    );
    assert_eq!(shared(&state, "a"), Some((false, json!("2"))), "a advances");

    // b breaking further changes nothing of a; a changing still advances while b is broken.
    let a_moves = write_and_commit(
        &repo,
        &[("overlays/a/settings.env", "LEVEL=warn\n")],
        "a moves",
    );
    let state = at(&a_moves, &mut declarer).expect("reads");
    assert!(state
        .objects
        .iter()
        .any(|o| o.value.name().starts_with("gen-") && !o.stale));
    assert_eq!(shared(&state, "b"), Some((true, json!("2"))));

    // Fixed, b is declared fresh again.
    let fixed = write_and_commit(
        &repo,
        &[(
            "overlays/b/kustomization.yaml",
            "namespace: b\nresources: [../../base]\n",
        )],
        "fixed",
    );
    let state = at(&fixed, &mut declarer).expect("reads");
    assert!(state.errors.is_empty(), "{:?}", state.errors);
    assert_eq!(shared(&state, "b"), Some((false, json!("2"))));
    assert_eq!(declarer.renderer.cache.renders, 1, "only b is built again");

    // On a first load, a broken overlay declares nothing, and the rest loads.
    let state = at(&broken, &mut Declarer::default()).expect("reads");
    assert_eq!(shared(&state, "b"), None);
    assert!(shared(&state, "a").is_some());
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
    let state = read(
        &source(&repo, "main", &["app"], json!({})),
        &mut Declarer::default(),
    )
    .expect("the build is out of scope, not the source");
    assert!(state.objects.is_empty());
    assert!(state.errors.is_empty(), "{:?}", state.errors);
    let listed = &state.findings.out_of_scope;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0].what.as_str(), listed[0].file.as_str()),
        ("kustomize app", "app")
    );
    assert!(listed[0].why.contains("allowRemoteBases"), "{listed:?}");
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
        let state = read(&src, &mut declarer).expect("the build fails, not the source");
        let message = state
            .errors
            .iter()
            .map(|e| e.message.clone())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(message.contains(expected), "{script}: {message}");
        assert!(message.contains("kustomize overlays/a"), "{message}");
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
    let state = read(&src, &mut declarer).expect("reads");
    assert_eq!(state.findings.failed_builds.len(), 1, "cut off");
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
    let (plain, rendered) = (
        plain.objects[0].value.parse().expect("json"),
        rendered.objects[0].value.parse().expect("json"),
    );
    let (p, r) = (&plain["spec"], &rendered["spec"]);
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

/// Two overlays declaring one object identically (a shared ClusterRole, a Namespace several
/// apps include) is no conflict for Flux or Argo CD: it is declared once, with a note. Declared
/// differently, the newer overlay fails, both named.
#[test]
fn identical_declarations_are_one_and_differing_ones_fail_the_newer() {
    if !kubectl() {
        return;
    }
    let (_tmp, repo) = new_repo();
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\nrules: []\n";
    let cm = |name: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: apps\n")
    };
    let first = write_and_commit(
        &repo,
        &[
            ("shared/role.yaml", role),
            ("shared/kustomization.yaml", "resources: [role.yaml]\n"),
            (
                "overlays/x/kustomization.yaml",
                "resources: [../../shared, cm.yaml]\n",
            ),
            ("overlays/x/cm.yaml", &cm("x")),
            (
                "overlays/y/kustomization.yaml",
                "resources: [../../shared, cm.yaml]\n",
            ),
            ("overlays/y/cm.yaml", &cm("y")),
        ],
        "shared role",
    );
    let src = |rev: &str| source(&repo, rev, &["overlays"], json!({}));
    let mut declarer = Declarer::default();
    let state = read(&src(&first), &mut declarer).expect("reads");
    assert!(state.errors.is_empty(), "{:?}", state.errors);
    let roles = state
        .objects
        .iter()
        .filter(|o| o.kind == "ClusterRole")
        .count();
    assert_eq!(roles, 1);
    assert!(
        state.findings.notes.iter().any(|n| n
            .message
            .contains("declared identically by kustomize overlays/x and kustomize overlays/y")),
        "{:?}",
        state.findings.notes
    );
    Snapshot::build(vec![state]).expect("no duplicate");

    let differing = write_and_commit(
        &repo,
        &[(
            "overlays/x/kustomization.yaml",
            "resources: [../../shared, cm.yaml]\ncommonLabels: {team: x}\n",
        )],
        "x labels everything",
    );
    let state = read(&src(&differing), &mut declarer).expect("reads");
    let failed: Vec<(&str, &str)> = state
        .findings
        .failed_builds
        .iter()
        .map(|f| (f.build.as_str(), f.message.as_str()))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        failed[0].0, "kustomize overlays/x",
        "x changed: the newer declaration"
    );
    assert!(
        failed[0]
            .1
            .contains("also declared by kustomize overlays/y"),
        "{failed:?}"
    );
    Snapshot::build(vec![state]).expect("x keeps its last good objects, no duplicate");
}

/// Folded block scalars (`>`) with more-indented lines: a plain file must read as
/// `kubectl kustomize` renders it (what Flux applies), which is not the YAML spec's value
/// (go-yaml v3's folded emitter adds a line break before each more-indented line).
#[test]
fn folded_scalars_read_as_kustomize_renders_them() {
    if !kubectl() {
        return;
    }
    let long = "word ".repeat(30);
    let config = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: folded\ndata:\n\
         \x20 a: >\n    first line\n    same paragraph\n\n      more indented\n      again\n    back\n\n    after blank\n\
         \x20 b: >-\n    x\n      y\n    z\n\
         \x20 c: |\n    literal\n      kept\n\
         \x20 d: >+\n    keep\n\n\
         \x20 e: >\n    a\n     \n      b\n\
         \x20 f: >\n    a\n    \tb\n\
         \x20 g: >\n    a\n      {long}\n    b\n\
         \x20 h: >\n    {long}\n    b\n"
    );
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        args:\n        - >\n          run\n            --flag\n        env:\n        - name: X\n          value: >\n            one\n              two\n";
    let (_tmp, repo) = new_repo();
    write_and_commit(
        &repo,
        &[
            ("plain/config.yaml", config.as_str()),
            ("plain/deployment.yaml", deployment),
            ("rendered/config.yaml", config.as_str()),
            ("rendered/deployment.yaml", deployment),
            (
                "rendered/kustomization.yaml",
                "resources: [config.yaml, deployment.yaml]\n",
            ),
        ],
        "folded",
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
    let (plain, rendered) = (keyed(&plain.objects), keyed(&rendered.objects));
    assert_eq!(plain.len(), 2);
    for ((.., p), (.., r)) in plain.iter().zip(&rendered) {
        assert_eq!(p, r, "plain file vs kubectl kustomize");
    }
    // The cluster holds kustomize's string, one line break more than the spec's.
    let (deployment, config) = (&rendered[0].4, &rendered[1].4);
    assert_eq!(config["data"]["b"], "x\n\n  y\nz");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "run\n\n  --flag\n"
    );
    assert_eq!(config["data"]["c"], "literal\n  kept\n");
}
