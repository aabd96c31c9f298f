//! Walks what Git declares and finds where a request's object differs. Only Git's leaves count:
//! anything the request adds (defaults, labels from others, injected sidecars) is undeclared.

use serde_json::{Map, Value};

use super::normalize::{equal, is_zero, satisfies};
use super::path::{merge_key_value, Path, Pattern, Segment};

/// One declared field whose requested value differs from Git.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDiff {
    pub path: Path,
    /// Git's value.
    pub git: Value,
    /// The request's value; `None` when the request drops the field.
    pub actual: Option<Value>,
}

/// What the walk needs to know beyond the two objects.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    /// Ignore patterns that apply to this object.
    pub ignore: Vec<&'a Pattern>,
    /// Secrets' `data`/`stringData` are compared only when this is set.
    pub compare_secret_data: bool,
}

/// Identity and server-owned metadata: never part of a declaration.
const SERVER_OWNED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Kubernetes list-maps: lists whose elements are matched by a merge key, never by position.
fn merge_key_field(field: &str, declared: &[Value]) -> Option<&'static str> {
    let key: &'static str = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "hostAliases" => "ip",
        "readinessGates" => "conditionType",
        "topologySpreadConstraints" => "topologyKey",
        "ports" => {
            if declared.iter().all(|e| e.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        _ => return None,
    };
    let mut seen = std::collections::HashSet::new();
    let usable = declared
        .iter()
        .all(|e| merge_key_value(e, key).is_some_and(|v| seen.insert(v)));
    usable.then_some(key)
}

/// Differences between Git's object and a request's object, by declared path.
pub fn diff(kind: &str, declared: &Value, actual: &Value, opts: &Options) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    let Value::Object(decl) = declared else {
        return out;
    };
    let is_secret = kind == "Secret";
    for (key, value) in decl {
        match key.as_str() {
            "apiVersion" | "kind" | "status" => continue,
            "data" | "stringData" if is_secret && !opts.compare_secret_data => continue,
            "stringData" if is_secret => {
                secret_string_data(value, actual, opts, &mut out);
                continue;
            }
            _ => {}
        }
        let mut path = Path::root().key(key);
        if key == "metadata" {
            if let Value::Object(meta) = value {
                let filtered: Map<String, Value> = meta
                    .iter()
                    .filter(|(k, _)| !SERVER_OWNED_METADATA.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                walk(
                    &Value::Object(filtered),
                    actual.get(key),
                    &mut path,
                    opts,
                    &mut out,
                );
            }
            continue;
        }
        walk(value, actual.get(key), &mut path, opts, &mut out);
    }
    out
}

/// The apiserver folds `stringData` into base64 `data`; compare Git's plain text with the
/// request's decoded data.
fn secret_string_data(declared: &Value, actual: &Value, opts: &Options, out: &mut Vec<FieldDiff>) {
    use base64::Engine as _;
    let Value::Object(entries) = declared else {
        return;
    };
    for (k, v) in entries {
        let path = Path::root().key("data").key(k);
        if ignored(&path, opts) {
            continue;
        }
        let decoded = actual
            .get("data")
            .and_then(|d| d.get(k))
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|bytes| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
            .or_else(|| actual.get("stringData").and_then(|d| d.get(k)).cloned());
        if !equal(Some(v), decoded.as_ref(), &path) {
            out.push(FieldDiff {
                path,
                git: v.clone(),
                actual: decoded,
            });
        }
    }
}

fn ignored(path: &Path, opts: &Options) -> bool {
    opts.ignore.iter().any(|p| p.covers(path))
}

/// `path` is where `declared` sits; children push their segment and pop it again, so the walk
/// allocates a path only for the differences it reports.
fn walk(
    declared: &Value,
    actual: Option<&Value>,
    path: &mut Path,
    opts: &Options,
    out: &mut Vec<FieldDiff>,
) {
    if ignored(path, opts) {
        return;
    }
    let actual = actual.filter(|a| !a.is_null());
    match declared {
        // `creationTimestamp: null` and friends: kustomize writes them, nobody declares them.
        Value::Null => {}
        Value::Object(map) if map.is_empty() => {
            // `emptyDir: {}` declares presence; absent is the same to Go's omitempty.
            if let Some(a) = actual {
                if !a.is_object() {
                    push(out, path, declared, Some(a));
                }
            }
        }
        Value::Object(map) => match actual {
            Some(Value::Object(_)) | None => {
                for (k, v) in map {
                    path.0.push(Segment::Key(k.clone()));
                    walk(v, actual.and_then(|a| a.get(k)), path, opts, out);
                    path.0.pop();
                }
            }
            Some(other) => push(out, path, declared, Some(other)),
        },
        Value::Array(items) => {
            let field = path.last_key().unwrap_or_default();
            match (merge_key_field(field, items), actual) {
                (Some(key), Some(Value::Array(actual_items))) => {
                    for (index, item) in items.iter().enumerate() {
                        let Some(kv) = merge_key_value(item, key) else {
                            continue;
                        };
                        let found = actual_items
                            .iter()
                            .find(|a| merge_key_value(a, key).as_deref() == Some(kv.as_str()));
                        path.0.push(Segment::Item {
                            field: key,
                            value: kv,
                            index,
                        });
                        match found {
                            Some(a) => walk(item, Some(a), path, opts, out),
                            None if ignored(path, opts) => {}
                            None => push(out, path, item, None),
                        }
                        path.0.pop();
                    }
                }
                (_, None) if items.is_empty() => {}
                _ => {
                    if !satisfies(declared, actual, path) {
                        push(out, path, declared, actual);
                    }
                }
            }
        }
        scalar => {
            if !equal(Some(scalar), actual, path) {
                push(out, path, declared, actual);
            }
        }
    }
}

