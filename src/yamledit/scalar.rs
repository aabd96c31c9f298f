//! New scalars written so that every YAML reader in the path reads them back as the same type:
//! the project's reader, kustomize (go-yaml v3, YAML 1.2 core schema) and YAML 1.1 readers
//! (where `yes`, `on`, `0777` and `1:30` are not strings). A string that any of them could
//! read as something else is quoted; the quote style of the value it replaces is kept where
//! the new text allows it.

use serde_json::Value;

use super::tree::Style;

/// Words some YAML reader takes for null or a boolean (compared case-insensitively).
const SPECIAL_WORDS: &[&str] = &[
    "", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n", ".inf", "-.inf", "+.inf",
    ".nan", "=", "<<",
];

/// Whether some YAML reader could take `s`, written plain, for a number or a timestamp:
/// conservative on purpose (`1e3`, `0x1F`, `0o17`, `017`, `1_000`, `1:30`, `2024-01-01`).
fn looks_numeric(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let first = body.chars().next();
    let starts_like_number =
        first.is_some_and(|c| c.is_ascii_digit()) || (first == Some('.') && body.len() > 1);
    starts_like_number
        && body.chars().any(|c| c.is_ascii_digit())
        && body.chars().all(|c| {
            c.is_ascii_hexdigit()
                || matches!(
                    c,
                    '_' | '.'
                        | ':'
                        | 'x'
                        | 'X'
                        | 'o'
                        | 'O'
                        | '-'
                        | '+'
                        | 'T'
                        | 't'
                        | 'Z'
                        | 'z'
                        | ' '
                )
        })
}

/// Whether `s` can be written without quotes and read back as this same string everywhere.
pub fn plain_safe(s: &str, flow: bool) -> bool {
    if SPECIAL_WORDS.iter().any(|w| w.eq_ignore_ascii_case(s)) || looks_numeric(s) {
        return false;
    }
    let Some(first) = s.chars().next() else {
        return false;
    };
    if first.is_whitespace() || s.ends_with(char::is_whitespace) {
        return false;
    }
    // Indicators that start something else than a plain scalar.
    let second_is_space = s[first.len_utf8()..].starts_with(' ') || s.len() == first.len_utf8();
    match first {
        '-' | '?' | ':' if second_is_space => return false,
        '[' | ']' | '{' | '}' | ',' | '#' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%'
        | '@' | '`' => return false,
        _ => {}
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if flow && s.contains([',', '[', ']', '{', '}']) {
        return false;
    }
    s.chars().all(|c| {
        !c.is_control() && c != '\u{feff}' && c != '\u{85}' && c != '\u{2028}' && c != '\u{2029}'
    })
}

/// `s` in single quotes, when that notation can hold it (one line, printable).
fn single_quoted(s: &str) -> Option<String> {
    let printable = s.chars().all(|c| !c.is_control());
    printable.then(|| format!("'{}'", s.replace('\'', "''")))
}

/// `s` in double quotes: JSON's escapes are all valid YAML escapes.
pub fn double_quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{}\"", s.escape_default()))
}

/// Whether a multi-line string can be a literal block scalar that reads back exactly.
fn literal_safe(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\t', '\n'])
        && s.chars().all(|c| c == '\n' || !c.is_control() || c == '\t')
        && !s.lines().any(|l| l.ends_with([' ', '\t']))
}

/// The block scalar header and lines of `s` (no indentation added): `|`, `|-` or `|+` as the
/// string's trailing line breaks need.
pub fn literal_lines(s: &str) -> Option<(String, Vec<&str>)> {
    if !literal_safe(s) {
        return None;
    }
    let trailing = s.len() - s.trim_end_matches('\n').len();
    let header = match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    };
    let body = if trailing <= 1 {
        s.trim_end_matches('\n')
    } else {
        &s[..s.len() - 1]
    };
    Some((header.to_string(), body.split('\n').collect()))
}

/// How a scalar is written: on the line (`text`), or as a literal block (header and lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Inline(String),
    Block { header: String, lines: Vec<String> },
}

