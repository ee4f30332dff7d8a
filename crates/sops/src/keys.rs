//! Age identities, read from a Secret as Flux reads `sops-age`.

use std::fmt;
use std::io::Read;
use std::str::FromStr;

use age::x25519::Identity;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::SopsError;

/// The entries of a key Secret that hold age identities end in this.
pub const AGE_KEY_SUFFIX: &str = ".agekey";

/// An armored data key is a few hundred bytes per recipient; anything far
/// larger is not sops' and is refused before age reads it.
const MAX_ARMORED_KEY: usize = 16 * 1024;

/// A set of age (X25519) identities. Its `Debug` shows only the public keys.
#[derive(Clone, Default)]
pub struct AgeKeys {
    identities: Vec<Identity>,
    /// The identities' public keys, sorted, without repeats.
    recipients: Vec<String>,
}

impl AgeKeys {
    /// The identities of every entry whose name ends in `.agekey` (Flux's
    /// convention): one `AGE-SECRET-KEY-1...` per line, blank lines and `#`
    /// comments ignored. Other entries are ignored. A line that is not an age
    /// identity is an error naming the entry and line, never its content.
    pub fn from_secret_data<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Result<AgeKeys, SopsError> {
        Self::from_key_files(entries.into_iter().filter(|(name, _)| name.ends_with(AGE_KEY_SUFFIX)))
    }

    /// The identities of age key files (`age-keygen`'s output, as
    /// `SOPS_AGE_KEY_FILE` holds), each named for messages; same format
    /// and errors as [`AgeKeys::from_secret_data`].
    pub fn from_key_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Result<AgeKeys, SopsError> {
        let mut keys = AgeKeys::default();
        for (name, value) in files {
            keys.add_entry(name, value)?;
        }
        keys.recipients.sort();
        keys.recipients.dedup();
        Ok(keys)
    }

    fn add_entry(&mut self, name: &str, value: &[u8]) -> Result<(), SopsError> {
        let bad = |reason: String| SopsError::BadKeyEntry { entry: name.to_string(), reason };
        let text = std::str::from_utf8(value).map_err(|_| bad("is not UTF-8 text".into()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let identity =
                Identity::from_str(line).map_err(|_| bad(format!("line {} is not an age identity (AGE-SECRET-KEY-1...)", n + 1)))?;
            self.recipients.push(identity.to_public().to_string());
            self.identities.push(identity);
        }
        Ok(())
    }

    /// True when there is no identity.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// The public keys (`age1...`) of the identities, sorted.
    pub fn recipients(&self) -> &[String] {
        &self.recipients
    }

    /// A digest of the public keys: equal for equal key sets, so that what
    /// was rendered with one set is told apart from another's.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for r in &self.recipients {
            h.update(r.as_bytes());
            h.update(b"\n");
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Opens one armored age file (a sops data key) with any identity.
    pub(crate) fn decrypt_data_key(&self, armored: &str) -> Option<Zeroizing<Vec<u8>>> {
        if self.identities.is_empty() || armored.len() > MAX_ARMORED_KEY {
            return None;
        }
        let reader = age::armor::ArmoredReader::new(armored.as_bytes());
        let decryptor = age::Decryptor::new(reader).ok()?;
        if decryptor.is_scrypt() {
            return None;
        }
        let mut plain = decryptor.decrypt(self.identities.iter().map(|i| i as &dyn age::Identity)).ok()?;
        let mut key = Zeroizing::new(Vec::new());
        // A data key is 32 bytes; reading a little more tells a longer one.
        plain.by_ref().take(64).read_to_end(&mut key).ok()?;
        Some(key)
    }
}

impl fmt::Debug for AgeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgeKeys").field("recipients", &self.recipients).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn reads_agekey_entries_only() {
        let a = Identity::generate();
        let b = Identity::generate();
        let text = format!("# created: today\n{}\n\n  {}  \n", a.to_string().expose_secret(), b.to_string().expose_secret());
        let keys = AgeKeys::from_secret_data([("keys.agekey", text.as_bytes()), ("README", b"not a key" as &[u8])]).unwrap();
        let mut want = vec![a.to_public().to_string(), b.to_public().to_string()];
        want.sort();
        assert_eq!(keys.recipients(), want.as_slice());
        assert!(!format!("{keys:?}").contains("AGE-SECRET-KEY"));
    }

    #[test]
    fn a_bad_entry_is_named_never_quoted() {
        let err = AgeKeys::from_secret_data([("team.agekey", b"AGE-SECRET-KEY-1NOTAKEY-hunter2" as &[u8])]).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, SopsError::BadKeyEntry { ref entry, .. } if entry == "team.agekey"), "{msg}");
        assert!(msg.contains("line 1") && !msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn fingerprint_follows_the_key_set() {
        let a = Identity::generate();
        let a_text = a.to_string().expose_secret().to_string();
        let one = AgeKeys::from_secret_data([("a.agekey", a_text.as_bytes())]).unwrap();
        let again = AgeKeys::from_secret_data([("b.agekey", a_text.as_bytes())]).unwrap();
        assert_eq!(one.fingerprint(), again.fingerprint());
        assert_ne!(one.fingerprint(), AgeKeys::default().fingerprint());
    }
}
