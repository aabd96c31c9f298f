//! The Kubernetes schema the comparison walks beside an object: for every field, what kind of
//! value it holds, whether the apiserver can tell its absence from its zero (pointer or
//! `omitempty` value), and how server-side apply owns it (granular, list-map with its keys, set,
//! atomic). Built-in kinds come from `schema/kubernetes.json` (read from k8s.io/api's Go types,
//! see `schema/PROVENANCE.md`), loaded once into the compact form here; custom resources from
//! their CRD's `openAPIV3Schema` ([`crd`]).
//!
//! Everything is resolved to indices at load: a lookup while walking is a binary search in one
//! struct's sorted field names, and allocates nothing.

mod builtin;
pub mod crd;

use std::collections::HashMap;

use crate::encoded::{Node, Tree};

pub use builtin::{builtin, load_builtin, Error};

/// The leaf kinds of the schema: how two values of a field are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    Bool,
    String,
    Int,
    Float,
    /// `[]byte`: a base64 string.
    Bytes,
    /// `resource.Quantity`: `500m` is `0.5`.
    Quantity,
    /// `intstr.IntOrString`: a number or a string, never one for the other.
    IntOrString,
    Time,
    Duration,
}

/// How server-side apply owns a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Owned whole (`+listType=atomic`, or no list type and no merge key).
    Atomic,
    /// Per element (`+listType=set`).
    Set,
    /// Per element, matched by the key fields (`+listType=map` and `+listMapKey`).
    Map,
}

#[derive(Debug, Clone)]
enum ShapeDef {
    Leaf(Leaf),
    /// No schema: `any` (RawExtension), unknown fields, custom resources without a CRD. Maps
    /// are granular, lists atomic, and absence is never a zero.
    Unknown,
    Struct {
        /// `fields[start..end]`, sorted by [`by_length`].
        fields: (u32, u32),
        atomic: bool,
        /// Members the schema does not name are kept (`x-kubernetes-preserve-unknown-fields`).
        open: bool,
    },
    List {
        of: u32,
        kind: ListKind,
        /// `keys[start..end]`, in order.
        keys: (u32, u32),
    },
    Map {
        of: u32,
        atomic: bool,
    },
}

#[derive(Debug, Clone)]
struct FieldDef {
    name: Box<str>,
    shape: u32,
    zero_if_absent: bool,
    default: Option<Tree>,
}

/// One registered kind at one version.
#[derive(Debug, Clone)]
struct Root {
    version: Box<str>,
    shape: u32,
}

/// A set of shapes, resolved to indices: the built-in one, or one CRD's.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    shapes: Vec<ShapeDef>,
    fields: Vec<FieldDef>,
    keys: Vec<Box<str>>,
    /// group → kind → versions.
    roots: HashMap<String, HashMap<String, Vec<Root>>>,
    /// `ObjectMeta`, which every kind's `metadata` is (the built-in schema's).
    object_meta: Option<u32>,
}

impl Schema {
    /// The shape of `kind` in `group` at `version`; another version of the same kind when
    /// this one is not known (a request converted between versions is compared by path).
    pub fn root(&self, group: &str, version: &str, kind: &str) -> Option<Shape<'_>> {
        let versions = self.roots.get(group)?.get(kind)?;
        let root = versions
            .iter()
            .find(|r| &*r.version == version)
            .or_else(|| versions.first())?;
        Some(self.shape(root.shape))
    }

    /// The shape of every object's `metadata`; unknown in a schema without it.
    pub fn object_meta(&self) -> Shape<'_> {
        match self.object_meta {
            Some(id) => self.shape(id),
            None => Shape::UNKNOWN,
        }
    }

    /// Kinds this schema knows, as (group, kind).
    pub fn kinds(&self) -> impl Iterator<Item = (&str, &str)> {
        self.roots
            .iter()
            .flat_map(|(g, kinds)| kinds.keys().map(move |k| (g.as_str(), k.as_str())))
    }

    fn shape(&self, id: u32) -> Shape<'_> {
        Shape {
            def: Some((self, id)),
        }
    }

    fn def(&self, id: u32) -> Option<&ShapeDef> {
        self.shapes.get(id as usize)
    }

    /// Adds a shape and returns its index.
    fn push(&mut self, def: ShapeDef) -> u32 {
        self.shapes.push(def);
        (self.shapes.len() - 1) as u32
    }

    fn add_root(&mut self, group: &str, kind: &str, version: &str, shape: u32) {
        self.roots
            .entry(group.to_string())
            .or_default()
            .entry(kind.to_string())
            .or_default()
            .push(Root {
                version: version.into(),
                shape,
            });
    }
}

/// Where a value sits in a schema. [`Shape::UNKNOWN`] is the shape of what no schema describes.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'s> {
    def: Option<(&'s Schema, u32)>,
}

