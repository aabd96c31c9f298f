//! One object as the cluster holds it, read from a dump or a LIST page: its identity, read
//! cheaply from its JSON text, and the part a comparison with Git's declaration reads, encoded
//! only once the object turns out to be declared.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::encoded::{Member, Node, Tree};
use crate::manifest::{split_api_version, ObjectKey};

/// A live object. Its content stays text (or the `Value` a YAML dump gave) until
/// [`LiveObject::tree_for`] encodes what Git's object declares.
#[derive(Debug)]
pub struct LiveObject {
    pub key: ObjectKey,
    /// `v1`, `v1beta1`: the version the cluster served it in.
    pub version: String,
    /// `metadata.uid`, for PolicyReport results that point at the object.
    pub uid: Option<String>,
    /// An owner reference with `controller: true`: a controller made it for its owner
    /// (a ReplicaSet's Pods, cert-manager's Secrets), nobody's hand edit.
    pub controlled: bool,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Json(Box<RawValue>),
    Value(Value),
}

/// The identity members of an object; everything else is skipped unread.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<Meta>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(rename = "ownerReferences", default)]
    owner_references: Option<Vec<OwnerReference>>,
}

#[derive(Deserialize)]
struct OwnerReference {
    #[serde(default)]
    controller: Option<bool>,
}

/// What the list an item came from says about it: a LIST page's items carry no `apiVersion`
/// or `kind` of their own (the apiserver names them once, on the list).
#[derive(Debug, Clone, Copy, Default)]
pub struct ItemDefaults<'a> {
    pub api_version: Option<&'a str>,
    pub kind: Option<&'a str>,
}

/// Why a document is not an object driftgate can key.
#[derive(Debug, thiserror::Error)]
pub enum Unkeyed {
    #[error("not a JSON object")]
    Json(#[source] serde_json::Error),
    #[error("not a JSON object: not a mapping")]
    NotAMapping,
    #[error("an object without {0}")]
    Missing(&'static str),
}

/// Why an object's content cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum NotAnObject {
    #[error(transparent)]
    Json(serde_json::Error),
    #[error("not an object")]
    Value,
}

impl LiveObject {
    /// An object from its JSON text.
    pub fn from_json(text: Box<RawValue>, defaults: ItemDefaults) -> Result<LiveObject, Unkeyed> {
        let head: Head = serde_json::from_str(text.get()).map_err(Unkeyed::Json)?;
        LiveObject::from_head(head, defaults, Body::Json(text))
    }

    /// An object from a YAML dump, already parsed.
    pub fn from_value(value: Value, defaults: ItemDefaults) -> Result<LiveObject, Unkeyed> {
        if !value.is_object() {
            return Err(Unkeyed::NotAMapping);
        }
        let text = |p: &str| value.pointer(p).and_then(Value::as_str).map(str::to_string);
        let owners = value
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .map(|refs| {
                refs.iter()
                    .map(|r| OwnerReference {
                        controller: r.get("controller").and_then(Value::as_bool),
                    })
                    .collect()
            });
        let head = Head {
            api_version: text("/apiVersion"),
            kind: text("/kind"),
            metadata: Some(Meta {
                name: text("/metadata/name"),
                namespace: text("/metadata/namespace"),
                uid: text("/metadata/uid"),
                owner_references: owners,
            }),
        };
        LiveObject::from_head(head, defaults, Body::Value(value))
    }

    fn from_head(head: Head, defaults: ItemDefaults, body: Body) -> Result<LiveObject, Unkeyed> {
        let api_version = head
            .api_version
            .filter(|v| !v.is_empty())
            .or_else(|| defaults.api_version.map(str::to_string))
            .ok_or(Unkeyed::Missing("apiVersion"))?;
        let kind = head
            .kind
            .filter(|k| !k.is_empty())
            .or_else(|| defaults.kind.map(str::to_string))
            .ok_or(Unkeyed::Missing("kind"))?;
        let meta = head.metadata.ok_or(Unkeyed::Missing("metadata"))?;
        let name = meta
            .name
            .filter(|n| !n.is_empty())
            .ok_or(Unkeyed::Missing("metadata.name"))?;
        let (group, version) = split_api_version(&api_version);
        let controlled = meta
            .owner_references
            .unwrap_or_default()
            .iter()
            .any(|o| o.controller == Some(true));
        Ok(LiveObject {
            key: ObjectKey::new(
                group,
                &kind,
                meta.namespace.as_deref().unwrap_or_default(),
                &name,
            ),
            version: version.to_string(),
            uid: meta.uid.filter(|u| !u.is_empty()),
            controlled,
            body,
        })
    }

