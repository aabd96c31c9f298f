//! Atomic units (`+listType=atomic`, `+structType=atomic`, `+mapType=atomic`, lists without a
//! merge key, and lists of values no schema describes): owned whole, so compared whole.
//!
//! Three questions are asked of them: does the request's value hold every field Git sets
//! ([`satisfies`]; what the apiserver defaults inside is free), is it Git's value and nothing
//! more ([`equivalent`]), and did the request change it at all ([`raw_equal`], presence
//! included, no normalisation). For a message, [`first_unsatisfied`] and [`first_change`] say
//! where two values first part, so a person sees the element and field, not two long values
//! shortened alike.

use serde_json::Value;

use crate::schema::{Kind, Leaf, Shape};

use super::normalize::{is_zero, leaf_equal, numbers_equal};
use super::path::Segment;
use crate::encoded::{Lookup, Node, RawEntries, View};

fn present(node: Option<Node>) -> Option<Node> {
    node.filter(|n| !n.is_null())
}

fn leaf_of(shape: Shape) -> Option<Leaf> {
    match shape.kind() {
        Kind::Leaf(leaf) => Some(leaf),
        _ => None,
    }
}

/// Every field `git` sets holds in `new`, read with `shape`. `zero_if_absent`: the apiserver
/// cannot tell this value's zero from its absence (see [`crate::schema::Field`]).
pub fn satisfies(shape: Shape, git: Node, new: Option<Node>, zero_if_absent: bool) -> bool {
    holds(shape, git, new, zero_if_absent)
}

/// `a` satisfies `b` and `b` satisfies `a`: the same value, up to normalisation.
pub fn equivalent(shape: Shape, a: Node, b: Node) -> bool {
    a.same(b) || (holds(shape, a, Some(b), false) && holds(shape, b, Some(a), false))
}

/// The last member named `key` of an object's members, as `serde_json` keeps repeated keys.
fn member<'a>(entries: &RawEntries<'a>, key: &[u8]) -> Option<Node<'a>> {
    entries
        .clone()
        .filter(|(k, _)| *k == key)
        .last()
        .map(|(_, v)| v)
}

/// [`satisfies`] without saying where: allocates nothing, and stops at the first field that
/// does not hold. Identical encodings hold at once.
fn holds(shape: Shape, git: Node, new: Option<Node>, zero_if_absent: bool) -> bool {
    if git.is_null() {
        return true;
    }
    let Some(new) = present(new) else {
        return zero_if_absent && is_zero(git);
    };
    if git.same(new) {
        return true;
    }
    match (git.view(), new.view()) {
        (View::Object(members), View::Object(in_new)) => {
            let in_new = in_new.raw();
            members.raw().all(|(k, v)| {
                let field = shape.member(k);
                holds(field.shape, v, member(&in_new, k), field.zero_if_absent)
            })
        }
        (View::Array(g), View::Array(n)) => {
            let of = shape.element();
            g.len() == n.len() && g.zip(n).all(|(gi, ni)| holds(of, gi, Some(ni), false))
        }
        (View::Object(_) | View::Array(_), _) | (_, View::Object(_) | View::Array(_)) => false,
        _ => leaf_equal(leaf_of(shape), git, new),
    }
}

/// Where `new` first fails to hold what `git` sets: the path below the unit, and the two
/// values there. `None` when it holds.
pub fn first_unsatisfied(shape: Shape, git: Node, new: Node) -> Option<Difference> {
    if holds(shape, git, Some(new), false) {
        return None;
    }
    let mut path = Vec::new();
    let (g, n) = first_unsatisfied_at(shape, git, Some(new), false, &mut path)?;
    Some(Difference {
        below: path,
        git: g,
        actual: n,
    })
}

/// Where two values part, below an atomic unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// Segments below the unit's path.
    pub below: Vec<Segment>,
    /// Git's value there (the stored one, for a change of a unit that matched Git).
    pub git: Option<Value>,
    /// The request's value there; `None` when the request lacks it.
    pub actual: Option<Value>,
}

type Parted = (Option<Value>, Option<Value>);

fn first_unsatisfied_at(
    shape: Shape,
    git: Node,
    new: Option<Node>,
    zero_if_absent: bool,
    path: &mut Vec<Segment>,
) -> Option<Parted> {
    if git.is_null() {
        return None;
    }
    let Some(new) = present(new) else {
        return if zero_if_absent && is_zero(git) {
            None
        } else {
            Some((Some(git.to_value()), None))
        };
    };
    let parted = || Some((Some(git.to_value()), Some(new.to_value())));
    match (git.view(), new.view()) {
        (View::Object(members), View::Object(_)) => {
            let in_new = Lookup::new(Some(new));
            for (k, v) in members {
                let field = shape.member(k.as_bytes());
                path.push(Segment::Key(k.to_string()));
                if let Some(found) =
                    first_unsatisfied_at(field.shape, v, in_new.get(k), field.zero_if_absent, path)
                {
                    return Some(found);
                }
                path.pop();
            }
            None
        }
        (View::Array(g), View::Array(n)) => {
            let of = shape.element();
            let (mut g, mut n) = (g, n);
            let mut i = 0;
            loop {
                match (g.next(), n.next()) {
                    (None, None) => return None,
                    (Some(gi), ni) => {
                        path.push(Segment::Index(i));
                        if let Some(found) = first_unsatisfied_at(of, gi, ni, false, path) {
                            return Some(found);
                        }
                        path.pop();
                    }
                    (None, Some(extra)) => {
                        // An element the request adds to an atomic list.
                        path.push(Segment::Index(i));
                        return Some((None, Some(extra.to_value())));
                    }
                }
                i += 1;
            }
        }
        (View::Object(_) | View::Array(_), _) | (_, View::Object(_) | View::Array(_)) => parted(),
        _ if leaf_equal(leaf_of(shape), git, new) => None,
        _ => parted(),
    }
}

