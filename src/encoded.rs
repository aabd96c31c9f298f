//! JSON values in a compact binary form that the comparison reads where they lie. A module of its
//! own because every side holds values this way: `manifest` (Git's declarations), `admission`
//! (requests), `scan` (live objects), `schema` (field defaults), and `drift`, which compares them.
//!
//! A `serde_json::Value` costs an allocation for every map, key and string; building one for
//! Git's declaration and one for the request was most of a decision's time. Git's declarations
//! are held in this form instead (about the size of their compact JSON text), and the part of a
//! request that a comparison reads is encoded into it straight from the request's JSON text, into
//! one buffer. `Value`s are made only for what is reported: the two values of a differing field.
//!
//! Layout, values in pre-order:
//! - `null`, `false`, `true`: the tag alone;
//! - integers: tag and LEB128 (a non-negative one as `u64`, a negative `i` as the `u64` of `!i`);
//! - floats: tag and 8 bytes little-endian;
//! - strings: tag, LEB128 byte length, UTF-8 bytes;
//! - arrays and objects: tag, `u32` byte length of the content, `u32` count, then the items, or
//!   the members as key (LEB128 length and bytes, no tag) and value. A container of 4 GiB or
//!   more has the `BIG` bit in its tag and `u64`s instead.
//!
//! The content length lets a reader step over a subtree without reading it. The encoding of a
//! value is canonical: equal bytes are equal values with their keys in the same order.

use std::collections::HashMap;
use std::fmt;

use serde::de;
use serde_json::{Map, Number, Value};

mod encode;

use encode::{TopLevel, Writer};

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const POS: u8 = 3;
const NEG: u8 = 4;
const FLOAT: u8 = 5;
const STRING: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;
/// Set on an array or object tag whose header holds `u64`s.
const BIG: u8 = 0x10;
/// Tag and two `u32`s.
const HEADER: usize = 9;
/// Tag and two `u64`s.
const BIG_HEADER: usize = 17;

/// An encoded value, immutable once built.
#[derive(Clone, PartialEq, Eq)]
pub struct Tree(Box<[u8]>);

impl Tree {
    pub fn from_value(value: &Value) -> Tree {
        let mut w = Writer::new(u32::MAX as usize);
        w.value(value);
        w.finish()
    }

    /// Encodes the JSON object in `text`, member by member as `select` says: what a comparison
    /// does not read is skipped without being decoded. Errors are `serde_json`'s: not JSON,
    /// nested deeper than 128, or not an object.
    pub fn from_json_object(
        text: &str,
        select: impl Fn(&str) -> Member,
    ) -> Result<Tree, serde_json::Error> {
        let mut w = Writer::new(u32::MAX as usize);
        // The kept part is at most about as long as the text; one allocation in the common case.
        w.buf.reserve(text.len());
        let mut de = serde_json::Deserializer::from_str(text);
        de::Deserializer::deserialize_map(
            &mut de,
            TopLevel {
                w: &mut w,
                select: &select,
            },
        )?;
        de.end()?;
        Ok(w.finish())
    }

    pub fn root(&self) -> Node<'_> {
        Node(&self.0)
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Tree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.root(), f)
    }
}

/// What [`Tree::from_json_object`] does with one member of the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    Keep,
    Skip,
    /// Keep this member, which must be an object, without its members of these names.
    KeepExcept(&'static [&'static str]),
}

/// A number as `serde_json` holds one (without `arbitrary_precision`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// Every integer ≥ 0, as `serde_json` makes them.
    Pos(u64),
    Neg(i64),
    Float(f64),
}

impl Num {
    fn of(n: &Number) -> Num {
        if let Some(u) = n.as_u64() {
            Num::Pos(u)
        } else if let Some(i) = n.as_i64() {
            Num::Neg(i)
        } else {
            Num::Float(n.as_f64().unwrap_or_default())
        }
    }

    fn of_i64(i: i64) -> Num {
        match u64::try_from(i) {
            Ok(u) => Num::Pos(u),
            Err(_) => Num::Neg(i),
        }
    }

    pub fn as_i64(self) -> Option<i64> {
        match self {
            Num::Pos(u) => i64::try_from(u).ok(),
            Num::Neg(i) => Some(i),
            Num::Float(_) => None,
        }
    }

    pub fn as_u64(self) -> Option<u64> {
        match self {
            Num::Pos(u) => Some(u),
            _ => None,
        }
    }

