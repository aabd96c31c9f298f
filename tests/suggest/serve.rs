//! `driftgate serve`: a blocked edit's Git change on the admin port (`/report` links to it,
//! `/report/suggest` and `/api/audit/suggest` make it on demand from the Git it serves).

use std::time::{Duration, Instant};

use super::plain::shop_repo;
use super::*;
use common::driftgate;
use common::served::{address, Served};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_port_offers_each_blocked_edits_change() {
    let repo = shop_repo();
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
            "sources: [{{name: fleet, url: {:?}}}]\nserver:\n  listen: 127.0.0.1:0\n  adminListen: 127.0.0.1:0\n  certFile: {:?}\n  keyFile: {:?}\naudit:\n  path: {:?}\n",
            repo.path().display().to_string(),
            certs.join("tls.crt").display().to_string(),
            certs.join("tls.key").display().to_string(),
            db.display().to_string(),
        ),
    )
    .expect("config");
    let mut served = Served::serve(&config);
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
