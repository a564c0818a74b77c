//! Where things are in the TOML document: key paths, their spans, and line:column.
//!
//! The document is parsed once into a `toml::de::DeTable` (which keeps the span of every key
//! and value); before it is handed to serde, every key and array element is recorded here
//! with its path. Serde errors carry a span: [`Doc::locate`] turns it back into the key path.
//! Semantic checks after deserialization know the key path: [`Doc::key_span`] and
//! [`Doc::value_span`] turn it into a position. So the typed config stays free of spans.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step in a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A key path, displayed as TOML writes it: `hosts."compute-1".bmc.port`,
/// `consul.storage.addresses[1]`. The empty path is the document root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Seg>);

impl KeyPath {
    pub(crate) fn root() -> Self {
        KeyPath(Vec::new())
    }

    pub(crate) fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_owned()));
        p
    }

    pub(crate) fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn parent(&self) -> KeyPath {
        let mut p = self.clone();
        p.0.pop();
        p
    }

    /// The last key (not index) of the path.
    pub(crate) fn last_key(&self) -> Option<&str> {
        self.0.iter().rev().find_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
    }

    /// Where a key of this table is: `in [hosts."compute-1".bmc]`, or `at the top level`.
    pub(crate) fn in_table(&self) -> String {
        if self.is_root() {
            "at the top level".to_owned()
        } else {
            format!("in [{self}]")
        }
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for seg in &self.0 {
            match seg {
                Seg::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    write_key(f, k)?;
                }
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// A key as TOML would write it. Keys that are not plain identifiers (`compute-1`, FQDNs)
/// are quoted, so user-chosen names stand out from evacctl's own keys.
pub(crate) fn write_key(f: &mut impl fmt::Write, k: &str) -> fmt::Result {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        f.write_str(k)
    } else {
        f.write_char('"')?;
        for c in k.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if c.is_control() => write!(f, "\\u{:04X}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

#[derive(Debug)]
struct Node {
    path: KeyPath,
    /// The key as written (for table headers: in the header). `None` for array elements.
    key_span: Option<Range<usize>>,
    /// The value; for a table defined by a `[header]`, the header.
    value_span: Range<usize>,
    is_table: bool,
}

/// The positions of every key and value of one document.
#[derive(Debug)]
pub(crate) struct Doc<'t> {
    text: &'t str,
    nodes: Vec<Node>,
}

impl<'t> Doc<'t> {
    pub(crate) fn new(text: &'t str, root: &Spanned<DeTable<'_>>) -> Self {
        let mut doc = Doc {
            text,
            nodes: Vec::new(),
        };
        doc.walk_table(&KeyPath::root(), root.get_ref());
        doc
    }

    fn walk_table(&mut self, path: &KeyPath, table: &DeTable<'_>) {
        for (k, v) in table.iter() {
            let p = path.key(k.get_ref());
            self.nodes.push(Node {
                path: p.clone(),
                key_span: Some(k.span()),
                value_span: v.span(),
                is_table: v.get_ref().is_table(),
            });
            self.walk_value(&p, v.get_ref());
        }
    }

    fn walk_value(&mut self, path: &KeyPath, value: &DeValue<'_>) {
        match value {
            DeValue::Table(t) => self.walk_table(path, t),
            DeValue::Array(a) => {
                for (i, e) in a.iter().enumerate() {
                    let p = path.index(i);
                    self.nodes.push(Node {
                        path: p.clone(),
                        key_span: None,
                        value_span: e.span(),
                        is_table: e.get_ref().is_table(),
                    });
                    self.walk_value(&p, e.get_ref());
                }
            }
            _ => {}
        }
    }

    /// The first array whose elements include a table (`[[x]]`, `x = [{...}]`), and the
    /// span of that element: evacctl's configuration has no arrays of tables.
    pub(crate) fn table_in_array(&self) -> Option<(KeyPath, Range<usize>)> {
        self.nodes
            .iter()
            .filter(|n| n.is_table && matches!(n.path.0.last(), Some(Seg::Index(_))))
            .min_by_key(|n| n.value_span.start)
            .map(|n| (n.path.parent(), n.value_span.clone()))
    }

    /// The key path of the key or value at `span`: a key whose span is exactly `span`, else
    /// a value whose span is exactly `span`, else the deepest key or value that contains it.
    pub(crate) fn locate(&self, span: &Range<usize>) -> Option<KeyPath> {
        if let Some(n) = self
            .nodes
            .iter()
            .find(|n| n.key_span.as_ref() == Some(span))
        {
            return Some(n.path.clone());
        }
        if let Some(n) = self.nodes.iter().find(|n| &n.value_span == span) {
            return Some(n.path.clone());
        }
        let contains = |r: &Range<usize>| r.start <= span.start && span.end <= r.end;
        self.nodes
            .iter()
            .filter(|n| n.key_span.as_ref().is_some_and(contains) || contains(&n.value_span))
            .max_by_key(|n| (n.path.0.len(), usize::MAX - n.value_span.len()))
            .map(|n| n.path.clone())
    }

    fn node(&self, path: &KeyPath) -> Option<&Node> {
        self.nodes.iter().find(|n| &n.path == path)
    }

    /// Where the key is written (an array element: the element).
    pub(crate) fn key_span(&self, path: &KeyPath) -> Option<Range<usize>> {
        self.node(path)
            .map(|n| n.key_span.clone().unwrap_or_else(|| n.value_span.clone()))
    }

    /// Where the value is written (a `[table]`: its header).
    pub(crate) fn value_span(&self, path: &KeyPath) -> Option<Range<usize>> {
        self.node(path).map(|n| n.value_span.clone())
    }

    /// Whether the key is written in the document (as opposed to defaulted).
    pub(crate) fn contains(&self, path: &KeyPath) -> bool {
        self.node(path).is_some()
    }

    /// 1-based (line, column) of a byte offset, the column counted in characters.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(self.text, offset)
    }
}

/// 1-based (line, column) of a byte offset in `text`, the column counted in characters.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}
