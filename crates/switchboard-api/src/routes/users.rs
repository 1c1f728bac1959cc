//! A tenant's people (`/v1/users`) and their memberships (`/v1/memberships`).

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
use switchboard_core::members::NewMember;
use switchboard_store::model::Member;
use switchboard_types::{Availability, TenantRole, UserId};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user))
        .routes(routes!(update_membership, delete_membership))
}

/// A member of the tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub role: TenantRole,
    pub availability: Availability,
    /// Open conversations this person takes at most; null: no limit.
    pub capacity: Option<i64>,
    /// When the person joined this tenant.
    pub joined_at: String,
}

impl From<Member> for UserOut {
    fn from(m: Member) -> Self {
        Self {
            id: m.user_id,
            email: m.email,
            display_name: m.display_name,
            role: m.role,
            availability: m.availability,
            capacity: m.capacity,
            joined_at: ts(m.created_at),
        }
    }
}

/// A person to add: an existing account (matched by email) or a new one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    #[schema(example = "agent@acme.example")]
    pub email: String,
    pub display_name: Option<String>,
    /// For a new account; generated (and returned once) when absent.
    pub password: Option<String>,
    pub role: TenantRole,
}

impl Validate for UserIn {}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUserOut {
    pub user: UserOut,
    /// Present only when the account was created now without a password. Shown once.
    pub generated_password: Option<String>,
}

/// A role change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipPatch {
    pub role: Option<TenantRole>,
    /// Open conversations at most; `null` removes the limit.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub capacity: Option<Option<i64>>,
}

/// Distinguishes an absent field from `null`.
fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl Validate for MembershipPatch {
    fn validate(&self) -> Result<(), Vec<switchboard_core::FieldError>> {
        if self.role.is_none() && self.capacity.is_none() {
            return Err(vec![switchboard_core::FieldError::new(
                "role",
                "send role, capacity or both",
            )]);
        }
        Ok(())
    }
}

fn user_id(raw: &str) -> ApiResult<UserId> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// List the tenant's members.
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<UserOut>), (status = 403, body = crate::error::Problem)))]
async fn list_users(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidQuery(q): ValidQuery<PageQuery>,
) -> ApiResult<Json<Page<UserOut>>> {
    let items = state.core.list_members(&access, &q.to_store()).await?;
    Ok(Json(Page::from_overfetch(
        items,
        q.page_size(),
        |m| m.user_id.to_string(),
        UserOut::from,
    )))
}

/// Add a person to the tenant, creating their account if the email is new.
#[utoipa::path(post, path = "/v1/users", tag = "users", security(("bearer" = [])), request_body = UserIn,
    responses((status = 201, body = CreatedUserOut), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_user(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(body): ValidJson<UserIn>,
) -> ApiResult<Response> {
    let input = NewMember {
        email: body.email,
        display_name: body.display_name,
        password: body.password,
        role: body.role,
    };
    let (member, generated_password) = state.core.add_member(&access, input, &meta).await?;
    let secret = generated_password.is_some();
    let mut res = (
        StatusCode::CREATED,
        Json(CreatedUserOut {
            user: member.into(),
            generated_password,
        }),
    )
        .into_response();
    if secret {
        res.extensions_mut().insert(SecretBearing);
    }
    Ok(res)
}

/// One member.
#[utoipa::path(get, path = "/v1/users/{user_id}", tag = "users", security(("bearer" = [])), params(("user_id" = String, Path)),
    responses((status = 200, body = UserOut), (status = 404, body = crate::error::Problem)))]
async fn get_user(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<UserOut>> {
    Ok(Json(
        state.core.get_member(&access, &user_id(&id)?).await?.into(),
    ))
}

/// Change a member's role. Nobody grants more than they hold; the last owner stays an owner.
#[utoipa::path(patch, path = "/v1/memberships/{user_id}", tag = "users", security(("bearer" = [])), request_body = MembershipPatch, params(("user_id" = String, Path)),
    responses((status = 200, body = UserOut), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
async fn update_membership(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<MembershipPatch>,
) -> ApiResult<Json<UserOut>> {
    let user = user_id(&id)?;
    let mut member = None;
    if let Some(role) = body.role {
        member = Some(
            state
                .core
                .change_member_role(&access, &user, role, &meta)
                .await?,
        );
    }
    if let Some(capacity) = body.capacity {
        member = Some(
            state
                .core
                .set_capacity(&access, &user, capacity, &meta)
                .await?,
        );
    }
    member
        .map(|m| Json(m.into()))
        .ok_or_else(ApiError::not_found)
}

/// Remove a member from the tenant (the account itself remains).
#[utoipa::path(delete, path = "/v1/memberships/{user_id}", tag = "users", security(("bearer" = [])), params(("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
async fn delete_membership(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .core
        .remove_member(&access, &user_id(&id)?, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
