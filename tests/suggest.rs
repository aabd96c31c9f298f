//! `driftgate suggest` against real repositories made with `git`: the round trip (the
//! suggested diff applied with `git apply`, committed, re-indexed, the same request checked
//! again: allowed, and every other object's declaration unchanged), on plain repositories,
//! kustomize overlays and the corpus; the command line (`--write`, `--commit`, exit codes);
//! the audit trail as input.

mod common;

use common::try_git;

use std::path::Path;

use driftgate::admission::{self, Verdict};
use driftgate::config::Config;
use driftgate::manifest::ObjectKey;
use driftgate::policy::Policy;
use driftgate::snapshot::Snapshot;
use driftgate::suggest::{self, want, Suggestion};
use driftgate::yamledit::{value, Step};
use serde_json::{json, Value};

/// A config reading `repo` (whole tree, or `paths`), with extra top-level settings.
pub fn config(repo: &Path, paths: &[&str], extra: &str) -> Config {
    let text = format!(
        "{extra}\nsources:\n  - name: fleet\n    url: {:?}\n    paths: {paths:?}\n",
        repo.display().to_string()
    );
    Config::from_yaml(&text, "test config").expect("valid config")
}

pub fn load(config: &Config) -> Snapshot {
    driftgate::sync::load_once(config).expect("loads")
}

/// The plural resource of the kinds these tests use.
fn resource(kind: &str) -> &'static str {
    match kind {
        "Deployment" => "deployments",
        "StatefulSet" => "statefulsets",
        "Service" => "services",
        "ConfigMap" => "configmaps",
        "ServiceAccount" => "serviceaccounts",
        "Namespace" => "namespaces",
        "HelmRelease" => "helmreleases",
        "Kustomization" => "kustomizations",
        "GitRepository" => "gitrepositories",
        "RoleBinding" => "rolebindings",
        "HelmRepository" => "helmrepositories",
        _ => "unknown",
    }
}

/// An AdmissionReview as the apiserver sends it for `object` (or `old` on DELETE).
pub fn review(op: &str, user: &str, object: &Value, old: &Value) -> Value {
    let meta = if object.is_null() { old } else { object };
    let api_version = meta["apiVersion"].as_str().unwrap_or("v1");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let kind = meta["kind"].as_str().unwrap_or("");
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "5d6a0c1e-2f3b-4a5c-8d9e-0f1a2b3c4d5e",
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource(kind)},
            "name": meta.pointer("/metadata/name"),
            "namespace": meta.pointer("/metadata/namespace"),
            "operation": op,
            "userInfo": {"username": user, "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": old,
            "dryRun": false,
        }
    })
}

/// A `kubectl scale` of a declared Deployment.
pub fn scale_review(namespace: &str, name: &str, from: i64, to: i64) -> Value {
    let scale = |n: i64| {
        json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": name, "namespace": namespace}, "spec": {"replicas": n}})
    };
    let mut r = review("UPDATE", "alice@example.com", &scale(to), &scale(from));
    r["request"]["kind"] = json!({"group": "autoscaling", "version": "v1", "kind": "Scale"});
    r["request"]["resource"] = json!({"group": "apps", "version": "v1", "resource": "deployments"});
    r["request"]["subResource"] = json!("scale");
    r
}

