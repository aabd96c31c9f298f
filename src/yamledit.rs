//! A format-preserving YAML editor: set, add, remove and replace values of a file's documents,
//! or drop a document, changing only the lines that carry what changed. Comments, key order,
//! quoting, indentation, flow or block notation, other documents, anchors elsewhere and the
//! file's line endings stay byte for byte.
//!
//! An edit is stated as the value a document should have ([`Editor::replace`]); the editor
//! works out the fewest text changes that get there ([`edit`]). What it cannot change safely
//! (a value that is an alias or is aliased elsewhere, a mapping with a merge key `<<`, an
//! explicitly tagged value) is refused with the reason. Before anything is returned the new
//! text is read back with the project's own YAML reader (the one every manifest goes through,
//! reading as kustomize does), and it must give exactly the intended documents: the editor
//! never hands out a file that means something else.
//!
//! - [`tree`]: the positioned nodes of a file, from the event parser.
//! - [`value`]: paths into a document's value, and changes along them.
//! - [`edit`]: the minimal text changes between a document and its new value (mappings,
//!   lists, and which list element becomes which).
//! - [`render`]: new collections in the file's layout; [`scalar`]: new scalars, quoted so
//!   every YAML reader takes them for the same type.

pub mod edit;
pub mod render;
pub mod scalar;
pub mod tree;
pub mod value;

use serde_json::Value;

use crate::manifest::yaml;

pub use value::Step;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("line {line}: {message}")]
    Parse { line: usize, message: String },
    #[error("document {index} does not exist (the file has {count})")]
    NoDocument { index: usize, count: usize },
    #[error("cannot edit {path}: {reason}")]
    Refused { path: String, reason: String },
    #[error("the edit would not read back as intended ({0}); nothing was written")]
    Unverified(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One document of the file, as the reader sees it and where it lies.
#[derive(Debug, Clone)]
struct Document {
    tree: tree::Doc,
    /// What the project's reader reads.
    value: Value,
    /// 1-based line its content starts on.
    line: usize,
    /// What it should read as after the edits; `None` when it is to be dropped.
    intended: Option<Value>,
}

/// Edits of one file's text, applied and checked by [`Editor::finish`].
#[derive(Debug)]
pub struct Editor<'t> {
    text: &'t str,
    docs: Vec<Document>,
    layout: render::Layout,
    newline: &'static str,
    edits: Vec<edit::Replace>,
}

impl<'t> Editor<'t> {
    /// Reads the file. Documents that hold nothing (empty, comments only, `null`) are not
    /// counted, as the reader does not count them.
    pub fn new(text: &'t str) -> Result<Editor<'t>> {
        let parse_err = |line: usize, message: String| Error::Parse { line, message };
        let trees = tree::parse(text).map_err(|e| parse_err(e.line, e.message))?;
        let values = yaml::parse_documents(text).map_err(|e| parse_err(e.line, e.message))?;
        let layout = render::Layout::detect(text, &trees);
        let trees: Vec<tree::Doc> = trees.into_iter().filter(|d| !d.root.is_null()).collect();
        if trees.len() != values.len() {
            return Err(Error::Unverified(format!(
                "the file reads as {} documents, its structure shows {}",
                values.len(),
                trees.len()
            )));
        }
        let docs = trees
            .into_iter()
            .zip(values)
            .map(|(tree, doc)| Document {
                tree,
                intended: Some(doc.value.clone()),
                value: doc.value,
                line: doc.line,
            })
            .collect();
        let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
        Ok(Editor {
            text,
            docs,
            layout,
            newline,
            edits: Vec::new(),
        })
    }

    /// Documents the reader sees.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// A document's value as the reader reads it.
    pub fn value(&self, index: usize) -> Option<&Value> {
        self.docs.get(index).map(|d| &d.value)
    }

    /// The 1-based line a document's content starts on.
    pub fn line(&self, index: usize) -> Option<usize> {
        self.docs.get(index).map(|d| d.line)
    }

    /// The line ending the file uses (`\r\n` when any line has one).
    pub fn newline(&self) -> &'static str {
        self.newline
    }

    fn doc(&self, index: usize) -> Result<&Document> {
        self.docs.get(index).ok_or(Error::NoDocument {
            index,
            count: self.docs.len(),
        })
    }

    /// Makes document `index` read as `new`, with the fewest changed lines. Once per
    /// document; the edits of different documents never overlap.
    pub fn replace(&mut self, index: usize, new: Value) -> Result<()> {
        let doc = self.doc(index)?;
        let mut rewriter = edit::Rewriter::new(self.text, self.layout, self.newline);
        rewriter
            .document(&doc.tree.root, &doc.value, &new)
            .map_err(|r| Error::Refused {
                path: value::display(&r.path),
                reason: r.reason,
            })?;
        self.edits.extend(rewriter.edits);
        self.docs[index].intended = Some(new);
        Ok(())
    }

    /// Drops document `index` with its `---` line (comments above a first document stay).
    pub fn delete(&mut self, index: usize) -> Result<()> {
        let doc = self.doc(index)?;
        let start = match doc.tree.marker {
            Some(marker) => marker,
            None => tree::line_start(self.text, doc.tree.root.start),
        };
        let end = match self.docs.get(index + 1) {
            Some(next) => next
                .tree
                .marker
                .unwrap_or_else(|| tree::line_start(self.text, next.tree.root.start)),
            None => self.text.len(),
        };
        // Documents the reader does not count (empty ones) may sit between: they go along.
        self.edits.push(edit::Replace {
            start,
            end,
            text: String::new(),
        });
        self.docs[index].intended = None;
        Ok(())
    }

    /// Whether every document is to be dropped (the file itself should go).
    pub fn deletes_everything(&self) -> bool {
        self.docs.iter().all(|d| d.intended.is_none())
    }

    /// The new text, read back and checked against the intended documents.
    pub fn finish(self) -> Result<String> {
        let mut edits = self.edits;
        // Stable: insertions at one place keep the order they were made in.
        edits.sort_by_key(|e| (e.start, e.end));
        let mut out = String::with_capacity(self.text.len() + 256);
        let mut at = 0;
        for e in &edits {
            if e.start < at || e.end < e.start || e.end > self.text.len() {
                return Err(Error::Unverified("two changes overlap".into()));
            }
            out.push_str(&self.text[at..e.start]);
            out.push_str(&e.text);
            at = e.end;
        }
        out.push_str(&self.text[at..]);
        let intended: Vec<&Value> = self
            .docs
            .iter()
            .filter_map(|d| d.intended.as_ref())
            .collect();
        let read = yaml::parse_documents(&out).map_err(|e| {
            Error::Unverified(format!(
                "the result does not parse: line {}: {}",
                e.line, e.message
            ))
        })?;
        if read.len() != intended.len() {
            return Err(Error::Unverified(format!(
                "{} documents instead of {}",
                read.len(),
                intended.len()
            )));
        }
        for (i, (got, want)) in read.iter().zip(&intended).enumerate() {
            if !value::same(&got.value, want) {
                return Err(Error::Unverified(format!(
                    "document {} reads differently",
                    i + 1
                )));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
