//! Paths into a document's value and the changes made along them: what an edit means, worked
//! out on `serde_json::Value`s before any text is touched.

use std::fmt;

use serde_json::{Map, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    /// The element of a list whose fields have these values (a list-map element, matched as
    /// the comparison matches it: strings as written, numbers by their JSON text).
    Select(Vec<(String, String)>),
    Index(usize),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Key(k) => write!(f, ".{k}"),
            Step::Select(fields) => {
                let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", parts.join(","))
            }
            Step::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path as people read it: `spec.containers[name=web].image`.
pub fn display(path: &[Step]) -> String {
    let text: String = path.iter().map(Step::to_string).collect();
    text.strip_prefix('.').unwrap_or(&text).to_string()
}

/// Why a path cannot be followed or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    pub path: String,
    pub reason: String,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

impl std::error::Error for PathError {}

fn fail(path: &[Step], reason: impl Into<String>) -> PathError {
    PathError {
        path: display(path),
        reason: reason.into(),
    }
}

/// A field's value as the comparison's merge key reads it.
fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether `item` is the element the key fields name. A key field the element leaves out
/// matches any value: the comparison shows it with the default the apiserver gives it
/// (`protocol: TCP`), which Git need not write; one key field at least must be written.
fn selects(item: &Value, fields: &[(String, String)]) -> bool {
    let mut written = 0;
    for (k, v) in fields {
        match item.get(k) {
            None | Some(Value::Null) => {}
            Some(value) => {
                if key_text(value).as_deref() != Some(v.as_str()) {
                    return false;
                }
                written += 1;
            }
        }
    }
    written > 0
}

/// Index of the element `step` names in `items`.
pub fn find(items: &[Value], step: &Step) -> Option<usize> {
    match step {
        Step::Index(i) => (*i < items.len()).then_some(*i),
        Step::Select(fields) => items.iter().position(|item| selects(item, fields)),
        Step::Key(_) => None,
    }
}

pub fn get<'v>(value: &'v Value, path: &[Step]) -> Option<&'v Value> {
    let Some((step, rest)) = path.split_first() else {
        return Some(value);
    };
    let next = match (step, value) {
        (Step::Key(k), Value::Object(map)) => map.get(k)?,
        (_, Value::Array(items)) => &items[find(items, step)?],
        _ => return None,
    };
    get(next, rest)
}

/// Sets the value at `path`, making the maps on the way; a selected list element that does
/// not exist is appended when the path ends at it.
pub fn set(root: &mut Value, path: &[Step], new: Value) -> Result<(), PathError> {
    let mut value = root;
    for (depth, step) in path.iter().enumerate() {
        let here = &path[..=depth];
        let last = depth + 1 == path.len();
        if value.is_null() && matches!(step, Step::Key(_)) {
            *value = Value::Object(Map::new());
        }
        value = match (step, value) {
            (Step::Key(k), Value::Object(map)) => {
                if last {
                    map.insert(k.clone(), new);
                    return Ok(());
                }
                map.entry(k.clone()).or_insert(Value::Null)
            }
            (Step::Select(_), Value::Array(items)) => match find(items, step) {
                Some(at) if last => {
                    items[at] = new;
                    return Ok(());
                }
                Some(at) => &mut items[at],
                // A new element is added whole, so its key fields keep their types.
                None if last => {
                    items.push(new);
                    return Ok(());
                }
                None => return Err(fail(here, "Git's list has no such element")),
            },
            (Step::Index(i), Value::Array(items)) => match items.get_mut(*i) {
                Some(slot) if last => {
                    *slot = new;
                    return Ok(());
                }
                Some(slot) => slot,
                None => return Err(fail(here, "Git's list is shorter")),
            },
            (_, other) => {
                let what = kind_name(other);
                return Err(fail(
                    here,
                    format!("Git has {what} here, not a map or list"),
                ));
            }
        };
    }
    *value = new;
    Ok(())
}

/// Removes the value at `path`; a path that is already absent is no change.
pub fn remove(root: &mut Value, path: &[Step]) -> Result<(), PathError> {
    let Some((last, parents)) = path.split_last() else {
        return Err(fail(
            path,
            "the whole document cannot be removed as a field",
        ));
    };
    let mut value = root;
    for step in parents {
        value = match (step, value) {
            (Step::Key(k), Value::Object(map)) => match map.get_mut(k) {
                Some(v) => v,
                None => return Ok(()),
            },
            (_, Value::Array(items)) => match find(items, step) {
                Some(i) => &mut items[i],
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
    }
    match (last, value) {
        (Step::Key(k), Value::Object(map)) => {
            map.shift_remove(k);
        }
        (_, Value::Array(items)) => {
            if let Some(i) = find(items, last) {
                items.remove(i);
            }
        }
        _ => {}
    }
    Ok(())
}

pub fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Equal as the project's reader would leave them: `3` and `3.0` are one number (the reader
/// turns whole floats into integers), key order does not matter.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(steps: &[&str]) -> Vec<Step> {
        steps
            .iter()
            .map(|s| match s.split_once('=') {
                Some((k, v)) => Step::Select(vec![(k.to_string(), v.to_string())]),
                None => Step::Key(s.to_string()),
            })
            .collect()
    }

    #[test]
    fn set_get_remove_along_list_maps() {
        let mut v = json!({"spec": {"containers": [{"name": "web", "image": "a"}], "ports": [{"port": 80}]}});
        set(
            &mut v,
            &path(&["spec", "containers", "name=web", "image"]),
            json!("b"),
        )
        .expect("set");
        assert_eq!(v["spec"]["containers"][0]["image"], "b");
        set(
            &mut v,
            &path(&["spec", "containers", "name=log"]),
            json!({"name": "log", "image": "c"}),
        )
        .expect("append");
        assert_eq!(
            v["spec"]["containers"][1],
            json!({"name": "log", "image": "c"})
        );
        assert!(set(
            &mut v,
            &path(&["spec", "containers", "name=x", "image"]),
            json!("c")
        )
        .is_err());
        assert_eq!(
            get(&v, &path(&["spec", "ports", "port=80"])),
            Some(&json!({"port": 80}))
        );
        set(&mut v, &path(&["metadata", "labels", "a"]), json!("x")).expect("makes maps");
        assert_eq!(v["metadata"]["labels"]["a"], "x");
        remove(&mut v, &path(&["spec", "containers", "name=web"])).expect("remove");
        assert_eq!(v["spec"]["containers"].as_array().map(Vec::len), Some(1));
        remove(&mut v, &path(&["spec", "nothing", "here"])).expect("absent is fine");
        let err =
            set(&mut v, &path(&["metadata", "labels", "a", "b"]), json!(1)).expect_err("scalar");
        assert_eq!(err.path, "metadata.labels.a.b");
        assert_eq!(
            display(&path(&["spec", "containers", "name=web", "image"])),
            "spec.containers[name=web].image"
        );
    }

    #[test]
    fn sameness_follows_the_reader() {
        assert!(same(&json!(3), &json!(3.0)));
        assert!(same(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})));
        assert!(!same(&json!("3"), &json!(3)));
        assert!(!same(&json!([1, 2]), &json!([2, 1])));
    }
}
