//! Dumps built from the corpus repositories, as `kubectl get -A -o json` prints a cluster that
//! applied them, with drift of every kind injected: each injected drift is found at its path,
//! and nothing else is reported.

use super::*;

/// The Flux controllers `flux bootstrap` writes into `gotk-components.yaml` (the corpus keeps a
/// placeholder there): what the multi-tenancy repository's kustomization patches (it appends
/// `--no-cross-namespace-refs=true` and friends to the controllers' args).
const GOTK_COMPONENTS: &str = r#"---
apiVersion: v1
kind: Namespace
metadata:
  labels:
    app.kubernetes.io/instance: flux-system
    app.kubernetes.io/part-of: flux
    pod-security.kubernetes.io/warn: restricted
  name: flux-system
---
apiVersion: v1
kind: ServiceAccount
metadata:
  labels:
    app.kubernetes.io/component: kustomize-controller
    app.kubernetes.io/instance: flux-system
  name: kustomize-controller
  namespace: flux-system
---
apiVersion: v1
kind: Service
metadata:
  labels:
    app.kubernetes.io/component: source-controller
  name: source-controller
  namespace: flux-system
spec:
  ports:
  - name: http
    port: 80
    targetPort: http
  - name: http-prom
    port: 8080
    targetPort: http-prom
  selector:
    app: source-controller
  type: ClusterIP
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app.kubernetes.io/component: kustomize-controller
    app.kubernetes.io/instance: flux-system
  name: kustomize-controller
  namespace: flux-system
spec:
  replicas: 1
  selector:
    matchLabels:
      app: kustomize-controller
  template:
    metadata:
      annotations:
        prometheus.io/port: "8080"
        prometheus.io/scrape: "true"
      labels:
        app: kustomize-controller
    spec:
      containers:
      - args:
        - --events-addr=http://notification-controller.flux-system.svc.cluster.local./
        - --watch-all-namespaces=true
        - --log-level=info
        - --log-encoding=json
        - --enable-leader-election
        env:
        - name: RUNTIME_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        - name: GOMAXPROCS
          valueFrom:
            resourceFieldRef:
              containerName: manager
              resource: limits.cpu
        image: ghcr.io/fluxcd/kustomize-controller:v1.4.0
        imagePullPolicy: IfNotPresent
        livenessProbe:
          httpGet:
            path: /healthz
            port: healthz
        name: manager
        ports:
        - containerPort: 8080
          name: http-prom
        - containerPort: 9440
          name: healthz
        readinessProbe:
          httpGet:
            path: /readyz
            port: healthz
        resources:
          limits:
            cpu: 1000m
            memory: 1Gi
          requests:
            cpu: 100m
            memory: 64Mi
        securityContext:
          allowPrivilegeEscalation: false
          capabilities:
            drop:
            - ALL
          readOnlyRootFilesystem: true
          runAsNonRoot: true
          seccompProfile:
            type: RuntimeDefault
        volumeMounts:
        - mountPath: /tmp
          name: temp
      nodeSelector:
        kubernetes.io/os: linux
      priorityClassName: system-cluster-critical
      securityContext:
        fsGroup: 1337
      serviceAccountName: kustomize-controller
      terminationGracePeriodSeconds: 60
      volumes:
      - emptyDir: {}
        name: temp
"#;

/// What a test expects to see reported for one object that is not in sync.
type Expected = BTreeSet<(String, String, Vec<String>)>;

fn expected(items: &[(&str, &str, &[&str])]) -> Expected {
    items
        .iter()
        .map(|(state, object, paths)| {
            (
                state.to_string(),
                object.to_string(),
                paths.iter().map(|p| p.to_string()).collect(),
            )
        })
        .collect()
}

