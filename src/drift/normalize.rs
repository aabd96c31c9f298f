//! When two values mean the same thing to Kubernetes, and nothing more: `500m` = `0.5` where
//! the schema says quantity, `3` = `3.0` for any number (YAML and JSON write one number two
//! ways), and Go's zero values for the fields whose absence the apiserver cannot tell from
//! their zero (the schema says which; see [`crate::schema::Field::zero_if_absent`]).

use crate::schema::Leaf;

use crate::encoded::{Kind, Node, Num, View};

/// Parses a Kubernetes quantity (`500m`, `1Gi`, `1e3`, `2`) into its value.
fn parse_quantity(s: &str) -> Option<f64> {
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

fn node_quantity(node: Node) -> Option<f64> {
    match node.view() {
        View::Number(n) => Some(n.as_f64()),
        View::String(s) => parse_quantity(s),
        _ => None,
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= f64::EPSILON * 16.0 * a.abs().max(b.abs())
}

pub fn numbers_equal(a: Num, b: Num) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    close(a.as_f64(), b.as_f64())
}

/// Go's zero values: `false`, `0`, `""`, an empty list or map (and `null`).
pub fn is_zero(node: Node) -> bool {
    match node.view() {
        View::Null => true,
        View::Bool(b) => !b,
        View::Number(n) => n.as_f64() == 0.0,
        View::String(s) => s.is_empty(),
        View::Array(a) => a.is_empty(),
        View::Object(o) => o.is_empty(),
    }
}

/// Two scalars mean the same for a field of kind `leaf` (`None`: no schema). Numbers are
/// numbers whatever their form; a quantity is its value whether written as a number or a
/// string; anything else is equal only as written (an int-or-string `8080` is not `"8080"`).
pub fn leaf_equal(leaf: Option<Leaf>, a: Node, b: Node) -> bool {
    if a.same(b) {
        return true;
    }
    // Tags first: two strings that differ are decoded only for a quantity.
    if a.kind() == Kind::Number && b.kind() == Kind::Number {
        if let (View::Number(x), View::Number(y)) = (a.view(), b.view()) {
            return numbers_equal(x, y);
        }
    }
    if leaf == Some(Leaf::Quantity) {
        return match (node_quantity(a), node_quantity(b)) {
            (Some(x), Some(y)) => close(x, y),
            _ => false,
        };
    }
    false
}

/// A list-map key component: the same string, or the same number.
pub fn key_equal(a: Option<Node>, b: Option<Node>) -> bool {
    match (a.filter(|n| !n.is_null()), b.filter(|n| !n.is_null())) {
        (None, None) => true,
        (Some(x), Some(y)) => leaf_equal(None, x, y),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoded::Tree;
    use serde_json::{json, Value};

    fn eq(leaf: Option<Leaf>, a: Value, b: Value) -> bool {
        let (a, b) = (Tree::from_value(&a), Tree::from_value(&b));
        leaf_equal(leaf, a.root(), b.root())
    }

    #[test]
    fn quantities_only_where_the_schema_says() {
        let q = Some(Leaf::Quantity);
        assert!(eq(q, json!("500m"), json!("0.5")));
        assert!(eq(q, json!("1Gi"), json!("1073741824")));
        assert!(eq(q, json!("1Gi"), json!(1073741824)));
        assert!(eq(q, json!("1k"), json!("1e3")));
        assert!(eq(q, json!(2), json!("2")));
        assert!(!eq(q, json!("500m"), json!("1")));
        // Outside quantity fields a string is a string.
        let s = Some(Leaf::String);
        assert!(!eq(s, json!("500m"), json!("0.5")));
        assert!(!eq(s, json!("2"), json!(2)));
        assert!(!eq(Some(Leaf::IntOrString), json!(8080), json!("8080")));
        assert!(!eq(None, json!("2"), json!(2)));
    }

    #[test]
    fn numbers_and_zero_values() {
        assert!(eq(Some(Leaf::Int), json!(3), json!(3.0)));
        assert!(eq(None, json!(3), json!(3.0)));
        assert!(!eq(None, json!(3), json!(4)));
        assert!(!eq(None, json!(0), json!(false)));
        for zero in [json!(false), json!(0), json!(""), json!([]), json!({})] {
            assert!(is_zero(Tree::from_value(&zero).root()), "{zero}");
        }
        assert!(!is_zero(Tree::from_value(&json!(true)).root()));
    }
}
