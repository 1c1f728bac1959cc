//! SLA policies, their use by inboxes and conversations, and the caller's notifications.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Meta, PageQuery, Tenant, ValidJson, ValidQuery, Validate};
use crate::routes::path_id;
use crate::routes::{ts, Page};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::sla::{NewSlaPolicy, SlaView};
use switchboard_core::FieldError;
use switchboard_store::model::{Notification, SlaPolicy};
use switchboard_types::{CalendarId, ConversationId, InboxId, NotificationId, SlaPolicyId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(delete_policy))
        .routes(routes!(set_inbox_sla))
        .routes(routes!(get_conversation_sla, apply_conversation_sla))
        .routes(routes!(list_notifications))
        .routes(routes!(read_notification))
        .routes(routes!(read_all_notifications))
}

/// An SLA policy. Targets are milliseconds; `null` means no target.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaPolicyOut {
    #[schema(value_type = String)]
    pub id: SlaPolicyId,
    pub name: String,
    pub first_response_ms: Option<i64>,
    pub next_response_ms: Option<i64>,
    pub resolution_ms: Option<i64>,
    /// Count only this calendar's business hours.
    #[schema(value_type = Option<String>)]
    pub calendar_id: Option<CalendarId>,
    pub warning_percent: i64,
    pub created_at: String,
}