/// What a [`Shape`] is.
#[derive(Debug, Clone, Copy)]
pub enum Kind<'s> {
    Unknown,
    Leaf(Leaf),
    Struct(Struct<'s>),
    List(List<'s>),
    Map(Map<'s>),
}

impl<'s> Shape<'s> {
    pub const UNKNOWN: Shape<'static> = Shape { def: None };

    pub fn kind(self) -> Kind<'s> {
        let Some((schema, id)) = self.def else {
            return Kind::Unknown;
        };
        let shape = |id: u32| Shape {
            def: Some((schema, id)),
        };
        match schema.def(id) {
            None | Some(ShapeDef::Unknown) => Kind::Unknown,
            Some(ShapeDef::Leaf(leaf)) => Kind::Leaf(*leaf),
            Some(ShapeDef::Struct {
                fields,
                atomic,
                open,
            }) => Kind::Struct(Struct {
                schema,
                fields: slice(&schema.fields, *fields),
                atomic: *atomic,
                open: *open,
            }),
            Some(ShapeDef::List { of, kind, keys }) => Kind::List(List {
                of: shape(*of),
                kind: *kind,
                keys: slice(&schema.keys, *keys),
            }),
            Some(ShapeDef::Map { of, atomic }) => Kind::Map(Map {
                of: shape(*of),
                atomic: *atomic,
            }),
        }
    }

    /// Owned whole by server-side apply: an atomic list, struct or map.
    pub fn is_atomic(self) -> bool {
        match self.kind() {
            Kind::Struct(s) => s.atomic,
            Kind::List(l) => l.kind == ListKind::Atomic,
            Kind::Map(m) => m.atomic,
            Kind::Unknown | Kind::Leaf(_) => false,
        }
    }

    pub fn as_struct(self) -> Option<Struct<'s>> {
        match self.kind() {
            Kind::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// The shape of member `name` of an object of this shape: a struct's field, a map's value;
    /// unknown for anything else.
    pub fn member(self, name: &[u8]) -> Field<'s> {
        match self.kind() {
            Kind::Struct(s) => s.field(name).unwrap_or(Field::UNKNOWN),
            Kind::Map(m) => Field {
                shape: m.of,
                zero_if_absent: false,
                default: None,
            },
            _ => Field::UNKNOWN,
        }
    }

    /// The shape of an element of a list of this shape; unknown for anything else.
    pub fn element(self) -> Shape<'s> {
        match self.kind() {
            Kind::List(l) => l.of,
            _ => Shape::UNKNOWN,
        }
    }
}

/// The order of a struct's field names: by length, then bytes. A lookup then compares bytes
/// only with names of its own length, and most comparisons are one of lengths.
pub(crate) fn by_length(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn slice<T>(items: &[T], (start, end): (u32, u32)) -> &[T] {
    items.get(start as usize..end as usize).unwrap_or_default()
}

/// A struct's fields.
#[derive(Debug, Clone, Copy)]
pub struct Struct<'s> {
    schema: &'s Schema,
    fields: &'s [FieldDef],
    pub atomic: bool,
    pub open: bool,
}

impl<'s> Struct<'s> {
    /// The field named `name`; `None` when the schema does not know it.
    pub fn field(&self, name: &[u8]) -> Option<Field<'s>> {
        let at = self
            .fields
            .binary_search_by(|f| by_length(f.name.as_bytes(), name))
            .ok()?;
        let def = self.fields.get(at)?;
        Some(Field {
            shape: self.schema.shape(def.shape),
            zero_if_absent: def.zero_if_absent,
            default: def.default.as_ref().map(Tree::root),
        })
    }

    /// The field names.
    pub fn names(&self) -> impl Iterator<Item = &'s str> {
        self.fields.iter().map(|f| &*f.name)
    }
}

/// One field as the comparison needs it.
#[derive(Debug, Clone, Copy)]
pub struct Field<'s> {
    pub shape: Shape<'s>,
    /// The apiserver cannot tell this field's zero from its absence: a non-pointer `omitempty`
    /// scalar of a built-in type, or a built-in list or map (nil and empty are one value once
    /// stored). Never for pointers, struct values, map entries and custom resources.
    pub zero_if_absent: bool,
    /// `+default=`, where the schema has one (the value of a list-map key left out).
    pub default: Option<Node<'s>>,
}

impl Field<'_> {
    pub const UNKNOWN: Field<'static> = Field {
        shape: Shape::UNKNOWN,
        zero_if_absent: false,
        default: None,
    };
}

#[derive(Debug, Clone, Copy)]
pub struct List<'s> {
    pub of: Shape<'s>,
    pub kind: ListKind,
    keys: &'s [Box<str>],
}

impl<'s> List<'s> {
    /// A list-map's key fields, in order.
    pub fn keys(&self) -> impl Iterator<Item = &'s str> + Clone {
        self.keys.iter().map(|k| &**k)
    }

    /// [`List::keys`] as held.
    pub fn key_names(&self) -> &'s [Box<str>] {
        self.keys
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Map<'s> {
    pub of: Shape<'s>,
    pub atomic: bool,
}

#[cfg(test)]
mod tests;
