//! The transport floor: the least an admission webhook can do in driftgate's stack. It reads
//! the body, finds the review's `apiVersion` and the request's `uid` with a byte scan (no JSON
//! parse), and answers allowed in the request's review version. driftgate / this floor is what
//! the decision itself costs on top of TLS, HTTP and reading the body; driftgate / `floor`
//! (which parses the review) says how it compares with a webhook that decodes eagerly.
//!
//! ```text
//! cargo run --release --example transport_floor -- --cert certs/tls.crt --key certs/tls.key \
//!     --listen 127.0.0.1:9444
//! ```

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

#[path = "../bench/floor_server.rs"]
mod floor_server;

/// The string value of the first `"key"` member in `body`, by a scan: the apiserver writes
/// an AdmissionReview's `apiVersion` before `request`, and `request.uid` as its first member,
/// so the first occurrence is the one wanted. `None` when there is none or it is not a plain
/// string (the floor then answers 400, as a webhook must for a review without a uid).
fn first_string<'b>(body: &'b [u8], key: &[u8]) -> Option<&'b [u8]> {
    let mut from = 0;
    while let Some(at) = find(body.get(from..)?, key) {
        let after = from + at + key.len();
        from = after;
        let rest = body.get(after..)?;
        let rest = skip_blanks(rest);
        let Some(rest) = rest.strip_prefix(b":") else {
            continue;
        };
        let rest = skip_blanks(rest).strip_prefix(b"\"")?;
        let end = rest.iter().position(|b| *b == b'"' || *b == b'\\')?;
        // An escape in a uid or apiVersion is not something the apiserver writes.
        return (rest.get(end) == Some(&b'"')).then(|| &rest[..end]);
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn skip_blanks(bytes: &[u8]) -> &[u8] {
    let n = bytes
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .count();
    &bytes[n..]
}

async fn validate(body: Bytes) -> Response {
    let Some(uid) = first_string(&body, b"\"uid\"") else {
        return (StatusCode::BAD_REQUEST, "no request.uid").into_response();
    };
    let version: &[u8] = match first_string(&body, b"\"apiVersion\"") {
        Some(v @ b"admission.k8s.io/v1beta1") => v,
        _ => b"admission.k8s.io/v1",
    };
    // The uid is echoed as the bytes it came in (between quotes, without escapes).
    let mut out = Vec::with_capacity(uid.len() + 96);
    out.extend_from_slice(b"{\"apiVersion\":\"");
    out.extend_from_slice(version);
    out.extend_from_slice(b"\",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":\"");
    out.extend_from_slice(uid);
    out.extend_from_slice(b"\",\"allowed\":true}}");
    ([(header::CONTENT_TYPE, "application/json")], out).into_response()
}

fn main() -> anyhow::Result<()> {
    let args = floor_server::args(
        "transport_floor --cert FILE --key FILE [--listen ADDR]",
        &[],
    )?;
    let app = Router::new().route("/validate", post(validate));
    floor_server::serve("transport-floor", &args, app)
}

#[cfg(test)]
mod tests {
    use super::first_string;

    #[test]
    fn finds_the_uid_and_version_without_parsing() {
        let body = br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{"uid" : "705ab4f5-6393-11e8-b7cc-42010a800002","object":{"metadata":{"uid":"other"}}}}"#;
        assert_eq!(
            first_string(body, b"\"uid\""),
            Some(&b"705ab4f5-6393-11e8-b7cc-42010a800002"[..])
        );
        assert_eq!(
            first_string(body, b"\"apiVersion\""),
            Some(&b"admission.k8s.io/v1beta1"[..])
        );
        assert_eq!(first_string(br#"{"uid":1}"#, b"\"uid\""), None);
        assert_eq!(first_string(br#"{"uid":"a\"b"}"#, b"\"uid\""), None);
        assert_eq!(first_string(b"", b"\"uid\""), None);
    }
}
