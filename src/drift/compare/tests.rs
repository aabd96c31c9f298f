use super::*;
use crate::encoded;
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
    v["spec"]["template"]["spec"]["containers"][1]["env"] = json!([{"name": "B", "value": "2"}]);
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
    // An atomic list names where it first differs, with both values.
    let within = d[4].within.as_ref().expect("atomic");
    assert_eq!(
        within.path.to_string(),
        "spec.template.spec.containers[name=web].args[0]"
    );
    assert_eq!(
        (&within.git, &within.actual),
        (&Some(json!("--x")), &Some(json!("--y")))
    );
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
}

#[test]
fn every_element_with_a_declared_key_must_hold_git() {
    // The apiserver accepts duplicate keys (the last one takes effect): a second `web`
    // container or `A` variable is compared with Git like the first, however long the list.
    for pad in [0, 20] {
        let mut dup = live();
        let containers = dup["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .expect("containers");
        let mut shadow = containers[1].clone();
        shadow["image"] = json!("other");
        for _ in 0..pad {
            containers.push(json!({"name": "pad"}));
        }
        containers.push(shadow);
        let d = diff("Deployment", &git(), &dup, &Options::default());
        assert_eq!(
            paths(&d),
            ["spec.template.spec.containers[name=web].image"],
            "{pad}"
        );
        assert_eq!(d[0].actual, Some(json!("other")));
    }
    let mut env = live();
    env["spec"]["template"]["spec"]["containers"][1]["env"] = json!([
        {"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "A", "value": "evil"}
    ]);
    assert_eq!(
        paths(&diff("Deployment", &git(), &env, &Options::default())),
        ["spec.template.spec.containers[name=web].env[name=A].value"]
    );
}

#[test]
fn repeated_keys_in_a_request_read_as_serde_json_reads_them() {
    let git = Tree::from_value(&json!({"spec": {"replicas": 3}}));
    let shape = schema::builtin()
        .root("apps", "v1", "Deployment")
        .expect("Deployment");
    for (text, differs) in [
        (r#"{"spec":{"replicas":5,"replicas":3}}"#, false),
        (r#"{"spec":{"replicas":3,"replicas":5}}"#, true),
        (r#"{"spec":{"replicas":5},"spec":{"replicas":3}}"#, false),
    ] {
        let actual = Tree::from_json_object(text, |_| encoded::Member::Keep).expect("json");
        let value: Value = serde_json::from_str(text).expect("json");
        let d = diff_nodes(
            shape,
            "Deployment",
            git.root(),
            actual.root(),
            &Options::default(),
        );
        assert_eq!(!d.is_empty(), differs, "{text}");
        let mut declared = git.root().to_value();
        declared["apiVersion"] = json!("apps/v1");
        assert_eq!(
            d,
            diff("Deployment", &declared, &value, &Options::default()),
            "{text}"
        );
    }
}

#[test]
fn service_ports_by_port_and_protocol() {
    let git = json!({"apiVersion": "v1", "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}});
    let live = json!({"spec": {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 80, "targetPort": 8080, "protocol": "TCP"}]}});
    assert!(diff("Service", &git, &live, &Options::default()).is_empty());
    let changed = json!({"spec": {"ports": [{"port": 443}, {"port": 80, "targetPort": 9090}]}});
    assert_eq!(
        paths(&diff("Service", &git, &changed, &Options::default())),
        ["spec.ports[port=80,protocol=TCP].targetPort"]
    );
    // 80/UDP is another element than Git's 80 (TCP by default).
    let udp = json!({"spec": {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 80, "targetPort": 8080, "protocol": "UDP"}]}});
    assert_eq!(
        paths(&diff("Service", &git, &udp, &Options::default())),
        ["spec.ports[port=80,protocol=TCP]"]
    );
}
