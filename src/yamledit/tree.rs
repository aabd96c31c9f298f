//! A YAML file as positioned nodes: where each document, mapping entry, sequence item and
//! scalar lies in the text (byte offsets), with the notation it was written in. Built from the
//! event parser that `serde-saphyr` itself runs on (re-exported as `granit_parser`), so the
//! structure is the one the project's reader sees; only the positions are new.

use std::collections::HashSet;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Span, StructureStyle};

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Single,
    Double,
    Literal,
    Folded,
}

#[derive(Debug, Clone)]
pub enum Kind {
    /// `text` is the scalar after escape processing; `empty` when nothing was written (`key:`).
    Scalar {
        text: String,
        style: Style,
        empty: bool,
    },
    Map {
        flow: bool,
        entries: Vec<Entry>,
    },
    Seq {
        flow: bool,
        items: Vec<Node>,
    },
    Alias,
}

#[derive(Debug, Clone)]
pub struct Node {
    /// First byte of the content (a scalar's text, a block mapping's first key, `{` or `[`).
    pub start: usize,
    /// One past the last byte of the content: trailing blank lines of a block scalar and the
    /// indentation the parser reads ahead are not part of it.
    pub end: usize,
    /// 1-based line of `start`.
    pub line: usize,
    /// Carries an anchor (`&name`) that an alias in its document refers to.
    pub aliased: bool,
    /// Carries an explicit tag (`!!str`, `!custom`).
    pub tagged: bool,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: Node,
    pub value: Node,
}

impl Entry {
    /// `<<`, a merge key: the mapping's value partly comes from elsewhere.
    pub fn is_merge(&self) -> bool {
        matches!(&self.key.kind, Kind::Scalar { text, style: Style::Plain, .. } if text == "<<")
    }
}

#[derive(Debug, Clone)]
pub struct Doc {
    /// Byte offset of the `---` line, when the document has one.
    pub marker: Option<usize>,
    pub root: Node,
}

impl Node {
    pub fn is_null(&self) -> bool {
        match &self.kind {
            Kind::Scalar {
                text,
                style: Style::Plain,
                empty,
            } => *empty || matches!(text.as_str(), "~" | "null" | "Null" | "NULL"),
            _ => false,
        }
    }

    /// A key's text when it is a scalar.
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// A parse error with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Every document of `text` with its nodes. Documents whose root is null (empty, comments
/// only, `~`) are kept here; callers skip them as the reader does.
pub fn parse(text: &str) -> Result<Vec<Doc>, ParseError> {
    let mut events = Vec::new();
    // Aliases refer to anchors of their own document: (document, anchor id) of every alias.
    let mut aliased = HashSet::new();
    let mut doc = 0usize;
    for next in Parser::new_from_str(text) {
        let (event, span) = next.map_err(|e| ParseError {
            line: e.marker().line(),
            message: e.to_string(),
        })?;
        match &event {
            Event::DocumentStart(..) => doc += 1,
            Event::Alias(id) => {
                aliased.insert((doc, *id));
            }
            _ => {}
        }
        events.push((event, span));
    }
    let mut builder = Builder {
        text,
        events: events.into_iter(),
        aliased,
        doc: 0,
        before: 0,
        last_end: 0,
    };
    builder.stream()
}

type Events<'t> = std::vec::IntoIter<(Event<'t>, Span)>;

struct Builder<'t> {
    text: &'t str,
    events: Events<'t>,
    /// (document, anchor id) of every alias.
    aliased: HashSet<(usize, usize)>,
    /// The current document, counted from 1 as `parse` counts them.
    doc: usize,
    /// Where the event before the current one ended, and where the current one ends: a
    /// block scalar's header (`|`, `>-`) lies between the two.
    before: usize,
    last_end: usize,
}

fn offset(span: &Span, text: &str) -> (usize, usize) {
    let start = span.start.byte_offset().unwrap_or(0).min(text.len());
    let end = span
        .end
        .byte_offset()
        .unwrap_or(start)
        .clamp(start, text.len());
    (start, end)
}

fn unexpected(span: &Span, what: &str) -> ParseError {
    ParseError {
        line: span.start.line(),
        message: format!("unexpected {what}"),
    }
}

