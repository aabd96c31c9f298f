//! Property tests: generated files (comments, anchors and aliases, flow maps, block scalars,
//! CRLF, several documents) and generated edits. Whatever the edit, the result reads back as
//! exactly the intended documents, or the edit is refused; and only the lines of the edited
//! value change (every line before and after it is byte-for-byte the same).

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::value::{self, Step};
use super::{Editor, Error};

/// A value with how it is written.
#[derive(Debug, Clone)]
enum Gen {
    Scalar(Value, Quote),
    Map(Vec<(String, Gen)>, bool),
    Seq(Vec<Gen>, bool),
}

#[derive(Debug, Clone, Copy)]
enum Quote {
    Plain,
    Single,
    Double,
}

fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}",
        Just("yes".to_string()),
        Just("on".to_string()),
        Just("0777".to_string()),
        Just("1.0".to_string()),
        Just("nginx:1.25".to_string()),
        Just("a: b".to_string()),
        Just("it's".to_string()),
        Just("x # y".to_string()),
        Just("null".to_string()),
        Just("line one\nline two\n".to_string()),
        Just("".to_string()),
        Just("-Xmx1g".to_string()),
        Just("500m".to_string()),
    ]
}

fn scalar_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => tricky_string().prop_map(Value::String),
        1 => (-1000i64..100_000).prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::from(0.5)),
    ]
}

fn key_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-zA-Z]{0,6}",
        1 => Just("app.kubernetes.io/name".to_string()),
        1 => Just("yes".to_string()),
    ]
}

fn gen(depth: u32) -> BoxedStrategy<Gen> {
    let quote = prop_oneof![Just(Quote::Plain), Just(Quote::Single), Just(Quote::Double)];
    let leaf = (scalar_value(), quote)
        .prop_map(|(v, q)| Gen::Scalar(v, q))
        .boxed();
    if depth == 0 {
        return leaf;
    }
    let inner = gen(depth - 1);
    prop_oneof![
        2 => leaf,
        2 => (prop::collection::vec((key_name(), inner.clone()), 0..4), prop::bool::weighted(0.2))
            .prop_map(|(entries, flow)| {
                let mut seen = std::collections::HashSet::new();
                let entries = entries.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect();
                Gen::Map(entries, flow)
            }),
        1 => (prop::collection::vec(inner, 0..4), prop::bool::weighted(0.2)).prop_map(|(items, flow)| Gen::Seq(items, flow)),
    ]
    .boxed()
}

fn value_of(g: &Gen) -> Value {
    match g {
        Gen::Scalar(v, _) => v.clone(),
        Gen::Map(entries, _) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), value_of(v)))
                .collect::<Map<_, _>>(),
        ),
        Gen::Seq(items, _) => Value::Array(items.iter().map(value_of).collect()),
    }
}

/// Writes generated values as a person might: comments above and beside values, quoting as
/// chosen where the text allows it, flow collections, literal blocks.
struct Printer {
    out: Vec<String>,
    comments: bool,
    seq_indent: usize,
}

fn scalar_text(v: &Value, q: Quote, flow: bool) -> Option<String> {
    match v {
        Value::String(s) if s.contains('\n') => None,
        Value::String(s) => Some(match q {
            Quote::Plain if super::scalar::plain_safe(s, flow) => s.clone(),
            Quote::Single if !s.chars().any(char::is_control) => {
                format!("'{}'", s.replace('\'', "''"))
            }
            _ => super::scalar::double_quoted(s),
        }),
        other => Some(other.to_string()),
    }
}

fn flow_text(g: &Gen) -> String {
    match g {
        Gen::Scalar(v, q) => scalar_text(v, *q, true)
            .unwrap_or_else(|| super::scalar::double_quoted(v.as_str().unwrap_or(""))),
        Gen::Map(entries, _) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", super::scalar::key(k, true), flow_text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Gen::Seq(items, _) => format!(
            "[{}]",
            items.iter().map(flow_text).collect::<Vec<_>>().join(", ")
        ),
    }
}

