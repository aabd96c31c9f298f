//! The admin port's drift endpoints: `GET /api/drift` (the last periodic scan, in the shape of
//! `driftgate scan --format json`) and the drift section of the audit page's `/report`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::periodic::Latest;

pub fn router(latest: Arc<Latest>) -> Router {
    Router::new()
        .route("/api/drift", get(api_drift))
        .with_state(latest)
}

async fn api_drift(State(latest): State<Arc<Latest>>) -> Response {
    match latest.load() {
        Some(published) => axum::Json(&published.report).into_response(),
        None if latest.enabled() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no drift scan has finished yet\n",
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "periodic drift scans are off (set scan.interval)\n",
        )
            .into_response(),
    }
}

/// The drift section `/report` shows: the last scan, or why there is none.
pub fn report_section(latest: &Latest) -> Option<String> {
    if !latest.enabled() {
        return None;
    }
    Some(match latest.load() {
        Some(p) => super::html::section(
            &p.report,
            &format!(
                "{} (took {:.1} s)",
                p.finished.strftime("%Y-%m-%d %H:%M:%S UTC"),
                p.took.as_secs_f64()
            ),
        ),
        None => "<section id=\"drift\"><h2>Drift from Git (live state)</h2><p class=\"muted\">No drift scan has finished yet.</p></section>".to_string(),
    })
}
