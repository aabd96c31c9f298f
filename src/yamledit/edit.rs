//! From "this document's value becomes that one" to the fewest text changes: the positioned
//! nodes and the new value are walked together; an equal subtree is left alone, a changed
//! scalar is rewritten in place, a missing key or list element is inserted beside its siblings
//! with their indentation, a dropped one is cut out with its nested block, and only a change of
//! type rewrites a value whole. Every change is a byte range of the original text and its
//! replacement; nothing is applied here.

use serde_json::{Map, Value};

use super::render::{self, Layout};
use super::scalar::{self, Written};
use super::tree::{self, Kind, Node, Style};
use super::value::{same, Step};

/// One change to the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replace {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Why a value cannot be edited safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub path: Vec<Step>,
    pub reason: String,
}

/// What holds a value, for writing a replacement in the right place and indentation.
#[derive(Debug, Clone, Copy)]
enum Owner {
    /// The value of a block mapping entry; `region` is just past its `:`.
    MapValue,
    /// An item of a block list; `region` is just past its `-`.
    SeqItem,
    /// Inside a flow collection: only flow notation.
    Flow,
    /// A document's root.
    Root,
}

#[derive(Debug, Clone, Copy)]
struct Place {
    owner: Owner,
    region: usize,
    /// Column of the key or dash that owns the value.
    col: usize,
}

pub struct Rewriter<'t> {
    text: &'t str,
    layout: Layout,
    newline: &'static str,
    pub edits: Vec<Replace>,
    path: Vec<Step>,
}

type Result<T = ()> = std::result::Result<T, Refusal>;

