//! The audit trail end to end: real SQLite files and a real PostgreSQL server (skipped with a
//! notice when `DRIFTGATE_TEST_POSTGRES` is unset), decisions from a real Git repository,
//! reports through the `driftgate report` binary, and the HTML page in headless Chromium.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{deployment, deployment_review, driftgate, yaml_to_json, GitRepo};
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
        let snapshot = driftgate::sources::load_once(&config).expect("loads");
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
    assert_eq!(all[3], records[3], "round trip is lossless");
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

#[tokio::test]
async fn store_sqlite() {
    let dir = tempfile::tempdir().expect("tmp");
    exercise_store(&sqlite_target(dir.path())).await;
    assert!(matches!(
        Store::open_existing(&Target::Sqlite(dir.path().join("missing.db"))).await,
        Err(driftgate::audit::store::Error::Missing { .. })
    ));
}

#[tokio::test]
async fn store_postgres() {
    let Some(target) = postgres("store").await else {
        return;
    };
    exercise_store(&target).await;
}

fn report_json(audit: &str, extra: &[&str]) -> Value {
    let out = driftgate()
        .args(["report", "--audit", audit, "--format", "json"])
        .args(extra)
        .output()
        .expect("report runs");
    assert!(
        out.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}

#[tokio::test]
async fn decisions_become_records_one_for_one() {
    let fleet = Fleet::new();
    let dir = tempfile::tempdir().expect("tmp");
    let target = sqlite_target(dir.path());
    let metrics = AuditMetrics::default();
    let (sink, writer) = Sink::start(options(target.clone()), metrics.clone());
    let auditor = Auditor::new(sink, Endpoint::Validate, "replica-a");

    let requests = [
        ("alice", "web", 5, false, true), // denied: recorded
        ("bob", "api", 7, false, true),   // denied: recorded
        ("carol", "web", 9, true, false), // dry-run: never recorded
        ("dave", "web", 3, false, false), // back to Git: allowed, not recorded
    ];
    for (user, name, replicas, dry_run, _) in requests {
        let body = fleet.edit(name, user, replicas, dry_run);
        // Both webhooks see the edit; only /validate (audit.from) records it.
        let mutated = fleet.answer(Endpoint::Mutate, &body);
        assert_eq!(mutated.review["response"]["allowed"], true);
        auditor.observe(Endpoint::Mutate, &mutated);
        let validated = fleet.answer(Endpoint::Validate, &body);
        auditor.observe(Endpoint::Validate, &validated);
    }
    let answered = Instant::now();
    let records = eventually(Duration::from_secs(2), || async {
        let store = Store::open_existing(&target).await.ok()?;
        let r = store.query(&Filter::default()).await.ok();
        store.close().await;
        r.filter(|r| r.len() >= 2)
    })
    .await
    .expect("records readable within 2 s of the answers");
    eprintln!("records readable after {:?}", answered.elapsed());

    let report = report_json(&dir.path().join("audit.db").display().to_string(), &[]);
    let got = report["records"].as_array().expect("records");
    let expected: Vec<&str> = requests.iter().filter(|r| r.4).map(|r| r.0).collect();
    let mut users: Vec<&str> = got.iter().filter_map(|r| r["user"].as_str()).collect();
    users.sort();
    assert_eq!(users, expected, "one record per audited request, no more");
    assert_eq!(records.len(), expected.len());
    let alice = got
        .iter()
        .find(|r| r["user"] == "alice")
        .expect("alice's record");
    assert_eq!(alice["decision"], "denied");
    assert_eq!(alice["name"], "web");
    assert_eq!(alice["namespace"], "shop");
    assert_eq!(alice["kind"], "Deployment");
    assert_eq!(alice["file"], "apps/web.yaml");
    assert_eq!(alice["replica"], "replica-a");
    assert_eq!(alice["violations"][0]["path"], "spec.replicas");
    assert_eq!(alice["violations"][0]["git"], "3");
    assert_eq!(alice["violations"][0]["requested"], "5");
    assert!(alice["revision"]
        .as_str()
        .unwrap_or_default()
        .contains("@sha1:"));
    assert_eq!(report["totals"]["blocked"], 2);

    let only_bob = report_json(
        &dir.path().join("audit.db").display().to_string(),
        &["--user", "bob", "--since", "1h"],
    );
    assert_eq!(only_bob["records"].as_array().map(Vec::len), Some(1));

    drop(auditor);
    writer.await.expect("writer ends cleanly");
    assert_eq!(metrics.written.get(), 2);
    assert_eq!(metrics.degraded.get(), 0);
}

#[tokio::test]
async fn mutate_patch_carries_annotations_and_is_idempotent() {
    use base64::Engine as _;
    let fleet = Fleet::new();
    let body = fleet.edit("web", "alice", 5, false);
    let outcome = fleet.answer(Endpoint::Mutate, &body);
    let response = &outcome.review["response"];
    assert_eq!(response["allowed"], true);
    assert_eq!(response["patchType"], "JSONPatch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().expect("patch"))
        .expect("base64");
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).expect("JSONPatch");
    let review: Value = serde_json::from_slice(&body).expect("json");
    let mut object = review["request"]["object"].clone();
    json_patch::patch(&mut object, &patch).expect("applies");
    let annotations = &object["metadata"]["annotations"];
    assert_eq!(annotations["driftgate.io/drift"], "spec.replicas");
    assert_eq!(annotations["driftgate.io/drift-by"], "alice");
    assert!(annotations["driftgate.io/drift-revision"]
        .as_str()
        .unwrap_or_default()
        .contains("@sha1:"));
    let mut twice = object.clone();
    json_patch::patch(&mut twice, &patch).expect("applies twice");
    assert_eq!(twice, object, "applying the patch twice changes nothing");
    // /validate on the annotated object still sees only the replicas drift.
    let mut reinvoked = review.clone();
    reinvoked["request"]["object"] = object;
    let again = fleet.answer(
        Endpoint::Mutate,
        &serde_json::to_vec(&reinvoked).expect("json"),
    );
    assert!(again.review["response"].get("patch").is_none());
    let validated = fleet.answer(
        Endpoint::Validate,
        &serde_json::to_vec(&reinvoked).expect("json"),
    );
    assert_eq!(validated.decision.violations.len(), 1);
}

/// Entry point of a child process (see [`child_writer`]): one driftgate replica that writes one
/// record through its own sink, with `audit.stdout` on, then exits. Run without the child
/// environment it returns at once.
#[tokio::test]
async fn child_process_entry_point() {
    let (Ok(target), Ok(replica), Ok(user)) = (
        std::env::var("DRIFTGATE_CHILD_TARGET"),
        std::env::var("DRIFTGATE_CHILD_REPLICA"),
        std::env::var("DRIFTGATE_CHILD_USER"),
    ) else {
        return;
    };
    let fleet = Fleet::new();
    let metrics = AuditMetrics::default();
    let (sink, writer) = Sink::start(
        SinkOptions {
            stdout: true,
            ..options(Target::parse(&target))
        },
        metrics.clone(),
    );
    let auditor = Auditor::new(sink, Endpoint::Validate, &replica);
    let outcome = fleet.answer(Endpoint::Validate, &fleet.edit("web", &user, 5, false));
    auditor.observe(Endpoint::Validate, &outcome);
    drop(auditor);
    writer.await.expect("writer ends");
    assert_eq!(metrics.written.get(), 1, "the child stored its record");
}

/// Starts a child process that acts as one replica; it must be waited for.
fn child_writer(target: &str, replica: &str, user: &str) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["child_process_entry_point", "--exact", "--nocapture"])
        .env("DRIFTGATE_CHILD_TARGET", target)
        .env("DRIFTGATE_CHILD_REPLICA", replica)
        .env("DRIFTGATE_CHILD_USER", user)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("child starts")
}

