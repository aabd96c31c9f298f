//! New values written as YAML in the file's own layout: its indentation step, whether its
//! lists are indented under their key (`key:\n  - a`) or not (`key:\n- a`), flow notation
//! where the value replaced was flow.

use serde_json::Value;

use super::scalar::{self, Written};
use super::tree::{self, Doc, Kind, Node};

/// How the file lays out block collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Spaces a nested mapping is indented by.
    pub step: usize,
    /// Spaces a list's dashes are indented by under their key (0: `key:\n- a`).
    pub seq_indent: usize,
}

impl Default for Layout {
    /// kubectl's and kustomize's own output: two spaces, lists not indented.
    fn default() -> Layout {
        Layout {
            step: 2,
            seq_indent: 0,
        }
    }
}

impl Layout {
    /// The layout the documents use, from the first nested mapping and the first list under
    /// a key found in them.
    pub fn detect(text: &str, docs: &[Doc]) -> Layout {
        let mut found = (None, None);
        for doc in docs {
            detect_in(text, &doc.root, &mut found);
        }
        let default = Layout::default();
        Layout {
            step: found.0.unwrap_or(default.step),
            seq_indent: found.1.unwrap_or(default.seq_indent),
        }
    }
}

fn detect_in(text: &str, node: &Node, found: &mut (Option<usize>, Option<usize>)) {
    if found.0.is_some() && found.1.is_some() {
        return;
    }
    match &node.kind {
        Kind::Map {
            flow: false,
            entries,
        } => {
            for e in entries {
                if !tree::starts_line(text, e.key.start) {
                    continue;
                }
                let key_col = tree::column(text, e.key.start);
                match &e.value.kind {
                    Kind::Map {
                        flow: false,
                        entries: inner,
                    } if found.0.is_none() => {
                        if let Some(first) = inner.first() {
                            let col = tree::column(text, first.key.start);
                            if col > key_col && tree::starts_line(text, first.key.start) {
                                found.0 = Some(col - key_col);
                            }
                        }
                    }
                    Kind::Seq { flow: false, items } if found.1.is_none() => {
                        if let Some(dash) =
                            items.first().and_then(|i| tree::dash_before(text, i.start))
                        {
                            if tree::starts_line(text, dash) {
                                found.1 = Some(tree::column(text, dash).saturating_sub(key_col));
                            }
                        }
                    }
                    _ => {}
                }
                detect_in(text, &e.value, found);
            }
        }
        Kind::Seq { flow: false, items } => items.iter().for_each(|i| detect_in(text, i, found)),
        _ => {}
    }
}

/// A collection that is not empty.
pub fn is_block_collection(value: &Value) -> bool {
    match value {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

/// `value` in flow notation: `{a: 1, b: [x, "y z"]}`; scalars as [`scalar::write`] writes them.
pub fn flow(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", scalar::key(k, true), flow(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", parts.join(", "))
        }
        scalar_value => match scalar::write(scalar_value, None, true) {
            Written::Inline(s) => s,
            // Not reached: block scalars are never written in flow context.
            Written::Block { .. } => scalar::double_quoted(&scalar_value.to_string()),
        },
    }
}

/// What follows `key:` or `- ` on the same line for a value that fits there, or `None` for
/// a block collection (which starts on the next lines).
fn inline_value(value: &Value, indent: usize) -> Option<(String, Vec<String>)> {
    match value {
        Value::Object(map) if map.is_empty() => Some(("{}".into(), Vec::new())),
        Value::Array(items) if items.is_empty() => Some(("[]".into(), Vec::new())),
        Value::Object(_) | Value::Array(_) => None,
        scalar_value => Some(match scalar::write(scalar_value, None, false) {
            Written::Inline(s) => (s, Vec::new()),
            Written::Block { header, lines } => (
                header,
                lines
                    .into_iter()
                    .map(|l| {
                        if l.is_empty() {
                            l
                        } else {
                            format!("{}{l}", " ".repeat(indent))
                        }
                    })
                    .collect(),
            ),
        }),
    }
}

/// The lines of a block collection whose entries start at column `indent`.
pub fn block(value: &Value, indent: usize, layout: Layout) -> Vec<String> {
    let pad = " ".repeat(indent);
    let mut out = Vec::new();
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = scalar::key(k, false);
                match inline_value(v, indent + layout.step) {
                    Some((first, rest)) => {
                        out.push(format!("{pad}{key}: {first}"));
                        out.extend(rest);
                    }
                    None => {
                        out.push(format!("{pad}{key}:"));
                        let child = match v {
                            Value::Array(_) => indent + layout.seq_indent,
                            _ => indent + layout.step,
                        };
                        out.extend(block(v, child, layout));
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                out.extend(item_lines(item, indent, layout));
            }
        }
        _ => {}
    }
    out
}

/// One list item, its dash at column `dash`: `- x`, or `- a: 1` with the rest of the map below.
pub fn item_lines(item: &Value, dash: usize, layout: Layout) -> Vec<String> {
    let pad = " ".repeat(dash);
    match inline_value(item, dash + 2) {
        Some((first, rest)) => {
            let mut out = vec![format!("{pad}- {first}")];
            out.extend(rest);
            out
        }
        None => {
            let mut lines = block(item, dash + 2, layout);
            if let Some(first) = lines.first_mut() {
                *first = format!("{pad}- {}", &first[dash + 2..]);
            }
            lines
        }
    }
}

/// A mapping entry `key: value` whose key sits at column `indent` (the first line carries no
/// indentation: it goes where the caller puts it).
pub fn entry_lines(key: &str, value: &Value, indent: usize, layout: Layout) -> Vec<String> {
    let mut map = serde_json::Map::new();
    map.insert(key.to_string(), value.clone());
    let mut lines = block(&Value::Object(map), indent, layout);
    if let Some(first) = lines.first_mut() {
        *first = first[indent..].to_string();
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_and_flow_forms() {
        let v = json!({"a": 1, "b": {"c": "yes"}, "d": ["x", {"e": 1, "f": [2]}], "g": {}, "h": "l1\nl2\n"});
        let lines = block(&v, 0, Layout::default());
        assert_eq!(
            lines.join("\n"),
            "a: 1\nb:\n  c: \"yes\"\nd:\n- x\n- e: 1\n  f:\n  - 2\ng: {}\nh: |\n  l1\n  l2"
        );
        let indented = Layout {
            step: 4,
            seq_indent: 2,
        };
        assert_eq!(
            block(&json!({"d": ["x"]}), 2, indented).join("\n"),
            "  d:\n    - x"
        );
        assert_eq!(
            flow(&v),
            "{a: 1, b: {c: \"yes\"}, d: [x, {e: 1, f: [2]}], g: {}, h: \"l1\\nl2\\n\"}"
        );
        assert_eq!(
            entry_lines("k", &json!({"a": 1}), 4, Layout::default()),
            ["k:", "      a: 1"]
        );
    }

    #[test]
    fn layout_is_read_from_the_file() {
        let text = "a:\n    b: 1\nc:\n  - x\n";
        let docs = tree::parse(text).expect("parses");
        assert_eq!(
            Layout::detect(text, &docs),
            Layout {
                step: 4,
                seq_indent: 2
            }
        );
        let docs = tree::parse("a: 1\n").expect("parses");
        assert_eq!(Layout::detect("a: 1\n", &docs), Layout::default());
    }
}
