//! The editor on hand-written files: what changes, what stays byte for byte, what is refused.

use serde_json::{json, Value};

use super::value::{self, Step};
use super::*;

fn key(k: &str) -> Step {
    Step::Key(k.to_string())
}

fn select(k: &str, v: &str) -> Step {
    Step::Select(vec![(k.to_string(), v.to_string())])
}

/// Sets (or removes, with `None`) one path of document `doc` and returns the new text.
fn edit(text: &str, doc: usize, path: &[Step], new: Option<Value>) -> Result<String> {
    let mut editor = Editor::new(text)?;
    let mut v = editor.value(doc).cloned().expect("document");
    match new {
        Some(n) => value::set(&mut v, path, n).expect("path"),
        None => value::remove(&mut v, path).expect("path"),
    }
    editor.replace(doc, v)?;
    editor.finish()
}

const DEPLOY: &str = "\
# The web front end.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # keep me
  labels: {app: web, tier: \"front\"}
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: web
        image: 'nginx:1.25'
        args: [--port, \"8080\"]
        env:
        - name: A
          value: \"1\"
        # B is for later
        - name: B
          value: x
      - name: log
        image: busybox
";

#[test]
fn a_changed_scalar_changes_its_line_only() {
    let out = edit(DEPLOY, 0, &[key("spec"), key("replicas")], Some(json!(10))).expect("edits");
    assert_eq!(out, DEPLOY.replace("replicas: 3", "replicas: 10"));
    let image = [
        key("spec"),
        key("template"),
        key("spec"),
        key("containers"),
        select("name", "web"),
        key("image"),
    ];
    let out = edit(DEPLOY, 0, &image, Some(json!("nginx:1.27"))).expect("edits");
    assert_eq!(
        out,
        DEPLOY.replace("'nginx:1.25'", "'nginx:1.27'"),
        "single quotes kept"
    );
    let out = edit(
        DEPLOY,
        0,
        &[key("metadata"), key("labels"), key("tier")],
        Some(json!("back")),
    )
    .expect("edits");
    assert_eq!(
        out,
        DEPLOY.replace("\"front\"", "\"back\""),
        "double quotes kept in a flow map"
    );
}

#[test]
fn new_keys_go_beside_their_siblings() {
    let env = [
        key("spec"),
        key("template"),
        key("spec"),
        key("containers"),
        select("name", "web"),
        key("env"),
    ];
    let mut c = env.to_vec();
    c.push(select("name", "C"));
    let out = edit(DEPLOY, 0, &c, Some(json!({"name": "C", "value": "yes"}))).expect("edits");
    assert_eq!(
        out,
        DEPLOY.replace(
            "          value: x\n",
            "          value: x\n        - name: C\n          value: \"yes\"\n"
        )
    );
    let out = edit(
        DEPLOY,
        0,
        &[key("metadata"), key("annotations"), key("team")],
        Some(json!("shop")),
    )
    .expect("edits");
    assert_eq!(
        out,
        DEPLOY.replace(
            "  labels: {app: web, tier: \"front\"}\n",
            "  labels: {app: web, tier: \"front\"}\n  annotations:\n    team: shop\n"
        )
    );
    let out = edit(
        DEPLOY,
        0,
        &[key("metadata"), key("labels"), key("v")],
        Some(json!("1.0")),
    )
    .expect("edits");
    assert_eq!(
        out,
        DEPLOY.replace("tier: \"front\"}", "tier: \"front\", v: \"1.0\"}")
    );
}

#[test]
fn removed_keys_take_their_block_along() {
    let mut b = vec![
        key("spec"),
        key("template"),
        key("spec"),
        key("containers"),
        select("name", "web"),
        key("env"),
        select("name", "B"),
    ];
    let out = edit(DEPLOY, 0, &b, None).expect("edits");
    assert_eq!(
        out,
        DEPLOY.replace("        - name: B\n          value: x\n", "")
    );
    b.truncate(5);
    b.push(key("name"));
    // The first key of a list item: the next one moves up beside the dash.
    let mut v = Editor::new(DEPLOY)
        .expect("reads")
        .value(0)
        .cloned()
        .expect("doc");
    value::remove(&mut v, &b).expect("path");
    let mut editor = Editor::new(DEPLOY).expect("reads");
    editor.replace(0, v).expect("edits");
    let out = editor.finish().expect("verifies");
    assert!(out.contains("      - image: 'nginx:1.25'\n"), "{out}");
    let out = edit(
        DEPLOY,
        0,
        &[key("metadata"), key("labels"), key("tier")],
        None,
    )
    .expect("edits");
    assert_eq!(out, DEPLOY.replace(", tier: \"front\"}", "}"));
    let out = edit(DEPLOY, 0, &[key("spec"), key("template")], None).expect("edits");
    assert_eq!(out, DEPLOY.split("  template:").next().expect("head"));
}

#[test]
fn atomic_values_are_replaced_whole_with_few_changes() {
    let args = [
        key("spec"),
        key("template"),
        key("spec"),
        key("containers"),
        select("name", "web"),
        key("args"),
    ];
    let out = edit(DEPLOY, 0, &args, Some(json!(["--port", "8080", "--debug"]))).expect("edits");
    assert_eq!(
        out,
        DEPLOY.replace("\"8080\"]", "\"8080\", \"--debug\"]"),
        "the neighbour's quotes"
    );
    let out = edit(DEPLOY, 0, &args, Some(json!({"x": 1}))).expect("type change");
    assert!(out.contains("args: {x: 1}"), "flow stays flow: {out}");
    let out = edit(
        DEPLOY,
        0,
        &[key("spec"), key("replicas")],
        Some(json!({"a": [1, 2]})),
    )
    .expect("type change");
    assert!(
        out.contains("  replicas:\n    a:\n    - 1\n    - 2\n  template:"),
        "{out}"
    );
}

#[test]
fn other_documents_crlf_and_anchors_stay() {
    let text = "a: 1\r\nb: &x [1, 2]\r\nc: *x\r\n---\r\n# second\r\nd: {e: 1}\r\n";
    let out = edit(text, 1, &[key("d"), key("f")], Some(json!("g h"))).expect("edits");
    assert_eq!(out, text.replace("{e: 1}", "{e: 1, f: g h}"));
    let out = edit(text, 0, &[key("z")], Some(json!({"k": "v"}))).expect("edits");
    assert_eq!(out, text.replace("c: *x\r\n", "c: *x\r\nz:\r\n  k: v\r\n"));
    let err = edit(text, 0, &[key("b")], Some(json!([3]))).expect_err("aliased");
    assert!(
        matches!(&err, Error::Refused { path, .. } if path == "b"),
        "{err}"
    );
    let err = edit(text, 0, &[key("c")], Some(json!([3]))).expect_err("alias");
    assert!(err.to_string().contains("alias"), "{err}");
    let merged = "base: &b {x: 1}\nobj:\n  <<: *b\n  y: 2\n";
    let err = edit(merged, 0, &[key("obj"), key("y")], Some(json!(3))).expect_err("merge key");
    assert!(err.to_string().contains("<<"), "{err}");
    let tagged = "a: !!str 12\n";
    assert!(edit(tagged, 0, &[key("a")], Some(json!("13"))).is_err());
}

#[test]
fn documents_are_dropped_with_their_marker() {
    let text = "# header\na: 1\n---\nb: 2\n---\nc: 3\n";
    let mut editor = Editor::new(text).expect("reads");
    editor.delete(1).expect("drops");
    assert_eq!(
        editor.finish().expect("verifies"),
        "# header\na: 1\n---\nc: 3\n"
    );
    let mut editor = Editor::new(text).expect("reads");
    editor.delete(0).expect("drops");
    assert_eq!(
        editor.finish().expect("verifies"),
        "# header\n---\nb: 2\n---\nc: 3\n"
    );
    let mut editor = Editor::new(text).expect("reads");
    editor.delete(2).expect("drops");
    assert_eq!(
        editor.finish().expect("verifies"),
        "# header\na: 1\n---\nb: 2\n"
    );
    assert!(Editor::new(text).expect("reads").delete(3).is_err());
}

#[test]
fn block_scalars_and_values_that_need_quotes() {
    let text = "data:\n  script: |\n    echo a\n    echo b\n  mode: on\n  n: '0777'\nlast: x";
    let out = edit(
        text,
        0,
        &[key("data"), key("script")],
        Some(json!("echo c\n")),
    )
    .expect("edits");
    assert_eq!(
        out,
        "data:\n  script: |\n    echo c\n  mode: on\n  n: '0777'\nlast: x"
    );
    let out = edit(text, 0, &[key("data"), key("n")], Some(json!("0644"))).expect("edits");
    assert!(out.contains("n: '0644'"), "{out}");
    let out = edit(text, 0, &[key("data"), key("k")], Some(json!("yes"))).expect("edits");
    assert!(out.contains("  k: 'yes'\nlast"), "{out}");
    let out = edit(text, 0, &[key("more")], Some(json!(1))).expect("edits at the end");
    assert_eq!(out, format!("{text}\nmore: 1"));
}

/// The 1-based lines the value at `path` of document `doc` spans, from the line of its key
/// (or dash) to its last line: the lines an edit of it may change.
pub(super) fn line_span(editor: &Editor, doc: usize, path: &[Step]) -> (usize, usize) {
    let text = editor.text;
    let line_of = |pos: usize| text[..pos].matches('\n').count() + 1;
    let mut node = &editor.docs[doc].tree.root;
    let mut first = line_of(node.start);
    for step in path {
        match (&node.kind, step) {
            (tree::Kind::Map { entries, .. }, Step::Key(k)) => {
                let Some(e) = entries.iter().find(|e| e.key.scalar_text() == Some(k)) else {
                    break;
                };
                first = line_of(e.key.start);
                node = &e.value;
            }
            (tree::Kind::Seq { items, .. }, Step::Index(i)) => {
                let Some(item) = items.get(*i) else { break };
                let before = text[..item.start].trim_end();
                first = if before.ends_with('-') {
                    line_of(before.len())
                } else {
                    line_of(item.start)
                };
                node = item;
            }
            _ => break,
        }
    }
    (first, line_of(node.end.max(node.start)))
}
