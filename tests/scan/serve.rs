//! Periodic scans in `serve` against the fixture apiserver: `/api/drift` in the shape of
//! `scan --format json`, the drift metrics, the drift section of `/report`, and PolicyReports
//! that validate against the CRDs Kyverno installs, written once and not again while their
//! content stays the same, by either of two replicas.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::apiserver::{self, ApiServer};
use super::cluster::{fleet_repo, script};
use super::*;
use common::served::{address, Served};

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// Polls `check` until it returns something, failing after 60 s.
fn until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of a metric sample line starting with `prefix`.
fn sample(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

struct Replica {
    /// Killed and reaped when the replica is dropped.
    _served: Served,
    admin: SocketAddr,
}

fn replica(api: &ApiServer, repo: &Path, tmp: &Path, name: &str) -> Replica {
    let dir = tmp.join(name);
    driftgate::tls::certs::write(&dir, "driftgate", "driftgate-system").expect("certs");
    let config = dir.join("driftgate.yaml");
    std::fs::write(
        &config,
        format!(
            "sources: [{{name: fleet, url: {:?}}}]\nserver:\n  listen: 127.0.0.1:0\n  adminListen: 127.0.0.1:0\n  certFile: {:?}\n  keyFile: {:?}\naudit:\n  path: {:?}\nscan:\n  interval: 1s\n  unmanaged: true\n  policyReports: true\n",
            repo.display().to_string(),
            dir.join("tls.crt").display().to_string(),
            dir.join("tls.key").display().to_string(),
            dir.join("audit.db").display().to_string(),
        ),
    )
    .expect("config");
    let mut cmd = apiserver::command(&api.kubeconfig());
    cmd.arg("serve").arg("--config").arg(&config);
    let served = Served::spawn_command(&mut cmd);
    let listening = served.log_line("listening");
    Replica {
        admin: address(&listening, "admin"),
        _served: served,
    }
}

/// The CRD's `openAPIV3Schema`, strict: an object schema that lists its properties rejects
/// others (the apiserver would prune them silently, losing what driftgate wrote).
fn crd_schema(file: &str) -> Option<Value> {
    let path = common::corpus_dir()?.join("crds").join(file);
    let text = std::fs::read_to_string(path).expect("crd");
    let crd: Value = serde_saphyr::from_str(&text).expect("crd yaml");
    let mut schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    fn strict(v: &mut Value) {
        if let Some(o) = v.as_object_mut() {
            if o.contains_key("properties")
                && !o.contains_key("additionalProperties")
                && !o.contains_key("x-kubernetes-preserve-unknown-fields")
            {
                o.insert("additionalProperties".into(), json!(false));
            }
            for child in o.values_mut() {
                strict(child);
            }
        } else if let Some(a) = v.as_array_mut() {
            a.iter_mut().for_each(strict);
        }
    }
    strict(&mut schema);
    Some(schema)
}

fn validate(schema: &Value, name: &str, instance: &Value) {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    let url = format!("file:///{name}.json");
    compiler
        .add_resource(&url, schema.clone())
        .expect("schema added");
    let index = compiler
        .compile(&url, &mut schemas)
        .expect("schema compiles");
    if let Err(e) = schemas.validate(instance, index) {
        panic!("{name} does not validate: {e:#}\n{instance:#}");
    }
}

#[test]
fn serve_scans_periodically_and_publishes_drift() {
    let repo = fleet_repo();
    let api = ApiServer::start();
    script(&api, 5);
    let tmp = tempfile::tempdir().expect("tmp");
    let one = replica(&api, repo.path(), tmp.path(), "one");
    let drift = until("/api/drift", || {
        let (code, body) = get(one.admin, "/api/drift");
        (code == 200).then(|| serde_json::from_str::<Value>(&body).expect("json"))
    });
    // The same document `driftgate scan --format json` prints.
    let out = apiserver::command(&api.kubeconfig())
        .args(["scan", "--format", "json", "--unmanaged", "--config"])
        .arg(tmp.path().join("one/driftgate.yaml"))
        .output()
        .expect("scan runs");
    let cli: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(drift, cli);
    assert!(
        drift["revision"]
            .as_str()
            .expect("revision")
            .contains("@sha1:"),
        "{drift}"
    );

    let (_, metrics) = get(one.admin, "/metrics");
    assert_eq!(
        sample(
            &metrics,
            r#"driftgate_drifted_objects{namespace="shop",kind="apps/Deployment"}"#
        ),
        Some(2.0),
        "web drifted, intruder unmanaged:\n{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"driftgate_drifted_objects{namespace="shop",kind="ConfigMap"}"#
        ),
        Some(1.0)
    );
    assert_eq!(sample(&metrics, "driftgate_scan_list_errors "), Some(1.0));
    assert!(sample(&metrics, "driftgate_scan_duration_seconds_count").is_some_and(|n| n >= 1.0));

    let (code, page) = get(one.admin, "/report");
    assert_eq!(code, 200);
    assert!(
        page.contains("Drift from Git (live state)") && page.contains("apps/Deployment shop/web")
    );
    assert!(page.contains("spec.replicas"));

    // PolicyReports: one for shop, one cluster-wide; each validates against Kyverno's CRD.
    let stored = until("PolicyReports", || {
        let stored = api.stored();
        (stored.len() == 2).then_some(stored)
    });
    let ns_path = "/apis/wgpolicyk8s.io/v1alpha2/namespaces/shop/policyreports/driftgate-drift";
    let cluster_path = "/apis/wgpolicyk8s.io/v1alpha2/clusterpolicyreports/driftgate-drift";
    let shop = &stored[ns_path];
    assert_eq!(
        shop["summary"]["fail"], 2,
        "web drifted, cm-0777 missing: {shop:#}"
    );
    assert_eq!(shop["summary"]["warn"], 1, "intruder");
    assert_eq!(shop["results"].as_array().map(Vec::len), Some(3));
    let patches: Vec<_> = api
        .seen()
        .into_iter()
        .filter(|s| s.method == "PATCH")
        .collect();
    for p in &patches {
        assert_eq!(p.content_type, "application/apply-patch+yaml");
        assert_eq!(
            p.query.get("fieldManager").map(String::as_str),
            Some("driftgate")
        );
        assert_eq!(p.query.get("force").map(String::as_str), Some("true"));
    }
    if let (Some(ns), Some(cluster)) = (
        crd_schema("wgpolicyk8s.io_policyreports.yaml"),
        crd_schema("wgpolicyk8s.io_clusterpolicyreports.yaml"),
    ) {
        validate(&ns, "PolicyReport", shop);
        validate(&cluster, "ClusterPolicyReport", &stored[cluster_path]);
        // The strict schema does reject what the CRD does not declare.
        let mut extra = shop.clone();
        extra["results"][0]["extra"] = json!(1);
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler.add_resource("file:///x.json", ns).expect("schema");
        let index = compiler
            .compile("file:///x.json", &mut schemas)
            .expect("compiles");
        assert!(schemas.validate(&extra, index).is_err());
    }

    // Further scans with the same result write nothing; a second replica finds the stored
    // reports current and writes nothing either.
    let scans = |admin| {
        let (_, m) = get(admin, "/metrics");
        sample(&m, "driftgate_scan_duration_seconds_count").unwrap_or(0.0)
    };
    let now = scans(one.admin);
    until("two more scans", || {
        (scans(one.admin) >= now + 2.0).then_some(())
    });
    let two = replica(&api, repo.path(), tmp.path(), "two");
    until("the second replica's scan", || {
        (scans(two.admin) >= 2.0).then_some(())
    });
    let patches_now = api.seen().iter().filter(|s| s.method == "PATCH").count();
    assert_eq!(
        patches_now,
        patches.len(),
        "unchanged reports are not written again"
    );
    assert_eq!(patches.len(), 2);

    // The drift is fixed in the cluster: the next scans rewrite shop's report, once.
    script(&api, 3);
    until("web back in sync", || {
        let (_, body) = get(two.admin, "/api/drift");
        let doc: Value = serde_json::from_str(&body).ok()?;
        let web = doc["objects"]
            .as_array()?
            .iter()
            .find(|o| o["name"] == "web")?
            .clone();
        (web["state"] == "in-sync").then_some(())
    });
    until("shop's report rewritten", || {
        (api.stored()[ns_path]["summary"]["fail"] == 1).then_some(())
    });
    drop(one);
    drop(two);
}