    /// The object cut to what a comparison with `declared` reads, encoded for it: the top-level
    /// members Git declares, `metadata` without `managedFields`. `status` and `managedFields`,
    /// often half of a stored object, are skipped undecoded (as `/validate` reads a request).
    pub fn tree_for(&self, declared: Node<'_>) -> Result<Tree, NotAnObject> {
        match &self.body {
            Body::Json(text) => Tree::from_json_object(text.get(), |key| member(key, declared))
                .map_err(NotAnObject::Json),
            Body::Value(Value::Object(map)) => {
                let mut kept = serde_json::Map::new();
                for (key, value) in map {
                    match member(key, declared) {
                        Member::Skip => {}
                        Member::Keep => {
                            kept.insert(key.clone(), value.clone());
                        }
                        Member::KeepExcept(drop) => {
                            let mut value = value.clone();
                            if let Some(inner) = value.as_object_mut() {
                                inner.retain(|k, _| !drop.contains(&k.as_str()));
                            }
                            kept.insert(key.clone(), value);
                        }
                    }
                }
                Ok(Tree::from_value(&Value::Object(kept)))
            }
            Body::Value(_) => Err(NotAnObject::Value),
        }
    }
}

fn member(key: &str, declared: Node<'_>) -> Member {
    match key {
        "metadata" => Member::KeepExcept(&["managedFields"]),
        // Git's `stringData` is compared with the live `data`, where the apiserver folds it.
        "data" if declared.get("stringData").is_some() => Member::Keep,
        _ if declared.get(key).is_some() => Member::Keep,
        _ => Member::Skip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(v: Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).expect("json")
    }

    #[test]
    fn identity_from_the_object_or_its_list() {
        let item = json!({"metadata": {"name": "web", "namespace": "shop", "uid": "u-1",
            "ownerReferences": [{"kind": "ReplicaSet", "controller": true}]}, "spec": {}});
        let defaults = ItemDefaults {
            api_version: Some("apps/v1"),
            kind: Some("Deployment"),
        };
        let live = LiveObject::from_json(raw(item.clone()), defaults).expect("keyed");
        assert_eq!(
            live.key,
            ObjectKey::new("apps", "Deployment", "shop", "web")
        );
        assert_eq!(live.version, "v1");
        assert_eq!(live.uid.as_deref(), Some("u-1"));
        assert!(live.controlled);
        let yaml = LiveObject::from_value(item.clone(), defaults).expect("keyed");
        assert_eq!(yaml.key, live.key);
        assert!(yaml.controlled);
        assert!(matches!(
            LiveObject::from_json(raw(item), ItemDefaults::default()).err(),
            Some(Unkeyed::Missing("apiVersion"))
        ));
        let nameless = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
        assert!(matches!(
            LiveObject::from_json(raw(nameless), ItemDefaults::default()).err(),
            Some(Unkeyed::Missing("metadata.name"))
        ));
    }

    #[test]
    fn only_what_git_declares_is_encoded() {
        let declared =
            Tree::from_value(&json!({"metadata": {"name": "s"}, "stringData": {"a": "b"}}));
        let live = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "managedFields": [{"manager": "x"}], "labels": {"a": "b"}},
            "data": {"a": "Yg=="}, "status": {"big": true}, "type": "Opaque"});
        let expected =
            json!({"metadata": {"name": "s", "labels": {"a": "b"}}, "data": {"a": "Yg=="}});
        for object in [
            LiveObject::from_json(raw(live.clone()), ItemDefaults::default()).expect("json"),
            LiveObject::from_value(live.clone(), ItemDefaults::default()).expect("yaml"),
        ] {
            let tree = object.tree_for(declared.root()).expect("encodes");
            assert_eq!(tree.root().to_value(), expected);
        }
    }
}
