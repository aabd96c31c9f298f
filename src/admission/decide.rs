//! The decision: a request and a snapshot in, an answer out. Pure and synchronous, so `check`
//! runs exactly what `/validate` runs, and the same inputs always give the same answer.

use std::sync::Arc;

use serde_json::Value;

use super::wire::{Error, Request};
use crate::config::{DryRun, Mode, Unmanaged};
use crate::drift::{self, FieldDiff, Node, Path, Tree};
use crate::manifest::{DeclaredObject, ObjectKey};
use crate::policy::Policy;
use crate::snapshot::Snapshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allowed,
    Warned,
    Denied,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Warned => "warned",
            Verdict::Denied => "denied",
        }
    }
}

/// Why the decision came out as it did (metrics label, audit, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    Bypassed,
    /// CONNECT or an operation driftgate does not know.
    NotGuarded,
    /// `status` and other subresources that do not carry declared fields.
    Subresource,
    ModeOff,
    NotDeclared,
    InSync,
    Drift,
    Delete,
    Unmanaged,
    BreakGlass,
}

/// One declared field the request diverges on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Violation {
    /// Readable path: `spec.template.spec.containers[name=web].image`.
    pub path: String,
    /// The same path as the comparison walked it (empty for the whole object), for what
    /// works from a decision further: the Git change `suggest` writes, the audit record.
    #[serde(skip)]
    pub at: Path,
    pub git: Value,
    pub requested: Option<Value>,
    pub old: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct Decision {
    pub verdict: Verdict,
    pub reason: Reason,
    pub operation: String,
    pub key: Option<ObjectKey>,
    pub declared: Option<Arc<DeclaredObject>>,
    /// Divergence this request introduces.
    pub violations: Vec<Violation>,
    /// Divergence already present before this request (warned, never denied).
    pub preexisting: Vec<Violation>,
    pub mode: Mode,
    pub dry_run: bool,
    pub break_glass: Option<String>,
    /// Version skew and other notes for the user.
    pub notes: Vec<String>,
    pub revision: String,
}

impl Decision {
    fn new(req: &Request, snapshot: &Snapshot, reason: Reason) -> Decision {
        Decision {
            verdict: Verdict::Allowed,
            reason,
            operation: req.operation.clone(),
            key: None,
            declared: None,
            violations: Vec::new(),
            preexisting: Vec::new(),
            mode: Mode::Enforce,
            dry_run: req.is_dry_run(),
            break_glass: None,
            notes: Vec::new(),
            revision: snapshot.revision_label().to_string(),
        }
    }

    /// The readable paths of the divergence this request introduces (a whole-object violation,
    /// DELETE or unmanaged, has none).
    pub fn violation_paths(&self) -> Vec<&str> {
        self.violations
            .iter()
            .filter(|v| !v.path.is_empty())
            .map(|v| v.path.as_str())
            .collect()
    }

    /// Denied, warned and break-glass requests are recorded; dry-runs never are.
    pub fn should_audit(&self) -> bool {
        !self.dry_run && (self.verdict != Verdict::Allowed || self.break_glass.is_some())
    }
}

/// The object key a request is about. Subresources map back to their parent through the
/// resource table, because `request.kind` of a scale request is `autoscaling/v1 Scale`.
pub fn request_key(req: &Request, snapshot: &Snapshot) -> Option<ObjectKey> {
    let group = req.resource.group.as_str();
    let kind = match snapshot.catalog.by_resource(group, &req.resource.resource) {
        Some(resource) => resource.kind.clone(),
        None if req.sub_resource().is_empty() && !req.kind.kind.is_empty() => req.kind.kind.clone(),
        None => return None,
    };
    let name = req
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| req.object_name())
        .unwrap_or_default();
    let namespace = if snapshot.catalog.is_namespaced(group, &kind) {
        // Old captures omit request.namespace; the object still says where it lives.
        req.namespace
            .clone()
            .filter(|ns| !ns.is_empty())
            .or_else(|| req.object_namespace())
            .unwrap_or_default()
    } else {
        String::new()
    };
    Some(ObjectKey {
        group: group.to_string(),
        kind,
        namespace,
        name,
    })
}