/// Writes a scalar value. `prefer` is the style of the value it replaces; `flow` is set inside
/// a flow collection (no block scalars there, and `,[]{}` need quotes).
pub fn write(value: &Value, prefer: Option<Style>, flow: bool) -> Written {
    match value {
        Value::Null => Written::Inline("null".into()),
        Value::Bool(b) => Written::Inline(b.to_string()),
        Value::Number(n) => Written::Inline(n.to_string()),
        Value::String(s) => write_str(s, prefer, flow),
        // Collections are not scalars; callers render them. Flow JSON is valid YAML.
        other => Written::Inline(other.to_string()),
    }
}

fn write_str(s: &str, prefer: Option<Style>, flow: bool) -> Written {
    if s.contains('\n')
        && !flow
        && matches!(
            prefer,
            None | Some(Style::Literal | Style::Folded | Style::Plain)
        )
    {
        if let Some((header, lines)) = literal_lines(s) {
            return Written::Block {
                header,
                lines: lines.into_iter().map(str::to_string).collect(),
            };
        }
    }
    let inline = match prefer {
        Some(Style::Single) => single_quoted(s).unwrap_or_else(|| double_quoted(s)),
        Some(Style::Double) => double_quoted(s),
        _ if plain_safe(s, flow) => s.to_string(),
        _ => double_quoted(s),
    };
    Written::Inline(inline)
}

/// A mapping key: plain when it can be, else double-quoted.
pub fn key(k: &str, flow: bool) -> String {
    if plain_safe(k, flow) {
        k.to_string()
    } else {
        double_quoted(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inline(value: Value, prefer: Option<Style>) -> String {
        match write(&value, prefer, false) {
            Written::Inline(s) => s,
            Written::Block { .. } => panic!("block"),
        }
    }

    #[test]
    fn strings_that_read_as_other_types_are_quoted() {
        for s in [
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "true",
            "null",
            "~",
            "0777",
            "1.0",
            "1e3",
            "0x1F",
            "0o17",
            "1_000",
            "12:30",
            "2024-01-01",
            ".inf",
            "-1",
            "+1",
            "",
            " x",
            "x ",
            "- a",
            "#x",
            "a: b",
            "a #b",
            "*ref",
            "&x",
            "!tag",
            "@x",
            "`x",
            "---",
            "[a]",
            "{a}",
            "a:",
            "%x",
            "|",
            ">",
        ] {
            let written = inline(json!(s), None);
            assert!(written.starts_with('"'), "{s:?} written as {written}");
        }
        for s in [
            "nginx:1.25",
            "web",
            "1Gi",
            "500m",
            "-Xmx1g",
            "a b",
            "http://x/y",
            "v1.2.3",
            "a-b_c.d/e",
        ] {
            assert_eq!(inline(json!(s), None), s);
        }
        assert_eq!(inline(json!("it's"), Some(Style::Single)), "'it''s'");
        assert_eq!(inline(json!("plain"), Some(Style::Double)), "\"plain\"");
        assert_eq!(inline(json!(10), Some(Style::Double)), "10");
        assert_eq!(inline(json!(true), None), "true");
        assert_eq!(inline(json!("a,b"), None), "a,b");
        assert!(matches!(write(&json!("a,b"), None, true), Written::Inline(s) if s == "\"a,b\""));
    }

    #[test]
    fn multi_line_strings_are_literal_blocks_when_they_can_be() {
        assert_eq!(
            write(&json!("a\nb\n"), None, false),
            Written::Block {
                header: "|".into(),
                lines: vec!["a".into(), "b".into()]
            }
        );
        assert!(
            matches!(write(&json!("a\nb"), None, false), Written::Block { header, .. } if header == "|-")
        );
        assert!(
            matches!(write(&json!("a\n\n"), None, false), Written::Block { header, .. } if header == "|+")
        );
        assert!(
            matches!(write(&json!(" a\nb"), None, false), Written::Inline(s) if s == "\" a\\nb\"")
        );
        assert!(matches!(
            write(&json!("a \nb"), None, false),
            Written::Inline(_)
        ));
    }
}
