//! From "this document's value becomes that one" to the fewest text changes: the positioned
//! nodes and the new value are walked together; an equal subtree is left alone, a changed
//! scalar is rewritten in place, a missing key or list element is inserted beside its siblings
//! with their indentation, a dropped one is cut out with its nested block, and only a change of
//! type rewrites a value whole. Every change is a byte range of the original text and its
//! replacement; nothing is applied here.

mod align;
mod map;
mod seq;

use serde_json::Value;

use super::render::{self, Layout};
use super::scalar::{self, Written};
use super::tree::{self, Kind, Node, Style};
use super::value::{same, Step};

/// One change to the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replace {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Why a value cannot be edited safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub path: Vec<Step>,
    pub reason: String,
}

/// What holds a value, for writing a replacement in the right place and indentation.
#[derive(Debug, Clone, Copy)]
enum Owner {
    /// The value of a block mapping entry; `region` is just past its `:`.
    MapValue,
    /// An item of a block list; `region` is just past its `-`.
    SeqItem,
    /// Inside a flow collection: only flow notation.
    Flow,
    /// A document's root.
    Root,
}

#[derive(Debug, Clone, Copy)]
struct Place {
    owner: Owner,
    region: usize,
    /// Column of the key or dash that owns the value.
    col: usize,
}

pub struct Rewriter<'t> {
    text: &'t str,
    layout: Layout,
    newline: &'static str,
    pub edits: Vec<Replace>,
    path: Vec<Step>,
}

type Result<T = ()> = std::result::Result<T, Refusal>;