/// A report driftgate wrote before a restart, for a namespace Git no longer declares anything
/// in, is deleted (found by driftgate's label); the namespaces the scan reports keep theirs.
#[test]
fn serve_deletes_reports_of_namespaces_git_no_longer_declares() {
    let repo = fleet_repo();
    let api = ApiServer::start();
    script(&api, 5);
    let stale_path =
        "/apis/wgpolicyk8s.io/v1alpha2/namespaces/old-team/policyreports/driftgate-drift";
    api.store(
        stale_path,
        json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
            "metadata": {"name": "driftgate-drift", "namespace": "old-team",
                "labels": {"app.kubernetes.io/managed-by": "driftgate"}},
            "summary": {"fail": 1}, "results": []}),
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let one = replica(&api, repo.path(), tmp.path(), "one");
    let ns_path = "/apis/wgpolicyk8s.io/v1alpha2/namespaces/shop/policyreports/driftgate-drift";
    let cluster_path = "/apis/wgpolicyk8s.io/v1alpha2/clusterpolicyreports/driftgate-drift";
    until("the stale report deleted, the current ones written", || {
        let stored = api.stored();
        (stored.contains_key(ns_path)
            && stored.contains_key(cluster_path)
            && !stored.contains_key(stale_path))
        .then_some(())
    });
    let deletes: Vec<String> = api
        .seen()
        .into_iter()
        .filter(|s| s.method == "DELETE")
        .map(|s| s.path)
        .collect();
    assert_eq!(deletes, vec![stale_path.to_string()]);
    until("the deletion counted", || {
        let (_, metrics) = get(one.admin, "/metrics");
        metrics
            .lines()
            .any(|l| {
                l.contains("policy_report_writes")
                    && l.contains("result=\"deleted\"")
                    && l.ends_with(" 1")
            })
            .then_some(())
    });
}
