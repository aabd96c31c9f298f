//! Field paths as people read them (`spec.template.spec.containers[name=web].image`,
//! `metadata.labels["app.kubernetes.io/name"]`) and as the code walks them.

use std::fmt;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    /// An element of a list-map, found by its merge key; `index` is its place in Git's list
    /// (so ignore patterns may use the index, the key value or `*`).
    Item {
        field: &'static str,
        value: String,
        index: usize,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(pub Vec<Segment>);

impl Path {
    pub fn root() -> Path {
        Path(Vec::new())
    }

    pub fn key(&self, key: &str) -> Path {
        let mut p = self.0.clone();
        p.push(Segment::Key(key.to_string()));
        Path(p)
    }

    pub fn item(&self, field: &'static str, value: String, index: usize) -> Path {
        let mut p = self.0.clone();
        p.push(Segment::Item {
            field,
            value,
            index,
        });
        Path(p)
    }

    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Segment::Key(k)) => Some(k),
            _ => None,
        }
    }

    pub fn has_key(&self, key: &str) -> bool {
        self.0
            .iter()
            .any(|s| matches!(s, Segment::Key(k) if k == key))
    }

    /// Finds the value at this path in another version of the object (old, new).
    pub fn resolve<'a>(&self, mut value: &'a Value) -> Option<&'a Value> {
        for seg in &self.0 {
            value = match seg {
                Segment::Key(k) => value.get(k.as_str())?,
                Segment::Item {
                    field, value: v, ..
                } => value
                    .as_array()?
                    .iter()
                    .find(|item| merge_key_value(item, field).as_deref() == Some(v.as_str()))?,
            };
        }
        Some(value)
    }

    /// JSON pointer form (merge-keyed items by their key value), for logs and annotations.
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        for seg in &self.0 {
            out.push('/');
            let raw = match seg {
                Segment::Key(k) => k.as_str(),
                Segment::Item { value, .. } => value.as_str(),
            };
            out.push_str(&raw.replace('~', "~0").replace('/', "~1"));
        }
        out
    }
}

/// The merge key's value of a list element as text (numbers too: `containerPort`).
pub fn merge_key_value(item: &Value, field: &str) -> Option<String> {
    match item.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn is_plain_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) if is_plain_key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Segment::Key(k) => write!(f, "[{}]", serde_json::Value::String(k.clone()))?,
                Segment::Item { field, value, .. } => write!(f, "[{field}={value}]")?,
            }
        }
        Ok(())
    }
}

/// An `ignore` path: a JSON pointer whose `*` segments match any one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(Vec<String>);

impl Pattern {
    pub fn parse(pointer: &str) -> Pattern {
        Pattern(
            pointer
                .split('/')
                .skip(1)
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect(),
        )
    }

    /// True when the pattern names this path or one of its ancestors.
    pub fn covers(&self, path: &Path) -> bool {
        if self.0.len() > path.0.len() {
            return false;
        }
        self.0.iter().zip(&path.0).all(|(pat, seg)| {
            pat == "*"
                || match seg {
                    Segment::Key(k) => pat == k,
                    Segment::Item { value, index, .. } => {
                        pat == value || pat.parse::<usize>().ok() == Some(*index)
                    }
                }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn display_forms() {
        let p = Path::root()
            .key("spec")
            .key("template")
            .key("spec")
            .key("containers")
            .item("name", "web".into(), 0)
            .key("image");
        assert_eq!(
            p.to_string(),
            "spec.template.spec.containers[name=web].image"
        );
        let p = Path::root()
            .key("metadata")
            .key("labels")
            .key("app.kubernetes.io/name");
        assert_eq!(
            p.to_string(),
            r#"metadata.labels["app.kubernetes.io/name"]"#
        );
        assert_eq!(p.pointer(), "/metadata/labels/app.kubernetes.io~1name");
    }

    #[test]
    fn resolve_by_merge_key() {
        let v = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let p = Path::root()
            .key("spec")
            .key("containers")
            .item("name", "b".into(), 0)
            .key("image");
        assert_eq!(p.resolve(&v), Some(&json!("y")));
    }

    #[test]
    fn patterns() {
        let p = Path::root()
            .key("spec")
            .key("containers")
            .item("name", "web".into(), 2)
            .key("image");
        assert!(Pattern::parse("/spec/containers/*/image").covers(&p));
        assert!(Pattern::parse("/spec/containers/web").covers(&p));
        assert!(Pattern::parse("/spec/containers/2/image").covers(&p));
        assert!(Pattern::parse("/spec").covers(&p));
        assert!(!Pattern::parse("/spec/containers/1").covers(&p));
        assert!(!Pattern::parse("/spec/replicas").covers(&p));
        let l = Path::root().key("metadata").key("annotations").key("a/b");
        assert!(Pattern::parse("/metadata/annotations/a~1b").covers(&l));
    }
}
