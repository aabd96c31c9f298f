//! The decision table of DESIGN.md, row by row, on small builder fixtures.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{validate, Reason, Verdict};
use crate::config::{Config, DryRun, Ignore, Match, Mode, Override, Unmanaged};
use crate::manifest::parse::RawObject;
use crate::manifest::Origin;
use crate::policy::Policy;
use crate::snapshot::{Snapshot, SourceRevision, SourceState};

fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]}}}
    })
}

fn snapshot() -> Snapshot {
    let raw = |v: Value, file: &str| RawObject {
        api_version: v["apiVersion"].as_str().unwrap_or_default().to_string(),
        kind: v["kind"].as_str().unwrap_or_default().to_string(),
        value: v.into(),
        file: Arc::from(file),
        line: 1,
        origin: Origin::File,
        stale: false,
    };
    Snapshot::build(vec![SourceState {
        name: "fleet".into(),
        default_namespace: "default".into(),
        revision: Some(SourceRevision {
            source: "fleet".into(),
            git_ref: "main".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
        }),
        objects: vec![
            raw(deployment(3, "nginx:1.25"), "apps/web.yaml"),
            raw(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}), "ns.yaml"),
            raw(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "viewer"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}), "rbac.yaml"),
        ],
        ..SourceState::default()
    }])
    .expect("snapshot builds")
}

struct Req {
    op: &'static str,
    user: &'static str,
    groups: Vec<&'static str>,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    resource: &'static str,
    sub: &'static str,
    namespace: &'static str,
    name: &'static str,
    object: Value,
    old: Value,
    dry_run: bool,
}

impl Req {
    fn new(op: &'static str, object: Value, old: Value) -> Req {
        Req {
            op,
            user: "alice",
            groups: vec!["system:authenticated"],
            group: "apps",
            version: "v1",
            kind: "Deployment",
            resource: "deployments",
            sub: "",
            namespace: "shop",
            name: "web",
            object,
            old,
            dry_run: false,
        }
    }

    fn body(&self) -> Vec<u8> {
        let mut request = json!({
            "uid": "7f0c-uid", "operation": self.op,
            "kind": {"group": self.group, "version": self.version, "kind": self.kind},
            "resource": {"group": self.group, "version": self.version, "resource": self.resource},
            "name": self.name, "namespace": self.namespace,
            "userInfo": {"username": self.user, "groups": self.groups},
            "object": self.object, "oldObject": self.old, "dryRun": self.dry_run,
        });
        if !self.sub.is_empty() {
            request["subResource"] = json!(self.sub);
        }
        serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}))
            .expect("serialises")
    }
}

fn run_with(config: &Config, req: &Req) -> (Value, super::Decision) {
    let policy = Policy::from_config(config);
    validate(&req.body(), &snapshot(), &policy).expect("valid review")
}

/// `oncall` may break glass.
fn break_glass_config() -> Config {
    Config {
        break_glass: crate::config::BreakGlass {
            groups: vec!["oncall".into()],
            ..Default::default()
        },
        ..Config::default()
    }
}

fn run(req: &Req) -> (Value, super::Decision) {
    run_with(&Config::default(), req)
}

