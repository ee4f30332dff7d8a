//! sops' tree: the document as ordered branches, walked leaf by leaf to
//! decrypt each value and compute the MAC, exactly in sops' order.

use regex::Regex;
use sha2::{Digest, Sha512};

use crate::SopsError;
use crate::cipher;

/// A value of the document. Mappings keep their order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Bytes that are not UTF-8 (sops' `bytes` type, or a binary file).
    Bytes(Vec<u8>),
    Map(Vec<Item>),
    Seq(Vec<Node>),
    /// A YAML plain scalar: its source text (written back as it was) and
    /// what it resolves to (what the MAC covers).
    Plain(String, Box<Node>),
}

/// An entry of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    Entry(String, Node),
    /// A comment line (dotenv): not covered by the MAC, but it decides
    /// what the comment rules encrypt.
    Comment(String),
}

impl Node {
    /// The value a plain scalar resolves to.
    pub fn resolved(&self) -> &Node {
        match self {
            Node::Plain(_, v) => v,
            v => v,
        }
    }
}

/// Which values the file says are encrypted (sops' `shouldBeEncrypted`).
#[derive(Debug, Default)]
pub(crate) struct Rules {
    pub unencrypted_suffix: String,
    pub encrypted_suffix: String,
    pub unencrypted_regex: Option<Regex>,
    pub encrypted_regex: Option<Regex>,
    pub unencrypted_comment_regex: Option<Regex>,
    pub encrypted_comment_regex: Option<Regex>,
    pub mac_only_encrypted: bool,
}

/// sops' fixed prefix of a MAC over encrypted values only (sha256("sops")).
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b, 0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f,
    0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// An invalid regex matches nothing: sops ignores the compile error.
pub(crate) fn compile(re: &str) -> Option<Regex> {
    if re.is_empty() { None } else { Some(Regex::new(re).unwrap_or_else(|_| Regex::new("$^").expect("static regex"))) }
}

impl Rules {
    pub fn has_comment_rules(&self) -> bool {
        self.unencrypted_comment_regex.is_some() || self.encrypted_comment_regex.is_some()
    }

    fn encrypted(&self, path: &[String], comments: &[Vec<String>], is_comment: bool) -> bool {
        let mut encrypted = true;
        if !self.unencrypted_suffix.is_empty() && path.iter().any(|p| p.ends_with(&self.unencrypted_suffix)) {
            encrypted = false;
        }
        if !self.encrypted_suffix.is_empty() {
            encrypted = path.iter().any(|p| p.ends_with(&self.encrypted_suffix));
        }
        if let Some(re) = &self.unencrypted_regex
            && path.iter().any(|p| re.is_match(p))
        {
            encrypted = false;
        }
        if let Some(re) = &self.encrypted_regex {
            encrypted = path.iter().any(|p| re.is_match(p));
        }
        if let Some(re) = &self.unencrypted_comment_regex
            && comments.iter().flatten().any(|c| re.is_match(c))
        {
            encrypted = false;
        }
        if let Some(re) = &self.encrypted_comment_regex {
            // The comment that matches is itself left clear: skip the last
            // comment of the innermost level when judging a comment.
            let last = comments.len().saturating_sub(1);
            let last_len = comments.last().map_or(0, Vec::len);
            encrypted = comments
                .iter()
                .enumerate()
                .any(|(i, cs)| cs.iter().enumerate().any(|(j, c)| !(is_comment && i == last && j + 1 == last_len) && re.is_match(c)));
        }
        encrypted
    }
}

/// Walks every branch: decrypts the values the rules say are encrypted and
/// returns sops' MAC of the result (upper-case hex of SHA-512).
pub(crate) fn decrypt_branches(branches: &mut [Vec<Item>], rules: &Rules, key: &[u8]) -> Result<String, SopsError> {
    let mut w = Walker { rules, key, hash: Sha512::new(), path: Vec::new(), comments: Vec::new() };
    if rules.mac_only_encrypted {
        w.hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    for branch in branches {
        w.map(branch)?;
    }
    Ok(w.hash.finalize().iter().map(|b| format!("{b:02X}")).collect())
}

struct Walker<'a> {
    rules: &'a Rules,
    key: &'a [u8],
    hash: Sha512,
    path: Vec<String>,
    comments: Vec<Vec<String>>,
}

