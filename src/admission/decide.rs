//! The decision: a request and a snapshot in, an answer out. Pure and synchronous, so `check`
//! runs exactly what `/validate` runs, and the same inputs always give the same answer.

use std::sync::Arc;

use serde_json::Value;

use super::fields::{self, Compared};
use super::wire::{Error, Request};
use crate::config::{DryRun, Mode, Unmanaged};
use crate::drift;
use crate::manifest::{DeclaredObject, ObjectKey};
use crate::policy::Policy;
use crate::snapshot::Snapshot;

pub use super::fields::{FirstDifference, Violation};

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
        // `kubectl scale` of a custom kind whose CRD is not in Git.
        None => snapshot
            .guessed_kind(group, &req.resource.resource)?
            .to_string(),
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
    let found = snapshot
        .get(&key)
        .or_else(|| snapshot.get_unscoped(&key))
        .cloned();
    let Some(declared) = found else {
        if op == "CREATE" {
            if let Some(generated) = req.object_generate_name() {
                let candidates: Vec<Arc<DeclaredObject>> = snapshot
                    .untracked_for(&key.group, &key.kind, &key.namespace, &generated)
                    .cloned()
                    .collect();
                if !candidates.is_empty() {
                    return compare_declared(decision, req, snapshot, policy, &candidates);
                }
            }
        }
        if op == "CREATE"
            && !key.namespace.is_empty()
            && snapshot.is_managed_namespace(&key.namespace)
        {
            decision.reason = Reason::Unmanaged;
            match policy.unmanaged {
                Unmanaged::Allow => decision.reason = Reason::NotDeclared,
                Unmanaged::Warn | Unmanaged::Deny => {
                    // The whole object is what Git lacks: kept for the change that adds it (a
                    // malformed object still gets the unmanaged answer it always did).
                    let mut whole = Violation::whole_object();
                    whole.requested = req.object().ok().flatten();
                    decision.violations.push(whole);
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

    if op == "DELETE" {
        decision.declared = Some(declared);
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
        decision.violations.push(Violation::whole_object());
        let mode = decision.mode;
        finish(&mut decision, req, policy, mode, old.as_ref())?;
        return Ok(decision);
    }
    compare_declared(
        decision,
        req,
        snapshot,
        policy,
        std::slice::from_ref(&declared),
    )
}

/// CREATE and UPDATE of a declared object. Several candidates: a CREATE with `generateName`
/// that more than one of Git's `generateName` objects may be; the one it matches best is
/// compared (the first it matches entirely).
fn compare_declared(
    mut decision: Decision,
    req: &Request,
    snapshot: &Snapshot,
    policy: &Policy,
    candidates: &[Arc<DeclaredObject>],
) -> Result<Decision, Error> {
    let Some(key) = decision.key.clone() else {
        return Ok(decision);
    };
    let opts = drift::Options {
        ignore: policy.ignores_for(&key),
        compare_secret_data: policy.compare_secret_data,
    };
    let mut best: Option<(Compared, &Arc<DeclaredObject>)> = None;
    for declared in candidates {
        let Some(compared) = fields::compare(req, snapshot, declared, &opts, |path| {
            super::marks::is_own_annotation(path)
        })?
        else {
            // A scale of an object whose replicas Git leaves to others.
            decision.declared = Some(declared.clone());
            decision.reason = Reason::InSync;
            return Ok(decision);
        };
        let better = best
            .as_ref()
            .is_none_or(|(b, _)| compared.violations.len() < b.violations.len());
        let done = compared.violations.is_empty();
        if better {
            best = Some((compared, declared));
        }
        if done {
            break;
        }
    }
    let Some((compared, declared)) = best else {
        return Ok(decision);
    };
    decision.declared = Some(declared.clone());
    decision.notes.extend(compared.notes);
    decision.violations = compared.violations;
    decision.preexisting = compared.preexisting;
    if decision.violations.is_empty() {
        decision.reason = Reason::InSync;
        return Ok(decision);
    }
    decision.reason = Reason::Drift;
    let mode = decision.mode;
    // Break-glass reads the request's annotations: only metadata was made a `Value`.
    finish(&mut decision, req, policy, mode, compared.metadata.as_ref())?;
    Ok(decision)
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
