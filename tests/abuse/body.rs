//! Hostile bodies through the decision. A body that is not a review is an error (the server
//! answers 400); anything that is a review gets an answer carrying its uid; nothing panics and
//! nothing takes long.

use std::time::{Duration, Instant};

use driftgate::admission::{self, wire, Reason, Verdict};
use serde_json::{json, Value};

use super::workload::{self, Change};

/// Decisions on hostile input must still be quick; generous for a loaded 2-core CI machine.
const BOUND: Duration = Duration::from_secs(5);

fn validate(body: &[u8]) -> Result<(Value, admission::Decision), wire::Error> {
    let snap = super::snapshot(30);
    let started = Instant::now();
    let out = admission::validate(body, &snap, &super::policy());
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    out
}

fn review(request: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": request,
    }))
    .expect("serialises")
}

/// A request about declared Deployment 0 (`team-0/app-0`) by an unbypassed user.
fn deployment_request(operation: &str, object: Value, old: Value) -> Value {
    json!({
        "uid": "abuse-uid",
        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "name": "app-0",
        "namespace": "team-0",
        "operation": operation,
        "userInfo": {"username": "mallory", "groups": ["system:authenticated"]},
        "object": object,
        "oldObject": old,
    })
}

fn uid_of(answer: &Value) -> &str {
    answer["response"]["uid"].as_str().unwrap_or_default()
}

#[test]
fn not_reviews_are_errors() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("not JSON", b"GET / HTTP/1.1\r\n\r\n".to_vec()),
        ("JSON scalar", b"42".to_vec()),
        ("JSON array", b"[]".to_vec()),
        ("invalid UTF-8", b"{\"apiVersion\":\"admission.k8s.io/v1\xff\xfe\"}".to_vec()),
        (
            "invalid UTF-8 inside the object",
            b"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"object\":{\"a\":\"\xc3\x28\"}}}".to_vec(),
        ),
        (
            "wrong apiVersion",
            br#"{"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{"uid":"u"}}"#.to_vec(),
        ),
        (
            "wrong kind",
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"TokenReview","request":{"uid":"u"}}"#.to_vec(),
        ),
        (
            "missing request",
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(),
        ),
        (
            "request null",
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}"#.to_vec(),
        ),
        (
            "missing uid",
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}"#.to_vec(),
        ),
        (
            "uid not a string",
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}"#.to_vec(),
        ),
    ];
    for (label, body) in cases {
        assert!(validate(&body).is_err(), "{label}: accepted");
    }
    // Truncated mid-body, at every tenth byte of a real 10 KB UPDATE.
    let full = workload::update_review(0, "t", "mallory", Change::Image);
    for cut in (0..full.len()).step_by(10) {
        assert!(
            validate(&full[..cut]).is_err(),
            "truncated at {cut}: accepted"
        );
    }
}

#[test]
fn nesting_10000_deep_is_refused_without_overflow() {
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_map = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    // Where serde skips a value (fields driftgate does not read), serde_json skips it without
    // recursing: accepted and answered, at a cost linear in its size.
    for (field, nested) in [("extra", &deep), ("options", &deep_map)] {
        let skipped = format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","operation":"CONNECT","userInfo":{{"username":"x"}},"{field}":{nested}}}}}"#
        );
        let (answer, _) = validate(skipped.as_bytes()).expect("skipped, answered");
        assert_eq!(uid_of(&answer), "u");
    }
    // Where driftgate reads the value, the parser's depth limit refuses it.
    let read = format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","userInfo":{{"username":"x","groups":{deep}}}}}}}"#
    );
    assert!(matches!(
        validate(read.as_bytes()),
        Err(wire::Error::Json(_))
    ));
    // As the object of a declared Deployment: a top level that is not an object is refused; a
    // deep map under a field Git does not declare is never parsed (only declared fields are),
    // so it is answered (the declared fields are missing in old and new alike: pre-existing drift).
    let body_with = |nested: &str| {
        format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","kind":{{"group":"apps","version":"v1","kind":"Deployment"}},"resource":{{"group":"apps","version":"v1","resource":"deployments"}},"name":"app-0","namespace":"team-0","operation":"UPDATE","userInfo":{{"username":"mallory"}},"object":{nested},"oldObject":{nested}}}}}"#
        )
    };
    assert!(matches!(
        validate(body_with(&deep).as_bytes()),
        Err(wire::Error::Object { .. })
    ));
    let (answer, _) = validate(body_with(&deep_map).as_bytes()).expect("answered");
    assert_eq!(uid_of(&answer), "u");
    assert!(answer["response"]["warnings"]
        .to_string()
        .contains("already differs"));
    // Deep nesting inside a declared field is parsed, and refused by the depth limit.
    let in_spec = format!("{{\"spec\":{deep_map}}}");
    assert!(matches!(
        validate(body_with(&in_spec).as_bytes()),
        Err(wire::Error::Object { .. })
    ));
}

