//! Built-in knowledge of Kubernetes resources: which kinds are cluster-scoped, and how the
//! plural resource names of a request (`deployments`, `deployments/scale`) map to kinds.
//! CRDs declared in Git extend both tables through [`Catalog`]; below them, a table of the
//! kinds GitOps repositories commonly carry (the table in `kinds/gitops.tsv`); below that, an English plural, a
//! guess that is said ([`guessed`]).

mod gitops;
mod plural;

pub use plural::{english_plural, guessed, Guess};

use std::collections::HashMap;
use std::sync::Arc;

use crate::schema::{self, Schema, Shape};

/// (group, plural resource, kind, namespaced)
const BUILT_IN: &[(&str, &str, &str, bool)] = &[
    ("", "bindings", "Binding", true),
    ("", "componentstatuses", "ComponentStatus", false),
    ("", "configmaps", "ConfigMap", true),
    ("", "endpoints", "Endpoints", true),
    ("", "events", "Event", true),
    ("", "limitranges", "LimitRange", true),
    ("", "namespaces", "Namespace", false),
    ("", "nodes", "Node", false),
    ("", "persistentvolumeclaims", "PersistentVolumeClaim", true),
    ("", "persistentvolumes", "PersistentVolume", false),
    ("", "pods", "Pod", true),
    ("", "podtemplates", "PodTemplate", true),
    ("", "replicationcontrollers", "ReplicationController", true),
    ("", "resourcequotas", "ResourceQuota", true),
    ("", "secrets", "Secret", true),
    ("", "serviceaccounts", "ServiceAccount", true),
    ("", "services", "Service", true),
    (
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
        "ValidatingAdmissionPolicy",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
        "ValidatingAdmissionPolicyBinding",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicies",
        "MutatingAdmissionPolicy",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicybindings",
        "MutatingAdmissionPolicyBinding",
        false,
    ),
    (
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
    ),
    ("apiregistration.k8s.io", "apiservices", "APIService", false),
    ("apps", "controllerrevisions", "ControllerRevision", true),
    ("apps", "daemonsets", "DaemonSet", true),
    ("apps", "deployments", "Deployment", true),
    ("apps", "replicasets", "ReplicaSet", true),
    ("apps", "statefulsets", "StatefulSet", true),
    (
        "autoscaling",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
    ),
    ("batch", "cronjobs", "CronJob", true),
    ("batch", "jobs", "Job", true),
    (
        "certificates.k8s.io",
        "certificatesigningrequests",
        "CertificateSigningRequest",
        false,
    ),
    ("coordination.k8s.io", "leases", "Lease", true),
    ("discovery.k8s.io", "endpointslices", "EndpointSlice", true),
    ("events.k8s.io", "events", "Event", true),
    (
        "flowcontrol.apiserver.k8s.io",
        "flowschemas",
        "FlowSchema",
        false,
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "prioritylevelconfigurations",
        "PriorityLevelConfiguration",
        false,
    ),
    ("networking.k8s.io", "ingressclasses", "IngressClass", false),
    ("networking.k8s.io", "ingresses", "Ingress", true),
    (
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
        true,
    ),
    ("networking.k8s.io", "ipaddresses", "IPAddress", false),
    ("networking.k8s.io", "servicecidrs", "ServiceCIDR", false),
    ("node.k8s.io", "runtimeclasses", "RuntimeClass", false),
    (
        "policy",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
    ),
    (
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "clusterroles",
        "ClusterRole",
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "rolebindings",
        "RoleBinding",
        true,
    ),
    ("rbac.authorization.k8s.io", "roles", "Role", true),
    ("resource.k8s.io", "deviceclasses", "DeviceClass", false),
    ("resource.k8s.io", "resourceclaims", "ResourceClaim", true),
    (
        "resource.k8s.io",
        "resourceclaimtemplates",
        "ResourceClaimTemplate",
        true,
    ),
    ("resource.k8s.io", "resourceslices", "ResourceSlice", false),
    (
        "scheduling.k8s.io",
        "priorityclasses",
        "PriorityClass",
        false,
    ),
    ("storage.k8s.io", "csidrivers", "CSIDriver", false),
    ("storage.k8s.io", "csinodes", "CSINode", false),
    (
        "storage.k8s.io",
        "csistoragecapacities",
        "CSIStorageCapacity",
        true,
    ),
    ("storage.k8s.io", "storageclasses", "StorageClass", false),
    (
        "storage.k8s.io",
        "volumeattachments",
        "VolumeAttachment",
        false,
    ),
    (
        "storage.k8s.io",
        "volumeattributesclasses",
        "VolumeAttributesClass",
        false,
    ),
];

/// One resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub group: String,
    pub plural: String,
    pub kind: String,
    pub namespaced: bool,
}

/// The built-in table plus the CRDs a snapshot declares.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// group → plural → resource. Nested rather than keyed by a pair so a lookup with `&str`s
    /// allocates nothing: it runs per request and per declared object at every sync.
    by_plural: HashMap<String, HashMap<String, Resource>>,
    /// group → kind → resource.
    by_kind: HashMap<String, HashMap<String, Resource>>,
    /// group → kind → the schema of a CRD declared in Git (shared between snapshots).
    schemas: HashMap<String, HashMap<String, Arc<Schema>>>,
}

