//! Properties over generated objects of several built-in kinds, as Git declares them: changing
//! or retyping any declared field is a violation; removing one is a violation unless the
//! apiserver cannot express its absence (a non-pointer `omitempty` zero, an empty map or list,
//! read from the schema file by the test itself); adding any undeclared field outside an atomic
//! unit is not (inside one it is, on UPDATE). Checked on CREATE (the comparison alone) and on
//! UPDATE from Git's object (the whole decision).

use std::sync::Arc;

use driftgate::admission::{self, Verdict};
use driftgate::config::Config;
use driftgate::drift::{self, Options};
use driftgate::manifest::parse::RawObject;
use driftgate::manifest::Origin;
use driftgate::policy::Policy;
use driftgate::schema::{self, Field, Shape};
use driftgate::snapshot::{Snapshot, SourceState};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::review;

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// One declared value: where it is, what the schema says of it.
#[derive(Debug, Clone)]
struct Declared {
    path: Vec<Step>,
    value: Value,
    field: Field<'static>,
    /// It, or something above it, is an atomic unit.
    in_atomic: bool,
}

const SERVER_OWNED: &[&str] = &["name", "namespace"];

/// The schema file read on its own, as an oracle for which absences the apiserver can
/// express: a field's `ptr`, `omit` and kind straight from the JSON, not from driftgate's
/// compiled form.
fn raw_schema() -> &'static Value {
    static RAW: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    RAW.get_or_init(|| {
        serde_json::from_str(include_str!("../../schema/kubernetes.json")).expect("schema JSON")
    })
}

/// Whether removing the value at `path` of a `kind` object is a change the apiserver can
/// express, read from the raw schema: not for a non-pointer `omitempty` scalar holding its
/// zero, nor for an empty list or map.
fn absence_expressible(object: &Value, path: &[Step], value: &Value) -> bool {
    let raw = raw_schema();
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let root = format!(
        "{}/{}",
        if api_version.contains('/') {
            api_version.to_string()
        } else {
            format!("/{api_version}")
        },
        object["kind"].as_str().unwrap_or_default()
    );
    let Some(mut ty) = raw["roots"][&root]["type"].as_str().map(str::to_string) else {
        return true;
    };
    // The field the value sits in, following struct types, list and map elements.
    let mut field: Option<&Value> = None;
    for step in path {
        let spec = match (step, field) {
            (Step::Key(k), None) => &raw["types"][&ty]["fields"][k],
            (Step::Key(k), Some(f)) if f["t"] == "map" => {
                // A map entry: always expressible, whatever lies below.
                let _ = k;
                return true;
            }
            (Step::Key(k), Some(_)) => &raw["types"][&ty]["fields"][k],
            (Step::Index(_), Some(f)) if f["t"] == "list" => &f["of"],
            _ => return true,
        };
        if spec.is_null() {
            return true;
        }
        if let Some(t) = spec["t"].as_str() {
            if raw["types"].get(t).is_some() {
                ty = t.to_string();
            }
        }
        field = Some(spec);
    }
    let Some(f) = field else { return true };
    if matches!(path.last(), Some(Step::Index(_))) {
        return true;
    }
    let empty_collection = matches!(f["t"].as_str(), Some("list" | "map")) && is_zero(value);
    let omitted_zero = f["ptr"] == false
        && f["omit"] == "empty"
        && matches!(
            f["t"].as_str(),
            Some("bool" | "string" | "int" | "float" | "bytes")
        )
        && is_zero(value);
    !(empty_collection || omitted_zero)
}

/// Every declared value of `object` below the top level's identity, with its schema facts.
fn declared(kind: &str, object: &Value) -> Vec<Declared> {
    let (group, version) =
        driftgate::manifest::split_api_version(object["apiVersion"].as_str().unwrap_or_default());
    let root = schema::builtin()
        .root(group, version, kind)
        .unwrap_or(Shape::UNKNOWN);
    let mut out = Vec::new();
    let Some(members) = object.as_object() else {
        return out;
    };
    for (k, v) in members {
        if matches!(k.as_str(), "apiVersion" | "kind" | "status") {
            continue;
        }
        let field = if k == "metadata" {
            Field {
                shape: schema::builtin().object_meta(),
                zero_if_absent: false,
                default: None,
            }
        } else {
            root.member(k.as_bytes())
        };
        walk(vec![Step::Key(k.clone())], v, field, false, &mut out);
    }
    out.retain(|d| {
        !matches!(d.path.as_slice(), [Step::Key(m), Step::Key(k)] if m == "metadata" && SERVER_OWNED.contains(&k.as_str()))
            && !matches!(d.path.as_slice(), [Step::Key(m)] if m == "metadata")
    });
    out
}

