//! Random tokens, their stored hashes and constant-time comparison.
//!
//! Tokens are 256 bits from the OS generator. Only `SHA-256(token)` is stored: a token is already
//! high-entropy, so a fast hash is enough (unlike passwords) and lookups stay indexable.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 32 random bytes, base64url without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A unique, non-secret identifier (request ids): 128 bits from the thread-local generator, which
/// avoids a system call per request.
pub fn unique_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Random bytes for secrets that are not tokens (e.g. TOTP seeds).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// Hex SHA-256, the stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Seals a secret for storage: ChaCha20-Poly1305 under `key` (derived from the server secret),
/// bound to `context` (e.g. tenant and owner ids), so a sealed value copied elsewhere does not open.
pub fn seal(key: &[u8; 32], context: &str, plaintext: &str) -> crate::CoreResult<String> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let nonce_bytes = random_bytes::<12>();
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce_bytes),
            Payload {
                msg: plaintext.as_bytes(),
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| crate::CoreError::Internal("sealing a secret failed".into()))?;
    Ok(format!(
        "v1.{}.{}",
        hex::encode(nonce_bytes),
        hex::encode(sealed)
    ))
}

/// Opens what [`seal`] produced under the same key and context.
pub fn open(key: &[u8; 32], context: &str, sealed: &str) -> crate::CoreResult<String> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
    let bad = || {
        crate::CoreError::Internal(
            "a stored secret does not open (was the server secret changed?)".into(),
        )
    };
    let mut parts = sealed.split('.');
    let (Some("v1"), Some(nonce), Some(body), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let nonce = hex::decode(nonce).map_err(|_| bad())?;
    let body = hex::decode(body).map_err(|_| bad())?;
    if nonce.len() != 12 {
        return Err(bad());
    }
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let plain = cipher
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &body,
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| bad())?;
    String::from_utf8(plain).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_unique_and_url_safe() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn hashes_are_stable_and_compare_exactly() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq("same", "same"));
        assert!(!constant_time_eq("same", "samf"));
        assert!(!constant_time_eq("same", "same-but-longer"));
    }
}