fn finish_child(child: Child) -> String {
    let out = child.wait_with_output().expect("child ends");
    assert!(
        out.status.success(),
        "child failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn two_replicas_write_one_postgres_trail() {
    let Some(Target::Postgres(url)) = postgres("replicas").await else {
        return;
    };
    // Two processes, started together: both migrate (one waits on the advisory lock) and write.
    let a = child_writer(&url, "replica-a", "alice");
    let b = child_writer(&url, "replica-b", "bob");
    let (out_a, out_b) = (finish_child(a), finish_child(b));
    for (out, user) in [(out_a, "alice"), (out_b, "bob")] {
        let lines: Vec<Value> = out
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).expect("one JSON record per line"))
            .collect();
        assert_eq!(lines.len(), 1, "audit.stdout: one line per record: {out}");
        assert_eq!(lines[0]["user"], user);
    }
    let report = report_json(&url, &[]);
    let mut seen: Vec<(String, String)> = report["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["replica"].as_str().unwrap_or_default().to_string(),
                r["user"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("replica-a".to_string(), "alice".to_string()),
            ("replica-b".to_string(), "bob".to_string())
        ]
    );
    let by_user = &report["totals"]["byUser"];
    assert_eq!(by_user.as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn retention_prunes_old_records_in_the_background() {
    let dir = tempfile::tempdir().expect("tmp");
    let target = sqlite_target(dir.path());
    let store = Store::open(&target).await.expect("opens");
    let now = Timestamp::now();
    let day = k8s_openapi::jiff::SignedDuration::from_hours(24);
    store
        .insert(&[
            record(
                "old",
                "shop",
                "web",
                "denied",
                now.checked_sub(day * 31).expect("t"),
            ),
            record("new", "shop", "web", "denied", now),
        ])
        .await
        .expect("insert");
    let metrics = AuditMetrics::default();
    let (sink, writer) = Sink::start(
        SinkOptions {
            prune_every: Duration::from_millis(50),
            ..options(target.clone())
        },
        metrics.clone(),
    );
    let pruned = eventually(Duration::from_secs(5), || async {
        let users: Vec<String> = store
            .query(&Filter::default())
            .await
            .ok()?
            .into_iter()
            .map(|r| r.user)
            .collect();
        (users == ["new"]).then_some(())
    })
    .await;
    assert!(
        pruned.is_some(),
        "the 31-day-old record is gone, the new one stays"
    );
    assert_eq!(metrics.pruned.get(), 1);
    drop(sink);
    writer.await.expect("writer ends");
}

/// A directory nothing can be created in, even by root (immutable attribute), restored on drop.
struct ReadOnlyDir {
    dir: tempfile::TempDir,
    immutable: bool,
}

impl ReadOnlyDir {
    fn new() -> Option<ReadOnlyDir> {
        let dir = tempfile::tempdir().expect("tmp");
        let probe = |d: &Path| std::fs::write(d.join("probe"), b"x").is_err();
        let mut perms = std::fs::metadata(dir.path()).expect("meta").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
        std::fs::set_permissions(dir.path(), perms).expect("chmod");
        if probe(dir.path()) {
            return Some(ReadOnlyDir {
                dir,
                immutable: false,
            });
        }
        // Root ignores modes; the immutable attribute still stops it.
        let _ = std::fs::remove_file(dir.path().join("probe"));
        let chattr = Command::new("chattr")
            .arg("+i")
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if chattr && probe(dir.path()) {
            return Some(ReadOnlyDir {
                dir,
                immutable: true,
            });
        }
        eprintln!("notice: cannot make a read-only directory here; skipping");
        None
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        if self.immutable {
            let _ = Command::new("chattr")
                .arg("-i")
                .arg(self.dir.path())
                .status();
        }
        let mut perms = std::fs::metadata(self.dir.path())
            .expect("meta")
            .permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        let _ = std::fs::set_permissions(self.dir.path(), perms);
    }
}

#[tokio::test]
async fn unwritable_trail_degrades_without_failing_requests_and_recovers() {
    let fleet = Fleet::new();
    let body = fleet.edit("web", "alice", 5, false);

    // Read-only directory: answers unchanged, degradation visible in metrics.
    if let Some(ro) = ReadOnlyDir::new() {
        let metrics = AuditMetrics::default();
        let (sink, writer) = Sink::start(options(sqlite_target(ro.dir.path())), metrics.clone());
        let auditor = Auditor::new(sink, Endpoint::Validate, "r");
        for _ in 0..5 {
            let outcome = fleet.answer(Endpoint::Validate, &body);
            assert_eq!(outcome.review["response"]["allowed"], false);
            assert_eq!(outcome.review["response"]["status"]["code"], 403);
            auditor.observe(Endpoint::Validate, &outcome);
        }
        let degraded = eventually(Duration::from_secs(5), || async {
            (metrics.degraded.get() == 1 && metrics.log_only.get() == 5).then_some(())
        })
        .await;
        assert!(degraded.is_some(), "degraded gauge set and records logged");
        assert!(metrics.write_errors.get() >= 1);
        assert_eq!(metrics.written.get(), 0);
        drop(auditor);
        writer.await.expect("writer ends");
    }

    // Unreachable database: the same, then a trail that appears later is used again.
    let metrics = AuditMetrics::default();
    let (sink, writer) = Sink::start(
        options(Target::Postgres(
            "postgres://nobody@127.0.0.1:1/none".into(),
        )),
        metrics.clone(),
    );
    let auditor = Auditor::new(sink, Endpoint::Validate, "r");
    let outcome = fleet.answer(Endpoint::Validate, &body);
    auditor.observe(Endpoint::Validate, &outcome);
    assert!(
        eventually(Duration::from_secs(10), || async {
            (metrics.degraded.get() == 1).then_some(())
        })
        .await
        .is_some(),
        "an unreachable database degrades"
    );
    drop(auditor);
    writer.await.expect("writer ends");

    // A directory that does not exist yet: degraded first, recovered once it exists.
    let tmp = tempfile::tempdir().expect("tmp");
    let later = tmp.path().join("later");
    let metrics = AuditMetrics::default();
    let (sink, writer) = Sink::start(options(sqlite_target(&later)), metrics.clone());
    let auditor = Auditor::new(sink, Endpoint::Validate, "r");
    auditor.observe(Endpoint::Validate, &fleet.answer(Endpoint::Validate, &body));
    assert!(eventually(Duration::from_secs(5), || async {
        (metrics.degraded.get() == 1).then_some(())
    })
    .await
    .is_some());
    std::fs::create_dir(&later).expect("mkdir");
    // No traffic needed: the writer probes on its own and clears the gauge.
    let recovered = eventually(Duration::from_secs(5), || async {
        (metrics.degraded.get() == 0).then_some(())
    })
    .await;
    assert!(recovered.is_some(), "the writer retries and recovers");
    auditor.observe(Endpoint::Validate, &fleet.answer(Endpoint::Validate, &body));
    let stored = eventually(Duration::from_secs(2), || async {
        (metrics.written.get() == 1).then_some(())
    })
    .await;
    assert!(stored.is_some(), "records are stored again");
    drop(auditor);
    writer.await.expect("writer ends");
}

#[tokio::test]
async fn a_writer_that_cannot_keep_up_drops_and_counts() {
    let fleet = Fleet::new();
    let dir = tempfile::tempdir().expect("tmp");
    let metrics = AuditMetrics::default();
    let (sink, writer) = Sink::start(
        SinkOptions {
            queue: 2,
            batch: 1,
            ..options(sqlite_target(dir.path()))
        },
        metrics.clone(),
    );
    let auditor = Auditor::new(sink, Endpoint::Validate, "r");
    let body = fleet.edit("web", "alice", 5, false);
    let sent = 2_000;
    let started = Instant::now();
    for _ in 0..sent {
        let outcome = fleet.answer(Endpoint::Validate, &body);
        assert_eq!(outcome.review["response"]["allowed"], false);
        auditor.observe(Endpoint::Validate, &outcome);
    }
    eprintln!("{sent} answers with auditing in {:?}", started.elapsed());
    drop(auditor);
    writer.await.expect("writer ends without panicking");
    let dropped = metrics.dropped(DropReason::QueueFull);
    eprintln!(
        "queue of 2: {} written, {dropped} dropped",
        metrics.written.get()
    );
    assert!(dropped > 0, "a 2-record queue under a burst drops");
    assert_eq!(
        metrics.written.get() + dropped,
        sent,
        "every record is either written or counted as dropped"
    );
}

/// Kills the child on drop, so a hung browser never outlives the test.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|p| p.join(name))
                    .find(|p| p.is_file())
            })
        })
}

