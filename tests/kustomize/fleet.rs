//! A Flux repository in the shape of the large public ones: a cluster path bootstrapped with a
//! `flux-system` sync, an `apps` Kustomization substituting cluster settings into each app's
//! `ks.yaml`, apps using shared components (`../../../components/...`), nested defaults
//! (`${CLAIM:-${APP}}`), a generated kustomization, a label-disabled substitution, and one app
//! that cannot build. The declared state is compared object for object with `reference`.

use super::reference::{assert_same, export, flux_build, Expect};
use super::*;

const GOTK: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: flux-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kustomize-controller
  namespace: flux-system
spec:
  selector:
    matchLabels:
      app: kustomize-controller
  template:
    metadata:
      labels:
        app: kustomize-controller
    spec:
      containers:
      - name: manager
        image: ghcr.io/fluxcd/kustomize-controller:v1.4.0
        args:
        - --watch-all-namespaces=true
";

const SYNC: &str = "apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m
  url: ssh://git@github.com/example/fleet
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m
  path: ./clusters/prod
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
";

const APPS: &str = "apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps
  prune: true
  dependsOn:
    - name: infrastructure
  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substitute:
      CLUSTER: prod
    substituteFrom:
      - kind: ConfigMap
        name: cluster-settings
      - kind: Secret
        name: cluster-secrets
        optional: true
";

const SETTINGS: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-settings
  namespace: flux-system
data:
  DOMAIN: example.com
  TIMEZONE: Europe/Paris
";

/// A `ks.yaml` in the style of the large repositories (anchors, `dependsOn`, components).
pub fn ks(name: &str, extra: &str, substitute: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: &app {name}
  namespace: flux-system
spec:
  interval: 30m
  path: ./apps/{name}/app
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  dependsOn:
    - name: flux-system
{extra}  postBuild:
    substitute:
      APP: *app
{substitute}"
    )
}

const WEB_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${APP}
  annotations:
    docs: literal $${NOT_SUBSTITUTED} stays
spec:
  replicas: ${REPLICAS:=2}
  selector:
    matchLabels:
      app: ${APP}
  template:
    metadata:
      labels:
        app: ${APP}
    spec:
      containers:
      - name: ${APP}
        image: ${IMAGE:=nginx:1.27}
        env:
        - name: TZ
          value: ${TIMEZONE}
        - name: CLUSTER
          value: ${CLUSTER:-unknown}
";

