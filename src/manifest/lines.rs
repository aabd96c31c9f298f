//! Where each declared value is written: the line of every scalar of an object, computed
//! once when its file is parsed (at sync time), so that a denial can say
//! `In Git: apps/web.yaml:12 replicas: 3 → 10` without reading Git on the request path.
//!
//! Held compactly: the lines of the object's scalars in pre-order (the order of the encoded
//! value), each as the varint of its zigzagged difference from the one before, about a byte a
//! value. An object whose text and value do not walk alike (an alias, a merge key) has none.

use serde_json::Value;

use crate::drift::path::{Path, Segment};
use crate::encoded::{Node, View};
use crate::yamledit::tree::{Kind, Node as Written};

/// The encoded lines of `value` as written at `node`; `None` when they do not walk alike.
pub fn encode(node: &Written, value: &Value) -> Option<Box<[u8]>> {
    let mut lines = Vec::new();
    walk(node, value, &mut lines)?;
    let mut out = Vec::with_capacity(lines.len());
    let mut previous = 0i64;
    for line in lines {
        let delta = line as i64 - previous;
        previous = line as i64;
        let mut zigzag = ((delta << 1) ^ (delta >> 63)) as u64;
        loop {
            let byte = (zigzag & 0x7f) as u8;
            zigzag >>= 7;
            if zigzag == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    Some(out.into_boxed_slice())
}

fn walk(node: &Written, value: &Value, lines: &mut Vec<usize>) -> Option<()> {
    match (&node.kind, value) {
        (Kind::Map { entries, .. }, Value::Object(map)) => {
            if entries.len() != map.len() {
                return None;
            }
            for (entry, (k, v)) in entries.iter().zip(map) {
                if entry.key.scalar_text() != Some(k.as_str()) {
                    return None;
                }
                walk(&entry.value, v, lines)?;
            }
            Some(())
        }
        (Kind::Seq { items, .. }, Value::Array(values)) => {
            if items.len() != values.len() {
                return None;
            }
            for (item, v) in items.iter().zip(values) {
                walk(item, v, lines)?;
            }
            Some(())
        }
        (Kind::Scalar { .. }, v) if !v.is_object() && !v.is_array() => {
            lines.push(node.line);
            Some(())
        }
        _ => None,
    }
}

/// Scalars in a value (what [`encode`] gives a line each).
fn leaves(node: Node) -> usize {
    match node.view() {
        View::Object(entries) => entries.into_iter().map(|(_, v)| leaves(v)).sum(),
        View::Array(items) => items.map(leaves).sum(),
        _ => 1,
    }
}

/// The line of the scalar at `path` of `root` (the declared object), read from `lines`.
pub fn line_of(lines: &[u8], root: Node, path: &Path) -> Option<usize> {
    let mut before = 0usize;
    let mut node = root;
    for segment in &path.0 {
        node = match (segment, node.view()) {
            (Segment::Key(k), View::Object(entries)) => {
                let mut found = None;
                for (key, v) in entries {
                    if key == k.as_str() {
                        found = Some(v);
                        break;
                    }
                    before += leaves(v);
                }
                found?
            }
            // The comparison names Git's element with its place in Git's list.
            (Segment::Item { index, .. } | Segment::Index(index), View::Array(items)) => {
                let mut found = None;
                for (i, item) in items.enumerate() {
                    if i == *index {
                        found = Some(item);
                        break;
                    }
                    before += leaves(item);
                }
                found?
            }
            _ => return None,
        };
    }
    if !matches!(node.view(), View::Object(_) | View::Array(_)) {
        nth(lines, before)
    } else {
        None
    }
}

/// The `n`th line (from 0) of an encoding.
fn nth(lines: &[u8], n: usize) -> Option<usize> {
    let mut line = 0i64;
    let mut shift = 0u32;
    let mut zigzag = 0u64;
    let mut index = 0usize;
    for byte in lines {
        zigzag |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 != 0 {
            shift += 7;
            continue;
        }
        let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        line += delta;
        if index == n {
            return usize::try_from(line).ok();
        }
        index += 1;
        shift = 0;
        zigzag = 0;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoded::Tree;
    use crate::manifest::yaml;

    #[test]
    fn each_scalar_keeps_its_line() {
        let text = "# c\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n      - name: log\n        image: busybox\n      - name: web\n        image: nginx\n        args: [a,\n          b]\n";
        let docs = crate::yamledit::tree::parse(text).expect("parses");
        let value = yaml::parse_documents(text).expect("reads").remove(0).value;
        let lines = encode(&docs[0].root, &value).expect("walks alike");
        assert!(lines.len() <= 10, "about a byte a value: {}", lines.len());
        let tree = Tree::from_value(&value);
        let path = |p: Path| line_of(&lines, tree.root(), &p);
        assert_eq!(path(Path::root().key("spec").key("replicas")), Some(6));
        assert_eq!(path(Path::root().key("metadata").key("name")), Some(4));
        let web = Path::root()
            .key("spec")
            .key("template")
            .key("spec")
            .key("containers")
            .item("name", "web".into(), 1);
        assert_eq!(path(web.key("image")), Some(13));
        assert_eq!(path(web.key("args")), None, "a list is not one value");
        assert_eq!(path(Path::root().key("spec").key("nothing")), None);
        // An alias expands in the value but not in the text: no lines at all.
        let aliased = "a: &x {b: 1}\nc: *x\n";
        let docs = crate::yamledit::tree::parse(aliased).expect("parses");
        let value = yaml::parse_documents(aliased)
            .expect("reads")
            .remove(0)
            .value;
        assert!(encode(&docs[0].root, &value).is_none());
    }
}
