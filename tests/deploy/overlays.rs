//! Every overlay, rendered and checked object by object.

use std::collections::BTreeSet;

use driftgate::config::{AdminAuthMode, Config};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::{check_webhook_safety, crate_dir, kustomize, typed};

const OVERLAYS: &[&str] = &[
    "deploy",
    "deploy/overlays/self-signed",
    "deploy/overlays/cert-manager",
];

fn render(dir: &str) -> Option<Vec<Value>> {
    kustomize(&crate_dir().join(dir))
}

/// cert-manager's kinds have no k8s-openapi type: check their shape by hand.
fn check_cert_manager(object: &Value) {
    assert_eq!(object["apiVersion"], "cert-manager.io/v1");
    let spec = object["spec"].as_object().expect("spec");
    let allowed: &[&str] = match object["kind"].as_str() {
        Some("Issuer") => &["selfSigned", "ca"],
        Some("Certificate") => &[
            "isCA",
            "commonName",
            "secretName",
            "duration",
            "renewBefore",
            "dnsNames",
            "privateKey",
            "usages",
            "issuerRef",
        ],
        other => panic!("unexpected cert-manager kind {other:?}"),
    };
    for key in spec.keys() {
        assert!(allowed.contains(&key.as_str()), "unknown field spec.{key}");
    }
}

fn objects_of<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn one<T: DeserializeOwned + Serialize>(objects: &[Value], kind: &str) -> T {
    let found = objects_of(objects, kind);
    assert_eq!(found.len(), 1, "exactly one {kind}");
    typed(found[0])
}

