//! `POST /sync` on the admin port: a Git host's push webhook asks for a sync now instead of at
//! the next poll. With `server.syncSecret` set, only requests signed as GitHub signs them
//! (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`) are accepted.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::engine::Trigger;

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Whether `header` is the signature of `body` under `secret`. The comparison is
/// constant-time (hmac's `verify_slice`), so a forger learns nothing from timing.
pub fn verify_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// `sha256=<hex>` for `body`, as a Git host would send it (tests, tools).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[derive(Clone)]
struct HookState {
    trigger: Trigger,
    secret: Option<Arc<[u8]>>,
}

/// The `/sync` route, to merge into the admin router.
pub fn router(trigger: Trigger, secret: Option<&str>) -> Router {
    let state = HookState {
        trigger,
        secret: secret.map(|s| Arc::from(s.as_bytes())),
    };
    Router::new()
        .route("/sync", post(sync_now))
        .with_state(state)
}

async fn sync_now(
    State(state): State<HookState>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    if let Some(secret) = &state.secret {
        let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
        if !verify_signature(secret, &body, header) {
            tracing::warn!("POST /sync rejected: missing or wrong X-Hub-Signature-256");
            return (StatusCode::UNAUTHORIZED, "bad or missing signature\n");
        }
    }
    state.trigger.sync_now();
    (StatusCode::ACCEPTED, "sync started\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_example_signature() {
        // The example from GitHub's "Validating webhook deliveries" documentation.
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_signature(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            Some(header)
        ));
        assert_eq!(
            sign(b"It's a Secret to Everybody", b"Hello, World!"),
            header
        );
        assert!(!verify_signature(b"other", b"Hello, World!", Some(header)));
        assert!(!verify_signature(
            b"It's a Secret to Everybody",
            b"Hello",
            Some(header)
        ));
        assert!(!verify_signature(b"s", b"b", None));
        assert!(!verify_signature(b"s", b"b", Some("sha1=abcd")));
        assert!(!verify_signature(b"s", b"b", Some("sha256=zz")));
    }
}
