//! Lists: elements paired with their new versions ([`align`](super::align)), paired ones
//! edited, the rest cut out or inserted beside their neighbours with a dash at their column.

use serde_json::Value;

use super::super::render;
use super::super::tree::{self, Kind, Node};
use super::super::value::Step;
use super::align::align;
use super::{Owner, Place, Result, Rewriter};

impl Rewriter<'_> {
    pub(super) fn seq(
        &mut self,
        node: &Node,
        flow: bool,
        items: &[Node],
        old: &[Value],
        new: &[Value],
        place: Place,
    ) -> Result {
        if items.len() != old.len() {
            return Err(self.refuse("the list is written in a form the reader expands differently"));
        }
        let pairs = align(old, new);
        if pairs.is_empty() {
            // Nothing in common: written anew, in the list's own notation and place.
            return self.whole_seq(node, flow, new, place);
        }
        for &(i, j) in &pairs {
            self.path.push(Step::Index(i));
            let child = self.item_place(&items[i], flow)?;
            let result = self.node(&items[i], &old[i], &new[j], child);
            self.path.pop();
            result?;
        }
        let kept: Vec<bool> = (0..items.len())
            .map(|i| pairs.iter().any(|p| p.0 == i))
            .collect();
        let mut i = 0;
        while i < items.len() {
            if kept[i] {
                i += 1;
                continue;
            }
            let j = (i..items.len()).find(|&j| kept[j]).unwrap_or(items.len());
            self.cut_items(items, i, j, flow)?;
            i = j;
        }
        let mut previous: Option<usize> = None;
        for (j, value) in new.iter().enumerate() {
            if let Some(&(i, _)) = pairs.iter().find(|p| p.1 == j) {
                previous = Some(i);
                continue;
            }
            self.path.push(Step::Index(j));
            let result = self.insert_item(items, &pairs, previous, value, flow);
            self.path.pop();
            result?;
        }
        Ok(())
    }

    /// A block list with nothing kept: its items replaced, the notation kept.
    fn whole_seq(&mut self, node: &Node, flow: bool, new: &[Value], place: Place) -> Result {
        let value = Value::Array(new.to_vec());
        if flow {
            return self.whole(node, &value, place);
        }
        let Some(first) = node_items(node).first() else {
            return self.whole(node, &value, place);
        };
        let dash = tree::dash_before(self.text, first.start)
            .filter(|d| tree::starts_line(self.text, *d))
            .ok_or_else(|| {
                self.refuse("the list's first item shares its line with other content")
            })?;
        let col = tree::column(self.text, dash);
        let lines = render::block(&value, col, self.layout);
        let start = tree::line_start(self.text, dash);
        self.replace_lines(start, node.end, lines.join(self.newline));
        Ok(())
    }

    fn item_place(&self, item: &Node, flow: bool) -> Result<Place> {
        if flow {
            return Ok(Place {
                owner: Owner::Flow,
                region: item.start,
                col: tree::column(self.text, item.start),
            });
        }
        let dash = tree::dash_before(self.text, item.start).ok_or_else(|| {
            self.refuse("the list item is written in a form the editor does not handle")
        })?;
        Ok(Place {
            owner: Owner::SeqItem,
            region: dash + 1,
            col: tree::column(self.text, dash),
        })
    }

    fn cut_items(&mut self, items: &[Node], i: usize, j: usize, flow: bool) -> Result {
        self.keeps_anchors(&items[i..j].iter().collect::<Vec<_>>())?;
        let text = self.text;
        if flow {
            match items.get(j) {
                Some(next) => self.replace(items[i].start, next.start, String::new()),
                None => self.replace(items[i - 1].end, items[j - 1].end, String::new()),
            }
            return Ok(());
        }
        let dash = tree::dash_before(text, items[i].start)
            .filter(|d| tree::starts_line(text, *d))
            .ok_or_else(|| self.refuse("the list item shares its line with other content"))?;
        self.replace(
            tree::line_start(text, dash),
            tree::line_end(text, items[j - 1].end),
            String::new(),
        );
        Ok(())
    }

    fn insert_item(
        &mut self,
        items: &[Node],
        pairs: &[(usize, usize)],
        previous: Option<usize>,
        value: &Value,
        flow: bool,
    ) -> Result {
        let nl = self.newline;
        let text = self.text;
        let first_kept = pairs.iter().map(|p| p.0).min().unwrap_or(0);
        let neighbour = &items[previous.unwrap_or(first_kept)];
        if flow {
            let rendered =
                super::like(neighbour, value, true).unwrap_or_else(|| render::flow(value));
            match previous {
                Some(p) => self.replace(items[p].end, items[p].end, format!(", {rendered}")),
                None => self.replace(
                    items[first_kept].start,
                    items[first_kept].start,
                    format!("{rendered}, "),
                ),
            }
            return Ok(());
        }
        let anchor = &items[previous.unwrap_or(first_kept)];
        let dash = tree::dash_before(text, anchor.start)
            .filter(|d| tree::starts_line(text, *d))
            .ok_or_else(|| self.refuse("the list item shares its line with other content"))?;
        let col = tree::column(text, dash);
        let body = match super::like(neighbour, value, false) {
            Some(scalar) => format!("{}- {scalar}", " ".repeat(col)),
            None => render::item_lines(value, col, self.layout).join(nl),
        };
        match previous {
            Some(_) => self.insert_lines(tree::line_end(text, anchor.end), &body),
            None => {
                let at = tree::line_start(text, dash);
                self.replace(at, at, format!("{body}{nl}"));
            }
        }
        Ok(())
    }
}

fn node_items(node: &Node) -> &[Node] {
    match &node.kind {
        Kind::Seq { items, .. } => items,
        _ => &[],
    }
}
