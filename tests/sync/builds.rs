//! A build that fails while Git is followed: the source still loads (ready on the first load),
//! `/readyz`'s detail and `driftgate_source_build_failed` name it with kustomize's message, the
//! other builds advance, and once fixed its series goes and its objects are fresh again.

use super::*;

fn overlay(name: &str, resources: &str) -> (String, String) {
    (
        format!("overlays/{name}/kustomization.yaml"),
        format!("namespace: {name}\nresources: [{resources}]\n"),
    )
}

#[test]
fn a_failed_build_is_named_and_the_rest_of_the_source_serves() {
    if !kubectl() {
        return;
    }
    let repos = Repos::new();
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: info\n";
    let good = overlay("good", "../../base");
    let bad = overlay("bad", "../../base, missing.yaml");
    repos.commit(
        &[
            ("base/kustomization.yaml", "resources: [cm.yaml]\n"),
            ("base/cm.yaml", cm),
            (&good.0, &good.1),
            (&bad.0, &bad.1),
        ],
        "one overlay broken from the start",
    );
    let cache = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        &format!(
            "{{name: fleet, url: {:?}, ref: main, paths: [overlays]}}",
            repos.work.display().to_string()
        ),
        cache.path(),
    );
    let live = Arc::new(Live::new());
    let metrics = Metrics::new();
    let parts = Parts {
        metrics: Some(metrics.sync.clone()),
        ..Parts::default()
    };
    let mut syncer = Syncer::with_parts(&cfg, live.clone(), parts);
    let trigger = syncer.trigger();
    assert!(syncer.sync_once(), "a failed build does not fail the sync");
    assert!(trigger.is_ready(), "ready on the first load");
    let detail = trigger.status().render(SystemTime::now());
    assert!(
        detail.contains("build kustomize overlays/bad failed:") && detail.contains("missing.yaml"),
        "{detail}"
    );
    let series =
        r#"driftgate_source_build_failed{source="fleet",build="kustomize overlays/bad"} 1"#;
    assert!(metrics.encode().contains(series), "{}", metrics.encode());
    let snapshot = live.load().expect("live");
    let namespaces: Vec<&str> = snapshot
        .objects()
        .map(|o| o.key.namespace.as_str())
        .collect();
    assert_eq!(
        namespaces,
        ["good"],
        "the broken overlay declares nothing yet"
    );

    let fixed = overlay("bad", "../../base");
    repos.commit(&[(&fixed.0, &fixed.1)], "fixed");
    assert!(syncer.sync_once());
    assert!(!trigger
        .status()
        .render(SystemTime::now())
        .contains("failed"));
    assert!(
        !metrics.encode().contains("build_failed{"),
        "the series goes"
    );
    assert_eq!(live.load().expect("live").len(), 2);

    // Broken again while the base changes: good advances, bad keeps its last good object.
    let broken = overlay("bad", "../../base, missing.yaml");
    repos.commit(
        &[
            (&broken.0, &broken.1),
            ("base/cm.yaml", &cm.replace("info", "debug")),
        ],
        "broken again",
    );
    assert!(syncer.sync_once());
    let snapshot = live.load().expect("live");
    let level = |ns: &str| {
        snapshot.objects().find(|o| o.key.namespace == ns).map(|o| {
            (
                o.stale,
                o.value.parse().expect("json")["data"]["level"].clone(),
            )
        })
    };
    assert_eq!(level("good"), Some((false, json!("debug"))));
    assert_eq!(level("bad"), Some((true, json!("info"))));
    assert!(metrics.encode().contains(series));
}