impl Printer {
    /// What follows `key:` or `- ` on its line, or `None` for a block collection.
    fn inline(&mut self, g: &Gen, indent: usize) -> Option<String> {
        match g {
            Gen::Map(e, flow) if *flow || e.is_empty() => Some(flow_text(g)),
            Gen::Seq(i, flow) if *flow || i.is_empty() => Some(flow_text(g)),
            Gen::Map(..) | Gen::Seq(..) => None,
            Gen::Scalar(v, q) => match scalar_text(v, *q, false) {
                Some(s) => Some(s),
                None => {
                    let s = v.as_str().unwrap_or("");
                    let header = if s.ends_with('\n') { "|" } else { "|-" };
                    let pad = " ".repeat(indent);
                    let body: Vec<String> = s
                        .trim_end_matches('\n')
                        .split('\n')
                        .map(|l| format!("{pad}{l}"))
                        .collect();
                    Some(format!("{header}\n{}", body.join("\n")))
                }
            },
        }
    }

    fn map(&mut self, entries: &[(String, Gen)], indent: usize, first_prefix: Option<String>) {
        let pad = " ".repeat(indent);
        for (i, (k, v)) in entries.iter().enumerate() {
            let lead = match (&first_prefix, i) {
                (Some(prefix), 0) => prefix.clone(),
                _ => {
                    if self.comments && k.len() % 3 == 0 {
                        self.out.push(format!("{pad}# about {k}"));
                    }
                    pad.clone()
                }
            };
            let key = super::scalar::key(k, false);
            match self.inline(v, indent + 2) {
                Some(text) => {
                    let note = if self.comments && !text.contains('\n') && k.len() % 2 == 0 {
                        "  # note"
                    } else {
                        ""
                    };
                    self.out.push(format!("{lead}{key}: {text}{note}"));
                }
                None => {
                    self.out.push(format!("{lead}{key}:"));
                    match v {
                        Gen::Map(e, _) => self.map(e, indent + 2, None),
                        Gen::Seq(items, _) => self.seq(items, indent + self.seq_indent),
                        Gen::Scalar(..) => {}
                    }
                }
            }
        }
    }

    fn seq(&mut self, items: &[Gen], dash: usize) {
        let pad = " ".repeat(dash);
        for item in items {
            match self.inline(item, dash + 2) {
                Some(text) => self.out.push(format!("{pad}- {text}")),
                None => match item {
                    Gen::Map(e, _) => self.map(e, dash + 2, Some(format!("{pad}- "))),
                    Gen::Seq(inner, _) => {
                        // A nested block list starts on the next line.
                        self.out.push(format!("{pad}-"));
                        self.seq(inner, dash + 2);
                    }
                    Gen::Scalar(..) => {}
                },
            }
        }
    }
}

/// A file of documents (each a top-level map, the first with an anchor and an alias).
fn file(docs: &[Vec<(String, Gen)>], comments: bool, seq_indent: usize, crlf: bool) -> String {
    let mut p = Printer {
        out: Vec::new(),
        comments,
        seq_indent,
    };
    for (i, entries) in docs.iter().enumerate() {
        if i > 0 {
            p.out.push("---".into());
        }
        if comments {
            p.out.push(format!("# document {i}"));
        }
        p.map(entries, 0, None);
        if i == 0 {
            p.out.push("shared: &shared 42".into());
            p.out.push("copy: *shared".into());
        }
    }
    let text = p.out.join("\n") + "\n";
    if crlf {
        text.replace('\n', "\r\n")
    } else {
        text
    }
}

