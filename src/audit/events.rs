//! Kubernetes Events for blocked edits (`audit.events: true`): a `Warning` Event with reason
//! `DriftBlocked` on the object, carrying the message the user saw, so `kubectl describe` and
//! event-based alerting show it. Emitted by a background task (never on the request path) and
//! rate-limited: at most one Event per object per interval, and a global token bucket, so a
//! loop of `kubectl apply` cannot flood etcd.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::metrics::{AuditMetrics, EventResult};
use crate::text::shorten;

pub const REASON: &str = "DriftBlocked";
const COMPONENT: &str = "driftgate";
/// Event messages longer than this are cut (the events API caps notes at 1 KiB).
const MAX_MESSAGE: usize = 1024;

/// What an Event needs to know about one blocked edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedEdit {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// The denial message the user saw.
    pub message: String,
}

impl BlockedEdit {
    fn object_key(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.group, self.kind, self.namespace, self.name
        )
    }
}

/// The Event for one blocked edit. A cluster-scoped object's Event lives in `default`, as
/// kubectl looks for it there.
pub fn event_body(edit: &BlockedEdit, instance: &str, now: Timestamp) -> Event {
    let api_version = if edit.group.is_empty() {
        edit.version.clone()
    } else {
        format!("{}/{}", edit.group, edit.version)
    };
    let namespace = if edit.namespace.is_empty() {
        "default".to_string()
    } else {
        edit.namespace.clone()
    };
    Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}.", edit.name)),
            namespace: Some(namespace),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some(api_version),
            kind: Some(edit.kind.clone()),
            name: Some(edit.name.clone()),
            namespace: (!edit.namespace.is_empty()).then(|| edit.namespace.clone()),
            ..ObjectReference::default()
        },
        reason: Some(REASON.to_string()),
        message: Some(shorten(&edit.message, MAX_MESSAGE)),
        type_: Some("Warning".to_string()),
        action: Some("Admission".to_string()),
        source: Some(EventSource {
            component: Some(COMPONENT.to_string()),
            host: None,
        }),
        reporting_component: Some(COMPONENT.to_string()),
        reporting_instance: Some(instance.to_string()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        ..Event::default()
    }
}

/// One Event per object per `per_object`, and at most `burst` at once refilled at
/// `per_second` overall.
#[derive(Debug)]
pub struct RateLimiter {
    per_object: Duration,
    burst: f64,
    per_second: f64,
    tokens: f64,
    refilled: Instant,
    last: HashMap<String, Instant>,
}

/// Objects remembered before old entries are swept.
const MAX_TRACKED: usize = 10_000;

impl RateLimiter {
    pub fn new(per_object: Duration, burst: u32, per_second: f64, now: Instant) -> RateLimiter {
        RateLimiter {
            per_object,
            burst: f64::from(burst),
            per_second,
            tokens: f64::from(burst),
            refilled: now,
            last: HashMap::new(),
        }
    }

    pub fn allow(&mut self, object: &str, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.refilled = now;
        if let Some(last) = self.last.get(object) {
            if now.saturating_duration_since(*last) < self.per_object {
                return false;
            }
        }
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        if self.last.len() >= MAX_TRACKED {
            let per_object = self.per_object;
            self.last
                .retain(|_, t| now.saturating_duration_since(*t) < per_object);
        }
        self.last.insert(object.to_string(), now);
        true
    }
}

/// The request path's handle: `emit` never waits.
#[derive(Debug, Clone)]
pub struct Events {
    tx: mpsc::Sender<BlockedEdit>,
    metrics: AuditMetrics,
}

impl Events {
    /// Starts the emitter with the cluster credentials kube finds (in-cluster service account,
    /// else kubeconfig). Without credentials it says so once and counts each Event as failed.
    pub fn start(instance: String, metrics: AuditMetrics) -> Events {
        let (tx, rx) = mpsc::channel::<BlockedEdit>(QUEUE);
        let task_metrics = metrics.clone();
        tokio::spawn(async move {
            // kube builds its TLS client from the process-wide provider; several providers
            // are linked in, so name one (an error only means one is already installed).
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let client = match kube::Client::try_default().await {
                Ok(client) => Some(client),
                Err(e) => {
                    tracing::error!(error = %crate::text::chain(&e), "audit.events: no Kubernetes credentials; Events are not emitted");
                    None
                }
            };
            emit_loop(rx, client, instance, task_metrics).await;
        });
        Events { tx, metrics }
    }

    /// Starts the emitter with a given client (tests, or a caller that already has one).
    pub fn with_client(client: kube::Client, instance: String, metrics: AuditMetrics) -> Events {
        let (tx, rx) = mpsc::channel::<BlockedEdit>(QUEUE);
        tokio::spawn(emit_loop(rx, Some(client), instance, metrics.clone()));
        Events { tx, metrics }
    }

