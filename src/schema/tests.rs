//! The facts the comparison uses, spot-checked against Kubernetes' own markers in k8s.io/api
//! (the comments quoted are the Go sources').

use super::*;
use serde_json::json;

fn root(group: &str, version: &str, kind: &str) -> Shape<'static> {
    builtin()
        .root(group, version, kind)
        .unwrap_or_else(|| panic!("{group}/{version}/{kind} is in the schema"))
}

fn at(shape: Shape<'static>, path: &[&str]) -> Field<'static> {
    let mut field = Field {
        shape,
        zero_if_absent: false,
        default: None,
    };
    for step in path {
        field = if *step == "[]" {
            Field {
                shape: field.shape.element(),
                zero_if_absent: false,
                default: None,
            }
        } else {
            field.shape.member(step.as_bytes())
        };
    }
    field
}

fn pod_spec() -> Shape<'static> {
    at(root("", "v1", "Pod"), &["spec"]).shape
}

#[test]
fn the_embedded_schema_loads() {
    let schema = load_builtin().expect("loads");
    // 354 roots in 198 (group, kind) pairs, PROVENANCE.md counts.
    assert_eq!(schema.kinds().count(), 198);
    assert!(matches!(
        schema.object_meta().kind(),
        Kind::Struct(s) if s.field(b"labels").is_some()
    ));
}

#[test]
fn the_embedded_schema_is_the_shared_source() {
    // The embedded file must be the generated one, byte for byte (PROVENANCE.md says how).
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/k8s-schema/schema.json"
    );
    match std::fs::read_to_string(shared) {
        Ok(text) => assert!(
            text == builtin::SOURCE,
            "schema/kubernetes.json differs from {shared}"
        ),
        Err(e) => eprintln!("skipped: {shared} not readable ({e})"),
    }
}

#[test]
fn container_ports_are_keyed_by_port_and_protocol() {
    // +listType=map +listMapKey=containerPort +listMapKey=protocol
    let ports = at(pod_spec(), &["containers", "[]", "ports"]).shape;
    let Kind::List(list) = ports.kind() else {
        panic!("ports is a list");
    };
    assert_eq!(list.kind, ListKind::Map);
    assert_eq!(
        list.keys().collect::<Vec<_>>(),
        ["containerPort", "protocol"]
    );
    // +default="TCP": Git's `containerPort: 53` is 53/TCP.
    let protocol = list.of.member(b"protocol");
    assert_eq!(protocol.default.map(|d| d.to_value()), Some(json!("TCP")));
    let service_ports = at(root("", "v1", "Service"), &["spec", "ports"]).shape;
    let Kind::List(list) = service_ports.kind() else {
        panic!("ports is a list");
    };
    assert_eq!(list.keys().collect::<Vec<_>>(), ["port", "protocol"]);
}

#[test]
fn label_selectors_and_network_policy_peers_are_atomic() {
    // LabelSelector: +structType=atomic
    let selector = at(root("apps", "v1", "Deployment"), &["spec", "selector"]).shape;
    assert!(selector.is_atomic());
    let pod_selector = at(
        root("networking.k8s.io", "v1", "NetworkPolicy"),
        &["spec", "podSelector"],
    );
    assert!(pod_selector.shape.is_atomic());
    // NetworkPolicyIngressRule.from: +listType=atomic
    let from = at(
        root("networking.k8s.io", "v1", "NetworkPolicy"),
        &["spec", "ingress", "[]", "from"],
    );
    assert!(from.shape.is_atomic());
    // Lists without a merge key are atomic: args, command, tolerations, RBAC rules.
    for path in [
        &["containers", "[]", "args"][..],
        &["containers", "[]", "command"],
        &["tolerations"],
    ] {
        assert!(at(pod_spec(), path).shape.is_atomic(), "{path:?}");
    }
    assert!(at(
        root("rbac.authorization.k8s.io", "v1", "ClusterRole"),
        &["rules"]
    )
    .shape
    .is_atomic());
    // Granular: containers, env, labels.
    assert!(!at(pod_spec(), &["containers"]).shape.is_atomic());
    assert!(!at(pod_spec(), &["containers", "[]", "env"])
        .shape
        .is_atomic());
    assert!(!builtin().object_meta().member(b"labels").shape.is_atomic());
}

