//! Folded block scalars (`>`) as kustomize renders them, which is what Flux applies.
//!
//! kustomize (go-yaml v3) keeps a folded scalar's style and writes it back out folded on its
//! way through, and go-yaml v3's folded emitter puts an extra line break after every line that
//! does not start with a blank (`yaml_emitter_write_folded_scalar` tests the value's first
//! character instead of the next line's). Read back, that extra break stays wherever a normal
//! line is followed by a more-indented one: `>` with `a` then `  b` is `"a\n  b\n"` to the YAML
//! spec and `"a\n\n  b\n"` in the cluster. A value the folded style cannot carry (a space before
//! a line break, a trailing space, control characters) is written double-quoted instead and
//! keeps its spec value.
//!
//! This module finds each folded scalar of a document with the parser's events, writes it as
//! that emitter does (long lines wrapped at 80 columns included) and reads it back, and puts the
//! result where the spec value was.

use granit_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;

/// The column past which go-yaml's emitter wraps a long line at a space (`best_width`).
const BEST_WIDTH: usize = 80;

/// Replaces the spec values of `chunk`'s folded scalars in `value` (the chunk parsed) with
/// the values kustomize renders. Leaves `value` as it is where the events cannot be followed.
pub fn as_kustomize_renders(chunk: &str, value: &mut Value) {
    if !chunk.contains('>') {
        return;
    }
    for found in folded_scalars(chunk) {
        let Some(rendered) = rendered(&found.value, found.indent) else {
            continue;
        };
        if let Some(Value::String(s)) = resolve(value, &found.path) {
            if *s == found.value {
                *s = rendered;
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
    /// A key that is not a plain string (a complex key): nothing below it is resolved.
    Unknown,
}

/// One folded scalar: where it is, its spec value, and the column its lines are written at.
#[derive(Debug)]
struct Found {
    path: Vec<Segment>,
    value: String,
    indent: usize,
}

enum Frame {
    /// A mapping whose keys are at column `col`; `key` is the key whose value comes next.
    Map { col: usize, key: Option<Segment> },
    /// A sequence whose dashes are at column `col` (kustomize writes sequences compact).
    Seq { col: usize, index: usize },
}

impl Frame {
    /// Where the node that comes next in this frame sits, and the column of its content.
    fn next(&self) -> (Option<Segment>, usize) {
        match self {
            Frame::Map { col, key } => (key.clone(), col + 2),
            Frame::Seq { col, index } => (Some(Segment::Index(*index)), col + 2),
        }
    }

    /// A node was read: a mapping now waits for its next key.
    fn advance(&mut self) {
        match self {
            Frame::Map { key, .. } => *key = None,
            Frame::Seq { index, .. } => *index += 1,
        }
    }

    /// A mapping waiting for a key (the next scalar is one).
    fn wants_key(&self) -> bool {
        matches!(self, Frame::Map { key: None, .. })
    }
}

/// The folded scalars of a document, found by following its events.
fn folded_scalars(chunk: &str) -> Vec<Found> {
    let mut out = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    // Anchored folded scalars, for their aliases.
    let mut anchors: Vec<(usize, String)> = Vec::new();
    let path_of = |stack: &[Frame], last: Option<Segment>| -> Vec<Segment> {
        let mut path: Vec<Segment> = stack
            .iter()
            .take(stack.len().saturating_sub(1))
            .map(|f| f.next().0.unwrap_or(Segment::Unknown))
            .collect();
        path.push(last.unwrap_or(Segment::Unknown));
        path
    };
    for event in Parser::new_from_str(chunk) {
        let Ok((event, _)) = event else {
            // serde-saphyr read this chunk; a disagreement here only skips the rewrite.
            return Vec::new();
        };
        // A scalar or alias in key position is the key; anything else is a value.
        let as_key = stack.last().is_some_and(Frame::wants_key);
        match event {
            Event::Scalar(text, style, anchor, _) if as_key => {
                let _ = (style, anchor);
                if let Some(Frame::Map { key, .. }) = stack.last_mut() {
                    *key = Some(Segment::Key(text.into_owned()));
                }
            }
            Event::Alias(id) if as_key => {
                let text = anchors
                    .iter()
                    .find(|(a, _)| *a == id)
                    .map(|(_, t)| t.clone());
                if let Some(Frame::Map { key, .. }) = stack.last_mut() {
                    *key = Some(text.map_or(Segment::Unknown, Segment::Key));
                }
            }
            Event::Scalar(text, style, anchor, _) => {
                let (last, indent) = stack.last().map_or((None, 2), Frame::next);
                if style == ScalarStyle::Folded {
                    if anchor != 0 {
                        anchors.push((anchor, text.to_string()));
                    }
                    out.push(Found {
                        path: if stack.is_empty() {
                            Vec::new()
                        } else {
                            path_of(&stack, last)
                        },
                        value: text.into_owned(),
                        indent,
                    });
                }
                if let Some(top) = stack.last_mut() {
                    top.advance();
                }
            }
            Event::Alias(id) => {
                if let Some(text) = anchors.iter().find(|(a, _)| *a == id).map(|(_, t)| t) {
                    let (last, indent) = stack.last().map_or((None, 2), Frame::next);
                    out.push(Found {
                        path: path_of(&stack, last),
                        value: text.clone(),
                        indent,
                    });
                }
                if let Some(top) = stack.last_mut() {
                    top.advance();
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if as_key {
                    // A complex key: its content is not a path anyone resolves.
                    if let Some(Frame::Map { key, .. }) = stack.last_mut() {
                        *key = Some(Segment::Unknown);
                    }
                }
                let (in_map, col) = match stack.last() {
                    None => (false, 0),
                    Some(Frame::Map { col, .. }) => (true, *col),
                    Some(Frame::Seq { col, .. }) => (false, col + 2),
                };
                let frame = if matches!(event, Event::MappingStart(..)) {
                    Frame::Map {
                        col: if stack.is_empty() {
                            0
                        } else if in_map {
                            col + 2
                        } else {
                            col
                        },
                        key: None,
                    }
                } else {
                    // Compact: a sequence in a mapping has its dashes at the key's column.
                    Frame::Seq { col, index: 0 }
                };
                stack.push(frame);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                if let Some(top) = stack.last_mut() {
                    // A complex key read whole: the mapping now waits for its value.
                    if !matches!(
                        top,
                        Frame::Map {
                            key: Some(Segment::Unknown),
                            ..
                        }
                    ) {
                        top.advance();
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn resolve<'v>(mut value: &'v mut Value, path: &[Segment]) -> Option<&'v mut Value> {
    for segment in path {
        value = match segment {
            Segment::Key(k) => value.get_mut(k.as_str())?,
            Segment::Index(i) => value.get_mut(*i)?,
            Segment::Unknown => return None,
        };
    }
    Some(value)
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// go-yaml's `is_printable` (a tab is not, and is counted apart).
fn is_printable(c: char) -> bool {
    matches!(c, '\n' | '\u{20}'..='\u{7E}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        && c != '\u{FEFF}'
}

/// Whether go-yaml's emitter may write `value` as a block scalar (`yaml_emitter_analyze_scalar`).
fn block_allowed(value: &str) -> bool {
    if value.is_empty() || value.ends_with(' ') {
        return false;
    }
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\t' && !is_printable(c) {
            return false;
        }
        if c == ' ' && chars.peek().is_some_and(|n| is_break(*n)) {
            return false;
        }
    }
    true
}

/// The value kustomize renders for a folded scalar whose spec value is `value`, written at
/// column `indent`; `None` when it renders the same.
fn rendered(value: &str, indent: usize) -> Option<String> {
    if !block_allowed(value) {
        return None;
    }
    let text = emit_folded(value, indent);
    let read: std::collections::BTreeMap<String, String> = serde_saphyr::from_str(&text).ok()?;
    let read = read.into_values().next()?;
    (read != value).then_some(read)
}

/// `value` as go-yaml v3's folded emitter writes it, under the key `v`: indentation indicator
/// and chomping as `yaml_emitter_write_block_scalar_hints` chooses them, an extra line break
/// after each line that does not start with a blank (unless the value itself starts with one),
/// and lines wrapped at a space past column 80 (counted from `indent`).
fn emit_folded(value: &str, indent: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::with_capacity(value.len() * 2 + 16);
    out.push_str("v: >");
    if chars.first().is_some_and(|c| *c == ' ' || is_break(*c)) {
        out.push('2');
    }
    match chars.as_slice() {
        [] => out.push('-'),
        [.., last] if !is_break(*last) => out.push('-'),
        [_] => out.push('+'),
        [.., before, _] if is_break(*before) => out.push('+'),
        _ => {}
    }
    out.push('\n');
    // The emitter looks at the value's first character after any leading breaks, where it
    // means to look at the next line's.
    let doubles = chars
        .iter()
        .find(|c| !is_break(**c))
        .is_some_and(|c| !is_blank(*c));
    let (mut breaks, mut leading_spaces, mut column) = (true, true, 0);
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if is_break(c) {
            if !breaks && !leading_spaces && c == '\n' && doubles {
                out.push('\n');
            }
            out.push('\n');
            breaks = true;
            column = 0;
        } else {
            if breaks {
                out.push_str("  ");
                column = indent;
                leading_spaces = is_blank(c);
            }
            let next_is_space = chars.get(i + 1) == Some(&' ');
            if !breaks && c == ' ' && !next_is_space && column > BEST_WIDTH {
                out.push_str("\n  ");
                column = indent;
            } else {
                out.push(c);
                column += 1;
            }
            breaks = false;
        }
        i += 1;
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_indented_lines_gain_the_emitters_line_break() {
        // Spec values and what `kubectl kustomize` (v5.5) renders for them.
        for (spec, rendered_value) in [
            ("a\n  b\n", "a\n\n  b\n"),
            ("a\n\n\n  b\n", "a\n\n\n\n  b\n"),
            ("a\n  b\nc\n  d\n", "a\n\n  b\nc\n\n  d\n"),
            ("a\n  b\n\n  c\nd\n", "a\n\n  b\n\n  c\nd\n"),
            ("a\n\tb\n", "a\n\n\tb\n"),
            ("keep\n\n", "keep\n\n\n"),
            ("a\n  b", "a\n\n  b"),
        ] {
            assert_eq!(
                rendered(spec, 4).as_deref(),
                Some(rendered_value),
                "{spec:?}"
            );
        }
        // Written double-quoted (a space before a break), or nothing to add.
        for same in ["a\n \n  b\n", "a b\nc\n", "  b\na\n", "  b\n\na\n", "plain"] {
            assert_eq!(rendered(same, 4), None, "{same:?}");
        }
    }

    #[test]
    fn folded_scalars_are_found_by_path() {
        let chunk =
            "a:\n  b: >\n    x\n      y\n  c:\n  - >\n    p\n      q\n  - |\n    l\n      m\n";
        let found = folded_scalars(chunk);
        let paths: Vec<_> = found.iter().map(|f| (f.path.clone(), f.indent)).collect();
        assert_eq!(
            paths,
            [
                (vec![Segment::Key("a".into()), Segment::Key("b".into())], 4),
                (
                    vec![
                        Segment::Key("a".into()),
                        Segment::Key("c".into()),
                        Segment::Index(0)
                    ],
                    4
                ),
            ]
        );
        let mut value: Value = serde_saphyr::from_str(chunk).expect("yaml");
        as_kustomize_renders(chunk, &mut value);
        assert_eq!(value["a"]["b"], "x\n\n  y\n");
        assert_eq!(value["a"]["c"][0], "p\n\n  q\n");
        assert_eq!(value["a"]["c"][1], "l\n  m\n");
    }
}