/// The same JSON value as sent, presence included: what "the request changed it" means. Only
/// the form of a number and the order of an object's members are not a change.
pub fn raw_equal(a: Option<Node>, b: Option<Node>) -> bool {
    match (present(a), present(b)) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.same(b) || first_change_at(Some(a), Some(b), &mut Vec::new()).is_none()
        }
        _ => false,
    }
}

/// Where `new` first differs from `old` (both as sent): the path below the unit and the two
/// values there; `None` when they are the same.
pub fn first_change(old: Node, new: Node) -> Option<Difference> {
    let mut path = Vec::new();
    let (o, n) = first_change_at(Some(old), Some(new), &mut path)?;
    Some(Difference {
        below: path,
        git: o,
        actual: n,
    })
}

fn first_change_at(
    old: Option<Node>,
    new: Option<Node>,
    path: &mut Vec<Segment>,
) -> Option<Parted> {
    let (old, new) = match (present(old), present(new)) {
        (None, None) => return None,
        (Some(o), Some(n)) => (o, n),
        (o, n) => return Some((o.map(Node::to_value), n.map(Node::to_value))),
    };
    if old.same(new) {
        return None;
    }
    let parted = || Some((Some(old.to_value()), Some(new.to_value())));
    match (old.view(), new.view()) {
        (View::Number(a), View::Number(b)) if numbers_equal(a, b) => None,
        (View::Object(o), View::Object(n)) => {
            let (in_old, in_new) = (Lookup::new(Some(old)), Lookup::new(Some(new)));
            for (k, v) in o {
                path.push(Segment::Key(k.to_string()));
                if let Some(found) = first_change_at(Some(v), in_new.get(k), path) {
                    return Some(found);
                }
                path.pop();
            }
            for (k, v) in n {
                if present(in_old.get(k)).is_none() && !v.is_null() {
                    path.push(Segment::Key(k.to_string()));
                    return Some((None, Some(v.to_value())));
                }
            }
            None
        }
        (View::Array(o), View::Array(n)) => {
            let (mut o, mut n) = (o, n);
            let mut i = 0;
            loop {
                let (a, b) = (o.next(), n.next());
                if a.is_none() && b.is_none() {
                    return None;
                }
                path.push(Segment::Index(i));
                if let Some(found) = first_change_at(a, b, path) {
                    return Some(found);
                }
                path.pop();
                i += 1;
            }
        }
        _ => parted(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::path::Path;
    use crate::encoded::Tree;
    use crate::schema;
    use serde_json::json;

    fn tree(v: Value) -> Tree {
        Tree::from_value(&v)
    }

    fn peers() -> Shape<'static> {
        schema::builtin()
            .root("networking.k8s.io", "v1", "NetworkPolicy")
            .expect("NetworkPolicy")
            .member(b"spec")
            .shape
            .member(b"ingress")
            .shape
    }

    #[test]
    fn satisfies_allows_defaults_and_equivalent_does_not() {
        let tolerations = schema::builtin()
            .root("", "v1", "Pod")
            .expect("Pod")
            .member(b"spec")
            .shape
            .member(b"tolerations")
            .shape;
        let git = tree(json!([{"key": "a", "operator": "Exists"}]));
        let defaulted = tree(json!([{"key": "a", "operator": "Exists", "effect": ""}]));
        assert!(satisfies(
            tolerations,
            git.root(),
            Some(defaulted.root()),
            false
        ));
        // `effect: ""` is the zero of an omitempty string: nothing more than Git.
        assert!(equivalent(tolerations, git.root(), defaulted.root()));
        let other = tree(json!([{"key": "b", "operator": "Exists"}]));
        assert!(!satisfies(
            tolerations,
            git.root(),
            Some(other.root()),
            false
        ));
        let longer = tree(json!([{"key": "a", "operator": "Exists"}, {"key": "c"}]));
        assert!(!satisfies(
            tolerations,
            git.root(),
            Some(longer.root()),
            false
        ));
    }

    #[test]
    fn a_widened_peer_is_more_than_git_and_its_first_change_is_named() {
        let git = tree(json!([{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]));
        let wider = tree(
            json!([{"from": [{"podSelector": {"matchLabels": {"app": "web"}}, "namespaceSelector": {}}]}]),
        );
        assert!(satisfies(peers(), git.root(), Some(wider.root()), false));
        assert!(!equivalent(peers(), git.root(), wider.root()));
        let d = first_change(git.root(), wider.root()).expect("a change");
        assert_eq!(
            Path(d.below).to_string(),
            "[0].from[0].namespaceSelector".trim_start_matches('.')
        );
        assert_eq!((d.git, d.actual), (None, Some(json!({}))));
        assert!(!raw_equal(Some(git.root()), Some(wider.root())));
        let reordered = tree(json!([{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]));
        assert!(raw_equal(Some(git.root()), Some(reordered.root())));
    }

    #[test]
    fn the_first_unsatisfied_field_is_named_with_both_values() {
        let git = tree(json!([{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]));
        let other = tree(json!([{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]));
        let d = first_unsatisfied(peers(), git.root(), other.root()).expect("differs");
        assert_eq!(Path(d.below).to_string(), "[0].from[0].ipBlock.cidr");
        assert_eq!(
            (d.git, d.actual),
            (Some(json!("10.0.0.0/8")), Some(json!("0.0.0.0/0")))
        );
    }
}