impl Walker<'_> {
    fn map(&mut self, items: &mut [Item]) -> Result<(), SopsError> {
        self.comments.push(Vec::new());
        for item in items {
            match item {
                Item::Comment(c) => {
                    self.top().push(c.clone());
                    if self.rules.encrypted(&self.path, &self.comments, true) {
                        // A comment that does not decrypt was never encrypted (older sops).
                        if let Ok(opened) = cipher::open(c, self.key, self.aad().as_bytes(), &self.path.join(":"))
                            && let Ok(text) = String::from_utf8(opened.plain.to_vec())
                        {
                            *c = text;
                        }
                    }
                }
                Item::Entry(k, v) => {
                    self.path.push(k.clone());
                    self.value(v)?;
                    self.path.pop();
                    self.top().clear();
                }
            }
        }
        self.comments.pop();
        Ok(())
    }

    fn top(&mut self) -> &mut Vec<String> {
        self.comments.last_mut().expect("a level is pushed before its items")
    }

    fn aad(&self) -> String {
        let mut s = self.path.join(":");
        s.push(':');
        s
    }

    fn value(&mut self, v: &mut Node) -> Result<(), SopsError> {
        match v {
            Node::Map(items) => self.map(items),
            Node::Seq(items) => {
                self.comments.push(Vec::new());
                for item in items {
                    self.value(item)?;
                }
                self.comments.pop();
                Ok(())
            }
            Node::Null => Ok(()),
            Node::Plain(_, r) if **r == Node::Null => Ok(()),
            _ => self.leaf(v),
        }
    }

    fn leaf(&mut self, v: &mut Node) -> Result<(), SopsError> {
        let encrypted = self.rules.encrypted(&self.path, &self.comments, false);
        if encrypted {
            let Node::Str(text) = v.resolved() else {
                return Err(SopsError::malformed(format!("the value at {:?} is not an encrypted string", self.path.join(":"))));
            };
            let opened = cipher::open(text, self.key, self.aad().as_bytes(), &self.path.join(":"))?;
            let (node, hashed) = typed(&opened, &self.path.join(":"))?;
            if let Some(bytes) = hashed {
                self.hash.update(&bytes);
            }
            *v = node;
        } else if !self.rules.mac_only_encrypted {
            let bytes = to_bytes(v.resolved(), &self.path.join(":"))?;
            self.hash.update(&bytes);
        }
        Ok(())
    }
}

/// The decrypted value as its recorded type, and the bytes the MAC covers
/// (none for a comment).
fn typed(opened: &cipher::Opened, path: &str) -> Result<(Node, Option<Vec<u8>>), SopsError> {
    let bad = |what: &str| SopsError::malformed(format!("the value at {path:?} does not decrypt to a valid {what}"));
    let text = || std::str::from_utf8(&opened.plain).map_err(|_| bad(&opened.kind));
    let node = match opened.kind.as_str() {
        "str" => match std::str::from_utf8(&opened.plain) {
            Ok(s) => Node::Str(s.to_string()),
            Err(_) => Node::Bytes(opened.plain.to_vec()),
        },
        // Go's Atoi: an optional sign and decimal digits.
        "int" | "int64" => Node::Int(text()?.parse::<i64>().map_err(|_| bad("integer"))?),
        "float" => Node::Float(text()?.parse::<f64>().map_err(|_| bad("float"))?),
        "bool" => Node::Bool(crate::metadata::go_parse_bool(text()?).ok_or_else(|| bad("boolean"))?),
        "bytes" => Node::Bytes(opened.plain.to_vec()),
        // A timestamp keeps the text sops wrote (RFC 3339).
        "time" => Node::Str(text()?.to_string()),
        "comment" => return Ok((Node::Str(text()?.to_string()), None)),
        other => {
            let name: String = other.chars().filter(char::is_ascii_alphanumeric).take(16).collect();
            return Err(SopsError::malformed(format!("the value at {path:?} has unknown type {name:?}")));
        }
    };
    let bytes = to_bytes(&node, path)?;
    Ok((node, Some(bytes)))
}

/// sops' `ToBytes`: what the MAC covers for one value.
fn to_bytes(v: &Node, path: &str) -> Result<Vec<u8>, SopsError> {
    Ok(match v {
        Node::Str(s) => s.as_bytes().to_vec(),
        Node::Bytes(b) => b.clone(),
        Node::Int(i) => i.to_string().into_bytes(),
        Node::Float(f) => go_float(*f).into_bytes(),
        Node::Bool(true) => b"True".to_vec(),
        Node::Bool(false) => b"False".to_vec(),
        Node::Plain(_, r) => return to_bytes(r, path),
        Node::Null | Node::Map(_) | Node::Seq(_) => {
            return Err(SopsError::malformed(format!("the value at {path:?} is not a scalar")));
        }
    })
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rules_follow_sops() {
        let mut r = Rules { unencrypted_suffix: "_unencrypted".into(), ..Rules::default() };
        assert!(r.encrypted(&path(&["a", "b"]), &[], false));
        assert!(!r.encrypted(&path(&["a_unencrypted", "b"]), &[], false));
        r = Rules { encrypted_regex: compile("^(data|stringData)$"), ..Rules::default() };
        assert!(r.encrypted(&path(&["data", "password"]), &[], false));
        assert!(!r.encrypted(&path(&["metadata", "name"]), &[], false));
        r = Rules { encrypted_comment_regex: compile("sops:enc"), ..Rules::default() };
        let cs = vec![vec!["sops:enc".to_string()]];
        assert!(r.encrypted(&path(&["a"]), &cs, false));
        assert!(!r.encrypted(&path(&[]), &cs, true), "the marker comment itself stays clear");
    }

    #[test]
    fn floats_format_as_go() {
        assert_eq!(go_float(1234.56789), "1234.56789");
        assert_eq!(go_float(5.0), "5");
        assert_eq!(go_float(1e21), "1000000000000000000000");
        assert_eq!(go_float(1e-7), "0.0000001");
        assert_eq!(go_float(f64::NEG_INFINITY), "-Inf");
    }
}