impl<'t> Rewriter<'t> {
    pub fn new(text: &'t str, layout: Layout, newline: &'static str) -> Rewriter<'t> {
        Rewriter {
            text,
            layout,
            newline,
            edits: Vec::new(),
            path: Vec::new(),
        }
    }

    fn refuse(&self, reason: impl Into<String>) -> Refusal {
        Refusal {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn replace(&mut self, start: usize, end: usize, text: String) {
        self.edits.push(Replace { start, end, text });
    }

    /// Replaces `start..end` with text of several lines: what followed the old value on its
    /// last line (a comment) moves up to the end of the new first line, so it does not end up
    /// inside the new block.
    fn replace_lines(&mut self, start: usize, end: usize, text: String) {
        let line_end = tree::line_end(self.text, end);
        let rest_end = line_end
            - self.text[..line_end]
                .len()
                .saturating_sub(self.text[..line_end].trim_end_matches(['\n', '\r']).len());
        let rest = &self.text[end..rest_end.max(end)];
        if !text.contains('\n') || rest.trim().is_empty() {
            self.replace(start, end, text);
            return;
        }
        let (first, others) = text.split_at(text.find(['\r', '\n']).unwrap_or(text.len()));
        self.replace(start, rest_end, format!("{first}{rest}{others}"));
    }

    /// Rewrites a document's root from `old` (its value as the reader reads it) to `new`.
    pub fn document(&mut self, root: &Node, old: &Value, new: &Value) -> Result {
        let place = Place {
            owner: Owner::Root,
            region: root.start,
            col: tree::column(self.text, root.start),
        };
        self.node(root, old, new, place)
    }

    fn node(&mut self, node: &Node, old: &Value, new: &Value, place: Place) -> Result {
        if same(old, new) {
            return Ok(());
        }
        if matches!(node.kind, Kind::Alias) {
            return Err(self.refuse(
                "the value is an alias (*name) of a value elsewhere; change it where the anchor is",
            ));
        }
        if node.aliased {
            return Err(self.refuse("the value carries an anchor (&name) that aliases elsewhere use; changing it would change them too"));
        }
        if node.tagged {
            return Err(self.refuse("the value carries an explicit tag (!!type)"));
        }
        match (&node.kind, old, new) {
            (Kind::Map { flow, entries }, Value::Object(old), Value::Object(new))
                if !new.is_empty() =>
            {
                self.map(node, *flow, entries, old, new, place)
            }
            (Kind::Seq { flow, items }, Value::Array(old), Value::Array(new))
                if !new.is_empty() =>
            {
                self.seq(node, *flow, items, old, new, place)
            }
            (
                Kind::Scalar {
                    style,
                    empty: false,
                    ..
                },
                _,
                new,
            ) if !render::is_block_collection(new)
                && !matches!(style, Style::Literal | Style::Folded) =>
            {
                let flow = matches!(place.owner, Owner::Flow);
                match scalar::write(new, Some(*style), flow) {
                    Written::Inline(s) => {
                        self.replace(node.start, node.end, s);
                        Ok(())
                    }
                    Written::Block { .. } => self.whole(node, new, place),
                }
            }
            _ => self.whole(node, new, place),
        }
    }

    /// Refuses to drop or rewrite a subtree holding an anchor that aliases elsewhere use.
    fn keeps_anchors(&self, nodes: &[&Node]) -> Result {
        if nodes.iter().any(|n| holds_aliased(n)) {
            return Err(self.refuse("the value holds an anchor (&name) that aliases elsewhere use"));
        }
        Ok(())
    }

    /// Rewrites a value whole: a change of type, or of notation the value needs.
    fn whole(&mut self, node: &Node, new: &Value, place: Place) -> Result {
        self.keeps_anchors(&[node])?;
        let nl = self.newline;
        let old_flow = matches!(
            node.kind,
            Kind::Map { flow: true, .. } | Kind::Seq { flow: true, .. }
        );
        if matches!(place.owner, Owner::Flow) || (old_flow && render::is_block_collection(new)) {
            self.replace(node.start, node.end, render::flow(new));
            return Ok(());
        }
        if render::is_block_collection(new) {
            let text = match place.owner {
                Owner::MapValue => {
                    let indent = match new {
                        Value::Array(_) => place.col + self.layout.seq_indent,
                        _ => place.col + self.layout.step,
                    };
                    format!("{nl}{}", render::block(new, indent, self.layout).join(nl))
                }
                Owner::SeqItem => {
                    let lines = render::item_lines(new, place.col, self.layout);
                    let joined = lines.join(nl);
                    format!(" {}", &joined[place.col + 2..])
                }
                Owner::Root | Owner::Flow => {
                    let lines = render::block(new, place.col, self.layout);
                    lines.join(nl)[place.col..].to_string()
                }
            };
            let start = match place.owner {
                Owner::Root => node.start,
                _ => place.region,
            };
            self.replace_lines(start, node.end.max(start), text);
            return Ok(());
        }
        // A scalar or an empty collection: on the key's (or dash's) line.
        let indent = match place.owner {
            Owner::SeqItem => place.col + 2,
            _ => place.col + self.layout.step,
        };
        let written = match new {
            Value::Object(m) if m.is_empty() => Written::Inline("{}".into()),
            Value::Array(a) if a.is_empty() => Written::Inline("[]".into()),
            scalar_value => scalar::write(scalar_value, None, false),
        };
        let text = match written {
            Written::Inline(s) => s,
            Written::Block { header, lines } => {
                let pad = " ".repeat(indent);
                let body: Vec<String> = lines
                    .into_iter()
                    .map(|l| if l.is_empty() { l } else { format!("{pad}{l}") })
                    .collect();
                format!("{header}{nl}{}", body.join(nl))
            }
        };
        match place.owner {
            Owner::Root => self.replace_lines(node.start, node.end, text),
            // An empty value (`key:`) lies before its colon: nothing of it is replaced.
            _ => self.replace_lines(place.region, node.end.max(place.region), format!(" {text}")),
        }
        Ok(())
    }

    fn map(
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
        if flow {
            let rendered = format!("{}: {}", scalar::key(key, true), render::flow(value));
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
        let lines = render::entry_lines(key, value, col, self.layout);
        let body = lines.join(nl);
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

    /// Inserts whole lines at a line start `at` (the text's end when its last line has no
    /// line break: the break goes before the new lines then, and none after).
    fn insert_lines(&mut self, at: usize, lines: &str) {
        let nl = self.newline;
        if at == self.text.len() && !self.text.is_empty() && !self.text.ends_with('\n') {
            self.replace(at, at, format!("{nl}{lines}"));
        } else {
            self.replace(at, at, format!("{lines}{nl}"));
        }
    }

    fn seq(
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
        if flow {
            let rendered = render::flow(value);
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
        let body = render::item_lines(value, col, self.layout).join(nl);
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

fn holds_aliased(node: &Node) -> bool {
    node.aliased
        || match &node.kind {
            Kind::Map { entries, .. } => entries.iter().any(|e| holds_aliased(&e.value)),
            Kind::Seq { items, .. } => items.iter().any(holds_aliased),
            _ => false,
        }
}

fn node_items(node: &Node) -> &[Node] {
    match &node.kind {
        Kind::Seq { items, .. } => items,
        _ => &[],
    }
}

/// Fields that identify a list element (list-map keys of Kubernetes types), for pairing an
/// element with its changed version.
const IDENTITY: &[&str] = &[
    "name",
    "containerPort",
    "port",
    "mountPath",
    "devicePath",
    "ip",
    "key",
    "conditionType",
    "topologyKey",
];

fn identity(value: &Value) -> Option<(&'static str, &Value)> {
    IDENTITY.iter().find_map(|k| value.get(*k).map(|v| (*k, v)))
}

fn kind_of(value: &Value) -> u8 {
    match value {
        Value::Object(_) => 0,
        Value::Array(_) => 1,
        _ => 2,
    }
}

/// Longest common subsequence of `a` and `b` under `eq`, as index pairs in order.
fn lcs(a: &[usize], b: &[usize], eq: &dyn Fn(usize, usize) -> bool) -> Vec<(usize, usize)> {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 || n.saturating_mul(m) > 4_000_000 {
        return Vec::new();
    }
    let mut table = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[at(i, j)] = if eq(a[i], b[j]) {
                table[at(i + 1, j + 1)] + 1
            } else {
                table[at(i + 1, j)].max(table[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n && j < m {
        if eq(a[i], b[j]) {
            out.push((a[i], b[j]));
            i += 1;
            j += 1;
        } else {
            let (skip_old, skip_new) = (table[at(i + 1, j)], table[at(i, j + 1)]);
            // On a tie, skip on the longer side: the pairs found later stay at the same
            // relative places, so elements between them pair up too (a changed duplicate).
            if skip_old > skip_new || (skip_old == skip_new && n - i > m - j) {
                i += 1;
            } else {
                j += 1;
            }
        }
    }
    out
}

/// Which old element becomes which new one, in order. Lists of one length pair up by
/// position; otherwise equal elements first, then in the gaps
/// between them elements of the same identity (a container by its name), then elements of
/// the same kind, so a changed element is edited rather than written anew.
fn align(old: &[Value], new: &[Value]) -> Vec<(usize, usize)> {
    if old.len() == new.len() {
        // Same length: element for element (a value changed in place), except where the
        // kind changes (that element is written anew).
        return (0..old.len())
            .filter(|&i| same(&old[i], &new[i]) || kind_of(&old[i]) == kind_of(&new[i]))
            .map(|i| (i, i))
            .collect();
    }
    let all_old: Vec<usize> = (0..old.len()).collect();
    let all_new: Vec<usize> = (0..new.len()).collect();
    let equal = lcs(&all_old, &all_new, &|i, j| same(&old[i], &new[j]));
    let mut pairs = Vec::new();
    let (mut oi, mut ni) = (0, 0);
    let bounds = equal
        .iter()
        .copied()
        .chain(std::iter::once((old.len(), new.len())));
    for (oe, ne) in bounds {
        let gap_old: Vec<usize> = (oi..oe).collect();
        let gap_new: Vec<usize> = (ni..ne).collect();
        let same_identity = |i: usize, j: usize| match (identity(&old[i]), identity(&new[j])) {
            (Some(a), Some(b)) => a.0 == b.0 && same(a.1, b.1),
            _ => false,
        };
        let by_identity = lcs(&gap_old, &gap_new, &same_identity);
        // Between those, elements of the same kind, in order.
        let (mut gi, mut gj) = (oi, ni);
        for (a, b) in by_identity.iter().copied().chain(std::iter::once((oe, ne))) {
            let sub_old: Vec<usize> = (gi..a).collect();
            let sub_new: Vec<usize> = (gj..b).collect();
            pairs.extend(lcs(&sub_old, &sub_new, &|i, j| {
                kind_of(&old[i]) == kind_of(&new[j])
            }));
            if a < oe {
                pairs.push((a, b));
            }
            gi = a + 1;
            gj = b + 1;
        }
        if oe < old.len() {
            pairs.push((oe, ne));
        }
        oi = oe + 1;
        ni = ne + 1;
    }
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn alignment_pairs_changed_elements_in_order() {
        let old = [
            json!({"name": "a"}),
            json!({"name": "web", "image": "x"}),
            json!("s"),
        ];
        let new = [
            json!({"name": "a"}),
            json!({"name": "web", "image": "y"}),
            json!({"name": "new"}),
            json!("t"),
        ];
        assert_eq!(align(&old, &new), [(0, 0), (1, 1), (2, 3)]);
        assert_eq!(
            align(&[json!(1), json!(2)], &[json!(2), json!(1)]),
            [(0, 0), (1, 1)]
        );
        assert_eq!(
            align(&[json!(1), json!(2), json!(3)], &[json!(2), json!(1)]),
            [(1, 0), (2, 1)]
        );
        assert_eq!(
            align(&[json!({"name": "a"})], &[json!({"name": "b"})]),
            [(0, 0)]
        );
        assert!(align(&[json!({"name": "a"})], &[json!("b")]).is_empty());
    }
}
