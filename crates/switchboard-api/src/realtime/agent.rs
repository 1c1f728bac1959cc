//! `GET /v1/realtime`: the agents' WebSocket. Authenticated like any API call (bearer token, API
//! key, or the console's session cookie from our own origin), scoped to one tenant, subscribed
//! to topics (`tenant`, `inbox:<id>`, `conversation:<id>`). `cursor` resumes after the last event
//! a client saw: everything committed since is replayed from the outbox before live events, so a
//! reconnect loses nothing.

use super::hub::{Ephemeral, Feed, Hub, Published, Signal};
use super::protocol::{ClientFrame, Scope, ServerFrame, Topic, MAX_CLIENT_FRAME};
use super::socket::{catch_up, deliver, send, Sink, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, ValidQuery, Validate};
use crate::state::AppState;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::{FieldError, Principal, TenantAccess};
use switchboard_types::{ConversationId, ErrorCode, InboxId};
use tokio::sync::broadcast;
use utoipa::IntoParams;

/// Topics one socket may follow at once.
pub const MAX_TOPICS: usize = 50;
/// Typing signals a socket may send per second; more are dropped.
pub(super) const TYPING_PER_SECOND: u32 = 5;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RealtimeQuery {
    /// Comma-separated topics: `tenant` (default), `inbox:<id>`, `conversation:<id>`.
    pub topics: Option<String>,
    /// Resume after this cursor (the `cursor` of the last event received, or of `ready`).
    pub cursor: Option<i64>,
    /// The tenant (id or slug), for browsers that cannot set `X-Switchboard-Tenant`.
    pub tenant: Option<String>,
}

impl Validate for RealtimeQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.cursor.is_some_and(|c| c < 0) {
            errors.push(FieldError::new("cursor", "must be 0 or more"));
        }
        if let Some(t) = &self.topics {
            let topics: Vec<&str> = t.split(',').collect();
            if topics.len() > MAX_TOPICS {
                errors.push(FieldError::new("topics", "at most 50 topics"));
            } else if let Some(bad) = topics.iter().find(|t| Topic::parse(t).is_none()) {
                errors.push(FieldError::new(
                    "topics",
                    format!("unknown topic {bad:?}: use tenant, inbox:<id> or conversation:<id>"),
                ));
            }
        }
        if self
            .tenant
            .as_ref()
            .is_some_and(|t| t.is_empty() || t.len() > 64)
        {
            errors.push(FieldError::new("tenant", "a tenant id or slug"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Opens the agents' real-time socket.
#[utoipa::path(get, path = "/v1/realtime", tag = "realtime", params(RealtimeQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; see docs/realtime.md for the frames"),
        (status = 400, description = "Not a WebSocket upgrade request"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "A console session from another origin, or a role that cannot read conversations"),
        (status = 404, description = "A topic names an inbox or conversation that does not exist in this tenant"),
        (status = 422, description = "A bad topic or cursor"),
    ),
    security(("bearer" = []), ("session" = [])))]
