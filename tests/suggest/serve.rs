//! `driftgate serve`: a blocked edit's Git change on the admin port (`/report` links to it,
//! `/report/suggest` and `/api/audit/suggest` make it on demand from the Git it serves).

use std::time::{Duration, Instant};

use super::plain::shop_repo;
use super::*;
use common::served::{Webhook, SERVICE_NAME};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_port_offers_each_blocked_edits_change() {
    let repo = shop_repo();
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
        repo.path(),
        &format!("audit:\n  path: {:?}\n", db.display().to_string()),
    );
    const NAME: &str = SERVICE_NAME;
    let review = scale_review("shop", "web", 3, 10);
    let answer: Value = client
        .post(format!(
            "https://{NAME}:{}/validate?timeout=10s",
            tls.port()
        ))
        .header("content-type", "application/json")
        .body(review.to_string())
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["response"]["allowed"], false);

    let admin_client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let get = |path: String| {
        let c = admin_client.clone();
        async move {
            c.get(format!("http://{admin}{path}"))
                .send()
                .await
                .expect("admin answers")
        }
    };
    // The record is written in the background: poll with a deadline.
    let deadline = Instant::now() + Duration::from_secs(5);
    let id = loop {
        let api: Value = get("/api/audit".into()).await.json().await.expect("json");
        if let Some(id) = api["records"][0]["id"].as_i64() {
            break id;
        }
        assert!(Instant::now() < deadline, "no record within 5 s: {api}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let html = get("/report".into()).await.text().await.expect("text");
    assert!(
        html.contains(&format!("/report/suggest?id={id}")),
        "the report links the change"
    );
    let suggested: Value = get(format!("/api/audit/suggest?id={id}"))
        .await
        .json()
        .await
        .expect("json");
    let diff = suggested["diff"].as_str().expect("a diff");
    assert!(
        diff.contains("-  replicas: 3\n+  replicas: 10\n"),
        "{suggested}"
    );
    try_git(repo.path(), &["apply", "--check", "-"], Some(diff)).expect("git apply accepts it");
    let page = get(format!("/report/suggest?id={id}"))
        .await
        .text()
        .await
        .expect("text");
    assert!(
        page.contains("<pre class=\"patch\">") && page.contains("+  replicas: 10"),
        "{page}"
    );
    // By the request's uid too; bad and unknown ids are answered plainly.
    let uid = review["request"]["uid"].as_str().expect("uid");
    let by_uid: Value = get(format!("/api/audit/suggest?id={uid}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(by_uid["diff"], suggested["diff"]);
    assert_eq!(get("/api/audit/suggest".into()).await.status(), 400);
    assert_eq!(get("/api/audit/suggest?id=999".into()).await.status(), 404);

    served.sigterm();
    let status = served.wait(Duration::from_secs(20));
    assert!(status.success(), "serve exits 0 on SIGTERM: {status}");
}
