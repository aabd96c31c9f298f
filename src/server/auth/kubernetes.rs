//! `kubernetes` mode: the caller's bearer token is authenticated by the apiserver
//! (`authentication.k8s.io/v1` TokenReview), and the user it names is authorized for the
//! request's path as a non-resource URL (`authorization.k8s.io/v1` SubjectAccessReview with
//! `nonResourceAttributes {path, verb}`), as kube-rbac-proxy and controller-runtime's metrics
//! filter do. Access is then ordinary RBAC: `nonResourceURLs: [/report, /api/*]`, `verbs: [get]`.
//!
//! Answers are cached ([`super::cache`]: allowed for 10 s, refused for 1 s) and concurrent
//! requests with the same token and path share one review in flight, so a dashboard costs the
//! apiserver two requests per token and path every ten seconds whatever its request rate. Reviews
//! run in a task of their own (a caller that hangs up does not waste one), at most
//! [`ReviewSettings::concurrency`] at a time and within [`ReviewSettings::timeout`]. A failure is
//! a 503 with the reason and is not cached: the next request asks again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt as _, Shared};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use tokio::sync::Semaphore;

use super::cache::{self, Cache, Key};
use super::metrics::{AdminAuthMetrics, Lookup, LookupLabels, Review, ReviewLabels, ReviewResult};
use super::{Error, Verdict};

/// How long answers are kept and how hard the apiserver may be asked.
#[derive(Debug, Clone)]
pub struct ReviewSettings {
    /// An allowed token and path is not reviewed again for this long. RBAC changes (a binding
    /// removed) therefore take up to this long to lock a reader out.
    pub allowed_for: Duration,
    /// A refused one (401, 403) for this long: short, so a binding just created works at once.
    pub denied_for: Duration,
    /// Entries in the cache.
    pub capacity: usize,
    /// Reviews in flight at once; more wait their turn.
    pub concurrency: usize,
    /// A review (waiting for its turn included) that takes longer is a 503.
    pub timeout: Duration,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        ReviewSettings {
            allowed_for: Duration::from_secs(10),
            denied_for: Duration::from_secs(1),
            capacity: 4096,
            concurrency: 16,
            timeout: Duration::from_secs(5),
        }
    }
}

type Pending = Shared<BoxFuture<'static, Verdict>>;

struct State {
    cache: Cache<Verdict>,
    /// Reviews in flight, so concurrent requests for one key wait for the same answer.
    inflight: HashMap<Key, Pending>,
}

pub struct KubernetesAuth {
    client: kube::Client,
    settings: ReviewSettings,
    state: Mutex<State>,
    permits: Semaphore,
    metrics: AdminAuthMetrics,
}

impl KubernetesAuth {
    /// A client for `config`, or for the inferred cluster configuration (in-cluster service
    /// account, else kubeconfig) when `None`.
    pub async fn connect(
        config: Option<kube::Config>,
        settings: ReviewSettings,
        metrics: AdminAuthMetrics,
    ) -> Result<KubernetesAuth, Error> {
        let config = match config {
            Some(config) => config,
            None => kube::Config::infer()
                .await
                .map_err(|source| Error::KubeConfig { source })?,
        };
        let client =
            kube::Client::try_from(config).map_err(|source| Error::KubeClient { source })?;
        Ok(KubernetesAuth {
            client,
            state: Mutex::new(State {
                cache: Cache::new(settings.capacity),
                inflight: HashMap::new(),
            }),
            permits: Semaphore::new(settings.concurrency.max(1)),
            settings,
            metrics,
        })
    }

