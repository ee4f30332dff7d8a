//! sops' JSON store (and the binary store, a JSON envelope around `data`):
//! one branch, numbers read as Go's `float64`, keys in their order.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

use crate::tree::{Item, Node};
use crate::{Document, SopsError};

struct Json(Node);

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor).map(Json)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    // Go's JSON decoder reads every number as a float64.
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Float(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Float(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(Json(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some((k, Json(v))) = map.next_entry::<String, Json>()? {
            items.push(Item::Entry(k, v));
        }
        Ok(Node::Map(items))
    }
}

/// Reads a JSON document with a top-level object.
pub(crate) fn load(bytes: &[u8]) -> Result<Document, SopsError> {
    // serde_json's own depth limit (128) bounds the recursion.
    let Json(node) = serde_json::from_slice(bytes)
        .map_err(|e| SopsError::malformed(format!("JSON: {} at line {}, column {}", category(&e), e.line(), e.column())))?;
    match node {
        Node::Map(items) => Document::split_metadata(vec![items]),
        _ => Err(SopsError::malformed("sops only supports JSON files with a top-level object")),
    }
}

/// The kind of a JSON error, without serde's text (which may quote input).
fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected value",
        serde_json::error::Category::Eof => "unexpected end of input",
    }
}

/// Writes the branch back as compact JSON, keys in their order, numbers as
/// Go's encoder writes a float64.
pub(crate) fn emit(items: &[Item]) -> Vec<u8> {
    let mut out = String::new();
    map(&mut out, items);
    out.push('\n');
    out.into_bytes()
}

fn map(out: &mut String, items: &[Item]) {
    out.push('{');
    let mut first = true;
    for item in items {
        if let Item::Entry(k, v) = item {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&serde_json::to_string(k).expect("strings serialize"));
            out.push(':');
            value(out, v);
        }
    }
    out.push('}');
}

fn value(out: &mut String, v: &Node) {
    match v {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Int(i) => out.push_str(&i.to_string()),
        Node::Float(f) if !f.is_finite() => out.push_str("null"),
        Node::Float(f) if *f == 0.0 || (1e-6..1e21).contains(&f.abs()) => out.push_str(&format!("{f}")),
        Node::Float(f) => out.push_str(&format!("{f:e}")),
        Node::Str(s) | Node::Plain(s, _) => out.push_str(&serde_json::to_string(s).expect("strings serialize")),
        Node::Bytes(b) => out.push_str(&serde_json::to_string(&String::from_utf8_lossy(b)).expect("strings serialize")),
        Node::Map(items) => map(out, items),
        Node::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                value(out, item);
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_go_numbers() {
        let doc = load(br#"{"z": 1, "a": [2.5, true, null, "s"], "sops": {"mac": "x"}}"#).unwrap();
        assert_eq!(String::from_utf8(emit(&doc.branches[0])).unwrap(), "{\"z\":1,\"a\":[2.5,true,null,\"s\"]}\n");
    }

    #[test]
    fn errors_never_quote_input() {
        let err = load(br#"{"password": hunter2}"#).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(load(b"[1]").is_err());
    }
}
