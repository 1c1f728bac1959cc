//! Tools agents use on conversations: scheduled messages, macros and participants.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Meta, Tenant, ValidJson, Validate};
use crate::routes::conversations::ConversationOut;
use crate::routes::path_id;
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::clock::parse_rfc3339;
use switchboard_core::macros::MacroAction;
use switchboard_core::FieldError;
use switchboard_store::model::{Macro, ScheduledMessage};
use switchboard_types::{
    AttachmentId, ConversationId, MacroId, MessageId, ScheduledMessageId, UserId,
};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_scheduled, schedule))
        .routes(routes!(cancel_scheduled))
        .routes(routes!(list_macros, create_macro))
        .routes(routes!(delete_macro))
        .routes(routes!(run_macro))
        .routes(routes!(list_participants))
        .routes(routes!(add_participant, remove_participant))
}

/// A message to send later.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleIn {
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub private: bool,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub attachment_ids: Vec<AttachmentId>,
    /// When to send it (RFC 3339, in the future, at most a year ahead).
    pub send_at: String,
}

impl Validate for ScheduleIn {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        match parse_rfc3339(&self.send_at) {
            None => Err(vec![FieldError::new("send_at", "an RFC 3339 time")]),
            Some(_) => Ok(()),
        }
    }
}

/// A scheduled message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduledOut {
    #[schema(value_type = String)]
    pub id: ScheduledMessageId,
    pub conversation_id: ConversationId,
    pub content: String,
    pub private: bool,
    pub send_at: String,
    /// `scheduled`, `sent`, `cancelled` or `failed` (see `error`).
    pub status: String,
    pub message_id: Option<MessageId>,
    pub error: Option<String>,
    pub created_at: String,
}

