//! Lists owned per element: list-maps (elements matched by their key fields, never by
//! position, composite keys in order) and sets (elements matched by value).
//!
//! The apiserver accepts duplicate keys in some list-maps (two `env` entries named alike, with
//! a warning; the last takes effect), so every element of the request with a key Git declares
//! must hold Git's element, not just the first one found.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::schema::{Field, List, Shape};

use super::atomic;
use super::compare::Walk;
use super::path::Step;
use crate::encoded::{Items, Node, View};

/// Most key fields a list-map is matched by (Kubernetes uses two at most); a list with more is
/// compared whole.
const MAX_KEYS: usize = 4;

/// Lists up to this long are searched by scanning; longer ones (a request may carry 10,000
/// containers) through a hash map, so matching stays linear.
const SCAN_LIMIT: usize = 16;

type Key<'a> = [Option<Node<'a>>; MAX_KEYS];

fn present(node: Option<Node>) -> Option<Node> {
    node.filter(|n| !n.is_null())
}

/// Equal keys: each field the same string or the same number (or absent from both).
fn keys_equal(a: &Key, b: &Key) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| super::normalize::key_equal(*x, *y))
}

/// A hash agreeing with [`keys_equal`]: numbers by value, strings by bytes.
fn key_hash(key: &Key) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for part in key {
        match part.map(Node::view) {
            None | Some(View::Null) => 0u8.hash(&mut h),
            Some(View::String(s)) => (1u8, s).hash(&mut h),
            Some(View::Number(n)) => {
                let f = n.as_f64();
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    (2u8, f as i64).hash(&mut h);
                } else {
                    (3u8, f.to_bits()).hash(&mut h);
                }
            }
            Some(View::Bool(b)) => (4u8, b).hash(&mut h),
            // Objects and arrays never equal a key (see `key_equal`); one bucket for them.
            Some(_) => 5u8.hash(&mut h),
        }
    }
    h.finish()
}

/// A list's elements with their keys, read once, found by key. A key may hold the schema's
/// defaults, so it lives as long as the shorter of the two (`'k`).
struct Keyed<'k, 'a> {
    items: Vec<(Key<'k>, Node<'a>)>,
    by_hash: Option<HashMap<u64, Vec<usize>>>,
}

impl<'k, 'a: 'k> Keyed<'k, 'a> {
    fn new(items: Items<'a>, names: &[Box<str>], defaults: &Key<'k>) -> Keyed<'k, 'a> {
        let items: Vec<(Key<'k>, Node<'a>)> = items
            .map(|element| (key_of(element, names, defaults), element))
            .collect();
        let by_hash = (items.len() > SCAN_LIMIT).then(|| {
            let mut map: HashMap<u64, Vec<usize>> = HashMap::new();
            for (i, (key, _)) in items.iter().enumerate() {
                map.entry(key_hash(key)).or_default().push(i);
            }
            map
        });
        Keyed { items, by_hash }
    }

    /// The elements with this key, in list order.
    fn matching<'s>(&'s self, key: &'s Key<'_>) -> impl Iterator<Item = Node<'a>> + 's {
        // Every element when the list is scanned, else the key's bucket: no allocation.
        let (scan, bucket): (usize, &[usize]) = match &self.by_hash {
            Some(map) => (
                0,
                map.get(&key_hash(key))
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            ),
            None => (self.items.len(), &[]),
        };
        let candidates = (0..scan).chain(bucket.iter().copied());
        candidates.filter_map(move |i| {
            let (k, node) = self.items.get(i)?;
            keys_equal(k, key).then_some(*node)
        })
    }
}

/// The key fields' values of one element; a field it leaves out takes the schema's default
/// (Git's `containerPort: 53` is `53/TCP`, as the apiserver stores it).
fn key_of<'k>(element: Node<'k>, names: &[Box<str>], defaults: &Key<'k>) -> Key<'k> {
    let mut key: Key<'k> = [None; MAX_KEYS];
    // One pass over the element for all key fields; a repeated member replaces the earlier.
    if let View::Object(entries) = element.view() {
        for (k, v) in entries.raw() {
            if let Some(i) = names.iter().position(|n| n.as_bytes() == k) {
                if let Some(slot) = key.get_mut(i) {
                    *slot = Some(v);
                }
            }
        }
    }
    for (slot, default) in key.iter_mut().zip(defaults) {
        if present(*slot).is_none() {
            *slot = *default;
        }
    }
    key
}

impl<'g, 'r> Walk<'_, 'g, 'r> {
    /// Git's elements matched with the request's (and the stored object's) by key.
    pub(super) fn list_map(
        &mut self,
        shape: Shape<'g>,
        list: List<'g>,
        git: Node<'g>,
        new: Node<'r>,
        old: Option<Node<'r>>,
    ) {
        let names = list.key_names();
        let (View::Array(items), View::Array(new_items)) = (git.view(), new.view()) else {
            return self.report(git, Some(new), old, None);
        };
        if names.is_empty() || names.len() > MAX_KEYS {
            // Not matchable by key: owned whole.
            return self.atomic(shape, git, new, old);
        }
        let mut defaults: Key<'g> = [None; MAX_KEYS];
        if let Some(element) = list.of.as_struct() {
            for (i, name) in names.iter().enumerate() {
                defaults[i] = element.field(name.as_bytes()).and_then(|f| f.default);
            }
        }
        let keyed_git = Keyed::new(items.clone(), names, &defaults);
        let keyed_new = Keyed::new(new_items, names, &defaults);
        let keyed_old = match present(old).map(Node::view) {
            Some(View::Array(old_items)) => Some(Keyed::new(old_items, names, &defaults)),
            _ => None,
        };
        let element = Field {
            shape: list.of,
            zero_if_absent: false,
            default: None,
        };
        for (index, (key, item)) in keyed_git.items.iter().enumerate() {
            if self.found {
                return;
            }
            // Git's own duplicates are paired in order; a key Git declares once is held by
            // every element of the request that has it.
            let declared = keyed_git.matching(key).count();
            let nth = keyed_git
                .items
                .iter()
                .take(index)
                .filter(|(k, _)| keys_equal(k, key))
                .count();
            let old_nth = |t: usize| keyed_old.as_ref().and_then(|o| o.matching(key).nth(t));
            self.path.push(Step::Item {
                keys: names,
                of: list.of,
                element: *item,
                index,
            });
            if declared > 1 {
                let new_nth = keyed_new.matching(key).nth(nth);
                self.value(element, *item, new_nth, old_nth(nth));
            } else {
                let mut any = false;
                for (t, found) in keyed_new.matching(key).enumerate() {
                    any = true;
                    self.value(element, *item, Some(found), old_nth(t));
                }
                if !any {
                    self.value(element, *item, None, old_nth(0));
                }
            }
            self.path.pop();
        }
    }

    /// Git's elements of a set, each found by value in the request's.
    pub(super) fn set(
        &mut self,
        of: Shape<'g>,
        git: Items<'g>,
        new: Items<'r>,
        old: Option<Node<'r>>,
    ) {
        let old_items = match present(old).map(Node::view) {
            Some(View::Array(items)) => Some(items),
            _ => None,
        };
        for element in git {
            if self.found {
                return;
            }
            if element.is_null() || new.clone().any(|n| atomic::equivalent(of, element, n)) {
                continue;
            }
            let was = old_items
                .clone()
                .and_then(|mut items| items.find(|o| atomic::equivalent(of, element, *o)));
            if !self.ignored() {
                self.report(element, None, was, None);
            }
        }
    }
}
