//! Invitations to join a tenant by link (owners, admins). The link opens the console's page,
//! where the invited person chooses a name and password or joins with the account they have.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Meta, Tenant, ValidJson, Validate};
use crate::middleware::SecretBearing;
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_store::model::Invitation;
use switchboard_types::{InvitationId, TenantRole};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_invitations, create_invitation))
        .routes(routes!(revoke_invitation))
}

/// An invitation not accepted yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationOut {
    pub id: InvitationId,
    #[schema(example = "sam@acme.example")]
    pub email: String,
    pub role: TenantRole,
    pub created_at: String,
    /// The link stops working then (seven days after it was made).
    pub expires_at: String,
}

impl From<Invitation> for InvitationOut {
    fn from(i: Invitation) -> Self {
        Self {
            id: i.id,
            email: i.email,
            role: i.role,
            created_at: ts(i.created_at),
            expires_at: ts(i.expires_at),
        }
    }
}

/// A new invitation and its link. Shown once: send the link to the person.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvitationOut {
    pub invitation: InvitationOut,
    #[schema(example = "https://support.acme.example/app/invite/sb_inv_…")]
    pub url: String,
    /// Whether the link was emailed (the server has a mail relay and sender configured).
    pub emailed: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationList {
    pub data: Vec<InvitationOut>,
}

/// Whom to invite, with which role (nobody grants more than they hold).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationIn {
    pub email: String,
    pub role: TenantRole,
}

impl Validate for InvitationIn {}

/// Invitations nobody has accepted yet (owner, admin).
#[utoipa::path(get, path = "/v1/invitations", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = InvitationList), (status = 403, body = crate::error::Problem)))]
async fn list_invitations(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Json<InvitationList>> {
    let list = state.core.list_invitations(&access).await?;
    Ok(Json(InvitationList {
        data: list.into_iter().map(Into::into).collect(),
    }))
}

/// Invite someone by email: the response carries the link, once.
#[utoipa::path(post, path = "/v1/invitations", tag = "users", security(("bearer" = [])), request_body = InvitationIn,
    responses((status = 201, body = CreatedInvitationOut), (status = 403, body = crate::error::Problem),
        (status = 409, description = "Already a member", body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_invitation(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<InvitationIn>,
) -> ApiResult<Response> {
    let (invitation, token) = state
        .core
        .create_invitation(&access, &b.email, b.role, &meta)
        .await?;
    let url = format!(
        "{}/app/invite/{token}",
        state.cfg.public_url.trim_end_matches('/')
    );
    let emailed = state
        .core
        .email_invitation(&access, &invitation, &url)
        .await;
    let mut res = (
        StatusCode::CREATED,
        Json(CreatedInvitationOut {
            invitation: invitation.into(),
            url,
            emailed,
        }),
    )
        .into_response();
    res.extensions_mut().insert(SecretBearing);
    Ok(res)
}

/// Withdraw an invitation: its link stops working.
#[utoipa::path(delete, path = "/v1/invitations/{invitation_id}", tag = "users", security(("bearer" = [])), params(("invitation_id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
async fn revoke_invitation(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: InvitationId = id.parse().map_err(|_| ApiError::not_found())?;
    state.core.revoke_invitation(&access, &id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
