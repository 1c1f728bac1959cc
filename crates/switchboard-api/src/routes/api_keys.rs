//! Tenant API keys.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Meta, PageQuery, Tenant, ValidJson, ValidQuery, Validate};
use crate::middleware::SecretBearing;
use crate::routes::{ts, Page};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::apikeys::NewApiKey;
use switchboard_core::clock::parse_rfc3339;
use switchboard_core::FieldError;
use switchboard_store::model::ApiKey;
use switchboard_types::ApiKeyId;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(get_key, revoke_key))
}

/// An API key (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyOut {
    pub id: ApiKeyId,
    pub name: String,
    /// The key's first characters, to recognise it.
    #[schema(example = "sb_live_01jd8x3k")]
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<ApiKey> for ApiKeyOut {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes,
            created_by: k.created_by,
            created_at: ts(k.created_at),
            expires_at: k.expires_at.map(ts),
            last_used_at: k.last_used_at.map(ts),
            revoked_at: k.revoked_at.map(ts),
        }
    }
}

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyIn {
    #[schema(example = "CRM sync")]
    pub name: String,
    /// Each scope grants the tenant role of the same name: `admin`, `agent`, `viewer`, `auditor`.
    #[schema(example = json!(["agent"]))]
    pub scopes: Vec<String>,
    /// RFC 3339; the key stops working then.
    pub expires_at: Option<String>,
}

impl Validate for ApiKeyIn {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        match &self.expires_at {
            Some(t) if parse_rfc3339(t).is_none() => Err(vec![FieldError::new(
                "expires_at",
                "must be an RFC 3339 timestamp",
            )]),
            _ => Ok(()),
        }
    }
}

/// A new key with its secret. The secret is shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKeyOut {
    pub api_key: ApiKeyOut,
    #[schema(example = "sb_live_01jd8x3k9m2v4q6r8s0t2w4y6z_…")]
    pub secret: String,
}

fn key_id(raw: &str) -> ApiResult<ApiKeyId> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// List the tenant's API keys.
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<ApiKeyOut>), (status = 403, body = crate::error::Problem)))]
async fn list_keys(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidQuery(q): ValidQuery<PageQuery>,
) -> ApiResult<Json<Page<ApiKeyOut>>> {
    let items = state.core.list_api_keys(&access, &q.to_store()).await?;
    Ok(Json(Page::from_overfetch(
        items,
        q.page_size(),
        |k| k.id.to_string(),
        ApiKeyOut::from,
    )))
}

/// Create an API key.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", security(("bearer" = [])), request_body = ApiKeyIn,
    responses((status = 201, body = CreatedApiKeyOut), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_key(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(body): ValidJson<ApiKeyIn>,
) -> ApiResult<Response> {
    let input = NewApiKey {
        name: body.name,
        scopes: body.scopes,
        expires_at: body.expires_at.as_deref().and_then(parse_rfc3339),
    };
    let (key, secret) = state.core.create_api_key(&access, input, &meta).await?;
    let mut res = (
        StatusCode::CREATED,
        Json(CreatedApiKeyOut {
            api_key: key.into(),
            secret,
        }),
    )
        .into_response();
    res.extensions_mut().insert(SecretBearing);
    Ok(res)
}

/// One API key.
#[utoipa::path(get, path = "/v1/api-keys/{key_id}", tag = "api-keys", security(("bearer" = [])), params(("key_id" = String, Path)),
    responses((status = 200, body = ApiKeyOut), (status = 404, body = crate::error::Problem)))]
async fn get_key(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiKeyOut>> {
    Ok(Json(
        state.core.get_api_key(&access, &key_id(&id)?).await?.into(),
    ))
}

/// Revoke an API key; it stops working at once.
#[utoipa::path(delete, path = "/v1/api-keys/{key_id}", tag = "api-keys", security(("bearer" = [])), params(("key_id" = String, Path)),
    responses((status = 200, body = ApiKeyOut), (status = 404, body = crate::error::Problem)))]
async fn revoke_key(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiKeyOut>> {
    Ok(Json(
        state
            .core
            .revoke_api_key(&access, &key_id(&id)?, &meta)
            .await?
            .into(),
    ))
}
