//! `driftgate scan --format html` in headless Chromium: the page renders and shows the counts,
//! the drift per namespace and kind, and each drifted object with its diff.

use super::cluster::fleet_repo;
use super::*;
use common::browser::look_at;

#[test]
fn html_report_renders_in_chromium() {
    let repo = fleet_repo();
    let dir = tempfile::tempdir().expect("tmp");
    // A dump of the fleet with web scaled to 5 and two ConfigMaps gone.
    let mut items = vec![
        kubectl::live_form(
            &common::yaml_to_json(&common::deployment("web", "shop", 5, "nginx:1.25")),
            1,
        ),
        kubectl::live_form(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
            2,
        ),
    ];
    for i in 2..1200 {
        items.push(kubectl::live_form(
            &json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("cm-{i:04}"), "namespace": "shop"}, "data": {"n": i.to_string()}}),
            i + 10,
        ));
    }
    let dump = dir.path().join("dump.json");
    std::fs::write(
        &dump,
        json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
    )
    .expect("write");
    let out = driftgate()
        .args(["scan", "--format", "html", "--repo"])
        .arg(repo.path())
        .arg("--objects")
        .arg(&dump)
        .output()
        .expect("scan runs");
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = String::from_utf8(out.stdout).expect("utf-8");
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
    let Some(dom) = look_at("drift-report", &html, 1200) else {
        return;
    };
    assert!(dom.contains("driftgate drift report"));
    assert!(dom.contains("apps/Deployment shop/web"));
    assert!(dom.contains("spec.replicas"));
    assert!(dom.contains("ConfigMap shop/cm-0000") && dom.contains("ConfigMap shop/cm-0001"));
    assert!(
        dom.contains("Secret shop/creds"),
        "missing: no Secret in the dump"
    );
    assert!(
        dom.contains("<td>shop</td><td>ConfigMap</td>"),
        "grouped per namespace and kind"
    );
}
