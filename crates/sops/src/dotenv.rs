//! sops' dotenv store: `KEY=VALUE` lines (`\n` escapes a newline), `#`
//! comments, the metadata flattened into `sops_*` keys.

use crate::tree::{Item, Node};
use crate::{Document, SopsError};

/// Reads a dotenv file.
pub(crate) fn load(bytes: &[u8]) -> Result<Document, SopsError> {
    let text = std::str::from_utf8(bytes).map_err(|_| SopsError::malformed("the dotenv file is not UTF-8"))?;
    let mut branch = Vec::new();
    let mut meta = Node::Map(Vec::new());
    let mut found = false;
    for (n, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            branch.push(Item::Comment(c.to_string()));
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(SopsError::malformed(format!("dotenv line {} is not KEY=VALUE", n + 1)));
        };
        let value = value.replace("\\n", "\n");
        match key.strip_prefix("sops_") {
            Some(flat) => {
                found = true;
                unflatten(&mut meta, flat, value)?;
            }
            None => branch.push(Item::Entry(key.to_string(), Node::Str(value))),
        }
    }
    if !found {
        return Err(SopsError::NotEncrypted);
    }
    Ok(Document { branches: vec![branch], metadata: meta })
}

/// Puts one flattened metadata entry (`age__list_0__map_enc`) into the tree.
fn unflatten(root: &mut Node, flat: &str, value: String) -> Result<(), SopsError> {
    enum Token<'a> {
        Key(&'a str),
        Index(usize),
    }
    let bad = || SopsError::malformed(format!("sops metadata key {flat:?} is not a flattened path"));
    let mut tokens = Vec::new();
    let mut rest = flat;
    let mut next_is_key = true;
    loop {
        let cut = [rest.find("__map_"), rest.find("__list_")].into_iter().flatten().min();
        let (head, tail) = match cut {
            Some(i) => (&rest[..i], Some(&rest[i..])),
            None => (rest, None),
        };
        tokens.push(if next_is_key { Token::Key(head) } else { Token::Index(head.parse().map_err(|_| bad())?) });
        let Some(tail) = tail else { break };
        if let Some(t) = tail.strip_prefix("__map_") {
            next_is_key = true;
            rest = t;
        } else {
            next_is_key = false;
            rest = &tail["__list_".len()..];
        }
    }
    let mut node = root;
    for token in tokens {
        if *node == Node::Null {
            *node = match token {
                Token::Key(_) => Node::Map(Vec::new()),
                Token::Index(_) => Node::Seq(Vec::new()),
            };
        }
        node = match (token, node) {
            (Token::Key(k), Node::Map(items)) => {
                let pos = match items.iter().position(|i| matches!(i, Item::Entry(n, _) if n == k)) {
                    Some(p) => p,
                    None => {
                        items.push(Item::Entry(k.to_string(), Node::Null));
                        items.len() - 1
                    }
                };
                match &mut items[pos] {
                    Item::Entry(_, v) => v,
                    Item::Comment(_) => unreachable!("metadata has no comments"),
                }
            }
            (Token::Index(i), Node::Seq(items)) => {
                // The metadata lists a few keys; an index far beyond is not sops'.
                if i > 1024 {
                    return Err(bad());
                }
                if items.len() <= i {
                    items.resize(i + 1, Node::Null);
                }
                &mut items[i]
            }
            _ => return Err(bad()),
        };
    }
    *node = Node::Str(value);
    Ok(())
}

/// Writes the branch back: `KEY=VALUE` with newlines escaped, comments kept.
pub(crate) fn emit(items: &[Item]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::Comment(c) => {
                out.push(b'#');
                out.extend_from_slice(c.as_bytes());
            }
            Item::Entry(k, v) => {
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                let text: Vec<u8> = match v.resolved() {
                    Node::Str(s) => s.as_bytes().to_vec(),
                    Node::Bytes(b) => b.clone(),
                    Node::Int(i) => i.to_string().into_bytes(),
                    Node::Float(f) => crate::tree::go_float(*f).into_bytes(),
                    Node::Bool(b) => b.to_string().into_bytes(),
                    _ => Vec::new(),
                };
                for b in text {
                    if b == b'\n' {
                        out.extend_from_slice(b"\\n");
                    } else {
                        out.push(b);
                    }
                }
            }
        }
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unflattens_metadata() {
        let doc = load(b"# c\nA=1\nsops_age__list_0__map_enc=x\\ny\nsops_age__list_0__map_recipient=age1\nsops_mac=m\n").unwrap();
        let Node::Map(meta) = &doc.metadata else { panic!() };
        let Some(Item::Entry(k, Node::Seq(age))) = meta.first() else { panic!("{meta:?}") };
        assert_eq!(k, "age");
        assert_eq!(
            age[0],
            Node::Map(vec![Item::Entry("enc".into(), Node::Str("x\ny".into())), Item::Entry("recipient".into(), Node::Str("age1".into()))])
        );
        assert_eq!(emit(&doc.branches[0]), b"# c\nA=1\n");
    }

    #[test]
    fn bad_lines_are_named_not_quoted() {
        let err = load(b"A=1\nhunter2\n").unwrap_err().to_string();
        assert!(err.contains("line 2") && !err.contains("hunter2"), "{err}");
        assert_eq!(load(b"A=1\n").unwrap_err(), SopsError::NotEncrypted);
        assert!(load(b"sops_age__list_99999__map_enc=x\n").is_err());
    }
}
