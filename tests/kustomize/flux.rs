//! Flux discovery: cluster entry points, other sources, targetNamespace and substitution, the tenant account.

use super::*;

#[test]
fn flux_discovery_follows_cluster_kustomizations() {
    if !kubectl() {
        return;
    }
    let Some(bundle) = corpus_bundle(CORPUS[0]) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let checkout = clone_bundle(&bundle, tmp.path());
    // The tip reaches apps through ExternalArtifacts; 3eba2c0 (Flux 2.3) through the
    // flux-system GitRepository with repository-root paths.
    let old = git(&checkout, &["rev-parse", "3eba2c0"]);
    for rev in ["main", old.as_str()] {
        let src = source(
            &checkout,
            rev,
            &["clusters/production"],
            json!({"discover": "flux"}),
        );
        let state = read(&src, &mut Declarer::default()).unwrap_or_else(|e| panic!("{rev}: {e}"));
        let find = |kind: &str, name: &str| {
            state
                .objects
                .iter()
                .find(|o| {
                    o.kind == kind && o.value.parse().expect("json")["metadata"]["name"] == name
                })
                .unwrap_or_else(|| panic!("{rev}: no {kind} {name}"))
        };
        let dir_of = |o: &RawObject| match o.origin.dir() {
            Some(dir) => dir.to_string(),
            None => panic!("rendered objects remember their directory"),
        };
        let podinfo = find("HelmRelease", "podinfo");
        assert_eq!(dir_of(podinfo), "apps/production", "{rev}");
        assert_eq!(
            podinfo.value.parse().expect("json")["metadata"]["namespace"],
            "podinfo",
            "{rev}"
        );
        let cert_manager = find("HelmRelease", "cert-manager");
        assert!(dir_of(cert_manager).starts_with("infrastructure/"), "{rev}");
        assert_eq!(
            cert_manager.value.parse().expect("json")["metadata"]["namespace"],
            "cert-manager"
        );
        // The Flux Kustomization's own patch replaces the staging ACME server.
        let issuer = find("ClusterIssuer", "letsencrypt")
            .value
            .parse()
            .expect("json")
            .pointer("/spec/acme/server")
            .cloned();
        assert_eq!(
            issuer,
            Some(json!("https://acme-v02.api.letsencrypt.org/directory")),
            "{rev}"
        );
        let dirs: std::collections::BTreeSet<String> = state.objects.iter().map(dir_of).collect();
        assert!(dirs.contains("clusters/production"), "{rev}: {dirs:?}");
        let snapshot = Snapshot::build(vec![state]).unwrap_or_else(|e| panic!("{rev}: {e}"));
        let declared = snapshot
            .objects()
            .find(|o| o.key.kind == "HelmRelease" && o.key.name == "podinfo")
            .expect("podinfo declared");
        assert_eq!(declared.key.namespace, "podinfo");
        assert!(
            declared.location().starts_with("fleet: apps/base/podinfo/release.yaml:1 (Flux Kustomization flux-system/apps at clusters/production/apps.yaml:"),
            "{rev}: {}",
            declared.location()
        );
    }
}

#[test]
fn flux_discovery_lists_other_sources_and_bypasses_tenant_accounts() {
    let Some((_checkout, state)) = multi_tenancy_by_flux() else {
        return;
    };
    assert!(
        state
            .bypass_users
            .contains(&"system:serviceaccount:apps:dev-team".to_string()),
        "{:?}",
        state.bypass_users
    );
    assert!(state
        .bypass_users
        .contains(&"system:serviceaccount:flux-system:kustomize-controller".to_string()));
    assert!(state.errors.is_empty(), "{:?}", state.errors);
    let listed = state
        .findings
        .out_of_scope
        .iter()
        .find(|o| o.what == "Flux Kustomization apps/dev-team")
        .expect("the tenant's Kustomization is listed as out of scope");
    assert!(listed.why.contains("not this repository"), "{listed:?}");
    // The file that declares it, and its line, not the directory built.
    assert!(
        listed.file.starts_with("tenants/") && listed.file.ends_with(".yaml") && listed.line > 0,
        "{listed:?}"
    );
    let ns = state
        .objects
        .iter()
        .find(|o| o.kind == "ServiceAccount")
        .expect("tenant account declared");
    assert_eq!(
        ns.value.parse().expect("json")["metadata"]["namespace"],
        "apps"
    );
}

