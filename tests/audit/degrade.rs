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

/// A tiny tmpfs mounted on a temporary directory (needs root), unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if !root {
            eprintln!("notice: not root, cannot mount a small tmpfs; skipping the disk-full test");
            return None;
        }
        let dir = tempfile::tempdir().expect("tmp");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!(
                "notice: mount -t tmpfs failed (no CAP_SYS_ADMIN?); skipping the disk-full test"
            );
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the filesystem is full; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("filler");
        let chunk = [0u8; 4096];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(28), "ENOSPC, not {e}");
                    break;
                }
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a pool connection still open must not leave the mount behind.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_degrades_to_the_log_and_recovers_when_space_frees() {
    let Some(disk) = Tmpfs::mount("512k") else {
        return;
    };
    let fleet = Fleet::new();
    let target = sqlite_target(disk.path());
    let metrics = AuditMetrics::default();
    let (sink, writer) = Sink::start(options(target.clone()), metrics.clone());
    let auditor = Auditor::new(sink, Endpoint::Validate, "r");
    let mut observed = 0u64;
    let mut observe = |user: &str| {
        let outcome = fleet.answer(Endpoint::Validate, &fleet.edit("web", user, 5, false));
        // The answer never depends on the trail.
        assert_eq!(outcome.review["response"]["allowed"], false);
        assert_eq!(outcome.review["response"]["status"]["code"], 403);
        auditor.observe(Endpoint::Validate, &outcome);
        observed += 1;
        observed
    };
    observe("before");
    assert!(eventually(Duration::from_secs(5), || async {
        (metrics.written.get() == 1).then_some(())
    })
    .await
    .is_some());

    // Full: SQLite may still fit a few records in pages it has; then the writer degrades.
    let filler = disk.fill();
    let deadline = Instant::now() + Duration::from_secs(10);
    while metrics.degraded.get() == 0 {
        assert!(
            Instant::now() < deadline,
            "a full disk never degraded the trail"
        );
        observe("full");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(metrics.write_errors.get() >= 1);
    let mut total = 0;
    for _ in 0..5 {
        total = observe("full");
    }
    let accounted = eventually(Duration::from_secs(5), || async {
        (metrics.written.get() + metrics.log_only.get() == total).then_some(())
    })
    .await;
    assert!(
        accounted.is_some(),
        "every record is stored or logged: {} written, {} logged of {total}",
        metrics.written.get(),
        metrics.log_only.get()
    );
    assert!(metrics.log_only.get() >= 5);
    assert_eq!(metrics.dropped(DropReason::QueueFull), 0);
    eprintln!(
        "disk full: {} written, {} logged only, {} write errors",
        metrics.written.get(),
        metrics.log_only.get(),
        metrics.write_errors.get()
    );

    // Space again: records are stored again and the degraded state clears.
    std::fs::remove_file(&filler).expect("free space");
    let stored_before = metrics.written.get();
    let deadline = Instant::now() + Duration::from_secs(10);
    while metrics.written.get() <= stored_before || metrics.degraded.get() == 1 {
        assert!(
            Instant::now() < deadline,
            "the trail never recovered after space was freed"
        );
        observe("after");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(auditor);
    writer.await.expect("writer ends");
    let store = Store::open_existing(&target).await.expect("trail");
    let after = store
        .query(&Filter {
            user: Some("after".into()),
            ..Filter::default()
        })
        .await
        .expect("query");
    assert!(!after.is_empty(), "records after recovery are in the trail");
    let all = store.query(&Filter::default()).await.expect("query");
    assert_eq!(all.len() as u64, metrics.written.get());
    store.close().await;
}
