//! Inboxes, conversations and messages.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Meta, PageQuery, Tenant, ValidJson, ValidQuery, Validate};
use crate::routes::{ts, Page};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::clock::parse_rfc3339;
use switchboard_core::contacts::Change;
use switchboard_core::conversations::{ContactRef, ConversationPatch};
use switchboard_core::FieldError;
use switchboard_store::model::{Conversation, ConversationFilter, Inbox, Message};
use switchboard_types::{
    Actor, AssignmentPolicy, Availability, Channel, ContactId, ConversationId, ConversationStatus,
    Direction, InboxId, MessageId, Priority, TeamId, UserId,
};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_inboxes, create_inbox))
        .routes(routes!(get_inbox, update_inbox))
        .routes(routes!(add_inbox_member))
        .routes(routes!(remove_inbox_member))
        .routes(routes!(receive_message))
        .routes(routes!(list_conversations))
        .routes(routes!(get_conversation, update_conversation))
        .routes(routes!(list_messages, post_message))
        .routes(routes!(merge_conversation))
        .routes(routes!(hand_off))
}

fn change<T>(v: Option<Option<T>>) -> Change<T> {
    match v {
        None => Change::Keep,
        Some(None) => Change::Clear,
        Some(Some(x)) => Change::Set(x),
    }
}

/// An inbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxOut {
    pub id: InboxId,
    pub name: String,
    pub channel: Channel,
    pub assignment_policy: AssignmentPolicy,
    /// Reassignment rule: milliseconds an assignee may leave the customer waiting.
    pub reassign_after_ms: Option<i64>,
    pub created_at: String,
}

impl From<Inbox> for InboxOut {
    fn from(i: Inbox) -> Self {
        Self {
            id: i.id,
            name: i.name,
            channel: i.channel,
            assignment_policy: i.assignment_policy,
            reassign_after_ms: i.reassign_after_ms,
            created_at: ts(i.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxList {
    pub data: Vec<InboxOut>,
}

/// An inbox to create (owner, admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboxIn {
    pub name: String,
    pub channel: Channel,
}

impl Validate for InboxIn {}

/// An agent who takes an inbox's conversations.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxAgentOut {
    pub user_id: UserId,
    pub availability: Availability,
    pub capacity: Option<i64>,
    pub open_conversations: i64,
    pub last_assigned_at: Option<String>,
}

/// An inbox and its agents.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxDetail {
    #[serde(flatten)]
    pub inbox: InboxOut,
    pub agents: Vec<InboxAgentOut>,
}

/// How the inbox assigns new conversations.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboxPatch {
    pub assignment_policy: Option<AssignmentPolicy>,
    /// Reassign a conversation whose assignee leaves the customer waiting this long (one minute
    /// to a week; `null` turns the rule off).
    #[serde(default, deserialize_with = "crate::routes::nullable")]
    pub reassign_after_ms: Option<Option<i64>>,
}

impl Validate for InboxPatch {}

/// A tenant member to take this inbox's conversations.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboxMemberIn {
    pub user_id: UserId,
}

impl Validate for InboxMemberIn {}

fn inbox_id(raw: &str) -> ApiResult<InboxId> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// An inbox with its agents, their availability and load.
#[utoipa::path(get, path = "/v1/inboxes/{inbox_id}", tag = "conversations", security(("bearer" = [])), params(("inbox_id" = String, Path)),
    responses((status = 200, body = InboxDetail), (status = 404, body = crate::error::Problem)))]
