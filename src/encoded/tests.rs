use super::*;
use serde_json::json;

fn sample() -> Value {
    json!({
        "z": 1, "a": [1.5, -2, 18446744073709551615u64, -9223372036854775808i64, 0.0, -0.0],
        "s": "x\"y\u{e9}", "n": null, "t": true, "f": false, "e": {}, "l": [],
        "deep": {"k": [{"name": "web", "x": {"y": "z"}}]}
    })
}

#[test]
fn round_trips_values_in_order() {
    let v = sample();
    let tree = Tree::from_value(&v);
    assert_eq!(tree.root().to_value(), v);
    assert_eq!(
        tree.root().to_value().to_string(),
        v.to_string(),
        "key order is kept"
    );
}

#[test]
fn text_encodes_as_the_value_it_parses_to() {
    let v = sample();
    let text = v.to_string();
    let tree = Tree::from_json_object(&text, |_| Member::Keep).expect("object");
    assert_eq!(tree, Tree::from_value(&v), "canonical: same bytes");
    let numbers =
        r#"{"a":[1E2,100,-0,-0.0,1.0,12345678901234567890,-1,0.1e-3,-9223372036854775808]}"#;
    let tree = Tree::from_json_object(numbers, |_| Member::Keep).expect("object");
    let parsed: Value = serde_json::from_str(numbers).expect("json");
    assert_eq!(tree.root().to_value(), parsed);
    assert_eq!(tree, Tree::from_value(&parsed));
}

#[test]
fn members_are_selected_and_filtered() {
    let text = r#"{"metadata":{"name":"x","managedFields":[{"m":1}],"labels":{"a":"b"}},"spec":{"r":1},"status":{"s":2}}"#;
    let tree = Tree::from_json_object(text, |k| match k {
        "metadata" => Member::KeepExcept(&["managedFields"]),
        "status" => Member::Skip,
        _ => Member::Keep,
    })
    .expect("object");
    assert_eq!(
        tree.root().to_value(),
        json!({"metadata": {"name": "x", "labels": {"a": "b"}}, "spec": {"r": 1}})
    );
    assert!(Tree::from_json_object("[1]", |_| Member::Keep).is_err());
    assert!(Tree::from_json_object(r#"{"metadata":1}"#, |_| {
        Member::KeepExcept(&["managedFields"])
    })
    .is_err());
    assert!(Tree::from_json_object(r#"{"a":1} x"#, |_| Member::Keep).is_err());
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
    assert!(Tree::from_json_object(&deep, |_| Member::Keep).is_err());
}

#[test]
fn lookups_take_the_last_of_repeated_keys() {
    let tree = Tree::from_json_object(r#"{"a":1,"b":2,"a":3}"#, |_| Member::Keep).expect("object");
    assert_eq!(tree.root().get("a").map(Node::to_value), Some(json!(3)));
    assert!(tree.root().get("c").is_none());
    let many: Map<String, Value> = (0..100).map(|i| (format!("k{i}"), json!(i))).collect();
    let tree = Tree::from_value(&Value::Object(many));
    let lookup = Lookup::new(Some(tree.root()));
    assert!(matches!(lookup, Lookup::Hashed(_)));
    assert_eq!(lookup.get("k42").map(Node::to_value), Some(json!(42)));
    assert!(lookup.get("k100").is_none());
}

#[test]
fn wide_headers_beyond_the_limit() {
    let v = sample();
    let mut w = Writer::new(8);
    w.value(&v);
    let tree = w.finish();
    assert_eq!(tree.root().to_value(), v);
    assert_ne!(tree, Tree::from_value(&v));
}

#[test]
fn malformed_bytes_read_as_nothing() {
    for bytes in [
        &[][..],
        &[OBJECT, 200, 0, 0, 0, 1, 0, 0, 0],
        &[STRING, 5, b'a'],
        &[99],
    ] {
        let node = Node(bytes);
        assert_eq!(node.to_value(), Value::Null);
        assert!(node.get("a").is_none());
    }
}
