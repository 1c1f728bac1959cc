//! Stable machine-readable error codes. Clients switch on these, so a code is never renamed or
//! reused; each maps to exactly one HTTP status.

use serde::Serialize;

macro_rules! error_codes {
    ($($variant:ident => ($code:literal, $status:literal, $title:literal)),+ $(,)?) => {
        /// Every error the API can answer with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode { $($variant),+ }

        impl ErrorCode {
            /// Every code, for documentation and the "all codes are used" check.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant),+];

            /// The stable code string.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $code),+ }
            }

            /// The HTTP status this code answers with.
            pub fn status(self) -> u16 {
                match self { $(Self::$variant => $status),+ }
            }

            /// A short human title (RFC 9457 `title`).
            pub fn title(self) -> &'static str {
                match self { $(Self::$variant => $title),+ }
            }
        }
    };
}

error_codes! {
    MalformedRequest => ("malformed_request", 400, "The request body is not valid JSON"),
    BadRequest => ("bad_request", 400, "The request is not valid"),
    Unauthenticated => ("unauthenticated", 401, "Missing, invalid, expired or revoked credentials"),
    MfaRequired => ("mfa_required", 401, "A one-time code is required"),
    Forbidden => ("forbidden", 403, "Your role does not allow this"),
    CsrfFailed => ("csrf_failed", 403, "The CSRF token is missing or wrong"),
    TenantSuspended => ("tenant_suspended", 403, "This tenant is suspended"),
    QuotaExceeded => ("quota_exceeded", 403, "The plan's limit is reached"),
    SignatureInvalid => ("signature_invalid", 403, "The request's signature does not match"),
    NotFound => ("not_found", 404, "Not found"),
    MethodNotAllowed => ("method_not_allowed", 405, "Method not allowed"),
    Conflict => ("conflict", 409, "The resource already exists or was changed"),
    IdempotencyInProgress => ("idempotency_in_progress", 409, "A request with this Idempotency-Key is still running"),
    IdempotencyKeyReused => ("idempotency_key_reused", 422, "This Idempotency-Key was used for a different request"),
    PayloadTooLarge => ("payload_too_large", 413, "The request body is too large"),
    UnsupportedMediaType => ("unsupported_media_type", 415, "Send application/json"),
    UnsupportedFileType => ("unsupported_file_type", 415, "This kind of file is not accepted"),
    ValidationFailed => ("validation_failed", 422, "Some fields are invalid"),
    AccountLocked => ("account_locked", 429, "Too many failed sign-ins; try again later"),
    RateLimited => ("rate_limited", 429, "Too many requests"),
    Internal => ("internal", 500, "Internal server error"),
    Unavailable => ("unavailable", 503, "Temporarily unavailable"),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_serialise_as_their_string() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert!((400..600).contains(&code.status()));
        }
    }
}
