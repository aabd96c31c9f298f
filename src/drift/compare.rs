//! The comparison server-side apply would make: does the request change a field Git's applier
//! owns, to a value other than Git's? Git's leaves and atomic units are walked beside the
//! request's object (and on UPDATE its stored object), with the schema saying how each is
//! owned. Anything the request adds outside an atomic unit (defaults, labels from others,
//! injected sidecars) is undeclared.
//!
//! An UPDATE is decided in two passes: a probe against the new object alone, which answers an
//! in-sync request without reading the stored object; then, only when something diverges or an
//! atomic unit holds more than Git, a walk of all three.

use serde_json::Value;

use crate::schema::{self, Field, Kind, ListKind, Shape};

use super::atomic::{self, Difference};
use super::normalize::{is_zero, leaf_equal};
use super::path::{Path, Pattern, Step};
use crate::encoded::{self, Entries, Node, Tree, View};

/// One declared field whose requested value differs from Git.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDiff {
    pub path: Path,
    /// Git's value.
    pub git: Value,
    /// The request's value; `None` when the request drops the field.
    pub actual: Option<Value>,
    /// UPDATE: the stored value (`None` when the stored object lacks it).
    pub old: Option<Value>,
    /// UPDATE: already so in the stored object (new = old ≠ Git): warned about, not denied.
    pub preexisting: bool,
    /// For an atomic value: where the two first part, below `path`.
    pub within: Option<Within>,
}

/// Where an atomic value first differs: a full path and the two values there.
#[derive(Debug, Clone, PartialEq)]
pub struct Within {
    pub path: Path,
    /// Git's value there (for a change inside a unit that matched Git: the stored value).
    pub git: Option<Value>,
    pub actual: Option<Value>,
    /// The unit held Git's fields before and after: the request changed it inside, and
    /// `git` is the stored value.
    pub changed: bool,
}

/// What the walk needs to know beyond the objects.
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

/// Differences between Git's object and a request's, as on CREATE, with the built-in schema of
/// the declared `apiVersion` and `kind` (no schema for other kinds).
pub fn diff(kind: &str, declared: &Value, actual: &Value, opts: &Options) -> Vec<FieldDiff> {
    let api_version = declared
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let (group, version) = crate::manifest::split_api_version(api_version);
    let shape = schema::builtin()
        .root(group, version, kind)
        .unwrap_or(Shape::UNKNOWN);
    let (declared, actual) = (Tree::from_value(declared), Tree::from_value(actual));
    diff_nodes(shape, kind, declared.root(), actual.root(), opts)
}

/// [`diff`] of encoded objects with a given root shape: a CREATE, or an UPDATE compared
/// without its stored object (every divergence is one the request introduces).
pub fn diff_nodes(
    shape: Shape,
    kind: &str,
    declared: Node,
    actual: Node,
    opts: &Options,
) -> Vec<FieldDiff> {
    let mut walk = Walk::new(opts, Mode::Create);
    walk.object(shape, kind, declared, actual, None);
    walk.out
}

/// UPDATE, first pass: false when the new object holds Git's value everywhere Git declares
/// one and no atomic unit holds more than Git, so the request is in sync whatever the stored
/// object was.
pub fn needs_old(shape: Shape, kind: &str, declared: Node, new: Node, opts: &Options) -> bool {
    let mut walk = Walk::new(opts, Mode::Probe);
    walk.object(shape, kind, declared, new, None);
    walk.found
}

/// UPDATE, second pass: the divergences of `new`, each classified against `old` (introduced,
/// or already there), and the changes inside atomic units that matched Git in `old`.
pub fn diff_update(
    shape: Shape,
    kind: &str,
    declared: Node,
    new: Node,
    old: Node,
    opts: &Options,
) -> Vec<FieldDiff> {
    let mut walk = Walk::new(opts, Mode::Update);
    walk.object(shape, kind, declared, new, Some(old));
    walk.out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// No stored object: every divergence is a violation; atomic units match when Git's
    /// fields hold.
    Create,
    /// Stop at the first thing that needs the stored object to decide.
    Probe,
    Update,
}