impl Catalog {
    pub fn built_in() -> Catalog {
        let mut catalog = Catalog::default();
        for (group, plural, kind, namespaced) in BUILT_IN {
            catalog.add(Resource {
                group: group.to_string(),
                plural: plural.to_string(),
                kind: kind.to_string(),
                namespaced: *namespaced,
            });
        }
        for (group, kind, plural, namespaced) in gitops::common() {
            catalog.add(Resource {
                group: group.to_string(),
                plural: plural.to_string(),
                kind: kind.to_string(),
                namespaced,
            });
        }
        catalog
    }

    /// The plural resource of a kind, and whether it is a guess (no CRD, not in the tables).
    pub fn plural(&self, group: &str, kind: &str) -> (String, bool) {
        match self.by_kind(group, kind) {
            Some(resource) => (resource.plural.clone(), false),
            None => (english_plural(kind), true),
        }
    }

    pub fn add(&mut self, resource: Resource) {
        self.by_plural
            .entry(resource.group.clone())
            .or_default()
            .insert(resource.plural.clone(), resource.clone());
        self.by_kind
            .entry(resource.group.clone())
            .or_default()
            .insert(resource.kind.clone(), resource);
    }

    /// Adds a CustomResourceDefinition object as declared in Git; returns false if it is not one.
    pub fn add_crd(&mut self, crd: &serde_json::Value) -> bool {
        let spec = &crd["spec"];
        let (Some(group), Some(plural), Some(kind)) = (
            spec["group"].as_str(),
            spec["names"]["plural"].as_str(),
            spec["names"]["kind"].as_str(),
        ) else {
            return false;
        };
        self.add(Resource {
            group: group.to_string(),
            plural: plural.to_string(),
            kind: kind.to_string(),
            namespaced: spec["scope"].as_str() != Some("Cluster"),
        });
        if let Some(schema) = schema::crd::from_crd(crd) {
            self.schemas
                .entry(group.to_string())
                .or_default()
                .insert(kind.to_string(), Arc::new(schema));
        }
        true
    }

    /// The schema of `kind` at `version`: its CRD's when Git declares one, else the built-in
    /// one, else none (a custom resource whose CRD is not in Git: granular maps, atomic lists,
    /// absence never a zero).
    pub fn shape(&self, group: &str, version: &str, kind: &str) -> Shape<'_> {
        if let Some(crd) = self.schemas.get(group).and_then(|k| k.get(kind)) {
            return crd.root(group, version, kind).unwrap_or(Shape::UNKNOWN);
        }
        schema::builtin()
            .root(group, version, kind)
            .unwrap_or(Shape::UNKNOWN)
    }

    /// The table or a CRD says this kind's scope.
    pub fn knows(&self, group: &str, kind: &str) -> bool {
        self.by_kind(group, kind).is_some()
    }

    /// Git declares this kind's CRD (so its schema and subresources are known).
    pub fn has_crd(&self, group: &str, kind: &str) -> bool {
        self.schemas
            .get(group)
            .is_some_and(|k| k.contains_key(kind))
    }

    pub fn by_resource(&self, group: &str, plural: &str) -> Option<&Resource> {
        self.by_plural.get(group)?.get(plural)
    }

    pub fn by_kind(&self, group: &str, kind: &str) -> Option<&Resource> {
        self.by_kind.get(group)?.get(kind)
    }

    /// Unknown kinds count as namespaced: a namespaced guess keeps `metadata.namespace` in the
    /// key, which is what a CRD not declared in Git most often is.
    pub fn is_namespaced(&self, group: &str, kind: &str) -> bool {
        self.by_kind(group, kind)
            .map(|r| r.namespaced)
            .unwrap_or(true)
    }

    pub fn resources(&self) -> impl Iterator<Item = &Resource> {
        self.by_kind.values().flat_map(HashMap::values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_lookups() {
        let c = Catalog::built_in();
        assert_eq!(
            c.by_resource("apps", "deployments")
                .map(|r| r.kind.as_str()),
            Some("Deployment")
        );
        assert!(!c.is_namespaced("", "Namespace"));
        assert!(!c.is_namespaced("rbac.authorization.k8s.io", "ClusterRole"));
        assert!(c.is_namespaced("", "ConfigMap"));
    }

    #[test]
    fn crds_extend_the_table() {
        let mut c = Catalog::built_in();
        let crd = serde_json::json!({"spec": {"group": "example.com", "scope": "Cluster",
            "names": {"plural": "widgets", "kind": "Widget"}}});
        assert!(c.add_crd(&crd));
        assert!(!c.is_namespaced("example.com", "Widget"));
        assert_eq!(
            c.by_resource("example.com", "widgets")
                .map(|r| r.kind.as_str()),
            Some("Widget")
        );
    }
}
