//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), the scheme
//! every authenticator app speaks.

use hmac::{Hmac, Mac};
use sha1::Sha1;

const STEP_MS: i64 = 30_000;

/// A new random secret, base32 (no padding) as authenticator apps expect.
pub fn generate_secret() -> String {
    data_encoding::BASE32_NOPAD.encode(&crate::secrets::random_bytes::<20>())
}

/// The `otpauth://` URI an authenticator app scans.
pub fn provisioning_uri(secret: &str, account: &str, issuer: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

fn code_at(key: &[u8], counter: u64) -> Option<u32> {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).ok()?;
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let bytes: [u8; 4] = digest.get(offset..offset + 4)?.try_into().ok()?;
    Some((u32::from_be_bytes(bytes) & 0x7fff_ffff) % 1_000_000)
}

/// The 6-digit code for a time, as text with leading zeros.
pub fn code(secret: &str, now_ms: i64) -> Option<String> {
    let key = data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).ok()?;
    let counter = u64::try_from(now_ms / STEP_MS).ok()?;
    code_at(&key, counter).map(|c| format!("{c:06}"))
}

/// Accepts the current code or one step either side (clock skew).
pub fn verify(secret: &str, candidate: &str, now_ms: i64) -> bool {
    verify_step(secret, candidate, now_ms, None).is_some()
}

/// Like [`verify`], returning the matched time step, and refusing steps at or before `after`
/// (the last step already used), so a code works once.
pub fn verify_step(secret: &str, candidate: &str, now_ms: i64, after: Option<i64>) -> Option<i64> {
    let candidate = candidate.trim();
    if candidate.len() != 6 || !candidate.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now_ms / STEP_MS;
    (current - 1..=current + 1)
        .filter(|step| after.is_none_or(|used| *step > used))
        .find(|step| {
            code(secret, step * STEP_MS)
                .is_some_and(|c| crate::secrets::constant_time_eq(&c, candidate))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B vectors (SHA-1 key "12345678901234567890"), last 6 digits.
    #[test]
    fn matches_the_rfc_6238_vectors() {
        let secret = data_encoding::BASE32_NOPAD.encode(b"12345678901234567890");
        for (t, expected) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code(&secret, t * 1000).unwrap(), expected, "t={t}");
        }
    }

    #[test]
    fn accepts_one_step_of_skew_and_nothing_else() {
        let s = generate_secret();
        let now = 1_700_000_000_000;
        let c = code(&s, now).unwrap();
        assert!(verify(&s, &c, now));
        assert!(verify(&s, &c, now + 30_000));
        assert!(!verify(&s, &c, now + 90_000));
        assert!(!verify(&s, "12345", now));
        assert!(!verify(&s, "abcdef", now));
    }

    #[test]
    fn a_used_step_cannot_be_replayed() {
        let s = generate_secret();
        let now = 1_700_000_000_000;
        let c = code(&s, now).unwrap();
        let step = verify_step(&s, &c, now, None).unwrap();
        assert_eq!(step, now / 30_000);
        assert_eq!(verify_step(&s, &c, now, Some(step)), None);
        assert_eq!(verify_step(&s, &c, now, Some(step - 1)), Some(step));
    }
}
