//! The deployment as an operator gets it: every kustomize overlay rendered by the real
//! `kubectl kustomize`, each object read into its Kubernetes type (a misspelt or misplaced field
//! shows up as a difference in the typed round-trip), and the safety settings that keep a
//! fail-closed webhook from taking a cluster down. Then `driftgate webhook-config` on a real Git
//! repository.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use driftgate::config::Config;
use driftgate::manifest::yaml::parse_documents;
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

const OVERLAYS: &[&str] = &[
    "deploy",
    "deploy/overlays/self-signed",
    "deploy/overlays/cert-manager",
];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl kustomize DIR` as objects; `None` (with a notice) when kubectl is not installed.
fn render(dir: &str) -> Option<Vec<Value>> {
    let output = match Command::new("kubectl")
        .arg("kustomize")
        .arg(crate_dir().join(dir))
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("notice: kubectl not found; skipping the kustomize render of {dir}");
            return None;
        }
        Err(e) => panic!("cannot run kubectl: {e}"),
    };
    assert!(
        output.status.success(),
        "kubectl kustomize {dir} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("utf-8 output");
    let docs = parse_documents(&text).expect("kustomize output is YAML");
    Some(docs.into_iter().map(|d| d.value).collect())
}

/// Drops nulls, empty maps and empty lists: the typed form omits what the input left empty
/// and the other way round; anything else that differs is a field the type does not know.
fn prune(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Array(items) => {
            let items: Vec<Value> = items.iter().filter_map(prune).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        Value::Object(map) => {
            let map: serde_json::Map<String, Value> = map
                .iter()
                .filter_map(|(k, v)| prune(v).map(|v| (k.clone(), v)))
                .collect();
            (!map.is_empty()).then_some(Value::Object(map))
        }
        other => Some(other.clone()),
    }
}

fn typed<T: DeserializeOwned + Serialize>(object: &Value) -> T {
    let name = format!("{} {}", object["kind"], object["metadata"]["name"]);
    let parsed: T = serde_json::from_value(object.clone())
        .unwrap_or_else(|e| panic!("{name} does not parse as its type: {e}"));
    let back = serde_json::to_value(&parsed).expect("serialize");
    assert_eq!(
        prune(&back),
        prune(object),
        "{name}: the typed round-trip differs (unknown or misplaced field)"
    );
    parsed
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

/// Read GitOps status objects, write Events; nothing else, and never a wildcard.
fn check_rbac(dir: &str, objects: &[Value]) {
    let role: ClusterRole = one(objects, "ClusterRole");
    let mut granted = BTreeSet::new();
    for rule in role.rules.unwrap_or_default() {
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
    assert_eq!(granted, expected, "{dir}: least privilege");
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

/// The settings that decide whether a broken driftgate can hurt the cluster. Shared by the
/// rendered overlays and the `webhook-config` output.
fn check_webhook_safety(webhook: &Value, validating: bool, context: &str) {
    assert_eq!(
        webhook["admissionReviewVersions"],
        json!(["v1"]),
        "{context}"
    );
    assert_eq!(webhook["sideEffects"], "NoneOnDryRun", "{context}");
    assert_eq!(webhook["matchPolicy"], "Equivalent", "{context}");
    let timeout = webhook["timeoutSeconds"].as_i64().expect("timeoutSeconds");
    assert!((1..10).contains(&timeout), "{context}: timeout {timeout}");
    let expected_policy = if validating { "Fail" } else { "Ignore" };
    assert_eq!(webhook["failurePolicy"], expected_policy, "{context}");
    let expressions = webhook["namespaceSelector"]["matchExpressions"]
        .as_array()
        .expect("namespaceSelector.matchExpressions");
    assert!(
        expressions.iter().any(|e| {
            e["key"] == "kubernetes.io/metadata.name"
                && e["operator"] == "NotIn"
                && e["values"].as_array().is_some_and(|v| {
                    v.contains(&json!("kube-system")) && v.contains(&json!("driftgate-system"))
                })
        }),
        "{context}: kube-system and driftgate-system excluded by name"
    );
    let conditions = webhook["matchConditions"]
        .as_array()
        .expect("matchConditions");
    assert!(!conditions.is_empty(), "{context}: matchConditions");
    for c in conditions {
        assert!(c["expression"]
            .as_str()
            .is_some_and(|e| e.contains("request.userInfo")));
    }
    let path = if validating { "/validate" } else { "/mutate" };
    let client = &webhook["clientConfig"];
    let url_path = client["url"]
        .as_str()
        .map(|u| u.ends_with(path))
        .unwrap_or(false);
    assert!(
        client["service"]["path"] == path || url_path,
        "{context}: path {path}"
    );
    let rules = webhook["rules"].as_array().expect("rules");
    for rule in rules {
        let ops = rule["operations"].as_array().expect("operations");
        assert!(ops.contains(&json!("CREATE")) && ops.contains(&json!("UPDATE")));
        if validating {
            assert!(ops.contains(&json!("DELETE")), "{context}: DELETE");
        }
    }
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

// ---- driftgate webhook-config on a real repository ----

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        status.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

fn fleet_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("apps")).expect("mkdir");
    std::fs::write(
        root.join("apps/web.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n\
         spec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n\
         \x20   metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: shop}\ndata: {a: b}\n",
    )
    .expect("write");
    std::fs::write(
        root.join("apps/crd.yaml"),
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
         metadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Namespaced\n\
         \x20 names: {plural: widgets, singular: widget, kind: Widget}\n  versions:\n\
         \x20 - name: v1beta2\n    served: true\n    storage: true\n\
         \x20   schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n---\n\
         apiVersion: example.com/v1beta2\nkind: Widget\nmetadata: {name: blue, namespace: shop}\nspec: {size: 3}\n",
    )
    .expect("write");
    git(root, &["init", "-q"]);
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "fleet"]);
    dir
}

fn write_ca(dir: &Path) -> (PathBuf, String) {
    let ca = rcgen::generate_simple_self_signed(vec!["driftgate-test-ca".to_string()])
        .expect("certificate");
    let pem = ca.cert.pem();
    let path = dir.join("ca.crt");
    std::fs::write(&path, &pem).expect("write ca");
    (path, pem)
}

fn webhook_config(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_driftgate"))
        .arg("webhook-config")
        .args(args)
        .env_remove("DRIFTGATE_CONFIG")
        .output()
        .expect("driftgate runs")
}

fn rule_set(webhook: &Value) -> BTreeSet<(String, String, String)> {
    let mut set = BTreeSet::new();
    for rule in webhook["rules"].as_array().expect("rules") {
        for group in rule["apiGroups"].as_array().expect("apiGroups") {
            for version in rule["apiVersions"].as_array().expect("apiVersions") {
                for resource in rule["resources"].as_array().expect("resources") {
                    set.insert((
                        group.as_str().expect("str").to_string(),
                        version.as_str().expect("str").to_string(),
                        resource.as_str().expect("str").to_string(),
                    ));
                }
            }
        }
    }
    set
}

#[test]
fn webhook_config_registers_what_git_declares() {
    let repo = fleet_repo();
    let certs = tempfile::tempdir().expect("tempdir");
    let (ca_path, ca_pem) = write_ca(certs.path());
    let repo_arg = repo.path().to_str().expect("utf-8 path");
    let ca_arg = ca_path.to_str().expect("utf-8 path");

    let out = webhook_config(&["--repo", repo_arg, "--ca", ca_arg, "--output", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let validating: ValidatingWebhookConfiguration = typed(&items[0]);
    let _: MutatingWebhookConfiguration = typed(&items[1]);
    assert_eq!(validating.metadata.name.as_deref(), Some("driftgate"));

    let v = &items[0]["webhooks"][0];
    check_webhook_safety(v, true, "webhook-config validating");
    check_webhook_safety(&items[1]["webhooks"][0], false, "webhook-config mutating");
    let rules = rule_set(v);
    let r = |g: &str, v: &str, res: &str| (g.to_string(), v.to_string(), res.to_string());
    for expected in [
        r("apps", "v1", "deployments"),
        r("apps", "v1", "deployments/scale"),
        r("", "v1", "configmaps"),
        r("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
        r("example.com", "v1beta2", "widgets"),
    ] {
        assert!(
            rules.contains(&expected),
            "missing {expected:?} in {rules:?}"
        );
    }
    assert!(
        !rules.contains(&r("example.com", "v1beta2", "widgets/scale")),
        "the CRD declares no scale subresource"
    );
    assert!(
        !rules.iter().any(|(_, _, res)| res == "pods" || res == "*"),
        "only declared kinds"
    );
    assert_eq!(
        v["clientConfig"]["service"],
        json!({"name": "driftgate", "namespace": "driftgate-system", "path": "/validate", "port": 443})
    );
    let bundle = base64::engine::general_purpose::STANDARD
        .decode(v["clientConfig"]["caBundle"].as_str().expect("caBundle"))
        .expect("base64");
    assert_eq!(String::from_utf8(bundle).expect("utf-8"), ca_pem);

    // YAML (the default) says the same.
    let out = webhook_config(&["--repo", repo_arg, "--ca", ca_arg]);
    assert!(out.status.success());
    let yaml = String::from_utf8(out.stdout).expect("utf-8");
    let docs = parse_documents(&yaml).expect("YAML");
    let docs: Vec<Value> = docs.into_iter().map(|d| d.value).collect();
    assert_eq!(docs.as_slice(), items.as_slice());
    kubectl_reads_the_same(&yaml, items);

    // --url: out-of-cluster.
    let out = webhook_config(&[
        "--repo",
        repo_arg,
        "--ca",
        ca_arg,
        "--output",
        "json",
        "--url",
        "https://127.0.0.1:8443",
    ]);
    assert!(out.status.success());
    let list: Value = serde_json::from_slice(&out.stdout).expect("json");
    let client = &list["items"][0]["webhooks"][0]["clientConfig"];
    assert_eq!(client["url"], "https://127.0.0.1:8443/validate");
    assert!(client["service"].is_null());
    assert_eq!(
        list["items"][1]["webhooks"][0]["clientConfig"]["url"],
        "https://127.0.0.1:8443/mutate"
    );
}

/// kubectl reads YAML with Go's YAML 1.1 rules (`on`, `y` are booleans there): feed our output
/// through `kubectl kustomize` and check it reads back as the same objects.
fn kubectl_reads_the_same(yaml: &str, items: &[Value]) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("webhooks.yaml"), yaml).expect("write");
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources: [webhooks.yaml]\n",
    )
    .expect("write");
    let output = match Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.path())
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "notice: kubectl not found; skipping the kubectl read of webhook-config output"
            );
            return;
        }
        Err(e) => panic!("cannot run kubectl: {e}"),
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rendered =
        parse_documents(&String::from_utf8(output.stdout).expect("utf-8")).expect("kubectl's YAML");
    assert_eq!(rendered.len(), items.len());
    for doc in rendered {
        let same = items
            .iter()
            .find(|i| i["kind"] == doc.value["kind"])
            .expect("same kinds");
        assert_eq!(&doc.value, same);
    }
}

#[test]
fn webhook_config_without_a_ca_is_bad_input() {
    let repo = fleet_repo();
    let missing = repo.path().join("no-such-ca.crt");
    let out = webhook_config(&[
        "--repo",
        repo.path().to_str().expect("utf-8"),
        "--ca",
        missing.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing half-written on stdout");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no-such-ca.crt") && stderr.contains("driftgate certs"),
        "{stderr}"
    );

    let out = webhook_config(&[
        "--repo",
        repo.path().to_str().expect("utf-8"),
        "--ca",
        missing.to_str().expect("utf-8"),
        "--url",
        "http://insecure",
    ]);
    assert_eq!(out.status.code(), Some(2));
}