/// The walk's state: where it is (borrowed from Git's declaration and the schema), the members
/// of the request's objects it is in, and what it found. Children push their step and pop it
/// again, so a path is allocated only for a difference reported.
pub(super) struct Walk<'o, 'g, 'r> {
    pub(super) opts: &'o Options<'o>,
    pub(super) mode: Mode,
    pub(super) path: Vec<Step<'g>>,
    /// The members of the request's objects being walked, a frame a level: an object's members
    /// are read once, then each of Git's keys is looked up among them.
    pub(super) members: Vec<(&'r [u8], Node<'r>)>,
    pub(super) out: Vec<FieldDiff>,
    /// Probe: something needs the stored object; the walk stops.
    pub(super) found: bool,
    /// The object is being deleted: its finalizers are the deleters' to remove.
    terminating: bool,
    /// UPDATE: the walk is inside a value the request left exactly as stored, so whatever
    /// diverges there was already there (and the stored side is not read again).
    unchanged: usize,
}

pub(super) fn present(node: Option<Node>) -> Option<Node> {
    node.filter(|n| !n.is_null())
}

impl<'o, 'g, 'r> Walk<'o, 'g, 'r> {
    fn new(opts: &'o Options<'o>, mode: Mode) -> Self {
        Walk {
            opts,
            mode,
            path: Vec::new(),
            members: Vec::new(),
            out: Vec::new(),
            found: false,
            terminating: false,
            unchanged: 0,
        }
    }

    /// A whole object: Git's members less identity, `apiVersion`, `kind` and `status`.
    fn object(
        &mut self,
        shape: Shape<'g>,
        kind: &str,
        declared: Node<'g>,
        new: Node<'r>,
        old: Option<Node<'r>>,
    ) {
        let View::Object(decl) = declared.view() else {
            return;
        };
        self.terminating = new
            .get("metadata")
            .and_then(|m| m.get("deletionTimestamp"))
            .is_some_and(|t| !t.is_null());
        let is_secret = kind == "Secret";
        let top_new = self.open(Some(new));
        let top_old = self.open(old);
        for (key, value) in decl.raw() {
            match key {
                b"apiVersion" | b"kind" | b"status" => continue,
                b"data" | b"stringData" if is_secret && !self.opts.compare_secret_data => continue,
                b"stringData" if is_secret => {
                    self.secret_string_data(value, new, old);
                    continue;
                }
                _ => {}
            }
            let in_new = self.member(&top_new, key);
            let in_old = self.member(&top_old, key);
            self.path.push(Step::Key(key));
            if key == b"metadata" {
                self.metadata(value, in_new, in_old);
            } else {
                self.value(shape.member(key), value, in_new, in_old);
            }
            self.path.pop();
            if self.found {
                break;
            }
        }
        self.close(top_old);
        self.close(top_new);
    }

    pub(super) fn ignored(&self) -> bool {
        self.opts.ignore.iter().any(|p| p.covers_steps(&self.path))
    }

    pub(super) fn owned_path(&self) -> Path {
        Path(self.path.iter().map(Step::to_segment).collect())
    }

    /// Git's `metadata` less identity and server-owned fields, read with `ObjectMeta`'s schema
    /// whatever the kind (custom resources share it).
    fn metadata(&mut self, declared: Node<'g>, new: Option<Node<'r>>, old: Option<Node<'r>>) {
        let meta = schema::builtin().object_meta();
        let View::Object(entries) = declared.view() else {
            return self.value(Field::UNKNOWN, declared, new, old);
        };
        match present(new) {
            Some(n) if !n.is_object() => return self.report(declared, Some(n), old, None),
            _ => {}
        }
        let terminating = self.terminating;
        let owned = move |k: &[u8]| {
            SERVER_OWNED_METADATA.iter().any(|s| s.as_bytes() == k)
                // A terminating object may lose its finalizers, declared ones included.
                || (terminating && k == b"finalizers")
        };
        self.members_of(meta, entries, new, old, owned);
    }

    /// Each of Git's members compared with the request's member of the same name.
    fn members_of(
        &mut self,
        shape: Shape<'g>,
        declared: Entries<'g>,
        new: Option<Node<'r>>,
        old: Option<Node<'r>>,
        skip: impl Fn(&[u8]) -> bool,
    ) {
        let frame_new = self.open(new);
        let frame_old = self.open(old);
        for (k, v) in declared.raw() {
            if skip(k) {
                continue;
            }
            let (n, o) = (self.member(&frame_new, k), self.member(&frame_old, k));
            self.path.push(Step::Key(k));
            self.value(shape.member(k), v, n, o);
            self.path.pop();
            if self.found {
                break;
            }
        }
        self.close(frame_old);
        self.close(frame_new);
    }

