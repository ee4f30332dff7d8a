//! The `sops` metadata: key groups, the MAC and the encryption rules.

use crate::SopsError;
use crate::tree::{Item, Node, Rules, compile};

/// Key types sops knows besides age; their presence is reported when no age
/// key is there.
const OTHER_KEY_TYPES: [&str; 6] = ["pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"];

/// At most this many age stanzas are tried (each costs an X25519 exchange
/// per identity).
const MAX_AGE_STANZAS: usize = 256;

#[derive(Debug)]
pub(crate) struct Metadata {
    /// `lastmodified` as Go formats it again (RFC 3339, seconds): the MAC's
    /// additional data.
    pub last_modified: String,
    pub mac: String,
    pub rules: Rules,
    /// (recipient, armored data key) of every age key.
    pub age: Vec<(String, String)>,
    /// Other key types present.
    pub other_types: Vec<String>,
}

fn field<'a>(items: &'a [Item], name: &str) -> Option<&'a Node> {
    items.iter().find_map(|i| match i {
        Item::Entry(k, v) if k == name => Some(v.resolved()),
        _ => None,
    })
}

/// A string field; numbers and booleans as text (mapstructure's weak typing).
fn text(items: &[Item], name: &str) -> Result<String, SopsError> {
    Ok(match field(items, name) {
        None | Some(Node::Null) => String::new(),
        Some(Node::Str(s)) => s.clone(),
        Some(Node::Int(i)) => i.to_string(),
        Some(Node::Bool(b)) => b.to_string(),
        Some(_) => return Err(SopsError::malformed(format!("sops.{name} is not a string"))),
    })
}

fn list<'a>(items: &'a [Item], name: &str) -> Result<&'a [Node], SopsError> {
    match field(items, name) {
        None | Some(Node::Null) => Ok(&[]),
        Some(Node::Seq(v)) => Ok(v),
        Some(_) => Err(SopsError::malformed(format!("sops.{name} is not a list"))),
    }
}

impl Metadata {
    pub fn parse(node: &Node) -> Result<Metadata, SopsError> {
        let Node::Map(items) = node.resolved() else {
            return Err(SopsError::malformed("sops metadata is not a mapping"));
        };
        let last_modified =
            go_rfc3339(&text(items, "lastmodified")?).ok_or_else(|| SopsError::malformed("sops.lastmodified is not an RFC 3339 time"))?;
        let rule = |name: &str| text(items, name);
        let (us, es, ur, er, ucr, ecr) = (
            rule("unencrypted_suffix")?,
            rule("encrypted_suffix")?,
            rule("unencrypted_regex")?,
            rule("encrypted_regex")?,
            rule("unencrypted_comment_regex")?,
            rule("encrypted_comment_regex")?,
        );
        let set = [&us, &es, &ur, &er, &ucr, &ecr].iter().filter(|s| !s.is_empty()).count();
        if set > 1 {
            return Err(SopsError::malformed("more than one of the encrypted/unencrypted suffix, regex and comment regex rules is set"));
        }
        let mac_only_encrypted = match field(items, "mac_only_encrypted") {
            None | Some(Node::Null) => false,
            Some(Node::Bool(b)) => *b,
            Some(Node::Str(s)) => go_parse_bool(s).ok_or_else(|| SopsError::malformed("sops.mac_only_encrypted is not a boolean"))?,
            Some(Node::Int(i)) => *i != 0,
            Some(_) => return Err(SopsError::malformed("sops.mac_only_encrypted is not a boolean")),
        };
        let rules = Rules {
            unencrypted_suffix: if set == 0 { "_unencrypted".into() } else { us },
            encrypted_suffix: es,
            unencrypted_regex: compile(&ur),
            encrypted_regex: compile(&er),
            unencrypted_comment_regex: compile(&ucr),
            encrypted_comment_regex: compile(&ecr),
            mac_only_encrypted,
        };
        let mut meta = Metadata { last_modified, mac: text(items, "mac")?, rules, age: Vec::new(), other_types: Vec::new() };
        let groups = list(items, "key_groups")?;
        let flat_has_keys = std::iter::once("age").chain(OTHER_KEY_TYPES).any(|t| list(items, t).is_ok_and(|l| !l.is_empty()));
        if flat_has_keys || groups.is_empty() {
            meta.add_group(items)?;
        } else {
            if groups.len() > 1 {
                return Err(SopsError::Unsupported { what: "key groups with Shamir secret sharing".into() });
            }
            let Node::Map(group) = groups[0].resolved() else {
                return Err(SopsError::malformed("sops.key_groups[0] is not a mapping"));
            };
            meta.add_group(group)?;
        }
        if meta.age.is_empty() && meta.other_types.is_empty() {
            return Err(SopsError::malformed("no keys found in the sops metadata"));
        }
        Ok(meta)
    }

    fn add_group(&mut self, group: &[Item]) -> Result<(), SopsError> {
        for key in list(group, "age")? {
            let Node::Map(k) = key.resolved() else {
                return Err(SopsError::malformed("an entry of sops.age is not a mapping"));
            };
            self.age.push((text(k, "recipient")?, text(k, "enc")?));
        }
        if self.age.len() > MAX_AGE_STANZAS {
            return Err(SopsError::malformed(format!("more than {MAX_AGE_STANZAS} age keys")));
        }
        for t in OTHER_KEY_TYPES {
            if !list(group, t)?.is_empty() {
                self.other_types.push(t.to_string());
            }
        }
        Ok(())
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parses an RFC 3339 time and formats it as Go's `Format(time.RFC3339)`
/// does: fractional seconds dropped, a zero offset written `Z`.
fn go_rfc3339(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r.clone()).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10) && b[10] == b'T')
        || !(digits(11..13) && b[13] == b':' && digits(14..16) && b[16] == b':' && digits(17..19))
    {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let zone = match rest {
        "Z" => "Z".to_string(),
        z if z.len() == 6
            && (z.starts_with('+') || z.starts_with('-'))
            && z.as_bytes()[3] == b':'
            && z[1..3].bytes().chain(z[4..6].bytes()).all(|c| c.is_ascii_digit()) =>
        {
            if &z[1..3] == "00" && &z[4..6] == "00" {
                "Z".to_string()
            } else {
                z.to_string()
            }
        }
        _ => return None,
    };
    Some(format!("{}{zone}", &s[..19]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_modified_formats_as_go() {
        assert_eq!(go_rfc3339("2024-05-01T10:00:00Z").as_deref(), Some("2024-05-01T10:00:00Z"));
        assert_eq!(go_rfc3339("2024-05-01T10:00:00.123Z").as_deref(), Some("2024-05-01T10:00:00Z"));
        assert_eq!(go_rfc3339("2024-05-01T10:00:00+00:00").as_deref(), Some("2024-05-01T10:00:00Z"));
        assert_eq!(go_rfc3339("2024-05-01T10:00:00+02:00").as_deref(), Some("2024-05-01T10:00:00+02:00"));
        assert_eq!(go_rfc3339("yesterday"), None);
    }
}