impl From<SlaPolicy> for SlaPolicyOut {
    fn from(p: SlaPolicy) -> Self {
        Self {
            id: p.id,
            name: p.name,
            first_response_ms: p.first_response_ms,
            next_response_ms: p.next_response_ms,
            resolution_ms: p.resolution_ms,
            calendar_id: p.calendar_id,
            warning_percent: p.warning_percent,
            created_at: ts(p.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlaPolicyList {
    pub data: Vec<SlaPolicyOut>,
}

/// A policy to create (owner, admin): at least one target, each between a minute and a year.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyIn {
    pub name: String,
    pub first_response_ms: Option<i64>,
    pub next_response_ms: Option<i64>,
    pub resolution_ms: Option<i64>,
    #[schema(value_type = Option<String>)]
    pub calendar_id: Option<CalendarId>,
    /// Warn when this share of a budget is used (default 80).
    pub warning_percent: Option<i64>,
}

impl Validate for SlaPolicyIn {}

#[utoipa::path(get, path = "/v1/sla-policies", tag = "sla", security(("bearer" = [])), responses((status = 200, body = SlaPolicyList)))]
async fn list_policies(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Json<SlaPolicyList>> {
    let list = state.core.list_sla_policies(&access).await?;
    Ok(Json(SlaPolicyList {
        data: list.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/sla-policies", tag = "sla", security(("bearer" = [])), request_body = SlaPolicyIn,
    responses((status = 201, body = SlaPolicyOut), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_policy(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<SlaPolicyIn>,
) -> ApiResult<(StatusCode, Json<SlaPolicyOut>)> {
    let p = state
        .core
        .create_sla_policy(
            &access,
            NewSlaPolicy {
                name: b.name,
                first_response_ms: b.first_response_ms,
                next_response_ms: b.next_response_ms,
                resolution_ms: b.resolution_ms,
                calendar_id: b.calendar_id,
                warning_percent: b.warning_percent,
            },
            &meta,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(p.into())))
}

/// Delete a policy no conversation runs on (409 otherwise); inboxes using it as their default
/// lose it.
#[utoipa::path(delete, path = "/v1/sla-policies/{sla_policy_id}", tag = "sla", security(("bearer" = [])), params(("sla_policy_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
async fn delete_policy(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .core
        .delete_sla_policy(&access, &path_id(&id)?, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which policy a conversation gets (`null` clears an inbox's default).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaChoice {
    #[schema(value_type = Option<String>)]
    pub sla_policy_id: Option<SlaPolicyId>,
}

impl Validate for SlaChoice {}

/// Set the policy new conversations of an inbox get.
#[utoipa::path(put, path = "/v1/inboxes/{inbox_id}/sla", tag = "sla", security(("bearer" = [])), params(("inbox_id" = String, Path)), request_body = SlaChoice,
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn set_inbox_sla(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<SlaChoice>,
) -> ApiResult<StatusCode> {
    let inbox: InboxId = path_id(&id)?;
    state
        .core
        .set_inbox_sla(&access, &inbox, b.sla_policy_id, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One clock of a conversation's SLA.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaTargetOut {
    /// `first_response`, `next_response` or `resolution`.
    pub target: String,
    pub budget_ms: i64,
    /// Counted so far (business time with a calendar; paused while pending or snoozed).
    pub used_ms: i64,
    /// When the budget runs out, while the clock runs.
    pub due_at: Option<String>,
    pub running: bool,
    pub met_at: Option<String>,
    pub warned: bool,
    pub breached: bool,
    /// Which next response this is.
    pub cycle: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationSlaOut {
    #[schema(value_type = Option<String>)]
    pub sla_policy_id: Option<SlaPolicyId>,
    pub targets: Vec<SlaTargetOut>,
}

impl From<Option<SlaView>> for ConversationSlaOut {
    fn from(v: Option<SlaView>) -> Self {
        match v {
            None => Self {
                sla_policy_id: None,
                targets: Vec::new(),
            },
            Some(v) => Self {
                sla_policy_id: Some(v.policy_id),
                targets: v
                    .targets
                    .into_iter()
                    .map(|t| SlaTargetOut {
                        target: t.target.to_owned(),
                        budget_ms: t.budget_ms,
                        used_ms: t.used_ms,
                        due_at: t.due_at.map(ts),
                        running: t.running,
                        met_at: t.met_at.map(ts),
                        warned: t.warned,
                        breached: t.breached,
                        cycle: t.cycle,
                    })
                    .collect(),
            },
        }
    }
}

/// A conversation's SLA clocks.
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/sla", tag = "sla", security(("bearer" = [])), params(("conversation_id" = String, Path)),
    responses((status = 200, body = ConversationSlaOut), (status = 404, body = crate::error::Problem)))]
async fn get_conversation_sla(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<ConversationSlaOut>> {
    let c: ConversationId = path_id(&id)?;
    Ok(Json(state.core.conversation_sla(&access, &c).await?.into()))
}

/// Put a conversation on a policy (its clocks start now).
#[utoipa::path(put, path = "/v1/conversations/{conversation_id}/sla", tag = "sla", security(("bearer" = [])), params(("conversation_id" = String, Path)), request_body = SlaChoice,
    responses((status = 200, body = ConversationSlaOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn apply_conversation_sla(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<SlaChoice>,
) -> ApiResult<Json<ConversationSlaOut>> {
    let c: ConversationId = path_id(&id)?;
    let Some(policy) = b.sla_policy_id else {
        return Err(ApiError::validation(vec![FieldError::new(
            "sla_policy_id",
            "name a policy",
        )]));
    };
    state.core.apply_sla(&access, &c, &policy, &meta).await?;
    Ok(Json(state.core.conversation_sla(&access, &c).await?.into()))
}

/// A notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationOut {
    #[schema(value_type = String)]
    pub id: NotificationId,
    /// `mention`, `assigned`, `sla_warning`, `sla_breach`.
    pub kind: String,
    pub conversation_id: Option<ConversationId>,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub read_at: Option<String>,
    pub created_at: String,
}

impl From<Notification> for NotificationOut {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            kind: n.kind,
            conversation_id: n.conversation_id,
            data: n.data,
            read_at: n.read_at.map(ts),
            created_at: ts(n.created_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    /// Only unread ones.
    #[serde(default)]
    pub unread: bool,
    pub limit: Option<i64>,
    pub after: Option<String>,
}

impl Validate for NotificationQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        PageQuery {
            limit: self.limit,
            after: self.after.clone(),
        }
        .validate()
    }
}

/// The caller's notifications in the tenant, newest first (people only; API keys have none).
#[utoipa::path(get, path = "/v1/notifications", tag = "sla", security(("bearer" = [])), params(NotificationQuery),
    responses((status = 200, body = Page<NotificationOut>), (status = 403, body = crate::error::Problem)))]
async fn list_notifications(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Tenant(access): Tenant,
    ValidQuery(q): ValidQuery<NotificationQuery>,
) -> ApiResult<Json<Page<NotificationOut>>> {
    let page = PageQuery {
        limit: q.limit,
        after: q.after.clone(),
    };
    let items = state
        .core
        .list_notifications(&access, &principal, q.unread, &page.to_store())
        .await?;
    Ok(Json(Page::from_overfetch(
        items,
        page.page_size(),
        |n| n.id.to_string(),
        NotificationOut::from,
    )))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadCount {
    /// Notifications marked read (for one notification: 1, also when it was read before).
    pub marked_read: u64,
}

/// Mark one of the caller's notifications read.
#[utoipa::path(post, path = "/v1/notifications/{notification_id}/read", tag = "sla", security(("bearer" = [])), params(("notification_id" = String, Path)),
    responses((status = 200, body = ReadCount), (status = 404, body = crate::error::Problem)))]
async fn read_notification(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<ReadCount>> {
    let id: NotificationId = path_id(&id)?;
    let n = state
        .core
        .read_notifications(&access, &principal, Some(&id))
        .await?;
    if n == 0 {
        // Someone else's or unknown.
        return Err(ApiError::not_found());
    }
    Ok(Json(ReadCount { marked_read: n }))
}

/// Mark all of the caller's notifications read.
#[utoipa::path(post, path = "/v1/notifications/read-all", tag = "sla", security(("bearer" = [])),
    responses((status = 200, body = ReadCount)))]
async fn read_all_notifications(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Tenant(access): Tenant,
) -> ApiResult<Json<ReadCount>> {
    let n = state
        .core
        .read_notifications(&access, &principal, None)
        .await?;
    Ok(Json(ReadCount { marked_read: n }))
}
