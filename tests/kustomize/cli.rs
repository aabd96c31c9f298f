//! The commands on the Flux fleet: `index --json` says what was decided (errors, notes, out of
//! scope, failed builds), `webhook-config` registers every declared kind under its real plural,
//! and `render: auto` on a Flux cluster path suggests `discover: flux`.

use super::fleet::fleet;
use super::*;

fn driftgate(args: &[&str], config: &Path) -> std::process::Output {
    common::driftgate()
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("driftgate runs")
}

fn config(dir: &Path, repo: &Path, extra: &str) -> PathBuf {
    let path = dir.join("driftgate.yaml");
    std::fs::write(
        &path,
        format!(
            "sources:\n  - name: fleet\n    url: {}\n    ref: main\n    paths: [clusters/prod]\n{extra}",
            repo.display()
        ),
    )
    .expect("config written");
    path
}

#[test]
fn index_and_webhook_config_on_a_flux_fleet() {
    let Some((tmp, repo, _)) = fleet() else {
        return;
    };
    let config = config(tmp.path(), &repo, "    discover: flux\n");
    let out = driftgate(&["index", "--json"], &config);
    let index = common::stdout_json(&out, 0);
    let errors = index["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["file"], "apps/broken/ks.yaml");
    assert_eq!(errors[0]["line"], 1);
    assert!(
        index["notes"].is_array() && index["outOfScope"].is_array(),
        "{index}"
    );
    assert_eq!(
        index["failedBuilds"][0]["build"],
        "Flux Kustomization flux-system/broken"
    );
    let pvc = index["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .find(|o| o["name"] == "web-data")
        .expect("claim");
    assert_eq!(pvc["file"], "components/volsync/pvc.yaml");
    assert_eq!(pvc["namespace"], "web");

    // Every declared kind is registered under its plural, none guessed.
    let ca = tmp.path().join("ca.crt");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .expect("ca");
    let out = driftgate(
        &[
            "webhook-config",
            "--ca",
            ca.to_str().expect("utf-8"),
            "--output",
            "json",
        ],
        &config,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("guessed"), "{stderr}");
    let registration = common::stdout_json(&out, 0);
    let rules = registration["items"][0]["webhooks"][0]["rules"]
        .as_array()
        .expect("rules");
    let registered: Vec<(String, String)> = rules
        .iter()
        .flat_map(|r| {
            let group = r["apiGroups"][0].as_str().unwrap_or("").to_string();
            r["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |p| (group.clone(), p.as_str().unwrap_or("").to_string()))
        })
        .collect();
    for (group, plural) in [
        ("", "namespaces"),
        ("", "configmaps"),
        ("", "persistentvolumeclaims"),
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("batch", "cronjobs"),
        ("networking.k8s.io", "ingresses"),
        ("networking.k8s.io", "networkpolicies"),
        ("volsync.backube", "replicationsources"),
        ("kustomize.toolkit.fluxcd.io", "kustomizations"),
        ("source.toolkit.fluxcd.io", "gitrepositories"),
    ] {
        assert!(
            registered.contains(&(group.to_string(), plural.to_string())),
            "{group}/{plural} not registered: {registered:?}"
        );
    }
}

#[test]
fn auto_on_a_flux_cluster_path_suggests_discover() {
    let Some((tmp, repo, _)) = fleet() else {
        return;
    };
    let config = config(tmp.path(), &repo, "");
    let out = driftgate(&["index", "--json"], &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("discover: flux"),
        "a warning is logged: {stderr}"
    );
    let index = common::stdout_json(&out, 0);
    let notes = index["notes"].as_array().expect("notes");
    assert!(
        notes.iter().any(|n| n["message"]
            .as_str()
            .is_some_and(|m| m.contains("`discover: flux`"))),
        "{notes:?}"
    );
    // Two configured paths, one covered by the other's build: said, not silently dropped.
    let covered = tmp.path().join("covered.yaml");
    std::fs::write(
        &covered,
        format!(
            "sources:\n  - name: fleet\n    url: {}\n    ref: main\n    paths: [apps/web/app, components/volsync]\n",
            repo.display()
        ),
    )
    .expect("config");
    std::fs::write(
        repo.join("apps/web/app/kustomization.yaml"),
        "resources:\n- deployment.yaml\ncomponents:\n- ../../../components/volsync\n",
    )
    .expect("write");
    git(&repo, &["commit", "-qam", "web uses volsync itself"]);
    let out = driftgate(&["index", "--json"], &covered);
    let index = common::stdout_json(&out, 0);
    let notes = index["notes"].as_array().expect("notes");
    assert!(
        notes.iter().any(|n| n["file"] == "components/volsync"
            && n["message"]
                .as_str()
                .is_some_and(|m| m.contains("kustomize apps/web/app"))),
        "{notes:?}"
    );
}