    /// Queues the Event without waiting; a full queue counts as rate-limited.
    pub fn emit(&self, edit: BlockedEdit) {
        match self.tx.try_send(edit) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.count_event(EventResult::RateLimited)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.metrics.count_event(EventResult::Failed)
            }
        }
    }
}

/// Events waiting for the emitter; beyond this they are counted as rate-limited.
const QUEUE: usize = 256;

async fn emit_loop(
    mut rx: mpsc::Receiver<BlockedEdit>,
    client: Option<kube::Client>,
    instance: String,
    metrics: AuditMetrics,
) {
    let mut limiter = RateLimiter::new(Duration::from_secs(60), 20, 1.0, Instant::now());
    while let Some(edit) = rx.recv().await {
        if !limiter.allow(&edit.object_key(), Instant::now()) {
            metrics.count_event(EventResult::RateLimited);
            continue;
        }
        let Some(client) = &client else {
            metrics.count_event(EventResult::Failed);
            continue;
        };
        let event = event_body(&edit, &instance, Timestamp::now());
        let ns = event.metadata.namespace.clone().unwrap_or_default();
        let api: kube::Api<Event> = kube::Api::namespaced(client.clone(), &ns);
        match api.create(&kube::api::PostParams::default(), &event).await {
            Ok(_) => metrics.count_event(EventResult::Sent),
            Err(e) => {
                metrics.count_event(EventResult::Failed);
                tracing::warn!(error = %crate::text::chain(&e), object = %edit.object_key(), "cannot create the DriftBlocked Event");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(ns: &str) -> BlockedEdit {
        BlockedEdit {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: ns.into(),
            name: "web".into(),
            message: "driftgate: alice may not change apps/Deployment shop/web".into(),
        }
    }

    #[test]
    fn event_body_is_a_warning_on_the_object() {
        let now = Timestamp::from_second(1_700_000_000).expect("time");
        let body =
            serde_json::to_value(event_body(&edit("shop"), "driftgate-0", now)).expect("json");
        assert_eq!(body["type"], "Warning");
        assert_eq!(body["reason"], "DriftBlocked");
        assert_eq!(body["metadata"]["namespace"], "shop");
        assert_eq!(body["metadata"]["generateName"], "web.");
        assert_eq!(body["involvedObject"]["apiVersion"], "apps/v1");
        assert_eq!(body["involvedObject"]["kind"], "Deployment");
        assert_eq!(body["involvedObject"]["name"], "web");
        assert_eq!(body["involvedObject"]["namespace"], "shop");
        assert_eq!(body["reportingComponent"], "driftgate");
        assert_eq!(body["reportingInstance"], "driftgate-0");
        assert_eq!(body["firstTimestamp"], "2023-11-14T22:13:20Z");
        assert!(body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("alice may not change"));

        let cluster = serde_json::to_value(event_body(&edit(""), "i", now)).expect("json");
        assert_eq!(cluster["metadata"]["namespace"], "default");
        assert!(cluster["involvedObject"].get("namespace").is_none());
        let mut long = edit("shop");
        long.message = "x".repeat(5000);
        let body = event_body(&long, "i", now);
        assert!(body.message.unwrap_or_default().chars().count() <= MAX_MESSAGE);
    }

    #[tokio::test]
    async fn emitter_is_rate_limited_and_counts_failures() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        // A cluster that is not there: the Event is attempted and counted as failed.
        let config = kube::Config::new("https://127.0.0.1:1".parse().expect("uri"));
        let client = kube::Client::try_from(config).expect("client builds");
        let metrics = AuditMetrics::default();
        let events = Events::with_client(client, "r".into(), metrics.clone());
        for _ in 0..3 {
            events.emit(edit("shop"));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while metrics.events(EventResult::Failed) + metrics.events(EventResult::RateLimited) < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "emitter did not finish"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            metrics.events(EventResult::Failed),
            1,
            "one attempt for the object"
        );
        assert_eq!(
            metrics.events(EventResult::RateLimited),
            2,
            "the repeats are limited"
        );
        assert_eq!(metrics.events(EventResult::Sent), 0);
    }

    #[test]
    fn rate_limiter_per_object_and_overall() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(Duration::from_secs(60), 3, 1.0, t0);
        assert!(rl.allow("a", t0));
        assert!(rl.allow("b", t0));
        assert!(rl.allow("c", t0));
        assert!(!rl.allow("d", t0), "burst of 3 spent");
        assert!(
            rl.allow("d", t0 + Duration::from_secs(1)),
            "one token refilled"
        );
        assert!(
            !rl.allow("a", t0 + Duration::from_secs(30)),
            "same object within a minute"
        );
        assert!(
            rl.allow("a", t0 + Duration::from_secs(61)),
            "a minute later again"
        );
    }
}
