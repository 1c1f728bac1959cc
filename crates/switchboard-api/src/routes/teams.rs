//! Teams and agent availability.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Meta, Tenant, ValidJson, Validate};
use crate::routes::ts;
use crate::routes::users::UserOut;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_store::model::Team;
use switchboard_types::{Availability, TeamId, UserId};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(get_team, update_team, delete_team))
        .routes(routes!(add_member))
        .routes(routes!(remove_member))
        .routes(routes!(set_availability))
}

/// A team.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamOut {
    pub id: TeamId,
    pub name: String,
    pub description: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Team> for TeamOut {
    fn from(t: Team) -> Self {
        Self {
            id: t.id,
            name: t.name,
            description: t.description,
            created_at: ts(t.created_at),
            updated_at: ts(t.updated_at),
        }
    }
}

/// A team with its members.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamDetail {
    #[serde(flatten)]
    pub team: TeamOut,
    pub members: Vec<UserOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamList {
    pub data: Vec<TeamOut>,
}

/// A team to create (owner, admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamIn {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

impl Validate for TeamIn {}

/// Changes to a team.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamPatch {
    pub name: Option<String>,
    pub description: Option<String>,
}

impl Validate for TeamPatch {}

/// A tenant member to add to a team.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamMemberIn {
    pub user_id: UserId,
}

impl Validate for TeamMemberIn {}

/// The caller's availability.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityIn {
    pub availability: Availability,
}

impl Validate for AvailabilityIn {}

fn team_id(raw: &str) -> ApiResult<TeamId> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// List teams.
#[utoipa::path(get, path = "/v1/teams", tag = "users", security(("bearer" = [])), responses((status = 200, body = TeamList)))]
async fn list_teams(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Json<TeamList>> {
    Ok(Json(TeamList {
        data: state
            .core
            .list_teams(&access)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

/// Create a team.
#[utoipa::path(post, path = "/v1/teams", tag = "users", security(("bearer" = [])), request_body = TeamIn,
    responses((status = 201, body = TeamOut), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
async fn create_team(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<TeamIn>,
) -> ApiResult<(StatusCode, Json<TeamOut>)> {
    let team = state
        .core
        .create_team(&access, &b.name, &b.description, &meta)
        .await?;
    Ok((StatusCode::CREATED, Json(team.into())))
}

/// A team and its members.
#[utoipa::path(get, path = "/v1/teams/{team_id}", tag = "users", security(("bearer" = [])), params(("team_id" = String, Path)),
    responses((status = 200, body = TeamDetail), (status = 404, body = crate::error::Problem)))]
async fn get_team(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<TeamDetail>> {
    let (team, members) = state.core.get_team(&access, &team_id(&id)?).await?;
    Ok(Json(TeamDetail {
        team: team.into(),
        members: members.into_iter().map(Into::into).collect(),
    }))
}

/// Change a team.
#[utoipa::path(patch, path = "/v1/teams/{team_id}", tag = "users", security(("bearer" = [])), params(("team_id" = String, Path)), request_body = TeamPatch,
    responses((status = 200, body = TeamOut), (status = 404, body = crate::error::Problem)))]
async fn update_team(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<TeamPatch>,
) -> ApiResult<Json<TeamOut>> {
    Ok(Json(
        state
            .core
            .update_team(&access, &team_id(&id)?, b.name, b.description, &meta)
            .await?
            .into(),
    ))
}

/// Delete a team (its members stay in the tenant).
#[utoipa::path(delete, path = "/v1/teams/{team_id}", tag = "users", security(("bearer" = [])), params(("team_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_team(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .core
        .delete_team(&access, &team_id(&id)?, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a tenant member to a team.
#[utoipa::path(post, path = "/v1/teams/{team_id}/members", tag = "users", security(("bearer" = [])), params(("team_id" = String, Path)), request_body = TeamMemberIn,
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn add_member(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<TeamMemberIn>,
) -> ApiResult<StatusCode> {
    state
        .core
        .add_team_member(&access, &team_id(&id)?, &b.user_id, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member from a team.
#[utoipa::path(delete, path = "/v1/teams/{team_id}/members/{user_id}", tag = "users", security(("bearer" = [])),
    params(("team_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn remove_member(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path((id, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let user: UserId = user.parse().map_err(|_| ApiError::not_found())?;
    state
        .core
        .remove_team_member(&access, &team_id(&id)?, &user, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set your availability in the tenant: `online` receives new conversations, `busy` and
/// `offline` do not.
#[utoipa::path(put, path = "/v1/me/availability", tag = "me", security(("bearer" = [])), request_body = AvailabilityIn,
    responses((status = 200, body = UserOut), (status = 400, body = crate::error::Problem)))]
async fn set_availability(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<AvailabilityIn>,
) -> ApiResult<Json<UserOut>> {
    Ok(Json(
        state
            .core
            .set_availability(&access, b.availability, &meta)
            .await?
            .into(),
    ))
}
