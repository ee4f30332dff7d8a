//! sops' YAML store: every document a branch, the metadata under the first
//! document's `sops` key, scalars typed as go-yaml v3 types them.

use std::collections::HashMap;

use driftless_kustomize::yaml::parse::resolve_scalar;
use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;

use crate::tree::{Item, Node};
use crate::{Document, Limits, SopsError};

enum Frame {
    Seq(Vec<Node>, usize),
    Map(Vec<Item>, Option<String>, usize),
}

/// Reads a YAML stream into branches and the `sops` metadata node.
pub(crate) fn load(text: &str) -> Result<Document, SopsError> {
    let mut limits = Limits::default();
    let mut docs: Vec<Node> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut parser = Parser::new_from_str(text);
    loop {
        let event = match parser.next_event() {
            None => break,
            Some(Err(e)) => {
                let m = e.marker();
                return Err(SopsError::malformed(format!("YAML: {} at line {}, column {}", e.info(), m.line(), m.col() + 1)));
            }
            Some(Ok((ev, _))) => ev,
        };
        let (node, anchor) = match event {
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                stack.clear();
                anchors.clear();
                root = None;
                continue;
            }
            Event::DocumentEnd => {
                docs.push(root.take().unwrap_or(Node::Null));
                continue;
            }
            Event::SequenceStart(anchor, _) => {
                limits.enter(stack.len())?;
                stack.push(Frame::Seq(Vec::new(), anchor));
                continue;
            }
            Event::MappingStart(anchor, _) => {
                limits.enter(stack.len())?;
                stack.push(Frame::Map(Vec::new(), None, anchor));
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor)) => (Node::Seq(items), anchor),
                _ => return Err(SopsError::malformed("YAML: unbalanced sequence")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(items, _, anchor)) => (Node::Map(items), anchor),
                _ => return Err(SopsError::malformed("YAML: unbalanced mapping")),
            },
            Event::Alias(id) => {
                let node = anchors.get(&id).cloned().ok_or_else(|| SopsError::malformed("YAML: alias to an unknown anchor"))?;
                // An alias is copied into the tree, as go-yaml's nodes are:
                // count what it adds so that nested aliases cannot explode.
                limits.add(count(&node))?;
                (node, 0)
            }
            Event::Scalar(text, style, anchor, tag) => {
                limits.add(1)?;
                let resolved = match resolve_scalar(&text, style, tag.as_deref()) {
                    Value::Null => Node::Null,
                    Value::Bool(b) => Node::Bool(b),
                    Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                        (Some(i), _) => Node::Int(i),
                        (None, Some(_)) if n.is_u64() => {
                            return Err(SopsError::malformed("YAML: an integer beyond the 64-bit signed range"));
                        }
                        (None, Some(f)) => Node::Float(f),
                        (None, None) => Node::Str(text.to_string()),
                    },
                    // go-yaml keeps timestamps (and every string) as written.
                    _ => Node::Str(text.to_string()),
                };
                let node =
                    if style == ScalarStyle::Plain && tag.is_none() { Node::Plain(text.to_string(), Box::new(resolved)) } else { resolved };
                (node, anchor)
            }
            _ => continue,
        };
        if anchor > 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq(items, _)) => items.push(node),
            Some(Frame::Map(items, key, _)) => match key.take() {
                None => match node.resolved() {
                    Node::Str(k) => *key = Some(k.clone()),
                    _ => return Err(SopsError::malformed("YAML: only string keys are supported (as in sops)")),
                },
                Some(k) => items.push(Item::Entry(k, node)),
            },
        }
    }
    let mut branches = Vec::with_capacity(docs.len());
    for doc in docs {
        match doc {
            Node::Map(items) => branches.push(items),
            Node::Null | Node::Plain(..) if matches!(doc.resolved(), Node::Null) => branches.push(Vec::new()),
            Node::Seq(_) => return Err(SopsError::malformed("YAML documents that are sequences are not supported")),
            _ => return Err(SopsError::malformed("YAML documents that are values are not supported")),
        }
    }
    Document::split_metadata(branches)
}

