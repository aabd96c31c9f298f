//! Annotate mode (`POST /mutate`): an edit that introduces drift and is let through (warn mode,
//! break-glass, or any mode at the mutating endpoint, whose job is never to deny) is marked on the
//! object itself with `driftgate.io/drift*` annotations, so `kubectl get -o yaml` shows who made
//! the cluster diverge, where, and against which revision.
//!
//! The patch is computed against the object as it arrives, so a reinvoked request that already
//! carries the same annotations gets no patch, and applying the patch twice changes nothing.

use base64::Engine as _;
use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use serde_json::{Map, Value};

use super::decide::{Decision, Reason, Verdict};
pub use super::marks::{DRIFT, DRIFT_BY, DRIFT_REVISION};
use super::respond;
use super::wire::{Request, Response};
use crate::config::Mode;

/// Longest `driftgate.io/drift` value: readable in `kubectl describe`, far below the 256 KiB
/// the apiserver allows for all annotations together.
const MAX_DRIFT_VALUE: usize = 1000;

/// The mutating endpoint never denies: what `/validate` would deny is let through and marked.
pub fn as_annotate(decision: &mut Decision) {
    if decision.verdict == Verdict::Denied {
        decision.verdict = Verdict::Warned;
        decision.mode = Mode::Warn;
    }
}

/// `spec.replicas, spec.template.spec.containers[name=web].image`, cut to fit with a count of
/// what was left out.
pub fn drift_value(decision: &Decision) -> String {
    let paths: Vec<&str> = decision.violation_paths();
    if paths.is_empty() {
        return match decision.reason {
            Reason::Unmanaged => "(not declared in Git)".to_string(),
            _ => "(object)".to_string(),
        };
    }
    let mut out = String::new();
    for (i, p) in paths.iter().enumerate() {
        let rest = paths.len() - i;
        let more = format!(" (+{rest} more)");
        let sep = if out.is_empty() { "" } else { ", " };
        let fits = out.len() + sep.len() + p.len() + if rest > 1 { more.len() } else { 0 };
        if fits > MAX_DRIFT_VALUE {
            if out.is_empty() {
                out = crate::text::shorten(p, MAX_DRIFT_VALUE - more.len());
                if rest > 1 {
                    out.push_str(&format!(" (+{} more)", rest - 1));
                }
            } else {
                out.push_str(&more);
            }
            return out;
        }
        out.push_str(sep);
        out.push_str(p);
    }
    out
}

/// The JSONPatch that marks the object, or `None` when there is nothing to mark (no drift, a
/// delete, a subresource) or the object already carries exactly these annotations.
pub fn patch_for(decision: &Decision, req: &Request, object: Option<&Value>) -> Option<Patch> {
    if (decision.verdict == Verdict::Allowed && decision.break_glass.is_none())
        || decision.violations.is_empty()
        || !matches!(decision.operation.as_str(), "CREATE" | "UPDATE")
        || !req.sub_resource().is_empty()
    {
        return None;
    }
    let object = object?;
    let wanted = [
        (DRIFT, drift_value(decision)),
        (DRIFT_REVISION, decision.revision.clone()),
        (DRIFT_BY, req.user_info.username.clone()),
    ];
    let add = |path: PointerBuf, value: Value| PatchOperation::Add(AddOperation { path, value });
    let ops: Vec<PatchOperation> = match object.pointer("/metadata/annotations") {
        Some(Value::Object(existing)) => wanted
            .iter()
            .filter(|(k, v)| existing.get(*k).and_then(Value::as_str) != Some(v.as_str()))
            .map(|(k, v)| {
                add(
                    PointerBuf::from_tokens(["metadata", "annotations", k]),
                    Value::String(v.clone()),
                )
            })
            .collect(),
        _ => {
            let map: Map<String, Value> = wanted
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
                .collect();
            if object.get("metadata").is_some_and(Value::is_object) {
                vec![add(
                    PointerBuf::from_tokens(["metadata", "annotations"]),
                    Value::Object(map),
                )]
            } else {
                vec![add(
                    PointerBuf::from_tokens(["metadata"]),
                    serde_json::json!({ "annotations": map }),
                )]
            }
        }
    };
    (!ops.is_empty()).then_some(Patch(ops))
}