#[test]
fn pointers_keep_their_zero_and_omitempty_values_do_not() {
    // AllowPrivilegeEscalation *bool `json:",omitempty"`
    let escalation = at(
        pod_spec(),
        &[
            "containers",
            "[]",
            "securityContext",
            "allowPrivilegeEscalation",
        ],
    );
    assert!(matches!(escalation.shape.kind(), Kind::Leaf(Leaf::Bool)));
    assert!(!escalation.zero_if_absent);
    // HostNetwork bool `json:",omitempty"`
    let host_network = at(pod_spec(), &["hostNetwork"]);
    assert!(host_network.zero_if_absent);
    // *bool, *intstr.IntOrString, *EmptyDirVolumeSource: absent is not the zero.
    assert!(!at(pod_spec(), &["automountServiceAccountToken"]).zero_if_absent);
    let max_unavailable = at(
        root("policy", "v1", "PodDisruptionBudget"),
        &["spec", "maxUnavailable"],
    );
    assert!(matches!(
        max_unavailable.shape.kind(),
        Kind::Leaf(Leaf::IntOrString)
    ));
    assert!(!max_unavailable.zero_if_absent);
    let empty_dir = at(pod_spec(), &["volumes", "[]", "emptyDir"]);
    assert!(!empty_dir.zero_if_absent);
    // EnvVar.value string `json:",omitempty"`; map entries never.
    assert!(at(pod_spec(), &["containers", "[]", "env", "[]", "value"]).zero_if_absent);
    let labels = builtin().object_meta().member(b"labels");
    assert!(labels.zero_if_absent);
    assert!(!labels.shape.member(b"app").zero_if_absent);
}

#[test]
fn leaves_and_sets() {
    let limits = at(
        pod_spec(),
        &["containers", "[]", "resources", "limits", "cpu"],
    );
    assert!(matches!(limits.shape.kind(), Kind::Leaf(Leaf::Quantity)));
    let target_port = at(
        root("", "v1", "Service"),
        &["spec", "ports", "[]", "targetPort"],
    );
    assert!(matches!(
        target_port.shape.kind(),
        Kind::Leaf(Leaf::IntOrString)
    ));
    let finalizers = builtin().object_meta().member(b"finalizers").shape;
    assert!(matches!(finalizers.kind(), Kind::List(l) if l.kind == ListKind::Set));
    // VolumeSource is inlined into Volume.
    assert!(at(pod_spec(), &["volumes", "[]", "hostPath"])
        .shape
        .as_struct()
        .is_some());
}

#[test]
fn versions_resolve_and_fall_back() {
    let v2 = root("autoscaling", "v2", "HorizontalPodAutoscaler");
    assert!(v2
        .member(b"spec")
        .shape
        .member(b"metrics")
        .shape
        .as_struct()
        .is_none());
    assert!(builtin().root("apps", "v9", "Deployment").is_some_and(|d| d
        .member(b"spec")
        .shape
        .as_struct()
        .is_some()));
    assert!(builtin().root("example.com", "v1", "Widget").is_none());
}

#[test]
fn crd_schemas_carry_their_extensions() {
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "ports": {"type": "array", "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["port", "protocol"],
                        "items": {"type": "object", "properties": {
                            "port": {"type": "integer"},
                            "protocol": {"type": "string", "default": "TCP"}}}},
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "args": {"type": "array", "items": {"type": "string"}},
                    "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                        "properties": {"matchLabels": {"type": "object",
                            "additionalProperties": {"type": "string"}}}},
                    "size": {"x-kubernetes-int-or-string": true},
                    "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}}}]}
    });
    let schema = crd::from_crd(&crd).expect("a CRD");
    let spec = schema
        .root("example.com", "v1", "Widget")
        .expect("root")
        .member(b"spec")
        .shape;
    let Kind::List(ports) = spec.member(b"ports").shape.kind() else {
        panic!("ports is a list");
    };
    assert_eq!(ports.kind, ListKind::Map);
    assert_eq!(ports.keys().collect::<Vec<_>>(), ["port", "protocol"]);
    assert!(ports.of.member(b"protocol").default.is_some());
    assert!(matches!(spec.member(b"tags").shape.kind(), Kind::List(l) if l.kind == ListKind::Set));
    assert!(spec.member(b"args").shape.is_atomic());
    assert!(spec.member(b"selector").shape.is_atomic());
    assert!(matches!(
        spec.member(b"size").shape.kind(),
        Kind::Leaf(Leaf::IntOrString)
    ));
    assert!(matches!(spec.member(b"config").shape.kind(), Kind::Unknown));
    // Custom resources keep every zero.
    assert!(!spec.member(b"tags").zero_if_absent);
}
