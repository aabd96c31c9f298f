//! An Application's `spec.source.kustomize`, applied to the root kustomization the way Argo CD
//! applies it (with `kustomize edit` before building): `namePrefix`, `nameSuffix`, `namespace`
//! set; `images` in `kustomize edit set image` syntax merged by name (`*` keeps a field);
//! `commonLabels` (or, with `labelWithoutSelector`, labels that leave selectors alone) and
//! `commonAnnotations` merged; `replicas` merged by name; `patches` and `components` appended.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

/// An `images` entry kustomize would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kustomize.images: {0:?} is not NAME[=NEWNAME][:TAG|@DIGEST]")]
pub struct BadImage(pub String);

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KustomizeOptions {
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    pub namespace: Option<String>,
    /// `images` entries, already parsed into kustomize's form.
    pub images: Vec<Value>,
    pub common_labels: BTreeMap<String, String>,
    pub label_without_selector: bool,
    pub common_annotations: BTreeMap<String, String>,
    pub replicas: Vec<Value>,
    pub patches: Vec<Value>,
    pub components: Vec<String>,
}

fn strings(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

impl KustomizeOptions {
    /// Reads `spec.source.kustomize`; an image argument kustomize would refuse is an error.
    pub fn read(kustomize: Option<&Value>) -> Result<KustomizeOptions, BadImage> {
        let Some(k) = kustomize else {
            return Ok(KustomizeOptions::default());
        };
        let text = |key: &str| {
            k.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let list = |key: &str| {
            k.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let mut images = Vec::new();
        for image in list("images") {
            let arg = image.as_str().unwrap_or_default();
            images.push(parse_image(arg).ok_or_else(|| BadImage(arg.to_string()))?);
        }
        Ok(KustomizeOptions {
            name_prefix: text("namePrefix"),
            name_suffix: text("nameSuffix"),
            namespace: text("namespace"),
            images,
            common_labels: strings(k.get("commonLabels")),
            label_without_selector: k
                .get("labelWithoutSelector")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            common_annotations: strings(k.get("commonAnnotations")),
            replicas: list("replicas"),
            patches: list("patches"),
            components: list("components")
                .iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect(),
        })
    }

    /// Changes a root kustomization as Argo CD's `kustomize edit` commands would.
    pub fn apply(&self, doc: &mut Value) {
        for (key, value) in [
            ("namePrefix", &self.name_prefix),
            ("nameSuffix", &self.name_suffix),
            ("namespace", &self.namespace),
        ] {
            if let Some(v) = value {
                doc[key] = json!(v);
            }
        }
        for image in &self.images {
            merge_by_name(doc, "images", image, true);
        }
        for replica in &self.replicas {
            merge_by_name(doc, "replicas", replica, false);
        }
        if !self.common_labels.is_empty() {
            if self.label_without_selector {
                append(
                    doc,
                    "labels",
                    &[json!({"pairs": self.common_labels, "includeSelectors": false})],
                );
            } else {
                merge_map(doc, "commonLabels", &self.common_labels);
            }
        }
        merge_map(doc, "commonAnnotations", &self.common_annotations);
        append(doc, "patches", &self.patches);
        let components: Vec<Value> = self.components.iter().map(|c| json!(c)).collect();
        append(doc, "components", &components);
    }
}

/// Appends `items` to the list at `key`, creating it.
fn append(doc: &mut Value, key: &str, items: &[Value]) {
    if items.is_empty() {
        return;
    }
    match doc.get_mut(key).and_then(Value::as_array_mut) {
        Some(list) => list.extend(items.iter().cloned()),
        None => doc[key] = Value::Array(items.to_vec()),
    }
}

fn merge_map(doc: &mut Value, key: &str, pairs: &BTreeMap<String, String>) {
    if pairs.is_empty() {
        return;
    }
    let Some(root) = doc.as_object_mut() else {
        return;
    };
    let entry = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if let Some(map) = entry.as_object_mut() {
        for (k, v) in pairs {
            map.insert(k.clone(), json!(v));
        }
    }
}

/// Replaces the entry of the same `name` (keeping its fields the new one gives as `*`), or
/// appends.
fn merge_by_name(doc: &mut Value, key: &str, item: &Value, keep_stars: bool) {
    let Some(root) = doc.as_object_mut() else {
        return;
    };
    let list = root.entry(key).or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return;
    };
    match list.iter_mut().find(|i| i.get("name") == item.get("name")) {
        Some(existing) => {
            let mut merged = item.clone();
            if let (true, Some(map)) = (keep_stars, merged.as_object_mut()) {
                for (field, value) in map.iter_mut() {
                    if value == "*" {
                        *value = existing.get(field).cloned().unwrap_or(Value::Null);
                    }
                }
                map.retain(|_, v| !v.is_null());
            }
            *existing = merged;
        }
        None => {
            let mut item = item.clone();
            if let Some(map) = item.as_object_mut() {
                map.retain(|_, v| v != "*");
            }
            list.push(item);
        }
    }
}

/// `kustomize edit set image` syntax: `NAME=NEWNAME:TAG`, `NAME=NEWNAME@DIGEST`, `NAME:TAG`,
/// `NAME@DIGEST`, `NAME=NEWNAME`.
pub fn parse_image(arg: &str) -> Option<Value> {
    let (name, overwrite) = match arg.split_once('=') {
        Some((name, rest)) if !rest.contains('=') => (Some(name), rest),
        Some(_) => return None,
        None => (None, arg),
    };
    let (image, tag, digest) = if let Some((image, digest)) = overwrite.split_once('@') {
        (image, None, Some(digest))
    } else if let Some((image, tag)) = overwrite.rsplit_once(':').filter(|(_, t)| {
        *t == "*"
            || t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    }) {
        (image, Some(tag), None)
    } else if name.is_some() && !overwrite.is_empty() {
        (overwrite, None, None)
    } else {
        return None;
    };
    let mut out = Map::new();
    match name {
        Some(name) => {
            out.insert("name".into(), json!(name));
            if !image.is_empty() {
                out.insert("newName".into(), json!(image));
            }
        }
        None => {
            out.insert("name".into(), json!(image));
        }
    }
    if let Some(tag) = tag.filter(|t| !t.is_empty()) {
        out.insert("newTag".into(), json!(tag));
    }
    if let Some(digest) = digest {
        out.insert("digest".into(), json!(digest));
    }
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_arguments_as_kustomize_edit_reads_them() {
        assert_eq!(
            parse_image("nginx:1.25"),
            Some(json!({"name": "nginx", "newTag": "1.25"}))
        );
        assert_eq!(
            parse_image("nginx=registry:5000/web:2"),
            Some(json!({"name": "nginx", "newName": "registry:5000/web", "newTag": "2"}))
        );
        assert_eq!(
            parse_image("nginx=ghcr.io/x/nginx"),
            Some(json!({"name": "nginx", "newName": "ghcr.io/x/nginx"}))
        );
        assert_eq!(
            parse_image("nginx@sha256:abc"),
            Some(json!({"name": "nginx", "digest": "sha256:abc"}))
        );
        assert_eq!(parse_image("nginx"), None);
        let mut doc =
            json!({"images": [{"name": "nginx", "newName": "mirror/nginx", "newTag": "1"}]});
        let options = KustomizeOptions {
            images: vec![parse_image("nginx=*:2").expect("valid")],
            common_labels: [("team".to_string(), "a".to_string())].into(),
            ..KustomizeOptions::default()
        };
        options.apply(&mut doc);
        assert_eq!(
            doc,
            json!({"images": [{"name": "nginx", "newName": "mirror/nginx", "newTag": "2"}],
                "commonLabels": {"team": "a"}})
        );
    }
}
