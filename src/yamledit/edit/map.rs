//! Mappings: kept keys edited, dropped keys cut out with their blocks, new keys written
//! beside their siblings at their indentation (or into the flow mapping).

use serde_json::{Map, Value};

use super::super::render;
use super::super::scalar;
use super::super::tree::{self, Node};
use super::super::value::Step;
use super::{Owner, Place, Result, Rewriter};

impl Rewriter<'_> {
    pub(super) fn map(
        &mut self,
        node: &Node,
        flow: bool,
        entries: &[tree::Entry],
        old: &Map<String, Value>,
        new: &Map<String, Value>,
        place: Place,
    ) -> Result {
        if entries.iter().any(tree::Entry::is_merge) {
            return Err(self.refuse("the mapping takes keys from a merge key (<<)"));
        }
        let keys: Vec<Option<&str>> = entries.iter().map(|e| e.key.scalar_text()).collect();
        let kept: Vec<bool> = keys
            .iter()
            .map(|k| k.is_some_and(|k| new.contains_key(k)))
            .collect();
        if !kept.iter().any(|k| *k) {
            return self.whole(node, &Value::Object(new.clone()), place);
        }
        // Changed values of kept keys.
        for (i, entry) in entries.iter().enumerate() {
            let (Some(k), true) = (keys[i], kept[i]) else {
                continue;
            };
            let (Some(o), Some(n)) = (old.get(k), new.get(k)) else {
                return Err(self.refuse(format!(
                    "key {k:?} is written in a form the reader does not see"
                )));
            };
            self.path.push(Step::Key(k.to_string()));
            let child = self.entry_place(entry, flow)?;
            let result = self.node(&entry.value, o, n, child);
            self.path.pop();
            result?;
        }
        // Dropped keys, in runs.
        let mut i = 0;
        while i < entries.len() {
            if kept[i] {
                i += 1;
                continue;
            }
            let j = (i..entries.len())
                .find(|&j| kept[j])
                .unwrap_or(entries.len());
            self.cut_entries(entries, i, j, flow)?;
            i = j;
        }
        // New keys, each after the key before it in the new order that stays.
        let mut previous: Option<usize> = None;
        for (k, v) in new {
            if let Some(at) = keys.iter().position(|x| *x == Some(k.as_str())) {
                if kept[at] {
                    previous = Some(at);
                }
                continue;
            }
            self.path.push(Step::Key(k.clone()));
            let result = self.insert_entry(entries, &kept, previous, k, v, flow);
            self.path.pop();
            result?;
        }
        Ok(())
    }

    fn entry_place(&self, entry: &tree::Entry, flow: bool) -> Result<Place> {
        if flow {
            return Ok(Place {
                owner: Owner::Flow,
                region: entry.value.start,
                col: tree::column(self.text, entry.key.start),
            });
        }
        let region = tree::colon_after(self.text, entry.key.end).ok_or_else(|| {
            self.refuse("the key is written in a form the editor does not handle")
        })?;
        Ok(Place {
            owner: Owner::MapValue,
            region,
            col: tree::column(self.text, entry.key.start),
        })
    }

    /// Removes entries `i..j` (some entry outside the run stays).
    fn cut_entries(&mut self, entries: &[tree::Entry], i: usize, j: usize, flow: bool) -> Result {
        let cut: Vec<&Node> = entries[i..j].iter().map(|e| &e.value).collect();
        self.keeps_anchors(&cut)?;
        let text = self.text;
        let (first, last) = (&entries[i], &entries[j - 1]);
        let content_end = last.value.end.max(last.key.end);
        if flow {
            match entries.get(j) {
                Some(next) => self.replace(first.key.start, next.key.start, String::new()),
                None => {
                    let before = &entries[i - 1];
                    self.replace(
                        before.value.end.max(before.key.end),
                        content_end,
                        String::new(),
                    );
                }
            }
            return Ok(());
        }
        if tree::starts_line(text, first.key.start) {
            self.replace(
                tree::line_start(text, first.key.start),
                tree::line_end(text, content_end),
                String::new(),
            );
            return Ok(());
        }
        // The first key shares its line with a list's dash: the next key moves up to it.
        match entries.get(j) {
            Some(next) => {
                self.replace(first.key.start, next.key.start, String::new());
                Ok(())
            }
            None => Err(self.refuse("the key shares its line with other content")),
        }
    }

    fn insert_entry(
        &mut self,
        entries: &[tree::Entry],
        kept: &[bool],
        previous: Option<usize>,
        key: &str,
        value: &Value,
        flow: bool,
    ) -> Result {
        let nl = self.newline;
        let text = self.text;
        let first_kept = kept.iter().position(|k| *k).unwrap_or(0);
        let neighbour = &entries[previous.unwrap_or(first_kept)].value;
        if flow {
            let written =
                super::like(neighbour, value, true).unwrap_or_else(|| render::flow(value));
            let rendered = format!("{}: {written}", scalar::key(key, true));
            match previous {
                Some(p) => {
                    let e = &entries[p];
                    self.replace(
                        e.value.end.max(e.key.end),
                        e.value.end.max(e.key.end),
                        format!(", {rendered}"),
                    );
                }
                None => {
                    let e = &entries[first_kept];
                    self.replace(e.key.start, e.key.start, format!("{rendered}, "));
                }
            }
            return Ok(());
        }
        let anchor = &entries[previous.unwrap_or(first_kept)];
        let col = tree::column(text, anchor.key.start);
        let pad = " ".repeat(col);
        let body = match super::like(neighbour, value, false) {
            Some(written) => format!("{}: {written}", scalar::key(key, false)),
            None => render::entry_lines(key, value, col, self.layout).join(nl),
        };
        match previous {
            Some(_) => {
                let content_end = anchor.value.end.max(anchor.key.end);
                let at = tree::line_end(text, content_end);
                self.insert_lines(at, &format!("{pad}{body}"));
            }
            // Before the first key that stays, at its column: after any entries cut before
            // it, and on a list item's dash line when it sits there.
            None => {
                let at = anchor.key.start;
                self.replace(at, at, format!("{body}{nl}{pad}"));
            }
        }
        Ok(())
    }
}
