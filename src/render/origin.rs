//! Where a rendered object comes from. Every kustomize build runs with `buildMetadata:
//! [originAnnotations]` (see `kfile`), so kustomize writes, on each object, the file that
//! declares it (`path: ../base/deploy.yaml`) or the kustomization whose generator made it
//! (`configuredIn: kustomization.yaml`). That annotation is read into the object's `file` and
//! removed: it is driftgate's question to kustomize, never part of what is applied or compared.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::git::{EntryKind, ReadBlob};
use crate::manifest::parse::{self, RawObject};
use crate::manifest::yaml;
use crate::manifest::{Declared, Origin};

use super::build::Build;
use super::flux::object::BuildOptions;
use super::plan::TreeIndex;
use super::{plan, postbuild};

const ORIGIN: &str = "config.kubernetes.io/origin";

/// The object as the controller applies it, with its provenance: the origin annotation taken
/// out (and read), Flux's post-build metadata changes made.
pub fn finish(raw: RawObject, build: &Build, flux: Option<&BuildOptions>) -> RawObject {
    let Ok(mut value) = raw.value.parse() else {
        return raw;
    };
    let origin = take_annotation(&mut value, ORIGIN);
    let file = origin
        .as_deref()
        .and_then(|text| declaring_file(&build.dir, text))
        .unwrap_or_else(|| build.info.dir.clone());
    if let Some(options) = flux {
        postbuild::after(&mut value, options);
    }
    RawObject {
        value: Declared::new(&value),
        file: Arc::from(file),
        line: 0,
        origin: Origin::Built(build.info.clone()),
        ..raw
    }
}

/// Gives each rendered object the line of its document in the file that declares it, matched
/// by kind and then by name (kustomize may have prefixed, suffixed or substituted the name):
/// messages and errors point at the line a person edits.
pub fn assign_lines(objects: &mut [RawObject], index: &TreeIndex, read: &ReadBlob<'_>) {
    let mut documents: HashMap<Arc<str>, Vec<(String, String, usize)>> = HashMap::new();
    for object in objects.iter_mut() {
        let docs = documents.entry(object.file.clone()).or_insert_with(|| {
            let Some((EntryKind::Blob, blob)) = index.get(&object.file) else {
                return Vec::new();
            };
            let Ok(bytes) = read(blob) else {
                return Vec::new();
            };
            parse::parse_file("", &object.file, &bytes)
                .map(|parsed| {
                    parsed
                        .objects
                        .iter()
                        .map(|o| (o.kind.clone(), o.value.name().to_string(), o.line))
                        .collect()
                })
                .unwrap_or_default()
        });
        let same_kind: Vec<&(String, String, usize)> = docs
            .iter()
            .filter(|(kind, _, _)| *kind == object.kind)
            .collect();
        let name = object.value.name();
        let found = match same_kind.as_slice() {
            [] => None,
            [one] => Some(one),
            many => many
                .iter()
                .filter(|(_, n, _)| !n.is_empty() && name.contains(n.as_str()))
                .max_by_key(|(_, n, _)| n.len())
                .or(many.first()),
        };
        if let Some((_, _, line)) = found {
            object.line = *line;
        }
    }
}

/// Removes an annotation (and an annotations map it leaves empty); returns its value.
pub fn take_annotation(value: &mut Value, key: &str) -> Option<String> {
    let metadata = value.get_mut("metadata")?.as_object_mut()?;
    let annotations = metadata.get_mut("annotations")?.as_object_mut()?;
    let taken = annotations.remove(key)?;
    if annotations.is_empty() {
        metadata.remove("annotations");
    }
    taken.as_str().map(str::to_string)
}

/// The tree path an origin annotation names, relative to the build's directory; `None` for a
/// remote base or anything that does not resolve inside the repository.
fn declaring_file(dir: &str, text: &str) -> Option<String> {
    let doc = yaml::parse_documents(text).ok()?.into_iter().next()?.value;
    if doc.get("repo").is_some() {
        return None;
    }
    let path = doc
        .get("path")
        .or_else(|| doc.get("configuredIn"))?
        .as_str()?;
    plan::resolve(dir, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn origin_names_the_file_and_leaves_the_object_as_written() {
        let mut value = json!({"metadata": {"name": "web", "annotations": {ORIGIN: "path: ../base/deploy.yaml\n"}}});
        let text = take_annotation(&mut value, ORIGIN).expect("present");
        assert_eq!(value, json!({"metadata": {"name": "web"}}));
        assert_eq!(
            declaring_file("apps/prod", &text).as_deref(),
            Some("apps/base/deploy.yaml")
        );
        let generated = "configuredIn: kustomization.yaml\nconfiguredBy:\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n";
        assert_eq!(
            declaring_file("apps/prod", generated).as_deref(),
            Some("apps/prod/kustomization.yaml")
        );
        let remote = "path: deploy.yaml\nrepo: https://github.com/x/y\nref: v1\n";
        assert_eq!(declaring_file("apps", remote), None);
        let mut kept = json!({"metadata": {"annotations": {"a": "b", ORIGIN: "path: x.yaml\n"}}});
        take_annotation(&mut kept, ORIGIN);
        assert_eq!(kept, json!({"metadata": {"annotations": {"a": "b"}}}));
    }
}
