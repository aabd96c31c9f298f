//! Live objects from files: what `kubectl get -A -o json` (or `-o yaml`) prints, a `List` or
//! single objects, one file or a directory of them. JSON is read as a stream: each item is cut
//! out of the file as text and handed on, so a dump of 100,000 objects is never held whole.

use std::fmt;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, Deserializer as _, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use super::live::{ItemDefaults, LiveObject, Unkeyed};
use super::Error;

/// Read buffer per file: large enough that a dump streams at disk speed.
const BUFFER: usize = 1 << 20;

/// What one dump document held besides objects: a document that is no Kubernetes object is
/// reported, not fatal (a dump directory may hold other files).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub files: usize,
    pub objects: usize,
    /// `file: why` for each document skipped.
    pub skipped: Vec<String>,
}

/// Every `.json`, `.yaml` and `.yml` file under `path` (or `path` itself), in name order.
pub fn files(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let io = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| Error::Read {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| Error::Read {
                path: dir.clone(),
                source,
            })?;
            let p = entry.path();
            if p.is_dir() {
                dirs.push(p);
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("json" | "yaml" | "yml")
            ) {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(Error::NoDump(path.to_path_buf()));
    }
    Ok(out)
}

/// Hands every object in the files under `path` to `sink`, in file order.
pub fn read(path: &Path, sink: &mut dyn FnMut(LiveObject)) -> Result<Stats, Error> {
    let mut stats = Stats::default();
    for file in files(path)? {
        stats.files += 1;
        let mut on_item = |item: Result<LiveObject, Unkeyed>| match item {
            Ok(object) => {
                stats.objects += 1;
                sink(object);
            }
            Err(why) => {
                stats
                    .skipped
                    .push(format!("{}: {}", file.display(), crate::text::chain(&why)))
            }
        };
        read_file(&file, &mut on_item)?;
    }
    Ok(stats)
}

type OnItem<'a> = dyn FnMut(Result<LiveObject, Unkeyed>) + 'a;

fn read_file(path: &Path, on_item: &mut OnItem) -> Result<(), Error> {
    let io = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::with_capacity(BUFFER, std::fs::File::open(path).map_err(io)?);
    let first = first_byte(&mut reader).map_err(io)?;
    match first {
        None => Ok(()),
        Some(b'{' | b'[') => read_json(path, reader, on_item),
        Some(_) => {
            let mut text = String::new();
            reader.read_to_string(&mut text).map_err(io)?;
            read_yaml(path, &text, on_item)
        }
    }
}

/// The first byte that is not whitespace, without consuming it.
fn first_byte(reader: &mut BufReader<std::fs::File>) -> std::io::Result<Option<u8>> {
    use std::io::BufRead as _;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                reader.consume(i);
                return Ok(Some(b));
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

/// One or more JSON documents, each a List (anything with an `items` array, as kubectl
/// treats it), a bare array of objects, or one object.
fn read_json(path: &Path, reader: impl Read, on_item: &mut OnItem) -> Result<(), Error> {
    let json = |source| Error::Json {
        path: path.to_path_buf(),
        source,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    loop {
        de.deserialize_any(Document { on_item }).map_err(json)?;
        match de.end() {
            Ok(()) => return Ok(()),
            // Another document follows (concatenated `kubectl get -o json` outputs).
            Err(e) if e.classify() == serde_json::error::Category::Syntax => continue,
            Err(e) => return Err(json(e)),
        }
    }
}

/// Reads items out of one LIST page held in memory (the cluster path), with the defaults the
/// list gives them; returns the page's `metadata.continue`.
pub fn read_page(
    text: &str,
    defaults: ItemDefaults,
    on_item: &mut OnItem,
) -> Result<Option<String>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let page = de.deserialize_map(Page { defaults, on_item })?;
    de.end()?;
    Ok(page)
}

struct Document<'s, 'a> {
    on_item: &'s mut OnItem<'a>,
}

impl<'de> Visitor<'de> for Document<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes object, a List, or an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Items {
            defaults: ItemDefaults::default(),
            on_item: self.on_item,
        }
        .visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Members are kept as text until it is known whether this is a List or an object.
        let mut members: Vec<(String, Box<RawValue>)> = Vec::new();
        let mut list = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                match map.next_value_seed(MaybeItems {
                    on_item: &mut *self.on_item,
                })? {
                    ItemsMember::Streamed => list = true,
                    ItemsMember::Member(raw) => members.push((key, raw)),
                }
                continue;
            }
            members.push((key, map.next_value()?));
        }
        if list {
            return Ok(());
        }
        let mut text = String::from("{");
        for (i, (k, v)) in members.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&serde_json::to_string(k).map_err(de::Error::custom)?);
            text.push(':');
            text.push_str(v.get());
        }
        text.push('}');
        let raw = RawValue::from_string(text).map_err(de::Error::custom)?;
        (self.on_item)(LiveObject::from_json(raw, ItemDefaults::default()));
        Ok(())
    }
}

