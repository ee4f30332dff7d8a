//! SOPS-encrypted files in a source, decrypted in memory with the control
//! plane's age keys as they are read (Flux's kustomize-controller does the
//! same): manifests of a plain directory, and every file a Kustomize build
//! reads (resources, patches, generator `envs` and `files`). Nothing
//! decrypted is written to disk.

use std::path::Path;
use std::sync::Arc;

use driftless_sops::{AgeKeys, Format, SopsError};

/// The Secret of the control-plane namespace whose `.agekey` entries hold
/// the age identities (Flux's name and convention).
pub const SOPS_AGE_SECRET: &str = "sops-age";

/// The age keys renders decrypt with, and where they come from.
#[derive(Debug, Clone)]
pub struct SopsKeys {
    /// The keys, or why the Secret's entries are not age identities: the
    /// error is reported by the renders that need a key.
    pub keys: Result<AgeKeys, SopsError>,
    /// Where they come from, for messages.
    pub origin: KeyOrigin,
}

/// Where age keys come from: what a message tells a user to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// The controller's Secret, `namespace/name`.
    Secret(String),
    /// Key files given to the CLI (`driftless validate --sops-age-key`).
    Files(Vec<String>),
}

impl std::fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyOrigin::Secret(name) => write!(f, "the Secret {name}"),
            KeyOrigin::Files(files) => write!(f, "the key files {}", files.join(", ")),
        }
    }
}

impl KeyOrigin {
    /// How to add a key that decrypts the file.
    fn remedy(&self) -> String {
        match self {
            KeyOrigin::Secret(_) => format!(
                "add the identity of one of them to that Secret, in an entry whose name ends in .agekey (create the Secret \
                 {SOPS_AGE_SECRET} in the control-plane namespace if it does not exist)"
            ),
            KeyOrigin::Files(_) => "give a key file holding the identity of one of them".into(),
        }
    }
}

impl SopsKeys {
    /// Tells key sets apart (public keys only): a render made with other
    /// keys must not be reused.
    pub fn fingerprint(&self) -> String {
        match &self.keys {
            Ok(k) => k.fingerprint(),
            Err(e) => format!("unusable: {e}"),
        }
    }
}

/// `data` read from `file` (relative to the checkout; its extension gives
/// the format), decrypted when it carries sops metadata, else unchanged.
/// The error names the file, the recipients and the Secret to fix; it
/// never quotes the content.
pub(crate) fn decrypt(keys: Option<&SopsKeys>, file: &Path, data: Vec<u8>) -> Result<Vec<u8>, String> {
    let format = Format::from_path(file);
    if !driftless_sops::is_encrypted(&data, format) {
        return Ok(data);
    }
    let none = AgeKeys::default();
    let (age, origin) = match keys {
        Some(SopsKeys { keys: Ok(k), origin }) => (k, Some(origin)),
        Some(SopsKeys { keys: Err(e), origin }) => {
            return Err(format!("encrypted with SOPS, but {origin} holds no usable age keys: {e}"));
        }
        None => (&none, None),
    };
    match driftless_sops::decrypt(&data, format, age) {
        Ok(plain) => Ok(plain.to_vec()),
        Err(SopsError::NotEncrypted) => Ok(data),
        Err(SopsError::NoMatchingKey { recipients }) => Err(match origin {
            Some(o) => format!("encrypted with SOPS for {}, and no age key of {o} decrypts it: {}", recipients.join(", "), o.remedy()),
            None => format!(
                "encrypted with SOPS for {}, and this render was given no age key (the controller decrypts with the \
                 Secret {SOPS_AGE_SECRET} of its control-plane namespace)",
                recipients.join(", ")
            ),
        }),
        Err(e) => Err(format!("SOPS: {e}")),
    }
}

/// The hook the native Kustomize engine calls on every file it reads.
#[derive(Debug)]
pub(crate) struct Hook(pub Option<Arc<SopsKeys>>);

impl driftless_kustomize::Decrypt for Hook {
    fn decrypt(&self, path: &Path, data: Vec<u8>) -> Result<Vec<u8>, String> {
        decrypt(self.0.as_deref(), path, data)
    }
}

/// The first SOPS-encrypted file of the checkout at `root` (recursively,
/// hidden entries skipped, symlinks not followed), relative to it: the
/// `kustomize` binary would read it without decrypting it. The whole
/// checkout, since an overlay's bases lie anywhere in it.
pub(crate) fn find_encrypted(root: &Path) -> Option<String> {
    // Bounds for a pathological tree: the binary path is the rare one.
    const MAX_FILES: usize = 100_000;
    const MAX_SIZE: u64 = driftless_sops::MAX_INPUT as u64;
    let mut pending = vec![root.to_path_buf()];
    let mut seen = 0;
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(kind) = entry.file_type() else { continue };
            let p = entry.path();
            if kind.is_dir() {
                pending.push(p);
            } else if kind.is_file() {
                seen += 1;
                if seen > MAX_FILES {
                    return None;
                }
                if entry.metadata().is_ok_and(|m| m.len() <= MAX_SIZE)
                    && std::fs::read(&p).is_ok_and(|data| driftless_sops::is_encrypted(&data, Format::from_path(&p)))
                {
                    return Some(crate::rel(root, &p));
                }
            }
        }
    }
    None
}