impl<'t> Builder<'t> {
    fn is_aliased(&self, anchor: usize) -> bool {
        anchor != 0 && self.aliased.contains(&(self.doc, anchor))
    }

    fn next(&mut self) -> Option<(Event<'t>, Span)> {
        // Comments are presentation only: the nodes around them carry the positions.
        let next = self
            .events
            .by_ref()
            .find(|(e, _)| !matches!(e, Event::Comment(..) | Event::Anchor(..)))?;
        self.before = self.last_end;
        self.last_end = offset(&next.1, self.text).1;
        Some(next)
    }

    fn stream(&mut self) -> Result<Vec<Doc>, ParseError> {
        let mut docs = Vec::new();
        while let Some((event, span)) = self.next() {
            match event {
                Event::StreamStart | Event::DocumentEnd => {}
                Event::StreamEnd => break,
                Event::DocumentStart(explicit, _) => {
                    let marker = explicit.then(|| offset(&span, self.text).0);
                    self.doc += 1;
                    let Some((event, span)) = self.next() else {
                        break;
                    };
                    let root = self.node(event, span)?;
                    docs.push(Doc { marker, root });
                }
                _ => return Err(unexpected(&span, "event outside a document")),
            }
        }
        Ok(docs)
    }

    fn node(&mut self, event: Event<'t>, span: Span) -> Result<Node, ParseError> {
        let (start, end) = offset(&span, self.text);
        let line = span.start.line();
        let tagged = span.tag_start.is_some();
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::Single,
                    ScalarStyle::DoubleQuoted => Style::Double,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                let (start, end) = if matches!(style, Style::Literal | Style::Folded) {
                    // The value starts at its header, before the content's first line.
                    let from = self.before.min(start);
                    let header = self.text[from..start]
                        .find(['|', '>'])
                        .map_or(start, |i| from + i);
                    (header, trim_end(self.text, start, end))
                } else {
                    (start, end)
                };
                let line = if start < offset(&span, self.text).0 {
                    self.text[..start].matches('\n').count() + 1
                } else {
                    line
                };
                Ok(Node {
                    start,
                    end,
                    line,
                    aliased: self.is_aliased(anchor),
                    tagged: tagged || tag.is_some(),
                    kind: Kind::Scalar {
                        text: value.into_owned(),
                        style,
                        empty: start == end,
                    },
                })
            }
            Event::Alias(_) => Ok(Node {
                start,
                end,
                line,
                aliased: false,
                tagged,
                kind: Kind::Alias,
            }),
            Event::MappingStart(style, anchor, tag) => {
                let flow = style == StructureStyle::Flow;
                let mut entries = Vec::new();
                let close = loop {
                    let Some((event, span)) = self.next() else {
                        return Err(unexpected(&span, "end of input in a mapping"));
                    };
                    if matches!(event, Event::MappingEnd) {
                        break span;
                    }
                    let key = self.node(event, span)?;
                    let Some((event, span)) = self.next() else {
                        return Err(unexpected(&span, "end of input after a key"));
                    };
                    let value = self.node(event, span)?;
                    entries.push(Entry { key, value });
                };
                let end = if flow {
                    offset(&close, self.text).1
                } else {
                    entries
                        .iter()
                        .map(|e| e.value.end.max(e.key.end))
                        .max()
                        .unwrap_or(start)
                };
                Ok(Node {
                    start,
                    end,
                    line,
                    aliased: self.is_aliased(anchor),
                    tagged: tagged || tag.is_some(),
                    kind: Kind::Map { flow, entries },
                })
            }
            Event::SequenceStart(style, anchor, tag) => {
                let flow = style == StructureStyle::Flow;
                let mut items = Vec::new();
                let close = loop {
                    let Some((event, span)) = self.next() else {
                        return Err(unexpected(&span, "end of input in a sequence"));
                    };
                    if matches!(event, Event::SequenceEnd) {
                        break span;
                    }
                    items.push(self.node(event, span)?);
                };
                let (start, end) = if flow {
                    (start, offset(&close, self.text).1)
                } else {
                    // The parser places a block sequence's start at its first item's content;
                    // the list starts at that item's dash.
                    let first = items.first().map_or(start, |i| {
                        dash_before(self.text, i.start).unwrap_or(i.start.min(start))
                    });
                    (first, items.iter().map(|i| i.end).max().unwrap_or(start))
                };
                Ok(Node {
                    start,
                    end,
                    line,
                    aliased: self.is_aliased(anchor),
                    tagged: tagged || tag.is_some(),
                    kind: Kind::Seq { flow, items },
                })
            }
            _ => Err(unexpected(&span, "event where a value was expected")),
        }
    }
}

