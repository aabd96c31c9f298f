//! Annotate mode (`/mutate`): the drift patch, its idempotence, break-glass, and driftgate's
//! own annotations.

use super::*;

fn mutate_with(config: &Config, req: &Req) -> (Value, crate::admission::Decision) {
    let policy = Policy::from_config(config);
    crate::admission::mutate(&req.body(), &snapshot(), &policy).expect("valid review")
}

fn decoded_patch(review: &Value) -> Option<json_patch::Patch> {
    use base64::Engine as _;
    let text = review["response"]["patch"].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64");
    Some(serde_json::from_slice(&bytes).expect("a JSONPatch"))
}

#[test]
fn mutate_annotates_drift_and_never_denies() {
    use crate::admission::annotate::{DRIFT, DRIFT_BY, DRIFT_REVISION};
    let req = Req::new(
        "UPDATE",
        deployment(5, "nginx:1.25"),
        deployment(3, "nginx:1.25"),
    );
    // Enforce mode: /validate denies, /mutate lets it through and marks it.
    assert_eq!(run(&req).1.verdict, Verdict::Denied);
    let (review, d) = mutate_with(&Config::default(), &req);
    assert_eq!(review["response"]["allowed"], true);
    assert!(review["response"].get("status").is_none());
    assert_eq!(review["response"]["patchType"], "JSONPatch");
    assert_eq!(d.verdict, Verdict::Warned);
    assert_eq!(d.mode, Mode::Warn);
    let patch = decoded_patch(&review).expect("a patch");
    let mut object = req.object.clone();
    json_patch::patch(&mut object, &patch).expect("applies");
    let annotations = &object["metadata"]["annotations"];
    assert_eq!(annotations[DRIFT], "spec.replicas");
    assert_eq!(annotations[DRIFT_BY], "alice");
    assert_eq!(annotations[DRIFT_REVISION], "main@sha1:0123456789ab");
    let mut twice = object.clone();
    json_patch::patch(&mut twice, &patch).expect("applies again");
    assert_eq!(twice, object);

    // Reinvocation: the request now carries the annotations; no patch, and they are no drift.
    let again = Req::new("UPDATE", object.clone(), deployment(3, "nginx:1.25"));
    let (review, d) = mutate_with(&Config::default(), &again);
    assert!(decoded_patch(&review).is_none(), "{review}");
    assert_eq!(d.violations.len(), 1, "{:?}", d.violations);

    // No drift: no patch.
    let clean = Req::new(
        "UPDATE",
        deployment(3, "nginx:1.25"),
        deployment(3, "nginx:1.25"),
    );
    let (review, d) = mutate_with(&Config::default(), &clean);
    assert!(decoded_patch(&review).is_none());
    assert!(!d.should_audit());
}

#[test]
fn own_annotations_declared_in_git_are_never_drift() {
    // Git declares an old drift annotation (someone committed a live object back to Git); the
    // request carries the newer one. That difference is never a violation.
    let mut git = deployment(3, "nginx:1.25");
    git["metadata"]["annotations"] = json!({"driftgate.io/drift": "spec.replicas"});
    let raw = RawObject {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        value: git.into(),
        file: Arc::from("apps/web.yaml"),
        line: 1,
        origin: Origin::File,
        stale: false,
    };
    let snap = Snapshot::build(vec![SourceState {
        name: "fleet".into(),
        default_namespace: "default".into(),
        objects: vec![raw],
        ..SourceState::default()
    }])
    .expect("builds");
    let mut new = deployment(3, "nginx:1.25");
    new["metadata"]["annotations"] = json!({"driftgate.io/drift": "spec.template"});
    let req = Req::new("UPDATE", new, deployment(3, "nginx:1.25"));
    let (_, d) =
        validate(&req.body(), &snap, &Policy::from_config(&Config::default())).expect("valid");
    assert_eq!(d.verdict, Verdict::Allowed, "{:?}", d.violations);
}

#[test]
fn mutate_marks_break_glass_and_skips_deletes() {
    let config = break_glass_config();
    let mut new = deployment(5, "nginx:1.25");
    new["metadata"]["annotations"] = json!({"driftgate.io/break-glass": "INC-42"});
    let mut req = Req::new("UPDATE", new, deployment(3, "nginx:1.25"));
    req.groups = vec!["oncall"];
    let (review, d) = mutate_with(&config, &req);
    assert_eq!(d.break_glass.as_deref(), Some("INC-42"));
    let patch = decoded_patch(&review).expect("patch");
    let mut object = req.object.clone();
    json_patch::patch(&mut object, &patch).expect("applies");
    assert_eq!(
        object["metadata"]["annotations"]["driftgate.io/break-glass"],
        "INC-42"
    );
    assert_eq!(
        object["metadata"]["annotations"]["driftgate.io/drift"],
        "spec.replicas"
    );

    let delete = Req::new("DELETE", Value::Null, deployment(3, "nginx:1.25"));
    let (review, _) = mutate_with(&Config::default(), &delete);
    assert_eq!(review["response"]["allowed"], true);
    assert!(decoded_patch(&review).is_none());
}
