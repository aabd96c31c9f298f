//! `POST /mutate` (annotate mode) on the TLS port: always allowed; an edit that introduces
//! drift comes back with a JSONPatch adding the `driftgate.io/drift*` annotations. Like
//! `/validate` it decides on the in-memory snapshot only, and hands audited decisions to the
//! audit sink without waiting.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use crate::admission::{self, Endpoint, Review};
use crate::audit::Auditor;
use crate::policy::Policy;
use crate::snapshot::Live;

#[derive(Debug, Clone)]
pub struct MutateState {
    pub live: Arc<Live>,
    pub policy: Arc<Policy>,
    /// Records decisions when `audit.from: mutate`.
    pub auditor: Option<Auditor>,
    pub max_body_bytes: usize,
}

pub fn router(state: MutateState) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route("/mutate", post(mutate))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// The answer for one body; `Err` is a body that is not an AdmissionReview (HTTP 400).
pub fn answer(
    state: &MutateState,
    body: &[u8],
) -> Result<serde_json::Value, admission::wire::Error> {
    let Some(snapshot) = state.live.load() else {
        // Nothing to compare with yet. The mutating webhook never blocks: allow, unmarked.
        let review = Review::parse(body)?;
        let mut response = admission::Response::allow(&review.request.uid);
        response
            .warnings
            .push("driftgate has not loaded Git yet: not annotated".into());
        return Ok(admission::review_json(review.version, &response));
    };
    let outcome = admission::evaluate(Endpoint::Mutate, body, &snapshot, &state.policy)?;
    if let Some(auditor) = &state.auditor {
        auditor.observe(Endpoint::Mutate, &outcome);
    }
    Ok(outcome.review)
}

async fn mutate(State(state): State<MutateState>, body: Bytes) -> Response {
    match answer(&state, &body) {
        Ok(review) => axum::Json(review).into_response(),
        Err(e) => {
            tracing::debug!("rejected: {e}");
            (
                StatusCode::BAD_REQUEST,
                format!("driftgate: not an AdmissionReview: {e}\n"),
            )
                .into_response()
        }
    }
}
