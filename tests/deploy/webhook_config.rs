//! `driftgate webhook-config` on a real Git repository made with the git CLI.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use driftgate::manifest::yaml::parse_documents;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use serde_json::{json, Value};

use super::common::{driftgate, git, stdout_json};
use super::{check_webhook_safety, kustomize, typed};

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
    driftgate()
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
    let list = stdout_json(&out, 0);
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
    let list = stdout_json(&out, 0);
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
    let Some(rendered) = kustomize(dir.path()) else {
        return;
    };
    assert_eq!(rendered.len(), items.len());
    for doc in rendered {
        let same = items
            .iter()
            .find(|i| i["kind"] == doc["kind"])
            .expect("same kinds");
        assert_eq!(&doc, same);
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
