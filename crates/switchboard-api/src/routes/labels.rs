//! Labels and canned responses.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Meta, Tenant, ValidJson, ValidQuery, Validate};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_store::model::{CannedResponse, Label};
use switchboard_types::{CannedResponseId, ConversationId, LabelId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_labels, create_label))
        .routes(routes!(delete_label))
        .routes(routes!(set_conversation_labels))
        .routes(routes!(list_canned, create_canned))
        .routes(routes!(delete_canned))
}

/// A label.
#[derive(Debug, Serialize, ToSchema)]
pub struct LabelOut {
    pub id: LabelId,
    #[schema(example = "billing")]
    pub name: String,
    #[schema(example = "#1f6feb")]
    pub colour: String,
    pub created_at: String,
}

impl From<Label> for LabelOut {
    fn from(l: Label) -> Self {
        Self {
            id: l.id,
            name: l.name,
            colour: l.colour,
            created_at: ts(l.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LabelList {
    pub data: Vec<LabelOut>,
}

/// A label to create (owner, admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelIn {
    pub name: String,
    pub colour: String,
}

impl Validate for LabelIn {}

/// The labels a conversation should carry (by name).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelsIn {
    pub labels: Vec<String>,
}

impl Validate for LabelsIn {}

/// A canned response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CannedOut {
    pub id: CannedResponseId,
    #[schema(example = "refund")]
    pub short_code: String,
    pub content: String,
    pub created_at: String,
}

impl From<CannedResponse> for CannedOut {
    fn from(c: CannedResponse) -> Self {
        Self {
            id: c.id,
            short_code: c.short_code,
            content: c.content,
            created_at: ts(c.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CannedList {
    pub data: Vec<CannedOut>,
}

/// A canned response to create (owner, admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedIn {
    pub short_code: String,
    pub content: String,
}

impl Validate for CannedIn {}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CannedQuery {
    /// What the agent typed after `/`: responses whose short code starts with it.
    pub prefix: Option<String>,
}

impl Validate for CannedQuery {}

/// List labels.
#[utoipa::path(get, path = "/v1/labels", tag = "conversations", security(("bearer" = [])), responses((status = 200, body = LabelList)))]
async fn list_labels(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Json<LabelList>> {
    Ok(Json(LabelList {
        data: state
            .core
            .list_labels(&access)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

/// Create a label.
#[utoipa::path(post, path = "/v1/labels", tag = "conversations", security(("bearer" = [])), request_body = LabelIn,
    responses((status = 201, body = LabelOut), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_label(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<LabelIn>,
) -> ApiResult<(StatusCode, Json<LabelOut>)> {
    let l = state
        .core
        .create_label(&access, &b.name, &b.colour, &meta)
        .await?;
    Ok((StatusCode::CREATED, Json(l.into())))
}

/// Delete a label (it comes off every conversation).
#[utoipa::path(delete, path = "/v1/labels/{label_id}", tag = "conversations", security(("bearer" = [])), params(("label_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_label(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: LabelId = id.parse().map_err(|_| ApiError::not_found())?;
    state.core.delete_label(&access, &id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a conversation's labels.
#[utoipa::path(put, path = "/v1/conversations/{conversation_id}/labels", tag = "conversations", security(("bearer" = [])), params(("conversation_id" = String, Path)), request_body = LabelsIn,
    responses((status = 200, body = LabelList), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn set_conversation_labels(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<LabelsIn>,
) -> ApiResult<Json<LabelList>> {
    let id: ConversationId = id.parse().map_err(|_| ApiError::not_found())?;
    let labels = state
        .core
        .set_conversation_labels(&access, &id, &b.labels, &meta)
        .await?;
    Ok(Json(LabelList {
        data: labels.into_iter().map(Into::into).collect(),
    }))
}

/// List canned responses.
#[utoipa::path(get, path = "/v1/canned-responses", tag = "conversations", security(("bearer" = [])), params(CannedQuery), responses((status = 200, body = CannedList)))]
async fn list_canned(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidQuery(q): ValidQuery<CannedQuery>,
) -> ApiResult<Json<CannedList>> {
    Ok(Json(CannedList {
        data: state
            .core
            .list_canned(&access, q.prefix.as_deref())
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

/// Create a canned response.
#[utoipa::path(post, path = "/v1/canned-responses", tag = "conversations", security(("bearer" = [])), request_body = CannedIn,
    responses((status = 201, body = CannedOut), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_canned(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<CannedIn>,
) -> ApiResult<(StatusCode, Json<CannedOut>)> {
    let c = state
        .core
        .create_canned(&access, &b.short_code, &b.content, &meta)
        .await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// Delete a canned response.
#[utoipa::path(delete, path = "/v1/canned-responses/{canned_response_id}", tag = "conversations", security(("bearer" = [])), params(("canned_response_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_canned(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: CannedResponseId = id.parse().map_err(|_| ApiError::not_found())?;
    state.core.delete_canned(&access, &id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
