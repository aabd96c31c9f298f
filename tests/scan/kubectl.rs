//! Git's objects as `kubectl get -o json` prints them from a real cluster: server-set metadata
//! (`uid`, `resourceVersion`, `generation`, `creationTimestamp`, `managedFields`), labels and
//! finalizers controllers add, the apiserver's defaults per kind, canonical quantities,
//! list-map elements reordered, an injected sidecar, and `status`. None of this is drift.

use serde_json::{json, Map, Value};

/// The live form of a declared object, `n` making its uid and resourceVersion unique.
pub fn live_form(declared: &Value, n: usize) -> Value {
    let mut v = declared.clone();
    let kind = v["kind"].as_str().unwrap_or_default().to_string();
    let api_version = v["apiVersion"].as_str().unwrap_or_default().to_string();
    strip_nulls(&mut v);
    {
        let meta = obj(&mut v, "metadata");
        meta.insert(
            "uid".into(),
            json!(format!("5f0c{n:04x}-1c2d-4e3f-9a0b-{n:012x}")),
        );
        meta.insert("resourceVersion".into(), json!((40_000 + n).to_string()));
        meta.insert("generation".into(), json!(1));
        meta.insert("creationTimestamp".into(), json!("2026-11-20T09:14:03Z"));
        meta.insert(
            "managedFields".into(),
            json!([{
                "apiVersion": api_version, "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {}}, "f:spec": {}},
                "manager": "kustomize-controller", "operation": "Apply",
                "time": "2026-11-20T09:14:03Z"
            }]),
        );
        let labels = obj_in(meta, "labels");
        labels.insert(
            "kustomize.toolkit.fluxcd.io/name".into(),
            json!("flux-system"),
        );
        labels.insert(
            "kustomize.toolkit.fluxcd.io/namespace".into(),
            json!("flux-system"),
        );
    }
    if api_version.contains("fluxcd.io/") {
        obj(&mut v, "metadata").insert("finalizers".into(), json!(["finalizers.fluxcd.io"]));
        v["status"] = json!({"conditions": [{"type": "Ready", "status": "True",
            "reason": "Succeeded", "message": "applied", "lastTransitionTime": "2026-11-20T09:15:00Z",
            "observedGeneration": 1}], "observedGeneration": 1});
    }
    match kind.as_str() {
        "Namespace" => {
            let name = v["metadata"]["name"].clone();
            obj_in(obj(&mut v, "metadata"), "labels")
                .insert("kubernetes.io/metadata.name".into(), name);
            v["spec"] = json!({"finalizers": ["kubernetes"]});
            v["status"] = json!({"phase": "Active"});
        }
        "ServiceAccount" => {
            v["secrets"] = json!([]);
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            if let Some(subjects) = v["subjects"].as_array_mut() {
                for s in subjects {
                    if matches!(s["kind"].as_str(), Some("User" | "Group"))
                        && s.get("apiGroup").is_none()
                    {
                        s["apiGroup"] = json!("rbac.authorization.k8s.io");
                    }
                }
            }
        }
        "Service" => service(&mut v, n),
        "Deployment" => deployment(&mut v),
        "ClusterPolicy" => {
            obj(&mut v, "spec")
                .entry("admission")
                .or_insert(json!(true));
            obj(&mut v, "spec")
                .entry("emitWarning")
                .or_insert(json!(false));
            v["status"] = json!({"ready": true, "conditions": []});
        }
        _ => {}
    }
    v
}

/// Objects a cluster holds in every namespace, and controller-made ones: never unmanaged.
pub fn cluster_made(namespace: &str) -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default",
            "namespace": namespace, "uid": format!("sa-{namespace}"), "resourceVersion": "7"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt",
            "namespace": namespace, "uid": format!("cm-{namespace}"), "resourceVersion": "8"},
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"}}),
    ]
}

fn service(v: &mut Value, n: usize) {
    let spec = obj(v, "spec");
    spec.insert(
        "clusterIP".into(),
        json!(format!("10.96.{}.{}", n / 250, n % 250 + 1)),
    );
    spec.insert(
        "clusterIPs".into(),
        json!([format!("10.96.{}.{}", n / 250, n % 250 + 1)]),
    );
    spec.insert("internalTrafficPolicy".into(), json!("Cluster"));
    spec.insert("ipFamilies".into(), json!(["IPv4"]));
    spec.insert("ipFamilyPolicy".into(), json!("SingleStack"));
    spec.insert("sessionAffinity".into(), json!("None"));
    spec.entry("type").or_insert(json!("ClusterIP"));
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut() {
            p.as_object_mut()
                .map(|p| p.entry("protocol").or_insert(json!("TCP")));
        }
        ports.reverse();
    }
    v["status"] = json!({"loadBalancer": {}});
}