fn walk(
    path: Vec<Step>,
    value: &Value,
    field: Field<'static>,
    atomic: bool,
    out: &mut Vec<Declared>,
) {
    if value.is_null() {
        return;
    }
    let in_atomic = atomic || field.shape.is_atomic();
    out.push(Declared {
        path: path.clone(),
        value: value.clone(),
        field,
        in_atomic,
    });
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let mut p = path.clone();
                p.push(Step::Key(k.clone()));
                walk(p, v, field.shape.member(k.as_bytes()), in_atomic, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mut p = path.clone();
                p.push(Step::Index(i));
                let element = Field {
                    shape: field.shape.element(),
                    zero_if_absent: false,
                    default: None,
                };
                walk(p, v, element, in_atomic, out);
            }
        }
        _ => {}
    }
}

fn at<'v>(value: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

#[derive(Debug, Clone, Copy)]
enum Mutation {
    Change,
    Retype,
    Remove,
    Add,
}

/// Applies `mutation` at `target`; returns the mutated object and whether it must be a
/// violation on CREATE and on UPDATE from Git's object, or `None` when the mutation does not
/// apply there. They differ for a field added inside an atomic unit: on CREATE it may be a
/// default of the apiserver's, on UPDATE it changes a unit Git owns whole.
fn mutate(object: &Value, target: &Declared, mutation: Mutation) -> Option<(Value, bool, bool)> {
    let mut out = object.clone();
    match mutation {
        Mutation::Change => {
            let slot = at(&mut out, &target.path)?;
            *slot = match &target.value {
                Value::String(s) => json!(format!("{s}-changed")),
                Value::Number(n) => json!(n.as_f64()? + 1.0),
                Value::Bool(b) => json!(!b),
                _ => return None,
            };
            Some((out, true, true))
        }
        Mutation::Retype => {
            let slot = at(&mut out, &target.path)?;
            *slot = match &target.value {
                Value::String(_) | Value::Number(_) => json!(true),
                Value::Bool(b) => json!(b.to_string()),
                Value::Object(_) => json!("an object no more"),
                Value::Array(_) => json!({"no": "longer a list"}),
                Value::Null => return None,
            };
            Some((out, true, true))
        }
        Mutation::Remove => {
            let (last, parent) = target.path.split_last()?;
            let parent = at(&mut out, parent)?;
            let expressible = match last {
                Step::Key(k) => {
                    parent.as_object_mut()?.remove(k);
                    absence_expressible(object, &target.path, &target.value)
                }
                Step::Index(i) => {
                    parent.as_array_mut()?.remove(*i);
                    true
                }
            };
            Some((out, expressible, expressible))
        }
        Mutation::Add => {
            let slot = at(&mut out, &target.path)?;
            match slot {
                Value::Object(map) => {
                    map.insert("zz-undeclared".into(), json!({"added": [1, "two", false]}));
                    return Some((out, false, target.in_atomic));
                }
                // Inside an atomic unit a list is compared element by element.
                Value::Array(items) if target.in_atomic => {
                    items.push(json!("zz-new"));
                    return Some((out, true, true));
                }
                // A list matched by key takes a new element (a sidecar); a set a new value.
                Value::Array(items) => match target.field.shape.kind() {
                    schema::Kind::List(l) if l.kind == schema::ListKind::Map => {
                        let mut element = json!({});
                        for key in l.keys() {
                            element[key] = json!(format!("zz-new-{key}"));
                        }
                        items.push(element);
                    }
                    schema::Kind::List(l) if l.kind == schema::ListKind::Set => {
                        items.push(json!("zz-new"));
                    }
                    _ => return None,
                },
                _ => return None,
            }
            Some((out, false, false))
        }
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// (kind, plural) of the generated objects.
fn resource(kind: &str) -> (&'static str, &'static str, &'static str) {
    match kind {
        "Deployment" => ("apps", "v1", "deployments"),
        "Service" => ("", "v1", "services"),
        "NetworkPolicy" => ("networking.k8s.io", "v1", "networkpolicies"),
        "PodDisruptionBudget" => ("policy", "v1", "poddisruptionbudgets"),
        "ServiceAccount" => ("", "v1", "serviceaccounts"),
        "Role" => ("rbac.authorization.k8s.io", "v1", "roles"),
        _ => ("", "v1", "configmaps"),
    }
}

prop_compose! {
    fn deployment()(
        image in "[a-z]{3,8}:[0-9]\\.[0-9]{1,2}",
        replicas in 0i64..6,
        escalation in any::<bool>(),
        host_network in any::<bool>(),
        port in 1024i64..65535,
        udp in any::<bool>(),
        value in prop_oneof![Just(String::new()), "[a-z]{1,6}"],
        cpu in prop_oneof![Just("500m"), Just("1"), Just("0.25"), Just("2Gi")],
        empty_dir in any::<bool>(),
    ) -> Value {
        let volume = if empty_dir { json!({"name": "scratch", "emptyDir": {}}) }
            else { json!({"name": "scratch", "configMap": {"name": "conf", "optional": false}}) };
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "gen", "namespace": "gen", "labels": {"app": "gen", "tier": ""}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "gen"}},
                "template": {"metadata": {"labels": {"app": "gen"}},
                    "spec": {"hostNetwork": host_network, "automountServiceAccountToken": false,
                        "containers": [{"name": "main", "image": image, "args": ["--a", "--b"],
                            "ports": [{"containerPort": port, "protocol": if udp { "UDP" } else { "TCP" }}],
                            "env": [{"name": "A", "value": value}],
                            "resources": {"limits": {"cpu": cpu}},
                            "securityContext": {"allowPrivilegeEscalation": escalation, "capabilities": {"drop": ["ALL"]}}}],
                        "volumes": [volume],
                        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gen", "effect": "NoSchedule"}]}}}})
    }
}

prop_compose! {
    fn others()(
        port in 1i64..65535,
        target in prop_oneof![Just(json!(8080)), Just(json!("http"))],
        cidr in prop_oneof![Just("10.0.0.0/8"), Just("192.168.0.0/16")],
        max_unavailable in prop_oneof![Just(json!(0)), Just(json!("25%")), Just(json!(1))],
        automount in any::<bool>(),
        data in "[a-z]{0,5}",
    ) -> Vec<Value> {
        vec![
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "gen", "namespace": "gen"},
                "spec": {"selector": {"app": "gen"}, "ports": [{"name": "http", "port": port, "targetPort": target}],
                    "publishNotReadyAddresses": false}}),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "gen", "namespace": "gen"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": [{"ipBlock": {"cidr": cidr}}, {"podSelector": {"matchLabels": {"role": "x"}}}],
                        "ports": [{"port": port}]}]}}),
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "gen", "namespace": "gen"},
                "spec": {"maxUnavailable": max_unavailable, "selector": {"matchLabels": {"app": "gen"}}}}),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "gen", "namespace": "gen"},
                "automountServiceAccountToken": automount, "imagePullSecrets": [{"name": "pull"}]}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gen", "namespace": "gen",
                "annotations": {"note": ""}, "finalizers": ["example.com/keep"]},
                "data": {"a": data, "b": "fixed"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "gen", "namespace": "gen"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}),
        ]
    }
}