#[test]
fn every_overlay_renders_typed_and_safe() {
    for dir in OVERLAYS {
        let Some(objects) = render(dir) else { return };
        let mut kinds = BTreeSet::new();
        for object in &objects {
            let kind = object["kind"].as_str().expect("kind");
            kinds.insert(kind.to_string());
            match kind {
                "Namespace" => drop(typed::<Namespace>(object)),
                "ServiceAccount" => drop(typed::<ServiceAccount>(object)),
                "ClusterRole" => drop(typed::<ClusterRole>(object)),
                "ClusterRoleBinding" => drop(typed::<ClusterRoleBinding>(object)),
                "ConfigMap" => drop(typed::<ConfigMap>(object)),
                "Service" => drop(typed::<Service>(object)),
                "Deployment" => drop(typed::<Deployment>(object)),
                "PodDisruptionBudget" => drop(typed::<PodDisruptionBudget>(object)),
                "NetworkPolicy" => drop(typed::<NetworkPolicy>(object)),
                "ValidatingWebhookConfiguration" => {
                    drop(typed::<ValidatingWebhookConfiguration>(object))
                }
                "MutatingWebhookConfiguration" => {
                    drop(typed::<MutatingWebhookConfiguration>(object))
                }
                "Issuer" | "Certificate" => check_cert_manager(object),
                other => panic!("{dir}: unexpected kind {other}"),
            }
        }
        let mut expected: BTreeSet<String> = [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Service",
            "Deployment",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "ValidatingWebhookConfiguration",
            "MutatingWebhookConfiguration",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if dir.ends_with("cert-manager") {
            expected.extend(["Issuer".to_string(), "Certificate".to_string()]);
        }
        assert_eq!(kinds, expected, "{dir}");
        check_workload(dir, &objects);
        check_rbac(dir, &objects);
        check_network(dir, &objects);
        check_webhooks(dir, &objects);
        check_certificates(dir, &objects);
    }
}

fn check_workload(dir: &str, objects: &[Value]) {
    let namespace: Namespace = one(objects, "Namespace");
    assert_eq!(namespace.metadata.name.as_deref(), Some("driftgate-system"));
    for object in objects {
        if let Some(ns) = object["metadata"]["namespace"].as_str() {
            assert_eq!(ns, "driftgate-system", "{dir}: {}", object["kind"]);
        }
    }
    let deployment: Deployment = one(objects, "Deployment");
    let spec = deployment.spec;
    assert_eq!(spec.replicas, Some(3), "{dir}: 3 replicas");
    let pod = spec.template.spec.expect("pod spec");
    assert_eq!(
        pod.priority_class_name.as_deref(),
        Some("system-cluster-critical")
    );
    let anti = pod
        .affinity
        .and_then(|a| a.pod_anti_affinity)
        .expect("pod anti-affinity");
    let required = anti
        .required_during_scheduling_ignored_during_execution
        .expect("required anti-affinity");
    assert!(required
        .iter()
        .any(|t| t.topology_key == "kubernetes.io/hostname"));
    let pod_security = pod.security_context.expect("pod securityContext");
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert_eq!(pod_security.run_as_user, Some(65532));
    assert_eq!(
        pod_security.seccomp_profile.map(|s| s.type_),
        Some("RuntimeDefault".to_string())
    );
    assert_eq!(pod.containers.len(), 1);
    let container = &pod.containers[0];
    let security = container.security_context.clone().expect("securityContext");
    assert_eq!(security.run_as_non_root, Some(true), "{dir}");
    assert_eq!(security.read_only_root_filesystem, Some(true), "{dir}");
    assert_eq!(security.allow_privilege_escalation, Some(false), "{dir}");
    assert_eq!(
        security.capabilities.and_then(|c| c.drop),
        Some(vec!["ALL".to_string()])
    );
    assert_eq!(
        security.seccomp_profile.map(|s| s.type_),
        Some("RuntimeDefault".to_string())
    );
    let resources = container.resources.clone().expect("resources");
    assert!(resources.requests.is_some() && resources.limits.is_some());
    let probe_path = |probe: &Option<k8s_openapi::api::core::v1::Probe>| {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.clone())
            .expect("httpGet probe");
        (get.path.unwrap_or_default(), get.port)
    };
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let admin = IntOrString::String("admin".into());
    assert_eq!(
        probe_path(&container.readiness_probe),
        ("/readyz".to_string(), admin.clone())
    );
    assert_eq!(
        probe_path(&container.liveness_probe),
        ("/healthz".to_string(), admin)
    );
    let ports: Vec<(String, i32)> = container
        .ports
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name.unwrap_or_default(), p.container_port))
        .collect();
    assert_eq!(
        ports,
        [("https".to_string(), 8443), ("admin".to_string(), 8080)]
    );

    // Writable places are emptyDirs: the Git cache and /tmp.
    let volumes = pod.volumes.unwrap_or_default();
    let mounts = container.volume_mounts.clone().unwrap_or_default();
    for path in ["/var/cache/driftgate", "/tmp"] {
        let mount = mounts
            .iter()
            .find(|m| m.mount_path == path)
            .unwrap_or_else(|| panic!("{dir}: nothing mounted at {path}"));
        let volume = volumes
            .iter()
            .find(|v| v.name == mount.name)
            .expect("volume");
        assert!(volume.empty_dir.is_some(), "{dir}: {path} is an emptyDir");
    }

    // The config the pods read is valid and points at what the Deployment mounts.
    let config_map: ConfigMap = one(objects, "ConfigMap");
    let text = config_map
        .data
        .as_ref()
        .and_then(|d| d.get("driftgate.yaml"))
        .expect("driftgate.yaml");
    let config = Config::from_yaml(text, "ConfigMap").expect("valid config");
    assert!(config.server.listen.ends_with(":8443"));
    assert!(config.server.admin_listen.ends_with(":8080"));
    // The audit trail on the admin port answers only callers RBAC lets read it.
    let admin_auth = &config.server.admin_auth;
    assert_eq!(admin_auth.mode, AdminAuthMode::Kubernetes, "{dir}");
    assert!(
        !admin_auth.protect_metrics,
        "{dir}: Prometheus scrapes without a token"
    );
    let etc = mounts
        .iter()
        .find(|m| m.mount_path == "/etc/driftgate")
        .expect("/etc/driftgate mount");
    let projected = volumes
        .iter()
        .find(|v| v.name == etc.name)
        .and_then(|v| v.projected.clone())
        .expect("projected volume");
    let mut files = BTreeSet::new();
    for source in projected.sources.unwrap_or_default() {
        let items = source
            .config_map
            .and_then(|c| c.items)
            .or(source.secret.and_then(|s| s.items))
            .unwrap_or_default();
        files.extend(
            items
                .into_iter()
                .map(|i| format!("/etc/driftgate/{}", i.path)),
        );
    }
    for path in [
        "/etc/driftgate/driftgate.yaml".into(),
        config.server.cert_file.display().to_string(),
        config.server.key_file.display().to_string(),
    ] {
        assert!(files.contains(&path), "{dir}: {path} is not mounted");
    }
    assert!(
        config.cache_dir.starts_with("/var/cache/driftgate"),
        "{dir}: cacheDir on the emptyDir"
    );

    let pdb: PodDisruptionBudget = one(objects, "PodDisruptionBudget");
    let pdb_spec = pdb.spec.expect("pdb spec");
    assert!(pdb_spec.max_unavailable.is_some() || pdb_spec.min_available.is_some());
    assert_eq!(
        pdb_spec.selector.and_then(|s| s.match_labels),
        spec.selector.match_labels,
        "{dir}: the PDB covers the Deployment's pods"
    );
}