/// What the report says of every object that is not in sync.
fn reported(doc: &Value) -> Expected {
    doc["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|o| o["state"] != "in-sync")
        .map(|o| {
            let kind = if o["group"] == "" {
                o["kind"].as_str().expect("kind").to_string()
            } else {
                format!(
                    "{}/{}",
                    o["group"].as_str().expect("g"),
                    o["kind"].as_str().expect("k")
                )
            };
            let ns = o["namespace"].as_str().expect("ns");
            let name = o["name"].as_str().expect("name");
            let object = if ns.is_empty() {
                format!("{kind} {name}")
            } else {
                format!("{kind} {ns}/{name}")
            };
            let paths = o["paths"]
                .as_array()
                .expect("paths")
                .iter()
                .map(|p| p["path"].as_str().expect("path").to_string())
                .collect();
            (
                o["state"].as_str().expect("state").to_string(),
                object,
                paths,
            )
        })
        .collect()
}

/// The object with this kind, namespace and name in a dump.
fn find<'v>(items: &'v mut [Value], kind: &str, ns: &str, name: &str) -> &'v mut Value {
    items
        .iter_mut()
        .find(|o| {
            o["kind"] == kind
                && o["metadata"]["name"] == name
                && o["metadata"]["namespace"].as_str().unwrap_or("") == ns
        })
        .unwrap_or_else(|| panic!("{kind} {ns}/{name} in the dump"))
}

fn remove(items: &mut Vec<Value>, kind: &str, ns: &str, name: &str) {
    let before = items.len();
    items.retain(|o| {
        !(o["kind"] == kind
            && o["metadata"]["name"] == name
            && o["metadata"]["namespace"].as_str().unwrap_or("") == ns)
    });
    assert_eq!(items.len(), before - 1, "{kind} {ns}/{name} removed");
}

