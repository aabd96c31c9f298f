//! The schema of a custom resource, from its CustomResourceDefinition's `openAPIV3Schema`: the
//! same facts as the built-in schema, written as `x-kubernetes-*` extensions. Every field of a
//! custom resource keeps its zero (the apiserver stores a custom resource as it is sent), so
//! only list and map ownership and leaf kinds come from here.

use serde_json::Value;

use super::{FieldDef, Leaf, ListKind, Schema, ShapeDef};
use crate::encoded::Tree;

/// Deepest schema read; a CRD nested deeper is cut there (what lies below is compared with
/// no schema, which errs towards denying).
const MAX_DEPTH: usize = 64;

/// The schema of every version a CRD declares, as roots of its group and kind. `None` when the
/// object is not a CRD with a group and kind.
pub fn from_crd(crd: &Value) -> Option<Schema> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?;
    let kind = spec.get("names")?.get("kind")?.as_str()?;
    let mut schema = Schema::default();
    // apiextensions.k8s.io/v1: one schema per version.
    for version in spec
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = version.get("name").and_then(Value::as_str) else {
            continue;
        };
        let props = version
            .pointer("/schema/openAPIV3Schema")
            .or_else(|| spec.pointer("/validation/openAPIV3Schema"));
        let root = match props {
            Some(props) => shape(&mut schema, props, 0),
            None => schema.push(ShapeDef::Unknown),
        };
        schema.add_root(group, kind, name, root);
    }
    // v1beta1 with one top-level version.
    if let (Some(version), Some(props)) = (
        spec.get("version").and_then(Value::as_str),
        spec.pointer("/validation/openAPIV3Schema"),
    ) {
        let root = shape(&mut schema, props, 0);
        schema.add_root(group, kind, version, root);
    }
    Some(schema)
}

fn is_true(props: &Value, key: &str) -> bool {
    props.get(key).and_then(Value::as_bool) == Some(true)
}

/// The shape of one schema node, with what lies below it.
fn shape(schema: &mut Schema, props: &Value, depth: usize) -> u32 {
    if depth > MAX_DEPTH {
        return schema.push(ShapeDef::Unknown);
    }
    if is_true(props, "x-kubernetes-int-or-string") {
        return schema.push(ShapeDef::Leaf(Leaf::IntOrString));
    }
    let ty = props.get("type").and_then(Value::as_str).unwrap_or("");
    match ty {
        "boolean" => schema.push(ShapeDef::Leaf(Leaf::Bool)),
        "integer" => schema.push(ShapeDef::Leaf(Leaf::Int)),
        "number" => schema.push(ShapeDef::Leaf(Leaf::Float)),
        "string" => {
            let leaf = match props.get("format").and_then(Value::as_str) {
                Some("byte") => Leaf::Bytes,
                Some("date-time") => Leaf::Time,
                _ => Leaf::String,
            };
            schema.push(ShapeDef::Leaf(leaf))
        }
        "array" => {
            let of = match props.get("items") {
                Some(items) if items.is_object() => shape(schema, items, depth + 1),
                _ => schema.push(ShapeDef::Unknown),
            };
            let list_type = props.get("x-kubernetes-list-type").and_then(Value::as_str);
            let (kind, keys) = match list_type {
                Some("map") => (
                    ListKind::Map,
                    props
                        .get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|keys| keys.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default(),
                ),
                Some("set") => (ListKind::Set, Vec::new()),
                // No list type: atomic, as server-side apply reads a CRD list.
                _ => (ListKind::Atomic, Vec::new()),
            };
            // A list-map without keys cannot match elements: owned whole.
            let kind = if kind == ListKind::Map && keys.is_empty() {
                ListKind::Atomic
            } else {
                kind
            };
            let start = schema.keys.len() as u32;
            schema.keys.extend(keys.into_iter().map(Into::into));
            let end = schema.keys.len() as u32;
            schema.push(ShapeDef::List {
                of,
                kind,
                keys: (start, end),
            })
        }
        _ => object(schema, props, depth),
    }
}

/// An object node: a struct when it names properties, a map when it has
/// `additionalProperties`, no schema when it keeps unknown fields and names nothing.
fn object(schema: &mut Schema, props: &Value, depth: usize) -> u32 {
    let atomic = props.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
    let open = is_true(props, "x-kubernetes-preserve-unknown-fields");
    let properties = props.get("properties").and_then(Value::as_object);
    let additional = props.get("additionalProperties").filter(|a| a.is_object());
    match (properties, additional) {
        (Some(properties), _) => {
            let mut fields: Vec<FieldDef> = properties
                .iter()
                .map(|(name, p)| FieldDef {
                    name: name.as_str().into(),
                    shape: shape(schema, p, depth + 1),
                    zero_if_absent: false,
                    default: p.get("default").map(Tree::from_value),
                })
                .collect();
            fields.sort_by(|a, b| super::by_length(a.name.as_bytes(), b.name.as_bytes()));
            let start = schema.fields.len() as u32;
            schema.fields.extend(fields);
            let end = schema.fields.len() as u32;
            schema.push(ShapeDef::Struct {
                fields: (start, end),
                atomic,
                open: open || additional.is_some(),
            })
        }
        (None, Some(additional)) => {
            let of = shape(schema, additional, depth + 1);
            schema.push(ShapeDef::Map { of, atomic })
        }
        (None, None) if atomic => {
            let of = schema.push(ShapeDef::Unknown);
            schema.push(ShapeDef::Map { of, atomic })
        }
        (None, None) => schema.push(ShapeDef::Unknown),
    }
}