fn deployment(v: &mut Value) {
    {
        let spec = obj(v, "spec");
        spec.entry("replicas").or_insert(json!(1));
        spec.insert("progressDeadlineSeconds".into(), json!(600));
        spec.insert("revisionHistoryLimit".into(), json!(10));
        spec.insert(
            "strategy".into(),
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
        );
    }
    obj(v, "metadata").insert(
        "annotations".into(),
        json!({"deployment.kubernetes.io/revision": "3"}),
    );
    let template = &mut v["spec"]["template"];
    obj(template, "metadata").insert("creationTimestamp".into(), Value::Null);
    let pod = obj(template, "spec");
    pod.insert("dnsPolicy".into(), json!("ClusterFirst"));
    pod.insert("restartPolicy".into(), json!("Always"));
    pod.insert("schedulerName".into(), json!("default-scheduler"));
    pod.entry("securityContext").or_insert(json!({}));
    pod.entry("terminationGracePeriodSeconds")
        .or_insert(json!(30));
    if let Some(sa) = pod.get("serviceAccountName").cloned() {
        pod.insert("serviceAccount".into(), sa);
    }
    if let Some(containers) = pod.get_mut("containers").and_then(Value::as_array_mut) {
        for c in containers.iter_mut() {
            container(c);
        }
        // A mesh injects its proxy first; containers are matched by name, never by index.
        containers.insert(
            0,
            json!({"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy:edge-24.11.8",
                "ports": [{"containerPort": 4143, "name": "linkerd-proxy", "protocol": "TCP"}],
                "resources": {}, "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError", "imagePullPolicy": "IfNotPresent"}),
        );
    }
    if let Some(volumes) = pod.get_mut("volumes").and_then(Value::as_array_mut) {
        volumes
            .push(json!({"name": "linkerd-identity-end-entity", "emptyDir": {"medium": "Memory"}}));
        volumes.reverse();
    }
    v["status"] = json!({"availableReplicas": 1, "observedGeneration": 1, "readyReplicas": 1,
        "replicas": 1, "updatedReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]});
}

fn container(c: &mut Value) {
    let c = c.as_object_mut().expect("container");
    c.entry("imagePullPolicy").or_insert(json!("IfNotPresent"));
    c.insert(
        "terminationMessagePath".into(),
        json!("/dev/termination-log"),
    );
    c.insert("terminationMessagePolicy".into(), json!("File"));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut() {
            p.as_object_mut()
                .map(|p| p.entry("protocol").or_insert(json!("TCP")));
        }
        ports.reverse();
    }
    if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
        for e in env.iter_mut() {
            if let Some(field) = e.pointer_mut("/valueFrom/fieldRef") {
                field["apiVersion"] = json!("v1");
            }
            if let Some(res) = e.pointer_mut("/valueFrom/resourceFieldRef") {
                res["divisor"] = json!("0");
            }
        }
        env.reverse();
    }
    for probe in ["livenessProbe", "readinessProbe"] {
        if let Some(p) = c.get_mut(probe).and_then(Value::as_object_mut) {
            p.entry("failureThreshold").or_insert(json!(3));
            p.entry("periodSeconds").or_insert(json!(10));
            p.entry("successThreshold").or_insert(json!(1));
            p.entry("timeoutSeconds").or_insert(json!(1));
            if let Some(get) = p.get_mut("httpGet").and_then(Value::as_object_mut) {
                get.entry("scheme").or_insert(json!("HTTP"));
            }
        }
    }
    // The apiserver prints quantities in canonical form.
    if let Some(res) = c.get_mut("resources") {
        for (side, name) in [("limits", "cpu"), ("requests", "cpu")] {
            if let Some(q) = res.pointer_mut(&format!("/{side}/{name}")) {
                if q == "1000m" {
                    *q = json!("1");
                }
            }
        }
    }
}

fn strip_nulls(v: &mut Value) {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|_, v| !v.is_null());
    }
}

fn obj<'v>(v: &'v mut Value, key: &str) -> &'v mut Map<String, Value> {
    if !v[key].is_object() {
        v[key] = json!({});
    }
    v[key].as_object_mut().expect("object")
}

fn obj_in<'m>(m: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let entry = m.entry(key).or_insert(json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut().expect("object")
}