fn objects() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => deployment(),
        3 => (others(), 0usize..6).prop_map(|(all, i)| all[i].clone()),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Change),
        Just(Mutation::Retype),
        Just(Mutation::Remove),
        Just(Mutation::Add),
    ]
}

fn snapshot_of(object: &Value) -> Snapshot {
    Snapshot::build(vec![SourceState {
        name: "gen".into(),
        default_namespace: "default".into(),
        objects: vec![RawObject {
            api_version: object["apiVersion"].as_str().unwrap_or_default().into(),
            kind: object["kind"].as_str().unwrap_or_default().into(),
            value: object.clone().into(),
            file: Arc::from("gen.yaml"),
            line: 1,
            origin: Origin::File,
            stale: false,
        }],
        ..SourceState::default()
    }])
    .expect("one object builds")
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn changes_removals_and_additions_are_owned_as_the_schema_says(
        object in objects(),
        pick in any::<prop::sample::Index>(),
        mutation in mutation(),
    ) {
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let fields = declared(&kind, &object);
        prop_assume!(!fields.is_empty());
        let target = pick.get(&fields);
        let Some((mutated, on_create, on_update)) = mutate(&object, target, mutation) else {
            return Ok(());
        };
        let what = format!("{mutation:?} at {:?} of {kind}: {}", target.path, target.value);
        // CREATE: the comparison alone.
        let diffs = drift::diff(&kind, &object, &mutated, &Options::default());
        prop_assert_eq!(!diffs.is_empty(), on_create, "CREATE {} -> {:?}", what, diffs);
        // UPDATE from Git's object: the whole decision, probe and oldObject included.
        let snapshot = snapshot_of(&object);
        let policy = Policy::from_config(&Config::default());
        let body = review("UPDATE", resource(&kind), &kind, "", &mutated, &object);
        let (_, d) = admission::validate(&body, &snapshot, &policy).expect("well-formed");
        let expected = if on_update { Verdict::Denied } else { Verdict::Allowed };
        prop_assert_eq!(d.verdict, expected, "UPDATE {} -> {:?}", what, d.violations);
    }
}
