//! Plain repositories: generated edits of declared objects (scalar changes, additions inside
//! declared maps, removals, list-map elements, images, atomic lists, replicas by `scale`,
//! deletes, creates of undeclared objects), each taken round the loop.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};

use super::*;
use common::GitRepo;

pub const WEB: &str = "\
# The shop's web front end.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web, tier: \"front\"}
  annotations:
    owner: team-shop   # who to call
spec:
  replicas: 3
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
          image: 'nginx:1.25'
          args: [\"--port\", \"80\"]
          ports:
            - containerPort: 80
              protocol: TCP
          env:
            - name: MODE
              value: \"production\"
            - name: WORKERS
              value: \"4\"
          resources:
            limits: {cpu: 500m, memory: 256Mi}
        - name: log
          image: busybox:1.36
          command: [sh, -c, \"tail -f /var/log/app.log\"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
";

const CONFIG: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  # feature switches
  mode: \"on\"
  retries: \"3\"
  nginx.conf: |
    server {
      listen 80;
    }
";

const LIST: &str = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ServiceAccount
  metadata:
    name: web
    namespace: shop
    labels: {app: web}
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: flags
    namespace: shop
  data: {a: \"1\", b: \"2\"}
";

const ANCHORED: &str = "\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: shop
  labels: &labels
    app: db
spec:
  replicas: 1
  serviceName: db
  selector:
    matchLabels: *labels
  template:
    metadata:
      labels: *labels
    spec:
      containers:
      - name: db
        image: postgres:16
";

/// The fixture: comments, flow maps, quoting styles, a `kind: List`, CRLF endings, anchors,
/// several documents in one file.
pub fn shop_repo() -> GitRepo {
    let repo = GitRepo::new();
    repo.write(
        "namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    team: shop\n",
    );
    repo.write("apps/web.yaml", WEB);
    repo.write("apps/config.yaml", CONFIG);
    repo.write("apps/list.yaml", LIST);
    repo.write("apps/db.yaml", ANCHORED);
    repo.write(
        "apps/crlf.yaml",
        &"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: crlf\n  namespace: shop\ndata:\n  k: v # windows\n  n: \"1\"\n".replace('\n', "\r\n"),
    );
    repo.commit("shop");
    repo
}

/// Declared paths of a value, with list elements by their merge key where they have one.
pub fn paths(value: &Value, at: &mut Vec<Step>, out: &mut Vec<(Vec<Step>, Value)>) {
    out.push((at.clone(), value.clone()));
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let top = at.is_empty();
                if top && matches!(k.as_str(), "apiVersion" | "kind" | "status") {
                    continue;
                }
                if at.len() == 1 && matches!(k.as_str(), "name" | "namespace") {
                    continue;
                }
                at.push(Step::Key(k.clone()));
                paths(v, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            let field = match at.last() {
                Some(Step::Key(k)) if matches!(k.as_str(), "containers" | "env") => Some("name"),
                Some(Step::Key(k)) if k == "ports" => items
                    .iter()
                    .all(|i| i.get("containerPort").is_some())
                    .then_some("containerPort")
                    .or(Some("port")),
                _ => None,
            };
            for (i, v) in items.iter().enumerate() {
                let step = match field.and_then(|f| Some((f, v.get(f)?))) {
                    Some((f, key)) => Step::Select(vec![(
                        f.to_string(),
                        key.to_string().trim_matches('"').to_string(),
                    )]),
                    None => Step::Index(i),
                };
                at.push(step);
                paths(v, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
pub enum Edit {
    Set(prop::sample::Index, Value),
    Remove(prop::sample::Index),
    AddKey(prop::sample::Index, String, Value),
    Image(String),
    Args(Vec<String>),
    Scale(i64),
    Delete,
    Create(String),
}

pub fn new_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-z][a-z0-9.-]{0,10}".prop_map(Value::from),
        (0i64..50).prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        prop_oneof![
            Just("yes"),
            Just("0777"),
            Just("1.0"),
            Just("a: b"),
            Just("x\ny\n"),
            Just("")
        ]
        .prop_map(Value::from),
    ]
}

pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        5 => (any::<prop::sample::Index>(), new_scalar()).prop_map(|(i, v)| Edit::Set(i, v)),
        3 => any::<prop::sample::Index>().prop_map(Edit::Remove),
        2 => (any::<prop::sample::Index>(), "[a-z]{1,8}", new_scalar()).prop_map(|(i, k, v)| Edit::AddKey(i, k, v)),
        2 => "nginx:1\\.2[6-9]".prop_map(Edit::Image),
        1 => prop::collection::vec("--[a-z]{1,6}", 0..4).prop_map(Edit::Args),
        2 => (0i64..20).prop_map(Edit::Scale),
        1 => Just(Edit::Delete),
        1 => "[a-z]{3,8}".prop_map(Edit::Create),
    ]
}

/// `new` as a value of the type `was` has (an apiserver refuses a string for an integer).
fn of_type(new: &Value, was: &Value) -> Value {
    match (was, new) {
        (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::String(_), Value::String(_)) => new.clone(),
        (Value::Number(_), other) => json!(other.to_string().len()),
        (Value::Bool(b), _) => json!(!b),
        (_, other) => json!(other.to_string()),
    }
}

/// The review an edit makes, against the object `key` of `snapshot`.
pub fn review_for(edit: &Edit, key: &ObjectKey, snapshot: &Snapshot) -> Option<Value> {
    let git = declared(snapshot, key);
    let old = live(&git);
    let mut all = Vec::new();
    paths(&git, &mut Vec::new(), &mut all);
    all.retain(|(p, _)| !p.is_empty());
    let update = |new: Value| review("UPDATE", "alice@example.com", &new, &old);
    let web_container = || {
        vec![
            Step::Key("spec".into()),
            Step::Key("template".into()),
            Step::Key("spec".into()),
            Step::Key("containers".into()),
            Step::Select(vec![("name".into(), "web".into())]),
        ]
    };
    // Edits a Kubernetes object can have: scalars changed, fields below the top removed
    // (but not a name, a kind or an apiVersion, without which it is not an object).
    let leaves: Vec<&Vec<Step>> = all
        .iter()
        .filter(|(_, v)| !v.is_object() && !v.is_array())
        .map(|(p, _)| p)
        .collect();
    let required = |p: &Vec<Step>| matches!(p.last(), Some(Step::Key(k)) if matches!(k.as_str(), "name" | "kind" | "apiVersion"));
    let below_top: Vec<&Vec<Step>> = all
        .iter()
        .filter(|(p, _)| p.len() >= 2 && !required(p))
        .map(|(p, _)| p)
        .collect();
    Some(match edit {
        Edit::Set(i, v) => {
            let path = leaves.get(i.index(leaves.len().max(1)))?;
            let was = value::get(&git, path)?;
            update(edited(&old, path, Some(of_type(v, was))))
        }
        Edit::Remove(i) => {
            let path = below_top.get(i.index(below_top.len().max(1)))?;
            update(edited(&old, path, None))
        }
        Edit::AddKey(i, k, v) => {
            let maps: Vec<&Vec<Step>> = all
                .iter()
                .filter(|(_, v)| v.is_object())
                .map(|(p, _)| p)
                .collect();
            let mut path = maps.get(i.index(maps.len().max(1)))?.to_vec();
            path.push(Step::Key(k.clone()));
            update(edited(&old, &path, Some(v.clone())))
        }
        Edit::Image(image) if key.name == "web" && key.kind == "Deployment" => {
            let mut path = web_container();
            path.push(Step::Key("image".into()));
            update(edited(&old, &path, Some(json!(image))))
        }
        Edit::Args(args) if key.name == "web" && key.kind == "Deployment" => {
            let mut path = web_container();
            path.push(Step::Key("args".into()));
            update(edited(&old, &path, Some(json!(args))))
        }
        Edit::Scale(n) if key.kind == "Deployment" => {
            scale_review(&key.namespace, &key.name, 3, *n)
        }
        Edit::Delete => review("DELETE", "alice@example.com", &Value::Null, &old),
        // A ConfigMap Git does not declare, in the namespace of the object picked.
        Edit::Create(name) if !key.namespace.is_empty() => {
            let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("new-{name}"), "namespace": key.namespace, "uid": "x", "resourceVersion": "1",
                    "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{"manager": "kubectl"}]},
                "data": {"greeting": "hello", "enabled": "yes"}});
            review("CREATE", "alice@example.com", &object, &Value::Null)
        }
        _ => return None,
    })
}

