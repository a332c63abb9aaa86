//! Which key a TOML error points at, for the message (`[http] listen`): a
//! second parse of the file into a tree of spans, or its lines when it is
//! not valid TOML.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use toml::Spanned;

/// Any TOML document, keeping the span of every key and value.
enum Node {
    Leaf,
    Table(Vec<(Spanned<String>, Spanned<Node>)>),
    Array(Vec<Spanned<Node>>),
}

/// A step of the path to a key.
enum Step {
    Key(String),
    /// An element of an array of tables (`[[alarms]]`).
    Element,
}

/// The key or table at byte `offset` of `text`, spelled as in the file.
pub(crate) fn key_at(text: &str, offset: usize) -> Option<String> {
    // A document that does not parse (or holds a datetime, which the
    // span tree does not take) is located by its lines instead.
    let Ok(root) = toml::from_str::<Node>(text) else {
        return key_by_lines(text, offset);
    };
    let mut path = Vec::new();
    let is_table = find(&root, offset, &mut path)?;
    Some(render(&path, is_table))
}

/// Fills `path` with the deepest key whose key or value span holds
/// `offset`, returning whether that value is a table. Children are
/// searched whatever their parent's span: a `[header]` table's span is
/// only the header.
fn find(node: &Node, offset: usize, path: &mut Vec<Step>) -> Option<bool> {
    let Node::Table(entries) = node else {
        return None;
    };
    for (key, value) in entries {
        path.push(Step::Key(key.get_ref().clone()));
        if let Some(is_table) = find_within(value.get_ref(), offset, path) {
            return Some(is_table);
        }
        if holds(key, offset) || holds(value, offset) {
            return Some(!matches!(value.get_ref(), Node::Leaf | Node::Array(_)));
        }
        path.pop();
    }
    None
}

/// Like [`find`] for a value: into tables, and into the elements of
/// arrays of tables (an element's own span is its `[[header]]`).
fn find_within(node: &Node, offset: usize, path: &mut Vec<Step>) -> Option<bool> {
    match node {
        Node::Leaf => None,
        Node::Table(_) => find(node, offset, path),
        Node::Array(items) => items.iter().find_map(|item| {
            if !matches!(item.get_ref(), Node::Table(_)) {
                return None;
            }
            path.push(Step::Element);
            let found =
                find(item.get_ref(), offset, path).or_else(|| holds(item, offset).then_some(true));
            if found.is_none() {
                path.pop();
            }
            found
        }),
    }
}

fn holds<T>(spanned: &Spanned<T>, offset: usize) -> bool {
    let span = spanned.span();
    span.contains(&offset) || span.start == offset
}

/// `[a.b]` or `[[a]]` for a table, `[a.b] key` or `key` for a key.
fn render(path: &[Step], is_table: bool) -> String {
    let (table, key) = match (is_table, path.split_last()) {
        (false, Some((Step::Key(key), table))) => (table, Some(key.as_str())),
        _ => (path, None),
    };
    let names: Vec<String> = table
        .iter()
        .filter_map(|step| match step {
            Step::Key(k) => Some(quote(k)),
            Step::Element => None,
        })
        .collect();
    let header = match () {
        _ if names.is_empty() => String::new(),
        _ if table.iter().any(|s| matches!(s, Step::Element)) => {
            format!("[[{}]]", names.join("."))
        }
        _ => format!("[{}]", names.join(".")),
    };
    match key {
        Some(key) if header.is_empty() => quote(key),
        Some(key) => format!("{header} {}", quote(key)),
        None => header,
    }
}

/// A key as TOML spells it: bare if it can be.
pub(crate) fn quote(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// For text that is not valid TOML: the last `[header]` line at or
/// before the offset, and the `key =` of the offset's line if it has one.
fn key_by_lines(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[line_start..line_end].trim();
    let header = text[..line_end]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .and_then(header_of);
    let key = (!line.starts_with('['))
        .then(|| line.split_once('='))
        .flatten()
        .map(|(key, _)| key.trim())
        .filter(|key| !key.is_empty() && !key.contains(char::is_whitespace));
    match (header, key) {
        (Some(header), Some(key)) => Some(format!("{header} {key}")),
        (header, key) => header.or(key.map(str::to_owned)),
    }
}

/// `[name]` or `[[name]]` from a header line, without any comment.
fn header_of(line: &str) -> Option<String> {
    let close = if line.starts_with("[[") { "]]" } else { "]" };
    let end = line.find(close)? + close.len();
    Some(line[..end].to_owned())
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_str<E>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Table(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn unknown_key_names_file_line_and_key() {
        assert_eq!(
            error("[tcp]\nlsten = \":1\"\n"),
            "/etc/lovebeat.cfg:2: [tcp] lsten: unknown field `lsten`, \
             expected `listen` or `allow`"
        );
        let message = error("\n[htp]\nlisten = \":1\"\n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:2: [htp]: unknown field `htp`"),
            "{message}"
        );
        let message = error("[alerts.ops]\nmial = \"x\"\n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:2: [alerts.ops] mial: unknown field"),
            "{message}"
        );
        let message = error("[[views]]\nname = \"x\"\nincludes = [\"y\"]\n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:3: [[views]] includes: unknown field"),
            "{message}"
        );
    }

    #[test]
    fn wrong_type_names_file_line_and_key() {
        assert_eq!(
            error("public_url = 5\n"),
            "/etc/lovebeat.cfg:1: public_url: invalid type: integer `5`, expected a string"
        );
        let message = error("[[alarms]]\nname = \"a\"\nincludes = [\"a\",\n  5]\n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:4: [[alarms]] includes: invalid type"),
            "{message}"
        );
        let message = error("[[alarms]]\nname = \"a\"\n[[alarms]]\npattern = \"b\"\n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:3: [[alarms]]: missing field `name`"),
            "{message}"
        );
        let message = error("[database]\ninterval = 1979-05-27\n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:2: [database] interval: invalid type"),
            "{message}"
        );
    }

    #[test]
    fn toml_syntax_error_names_file_line_and_key() {
        let message = error("[udp]\nlisten = \":1\"\n[http]\nlisten = \n");
        assert!(
            message.starts_with("/etc/lovebeat.cfg:4: [http] listen: "),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
        let message = error("[http]\nlisten = \":1\"\nlisten = \":2\"\n");
        assert_eq!(message, "/etc/lovebeat.cfg:3: [http] listen: duplicate key");
    }
}