pub fn decide(req: &Request, snapshot: &Snapshot, policy: &Policy) -> Result<Decision, Error> {
    if policy.is_bypassed(&req.user_info, &snapshot.bypass_users) {
        return Ok(Decision::new(req, snapshot, Reason::Bypassed));
    }
    let op = req.operation.as_str();
    if !matches!(op, "CREATE" | "UPDATE" | "DELETE") {
        return Ok(Decision::new(req, snapshot, Reason::NotGuarded));
    }
    let sub = req.sub_resource();
    if !(sub.is_empty() || sub == "scale" && op == "UPDATE") {
        return Ok(Decision::new(req, snapshot, Reason::Subresource));
    }
    let Some(key) = request_key(req, snapshot) else {
        return Ok(Decision::new(req, snapshot, Reason::NotDeclared));
    };
    let mut decision = Decision::new(req, snapshot, Reason::NotDeclared);
    decision.mode = policy.mode_for(&key);
    decision.key = Some(key.clone());
    if decision.mode == Mode::Off {
        decision.reason = Reason::ModeOff;
        return Ok(decision);
    }
    let Some(declared) = snapshot.get(&key).cloned() else {
        if op == "CREATE"
            && !key.namespace.is_empty()
            && snapshot.is_managed_namespace(&key.namespace)
        {
            decision.reason = Reason::Unmanaged;
            match policy.unmanaged {
                Unmanaged::Allow => decision.reason = Reason::NotDeclared,
                Unmanaged::Warn | Unmanaged::Deny => {
                    // The whole object is what Git lacks: kept for the change that adds it.
                    decision.violations.push(Violation {
                        path: String::new(),
                        at: Path::root(),
                        git: Value::Null,
                        // A malformed object still gets the unmanaged answer it always did.
                        requested: req.object().ok().flatten(),
                        old: None,
                    });
                    let mode = if policy.unmanaged == Unmanaged::Warn {
                        Mode::Warn
                    } else {
                        decision.mode
                    };
                    finish(&mut decision, req, policy, mode, None)?;
                }
            }
        }
        return Ok(decision);
    };
    decision.declared = Some(declared.clone());

    match op {
        "DELETE" => {
            let old = req.old_object()?;
            let terminating = old
                .as_ref()
                .and_then(|o| o.pointer("/metadata/deletionTimestamp"))
                .is_some_and(|t| !t.is_null());
            if terminating {
                decision.reason = Reason::InSync;
                return Ok(decision);
            }
            decision.reason = Reason::Delete;
            decision.violations.push(Violation {
                path: String::new(),
                at: Path::root(),
                git: Value::Null,
                requested: None,
                old: None,
            });
            let mode = decision.mode;
            finish(&mut decision, req, policy, mode, old.as_ref())?;
        }
        _ => {
            // CREATE and UPDATE always carry the object; without it there is nothing to compare,
            // and allowing would let a malformed request through.
            let scale = sub == "scale";
            // Git's object is read in place, and only what Git declares is read from the
            // request (never status or managedFields), encoded for the walk: no `Value` is built
            // for an in-sync request.
            let git = declared.value.tree();
            let new = req.object_for(git)?.ok_or(Error::MissingObject {
                operation: req.operation.clone(),
            })?;
            let ignore = policy.ignores_for(&key);
            let opts = drift::Options {
                ignore,
                compare_secret_data: policy.compare_secret_data,
            };
            // A Scale carries only spec.replicas; it is compared with the parent's declaration
            // through small views of their own.
            let views = if scale {
                if replicas(git).is_none() {
                    decision.reason = Reason::InSync;
                    return Ok(decision);
                }
                Some((replicas_view(git), replicas_view(new.root())))
            } else {
                if !req.kind.version.is_empty() && req.kind.version != declared.version() {
                    decision.notes.push(format!(
                        "version skew: the request is {}/{}, Git declares {}; compared by path",
                        req.kind.group, req.kind.version, declared.api_version
                    ));
                }
                None
            };
            let (declared_view, new_view) = match &views {
                Some((d, n)) => (d.root(), n.root()),
                None => (git, new.root()),
            };
            let diffs: Vec<FieldDiff> =
                drift::diff_nodes(&key.kind, declared_view, new_view, &opts)
                    .into_iter()
                    .filter(|d| !super::annotate::is_own_annotation(&d.path))
                    .collect();
            if !diffs.is_empty() {
                // The stored object only matters for classifying a divergence, so an in-sync
                // request never reads it.
                let old = req.old_object_for(git)?;
                let old_scale = old
                    .as_ref()
                    .filter(|_| scale)
                    .map(|o| replicas_view(o.root()));
                let old_view = old_scale.as_ref().or(old.as_ref()).map(Tree::root);
                for d in diffs {
                    classify(&mut decision, d, new_view, old_view, op);
                }
            }
            if decision.violations.is_empty() {
                decision.reason = Reason::InSync;
                return Ok(decision);
            }
            decision.reason = Reason::Drift;
            let mode = decision.mode;
            // Break-glass reads the request's annotations: only metadata is made a `Value`.
            let metadata =
                serde_json::json!({ "metadata": new.root().get("metadata").map(Node::to_value) });
            finish(&mut decision, req, policy, mode, Some(&metadata))?;
        }
    }
    Ok(decision)
}

