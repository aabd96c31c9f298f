//! The fleet of `fleet.rs` going wrong, one Kustomization at a time: two Kustomizations
//! declaring one key, strict substitution as the repository's own kustomize-controller runs it,
//! and a `substituteFrom` naming an object Git lacks. Each failure stays in its Kustomization.

use super::fleet::{fleet, flux_source, ks};
use super::*;

#[test]
fn a_key_two_kustomizations_declare_fails_the_newer_one() {
    let Some((_tmp, repo, first)) = fleet() else {
        return;
    };
    let mut declarer = Declarer::default();
    read(&flux_source(&repo, &first), &mut declarer).expect("loads");
    // `a-web` builds web's path with other labels: the same keys, another declaration.
    let copy = ks(
        "a-web",
        "  targetNamespace: web\n  path: ./apps/web/app\n  commonMetadata:\n    labels:\n      copy: \"yes\"\n  components:\n    - ../../../components/common\n    - ../../../components/volsync\n",
        "      CLAIM: web-data\n",
    )
    .replace("  path: ./apps/a-web/app\n", "");
    let dup = write_and_commit(
        &repo,
        &[
            ("apps/a-web/ks.yaml", copy.as_str()),
            ("apps/kustomization.yaml", "resources:\n- web/ks.yaml\n- db/ks.yaml\n- jobs/ks.yaml\n- broken/ks.yaml\n- a-web/ks.yaml\n"),
        ],
        "a copy of web",
    );
    let failed = |state: &SourceState| -> Vec<(String, String)> {
        state
            .findings
            .failed_builds
            .iter()
            .filter(|f| f.message.contains("is also declared by"))
            .map(|f| (f.build.clone(), f.message.clone()))
            .collect()
    };
    // Following the repository: a-web is the newer one, though its name sorts first.
    let state = read(&flux_source(&repo, &dup), &mut declarer).expect("loads");
    let dups = failed(&state);
    assert_eq!(dups.len(), 1, "{dups:?}");
    assert_eq!(dups[0].0, "Flux Kustomization flux-system/a-web");
    assert!(
        dups[0].1.contains("Flux Kustomization flux-system/web"),
        "{dups:?}"
    );
    Snapshot::build(vec![state]).expect("the snapshot builds");
    // A first load cannot tell which is newer: the name that sorts later fails.
    let state = read(&flux_source(&repo, &dup), &mut Declarer::default()).expect("loads");
    let dups = failed(&state);
    assert_eq!(dups.len(), 1, "{dups:?}");
    assert_eq!(dups[0].0, "Flux Kustomization flux-system/web");
    assert!(dups[0].1.contains("flux-system/a-web"), "{dups:?}");
}

const INSTANCE: &str = "apiVersion: fluxcd.controlplane.io/v1
kind: FluxInstance
metadata:
  name: flux
  namespace: flux-system
spec:
  distribution:
    version: \"2.x\"
    registry: ghcr.io/fluxcd
  sync:
    kind: GitRepository
    url: https://github.com/example/fleet
    ref: refs/heads/main
    path: clusters/staging
  kustomize:
    patches:
      - target:
          kind: Deployment
          name: kustomize-controller
        patch: |
          - op: add
            path: /spec/template/spec/containers/0/args/-
            value: --feature-gates=StrictPostBuildSubstitutions=true
";

