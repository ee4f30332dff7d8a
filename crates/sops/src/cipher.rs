//! sops' value cipher: `ENC[AES256_GCM,data:..,iv:..,tag:..,type:..]`,
//! AES-256-GCM with the value's path as additional data.

use std::sync::LazyLock;

use aes_gcm::aead::array::ArraySize;
use aes_gcm::aead::consts::{U12, U32};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use regex::Regex;
use zeroize::Zeroizing;

use crate::SopsError;

/// sops' own pattern (anchored at the start only, as in Go).
static ENC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]").expect("static regex"));

/// A decrypted value: its bytes and the type sops recorded.
pub(crate) struct Opened {
    pub plain: Zeroizing<Vec<u8>>,
    pub kind: String,
}

/// Decrypts one value. `path` names it in errors. An empty value is an
/// empty string, as sops never encrypts one.
pub(crate) fn open(value: &str, key: &[u8], aad: &[u8], path: &str) -> Result<Opened, SopsError> {
    if value.is_empty() {
        return Ok(Opened { plain: Zeroizing::new(Vec::new()), kind: "str".into() });
    }
    let Some(caps) = ENC.captures(value) else {
        return Err(match value.strip_prefix("ENC[") {
            Some(rest) if !rest.starts_with("AES256_GCM,") => {
                let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').take(32).collect();
                SopsError::UnsupportedCipher { cipher: name }
            }
            Some(_) => SopsError::malformed(format!("the value at {path:?} is not in sops' ENC[...] format")),
            None => SopsError::malformed(format!("the value at {path:?} is not encrypted, though the file's rules say it is")),
        });
    };
    let b64 = |i: usize, what: &str| {
        STANDARD.decode(&caps[i]).map_err(|_| SopsError::malformed(format!("the {what} of the value at {path:?} is not base64")))
    };
    let mut data = b64(1, "data")?;
    let iv = b64(2, "iv")?;
    data.extend_from_slice(&b64(3, "tag")?);
    let kind = caps[4].to_string();
    let payload = Payload { msg: &data, aad };
    // Go's GCM takes any nonce length; sops writes 32 bytes.
    let plain = match iv.len() {
        32 => gcm_open::<U32>(key, &iv, payload),
        12 => gcm_open::<U12>(key, &iv, payload),
        n => return Err(SopsError::malformed(format!("the iv of the value at {path:?} is {n} bytes (sops writes 32)"))),
    };
    let plain = plain.ok_or_else(|| SopsError::Tampered { path: path.to_string() })?;
    Ok(Opened { plain: Zeroizing::new(plain), kind })
}

fn gcm_open<N: ArraySize>(key: &[u8], iv: &[u8], payload: Payload) -> Option<Vec<u8>> {
    let nonce = Nonce::<N>::try_from(iv).ok()?;
    AesGcm::<Aes256, N>::new_from_slice(key).ok()?.decrypt(&nonce, payload).ok()
}
