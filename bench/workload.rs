//! Generated workloads shared by the criterion benchmark (`benches/decision.rs`), the abuse
//! tests (`tests/abuse.rs`) and the load generator (`examples/loadgen.rs`): declared objects as Git holds them, the same objects as
//! the apiserver stores them (defaults, managedFields, status), and AdmissionReviews about them.
//!
//! Object `i` is a Deployment when `i % 3 == 0`, a Service when `i % 3 == 1`, a ConfigMap
//! otherwise; it is named `app-{i}` in namespace `team-{i % 50}`. The same index always gives
//! the same object, so a Git repository written by `loadgen gen-repo` and the reviews sent by
//! `loadgen run` agree without sharing any state.

use serde_json::{json, Value};

/// Containers per generated Deployment.
pub const CONTAINERS: usize = 4;

pub fn namespace(i: usize) -> String {
    format!("team-{}", i % 50)
}

pub fn name(i: usize) -> String {
    format!("app-{i}")
}

/// The `i`-th Deployment index below `n` (for spreading requests over the declared set).
pub fn deployment_index(k: usize, n: usize) -> usize {
    let deployments = n.div_ceil(3).max(1);
    (k % deployments) * 3
}

fn container(i: usize, c: usize) -> Value {
    json!({
        "name": format!("c{c}"),
        "image": format!("registry.example.com/team/app-{i}-c{c}:1.{c}.{}", i % 17),
        "args": ["--listen=:8080", format!("--shard={c}"), "--log-format=json"],
        "ports": [{"name": "http", "containerPort": 8080 + c as i64, "protocol": "TCP"}],
        "env": [
            {"name": "APP", "value": format!("app-{i}")},
            {"name": "CONTAINER", "value": format!("c{c}")},
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080 + c as i64}, "periodSeconds": 5},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
    })
}

/// Object `i` as Git declares it.
pub fn declared(i: usize) -> Value {
    let ns = namespace(i);
    let name = name(i);
    match i % 3 {
        0 => json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name, "team": ns}},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "serviceAccountName": name,
                        "containers": (0..CONTAINERS).map(|c| container(i, c)).collect::<Vec<_>>(),
                        "volumes": [{"name": "config", "configMap": {"name": format!("app-{}", i + 2)}}],
                    },
                },
            },
        }),
        1 => json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        }),
        _ => json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns},
            "data": {"config.yaml": format!("shard: {i}\nlevel: info\n"), "owner": ns},
        }),
    }
}

/// Deployment `i` as the apiserver stores it: Git's fields plus defaults, identity, a
/// managedFields entry and status, which is what a real UPDATE carries (about 4–5 KB).
pub fn live_deployment(i: usize, generation: i64) -> Value {
    let mut v = declared(i);
    let name = name(i);
    let meta = &mut v["metadata"];
    meta["uid"] = json!(format!("00000000-0000-4000-8000-{i:012}"));
    meta["resourceVersion"] = json!(format!("{}", 1000 + generation));
    meta["generation"] = json!(generation);
    meta["creationTimestamp"] = json!("2026-11-01T10:00:00Z");
    meta["annotations"] = json!({"deployment.kubernetes.io/revision": "7"});
    meta["managedFields"] = json!([{
        "manager": "kustomize-controller",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": "2026-11-01T10:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}, "f:team": {}}},
            "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": (0..CONTAINERS).map(|c| (format!("k:{{\"name\":\"c{c}\"}}"), json!({".": {}, "f:image": {}, "f:args": {}, "f:env": {}, "f:ports": {}, "f:resources": {}}))).collect::<serde_json::Map<_, _>>(),
            "f:serviceAccountName": {}, "f:volumes": {}}}}},
    }]);
    let spec = &mut v["spec"];
    spec["progressDeadlineSeconds"] = json!(600);
    spec["revisionHistoryLimit"] = json!(10);
    spec["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
    let pod = &mut spec["template"]["spec"];
    pod["dnsPolicy"] = json!("ClusterFirst");
    pod["restartPolicy"] = json!("Always");
    pod["schedulerName"] = json!("default-scheduler");
    pod["securityContext"] = json!({});
    pod["terminationGracePeriodSeconds"] = json!(30);
    pod["serviceAccount"] = json!(name);
    if let Some(containers) = pod["containers"].as_array_mut() {
        for c in containers {
            c["imagePullPolicy"] = json!("IfNotPresent");
            c["terminationMessagePath"] = json!("/dev/termination-log");
            c["terminationMessagePolicy"] = json!("File");
            c["readinessProbe"]["failureThreshold"] = json!(3);
            c["readinessProbe"]["successThreshold"] = json!(1);
            c["readinessProbe"]["timeoutSeconds"] = json!(1);
            c["readinessProbe"]["httpGet"]["scheme"] = json!("HTTP");
        }
    }
    if let Some(volumes) = pod["volumes"].as_array_mut() {
        for vol in volumes {
            vol["configMap"]["defaultMode"] = json!(420);
        }
    }
    v["status"] = json!({
        "observedGeneration": generation, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
        "availableReplicas": 3,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
             "lastUpdateTime": "2026-11-01T10:00:10Z", "lastTransitionTime": "2026-11-01T10:00:10Z",
             "message": "Deployment has minimum availability."},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
             "lastUpdateTime": "2026-11-01T10:00:10Z", "lastTransitionTime": "2026-11-01T10:00:00Z",
             "message": format!("ReplicaSet \"{name}-7c9f8d6b5\" has successfully progressed.")},
        ],
    });
    v
}

