//! YAML as kustomize reads it: YAML 1.2 booleans only (`yes`, `on`, `y` stay strings), `0777` is
//! octal, and a budget so alias bombs and deep nesting fail with an error instead of eating memory.

use serde_json::Value;

/// One YAML document of a file, with the 1-based line its content starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub line: usize,
    pub value: Value,
    /// For a document with an `items` list (a `kind: List`): the line each item starts on.
    pub item_lines: Vec<usize>,
}

/// A parse error with the 1-based line of the file it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for YamlError {}

/// Deepest nesting accepted; real Kubernetes objects stay far below 64.
pub const MAX_DEPTH: usize = 128;

fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.max_aliases = 10_000;
    budget.max_nodes = 2_000_000;
    budget.max_total_scalar_bytes = 64 * 1024 * 1024;
    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    alias_limits.max_total_replayed_events = 1_000_000;
    serde_saphyr::options! {
        budget: Some(budget),
        alias_limits: alias_limits,
        strict_booleans: true,
        legacy_octal_numbers: true,
    }
}

fn message_of(err: &serde_saphyr::Error) -> (usize, String) {
    let line = err
        .location()
        .map(|l| l.line() as usize)
        .filter(|l| *l > 0)
        .unwrap_or(1);
    // The error's Display repeats the location and sometimes a snippet; keep its first line.
    let text = err.to_string();
    let first = text.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // Drop the error's own "line L column C: " prefix; callers say the line themselves.
    let bare = match first.split_once(": ") {
        Some((loc, rest)) if loc.starts_with("line ") => rest,
        _ => first,
    };
    (line, readable(bare))
}

/// The parser's messages speak to a developer ("set DuplicateKeyPolicy in Options"); the
/// person reading a snapshot error wants to know what is wrong with the file.
fn readable(message: &str) -> String {
    if let Some(detail) = message.strip_prefix("budget breached: ") {
        return if detail.starts_with("Depth") {
            format!("nested deeper than {MAX_DEPTH} levels")
        } else {
            format!("too large once anchors and aliases are expanded (an alias bomb?): {detail}")
        };
    }
    match message.split_once(", set DuplicateKeyPolicy") {
        Some((head, _)) => head.to_string(),
        None => message.to_string(),
    }
}

/// Stack of the thread that parses. The parser recurses once per nesting level, and in a
/// debug build a level costs about 18 KiB, so a 2 MiB thread (a test's, a blocking task's)
/// overflows near depth 115, before the depth budget refuses the file at 129. A stack
/// overflow aborts the whole process; a file in Git must never be able to do that.
pub const PARSER_STACK_BYTES: usize = 32 * 1024 * 1024;

thread_local! {
    /// Set on threads started with [`PARSER_STACK_BYTES`] of stack: they parse in place.
    static ON_PARSER_STACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the current thread as started with [`PARSER_STACK_BYTES`] of stack (the sync threads).
pub fn mark_parser_stack() {
    ON_PARSER_STACK.with(|f| f.set(true));
}

/// Runs `f` where YAML can be parsed in place: here when this thread has the parser's stack,
/// else on one scoped thread that has it. Callers that parse many files (a sync, a load) wrap
/// the whole batch, so a repository of 100,000 files costs one thread, not 100,000.
pub fn on_parser_stack<R: Send>(f: impl FnOnce() -> R + Send) -> std::io::Result<R> {
    if ON_PARSER_STACK.with(|flag| flag.get()) {
        return Ok(f());
    }
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("yaml-parse".into())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, || {
                mark_parser_stack();
                f()
            })?;
        match handle.join() {
            Ok(r) => Ok(r),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Splits a file into its documents and parses each. The whole file fails on the first bad
/// document: half a file is not a declaration anyone wrote.
///
/// Parses with a stack sized for [`MAX_DEPTH`] (see [`on_parser_stack`]); a panic in the
/// parser becomes this file's error instead of taking the process down.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, YamlError> {
    parse_with(text, Folded::AsKustomize)
}

/// [`parse_documents`] of text kustomize wrote (a build's output): its folded scalars are
/// already what it renders, so they are read as the spec says.
pub fn parse_rendered_documents(text: &str) -> Result<Vec<Document>, YamlError> {
    parse_with(text, Folded::AsWritten)
}

/// How folded block scalars are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Folded {
    /// As kustomize renders them (see [`super::folded`]): a file in Git, which Flux applies
    /// through kustomize.
    AsKustomize,
    AsWritten,
}

