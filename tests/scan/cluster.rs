//! `driftgate scan` against the cluster: recorded apiserver answers over HTTPS (pages of 500
//! with `continue` tokens, a `410 Gone` for an expired token, a `403` for one kind), reached
//! through a kubeconfig as kubectl would.

use super::apiserver::{self, page, status, ApiServer};
use super::*;

const CONFIGMAPS: usize = 1200;

/// Git: a namespace, a Deployment, 1,200 ConfigMaps, a Secret, a ClusterRole.
pub fn fleet_repo() -> common::GitRepo {
    let repo = common::GitRepo::new();
    repo.write(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    );
    repo.write(
        "web.yaml",
        &common::deployment("web", "shop", 3, "nginx:1.25"),
    );
    let mut cms = String::new();
    for i in 0..CONFIGMAPS {
        cms.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:04}\n  namespace: shop\ndata:\n  n: \"{i}\"\n"
        ));
    }
    repo.write("configmaps.yaml", &cms);
    repo.write(
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: shop\ntype: Opaque\nstringData:\n  user: admin\n",
    );
    repo.write(
        "role.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get, list]\n",
    );
    repo.commit("fleet");
    repo
}

/// A declared object as a LIST item: the live form without `apiVersion` and `kind`.
fn item(declared: Value, n: usize) -> Value {
    let mut v = kubectl::live_form(&declared, n);
    if let Some(o) = v.as_object_mut() {
        o.remove("apiVersion");
        o.remove("kind");
    }
    v
}

fn configmap(i: usize) -> Value {
    item(
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i:04}"), "namespace": "shop"}, "data": {"n": i.to_string()}}),
        i,
    )
}

/// The cluster's answers: web scaled to 5, cm-0777 gone, Secrets forbidden, the second
/// ConfigMap page's token expired once.
pub fn script(api: &ApiServer, replicas: u32) {
    let cms = "/api/v1/namespaces/shop/configmaps";
    let page_of = |range: std::ops::Range<usize>, next: Option<&str>| {
        let items = range.filter(|i| *i != 777).map(configmap).collect();
        page("ConfigMapList", "v1", items, next)
    };
    api.script(cms, "", vec![(200, page_of(0..500, Some("c1")))]);
    api.script(
        cms,
        "c1",
        vec![
            (410, status(410, "Expired", "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")),
            (200, page_of(500..1000, Some("c2"))),
        ],
    );
    api.script(cms, "c2", vec![(200, page_of(1000..CONFIGMAPS, None))]);
    let web = common::yaml_to_json(&common::deployment("web", "shop", replicas, "nginx:1.25"));
    let intruder = common::yaml_to_json(&common::deployment("intruder", "shop", 1, "miner:latest"));
    api.script(
        "/apis/apps/v1/namespaces/shop/deployments",
        "",
        vec![(
            200,
            page(
                "DeploymentList",
                "apps/v1",
                vec![item(web, 5000), item(intruder, 5001)],
                None,
            ),
        )],
    );
    api.script(
        "/api/v1/namespaces/shop/secrets",
        "",
        vec![(403, status(403, "Forbidden", "secrets is forbidden: User \"system:serviceaccount:driftgate-system:driftgate\" cannot list resource \"secrets\" in API group \"\" in the namespace \"shop\""))],
    );
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]});
    let admin = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "admin"}, "rules": []});
    api.script(
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        "",
        vec![(
            200,
            page(
                "ClusterRoleList",
                "rbac.authorization.k8s.io/v1",
                vec![item(role, 6000), item(admin, 6001)],
                None,
            ),
        )],
    );
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
    api.script(
        "/api/v1/namespaces",
        "",
        vec![(200, page("NamespaceList", "v1", vec![item(ns, 7000)], None))],
    );
}

#[test]
fn cluster_scan_pages_restarts_on_410_and_reports_a_403_for_its_kind() {
    let repo = fleet_repo();
    let api = ApiServer::start();
    script(&api, 5);
    let out = apiserver::command(&api.kubeconfig())
        .args(["scan", "--format", "json", "--unmanaged", "--repo"])
        .arg(repo.path())
        .output()
        .expect("scan runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objects = doc["objects"].as_array().expect("objects");
    let state = |kind: &str, name: &str| {
        objects
            .iter()
            .find(|o| o["kind"] == kind && o["name"] == name)
            .map(|o| o["state"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(state("Deployment", "web").as_deref(), Some("drifted"));
    assert_eq!(
        state("Deployment", "intruder").as_deref(),
        Some("unmanaged")
    );
    assert_eq!(state("ConfigMap", "cm-0777").as_deref(), Some("missing"));
    assert_eq!(state("ConfigMap", "cm-1199").as_deref(), Some("in-sync"));
    assert_eq!(state("ClusterRole", "reader").as_deref(), Some("in-sync"));
    assert_eq!(state("Namespace", "shop").as_deref(), Some("in-sync"));
    // The forbidden kind is neither in sync nor missing: it is reported as not read.
    assert_eq!(state("Secret", "creds"), None);
    let errors = doc["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["kind"], "Secret");
    assert_eq!(errors[0]["namespace"], "shop");
    assert!(errors[0]["message"]
        .as_str()
        .expect("message")
        .contains("forbidden"));
    let web = objects.iter().find(|o| o["name"] == "web").expect("web");
    assert_eq!(
        web["paths"],
        json!([{"path": "spec.replicas", "git": 3, "live": 5}])
    );
    let in_sync = objects.iter().filter(|o| o["state"] == "in-sync").count();
    assert_eq!(in_sync, CONFIGMAPS - 1 + 2);

    let seen = api.seen();
    for s in &seen {
        assert_eq!(s.method, "GET", "{s:?}");
        assert_eq!(
            s.query.get("limit").map(String::as_str),
            Some("500"),
            "{s:?}"
        );
        assert!(
            s.path.ends_with("s"),
            "only collections are read, never one object: {}",
            s.path
        );
    }
    let first_pages = seen
        .iter()
        .filter(|s| s.path.ends_with("/configmaps") && !s.query.contains_key("continue"))
        .count();
    assert_eq!(first_pages, 2, "the 410 started the ConfigMap list again");
    assert_eq!(
        seen.iter()
            .filter(|s| s.path.ends_with("/configmaps"))
            .count(),
        5,
        "pages: 1, 2 (410), 1, 2, 3"
    );
    assert!(api.max_in_flight() <= driftgate::scan::cluster::IN_FLIGHT);
    eprintln!("lists in flight at most: {}", api.max_in_flight());
}

#[test]
fn without_credentials_the_scan_is_bad_input() {
    let repo = fleet_repo();
    let dir = tempfile::tempdir().expect("tmp");
    let out = driftgate()
        .env("KUBECONFIG", dir.path().join("absent"))
        .env("HOME", dir.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .args(["scan", "--repo"])
        .arg(repo.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no cluster credentials"));
}
