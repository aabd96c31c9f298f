//! Suggestions from a real audit trail (SQLite, and PostgreSQL when `DRIFTGATE_TEST_POSTGRES`
//! names one): blocked edits recorded as `serve` records them, then `driftgate suggest --audit
//! … --id N` (or the request's uid) gives the change, which goes round the loop; a record
//! that did not keep its values in full (written before, or cut) is refused plainly.

use driftgate::admission::{Endpoint, RequestInfo, Review};
use driftgate::audit::{Record, Store, Target};
use k8s_openapi::jiff::Timestamp;

use super::plain::shop_repo;
use super::*;
use common::driftgate;

async fn record(store: &Store, review: &Value, snapshot: &Snapshot, config: &Config) -> Record {
    let body = review.to_string();
    let (_, decision) =
        admission::validate(body.as_bytes(), snapshot, &Policy::from_config(config))
            .expect("valid review");
    assert_eq!(
        decision.verdict,
        Verdict::Denied,
        "{:?}",
        decision.violations
    );
    let parsed = Review::parse(body.as_bytes()).expect("review");
    let info = RequestInfo::from_request(&parsed.request);
    let record = Record::new(&decision, &info, Endpoint::Validate, "r1", Timestamp::now())
        .expect("recorded");
    store
        .insert(std::slice::from_ref(&record))
        .await
        .expect("stored");
    record
}

fn trail_arg(target: &Target) -> String {
    match target {
        Target::Sqlite(path) => path.display().to_string(),
        Target::Postgres(url) => url.clone(),
    }
}

