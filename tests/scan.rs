//! `driftgate scan` end to end: dumps built from the corpus repositories with injected drift,
//! the cluster path against recorded API responses over HTTPS, the HTML page in headless
//! Chromium, periodic scans in `serve` (`/api/drift`, metrics, PolicyReports), and the
//! monitoring rules and dashboard against the metrics driftgate really exports.

mod common;

#[path = "scan/apiserver.rs"]
mod apiserver;
#[path = "scan/cluster.rs"]
mod cluster;
#[path = "scan/corpus.rs"]
mod corpus;
#[path = "scan/html.rs"]
mod html;
#[path = "scan/kubectl.rs"]
mod kubectl;
#[path = "scan/monitoring.rs"]
mod monitoring;
#[path = "scan/scale.rs"]
mod scale;
#[path = "scan/serve.rs"]
mod serve;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{driftgate, git, kubectl};
use serde_json::{json, Value};

/// A corpus repository checked out, what it declares at the chosen paths, and a directory
/// for dumps.
struct Fleet {
    tmp: tempfile::TempDir,
    checkout: PathBuf,
    paths: Vec<String>,
    /// Git's objects as driftgate declares them, in key order.
    declared: Vec<Value>,
}

impl Fleet {
    /// Clones `NAME.bundle`, adds `extra` files in one commit, and loads what `paths` declare.
    fn from_corpus(name: &str, paths: &[&str], extra: &[(&str, &str)]) -> Option<Fleet> {
        let bundle = common::corpus_bundle(name)?;
        let tmp = tempfile::tempdir().expect("tmp");
        let checkout = common::clone_bundle(&bundle, tmp.path());
        if !extra.is_empty() {
            for (file, text) in extra {
                std::fs::write(checkout.join(file), text).expect("write");
            }
            git(&checkout, &["add", "-A"]);
            git(&checkout, &["commit", "-q", "-m", "flux bootstrap"]);
        }
        let args = driftgate::cli::SourceArgs {
            repo: Some(checkout.display().to_string()),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        };
        let config = args.load().expect("config");
        let snapshot = driftgate::sync::load_once(&config).expect("loads");
        assert!(snapshot.errors.is_empty(), "{:?}", snapshot.errors);
        let mut objects: Vec<_> = snapshot.objects().collect();
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        let declared = objects
            .iter()
            .map(|o| {
                let mut v = o.value.parse().expect("value");
                // A plain file may leave the namespace to the source's default; the cluster
                // always prints it. A kind whose scope driftgate does not know (a CRD that is
                // not in Git) is printed as the cluster knows it: these are cluster-scoped.
                let cluster_scoped = ["ClusterIssuer", "GatewayClass", "ClusterPolicy"];
                if !o.key.namespace.is_empty() && !cluster_scoped.contains(&o.key.kind.as_str()) {
                    v["metadata"]["namespace"] = json!(o.key.namespace);
                }
                v
            })
            .collect();
        Some(Fleet {
            tmp,
            checkout,
            paths: paths.iter().map(|p| p.to_string()).collect(),
            declared,
        })
    }

    /// Every declared object as the cluster would print it.
    fn live_objects(&self) -> Vec<Value> {
        self.declared
            .iter()
            .enumerate()
            .map(|(n, o)| kubectl::live_form(o, n))
            .collect()
    }

    fn path_args(&self) -> Vec<String> {
        self.paths
            .iter()
            .flat_map(|p| ["--path".to_string(), p.clone()])
            .collect()
    }

    /// `kubectl get -A -o json`: one `List`, pretty-printed as kubectl prints it.
    fn write_list(&self, name: &str, items: &[Value]) -> PathBuf {
        let path = self.tmp.path().join(name);
        let list = json!({"apiVersion": "v1", "items": items, "kind": "List",
            "metadata": {"resourceVersion": ""}});
        std::fs::write(&path, serde_json::to_string_pretty(&list).expect("json")).expect("write");
        path
    }

    /// One file per kind, as `kubectl get KIND -A -o json` (or `-o yaml` for Namespaces).
    fn write_dir(&self, name: &str, items: &[Value]) -> PathBuf {
        let dir = self.tmp.path().join(name);
        std::fs::create_dir_all(dir.join("cluster")).expect("mkdir");
        let mut by_kind: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
        for item in items {
            by_kind
                .entry(item["kind"].as_str().expect("kind").to_lowercase())
                .or_default()
                .push(item.clone());
        }
        for (kind, items) in by_kind {
            let list = json!({"apiVersion": "v1", "items": items, "kind": "List",
                "metadata": {"resourceVersion": ""}});
            if kind == "namespace" {
                let yaml = serde_saphyr::to_string(&list).expect("yaml");
                std::fs::write(dir.join("cluster/namespaces.yaml"), yaml).expect("write");
            } else {
                std::fs::write(dir.join(format!("{kind}.json")), list.to_string()).expect("write");
            }
        }
        dir
    }

    /// `driftgate scan --format json --objects DUMP`: the exit code and the document.
    fn scan_json(&self, dump: &Path, extra: &[&str]) -> (i32, Value) {
        let out = driftgate()
            .args(["scan", "--format", "json", "--repo"])
            .arg(&self.checkout)
            .args(self.path_args())
            .arg("--objects")
            .arg(dump)
            .args(extra)
            .output()
            .expect("scan runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is one JSON document ({e}):\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().expect("exit code"), doc)
    }
}

#[test]
fn bad_input_exits_2() {
    let repo = common::GitRepo::new();
    repo.write(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    );
    repo.commit("one");
    let dir = tempfile::tempdir().expect("tmp");
    let truncated = dir.path().join("dump.json");
    std::fs::write(&truncated, "{\"items\": [{\"apiVersion\": \"v1\"").expect("write");
    for objects in [truncated, dir.path().join("absent.json")] {
        let out = driftgate()
            .args(["scan", "--repo"])
            .arg(repo.path())
            .arg("--objects")
            .arg(&objects)
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains(&objects.display().to_string()));
    }
    let out = driftgate()
        .args(["scan", "--format", "pdf", "--repo"])
        .arg(repo.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}