/// `spec.replicas` of an object.
fn replicas(object: Node) -> Option<Node> {
    object.get("spec")?.get("replicas")
}

/// A Scale's view of an object: just `spec.replicas`.
fn replicas_view(object: Node) -> Tree {
    Tree::from_value(
        &serde_json::json!({"spec": {"replicas": replicas(object).map(Node::to_value)}}),
    )
}

/// UPDATE: only divergence the request introduces is a violation. A field already diverged in
/// the stored object and left as it is (new = old ≠ Git) is warned about, not denied.
fn classify(decision: &mut Decision, d: FieldDiff, new: Node, old: Option<Node>, op: &str) {
    let old_node = old.and_then(|o| d.path.resolve_node(o));
    // Compare the stored forms (a Secret's diff carries decoded text, the objects base64).
    let preexisting = op == "UPDATE"
        && old.is_some()
        && drift::normalize::nodes_equal(
            d.path.resolve_node(new),
            old_node,
            drift::normalize::Ctx::of(&d.path),
        );
    let v = Violation {
        path: display_path(&d.path),
        at: d.path,
        git: d.git,
        requested: d.actual,
        old: old_node.map(Node::to_value),
    };
    if preexisting {
        decision.preexisting.push(v);
    } else {
        decision.violations.push(v);
    }
}

fn display_path(path: &Path) -> String {
    path.to_string()
}

/// Applies break-glass, dry-run and the mode to a request with violations.
fn finish(
    decision: &mut Decision,
    req: &Request,
    policy: &Policy,
    mode: Mode,
    object_for_break_glass: Option<&Value>,
) -> Result<(), Error> {
    if let Some(reason) = policy.break_glass(&req.user_info, object_for_break_glass) {
        decision.break_glass = Some(reason);
        decision.reason = Reason::BreakGlass;
        decision.verdict = Verdict::Warned;
        return Ok(());
    }
    decision.mode = mode;
    decision.verdict = match mode {
        Mode::Off => Verdict::Allowed,
        Mode::Warn => Verdict::Warned,
        Mode::Enforce if decision.dry_run && policy.dry_run == DryRun::Warn => Verdict::Warned,
        Mode::Enforce => Verdict::Denied,
    };
    Ok(())
}
