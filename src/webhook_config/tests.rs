use super::*;
use crate::config::{Bypass, Config};
use crate::manifest::parse::parse_file;
use crate::manifest::yaml::parse_documents;
use crate::snapshot::SourceState;

const CONFIG_MAP: &str = include_str!("../../deploy/base/config.yaml");
const WEBHOOKS: &str = include_str!("../../deploy/base/webhooks.yaml");

fn embedded_config() -> Config {
    let docs = parse_documents(CONFIG_MAP).expect("config.yaml is YAML");
    let text = docs[0].value["data"]["driftgate.yaml"]
        .as_str()
        .expect("the ConfigMap holds driftgate.yaml");
    Config::from_yaml(text, "deploy/base/config.yaml").expect("the shipped config is valid")
}

#[test]
fn the_shipped_config_map_holds_a_valid_config() {
    let config = embedded_config();
    assert_eq!(config.sources.len(), 1);
    assert_eq!(config.server.listen, "0.0.0.0:8443");
    assert_eq!(config.server.admin_listen, "0.0.0.0:8080");
    // The paths the Deployment mounts (projected volume `etc`, emptyDir `cache`).
    assert_eq!(
        config.server.cert_file,
        PathBuf::from("/etc/driftgate/tls/tls.crt")
    );
    assert_eq!(
        config.server.key_file,
        PathBuf::from("/etc/driftgate/tls/tls.key")
    );
    assert_eq!(config.cache_dir, PathBuf::from("/var/cache/driftgate"));
}

/// deploy/base/webhooks.yaml is written by hand; its matchConditions must be exactly what the
/// generator makes for the shipped config, or `kubectl apply -k` and `webhook-config` disagree
/// about who is skipped.
#[test]
fn shipped_match_conditions_equal_the_generated_ones() {
    let policy = Policy::from_config(&embedded_config());
    let expected = serde_json::to_value(match_conditions(&policy, &[])).expect("json");
    let docs = parse_documents(WEBHOOKS).expect("webhooks.yaml is YAML");
    assert_eq!(docs.len(), 2);
    for doc in docs {
        assert_eq!(
            doc.value["webhooks"][0]["matchConditions"], expected,
            "{}",
            doc.value["kind"]
        );
        assert_eq!(
            doc.value["webhooks"][0]["timeoutSeconds"],
            serde_json::json!(TIMEOUT_SECONDS)
        );
    }
}

#[test]
fn conditions_cover_users_prefixes_groups_and_tenants() {
    let config = Config {
        presets: vec![],
        bypass: Bypass {
            users: vec!["ci-bot".into(), "system:serviceaccount:tools:*".into()],
            groups: vec!["platform".into()],
        },
        ..Config::default()
    };
    let policy = Policy::from_config(&config);
    let conditions = match_conditions(&policy, &["tenant-sa".to_string()]);
    let expressions: Vec<&str> = conditions.iter().map(|c| c.expression.as_str()).collect();
    assert_eq!(
        expressions,
        [
            "!(request.userInfo.username in ['ci-bot', 'tenant-sa'])",
            "!(request.userInfo.username.startsWith('system:serviceaccount:tools:'))",
            "!request.userInfo.groups.exists(g, g in ['platform'])",
        ]
    );
    let names: BTreeSet<&str> = conditions.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), 3, "condition names are unique");
}

#[test]
fn no_bypass_means_no_conditions() {
    let config = Config {
        presets: vec![],
        ..Config::default()
    };
    assert!(match_conditions(&Policy::from_config(&config), &[]).is_empty());
}

#[test]
fn cel_strings_cannot_be_broken_out_of() {
    assert_eq!(cel_string("a'b\\c"), r"'a\'b\\c'");
    assert_eq!(cel_string("x\ny"), r"'x\ny'");
}

#[test]
fn known_kinds_get_their_plural_and_a_guess_is_said_once_per_kind() {
    let gateway = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g, namespace: n}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: h, namespace: n}\n";
    let widgets = "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: a}\n---\napiVersion: example.com/v2\nkind: Gadget\nmetadata: {name: b}\n";
    let snap = snapshot(&[("gw.yaml", gateway), ("w.yaml", widgets)]);
    let reg = Registration::build(
        &snap,
        &Policy::from_config(&Config::default()),
        &Target::url("https://x").expect("url"),
        b"ca",
    );
    let rules = reg.validating.webhooks.expect("webhook")[0]
        .rules
        .clone()
        .expect("rules");
    let resources: Vec<String> = rules
        .iter()
        .flat_map(|r| r.resources.clone().unwrap_or_default())
        .collect();
    assert!(resources.contains(&"gateways".to_string()), "{resources:?}");
    assert!(resources.contains(&"gadgets".to_string()), "{resources:?}");
    let guesses: Vec<&String> = reg
        .warnings
        .iter()
        .filter(|w| w.contains("guessed"))
        .collect();
    assert_eq!(guesses.len(), 1, "{:?}", reg.warnings);
    assert!(guesses[0].contains("example.com/Gadget"), "{guesses:?}");
}

#[test]
fn urls_must_be_https() {
    assert_eq!(
        Target::url("https://127.0.0.1:8443/").expect("https"),
        Target::Url("https://127.0.0.1:8443".into())
    );
    assert!(Target::url("http://127.0.0.1:8443").is_err());
    assert!(Target::url("https://").is_err());
    assert!(Target::url("https://h/x?y=1").is_err());
}

