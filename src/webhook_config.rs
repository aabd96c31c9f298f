//! The webhook registrations (`driftgate webhook-config`): a ValidatingWebhookConfiguration that
//! sends driftgate exactly the kinds Git declares, and a MutatingWebhookConfiguration for annotate
//! mode, both with the safety settings of `deploy/base/webhooks.yaml`.
//!
//! Registering kinds from Git (rather than `*`) keeps the apiserver from calling a fail-closed
//! webhook for Leases, Events and Pods that no repository declares; a kind that Git starts to
//! declare needs the output re-applied, which the deploy guide says.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations,
    ServiceReference, ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::ByteString;
use serde_json::Value;

use crate::manifest::split_api_version;
use crate::policy::Policy;
use crate::snapshot::Snapshot;

/// Name of both configuration objects.
pub const CONFIG_NAME: &str = "driftgate";
pub const VALIDATING_WEBHOOK: &str = "validate.driftgate.io";
pub const MUTATING_WEBHOOK: &str = "annotate.driftgate.io";
/// Well under the apiserver's default 10s request deadline, so a slow driftgate fails the one
/// webhook call, not the whole request.
pub const TIMEOUT_SECONDS: i32 = 5;
/// Namespaces never sent to driftgate: the control plane's and driftgate's own, so a broken
/// driftgate can always be repaired. Matched on `kubernetes.io/metadata.name`, which the
/// apiserver sets on every namespace and nobody can change.
pub const EXCLUDED_NAMESPACES: &[&str] = &["kube-system", "driftgate-system"];
/// Label the deploy guide uses to apply everything but the webhooks first.
pub const COMPONENT_LABEL: (&str, &str) = ("app.kubernetes.io/component", "webhook");

/// Built-in kinds with a `scale` subresource (CRDs say theirs in `subresources.scale`).
const SCALABLE: &[(&str, &str)] = &[
    ("", "replicationcontrollers"),
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the CA certificate {path}: {source} (create it with `driftgate certs`, or pass --ca)")]
    ReadCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a PEM certificate (expected a -----BEGIN CERTIFICATE----- block)")]
    NotPem { path: PathBuf },
    #[error("--url {0:?} must be an https:// URL without query or fragment (the apiserver calls only https)")]
    BadUrl(String),
    #[error("cannot write the webhook configurations as YAML: {0}")]
    Yaml(#[source] serde_saphyr::SerializeError),
    #[error("cannot write the webhook configurations as JSON: {0}")]
    Json(#[source] serde_json::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where the apiserver sends reviews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Service {
        name: String,
        namespace: String,
    },
    /// Base URL; `/validate` and `/mutate` are appended.
    Url(String),
}

impl Target {
    pub fn url(base: &str) -> Result<Target> {
        let trimmed = base.trim_end_matches('/');
        let ok = trimmed.starts_with("https://")
            && trimmed.len() > "https://".len()
            && !trimmed.contains(['?', '#']);
        if !ok {
            return Err(Error::BadUrl(base.to_string()));
        }
        Ok(Target::Url(trimmed.to_string()))
    }

    fn client_config(&self, path: &str, ca_pem: &[u8]) -> WebhookClientConfig {
        let ca_bundle = Some(ByteString(ca_pem.to_vec()));
        match self {
            Target::Service { name, namespace } => WebhookClientConfig {
                ca_bundle,
                service: Some(ServiceReference {
                    name: name.clone(),
                    namespace: namespace.clone(),
                    path: Some(path.to_string()),
                    port: Some(443),
                }),
                url: None,
            },
            Target::Url(base) => WebhookClientConfig {
                ca_bundle,
                service: None,
                url: Some(format!("{base}{path}")),
            },
        }
    }
}

/// Reads the CA whose PEM becomes `caBundle`; anything but a PEM certificate is refused here
/// rather than by the apiserver, which would only fail the first call.
pub fn read_ca(path: &Path) -> Result<Vec<u8>> {
    let pem = std::fs::read(path).map_err(|source| Error::ReadCa {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(&pem);
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::NotPem {
            path: path.to_path_buf(),
        });
    }
    Ok(pem)
}

/// The two configurations, plus what the operator should know about them.
#[derive(Debug, Clone)]
pub struct Registration {
    pub validating: ValidatingWebhookConfiguration,
    pub mutating: MutatingWebhookConfiguration,
    /// Kinds registered under a guessed plural, and similar notes for stderr.
    pub warnings: Vec<String>,
}

impl Registration {
    pub fn build(snapshot: &Snapshot, policy: &Policy, target: &Target, ca_pem: &[u8]) -> Self {
        let declared = DeclaredResources::of(snapshot);
        let conditions = match_conditions(policy, &snapshot.bypass_users);
        let meta = || ObjectMeta {
            name: Some(CONFIG_NAME.to_string()),
            labels: Some(
                [(COMPONENT_LABEL.0.to_string(), COMPONENT_LABEL.1.to_string())]
                    .into_iter()
                    .collect(),
            ),
            ..ObjectMeta::default()
        };
        let validating = ValidatingWebhookConfiguration {
            metadata: meta(),
            webhooks: Some(vec![ValidatingWebhook {
                name: VALIDATING_WEBHOOK.to_string(),
                admission_review_versions: vec!["v1".to_string()],
                side_effects: "NoneOnDryRun".to_string(),
                match_policy: Some("Equivalent".to_string()),
                timeout_seconds: Some(TIMEOUT_SECONDS),
                failure_policy: Some("Fail".to_string()),
                client_config: target.client_config("/validate", ca_pem),
                namespace_selector: Some(namespace_selector()),
                match_conditions: Some(conditions.clone()),
                rules: Some(declared.rules(&["CREATE", "UPDATE", "DELETE"], true)),
                object_selector: None,
            }]),
        };
        let mutating = MutatingWebhookConfiguration {
            metadata: meta(),
            webhooks: Some(vec![MutatingWebhook {
                name: MUTATING_WEBHOOK.to_string(),
                admission_review_versions: vec!["v1".to_string()],
                side_effects: "NoneOnDryRun".to_string(),
                match_policy: Some("Equivalent".to_string()),
                timeout_seconds: Some(TIMEOUT_SECONDS),
                // An annotation is never worth blocking a write for.
                failure_policy: Some("Ignore".to_string()),
                // The patch is idempotent, so a later webhook's change can be re-marked safely.
                reinvocation_policy: Some("IfNeeded".to_string()),
                client_config: target.client_config("/mutate", ca_pem),
                namespace_selector: Some(namespace_selector()),
                match_conditions: Some(conditions),
                rules: Some(declared.rules(&["CREATE", "UPDATE"], false)),
                object_selector: None,
            }]),
        };
        Registration {
            validating,
            mutating,
            warnings: declared.warnings,
        }
    }

    /// Two YAML documents, ready for `kubectl apply -f -`.
    pub fn to_yaml(&self) -> Result<String> {
        let validating = serde_saphyr::to_string(&self.validating).map_err(Error::Yaml)?;
        let mutating = serde_saphyr::to_string(&self.mutating).map_err(Error::Yaml)?;
        Ok(format!("{validating}---\n{mutating}"))
    }

    /// A `v1 List`, the JSON form kubectl applies.
    pub fn to_json(&self) -> Result<Value> {
        Ok(serde_json::json!({
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                serde_json::to_value(&self.validating).map_err(Error::Json)?,
                serde_json::to_value(&self.mutating).map_err(Error::Json)?,
            ],
        }))
    }
}

