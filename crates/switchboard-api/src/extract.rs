//! Extractors: validated JSON and query strings, the authenticated principal, the tenant context
//! and the request's metadata. Handlers never parse headers themselves.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use switchboard_core::audit::RequestMeta;
use switchboard_core::{FieldError, Principal, TenantAccess};
use switchboard_types::ErrorCode;

/// The header naming the tenant a signed-in person acts in.
pub const TENANT_HEADER: &str = "x-switchboard-tenant";

/// A JSON body that parsed and validated: malformed JSON → 400, unknown fields or wrong types →
/// 422 naming the field, too large → 413, wrong content type → 415.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

/// Request DTOs check their own business rules after parsing.
pub trait Validate {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
}

/// Parses JSON bytes with the failing field's path in the error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => ApiError::new(
                ErrorCode::MalformedRequest,
                format!("The body is not valid JSON: {inner}"),
            ),
            serde_json::error::Category::Data => {
                let field = if path == "." {
                    unknown_field(&inner.to_string()).unwrap_or_else(|| "body".into())
                } else {
                    path
                };
                ApiError::validation(vec![FieldError::new(
                    field,
                    strip_position(&inner.to_string()),
                )])
            }
        }
    })
}

/// serde reports unknown fields at the parent path; pull the name out of the message.
fn unknown_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_owned())
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

impl<T> FromRequest<AppState> for ValidJson<T>
where
    T: DeserializeOwned + Validate + Send,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "Send a JSON body with Content-Type: application/json.",
            ));
        }
        let bytes = read_body(req, state.cfg.body_limit_bytes).await?;
        let value: T = parse_json(&bytes)?;
        value.validate().map_err(ApiError::validation)?;
        Ok(Self(value))
    }
}

/// Reads a whole body, refusing more than `limit` bytes with 413.
pub async fn read_body(req: Request, limit: usize) -> ApiResult<Bytes> {
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| too_large(limit))
}

pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("The body is larger than {limit} bytes."),
    )
}

/// A query string that parsed: unknown parameters or bad values → 422 naming them.
#[derive(Debug)]
pub struct ValidQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ValidQuery<T>
where
    T: DeserializeOwned + Validate + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        let value: T = serde_path_to_error::deserialize(de).map_err(|err| {
            let path = err.path().to_string();
            let msg = err.into_inner().to_string();
            let field = if path == "." {
                unknown_field(&msg).unwrap_or_else(|| "query".into())
            } else {
                path
            };
            ApiError::validation(vec![FieldError::new(field, msg)])
        })?;
        value.validate().map_err(ApiError::validation)?;
        Ok(Self(value))
    }
}

fn form_urlencoded_parse(q: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(q.as_bytes())
}

/// The authenticated caller (set by the authentication middleware); 401 when there is none.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Auth)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "Authenticate with a bearer token, an API key or a session.",
                )
            })
    }
}

/// The tenant the caller acts in, with its role there: created here, by the auth layer, only.
#[derive(Debug, Clone)]
pub struct Tenant(pub TenantAccess);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Auth(principal) = Auth::from_request_parts(parts, state).await?;
        let selector = tenant_selector(&parts.headers)?;
        Ok(Tenant(
            state
                .core
                .tenant_access(&principal, selector.as_deref())
                .await?,
        ))
    }
}

/// The tenant named in `X-Switchboard-Tenant`, if any (400 when malformed).
pub(crate) fn tenant_selector(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match headers.get(TENANT_HEADER) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .map(|s| Some(s.to_owned()))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::BadRequest,
                    "X-Switchboard-Tenant must be a tenant id or slug.",
                )
            }),
    }
}

/// Who sent the request and from where (set by the request-context middleware).
#[derive(Debug, Clone, Default)]
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Meta(
            parts
                .extensions
                .get::<RequestMeta>()
                .cloned()
                .unwrap_or_default(),
        ))
    }
}

/// Keyset pagination parameters shared by list endpoints.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Items per page, 1–200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

impl Validate for PageQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        match self.limit {
            Some(n) if !(1..=200).contains(&n) => {
                Err(vec![FieldError::new("limit", "must be between 1 and 200")])
            }
            _ => Ok(()),
        }
    }
}

impl PageQuery {
    /// Asks the store for one item more than the page, to learn whether another page follows.
    pub fn to_store(&self) -> switchboard_store::model::PageRequest {
        switchboard_store::model::PageRequest {
            after: self.after.clone(),
            limit: self.page_size() + 1,
        }
    }

    pub fn page_size(&self) -> i64 {
        self.limit.unwrap_or(50)
    }
}