pub async fn realtime(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ValidQuery(q): ValidQuery<RealtimeQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let upgrade = upgrade.map_err(|_| {
        ApiError::new(
            ErrorCode::BadRequest,
            "This endpoint speaks WebSocket: send an upgrade request.",
        )
    })?;
    check_origin(&state, &principal, &headers)?;
    let selector = crate::extract::tenant_selector(&headers)?.or_else(|| q.tenant.clone());
    let access = state
        .core
        .tenant_access(&principal, selector.as_deref())
        .await?;
    if !access.role.can_read_contacts() {
        return Err(switchboard_core::CoreError::Forbidden.into());
    }
    let mut topics = Vec::new();
    for raw in q.topics.as_deref().unwrap_or("tenant").split(',') {
        let topic = Topic::parse(raw).ok_or_else(|| {
            ApiError::validation(vec![FieldError::new("topics", "unknown topic")])
        })?;
        check_topic(&state, &access, &topic).await?;
        if !topics.contains(&topic) {
            topics.push(topic);
        }
    }
    let hub = state.hub.clone();
    let (feed, rx) = hub.join(&access.ctx).await?;
    // The cursor is checked against the head read after joining, so a reply of `ready` never
    // claims less than the feed will send.
    let head = state.core.event_head(feed.ctx()).await?;
    let cursor = match q.cursor {
        Some(c) if c > head => {
            return Err(ApiError::validation(vec![FieldError::new(
                "cursor",
                "is ahead of this tenant's newest event",
            )]))
        }
        Some(c) => c,
        None => head,
    };
    let user = match &principal {
        Principal::User(u) => Some(u.user_id.to_string()),
        Principal::ApiKey(_) => None,
    };
    let connection = Connection {
        id: hub.next_connection_id(),
        credential: crate::middleware::credential(&headers).unwrap_or_default(),
        selector,
        access,
        user,
        topics,
        conversations: HashMap::new(),
        typing_budget: (tokio::time::Instant::now(), 0),
    };
    Ok(upgrade
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| serve(socket, hub, feed, rx, connection, cursor)))
}

