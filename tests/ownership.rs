//! Exact ownership, as server-side apply decides it: a table of requests built the way the
//! kube-apiserver sends them (defaulted objects with managedFields, status, resourceVersion;
//! oldObject on UPDATE) against a real Git repository, one case per class of issue 11 and per
//! rule of DESIGN.md "Comparing", in both directions: the evasion denied, the legitimate
//! neighbour allowed. Run through the real decision (`admission::validate`), some through
//! `driftgate check` on the built binary; a property test over generated objects beside it.

mod common;

pub use common::driftgate;
use common::GitRepo;
use driftgate::admission::{self, Decision, Verdict};
use driftgate::config::Config;
use driftgate::policy::Policy;
use driftgate::snapshot::Snapshot;
use serde_json::{json, Value};

#[path = "ownership/classes.rs"]
mod classes;
#[path = "ownership/live.rs"]
mod live;
#[path = "ownership/properties.rs"]
mod properties;
#[path = "ownership/repo.rs"]
mod repo;
#[path = "ownership/rows.rs"]
mod rows;
#[path = "ownership/rules.rs"]
mod rules;
#[path = "ownership/scope.rs"]
mod scope;

/// The Widget's declared `args`: long enough that a message shortening both values from
/// their start would print two identical prefixes.
pub fn widget_args() -> Value {
    let mut args: Vec<String> = (0..12)
        .map(|i| format!("--option-{i}=a-long-value"))
        .collect();
    args.push("--one".into());
    json!(args)
}

pub struct World {
    pub repo: GitRepo,
    pub snapshot: Snapshot,
    pub policy: Policy,
}

pub fn world() -> World {
    let repo = GitRepo::new();
    for (path, text) in repo::FILES {
        repo.write(path, text);
    }
    repo.commit("declared");
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
        repo,
        snapshot,
        policy: Policy::from_config(&config),
    }
}

/// (group, version, plural resource) of a request.
pub type Gvr = (&'static str, &'static str, &'static str);

/// An AdmissionReview v1 as the apiserver sends it. `name`/`namespace` come from the objects
/// (a CREATE of a generated name carries the generated one).
pub fn review(op: &str, gvr: Gvr, kind: &str, sub: &str, object: &Value, old: &Value) -> Vec<u8> {
    let meta = if object.is_null() { old } else { object };
    let mut request = json!({
        "uid": "5d1c0c56-2f7b-4d0e-8c1a-3f1b7a2f9e10",
        "kind": {"group": if sub == "scale" { "autoscaling" } else { gvr.0 },
                 "version": if sub == "scale" { "v1" } else { gvr.1 }, "kind": kind},
        "resource": {"group": gvr.0, "version": gvr.1, "resource": gvr.2},
        "requestKind": {"group": gvr.0, "version": gvr.1, "kind": kind},
        "name": meta.pointer("/metadata/name").cloned().unwrap_or(json!("")),
        "operation": op,
        "userInfo": {"username": "alice@example.com", "groups": ["devs", "system:authenticated"]},
        "object": object, "oldObject": old, "dryRun": false,
        "options": {"apiVersion": "meta.k8s.io/v1",
                    "kind": match op { "CREATE" => "CreateOptions", "DELETE" => "DeleteOptions", _ => "UpdateOptions" }},
    });
    if let Some(ns) = meta.pointer("/metadata/namespace") {
        request["namespace"] = ns.clone();
    }
    if !sub.is_empty() {
        request["subResource"] = json!(sub);
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
        .to_string()
        .into_bytes()
}

pub fn decide(w: &World, body: &[u8]) -> (Value, Decision) {
    admission::validate(body, &w.snapshot, &w.policy).expect("a well-formed review")
}

/// What a case expects: the verdict, the violating paths in order, the paths already
/// diverged (warned).
pub struct Expect {
    pub verdict: Verdict,
    pub violations: &'static [&'static str],
    pub preexisting: &'static [&'static str],
}

pub const ALLOWED: Expect = Expect {
    verdict: Verdict::Allowed,
    violations: &[],
    preexisting: &[],
};

pub const fn denied(violations: &'static [&'static str]) -> Expect {
    Expect {
        verdict: Verdict::Denied,
        violations,
        preexisting: &[],
    }
}

/// One row: a name that says the class and direction, the request, what must come of it.
pub struct Case {
    pub name: &'static str,
    pub body: Vec<u8>,
    pub expect: Expect,
}

/// Runs every row and reports every mismatch at once.
pub fn run(w: &World, rows: Vec<Case>) {
    let mut failures = Vec::new();
    for case in &rows {
        let (review, d) = decide(w, &case.body);
        let paths = |v: &[admission::Violation]| -> Vec<String> {
            v.iter()
                .filter(|v| !v.path.is_empty())
                .map(|v| v.path.clone())
                .collect()
        };
        let got = (d.verdict, paths(&d.violations), paths(&d.preexisting));
        let want = (
            case.expect.verdict,
            case.expect
                .violations
                .iter()
                .map(|s| s.to_string())
                .collect(),
            case.expect
                .preexisting
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
        if got != want {
            failures.push(format!(
                "{}: got {:?}, want {:?} ({:?}; {})",
                case.name, got, want, d.reason, review["response"]["status"]["message"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// `driftgate check` on the built binary: the exit code (0 allowed, 3 denied) and the answer.
pub fn check(w: &World, body: &[u8]) -> (i32, Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("review.json");
    std::fs::write(&file, body).expect("write");
    let out = driftgate()
        .args(["check", "--repo"])
        .arg(w.repo.path())
        .arg("--review")
        .arg(&file)
        .output()
        .expect("driftgate runs");
    let answer = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), answer)
}