/// A cluster run by the Flux Operator (a `FluxInstance`, no `flux-system` Kustomization in Git)
/// whose kustomize-controller substitutes strictly: an unset variable without a default fails
/// that Kustomization, and only it.
#[test]
fn strict_substitution_follows_the_repository_and_fails_only_its_kustomization() {
    let Some((_tmp, repo, _)) = fleet() else {
        return;
    };
    let staging = |name: &str, app: &str, extra: &str| {
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./apps/{app}/app\n  prune: true\n  targetNamespace: {name}\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n{extra}  postBuild:\n    substitute:\n      APP: {app}\n"
        )
    };
    let rev = write_and_commit(
        &repo,
        &[
            ("clusters/staging/flux-instance.yaml", INSTANCE),
            (
                "clusters/staging/web.yaml",
                &staging(
                    "web-staging",
                    "web",
                    "  components:\n    - ../../../components/common\n    - ../../../components/volsync\n",
                ),
            ),
            ("clusters/staging/jobs.yaml", &staging("jobs-staging", "jobs", "")),
        ],
        "staging",
    );
    let src = source(
        &repo,
        &rev,
        &["clusters/staging"],
        json!({"discover": "flux"}),
    );
    let state = read(&src, &mut Declarer::default()).expect("loads");
    let failed: Vec<(&str, &str)> = state
        .findings
        .failed_builds
        .iter()
        .map(|f| (f.build.as_str(), f.message.as_str()))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "Flux Kustomization flux-system/web-staging");
    assert!(
        failed[0].1.contains("variable not set (strict mode)"),
        "{failed:?}"
    );
    assert_eq!(
        (state.errors[0].file.as_str(), state.errors[0].line),
        ("clusters/staging/web.yaml", 1)
    );
    // The other Kustomization substitutes every variable it uses, and is declared.
    assert!(state.objects.iter().any(|o| o.kind == "CronJob"
        && o.value.name() == "jobs-report"
        && o.value.namespace() == Some("jobs-staging")));
    // The FluxInstance's path is built as a path: its objects are declared once.
    assert!(state.objects.iter().any(|o| o.kind == "FluxInstance"));
    Snapshot::build(vec![state]).expect("no duplicates");
    // The same Kustomization where the controller is not strict: `${TIMEZONE}` becomes empty,
    // which YAML reads as null, as Flux applies it.
    let lenient = INSTANCE.split("  kustomize:\n").next().expect("head");
    let rev = write_and_commit(
        &repo,
        &[("clusters/staging/flux-instance.yaml", lenient)],
        "default feature gates",
    );
    let src = source(
        &repo,
        &rev,
        &["clusters/staging"],
        json!({"discover": "flux"}),
    );
    let state = read(&src, &mut Declarer::default()).expect("loads");
    assert!(state.errors.is_empty(), "{:?}", state.errors);
    let web = state
        .objects
        .iter()
        .find(|o| o.kind == "Deployment" && o.value.namespace() == Some("web-staging"))
        .expect("web-staging declared")
        .value
        .parse()
        .expect("json");
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["env"][0],
        json!({"name": "TZ", "value": null})
    );
}

/// A `substituteFrom` naming a ConfigMap Git does not declare fails that Kustomization alone,
/// named; declared by another Kustomization found in the same round, it is waited for.
#[test]
fn substitute_from_an_object_git_lacks_fails_only_that_kustomization() {
    let Some((_tmp, repo, _)) = fleet() else {
        return;
    };
    let web = std::fs::read_to_string(repo.join("apps/web/ks.yaml")).expect("read");
    let web = web.replace("name: cluster-settings", "name: web-settings");
    let rev = write_and_commit(
        &repo,
        &[("apps/web/ks.yaml", &web)],
        "web reads web-settings",
    );
    let state = read(&flux_source(&repo, &rev), &mut Declarer::default()).expect("loads");
    let web_error = state
        .errors
        .iter()
        .find(|e| e.file == "apps/web/ks.yaml")
        .unwrap_or_else(|| panic!("{:?}", state.errors));
    assert_eq!(web_error.line, 1);
    assert!(
        web_error
            .message
            .contains("ConfigMap flux-system/web-settings is not declared in Git"),
        "{web_error:?}"
    );
    assert_eq!(state.errors.len(), 2, "web and broken: {:?}", state.errors);
    assert!(
        state.objects.iter().any(|o| o.kind == "StatefulSet"),
        "db still declared"
    );

    // Declared by a sibling Kustomization: found once that one is built.
    let settings = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: settings\n  namespace: flux-system\nspec:\n  path: ./settings\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n";
    let rev = write_and_commit(
        &repo,
        &[
            ("apps/settings.yaml", settings),
            ("apps/kustomization.yaml", "resources:\n- settings.yaml\n- web/ks.yaml\n- db/ks.yaml\n- jobs/ks.yaml\n"),
            ("settings/web.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\n  namespace: flux-system\ndata:\n  DOMAIN: web.example.org\n  TIMEZONE: UTC\n"),
        ],
        "web-settings declared",
    );
    let state = read(&flux_source(&repo, &rev), &mut Declarer::default()).expect("loads");
    assert!(state.errors.is_empty(), "{:?}", state.errors);
    let ingress = state
        .objects
        .iter()
        .find(|o| o.kind == "Ingress")
        .expect("web declared")
        .value
        .parse()
        .expect("json");
    assert_eq!(
        ingress["spec"]["rules"][0]["host"],
        "web.prod.web.example.org"
    );
}