    /// Whether `token` may `verb` `path`: from the cache, from a review in flight, or reviewed.
    pub async fn check(self: &Arc<Self>, token: String, verb: &str, path: &str) -> Verdict {
        let key = cache::key(token.as_bytes(), verb, path);
        let pending = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(verdict) = state.cache.get(&key, Instant::now()) {
                self.looked_up(Lookup::Cached);
                return verdict;
            }
            match state.inflight.get(&key) {
                Some(pending) => {
                    self.looked_up(Lookup::Joined);
                    pending.clone()
                }
                None => {
                    self.looked_up(Lookup::Reviewed);
                    let task = tokio::spawn(self.clone().review_and_file(
                        key,
                        token,
                        verb.to_string(),
                        path.to_string(),
                    ));
                    let pending = async move {
                        task.await.unwrap_or_else(|e| Verdict::Unavailable {
                            reason: format!("the review stopped: {e}"),
                        })
                    }
                    .boxed()
                    .shared();
                    state.inflight.insert(key, pending.clone());
                    pending
                }
            }
        };
        pending.await
    }

    fn looked_up(&self, source: Lookup) {
        self.metrics
            .lookups
            .get_or_create(&LookupLabels { source })
            .inc();
    }

    /// Reviews, files the answer (failures are not filed) and retires the review in flight, in
    /// one step, so no request can slip between the two and review again.
    async fn review_and_file(
        self: Arc<Self>,
        key: Key,
        token: String,
        verb: String,
        path: String,
    ) -> Verdict {
        let timeout = self.settings.timeout;
        let verdict = tokio::time::timeout(timeout, self.review(token, &verb, &path))
            .await
            .unwrap_or_else(|_| Verdict::Unavailable {
                reason: format!("the apiserver did not answer within {timeout:?}"),
            });
        let keep_for = match verdict {
            Verdict::Allowed { .. } => Some(self.settings.allowed_for),
            Verdict::Unauthenticated | Verdict::Forbidden { .. } => Some(self.settings.denied_for),
            Verdict::Unavailable { .. } => None,
        };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(keep_for) = keep_for {
            let now = Instant::now();
            state
                .cache
                .insert(key, verdict.clone(), now + keep_for, now);
        }
        state.inflight.remove(&key);
        verdict
    }

    /// TokenReview, then SubjectAccessReview. The token is moved into the TokenReview and
    /// dropped with it: nothing keeps it once the apiserver has answered.
    async fn review(&self, token: String, verb: &str, path: &str) -> Verdict {
        let Ok(_permit) = self.permits.acquire().await else {
            return Verdict::Unavailable {
                reason: "shutting down".into(),
            };
        };
        let user = match self.authenticate(token).await {
            Ok(Some(user)) => user,
            Ok(None) => return Verdict::Unauthenticated,
            Err(error) => return unavailable(&error),
        };
        let name = user.username.clone().unwrap_or_default();
        match self.authorize(user, verb, path).await {
            Ok(true) => Verdict::Allowed { user: name },
            Ok(false) => Verdict::Forbidden { user: name },
            Err(error) => unavailable(&error),
        }
    }

    /// The user the apiserver says the token belongs to; `None` when it is not authenticated.
    async fn authenticate(&self, token: String) -> Result<Option<UserInfo>, ReviewError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token,
                audiences: None,
            },
            ..TokenReview::default()
        };
        let answer = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await;
        drop(review);
        let answer = self.reviewed(Review::TokenReview, answer)?;
        let status = answer.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            tracing::debug!(
                error = status.error.as_deref().unwrap_or(""),
                "TokenReview: not authenticated"
            );
            return Ok(None);
        }
        match status.user {
            Some(user) if user.username.as_deref().is_some_and(|u| !u.is_empty()) => Ok(Some(user)),
            _ => Err(ReviewError::NoUser),
        }
    }

    /// Whether RBAC lets `user` `verb` the non-resource URL `path`.
    async fn authorize(&self, user: UserInfo, verb: &str, path: &str) -> Result<bool, ReviewError> {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username,
                groups: user.groups,
                uid: user.uid,
                extra: user.extra,
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some(path.to_string()),
                    verb: Some(verb.to_string()),
                }),
                resource_attributes: None,
            },
            ..SubjectAccessReview::default()
        };
        let answer = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await;
        let status = self
            .reviewed(Review::SubjectAccessReview, answer)?
            .status
            .unwrap_or_default();
        if let Some(error) = status.evaluation_error.as_deref().filter(|e| !e.is_empty()) {
            // RBAC evaluates what it can; a partial error with `allowed: false` is a denial.
            tracing::debug!(%path, "SubjectAccessReview evaluation error: {error}");
        }
        Ok(status.allowed && status.denied != Some(true))
    }

    /// Counts the call, and keeps a failure's cause.
    fn reviewed<T>(
        &self,
        review: Review,
        answer: Result<T, kube::Error>,
    ) -> Result<T, ReviewError> {
        let result = match answer {
            Ok(_) => ReviewResult::Answered,
            Err(_) => ReviewResult::Failed,
        };
        self.metrics
            .reviews
            .get_or_create(&ReviewLabels { review, result })
            .inc();
        let what = match review {
            Review::TokenReview => "TokenReview",
            Review::SubjectAccessReview => "SubjectAccessReview",
        };
        answer.map_err(|e| match e {
            kube::Error::Api(status) => ReviewError::Answered {
                what,
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            source => ReviewError::Failed { what, source },
        })
    }
}

/// Why a review gave no answer; a request then gets 503 with this as its reason.
#[derive(Debug, thiserror::Error)]
enum ReviewError {
    #[error("the apiserver answered the {what} with {code} {reason}: {message}")]
    Answered {
        what: &'static str,
        code: u16,
        reason: String,
        message: String,
    },
    #[error("the {what} failed")]
    Failed {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("the TokenReview authenticated the token but named no user")]
    NoUser,
}

/// The 503's reason: the verdict is cached and shared between waiting requests, so it holds
/// the text the answer shows, made once here.
fn unavailable(error: &ReviewError) -> Verdict {
    Verdict::Unavailable {
        reason: crate::text::chain(error).to_string(),
    }
}
