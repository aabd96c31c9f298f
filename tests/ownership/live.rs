//! The declared objects as the apiserver stores and sends them, in sync with Git: defaults
//! filled in (`protocol: TCP`, `imagePullPolicy`, `fieldRef.apiVersion`, ...), zero values of
//! `omitempty` fields left out, identity, managedFields and status added.

use serde_json::{json, Value};

fn meta(name: &str, namespace: Option<&str>, manager_fields: Value) -> Value {
    let mut m = json!({
        "name": name,
        "uid": format!("6f1c2a3e-0000-4000-8000-{:012}", name.len()),
        "resourceVersion": "48213",
        "generation": 2,
        "creationTimestamp": "2026-11-02T09:14:07Z",
        "managedFields": [{
            "manager": "kustomize-controller", "operation": "Apply", "apiVersion": "v1",
            "time": "2026-11-02T09:14:07Z", "fieldsType": "FieldsV1", "fieldsV1": manager_fields,
        }],
    });
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

pub fn web() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "labels": {"app": "web"},
            "annotations": {"deployment.kubernetes.io/revision": "4"},
            "name": "web", "namespace": "shop",
            "uid": "0b5cc1d2-77e4-4d4a-9e4c-2d1f1f7b3a01", "resourceVersion": "99120",
            "generation": 4, "creationTimestamp": "2026-11-02T09:14:07Z",
            "managedFields": [{"manager": "kustomize-controller", "operation": "Apply",
                "apiVersion": "apps/v1", "time": "2026-11-02T09:14:07Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"web\"}": {".": {}, "f:image": {}}}}}}}}],
        },
        "spec": {
            "replicas": 3, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {
                    "automountServiceAccountToken": false,
                    "containers": [{
                        "name": "web", "image": "registry.example.com/web:1.4.2",
                        "args": ["--listen=:8080"],
                        "ports": [{"containerPort": 53, "protocol": "UDP"},
                                  {"containerPort": 8080, "protocol": "TCP"}],
                        "env": [{"name": "MODE", "value": "prod"}, {"name": "EMPTY"},
                                {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
                        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": true},
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        "imagePullPolicy": "IfNotPresent",
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                    }],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                    "schedulerName": "default-scheduler", "securityContext": {},
                    "terminationGracePeriodSeconds": 30,
                },
            },
        },
        "status": {"observedGeneration": 4, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3,
            "availableReplicas": 3, "conditions": [{"type": "Available", "status": "True",
            "lastUpdateTime": "2026-11-02T09:15:00Z", "lastTransitionTime": "2026-11-02T09:15:00Z",
            "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."}]},
    })
}

pub fn pdb() -> Value {
    json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": meta("web", Some("shop"), json!({"f:spec": {"f:maxUnavailable": {}}})),
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"currentHealthy": 3, "desiredHealthy": 3, "disruptionsAllowed": 0,
            "expectedPods": 3, "observedGeneration": 2},
    })
}

pub fn namespace() -> Value {
    let mut m = meta(
        "shop",
        None,
        json!({"f:metadata": {"f:labels": {"f:team": {}}}}),
    );
    m["labels"] = json!({"kubernetes.io/metadata.name": "shop", "team": ""});
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": m,
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
}

pub fn service_account() -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": meta("web", Some("shop"), json!({"f:automountServiceAccountToken": {}})),
        "automountServiceAccountToken": false})
}

pub fn settings() -> Value {
    let mut m = meta("settings", Some("shop"), json!({"f:data": {}}));
    m["finalizers"] = json!(["example.com/protect"]);
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": m,
        "data": {"feature": "", "level": "info"}})
}

pub fn deny_all() -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": meta("deny-all", Some("shop"), json!({"f:spec": {}})),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
}

pub fn allow_web() -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": meta("allow-web", Some("shop"), json!({"f:spec": {}})),
        "spec": {"podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}],
                         "ports": [{"port": 8080, "protocol": "TCP"}]}],
            "policyTypes": ["Ingress"]}})
}

pub fn issuer() -> Value {
    json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
        "metadata": meta("letsencrypt", None, json!({"f:spec": {}})),
        "spec": {"acme": {"server": "https://acme-v02.api.letsencrypt.org/directory",
            "email": "ops@example.com", "privateKeySecretRef": {"name": "letsencrypt"}}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
}

pub fn rollout() -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": meta("canary", Some("shop"), json!({"f:spec": {}})),
        "spec": {"replicas": 5, "paused": false, "strategy": {"canary": {"steps": [{"setWeight": 20}]}}},
        "status": {"replicas": 5}})
}

pub fn widget() -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": meta("w1", Some("shop"), json!({"f:spec": {}})),
        "spec": {"enabled": false, "args": super::widget_args(),
            "ports": [{"port": 53, "protocol": "UDP", "name": "dns"}]}})
}

pub fn from_json() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": meta("from-json", Some("shop"), json!({"f:data": {}})),
        "data": {"mode": "strict"}})
}

pub fn script() -> Value {
    // kustomize renders `>` with a more-indented line with one line break more than the spec.
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": meta("script", Some("shop"), json!({"f:data": {}})),
        "data": {"run.sh": "exec server\n\n  --verbose\n"}})
}

/// A Job created from Git's `generateName: migrate-`, as a validating webhook sees it (the
/// name already generated).
pub fn job(name: &str, image: &str) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "generateName": "migrate-", "namespace": "shop",
            "uid": "1f0e5a90-2d3c-4b5a-8c7d-6e5f4a3b2c1d", "creationTimestamp": "2026-11-03T10:00:00Z",
            "labels": {"batch.kubernetes.io/job-name": name}},
        "spec": {"backoffLimit": 0, "completionMode": "NonIndexed", "completions": 1,
            "manualSelector": false, "parallelism": 1, "podReplacementPolicy": "TerminatingOrFailed",
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "1f0e5a90"}}, "suspend": false,
            "template": {"metadata": {"creationTimestamp": null, "labels": {"job-name": name}},
                "spec": {"restartPolicy": "Never", "dnsPolicy": "ClusterFirst",
                    "schedulerName": "default-scheduler", "securityContext": {},
                    "terminationGracePeriodSeconds": 30,
                    "containers": [{"name": "migrate", "image": image,
                        "imagePullPolicy": "IfNotPresent", "resources": {},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"}]}}}})
}

/// A Scale as `kubectl scale` sends it.
pub fn scale(name: &str, replicas: i64) -> Value {
    let mut spec = json!({});
    // `kubectl scale --replicas=0`: Scale.spec.replicas is `omitempty`, so 0 is left out.
    if replicas != 0 {
        spec["replicas"] = json!(replicas);
    }
    json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": name, "namespace": "shop", "resourceVersion": "99120",
            "creationTimestamp": "2026-11-02T09:14:07Z"},
        "spec": spec, "status": {"replicas": 5, "selector": "app=canary"}})
}

/// A custom resource of a kind nothing knows (no CRD in Git, not in driftgate's tables),
/// cluster-scoped: the request carries no namespace.
pub fn gadget() -> Value {
    json!({"apiVersion": "cluster.example.io/v1", "kind": "ClusterGadget",
        "metadata": meta("shared", None, json!({"f:spec": {}})),
        "spec": {"mode": "strict"}})
}
