//! When two values mean the same thing to Kubernetes: `500m` = `0.5` for quantities, `3` = `3.0`,
//! and an absent field = its zero value (Go's `omitempty` drops `false`, `0`, `""`, `[]`, `{}`
//! when the apiserver serialises an object, so Git's `hostNetwork: false` comes back absent).

use serde_json::Value;

use super::path::Path;
use super::tree::{Lookup, Node, Num, Tree, View};

/// Keys under which values are resource quantities.
const QUANTITY_PARENTS: &[&str] = &[
    "limits",
    "requests",
    "hard",
    "capacity",
    "allocatable",
    "overhead",
];

/// Is `path` a place where Kubernetes stores quantities?
pub fn is_quantity_context(path: &Path) -> bool {
    Ctx::of(path).is_quantity()
}

/// What normalisation needs to know of where a value sits: [`is_quantity_context`] of its path,
/// kept up as a walk goes down instead of searched for at every leaf.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ctx {
    /// A key on the path is one of `QUANTITY_PARENTS`.
    under_quantities: bool,
    /// The last segment is the key `sizeLimit`.
    size_limit: bool,
}

impl Ctx {
    pub fn of(path: &Path) -> Ctx {
        Ctx {
            under_quantities: QUANTITY_PARENTS.iter().any(|k| path.has_key(k)),
            size_limit: path.last_key() == Some("sizeLimit"),
        }
    }

    /// The context of member `key` of a value in this one.
    pub fn key(self, key: impl AsRef<[u8]>) -> Ctx {
        let key = key.as_ref();
        Ctx {
            under_quantities: self.under_quantities
                || QUANTITY_PARENTS.iter().any(|k| k.as_bytes() == key),
            size_limit: key == b"sizeLimit",
        }
    }

    /// The context of an element of a list-map.
    pub fn item(self) -> Ctx {
        Ctx {
            size_limit: false,
            ..self
        }
    }

    pub fn is_quantity(self) -> bool {
        self.under_quantities || self.size_limit
    }
}

/// Parses a Kubernetes quantity (`500m`, `1Gi`, `1e3`, `2`) into its value.
pub fn parse_quantity(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_quantity_str(s),
        _ => None,
    }
}

fn node_quantity(node: Node) -> Option<f64> {
    match node.view() {
        View::Number(n) => Some(n.as_f64()),
        View::String(s) => parse_quantity_str(s),
        _ => None,
    }
}

fn parse_quantity_str(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let base: f64 = num.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => {
            let exp = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))?;
            return Some(base * 10f64.powi(exp.parse::<i32>().ok()?));
        }
    };
    Some(base * factor)
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= f64::EPSILON * 16.0 * a.abs().max(b.abs())
}

fn numbers_equal(a: Num, b: Num) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    close(a.as_f64(), b.as_f64())
}

/// Go's zero values, which `omitempty` leaves out.
pub fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// [`is_zero`] of an encoded value.
pub fn node_is_zero(node: Node) -> bool {
    match node.view() {
        View::Null => true,
        View::Bool(b) => !b,
        View::Number(n) => n.as_f64() == 0.0,
        View::String(s) => s.is_empty(),
        View::Array(a) => a.is_empty(),
        View::Object(o) => o.is_empty(),
    }
}

/// Full semantic equality of two values at `path` (used between old and new objects, and for
/// leaves between Git and a request).
pub fn equal(a: Option<&Value>, b: Option<&Value>, path: &Path) -> bool {
    let (a, b) = (a.map(Tree::from_value), b.map(Tree::from_value));
    nodes_equal(
        a.as_ref().map(Tree::root),
        b.as_ref().map(Tree::root),
        Ctx::of(path),
    )
}

/// [`equal`] of encoded values.
pub fn nodes_equal(a: Option<Node>, b: Option<Node>, ctx: Ctx) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), None) | (None, Some(x)) => node_is_zero(x),
        (Some(x), Some(y)) => node_equal(x, y, ctx),
    }
}

