//! The admin port (plain HTTP, never exposed outside the cluster): liveness, readiness and
//! metrics. Readiness is a latch on the live snapshot: not ready until the first one is stored,
//! ready from then on, since a failed sync keeps the last good snapshot serving.

use std::time::SystemTime;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::AppState;

pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    let detail = state.status.render(SystemTime::now());
    match state.live.load() {
        Some(snapshot) => (
            StatusCode::OK,
            format!(
                "ready: {} objects at {}\n{detail}",
                snapshot.len(),
                snapshot.revision_label()
            ),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: Git not loaded yet\n{detail}"),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.snapshot.observe(state.live.load().as_deref());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}