#[test]
fn multi_tenancy_dump_reports_each_injected_drift_and_nothing_else() {
    if !kubectl() {
        return;
    }
    let Some(fleet) = Fleet::from_corpus(
        "flux2-multi-tenancy",
        &[
            "clusters/production",
            "infrastructure",
            "tenants/production",
        ],
        &[(
            "clusters/production/flux-system/gotk-components.yaml",
            GOTK_COMPONENTS,
        )],
    ) else {
        return;
    };
    let mut items = fleet.live_objects();
    // A clean cluster first: every declared object in sync, exit 0.
    let clean = fleet.write_list("clean.json", &items);
    let (code, doc) = fleet.scan_json(&clean, &["--unmanaged"]);
    assert_eq!(reported(&doc), Expected::new(), "{doc:#}");
    assert_eq!(code, 0);
    assert_eq!(
        doc["objects"].as_array().map(Vec::len),
        Some(fleet.declared.len())
    );

    let deploy = find(
        &mut items,
        "Deployment",
        "flux-system",
        "kustomize-controller",
    );
    let containers = deploy["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .expect("containers");
    let manager = containers
        .iter_mut()
        .find(|c| c["name"] == "manager")
        .expect("manager");
    // A scalar.
    manager["image"] = json!("ghcr.io/fluxcd/kustomize-controller:v1.4.0-debug");
    // A list-map element: found by its key, wherever the list holds it.
    let env = manager["env"].as_array_mut().expect("env");
    let runtime = env
        .iter_mut()
        .find(|e| e["name"] == "RUNTIME_NAMESPACE")
        .expect("env");
    runtime["valueFrom"]["fieldRef"]["fieldPath"] = json!("metadata.name");
    // A removed field.
    manager["securityContext"]
        .as_object_mut()
        .expect("securityContext")
        .remove("readOnlyRootFilesystem");
    // A changed atomic unit: args are owned whole (the kustomize patch's flag dropped).
    let args = manager["args"].as_array_mut().expect("args");
    args.retain(|a| a != "--no-remote-bases=true");
    // Another atomic unit: RoleBinding subjects.
    let binding = find(&mut items, "RoleBinding", "apps", "gotk-reconciler");
    binding["subjects"][1]["namespace"] = json!("flux-system");
    // A scalar on a custom resource.
    find(&mut items, "Kustomization", "apps", "dev-team")["spec"]["prune"] = json!(false);
    // A missing object.
    remove(&mut items, "GitRepository", "apps", "dev-team");
    // Unmanaged: a ServiceAccount nobody declared in a managed namespace; the ones the
    // cluster makes itself are not.
    items.push(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "intruder", "namespace": "apps", "uid": "sa-intruder", "resourceVersion": "9"}}));
    items.extend(kubectl::cluster_made("apps"));
    items.extend(kubectl::cluster_made("flux-system"));

    let manager = "apps/Deployment flux-system/kustomize-controller";
    let c = "spec.template.spec.containers[name=manager]";
    let want = expected(&[
        (
            "drifted",
            manager,
            &[
                &format!("{c}.image"),
                &format!("{c}.args"),
                // fieldRef is an atomic unit (ObjectFieldSelector, +structType=atomic).
                &format!("{c}.env[name=RUNTIME_NAMESPACE].valueFrom.fieldRef"),
                &format!("{c}.securityContext.readOnlyRootFilesystem"),
            ],
        ),
        (
            "drifted",
            "rbac.authorization.k8s.io/RoleBinding apps/gotk-reconciler",
            &["subjects"],
        ),
        (
            "drifted",
            "kustomize.toolkit.fluxcd.io/Kustomization apps/dev-team",
            &["spec.prune"],
        ),
        (
            "missing",
            "source.toolkit.fluxcd.io/GitRepository apps/dev-team",
            &[],
        ),
    ]);
    let sorted = |mut e: Expected| -> Expected {
        e = e
            .into_iter()
            .map(|(s, o, mut p)| {
                p.sort();
                (s, o, p)
            })
            .collect();
        e
    };
    // One List file, and the same objects as a directory of files (JSON and YAML).
    let list = fleet.write_list("drifted.json", &items);
    let dir = fleet.write_dir("drifted", &items);
    for dump in [&list, &dir] {
        let (code, doc) = fleet.scan_json(dump, &[]);
        assert_eq!(
            sorted(reported(&doc)),
            sorted(want.clone()),
            "{}",
            dump.display()
        );
        assert_eq!(code, 4);
        let object = doc["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .find(|o| o["name"] == "kustomize-controller" && o["kind"] == "Deployment")
            .expect("deployment");
        let path = |p: &str| {
            object["paths"]
                .as_array()
                .expect("paths")
                .iter()
                .find(|d| d["path"] == p)
                .cloned()
                .expect(p)
        };
        assert_eq!(
            path(&format!("{c}.image")),
            json!({"path": format!("{c}.image"), "git": "ghcr.io/fluxcd/kustomize-controller:v1.4.0",
                "live": "ghcr.io/fluxcd/kustomize-controller:v1.4.0-debug"})
        );
        assert_eq!(
            path(&format!("{c}.securityContext.readOnlyRootFilesystem"))["live"],
            Value::Null
        );
        assert_eq!(object["source"], "repo");
        // The file that declares it, inside the kustomization built.
        assert_eq!(
            object["file"],
            "clusters/production/flux-system/gotk-components.yaml"
        );
        assert_eq!(object["version"], "v1");
    }
    let (_, doc) = fleet.scan_json(&list, &["--unmanaged"]);
    let mut with_unmanaged = want.clone();
    with_unmanaged.insert((
        "unmanaged".into(),
        "ServiceAccount apps/intruder".into(),
        vec![],
    ));
    assert_eq!(sorted(reported(&doc)), sorted(with_unmanaged));
}

/// flux2-kustomize-helm-example's production cluster, when the corpus and kubectl are here.
fn helm_example() -> Option<Fleet> {
    if !kubectl() {
        return None;
    }
    Fleet::from_corpus(
        "flux2-kustomize-helm-example",
        &["clusters/production", "apps/production", "infrastructure"],
        &[],
    )
}