fn node_equal(x: Node, y: Node, ctx: Ctx) -> bool {
    // Equal encodings are equal values; what follows finds the equal values encoded apart
    // (keys in another order, `3` and `3.0`, `500m` and `0.5`).
    if x.same(y) {
        return true;
    }
    match (x.view(), y.view()) {
        (View::Number(a), View::Number(b)) if numbers_equal(a, b) => true,
        (View::Null, _) => node_is_zero(y),
        (_, View::Null) => node_is_zero(x),
        (View::Array(a), View::Array(b)) => {
            a.len() == b.len() && a.zip(b).all(|(p, q)| node_equal(p, q, ctx))
        }
        (View::Object(a), View::Object(b)) => {
            let in_y = Lookup::new(Some(y));
            let in_x = Lookup::new(Some(x));
            a.into_iter()
                .all(|(k, v)| nodes_equal(Some(v), in_y.get(k), ctx.key(k)))
                && b.into_iter()
                    .filter(|(k, _)| in_x.get(k).is_none())
                    .all(|(_, v)| node_is_zero(v))
        }
        _ if ctx.is_quantity() => match (node_quantity(x), node_quantity(y)) {
            (Some(a), Some(b)) => close(a, b),
            _ => false,
        },
        _ => false,
    }
}

/// Git's value is satisfied by the request's: every field Git declares inside `declared` is there
/// with the same meaning; fields the request adds (defaults) are free. Used for atomic lists,
/// whose elements apiservers default (`protocol: TCP`) without that being an edit.
pub fn satisfies(declared: &Value, actual: Option<&Value>, path: &Path) -> bool {
    let declared = Tree::from_value(declared);
    let actual = actual.map(Tree::from_value);
    node_satisfies(
        declared.root(),
        actual.as_ref().map(Tree::root),
        Ctx::of(path),
    )
}

/// [`satisfies`] of encoded values.
pub fn node_satisfies(declared: Node, actual: Option<Node>, ctx: Ctx) -> bool {
    match (declared.view(), actual.map(|a| (a, a.view()))) {
        (View::Null, _) => true,
        (_, None) => node_is_zero(declared),
        (View::Object(d), Some((a, View::Object(_)))) => {
            let in_actual = Lookup::new(Some(a));
            d.into_iter()
                .all(|(k, v)| node_satisfies(v, in_actual.get(k), ctx.key(k)))
        }
        (View::Array(d), Some((_, View::Array(a)))) => {
            d.len() == a.len() && d.zip(a).all(|(p, q)| node_satisfies(p, Some(q), ctx))
        }
        (_, Some((a, _))) => node_equal(declared, a, ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res() -> Path {
        Path::root().key("resources").key("limits").key("cpu")
    }

    #[test]
    fn quantities() {
        assert!(equal(Some(&json!("500m")), Some(&json!("0.5")), &res()));
        assert!(equal(
            Some(&json!("1Gi")),
            Some(&json!("1073741824")),
            &res()
        ));
        assert!(equal(Some(&json!("1Gi")), Some(&json!(1073741824)), &res()));
        assert!(equal(Some(&json!("1k")), Some(&json!("1e3")), &res()));
        assert!(equal(Some(&json!(2)), Some(&json!("2")), &res()));
        assert!(!equal(Some(&json!("500m")), Some(&json!("1")), &res()));
        // Outside quantity fields a string is a string.
        let env = Path::root().key("env").key("value");
        assert!(!equal(Some(&json!("500m")), Some(&json!("0.5")), &env));
        assert!(!equal(Some(&json!("2")), Some(&json!(2)), &env));
    }

    #[test]
    fn numbers_and_zero_values() {
        let p = Path::root().key("x");
        assert!(equal(Some(&json!(3)), Some(&json!(3.0)), &p));
        assert!(!equal(Some(&json!(3)), Some(&json!(4)), &p));
        assert!(equal(Some(&json!(false)), None, &p));
        assert!(equal(Some(&json!([])), None, &p));
        assert!(!equal(Some(&json!(true)), None, &p));
        assert!(!equal(Some(&json!(0)), Some(&json!(false)), &p));
    }

    #[test]
    fn satisfies_allows_defaults_inside_atomic_lists() {
        let p = Path::root().key("tolerations");
        let git = json!([{"key": "a", "operator": "Exists"}]);
        assert!(satisfies(
            &git,
            Some(&json!([{"key": "a", "operator": "Exists", "effect": ""}])),
            &p
        ));
        assert!(!satisfies(
            &git,
            Some(&json!([{"key": "b", "operator": "Exists"}])),
            &p
        ));
        assert!(!satisfies(
            &git,
            Some(&json!([{"key": "a", "operator": "Exists"}, {"key": "c"}])),
            &p
        ));
    }
}
