//! Use-case errors. The API maps each variant to one status and stable code, once.

use switchboard_store::StoreError;

/// One invalid field of an input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// JSON path of the field, e.g. `slug` or `scopes[1]`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What a use case can refuse with.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("not found")]
    NotFound,
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("not allowed")]
    Forbidden,
    #[error("unauthenticated")]
    Unauthenticated,
    #[error("a one-time code is required")]
    MfaRequired,
    #[error("account locked")]
    Locked { retry_after_ms: i64 },
    #[error("rate limited")]
    RateLimited { retry_after_ms: i64 },
    #[error("tenant suspended")]
    TenantSuspended,
    /// The tenant's plan allows no more of this.
    #[error("quota exceeded: {quota} (limit {limit})")]
    QuotaExceeded { quota: &'static str, limit: i64 },
    /// An upload of a kind of file that is not accepted.
    #[error("unsupported type: {0}")]
    UnsupportedType(String),
    /// A provider's webhook whose signature does not match (or cannot be checked).
    #[error("bad signature")]
    BadSignature,
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CoreError {
    /// A single invalid field.
    pub fn field(field: &str, message: &str) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// The reason as shown to a tenant in a log of background work (automation runs, AI
    /// decisions): field errors spelled out, internal detail never.
    pub(crate) fn public_reason(&self) -> String {
        match self {
            Self::Validation(errors) => errors
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; "),
            Self::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        }
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