/// `end` moved back over the whitespace a block scalar's span takes with it.
fn trim_end(text: &str, start: usize, end: usize) -> usize {
    let bytes = text.as_bytes();
    let mut e = end;
    while e > start && matches!(bytes[e - 1], b' ' | b'\t' | b'\n' | b'\r') {
        e -= 1;
    }
    e
}

/// Byte offset where the line holding `pos` starts.
pub fn line_start(text: &str, pos: usize) -> usize {
    text[..pos.min(text.len())].rfind('\n').map_or(0, |i| i + 1)
}

/// Byte offset just past the line break ending the line that holds `pos` (the text's end
/// when the line has none).
pub fn line_end(text: &str, pos: usize) -> usize {
    let pos = pos.min(text.len());
    text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1)
}

/// Whether only spaces precede `pos` on its line.
pub fn starts_line(text: &str, pos: usize) -> bool {
    text[line_start(text, pos)..pos].bytes().all(|b| b == b' ')
}

/// Column (in bytes; indentation is ASCII spaces) of `pos`.
pub fn column(text: &str, pos: usize) -> usize {
    pos - line_start(text, pos)
}

/// The `-` of the block sequence item whose content starts at `item`: the first thing before
/// it, on its line or ending an earlier one (`-` alone on a line, the item below).
pub fn dash_before(text: &str, item: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = item.min(text.len());
    while i > 0 && matches!(bytes[i - 1], b' ' | b'\t' | b'\n' | b'\r') {
        i -= 1;
    }
    let dash = i.checked_sub(1)?;
    let spaced = bytes
        .get(dash + 1)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    (bytes[dash] == b'-' && spaced).then_some(dash)
}

/// Just past the `:` that follows a key ending at `key_end` (spaces may sit between).
pub fn colon_after(text: &str, key_end: usize) -> Option<usize> {
    let rest = &text[key_end.min(text.len())..];
    let skipped = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    rest[skipped..]
        .starts_with(':')
        .then_some(key_end + skipped + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        parse(text).expect("parses").remove(0).root
    }

    #[test]
    fn positions_of_blocks_flows_and_scalars() {
        let text = "a: 1\nb:\n  c: 'x'\n  d: [1, \"2\"]\ne: |\n  line\n\nf:\n- k: v\n";
        let node = root(text);
        let Kind::Map { entries, flow } = &node.kind else {
            panic!("map");
        };
        assert!(!flow);
        assert_eq!(&text[entries[0].value.start..entries[0].value.end], "1");
        let Kind::Map { entries: inner, .. } = &entries[1].value.kind else {
            panic!("inner map");
        };
        assert_eq!(&text[inner[0].value.start..inner[0].value.end], "'x'");
        assert_eq!(
            &text[inner[1].value.start..inner[1].value.end],
            "[1, \"2\"]"
        );
        assert_eq!(
            &text[entries[2].value.start..entries[2].value.end],
            "|\n  line"
        );
        let Kind::Seq { items, .. } = &entries[3].value.kind else {
            panic!("seq");
        };
        assert_eq!(dash_before(text, items[0].start), Some(text.len() - 7));
        assert_eq!(colon_after(text, entries[1].key.end), Some(7));
    }

    #[test]
    fn aliases_and_empty_values() {
        let text = "a: &x 1\nb: *x\nc: &y 2\nd:\n";
        let Kind::Map { entries, .. } = root(text).kind else {
            panic!("map");
        };
        assert!(entries[0].value.aliased);
        assert!(matches!(entries[1].value.kind, Kind::Alias));
        assert!(!entries[2].value.aliased, "an anchor nobody refers to");
        assert!(entries[3].value.is_null());
    }
}
