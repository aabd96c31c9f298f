//! The requests of the demo tour, shaped as the kube-apiserver sends them after the usual
//! `kubectl` commands, and how each outcome is printed.

use serde_json::{json, Value};

use crate::admission::Verdict;

/// One stop of the tour.
pub struct Step {
    pub title: &'static str,
    pub review: Value,
    pub expect: Verdict,
}

const ALICE: &str = "alice@example.com";
const FLUX: &str = "system:serviceaccount:flux-system:kustomize-controller";

/// The web Deployment as the apiserver stores it: Git's fields plus defaults and status.
fn web(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}, "uid": "5d1c7e0a-demo",
            "resourceVersion": "4711", "generation": 3, "creationTimestamp": "2026-11-01T09:00:00Z"},
        "spec": {"replicas": replicas, "progressDeadlineSeconds": 600, "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                "containers": [{"name": "web", "image": image, "imagePullPolicy": "IfNotPresent",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
                "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                "securityContext": {}, "terminationGracePeriodSeconds": 30}}},
        "status": {"replicas": replicas, "readyReplicas": replicas}
    })
}

fn service() -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop", "uid": "9a9e-demo", "resourceVersion": "4712"},
        "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.42", "type": "ClusterIP", "sessionAffinity": "None",
            "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}]}})
}

fn scale(replicas: i64) -> Value {
    json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": replicas}, "status": {"replicas": 3}})
}

#[allow(clippy::too_many_arguments)]
fn review(
    n: u32,
    op: &str,
    user: &str,
    groups: &[&str],
    gvr: (&str, &str, &str, &str),
    sub: Option<&str>,
    object: Value,
    old: Value,
    dry_run: bool,
) -> Value {
    let meta = if object.is_null() { &old } else { &object };
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("0d3c6a52-7b1e-4c1a-9c7e-00000000000{n}"),
            "kind": {"group": gvr.0, "version": gvr.1, "kind": gvr.3},
            "resource": {"group": gvr.0, "version": gvr.1, "resource": gvr.2},
            "subResource": sub,
            "name": meta.pointer("/metadata/name"),
            "namespace": meta.pointer("/metadata/namespace"),
            "operation": op,
            "userInfo": {"username": user, "groups": groups},
            "object": object,
            "oldObject": old,
            "dryRun": dry_run,
        }
    })
}

const DEPLOY: (&str, &str, &str, &str) = ("apps", "v1", "deployments", "Deployment");

pub fn steps() -> Vec<Step> {
    let humans = ["developers", "system:authenticated"];
    let mut annotated = web(3, "nginx:1.27");
    annotated["metadata"]["annotations"] = json!({"owner": "team-shop"});
    let mut injected = web(3, "nginx:1.27");
    if let Some(containers) = injected
        .pointer_mut("/spec/template/spec/containers")
        .and_then(Value::as_array_mut)
    {
        containers.push(json!({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.0", "args": ["proxy", "sidecar"]}));
    }
    let mut glass = web(6, "nginx:1.27");
    glass["metadata"]["annotations"] =
        json!({"driftgate.io/break-glass": "INC-1042: checkout overloaded"});
    vec![
        Step {
            title: "Flux applies Git: kustomize-controller rolls web to nginx:1.28",
            review: review(
                1,
                "UPDATE",
                FLUX,
                &[
                    "system:serviceaccounts",
                    "system:serviceaccounts:flux-system",
                ],
                DEPLOY,
                None,
                web(3, "nginx:1.28"),
                web(3, "nginx:1.27"),
                false,
            ),
            expect: Verdict::Allowed,
        },
        Step {
            title: "alice: kubectl scale deployment/web -n shop --replicas=10",
            review: review(
                2,
                "UPDATE",
                ALICE,
                &humans,
                ("apps", "v1", "deployments", "Scale"),
                Some("scale"),
                scale(10),
                scale(3),
                false,
            ),
            expect: Verdict::Denied,
        },
        Step {
            title: "alice: kubectl annotate deployment/web -n shop owner=team-shop",
            review: review(
                3,
                "UPDATE",
                ALICE,
                &humans,
                DEPLOY,
                None,
                annotated,
                web(3, "nginx:1.27"),
                false,
            ),
            expect: Verdict::Allowed,
        },
        Step {
            title: "a sidecar injector adds istio-proxy to web",
            review: review(
                4,
                "UPDATE",
                ALICE,
                &humans,
                DEPLOY,
                None,
                injected,
                web(3, "nginx:1.27"),
                false,
            ),
            expect: Verdict::Allowed,
        },
        Step {
            title: "alice: kubectl set image deployment/web -n shop web=nginx:latest",
            review: review(
                5,
                "UPDATE",
                ALICE,
                &humans,
                DEPLOY,
                None,
                web(3, "nginx:latest"),
                web(3, "nginx:1.27"),
                false,
            ),
            expect: Verdict::Denied,
        },
        Step {
            title: "alice: kubectl delete service/web -n shop",
            review: review(
                6,
                "DELETE",
                ALICE,
                &humans,
                ("", "v1", "services", "Service"),
                None,
                Value::Null,
                service(),
                false,
            ),
            expect: Verdict::Denied,
        },
        Step {
            title: "alice: kubectl diff (a server-side dry-run) with replicas 5",
            review: review(
                7,
                "UPDATE",
                ALICE,
                &humans,
                DEPLOY,
                None,
                web(5, "nginx:1.27"),
                web(3, "nginx:1.27"),
                true,
            ),
            expect: Verdict::Warned,
        },
        Step {
            title: "bob (on call) breaks glass: scales web to 6 with driftgate.io/break-glass",
            review: review(
                8,
                "UPDATE",
                "bob@example.com",
                &["oncall", "system:authenticated"],
                DEPLOY,
                None,
                glass,
                web(3, "nginx:1.27"),
                false,
            ),
            expect: Verdict::Warned,
        },
    ]
}

/// How the response reads to the person: the verdict word, then what kubectl would print.
pub fn outcome(review: &Value) -> (Verdict, Vec<String>) {
    let response = &review["response"];
    let allowed = response["allowed"].as_bool().unwrap_or(false);
    let warnings: Vec<String> = response["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .filter_map(|s| s.as_str().map(|s| format!("Warning: {s}")))
                .collect()
        })
        .unwrap_or_default();
    if !allowed {
        let message = response["status"]["message"]
            .as_str()
            .unwrap_or("(no message)");
        let mut lines = vec![format!("Error from server (Forbidden): admission webhook \"validate.driftgate.io\" denied the request: {message}")];
        lines.extend(warnings);
        return (Verdict::Denied, lines);
    }
    let decision = response["auditAnnotations"]["decision"]
        .as_str()
        .unwrap_or("allowed");
    let verdict = if matches!(decision, "warned" | "break-glass") {
        Verdict::Warned
    } else {
        Verdict::Allowed
    };
    (verdict, warnings)
}
