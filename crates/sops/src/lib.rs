//! Decrypting files encrypted by [SOPS](https://github.com/getsops/sops) v3
//! with age keys, as `sops --decrypt` does (pure: no I/O).
//!
//! A SOPS file keeps its structure in clear text and encrypts each value with
//! AES-256-GCM under a data key; the data key is stored once per recipient in
//! the `sops` metadata (for age: an armored age file). The MAC, a SHA-512 over
//! the values in order, is checked on every decryption.
//!
//! ```no_run
//! use driftless_sops::{AgeKeys, Format, decrypt};
//! let keys = AgeKeys::from_secret_data([("keys.agekey", b"AGE-SECRET-KEY-1..." as &[u8])])?;
//! let plain = decrypt(b"...", Format::Yaml, &keys)?;
//! # Ok::<(), driftless_sops::SopsError>(())
//! ```

mod cipher;
mod dotenv;
mod error;
mod json;
mod keys;
mod metadata;
mod tree;
mod yaml;

use std::path::Path;

use zeroize::Zeroizing;

pub use error::SopsError;
pub use keys::{AGE_KEY_SUFFIX, AgeKeys};

use metadata::Metadata;
use tree::{Item, Node};

/// Larger inputs are refused: SOPS files are configuration, not data.
pub const MAX_INPUT: usize = 8 * 1024 * 1024;
/// Deepest nesting of mappings and sequences read.
const MAX_DEPTH: usize = 128;
/// Most values a document may hold once YAML aliases are expanded.
const MAX_NODES: usize = 1_000_000;

/// How a SOPS file stores its tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// YAML, one branch per document.
    Yaml,
    /// JSON with a top-level object.
    Json,
    /// `KEY=VALUE` lines.
    Dotenv,
    /// Any file, encrypted whole into `{"data": ..., "sops": ...}`.
    Binary,
}

impl Format {
    /// The format sops picks from a file name: `.yaml`/`.yml`, `.json`,
    /// `.env`, anything else binary.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Format::Yaml,
            Some("json") => Format::Json,
            Some("env") => Format::Dotenv,
            _ => Format::Binary,
        }
    }
}

/// A cheap look for sops metadata, without parsing: true when `bytes` may be
/// a SOPS file. [`decrypt`] says [`SopsError::NotEncrypted`] when it is not.
pub fn is_encrypted(bytes: &[u8], format: Format) -> bool {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    let line_starts = |prefix: &[u8]| bytes.split(|b| *b == b'\n').any(|l| l.starts_with(prefix));
    match format {
        Format::Yaml => line_starts(b"sops:") && has(b"lastmodified"),
        Format::Json => has(b"\"sops\"") && has(b"\"lastmodified\""),
        // Any other file may be binary-format SOPS, always a JSON envelope:
        // a plain file that merely mentions both words is left alone.
        Format::Binary => bytes.trim_ascii_start().starts_with(b"{") && has(b"\"sops\"") && has(b"\"lastmodified\""),
        Format::Dotenv => line_starts(b"sops_lastmodified=") || line_starts(b"sops_mac="),
    }
}

/// Decrypts a SOPS file: the same document in the same format (the binary
/// format: the original bytes), without the `sops` metadata. YAML and JSON
/// keep their key order and value types; YAML values that were not encrypted
/// keep their text.
pub fn decrypt(bytes: &[u8], format: Format, keys: &AgeKeys) -> Result<Zeroizing<Vec<u8>>, SopsError> {
    if bytes.len() > MAX_INPUT {
        return Err(SopsError::malformed(format!("the file is larger than {} MiB", MAX_INPUT >> 20)));
    }
    let mut doc = match format {
        Format::Yaml => yaml::load(std::str::from_utf8(bytes).map_err(|_| SopsError::malformed("the YAML file is not UTF-8"))?)?,
        Format::Json | Format::Binary => json::load(bytes)?,
        Format::Dotenv => dotenv::load(bytes)?,
    };
    let meta = Metadata::parse(&doc.metadata)?;
    if format == Format::Yaml && meta.rules.has_comment_rules() {
        return Err(SopsError::Unsupported { what: "encrypted_comment_regex/unencrypted_comment_regex in YAML files".into() });
    }
    let key = data_key(&meta, keys)?;
    let mac = tree::decrypt_branches(&mut doc.branches, &meta.rules, &key)?;
    let stored = cipher::open(&meta.mac, &key, meta.last_modified.as_bytes(), "sops:mac").map_err(|_| SopsError::MacMismatch)?;
    if stored.plain.as_slice() != mac.as_bytes() {
        return Err(SopsError::MacMismatch);
    }
    Ok(Zeroizing::new(match format {
        Format::Yaml => yaml::emit(&doc.branches),
        Format::Json => json::emit(&doc.branches[0]),
        Format::Dotenv => dotenv::emit(&doc.branches[0]),
        Format::Binary => binary_data(&doc.branches[0])?,
    }))
}

