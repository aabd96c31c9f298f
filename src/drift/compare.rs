//! Walks what Git declares and finds where a request's object differs. Only Git's leaves count:
//! anything the request adds (defaults, labels from others, injected sidecars) is undeclared.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::normalize::{node_is_zero, node_satisfies, nodes_equal, Ctx};
use super::path::{merge_key_of, Path, Pattern, Step};
use super::tree::{self, Entries, Items, Kind, Node, Tree, View};

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

/// Lists up to this long are searched by scanning; longer ones (a request may carry 10,000
/// containers) through a hash map, so matching stays linear.
const SCAN_LIMIT: usize = 16;

/// Kubernetes list-maps: lists whose elements are matched by a merge key, never by position.
fn merge_key_field(field: &[u8], declared: &Items) -> Option<&'static str> {
    let key: &'static str = match field {
        b"containers"
        | b"initContainers"
        | b"ephemeralContainers"
        | b"env"
        | b"volumes"
        | b"imagePullSecrets"
        | b"resourceClaims"
        | b"schedulingGates" => "name",
        b"volumeMounts" => "mountPath",
        b"volumeDevices" => "devicePath",
        b"hostAliases" => "ip",
        b"readinessGates" => "conditionType",
        b"topologySpreadConstraints" => "topologyKey",
        b"ports" => {
            if declared.clone().all(|e| e.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        _ => return None,
    };
    // Usable only when every element has a key value and no two share one.
    let usable = if declared.len() <= SCAN_LIMIT {
        declared.clone().enumerate().all(|(i, e)| {
            merge_key_of(e, key).is_some_and(|v| {
                !declared
                    .clone()
                    .take(i)
                    .any(|before| merge_key_of(before, key).as_ref() == Some(&v))
            })
        })
    } else {
        let mut seen = HashSet::new();
        declared
            .clone()
            .all(|e| merge_key_of(e, key).is_some_and(|v| seen.insert(v)))
    };
    usable.then_some(key)
}

/// Differences between Git's object and a request's object, by declared path.
pub fn diff(kind: &str, declared: &Value, actual: &Value, opts: &Options) -> Vec<FieldDiff> {
    let (declared, actual) = (Tree::from_value(declared), Tree::from_value(actual));
    diff_nodes(kind, declared.root(), actual.root(), opts)
}

/// [`diff`] of encoded objects: what a decision runs, with no `Value` built but for the
/// differences reported.
pub fn diff_nodes(kind: &str, declared: Node, actual: Node, opts: &Options) -> Vec<FieldDiff> {
    let mut walk = Walk {
        opts,
        path: Vec::new(),
        members: Vec::new(),
        out: Vec::new(),
    };
    let View::Object(decl) = declared.view() else {
        return walk.out;
    };
    let is_secret = kind == "Secret";
    let top = walk.open(Some(actual));
    for (key, value) in decl.raw() {
        match key {
            b"apiVersion" | b"kind" | b"status" => continue,
            b"data" | b"stringData" if is_secret && !opts.compare_secret_data => continue,
            b"stringData" if is_secret => {
                walk.secret_string_data(value, actual);
                continue;
            }
            _ => {}
        }
        let in_actual = walk.member(&top, key);
        walk.path.push(Step::Key(key));
        if key == b"metadata" {
            if let View::Object(meta) = value.view() {
                walk.metadata(meta, in_actual);
            }
        } else {
            walk.node(value, in_actual, Ctx::default().key(key));
        }
        walk.path.pop();
    }
    walk.out
}

/// The walk's state: where it is (borrowed from Git's declaration), the members of the
/// request's objects it is in, and what it found. Children push their step and pop it again, so
/// a path is allocated only for a difference reported.
struct Walk<'o, 'a, 'b> {
    opts: &'o Options<'o>,
    path: Vec<Step<'a>>,
    /// The members of the request's objects being walked, a frame a level: an object's members
    /// are read once, then each of Git's keys is looked up among them.
    members: Vec<(&'b [u8], Node<'b>)>,
    out: Vec<FieldDiff>,
}

/// Where one request object's members are.
enum Frame<'b> {
    /// `members[start..end]`.
    Range(usize, usize),
    /// A large object's (many labels, say), so lookups stay constant-time.
    Hashed(HashMap<&'b [u8], Node<'b>>),
}

