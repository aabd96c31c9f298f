//! The floor: a no-op admission webhook in the same stack as driftgate (axum + rustls + tokio +
//! serde_json). It parses the review, echoes the uid and allows. Every load figure for driftgate
//! is quoted as a ratio to this, measured in the same run on the same machine.
//!
//! ```text
//! cargo run --release --example floor -- --cert certs/tls.crt --key certs/tls.key \
//!     --listen 127.0.0.1:9443 [--lazy]
//! ```
//! By default the whole body is parsed into a `serde_json::Value`, as a typical webhook does;
//! `--lazy` keeps `object`/`oldObject` raw (the least a webhook can do).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::value::RawValue;
use serde_json::{json, Value};

#[path = "../bench/floor_server.rs"]
mod floor_server;

/// Just enough of a review to answer it, objects left raw.
#[derive(serde::Deserialize)]
struct LazyReview<'a> {
    #[serde(rename = "apiVersion", borrow)]
    api_version: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    request: Option<LazyRequest<'a>>,
}

#[derive(serde::Deserialize)]
struct LazyRequest<'a> {
    #[serde(borrow)]
    uid: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, rename = "object", borrow)]
    _object: Option<&'a RawValue>,
    #[serde(default, rename = "oldObject", borrow)]
    _old_object: Option<&'a RawValue>,
}

async fn validate(State(lazy): State<bool>, body: Bytes) -> Response {
    let (api_version, uid) = if lazy {
        match serde_json::from_slice::<LazyReview>(&body) {
            Ok(r) => (
                r.api_version
                    .map(|v| v.into_owned())
                    .unwrap_or_else(|| "admission.k8s.io/v1".into()),
                r.request.and_then(|q| q.uid).map(|u| u.into_owned()),
            ),
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        }
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => (
                v["apiVersion"]
                    .as_str()
                    .unwrap_or("admission.k8s.io/v1")
                    .to_string(),
                v["request"]["uid"].as_str().map(str::to_string),
            ),
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        }
    };
    let Some(uid) = uid else {
        return (StatusCode::BAD_REQUEST, "no request.uid").into_response();
    };
    axum::Json(json!({
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": true},
    }))
    .into_response()
}

fn main() -> anyhow::Result<()> {
    let args = floor_server::args(
        "floor --cert FILE --key FILE [--listen ADDR] [--lazy]",
        &["--lazy"],
    )?;
    let lazy = args.set.contains(&"--lazy");
    let app = Router::new()
        .route("/validate", post(validate))
        .with_state(lazy);
    floor_server::serve("floor", &args, app)
}
