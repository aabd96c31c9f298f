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
use crate::admission::{self, Endpoint};
use crate::metrics::{EndpointLabels, Operation, Outcome, RequestLabels};

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
    #[error("cannot read the request body")]
    Read(#[source] Box<dyn std::error::Error + Send + Sync>),
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
        let message = format!("driftgate: {}\n", crate::text::chain(&self));
        (status, message).into_response()
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
        Err(e) => Err(RejectError::Read(e)),
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
            tracing::debug!("rejected: {}", crate::text::chain(&e));
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
        let unready = admission::before_ready(endpoint, &body, state.not_ready, &state.policy)?;
        let outcome = if unready.bypassed {
            Outcome::Allowed
        } else {
            Outcome::NotReady
        };
        return Ok((
            unready.review,
            Operation::parse(&unready.operation),
            outcome,
        ));
    };
    let outcome = admission::evaluate(endpoint, &body, &snapshot, &state.policy)?;
    if let Some(auditor) = &state.auditor {
        auditor.observe(endpoint, &outcome);
    }
    Ok((
        outcome.review,
        Operation::parse(&outcome.decision.operation),
        outcome.decision.verdict.into(),
    ))
}
