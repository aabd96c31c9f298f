//! Files to objects: which YAML documents are Kubernetes objects, `kind: List` expansion, and
//! per-file errors with a line, so one bad file never hides the rest.

use std::sync::Arc;

use serde_json::Value;

use super::yaml;
use super::{Declared, Origin};

/// Largest manifest read; anything larger is reported rather than parsed (a 50 MB "manifest"
/// is an accident or an attack, and parsing it would hold the sync thread and memory).
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// An object read from a file, before the snapshot gives it an identity (scope and default
/// namespace depend on CRDs that may sit in other files).
#[derive(Debug, Clone)]
pub struct RawObject {
    pub api_version: String,
    pub kind: String,
    /// Shared, not copied, between the parse cache, a source's last good state and the
    /// snapshot: a re-index after one changed file costs a pointer per object, and 100,000
    /// objects are held once.
    pub value: Declared,
    pub file: Arc<str>,
    pub line: usize,
    pub origin: Origin,
    /// Kept from an earlier revision because its file no longer parses.
    pub stale: bool,
}

/// A file that could not be read as manifests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileError {
    pub source: String,
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}:{}: {}",
            self.source, self.file, self.line, self.message
        )
    }
}

/// What one file held.
#[derive(Debug, Clone, Default)]
pub struct FileObjects {
    pub objects: Vec<RawObject>,
    /// Documents that are not Kubernetes objects (no apiVersion/kind, kustomize configs, ...).
    pub skipped_documents: usize,
}

/// Is this path a file worth reading as manifests? The extensions `kubectl apply -f DIR` reads.
pub fn is_manifest_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json")
}

fn is_json_path(path: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".json")
}

/// Files kustomize reads as its own configuration, never as objects.
pub fn is_kustomization_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    matches!(
        name,
        "kustomization.yaml" | "kustomization.yml" | "Kustomization"
    )
}

/// The objects of a file in Git.
pub fn parse_file(source: &str, file: &str, bytes: &[u8]) -> Result<FileObjects, FileError> {
    parse_bytes(source, file, bytes, false, false)
}

/// [`parse_file`] for a manifest file of the repository: each object also keeps the line of
/// each of its values (see [`lines`](super::lines)), for the denial message's "In Git:" line.
pub fn parse_manifest(source: &str, file: &str, bytes: &[u8]) -> Result<FileObjects, FileError> {
    parse_bytes(source, file, bytes, false, true)
}

/// The objects of text read as written, folded scalars as the YAML spec reads them (see
/// [`yaml::parse_rendered_documents`]): kustomize's own output, or a file that its tool applies
/// without kustomize (an Argo CD plain directory).
pub fn parse_as_written(source: &str, file: &str, bytes: &[u8]) -> Result<FileObjects, FileError> {
    parse_bytes(source, file, bytes, true, false)
}

fn parse_bytes(
    source: &str,
    file: &str,
    bytes: &[u8],
    as_written: bool,
    lines: bool,
) -> Result<FileObjects, FileError> {
    let err = |line: usize, message: String| FileError {
        source: source.to_string(),
        file: file.to_string(),
        line,
        message,
    };
    if bytes.len() > MAX_FILE_BYTES {
        return Err(err(
            0,
            format!(
                "file is {} bytes, over the {} byte limit for a manifest",
                bytes.len(),
                MAX_FILE_BYTES
            ),
        ));
    }
    if bytes.contains(&0) {
        return Err(err(0, "binary file (contains NUL bytes), not YAML".into()));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        err(line, format!("not UTF-8: {e}"))
    })?;
    let docs = if is_json_path(file) {
        json_documents(text)
    } else if as_written {
        yaml::parse_rendered_documents(text)
    } else {
        yaml::parse_documents(text)
    }
    .map_err(|e| err(e.line, e.message))?;
    // A second, positional read of the text; a file it cannot pair keeps no lines.
    let roots: Option<Vec<crate::yamledit::tree::Node>> = (lines && !is_json_path(file))
        .then(|| crate::yamledit::tree::parse(text).ok())
        .flatten()
        .map(|trees| {
            trees
                .into_iter()
                .map(|d| d.root)
                .filter(|r| !r.is_null())
                .collect::<Vec<_>>()
        })
        .filter(|roots| roots.len() == docs.len());
    let file: Arc<str> = Arc::from(file);
    let mut out = FileObjects::default();
    for (i, doc) in docs.into_iter().enumerate() {
        let written = roots.as_ref().and_then(|r| r.get(i));
        collect(
            doc.value,
            &file,
            doc.line,
            &doc.item_lines,
            &mut out,
            written,
        );
    }
    Ok(out)
}

/// Where a document is written, for the lines of its values.
type Written<'t> = Option<&'t crate::yamledit::tree::Node>;