fn count(n: &Node) -> usize {
    match n {
        Node::Map(items) => {
            1 + items
                .iter()
                .map(|i| match i {
                    Item::Entry(_, v) => count(v),
                    Item::Comment(_) => 1,
                })
                .sum::<usize>()
        }
        Node::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        _ => 1,
    }
}

/// Writes the branches back as YAML: block style, strings double-quoted,
/// plain scalars as they were written.
pub(crate) fn emit(branches: &[Vec<Item>]) -> Vec<u8> {
    let mut out = String::new();
    for (i, branch) in branches.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        if branch.iter().any(|i| matches!(i, Item::Entry(..))) {
            map(&mut out, branch, 0);
        } else {
            out.push_str("{}\n");
        }
    }
    out.into_bytes()
}

fn is_block(n: &Node) -> bool {
    match n {
        Node::Map(items) => items.iter().any(|i| matches!(i, Item::Entry(..))),
        Node::Seq(items) => !items.is_empty(),
        _ => false,
    }
}

fn map(out: &mut String, items: &[Item], indent: usize) {
    for item in items {
        if let Item::Entry(k, v) = item {
            out.push_str(&" ".repeat(indent));
            quote(out, k);
            out.push(':');
            value(out, v, indent);
        }
    }
}

/// A value after `key:` or `-`: nested blocks on the next lines.
fn value(out: &mut String, v: &Node, indent: usize) {
    if is_block(v) {
        out.push('\n');
        match v {
            Node::Map(items) => map(out, items, indent + 2),
            Node::Seq(items) => {
                for item in items {
                    out.push_str(&" ".repeat(indent + 2));
                    out.push('-');
                    value(out, item, indent + 2);
                }
            }
            _ => unreachable!("is_block"),
        }
    } else {
        out.push(' ');
        scalar(out, v);
        out.push('\n');
    }
}

fn scalar(out: &mut String, v: &Node) {
    match v {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Int(i) => out.push_str(&i.to_string()),
        Node::Float(f) if f.is_nan() => out.push_str(".nan"),
        Node::Float(f) if f.is_infinite() => out.push_str(if *f > 0.0 { ".inf" } else { "-.inf" }),
        Node::Float(f) => out.push_str(&format!("{f:?}")),
        Node::Str(s) => quote(out, s),
        Node::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => quote(out, s),
            Err(_) => {
                use base64::Engine;
                out.push_str("!!binary ");
                quote(out, &base64::engine::general_purpose::STANDARD.encode(b));
            }
        },
        Node::Plain(raw, _) => out.push_str(raw),
        Node::Map(_) => out.push_str("{}"),
        Node::Seq(_) => out.push_str("[]"),
    }
}

/// A YAML double-quoted scalar: JSON's escaping (a JSON string is one),
/// plus what YAML does not allow unescaped (DEL, C1 controls, and the
/// characters YAML 1.1 reads as line breaks).
fn quote(out: &mut String, s: &str) {
    for c in serde_json::to_string(s).expect("strings serialize").chars() {
        if matches!(c as u32, 0x7F..=0x9F | 0x2028 | 0x2029 | 0xFEFF | 0xFFFE | 0xFFFF) {
            out.push_str(&format!("\\u{:04X}", c as u32));
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branches(text: &str) -> Vec<Vec<Item>> {
        load(&format!("{text}sops:\n  mac: x\n")).unwrap().branches
    }

    #[test]
    fn emitted_yaml_reads_back_the_same() {
        let text =
            "a: 012\nb: \"x\\ty\\u0001\\u0085\\u2028\"\nc:\n  - 1.5\n  - {d: [true, ~]}\ne: |\n  two\n  lines\nf: {}\ng: &x [1]\nh: *x\n";
        let read = branches(text);
        let out = String::from_utf8(emit(&read)).unwrap();
        assert_eq!(branches(&out), read, "{out}");
        assert!(out.contains("\"a\": 012\n"), "plain scalars keep their text: {out}");
    }

    #[test]
    fn refuses_what_sops_refuses() {
        assert!(load("- a\n").is_err());
        assert!(load("1: a\nsops: {}\n").is_err());
        assert!(load("a: [\n").is_err());
    }
}