    pub fn as_f64(self) -> f64 {
        match self {
            Num::Pos(u) => u as f64,
            Num::Neg(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    /// `None` only for a float that is not finite, which JSON cannot carry.
    pub fn to_number(self) -> Option<Number> {
        match self {
            Num::Pos(u) => Some(u.into()),
            Num::Neg(i) => Some(i.into()),
            Num::Float(f) => Number::from_f64(f),
        }
    }
}

/// One encoded value, borrowed from a [`Tree`]. Reading a malformed encoding (which the writer
/// never produces) gives `null` or nothing, never a panic.
#[derive(Clone, Copy)]
pub struct Node<'a>(&'a [u8]);

/// What kind of value a [`Node`] is, read from its tag alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

/// What a [`Node`] is.
#[derive(Debug, Clone)]
pub enum View<'a> {
    Null,
    Bool(bool),
    Number(Num),
    String(&'a str),
    Array(Items<'a>),
    Object(Entries<'a>),
}

impl<'a> Node<'a> {
    pub fn view(self) -> View<'a> {
        self.try_view().unwrap_or(View::Null)
    }

    /// The kind without decoding the value (a string is not checked for UTF-8 here). A
    /// malformed node is [`Kind::Null`], as [`Node::view`] reads it.
    pub fn kind(self) -> Kind {
        match self.0.first() {
            Some(&FALSE | &TRUE) => Kind::Bool,
            Some(&POS | &NEG | &FLOAT) => Kind::Number,
            Some(&STRING) => Kind::String,
            Some(&tag) if tag & !BIG == ARRAY => Kind::Array,
            Some(&tag) if tag & !BIG == OBJECT => Kind::Object,
            _ => Kind::Null,
        }
    }

    fn try_view(self) -> Option<View<'a>> {
        let bytes = self.0;
        Some(match *bytes.first()? {
            NULL => View::Null,
            FALSE => View::Bool(false),
            TRUE => View::Bool(true),
            POS => View::Number(Num::Pos(read_varint(bytes.get(1..)?)?.0)),
            NEG => View::Number(Num::Neg(!(read_varint(bytes.get(1..)?)?.0 as i64))),
            FLOAT => View::Number(Num::Float(f64::from_le_bytes(
                bytes.get(1..9)?.try_into().ok()?,
            ))),
            STRING => View::String(read_str(bytes.get(1..)?)?.0),
            tag => {
                let (_, count, content) = container(bytes)?;
                match tag & !BIG {
                    ARRAY => View::Array(Items { content, count }),
                    OBJECT => View::Object(Entries { content, count }),
                    _ => return None,
                }
            }
        })
    }

    /// The member `key` of an object (the last one, should the request repeat a key, as
    /// `serde_json` keeps); `None` for anything that is not an object.
    pub fn get(self, key: &str) -> Option<Node<'a>> {
        match self.view() {
            View::Object(entries) => entries.get(key),
            _ => None,
        }
    }

    pub fn is_null(self) -> bool {
        self.kind() == Kind::Null
    }

    pub fn is_object(self) -> bool {
        self.kind() == Kind::Object
    }

    pub fn as_str(self) -> Option<&'a str> {
        match self.view() {
            View::String(s) => Some(s),
            _ => None,
        }
    }

    /// The same encoding: the same value, object keys in the same order.
    pub fn same(self, other: Node<'_>) -> bool {
        self.0 == other.0
    }

    pub fn to_value(self) -> Value {
        match self.view() {
            View::Null => Value::Null,
            View::Bool(b) => Value::Bool(b),
            View::Number(n) => n.to_number().map_or(Value::Null, Value::Number),
            View::String(s) => Value::String(s.to_string()),
            View::Array(items) => Value::Array(items.map(Node::to_value).collect()),
            View::Object(entries) => Value::Object(
                entries
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_value())
    }
}

/// The items of an array.
#[derive(Debug, Clone)]
pub struct Items<'a> {
    content: &'a [u8],
    count: usize,
}

impl Items<'_> {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = Node<'a>;

    fn next(&mut self) -> Option<Node<'a>> {
        if self.count == 0 {
            return None;
        }
        let (node, rest) = split(self.content)?;
        self.content = rest;
        self.count -= 1;
        Some(node)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.count))
    }
}

/// The members of an object, in the order written.
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    content: &'a [u8],
    count: usize,
}

/// Above this many members, looking members up by name goes through a hash map.
pub const SCAN_LIMIT: usize = 32;

