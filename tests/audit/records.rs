//! Decisions become records one for one; the mutate patch.

use super::*;

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
