//! The deployment as an operator gets it: every kustomize overlay rendered by the real
//! `kubectl kustomize`, each object read into its Kubernetes type (a misspelt or misplaced field
//! shows up as a difference in the typed round-trip), and the safety settings that keep a
//! fail-closed webhook from taking a cluster down (`overlays`). Then `driftgate webhook-config`
//! on a real Git repository (`webhook_config`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use driftgate::manifest::yaml::parse_documents;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

#[path = "deploy/overlays.rs"]
mod overlays;
#[path = "deploy/webhook_config.rs"]
mod webhook_config;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl kustomize DIR` as objects; `None` (with a notice) when kubectl is not installed.
fn kustomize(dir: &Path) -> Option<Vec<Value>> {
    let output = match Command::new("kubectl").arg("kustomize").arg(dir).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "notice: kubectl not found; skipping the kustomize render of {}",
                dir.display()
            );
            return None;
        }
        Err(e) => panic!("cannot run kubectl: {e}"),
    };
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed: {}",
        dir.display(),
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
