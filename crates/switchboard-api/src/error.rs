//! The one place errors become HTTP: RFC 9457 problem details with a stable `code`.
//! Server errors log their cause and answer a generic body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchboard_core::{CoreError, FieldError};
use switchboard_store::StoreError;
use switchboard_types::ErrorCode;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (resolves to the error-code documentation).
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code; switch on this.
    pub code: ErrorCode,
    /// Invalid fields, for `validation_failed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// One invalid field.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub message: String,
}

/// An error on its way out of a handler.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after_secs: Option<u64>,
    /// Present for 401s: the `WWW-Authenticate` challenge.
    pub challenge: bool,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_secs: None,
            challenge: code == ErrorCode::Unauthenticated,
        }
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "No such resource.")
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            errors,
            ..Self::new(ErrorCode::ValidationFailed, detail)
        }
    }

    pub fn rate_limited(code: ErrorCode, retry_after_ms: i64) -> Self {
        let secs = u64::try_from((retry_after_ms + 999) / 1000)
            .unwrap_or(1)
            .max(1);
        Self {
            retry_after_secs: Some(secs),
            ..Self::new(code, format!("Retry after {secs} s."))
        }
    }

    fn internal(cause: &dyn std::fmt::Display) -> Self {
        // The cause goes to the log, never to the client.
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "Something went wrong on our side.")
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound => Self::not_found(),
            CoreError::Conflict(what) => {
                Self::new(ErrorCode::Conflict, format!("Conflict: {what}."))
            }
            CoreError::Forbidden => {
                Self::new(ErrorCode::Forbidden, "Your role does not allow this.")
            }
            CoreError::Unauthenticated => Self::new(
                ErrorCode::Unauthenticated,
                "Missing, invalid, expired or revoked credentials.",
            ),
            CoreError::MfaRequired => Self::new(
                ErrorCode::MfaRequired,
                "Send the code from your authenticator app as `totp`.",
            ),
            CoreError::Locked { retry_after_ms } => {
                Self::rate_limited(ErrorCode::AccountLocked, retry_after_ms)
            }
            CoreError::RateLimited { retry_after_ms } => {
                Self::rate_limited(ErrorCode::RateLimited, retry_after_ms)
            }
            CoreError::TenantSuspended => {
                Self::new(ErrorCode::TenantSuspended, "This tenant is suspended.")
            }
            CoreError::QuotaExceeded { quota, limit } => Self::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "The plan allows at most {limit} {}.",
                    quota.replace('_', " ")
                ),
            ),
            CoreError::UnsupportedType(detail) => Self::new(ErrorCode::UnsupportedFileType, detail),
            CoreError::BadSignature => Self::new(
                ErrorCode::SignatureInvalid,
                "The request's signature does not match; nothing was stored.",
            ),
            CoreError::Validation(errors) => Self::validation(errors),
            CoreError::BadRequest(detail) => Self::new(ErrorCode::BadRequest, detail),
            CoreError::Store(StoreError::Unavailable(msg)) => {
                tracing::warn!(error = %msg, "database unavailable");
                Self {
                    retry_after_secs: Some(1),
                    ..Self::new(
                        ErrorCode::Unavailable,
                        "Temporarily unavailable; retry shortly.",
                    )
                }
            }
            CoreError::Store(StoreError::Conflict(_)) => Self::new(
                ErrorCode::Conflict,
                "Conflict: the resource already exists.",
            ),
            CoreError::Store(other) => Self::internal(&other),
            CoreError::Internal(msg) => Self::internal(&msg),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        CoreError::Store(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = Problem {
            problem_type: format!("/docs#error-{}", self.code.as_str()),
            title: self.code.title().to_owned(),
            status: status.as_u16(),
            detail: self.detail,
            code: self.code,
            errors: self
                .errors
                .into_iter()
                .map(|e| ProblemField {
                    field: e.field,
                    message: e.message,
                })
                .collect(),
            // Filled in by the request-id middleware, which sees the id.
            request_id: None,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut res = (status, bytes).into_response();
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after_secs {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                headers.insert(header::RETRY_AFTER, v);
            }
        }
        if self.challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"switchboard\""),
            );
        }
        res
    }
}
