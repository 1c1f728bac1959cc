//! The web widget: the inbox settings administrators embed (`/v1/inboxes/{id}/widget`) and the
//! public client API visitors' browsers call (`/widget/v1/{public_id}/…`). The public API takes
//! no platform credentials: a session token from `POST …/sessions`, sent as `X-Widget-Session`,
//! is the visitor's only key, and it reaches only that visitor's conversations in that inbox.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Meta, PageQuery, Tenant, ValidJson, ValidQuery, Validate};
use crate::routes::path_id;
use crate::routes::{ts, Page};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::widget::{
    IdentityMode, SessionRequest, WidgetAppearance, WidgetCaller, WidgetSettings,
};
use switchboard_core::FieldError;
use switchboard_store::model::{Conversation, Message};
use switchboard_types::{
    ActorKind, ConversationId, ConversationStatus, Direction, InboxId, MessageId,
};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The header carrying a visitor's session token.
pub const SESSION_HEADER: &str = "x-widget-session";

/// Authenticated settings routes (under the API's authentication).
pub fn settings_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_widget, update_widget))
}

/// The public routes (browsers on the tenant's site call them; see [`cors`]).
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(widget_config))
        .routes(routes!(start_session))
        .routes(routes!(list_conversations, start_conversation))
        .routes(routes!(list_messages, send_message))
        .routes(routes!(crate::realtime::widget::widget_realtime))
}

/// CORS for the public widget API and survey answers: any site may call them, without credentials (the visitor's
/// session token travels in a header). Other paths are left alone, so the rest of the API stays
/// same-origin for browsers.
pub async fn cors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use http::header;
    if !req.uri().path().starts_with("/widget/") && !req.uri().path().starts_with("/csat/") {
        return next.run(req).await;
    }
    let preflight = req.method() == http::Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut res = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        http::HeaderValue::from_static("*"),
    );
    if preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            http::HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            http::HeaderValue::from_static("content-type, x-widget-session"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            http::HeaderValue::from_static("600"),
        );
    }
    res
}

/// A widget inbox's settings. `hmac_secret` signs visitor identifiers on your backend:
/// `identifier_hash = hex(HMAC-SHA256(hmac_secret, identifier))`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetSettingsOut {
    pub inbox_id: InboxId,
    /// What your page passes to the widget script.
    pub public_id: String,
    /// `optional`: anonymous visitors may chat; `required`: every session needs a verified identifier.
    #[schema(value_type = String, example = "optional")]
    pub identity: IdentityMode,
    pub hmac_secret: String,
    pub appearance: AppearanceOut,
}

/// How the widget looks and greets visitors.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppearanceOut {
    /// The chat window's heading (the inbox's name when empty). At most 80 characters.
    #[serde(default)]
    pub title: String,
    /// Shown before anyone writes. At most 500 characters.
    #[serde(default)]
    pub greeting: String,
    /// `#rrggbb`; the widget picks black or white text for contrast.
    #[schema(example = "#1f5fbf")]
    pub colour: String,
    /// An http(s) image beside the team's replies.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// Ask anonymous visitors for their name and email before their first message.
    #[serde(default)]
    pub prechat: bool,
}

impl From<WidgetAppearance> for AppearanceOut {
    fn from(a: WidgetAppearance) -> Self {
        Self {
            title: a.title,
            greeting: a.greeting,
            colour: a.colour,
            avatar_url: a.avatar_url,
            prechat: a.prechat,
        }
    }
}

impl From<AppearanceOut> for WidgetAppearance {
    fn from(a: AppearanceOut) -> Self {
        Self {
            title: a.title,
            greeting: a.greeting,
            colour: a.colour,
            avatar_url: a.avatar_url,
            prechat: a.prechat,
        }
    }
}

impl From<WidgetSettings> for WidgetSettingsOut {
    fn from(s: WidgetSettings) -> Self {
        Self {
            inbox_id: s.inbox.id,
            public_id: s.public_id,
            identity: s.identity,
            hmac_secret: s.hmac_secret,
            appearance: s.appearance.into(),
        }
    }
}

/// What the widget script needs before a visitor writes (no secrets).
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetConfigOut {
    /// The inbox's name (the heading when the appearance sets no title).
    pub name: String,
    /// `optional` or `required` (then the page must call `setUser` before the visitor writes).
    #[schema(value_type = String, example = "optional")]
    pub identity: IdentityMode,
    pub appearance: AppearanceOut,
}

/// Changes to a widget inbox (owner, admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetPatch {
    #[schema(value_type = Option<String>, example = "required")]
    pub identity: Option<IdentityMode>,
    /// Issue a new `hmac_secret`; the old one stops verifying at once (open sessions stay).
    #[serde(default)]
    pub rotate_secret: bool,
    /// Replaces the widget's look and greeting.
    pub appearance: Option<AppearanceOut>,
}

