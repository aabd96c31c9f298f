//! When two values mean the same thing to Kubernetes: `500m` = `0.5` for quantities, `3` = `3.0`,
//! and an absent field = its zero value (Go's `omitempty` drops `false`, `0`, `""`, `[]`, `{}`
//! when the apiserver serialises an object, so Git's `hostNetwork: false` comes back absent).

use serde_json::Value;

use super::path::Path;

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
    path.last_key() == Some("sizeLimit") || QUANTITY_PARENTS.iter().any(|k| path.has_key(k))
}

/// Parses a Kubernetes quantity (`500m`, `1Gi`, `1e3`, `2`) into its value.
pub fn parse_quantity(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_quantity_str(s),
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

fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => close(x, y),
        _ => false,
    }
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

/// Full semantic equality of two values at `path` (used between old and new objects, and for
/// leaves between Git and a request).
pub fn equal(a: Option<&Value>, b: Option<&Value>, path: &Path) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), None) | (None, Some(x)) => is_zero(x),
        (Some(x), Some(y)) => value_equal(x, y, path),
    }
}

fn value_equal(x: &Value, y: &Value, path: &Path) -> bool {
    if x == y {
        return true;
    }
    match (x, y) {
        (Value::Number(a), Value::Number(b)) if numbers_equal(a, b) => true,
        (Value::Null, other) | (other, Value::Null) => is_zero(other),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(p, q)| value_equal(p, q, path))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.iter()
                .all(|(k, v)| equal(Some(v), b.get(k), &path.key(k)))
                && b.iter()
                    .filter(|(k, _)| !a.contains_key(*k))
                    .all(|(_, v)| is_zero(v))
        }
        _ if is_quantity_context(path) => match (parse_quantity(x), parse_quantity(y)) {
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
    match (declared, actual) {
        (Value::Null, _) => true,
        (d, None) => is_zero(d),
        (Value::Object(d), Some(Value::Object(a))) => {
            d.iter().all(|(k, v)| satisfies(v, a.get(k), &path.key(k)))
        }
        (Value::Array(d), Some(Value::Array(a))) => {
            d.len() == a.len() && d.iter().zip(a).all(|(p, q)| satisfies(p, Some(q), path))
        }
        (d, Some(a)) => value_equal(d, a, path),
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
