//! The same store checks on SQLite and PostgreSQL, and retention.

use super::*;

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
    // A reader before the writer migrated (its own schema is still empty): nothing recorded.
    let early = Store::open_existing(&target).await.expect("reachable");
    let none = early
        .query(&driftgate::audit::store::Filter::default())
        .await
        .expect("an empty answer, not an error");
    assert!(none.is_empty());
    early.close().await;
    exercise_store(&target).await;
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
