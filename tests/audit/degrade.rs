//! An unwritable trail and a writer that cannot keep up.

use super::*;

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
