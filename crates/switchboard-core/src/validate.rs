//! Input rules shared by the API and the CLI.

use crate::error::{CoreError, FieldError};

/// Lower-case letters, digits and inner hyphens, 3–63 characters (a DNS label, so a slug can
/// become a subdomain).
pub fn slug(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    let ok = (3..=63).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !ok {
        errors.push(FieldError::new(
            field,
            "3-63 lower-case letters, digits or hyphens, not starting or ending with a hyphen",
        ));
    }
}

/// A display name: 1–200 characters after trimming, no control characters (NUL included).
pub fn name(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 {
        errors.push(FieldError::new(field, "must be 1-200 characters"));
    } else if value.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
}

/// Normalises an email (trim, lower-case) and checks its shape; full deliverability is not ours
/// to judge.
pub fn email(field: &str, value: &str, errors: &mut Vec<FieldError>) -> String {
    let v = value.trim().to_lowercase();
    let valid = v.len() <= 254
        && !v.chars().any(|c| c.is_control() || c.is_whitespace())
        && match v.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && local.len() <= 64
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            }
            None => false,
        };
    if !valid {
        errors.push(FieldError::new(field, "must be an email address"));
    }
    v
}

/// Passwords: 12–1024 characters. Length beats composition rules (NIST SP 800-63B).
pub fn password(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    let n = value.chars().count();
    if !(12..=1024).contains(&n) {
        errors.push(FieldError::new(field, "must be 12-1024 characters"));
    }
}

/// A region name: lower-case letters, digits and hyphens, 2–32 characters.
pub fn region(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    let ok = (2..=32).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        errors.push(FieldError::new(
            field,
            "2-32 lower-case letters, digits or hyphens",
        ));
    }
}

/// Turns collected field errors into a result.
pub fn finish(errors: Vec<FieldError>) -> Result<(), CoreError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CoreError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: impl Fn(&mut Vec<FieldError>)) -> bool {
        let mut e = Vec::new();
        f(&mut e);
        e.is_empty()
    }

    #[test]
    fn slugs() {
        for good in ["acme", "acme-2", "a1b"] {
            assert!(check(|e| slug("slug", good, e)), "{good}");
        }
        for bad in [
            "ab",
            "-acme",
            "acme-",
            "Acme",
            "ac me",
            "acme'; DROP TABLE tenants;--",
            "ac\0me",
            "ünï",
            &"a".repeat(64),
        ] {
            assert!(!check(|e| slug("slug", bad, e)), "{bad:?}");
        }
    }

    #[test]
    fn emails_are_normalised() {
        let mut e = Vec::new();
        assert_eq!(
            email("email", "  Ada@Example.COM ", &mut e),
            "ada@example.com"
        );
        assert!(e.is_empty());
        for bad in [
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@ex@ample.com",
            "ada@example.com\0",
        ] {
            assert!(
                !check(|e| {
                    email("email", bad, e);
                }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_accept_any_unicode_but_not_control_characters() {
        assert!(check(|e| name("name", "Zoë's Café 東京 🚀", e)));
        assert!(check(|e| name(
            "name",
            "Robert'); DROP TABLE tenants;--",
            e
        )));
        assert!(!check(|e| name("name", "nul\0byte", e)));
        assert!(!check(|e| name("name", "   ", e)));
    }
}