/// Runs headless Chromium with the flags this machine's closed network needs.
fn run_chromium(bin: &Path, profile: &Path, args: &[String]) -> std::process::Output {
    let child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let mut guard = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match guard.0.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => panic!("chromium did not finish in time"),
        }
    }
    let Killed(child) = &mut guard;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        std::io::Read::read_to_end(&mut out, &mut stdout).expect("read stdout");
    }
    if let Some(mut err) = child.stderr.take() {
        std::io::Read::read_to_end(&mut err, &mut stderr).expect("read stderr");
    }
    let status = child.wait().expect("status");
    std::process::Output {
        status,
        stdout,
        stderr,
    }
}

#[tokio::test]
async fn html_report_renders_in_chromium() {
    let dir = tempfile::tempdir().expect("tmp");
    let target = sqlite_target(dir.path());
    let store = Store::open(&target).await.expect("opens");
    let now = Timestamp::now();
    let hour = k8s_openapi::jiff::SignedDuration::from_hours(1);
    let mut records = Vec::new();
    let people = ["alice@example.com", "bob", "carol", "dave"];
    let objects = [("shop", "web"), ("shop", "api"), ("billing", "ledger")];
    for i in 0..40_i32 {
        let user = people[(i as usize * 7) % people.len()];
        let (ns, name) = objects[(i as usize) % objects.len()];
        let decision = ["denied", "denied", "warned", "break-glass"][(i as usize) % 4];
        let mut r = record(
            user,
            ns,
            name,
            decision,
            now.checked_sub(hour * (i * 9)).expect("t"),
        );
        if decision == "break-glass" {
            r.break_glass = Some("INC-4211 checkout outage".into());
        }
        records.push(r);
    }
    store.insert(&records).await.expect("insert");
    store.close().await;
    let out = driftgate()
        .args(["report", "--format", "html", "--since", "30d", "--audit"])
        .arg(dir.path().join("audit.db"))
        .output()
        .expect("report runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = String::from_utf8(out.stdout).expect("utf-8");
    assert!(html.contains("<svg") && !html.contains("<script"));
    // Kept beside the screenshot for a person to open or print.
    let page = Path::new(env!("CARGO_TARGET_TMPDIR")).join("audit-report.html");
    std::fs::write(&page, &html).expect("write page");

    let Some(bin) = chromium() else {
        eprintln!("notice: chromium is not installed; skipping the browser check");
        return;
    };
    let profile = tempfile::tempdir().expect("profile");
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("audit-report.png");
    let _ = std::fs::remove_file(&shot);
    let url = format!("file://{}", page.display());
    let out = run_chromium(
        &bin,
        profile.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,1600".into(),
            url.clone(),
        ],
    );
    assert!(
        shot.is_file(),
        "screenshot taken: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("png");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real picture"
    );
    eprintln!("screenshot: {}", shot.display());

    let out = run_chromium(&bin, profile.path(), &["--dump-dom".into(), url]);
    let dom = String::from_utf8_lossy(&out.stdout);
    for user in people {
        assert!(dom.contains(user), "page shows user {user}");
    }
    for (ns, name) in objects {
        assert!(
            dom.contains(&format!("apps/Deployment {ns}/{name}")),
            "page shows object {ns}/{name}"
        );
    }
    assert!(dom.contains("INC-4211 checkout outage"));
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

#[tokio::test]
async fn mutate_route_records_when_audit_from_mutate_and_admin_routes_report() {
    // /mutate and /validate through the server's router; only /mutate records here.
    use std::sync::Arc;
    use tower::ServiceExt as _;

    let fleet = Fleet::new();
    let dir = tempfile::tempdir().expect("tmp");
    let target = sqlite_target(dir.path());
    let metrics = AuditMetrics::default();
    let (sink, writer) = Sink::start(options(target.clone()), metrics.clone());
    let live = Arc::new(driftgate::snapshot::Live::new());
    let status = Arc::new(driftgate::status::SyncStatus::new(["fleet"]));
    let mut state = driftgate::server::AppState::new(&fleet.config, live.clone(), status);
    state.auditor = Some(Auditor::new(sink, Endpoint::Mutate, "replica-m"));
    let router = driftgate::server::tls_router(state.clone());
    let post = |body: Vec<u8>| {
        axum::http::Request::post("/mutate?timeout=10s")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body))
            .expect("request")
    };

    // Before the first snapshot: allowed, not annotated, nothing recorded.
    let body = fleet.edit("web", "erin", 6, false);
    let response = router
        .clone()
        .oneshot(post(body.clone()))
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    let review: Value = serde_json::from_str(&body_text(response).await).expect("json");
    assert_eq!(review["response"]["allowed"], true);
    assert!(review["response"].get("patch").is_none());

    live.store(Arc::new(
        driftgate::sources::load_once(&fleet.config).expect("loads"),
    ));
    let response = router.clone().oneshot(post(body)).await.expect("answers");
    let review: Value = serde_json::from_str(&body_text(response).await).expect("json");
    assert_eq!(review["response"]["allowed"], true);
    assert_eq!(review["response"]["patchType"], "JSONPatch");
    let dry = router
        .clone()
        .oneshot(post(fleet.edit("web", "frank", 8, true)))
        .await
        .expect("answers");
    assert_eq!(dry.status(), 200);
    let bad = router
        .clone()
        .oneshot(post(b"{\"kind\":\"Pod\"}".to_vec()))
        .await
        .expect("answers");
    assert_eq!(bad.status(), 400);
    let validated = router
        .clone()
        .oneshot(
            axum::http::Request::post("/validate")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(fleet.edit("web", "gina", 4, false)))
                .expect("request"),
        )
        .await
        .expect("answers");
    let review: Value = serde_json::from_str(&body_text(validated).await).expect("json");
    assert_eq!(
        review["response"]["allowed"], false,
        "denied, not recorded (audit.from: mutate)"
    );
    let text = state.metrics.encode();
    assert!(
        text.contains(
            r#"driftgate_requests_total{endpoint="mutate",operation="UPDATE",decision="warned"} 2"#
        ),
        "{text}"
    );
    assert!(text.contains("driftgate_audit_degraded 0"), "{text}");
    drop(router);
    drop(state);
    writer.await.expect("writer ends");
    assert_eq!(
        metrics.written.get(),
        1,
        "one record: erin's annotated edit, no dry-run"
    );

    let admin =
        driftgate::audit::http::router(Arc::new(driftgate::audit::http::Reader::new(Some(target))));
    let get = |uri: &str| {
        axum::http::Request::get(uri)
            .body(axum::body::Body::empty())
            .expect("request")
    };
    let response = admin
        .clone()
        .oneshot(get("/api/audit?since=1h&user=erin"))
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    let report: Value = serde_json::from_str(&body_text(response).await).expect("json");
    let records = report["records"].as_array().expect("records");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["decision"], "annotated");
    assert_eq!(records[0]["endpoint"], "mutate");
    assert_eq!(records[0]["replica"], "replica-m");
    let none: Value = serde_json::from_str(
        &body_text(
            admin
                .clone()
                .oneshot(get("/api/audit?user=frank"))
                .await
                .expect("answers"),
        )
        .await,
    )
    .expect("json");
    assert_eq!(none["records"].as_array().map(Vec::len), Some(0));
    let response = admin
        .clone()
        .oneshot(get("/report"))
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("text/html"));
    let html = body_text(response).await;
    assert!(html.contains("erin") && html.contains("apps/Deployment shop/web"));
    let bad = admin
        .clone()
        .oneshot(get("/api/audit?since=soon"))
        .await
        .expect("answers");
    assert_eq!(bad.status(), 400);
    // No trail written yet: an empty report, not an error.
    let missing = driftgate::audit::http::router(Arc::new(driftgate::audit::http::Reader::new(
        Some(Target::Sqlite(dir.path().join("nope.db"))),
    )))
    .oneshot(get("/api/audit"))
    .await
    .expect("answers");
    assert_eq!(missing.status(), 200);
    let empty: Value = serde_json::from_str(&body_text(missing).await).expect("json");
    assert_eq!(empty["totals"]["records"], 0);
    // An unreachable database: 503 with the reason, the admin port stays up.
    let down = driftgate::audit::http::router(Arc::new(driftgate::audit::http::Reader::new(Some(
        Target::Postgres("postgres://nobody@127.0.0.1:1/none".into()),
    ))))
    .oneshot(get("/report"))
    .await
    .expect("answers");
    assert_eq!(down.status(), 503);
}