#[test]
fn flux_target_namespace_generated_kustomization_and_substitution() {
    if !kubectl() {
        return;
    }
    let (_tmp, repo) = new_repo();
    write_and_commit(
        &repo,
        &[
            (
                "clusters/prod/apps.yaml",
                "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  path: ./apps\n  targetNamespace: team\n  serviceAccountName: deployer\n  postBuild:\n    substitute:\n      REPLICAS: \"3\"\n  patches:\n    - patch: |\n        - op: add\n          path: /data/patched\n          value: \"yes\"\n      target:\n        kind: ConfigMap\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: ext\n  namespace: flux-system\nspec:\n  sourceRef:\n    kind: OCIRepository\n    name: elsewhere\n  path: ./\n",
            ),
            (
                "apps/deploy.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: ${REPLICAS}\n  template:\n    spec:\n      containers:\n        - name: web\n          image: ${IMAGE:=nginx:1.25}\n",
            ),
            ("apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n"),
            ("apps/sub/kustomization.yaml", "resources: [svc.yaml]\n"),
            ("apps/sub/svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 80}]\n"),
            ("apps/sub/unused.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: not-referenced\n"),
        ],
        "flux layout",
    );
    let src = source(
        &repo,
        "main",
        &["clusters/prod"],
        json!({"discover": "flux"}),
    );
    let state = read(&src, &mut Declarer::default()).expect("reads");
    let get = |kind: &str| {
        state
            .objects
            .iter()
            .find(|o| o.kind == kind && o.origin.dir() == Some("apps"))
            .unwrap_or_else(|| panic!("no {kind} from apps: {:?}", state.objects))
    };
    let deploy = get("Deployment");
    assert_eq!(
        deploy.value.parse().expect("json")["metadata"]["namespace"],
        "team"
    );
    assert_eq!(
        deploy.value.parse().expect("json")["spec"]["replicas"],
        json!(3)
    );
    assert_eq!(
        deploy.value.parse().expect("json")["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
    assert_eq!(
        get("Service").value.parse().expect("json")["metadata"]["namespace"],
        "team"
    );
    assert_eq!(
        get("ConfigMap").value.parse().expect("json")["data"]["patched"],
        "yes"
    );
    assert!(!state.objects.iter().any(|o| o.kind == "Secret"));
    assert_eq!(
        state.bypass_users,
        ["system:serviceaccount:flux-system:deployer"]
    );
    assert!(state.errors.is_empty(), "{:?}", state.errors);
    let ext = state
        .findings
        .out_of_scope
        .iter()
        .find(|o| o.what == "Flux Kustomization flux-system/ext")
        .unwrap_or_else(|| panic!("{:?}", state.findings));
    assert_eq!(
        (ext.file.as_str(), ext.line),
        ("clusters/prod/apps.yaml", 24)
    );
}

/// End to end: a tenant's objects rendered by Flux discovery are guarded, the denial points at
/// the overlay, and the tenant's own service account (which Flux impersonates) passes.
#[test]
fn rendered_objects_are_guarded_and_the_tenant_account_passes() {
    let Some((_checkout, state)) = multi_tenancy_by_flux() else {
        return;
    };
    let snapshot = Snapshot::build(vec![state]).expect("no duplicates");
    let policy = driftgate::policy::Policy::from_config(&driftgate::config::Config::default());
    let review = |user: &str| {
        json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "5f1d0c1e-9a43-4f8e-8a4b-2b1c3d4e5f60",
                "kind": {"group": "", "version": "v1", "kind": "ServiceAccount"},
                "resource": {"group": "", "version": "v1", "resource": "serviceaccounts"},
                "name": "dev-team",
                "namespace": "apps",
                "operation": "DELETE",
                "userInfo": {"username": user, "groups": ["system:authenticated"]},
                "object": null,
                "oldObject": {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": "dev-team", "namespace": "apps"}
                }
            }
        })
        .to_string()
    };
    let (answer, decision) =
        driftgate::admission::validate(review("alice").as_bytes(), &snapshot, &policy)
            .expect("valid review");
    assert_eq!(
        decision.verdict,
        driftgate::admission::decide::Verdict::Denied,
        "{answer}"
    );
    let message = answer
        .pointer("/response/status/message")
        .and_then(Value::as_str)
        .unwrap_or("");
    assert!(
        message.contains("tenants/base/dev-team/rbac.yaml:"),
        "{message}"
    );
    assert!(
        message.contains("(Flux Kustomization flux-system/tenants"),
        "{message}"
    );
    let (_, decision) = driftgate::admission::validate(
        review("system:serviceaccount:apps:dev-team").as_bytes(),
        &snapshot,
        &policy,
    )
    .expect("valid review");
    assert_eq!(
        decision.verdict,
        driftgate::admission::decide::Verdict::Allowed
    );
}

/// A bootstrap whose GitRepository is not called `flux-system`: the Kustomization syncing the
/// configured path names this repository, so what else syncs from it is followed (and said).
#[test]
fn the_repository_is_whatever_the_cluster_path_syncs_from() {
    if !kubectl() {
        return;
    }
    let (_tmp, repo) = new_repo();
    let ks = |name: &str, path: &str| {
        format!("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  path: {path}\n  sourceRef:\n    kind: GitRepository\n    name: home-kubernetes\n")
    };
    write_and_commit(
        &repo,
        &[
            ("clusters/home/sync.yaml", &ks("cluster", "./clusters/home")),
            ("clusters/home/apps.yaml", &ks("apps", "./apps")),
            (
                "apps/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: web\n",
            ),
        ],
        "home",
    );
    let src = source(
        &repo,
        "main",
        &["clusters/home"],
        json!({"discover": "flux"}),
    );
    let state = read(&src, &mut Declarer::default()).expect("reads");
    assert!(
        state.findings.out_of_scope.is_empty(),
        "{:?}",
        state.findings
    );
    assert!(state.objects.iter().any(|o| o.value.name() == "app"));
    assert!(
        state.findings.notes.iter().any(|n| n
            .message
            .contains("GitRepository flux-system/home-kubernetes")),
        "{:?}",
        state.findings.notes
    );
}