/// Every path in a value, with the value there.
fn paths(value: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                at.push(Step::Key(k.clone()));
                paths(v, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                at.push(Step::Index(i));
                paths(v, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Op {
    Set(Value),
    SetGen,
    Add(String, Value),
    Remove,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => scalar_value().prop_map(Op::Set),
        1 => Just(Op::SetGen),
        2 => (key_name(), scalar_value()).prop_map(|(k, v)| Op::Add(k, v)),
        2 => Just(Op::Remove),
    ]
}

/// Lines of `before` outside the changed region (a common prefix and suffix of lines).
fn changed_region(before: &str, after: &str) -> (usize, usize) {
    let b: Vec<&str> = before.split_inclusive('\n').collect();
    let a: Vec<&str> = after.split_inclusive('\n').collect();
    let prefix = b.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let suffix = b[prefix..]
        .iter()
        .rev()
        .zip(a[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    (prefix, b.len() - suffix)
}

fn docs_strategy() -> impl Strategy<Value = Vec<Vec<(String, Gen)>>> {
    prop::collection::vec(
        prop::collection::vec(("[a-z]{1,7}", gen(3)), 1..5).prop_map(|entries| {
            let mut seen = std::collections::HashSet::new();
            entries
                .into_iter()
                .filter(|(k, _)| k != "shared" && k != "copy" && seen.insert(k.clone()))
                .collect()
        }),
        1..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn edits_read_back_as_intended_and_touch_only_their_lines(
        docs in docs_strategy(),
        comments in any::<bool>(),
        seq_indent in prop_oneof![Just(0usize), Just(2)],
        crlf in any::<bool>(),
        pick in any::<prop::sample::Index>(),
        which in any::<prop::sample::Index>(),
        operation in op(),
        replacement in gen(2),
    ) {
        let text = file(&docs, comments, seq_indent, crlf);
        let mut editor = Editor::new(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(editor.len(), docs.len());
        let doc = which.index(editor.len());
        let before = editor.value(doc).cloned().unwrap_or(Value::Null);
        let mut generated = value_of(&Gen::Map(docs[doc].clone(), false));
        if doc == 0 {
            generated["shared"] = Value::from(42);
            generated["copy"] = Value::from(42);
        }
        prop_assert!(value::same(&before, &generated), "{}", text);
        let mut all = Vec::new();
        paths(&before, &mut Vec::new(), &mut all);
        let path = all[pick.index(all.len())].clone();
        let mut after = before.clone();
        let fail = |e: value::PathError| TestCaseError::fail(e.to_string());
        let container = match &operation {
            Op::Set(v) if !path.is_empty() => {
                value::set(&mut after, &path, v.clone()).map_err(fail)?;
                path.clone()
            }
            Op::SetGen if !path.is_empty() => {
                value::set(&mut after, &path, value_of(&replacement)).map_err(fail)?;
                path.clone()
            }
            Op::Add(k, v) if matches!(value::get(&before, &path), Some(Value::Object(_))) => {
                let mut p = path.clone();
                p.push(Step::Key(k.clone()));
                value::set(&mut after, &p, v.clone()).map_err(fail)?;
                path.clone()
            }
            Op::Remove if !path.is_empty() => {
                value::remove(&mut after, &path).map_err(fail)?;
                path[..path.len() - 1].to_vec()
            }
            _ => return Ok(()),
        };
        let through_alias = path.first().is_some_and(|s| matches!(s, Step::Key(k) if k == "shared" || k == "copy"));
        match editor.replace(doc, after.clone()).and_then(|()| editor.finish()) {
            Ok(out) => {
                // Read back independently of the editor's own check.
                let read = crate::manifest::yaml::parse_documents(&out).map_err(|e| TestCaseError::fail(format!("{e}\n{out}")))?;
                prop_assert_eq!(read.len(), docs.len());
                prop_assert!(value::same(&read[doc].value, &after), "{}\n---- became ----\n{}", text, out);
                // Only lines within the edited container (or the value) changed.
                if out == text {
                    return Ok(());
                }
                let (from, to) = changed_region(&text, &out);
                let probe = Editor::new(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let (first, last) = super::tests::line_span(&probe, doc, &container);
                prop_assert!(from + 1 >= first, "changed from line {} but the value starts at {}\n{}\n----\n{}", from + 1, first, text, out);
                prop_assert!(to <= last, "changed up to line {} but the value ends at {}\n{}\n----\n{}", to, last, text, out);
                if crlf {
                    prop_assert!(!out.replace("\r\n", "").contains('\n'), "a bare line feed in a CRLF file:\n{:?}", out);
                }
            }
            Err(Error::Refused { .. }) if through_alias => {}
            Err(e) => return Err(TestCaseError::fail(format!("{e}\npath {}\n{text}", value::display(&path)))),
        }
    }
}
