//! Console failures, shown as pages (the API's problem+json is for programs; people get HTML).

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use switchboard_api::error::ApiError;
use switchboard_core::error::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No valid console session: go to the sign-in page.
    #[error("sign-in required")]
    SignInRequired,
    /// A form without this session's CSRF token.
    #[error("the form expired")]
    Csrf,
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("template: {0}")]
    Template(#[from] askama::Error),
}

pub type ConsoleResult<T> = Result<T, ConsoleError>;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    detail: &'a str,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title, detail) = match &self {
            Self::SignInRequired => return Redirect::to("/app/login").into_response(),
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "This form expired",
                "Reload the page and try again.".to_owned(),
            ),
            Self::BadRequest(d) => (StatusCode::BAD_REQUEST, "Bad request", d.clone()),
            Self::Core(e) => {
                if matches!(e, CoreError::Unauthenticated) {
                    return Redirect::to("/app/login").into_response();
                }
                let api = ApiError::from(clone_core(e));
                let status = StatusCode::from_u16(api.code.status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                if status.is_server_error() {
                    tracing::error!(error = %e, "console request failed");
                    (
                        status,
                        "Something went wrong",
                        "Try again in a moment.".to_owned(),
                    )
                } else {
                    let title = match status {
                        StatusCode::NOT_FOUND => "Not found",
                        StatusCode::FORBIDDEN => "Not allowed",
                        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
                        _ => "Could not do that",
                    };
                    (status, title, api.detail)
                }
            }
            Self::Template(e) => {
                tracing::error!(error = %e, "console template failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Try again in a moment.".to_owned(),
                )
            }
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title,
            detail: &detail,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| "Something went wrong".to_owned());
        let mut res = (status, Html(body)).into_response();
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        res
    }
}

/// The API's mapping of a core error decides the status and detail; it takes the error by value.
fn clone_core(e: &CoreError) -> CoreError {
    match e {
        CoreError::NotFound => CoreError::NotFound,
        CoreError::Conflict(what) => CoreError::Conflict(what),
        CoreError::Forbidden => CoreError::Forbidden,
        CoreError::Unauthenticated => CoreError::Unauthenticated,
        CoreError::MfaRequired => CoreError::MfaRequired,
        CoreError::Locked { retry_after_ms } => CoreError::Locked {
            retry_after_ms: *retry_after_ms,
        },
        CoreError::RateLimited { retry_after_ms } => CoreError::RateLimited {
            retry_after_ms: *retry_after_ms,
        },
        CoreError::TenantSuspended => CoreError::TenantSuspended,
        CoreError::QuotaExceeded { quota, limit } => CoreError::QuotaExceeded {
            quota,
            limit: *limit,
        },
        CoreError::UnsupportedType(t) => CoreError::UnsupportedType(t.clone()),
        CoreError::BadSignature => CoreError::BadSignature,
        CoreError::Validation(v) => CoreError::Validation(v.clone()),
        CoreError::BadRequest(m) => CoreError::BadRequest(m.clone()),
        CoreError::Store(_) | CoreError::Internal(_) => CoreError::Internal(String::new()),
    }
}