/// The data key, from the first age key that opens it: those whose
/// recipient is one of ours first.
fn data_key(meta: &Metadata, keys: &AgeKeys) -> Result<Zeroizing<Vec<u8>>, SopsError> {
    if meta.age.is_empty() {
        return Err(SopsError::UnsupportedKeyType { types: meta.other_types.clone() });
    }
    let ours = |r: &String| keys.recipients().binary_search(r).is_ok();
    let (mine, others): (Vec<_>, Vec<_>) = meta.age.iter().partition(|(r, _)| ours(r));
    for (_, enc) in mine.into_iter().chain(others) {
        if let Some(key) = keys.decrypt_data_key(enc) {
            if key.len() != 32 {
                return Err(SopsError::malformed("the data key is not 32 bytes"));
            }
            return Ok(key);
        }
    }
    Err(SopsError::NoMatchingKey { recipients: meta.age.iter().map(|(r, _)| r.clone()).collect() })
}

fn binary_data(items: &[Item]) -> Result<Vec<u8>, SopsError> {
    items
        .iter()
        .find_map(|i| match i {
            Item::Entry(k, Node::Str(s)) if k == "data" => Some(s.as_bytes().to_vec()),
            Item::Entry(k, Node::Bytes(b)) if k == "data" => Some(b.clone()),
            _ => None,
        })
        .ok_or_else(|| SopsError::malformed("a binary sops file needs a string under \"data\""))
}

/// A loaded file: its branches and the `sops` metadata node.
#[derive(Debug)]
pub(crate) struct Document {
    branches: Vec<Vec<Item>>,
    metadata: Node,
}

impl Document {
    /// Takes the `sops` key out of every branch; the first branch's is the
    /// metadata.
    fn split_metadata(mut branches: Vec<Vec<Item>>) -> Result<Document, SopsError> {
        let mut metadata = None;
        for (i, branch) in branches.iter_mut().enumerate() {
            let mut kept = Vec::with_capacity(branch.len());
            for item in branch.drain(..) {
                match item {
                    Item::Entry(k, v) if k == "sops" => {
                        if i == 0 && metadata.replace(v).is_some() {
                            return Err(SopsError::malformed("duplicate sops entry"));
                        }
                    }
                    item => kept.push(item),
                }
            }
            *branch = kept;
        }
        let metadata = metadata.ok_or(SopsError::NotEncrypted)?;
        Ok(Document { branches, metadata })
    }
}

/// Bounds on what a document may hold.
#[derive(Default)]
pub(crate) struct Limits {
    nodes: usize,
}

impl Limits {
    fn enter(&mut self, depth: usize) -> Result<(), SopsError> {
        if depth >= MAX_DEPTH {
            return Err(SopsError::malformed(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        self.add(1)
    }

    fn add(&mut self, n: usize) -> Result<(), SopsError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(SopsError::malformed(format!("more than {MAX_NODES} values")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_by_extension() {
        assert_eq!(Format::from_path(Path::new("a/secret.enc.yaml")), Format::Yaml);
        assert_eq!(Format::from_path(Path::new("x.yml")), Format::Yaml);
        assert_eq!(Format::from_path(Path::new("x.json")), Format::Json);
        assert_eq!(Format::from_path(Path::new("app.env")), Format::Dotenv);
        assert_eq!(Format::from_path(Path::new("tls.crt")), Format::Binary);
    }

    #[test]
    fn cheap_check() {
        assert!(is_encrypted(b"a: b\nsops:\n    lastmodified: x\n", Format::Yaml));
        assert!(!is_encrypted(b"a: b\n  sops: lastmodified\n", Format::Yaml));
        assert!(is_encrypted(b"A=1\nsops_mac=x\n", Format::Dotenv));
        assert!(!is_encrypted(b"{\"a\": 1}", Format::Json));
    }

    #[test]
    fn aliases_cannot_explode() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        text.push_str("sops:\n  mac: x\n");
        let err = decrypt(text.as_bytes(), Format::Yaml, &AgeKeys::default()).unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!("a: [{}", "[".repeat(10_000));
        assert!(matches!(decrypt(deep.as_bytes(), Format::Yaml, &AgeKeys::default()), Err(SopsError::Malformed { .. })));
        let deep = format!("{{\"a\": {}", "[".repeat(10_000));
        assert!(matches!(decrypt(deep.as_bytes(), Format::Json, &AgeKeys::default()), Err(SopsError::Malformed { .. })));
    }
}
