//! The built-in schema: `schema/kubernetes.json`, embedded in the binary and read into a
//! [`Schema`] the first time a comparison needs it (and at startup by `serve`, so no request
//! waits for it).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use super::{FieldDef, Leaf, ListKind, Schema, ShapeDef};
use crate::encoded::Tree;

/// Kubernetes' own facts, as `schema/PROVENANCE.md` says how they were read.
pub(super) const SOURCE: &str = include_str!("../../schema/kubernetes.json");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the embedded Kubernetes schema is not valid: {0}")]
    Json(#[source] serde_json::Error),
    #[error("the embedded Kubernetes schema names type {0:?}, which it does not define")]
    UnknownType(String),
}

/// The built-in schema, loaded once. Should the embedded file not load (a build defect the
/// tests catch), every kind is compared with no schema: absence is then never a zero, which
/// errs towards denying.
pub fn builtin() -> &'static Schema {
    static BUILTIN: OnceLock<Schema> = OnceLock::new();
    BUILTIN.get_or_init(|| match load_builtin() {
        Ok(schema) => schema,
        Err(e) => {
            tracing::error!("{}", crate::text::chain(&e));
            Schema::default()
        }
    })
}

#[derive(Deserialize)]
struct File {
    roots: HashMap<String, RootIn>,
    types: HashMap<String, TypeIn>,
}

