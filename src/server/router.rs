//! The TLS port's routes. `POST /validate` reads the body within the limit, decides on the
//! current snapshot (no I/O: the snapshot is in memory) and answers in the request's review
//! version. A `timeout` query parameter from the apiserver is accepted and ignored: decisions
//! take microseconds.
//!
//! `POST /mutate` (annotate mode) answers the same way but never denies: an edit that
//! introduces drift is allowed with a JSONPatch that marks it. Both hand audited decisions to
//! the audit sink without waiting (`audit.from` picks which endpoint records).

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http_body_util::{BodyExt as _, Limited};

use super::AppState;
use crate::admission::{self, review_json, Review};
use crate::config::NotReady;
use crate::metrics::{Endpoint, EndpointLabels, Operation, Outcome, RequestLabels};

pub fn tls_router(state: AppState) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .with_state(state)
}

/// Why a request got no AdmissionReview back; mapped to an HTTP status in one place.
#[derive(Debug, thiserror::Error)]
pub enum RejectError {
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("cannot read the request body: {0}")]
    Read(String),
    #[error("the request body did not arrive within {deadline:?}")]
    Timeout { deadline: Duration },
    #[error("not an AdmissionReview: {0}")]
    Invalid(#[from] admission::wire::Error),
}

impl RejectError {
    pub fn outcome(&self) -> Outcome {
        match self {
            RejectError::TooLarge { .. } => Outcome::TooLarge,
            RejectError::Read(_) | RejectError::Timeout { .. } | RejectError::Invalid(_) => {
                Outcome::Invalid
            }
        }
    }
}

impl IntoResponse for RejectError {
    fn into_response(self) -> Response {
        let status = match &self {
            RejectError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            RejectError::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
            RejectError::Read(_) | RejectError::Invalid(_) => StatusCode::BAD_REQUEST,
        };
        (status, format!("driftgate: {self}\n")).into_response()
    }
}

/// Reads at most `limit` bytes within `deadline`. A declared length over the limit is refused
/// before reading anything; an undeclared (chunked) one is cut off as soon as it passes the
/// limit; a body trickling in slower than the deadline allows is answered 408.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, RejectError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(RejectError::TooLarge { limit });
    }
    let collected = tokio::time::timeout(deadline, Limited::new(body, limit).collect())
        .await
        .map_err(|_| RejectError::Timeout { deadline })?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(RejectError::TooLarge { limit })
        }
        Err(e) => Err(RejectError::Read(e.to_string())),
    }
}

async fn validate(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    handle(Endpoint::Validate, &state, &headers, body).await
}

async fn mutate(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    handle(Endpoint::Mutate, &state, &headers, body).await
}

async fn handle(endpoint: Endpoint, state: &AppState, headers: &HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let (response, operation, outcome) = match answer(endpoint, state, headers, body).await {
        Ok((review, operation, outcome)) => {
            (axum::Json(review).into_response(), operation, outcome)
        }
        Err(e) => {
            tracing::debug!("rejected: {e}");
            let outcome = e.outcome();
            (e.into_response(), Operation::Other, outcome)
        }
    };
    let metrics = &state.metrics.server;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            endpoint,
            operation,
            decision: outcome,
        })
        .inc();
    metrics
        .request_duration
        .get_or_create(&EndpointLabels { endpoint })
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn answer(
    endpoint: Endpoint,
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(serde_json::Value, Operation, Outcome), RejectError> {
    let body = read_body(headers, body, state.max_body_bytes, state.body_read_timeout).await?;
    let Some(snapshot) = state.live.load() else {
        // The mutating webhook never blocks: before the first snapshot it allows, unmarked.
        let policy = match endpoint {
            Endpoint::Validate => state.not_ready,
            Endpoint::Mutate => NotReady::Allow,
        };
        return not_ready(&body, policy, &state.policy);
    };
    let which = match endpoint {
        Endpoint::Validate => admission::Endpoint::Validate,
        Endpoint::Mutate => admission::Endpoint::Mutate,
    };
    let outcome = admission::evaluate(which, &body, &snapshot, &state.policy)?;
    if let Some(auditor) = &state.auditor {
        auditor.observe(which, &outcome);
    }
    Ok((
        outcome.review,
        Operation::parse(&outcome.decision.operation),
        outcome.decision.verdict.into(),
    ))
}

/// Before the first snapshot there is nothing to compare with. `deny` (the default) refuses
/// with 503 so a starting replica never lets an edit through unchecked.
/// The GitOps controller is never held up by it: bypass needs no snapshot.
fn not_ready(
    body: &[u8],
    not_ready: NotReady,
    policy: &crate::policy::Policy,
) -> Result<(serde_json::Value, Operation, Outcome), RejectError> {
    let review = Review::parse(body)?;
    let request = &review.request;
    let mut response = admission::Response::allow(&request.uid);
    if policy.is_bypassed(&request.user_info, &[]) {
        return Ok((
            review_json(review.version, &response),
            Operation::parse(&request.operation),
            Outcome::Allowed,
        ));
    }
    let message = "driftgate has not loaded Git yet";
    match not_ready {
        NotReady::Deny => {
            response.allowed = false;
            response.status = Some(admission::wire::Status {
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
    Ok((
        review_json(review.version, &response),
        Operation::parse(&request.operation),
        Outcome::NotReady,
    ))
}