fn namespace_selector() -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "kubernetes.io/metadata.name".to_string(),
            operator: "NotIn".to_string(),
            values: Some(EXCLUDED_NAMESPACES.iter().map(|s| s.to_string()).collect()),
        }]),
        match_labels: None,
    }
}

/// The resources Git declares, by (group, version as declared) → plural resources.
struct DeclaredResources {
    by_group_version: BTreeMap<(String, String), BTreeSet<String>>,
    scalable: BTreeSet<(String, String)>,
    warnings: Vec<String>,
}

impl DeclaredResources {
    fn of(snapshot: &Snapshot) -> DeclaredResources {
        let mut scalable: BTreeSet<(String, String)> = SCALABLE
            .iter()
            .map(|(g, r)| (g.to_string(), r.to_string()))
            .collect();
        let mut by_group_version: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        let mut unguarded = 0usize;
        // Objects Git declares with `generateName` are registered like named ones.
        for object in snapshot.objects().chain(snapshot.untracked()) {
            if EXCLUDED_NAMESPACES.contains(&object.key.namespace.as_str()) {
                unguarded += 1;
            }
            let (group, version) = split_api_version(&object.api_version);
            let kind = object.key.kind.as_str();
            if kind == "CustomResourceDefinition" && group == "apiextensions.k8s.io" {
                let crd = object.value.parse().unwrap_or_default();
                if let Some(resource) = crd_scale(&crd) {
                    scalable.insert(resource);
                }
            }
            // The apiserver never calls webhooks for webhook configurations (so nothing can
            // block its own removal); admission policies are registered in case it does.
            let exempt = group == "admissionregistration.k8s.io"
                && matches!(
                    kind,
                    "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration"
                );
            if exempt || version.is_empty() || kind.is_empty() {
                continue;
            }
            let (plural, _) = snapshot.catalog.plural(group, kind);
            // A custom kind whose CRD is not in Git may have a `scale` subresource (`kubectl
            // scale rollout`); registering one it lacks matches nothing. A CRD in Git says.
            if crate::schema::builtin()
                .root(group, version, kind)
                .is_none()
                && !snapshot.catalog.has_crd(group, kind)
            {
                scalable.insert((group.to_string(), plural.clone()));
            }
            by_group_version
                .entry((group.to_string(), version.to_string()))
                .or_default()
                .insert(plural);
        }
        // Said once per kind, whatever the number of objects or versions declaring it.
        let mut warnings: Vec<String> = crate::kinds::guessed(
            &snapshot.catalog,
            snapshot
                .objects()
                .map(|o| (o.key.group.as_str(), o.key.kind.as_str(), &*o.file, o.line)),
        )
        .iter()
        .map(crate::kinds::Guess::message)
        .collect();
        if unguarded > 0 {
            warnings.push(format!(
                "Git declares {unguarded} object(s) in {}: the webhooks never see those \
                 namespaces, so edits there are not checked",
                EXCLUDED_NAMESPACES.join(" or ")
            ));
        }
        if by_group_version.is_empty() {
            warnings.push("Git declares no objects: the webhooks register no rules".to_string());
        }
        DeclaredResources {
            by_group_version,
            scalable,
            warnings,
        }
    }

