//! The audit trail end to end: real SQLite files and a real PostgreSQL server (skipped with a
//! notice when `DRIFTGATE_TEST_POSTGRES` is unset), decisions from a real Git repository,
//! reports through the `driftgate report` binary, and the HTML page in headless Chromium.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{deployment, deployment_review, driftgate, stdout_json, yaml_to_json, GitRepo};
use driftgate::admission::{self, Endpoint, Outcome};
use driftgate::audit::metrics::DropReason;
use driftgate::audit::{AuditMetrics, Auditor, Filter, Record, Sink, SinkOptions, Store, Target};
use driftgate::config::Config;
use driftgate::policy::Policy;
use driftgate::snapshot::Snapshot;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};

/// A Git repository declaring `shop/web` (3 replicas) and `shop/api`, and its snapshot.
struct Fleet {
    _repo: GitRepo,
    config: Config,
    snapshot: Snapshot,
    policy: Policy,
}

impl Fleet {
    fn new() -> Fleet {
        let repo = GitRepo::new();
        repo.write("apps/web.yaml", &deployment("web", "shop", 3, "nginx:1.25"));
        repo.write("apps/api.yaml", &deployment("api", "shop", 2, "api:1.0"));
        repo.write(
            "ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
        );
        repo.commit("fleet");
        let config = Config::from_yaml(
            &format!(
                "sources: [{{name: fleet, url: {:?}}}]\n",
                repo.path().display()
            ),
            "test",
        )
        .expect("config");
        let snapshot = driftgate::sync::load_once(&config).expect("loads");
        Fleet {
            _repo: repo,
            snapshot,
            policy: Policy::from_config(&config),
            config,
        }
    }

    /// An UPDATE of `name` to `replicas` by `user`.
    fn edit(&self, name: &str, user: &str, replicas: u32, dry_run: bool) -> Vec<u8> {
        let old = yaml_to_json(&deployment(name, "shop", 3, "nginx:1.25"));
        let new = yaml_to_json(&deployment(name, "shop", replicas, "nginx:1.25"));
        let mut review = deployment_review("UPDATE", user, new, old);
        review["request"]["uid"] = json!(format!("uid-{user}-{name}-{replicas}-{dry_run}"));
        review["request"]["dryRun"] = json!(dry_run);
        serde_json::to_vec(&review).expect("json")
    }

    fn answer(&self, endpoint: Endpoint, body: &[u8]) -> Outcome {
        admission::evaluate(endpoint, body, &self.snapshot, &self.policy).expect("a review")
    }
}

fn sqlite_target(dir: &Path) -> Target {
    Target::Sqlite(dir.join("audit.db"))
}

fn options(target: Target) -> SinkOptions {
    SinkOptions {
        retry_every: Duration::from_millis(100),
        ..SinkOptions::new(Some(target))
    }
}

/// Polls `f` until it returns `Some` or the deadline passes.
async fn eventually<T, F, Fut>(deadline: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A PostgreSQL trail in a schema of its own, so parallel tests never see each other's rows.
async fn postgres(test: &str) -> Option<Target> {
    let Ok(base) = std::env::var("DRIFTGATE_TEST_POSTGRES") else {
        eprintln!(
            "notice: DRIFTGATE_TEST_POSTGRES is unset; skipping the PostgreSQL part of {test}"
        );
        return None;
    };
    let schema = format!("t_{test}_{}", std::process::id());
    let pool = sqlx::PgPool::connect(&base)
        .await
        .expect("PostgreSQL reachable");
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&pool)
        .await
        .expect("drop schema");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .expect("create schema");
    pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(Target::Postgres(format!(
        "{base}{sep}options=-c%20search_path%3D{schema}"
    )))
}

fn record(user: &str, namespace: &str, name: &str, decision: &str, time: Timestamp) -> Record {
    // The trail keeps milliseconds.
    let time = Timestamp::from_millisecond(time.as_millisecond()).expect("time");
    Record {
        time,
        uid: format!("{user}-{name}-{}", time.as_millisecond()),
        user: user.into(),
        groups: vec!["system:authenticated".into()],
        operation: "UPDATE".into(),
        subresource: String::new(),
        group: "apps".into(),
        version: "v1".into(),
        kind: "Deployment".into(),
        namespace: namespace.into(),
        name: name.into(),
        decision: decision.into(),
        mode: "enforce".into(),
        revision: "main@sha1:0123456789ab".into(),
        source: "fleet".into(),
        file: "apps/web.yaml".into(),
        break_glass: None,
        endpoint: "validate".into(),
        replica: "r1".into(),
        violations: vec![driftgate::audit::RecordViolation {
            path: "spec.replicas".into(),
            git: Some("3".into()),
            old: Some("3".into()),
            requested: Some("5".into()),
        }],
        omitted: 0,
        changes: None,
        id: None,
    }
}

/// The same checks against either engine: write, filter, prune, reopen (migrations again).
async fn exercise_store(target: &Target) {
    let store = Store::open(target).await.expect("opens and migrates");
    let now = Timestamp::now();
    let day = k8s_openapi::jiff::SignedDuration::from_hours(24);
    let old = now.checked_sub(day * 40).expect("time");
    let records = vec![
        record("alice", "shop", "web", "denied", now),
        record(
            "bob",
            "shop",
            "api",
            "warned",
            now.checked_sub(day).expect("t"),
        ),
        record("carol", "", "viewer", "break-glass", now),
        record("alice", "billing", "db", "denied", old),
    ];
    store.insert(&records).await.expect("inserts");
    let all = store.query(&Filter::default()).await.expect("query");
    assert_eq!(all.len(), 4);
    // The trail numbers each record; apart from that the round trip is lossless.
    let mut ids: Vec<i64> = all.iter().filter_map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "each stored record has its own number");
    let stored = Record {
        id: None,
        ..all[3].clone()
    };
    assert_eq!(stored, records[3], "round trip is lossless");
    let alice = store
        .query(&Filter {
            user: Some("alice".into()),
            ..Filter::default()
        })
        .await
        .expect("query");
    assert_eq!(alice.len(), 2);
    let shop_recent = store
        .query(&Filter {
            namespace: Some("shop".into()),
            since: now
                .checked_sub(k8s_openapi::jiff::SignedDuration::from_hours(1))
                .ok(),
            ..Filter::default()
        })
        .await
        .expect("query");
    assert_eq!(shop_recent.len(), 1);
    assert_eq!(shop_recent[0].user, "alice");
    let pruned = store
        .prune(now.checked_sub(day * 30).expect("t"))
        .await
        .expect("prune");
    assert_eq!(pruned, 1);
    store.close().await;
    let again = Store::open(target)
        .await
        .expect("reopens; migrations are idempotent");
    assert_eq!(again.query(&Filter::default()).await.expect("q").len(), 3);
    again.close().await;
}

fn report_json(audit: &str, extra: &[&str]) -> Value {
    let out = driftgate()
        .args(["report", "--audit", audit, "--format", "json"])
        .args(extra)
        .output()
        .expect("report runs");
    stdout_json(&out, 0)
}

async fn body_text(response: axum::response::Response) -> String {
    use http_body_util::BodyExt as _;
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[path = "audit/degrade.rs"]
mod degrade;
#[path = "audit/html.rs"]
mod html;
#[path = "audit/records.rs"]
mod records;
#[path = "audit/replicas.rs"]
mod replicas;
#[path = "audit/serve.rs"]
mod serve;
#[path = "audit/store.rs"]
mod store;