/// The ClusterRole named `name`.
fn cluster_role(dir: &str, objects: &[Value], name: &str) -> ClusterRole {
    let found: Vec<&Value> = objects_of(objects, "ClusterRole")
        .into_iter()
        .filter(|o| o["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "{dir}: exactly one ClusterRole {name}");
    typed(found[0])
}

/// Read GitOps status objects, write Events, review the admin port's callers; nothing else, and
/// never a wildcard. The reader roles grant `get` on the admin port's paths and nothing else.
fn check_rbac(dir: &str, objects: &[Value]) {
    let names: BTreeSet<String> = objects_of(objects, "ClusterRole")
        .iter()
        .filter_map(|o| o["metadata"]["name"].as_str().map(String::from))
        .collect();
    assert_eq!(
        names,
        [
            "driftgate",
            "driftgate-metrics-reader",
            "driftgate-report-reader"
        ]
        .map(String::from)
        .into(),
        "{dir}"
    );
    let role = cluster_role(dir, objects, "driftgate");
    let mut granted = BTreeSet::new();
    for rule in role.rules.unwrap_or_default() {
        assert!(
            rule.non_resource_urls.is_none(),
            "{dir}: driftgate reads no URL"
        );
        for group in rule.api_groups.unwrap_or_default() {
            for resource in rule.resources.clone().unwrap_or_default() {
                for verb in &rule.verbs {
                    granted.insert(format!("{group}/{resource}:{verb}"));
                }
            }
        }
    }
    let mut expected = BTreeSet::new();
    for resource in [
        "kustomize.toolkit.fluxcd.io/kustomizations",
        "source.toolkit.fluxcd.io/gitrepositories",
        "argoproj.io/applications",
    ] {
        for verb in ["get", "list", "watch"] {
            expected.insert(format!("{resource}:{verb}"));
        }
    }
    for resource in ["/events", "events.k8s.io/events"] {
        for verb in ["create", "patch"] {
            expected.insert(format!("{resource}:{verb}"));
        }
    }
    // server.adminAuth.mode: kubernetes asks the apiserver about each caller.
    expected.insert("authentication.k8s.io/tokenreviews:create".to_string());
    expected.insert("authorization.k8s.io/subjectaccessreviews:create".to_string());
    assert_eq!(granted, expected, "{dir}: least privilege");

    for (name, urls) in [
        ("driftgate-report-reader", &["/report", "/api/*"][..]),
        ("driftgate-metrics-reader", &["/metrics"][..]),
    ] {
        let rules = cluster_role(dir, objects, name).rules.unwrap_or_default();
        assert_eq!(rules.len(), 1, "{dir}: {name}");
        let rule = &rules[0];
        assert_eq!(
            rule.non_resource_urls.as_deref(),
            Some(&urls.iter().map(|u| u.to_string()).collect::<Vec<_>>()[..]),
            "{dir}: {name}"
        );
        assert_eq!(rule.verbs, ["get"], "{dir}: {name} only reads");
        assert!(rule.api_groups.is_none() && rule.resources.is_none());
    }
    let binding: ClusterRoleBinding = one(objects, "ClusterRoleBinding");
    let subjects = binding.subjects.unwrap_or_default();
    assert_eq!(subjects.len(), 1);
    assert_eq!(subjects[0].kind, "ServiceAccount");
    assert_eq!(subjects[0].namespace.as_deref(), Some("driftgate-system"));
}

fn check_network(dir: &str, objects: &[Value]) {
    let service: Service = one(objects, "Service");
    let ports = service.spec.and_then(|s| s.ports).unwrap_or_default();
    let https = ports
        .iter()
        .find(|p| p.port == 443)
        .expect("Service port 443");
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    assert_eq!(https.target_port, Some(IntOrString::String("https".into())));

    let policy: NetworkPolicy = one(objects, "NetworkPolicy");
    let spec = policy.spec.expect("spec");
    assert!(spec
        .policy_types
        .unwrap_or_default()
        .contains(&"Ingress".to_string()));
    let mut admitted = BTreeSet::new();
    for rule in spec.ingress.unwrap_or_default() {
        for port in rule.ports.unwrap_or_default() {
            match port.port.expect("a port per rule") {
                IntOrString::Int(n) => admitted.insert(n),
                IntOrString::String(name) => panic!("{dir}: named port {name} in a NetworkPolicy"),
            };
        }
    }
    assert_eq!(
        admitted,
        [8080, 8443].into_iter().collect(),
        "{dir}: only the webhook and admin ports"
    );
}

fn check_webhooks(dir: &str, objects: &[Value]) {
    let validating = objects_of(objects, "ValidatingWebhookConfiguration");
    let mutating = objects_of(objects, "MutatingWebhookConfiguration");
    assert_eq!((validating.len(), mutating.len()), (1, 1));
    for webhook in validating[0]["webhooks"].as_array().expect("webhooks") {
        check_webhook_safety(webhook, true, dir);
        assert_eq!(webhook["clientConfig"]["service"]["name"], "driftgate");
        assert_eq!(webhook["clientConfig"]["service"]["port"], 443);
        let resources: Vec<&str> = webhook["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["resources"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .collect();
        assert!(resources.contains(&"deployments/scale"), "{dir}: */scale");
    }
    for webhook in mutating[0]["webhooks"].as_array().expect("webhooks") {
        check_webhook_safety(webhook, false, dir);
    }
}

fn check_certificates(dir: &str, objects: &[Value]) {
    let annotation =
        |o: &Value| o["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].clone();
    let webhooks: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            o["kind"]
                .as_str()
                .is_some_and(|k| k.ends_with("WebhookConfiguration"))
        })
        .collect();
    if dir.ends_with("cert-manager") {
        let serving = objects
            .iter()
            .find(|o| o["kind"] == "Certificate" && o["spec"]["secretName"] == "driftgate-tls")
            .expect("a Certificate writing driftgate-tls");
        let reference = format!(
            "driftgate-system/{}",
            serving["metadata"]["name"].as_str().expect("name")
        );
        let names = serving["spec"]["dnsNames"].as_array().expect("dnsNames");
        assert!(names.contains(&json!("driftgate.driftgate-system.svc")));
        for webhook in webhooks {
            assert_eq!(annotation(webhook), json!(reference), "{dir}");
        }
    } else {
        for webhook in webhooks {
            assert!(annotation(webhook).is_null(), "{dir}: no cert-manager");
        }
    }
}
