//! The admin port's report endpoints, as a router the server mounts: `GET /report` (the HTML
//! page) and `GET /api/audit` (the same report as JSON). Both take `since`, `until`, `user`,
//! `namespace` and `limit` as query parameters, like `driftgate report`. For each blocked edit
//! (by its record's `id`, or the request's uid), `GET /report/suggest?id=` and
//! `GET /api/audit/suggest?id=` give the Git change that makes it legitimate, made on demand
//! by whoever serves (see [`Suggester`]) and never on the webhook's request path.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::record::Record;
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

/// Makes a recorded blocked edit's Git change (a diff; `None`: nothing to change), given by
/// another part (`suggest`): blocking work (Git, kustomize), run on a blocking thread.
#[derive(Clone)]
pub struct Suggester(pub Arc<SuggestFn>);

/// A recorded blocked edit to its diff (`None`: nothing to change), or why there is none.
pub type SuggestFn = dyn Fn(&Record) -> Result<Option<String>, SuggestError> + Send + Sync;

/// Why a suggester made no diff, with its causes (shown with [`crate::text::chain`]).
pub type SuggestError = Box<dyn std::error::Error + Send + Sync>;

impl std::fmt::Debug for Suggester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Suggester")
    }
}

/// Reads the trail for reports. The store is opened on first use, so the admin port starts
/// (and stays up) while the trail is unreachable.
#[derive(Debug)]
pub struct Reader {
    target: Option<Target>,
    store: OnceCell<Store>,
    section: Option<Section>,
    suggester: Option<Suggester>,
}

impl Reader {
    pub fn new(target: Option<Target>) -> Reader {
        Reader {
            target,
            store: OnceCell::new(),
            section: None,
            suggester: None,
        }
    }

    /// Offers each blocked edit's Git change, made by `suggester`.
    pub fn with_suggester(mut self, suggester: Option<Suggester>) -> Reader {
        self.suggester = suggester;
        self
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
        .route("/report/suggest", get(suggest_html))
        .route("/api/audit/suggest", get(suggest_json))
        .with_state(reader)
}

/// The suggester's thread did not return (it panicked, or the runtime shut down).
#[derive(Debug, thiserror::Error)]
#[error("the suggestion failed")]
struct Crashed(#[source] tokio::task::JoinError);

#[derive(Debug, Default, Deserialize)]
pub struct SuggestQuery {
    pub id: Option<String>,
}

/// The record asked for and its Git change, or the response that says why not.
async fn suggestion(
    reader: &Reader,
    q: &SuggestQuery,
) -> Result<(Record, Result<Option<String>, SuggestError>), Response> {
    let plain = |code: StatusCode, text: String| (code, text).into_response();
    let id = q.id.as_deref().filter(|id| !id.is_empty()).ok_or_else(|| {
        plain(
            StatusCode::BAD_REQUEST,
            "give id=RECORD or the request's uid".into(),
        )
    })?;
    let Some(suggester) = reader.suggester.clone() else {
        return Err(plain(
            StatusCode::NOT_FOUND,
            "suggested changes are not offered here".into(),
        ));
    };
    let store = reader.store().await.map_err(|e| {
        plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("audit trail unavailable: {e}"),
        )
    })?;
    let record = store
        .get(id)
        .await
        .map_err(|e| {
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("audit trail unavailable: {e}"),
            )
        })?
        .ok_or_else(|| plain(StatusCode::NOT_FOUND, format!("no record {id}")))?;
    let for_blocking = record.clone();
    let outcome = match tokio::task::spawn_blocking(move || (suggester.0)(&for_blocking)).await {
        Ok(outcome) => outcome,
        Err(e) => Err(Box::new(Crashed(e)) as SuggestError),
    };
    Ok((record, outcome))
}

pub async fn suggest_html(
    State(reader): State<Arc<Reader>>,
    Query(q): Query<SuggestQuery>,
) -> Response {
    match suggestion(&reader, &q).await {
        Ok((record, outcome)) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            super::html::suggestion(
                &record,
                match &outcome {
                    Ok(diff) => Ok(diff.as_deref()),
                    Err(e) => Err(&**e),
                },
            ),
        )
            .into_response(),
        Err(response) => response,
    }
}

pub async fn suggest_json(
    State(reader): State<Arc<Reader>>,
    Query(q): Query<SuggestQuery>,
) -> Response {
    match suggestion(&reader, &q).await {
        Ok((record, outcome)) => {
            let body = match outcome {
                Ok(diff) => serde_json::json!({
                    "id": record.id,
                    "uid": record.uid,
                    "object": record.object(),
                    "nothingToChange": diff.is_none(),
                    "diff": diff.unwrap_or_default(),
                }),
                Err(e) => {
                    // The text is made here, where it is shown.
                    let reason = crate::text::chain(e.as_ref()).to_string();
                    serde_json::json!({"id": record.id, "uid": record.uid, "object": record.object(), "error": reason})
                }
            };
            axum::Json(body).into_response()
        }
        Err(response) => response,
    }
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
