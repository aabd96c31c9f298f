//! A real `git daemon`: a push flips a decision within one interval, a force-push is followed,
//! an outage keeps the last good snapshot answering and shows in status and metrics, a restart
//! recovers, a deleted branch is reported.

use super::*;

#[test]
fn follows_pushes_force_pushes_and_outages_over_git_daemon() {
    let repos = Repos::new();
    let first = repos.commit(&[("apps/web.yaml", &deployment(3))], "three replicas");
    let port = free_port();
    let daemon = Daemon::start(&repos.base, port);
    let cache = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        &format!(
            "{{name: fleet, url: \"git://127.0.0.1:{port}/served.git\", ref: main, interval: 1s}}"
        ),
        cache.path(),
    );
    let policy = Policy::from_config(&cfg);
    let live = Arc::new(Live::new());
    let metrics = Metrics::new();
    let parts = Parts {
        metrics: Some(metrics.sync.clone()),
        ..Parts::default()
    };
    let handle = Syncer::with_parts(&cfg, live.clone(), parts)
        .start()
        .expect("threads start");
    let trigger = handle.trigger();
    let body = review_body();

    wait_for("first snapshot", Duration::from_secs(30), || {
        trigger.is_ready()
    });
    let (verdict, revision) = ask(&live, &policy, &body).expect("snapshot");
    assert_eq!(verdict, Verdict::Denied);
    assert_eq!(revision, format!("main@sha1:{}", short(&first)));
    let status = trigger.status().get("fleet").expect("status");
    assert_eq!(status.commit.as_deref(), Some(first.as_str()));
    assert_eq!(status.objects, 1);

    // A push that makes the request match Git: allowed within one interval (plus the fetch),
    // with no "sync now".
    let second = repos.commit(&[("apps/web.yaml", &deployment(5))], "five replicas");
    let pushed = Instant::now();
    wait_for("the pushed commit", Duration::from_secs(10), || {
        ask(&live, &policy, &body)
            .is_some_and(|(v, r)| v == Verdict::Allowed && r.contains(short(&second)))
    });
    eprintln!("push followed in {:?} (interval 1s)", pushed.elapsed());
    assert!(
        pushed.elapsed() < Duration::from_secs(4),
        "took {:?} for a 1s interval",
        pushed.elapsed()
    );

    // A force-push back to the first commit is followed too.
    repos.reset_to(&first);
    trigger.sync_now();
    wait_for("the force-pushed commit", Duration::from_secs(10), || {
        ask(&live, &policy, &body)
            .is_some_and(|(v, r)| v == Verdict::Denied && r.contains(short(&first)))
    });

    // The remote goes away: the last good snapshot keeps answering, the failure is visible.
    drop(daemon);
    trigger.sync_now();
    wait_for("the failure in status", Duration::from_secs(10), || {
        trigger
            .status()
            .get("fleet")
            .is_some_and(|s| s.consecutive_failures >= 1 && s.last_error.is_some())
    });
    let (verdict, revision) = ask(&live, &policy, &body).expect("still served");
    assert_eq!(verdict, Verdict::Denied);
    assert!(revision.contains(short(&first)), "{revision}");
    let metrics = metrics.encode();
    assert!(
        metrics.contains(r#"driftgate_source_syncs_total{source="fleet",result="failure"}"#),
        "{metrics}"
    );
    assert!(
        !metrics.contains(r#"driftgate_source_consecutive_failures{source="fleet"} 0"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            r#"driftgate_source_revision_info{{source="fleet",revision="main@sha1:{}"}} 1"#,
            short(&first)
        )),
        "{metrics}"
    );
    let detail = trigger.status().render(SystemTime::now());
    eprintln!("while the remote is down: {detail}");
    assert!(
        detail.contains("last attempt failed (") && detail.contains("fetch"),
        "{detail}"
    );

    // A commit lands while the remote is down; when it comes back, both are picked up.
    let third = repos.commit(&[("apps/web.yaml", &deployment(5)), ("apps/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: shop}\ndata: {a: b}\n")], "back to five");
    let _daemon = Daemon::start(&repos.base, port);
    trigger.sync_now();
    wait_for("recovery", Duration::from_secs(15), || {
        trigger.status().get("fleet").is_some_and(|s| {
            s.last_error.is_none()
                && s.consecutive_failures == 0
                && s.commit.as_deref() == Some(third.as_str())
        })
    });
    let (verdict, revision) = ask(&live, &policy, &body).expect("served");
    assert_eq!(verdict, Verdict::Allowed);
    assert!(revision.contains(short(&third)), "{revision}");
    assert_eq!(trigger.status().get("fleet").map(|s| s.objects), Some(2));

    // The branch is deleted on the remote: the error says so, the last good state stays.
    git(&repos.served, &["update-ref", "-d", "refs/heads/main"]);
    trigger.sync_now();
    wait_for(
        "the deleted branch in status",
        Duration::from_secs(10),
        || {
            trigger
                .status()
                .get("fleet")
                .is_some_and(|s| s.last_error.is_some())
        },
    );
    let error = last_error(&trigger, "fleet");
    eprintln!("after the branch is deleted: {error}");
    assert!(error.contains("main"), "{error}");
    let (verdict, revision) = ask(&live, &policy, &body).expect("served");
    assert_eq!(verdict, Verdict::Allowed);
    assert!(revision.contains(short(&third)), "{revision}");
    handle.shutdown();
}
