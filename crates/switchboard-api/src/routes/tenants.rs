//! Tenant lifecycle for platform administrators and partner administrators (their own tenants).

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Meta, PageQuery, ValidJson, ValidQuery, Validate};
use crate::middleware::SecretBearing;
use crate::routes::{ts, Page};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::tenants::NewTenant;
use switchboard_core::FieldError;
use switchboard_store::model::Tenant;
use switchboard_types::{CellId, PartnerId, Plan, TenantId, TenantStatus, UserId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(get_tenant, delete_tenant))
        .routes(routes!(suspend_tenant))
        .routes(routes!(resume_tenant))
}

/// A tenant as operators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantOut {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub plan: Plan,
    pub status: TenantStatus,
    pub region: String,
    pub cell_id: CellId,
    pub partner_id: Option<PartnerId>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Tenant> for TenantOut {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id,
            slug: t.slug,
            name: t.name,
            plan: t.plan,
            status: t.status,
            region: t.region,
            cell_id: t.cell_id,
            partner_id: t.partner_id,
            created_at: ts(t.created_at),
            updated_at: ts(t.updated_at),
        }
    }
}

/// A tenant to provision with its first administrator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantIn {
    #[schema(example = "acme")]
    pub slug: String,
    #[schema(example = "Acme Inc.")]
    pub name: String,
    /// Defaults to `starter`.
    pub plan: Option<Plan>,
    /// Defaults to the local cell's region.
    pub region: Option<String>,
    /// Platform administrators may place the tenant under a partner; partner administrators'
    /// tenants always belong to their partner.
    pub partner_id: Option<PartnerId>,
    #[schema(example = "owner@acme.example")]
    pub admin_email: String,
    pub admin_name: Option<String>,
    /// For a new account; generated (and returned once) when absent.
    pub admin_password: Option<String>,
}

impl Validate for TenantIn {}

/// The first administrator of a new tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisionedAdmin {
    pub user_id: UserId,
    pub email: String,
    /// Present only when the account was created now without a password. Shown once.
    pub generated_password: Option<String>,
}

/// A provisioned tenant. The API key is shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisionedOut {
    pub tenant: TenantOut,
    pub admin: ProvisionedAdmin,
    pub api_key: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TenantQuery {
    pub status: Option<TenantStatus>,
    pub limit: Option<i64>,
    pub after: Option<String>,
}

impl Validate for TenantQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        PageQuery {
            limit: self.limit,
            after: None,
        }
        .validate()
    }
}

/// List the tenants the caller manages.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", security(("bearer" = [])), params(TenantQuery),
    responses((status = 200, body = Page<TenantOut>), (status = 403, body = crate::error::Problem)))]
async fn list_tenants(
    State(state): State<AppState>,
    Auth(p): Auth,
    ValidQuery(q): ValidQuery<TenantQuery>,
) -> ApiResult<Json<Page<TenantOut>>> {
    let page = PageQuery {
        limit: q.limit,
        after: q.after,
    };
    let items = state
        .core
        .list_tenants(&p, q.status, page.to_store())
        .await?;
    Ok(Json(Page::from_overfetch(
        items,
        page.page_size(),
        |t| t.id.to_string(),
        TenantOut::from,
    )))
}

/// Provision a tenant, its first administrator (owner) and an admin API key.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", security(("bearer" = [])), request_body = TenantIn,
    responses((status = 201, body = ProvisionedOut), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_tenant(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    ValidJson(body): ValidJson<TenantIn>,
) -> ApiResult<Response> {
    let input = NewTenant {
        slug: body.slug,
        name: body.name,
        plan: body.plan.unwrap_or(Plan::Starter),
        region: body.region,
        partner_id: body.partner_id,
        admin_email: body.admin_email,
        admin_name: body.admin_name,
        admin_password: body.admin_password,
    };
    let done = state.core.provision_tenant(&p, input, &meta).await?;
    let out = ProvisionedOut {
        tenant: done.tenant.into(),
        admin: ProvisionedAdmin {
            user_id: done.admin_user_id,
            email: done.admin_email,
            generated_password: done.admin_password,
        },
        api_key: done.api_key,
    };
    let mut res = (StatusCode::CREATED, Json(out)).into_response();
    res.extensions_mut().insert(SecretBearing);
    Ok(res)
}

fn tenant_id(raw: &str) -> ApiResult<TenantId> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// One tenant the caller manages.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}", tag = "tenants", security(("bearer" = [])), params(("tenant_id" = String, Path)),
    responses((status = 200, body = TenantOut), (status = 404, body = crate::error::Problem)))]
async fn get_tenant(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<TenantOut>> {
    Ok(Json(
        state
            .core
            .get_managed_tenant(&p, &tenant_id(&id)?)
            .await?
            .into(),
    ))
}

/// Suspend a tenant: every request in it answers 403 `tenant_suspended` until resumed.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/suspend", tag = "tenants", security(("bearer" = [])), params(("tenant_id" = String, Path)),
    responses((status = 200, body = TenantOut), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
async fn suspend_tenant(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<Json<TenantOut>> {
    Ok(Json(
        state
            .core
            .set_tenant_status(Some(&p), &tenant_id(&id)?, TenantStatus::Suspended, &meta)
            .await?
            .into(),
    ))
}

/// Resume a suspended tenant.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/resume", tag = "tenants", security(("bearer" = [])), params(("tenant_id" = String, Path)),
    responses((status = 200, body = TenantOut), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
async fn resume_tenant(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<Json<TenantOut>> {
    Ok(Json(
        state
            .core
            .set_tenant_status(Some(&p), &tenant_id(&id)?, TenantStatus::Active, &meta)
            .await?
            .into(),
    ))
}

/// Delete a tenant. It stops answering at once; a background job purges all its data.
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}", tag = "tenants", security(("bearer" = [])), params(("tenant_id" = String, Path)),
    responses((status = 202, body = TenantOut), (status = 404, body = crate::error::Problem)))]
async fn delete_tenant(
    State(state): State<AppState>,
    Auth(p): Auth,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<TenantOut>)> {
    let t = state
        .core
        .set_tenant_status(Some(&p), &tenant_id(&id)?, TenantStatus::Deleted, &meta)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(t.into())))
}
