//! The admin port's authentication metrics, typed so no caller can invent a label value.
//! Registered into driftgate's registry as `driftgate_admin_auth_…`.

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Label values in snake case, as the rest of driftgate's metrics write them.
macro_rules! snake_case_labels {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(<$ty>::$variant => $text),+
                }
            }
        }
        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                encoder.write_str(self.as_str())
            }
        }
    };
}

/// How a request to a protected admin path ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum AuthResult {
    Allowed,
    /// 401: no bearer token, or one that is not accepted.
    Unauthenticated,
    /// 403: authenticated, but RBAC does not allow the path.
    Forbidden,
    /// 400: an `Authorization` header that is not a bearer token.
    Malformed,
    /// 503: the apiserver could not answer the review.
    Unavailable,
}

snake_case_labels!(AuthResult {
    Allowed => "allowed",
    Unauthenticated => "unauthenticated",
    Forbidden => "forbidden",
    Malformed => "malformed",
    Unavailable => "unavailable",
});

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabels {
    pub result: AuthResult,
}

/// Where a `kubernetes` mode answer came from.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Lookup {
    /// A cached answer for this token and path.
    Cached,
    /// Another request's review of the same token and path, still in flight.
    Joined,
    /// A TokenReview (and SubjectAccessReview) sent for this request.
    Reviewed,
}

snake_case_labels!(Lookup {
    Cached => "cached",
    Joined => "joined",
    Reviewed => "reviewed",
});

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LookupLabels {
    pub source: Lookup,
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Review {
    TokenReview,
    SubjectAccessReview,
}

snake_case_labels!(Review {
    TokenReview => "token_review",
    SubjectAccessReview => "subject_access_review",
});

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum ReviewResult {
    Answered,
    Failed,
}

snake_case_labels!(ReviewResult {
    Answered => "answered",
    Failed => "failed",
});

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    pub review: Review,
    pub result: ReviewResult,
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum TokenReload {
    Reloaded,
    /// The file could not be read or holds a bad line; the previous tokens stay.
    Rejected,
}

snake_case_labels!(TokenReload {
    Reloaded => "reloaded",
    Rejected => "rejected",
});

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenReloadLabels {
    pub result: TokenReload,
}

#[derive(Debug, Clone, Default)]
pub struct AdminAuthMetrics {
    pub requests: Family<AuthLabels, Counter>,
    pub lookups: Family<LookupLabels, Counter>,
    /// Requests sent to the apiserver, so a dashboard's load on it can be seen.
    pub reviews: Family<ReviewLabels, Counter>,
    pub token_reloads: Family<TokenReloadLabels, Counter>,
}

impl AdminAuthMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "admin_auth",
            "Requests to protected admin paths, by outcome",
            self.requests.clone(),
        );
        registry.register(
            "admin_auth_lookups",
            "kubernetes mode: answers from the cache, joined to a review in flight, or reviewed",
            self.lookups.clone(),
        );
        registry.register(
            "admin_auth_reviews",
            "TokenReviews and SubjectAccessReviews sent to the apiserver, answered or failed",
            self.reviews.clone(),
        );
        registry.register(
            "admin_auth_token_reloads",
            "token mode: changes of the token file installed or rejected",
            self.token_reloads.clone(),
        );
    }

    pub fn count(&self, result: AuthResult) {
        self.requests.get_or_create(&AuthLabels { result }).inc();
    }
}
