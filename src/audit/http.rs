//! The admin port's report endpoints, as a router the server mounts: `GET /report` (the HTML
//! page) and `GET /api/audit` (the same report as JSON). Both take `since`, `until`, `user`,
//! `namespace` and `limit` as query parameters, like `driftgate report`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::report::{self, Report};
use super::store::{self, Store, Target};

/// HTML another part adds to the `/report` page (the drift scan's section), made per request;
/// `None` adds nothing. The audit side knows nothing of what it shows.
#[derive(Clone)]
pub struct Section(pub Arc<dyn Fn() -> Option<String> + Send + Sync>);

impl std::fmt::Debug for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Section")
    }
}

/// Reads the trail for reports. The store is opened on first use, so the admin port starts
/// (and stays up) while the trail is unreachable.
#[derive(Debug)]
pub struct Reader {
    target: Option<Target>,
    store: OnceCell<Store>,
    section: Option<Section>,
}

impl Reader {
    pub fn new(target: Option<Target>) -> Reader {
        Reader {
            target,
            store: OnceCell::new(),
            section: None,
        }
    }

    /// Adds `section` to every `/report` page.
    pub fn with_section(mut self, section: Option<Section>) -> Reader {
        self.section = section;
        self
    }

    async fn store(&self) -> Result<&Store, store::Error> {
        let Some(target) = &self.target else {
            return Err(store::Error::NotConfigured);
        };
        self.store
            .get_or_try_init(|| Store::open_existing(target))
            .await
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    pub user: Option<String>,
    pub namespace: Option<String>,
    pub limit: Option<String>,
}

pub fn router(reader: Arc<Reader>) -> Router {
    Router::new()
        .route("/report", get(report_html))
        .route("/api/audit", get(api_audit))
        .with_state(reader)
}

async fn build(reader: &Reader, q: &ReportQuery) -> Result<Report, Response> {
    let now = Timestamp::now();
    let filter = report::filter(
        q.since.as_deref(),
        q.until.as_deref(),
        q.user.as_deref(),
        q.namespace.as_deref(),
        q.limit.as_deref(),
        now,
    )
    .map_err(|e| (StatusCode::BAD_REQUEST, crate::text::chain(&e).to_string()).into_response())?;
    let unavailable = |error: store::Error| {
        // Shown twice, in the log and the answer: the text is made once, here.
        let message = crate::text::chain(&error).to_string();
        tracing::warn!(error = %message, "audit report: trail unavailable");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("audit trail unavailable: {message}"),
        )
            .into_response()
    };
    if let Some(Target::Sqlite(path)) = &reader.target {
        if !path.exists() {
            // Nothing recorded yet: the writer creates the file with the first record.
            return Ok(Report::build(Vec::new(), &filter, now));
        }
    }
    let store = reader.store().await.map_err(unavailable)?;
    let records = store.query(&filter).await.map_err(unavailable)?;
    Ok(Report::build(records, &filter, now))
}

pub async fn report_html(
    State(reader): State<Arc<Reader>>,
    Query(q): Query<ReportQuery>,
) -> Response {
    match build(&reader, &q).await {
        Ok(report) => {
            let extra = reader.section.as_ref().and_then(|s| (s.0)());
            (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                super::html::render_with(&report, extra.as_deref().unwrap_or_default()),
            )
                .into_response()
        }
        Err(response) => response,
    }
}

pub async fn api_audit(
    State(reader): State<Arc<Reader>>,
    Query(q): Query<ReportQuery>,
) -> Response {
    match build(&reader, &q).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(response) => response,
    }
}