    /// One declared value against the request's (and the stored one), as `field` owns it.
    pub(super) fn value(
        &mut self,
        field: Field<'g>,
        git: Node<'g>,
        new: Option<Node<'r>>,
        old: Option<Node<'r>>,
    ) {
        // A null in Git declares nothing (`creationTimestamp: null` and friends).
        if self.found || git.is_null() || self.ignored() {
            return;
        }
        let old = present(old);
        let Some(new) = present(new) else {
            if field.zero_if_absent && is_zero(git) {
                return;
            }
            return self.report(git, None, old, None);
        };
        if self.mode == Mode::Update
            && self.unchanged == 0
            && old.is_some_and(|o| o.same(new))
            && matches!(git.kind(), encoded::Kind::Object | encoded::Kind::Array)
        {
            self.unchanged += 1;
            self.value(field, git, Some(new), None);
            self.unchanged -= 1;
            return;
        }
        let shape = field.shape;
        // The tag alone tells a leaf: its text is decoded only when it differs.
        if !matches!(git.kind(), encoded::Kind::Object | encoded::Kind::Array) {
            let leaf = match shape.kind() {
                Kind::Leaf(leaf) => Some(leaf),
                _ => None,
            };
            if !leaf_equal(leaf, git, new) {
                self.report(git, Some(new), old, None);
            }
            return;
        }
        match git.view() {
            View::Object(entries) => {
                if shape.is_atomic() {
                    self.atomic(shape, git, new, old);
                } else if new.is_object() {
                    self.members_of(shape, entries, Some(new), old, |_| false);
                } else {
                    self.report(git, Some(new), old, None);
                }
            }
            View::Array(items) => match (shape.kind(), new.view()) {
                (Kind::List(list), View::Array(_)) if list.kind == ListKind::Map => {
                    self.list_map(shape, list, git, new, old);
                }
                (Kind::List(list), View::Array(new_items)) if list.kind == ListKind::Set => {
                    self.set(list.of, items, new_items, old);
                }
                (_, View::Array(_)) => self.atomic(shape, git, new, old),
                _ => self.report(git, Some(new), old, None),
            },
            _ => {}
        }
    }

    /// An atomic unit: Git's fields must hold in the request; on UPDATE, a unit that held them
    /// in the stored object is owned whole as it was (defaults included).
    pub(super) fn atomic(
        &mut self,
        shape: Shape<'g>,
        git: Node<'g>,
        new: Node<'r>,
        old: Option<Node<'r>>,
    ) {
        if let Some(d) = atomic::first_unsatisfied(shape, git, new) {
            let within = self.within(d, false);
            return self.report(git, Some(new), old, Some(within));
        }
        match self.mode {
            Mode::Create => {}
            Mode::Probe => self.found = !atomic::equivalent(shape, git, new),
            Mode::Update => {
                let Some(old) = old else { return };
                if atomic::equivalent(shape, git, new)
                    || !atomic::satisfies(shape, git, Some(old), false)
                {
                    return;
                }
                if let Some(d) = atomic::first_change(old, new) {
                    let within = self.within(d, true);
                    self.push(git, Some(new), Some(old), false, Some(within));
                }
            }
        }
    }

    fn within(&self, d: Difference, changed: bool) -> Within {
        let mut path = self.owned_path();
        path.0.extend(d.below);
        Within {
            path,
            git: d.git,
            actual: d.actual,
            changed,
        }
    }

    /// A divergence at the current path: on UPDATE a violation only when the request changed
    /// the value (presence included), else one already there.
    pub(super) fn report(
        &mut self,
        git: Node,
        new: Option<Node>,
        old: Option<Node>,
        within: Option<Within>,
    ) {
        match self.mode {
            Mode::Probe => self.found = true,
            Mode::Create => self.push(git, new, None, false, within),
            Mode::Update if self.unchanged > 0 => self.push(git, new, new, true, within),
            Mode::Update => {
                let preexisting = atomic::raw_equal(new, old);
                self.push(git, new, old, preexisting, within);
            }
        }
    }

    pub(super) fn push(
        &mut self,
        git: Node,
        new: Option<Node>,
        old: Option<Node>,
        preexisting: bool,
        within: Option<Within>,
    ) {
        self.out.push(FieldDiff {
            path: self.owned_path(),
            git: git.to_value(),
            actual: new.map(Node::to_value),
            old: old.map(Node::to_value),
            preexisting,
            within,
        });
    }
}

#[cfg(test)]
mod tests;
