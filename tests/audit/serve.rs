//! The routes and `driftgate serve` over TLS.

use super::*;
use common::served::{Webhook, SERVICE_NAME};

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
    let status = Arc::new(driftgate::sync::status::SyncStatus::new(["fleet"]));
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
        driftgate::sync::load_once(&fleet.config).expect("loads"),
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
    // The file exists but the writer has not migrated it yet (the first moments after a
    // start): still an empty report, not "no such table".
    let unmigrated = dir.path().join("unmigrated.db");
    std::fs::write(&unmigrated, b"").expect("empty file");
    let early = driftgate::audit::http::router(Arc::new(driftgate::audit::http::Reader::new(
        Some(Target::Sqlite(unmigrated)),
    )))
    .oneshot(get("/api/audit"))
    .await
    .expect("answers");
    assert_eq!(early.status(), 200);
    let early: Value = serde_json::from_str(&body_text(early).await).expect("json");
    assert_eq!(early["totals"]["records"], 0);
    // An unreachable database: 503 with the reason, the admin port stays up.
    let down = driftgate::audit::http::router(Arc::new(driftgate::audit::http::Reader::new(Some(
        Target::Postgres("postgres://nobody@127.0.0.1:1/none".into()),
    ))))
    .oneshot(get("/report"))
    .await
    .expect("answers");
    assert_eq!(down.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_over_tls_records_validate_once_and_reports_it() {
    let fleet = Fleet::new();
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("audit.db");
    let Webhook {
        mut served,
        tls,
        admin,
        client,
        ..
    } = Webhook::start(
        tmp.path(),
        fleet._repo.path(),
        &format!(
            "audit:\n  path: {:?}\n  stdout: true\n",
            db.display().to_string()
        ),
    );
    const NAME: &str = SERVICE_NAME;
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

    served.sigterm();
    let status = served.wait(Duration::from_secs(20));
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
