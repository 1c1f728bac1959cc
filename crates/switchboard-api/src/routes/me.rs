//! The caller's own identity, tenants and second factor.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Meta, ValidJson, Validate};
use crate::middleware::SecretBearing;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::Principal;
use switchboard_types::{ApiKeyId, ErrorCode, PartnerId, TenantId, TenantRole, UserId};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(begin_totp))
        .routes(routes!(confirm_totp))
}

/// A tenant the caller belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyTenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub role: TenantRole,
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// `user` or `api_key`.
    pub kind: &'static str,
    pub user_id: Option<UserId>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub is_platform_admin: bool,
    /// Partners this person administers.
    pub partner_ids: Vec<PartnerId>,
    pub api_key_id: Option<ApiKeyId>,
    pub scopes: Vec<String>,
    pub tenants: Vec<MyTenant>,
}

/// The signed-in caller, their tenants and roles.
#[utoipa::path(get, path = "/v1/me", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = crate::error::Problem)))]
async fn me(State(state): State<AppState>, Auth(principal): Auth) -> ApiResult<Json<MeResponse>> {
    Ok(Json(match &principal {
        Principal::User(u) => {
            let tenants = state
                .core
                .tenants_of(&u.user_id)
                .await?
                .into_iter()
                .map(|(t, role)| MyTenant {
                    id: t.id,
                    slug: t.slug,
                    name: t.name,
                    role,
                })
                .collect();
            MeResponse {
                kind: "user",
                user_id: Some(u.user_id.clone()),
                email: Some(u.email.clone()),
                display_name: Some(u.display_name.clone()),
                is_platform_admin: u.is_platform_admin,
                partner_ids: u.partner_roles.iter().map(|(p, _)| p.clone()).collect(),
                api_key_id: None,
                scopes: Vec::new(),
                tenants,
            }
        }
        Principal::ApiKey(k) => {
            let access = state.core.tenant_access(&principal, None).await?;
            MeResponse {
                kind: "api_key",
                user_id: None,
                email: None,
                display_name: None,
                is_platform_admin: false,
                partner_ids: Vec::new(),
                api_key_id: Some(k.key.id.clone()),
                scopes: k.key.scopes.clone(),
                tenants: vec![MyTenant {
                    id: access.tenant.id,
                    slug: access.tenant.slug,
                    name: access.tenant.name,
                    role: access.role,
                }],
            }
        }
    }))
}

/// A TOTP secret to add to an authenticator app. Shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolmentResponse {
    pub secret: String,
    pub otpauth_uri: String,
}

fn user_only(principal: &Principal) -> ApiResult<&switchboard_core::identity::UserPrincipal> {
    principal
        .as_user()
        .ok_or_else(|| ApiError::new(ErrorCode::Forbidden, "Only people have second factors."))
}

/// Start TOTP enrolment.
#[utoipa::path(post, path = "/v1/me/totp", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = TotpEnrolmentResponse), (status = 409, body = crate::error::Problem)))]
async fn begin_totp(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Meta(meta): Meta,
) -> ApiResult<Response> {
    let e = state.core.begin_totp(user_only(&principal)?, &meta).await?;
    let mut res = Json(TotpEnrolmentResponse {
        secret: e.secret,
        otpauth_uri: e.uri,
    })
    .into_response();
    res.extensions_mut().insert(SecretBearing);
    Ok(res)
}

/// The first code from the authenticator app.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirm {
    #[schema(example = "123456")]
    pub code: String,
}

impl Validate for TotpConfirm {}

/// Confirm TOTP enrolment; sign-in requires a code from now on.
#[utoipa::path(post, path = "/v1/me/totp/confirm", tag = "me", security(("bearer" = [])), request_body = TotpConfirm,
    responses((status = 204), (status = 422, body = crate::error::Problem)))]
async fn confirm_totp(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Meta(meta): Meta,
    ValidJson(body): ValidJson<TotpConfirm>,
) -> ApiResult<StatusCode> {
    state
        .core
        .confirm_totp(user_only(&principal)?, &body.code, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
