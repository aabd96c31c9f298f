//! One CREATE, UPDATE or `scale` request against one declared object: the request's objects
//! read as far as the comparison needs them, compared over the kind's schema, each divergence
//! either introduced by the request (a violation) or already there (a warning).

use serde_json::Value;

use super::wire::{Error, Request};
use crate::drift::{self, FieldDiff};
use crate::encoded::{Node, Tree};
use crate::manifest::DeclaredObject;
use crate::schema::{self, Shape};
use crate::snapshot::Snapshot;

/// One declared field the request diverges on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Violation {
    /// Readable path: `spec.template.spec.containers[name=web].image`.
    pub path: String,
    pub git: Value,
    pub requested: Option<Value>,
    pub old: Option<Value>,
    /// For an atomic value: where it first differs, so a message can name the element and
    /// field instead of two long values shortened alike.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_difference: Option<FirstDifference>,
    /// The same path as the comparison walked it (empty for the whole object), for what
    /// works from a decision further: the Git change `suggest` writes, the audit record.
    #[serde(skip)]
    pub at: drift::Path,
}

/// Where an atomic value first differs from Git (or, for a value that matched Git and was
/// changed inside, from the stored object).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FirstDifference {
    pub path: String,
    /// Git's value there; the stored one when `changed`.
    pub git: Option<Value>,
    pub requested: Option<Value>,
    /// The value held Git's fields before and after; the request changed it inside, and Git
    /// owns it whole.
    pub changed: bool,
}

impl Violation {
    /// A violation about the whole object (DELETE, unmanaged): no path.
    pub fn whole_object() -> Violation {
        Violation {
            path: String::new(),
            git: Value::Null,
            requested: None,
            old: None,
            first_difference: None,
            at: drift::Path::root(),
        }
    }

    fn of(d: FieldDiff) -> Violation {
        let first_difference = d.within.map(|w| FirstDifference {
            path: w.path.to_string(),
            git: w.git,
            requested: w.actual,
            changed: w.changed,
        });
        Violation {
            path: d.path.to_string(),
            at: d.path,
            git: d.git,
            requested: d.actual,
            old: d.old,
            first_difference,
        }
    }
}

/// What the comparison found.
#[derive(Debug, Default)]
pub struct Compared {
    /// Divergence the request introduces.
    pub violations: Vec<Violation>,
    /// Divergence already there and left as it is.
    pub preexisting: Vec<Violation>,
    /// The request's `metadata`, for break-glass (made a `Value` only when there is drift).
    pub metadata: Option<Value>,
    /// Notes for the user (version skew).
    pub notes: Vec<String>,
}

/// Compares a CREATE or UPDATE (`scale` included) with `declared`. `skip` drops paths never
/// compared (driftgate's own annotations). `Ok(None)`: a scale of an object whose replicas Git
/// leaves to others.
pub fn compare(
    req: &Request,
    snapshot: &Snapshot,
    declared: &DeclaredObject,
    opts: &drift::Options,
    skip: impl Fn(&drift::Path) -> bool,
) -> Result<Option<Compared>, Error> {
    let mut out = Compared::default();
    let scale = req.sub_resource() == "scale";
    let git = declared.value.tree();
    // CREATE and UPDATE always carry the object; without it there is nothing to compare, and
    // allowing would let a malformed request through. Only what Git declares is read from it
    // (never status or managedFields), encoded for the walk: no `Value` for an in-sync request.
    let new = req.object_for(git)?.ok_or(Error::MissingObject {
        operation: req.operation.clone(),
    })?;
    let key = &declared.key;
    // A Scale carries only spec.replicas; it is compared with the parent's declaration
    // through small views of their own, over the Scale's schema (`replicas` omitted is 0).
    let (shape, views): (Shape, _) = if scale {
        if replicas(git).is_none() {
            return Ok(None);
        }
        let shape = schema::builtin()
            .root("autoscaling", "v1", "Scale")
            .unwrap_or(Shape::UNKNOWN);
        (shape, Some((replicas_view(git), replicas_view(new.root()))))
    } else {
        if !req.kind.version.is_empty() && req.kind.version != declared.version() {
            out.notes.push(format!(
                "version skew: the request is {}/{}, Git declares {}; compared by path",
                req.kind.group, req.kind.version, declared.api_version
            ));
        }
        let shape = snapshot
            .catalog
            .shape(&key.group, declared.version(), &key.kind);
        (shape, None)
    };
    let (declared_view, new_view) = match &views {
        Some((d, n)) => (d.root(), n.root()),
        None => (git, new.root()),
    };
    let kind = if scale { "Scale" } else { key.kind.as_str() };
    let diffs = if req.operation == "UPDATE" {
        // An in-sync request is answered from the new object alone.
        if !drift::needs_old(shape, kind, declared_view, new_view, opts) {
            Vec::new()
        } else {
            match req.old_object_for(git)? {
                Some(old) => {
                    let old_scale = scale.then(|| replicas_view(old.root()));
                    let old_view = old_scale.as_ref().unwrap_or(&old).root();
                    drift::diff_update(shape, kind, declared_view, new_view, old_view, opts)
                }
                // No stored object to tell what was there: every divergence is the request's.
                None => drift::diff_nodes(shape, kind, declared_view, new_view, opts),
            }
        }
    } else {
        drift::diff_nodes(shape, kind, declared_view, new_view, opts)
    };
    for d in diffs.into_iter().filter(|d| !skip(&d.path)) {
        if d.preexisting {
            out.preexisting.push(Violation::of(d));
        } else {
            out.violations.push(Violation::of(d));
        }
    }
    if !out.violations.is_empty() {
        out.metadata =
            Some(serde_json::json!({ "metadata": new.root().get("metadata").map(Node::to_value) }));
    }
    Ok(Some(out))
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