/// `driftgate serve` as a process, killed if the test ends early; stderr and stdout drained
/// by threads so the process never blocks on a full pipe.
struct Served {
    child: Child,
    stderr: std::sync::mpsc::Receiver<String>,
    stdout: std::sync::mpsc::Receiver<String>,
}

impl Served {
    fn spawn(config: &Path) -> Served {
        let mut child = driftgate()
            .arg("serve")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("driftgate serve starts");
        let drain = |pipe: Box<dyn std::io::Read + Send>, echo: bool| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                use std::io::BufRead as _;
                for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    if echo {
                        eprintln!("driftgate: {line}");
                    }
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        };
        let stderr = drain(Box::new(child.stderr.take().expect("stderr")), true);
        let stdout = drain(Box::new(child.stdout.take().expect("stdout")), false);
        Served {
            child,
            stderr,
            stdout,
        }
    }

    fn log_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line with {needle:?}: {e}"),
            }
        }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "driftgate did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn address(line: &str, name: &str) -> std::net::SocketAddr {
    let start = line.find(&format!("{name}=")).expect("field") + name.len() + 1;
    line[start..]
        .split_whitespace()
        .next()
        .expect("value")
        .trim_matches('"')
        .parse()
        .expect("address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_over_tls_records_validate_once_and_reports_it() {
    let fleet = Fleet::new();
    let tmp = tempfile::tempdir().expect("tmp");
    let certs = tmp.path().join("certs");
    let out = driftgate()
        .args([
            "certs",
            "--service",
            "driftgate",
            "--namespace",
            "driftgate-system",
            "--out",
        ])
        .arg(&certs)
        .output()
        .expect("certs runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = tmp.path().join("audit.db");
    let config = tmp.path().join("driftgate.yaml");
    std::fs::write(
        &config,
        format!(
            "sources: [{{name: fleet, url: {:?}}}]\nserver:\n  listen: 127.0.0.1:0\n  adminListen: 127.0.0.1:0\n  certFile: {:?}\n  keyFile: {:?}\naudit:\n  path: {:?}\n  stdout: true\n",
            fleet._repo.path().display().to_string(),
            certs.join("tls.crt").display().to_string(),
            certs.join("tls.key").display().to_string(),
            db.display().to_string(),
        ),
    )
    .expect("config");
    let mut served = Served::spawn(&config);
    let listening = served.log_line("listening");
    let (tls, admin) = (address(&listening, "tls"), address(&listening, "admin"));
    served.log_line("declared state loaded");

    const NAME: &str = "driftgate.driftgate-system.svc";
    let ca = std::fs::read(certs.join("ca.crt")).expect("ca");
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("ca pem")])
        .resolve(NAME, tls)
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let call = |path: &'static str, body: Vec<u8>| {
        let client = client.clone();
        async move {
            let response = client
                .post(format!("https://{NAME}:{}/{path}?timeout=10s", tls.port()))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("answer");
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.expect("json")
        }
    };
    // The apiserver calls /mutate, then /validate, for the same edit (different uids).
    let mut edit: Value =
        serde_json::from_slice(&fleet.edit("web", "alice", 5, false)).expect("json");
    edit["request"]["uid"] = json!("mutate-uid");
    let mutated = call("mutate", serde_json::to_vec(&edit).expect("json")).await;
    assert_eq!(mutated["response"]["allowed"], true);
    assert_eq!(mutated["response"]["patchType"], "JSONPatch");
    edit["request"]["uid"] = json!("validate-uid");
    let validated = call("validate", serde_json::to_vec(&edit).expect("json")).await;
    assert_eq!(validated["response"]["allowed"], false);
    let dry = call("validate", fleet.edit("web", "carol", 9, true)).await;
    assert_eq!(dry["response"]["allowed"], true, "dry-runs are warned");
    let answered = Instant::now();

    let audit = db.display().to_string();
    let report = eventually(Duration::from_secs(2), || {
        let audit = audit.clone();
        async move {
            let out = driftgate()
                .args(["report", "--format", "json", "--audit", &audit])
                .output()
                .ok()?;
            let report: Value = serde_json::from_slice(&out.stdout).ok()?;
            (report["records"].as_array().map(Vec::len) == Some(1)).then_some(report)
        }
    })
    .await
    .expect("the record is readable within 2 s of the answer");
    eprintln!("record readable after {:?}", answered.elapsed());
    let record = &report["records"][0];
    assert_eq!(
        record["uid"], "validate-uid",
        "/validate records, /mutate does not"
    );
    assert_eq!(record["user"], "alice");
    assert_eq!(record["decision"], "denied");

    let admin_client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let html = admin_client
        .get(format!("http://{admin}/report?since=1h"))
        .send()
        .await
        .expect("report")
        .text()
        .await
        .expect("text");
    assert!(html.contains("alice") && html.contains("apps/Deployment shop/web"));
    let api: Value = admin_client
        .get(format!("http://{admin}/api/audit?user=alice"))
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    assert_eq!(api["records"].as_array().map(Vec::len), Some(1));
    let metrics = admin_client
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("driftgate_audit_records_written_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("driftgate_audit_degraded 0"), "{metrics}");

    let status = served.terminate();
    assert!(status.success(), "serve exits 0 on SIGTERM: {status}");
    // The process is gone: its stdout reaches EOF and the drain thread ends the channel.
    let lines: Vec<String> = served.stdout.iter().collect();
    let records: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(
        records.len(),
        1,
        "audit.stdout: one JSON line per record: {lines:?}"
    );
    assert_eq!(records[0]["uid"], "validate-uid");
}

