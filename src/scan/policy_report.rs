//! The scan as `PolicyReport`/`ClusterPolicyReport` objects (`wgpolicyk8s.io/v1alpha2`, the
//! format Kyverno writes and Policy Reporter shows): one report per scanned namespace and one
//! for cluster-scoped objects, one result per object that is not in sync.
//!
//! Reports are a function of what was scanned only (no timestamps), so every replica builds
//! the same ones. They are written with server-side apply under one field manager, and only
//! when their content changed: each carries a hash of its content, a replica compares it with
//! what it wrote last or, after a start, with the stored report's. Replicas converge without a
//! leader.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::failure::ApiFailure;
use super::report::{ObjectReport, Report, State};

pub const API_VERSION: &str = "wgpolicyk8s.io/v1alpha2";
pub const FIELD_MANAGER: &str = "driftgate";
/// The name of every report driftgate writes (one per namespace, one cluster-wide).
pub const NAME: &str = "driftgate-drift";
/// The policy name results carry.
pub const POLICY: &str = "driftgate-git-drift";
pub const HASH_ANNOTATION: &str = "driftgate.io/content-hash";
/// Paths listed in one result's properties at most; the message counts the rest.
const MAX_PATHS: usize = 20;
/// Longest property value (a Git or live value can be a whole manifest).
const MAX_VALUE: usize = 256;

/// Every report for a scan: a `PolicyReport` for each namespace holding declared (or
/// unmanaged) objects, and one `ClusterPolicyReport`. Each carries its content hash.
pub fn build(report: &Report) -> Vec<Value> {
    let mut by_namespace: BTreeMap<&str, Vec<&ObjectReport>> = BTreeMap::new();
    by_namespace.entry("").or_default();
    for o in &report.objects {
        by_namespace
            .entry(o.namespace.as_str())
            .or_default()
            .push(o);
    }
    by_namespace
        .into_iter()
        .map(|(namespace, objects)| one(namespace, &objects))
        .collect()
}

fn one(namespace: &str, objects: &[&ObjectReport]) -> Value {
    let mut summary = BTreeMap::from([
        ("pass", 0),
        ("fail", 0),
        ("warn", 0),
        ("error", 0),
        ("skip", 0),
    ]);
    let mut results = Vec::new();
    for o in objects {
        let outcome = match o.state {
            State::InSync => "pass",
            State::Drifted | State::Missing => "fail",
            State::Unmanaged => "warn",
        };
        *summary.entry(outcome).or_insert(0) += 1;
        if o.state != State::InSync {
            results.push(result(o, outcome));
        }
    }
    let mut metadata = json!({
        "name": NAME,
        "labels": {"app.kubernetes.io/managed-by": "driftgate"},
    });
    let kind = if namespace.is_empty() {
        "ClusterPolicyReport"
    } else {
        metadata["namespace"] = json!(namespace);
        "PolicyReport"
    };
    let mut body = json!({
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": metadata,
        "summary": summary,
        "results": results,
    });
    let hash = content_hash(&body);
    body["metadata"]["annotations"] = json!({ HASH_ANNOTATION: hash });
    body
}

