//! What the person wants Git to declare, from a denied request, from an object as the cluster
//! holds it, or from a recorded blocked edit. A request and an object go through the decision
//! itself (`admission::decide`) with a neutral policy, so the change covers exactly what the
//! comparison calls a difference; [`from_decision`] is the one place its output becomes a
//! change.

use serde_json::{json, Value};

use crate::admission::{self, Decision, Reason};
use crate::audit::changes;
use crate::audit::Record;
use crate::config::{Config, DryRun, Mode, Unmanaged};
use crate::drift::path::{Path, Segment};
use crate::manifest::{split_api_version, ObjectKey};
use crate::policy::Policy;
use crate::snapshot::Snapshot;
use crate::yamledit::{value, Step};

/// One declared field and what Git should declare there; `None` removes it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub path: Vec<Step>,
    pub value: Option<Value>,
}

impl FieldChange {
    /// `spec.template.spec.containers[name=web].image`.
    pub fn display(&self) -> String {
        value::display(&self.path)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Want {
    /// Declared fields to set or remove.
    Fields(Vec<FieldChange>),
    /// The object goes from Git.
    Delete,
    /// An object Git does not declare, as it should be added.
    Create(Value),
}

/// A wanted change of one object, and who asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub key: ObjectKey,
    pub want: Want,
    /// The user whose request (or record) this is; empty for an object read from a file.
    pub user: String,
}

/// Why nothing can be suggested for an input.
#[derive(Debug, thiserror::Error)]
pub enum Declined {
    #[error("not an AdmissionReview")]
    Review(#[source] admission::wire::Error),
    #[error("not an object")]
    Object(#[source] admission::wire::Error),
    #[error("not an object")]
    Yaml(#[source] crate::manifest::yaml::YamlError),
    #[error("not an object: the request carries no object")]
    NoObject,
    #[error("not an object: apiVersion, kind and metadata.name are required")]
    Unnamed,
    #[error("not an object: the input is empty")]
    Empty,
    #[error("not an object: {0} documents; give one object")]
    Documents(usize),
    #[error("{key}: Git manages nothing in namespace {namespace:?}, so there is no place beside its objects to add it")]
    UnmanagedNamespace { key: String, namespace: String },
    #[error("{0}: a cluster-scoped object Git does not declare; add it where your cluster-wide objects live")]
    ClusterScoped(String),
    #[error("the request is not about an object Git could declare ({0})")]
    NotAnObject(String),
    #[error("cannot suggest: values not kept in full (the record was written before values were kept, or they were over the record's size limit)")]
    ValuesNotKept,
}

/// The policy a suggestion compares with: the configured ignores and Secret handling, with
/// nobody bypassed and every object enforced, so who asked and how the object is configured
/// never hide a difference.
pub fn neutral_policy(config: &Config) -> Policy {
    let mut neutral = config.clone();
    neutral.mode = Mode::Enforce;
    neutral.unmanaged = Unmanaged::Deny;
    neutral.dry_run = DryRun::Enforce;
    neutral.presets.clear();
    neutral.bypass = Default::default();
    neutral.overrides.clear();
    neutral.break_glass.groups.clear();
    Policy::from_config(&neutral)
}

/// Path segments as the comparison reports them, as editor steps.
pub fn steps(path: &Path) -> Vec<Step> {
    path.0
        .iter()
        .map(|segment| match segment {
            Segment::Key(k) => Step::Key(k.clone()),
            // Git's element by its key fields (a key Git leaves out shows the apiserver's
            // default, which `Select` matches an absent field with); without keys, by place.
            Segment::Item { keys, index } if keys.is_empty() => Step::Index(*index),
            Segment::Item { keys, .. } => Step::Select(keys.clone()),
            Segment::Index(i) => Step::Index(*i),
        })
        .collect()
}

/// The change a decision asks for: each declared path where the request differs from Git
/// (introduced now or already present) with the request's value there, the object's removal
/// for a DELETE, the object itself for a CREATE Git does not declare. `None`: nothing differs.
pub fn from_decision(decision: &Decision, user: &str) -> Result<Option<Target>, Declined> {
    let Some(key) = decision.key.clone() else {
        return Ok(None);
    };
    let want = match decision.reason {
        Reason::Delete => Want::Delete,
        Reason::Unmanaged => {
            let object = decision
                .violations
                .iter()
                .find_map(|v| v.requested.clone())
                .ok_or(Declined::NoObject)?;
            Want::Create(object)
        }
        Reason::NotDeclared if decision.operation == "CREATE" && !key.namespace.is_empty() => {
            return Err(Declined::UnmanagedNamespace {
                namespace: key.namespace.clone(),
                key: key.to_string(),
            })
        }
        Reason::NotDeclared if decision.operation == "CREATE" => {
            return Err(Declined::ClusterScoped(key.to_string()))
        }
        _ => {
            let changes: Vec<FieldChange> = decision
                .violations
                .iter()
                .chain(&decision.preexisting)
                .filter(|v| !v.at.0.is_empty())
                .map(|v| FieldChange {
                    path: steps(&v.at),
                    value: v.requested.clone(),
                })
                .collect();
            if changes.is_empty() {
                return Ok(None);
            }
            Want::Fields(changes)
        }
    };
    Ok(Some(Target {
        key,
        want,
        user: user.to_string(),
    }))
}

/// From an AdmissionReview: the decision `/validate` would make, made for everyone.
pub fn from_review(
    body: &[u8],
    snapshot: &Snapshot,
    config: &Config,
) -> Result<Option<Target>, Declined> {
    let mut review = admission::Review::parse(body).map_err(Declined::Review)?;
    let user = std::mem::take(&mut review.request.user_info.username);
    review.request.user_info.groups.clear();
    // A dry-run still says what the person wants.
    review.request.dry_run = Some(false);
    let decision = admission::decide(&review.request, snapshot, &neutral_policy(config))
        .map_err(Declined::Review)?;
    if decision.reason == Reason::Subresource {
        return Ok(None);
    }
    from_decision(&decision, &user)
}

/// From an object as `kubectl get -o json|yaml` prints it: "make Git declare what the cluster
/// has now". Compared as an update without a stored object (every difference counts), or as
/// a create when Git does not declare it.
pub fn from_object(
    object: Value,
    snapshot: &Snapshot,
    config: &Config,
) -> Result<Option<Target>, Declined> {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let (api_version, kind, name) = (text("/apiVersion"), text("/kind"), text("/metadata/name"));
    if api_version.is_empty() || kind.is_empty() || name.is_empty() {
        return Err(Declined::Unnamed);
    }
    let (group, version) = split_api_version(api_version);
    let namespace = if snapshot.catalog.is_namespaced(group, kind) {
        let ns = text("/metadata/namespace");
        match ns {
            "" => config
                .sources
                .first()
                .map(|s| s.default_namespace.clone())
                .unwrap_or_default(),
            ns => ns.to_string(),
        }
    } else {
        String::new()
    };
    let key = ObjectKey::new(group, kind, &namespace, name);
    let operation = if snapshot.get(&key).is_some() {
        "UPDATE"
    } else {
        "CREATE"
    };
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "driftgate-suggest",
            "kind": {"group": group, "version": version, "kind": kind},
            // No resource: the key comes from the object's own kind.
            "resource": {"group": group, "version": version, "resource": ""},
            "name": name,
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": ""},
            "object": object,
        }
    });
    from_review(review.to_string().as_bytes(), snapshot, config)
        .map_err(|e| match e {
            Declined::Review(e) => Declined::Object(e),
            other => other,
        })
        .map(|target| {
            target.map(|t| Target {
                user: String::new(),
                ..t
            })
        })
}

/// From a recorded blocked edit: what it asked for, as the record kept it. A record that did
/// not keep the values in full (written before they were kept, a Secret's, or over the
/// record's size limit) gives [`Declined::ValuesNotKept`], never a change made from a
/// shortened value; a DELETE needs none.
pub fn from_record(record: &Record) -> Result<Option<Target>, Declined> {
    let key = ObjectKey::new(&record.group, &record.kind, &record.namespace, &record.name);
    let user = record.user.clone();
    if record.operation == "DELETE" {
        return Ok(Some(Target {
            key,
            want: Want::Delete,
            user,
        }));
    }
    let Some(changes) = record.changes.as_ref().filter(|c| c.complete) else {
        return Err(Declined::ValuesNotKept);
    };
    if let Some(whole) = changes.fields.iter().find(|f| f.path.is_empty()) {
        let object = whole.value.clone().ok_or(Declined::ValuesNotKept)?;
        return Ok(Some(Target {
            key,
            want: Want::Create(object),
            user,
        }));
    }
    let fields: Vec<FieldChange> = changes
        .fields
        .iter()
        .map(|f| FieldChange {
            path: f
                .path
                .iter()
                .map(|s| match s {
                    changes::Step::Key(k) => Step::Key(k.clone()),
                    changes::Step::Item(keys) => {
                        Step::Select(keys.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    }
                    changes::Step::Index(i) => Step::Index(*i),
                })
                .collect(),
            value: f.value.clone(),
        })
        .collect();
    if fields.is_empty() {
        return Ok(None);
    }
    Ok(Some(Target {
        key,
        want: Want::Fields(fields),
        user,
    }))
}

/// Reads an object from JSON or YAML text.
pub fn parse_object(text: &str) -> Result<Value, Declined> {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return Ok(value);
    }
    let mut docs = crate::manifest::yaml::parse_documents(text).map_err(Declined::Yaml)?;
    match docs.len() {
        1 => Ok(docs.remove(0).value),
        0 => Err(Declined::Empty),
        n => Err(Declined::Documents(n)),
    }
}