#[tokio::test]
async fn report_formats_and_bad_input() {
    let dir = tempfile::tempdir().expect("tmp");
    let target = sqlite_target(dir.path());
    let store = Store::open(&target).await.expect("opens");
    let mut r = record("alice", "shop", "web", "denied", Timestamp::now());
    r.break_glass = Some("INC-7, \"quoted\"".into());
    store.insert(&[r]).await.expect("insert");
    store.close().await;
    let db = dir.path().join("audit.db");
    let run = |args: &[&str]| {
        driftgate()
            .arg("report")
            .arg("--audit")
            .arg(&db)
            .args(args)
            .output()
            .expect("runs")
    };
    let table = run(&[]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("apps/Deployment shop/web") && text.contains("1 records, 1 blocked"),
        "{text}"
    );
    let csv = run(&["--format", "csv"]);
    let text = String::from_utf8_lossy(&csv.stdout);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("\"INC-7, \"\"quoted\"\"\""), "{text}");
    assert_eq!(run(&["--format", "yaml"]).status.code(), Some(2));
    assert_eq!(run(&["--since", "last tuesday"]).status.code(), Some(2));
    let missing = driftgate()
        .args(["report", "--audit"])
        .arg(dir.path().join("none.db"))
        .output()
        .expect("runs");
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        !dir.path().join("none.db").exists(),
        "a report never creates a trail"
    );
}