/// The mutating answer: always allowed, with warnings, and the patch when there is one.
pub fn respond(decision: &Decision, req: &Request, object: Option<&Value>) -> Response {
    let user = req.user_info.username.as_str();
    let mut response = respond::respond(&req.uid, decision, user);
    response.allowed = true;
    response.status = None;
    if let Some(patch) = patch_for(decision, req, object) {
        // Serialising a Patch of strings and maps cannot fail; an empty patch is sent as none.
        if let Ok(bytes) = serde_json::to_vec(&patch) {
            response.patch = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
            response.patch_type = Some("JSONPatch".to_string());
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::decide::Violation;

    fn decision(paths: &[&str]) -> Decision {
        Decision {
            verdict: Verdict::Warned,
            reason: Reason::Drift,
            operation: "UPDATE".into(),
            key: None,
            declared: None,
            violations: paths
                .iter()
                .map(|p| Violation {
                    path: p.to_string(),
                    at: crate::drift::Path::root(),
                    git: Value::Null,
                    requested: None,
                    old: None,
                    first_difference: None,
                })
                .collect(),
            preexisting: Vec::new(),
            mode: Mode::Warn,
            dry_run: false,
            break_glass: None,
            notes: Vec::new(),
            revision: "main@sha1:0123456789ab".into(),
        }
    }

    fn request(object: &Value) -> Request {
        serde_json::from_value(serde_json::json!({
            "uid": "u", "operation": "UPDATE",
            "userInfo": {"username": "alice"}, "object": object,
        }))
        .expect("request")
    }

    fn apply(object: &Value, patch: &Patch) -> Value {
        let mut out = object.clone();
        json_patch::patch(&mut out, patch).expect("patch applies");
        out
    }

    #[test]
    fn creates_annotations_when_absent_and_escapes_keys() {
        let obj = serde_json::json!({"metadata": {"name": "web"}, "spec": {"replicas": 5}});
        let d = decision(&["spec.replicas"]);
        let patch = patch_for(&d, &request(&obj), Some(&obj)).expect("patch");
        let text = serde_json::to_string(&patch).expect("json");
        assert!(text.contains(r#""path":"/metadata/annotations""#), "{text}");
        let once = apply(&obj, &patch);
        assert_eq!(
            once["metadata"]["annotations"][DRIFT], "spec.replicas",
            "{once}"
        );
        assert_eq!(
            once["metadata"]["annotations"][DRIFT_REVISION],
            "main@sha1:0123456789ab"
        );
        assert_eq!(once["metadata"]["annotations"][DRIFT_BY], "alice");
        assert_eq!(apply(&once, &patch), once, "applying twice changes nothing");
        // Reinvoked with the patched object: nothing left to do.
        assert!(patch_for(&d, &request(&once), Some(&once)).is_none());

        let with = serde_json::json!({"metadata": {"annotations": {"team": "a", DRIFT: "old"}}});
        let patch = patch_for(&d, &request(&with), Some(&with)).expect("patch");
        let text = serde_json::to_string(&patch).expect("json");
        assert!(
            text.contains(r#""/metadata/annotations/driftgate.io~1drift""#),
            "{text}"
        );
        let once = apply(&with, &patch);
        assert_eq!(once["metadata"]["annotations"]["team"], "a");
        assert_eq!(once["metadata"]["annotations"][DRIFT], "spec.replicas");
        assert_eq!(apply(&once, &patch), once);
    }

    #[test]
    fn tilde_keys_are_escaped() {
        let p = PointerBuf::from_tokens(["metadata", "annotations", "a~b/c"]);
        assert_eq!(p.as_str(), "/metadata/annotations/a~0b~1c");
    }

    #[test]
    fn no_drift_no_patch_and_no_metadata_is_created() {
        let obj = serde_json::json!({"spec": {}});
        assert!(patch_for(&decision(&[]), &request(&obj), Some(&obj)).is_none());
        let mut allowed = decision(&["spec.replicas"]);
        allowed.verdict = Verdict::Allowed;
        assert!(patch_for(&allowed, &request(&obj), Some(&obj)).is_none());
        let patch =
            patch_for(&decision(&["spec.replicas"]), &request(&obj), Some(&obj)).expect("p");
        assert_eq!(
            apply(&obj, &patch)["metadata"]["annotations"][DRIFT_BY],
            "alice"
        );
    }

    #[test]
    fn long_path_lists_are_shortened_with_a_count() {
        let paths: Vec<String> = (0..200)
            .map(|i| format!("spec.template.spec.containers[name=c{i}].image"))
            .collect();
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let value = drift_value(&decision(&refs));
        assert!(value.len() <= MAX_DRIFT_VALUE, "{}", value.len());
        assert!(value.ends_with("more)"), "{value}");
        assert!(value.starts_with("spec.template.spec.containers[name=c0].image, "));
        let long = "x".repeat(5000);
        let value = drift_value(&decision(&[long.as_str(), "b"]));
        assert!(value.chars().count() <= MAX_DRIFT_VALUE, "{}", value.len());
        assert!(value.ends_with("(+1 more)"), "{value}");
    }
}