#[test]
fn object_null_on_update_of_a_declared_object_is_malformed() {
    // Nothing to compare: allowing would let a malformed request through, so it is a 400.
    let old = workload::live_deployment(0, 1);
    let body = review(deployment_request("UPDATE", Value::Null, old.clone()));
    assert!(matches!(
        validate(&body),
        Err(wire::Error::MissingObject { .. })
    ));
    let mut absent = deployment_request("UPDATE", Value::Null, old);
    absent.as_object_mut().map(|r| r.remove("object"));
    assert!(matches!(
        validate(&review(absent)),
        Err(wire::Error::MissingObject { .. })
    ));
}

#[test]
fn connect_and_unknown_operations_are_allowed_with_the_uid() {
    let exec = json!({
        "uid": "exec-uid",
        "kind": {"group": "", "version": "v1", "kind": "PodExecOptions"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "subResource": "exec",
        "name": "app-0-abc",
        "namespace": "team-0",
        "operation": "CONNECT",
        "userInfo": {"username": "mallory"},
        "object": {"kind": "PodExecOptions", "apiVersion": "v1", "stdin": true, "tty": true, "command": ["sh"]},
    });
    let (answer, decision) = validate(&review(exec)).expect("a review");
    assert_eq!(uid_of(&answer), "exec-uid");
    assert_eq!(answer["response"]["allowed"], true);
    assert_eq!(decision.reason, Reason::NotGuarded);

    let mut odd = deployment_request("PATCH", json!({}), Value::Null);
    odd["uid"] = json!("odd-uid");
    let (answer, decision) = validate(&review(odd)).expect("a review");
    assert_eq!(uid_of(&answer), "odd-uid");
    assert_eq!(answer["response"]["allowed"], true);
    assert_eq!(decision.reason, Reason::NotGuarded);
}

#[test]
fn ten_thousand_containers_are_compared_quickly() {
    let old = workload::live_deployment(0, 1);
    let mut new = old.clone();
    let containers = new["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .expect("containers");
    for c in 0..10_000 {
        containers.push(json!({"name": format!("sidecar-{c}"), "image": "busybox"}));
    }
    let body = review(deployment_request("UPDATE", new, old));
    let (answer, decision) = validate(&body).expect("a review");
    assert_eq!(uid_of(&answer), "abuse-uid");
    // Sidecars are undeclared: matched by name, never by index, so no divergence.
    assert_eq!(decision.reason, Reason::InSync, "{:?}", decision.violations);
}

#[test]
fn a_hundred_thousand_labels_are_compared_quickly() {
    let old = workload::live_deployment(0, 1);
    let mut new = old.clone();
    let labels = new["metadata"]["labels"].as_object_mut().expect("labels");
    for l in 0..100_000 {
        labels.insert(format!("label-{l}"), json!("x"));
    }
    // And one declared label changed, so the whole map is walked and a violation is built.
    labels.insert("team".into(), json!("intruder"));
    let body = review(deployment_request("UPDATE", new, old));
    assert!(body.len() > 1_000_000);
    let (answer, decision) = validate(&body).expect("a review");
    assert_eq!(uid_of(&answer), "abuse-uid");
    assert_eq!(decision.verdict, Verdict::Denied);
    assert_eq!(decision.violations.len(), 1, "{:?}", decision.violations);
    assert_eq!(decision.violations[0].path, "metadata.labels.team");
    let message = answer["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.len() < 4_000, "message is {} bytes", message.len());
}