impl<'a> Entries<'a> {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The members with their keys as bytes, not checked for UTF-8 (the walk compares keys and
    /// makes text of them only for what it reports).
    pub fn raw(self) -> RawEntries<'a> {
        RawEntries(self)
    }

    /// The last member named `key`, by a scan (objects are small; see [`Lookup`] for large).
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        let mut found = None;
        let mut rest = self.content;
        for _ in 0..self.count {
            let (k, after_key) = read_bytes(rest)?;
            let (value, after_value) = split(after_key)?;
            if k == key.as_bytes() {
                found = Some(value);
            }
            rest = after_value;
        }
        found
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a str, Node<'a>);

    fn next(&mut self) -> Option<(&'a str, Node<'a>)> {
        if self.count == 0 {
            return None;
        }
        let (key, after_key) = read_str(self.content)?;
        let (value, rest) = split(after_key)?;
        self.content = rest;
        self.count -= 1;
        Some((key, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.count))
    }
}

/// [`Entries::raw`].
#[derive(Debug, Clone)]
pub struct RawEntries<'a>(Entries<'a>);

impl<'a> Iterator for RawEntries<'a> {
    type Item = (&'a [u8], Node<'a>);

    fn next(&mut self) -> Option<(&'a [u8], Node<'a>)> {
        let e = &mut self.0;
        if e.count == 0 {
            return None;
        }
        let (key, after_key) = read_bytes(e.content)?;
        let (value, rest) = split(after_key)?;
        e.content = rest;
        e.count -= 1;
        Some((key, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.0.count))
    }
}

/// Members of a request's object found by name: scanned when the object is small, through a
/// hash map when it is large, so a request with 100,000 labels costs linear time however many
/// Git declares.
pub enum Lookup<'a> {
    Scan(Option<Entries<'a>>),
    Hashed(HashMap<&'a str, Node<'a>>),
}

impl<'a> Lookup<'a> {
    /// Members of `object`; nothing when it is absent or not an object.
    pub fn new(object: Option<Node<'a>>) -> Lookup<'a> {
        match object.map(Node::view) {
            Some(View::Object(entries)) if entries.len() > SCAN_LIMIT => {
                // Later members replace earlier ones, as in `Entries::get`.
                Lookup::Hashed(entries.collect())
            }
            Some(View::Object(entries)) => Lookup::Scan(Some(entries)),
            _ => Lookup::Scan(None),
        }
    }

    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        match self {
            Lookup::Scan(entries) => entries.as_ref().and_then(|e| e.get(key)),
            Lookup::Hashed(map) => map.get(key).copied(),
        }
    }
}

fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// A length-prefixed byte string and what follows it.
fn read_bytes(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, used) = read_varint(bytes)?;
    let end = used.checked_add(usize::try_from(len).ok()?)?;
    Some((bytes.get(used..end)?, bytes.get(end..)?))
}

fn read_str(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let (s, rest) = read_bytes(bytes)?;
    Some((std::str::from_utf8(s).ok()?, rest))
}

/// A container's content length, count and content.
fn container(bytes: &[u8]) -> Option<(usize, usize, &[u8])> {
    let tag = *bytes.first()?;
    let (len, count, header) = if tag & BIG == 0 {
        let len = u32::from_le_bytes(bytes.get(1..5)?.try_into().ok()?);
        let count = u32::from_le_bytes(bytes.get(5..9)?.try_into().ok()?);
        (
            usize::try_from(len).ok()?,
            usize::try_from(count).ok()?,
            HEADER,
        )
    } else {
        let len = u64::from_le_bytes(bytes.get(1..9)?.try_into().ok()?);
        let count = u64::from_le_bytes(bytes.get(9..17)?.try_into().ok()?);
        (
            usize::try_from(len).ok()?,
            usize::try_from(count).ok()?,
            BIG_HEADER,
        )
    };
    let content = bytes.get(header..header.checked_add(len)?)?;
    Some((header + len, count, content))
}

/// The value at the start of `bytes`, and what follows it.
fn split(bytes: &[u8]) -> Option<(Node<'_>, &[u8])> {
    let size = match *bytes.first()? {
        NULL | FALSE | TRUE => 1,
        POS | NEG => 1 + read_varint(bytes.get(1..)?)?.1,
        FLOAT => 9,
        STRING => {
            let rest = read_bytes(bytes.get(1..)?)?.1;
            bytes.len() - rest.len()
        }
        _ => container(bytes)?.0,
    };
    Some((Node(bytes.get(..size)?), bytes.get(size..)?))
}

#[cfg(test)]
mod tests;