impl<'a, 'b> Walk<'_, 'a, 'b> {
    fn ignored(&self) -> bool {
        self.opts.ignore.iter().any(|p| p.covers_steps(&self.path))
    }

    fn last_key(&self) -> Option<&'a [u8]> {
        match self.path.last() {
            Some(Step::Key(k)) => Some(k),
            _ => None,
        }
    }

    fn owned_path(&self) -> Path {
        Path(self.path.iter().map(Step::to_segment).collect())
    }

    /// Reads the members of `object` (none when it is absent or not an object) into a frame;
    /// frames are released in reverse order with [`Walk::close`].
    fn open(&mut self, object: Option<Node<'b>>) -> Frame<'b> {
        let start = self.members.len();
        match object.map(Node::view) {
            Some(View::Object(entries)) if entries.len() > tree::SCAN_LIMIT => {
                // Later members replace earlier ones, as `serde_json` keeps repeated keys.
                Frame::Hashed(entries.raw().collect())
            }
            Some(View::Object(entries)) => {
                self.members.extend(entries.raw());
                Frame::Range(start, self.members.len())
            }
            _ => Frame::Range(start, start),
        }
    }

    /// The last member named `key` in a frame.
    fn member(&self, frame: &Frame<'b>, key: &[u8]) -> Option<Node<'b>> {
        match frame {
            Frame::Range(start, end) => self
                .members
                .get(*start..*end)
                .unwrap_or_default()
                .iter()
                .rev()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v),
            Frame::Hashed(map) => map.get(key).copied(),
        }
    }

    fn close(&mut self, frame: Frame<'b>) {
        if let Frame::Range(start, _) = frame {
            self.members.truncate(start);
        }
    }

    /// The apiserver folds `stringData` into base64 `data`; compare Git's plain text with the
    /// request's decoded data.
    fn secret_string_data(&mut self, declared: Node<'a>, actual: Node) {
        use base64::Engine as _;
        let View::Object(entries) = declared.view() else {
            return;
        };
        for (k, v) in entries {
            self.path.push(Step::Key(b"data"));
            self.path.push(Step::Key(k.as_bytes()));
            if !self.ignored() {
                let decoded = actual
                    .get("data")
                    .and_then(|d| d.get(k))
                    .and_then(Node::as_str)
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .map(|bytes| {
                        Tree::from_value(&Value::String(
                            String::from_utf8_lossy(&bytes).into_owned(),
                        ))
                    });
                let actual_value = match &decoded {
                    Some(tree) => Some(tree.root()),
                    None => actual.get("stringData").and_then(|d| d.get(k)),
                };
                let ctx = Ctx::default().key("data").key(k);
                if !nodes_equal(Some(v), actual_value, ctx) {
                    self.out.push(FieldDiff {
                        path: self.owned_path(),
                        git: v.to_value(),
                        actual: actual_value.map(Node::to_value),
                    });
                }
            }
            self.path.pop();
            self.path.pop();
        }
    }

    /// Git's `metadata` less identity and server-owned fields.
    fn metadata(&mut self, declared: Entries<'a>, actual: Option<Node<'b>>) {
        if self.ignored() {
            return;
        }
        let declared = declared
            .raw()
            .filter(|(k, _)| !SERVER_OWNED_METADATA.iter().any(|s| s.as_bytes() == *k));
        match actual.filter(|a| !a.is_null()) {
            Some(a) if !a.is_object() => {
                let git: Map<String, Value> = declared
                    .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.to_value()))
                    .collect();
                self.push_value(Value::Object(git), Some(a));
            }
            actual => self.members_of(declared, actual, Ctx::default().key("metadata")),
        }
    }

    /// Each of Git's members compared with the request's member of the same name.
    fn members_of(
        &mut self,
        declared: impl Iterator<Item = (&'a [u8], Node<'a>)>,
        actual: Option<Node<'b>>,
        ctx: Ctx,
    ) {
        let frame = self.open(actual);
        for (k, v) in declared {
            let in_actual = self.member(&frame, k);
            self.path.push(Step::Key(k));
            self.node(v, in_actual, ctx.key(k));
            self.path.pop();
        }
        self.close(frame);
    }

    fn node(&mut self, declared: Node<'a>, actual: Option<Node<'b>>, ctx: Ctx) {
        if self.ignored() {
            return;
        }
        let actual = actual.filter(|a| !a.is_null());
        match declared.kind() {
            // `creationTimestamp: null` and friends: kustomize writes them, nobody declares them.
            Kind::Null => {}
            Kind::Object => {
                let View::Object(map) = declared.view() else {
                    return;
                };
                match actual {
                    Some(a) if !a.is_object() => self.push(declared, Some(a)),
                    // `emptyDir: {}` declares presence; absent is the same to Go's omitempty.
                    _ if map.is_empty() => {}
                    _ => self.members_of(map.raw(), actual, ctx),
                }
            }
            Kind::Array => {
                let View::Array(items) = declared.view() else {
                    return;
                };
                let field = self.last_key().unwrap_or_default();
                match (merge_key_field(field, &items), actual.map(Node::view)) {
                    (Some(key), Some(View::Array(actual_items))) => {
                        self.list_map(key, items, actual_items, ctx);
                    }
                    (_, None) if items.is_empty() => {}
                    _ => {
                        if !node_satisfies(declared, actual, ctx) {
                            self.push(declared, actual);
                        }
                    }
                }
            }
            _ => {
                if !nodes_equal(Some(declared), actual, ctx) {
                    self.push(declared, actual);
                }
            }
        }
    }

    /// Git's elements matched with the request's by merge key, wherever they are in the list.
    fn list_map(&mut self, key: &'static str, items: Items<'a>, actual: Items<'b>, ctx: Ctx) {
        // Each of the request's elements' key value, read once.
        let keyed: Vec<(Cow<'b, str>, Node<'b>)> = actual
            .filter_map(|a| Some((merge_key_of(a, key)?, a)))
            .collect();
        let by_key: Option<HashMap<&str, Node<'b>>> = (keyed.len() > SCAN_LIMIT).then(|| {
            let mut map = HashMap::new();
            for (kv, a) in &keyed {
                // The first element with a key value is the one a scan would find.
                map.entry(kv.as_ref()).or_insert(*a);
            }
            map
        });
        for (index, item) in items.enumerate() {
            let Some(kv) = merge_key_of(item, key) else {
                continue;
            };
            let found = match &by_key {
                Some(map) => map.get(kv.as_ref()).copied(),
                None => keyed.iter().find(|(k, _)| *k == kv).map(|(_, a)| *a),
            };
            self.path.push(Step::Item {
                field: key,
                value: kv,
                index,
            });
            match found {
                Some(a) => self.node(item, Some(a), ctx.item()),
                None if self.ignored() => {}
                None => self.push(item, None),
            }
            self.path.pop();
        }
    }

    fn push(&mut self, git: Node, actual: Option<Node>) {
        if actual.is_none() && node_is_zero(git) {
            return;
        }
        self.push_value(git.to_value(), actual);
    }

    fn push_value(&mut self, git: Value, actual: Option<Node>) {
        self.out.push(FieldDiff {
            path: self.owned_path(),
            git,
            actual: actual.map(Node::to_value),
        });
    }
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
    fn large_objects_and_lists_are_matched_as_small_ones() {
        // Past the scan limits lookups go through hash maps; the answers must not change.
        let mut declared = git();
        let mut v = live();
        for i in 0..40 {
            v["metadata"]["labels"][format!("extra-{i}")] = json!("x");
            v["spec"]["template"]["spec"]["containers"]
                .as_array_mut()
                .expect("containers")
                .insert(0, json!({"name": format!("sidecar-{i}"), "image": "s"}));
        }
        declared["metadata"]["labels"]["extra-7"] = json!("x");
        assert!(diff("Deployment", &declared, &v, &Options::default()).is_empty());
        v["metadata"]["labels"]["extra-7"] = json!("y");
        v["spec"]["template"]["spec"]["containers"][41]["image"] = json!("nginx:1.26");
        assert_eq!(
            paths(&diff("Deployment", &declared, &v, &Options::default())),
            [
                "metadata.labels.extra-7",
                "spec.template.spec.containers[name=web].image"
            ]
        );
        // Duplicate merge keys in the request: the first element is the one compared.
        let mut dup = live();
        let containers = dup["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .expect("containers");
        let mut shadow = containers[1].clone();
        shadow["image"] = json!("other");
        containers.push(shadow);
        for _ in 0..20 {
            containers.push(json!({"name": "pad"}));
        }
        assert!(diff("Deployment", &git(), &dup, &Options::default()).is_empty());
    }

    #[test]
    fn repeated_keys_in_a_request_read_as_serde_json_reads_them() {
        let git = Tree::from_value(&json!({"spec": {"replicas": 3}}));
        for (text, differs) in [
            (r#"{"spec":{"replicas":5,"replicas":3}}"#, false),
            (r#"{"spec":{"replicas":3,"replicas":5}}"#, true),
            (r#"{"spec":{"replicas":5},"spec":{"replicas":3}}"#, false),
        ] {
            let actual = Tree::from_json_object(text, |_| tree::Member::Keep).expect("json");
            let value: Value = serde_json::from_str(text).expect("json");
            let d = diff_nodes("Deployment", git.root(), actual.root(), &Options::default());
            assert_eq!(!d.is_empty(), differs, "{text}");
            assert_eq!(
                d,
                diff(
                    "Deployment",
                    &git.root().to_value(),
                    &value,
                    &Options::default()
                ),
                "{text}"
            );
        }
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
