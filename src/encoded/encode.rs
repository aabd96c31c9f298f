//! Building encoded trees: from a `Value` (Git's declarations), or from JSON text through serde
//! without building a `Value` (a request's fields), skipping what the comparison does not read.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::*;

pub(super) struct Writer {
    pub(super) buf: Vec<u8>,
    /// Largest content length and count a `u32` header holds (lower in tests, to reach `BIG`).
    limit: usize,
}

impl Writer {
    pub(super) fn new(limit: usize) -> Writer {
        Writer {
            buf: Vec::new(),
            limit,
        }
    }

    pub(super) fn finish(self) -> Tree {
        Tree(self.buf.into_boxed_slice())
    }

    fn varint(&mut self, mut n: u64) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }

    fn bytes(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    fn null(&mut self) {
        self.buf.push(NULL);
    }

    fn bool(&mut self, b: bool) {
        self.buf.push(if b { TRUE } else { FALSE });
    }

    fn number(&mut self, n: Num) {
        match n {
            Num::Pos(u) => {
                self.buf.push(POS);
                self.varint(u);
            }
            Num::Neg(i) => {
                self.buf.push(NEG);
                self.varint(!i as u64);
            }
            Num::Float(f) => {
                self.buf.push(FLOAT);
                self.buf.extend_from_slice(&f.to_le_bytes());
            }
        }
    }

    fn string(&mut self, s: &str) {
        self.buf.push(STRING);
        self.bytes(s);
    }

    /// Starts a container; [`Writer::close`] fills in its header.
    fn open(&mut self, tag: u8) -> usize {
        let at = self.buf.len();
        self.buf.push(tag);
        self.buf.extend_from_slice(&[0; HEADER - 1]);
        at
    }

    fn close(&mut self, at: usize, count: usize) {
        let len = self.buf.len() - at - HEADER;
        if len <= self.limit && count <= self.limit {
            self.buf[at + 1..at + 5].copy_from_slice(&(len as u32).to_le_bytes());
            self.buf[at + 5..at + HEADER].copy_from_slice(&(count as u32).to_le_bytes());
        } else {
            // Rare enough that moving the content to widen the header costs nothing overall.
            self.buf[at] |= BIG;
            self.buf
                .splice(at + HEADER..at + HEADER, [0; BIG_HEADER - HEADER]);
            self.buf[at + 1..at + 9].copy_from_slice(&(len as u64).to_le_bytes());
            self.buf[at + 9..at + BIG_HEADER].copy_from_slice(&(count as u64).to_le_bytes());
        }
    }

    /// The key written at `at` (by [`Key`]).
    fn key_at(&self, at: usize) -> &str {
        self.buf
            .get(at..)
            .and_then(read_str)
            .map_or("", |(key, _)| key)
    }

    pub(super) fn value(&mut self, value: &Value) {
        match value {
            Value::Null => self.null(),
            Value::Bool(b) => self.bool(*b),
            Value::Number(n) => self.number(Num::of(n)),
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                let at = self.open(ARRAY);
                for item in items {
                    self.value(item);
                }
                self.close(at, items.len());
            }
            Value::Object(map) => {
                let at = self.open(OBJECT);
                for (k, v) in map {
                    self.bytes(k);
                    self.value(v);
                }
                self.close(at, map.len());
            }
        }
    }
}

/// Encodes whatever value the deserializer holds, as `serde_json::Value` would read it.
struct Encode<'w>(&'w mut Writer);

impl<'de> DeserializeSeed<'de> for Encode<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Encode<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.bool(v);
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.number(Num::of_i64(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.number(Num::Pos(v));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        // `Value` turns a float that is not finite into null.
        if v.is_finite() {
            self.0.number(Num::Float(v));
        } else {
            self.0.null();
        }
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.string(v);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.null();
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.0.null();
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let at = self.0.open(ARRAY);
        let mut count = 0;
        while seq.next_element_seed(Encode(&mut *self.0))?.is_some() {
            count += 1;
        }
        self.0.close(at, count);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        encode_members(self.0, map, |_| Member::Keep)
    }
}

/// Writes a map key as a member key.
struct Key<'w>(&'w mut Writer);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.bytes(v);
        Ok(())
    }
}

/// An object's members, each kept, skipped or filtered as `select` says.
fn encode_members<'de, A: MapAccess<'de>>(
    w: &mut Writer,
    mut map: A,
    select: impl Fn(&str) -> Member,
) -> Result<(), A::Error> {
    let at = w.open(OBJECT);
    let mut count = 0;
    loop {
        let key_at = w.buf.len();
        if map.next_key_seed(Key(w))?.is_none() {
            break;
        }
        match select(w.key_at(key_at)) {
            Member::Skip => {
                w.buf.truncate(key_at);
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            Member::Keep => map.next_value_seed(Encode(w))?,
            Member::KeepExcept(names) => map.next_value_seed(Filtered { w, names })?,
        }
        count += 1;
    }
    w.close(at, count);
    Ok(())
}

/// The object a request holds, with the members [`Tree::from_json_object`] selects.
pub(super) struct TopLevel<'w, 's, F> {
    pub(super) w: &'w mut Writer,
    pub(super) select: &'s F,
}

impl<'de, F: Fn(&str) -> Member> Visitor<'de> for TopLevel<'_, '_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        encode_members(self.w, map, self.select)
    }
}

/// An object without the members named in `names`.
struct Filtered<'w> {
    w: &'w mut Writer,
    names: &'static [&'static str],
}

impl<'de> DeserializeSeed<'de> for Filtered<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Filtered<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let names = self.names;
        encode_members(self.w, map, |k| {
            if names.contains(&k) {
                Member::Skip
            } else {
                Member::Keep
            }
        })
    }
}
