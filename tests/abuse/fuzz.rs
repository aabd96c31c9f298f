//! Property-based fuzzing with bounded case counts (seconds in `cargo test`). For a longer run:
//! `PROPTEST_CASES=100000 cargo test --release --test abuse fuzz`.
//!
//! - AdmissionReview decoding on arbitrary bytes and on arbitrary JSON shaped like reviews:
//!   never panics; an accepted review is answered with its own uid in its own version.
//! - `drift::diff` on arbitrary JSON pairs with Kubernetes-like keys (so list-maps, merge keys
//!   and quantities are exercised): never panics, and `diff(x, x)` is empty.

use driftgate::admission;
use driftgate::drift::{self, Options};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Keys that steer the comparison into its special cases.
const KEYS: &[&str] = &[
    "metadata",
    "labels",
    "annotations",
    "name",
    "namespace",
    "spec",
    "containers",
    "env",
    "ports",
    "containerPort",
    "port",
    "volumeMounts",
    "mountPath",
    "image",
    "value",
    "resources",
    "limits",
    "cpu",
    "memory",
    "replicas",
    "data",
    "stringData",
    "status",
    "a",
    "b",
    "",
];

fn config(default: u32) -> ProptestConfig {
    // PROPTEST_CASES overrides the count for a longer run.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just("500m"),
            Just("0.5"),
            Just("1Gi"),
            Just("1073741824"),
            Just("web"),
            Just(""),
            Just("1e3"),
            Just("-0"),
            Just("x"),
            Just("é✓"),
        ]
        .prop_map(|s| Value::String(s.into())),
        "\\PC{0,12}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// Something shaped like a review, with every part possibly wrong.
fn review_like() -> impl Strategy<Value = Value> {
    let operation = prop_oneof![
        Just(json!("CREATE")),
        Just(json!("UPDATE")),
        Just(json!("DELETE")),
        Just(json!("CONNECT")),
        Just(json!("")),
        Just(json!(null)),
        Just(json!(3)),
    ];
    let resource = prop_oneof![
        Just(json!({"group": "apps", "version": "v1", "resource": "deployments"})),
        Just(json!({"group": "", "version": "v1", "resource": "configmaps"})),
        Just(json!({"group": "", "version": "v1", "resource": "services"})),
        Just(json!({"group": "x", "resource": "unknown"})),
        Just(json!(null)),
    ];
    let sub = prop_oneof![
        Just(json!(null)),
        Just(json!("scale")),
        Just(json!("status")),
        Just(json!("exec"))
    ];
    let user = prop_oneof![
        Just(json!({"username": "alice"})),
        Just(json!({"username": "system:kube-controller-manager"})),
        Just(json!({"username": "bob", "groups": ["system:serviceaccounts:kube-system"]})),
        Just(json!({})),
    ];
    let version = prop_oneof![
        Just(json!("admission.k8s.io/v1")),
        Just(json!("admission.k8s.io/v1beta1")),
        Just(json!("v1")),
    ];
    (
        version,
        operation,
        resource,
        sub,
        user,
        0usize..6,
        prop_oneof![json_value(), Just(json!(null))],
        prop_oneof![json_value(), Just(json!(null))],
        any::<bool>(),
    )
        .prop_map(
            |(version, operation, resource, sub, user, i, object, old, tweak)| {
                // Half the time, start from the real declared object so deep comparisons happen.
                let object = if tweak {
                    merge(super::workload::declared(i), object)
                } else {
                    object
                };
                json!({
                    "apiVersion": version,
                    "kind": "AdmissionReview",
                    "request": {
                        "uid": format!("uid-{i}"),
                        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                        "resource": resource,
                        "subResource": sub,
                        "name": super::workload::name(i),
                        "namespace": super::workload::namespace(i),
                        "operation": operation,
                        "userInfo": user,
                        "object": object,
                        "oldObject": old,
                    }
                })
            },
        )
}

/// Lays `patch`'s top-level keys over `base` (when both are objects).
fn merge(mut base: Value, patch: Value) -> Value {
    if let (Some(b), Value::Object(p)) = (base.as_object_mut(), patch) {
        for (k, v) in p {
            b.insert(k, v);
        }
    }
    base
}

fn check(body: &[u8], snapshot: &driftgate::snapshot::Snapshot) {
    let policy = super::policy();
    if let Ok((answer, _)) = admission::validate(body, snapshot, &policy) {
        let sent: Value = serde_json::from_slice(body).expect("an accepted body is JSON");
        assert_eq!(answer["response"]["uid"], sent["request"]["uid"]);
        assert_eq!(answer["apiVersion"], sent["apiVersion"]);
        assert!(answer["response"]["allowed"].is_boolean());
    }
}

proptest! {
    #![proptest_config(config(2_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes, &super::snapshot(6));
    }

    #[test]
    fn json_prefixed_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":"#.to_vec();
        body.extend(tail);
        check(&body, &super::snapshot(6));
    }
}

proptest! {
    #![proptest_config(config(1_000))]

    #[test]
    fn review_shaped_json_never_panics(review in review_like()) {
        let body = serde_json::to_vec(&review).expect("serialises");
        check(&body, &super::snapshot(6));
    }

    #[test]
    fn diff_never_panics_and_is_empty_on_itself(
        kind in prop::sample::select(&["Deployment", "Service", "Secret", "ConfigMap", "Widget"][..]),
        x in json_value(),
        y in json_value(),
    ) {
        let opts = Options::default();
        let _ = drift::diff(kind, &x, &y, &opts);
        let _ = drift::diff(kind, &y, &x, &opts);
        prop_assert!(drift::diff(kind, &x, &x, &opts).is_empty(), "diff(x, x) of {x}");
        let secrets = Options { compare_secret_data: true, ..Options::default() };
        prop_assert!(drift::diff(kind, &x, &x, &secrets).is_empty(), "diff(x, x) of {x}");
    }

    #[test]
    fn diff_of_a_declared_object_with_itself_plus_noise(i in 0usize..6, noise in json_value()) {
        // Whatever a request adds on top of Git (undeclared keys) is never a divergence.
        let declared = super::workload::declared(i);
        let mut actual = declared.clone();
        if let Some(map) = actual.as_object_mut() {
            map.insert("zzz-undeclared".into(), noise);
        }
        let kind = declared["kind"].as_str().unwrap_or_default().to_string();
        prop_assert!(drift::diff(&kind, &declared, &actual, &Options::default()).is_empty());
    }
}
