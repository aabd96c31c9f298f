//! What a request to a protected path presents (`Authorization: Bearer …`, and the verb its
//! method stands for), and every way it is turned away, mapped to an HTTP status in one place.

use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::metrics::AuthResult;

/// The verb a non-resource request is authorized as: `get` for reads, else the lower-case
/// method, as the apiserver names verbs on non-resource URLs.
pub fn verb(method: &Method) -> String {
    if method == Method::GET || method == Method::HEAD {
        "get".into()
    } else {
        method.as_str().to_ascii_lowercase()
    }
}

/// The token of `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Result<String, Refusal> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Refusal::Missing);
    };
    if values.next().is_some() {
        return Err(Refusal::Malformed("more than one Authorization header"));
    }
    let text = value
        .to_str()
        .map_err(|_| Refusal::Malformed("the Authorization header is not visible ASCII"))?
        .trim();
    let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::Missing);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Refusal::Missing);
    }
    if token.contains(char::is_whitespace) {
        return Err(Refusal::Malformed("a bearer token has no whitespace in it"));
    }
    Ok(token.to_string())
}

/// Every way a protected request is turned away, mapped to its status in one place.
#[derive(Debug)]
pub enum Refusal {
    Missing,
    Malformed(&'static str),
    Rejected,
    Forbidden {
        user: String,
        verb: String,
        path: String,
    },
    Unavailable(String),
}

impl Refusal {
    pub fn result(&self) -> AuthResult {
        match self {
            Refusal::Missing | Refusal::Rejected => AuthResult::Unauthenticated,
            Refusal::Malformed(_) => AuthResult::Malformed,
            Refusal::Forbidden { .. } => AuthResult::Forbidden,
            Refusal::Unavailable(_) => AuthResult::Unavailable,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let challenge = |value: &'static str| [(header::WWW_AUTHENTICATE, value)];
        match self {
            Refusal::Missing => (
                StatusCode::UNAUTHORIZED,
                challenge("Bearer realm=\"driftgate\""),
                "driftgate: this path needs `Authorization: Bearer <token>`\n",
            )
                .into_response(),
            Refusal::Rejected => (
                StatusCode::UNAUTHORIZED,
                challenge("Bearer realm=\"driftgate\", error=\"invalid_token\""),
                "driftgate: the bearer token is not accepted\n",
            )
                .into_response(),
            Refusal::Malformed(why) => {
                (StatusCode::BAD_REQUEST, format!("driftgate: {why}\n")).into_response()
            }
            Refusal::Forbidden { user, verb, path } => (
                StatusCode::FORBIDDEN,
                format!("driftgate: {user:?} may not {verb} {path} (RBAC: nonResourceURLs)\n"),
            )
                .into_response(),
            Refusal::Unavailable(reason) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("driftgate: cannot check access now: {reason}\n"),
            )
                .into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(
                header::AUTHORIZATION,
                HeaderValue::from_str(v).expect("value"),
            );
        }
        map
    }

    #[test]
    fn bearer_tokens_and_what_is_not_one() {
        assert_eq!(
            bearer(&headers(&["Bearer abc.def-ghi"])).ok().as_deref(),
            Some("abc.def-ghi")
        );
        assert_eq!(
            bearer(&headers(&["bearer   tok  "])).ok().as_deref(),
            Some("tok")
        );
        for (values, result) in [
            (&[][..], AuthResult::Unauthenticated),
            (&["Basic dXNlcjpwYXNz"][..], AuthResult::Unauthenticated),
            (&["Bearer"][..], AuthResult::Unauthenticated),
            (&["Bearer "][..], AuthResult::Unauthenticated),
            (&["Bearer a b"][..], AuthResult::Malformed),
            (&["Bearer a", "Bearer b"][..], AuthResult::Malformed),
        ] {
            let refusal = bearer(&headers(values)).unwrap_err();
            assert_eq!(refusal.result(), result, "{values:?}");
        }
        let mut binary = HeaderMap::new();
        binary.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xff").expect("value"),
        );
        assert_eq!(bearer(&binary).unwrap_err().result(), AuthResult::Malformed);
    }

    #[test]
    fn verbs_as_the_apiserver_names_them() {
        assert_eq!(verb(&Method::GET), "get");
        assert_eq!(verb(&Method::HEAD), "get");
        assert_eq!(verb(&Method::POST), "post");
        assert_eq!(verb(&Method::DELETE), "delete");
    }
}
