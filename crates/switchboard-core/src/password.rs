//! Argon2id password hashing.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Argon2id cost parameters. The defaults follow OWASP (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordCost {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Hashes and verifies passwords with one set of costs.
#[derive(Debug, Clone)]
pub struct PasswordHasherArgon {
    cost: PasswordCost,
    /// A hash of a random password, verified against when the account does not exist so that
    /// unknown and known emails take the same time.
    dummy_hash: String,
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl PasswordHasherArgon {
    pub fn new(cost: PasswordCost) -> Result<Self, HashError> {
        let mut me = Self {
            cost,
            dummy_hash: String::new(),
        };
        me.dummy_hash = me.hash(&crate::secrets::random_token())?;
        Ok(me)
    }

    fn argon(&self) -> Result<Argon2<'static>, HashError> {
        let params = Params::new(
            self.cost.memory_kib,
            self.cost.iterations,
            self.cost.parallelism,
            None,
        )
        .map_err(|e| HashError(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// A PHC string (`$argon2id$v=19$m=…`), salted.
    pub fn hash(&self, password: &str) -> Result<String, HashError> {
        let salt = SaltString::encode_b64(&crate::secrets::random_bytes::<16>())
            .map_err(|e| HashError(e.to_string()))?;
        Ok(self
            .argon()?
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| HashError(e.to_string()))?
            .to_string())
    }

    /// Checks a password against a stored hash (with the costs recorded in that hash). A missing
    /// hash burns the same time and fails.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let candidate = stored.unwrap_or(&self.dummy_hash);
        let Ok(parsed) = PasswordHash::new(candidate) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && stored.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasherArgon {
        PasswordHasherArgon::new(PasswordCost {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let h = cheap();
        let a = h.hash("correct horse").unwrap();
        let b = h.hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$v=19$"));
        assert_ne!(a, b, "salts differ");
        assert!(h.verify("correct horse", Some(&a)));
        assert!(!h.verify("Correct horse", Some(&a)));
        assert!(!h.verify("correct horse", None));
        assert!(!h.verify("x", Some("not a phc string")));
    }
}
