//! One declared object's content, held compactly. A parsed `serde_json::Value` of a small
//! Deployment takes ~7.5 KB (an ordered map per object, a `String` per key and scalar); at
//! 100,000 objects that is the difference between ~750 MB and the 500 MB budget. What is kept is
//! the encoded form of `encoded` instead: about the size of the compact JSON text, and what
//! the comparison reads directly, so a request about a declared object costs no parse of it. A
//! `Value` is made only where one is needed: CRDs for the catalog, Flux objects for rendering.
//! Name and namespace, needed for every object's identity, are extracted once.

use std::sync::Arc;

use serde_json::Value;

use crate::encoded::{Node, Tree};

/// An object as written in Git (after rendering, YAML scalars resolved), encoded. Cloning shares
/// it: the parse cache, a source's last good state and the snapshot hold one copy, so a re-index
/// after one changed file costs a pointer per object.
#[derive(Debug, Clone)]
pub struct Declared(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    tree: Tree,
    name: Box<str>,
    /// `metadata.namespace` as written; empty when absent.
    namespace: Box<str>,
    /// The line of each value in the file that declares it (see `manifest::lines`); only
    /// for objects of plain manifest files.
    lines: Option<Box<[u8]>>,
}

impl Declared {
    pub fn new(value: &Value) -> Declared {
        let field = |pointer: &str| -> Box<str> {
            value
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into()
        };
        Declared(Arc::new(Inner {
            tree: Tree::from_value(value),
            name: field("/metadata/name"),
            namespace: field("/metadata/namespace"),
            lines: None,
        }))
    }

    /// [`Declared::new`], with the lines its values are written on (`manifest::lines`).
    pub fn with_lines(value: &Value, lines: Box<[u8]>) -> Declared {
        let mut declared = Declared::new(value);
        if let Some(inner) = Arc::get_mut(&mut declared.0) {
            inner.lines = Some(lines);
        }
        declared
    }

    /// The line of the file that holds the value at `path`, when it is one scalar of a plain
    /// manifest's object.
    pub fn line_of(&self, path: &crate::drift::Path) -> Option<usize> {
        super::lines::line_of(self.0.lines.as_deref()?, self.tree(), path)
    }

    /// The content as a `Value`, equal to the one this was made from (keys in the same order).
    /// It costs a `Value`'s allocations, so callers make it once and keep it while they need it;
    /// the comparison reads [`Declared::tree`] instead. Never fails; the `Result` is kept for
    /// callers written when the content was held as text.
    pub fn parse(&self) -> Result<Value, serde_json::Error> {
        Ok(self.tree().to_value())
    }

    /// The content, read in place.
    pub fn tree(&self) -> Node<'_> {
        self.0.tree.root()
    }

    /// `metadata.name`; empty when absent.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// `metadata.generateName`; `None` when absent or empty (read in place: few objects
    /// have one, so it is not kept beside the name).
    pub fn generate_name(&self) -> Option<&str> {
        self.tree()
            .get("metadata")?
            .get("generateName")?
            .as_str()
            .filter(|g| !g.is_empty())
    }

    /// `metadata.namespace` as written; `None` when absent or empty.
    pub fn namespace(&self) -> Option<&str> {
        Some(&*self.0.namespace).filter(|ns| !ns.is_empty())
    }

    /// The same shared content (a clone of this one), recognised without comparing content.
    pub fn ptr_eq(&self, other: &Declared) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Identity of the shared content, for sets of what an older snapshot held.
    pub fn as_ptr(&self) -> *const () {
        Arc::as_ptr(&self.0).cast()
    }
}

impl From<Value> for Declared {
    fn from(value: Value) -> Declared {
        Declared::new(&value)
    }
}

/// Same content, keys in the same order (the encoding is canonical, as the JSON text was).
impl PartialEq for Declared {
    fn eq(&self, other: &Declared) -> bool {
        self.ptr_eq(other) || self.0.tree == other.0.tree
    }
}

impl Eq for Declared {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_with_identity_and_order() {
        let value = json!({"metadata": {"namespace": "apps", "name": "web"}, "spec": {"z": 1, "a": 1.5, "s": "x\"y"}});
        let declared = Declared::new(&value);
        assert_eq!(declared.parse().expect("own text parses"), value);
        assert_eq!(declared.name(), "web");
        assert_eq!(declared.namespace(), Some("apps"));
        let text = declared.parse().expect("own content").to_string();
        assert!(text.find("\"z\"") < text.find("\"a\""));
        let none = Declared::new(&json!({"metadata": {"name": "n", "namespace": ""}}));
        assert_eq!(none.namespace(), None);
        assert_eq!(Declared::new(&json!({})).name(), "");
    }

    #[test]
    fn equality_is_by_content() {
        let a = Declared::new(&json!({"data": {"k": "v"}}));
        let b = Declared::new(&json!({"data": {"k": "v"}}));
        assert!(!a.ptr_eq(&b));
        assert_eq!(a, b);
        assert!(a.ptr_eq(&a.clone()));
        assert_ne!(a, Declared::new(&json!({"data": {"k": "w"}})));
    }
}
