//! Partners (resellers), managed by platform administrators.

use crate::error::ApiResult;
use crate::extract::{Auth, Meta, PageQuery, ValidJson, ValidQuery, Validate};
use crate::middleware::SecretBearing;
use crate::routes::{ts, Page};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_store::model::Partner;
use switchboard_types::{PartnerId, UserId};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_partners, create_partner))
        .routes(routes!(add_partner_admin))
}

/// A reseller.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerOut {
    pub id: PartnerId,
    pub slug: String,
    pub name: String,
    pub created_at: String,
}

impl From<Partner> for PartnerOut {
    fn from(p: Partner) -> Self {
        Self {
            id: p.id,
            slug: p.slug,
            name: p.name,
            created_at: ts(p.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerIn {
    #[schema(example = "acme-resellers")]
    pub slug: String,
    pub name: String,
}

impl Validate for PartnerIn {}

/// List partners (platform administrators).
#[utoipa::path(get, path = "/v1/partners", tag = "partners", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<PartnerOut>), (status = 403, body = crate::error::Problem)))]
async fn list_partners(
    State(state): State<AppState>,
    Auth(p): Auth,
    ValidQuery(q): ValidQuery<PageQuery>,
) -> ApiResult<Json<Page<PartnerOut>>> {
    let items = state.core.list_partners(&p, &q.to_store()).await?;
    Ok(Json(Page::from_overfetch(
        items,
        q.page_size(),
        |x| x.id.to_string(),
        PartnerOut::from,
    )))
}

/// Create a partner (platform administrators).
#[utoipa::path(post, path = "/v1/partners", tag = "partners", security(("bearer" = [])), request_body = PartnerIn,
    responses((status = 201, body = PartnerOut), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_partner(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    ValidJson(body): ValidJson<PartnerIn>,
) -> ApiResult<(StatusCode, Json<PartnerOut>)> {
    let partner = state
        .core
        .create_partner(&p, &body.slug, &body.name, &meta)
        .await?;
    Ok((StatusCode::CREATED, Json(partner.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerAdminIn {
    pub email: String,
    /// For a new account; generated (and returned once) when absent.
    pub password: Option<String>,
}

impl Validate for PartnerAdminIn {}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerAdminOut {
    pub user_id: UserId,
    /// Present only when the account was created now without a password.
    pub generated_password: Option<String>,
}

/// Make a person an administrator of a partner.
#[utoipa::path(post, path = "/v1/partners/{partner_id}/admins", tag = "partners", security(("bearer" = [])), request_body = PartnerAdminIn,
    params(("partner_id" = String, Path)),
    responses((status = 201, body = PartnerAdminOut), (status = 404, body = crate::error::Problem)))]
async fn add_partner_admin(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<PartnerAdminIn>,
) -> ApiResult<Response> {
    let id: PartnerId = id
        .parse()
        .map_err(|_| crate::error::ApiError::not_found())?;
    let (user_id, generated_password) = state
        .core
        .add_partner_admin(&p, &id, &body.email, body.password, &meta)
        .await?;
    let mut res = (
        StatusCode::CREATED,
        Json(PartnerAdminOut {
            user_id,
            generated_password,
        }),
    )
        .into_response();
    res.extensions_mut().insert(SecretBearing);
    Ok(res)
}