fn snapshot(files: &[(&str, &str)]) -> Snapshot {
    let mut state = SourceState {
        name: "fleet".into(),
        default_namespace: "default".into(),
        ..SourceState::default()
    };
    for (file, text) in files {
        let parsed = parse_file("fleet", file, text.as_bytes()).expect("fixture parses");
        state.objects.extend(parsed.objects);
    }
    Snapshot::build(vec![state]).expect("snapshot")
}

const FIXTURE: &[(&str, &str)] = &[
    (
        "apps.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: kube-system}\n---\n\
         apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\n\
         metadata: {name: other}\n---\n\
         apiVersion: example.org/v2\nkind: Gadget\nmetadata: {name: g}\n",
    ),
    (
        "crd.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
         metadata: {name: widgets.example.com}\n\
         spec:\n  group: example.com\n  scope: Namespaced\n\
         \x20 names: {plural: widgets, kind: Widget}\n\
         \x20 versions:\n  - name: v1alpha1\n    served: true\n    storage: true\n\
         \x20   subresources: {scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}}\n---\n\
         apiVersion: example.com/v1alpha1\nkind: Widget\nmetadata: {name: w}\n",
    ),
];

fn rules_of(registration: &Registration) -> Vec<(String, String, Vec<String>)> {
    registration.validating.webhooks.as_ref().expect("webhooks")[0]
        .rules
        .as_ref()
        .expect("rules")
        .iter()
        .map(|r| {
            (
                r.api_groups.as_ref().expect("groups")[0].clone(),
                r.api_versions.as_ref().expect("versions")[0].clone(),
                r.resources.clone().expect("resources"),
            )
        })
        .collect()
}

#[test]
fn rules_come_from_what_git_declares() {
    let snap = snapshot(FIXTURE);
    let target = Target::Service {
        name: "driftgate".into(),
        namespace: "driftgate-system".into(),
    };
    let reg = Registration::build(&snap, &Policy::default(), &target, b"PEM");
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        rules_of(&reg),
        vec![
            ("".into(), "v1".into(), s(&["configmaps"])),
            (
                "apiextensions.k8s.io".into(),
                "v1".into(),
                s(&["customresourcedefinitions"])
            ),
            (
                "apps".into(),
                "v1".into(),
                s(&["deployments", "deployments/scale"])
            ),
            (
                "example.com".into(),
                "v1alpha1".into(),
                s(&["widgets", "widgets/scale"])
            ),
            (
                "example.org".into(),
                "v2".into(),
                s(&["gadgets", "gadgets/scale"])
            ),
        ]
    );
    assert_eq!(reg.warnings.len(), 2, "{:?}", reg.warnings);
    assert!(
        reg.warnings[0].contains("example.org/Gadget"),
        "{:?}",
        reg.warnings
    );
    assert!(reg.warnings[1].contains("1 object(s) in kube-system"));
    let mutating = &reg.mutating.webhooks.as_ref().expect("webhooks")[0];
    assert_eq!(mutating.failure_policy.as_deref(), Some("Ignore"));
    assert_eq!(
        mutating
            .client_config
            .service
            .as_ref()
            .and_then(|s| s.path.as_deref()),
        Some("/mutate")
    );
    let mutating_resources: Vec<String> = mutating
        .rules
        .as_ref()
        .expect("rules")
        .iter()
        .flat_map(|r| r.resources.clone().unwrap_or_default())
        .collect();
    assert!(!mutating_resources.iter().any(|r| r.ends_with("/scale")));
}

#[test]
fn output_round_trips_through_yaml_and_json() {
    let snap = snapshot(FIXTURE);
    let target = Target::url("https://127.0.0.1:8443").expect("url");
    let reg = Registration::build(
        &snap,
        &Policy::from_config(&embedded_config()),
        &target,
        b"-----BEGIN CERTIFICATE-----\n",
    );
    let yaml = reg.to_yaml().expect("yaml");
    let docs = parse_documents(&yaml).expect("our YAML parses");
    let json = reg.to_json().expect("json");
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].value, json["items"][0]);
    assert_eq!(docs[1].value, json["items"][1]);
    assert_eq!(
        json["items"][0]["webhooks"][0]["clientConfig"]["url"],
        "https://127.0.0.1:8443/validate"
    );
    assert_eq!(
        json["items"][0]["webhooks"][0]["clientConfig"]["caBundle"],
        "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
    );
}

#[test]
fn a_missing_or_non_pem_ca_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("ca.crt");
    assert!(matches!(read_ca(&missing), Err(Error::ReadCa { .. })));
    std::fs::write(&missing, "not a certificate").expect("write");
    assert!(matches!(read_ca(&missing), Err(Error::NotPem { .. })));
}

/// Renewal trusts two CAs at once (certs/README.md): a bundle passes through unchanged.
#[test]
fn a_ca_bundle_is_kept_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("both.crt");
    let bundle = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n\
                  -----BEGIN CERTIFICATE-----\nBB==\n-----END CERTIFICATE-----\n";
    std::fs::write(&path, bundle).expect("write");
    assert_eq!(read_ca(&path).expect("bundle"), bundle.as_bytes());
}