impl Validate for WidgetPatch {}

/// A widget inbox's settings, with its identity-verification secret (owner, admin).
#[utoipa::path(get, path = "/v1/inboxes/{inbox_id}/widget", tag = "widget", security(("bearer" = [])), params(("inbox_id" = String, Path)),
    responses((status = 200, body = WidgetSettingsOut), (status = 400, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
async fn get_widget(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<WidgetSettingsOut>> {
    let s = state
        .core
        .widget_settings(&access, &path_id::<InboxId>(&id)?)
        .await?;
    Ok(Json(s.into()))
}

/// Require or relax identity verification; rotate the secret; set the widget's look.
#[utoipa::path(patch, path = "/v1/inboxes/{inbox_id}/widget", tag = "widget", security(("bearer" = [])), params(("inbox_id" = String, Path)), request_body = WidgetPatch,
    responses((status = 200, body = WidgetSettingsOut), (status = 400, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn update_widget(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<WidgetPatch>,
) -> ApiResult<Json<WidgetSettingsOut>> {
    let s = state
        .core
        .update_widget(
            &access,
            &path_id::<InboxId>(&id)?,
            b.identity,
            b.appearance.map(Into::into),
            b.rotate_secret,
            &meta,
        )
        .await?;
    Ok(Json(s.into()))
}

/// Who a visitor is. Send `identifier` with `identifier_hash` to be a verified contact (your
/// backend computes the hash); send neither to chat anonymously.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionIn {
    /// Your id for this person (their contact's `external_id`).
    pub identifier: Option<String>,
    /// `hex(HMAC-SHA256(hmac_secret, identifier))`.
    pub identifier_hash: Option<String>,
    pub name: Option<String>,
    /// Kept for verified visitors when no other contact has it.
    pub email: Option<String>,
}

impl Validate for SessionIn {}

/// A started session. Keep `session_token` in the page's storage: it is shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOut {
    pub session_token: String,
    pub contact_id: String,
    pub verified: bool,
    pub expires_at: String,
}

fn caller_token(headers: &HeaderMap) -> ApiResult<&str> {
    headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .ok_or_else(|| {
            ApiError::new(
                switchboard_types::ErrorCode::Unauthenticated,
                "Send the widget session token in X-Widget-Session.",
            )
        })
}

pub(crate) async fn caller(
    state: &AppState,
    public_id: &str,
    headers: &HeaderMap,
) -> ApiResult<WidgetCaller> {
    let token = caller_token(headers)?;
    Ok(state.core.widget_caller(public_id, token).await?)
}

/// The widget's look, greeting and identity mode, for the script a page embeds.
#[utoipa::path(get, path = "/widget/v1/{public_id}/config", tag = "widget", params(("public_id" = String, Path)),
    responses((status = 200, body = WidgetConfigOut), (status = 404, body = crate::error::Problem)))]
async fn widget_config(
    State(state): State<AppState>,
    Path(public_id): Path<String>,
) -> ApiResult<Json<WidgetConfigOut>> {
    let c = state.core.widget_public_config(&public_id).await?;
    Ok(Json(WidgetConfigOut {
        name: c.inbox_name,
        identity: c.identity,
        appearance: c.appearance.into(),
    }))
}

/// Start a visitor session.
#[utoipa::path(post, path = "/widget/v1/{public_id}/sessions", tag = "widget", params(("public_id" = String, Path)), request_body = SessionIn,
    responses((status = 201, body = SessionOut), (status = 401, description = "Wrong identifier hash, or verification required", body = crate::error::Problem),
        (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
async fn start_session(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(public_id): Path<String>,
    ValidJson(b): ValidJson<SessionIn>,
) -> ApiResult<(StatusCode, Json<SessionOut>)> {
    let req = SessionRequest {
        identifier: b.identifier,
        identifier_hash: b.identifier_hash,
        name: b.name,
        email: b.email,
    };
    let (token, session, contact) = state
        .core
        .start_widget_session(&public_id, req, &meta)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionOut {
            session_token: token,
            contact_id: contact.id.to_string(),
            verified: session.verified,
            expires_at: ts(session.expires_at),
        }),
    ))
}

/// A conversation as its visitor sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetConversationOut {
    pub id: ConversationId,
    pub number: i64,
    pub status: ConversationStatus,
    pub created_at: String,
    pub last_activity_at: String,
}

impl From<Conversation> for WidgetConversationOut {
    fn from(c: Conversation) -> Self {
        Self {
            id: c.id,
            number: c.number,
            status: c.status,
            created_at: ts(c.created_at),
            last_activity_at: ts(c.last_activity_at),
        }
    }
}

