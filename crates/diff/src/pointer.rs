//! RFC 6901 JSON pointers: parsing, formatting, and removing the value a
//! path points at.

use serde_json::Value;

/// One step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Seg {
    /// An array index (from jq paths, which know the difference).
    Index(usize),
    /// An object key, or an array index written as text (JSON pointers do not
    /// distinguish the two, so the document decides when the path is used).
    Key(String),
}

/// Parses an RFC 6901 pointer into its unescaped reference tokens.
///
/// The empty pointer (the whole document) is rejected because removing the
/// whole object is never a meaningful "ignore" rule.
pub(crate) fn parse(pointer: &str) -> Result<Vec<Seg>, String> {
    if pointer.is_empty() {
        return Err("refers to the whole object".to_owned());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err("must start with '/'".to_owned());
    };
    rest.split('/').map(unescape).map(|t| t.map(Seg::Key)).collect()
}

fn unescape(token: &str) -> Result<String, String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('~'),
            Some('1') => out.push('/'),
            _ => return Err("'~' must be followed by '0' or '1'".to_owned()),
        }
    }
    Ok(out)
}

/// Formats a path as a JSON pointer (escaping `~` and `/`); tests use it to
/// check parsing round-trips.
#[cfg(test)]
pub(crate) fn format(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        out.push('/');
        match seg {
            Seg::Index(i) => out.push_str(&i.to_string()),
            Seg::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
        }
    }
    out
}

/// Appends one key to a pointer string (used while walking documents, where
/// building `Vec<Seg>` for every node would be wasteful).
pub(crate) fn push_key(base: &str, key: &str) -> String {
    format!("{base}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// Appends one array index to a pointer string.
pub(crate) fn push_index(base: &str, index: usize) -> String {
    format!("{base}/{index}")
}

/// Removes the value at `path`. Returns whether something was removed; a path
/// that does not exist is not an error, as with Argo CD (the same rule is
/// applied to objects that may or may not have the field).
pub(crate) fn remove(doc: &mut Value, path: &[Seg]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = doc;
    for seg in parents {
        let next = match (cur, seg) {
            (Value::Object(map), Seg::Key(k)) => map.get_mut(k),
            (Value::Array(items), seg) => match array_index(seg) {
                Some(i) => items.get_mut(i),
                None => None,
            },
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => return false,
        }
    }
    match (cur, last) {
        (Value::Object(map), Seg::Key(k)) => map.remove(k).is_some(),
        (Value::Array(items), seg) => match array_index(seg) {
            Some(i) if i < items.len() => {
                items.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// The index a segment denotes in an array. RFC 6901 forbids leading zeros
/// ("01"), so such a token does not address an element.
fn array_index(seg: &Seg) -> Option<usize> {
    match seg {
        Seg::Index(i) => Some(*i),
        Seg::Key(k) if k == "0" => Some(0),
        Seg::Key(k) if !k.starts_with('0') && k.bytes().all(|b| b.is_ascii_digit()) => k.parse().ok(),
        Seg::Key(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_escapes() {
        let p = parse("/metadata/annotations/a~1b~0c").expect("valid");
        assert_eq!(p, vec![Seg::Key("metadata".into()), Seg::Key("annotations".into()), Seg::Key("a/b~c".into())]);
        assert_eq!(format(&p), "/metadata/annotations/a~1b~0c");
    }

    #[test]
    fn rejects_bad_pointers() {
        assert!(parse("").is_err());
        assert!(parse("spec/replicas").is_err());
        assert!(parse("/spec/~2").is_err());
        assert!(parse("/spec/a~").is_err());
    }

    #[test]
    fn removes_keys_and_indices() {
        let mut doc = json!({"a": {"b": [1, 2, 3]}});
        assert!(remove(&mut doc, &parse("/a/b/1").expect("valid")));
        assert_eq!(doc, json!({"a": {"b": [1, 3]}}));
        assert!(!remove(&mut doc, &parse("/a/b/01").expect("valid")));
        assert!(!remove(&mut doc, &parse("/a/x/y").expect("valid")));
        assert!(remove(&mut doc, &parse("/a/b").expect("valid")));
        assert_eq!(doc, json!({"a": {}}));
    }
}