#[test]
fn create_declared_equal_is_allowed_and_different_is_denied() {
    let (review, d) = run(&Req::new(
        "CREATE",
        deployment(3, "nginx:1.25"),
        Value::Null,
    ));
    assert_eq!(d.verdict, Verdict::Allowed);
    assert_eq!(d.reason, Reason::InSync);
    assert_eq!(review["response"]["uid"], "7f0c-uid");
    assert_eq!(review["response"]["allowed"], true);

    let (review, d) = run(&Req::new(
        "CREATE",
        deployment(5, "nginx:1.25"),
        Value::Null,
    ));
    assert_eq!(d.verdict, Verdict::Denied);
    assert_eq!(review["response"]["allowed"], false);
    assert_eq!(review["response"]["status"]["code"], 403);
    let msg = review["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(msg.contains("alice"), "{msg}");
    assert!(
        msg.contains("spec.replicas: Git has 3, request has 5"),
        "{msg}"
    );
    assert!(msg.contains("main@sha1:0123456789ab"), "{msg}");
    assert!(msg.contains("apps/web.yaml"), "{msg}");
    assert!(msg.contains("Change it in Git"), "{msg}");
    assert_eq!(review["response"]["auditAnnotations"]["decision"], "denied");
    assert_eq!(
        review["response"]["auditAnnotations"]["violations"],
        "spec.replicas"
    );
    assert_eq!(
        review["response"]["auditAnnotations"]["revision"],
        "main@sha1:0123456789ab"
    );
}

#[test]
fn update_rules_introduced_preexisting_and_back_to_git() {
    // Introduces drift: denied.
    let (_, d) = run(&Req::new(
        "UPDATE",
        deployment(5, "nginx:1.25"),
        deployment(3, "nginx:1.25"),
    ));
    assert_eq!(d.verdict, Verdict::Denied);
    assert_eq!(d.violations[0].path, "spec.replicas");
    assert_eq!(d.violations[0].old, Some(json!(3)));
    // Drift already there and untouched, another field changed harmlessly: allowed with a warning.
    let mut new = deployment(5, "nginx:1.25");
    new["metadata"]["annotations"] = json!({"note": "x"});
    let (review, d) = run(&Req::new("UPDATE", new, deployment(5, "nginx:1.25")));
    assert_eq!(d.verdict, Verdict::Allowed);
    assert_eq!(d.preexisting.len(), 1);
    let warnings = review["response"]["warnings"].to_string();
    assert!(warnings.contains("already differs"), "{warnings}");
    // Moving back to Git is always allowed.
    let (_, d) = run(&Req::new(
        "UPDATE",
        deployment(3, "nginx:1.25"),
        deployment(5, "nginx:1.26"),
    ));
    assert_eq!(d.verdict, Verdict::Allowed);
    assert_eq!(d.reason, Reason::InSync);
    // Drift changed to another drifted value: introduced.
    let (_, d) = run(&Req::new(
        "UPDATE",
        deployment(7, "nginx:1.25"),
        deployment(5, "nginx:1.25"),
    ));
    assert_eq!(d.verdict, Verdict::Denied);
}

#[test]
fn scale_subresource_compares_replicas() {
    let scale = |n: i64| json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": n}});
    let mut req = Req::new("UPDATE", scale(5), scale(3));
    req.sub = "scale";
    req.group = "apps";
    req.kind = "Scale";
    let (review, d) = run(&req);
    assert_eq!(d.verdict, Verdict::Denied, "{review}");
    assert_eq!(d.violations[0].path, "spec.replicas");
    let mut req = Req::new("UPDATE", scale(3), scale(5));
    req.sub = "scale";
    assert_eq!(run(&req).1.verdict, Verdict::Allowed);
    // Ignored path: allowed.
    let config = Config {
        ignore: vec![Ignore {
            matches: Match {
                kinds: vec!["Deployment".into()],
                ..Match::default()
            },
            paths: vec!["/spec/replicas".into()],
        }],
        ..Config::default()
    };
    let mut req = Req::new("UPDATE", scale(5), scale(3));
    req.sub = "scale";
    assert_eq!(run_with(&config, &req).1.verdict, Verdict::Allowed);
}

#[test]
fn status_and_other_subresources_and_connect_are_allowed() {
    let mut req = Req::new("UPDATE", deployment(9, "x"), deployment(3, "nginx:1.25"));
    req.sub = "status";
    assert_eq!(run(&req).1.reason, Reason::Subresource);
    let mut req = Req::new("CONNECT", Value::Null, Value::Null);
    req.kind = "PodExecOptions";
    req.sub = "exec";
    let (review, d) = run(&req);
    assert_eq!(d.verdict, Verdict::Allowed);
    assert_eq!(review["response"]["uid"], "7f0c-uid");
    let req = Req::new("PATCH-ISH", deployment(9, "x"), Value::Null);
    assert_eq!(run(&req).1.reason, Reason::NotGuarded);
}

#[test]
fn delete_declared_is_denied_unless_terminating() {
    let (review, d) = run(&Req::new(
        "DELETE",
        Value::Null,
        deployment(3, "nginx:1.25"),
    ));
    assert_eq!(d.verdict, Verdict::Denied);
    let msg = review["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(msg.contains("may not delete"), "{msg}");
    let mut old = deployment(3, "nginx:1.25");
    old["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert_eq!(
        run(&Req::new("DELETE", Value::Null, old)).1.verdict,
        Verdict::Allowed
    );
}

#[test]
fn undeclared_objects_follow_unmanaged_and_scope() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "extra", "namespace": "shop"}});
    let mut req = Req::new("CREATE", cm.clone(), Value::Null);
    (req.group, req.kind, req.resource, req.name) = ("", "ConfigMap", "configmaps", "extra");
    assert_eq!(run(&req).1.verdict, Verdict::Allowed);
    for (unmanaged, verdict) in [
        (Unmanaged::Warn, Verdict::Warned),
        (Unmanaged::Deny, Verdict::Denied),
    ] {
        let config = Config {
            unmanaged,
            ..Config::default()
        };
        let (review, d) = run_with(&config, &req);
        assert_eq!(d.verdict, verdict, "{review}");
    }
    // Unmanaged namespace: allowed whatever `unmanaged` says.
    let config = Config {
        unmanaged: Unmanaged::Deny,
        ..Config::default()
    };
    let mut other = Req::new("CREATE", cm, Value::Null);
    (
        other.group,
        other.kind,
        other.resource,
        other.name,
        other.namespace,
    ) = ("", "ConfigMap", "configmaps", "extra", "elsewhere");
    assert_eq!(run_with(&config, &other).1.verdict, Verdict::Allowed);
    // Cluster-scoped undeclared: allowed.
    let mut cr = Req::new("CREATE", json!({"metadata": {"name": "new"}}), Value::Null);
    (cr.group, cr.kind, cr.resource, cr.name, cr.namespace) = (
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "clusterroles",
        "new",
        "",
    );
    assert_eq!(run_with(&config, &cr).1.verdict, Verdict::Allowed);
    // UPDATE and DELETE of undeclared objects: allowed.
    let mut up = Req::new("UPDATE", deployment(1, "x"), deployment(2, "x"));
    up.name = "other";
    assert_eq!(run(&up).1.verdict, Verdict::Allowed);
}