fn result(o: &ObjectReport, outcome: &str) -> Value {
    let (rule, message) = match o.state {
        State::Drifted => (
            "matches-git",
            format!(
                "{} differs from Git in {} field{}: {}",
                o.describe(),
                o.paths.len(),
                if o.paths.len() == 1 { "" } else { "s" },
                o.paths
                    .iter()
                    .take(MAX_PATHS)
                    .map(|p| p.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        State::Missing => (
            "exists",
            format!(
                "{} is declared in Git and missing from the cluster",
                o.describe()
            ),
        ),
        _ => (
            "declared-in-git",
            format!(
                "{} is in a namespace Git manages but not declared in Git",
                o.describe()
            ),
        ),
    };
    let mut resource = json!({
        "apiVersion": o.api_version(),
        "kind": o.kind,
        "name": o.name,
    });
    if !o.namespace.is_empty() {
        resource["namespace"] = json!(o.namespace);
    }
    if let Some(uid) = &o.uid {
        resource["uid"] = json!(uid);
    }
    let mut properties = serde_json::Map::new();
    properties.insert("state".into(), json!(o.state.as_str()));
    if !o.file.is_empty() {
        properties.insert("source".into(), json!(o.source));
        properties.insert("file".into(), json!(o.file));
    }
    for p in o.paths.iter().take(MAX_PATHS) {
        let live = p
            .live
            .as_ref()
            .map_or_else(|| "(absent)".to_string(), |v| cut(&v.to_string()));
        properties.insert(
            p.path.clone(),
            json!(format!("git: {}, live: {live}", cut(&p.git.to_string()))),
        );
    }
    json!({
        "policy": POLICY,
        "rule": rule,
        "result": outcome,
        "severity": "medium",
        "category": "GitOps drift",
        "source": "driftgate",
        "scored": true,
        "message": message,
        "resources": [resource],
        "properties": properties,
    })
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_VALUE {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX_VALUE).collect();
    format!("{head}…")
}

/// SHA-256 of the report's canonical JSON (keys sorted by `serde_json`'s map), before the
/// hash annotation is added.
fn content_hash(body: &Value) -> String {
    let text = serde_json::to_string(body).unwrap_or_default();
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash a built report carries.
pub fn hash_of(report: &Value) -> Option<&str> {
    report
        .pointer("/metadata/annotations")?
        .get(HASH_ANNOTATION)?
        .as_str()
}

/// The URL path of a report.
pub fn url_path(report: &Value) -> String {
    match report
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(ns) => format!("/apis/{API_VERSION}/namespaces/{ns}/policyreports"),
        None => format!("/apis/{API_VERSION}/clusterpolicyreports"),
    }
}

/// What one round of writes did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    pub written: usize,
    pub unchanged: usize,
    /// Reports of namespaces the scan no longer covers, deleted.
    pub deleted: usize,
    pub failed: Vec<String>,
}

/// The label every report driftgate writes carries (how stale ones are found again).
const MANAGED_BY: &str = "app.kubernetes.io/managed-by=driftgate";

/// Writes reports whose content changed, remembering what it wrote.
#[derive(Debug, Default)]
pub struct Writer {
    /// Report URL path → content hash last written or found stored.
    last: HashMap<String, String>,
}

impl Writer {
    pub async fn write(&mut self, client: &kube::Client, reports: &[Value]) -> Written {
        let mut out = Written::default();
        for report in reports {
            let Some(hash) = hash_of(report) else {
                continue;
            };
            let collection = url_path(report);
            let id = format!("{collection}/{NAME}");
            if self.last.get(&id).map(String::as_str) == Some(hash) {
                out.unchanged += 1;
                continue;
            }
            // After a start (or another replica's write), the stored report may be this one.
            let known = self.last.contains_key(&id);
            if !known {
                if let Ok(stored) = get(client, &collection).await {
                    if hash_of(&stored) == Some(hash) {
                        self.last.insert(id, hash.to_string());
                        out.unchanged += 1;
                        continue;
                    }
                }
            }
            match apply(client, &collection, report).await {
                Ok(()) => {
                    self.last.insert(id, hash.to_string());
                    out.written += 1;
                }
                Err(e) => {
                    self.last.remove(&id);
                    out.failed.push(format!("{id}: {}", crate::text::chain(&e)));
                }
            }
        }
        out
    }

    /// Deletes driftgate's `PolicyReport`s in namespaces the scan no longer reports on (Git
    /// stopped declaring anything there), so an old report does not keep showing drift nobody
    /// guards. They are listed cluster-wide by driftgate's label, so a report written before a
    /// restart, or by another replica, goes too. `keep` are namespaces whose report must stay
    /// although the scan has none for them (a list that failed there: nothing is known).
    pub async fn prune(
        &mut self,
        client: &kube::Client,
        reports: &[Value],
        keep: &BTreeSet<String>,
        out: &mut Written,
    ) {
        let reported: BTreeSet<&str> = reports
            .iter()
            .filter_map(|r| r.pointer("/metadata/namespace").and_then(Value::as_str))
            .collect();
        let stored = match list(client).await {
            Ok(stored) => stored,
            Err(e) => {
                out.failed
                    .push(format!("listing PolicyReports: {}", crate::text::chain(&e)));
                return;
            }
        };
        let stale = stored.iter().filter_map(|r| {
            let name = r.pointer("/metadata/name").and_then(Value::as_str)?;
            let namespace = r.pointer("/metadata/namespace").and_then(Value::as_str)?;
            (name == NAME && !reported.contains(namespace) && !keep.contains(namespace))
                .then_some(namespace)
        });
        for namespace in stale {
            let collection = format!("/apis/{API_VERSION}/namespaces/{namespace}/policyreports");
            let id = format!("{collection}/{NAME}");
            match delete(client, &collection).await {
                // Gone already: another replica pruned it first.
                Ok(()) | Err(ApiFailure::Answered { code: 404, .. }) => {
                    self.last.remove(&id);
                    out.deleted += 1;
                }
                Err(e) => out.failed.push(format!("{id}: {}", crate::text::chain(&e))),
            }
        }
    }
}

/// driftgate's `PolicyReport`s in every namespace.
async fn list(client: &kube::Client) -> Result<Vec<Value>, ApiFailure> {
    let params = kube::core::params::ListParams::default().labels(MANAGED_BY);
    let request = kube::core::Request::new(format!("/apis/{API_VERSION}/policyreports"))
        .list(&params)
        .map_err(ApiFailure::Request)?;
    let list: Value = client.request(request).await?;
    Ok(list
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

async fn delete(client: &kube::Client, collection: &str) -> Result<(), ApiFailure> {
    let request = kube::core::Request::new(collection)
        .delete(NAME, &kube::core::params::DeleteParams::default())
        .map_err(ApiFailure::Request)?;
    client.request_text(request).await?;
    Ok(())
}

async fn get(client: &kube::Client, collection: &str) -> Result<Value, kube::Error> {
    let request = kube::core::Request::new(collection)
        .get(NAME, &kube::core::params::GetParams::default())
        .map_err(kube::Error::BuildRequest)?;
    client.request::<Value>(request).await
}

/// Server-side apply under driftgate's field manager, forced: driftgate owns its reports.
async fn apply(client: &kube::Client, collection: &str, report: &Value) -> Result<(), ApiFailure> {
    let params = kube::core::params::PatchParams::apply(FIELD_MANAGER).force();
    let request = kube::core::Request::new(collection)
        .patch(NAME, &params, &kube::core::params::Patch::Apply(report))
        .map_err(ApiFailure::Request)?;
    client.request_text(request).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::report::PathDiff;

    #[test]
    fn one_result_per_object_not_in_sync_and_a_stable_hash() {
        let object = |ns: &str, name: &str, state: State| ObjectReport {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: ns.into(),
            name: name.into(),
            source: "fleet".into(),
            file: "apps/web.yaml".into(),
            state,
            paths: if state == State::Drifted {
                vec![PathDiff {
                    path: "spec.replicas".into(),
                    git: json!(3),
                    live: Some(json!(5)),
                }]
            } else {
                vec![]
            },
            uid: Some(format!("uid-{name}")),
        };
        let report = Report {
            revision: "main@sha1:0123456789ab".into(),
            objects: vec![
                object("shop", "web", State::Drifted),
                object("shop", "ok", State::InSync),
                object("shop", "gone", State::Missing),
            ],
            ..Report::default()
        };
        let built = build(&report);
        assert_eq!(built.len(), 2, "the cluster report and shop's");
        let shop = &built[1];
        assert_eq!(shop["kind"], "PolicyReport");
        assert_eq!(shop["metadata"]["namespace"], "shop");
        assert_eq!(shop["results"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            shop["summary"],
            json!({"pass": 1, "fail": 2, "warn": 0, "error": 0, "skip": 0})
        );
        assert_eq!(
            shop["results"][0]["properties"]["spec.replicas"],
            "git: 3, live: 5"
        );
        assert_eq!(shop["results"][0]["resources"][0]["uid"], "uid-web");
        assert_eq!(
            built,
            build(&report),
            "the same scan gives the same reports"
        );
        let mut changed = report.clone();
        changed.objects[0].paths[0].live = Some(json!(6));
        assert_ne!(hash_of(&build(&changed)[1]), hash_of(shop));
        assert_eq!(hash_of(&build(&changed)[0]), hash_of(&built[0]));
        assert_eq!(
            url_path(shop),
            "/apis/wgpolicyk8s.io/v1alpha2/namespaces/shop/policyreports"
        );
    }
}