/// Git's object as the cluster holds it: server fields, defaults, status and an injected
/// sidecar added (none of which Git declares).
pub fn live(declared: &Value) -> Value {
    let mut v = declared.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("uid".into(), json!("0b5e7c9a-live"));
        meta.insert("resourceVersion".into(), json!("4711"));
        meta.insert("creationTimestamp".into(), json!("2026-01-01T00:00:00Z"));
        meta.insert(
            "managedFields".into(),
            json!([{"manager": "kustomize-controller"}]),
        );
    }
    if let Some(containers) = v
        .pointer_mut("/spec/template/spec/containers")
        .and_then(Value::as_array_mut)
    {
        for c in containers.iter_mut() {
            if let Some(c) = c.as_object_mut() {
                c.entry("imagePullPolicy").or_insert(json!("IfNotPresent"));
            }
        }
        containers.push(json!({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.0"}));
    }
    if v.get("spec").is_some() {
        v["status"] = json!({"observedGeneration": 3});
    }
    v
}

/// What one round trip did.
#[derive(Debug)]
pub enum Trip {
    /// The request was allowed to begin with and nothing was suggested.
    AlreadyAllowed,
    /// A change was suggested, applied and made the request allowed.
    Changed(Box<Suggestion>),
}

fn decision(review: &Value, snapshot: &Snapshot, config: &Config) -> admission::Decision {
    let (_, decision) = admission::validate(
        review.to_string().as_bytes(),
        snapshot,
        &Policy::from_config(config),
    )
    .expect("a valid review");
    decision
}

/// The defining property, for one request against the repository's HEAD (a clean checkout
/// at `repo`): the suggested diff applies with `git apply`, and once committed and re-indexed
/// the same request is allowed with no violation, while every other object's declaration is
/// what it was. The checkout is left at the new commit.
pub fn round_trip(repo: &Path, config: &Config, review: &Value) -> Result<Trip, String> {
    round_trip_watching(repo, config, review, &[])
}

/// [`round_trip`], and every snapshot of `watch` (other clusters reading the same
/// repository) is exactly as before.
pub fn round_trip_watching(
    repo: &Path,
    config: &Config,
    review: &Value,
    watch: &[Config],
) -> Result<Trip, String> {
    let watched: Vec<Snapshot> = watch.iter().map(load).collect();
    let (before, builds) = driftgate::sync::load_with_builds(config).expect("loads");
    let first = decision(review, &before, config);
    let target = want::from_review(review.to_string().as_bytes(), &before, config)
        .map_err(|e| driftgate::text::chain(&e).to_string())?;
    let Some(target) = target else {
        if first.verdict == Verdict::Denied {
            return Err(format!(
                "denied, but nothing suggested: {:?}",
                first.violations
            ));
        }
        return Ok(Trip::AlreadyAllowed);
    };
    let suggestion = suggest::suggest(config, &before, &builds, &target)
        .map_err(|e| driftgate::text::chain(&e).to_string())?;
    let diff = suggestion.diff();
    if suggestion.is_empty() {
        return if first.verdict == Verdict::Denied {
            Err(format!(
                "denied, but an empty change: {:?}",
                first.violations
            ))
        } else {
            Ok(Trip::AlreadyAllowed)
        };
    }
    try_git(repo, &["apply", "--check", "-"], Some(&diff)).map_err(|e| format!("{e}\n{diff}"))?;
    try_git(repo, &["apply", "-"], Some(&diff))?;
    try_git(repo, &["add", "-A"], None)?;
    try_git(
        repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "suggested",
        ],
        None,
    )?;
    let after = load(config);
    let second = decision(review, &after, config);
    if second.verdict != Verdict::Allowed
        || !second.violations.is_empty()
        || !second.preexisting.is_empty()
    {
        return Err(format!(
            "after the change: {:?}, violations {:?}, already different {:?}\n{diff}",
            second.verdict, second.violations, second.preexisting
        ));
    }
    // The target, and what the change says it also touches (a Flux variable's definition).
    let mut touched: Vec<ObjectKey> = suggestion.also.iter().map(|(k, _)| k.clone()).collect();
    touched.push(target.key.clone());
    others_unchanged(&before, &after, &touched).map_err(|e| format!("{e}\n{diff}"))?;
    for (config, was) in watch.iter().zip(&watched) {
        let now = load(config);
        others_unchanged(was, &now, &[])
            .map_err(|e| format!("another cluster changed: {e}\n{diff}"))?;
    }
    Ok(Trip::Changed(Box::new(suggestion)))
}

/// Every object but those of `keys` is declared exactly as before, and no other object
/// appeared or went.
pub fn others_unchanged(
    before: &Snapshot,
    after: &Snapshot,
    keys: &[ObjectKey],
) -> Result<(), String> {
    for object in before.objects().filter(|o| !keys.contains(&o.key)) {
        match after.get(&object.key) {
            Some(now) if now.value == object.value => {}
            Some(_) => return Err(format!("{} changed", object.key)),
            None => return Err(format!("{} is gone", object.key)),
        }
    }
    if let Some(extra) = after
        .objects()
        .find(|o| !keys.contains(&o.key) && before.get(&o.key).is_none())
    {
        return Err(format!("{} appeared", extra.key));
    }
    Ok(())
}

/// Git's declared value of `key`.
pub fn declared(snapshot: &Snapshot, key: &ObjectKey) -> Value {
    snapshot
        .get(key)
        .expect("declared")
        .value
        .parse()
        .expect("json")
}

/// `value` with the path set (or removed).
pub fn edited(value: &Value, path: &[driftgate::yamledit::Step], new: Option<Value>) -> Value {
    let mut v = value.clone();
    match new {
        Some(n) => value::set(&mut v, path, n).expect("path"),
        None => value::remove(&mut v, path).expect("path"),
    }
    v
}

#[path = "suggest/audit.rs"]
mod audit;
#[path = "suggest/cli.rs"]
mod cli;
#[path = "suggest/corpus.rs"]
mod corpus;
#[path = "suggest/kustomize.rs"]
mod kustomize;
#[path = "suggest/plain.rs"]
mod plain;
#[path = "suggest/serve.rs"]
mod serve;
