//! Field paths as people read them (`spec.template.spec.containers[name=web].image`,
//! `ports[containerPort=53,protocol=UDP]`, `metadata.labels["app.kubernetes.io/name"]`) and as
//! the comparison walks them.

use std::fmt;

use crate::encoded::{Node, View};
use crate::schema::Shape;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    /// An element of a list-map, found by its key fields (a key Git leaves out shown with the
    /// default the apiserver gives it); `index` is its place in Git's list (so ignore patterns
    /// may use the index, the key or `*`).
    Item {
        keys: Vec<(String, String)>,
        index: usize,
    },
    /// An element of an atomic list, by position (inside an atomic value's first difference).
    Index(usize),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(pub Vec<Segment>);

/// A segment as the comparison holds it while walking: borrowed from Git's declaration and the
/// schema, so walking allocates nothing; made into a [`Segment`] only for a difference it
/// reports (or an ignore pattern to match).
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// A key as its bytes in the encoded object (made text only for a report).
    Key(&'a [u8]),
    /// Git's element `element` of a list-map keyed by `keys`, elements of shape `of`.
    Item {
        keys: &'a [Box<str>],
        of: Shape<'a>,
        element: Node<'a>,
        index: usize,
    },
}

impl Step<'_> {
    pub fn to_segment(&self) -> Segment {
        match self {
            Step::Key(k) => Segment::Key(String::from_utf8_lossy(k).into_owned()),
            Step::Item {
                keys,
                of,
                element,
                index,
            } => Segment::Item {
                keys: keys
                    .iter()
                    .filter_map(|k| {
                        let value = element
                            .get(k)
                            .filter(|v| !v.is_null())
                            .or_else(|| of.member(k.as_bytes()).default)?;
                        Some((k.to_string(), key_text(value)?))
                    })
                    .collect(),
                index: *index,
            },
        }
    }
}

/// A key field's value as text: strings as they are, numbers as JSON writes them.
pub fn key_text(node: Node) -> Option<String> {
    match node.view() {
        View::String(s) => Some(s.to_string()),
        View::Number(n) => n.to_number().map(|n| n.to_string()),
        View::Bool(b) => Some(b.to_string()),
        _ => None,
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

    /// A list-map element with one key field.
    pub fn item(&self, field: &str, value: String, index: usize) -> Path {
        let mut p = self.0.clone();
        p.push(Segment::Item {
            keys: vec![(field.to_string(), value)],
            index,
        });
        Path(p)
    }

    /// JSON pointer form (list-map elements by their key values, joined with `,`), for logs
    /// and annotations.
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        for seg in &self.0 {
            out.push('/');
            let raw = match seg {
                Segment::Key(k) => k.clone(),
                Segment::Item { keys, index } if keys.is_empty() => index.to_string(),
                Segment::Item { keys, .. } => keys
                    .iter()
                    .map(|(_, v)| v.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                Segment::Index(i) => i.to_string(),
            };
            out.push_str(&raw.replace('~', "~0").replace('/', "~1"));
        }
        out
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
                Segment::Item { keys, index } if keys.is_empty() => write!(f, "[{index}]")?,
                Segment::Item { keys, .. } => {
                    f.write_str("[")?;
                    for (n, (k, v)) in keys.iter().enumerate() {
                        if n > 0 {
                            f.write_str(",")?;
                        }
                        write!(f, "{k}={v}")?;
                    }
                    f.write_str("]")?;
                }
                Segment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// An `ignore` path: a JSON pointer whose `*` segments match any one segment. A list-map
/// element is matched by its index in Git's list, its key value (one key), its key values
/// joined with `,`, or `k=v,k2=v2` as paths print it.
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
        self.0
            .iter()
            .zip(&path.0)
            .all(|(pat, seg)| pat == "*" || segment_matches(pat, seg))
    }

    /// [`Pattern::covers`] for the path a walk is at.
    pub fn covers_steps(&self, steps: &[Step<'_>]) -> bool {
        if self.0.len() > steps.len() {
            return false;
        }
        self.0.iter().zip(steps).all(|(pat, step)| {
            pat == "*"
                || match step {
                    Step::Key(k) => pat.as_bytes() == *k,
                    item => segment_matches(pat, &item.to_segment()),
                }
        })
    }
}

fn segment_matches(pat: &str, seg: &Segment) -> bool {
    match seg {
        Segment::Key(k) => pat == k,
        Segment::Index(i) => pat.parse::<usize>().ok() == Some(*i),
        Segment::Item { keys, index } => {
            if pat.parse::<usize>().ok() == Some(*index) {
                return true;
            }
            let values: Vec<&str> = keys.iter().map(|(_, v)| v.as_str()).collect();
            let pairs: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
            !keys.is_empty() && (pat == values.join(",") || pat == pairs.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut ports = Path::root().key("ports");
        ports.0.push(Segment::Item {
            keys: vec![
                ("containerPort".into(), "53".into()),
                ("protocol".into(), "UDP".into()),
            ],
            index: 1,
        });
        assert_eq!(ports.to_string(), "ports[containerPort=53,protocol=UDP]");
        assert_eq!(ports.pointer(), "/ports/53,UDP");
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
        let mut ports = Path::root().key("ports");
        ports.0.push(Segment::Item {
            keys: vec![
                ("containerPort".into(), "53".into()),
                ("protocol".into(), "UDP".into()),
            ],
            index: 0,
        });
        assert!(Pattern::parse("/ports/53,UDP").covers(&ports));
        assert!(Pattern::parse("/ports/containerPort=53,protocol=UDP").covers(&ports));
        assert!(Pattern::parse("/ports/0").covers(&ports));
        assert!(!Pattern::parse("/ports/53").covers(&ports));
    }
}
