//! Builds, objects, wall time and peak RSS per fixture, measured on the built binary (`index
//! --json` under `/usr/bin/time`; the RSS is the largest process, driftgate or one kustomize
//! run). Figures from a busy machine are for comparing, not for quoting. Run with
//! `cargo test --test kustomize fixture_figures -- --ignored --nocapture`.

use super::argocd::{self, REPO_URL};
use super::fleet::fleet;
use super::*;

fn measure(label: &str, dir: &Path, source: &str) {
    let config = dir.join(format!("{}.yaml", label.replace(' ', "-")));
    std::fs::write(&config, format!("sources:\n  - {source}\n")).expect("config");
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e s, %M KB"])
        .arg(env!("CARGO_BIN_EXE_driftgate"))
        .args(["index", "--json", "--config"])
        .arg(&config)
        .output()
        .expect("/usr/bin/time runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let index: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{label}: {stderr}"));
    let count = |key: &str| index[key].as_array().map_or(0, Vec::len);
    eprintln!(
        "{label}: {} builds ({} failed), {} objects, {} errors, {} out of scope; {}",
        index["builds"],
        count("failedBuilds"),
        count("objects"),
        count("errors"),
        count("outOfScope"),
        stderr.lines().last().unwrap_or("")
    );
}

#[test]
#[ignore]
fn fixture_figures() {
    let Some((tmp, repo, _)) = fleet() else {
        return;
    };
    let flux = |paths: &str, repo: &Path| {
        format!(
            "{{name: fleet, url: {:?}, ref: main, paths: [{paths}], discover: flux}}",
            repo.display().to_string()
        )
    };
    measure("flux fleet", tmp.path(), &flux("clusters/prod", &repo));
    // Sixty apps sharing web's path, each with its own variables and namespace.
    let mut owned = Vec::new();
    let mut list = String::from("resources:\n");
    for i in 0..60 {
        let name = format!("app{i:02}");
        owned.push((
            format!("apps/{name}/ks.yaml"),
            format!("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  path: ./apps/web/app\n  targetNamespace: {name}\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  components:\n    - ../../../components/common\n    - ../../../components/volsync\n  postBuild:\n    substitute:\n      APP: {name}\n    substituteFrom:\n      - kind: ConfigMap\n        name: cluster-settings\n"),
        ));
        list.push_str(&format!("- {name}/ks.yaml\n"));
    }
    owned.push(("apps/kustomization.yaml".into(), list));
    let files: Vec<(&str, &str)> = owned
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    write_and_commit(&repo, &files, "sixty apps");
    measure(
        "flux fleet, 60 apps",
        tmp.path(),
        &flux("clusters/prod", &repo),
    );
    if let Some((tmp, repo)) = argocd::fixture() {
        measure(
            "argo app of apps",
            tmp.path(),
            &format!("{{name: fleet, url: {:?}, ref: main, paths: [argocd], discover: argocd, aliases: [{REPO_URL}]}}", repo.display().to_string()),
        );
    }
    for name in CORPUS {
        let Some(bundle) = corpus_bundle(name) else {
            return;
        };
        let tmp = tempfile::tempdir().expect("tempdir");
        let checkout = clone_bundle(&bundle, tmp.path());
        measure(name, tmp.path(), &flux("clusters/production", &checkout));
    }
}