#[test]
fn kustomize_helm_dump_reports_each_injected_drift_and_nothing_else() {
    let Some(fleet) = helm_example() else {
        return;
    };
    let mut items = fleet.live_objects();
    let clean = fleet.write_list("clean.json", &items);
    let (code, doc) = fleet.scan_json(&clean, &[]);
    assert_eq!(reported(&doc), Expected::new(), "{doc:#}");
    assert_eq!(code, 0);

    // A scalar deep in Helm values.
    find(&mut items, "HelmRelease", "cert-manager", "cert-manager")["spec"]["values"]["crds"]
        ["keep"] = json!(true);
    // A removed label (a map entry: absent is not equal).
    find(&mut items, "Namespace", "", "cert-manager")["metadata"]["labels"]
        .as_object_mut()
        .expect("labels")
        .remove("toolkit.fluxcd.io/tenant");
    // A changed atomic unit: the solvers list has no merge key.
    find(&mut items, "ClusterIssuer", "", "letsencrypt")["spec"]["acme"]["solvers"][0]["http01"]
        ["gatewayHTTPRoute"]["parentRefs"][0]["namespace"] = json!("default");
    // Missing.
    remove(
        &mut items,
        "OCIRepository",
        "envoy-gateway-system",
        "gateway-helm",
    );
    let list = fleet.write_list("drifted.json", &items);
    let (code, doc) = fleet.scan_json(&list, &[]);
    assert_eq!(
        reported(&doc),
        expected(&[
            (
                "drifted",
                "helm.toolkit.fluxcd.io/HelmRelease cert-manager/cert-manager",
                &["spec.values.crds.keep"]
            ),
            (
                "drifted",
                "Namespace cert-manager",
                &["metadata.labels[\"toolkit.fluxcd.io/tenant\"]"]
            ),
            (
                "drifted",
                "cert-manager.io/ClusterIssuer letsencrypt",
                &["spec.acme.solvers"]
            ),
            (
                "missing",
                "source.toolkit.fluxcd.io/OCIRepository envoy-gateway-system/gateway-helm",
                &[]
            ),
        ])
    );
    assert_eq!(code, 4);
    // The table names the same objects, the paths with both values.
    let out = driftgate()
        .args(["scan", "--repo"])
        .arg(&fleet.checkout)
        .args(fleet.path_args())
        .arg("--objects")
        .arg(&list)
        .output()
        .expect("scan runs");
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{table}");
    assert!(
        table.contains("spec.values.crds.keep: Git false, live true"),
        "{table}"
    );
    assert!(
        table.contains(
            "MISSING    source.toolkit.fluxcd.io/OCIRepository envoy-gateway-system/gateway-helm"
        ),
        "{table}"
    );
}

/// The scan's "to adopt it in Git" line, followed: the drifted object as the cluster prints it,
/// piped to `driftgate suggest --object -` with the scan's source flags, gives a diff that
/// `git apply` takes; committed, the next scan of the same cluster finds it in sync.
#[test]
fn a_drifted_object_adopted_with_suggest_scans_in_sync() {
    let Some(fleet) = helm_example() else {
        return;
    };
    let mut items = fleet.live_objects();
    let release = find(&mut items, "HelmRelease", "cert-manager", "cert-manager");
    release["spec"]["values"]["crds"]["keep"] = json!(true);
    release["metadata"]["labels"]["team"] = json!("platform");
    let live = release.clone();
    let dump = fleet.write_list("drifted.json", &items);
    let (code, doc) = fleet.scan_json(&dump, &[]);
    assert_eq!(code, 4, "{doc:#}");
    assert_eq!(reported(&doc).len(), 1, "{doc:#}");

    let out = driftgate()
        .args(["suggest", "--repo"])
        .arg(&fleet.checkout)
        .args(fleet.path_args())
        .args(["--object", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            let yaml = serde_saphyr::to_string(&live).expect("yaml");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(yaml.as_bytes())?;
            child.wait_with_output()
        })
        .expect("suggest runs");
    let diff = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{diff}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let patch = fleet.tmp.path().join("adopt.diff");
    std::fs::write(&patch, &diff).expect("write diff");
    git(
        &fleet.checkout,
        &["apply", patch.to_str().expect("utf-8 path")],
    );
    git(
        &fleet.checkout,
        &["commit", "-qam", "adopt the live cert-manager release"],
    );

    let (code, doc) = fleet.scan_json(&dump, &[]);
    assert_eq!(reported(&doc), Expected::new(), "{diff}\n{doc:#}");
    assert_eq!(code, 0);
}
