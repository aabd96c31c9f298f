//! Real-shaped requests against a real Git repository: what the apiserver actually sends
//! (defaults filled in, managedFields, status, injected sidecars) must not read as drift, and a
//! real edit must be caught at the right path.

mod common;

use common::GitRepo;
use driftgate::admission::{self, Reason, Verdict};
use driftgate::config::Config;
use driftgate::policy::Policy;
use driftgate::snapshot::Snapshot;
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture")
}

struct World {
    _repo: GitRepo,
    snapshot: Snapshot,
    policy: Policy,
}

fn world() -> World {
    let repo = GitRepo::new();
    repo.write("apps/podinfo/deployment.yaml", &fixture("podinfo-git.yaml"));
    repo.write("apps/podinfo/rest.yaml", &fixture("services-git.yaml"));
    repo.commit("podinfo");
    let config = Config::from_yaml(
        &format!(
            "sources: [{{name: fleet, url: {:?}}}]",
            repo.path().display().to_string()
        ),
        "test",
    )
    .expect("config");
    let snapshot = driftgate::sync::load_once(&config).expect("loads");
    assert!(snapshot.errors.is_empty(), "{:?}", snapshot.errors);
    World {
        _repo: repo,
        snapshot,
        policy: Policy::from_config(&config),
    }
}

fn review(
    op: &str,
    gvr: (&str, &str, &str),
    kind: &str,
    sub: &str,
    object: &Value,
    old: &Value,
) -> Vec<u8> {
    let meta = if object.is_null() { old } else { object };
    let mut request = json!({
        "uid": "f00dfeed-0000-4000-8000-000000000001",
        "kind": {"group": gvr.0, "version": gvr.1, "kind": kind},
        "resource": {"group": gvr.0, "version": gvr.1, "resource": gvr.2},
        "name": meta.pointer("/metadata/name"),
        "namespace": meta.pointer("/metadata/namespace"),
        "operation": op,
        "userInfo": {"username": "alice@example.com", "groups": ["devs", "system:authenticated"]},
        "object": object, "oldObject": old, "dryRun": false,
    });
    if !sub.is_empty() {
        request["subResource"] = json!(sub);
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
        .to_string()
        .into_bytes()
}

const DEPLOY: (&str, &str, &str) = ("apps", "v1", "deployments");

fn live() -> Value {
    serde_json::from_str(&fixture("podinfo-live.json")).expect("live json")
}

fn decide(w: &World, body: Vec<u8>) -> admission::Decision {
    admission::validate(&body, &w.snapshot, &w.policy)
        .expect("well-formed")
        .1
}

#[test]
fn defaulted_object_with_sidecar_is_in_sync() {
    let w = world();
    let live = live();
    let mut annotated = live.clone();
    annotated["metadata"]["annotations"]["owner"] = json!("team-a");
    let d = decide(
        &w,
        review("UPDATE", DEPLOY, "Deployment", "", &annotated, &live),
    );
    assert_eq!(
        d.verdict,
        Verdict::Allowed,
        "{:?} {:?}",
        d.violations,
        d.preexisting
    );
    assert!(
        d.violations.is_empty() && d.preexisting.is_empty(),
        "{:?}",
        d.preexisting
    );

    let mut created = live.clone();
    created.as_object_mut().map(|o| o.remove("status"));
    let d = decide(
        &w,
        review("CREATE", DEPLOY, "Deployment", "", &created, &Value::Null),
    );
    assert_eq!(
        (d.verdict, d.reason),
        (Verdict::Allowed, Reason::InSync),
        "{:?}",
        d.violations
    );
}

#[test]
fn real_edits_are_caught_at_their_path() {
    let w = world();
    let live = live();
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "spec.template.spec.containers[name=podinfod].image",
            Box::new(|v| {
                v["spec"]["template"]["spec"]["containers"][0]["image"] =
                    json!("ghcr.io/stefanprodan/podinfo:6.6.0")
            }),
        ),
        (
            "spec.template.spec.containers[name=podinfod].resources.limits.cpu",
            Box::new(|v| {
                v["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] =
                    json!("3")
            }),
        ),
        (
            "spec.template.spec.containers[name=podinfod].volumeMounts[mountPath=/data]",
            Box::new(|v| {
                v["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] =
                    json!([{"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"}])
            }),
        ),
        (
            "spec.template.spec.containers[name=podinfod].env[name=PODINFO_UI_COLOR].value",
            Box::new(|v| {
                v["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!("red")
            }),
        ),
        (
            r#"spec.template.metadata.annotations["prometheus.io/scrape"]"#,
            Box::new(|v| {
                v["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"] =
                    json!("false")
            }),
        ),
        (
            "spec.template.spec.containers[name=podinfod].command",
            Box::new(|v| {
                v["spec"]["template"]["spec"]["containers"][0]["command"] =
                    json!(["./podinfo", "--port=9898", "--level=debug"])
            }),
        ),
        (
            "spec.template.spec.hostNetwork",
            Box::new(|v| v["spec"]["template"]["spec"]["hostNetwork"] = json!(true)),
        ),
        (
            "spec.template.spec.volumes[name=config].configMap.defaultMode",
            Box::new(|v| {
                v["spec"]["template"]["spec"]["volumes"][1]["configMap"]["defaultMode"] = json!(511)
            }),
        ),
    ];
    for (path, edit) in cases {
        let mut new = live.clone();
        edit(&mut new);
        let d = decide(&w, review("UPDATE", DEPLOY, "Deployment", "", &new, &live));
        assert_eq!(d.verdict, Verdict::Denied, "{path}");
        let paths: Vec<_> = d.violations.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(paths, [path]);
    }
}

#[test]
fn hpa_owned_replicas_and_scale() {
    let w = world();
    let scale = |n: i64| {
        json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "podinfo", "namespace": "podinfo"}, "spec": {"replicas": n}, "status": {"replicas": 2}})
    };
    // Git declares no replicas for podinfo (the HPA owns them): scaling is not drift.
    let d = decide(
        &w,
        review("UPDATE", DEPLOY, "Scale", "scale", &scale(4), &scale(2)),
    );
    assert_eq!(d.verdict, Verdict::Allowed);
    let hpa_live = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "podinfo", "namespace": "podinfo", "uid": "x", "resourceVersion": "7"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "minReplicas": 2, "maxReplicas": 4,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 99}}}],
            "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]}}},
        "status": {"currentReplicas": 2, "desiredReplicas": 2}});
    let mut bumped = hpa_live.clone();
    bumped["spec"]["maxReplicas"] = json!(10);
    let gvr = ("autoscaling", "v2", "horizontalpodautoscalers");
    let d = decide(
        &w,
        review(
            "UPDATE",
            gvr,
            "HorizontalPodAutoscaler",
            "",
            &bumped,
            &hpa_live,
        ),
    );
    assert_eq!(d.verdict, Verdict::Denied);
    assert_eq!(d.violations[0].path, "spec.maxReplicas");
    let d = decide(
        &w,
        review(
            "UPDATE",
            gvr,
            "HorizontalPodAutoscaler",
            "",
            &hpa_live,
            &hpa_live,
        ),
    );
    assert_eq!(d.verdict, Verdict::Allowed, "{:?}", d.violations);
}

