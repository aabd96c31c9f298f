//! Where a rendered object's values come from: the resource file its origin annotation names,
//! and the kustomizations of its build with the `images:`, `replicas:` and patch entries that
//! may set a value on the way.

use serde_json::Value;

use super::build::{ORIGIN, TRANSFORMATIONS};
use super::repo::Files;
use super::Error;
use crate::manifest::yaml;
use crate::render::build::Build;
use crate::render::plan::{self, TreeIndex};
use crate::yamledit::Step;

/// What the origin annotation says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A resource file of the repository (path from the repository root).
    File(String),
    /// Made by a generator or from a remote base: not a file here.
    Elsewhere(String),
}

impl Origin {
    /// Where the origin annotation sends the reader, for messages.
    pub fn describe(&self) -> String {
        match self {
            Origin::File(f) => f.clone(),
            Origin::Elsewhere(what) => what.clone(),
        }
    }
}

/// Reads `config.kubernetes.io/origin` of a rendered object of `build`.
pub fn origin(object: &Value, build: &Build) -> Origin {
    let text = object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ORIGIN))
        .and_then(Value::as_str)
        .unwrap_or("");
    let parsed = yaml::parse_documents(text)
        .ok()
        .and_then(|d| d.into_iter().next())
        .map(|d| d.value)
        .unwrap_or(Value::Null);
    if let Some(repo) = parsed.get("repo").and_then(Value::as_str) {
        return Origin::Elsewhere(format!("the remote base {repo}"));
    }
    if let Some(by) = parsed.pointer("/configuredBy/kind").and_then(Value::as_str) {
        let within = parsed
            .get("configuredIn")
            .and_then(Value::as_str)
            .unwrap_or("a kustomization");
        return Origin::Elsewhere(format!("a {by} in {within}"));
    }
    match parsed
        .get("path")
        .and_then(Value::as_str)
        .and_then(|p| plan::resolve(&build.dir, p))
    {
        Some(path) => Origin::File(path),
        None => Origin::Elsewhere("no origin kustomize could name".into()),
    }
}

/// The transformers kustomize says touched the object (`ImageTagTransformer in
/// apps/prod/kustomization.yaml`), for messages.
pub fn transformers(object: &Value, build: &Build) -> Vec<String> {
    let text = object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(TRANSFORMATIONS))
        .and_then(Value::as_str)
        .unwrap_or("");
    let Ok(docs) = yaml::parse_documents(text) else {
        return Vec::new();
    };
    docs.into_iter()
        .flat_map(|d| d.value.as_array().cloned().unwrap_or_default())
        .filter_map(|t| {
            let kind = t.pointer("/configuredBy/kind")?.as_str()?;
            let within = t.get("configuredIn")?.as_str()?;
            let file = plan::resolve(&build.dir, within).unwrap_or_else(|| within.to_string());
            Some(format!("{kind} in {file}"))
        })
        .collect()
}

/// One kustomization the build reads.
#[derive(Debug, Clone)]
pub struct Kustomization {
    pub dir: String,
    pub file: String,
    pub doc: Value,
}

impl Kustomization {
    pub fn read(
        index: &TreeIndex,
        files: &Files,
        dir: &str,
    ) -> Result<Option<Kustomization>, Error> {
        let Some((file, _)) = index.kustomization_file(dir) else {
            return Ok(None);
        };
        let text = files.read(&file)?.unwrap_or_default();
        let doc = yaml::parse_documents(&text)
            .ok()
            .and_then(|d| d.into_iter().next())
            .map(|d| d.value)
            .unwrap_or(Value::Null);
        Ok(Some(Kustomization {
            dir: dir.to_string(),
            file,
            doc,
        }))
    }

    /// Entries of a list field (`images`, `replicas`, `patches`, ...).
    pub fn list(&self, field: &str) -> &[Value] {
        self.doc
            .get(field)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// The repository path of a file this kustomization names.
    pub fn path_of(&self, rel: &str) -> Option<String> {
        plan::resolve(&self.dir, rel)
    }

    /// Patch files (strategic merge) this kustomization applies, in order, with the target
    /// selector given beside them.
    pub fn patch_files(&self) -> Vec<(usize, String, Option<Value>)> {
        let mut out = Vec::new();
        for (i, entry) in self.list("patches").iter().enumerate() {
            if let Some(path) = entry
                .get("path")
                .and_then(Value::as_str)
                .and_then(|p| self.path_of(p))
            {
                out.push((i, path, entry.get("target").cloned()));
            }
        }
        for entry in self.list("patchesStrategicMerge") {
            if let Some(path) = entry.as_str().and_then(|p| self.path_of(p)) {
                out.push((usize::MAX, path, None));
            }
        }
        out
    }
}

/// `name[:tag][@digest]` split into its parts.
pub fn split_image(image: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    // A tag follows the last colon after the last slash (a registry port is not a tag).
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..]), digest),
        None => (rest, None, digest),
    }
}

/// Whether a path is a container's image.
pub fn is_image_path(path: &[Step]) -> bool {
    matches!(path.last(), Some(Step::Key(k)) if k == "image")
        && path
            .iter()
            .any(|s| matches!(s, Step::Key(k) if k == "containers" || k == "initContainers"))
}

pub fn is_replicas_path(path: &[Step]) -> bool {
    matches!(path, [Step::Key(a), Step::Key(b)] if a == "spec" && b == "replicas")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split_as_kustomize_reads_them() {
        assert_eq!(split_image("nginx"), ("nginx", None, None));
        assert_eq!(split_image("nginx:1.25"), ("nginx", Some("1.25"), None));
        assert_eq!(
            split_image("reg:5000/a/b:v1"),
            ("reg:5000/a/b", Some("v1"), None)
        );
        assert_eq!(
            split_image("a/b@sha256:00"),
            ("a/b", None, Some("sha256:00"))
        );
        assert_eq!(
            split_image("a/b:v1@sha256:00"),
            ("a/b", Some("v1"), Some("sha256:00"))
        );
    }
}
