//! Two processes, two replicas, one PostgreSQL trail.

use super::*;

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
        .args([
            "replicas::child_process_entry_point",
            "--exact",
            "--nocapture",
        ])
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