/// A top-level `items`: streamed when it is an array (a List); anything else is an ordinary
/// member, given back as text.
struct MaybeItems<'s, 'a> {
    on_item: &'s mut OnItem<'a>,
}

enum ItemsMember {
    Streamed,
    Member(Box<RawValue>),
}

impl<'de> DeserializeSeed<'de> for MaybeItems<'_, '_> {
    type Value = ItemsMember;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<ItemsMember, D::Error> {
        d.deserialize_any(self)
    }
}

impl MaybeItems<'_, '_> {
    fn member<E: de::Error>(value: Value) -> Result<ItemsMember, E> {
        serde_json::value::to_raw_value(&value)
            .map(ItemsMember::Member)
            .map_err(E::custom)
    }
}

impl<'de> Visitor<'de> for MaybeItems<'_, '_> {
    type Value = ItemsMember;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ItemsMember, A::Error> {
        Items {
            defaults: ItemDefaults::default(),
            on_item: self.on_item,
        }
        .visit_seq(seq)
        .map(|()| ItemsMember::Streamed)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ItemsMember, A::Error> {
        use serde::Deserialize as _;
        let value = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Self::member(value)
    }

    fn visit_unit<E: de::Error>(self) -> Result<ItemsMember, E> {
        Self::member(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<ItemsMember, E> {
        Self::member(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ItemsMember, E> {
        Self::member(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ItemsMember, E> {
        Self::member(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ItemsMember, E> {
        Self::member(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ItemsMember, E> {
        Self::member(Value::from(v))
    }
}

struct Items<'s, 'a, 'd> {
    defaults: ItemDefaults<'d>,
    on_item: &'s mut OnItem<'a>,
}

impl<'de> Visitor<'de> for Items<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Box<RawValue>>()? {
            (self.on_item)(LiveObject::from_json(item, self.defaults));
        }
        Ok(())
    }
}

/// A LIST response: `apiVersion`, `kind` (`DeploymentList`), `metadata.continue`, `items`.
struct Page<'s, 'a, 'd> {
    defaults: ItemDefaults<'d>,
    on_item: &'s mut OnItem<'a>,
}

impl<'de> Visitor<'de> for Page<'_, '_, '_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a LIST response")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        #[derive(serde::Deserialize)]
        struct ListMeta {
            #[serde(rename = "continue", default)]
            next: Option<String>,
        }
        let mut next = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<str>>()? {
            match &*key {
                "items" => map.next_value_seed(ItemsSeed(Items {
                    defaults: self.defaults,
                    on_item: &mut *self.on_item,
                }))?,
                "metadata" => next = map.next_value::<ListMeta>()?.next,
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(next.filter(|c| !c.is_empty()))
    }
}

struct ItemsSeed<'s, 'a, 'd>(Items<'s, 'a, 'd>);

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // `items: null` is an empty list (the apiserver never sends it, a proxy might).
        d.deserialize_any(NullOr(self.0))
    }
}

struct NullOr<'s, 'a, 'd>(Items<'s, 'a, 'd>);

impl<'de> Visitor<'de> for NullOr<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of objects or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.0.visit_seq(seq)
    }
}

/// YAML documents (`kubectl get -o yaml`, or files of `---`-separated objects).
fn read_yaml(path: &Path, text: &str, on_item: &mut OnItem) -> Result<(), Error> {
    let documents =
        crate::manifest::yaml::on_parser_stack(|| crate::manifest::yaml::parse_documents(text))
            .map_err(|source| Error::Read {
                path: path.to_path_buf(),
                source,
            })?
            .map_err(|source| Error::Yaml {
                path: path.to_path_buf(),
                source,
            })?;
    for doc in documents {
        match doc.value {
            Value::Null => {}
            Value::Object(mut map) if map.get("items").is_some_and(Value::is_array) => {
                if let Some(Value::Array(items)) = map.remove("items") {
                    for item in items {
                        on_item(LiveObject::from_value(item, ItemDefaults::default()));
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    on_item(LiveObject::from_value(item, ItemDefaults::default()));
                }
            }
            value => on_item(LiveObject::from_value(value, ItemDefaults::default())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(path: &Path) -> (Vec<String>, Stats) {
        let mut out = Vec::new();
        let stats = read(path, &mut |o| out.push(o.key.to_string())).expect("reads");
        (out, stats)
    }

    #[test]
    fn lists_objects_arrays_and_yaml() {
        let dir = tempfile::tempdir().expect("tmp");
        let list = json!({"apiVersion": "v1", "items": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "x"}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "b", "namespace": "x"}}
        ], "kind": "List", "metadata": {"resourceVersion": ""}});
        std::fs::write(dir.path().join("1-list.json"), list.to_string()).expect("w");
        // An object whose `items` member is no array is an object, not a List.
        let object = json!({"apiVersion": "example.com/v1", "kind": "Bag", "metadata": {"name": "c"}, "items": {"n": 1}});
        let two = format!(
            "{object}\n{}",
            json!([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}])
        );
        std::fs::write(dir.path().join("2-more.json"), two).expect("w");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(
            dir.path().join("sub/3.yaml"),
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: d, namespace: x}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: e, namespace: x}\n---\nkind: Broken\n",
        )
        .expect("w");
        std::fs::write(dir.path().join("notes.txt"), "not read").expect("w");
        let (keys, stats) = keys(dir.path());
        assert_eq!(
            keys,
            [
                "ConfigMap x/a",
                "apps/Deployment x/b",
                "example.com/Bag c",
                "Namespace x",
                "Secret x/d",
                "Service x/e"
            ]
        );
        assert_eq!(stats.files, 3);
        assert_eq!(stats.skipped.len(), 1, "{:?}", stats.skipped);
        assert!(stats.skipped[0].contains("apiVersion"));
    }

    #[test]
    fn pages_name_their_items_and_the_next_page() {
        let page = json!({"kind": "DeploymentList", "apiVersion": "apps/v1",
            "metadata": {"resourceVersion": "10", "continue": "abc"},
            "items": [{"metadata": {"name": "web", "namespace": "shop"}}]});
        let mut out = Vec::new();
        let next = read_page(
            &page.to_string(),
            ItemDefaults {
                api_version: Some("apps/v1"),
                kind: Some("Deployment"),
            },
            &mut |o| out.push(o.expect("keyed").key.to_string()),
        )
        .expect("page");
        assert_eq!(next.as_deref(), Some("abc"));
        assert_eq!(out, ["apps/Deployment shop/web"]);
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("bad.json");
        std::fs::write(&file, "{\"items\": [").expect("w");
        let err = read(&file, &mut |_| {}).expect_err("truncated");
        assert!(err.to_string().contains("bad.json"), "{err}");
        assert!(matches!(
            read(dir.path().join("none").as_path(), &mut |_| {}),
            Err(Error::Read { .. })
        ));
        let empty = tempfile::tempdir().expect("tmp");
        assert!(matches!(
            read(empty.path(), &mut |_| {}),
            Err(Error::NoDump(_))
        ));
    }
}