fn files() -> Vec<(&'static str, String)> {
    let web = ks(
        "web",
        "  targetNamespace: web\n  commonMetadata:\n    labels:\n      app.kubernetes.io/name: *app\n  components:\n    - ../../../components/common\n    - ../../../components/volsync\n",
        "      CLAIM: web-data\n      CLUSTER: ${CLUSTER}\n    substituteFrom:\n      - kind: ConfigMap\n        name: cluster-settings\n",
    );
    vec![
        ("clusters/prod/flux-system/gotk-components.yaml", GOTK.into()),
        ("clusters/prod/flux-system/gotk-sync.yaml", SYNC.into()),
        ("clusters/prod/flux-system/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- gotk-components.yaml\n- gotk-sync.yaml\n".into()),
        ("clusters/prod/apps.yaml", APPS.into()),
        ("clusters/prod/cluster-settings.yaml", SETTINGS.into()),
        ("apps/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- web/ks.yaml\n- db/ks.yaml\n- jobs/ks.yaml\n- broken/ks.yaml\n".into()),
        ("apps/web/ks.yaml", web),
        ("apps/web/app/kustomization.yaml", "resources:\n- deployment.yaml\n- service.yaml\n- ingress.yaml\n".into()),
        ("apps/web/app/deployment.yaml", WEB_DEPLOYMENT.into()),
        ("apps/web/app/service.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: ${APP}\nspec:\n  selector:\n    app: ${APP}\n  ports:\n  - port: 80\n".into()),
        ("apps/web/app/ingress.yaml", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: ${APP}\nspec:\n  rules:\n  - host: ${APP}.${CLUSTER}.${DOMAIN}\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: ${APP}\n            port:\n              number: 80\n".into()),
        ("apps/db/ks.yaml", ks("db", "  targetNamespace: db\n  namePrefix: ${CLUSTER}-\n  components:\n    - ../../../components/volsync\n", "")),
        ("apps/db/app/kustomization.yaml", "resources:\n- statefulset.yaml\n".into()),
        ("apps/db/app/statefulset.yaml", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: ${APP}\nspec:\n  serviceName: ${APP}\n  selector:\n    matchLabels:\n      app: ${APP}\n  template:\n    metadata:\n      labels:\n        app: ${APP}\n    spec:\n      containers:\n      - name: postgres\n        image: postgres:16\n".into()),
        ("apps/jobs/ks.yaml", ks("jobs", "  targetNamespace: jobs\n", "")),
        ("apps/jobs/app/cronjob.yaml", "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: ${APP}-report\nspec:\n  schedule: \"0 6 * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n          - name: report\n            image: busybox:1.36\n            command: [sh, /scripts/report.sh]\n".into()),
        ("apps/jobs/app/script.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: report-script\n  labels:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  report.sh: |\n    echo \"${HOME} ${@}\"\n".into()),
        ("apps/jobs/app/extra/kustomization.yaml", "resources:\n- cm.yaml\n".into()),
        ("apps/jobs/app/extra/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${APP}-extra\ndata:\n  owner: ${APP}\n".into()),
        ("apps/broken/ks.yaml", ks("broken", "  targetNamespace: broken\n", "")),
        ("apps/broken/app/kustomization.yaml", "resources:\n- deployment.yaml\n- missing.yaml\n".into()),
        ("apps/broken/app/deployment.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${APP}\nspec:\n  selector:\n    matchLabels:\n      app: ${APP}\n  template:\n    metadata:\n      labels:\n        app: ${APP}\n    spec:\n      containers:\n      - name: app\n        image: busybox:1.36\n".into()),
        ("components/common/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- networkpolicy.yaml\npatches:\n- target:\n    kind: Deployment\n  patch: |\n    - op: add\n      path: /metadata/labels\n      value:\n        team: platform\n".into()),
        ("components/common/networkpolicy.yaml", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: ${APP}-default-deny\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n".into()),
        ("components/volsync/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- pvc.yaml\n- replicationsource.yaml\n".into()),
        ("components/volsync/pvc.yaml", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: ${CLAIM:-${APP}}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: ${VOLSYNC_CAPACITY:=1Gi}\n".into()),
        ("components/volsync/replicationsource.yaml", "apiVersion: volsync.backube/v1alpha1\nkind: ReplicationSource\nmetadata:\n  name: ${APP}\nspec:\n  sourcePVC: ${CLAIM:-${APP}}\n  trigger:\n    schedule: \"0 * * * *\"\n  restic:\n    repository: ${APP}-volsync-secret\n    copyMethod: Snapshot\n".into()),
    ]
}

const SETTINGS_VARS: [(&str, &str); 2] = [("DOMAIN", "example.com"), ("TIMEZONE", "Europe/Paris")];

/// Every Kustomization of the fixture, as the test author reads it.
fn expected(with_broken: bool) -> Vec<Expect> {
    let mut out = vec![
        Expect {
            path: "clusters/prod",
            ..Expect::default()
        },
        Expect {
            path: "apps",
            vars: [&[("CLUSTER", "prod")][..], &SETTINGS_VARS].concat(),
            ..Expect::default()
        },
        Expect {
            path: "apps/web/app",
            target_namespace: Some("web"),
            components: vec!["../../../components/common", "../../../components/volsync"],
            vars: [
                &[("APP", "web"), ("CLAIM", "web-data"), ("CLUSTER", "prod")][..],
                &SETTINGS_VARS,
            ]
            .concat(),
            labels: vec![("app.kubernetes.io/name", "web")],
            ..Expect::default()
        },
        Expect {
            path: "apps/db/app",
            target_namespace: Some("db"),
            name_prefix: Some("prod-"),
            components: vec!["../../../components/volsync"],
            vars: vec![("APP", "db")],
            ..Expect::default()
        },
        Expect {
            path: "apps/jobs/app",
            target_namespace: Some("jobs"),
            vars: vec![("APP", "jobs")],
            ..Expect::default()
        },
    ];
    if with_broken {
        out.push(Expect {
            path: "apps/broken/app",
            target_namespace: Some("broken"),
            vars: vec![("APP", "broken")],
            ..Expect::default()
        });
    }
    out
}

fn reference(repo: &Path, rev: &str, with_broken: bool) -> Vec<Value> {
    let tree = export(repo, rev);
    expected(with_broken)
        .iter()
        .flat_map(|e| flux_build(tree.path(), e))
        .collect()
}

fn declared(state: &SourceState) -> Vec<Value> {
    state
        .objects
        .iter()
        .map(|o| o.value.parse().expect("json"))
        .collect()
}

pub fn fleet() -> Option<(tempfile::TempDir, PathBuf, String)> {
    if !kubectl() {
        return None;
    }
    let (tmp, repo) = new_repo();
    let owned = files();
    let files: Vec<(&str, &str)> = owned.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let rev = write_and_commit(&repo, &files, "fleet");
    Some((tmp, repo, rev))
}

pub fn flux_source(repo: &Path, rev: &str) -> Source {
    source(repo, rev, &["clusters/prod"], json!({"discover": "flux"}))
}

#[test]
fn fleet_declares_what_kustomize_controller_applies_and_isolates_the_broken_app() {
    let Some((_tmp, repo, first)) = fleet() else {
        return;
    };
    let mut declarer = Declarer::default();
    let state = read(&flux_source(&repo, &first), &mut declarer).expect("the source loads");
    assert_same(
        declared(&state),
        reference(&repo, &first, false),
        "first load",
    );
    // 6 objects of the cluster path, 4 Kustomizations, web 6, db 3, jobs 3; broken none.
    assert_eq!(state.objects.len(), 22);
    let web = |kind: &str| {
        state
            .objects
            .iter()
            .find(|o| o.kind == kind && o.value.namespace() == Some("web"))
            .map(|o| o.value.parse().expect("json"))
            .unwrap_or_else(|| panic!("no {kind} in web"))
    };
    let ingress = web("Ingress");
    assert_eq!(ingress["spec"]["rules"][0]["host"], "web.prod.example.com");
    let deployment = web("Deployment");
    assert_eq!(
        deployment["metadata"]["annotations"]["docs"],
        "literal ${NOT_SUBSTITUTED} stays"
    );
    assert_eq!(
        deployment["metadata"]["labels"]["team"], "platform",
        "component patch"
    );
    assert_eq!(
        deployment["metadata"]["labels"]["app.kubernetes.io/name"],
        "web"
    );
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "Europe/Paris"
    );
    // Nested defaults keep two apps' claims apart; the disabled script is left as written.
    let pvcs: Vec<String> = state
        .objects
        .iter()
        .filter(|o| o.kind == "PersistentVolumeClaim")
        .map(|o| o.value.name().to_string())
        .collect();
    assert_eq!(pvcs.len(), 2, "{pvcs:?}");
    assert!(
        pvcs.contains(&"web-data".into()) && pvcs.contains(&"prod-db".into()),
        "{pvcs:?}"
    );
    let script = state
        .objects
        .iter()
        .find(|o| o.value.name() == "report-script")
        .expect("script");
    assert!(script.value.parse().expect("json")["data"]["report.sh"]
        .as_str()
        .is_some_and(|s| s.contains("${HOME} ${@}")));
    // Only the broken app fails, at its Kustomization's file and line.
    assert_eq!(state.errors.len(), 1, "{:?}", state.errors);
    let error = &state.errors[0];
    assert_eq!(
        (error.file.as_str(), error.line),
        ("apps/broken/ks.yaml", 1)
    );
    assert!(
        error
            .message
            .starts_with("Flux Kustomization flux-system/broken: "),
        "{error:?}"
    );
    assert!(error.message.contains("missing.yaml"), "{error:?}");
    assert_eq!(state.findings.failed_builds.len(), 1);
    // Provenance: the file that declares the object, and the Kustomization that builds it.
    let pvc = state
        .objects
        .iter()
        .find(|o| o.value.name() == "web-data")
        .expect("claim");
    assert_eq!(&*pvc.file, "components/volsync/pvc.yaml");
    let snapshot = Snapshot::build(vec![state.clone()]).expect("no duplicates");
    let declared_pvc = snapshot
        .objects()
        .find(|o| o.key.name == "web-data")
        .expect("claim declared");
    assert_eq!(declared_pvc.key.namespace, "web");
    assert!(
        declared_pvc.location().starts_with(
            "fleet: components/volsync/pvc.yaml:1 (Flux Kustomization flux-system/web at apps/web/ks.yaml:1"
        ),
        "{}",
        declared_pvc.location()
    );

    // Fixed, the app appears; the others are unchanged.
    let fixed = write_and_commit(
        &repo,
        &[(
            "apps/broken/app/missing.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${APP}-found\n",
        )],
        "fix broken",
    );
    let state = read(&flux_source(&repo, &fixed), &mut declarer).expect("loads");
    assert!(state.errors.is_empty(), "{:?}", state.errors);
    assert_same(declared(&state), reference(&repo, &fixed, true), "fixed");

    // Broken again while web moves on: web advances, broken keeps its last good objects, stale.
    let again = write_and_commit(
        &repo,
        &[
            (
                "apps/broken/app/kustomization.yaml",
                "resources:\n- deployment.yaml\n- missing.yaml\n- gone.yaml\n",
            ),
            (
                "apps/web/app/deployment.yaml",
                &WEB_DEPLOYMENT.replace("${REPLICAS:=2}", "${REPLICAS:=3}"),
            ),
        ],
        "break broken again",
    );
    let state = read(&flux_source(&repo, &again), &mut declarer).expect("loads");
    assert_eq!(state.errors.len(), 1, "{:?}", state.errors);
    let stale: Vec<&str> = state
        .objects
        .iter()
        .filter(|o| o.stale)
        .map(|o| o.value.name())
        .collect();
    assert_eq!(stale.len(), 2, "{stale:?}");
    assert!(
        stale.contains(&"broken") && stale.contains(&"broken-found"),
        "{stale:?}"
    );
    let web = state
        .objects
        .iter()
        .find(|o| o.kind == "Deployment" && o.value.name() == "web")
        .expect("web");
    assert!(!web.stale);
    assert_eq!(
        web.value.parse().expect("json")["spec"]["replicas"],
        json!(3)
    );
    let fresh = state
        .objects
        .iter()
        .filter(|o| !o.stale)
        .map(|o| o.value.parse().expect("json"))
        .collect();
    assert_same(fresh, reference(&repo, &again, false), "broken again");
}