fn parse_with(text: &str, folded: Folded) -> Result<Vec<Document>, YamlError> {
    let failed = |message: &str| YamlError {
        line: 1,
        message: message.to_string(),
    };
    let parsed = on_parser_stack(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            parse_documents_here(text, folded)
        }))
    })
    .map_err(|e| failed(&format!("cannot start the YAML parser: {e}")))?;
    parsed.map_err(|_| failed("the YAML parser failed on this file"))?
}

fn parse_documents_here(text: &str, folded: Folded) -> Result<Vec<Document>, YamlError> {
    let mut docs = Vec::new();
    for (offset, chunk) in split_documents(text) {
        if chunk.trim().is_empty() || is_only_comments(chunk) {
            continue;
        }
        let mut value: Value =
            serde_saphyr::from_str_with_options(chunk, options()).map_err(|e| {
                let (line, message) = message_of(&e);
                YamlError {
                    line: offset + line,
                    message,
                }
            })?;
        if value.is_null() {
            continue;
        }
        if folded == Folded::AsKustomize {
            super::folded::as_kustomize_renders(chunk, &mut value);
        }
        let item_lines = if value.get("items").is_some_and(Value::is_array) {
            item_lines(chunk)
                .into_iter()
                .map(|line| offset + line)
                .collect()
        } else {
            Vec::new()
        };
        docs.push(Document {
            line: offset + first_content_line(chunk),
            value: normalize_numbers(value),
            item_lines,
        });
    }
    Ok(docs)
}

/// The line (in `chunk`) each element of its `items` sequence starts on, read with the
/// parser's spans; empty when it cannot say.
fn item_lines(chunk: &str) -> Vec<usize> {
    #[derive(serde::Deserialize)]
    struct Items {
        #[serde(default)]
        items: Vec<serde_saphyr::Spanned<serde::de::IgnoredAny>>,
    }
    match serde_saphyr::from_str_with_options::<Items>(chunk, options()) {
        Ok(list) => list
            .items
            .iter()
            .map(|item| item.referenced.line() as usize)
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn is_only_comments(chunk: &str) -> bool {
    chunk
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
}

fn first_content_line(chunk: &str) -> usize {
    chunk
        .lines()
        .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|i| i + 1)
        .unwrap_or(1)
}

/// Splits on `---` and `...` markers at column 0. YAML forbids those markers inside content, so
/// this split is exact, and it tells each document's starting line (the count of lines before it).
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start_byte = 0usize;
    let mut start_line = 0usize;
    let mut pos = 0usize;
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_start = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        let is_end = bare == "..." || bare.starts_with("... ");
        if is_start || is_end {
            out.push((start_line, &text[start_byte..pos]));
            if is_start && bare.len() > 3 {
                // `--- value` carries content on the marker line itself.
                start_byte = pos + 4;
                start_line = line_no;
            } else {
                start_byte = pos + line.len();
                start_line = line_no + 1;
            }
        }
        pos += line.len();
    }
    out.push((start_line, &text[start_byte..]));
    out
}

/// YAML floats that are whole numbers (`1e3`) become integers, as kustomize writes them back.
fn normalize_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(normalize_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, normalize_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_resolve_as_kustomize_does() {
        let docs =
            parse_documents("a: yes\nb: on\nc: y\nd: 0777\ne: 1e3\nf: true\ng: ~\nh: '0777'\n")
                .expect("parses");
        assert_eq!(
            docs[0].value,
            json!({"a": "yes", "b": "on", "c": "y", "d": 511, "e": 1000, "f": true, "g": null, "h": "0777"})
        );
    }

    #[test]
    fn documents_keep_their_lines() {
        let text = "# header\n---\na: 1\n---\n\n# c\nb: 2\n...\n---\nc: [\n";
        let err = parse_documents(text).expect_err("last doc is broken");
        assert!(err.line >= 10, "{err:?}");
        let docs = parse_documents("a: 1\n---\n\nb: 2\n").expect("parses");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].line, 1);
        assert_eq!(docs[1].line, 4);
    }

    #[test]
    fn alias_bomb_and_depth_fail_cleanly() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='m' {
            bomb.push_str(&format!(
                "{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = c;
        }
        assert!(parse_documents(&bomb).is_err());
        let deep = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
        assert!(parse_documents(&deep).is_err());
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse_documents("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert_eq!(err.line, 3, "{err:?}");
    }
}