static CHANGED: AtomicUsize = AtomicUsize::new(0);
static ALLOWED: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicUsize = AtomicUsize::new(0);

#[test]
fn generated_edits_round_trip_on_a_plain_repository() {
    let repo = shop_repo();
    let base = repo.git(&["rev-parse", "HEAD"]);
    let cfg = config(repo.path(), &[], "unmanaged: deny");
    let keys: Vec<ObjectKey> = {
        let mut k: Vec<ObjectKey> = load(&cfg).objects().map(|o| o.key.clone()).collect();
        k.sort();
        k
    };
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 160,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let result = runner.run(&(any::<prop::sample::Index>(), edit()), |(which, edit)| {
        repo.git(&["reset", "-q", "--hard", &base]);
        repo.git(&["clean", "-qfd"]);
        let key = &keys[which.index(keys.len())];
        let snapshot = load(&cfg);
        let Some(review) = review_for(&edit, key, &snapshot) else {
            return Ok(());
        };
        match round_trip(repo.path(), &cfg, &review) {
            Ok(Trip::Changed(_)) => CHANGED.fetch_add(1, Ordering::Relaxed),
            Ok(Trip::AlreadyAllowed) => ALLOWED.fetch_add(1, Ordering::Relaxed),
            // Values behind an alias, or an anchor that aliases use, are refused with the reason.
            Err(e) if key.name == "db" && (e.contains("alias") || e.contains("anchor")) => {
                REFUSED.fetch_add(1, Ordering::Relaxed)
            }
            Err(e) => return Err(TestCaseError::fail(format!("{key} {edit:?}: {e}"))),
        };
        Ok(())
    });
    let (changed, allowed, refused) = (
        CHANGED.load(Ordering::Relaxed),
        ALLOWED.load(Ordering::Relaxed),
        REFUSED.load(Ordering::Relaxed),
    );
    eprintln!("plain repository: {changed} edits changed Git and round-tripped, {allowed} were allowed as they were, {refused} refused (aliases)");
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(changed >= 60, "only {changed} edits made a change");
}