async fn get_inbox(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<InboxDetail>> {
    let (inbox, agents) = state.core.get_inbox(&access, &inbox_id(&id)?).await?;
    let agents = agents
        .into_iter()
        .map(|a| InboxAgentOut {
            user_id: a.user_id,
            availability: a.availability,
            capacity: a.capacity,
            open_conversations: a.open_conversations,
            last_assigned_at: a.last_assigned_at.map(ts),
        })
        .collect();
    Ok(Json(InboxDetail {
        inbox: inbox.into(),
        agents,
    }))
}

/// Set the assignment policy: `none`, `round_robin` (online agents under capacity take turns) or
/// `balanced` (the least loaded of them).
#[utoipa::path(patch, path = "/v1/inboxes/{inbox_id}", tag = "conversations", security(("bearer" = [])), params(("inbox_id" = String, Path)), request_body = InboxPatch,
    responses((status = 200, body = InboxOut), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
async fn update_inbox(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<InboxPatch>,
) -> ApiResult<Json<InboxOut>> {
    Ok(Json(
        state
            .core
            .set_inbox_policy(
                &access,
                &inbox_id(&id)?,
                b.assignment_policy,
                change(b.reassign_after_ms),
                &meta,
            )
            .await?
            .into(),
    ))
}

/// Add an agent to the inbox.
#[utoipa::path(post, path = "/v1/inboxes/{inbox_id}/members", tag = "conversations", security(("bearer" = [])), params(("inbox_id" = String, Path)), request_body = InboxMemberIn,
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn add_inbox_member(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<InboxMemberIn>,
) -> ApiResult<StatusCode> {
    state
        .core
        .add_inbox_member(&access, &inbox_id(&id)?, &b.user_id, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove an agent from the inbox.
#[utoipa::path(delete, path = "/v1/inboxes/{inbox_id}/members/{user_id}", tag = "conversations", security(("bearer" = [])),
    params(("inbox_id" = String, Path), ("user_id" = String, Path)), responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn remove_inbox_member(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path((id, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let user: UserId = user.parse().map_err(|_| ApiError::not_found())?;
    state
        .core
        .remove_inbox_member(&access, &inbox_id(&id)?, &user, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationOut {
    pub id: ConversationId,
    /// The per-tenant display number.
    pub number: i64,
    pub inbox_id: InboxId,
    pub contact_id: ContactId,
    pub status: ConversationStatus,
    pub snoozed_until: Option<String>,
    pub priority: Priority,
    pub assignee_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    /// Since when the customer waits for a reply.
    pub waiting_since: Option<String>,
    pub last_activity_at: String,
    pub created_at: String,
    pub updated_at: String,
    #[schema(value_type = Object)]
    pub custom_attributes: serde_json::Map<String, serde_json::Value>,
}

impl From<Conversation> for ConversationOut {
    fn from(c: Conversation) -> Self {
        Self {
            id: c.id,
            number: c.number,
            inbox_id: c.inbox_id,
            contact_id: c.contact_id,
            status: c.status,
            snoozed_until: c.snoozed_until.map(ts),
            priority: c.priority,
            assignee_id: c.assignee_id,
            team_id: c.team_id,
            waiting_since: c.waiting_since.map(ts),
            last_activity_at: ts(c.last_activity_at),
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
            custom_attributes: c.custom_attributes,
        }
    }
}

/// A message or private note.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageOut {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub direction: Direction,
    pub private: bool,
    pub sender: Actor,
    pub content: String,
    pub created_at: String,
    /// Replies on SMS and email: `pending`, `sent` or `failed` (see `metadata.delivery_error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_status: Option<String>,
    /// The message's id at its channel's provider (Twilio's MessageSid, an email's Message-ID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Channel details: an email's `subject` and `attachments`, a `delivery_error`.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// What triage learned about a customer's message: language, intent, sentiment, urgency and
    /// personal data (absent on replies and notes, and when the tenant turned triage off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triage: Option<switchboard_types::MessageTriage>,
}

impl From<Message> for MessageOut {
    fn from(m: Message) -> Self {
        Self {
            id: m.id,
            conversation_id: m.conversation_id,
            direction: m.direction,
            private: m.private,
            sender: m.sender,
            content: m.content,
            created_at: ts(m.created_at),
            delivery_status: m.delivery_status.map(|d| d.as_str().to_owned()),
            external_id: m.external_id,
            metadata: m.metadata,
            triage: m.triage,
        }
    }
}

/// A conversation with its messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub conversation: ConversationOut,
    /// Label names.
    pub labels: Vec<String>,
    /// The oldest messages of the thread, at most [`DETAIL_MESSAGES`] of them.
    pub messages: Vec<MessageOut>,
    /// Set when the thread goes on: pass it as `after` to
    /// `GET /v1/conversations/{conversation_id}/messages` for the rest.
    pub messages_next_cursor: Option<String>,
}

/// How many messages the conversation detail carries before the thread is paged.
pub const DETAIL_MESSAGES: i64 = 100;

/// Who sent an inbound message; matched by `external_id`, then `email`, then `phone`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRefIn {
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub phone_region: Option<String>,
    pub name: Option<String>,
}

/// A customer message arriving through the API channel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundIn {
    pub contact: ContactRefIn,
    pub content: String,
}

impl Validate for InboundIn {}

/// Where an inbound message landed.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboundOut {
    pub conversation: ConversationOut,
    pub message: MessageOut,
    /// Whether the message started a new conversation.
    pub created: bool,
}

/// An agent's reply or private note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageIn {
    /// May be empty when attachments are sent.
    #[serde(default)]
    pub content: String,
    /// A note for agents only, never sent to the customer.
    #[serde(default)]
    pub private: bool,
    /// Write as a bot (API keys of bot integrations only): bot replies stop no response clock and
    /// count as bot time until `POST /v1/conversations/{id}/handoff`.
    #[serde(default)]
    pub as_bot: bool,
    /// Files uploaded into this conversation (`POST /v1/conversations/{id}/attachments`) to send
    /// with the message; at most 10.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub attachment_ids: Vec<switchboard_types::AttachmentId>,
}

impl Validate for MessageIn {}

/// Changes to a conversation; `null` clears `assignee_id` or `team_id`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationPatchIn {
    pub status: Option<ConversationStatus>,
    /// Required with `status: snoozed` (RFC 3339, in the future).
    pub snoozed_until: Option<String>,
    pub priority: Option<Priority>,
    #[serde(default, deserialize_with = "crate::routes::nullable")]
    #[schema(value_type = Option<String>)]
    pub assignee_id: Option<Option<UserId>>,
    #[serde(default, deserialize_with = "crate::routes::nullable")]
    #[schema(value_type = Option<String>)]
    pub team_id: Option<Option<TeamId>>,
    /// Values of conversation attribute definitions, merged key by key (`null` removes one).
    #[schema(value_type = Option<Object>)]
    pub custom_attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Validate for ConversationPatchIn {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        match &self.snoozed_until {
            Some(s) if parse_rfc3339(s).is_none() => Err(vec![FieldError::new(
                "snoozed_until",
                "must be an RFC 3339 timestamp",
            )]),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConversationQuery {
    pub status: Option<ConversationStatus>,
    pub label_id: Option<switchboard_types::LabelId>,
    pub inbox_id: Option<InboxId>,
    pub contact_id: Option<ContactId>,
    pub assignee_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    /// Only conversations nobody is assigned to.
    pub unassigned: Option<bool>,
    pub limit: Option<i64>,
    pub after: Option<String>,
}

impl Validate for ConversationQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        PageQuery {
            limit: self.limit,
            after: None,
        }
        .validate()
    }
}

fn conversation_id(raw: &str) -> ApiResult<ConversationId> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// List inboxes.
#[utoipa::path(get, path = "/v1/inboxes", tag = "conversations", security(("bearer" = [])), responses((status = 200, body = InboxList)))]
async fn list_inboxes(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Json<InboxList>> {
    Ok(Json(InboxList {
        data: state
            .core
            .list_inboxes(&access)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

/// Create an inbox.
#[utoipa::path(post, path = "/v1/inboxes", tag = "conversations", security(("bearer" = [])), request_body = InboxIn,
    responses((status = 201, body = InboxOut), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
async fn create_inbox(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<InboxIn>,
) -> ApiResult<(StatusCode, Json<InboxOut>)> {
    let inbox = state
        .core
        .create_inbox(&access, &b.name, b.channel, &meta)
        .await?;
    Ok((StatusCode::CREATED, Json(inbox.into())))
}

/// Deliver a customer message into an inbox (API channel): it finds or creates the contact, joins
/// their latest conversation in this inbox (reopening it) or starts one.
#[utoipa::path(post, path = "/v1/inboxes/{inbox_id}/messages", tag = "conversations", security(("bearer" = [])), params(("inbox_id" = String, Path)), request_body = InboundIn,
    responses((status = 201, body = InboundOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn receive_message(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<InboundIn>,
) -> ApiResult<(StatusCode, Json<InboundOut>)> {
    let inbox: InboxId = id.parse().map_err(|_| ApiError::not_found())?;
    let who = ContactRef {
        external_id: b.contact.external_id,
        email: b.contact.email,
        phone: b.contact.phone,
        phone_region: b.contact.phone_region,
        name: b.contact.name,
    };
    let (conversation, message, created) = state
        .core
        .receive_message(&access, &inbox, who, b.content, &meta)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(InboundOut {
            conversation: conversation.into(),
            message: message.into(),
            created,
        }),
    ))
}

/// List conversations.
#[utoipa::path(get, path = "/v1/conversations", tag = "conversations", security(("bearer" = [])), params(ConversationQuery),
    responses((status = 200, body = Page<ConversationOut>)))]
async fn list_conversations(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidQuery(q): ValidQuery<ConversationQuery>,
) -> ApiResult<Json<Page<ConversationOut>>> {
    let page = PageQuery {
        limit: q.limit,
        after: q.after,
    };
    let filter = ConversationFilter {
        status: q.status,
        label_id: q.label_id,
        inbox_id: q.inbox_id,
        contact_id: q.contact_id,
        assignee_id: q.assignee_id,
        team_id: q.team_id,
        priority: None,
        unassigned: q.unassigned.unwrap_or(false),
        page: page.to_store(),
    };
    let items = state.core.list_conversations(&access, filter).await?;
    Ok(Json(Page::from_overfetch(
        items,
        page.page_size(),
        |c| c.id.to_string(),
        ConversationOut::from,
    )))
}

/// A conversation with its messages and notes.
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}", tag = "conversations", security(("bearer" = [])), params(("conversation_id" = String, Path)),
    responses((status = 200, body = ConversationDetail), (status = 404, body = crate::error::Problem)))]
async fn get_conversation(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<ConversationDetail>> {
    let id = conversation_id(&id)?;
    let first = PageQuery {
        limit: Some(DETAIL_MESSAGES),
        after: None,
    };
    let (c, messages) = state
        .core
        .get_conversation(&access, &id, &first.to_store())
        .await?;
    let messages = Page::from_overfetch(
        messages,
        first.page_size(),
        |m| m.id.to_string(),
        MessageOut::from,
    );
    let labels = state
        .core
        .conversation_labels(&access, &id)
        .await?
        .into_iter()
        .map(|l| l.name)
        .collect();
    Ok(Json(ConversationDetail {
        conversation: c.into(),
        labels,
        messages: messages.data,
        messages_next_cursor: messages.next_cursor,
    }))
}

/// Change status (snooze needs `snoozed_until`), priority, assignee or team.
#[utoipa::path(patch, path = "/v1/conversations/{conversation_id}", tag = "conversations", security(("bearer" = [])), params(("conversation_id" = String, Path)), request_body = ConversationPatchIn,
    responses((status = 200, body = ConversationOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn update_conversation(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<ConversationPatchIn>,
) -> ApiResult<Json<ConversationOut>> {
    let patch = ConversationPatch {
        status: b.status,
        snoozed_until: b.snoozed_until.as_deref().and_then(parse_rfc3339),
        priority: b.priority,
        assignee_id: change(b.assignee_id),
        team_id: change(b.team_id),
        custom_attributes: b.custom_attributes,
    };
    Ok(Json(
        state
            .core
            .update_conversation(&access, &conversation_id(&id)?, patch, &meta)
            .await?
            .into(),
    ))
}

/// The duplicate conversation to fold into this one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationMergeIn {
    /// Must be the same contact's conversation.
    pub duplicate_id: ConversationId,
}

impl Validate for ConversationMergeIn {}

/// Merge a duplicate into this conversation: its messages and labels move over, the customer's
/// wait carries on, and the duplicate is deleted. Audited with the duplicate's record.
#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/merge", tag = "conversations", security(("bearer" = [])), params(("conversation_id" = String, Path)), request_body = ConversationMergeIn,
    responses((status = 200, body = ConversationOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn merge_conversation(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<ConversationMergeIn>,
) -> ApiResult<Json<ConversationOut>> {
    Ok(Json(
        state
            .core
            .merge_conversations(&access, &conversation_id(&id)?, &b.duplicate_id, &meta)
            .await?
            .into(),
    ))
}

/// A bot hands the customer to people: reports start a new cycle (bot time is not counted against
/// first response) and the customer waits for a person from now.
#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/handoff", tag = "conversations", security(("bearer" = [])), params(("conversation_id" = String, Path)),
    responses((status = 200, body = ConversationOut), (status = 404, body = crate::error::Problem)))]
async fn hand_off(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<Json<ConversationOut>> {
    Ok(Json(
        state
            .core
            .hand_off(&access, &conversation_id(&id)?, &meta)
            .await?
            .into(),
    ))
}

/// A conversation's thread, oldest first, a page at a time.
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/messages", tag = "conversations", security(("bearer" = [])), params(("conversation_id" = String, Path), PageQuery),
    responses((status = 200, body = Page<MessageOut>), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn list_messages(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
    ValidQuery(q): ValidQuery<PageQuery>,
) -> ApiResult<Json<Page<MessageOut>>> {
    let items = state
        .core
        .list_messages(&access, &conversation_id(&id)?, &q.to_store())
        .await?;
    Ok(Json(Page::from_overfetch(
        items,
        q.page_size(),
        |m| m.id.to_string(),
        MessageOut::from,
    )))
}

/// Reply to the customer, or leave a private note.
#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/messages", tag = "conversations", security(("bearer" = [])), params(("conversation_id" = String, Path)), request_body = MessageIn,
    responses((status = 201, body = MessageOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn post_message(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<MessageIn>,
) -> ApiResult<(StatusCode, Json<MessageOut>)> {
    let m = if b.as_bot {
        if b.private || !b.attachment_ids.is_empty() {
            return Err(ApiError::validation(vec![FieldError::new(
                "as_bot",
                "a bot writes plain replies",
            )]));
        }
        state
            .core
            .post_bot_message(&access, &conversation_id(&id)?, b.content, &meta)
            .await?
    } else {
        state
            .core
            .post_message(
                &access,
                &conversation_id(&id)?,
                b.content,
                b.private,
                &b.attachment_ids,
                &meta,
            )
            .await?
    };
    Ok((StatusCode::CREATED, Json(m.into())))
}