impl From<ScheduledMessage> for ScheduledOut {
    fn from(m: ScheduledMessage) -> Self {
        Self {
            id: m.id,
            conversation_id: m.conversation_id,
            content: m.content,
            private: m.private,
            send_at: ts(m.send_at),
            status: m.status,
            message_id: m.message_id,
            error: m.error,
            created_at: ts(m.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduledList {
    pub data: Vec<ScheduledOut>,
}

/// A conversation's scheduled messages (sent, cancelled and failed ones too).
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/scheduled-messages", tag = "conversations", security(("bearer" = [])),
    params(("conversation_id" = String, Path)), responses((status = 200, body = ScheduledList), (status = 404, body = crate::error::Problem)))]
async fn list_scheduled(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<ScheduledList>> {
    let list = state.core.list_scheduled(&access, &path_id(&id)?).await?;
    Ok(Json(ScheduledList {
        data: list.into_iter().map(Into::into).collect(),
    }))
}

/// Write a reply or note now, to be sent at `send_at` as you.
#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/scheduled-messages", tag = "conversations", security(("bearer" = [])),
    params(("conversation_id" = String, Path)), request_body = ScheduleIn,
    responses((status = 201, body = ScheduledOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn schedule(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<ScheduleIn>,
) -> ApiResult<(StatusCode, Json<ScheduledOut>)> {
    let send_at = parse_rfc3339(&b.send_at).unwrap_or_default();
    let m = state
        .core
        .schedule_message(
            &access,
            &path_id(&id)?,
            b.content,
            b.private,
            b.attachment_ids,
            send_at,
            &meta,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(m.into())))
}

/// Cancel a scheduled message that has not been sent (409 once it has).
#[utoipa::path(delete, path = "/v1/scheduled-messages/{scheduled_message_id}", tag = "conversations", security(("bearer" = [])),
    params(("scheduled_message_id" = String, Path)),
    responses((status = 200, body = ScheduledOut), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
async fn cancel_scheduled(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<Json<ScheduledOut>> {
    Ok(Json(
        state
            .core
            .cancel_scheduled(&access, &path_id(&id)?, &meta)
            .await?
            .into(),
    ))
}

/// A saved list of actions.
#[derive(Debug, Serialize, ToSchema)]
pub struct MacroOut {
    #[schema(value_type = String)]
    pub id: MacroId,
    pub name: String,
    /// Steps such as `{"type": "add_labels", "labels": ["billing"]}`, `{"type": "send_message",
    /// "content": "…"}`, `{"type": "set_status", "status": "resolved"}`.
    #[schema(value_type = Vec<Object>)]
    pub actions: serde_json::Value,
    pub created_at: String,
}

impl From<Macro> for MacroOut {
    fn from(m: Macro) -> Self {
        Self {
            id: m.id,
            name: m.name,
            actions: m.actions,
            created_at: ts(m.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MacroList {
    pub data: Vec<MacroOut>,
}

/// A macro to save (owner, admin). Steps: `set_status` (`open`, `pending`, `resolved`),
/// `set_priority`, `assign_agent` (`user_id`), `assign_team` (`team_id`), `unassign`,
/// `add_labels` / `remove_labels` (`labels`), `send_message` / `add_note` (`content`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MacroIn {
    pub name: String,
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<MacroAction>,
}

impl Validate for MacroIn {}

#[utoipa::path(get, path = "/v1/macros", tag = "conversations", security(("bearer" = [])), responses((status = 200, body = MacroList)))]
async fn list_macros(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Json<MacroList>> {
    let list = state.core.list_macros(&access).await?;
    Ok(Json(MacroList {
        data: list.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/macros", tag = "conversations", security(("bearer" = [])), request_body = MacroIn,
    responses((status = 201, body = MacroOut), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_macro(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<MacroIn>,
) -> ApiResult<(StatusCode, Json<MacroOut>)> {
    let m = state
        .core
        .create_macro(&access, &b.name, b.actions, &meta)
        .await?;
    Ok((StatusCode::CREATED, Json(m.into())))
}

#[utoipa::path(delete, path = "/v1/macros/{macro_id}", tag = "conversations", security(("bearer" = [])), params(("macro_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_macro(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .core
        .delete_macro(&access, &path_id(&id)?, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Run a macro on a conversation, step by step, as you. A failing step answers its error (its
/// field prefixed `actions[i].`); the steps before it stay done.
#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/macros/{macro_id}", tag = "conversations", security(("bearer" = [])),
    params(("conversation_id" = String, Path), ("macro_id" = String, Path)),
    responses((status = 200, body = ConversationOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn run_macro(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path((id, macro_id)): Path<(String, String)>,
) -> ApiResult<Json<ConversationOut>> {
    let c = state
        .core
        .run_macro(&access, &path_id(&macro_id)?, &path_id(&id)?, &meta)
        .await?;
    Ok(Json(c.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantList {
    pub data: Vec<UserId>,
}

/// Agents following the conversation (notified when the customer writes).
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/participants", tag = "conversations", security(("bearer" = [])),
    params(("conversation_id" = String, Path)), responses((status = 200, body = ParticipantList), (status = 404, body = crate::error::Problem)))]
async fn list_participants(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<ParticipantList>> {
    Ok(Json(ParticipantList {
        data: state
            .core
            .list_participants(&access, &path_id(&id)?)
            .await?,
    }))
}

#[utoipa::path(put, path = "/v1/conversations/{conversation_id}/participants/{user_id}", tag = "conversations", security(("bearer" = [])),
    params(("conversation_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 200, body = ParticipantList), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn add_participant(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path((id, user)): Path<(String, String)>,
) -> ApiResult<Json<ParticipantList>> {
    let user: UserId = user
        .parse()
        .map_err(|_| ApiError::validation(vec![FieldError::new("user_id", "not a user id")]))?;
    Ok(Json(ParticipantList {
        data: state
            .core
            .add_participant(&access, &path_id(&id)?, &user, &meta)
            .await?,
    }))
}

#[utoipa::path(delete, path = "/v1/conversations/{conversation_id}/participants/{user_id}", tag = "conversations", security(("bearer" = [])),
    params(("conversation_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn remove_participant(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path((id, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .core
        .remove_participant(&access, &path_id(&id)?, &path_id(&user)?, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