#[test]
fn services_namespaces_and_secrets() {
    let w = world();
    let svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "podinfo", "namespace": "podinfo", "uid": "s", "resourceVersion": "9", "creationTimestamp": "2026-10-01T10:00:00Z"},
        "spec": {"clusterIP": "10.96.12.34", "clusterIPs": ["10.96.12.34"], "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None", "type": "ClusterIP",
            "selector": {"app": "podinfo"},
            "ports": [{"name": "grpc", "port": 9999, "protocol": "TCP", "targetPort": "grpc"},
                      {"name": "http", "port": 9898, "protocol": "TCP", "targetPort": "http"}]},
        "status": {"loadBalancer": {}}});
    let core = |r: &'static str| ("", "v1", r);
    let d = decide(
        &w,
        review("UPDATE", core("services"), "Service", "", &svc, &svc),
    );
    assert_eq!(d.verdict, Verdict::Allowed, "{:?}", d.violations);
    let mut retarget = svc.clone();
    retarget["spec"]["ports"][1]["targetPort"] = json!(8080);
    let d = decide(
        &w,
        review("UPDATE", core("services"), "Service", "", &retarget, &svc),
    );
    assert_eq!(
        d.violations
            .iter()
            .map(|v| v.path.as_str())
            .collect::<Vec<_>>(),
        ["spec.ports[port=9898,protocol=TCP].targetPort"]
    );
    let d = decide(
        &w,
        review(
            "DELETE",
            core("services"),
            "Service",
            "",
            &Value::Null,
            &svc,
        ),
    );
    assert_eq!((d.verdict, d.reason), (Verdict::Denied, Reason::Delete));

    let ns = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "podinfo", "labels": {"kubernetes.io/metadata.name": "podinfo", "toolkit.fluxcd.io/tenant": "apps"}},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
    let d = decide(
        &w,
        review("UPDATE", core("namespaces"), "Namespace", "", &ns, &ns),
    );
    assert_eq!(d.verdict, Verdict::Allowed, "{:?}", d.violations);
    let mut unlabeled = ns.clone();
    unlabeled["metadata"]["labels"] = json!({"kubernetes.io/metadata.name": "podinfo"});
    let d = decide(
        &w,
        review(
            "UPDATE",
            core("namespaces"),
            "Namespace",
            "",
            &unlabeled,
            &ns,
        ),
    );
    assert_eq!(
        d.violations
            .iter()
            .map(|v| v.path.as_str())
            .collect::<Vec<_>>(),
        [r#"metadata.labels["toolkit.fluxcd.io/tenant"]"#]
    );

    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "podinfo-token", "namespace": "podinfo"}, "data": {"token": "c2VjcmV0"}});
    let d = decide(
        &w,
        review("UPDATE", core("secrets"), "Secret", "", &secret, &secret),
    );
    assert_eq!(
        d.verdict,
        Verdict::Allowed,
        "Secret data is not compared by default"
    );

    // Creating something Git does not declare in a managed namespace: allowed by default.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "scratch", "namespace": "podinfo"}});
    let d = decide(
        &w,
        review(
            "CREATE",
            core("configmaps"),
            "ConfigMap",
            "",
            &cm,
            &Value::Null,
        ),
    );
    assert_eq!(
        (d.verdict, d.reason),
        (Verdict::Allowed, Reason::NotDeclared)
    );
}
