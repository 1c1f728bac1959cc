//! Signatures as the Standard Webhooks specification defines them, so a receiver can verify our
//! deliveries with any of its reference libraries: `webhook-signature` carries
//! `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, one per valid secret, separated by
//! spaces (two while a rotated-out secret is still honoured).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The prefix every secret carries, as the specification recommends.
pub const SECRET_PREFIX: &str = "whsec_";

/// Bytes of key material in the secrets we generate (the specification allows 24 to 64).
pub const SECRET_BYTES: usize = 32;

/// How far a timestamp may be from the receiver's clock before [`verify`] refuses it.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// Why a secret or a signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SigningError {
    #[error("a webhook secret is `whsec_` followed by base64 of 24 to 64 bytes")]
    MalformedSecret,
    #[error("the webhook timestamp is too far from the current time")]
    TimestampOutOfTolerance,
    #[error("no signature matches")]
    NoMatchingSignature,
}

/// A signing key. Its text form (`whsec_…`) is what the endpoint's owner sees once.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    key: Vec<u8>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// A fresh random secret.
    pub fn generate() -> Self {
        let mut key = vec![0_u8; SECRET_BYTES];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        Self { key }
    }

    /// Reads `whsec_<base64>`; the prefix may be left off, as the reference libraries allow.
    pub fn parse(text: &str) -> Result<Self, SigningError> {
        let b64 = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let key = STANDARD
            .decode(b64)
            .map_err(|_| SigningError::MalformedSecret)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SigningError::MalformedSecret);
        }
        Ok(Self { key })
    }

    /// The text form, `whsec_<base64>`.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    /// The base64 signature of one delivery (without the `v1,` prefix).
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        STANDARD.encode(self.mac(msg_id, timestamp, body).finalize().into_bytes())
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable_hmac(),
        };
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

#[allow(clippy::panic)]
fn unreachable_hmac() -> ! {
    panic!("HMAC accepts keys of every length")
}

/// The `webhook-signature` header value for a delivery signed with every secret given.
pub fn signature_header(secrets: &[&Secret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| format!("v1,{}", s.sign(msg_id, timestamp, body)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a delivery as a receiver would: the timestamp within [`TOLERANCE_SECONDS`] of `now`
/// and one `v1` signature made with `secret`, compared in constant time.
pub fn verify(
    secret: &Secret,
    msg_id: &str,
    timestamp: i64,
    signature_header: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SigningError> {
    if (now - timestamp).abs() > TOLERANCE_SECONDS {
        return Err(SigningError::TimestampOutOfTolerance);
    }
    let expected = secret.mac(msg_id, timestamp, body);
    let found = signature_header.split(' ').any(|part| {
        let Some(("v1", sig)) = part.split_once(',') else {
            return false;
        };
        let Ok(sig) = STANDARD.decode(sig) else {
            return false;
        };
        expected.clone().verify_slice(&sig).is_ok()
    });
    if found {
        Ok(())
    } else {
        Err(SigningError::NoMatchingSignature)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification and its reference libraries' tests.
    #[test]
    fn golden_vector_of_the_specification() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn both_secrets_sign_during_rotation_and_either_verifies() {
        let (old, new) = (Secret::generate(), Secret::generate());
        let header = signature_header(&[&new, &old], "msg_1", 1000, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        verify(&old, "msg_1", 1000, &header, b"{}", 1000).unwrap();
        verify(&new, "msg_1", 1000, &header, b"{}", 1000).unwrap();
        let other = Secret::generate();
        assert_eq!(
            verify(&other, "msg_1", 1000, &header, b"{}", 1000),
            Err(SigningError::NoMatchingSignature)
        );
    }

    #[test]
    fn tampering_and_stale_timestamps_are_refused() {
        let s = Secret::generate();
        let header = signature_header(&[&s], "msg_1", 1000, b"{\"a\":1}");
        assert!(verify(&s, "msg_1", 1000, &header, b"{\"a\":2}", 1000).is_err());
        assert!(verify(&s, "msg_2", 1000, &header, b"{\"a\":1}", 1000).is_err());
        assert!(verify(&s, "msg_1", 1001, &header, b"{\"a\":1}", 1001).is_err());
        assert_eq!(
            verify(&s, "msg_1", 1000, &header, b"{\"a\":1}", 1000 + 301),
            Err(SigningError::TimestampOutOfTolerance)
        );
        assert!(verify(&s, "msg_1", 1000, "v2,abc v1,!!!", b"{\"a\":1}", 1000).is_err());
    }

    #[test]
    fn secrets_round_trip_and_malformed_ones_are_refused() {
        let s = Secret::generate();
        let text = s.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(Secret::parse(&text).unwrap(), s);
        assert!(!format!("{s:?}").contains(&text[6..]));
        for bad in ["whsec_", "whsec_!!!!", "whsec_c2hvcnQ=", ""] {
            assert_eq!(
                Secret::parse(bad),
                Err(SigningError::MalformedSecret),
                "{bad}"
            );
        }
    }
}
