//! Field paths as people read them (`spec.template.spec.containers[name=web].image`,
//! `metadata.labels["app.kubernetes.io/name"]`) and as the code walks them.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use super::tree::{Items, Node, Num, View};

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

/// A segment as the comparison holds it while walking: borrowed from Git's declaration, so
/// walking allocates nothing; made into a [`Segment`] only for a difference it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'a> {
    /// A key as its bytes in the encoded object (made text only for a report).
    Key(&'a [u8]),
    Item {
        field: &'static str,
        value: Cow<'a, str>,
        index: usize,
    },
}

impl Step<'_> {
    pub fn to_segment(&self) -> Segment {
        match self {
            Step::Key(k) => Segment::Key(String::from_utf8_lossy(k).into_owned()),
            Step::Item {
                field,
                value,
                index,
            } => Segment::Item {
                field,
                value: value.to_string(),
                index: *index,
            },
        }
    }
}

/// What an ignore pattern sees of a segment, owned or borrowed.
enum Seen<'s> {
    Key(&'s [u8]),
    Item { value: &'s str, index: usize },
}

impl<'s> From<&'s Segment> for Seen<'s> {
    fn from(seg: &'s Segment) -> Seen<'s> {
        match seg {
            Segment::Key(k) => Seen::Key(k.as_bytes()),
            Segment::Item { value, index, .. } => Seen::Item {
                value,
                index: *index,
            },
        }
    }
}

impl<'s> From<&'s Step<'_>> for Seen<'s> {
    fn from(step: &'s Step<'_>) -> Seen<'s> {
        match step {
            Step::Key(k) => Seen::Key(k),
            Step::Item { value, index, .. } => Seen::Item {
                value,
                index: *index,
            },
        }
    }
}

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

    /// [`Path::resolve`] in an encoded object.
    pub fn resolve_node<'a>(&self, mut node: Node<'a>) -> Option<Node<'a>> {
        for seg in &self.0 {
            node = match seg {
                Segment::Key(k) => node.get(k)?,
                Segment::Item {
                    field, value: v, ..
                } => match node.view() {
                    View::Array(items) => find_item(items, field, v)?,
                    _ => return None,
                },
            };
        }
        Some(node)
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

/// [`merge_key_value`] of an encoded element; borrowed unless the key is a number.
pub fn merge_key_of<'a>(item: Node<'a>, field: &str) -> Option<Cow<'a, str>> {
    match item.get(field)?.view() {
        View::String(s) => Some(Cow::Borrowed(s)),
        View::Number(n) => Some(Cow::Owned(number_text(n))),
        _ => None,
    }
}

/// A number as `serde_json` prints it (`80`, `80.5`, `80.0`), so `80` and `"80"` match as
/// merge keys either way.
fn number_text(n: Num) -> String {
    n.to_number().map(|n| n.to_string()).unwrap_or_default()
}

/// The first element of `items` whose merge key `field` is `value`.
pub fn find_item<'a>(items: Items<'a>, field: &str, value: &str) -> Option<Node<'a>> {
    let mut items = items;
    items.find(|item| merge_key_of(*item, field).as_deref() == Some(value))
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
        self.covers_seen(path.0.len(), path.0.iter().map(Seen::from))
    }

    /// [`Pattern::covers`] for the path a walk is at.
    pub fn covers_steps(&self, steps: &[Step<'_>]) -> bool {
        self.covers_seen(steps.len(), steps.iter().map(Seen::from))
    }

    fn covers_seen<'s>(&self, len: usize, segments: impl Iterator<Item = Seen<'s>>) -> bool {
        if self.0.len() > len {
            return false;
        }
        self.0.iter().zip(segments).all(|(pat, seg)| {
            pat == "*"
                || match seg {
                    Seen::Key(k) => pat.as_bytes() == k,
                    Seen::Item { value, index } => {
                        pat == value || pat.parse::<usize>().ok() == Some(index)
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
