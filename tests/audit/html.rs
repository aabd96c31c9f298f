//! The HTML report in headless Chromium.

use super::*;

use common::browser::look_at;

#[tokio::test]
async fn html_report_renders_in_chromium() {
    let dir = tempfile::tempdir().expect("tmp");
    let target = sqlite_target(dir.path());
    let store = Store::open(&target).await.expect("opens");
    let now = Timestamp::now();
    let hour = k8s_openapi::jiff::SignedDuration::from_hours(1);
    let mut records = Vec::new();
    let people = ["alice@example.com", "bob", "carol", "dave"];
    let objects = [("shop", "web"), ("shop", "api"), ("billing", "ledger")];
    for i in 0..40_i32 {
        let user = people[(i as usize * 7) % people.len()];
        let (ns, name) = objects[(i as usize) % objects.len()];
        let decision = ["denied", "denied", "warned", "break-glass"][(i as usize) % 4];
        let mut r = record(
            user,
            ns,
            name,
            decision,
            now.checked_sub(hour * (i * 9)).expect("t"),
        );
        if decision == "break-glass" {
            r.break_glass = Some("INC-4211 checkout outage".into());
        }
        records.push(r);
    }
    store.insert(&records).await.expect("insert");
    store.close().await;
    let out = driftgate()
        .args(["report", "--format", "html", "--since", "30d", "--audit"])
        .arg(dir.path().join("audit.db"))
        .output()
        .expect("report runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = String::from_utf8(out.stdout).expect("utf-8");
    assert!(html.contains("<svg") && !html.contains("<script"));
    let Some(dom) = look_at("audit-report", &html, 1600) else {
        return;
    };
    for user in people {
        assert!(dom.contains(user), "page shows user {user}");
    }
    for (ns, name) in objects {
        assert!(
            dom.contains(&format!("apps/Deployment {ns}/{name}")),
            "page shows object {ns}/{name}"
        );
    }
    assert!(dom.contains("INC-4211 checkout outage"));
}
