use thiserror::Error;

/// Why a SOPS file could not be decrypted. No variant ever holds a
/// decrypted value or key material: recipients are public keys, paths are
/// the file's own (clear-text) keys.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SopsError {
    /// The document has no `sops` metadata: it is not a SOPS file.
    #[error("the file has no sops metadata")]
    NotEncrypted,
    /// None of the age keys given opens the file's data key (or none was
    /// given).
    #[error("no age key can decrypt this file; it is encrypted for {}", list(recipients))]
    NoMatchingKey {
        /// The age recipients the file was encrypted for.
        recipients: Vec<String>,
    },
    /// The file's data key is encrypted only for key types driftless does
    /// not handle (PGP, cloud KMS, Vault).
    #[error("the file is encrypted only for {}; driftless decrypts SOPS files with age keys", list(types))]
    UnsupportedKeyType {
        /// The key types found in the metadata (`pgp`, `kms`, ...).
        types: Vec<String>,
    },
    /// A value is encrypted with a cipher other than AES256_GCM.
    #[error("unsupported cipher {cipher:?} (sops encrypts values with AES256_GCM)")]
    UnsupportedCipher {
        /// The cipher's name as the file states it.
        cipher: String,
    },
    /// A feature of SOPS files that driftless does not implement.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What it is.
        what: String,
    },
    /// The message authentication code does not match the content: the file
    /// was changed after it was encrypted.
    #[error("MAC mismatch: the file was changed after it was encrypted (or its sops.mac was)")]
    MacMismatch,
    /// A value does not decrypt with the data key: it was changed after it was
    /// encrypted, or moved to another key.
    #[error("the value at {path:?} does not decrypt: it was changed or moved after the file was encrypted")]
    Tampered {
        /// The value's keys, joined with `:` as sops joins them.
        path: String,
    },
    /// The document or its metadata is not what sops writes.
    #[error("malformed sops file: {reason}")]
    Malformed {
        /// Why, never quoting a value.
        reason: String,
    },
    /// An `.agekey` entry holds something other than age identities.
    #[error("entry {entry:?}: {reason}")]
    BadKeyEntry {
        /// The entry's name.
        entry: String,
        /// Why, never quoting it.
        reason: String,
    },
}

impl SopsError {
    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        SopsError::Malformed { reason: reason.into() }
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() { "no key".into() } else { items.join(", ") }
}
