//! Secrets: the apiserver folds `stringData` into base64 `data`, so Git's plain text is
//! compared with the request's decoded data.

use serde_json::Value;

use super::atomic;
use super::compare::{present, FieldDiff, Mode, Walk};
use super::normalize::leaf_equal;
use super::path::Step;
use crate::encoded::{Node, Tree, View};

impl<'g, 'r> Walk<'_, 'g, 'r> {
    /// The apiserver folds `stringData` into base64 `data`; Git's plain text is compared with
    /// the request's decoded data (and, on UPDATE, classified by the stored data).
    pub(super) fn secret_string_data(
        &mut self,
        declared: Node<'g>,
        new: Node<'r>,
        old: Option<Node<'r>>,
    ) {
        use base64::Engine as _;
        let View::Object(entries) = declared.view() else {
            return;
        };
        let stored = |object: Option<Node<'r>>, k: &str| -> Option<Node<'r>> {
            let object = object?;
            present(object.get("data").and_then(|d| d.get(k)))
                .or_else(|| present(object.get("stringData").and_then(|d| d.get(k))))
        };
        // The text an object holds for key `k`: its `data` decoded, else its `stringData` as
        // it is (a request may still carry what the apiserver folds in).
        let text = |object: Option<Node>, k: &str| -> Option<Tree> {
            let object = object?;
            let decoded = object
                .get("data")
                .and_then(|d| d.get(k))
                .and_then(Node::as_str)
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .map(|bytes| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            decoded
                .or_else(|| {
                    present(object.get("stringData").and_then(|d| d.get(k))).map(Node::to_value)
                })
                .map(|value| Tree::from_value(&value))
        };
        for (k, v) in entries {
            // A null in Git declares nothing.
            if v.is_null() {
                continue;
            }
            self.path.push(Step::Key(b"data"));
            self.path.push(Step::Key(k.as_bytes()));
            let decoded = text(Some(new), k);
            let actual = decoded.as_ref().map(Tree::root);
            let equal = match actual {
                Some(a) => leaf_equal(None, v, a),
                None => false,
            };
            if !equal && !self.ignored() {
                match self.mode {
                    Mode::Probe => self.found = true,
                    Mode::Create => self.push(v, actual, None, false, None),
                    Mode::Update => {
                        let (n, o) = (stored(Some(new), k), stored(old, k));
                        let old_decoded = text(old, k);
                        self.out.push(FieldDiff {
                            path: self.owned_path(),
                            git: v.to_value(),
                            actual: actual.map(Node::to_value),
                            old: old_decoded.as_ref().map(|t| t.root().to_value()),
                            preexisting: atomic::raw_equal(n, o),
                            within: None,
                        });
                    }
                }
            }
            self.path.pop();
            self.path.pop();
        }
    }
}