#[test]
fn cluster_scoped_declared_is_compared_without_namespace() {
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "viewer"},
        "rules": [{"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["get"]}]});
    let mut req = Req::new("UPDATE", role, Value::Null);
    (req.group, req.kind, req.resource, req.name, req.namespace) = (
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "clusterroles",
        "viewer",
        "",
    );
    let (_, d) = run(&req);
    assert_eq!(d.verdict, Verdict::Denied);
    assert_eq!(d.violations[0].path, "rules");
}

#[test]
fn bypass_modes_overrides_and_dry_run() {
    let mut req = Req::new(
        "UPDATE",
        deployment(5, "nginx:1.25"),
        deployment(3, "nginx:1.25"),
    );
    req.user = "system:serviceaccount:flux-system:kustomize-controller";
    let config = Config {
        presets: vec![crate::config::Preset::Flux],
        ..Config::default()
    };
    assert_eq!(run_with(&config, &req).1.reason, Reason::Bypassed);

    let req = Req::new(
        "UPDATE",
        deployment(5, "nginx:1.25"),
        deployment(3, "nginx:1.25"),
    );
    let warn = Config {
        mode: Mode::Warn,
        ..Config::default()
    };
    let (review, d) = run_with(&warn, &req);
    assert_eq!(d.verdict, Verdict::Warned);
    assert_eq!(review["response"]["allowed"], true);
    assert!(review["response"]["warnings"]
        .to_string()
        .contains("spec.replicas"));
    assert!(d.should_audit());

    let off = Config {
        overrides: vec![Override {
            matches: Match {
                namespaces: vec!["shop".into()],
                ..Match::default()
            },
            mode: Mode::Off,
        }],
        ..Config::default()
    };
    assert_eq!(run_with(&off, &req).1.reason, Reason::ModeOff);

    let mut dry = Req::new(
        "UPDATE",
        deployment(5, "nginx:1.25"),
        deployment(3, "nginx:1.25"),
    );
    dry.dry_run = true;
    let (review, d) = run(&dry);
    assert_eq!(d.verdict, Verdict::Warned);
    assert!(!d.should_audit());
    assert!(review["response"]["warnings"]
        .to_string()
        .contains("dry-run"));
    let strict = Config {
        dry_run: DryRun::Enforce,
        ..Config::default()
    };
    assert_eq!(run_with(&strict, &dry).1.verdict, Verdict::Denied);
}

#[test]
fn break_glass_needs_group_and_annotation() {
    let config = break_glass_config();
    let mut new = deployment(5, "nginx:1.25");
    new["metadata"]["annotations"] = json!({"driftgate.io/break-glass": "INC-42 outage"});
    let mut req = Req::new("UPDATE", new, deployment(3, "nginx:1.25"));
    assert_eq!(run_with(&config, &req).1.verdict, Verdict::Denied);
    req.groups = vec!["oncall"];
    let (review, d) = run_with(&config, &req);
    assert_eq!(d.reason, Reason::BreakGlass);
    assert_eq!(d.break_glass.as_deref(), Some("INC-42 outage"));
    assert_eq!(review["response"]["allowed"], true);
    assert_eq!(
        review["response"]["auditAnnotations"]["decision"],
        "break-glass"
    );
    assert!(d.should_audit());
}

#[test]
fn version_skew_is_compared_with_a_warning() {
    let mut req = Req::new(
        "UPDATE",
        deployment(5, "nginx:1.25"),
        deployment(3, "nginx:1.25"),
    );
    req.version = "v1beta2";
    let (review, d) = run(&req);
    assert_eq!(d.verdict, Verdict::Denied);
    assert!(review["response"]["warnings"]
        .to_string()
        .contains("version skew"));
}

#[test]
fn v1beta1_is_answered_in_v1beta1() {
    let req = Req::new("CREATE", deployment(3, "nginx:1.25"), Value::Null);
    let mut body: Value = serde_json::from_slice(&req.body()).expect("json");
    body["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let (review, _) = validate(
        body.to_string().as_bytes(),
        &snapshot(),
        &Policy::from_config(&Config::default()),
    )
    .expect("valid");
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1beta1");
    assert_eq!(review["kind"], "AdmissionReview");
}

#[test]
fn secret_values_never_appear_in_messages() {
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
        "stringData": {"password": "hunter2"}});
    let raw = RawObject {
        api_version: "v1".into(),
        kind: "Secret".into(),
        value: secret.into(),
        file: Arc::from("db.yaml"),
        line: 1,
        origin: Origin::File,
        stale: false,
    };
    let snap = Snapshot::build(vec![SourceState {
        name: "fleet".into(),
        default_namespace: "default".into(),
        objects: vec![raw],
        ..SourceState::default()
    }])
    .expect("builds");
    let config = Config {
        compare_secret_data: true,
        ..Config::default()
    };
    let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
        "data": {"password": "c3dvcmRmaXNo"}});
    let mut req = Req::new("UPDATE", live.clone(), live);
    (req.group, req.kind, req.resource, req.name) = ("", "Secret", "secrets", "db");
    let (review, d) = validate(&req.body(), &snap, &Policy::from_config(&config)).expect("valid");
    assert_eq!(d.verdict, Verdict::Allowed, "pre-existing only");
    let text = review.to_string();
    assert!(
        !text.contains("hunter2") && !text.contains("swordfish"),
        "{text}"
    );
    assert!(text.contains("(secret value)"), "{text}");
}