fn suggest_from(repo: &Path, trail: &str, id: &str) -> (i32, String, String) {
    let out = driftgate()
        .args(["suggest", "--repo"])
        .arg(repo)
        .args(["--audit", trail, "--id", id])
        .output()
        .expect("driftgate runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Records blocked edits in `target`, then makes each one's change from the trail alone and
/// takes it round the loop.
async fn from_a_trail(target: Target) {
    let repo = shop_repo();
    let cfg = config(repo.path(), &[], "unmanaged: deny");
    let snapshot = load(&cfg);
    let store = Store::open(&target).await.expect("trail opens");
    let web = ObjectKey::new("apps", "Deployment", "shop", "web");
    let git = declared(&snapshot, &web);
    let image = [
        Step::Key("spec".into()),
        Step::Key("template".into()),
        Step::Key("spec".into()),
        Step::Key("containers".into()),
        Step::Select(vec![("name".into(), "web".into())]),
        Step::Key("image".into()),
    ];
    let new_config = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "flags-v2", "namespace": "shop", "uid": "1", "resourceVersion": "2"}, "data": {"beta": "on"}});
    let reviews = [
        scale_review("shop", "web", 3, 7),
        review(
            "UPDATE",
            "bob@example.com",
            &edited(&live(&git), &image, Some(json!("nginx:1.27"))),
            &live(&git),
        ),
        review("CREATE", "carol@example.com", &new_config, &Value::Null),
    ];
    let mut reviews = reviews;
    let mut records = Vec::new();
    for (i, r) in reviews.iter_mut().enumerate() {
        r["request"]["uid"] = json!(format!("0f6b2c1d-0000-4000-8000-00000000000{i}"));
        records.push(record(&store, r, &snapshot, &cfg).await);
    }
    let stored = store.query(&Default::default()).await.expect("query");
    assert_eq!(stored.len(), 3);
    assert!(stored
        .iter()
        .all(|r| r.id.is_some() && r.changes.as_ref().is_some_and(|c| c.complete)));
    let trail = trail_arg(&target);
    for (review, record) in reviews.iter().zip(&records) {
        // By the request's uid, and by the record's number: the same change.
        let number = stored
            .iter()
            .find(|r| r.uid == record.uid)
            .and_then(|r| r.id)
            .expect("id")
            .to_string();
        let (code, by_uid, stderr) = suggest_from(repo.path(), &trail, &record.uid);
        assert_eq!(code, 0, "{stderr}");
        let (_, by_number, _) = suggest_from(repo.path(), &trail, &number);
        assert_eq!(by_uid, by_number);
        try_git(repo.path(), &["apply", "-"], Some(&by_uid)).expect("applies");
        repo.commit("suggested from the audit trail");
        let (_, d) = admission::validate(
            review.to_string().as_bytes(),
            &load(&cfg),
            &Policy::from_config(&cfg),
        )
        .expect("valid");
        assert_eq!(d.verdict, Verdict::Allowed, "{:?}\n{by_uid}", d.violations);
    }
    let (code, stdout, _) = suggest_from(repo.path(), &trail, &records[0].uid);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("nothing to change"),
        "already in Git: {stdout}"
    );

    // A record whose value was cut (over 64 KiB), and one written before values were kept.
    let huge = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "blob", "namespace": "shop"}, "data": {"x": "y".repeat(70 * 1024)}});
    let cut = record(
        &store,
        &review("CREATE", "dave@example.com", &huge, &Value::Null),
        &load(&cfg),
        &cfg,
    )
    .await;
    let mut old = records[1].clone();
    old.uid = "before-the-migration".into();
    old.changes = None;
    store
        .insert(std::slice::from_ref(&old))
        .await
        .expect("stored");
    for uid in [cut.uid.as_str(), "before-the-migration"] {
        let (code, stdout, stderr) = suggest_from(repo.path(), &trail, uid);
        assert_eq!(code, 2, "{stdout}");
        assert!(
            stderr.contains("cannot suggest: values not kept in full"),
            "{stderr}"
        );
        assert!(stdout.is_empty(), "no diff: {stdout}");
    }
    let (code, _, stderr) = suggest_from(repo.path(), &trail, "no-such-record");
    assert_eq!(code, 2);
    assert!(stderr.contains("no record"), "{stderr}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggestions_from_a_sqlite_trail() {
    let tmp = tempfile::tempdir().expect("tempdir");
    from_a_trail(Target::Sqlite(tmp.path().join("audit.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggestions_from_a_postgres_trail() {
    let Ok(base) = std::env::var("DRIFTGATE_TEST_POSTGRES") else {
        eprintln!("notice: DRIFTGATE_TEST_POSTGRES is unset; skipping the PostgreSQL trail");
        return;
    };
    let schema = format!("t_suggest_{}", std::process::id());
    let pool = sqlx::PgPool::connect(&base)
        .await
        .expect("PostgreSQL reachable");
    for sql in [
        format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        format!("CREATE SCHEMA {schema}"),
    ] {
        sqlx::query(&sql).execute(&pool).await.expect("schema");
    }
    pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    from_a_trail(Target::Postgres(format!(
        "{base}{sep}options=-c%20search_path%3D{schema}"
    )))
    .await;
}

/// A trail of the first schema (no `changes` column): reports read it as it is, suggestions
/// say the values were not kept, and opening it to write adds the column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trail_from_before_the_migration() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
    // As an older driftgate left it: its migrator ran the first migration only.
    let only_first = tmp.path().join("migrations");
    std::fs::create_dir_all(&only_first).expect("mkdir");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite/0001_audit_records.sql"),
        only_first.join("0001_audit_records.sql"),
    )
    .expect("copy");
    sqlx::migrate::Migrator::new(only_first.as_path())
        .await
        .expect("migrator")
        .run(&pool)
        .await
        .expect("old schema");
    sqlx::query("INSERT INTO driftgate_audit (time_ms, uid, user_name, groups, operation, subresource, api_group, api_version, kind, namespace, name, decision, mode, revision, source, file, break_glass, endpoint, replica, violations, omitted) VALUES (1700000000000, 'old-uid', 'alice', '[]', 'UPDATE', '', 'apps', 'v1', 'Deployment', 'shop', 'web', 'denied', 'enforce', 'main@sha1:0123456789ab', 'fleet', 'apps/web.yaml', NULL, 'validate', 'r1', '[{\"path\":\"spec.replicas\",\"git\":\"3\",\"old\":\"3\",\"requested\":\"10\"}]', 0)")
        .execute(&pool)
        .await
        .expect("old record");
    pool.close().await;
    let trail = path.display().to_string();
    let report = driftgate()
        .args(["report", "--audit", &trail, "--format", "json"])
        .output()
        .expect("runs");
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert!(String::from_utf8_lossy(&report.stdout).contains("old-uid"));
    let repo = shop_repo();
    let (code, _, stderr) = suggest_from(repo.path(), &trail, "old-uid");
    assert_eq!(code, 2);
    assert!(stderr.contains("values not kept in full"), "{stderr}");
    let store = Store::open(&Target::Sqlite(path.clone()))
        .await
        .expect("migrates");
    let old = store.get("old-uid").await.expect("reads").expect("kept");
    assert_eq!(old.changes, None);
    store.close().await;
}
