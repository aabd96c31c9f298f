//! Flux `postBuild`: variable substitution on the rendered objects, as kustomize-controller
//! applies it after the build (`${VAR}` from `spec.postBuild.substitute`, and defaults).

use std::collections::BTreeMap;

use serde_json::Value;

use super::flux::BuildOptions;
use crate::manifest::yaml;

/// `postBuild`: substitutes variables in each rendered object, except those annotated
/// `kustomize.toolkit.fluxcd.io/substitute: disabled`.
pub fn post_build(output: &[u8], options: &BuildOptions) -> Result<Vec<u8>, String> {
    if !options.post_build {
        return Ok(output.to_vec());
    }
    let text = std::str::from_utf8(output).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut out = String::with_capacity(text.len());
    for doc in split_documents(text) {
        let disabled = yaml::parse_documents(doc)
            .ok()
            .and_then(|d| d.into_iter().next())
            .and_then(|d| {
                d.value
                    .pointer("/metadata/annotations/kustomize.toolkit.fluxcd.io~1substitute")
                    .and_then(Value::as_str)
                    .map(|s| s == "disabled")
            })
            .unwrap_or(false);
        if !out.is_empty() {
            out.push_str("---\n");
        }
        if disabled {
            out.push_str(doc);
        } else {
            out.push_str(&substitute(doc, &options.substitute));
        }
    }
    Ok(out.into_bytes())
}

/// kustomize writes documents separated by `---` lines.
pub(crate) fn split_documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(&text[start..pos]);
            start = pos + line.len();
        }
        pos += line.len();
    }
    docs.push(&text[start..]);
    docs.into_iter().filter(|d| !d.trim().is_empty()).collect()
}

/// `${VAR}`, `${VAR:=default}`, `${VAR:-default}` (default when unset or empty), `${VAR=default}`,
/// `${VAR-default}` (when unset); an unset variable without default becomes empty, as Flux does
/// outside strict mode; `$${VAR}` is an escaped literal `${VAR}`. Bare `$VAR` is left as written.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(escaped) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = escaped;
            continue;
        }
        let Some(body_start) = tail.strip_prefix("${") else {
            out.push('$');
            rest = &tail[1..];
            continue;
        };
        let Some(end) = body_start.find('}') else {
            out.push_str(tail);
            rest = "";
            break;
        };
        let body = &body_start[..end];
        match expand(body, vars) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&tail[..end + 3]),
        }
        rest = &body_start[end + 1..];
    }
    out.push_str(rest);
    out
}

/// One `${…}` body; `None` when it is not a variable expression (left untouched).
fn expand(body: &str, vars: &BTreeMap<String, String>) -> Option<String> {
    let name_len = body
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_alphanumeric() || *c == '_') || (*i == 0 && c.is_ascii_digit()))
        .map(|(i, _)| i)
        .unwrap_or(body.len());
    if name_len == 0 {
        return None;
    }
    let (name, op) = body.split_at(name_len);
    let value = vars.get(name);
    let with_default = |default: &str, empty_counts: bool| match value {
        Some(v) if !(empty_counts && v.is_empty()) => v.clone(),
        _ => default.to_string(),
    };
    if op.is_empty() {
        Some(value.cloned().unwrap_or_default())
    } else if let Some(d) = op.strip_prefix(":=").or(op.strip_prefix(":-")) {
        Some(with_default(d, true))
    } else {
        op.strip_prefix('=')
            .or(op.strip_prefix('-'))
            .map(|d| with_default(d, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_forms() {
        let vars: BTreeMap<String, String> = [
            ("A".to_string(), "x".to_string()),
            ("E".into(), String::new()),
        ]
        .into();
        assert_eq!(substitute("a: ${A}", &vars), "a: x");
        assert_eq!(substitute("a: ${B:=3}", &vars), "a: 3");
        assert_eq!(substitute("a: ${A:=3}", &vars), "a: x");
        assert_eq!(substitute("a: ${E:-d} ${E-d}", &vars), "a: d ");
        assert_eq!(substitute("a: ${MISSING}", &vars), "a: ");
        assert_eq!(
            substitute("a: $${A} $A ${1x} ${", &vars),
            "a: ${A} $A ${1x} ${"
        );
    }

    #[test]
    fn post_build_skips_disabled_objects_and_retypes_numbers() {
        let out = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  r: ${R:=2}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n  name: b\ndata:\n  r: ${R}\n";
        let options = BuildOptions {
            post_build: true,
            ..BuildOptions::default()
        };
        let text = String::from_utf8(post_build(out, &options).expect("utf-8")).expect("utf-8");
        assert!(text.contains("r: 2\n"), "{text}");
        assert!(text.contains("r: ${R}\n"), "{text}");
        let untouched = post_build(out, &BuildOptions::default()).expect("utf-8");
        assert_eq!(untouched, out);
    }
}