#[test]
fn secret_data_edits_are_compared_with_git_string_data() {
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
        "stringData": {"password": "hunter2"}});
    let snap = Snapshot::build(vec![SourceState {
        name: "fleet".into(),
        default_namespace: "default".into(),
        objects: vec![RawObject {
            api_version: "v1".into(),
            kind: "Secret".into(),
            value: secret.into(),
            file: Arc::from("db.yaml"),
            line: 1,
            origin: Origin::File,
            stale: false,
        }],
        ..SourceState::default()
    }])
    .expect("builds");
    let policy = Policy::from_config(&Config {
        compare_secret_data: true,
        ..Config::default()
    });
    let with = |password: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
            "data": {"password": password}})
    };
    // "hunter2" and "swordfish", base64.
    let (git, other) = (with("aHVudGVyMg=="), with("c3dvcmRmaXNo"));
    let send = |new: &Value, old: &Value| {
        let mut req = Req::new("UPDATE", new.clone(), old.clone());
        (req.group, req.kind, req.resource, req.name) = ("", "Secret", "secrets", "db");
        validate(&req.body(), &snap, &policy).expect("valid").1
    };
    let d = send(&git, &git);
    assert_eq!((d.verdict, d.reason), (Verdict::Allowed, Reason::InSync));
    assert!(d.preexisting.is_empty(), "{:?}", d.preexisting);
    let d = send(&other, &git);
    assert_eq!(d.verdict, Verdict::Denied, "{:?}", d.reason);
    assert_eq!(d.violation_paths(), ["data.password"]);
    let d = send(&git, &other);
    assert_eq!((d.verdict, d.reason), (Verdict::Allowed, Reason::InSync));
}

#[test]
fn update_without_object_is_malformed() {
    let req = Req::new("UPDATE", Value::Null, deployment(3, "nginx:1.25"));
    let err = validate(
        &req.body(),
        &snapshot(),
        &Policy::from_config(&Config::default()),
    )
    .expect_err("malformed");
    assert!(
        err.to_string().contains("request.object is missing"),
        "{err}"
    );
    // A bypassed user's request is never parsed that far.
    let mut flux = Req::new("UPDATE", Value::Null, Value::Null);
    flux.user = "system:kube-controller-manager";
    assert!(validate(
        &flux.body(),
        &snapshot(),
        &Policy::from_config(&Config::default())
    )
    .is_ok());
}

mod annotate;
