//! The config file's YAML, read straight into the structs so an unknown key is reported with
//! its line. Read as Kubernetes reads YAML (1.2 booleans: `yes` stays a string; `0777` octal),
//! like the manifests in Git, so a value means the same wherever an operator writes it.

use serde::de::DeserializeOwned;

/// A config file that does not parse, shown as `line N: what is wrong`. The parser's own text
/// (its location, a snippet, advice to a developer) is reshaped here, so it is not a `source`.
#[derive(Debug)]
/// Boxed: the parser's error is large, and config errors travel by value.
pub struct Syntax(Box<serde_saphyr::Error>);

impl std::fmt::Display for Syntax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = self
            .0
            .location()
            .map(|l| l.line())
            .filter(|l| *l > 0)
            .unwrap_or(1);
        let text = self.0.to_string();
        let first = text.lines().next().unwrap_or("invalid YAML").trim();
        let first = first.strip_prefix("error: ").unwrap_or(first);
        // The parser's "line L column C: " prefix is replaced by the line alone.
        let bare = match first.split_once(": ") {
            Some((loc, rest)) if loc.starts_with("line ") => rest,
            _ => first,
        };
        let bare = bare
            .split_once(", set DuplicateKeyPolicy")
            .map_or(bare, |(head, _)| head);
        write!(f, "line {line}: {bare}")
    }
}

impl std::error::Error for Syntax {}

pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Syntax> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        legacy_octal_numbers: true,
    };
    serde_saphyr::from_str_with_options::<T>(text, options).map_err(|e| Syntax(Box::new(e)))
}
