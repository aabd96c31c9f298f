//! The admission layer: the wire format, the decision, and the answer built from it.

pub mod decide;
pub mod respond;
pub mod wire;

pub use decide::{decide, Decision, Reason, Verdict, Violation};
pub use wire::{review_json, Response, Review, ReviewVersion};

use crate::policy::Policy;
use crate::snapshot::Snapshot;

/// What `/validate` and `check` answer for one review body: the whole AdmissionReview JSON and
/// the decision behind it. A body that is not a review is an error (HTTP 400).
pub fn validate(
    body: &[u8],
    snapshot: &Snapshot,
    policy: &Policy,
) -> Result<(serde_json::Value, Decision), wire::Error> {
    let review = Review::parse(body)?;
    let req = &review.request;
    let decision = decide(req, snapshot, policy)?;
    let response = respond::respond(&req.uid, &decision, &req.user_info.username);
    Ok((review_json(review.version, &response), decision))
}

#[cfg(test)]
mod tests;