/// The JSON values of a `.json` manifest (one object, or several one after another, as
/// kubectl reads a stream), each with the line it starts on.
fn json_documents(text: &str) -> Result<Vec<yaml::Document>, yaml::YamlError> {
    let line_at = |offset: usize| {
        text.as_bytes()[..offset.min(text.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    };
    let mut docs = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut start = 0;
    while let Some(next) = stream.next() {
        let value = next.map_err(|e| yaml::YamlError {
            line: e.line().max(1),
            message: format!("not valid JSON: {e}"),
        })?;
        let begins = start
            + text
                .get(start..)
                .map_or(0, |rest| rest.len() - rest.trim_start().len());
        start = stream.byte_offset();
        if value.is_null() {
            continue;
        }
        let item_lines = if value.get("items").is_some_and(Value::is_array) {
            json_item_lines(text, begins, start, &line_at)
        } else {
            Vec::new()
        };
        docs.push(yaml::Document {
            line: line_at(begins),
            value,
            item_lines,
        });
    }
    Ok(docs)
}

/// The line each item of a JSON `List` starts on: the `items` array read again as raw
/// values, which borrow from the text and so say where they are.
fn json_item_lines(
    text: &str,
    begins: usize,
    end: usize,
    line_at: &dyn Fn(usize) -> usize,
) -> Vec<usize> {
    #[derive(serde::Deserialize)]
    struct Items<'a> {
        #[serde(borrow, default)]
        items: Vec<&'a serde_json::value::RawValue>,
    }
    let Some(doc) = text.get(begins..end) else {
        return Vec::new();
    };
    match serde_json::from_str::<Items>(doc) {
        Ok(list) => list
            .items
            .iter()
            .map(|item| line_at(item.get().as_ptr() as usize - text.as_ptr() as usize))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn collect(
    value: Value,
    file: &Arc<str>,
    line: usize,
    item_lines: &[usize],
    out: &mut FileObjects,
    written: Written,
) {
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    let kind = value.get("kind").and_then(Value::as_str);
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        out.skipped_documents += 1;
        return;
    };
    if api_version.starts_with("kustomize.config.k8s.io/")
        || api_version.starts_with("config.kubernetes.io/")
        || api_version.starts_with("builtin")
    {
        out.skipped_documents += 1;
        return;
    }
    if kind.ends_with("List") && value.get("items").map(Value::is_array) == Some(true) {
        let item_nodes = written.and_then(|node| match &node.kind {
            crate::yamledit::tree::Kind::Map { entries, .. } => entries
                .iter()
                .find(|e| e.key.scalar_text() == Some("items"))
                .and_then(|e| match &e.value.kind {
                    crate::yamledit::tree::Kind::Seq { items, .. } => Some(items),
                    _ => None,
                }),
            _ => None,
        });
        if let Value::Object(mut map) = value {
            if let Some(Value::Array(items)) = map.remove("items") {
                for (i, item) in items.into_iter().enumerate() {
                    // Each item on its own line where the parser said; the List's otherwise.
                    let at = item_lines.get(i).copied().unwrap_or(line);
                    let node = item_nodes.and_then(|nodes| nodes.get(i));
                    collect(item, file, at, &[], out, node);
                }
            }
        }
        return;
    }
    let named = |field: &str| {
        value
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
    };
    if !named("name") && !named("generateName") {
        // Neither a name nor a name to generate: nothing a request could be about.
        out.skipped_documents += 1;
        return;
    }
    out.objects.push(RawObject {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        value: match written.and_then(|node| super::lines::encode(node, &value)) {
            Some(lines) => Declared::with_lines(&value, lines),
            None => Declared::new(&value),
        },
        file: file.clone(),
        line,
        origin: Origin::File,
        stale: false,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_list_and_skips() {
        let text = b"# comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nfoo: bar\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: s}\n---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n";
        let out = parse_file("src", "x.yaml", text).expect("parses");
        let kinds: Vec<_> = out.objects.iter().map(|o| o.kind.as_str()).collect();
        assert_eq!(kinds, ["ConfigMap", "Secret"]);
        assert_eq!(out.skipped_documents, 2);
        assert_eq!(out.objects[0].line, 2);
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse_file("src", "bad.yaml", b"a: 1\nb: [\n").expect_err("broken");
        assert_eq!(e.file, "bad.yaml");
        assert!(e.line >= 2);
        let e = parse_file("src", "bin.yaml", b"\x00\x01").expect_err("binary");
        assert!(e.message.contains("binary"));
        let e = parse_file("src", "latin.yaml", b"a: 1\nb: \xff\n").expect_err("not utf-8");
        assert_eq!(e.line, 2);
    }

    #[test]
    fn anchors_resolve() {
        let text =
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: &l {x: y}}\ndata: *l\n";
        let out = parse_file("s", "a.yaml", text).expect("parses");
        let value = out.objects[0].value.parse().expect("json");
        assert_eq!(value["data"]["x"], "y");
    }
}
