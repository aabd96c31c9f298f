//! Rendered objects on a fixture with what the corpus lacks: `images:` and `replicas:`
//! entries, a component, a patch, a file only one overlay reads, a base shared by two
//! overlays, and Flux `postBuild` variables. Generated edits go round the loop, and the other
//! overlay (another cluster) must render exactly as before.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};

use super::plain::{edit, review_for};
use super::*;
use common::{kubectl, GitRepo};

const BASE_DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        args: [\"--port\", \"80\"]
        env:
        - name: MODE
          value: base
        resources:
          limits:
            cpu: 500m
";

/// The fixture: `apps/base` shared by `apps/staging` and `apps/production`; production adds
/// a patch, a component, its own file, `images:` and `replicas:`; `clusters/production`
/// holds a Flux Kustomization building `apps/flux-app` with variables.
pub fn fixture() -> GitRepo {
    let repo = GitRepo::new();
    repo.write("apps/base/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: shop\nresources:\n- deployment.yaml\n- service.yaml\n- settings.yaml\n");
    repo.write("apps/base/deployment.yaml", BASE_DEPLOYMENT);
    repo.write("apps/base/service.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n    targetPort: 8080\n");
    repo.write("apps/base/settings.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: base\n  retries: \"3\"\n");
    repo.write("apps/staging/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../base\nimages:\n- name: nginx\n  newTag: \"1.26\"\nreplicas:\n- name: web\n  count: 1\n");
    repo.write(
        "apps/production/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../base\n- extra.yaml\ncomponents:\n- ../../components/audit\nimages:\n- name: nginx\n  newTag: \"1.27\"  # pinned for the launch\nreplicas:\n- name: web\n  count: 5\npatches:\n- path: web-patch.yaml\n",
    );
    repo.write("apps/production/web-patch.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        env:\n        - name: MODE\n          value: production\n");
    repo.write("apps/production/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: shop\ndata:\n  only: production\n");
    repo.write("components/audit/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n- patch: |-\n    apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: settings\n    data:\n      audit: \"on\"\n");
    repo.write(
        "clusters/production/apps.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: flux-app\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./apps/flux-app\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  postBuild:\n    substitute:\n      API_REPLICAS: \"3\"\n      GREETING: hello\n      REGION: eu-west-1\n",
    );
    repo.write("apps/flux-app/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: api\nresources:\n- deployment.yaml\n");
    repo.write(
        "apps/flux-app/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  labels:\n    region: ${REGION}\nspec:\n  replicas: ${API_REPLICAS}\n  selector:\n    matchLabels:\n      app: api\n  template:\n    metadata:\n      labels:\n        app: api\n    spec:\n      containers:\n      - name: api\n        image: ghcr.io/example/api:2.0.0\n        env:\n        - name: GREETING\n          value: ${GREETING}\n        - name: ZONE\n          value: ${REGION}-a\n",
    );
    repo.commit("apps");
    repo
}

fn production(repo: &Path) -> Config {
    config(repo, &["apps/production"], "unmanaged: deny")
}

fn staging(repo: &Path) -> Config {
    config(repo, &["apps/staging"], "")
}

fn flux(repo: &Path) -> Config {
    let text = format!(
        "sources:\n  - name: fleet\n    url: {:?}\n    paths: [clusters/production]\n    discover: flux\n",
        repo.display().to_string()
    );
    Config::from_yaml(&text, "test config").expect("valid config")
}

fn diff_of(trip: Result<Trip, String>) -> String {
    match trip {
        Ok(Trip::Changed(s)) => s.diff(),
        other => panic!("expected a change: {other:?}"),
    }
}

#[test]
fn each_value_is_changed_where_it_comes_from() {
    if !kubectl() {
        return;
    }
    let repo = fixture();
    let base = repo.git(&["rev-parse", "HEAD"]);
    let (prod, stage) = (production(repo.path()), staging(repo.path()));
    let web = ObjectKey::new("apps", "Deployment", "shop", "web");
    let git = declared(&load(&prod), &web);
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
    let update = |path: &[Step], v: Value| {
        review(
            "UPDATE",
            "alice@example.com",
            &edited(&live(&git), path, Some(v)),
            &live(&git),
        )
    };
    let reset = || {
        repo.git(&["reset", "-q", "--hard", &base]);
    };
    // The diff suggested for `review` on production, staging watched (never changed).
    let suggested = |review: &Value| {
        diff_of(round_trip_watching(
            repo.path(),
            &prod,
            review,
            std::slice::from_ref(&stage),
        ))
    };
    // The overlay's images: entry.
    let d = suggested(&update(&container("image"), json!("nginx:1.28")));
    assert!(d.contains("-  newTag: \"1.27\"  # pinned for the launch\n+  newTag: \"1.28\"  # pinned for the launch\n"), "{d}");
    reset();
    let d = suggested(&update(
        &container("image"),
        json!("registry.example.com/nginx@sha256:abc"),
    ));
    assert!(
        d.contains("+  newName: registry.example.com/nginx\n")
            && d.contains("+  digest: sha256:abc\n"),
        "{d}"
    );
    reset();
    // The overlay's replicas: entry, by `kubectl scale`.
    let d = suggested(&scale_review("shop", "web", 5, 9));
    assert!(d.contains("-  count: 5\n+  count: 9\n"), "{d}");
    reset();
    // The overlay's patch.
    let mut env = container("env");
    env.extend([
        Step::Select(vec![("name".into(), "MODE".into())]),
        Step::Key("value".into()),
    ]);
    let d = suggested(&update(&env, json!("debug")));
    assert!(
        d.contains("a/apps/production/web-patch.yaml") && d.contains("+          value: debug\n"),
        "{d}"
    );
    reset();
    // The shared base: a patch of this overlay (extended), never the base.
    let d = suggested(&update(&container("args"), json!(["--port", "81"])));
    assert!(!d.contains("apps/base/"), "{d}");
    assert!(
        d.contains("a/apps/production/web-patch.yaml") && d.contains("args:"),
        "{d}"
    );
    reset();
    // A file only this overlay reads.
    let extra = ObjectKey::new("", "ConfigMap", "shop", "extra");
    let git_extra = declared(&load(&prod), &extra);
    let path = [Step::Key("data".into()), Step::Key("only".into())];
    let r = review(
        "UPDATE",
        "alice@example.com",
        &edited(&git_extra, &path, Some(json!("changed"))),
        &git_extra,
    );
    let d = suggested(&r);
    assert!(
        d.contains("a/apps/production/extra.yaml") && d.contains("+  only: changed\n"),
        "{d}"
    );
    reset();
    // A DELETE of a shared base's object: a `$patch: delete` in the overlay.
    let settings = ObjectKey::new("", "ConfigMap", "shop", "settings");
    let git_settings = declared(&load(&prod), &settings);
    let d = suggested(&review(
        "DELETE",
        "alice@example.com",
        &Value::Null,
        &git_settings,
    ));
    assert!(
        d.contains("$patch: delete") && d.contains("a/apps/production/kustomization.yaml"),
        "{d}"
    );
    reset();
    // A DELETE of the overlay's own file: the file goes with its resources: entry.
    let d = suggested(&review(
        "DELETE",
        "alice@example.com",
        &Value::Null,
        &git_extra,
    ));
    assert!(
        d.contains("deleted file mode 100644\n--- a/apps/production/extra.yaml")
            && d.contains("-- extra.yaml\n"),
        "{d}"
    );
    reset();
    // A CREATE in the overlay's namespace: a new file listed in its kustomization.
    let new = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fresh", "namespace": "shop", "uid": "u"}, "data": {"k": "v"}});
    let d = suggested(&review("CREATE", "alice@example.com", &new, &Value::Null));
    assert!(
        d.contains("+++ b/apps/production/configmap-fresh.yaml")
            && d.contains("+- configmap-fresh.yaml\n"),
        "{d}"
    );
}

#[test]
fn flux_variables_are_named_and_changed_where_defined() {
    if !kubectl() {
        return;
    }
    let repo = fixture();
    let cfg = flux(repo.path());
    let api = ObjectKey::new("apps", "Deployment", "api", "api");
    let git = declared(&load(&cfg), &api);
    assert_eq!(git["spec"]["replicas"], json!(3));
    // A variable only this value uses: its substitute entry.
    let d = diff_of(round_trip(
        repo.path(),
        &cfg,
        &scale_review("api", "api", 3, 4),
    ));
    assert!(
        d.contains("a/clusters/production/apps.yaml")
            && d.contains("-      API_REPLICAS: \"3\"\n+      API_REPLICAS: \"4\"\n"),
        "{d}"
    );
    // A variable two values use: declined, naming it and where it is set.
    let path = [
        Step::Key("metadata".into()),
        Step::Key("labels".into()),
        Step::Key("region".into()),
    ];
    let git = declared(&load(&cfg), &api);
    let r = review(
        "UPDATE",
        "alice@example.com",
        &edited(&live(&git), &path, Some(json!("us-east-1"))),
        &live(&git),
    );
    let err = round_trip(repo.path(), &cfg, &r).expect_err("declined");
    assert!(
        err.contains("${REGION}") && err.contains("flux-system/flux-app"),
        "{err}"
    );
}

static CHANGED: AtomicUsize = AtomicUsize::new(0);
static ALLOWED: AtomicUsize = AtomicUsize::new(0);

#[test]
fn generated_edits_round_trip_on_overlays() {
    if !kubectl() {
        return;
    }
    let repo = fixture();
    let base = repo.git(&["rev-parse", "HEAD"]);
    let (prod, stage) = (production(repo.path()), staging(repo.path()));
    let keys: Vec<ObjectKey> = {
        let mut k: Vec<ObjectKey> = load(&prod).objects().map(|o| o.key.clone()).collect();
        k.sort();
        k
    };
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 25,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let result = runner.run(&(any::<prop::sample::Index>(), edit()), |(which, edit)| {
        repo.git(&["reset", "-q", "--hard", &base]);
        repo.git(&["clean", "-qfd"]);
        let key = &keys[which.index(keys.len())];
        let Some(review) = review_for(&edit, key, &load(&prod)) else {
            return Ok(());
        };
        match round_trip_watching(repo.path(), &prod, &review, std::slice::from_ref(&stage)) {
            Ok(Trip::Changed(_)) => CHANGED.fetch_add(1, Ordering::Relaxed),
            Ok(Trip::AlreadyAllowed) => ALLOWED.fetch_add(1, Ordering::Relaxed),
            Err(e) => return Err(TestCaseError::fail(format!("{key} {edit:?}: {e}"))),
        };
        Ok(())
    });
    let (changed, allowed) = (
        CHANGED.load(Ordering::Relaxed),
        ALLOWED.load(Ordering::Relaxed),
    );
    eprintln!("overlay fixture: {changed} edits changed Git and round-tripped (staging unchanged), {allowed} were allowed as they were");
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(changed >= 10, "only {changed} edits made a change");
}

/// Every declared field of the production Deployment removed, one at a time: each goes where
/// its value comes from (an `images:` or `replicas:` entry dropped, with the base's value
/// removed in the overlay; an atomic selector written whole by a JSON 6902 `replace`, which a
/// strategic merge would merge into the old one), and staging renders as before.
#[test]
fn each_declared_field_removed_round_trips() {
    if !kubectl() {
        return;
    }
    let repo = fixture();
    let base = repo.git(&["rev-parse", "HEAD"]);
    let (prod, stage) = (production(repo.path()), staging(repo.path()));
    let web = ObjectKey::new("apps", "Deployment", "shop", "web");
    let git = declared(&load(&prod), &web);
    let mut all = Vec::new();
    super::plain::paths(&git, &mut Vec::new(), &mut all);
    let (mut removed, mut checked) = (0, 0);
    for (path, _) in all.iter().filter(|(p, _)| p.len() >= 2) {
        repo.git(&["reset", "-q", "--hard", &base]);
        repo.git(&["clean", "-qfd"]);
        let r = review(
            "UPDATE",
            "alice@example.com",
            &edited(&live(&git), path, None),
            &live(&git),
        );
        let shown = value::display(path);
        let d = match round_trip_watching(repo.path(), &prod, &r, std::slice::from_ref(&stage)) {
            Ok(Trip::Changed(s)) => s.diff(),
            other => panic!("{shown} removed: {other:?}"),
        };
        removed += 1;
        checked += 1;
        match shown.as_str() {
            "spec.replicas" => assert!(
                d.contains("-replicas:\n-- name: web\n-  count: 5\n")
                    && d.contains("op: remove")
                    && d.contains("path: /spec/replicas"),
                "{shown}: {d}"
            ),
            "spec.template.spec.containers[name=web].image" => assert!(
                d.contains("-images:\n-- name: nginx\n") && d.contains("op: remove"),
                "{shown}: {d}"
            ),
            "spec.selector.matchLabels.app" => assert!(
                d.contains("op: replace") && d.contains("path: /spec/selector"),
                "{shown}: {d}"
            ),
            _ => checked -= 1,
        }
    }
    assert!(removed >= 20, "only {removed} fields removed");
    assert_eq!(
        checked, 3,
        "the entry and atomic cases were not among the fields"
    );
}
