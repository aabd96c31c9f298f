//! The admission layer: the wire format, the decision, and the answer built from it.

pub mod annotate;
pub mod decide;
pub mod fields;
pub mod marks;
pub mod respond;
pub mod wire;

pub use decide::{decide, Decision, Reason, Verdict, Violation};
/// The message a person is shown for a decision with violations (the denial, a warning, an Event).
pub use respond::message;
pub use wire::{review_json, Response, Review, ReviewVersion};

use crate::config::NotReady;
use crate::policy::{Policy, UserInfo};
use crate::snapshot::Snapshot;

/// Which webhook answered: the validating one decides, the mutating one only annotates.
pub use crate::config::Endpoint;

/// Who asked for what, kept beside a decision that is audited (the decision itself only knows
/// the object key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    pub uid: String,
    pub user: UserInfo,
    pub operation: String,
    pub sub_resource: String,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl RequestInfo {
    pub fn from_request(req: &wire::Request) -> RequestInfo {
        RequestInfo {
            uid: req.uid.clone(),
            user: req.user_info.clone(),
            operation: req.operation.clone(),
            sub_resource: req.sub_resource().to_string(),
            // The resource's group and version: for a subresource (`scale`) they are the
            // parent's, while `kind` is the subresource's own (`Scale`).
            group: req.resource.group.clone(),
            version: req.resource.version.clone(),
            kind: req.kind.kind.clone(),
            namespace: req.namespace.clone().unwrap_or_default(),
            name: req
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| req.object_name())
                .unwrap_or_default(),
        }
    }
}

/// One answered review: the AdmissionReview JSON, the decision behind it, and the request's
/// identity when the decision is one the audit trail records (none otherwise: nothing is
/// cloned for the common allowed request).
#[derive(Debug)]
pub struct Outcome {
    pub review: serde_json::Value,
    pub decision: Decision,
    pub request: Option<RequestInfo>,
}

/// Decodes, decides and answers one review body for either endpoint. A body that is not a
/// review is an error (HTTP 400).
pub fn evaluate(
    endpoint: Endpoint,
    body: &[u8],
    snapshot: &Snapshot,
    policy: &Policy,
) -> Result<Outcome, wire::Error> {
    let review = Review::parse(body)?;
    let req = &review.request;
    let mut decision = decide(req, snapshot, policy)?;
    let response = match endpoint {
        Endpoint::Validate => respond::respond(&req.uid, &decision, &req.user_info.username),
        Endpoint::Mutate => {
            annotate::as_annotate(&mut decision);
            let object = if decision.violations.is_empty() {
                None
            } else {
                req.object()?
            };
            annotate::respond(&decision, req, object.as_ref())
        }
    };
    let request = decision
        .should_audit()
        .then(|| RequestInfo::from_request(req));
    Ok(Outcome {
        review: review_json(review.version, &response),
        decision,
        request,
    })
}

/// The answer before the first snapshot: there is nothing to compare with. `/validate` follows
/// `server.notReady`: `deny` (the default) refuses with 503 so a starting replica never lets an
/// edit through unchecked; `/mutate` never blocks and allows, unmarked. The GitOps controller is
/// never held up: bypass needs no snapshot.
pub fn before_ready(
    endpoint: Endpoint,
    body: &[u8],
    not_ready: NotReady,
    policy: &Policy,
) -> Result<Unready, wire::Error> {
    let review = Review::parse(body)?;
    let request = &review.request;
    let mut response = Response::allow(&request.uid);
    let bypassed = policy.is_bypassed(&request.user_info, &[]);
    let not_ready = match endpoint {
        Endpoint::Validate => not_ready,
        Endpoint::Mutate => NotReady::Allow,
    };
    let message = "driftgate has not loaded Git yet";
    match not_ready {
        _ if bypassed => {}
        NotReady::Deny => {
            response.allowed = false;
            response.status = Some(wire::Status {
                code: 503,
                message: format!("{message}; try again shortly"),
                reason: Some("ServiceUnavailable".into()),
            });
        }
        NotReady::Allow => {
            response.warnings.push(format!(
                "{message}: allowed without a check (server.notReady: allow)"
            ));
        }
    }
    Ok(Unready {
        review: review_json(review.version, &response),
        operation: request.operation.clone(),
        bypassed,
    })
}

/// An answer given before the first snapshot.
#[derive(Debug)]
pub struct Unready {
    pub review: serde_json::Value,
    pub operation: String,
    /// The requester is bypassed: allowed as it would be with a snapshot.
    pub bypassed: bool,
}

/// What `/validate` and `check` answer for one review body: the whole AdmissionReview JSON and
/// the decision behind it. A body that is not a review is an error (HTTP 400).
pub fn validate(
    body: &[u8],
    snapshot: &Snapshot,
    policy: &Policy,
) -> Result<(serde_json::Value, Decision), wire::Error> {
    let outcome = evaluate(Endpoint::Validate, body, snapshot, policy)?;
    Ok((outcome.review, outcome.decision))
}

/// What `/mutate` answers: always allowed; a request that introduces drift gets a JSONPatch
/// adding the `driftgate.io/drift*` annotations (see [`annotate`]).
pub fn mutate(
    body: &[u8],
    snapshot: &Snapshot,
    policy: &Policy,
) -> Result<(serde_json::Value, Decision), wire::Error> {
    let outcome = evaluate(Endpoint::Mutate, body, snapshot, policy)?;
    Ok((outcome.review, outcome.decision))
}

#[cfg(test)]
mod tests;
