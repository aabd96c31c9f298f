//! Scale, measured on demand (ignored by default; it writes a large repository and dump):
//!
//!     DRIFTGATE_SCAN_OBJECTS=100000 cargo test --release --test scan -- --ignored --nocapture scale
//!
//! prints the time and peak RSS of `driftgate scan --objects` over that many declared objects
//! (Deployments and ConfigMaps in 100 namespaces, one drifted in a thousand), measured with
//! `/usr/bin/time`. The bound is 10 s and 1 GB at 100,000 objects.

use super::*;

#[test]
#[ignore = "a measurement: run it on a quiet machine (see the module doc)"]
fn scale_scan_of_a_large_dump() {
    let n: usize = std::env::var("DRIFTGATE_SCAN_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let repo = common::GitRepo::new();
    let dir = tempfile::tempdir().expect("tmp");
    let mut items = Vec::with_capacity(n);
    let mut file = String::new();
    for i in 0..n {
        let ns = format!("team-{:03}", i % 100);
        let (git, mut live) = if i % 2 == 0 {
            let text =
                common::deployment(&format!("app-{i}"), &ns, 2, "registry.example.com/app:1.0");
            let git = common::yaml_to_json(&text);
            file.push_str("---\n");
            file.push_str(&text);
            (git.clone(), kubectl::live_form(&git, i))
        } else {
            let git = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("cfg-{i}"), "namespace": ns},
                "data": {"LOG_LEVEL": "info", "FEATURE_X": "on", "i": i.to_string()}});
            file.push_str("---\n");
            file.push_str(&serde_saphyr::to_string(&git).expect("yaml"));
            (git.clone(), kubectl::live_form(&git, i))
        };
        let _ = git;
        if i % 1000 == 7 {
            live["metadata"]["labels"]["edited"] = json!("by-hand");
            if let Some(spec) = live.get_mut("spec") {
                spec["replicas"] = json!(9);
            } else {
                live["data"]["LOG_LEVEL"] = json!("debug");
            }
        }
        items.push(live);
        if (i + 1) % 1000 == 0 || i + 1 == n {
            repo.write(&format!("apps/part-{:04}.yaml", i / 1000), &file);
            file.clear();
        }
    }
    repo.commit("fleet");
    let dump = dir.path().join("dump.json");
    std::fs::write(
        &dump,
        json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
    )
    .expect("write");
    drop(items);
    let size = std::fs::metadata(&dump).map(|m| m.len()).unwrap_or(0);
    // The repository is read once first, so the measured run reads Git as a warm `scan` does.
    let _ = driftgate()
        .args(["index", "--repo"])
        .arg(repo.path())
        .output();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "elapsed %e s, peak RSS %M KB"])
        .arg(env!("CARGO_BIN_EXE_driftgate"))
        .args(["scan", "--format", "json", "--repo"])
        .arg(repo.path())
        .arg("--objects")
        .arg(&dump)
        .output()
        .expect("time runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let drifted = doc["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|o| o["state"] == "drifted")
        .count();
    assert_eq!(
        drifted,
        n.div_ceil(1000).min(n / 1000 + usize::from(n % 1000 > 7))
    );
    assert_eq!(out.status.code(), Some(4));
    eprintln!(
        "scan of {n} objects ({:.0} MB dump): {}",
        size as f64 / 1e6,
        stderr.lines().last().unwrap_or_default()
    );
}