impl<'t> Rewriter<'t> {
    pub fn new(text: &'t str, layout: Layout, newline: &'static str) -> Rewriter<'t> {
        Rewriter {
            text,
            layout,
            newline,
            edits: Vec::new(),
            path: Vec::new(),
        }
    }

    fn refuse(&self, reason: impl Into<String>) -> Refusal {
        Refusal {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn replace(&mut self, start: usize, end: usize, text: String) {
        self.edits.push(Replace { start, end, text });
    }

    /// Replaces `start..end` with text of several lines: what followed the old value on its
    /// last line (a comment) moves up to the end of the new first line, so it does not end up
    /// inside the new block.
    fn replace_lines(&mut self, start: usize, end: usize, text: String) {
        let line_end = tree::line_end(self.text, end);
        let rest_end = line_end
            - self.text[..line_end]
                .len()
                .saturating_sub(self.text[..line_end].trim_end_matches(['\n', '\r']).len());
        let rest = &self.text[end..rest_end.max(end)];
        if !text.contains('\n') || rest.trim().is_empty() {
            self.replace(start, end, text);
            return;
        }
        let (first, others) = text.split_at(text.find(['\r', '\n']).unwrap_or(text.len()));
        self.replace(start, rest_end, format!("{first}{rest}{others}"));
    }

    /// Rewrites a document's root from `old` (its value as the reader reads it) to `new`.
    pub fn document(&mut self, root: &Node, old: &Value, new: &Value) -> Result {
        let place = Place {
            owner: Owner::Root,
            region: root.start,
            col: tree::column(self.text, root.start),
        };
        self.node(root, old, new, place)
    }

    fn node(&mut self, node: &Node, old: &Value, new: &Value, place: Place) -> Result {
        if same(old, new) {
            return Ok(());
        }
        if matches!(node.kind, Kind::Alias) {
            return Err(self.refuse(
                "the value is an alias (*name) of a value elsewhere; change it where the anchor is",
            ));
        }
        if node.aliased {
            return Err(self.refuse("the value carries an anchor (&name) that aliases elsewhere use; changing it would change them too"));
        }
        if node.tagged {
            return Err(self.refuse("the value carries an explicit tag (!!type)"));
        }
        match (&node.kind, old, new) {
            (Kind::Map { flow, entries }, Value::Object(old), Value::Object(new))
                if !new.is_empty() =>
            {
                self.map(node, *flow, entries, old, new, place)
            }
            (Kind::Seq { flow, items }, Value::Array(old), Value::Array(new))
                if !new.is_empty() =>
            {
                self.seq(node, *flow, items, old, new, place)
            }
            (
                Kind::Scalar {
                    style,
                    empty: false,
                    ..
                },
                _,
                new,
            ) if !render::is_block_collection(new)
                && !matches!(style, Style::Literal | Style::Folded) =>
            {
                let flow = matches!(place.owner, Owner::Flow);
                match scalar::write(new, Some(*style), flow) {
                    Written::Inline(s) => {
                        self.replace(node.start, node.end, s);
                        Ok(())
                    }
                    Written::Block { .. } => self.whole(node, new, place),
                }
            }
            _ => self.whole(node, new, place),
        }
    }

    /// Refuses to drop or rewrite a subtree holding an anchor that aliases elsewhere use.
    fn keeps_anchors(&self, nodes: &[&Node]) -> Result {
        if nodes.iter().any(|n| holds_aliased(n)) {
            return Err(self.refuse("the value holds an anchor (&name) that aliases elsewhere use"));
        }
        Ok(())
    }

    /// Rewrites a value whole: a change of type, or of notation the value needs.
    fn whole(&mut self, node: &Node, new: &Value, place: Place) -> Result {
        self.keeps_anchors(&[node])?;
        let nl = self.newline;
        let old_flow = matches!(
            node.kind,
            Kind::Map { flow: true, .. } | Kind::Seq { flow: true, .. }
        );
        if matches!(place.owner, Owner::Flow) || (old_flow && render::is_block_collection(new)) {
            self.replace(node.start, node.end, render::flow(new));
            return Ok(());
        }
        if render::is_block_collection(new) {
            let text = match place.owner {
                Owner::MapValue => {
                    let indent = match new {
                        Value::Array(_) => place.col + self.layout.seq_indent,
                        _ => place.col + self.layout.step,
                    };
                    format!("{nl}{}", render::block(new, indent, self.layout).join(nl))
                }
                Owner::SeqItem => {
                    let lines = render::item_lines(new, place.col, self.layout);
                    let joined = lines.join(nl);
                    format!(" {}", &joined[place.col + 2..])
                }
                Owner::Root | Owner::Flow => {
                    let lines = render::block(new, place.col, self.layout);
                    lines.join(nl)[place.col..].to_string()
                }
            };
            let start = match place.owner {
                Owner::Root => node.start,
                _ => place.region,
            };
            self.replace_lines(start, node.end.max(start), text);
            return Ok(());
        }
        // A scalar or an empty collection: on the key's (or dash's) line.
        let indent = match place.owner {
            Owner::SeqItem => place.col + 2,
            _ => place.col + self.layout.step,
        };
        let written = match new {
            Value::Object(m) if m.is_empty() => Written::Inline("{}".into()),
            Value::Array(a) if a.is_empty() => Written::Inline("[]".into()),
            scalar_value => scalar::write(scalar_value, None, false),
        };
        let text = match written {
            Written::Inline(s) => s,
            Written::Block { header, lines } => {
                let pad = " ".repeat(indent);
                let body: Vec<String> = lines
                    .into_iter()
                    .map(|l| if l.is_empty() { l } else { format!("{pad}{l}") })
                    .collect();
                format!("{header}{nl}{}", body.join(nl))
            }
        };
        match place.owner {
            Owner::Root => self.replace_lines(node.start, node.end, text),
            // An empty value (`key:`) lies before its colon: nothing of it is replaced.
            _ => self.replace_lines(place.region, node.end.max(place.region), format!(" {text}")),
        }
        Ok(())
    }
    /// Inserts whole lines at a line start `at` (the text's end when its last line has no
    /// line break: the break goes before the new lines then, and none after).
    fn insert_lines(&mut self, at: usize, lines: &str) {
        let nl = self.newline;
        if at == self.text.len() && !self.text.is_empty() && !self.text.ends_with('\n') {
            self.replace(at, at, format!("{nl}{lines}"));
        } else {
            self.replace(at, at, format!("{lines}{nl}"));
        }
    }
}

fn holds_aliased(node: &Node) -> bool {
    node.aliased
        || match &node.kind {
            Kind::Map { entries, .. } => entries.iter().any(|e| holds_aliased(&e.value)),
            Kind::Seq { items, .. } => items.iter().any(holds_aliased),
            _ => false,
        }
}

/// A new string written in the quotes of the scalar beside it (`["--port", "80", "--debug"]`),
/// when it is one line.
pub(super) fn like(neighbour: &Node, value: &Value, flow: bool) -> Option<String> {
    let Kind::Scalar {
        style: style @ (Style::Single | Style::Double),
        ..
    } = &neighbour.kind
    else {
        return None;
    };
    match scalar::write(value, Some(*style), flow) {
        Written::Inline(s) if value.is_string() => Some(s),
        _ => None,
    }
}