/// A message as its visitor sees it: who wrote it by kind, never an agent's internal id.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetMessageOut {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub direction: Direction,
    /// `contact` (the visitor), `agent`, `bot` or `system`.
    pub author: String,
    pub content: String,
    pub created_at: String,
    /// `{id, filename, content_type, size}` of each file; download with
    /// `GET /widget/v1/{public_id}/attachments/{id}`.
    #[schema(value_type = Vec<Object>)]
    pub attachments: Vec<serde_json::Value>,
}

impl From<Message> for WidgetMessageOut {
    fn from(m: Message) -> Self {
        let author = match m.sender.kind {
            ActorKind::Contact => "contact",
            ActorKind::User | ActorKind::ApiKey => "agent",
            ActorKind::Bot | ActorKind::Ai => "bot",
            ActorKind::Automation | ActorKind::System => "system",
        };
        Self {
            id: m.id,
            conversation_id: m.conversation_id,
            direction: m.direction,
            author: author.to_owned(),
            attachments: m
                .metadata
                .get("attachments")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default(),
            content: m.content,
            created_at: ts(m.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetConversationList {
    pub data: Vec<WidgetConversationOut>,
}

/// A visitor's message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetMessageIn {
    /// May be empty when attachments are sent.
    #[serde(default)]
    pub content: String,
    /// Files uploaded into this conversation, sent with the message.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub attachment_ids: Vec<switchboard_types::AttachmentId>,
}

impl Validate for WidgetMessageIn {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        if self.content.trim().is_empty() && self.attachment_ids.is_empty() {
            return Err(vec![FieldError::new("content", "must not be empty")]);
        }
        Ok(())
    }
}

/// A new conversation with its first message.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetSent {
    pub conversation: WidgetConversationOut,
    pub message: WidgetMessageOut,
}

/// The visitor's conversations in this inbox (verified visitors: from every device).
#[utoipa::path(get, path = "/widget/v1/{public_id}/conversations", tag = "widget", params(("public_id" = String, Path), ("x-widget-session" = String, Header)),
    responses((status = 200, body = WidgetConversationList), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
async fn list_conversations(
    State(state): State<AppState>,
    Path(public_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<WidgetConversationList>> {
    let caller = caller(&state, &public_id, &headers).await?;
    let list = state.core.widget_conversations(&caller).await?;
    Ok(Json(WidgetConversationList {
        data: list.into_iter().map(Into::into).collect(),
    }))
}

/// Start a conversation.
#[utoipa::path(post, path = "/widget/v1/{public_id}/conversations", tag = "widget", params(("public_id" = String, Path), ("x-widget-session" = String, Header)), request_body = WidgetMessageIn,
    responses((status = 201, body = WidgetSent), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
async fn start_conversation(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(public_id): Path<String>,
    headers: HeaderMap,
    ValidJson(b): ValidJson<WidgetMessageIn>,
) -> ApiResult<(StatusCode, Json<WidgetSent>)> {
    let caller = caller(&state, &public_id, &headers).await?;
    let (c, m, _) = state
        .core
        .widget_send(&caller, None, b.content, b.attachment_ids, &meta)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WidgetSent {
            conversation: c.into(),
            message: m.into(),
        }),
    ))
}

/// A page of the conversation, oldest first (private notes are never shown).
#[utoipa::path(get, path = "/widget/v1/{public_id}/conversations/{conversation_id}/messages", tag = "widget",
    params(("public_id" = String, Path), ("conversation_id" = String, Path), ("x-widget-session" = String, Header), PageQuery),
    responses((status = 200, body = Page<WidgetMessageOut>), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
async fn list_messages(
    State(state): State<AppState>,
    Path((public_id, id)): Path<(String, String)>,
    ValidQuery(q): ValidQuery<PageQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Page<WidgetMessageOut>>> {
    let caller = caller(&state, &public_id, &headers).await?;
    let items = state
        .core
        .widget_messages(&caller, &path_id::<ConversationId>(&id)?, &q.to_store())
        .await?;
    Ok(Json(Page::from_overfetch(
        items,
        q.page_size(),
        |m| m.id.to_string(),
        WidgetMessageOut::from,
    )))
}

/// Write in a conversation (reopens it when it was resolved).
#[utoipa::path(post, path = "/widget/v1/{public_id}/conversations/{conversation_id}/messages", tag = "widget",
    params(("public_id" = String, Path), ("conversation_id" = String, Path), ("x-widget-session" = String, Header)), request_body = WidgetMessageIn,
    responses((status = 201, body = WidgetMessageOut), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
async fn send_message(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path((public_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    ValidJson(b): ValidJson<WidgetMessageIn>,
) -> ApiResult<(StatusCode, Json<WidgetMessageOut>)> {
    let caller = caller(&state, &public_id, &headers).await?;
    let (_, m, _) = state
        .core
        .widget_send(
            &caller,
            Some(path_id::<ConversationId>(&id)?),
            b.content,
            b.attachment_ids,
            &meta,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(m.into())))
}