/// What an UPDATE changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Adds an annotation nobody declares: allowed, in sync.
    Annotation,
    /// Changes a declared image: drift, denied in enforce mode.
    Image,
}

/// An `admission.k8s.io/v1` UPDATE of Deployment `i` by `user`.
pub fn update_review(i: usize, uid: &str, user: &str, change: Change) -> Vec<u8> {
    let old = live_deployment(i, 4);
    let mut new = old.clone();
    match change {
        Change::Annotation => {
            new["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] =
                json!("2026-11-26T08:00:00Z");
        }
        Change::Image => {
            new["spec"]["template"]["spec"]["containers"][1]["image"] =
                json!("registry.example.com/team/hotfix:latest");
            new["metadata"]["generation"] = json!(5);
        }
    }
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": name(i),
            "namespace": namespace(i),
            "operation": "UPDATE",
            "userInfo": {"username": user, "uid": "u-1", "groups": ["system:authenticated", "dev"]},
            "object": new,
            "oldObject": old,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "UpdateOptions", "fieldManager": "kubectl-edit"},
        }
    });
    serde_json::to_vec(&review).unwrap_or_default()
}

/// Object `i` as YAML for a Git repository (JSON is valid YAML; kustomize reads it the same).
pub fn declared_yaml(i: usize) -> String {
    let mut text = serde_json::to_string_pretty(&declared(i)).unwrap_or_default();
    text.push('\n');
    text
}

/// A snapshot of the first `n` generated objects, as source `source` declares them.
pub fn snapshot(n: usize, source: &str) -> driftgate::snapshot::Snapshot {
    use driftgate::manifest::{parse::RawObject, Origin};
    use driftgate::snapshot::{Snapshot, SourceRevision, SourceState};
    let file: std::sync::Arc<str> = std::sync::Arc::from("generated.yaml");
    let objects = (0..n)
        .map(|i| {
            let value = declared(i);
            RawObject {
                api_version: value["apiVersion"].as_str().unwrap_or_default().into(),
                kind: value["kind"].as_str().unwrap_or_default().into(),
                value: value.into(),
                file: file.clone(),
                line: i + 1,
                origin: Origin::File,
                stale: false,
            }
        })
        .collect();
    Snapshot::build(vec![SourceState {
        name: source.into(),
        default_namespace: "default".into(),
        revision: Some(SourceRevision {
            source: source.into(),
            git_ref: "main".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
        }),
        objects,
        ..SourceState::default()
    }])
    .expect("generated objects have distinct keys")
}