    /// One rule per group/version; `with_scale` adds `<plural>/scale` for scalable kinds, which
    /// is how `kubectl scale` reaches a Deployment without touching the Deployment itself.
    fn rules(&self, operations: &[&str], with_scale: bool) -> Vec<RuleWithOperations> {
        self.by_group_version
            .iter()
            .map(|((group, version), plurals)| {
                let mut resources: Vec<String> = plurals.iter().cloned().collect();
                if with_scale {
                    for plural in plurals {
                        if self.scalable.contains(&(group.clone(), plural.clone())) {
                            resources.push(format!("{plural}/scale"));
                        }
                    }
                    resources.sort();
                }
                RuleWithOperations {
                    api_groups: Some(vec![group.clone()]),
                    api_versions: Some(vec![version.clone()]),
                    operations: Some(operations.iter().map(|o| o.to_string()).collect()),
                    resources: Some(resources),
                    scope: Some("*".to_string()),
                }
            })
            .collect()
    }
}

/// (group, plural) of a CRD that declares a `scale` subresource in any version (v1), or at the
/// top level (the old v1beta1 shape).
fn crd_scale(crd: &Value) -> Option<(String, String)> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?;
    let plural = spec.get("names")?.get("plural")?.as_str()?;
    let top = spec.pointer("/subresources/scale").is_some();
    let per_version = spec
        .get("versions")
        .and_then(Value::as_array)
        .is_some_and(|vs| {
            vs.iter()
                .any(|v| v.pointer("/subresources/scale").is_some())
        });
    (top || per_version).then(|| (group.to_string(), plural.to_string()))
}

/// `matchConditions` that skip the bypass identities (every condition must hold for the
/// apiserver to call driftgate). `extra_users` are the identities the snapshot adds (Flux
/// tenants' service accounts). driftgate checks bypass itself too: these only spare the calls.
pub fn match_conditions(policy: &Policy, extra_users: &[String]) -> Vec<MatchCondition> {
    let (users, prefixes, groups) = policy.bypass_identities();
    let users: BTreeSet<&String> = users.iter().chain(extra_users).collect();
    let mut conditions = Vec::new();
    if !users.is_empty() {
        conditions.push(MatchCondition {
            name: "not-bypassed-user".to_string(),
            expression: format!("!(request.userInfo.username in {})", cel_list(users)),
        });
    }
    if !prefixes.is_empty() {
        let any = prefixes
            .iter()
            .map(|p| format!("request.userInfo.username.startsWith({})", cel_string(p)))
            .collect::<Vec<_>>()
            .join(" || ");
        conditions.push(MatchCondition {
            name: "not-bypassed-user-prefix".to_string(),
            expression: format!("!({any})"),
        });
    }
    if !groups.is_empty() {
        conditions.push(MatchCondition {
            name: "not-bypassed-group".to_string(),
            expression: format!(
                "!request.userInfo.groups.exists(g, g in {})",
                cel_list(groups.iter())
            ),
        });
    }
    conditions
}

fn cel_list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| cel_string(s)).collect();
    format!("[{}]", items.join(", "))
}

/// A single-quoted CEL string literal; names with quotes or backslashes stay one literal.
fn cel_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests;