/// A console session cookie is sent by the browser from any page, so a socket opened with one
/// must come from our own origin (cross-site WebSocket hijacking): the configured public origin,
/// or the very host the request is addressed to; bearer credentials cannot be
/// sent by another site and need no such check.
fn check_origin(state: &AppState, principal: &Principal, headers: &HeaderMap) -> ApiResult<()> {
    let cookie_session = matches!(principal, Principal::User(u)
        if u.session_kind == switchboard_store::model::SessionKind::Console);
    if !cookie_session {
        return Ok(());
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let same_host = |o: &str| {
        let rest = o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"));
        matches!((rest, host), (Some(r), Some(h)) if r.eq_ignore_ascii_case(h))
    };
    match (origin, state.cfg.public_origin.as_deref()) {
        (Some(o), Some(ours)) if o.eq_ignore_ascii_case(ours) => Ok(()),
        // The page came from the host the browser connects to (how the console is reached
        // when `server.public_url` names another address, e.g. localhost vs 127.0.0.1).
        (Some(o), _) if same_host(o) => Ok(()),
        _ => Err(ApiError::new(
            ErrorCode::Forbidden,
            "A console session may open the real-time socket only from the console's origin.",
        )),
    }
}

/// A topic naming an inbox or conversation must exist in the caller's tenant (404 otherwise,
/// exactly as for another tenant's id).
async fn check_topic(state: &AppState, access: &TenantAccess, topic: &Topic) -> ApiResult<()> {
    match topic {
        Topic::Tenant => Ok(()),
        Topic::Inbox(id) => {
            let id: InboxId = id.parse().map_err(|_| ApiError::not_found())?;
            state.core.get_inbox(access, &id).await?;
            Ok(())
        }
        Topic::Conversation(id) => {
            let id: ConversationId = id.parse().map_err(|_| ApiError::not_found())?;
            state.core.conversation_inbox(access, &id).await?;
            Ok(())
        }
    }
}

/// One open agent socket.
struct Connection {
    id: u64,
    /// What the socket authenticated with, and the tenant it named: checked again every
    /// `realtime.reauthorize_secs`, so a revoked key, an ended session, a removed member or a suspended
    /// tenant loses the socket within that time.
    credential: String,
    selector: Option<String>,
    access: TenantAccess,
    /// The signed-in person (for presence); `None` for API keys.
    user: Option<String>,
    topics: Vec<Topic>,
    /// Conversations this socket has typed in, with their inbox (checked once).
    conversations: HashMap<String, String>,
    typing_budget: (tokio::time::Instant, u32),
}

impl Connection {
    fn follows(&self, scope: &Scope) -> bool {
        self.topics.iter().any(|t| t.matches(scope))
    }

    /// Whether an event goes to this socket: within its topics, and a personal event only to
    /// its person.
    fn receives(&self, p: &Published) -> bool {
        match &p.recipient {
            Some(user) => self.user.as_deref() == Some(user.as_str()),
            None => self.follows(&p.scope),
        }
    }
}

impl Viewer for Connection {
    fn event_frame(&mut self, p: &Published) -> Option<Utf8Bytes> {
        self.receives(p).then(|| p.frame.clone())
    }

    fn ephemeral_frame(&self, e: &Ephemeral) -> Option<Utf8Bytes> {
        (e.from_connection != self.id && self.follows(&e.scope)).then(|| e.frame.clone())
    }
}

async fn serve(
    socket: WebSocket,
    hub: Arc<Hub>,
    feed: Arc<Feed>,
    mut rx: broadcast::Receiver<Signal>,
    mut conn: Connection,
    cursor: i64,
) {
    let (mut sink, mut stream) = socket.split();
    let came_online = conn
        .user
        .as_deref()
        .is_some_and(|u| feed.agent_connected(u));
    if came_online {
        if let Some(user) = &conn.user {
            feed.publish(Ephemeral {
                scope: Scope::default(),
                from_connection: conn.id,
                frame: ServerFrame::Presence {
                    user_id: user,
                    online: true,
                }
                .to_text(),
                widget_frame: None,
            });
        }
    }
    let mut last = cursor;
    let ready = ServerFrame::Ready {
        cursor,
        topics: conn.topics.iter().map(Topic::name).collect(),
        online_users: Some(feed.online_users()),
    }
    .to_text();
    let mut open = send(&mut sink, &ready).await
        && catch_up(&mut sink, &hub, &feed, &mut conn, &mut last).await;
    let mut recheck = tokio::time::interval_at(
        tokio::time::Instant::now() + hub.reauthorize_every(),
        hub.reauthorize_every(),
    );
    while open {
        tokio::select! {
            () = hub.shutdown().cancelled() => {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
            _ = recheck.tick() => {
                if !still_authorized(&hub, &conn).await {
                    let _ = send(&mut sink, &error_frame("unauthenticated", "the credentials of this socket are no longer valid")).await;
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            }
            signal = rx.recv() => {
                open = deliver(&mut sink, &hub, &feed, &mut rx, &mut conn, &mut last, signal).await;
            }
            incoming = stream.next() => {
                open = match incoming {
                    Some(Ok(Message::Text(text))) => handle_frame(&mut sink, &hub, &feed, &mut conn, text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => {
                        send(&mut sink, &error_frame("bad_frame", "send JSON text frames")).await
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => true,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => false,
                };
            }
        }
    }
    if let Some(user) = &conn.user {
        if feed.agent_disconnected(user) {
            feed.publish(Ephemeral {
                scope: Scope::default(),
                from_connection: conn.id,
                frame: ServerFrame::Presence {
                    user_id: user,
                    online: false,
                }
                .to_text(),
                widget_frame: None,
            });
        }
    }
}

/// Whether the socket's credential still authenticates and still reaches its tenant with a role
/// that reads conversations.
async fn still_authorized(hub: &Hub, conn: &Connection) -> bool {
    let Ok(principal) = hub.core().authenticate_token(&conn.credential).await else {
        return false;
    };
    match hub
        .core()
        .tenant_access(&principal, conn.selector.as_deref())
        .await
    {
        Ok(access) => {
            access.ctx.tenant() == conn.access.ctx.tenant() && access.role.can_read_contacts()
        }
        Err(_) => false,
    }
}

pub(super) fn error_frame(code: &str, detail: &str) -> Utf8Bytes {
    ServerFrame::Error {
        code,
        detail: detail.to_owned(),
    }
    .to_text()
}

/// Handles one client frame; false closes the socket.
async fn handle_frame(
    sink: &mut Sink,
    hub: &Hub,
    feed: &Feed,
    conn: &mut Connection,
    text: &str,
) -> bool {
    let frame = match serde_json::from_str::<ClientFrame>(text) {
        Ok(f) => f,
        Err(_) => {
            return send(
                sink,
                &error_frame(
                    "bad_frame",
                    "expected subscribe, unsubscribe, typing or ping",
                ),
            )
            .await
        }
    };
    match frame {
        ClientFrame::Ping => send(sink, &ServerFrame::Pong.to_text()).await,
        ClientFrame::Subscribe { topic } => {
            let Some(topic) = Topic::parse(&topic) else {
                return send(
                    sink,
                    &error_frame("bad_topic", "use tenant, inbox:<id> or conversation:<id>"),
                )
                .await;
            };
            if conn.topics.len() >= MAX_TOPICS && !conn.topics.contains(&topic) {
                return send(sink, &error_frame("too_many_topics", "at most 50 topics")).await;
            }
            let state_check = match &topic {
                Topic::Tenant => Ok(()),
                Topic::Inbox(id) => match id.parse::<InboxId>() {
                    Ok(id) => hub.core().get_inbox(&conn.access, &id).await.map(|_| ()),
                    Err(_) => Err(switchboard_core::CoreError::NotFound),
                },
                Topic::Conversation(id) => match id.parse::<ConversationId>() {
                    Ok(id) => hub
                        .core()
                        .conversation_inbox(&conn.access, &id)
                        .await
                        .map(|_| ()),
                    Err(_) => Err(switchboard_core::CoreError::NotFound),
                },
            };
            if state_check.is_err() {
                return send(
                    sink,
                    &error_frame("not_found", "no such inbox or conversation"),
                )
                .await;
            }
            let name = topic.name();
            if !conn.topics.contains(&topic) {
                conn.topics.push(topic);
            }
            send(sink, &ServerFrame::Subscribed { topic: name }.to_text()).await
        }
        ClientFrame::Unsubscribe { topic } => {
            let Some(topic) = Topic::parse(&topic) else {
                return send(
                    sink,
                    &error_frame("bad_topic", "use tenant, inbox:<id> or conversation:<id>"),
                )
                .await;
            };
            conn.topics.retain(|t| t != &topic);
            send(
                sink,
                &ServerFrame::Unsubscribed {
                    topic: topic.name(),
                }
                .to_text(),
            )
            .await
        }
        ClientFrame::Typing {
            conversation_id,
            typing,
        } => {
            if !conn.access.role.can_work_conversations() {
                return send(
                    sink,
                    &error_frame("forbidden", "your role cannot write in conversations"),
                )
                .await;
            }
            let now = tokio::time::Instant::now();
            if now.duration_since(conn.typing_budget.0) >= Duration::from_secs(1) {
                conn.typing_budget = (now, 0);
            }
            if conn.typing_budget.1 >= TYPING_PER_SECOND {
                return true;
            }
            conn.typing_budget.1 += 1;
            let inbox = match conn.conversations.get(&conversation_id) {
                Some(inbox) => inbox.clone(),
                None => {
                    let found = match conversation_id.parse::<ConversationId>() {
                        Ok(id) => hub.core().conversation_inbox(&conn.access, &id).await.ok(),
                        Err(_) => None,
                    };
                    let Some(inbox) = found else {
                        return send(sink, &error_frame("not_found", "no such conversation")).await;
                    };
                    if conn.conversations.len() < 256 {
                        conn.conversations
                            .insert(conversation_id.clone(), inbox.to_string());
                    }
                    inbox.to_string()
                }
            };
            let actor = conn.access.ctx.actor().clone();
            feed.publish(Ephemeral {
                scope: Scope {
                    inbox_id: Some(inbox.clone()),
                    conversation_id: Some(conversation_id.clone()),
                },
                from_connection: conn.id,
                frame: ServerFrame::Typing {
                    conversation_id: &conversation_id,
                    inbox_id: &inbox,
                    actor: &actor,
                    typing,
                }
                .to_text(),
                widget_frame: Some(
                    super::widget::WidgetFrame::Typing {
                        conversation_id: &conversation_id,
                        author: "agent",
                        typing,
                    }
                    .to_text(),
                ),
            });
            true
        }
    }
}