fn push(out: &mut Vec<FieldDiff>, path: &Path, git: &Value, actual: Option<&Value>) {
    if actual.is_none() && is_zero(git) {
        return;
    }
    out.push(FieldDiff {
        path: path.clone(),
        git: git.clone(),
        actual: actual.cloned(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(d: &[FieldDiff]) -> Vec<String> {
        d.iter().map(|d| d.path.to_string()).collect()
    }

    fn git() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}, "creationTimestamp": null},
            "spec": {"replicas": 3, "template": {"spec": {
                "hostNetwork": false,
                "containers": [
                    {"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                     "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}},
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                     "args": ["--x", "--y"]},
                ],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
                "tolerations": [{"key": "k", "operator": "Exists"}]
            }}}
        })
    }

    fn live() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u", "resourceVersion": "9",
                "labels": {"app": "web", "extra": "x"}, "annotations": {"a": "b"},
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"replicas": 3, "progressDeadlineSeconds": 600, "template": {"spec": {
                "containers": [
                    {"name": "istio-proxy", "image": "proxy"},
                    {"name": "web", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                     "ports": [{"containerPort": 80, "protocol": "TCP"}],
                     "resources": {"limits": {"cpu": "0.5", "memory": "1073741824"}},
                     "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
                     "args": ["--x", "--y"]},
                ],
                "volumes": [{"name": "tmp", "emptyDir": {"medium": ""}}],
                "tolerations": [{"key": "k", "operator": "Exists", "effect": ""}]
            }}},
            "status": {"replicas": 3}
        })
    }

    #[test]
    fn defaults_sidecars_reordering_and_normalisation_are_not_diffs() {
        let d = diff("Deployment", &git(), &live(), &Options::default());
        assert!(d.is_empty(), "{:?}", paths(&d));
    }

    #[test]
    fn changed_fields_are_reported_by_path() {
        let mut v = live();
        v["spec"]["replicas"] = json!(5);
        v["spec"]["template"]["spec"]["containers"][1]["image"] = json!("nginx:1.26");
        v["spec"]["template"]["spec"]["containers"][1]["args"] = json!(["--y", "--x"]);
        v["metadata"]["labels"]["app"] = json!("other");
        v["spec"]["template"]["spec"]["containers"][1]["env"] =
            json!([{"name": "B", "value": "2"}]);
        let d = diff("Deployment", &git(), &v, &Options::default());
        assert_eq!(
            paths(&d),
            [
                "metadata.labels.app",
                "spec.replicas",
                "spec.template.spec.containers[name=web].image",
                "spec.template.spec.containers[name=web].env[name=A]",
                "spec.template.spec.containers[name=web].args",
            ]
        );
        assert_eq!(d[1].git, json!(3));
        assert_eq!(d[1].actual, Some(json!(5)));
        assert_eq!(d[3].actual, None);
    }

    #[test]
    fn removed_container_and_ignore_patterns() {
        let mut v = live();
        v["spec"]["template"]["spec"]["containers"] = json!([{"name": "istio-proxy"}]);
        v["spec"]["replicas"] = json!(1);
        let pats = [Pattern::parse("/spec/replicas")];
        let opts = Options {
            ignore: pats.iter().collect(),
            ..Options::default()
        };
        let d = diff("Deployment", &git(), &v, &opts);
        assert_eq!(paths(&d), ["spec.template.spec.containers[name=web]"]);
        let pats = [
            Pattern::parse("/spec/replicas"),
            Pattern::parse("/spec/template/spec/containers/*"),
        ];
        let opts = Options {
            ignore: pats.iter().collect(),
            ..Options::default()
        };
        assert!(diff("Deployment", &git(), &v, &opts).is_empty());
    }

    #[test]
    fn secrets_data_skipped_unless_asked() {
        let git = json!({"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"pw": "hunter2"}, "type": "Opaque"});
        let live = json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {"pw": "b3RoZXI="}, "type": "Opaque"});
        assert!(diff("Secret", &git, &live, &Options::default()).is_empty());
        let opts = Options {
            compare_secret_data: true,
            ..Options::default()
        };
        assert_eq!(paths(&diff("Secret", &git, &live, &opts)), ["data.pw"]);
        let same = json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {"pw": "aHVudGVyMg=="}, "type": "Opaque"});
        assert!(diff("Secret", &git, &same, &opts).is_empty());
    }

    #[test]
    fn service_ports_by_port() {
        let git = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}});
        let live = json!({"spec": {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 80, "targetPort": 8080, "protocol": "TCP"}]}});
        assert!(diff("Service", &git, &live, &Options::default()).is_empty());
        let changed = json!({"spec": {"ports": [{"port": 443}, {"port": 80, "targetPort": 9090}]}});
        assert_eq!(
            paths(&diff("Service", &git, &changed, &Options::default())),
            ["spec.ports[port=80].targetPort"]
        );
    }
}