#[derive(Deserialize)]
struct RootIn {
    #[serde(rename = "type")]
    ty: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeIn {
    struct_type: String,
    fields: HashMap<String, FieldIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FieldIn {
    t: String,
    #[serde(default)]
    of: Option<Box<FieldIn>>,
    #[serde(default)]
    ptr: bool,
    #[serde(default)]
    omit: Option<String>,
    #[serde(default)]
    list_type: Option<String>,
    #[serde(default)]
    keys: Option<Vec<String>>,
    #[serde(default)]
    map_type: Option<String>,
    #[serde(default)]
    struct_type: Option<String>,
    #[serde(default)]
    patch_merge_key: Option<String>,
    #[serde(default)]
    default: Option<Value>,
}

/// Reads the embedded schema.
pub fn load_builtin() -> Result<Schema, Error> {
    let file: File = serde_json::from_str(SOURCE).map_err(Error::Json)?;
    let mut builder = Builder {
        schema: Schema::default(),
        types: HashMap::new(),
        overrides: Vec::new(),
        file: &file,
    };
    // Every struct type gets its shape index first, so fields can refer to any of them.
    let mut names: Vec<&String> = file.types.keys().collect();
    names.sort();
    for name in &names {
        let id = builder.schema.push(ShapeDef::Unknown);
        builder.types.insert(name.as_str(), id);
    }
    for name in names {
        builder.fill(name)?;
    }
    for (copy, of, atomic) in std::mem::take(&mut builder.overrides) {
        if let Some(ShapeDef::Struct { fields, open, .. }) = builder.schema.def(of).cloned() {
            if let Some(slot) = builder.schema.shapes.get_mut(copy as usize) {
                *slot = ShapeDef::Struct {
                    fields,
                    atomic,
                    open,
                };
            }
        }
    }
    builder.schema.object_meta = builder
        .types
        .get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
        .copied();
    for (gvk, root) in &file.roots {
        let mut parts = gvk.splitn(3, '/');
        let (Some(group), Some(version), Some(kind)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let id = builder.type_id(&root.ty)?;
        builder.schema.add_root(group, kind, version, id);
    }
    Ok(builder.schema)
}

struct Builder<'f> {
    schema: Schema,
    /// Struct type name → its shape.
    types: HashMap<&'f str, u32>,
    /// Fields whose `structType` differs from their type's: (their shape, the type's, atomic).
    overrides: Vec<(u32, u32, bool)>,
    file: &'f File,
}

impl<'f> Builder<'f> {
    fn type_id(&self, name: &str) -> Result<u32, Error> {
        self.types
            .get(name)
            .copied()
            .ok_or_else(|| Error::UnknownType(name.to_string()))
    }

    /// Fills in the shape of struct type `name`.
    fn fill(&mut self, name: &'f str) -> Result<(), Error> {
        let Some(ty) = self.file.types.get(name) else {
            return Err(Error::UnknownType(name.to_string()));
        };
        let mut fields: Vec<FieldDef> = Vec::with_capacity(ty.fields.len());
        for (field_name, field) in &ty.fields {
            fields.push(FieldDef {
                name: field_name.as_str().into(),
                shape: self.field_shape(field)?,
                zero_if_absent: zero_if_absent(field),
                default: field.default.as_ref().map(Tree::from_value),
            });
        }
        fields.sort_by(|a, b| super::by_length(a.name.as_bytes(), b.name.as_bytes()));
        let start = self.schema.fields.len() as u32;
        self.schema.fields.extend(fields);
        let end = self.schema.fields.len() as u32;
        let id = self.type_id(name)?;
        if let Some(slot) = self.schema.shapes.get_mut(id as usize) {
            *slot = ShapeDef::Struct {
                fields: (start, end),
                atomic: ty.struct_type == "atomic",
                open: false,
            };
        }
        Ok(())
    }

    /// The shape of a field or element, with the markers it carries.
    fn field_shape(&mut self, field: &FieldIn) -> Result<u32, Error> {
        let leaf = match field.t.as_str() {
            "bool" => Some(Leaf::Bool),
            "string" => Some(Leaf::String),
            "int" => Some(Leaf::Int),
            "float" => Some(Leaf::Float),
            "bytes" => Some(Leaf::Bytes),
            "quantity" => Some(Leaf::Quantity),
            "intorstring" => Some(Leaf::IntOrString),
            "time" => Some(Leaf::Time),
            "duration" => Some(Leaf::Duration),
            _ => None,
        };
        if let Some(leaf) = leaf {
            return Ok(self.schema.push(ShapeDef::Leaf(leaf)));
        }
        match field.t.as_str() {
            "any" => Ok(self.schema.push(ShapeDef::Unknown)),
            "list" => {
                let of = self.element(field)?;
                let (kind, keys) = match (field.list_type.as_deref(), &field.patch_merge_key) {
                    (Some("map"), _) => (ListKind::Map, field.keys.clone().unwrap_or_default()),
                    (Some("set"), _) => (ListKind::Set, Vec::new()),
                    // Merged by key without a list type: the apiserver treats it as a list-map.
                    (None, Some(key)) => (ListKind::Map, vec![key.clone()]),
                    _ => (ListKind::Atomic, Vec::new()),
                };
                let start = self.schema.keys.len() as u32;
                self.schema.keys.extend(keys.into_iter().map(Into::into));
                let end = self.schema.keys.len() as u32;
                Ok(self.schema.push(ShapeDef::List {
                    of,
                    kind,
                    keys: (start, end),
                }))
            }
            "map" => {
                let of = self.element(field)?;
                Ok(self.schema.push(ShapeDef::Map {
                    of,
                    atomic: field.map_type.as_deref() == Some("atomic"),
                }))
            }
            struct_name => {
                let id = self.type_id(struct_name)?;
                // A field may override its type's structType (one does in these sources).
                let atomic = match field.struct_type.as_deref() {
                    None => return Ok(id),
                    Some(s) => s == "atomic",
                };
                let ty = self
                    .file
                    .types
                    .get(struct_name)
                    .ok_or_else(|| Error::UnknownType(struct_name.to_string()))?;
                if (ty.struct_type == "atomic") == atomic {
                    return Ok(id);
                }
                // A copy of the struct with the field's atomicity, made once every type is
                // filled in (see `load_builtin`).
                let copy = self.schema.push(ShapeDef::Unknown);
                self.overrides.push((copy, id, atomic));
                Ok(copy)
            }
        }
    }

    fn element(&mut self, field: &FieldIn) -> Result<u32, Error> {
        match &field.of {
            Some(of) => self.field_shape(of),
            None => Ok(self.schema.push(ShapeDef::Unknown)),
        }
    }
}

/// Absent is Go's zero only where the apiserver cannot write the zero: a non-pointer scalar
/// that `omitempty` leaves out when zero, and lists and maps (a nil and an empty one are the
/// same once stored).
fn zero_if_absent(field: &FieldIn) -> bool {
    if field.ptr {
        return false;
    }
    match field.t.as_str() {
        "list" | "map" => true,
        "bool" | "string" | "int" | "float" | "bytes" => field.omit.as_deref() == Some("empty"),
        _ => false,
    }
}
