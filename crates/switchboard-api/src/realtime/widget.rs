//! `GET /widget/v1/{public_id}/realtime`: a visitor's WebSocket. It pushes the visitor's own
//! conversations only, in the visitor's shape (no private notes, no agent ids): new messages,
//! new conversations, status changes, and agents typing; the visitor's typing goes to agents.
//!
//! Authenticate with `X-Widget-Session` on the upgrade request or, from a browser (which cannot
//! set headers on a WebSocket), with a first frame `{"type":"auth","session_token":"…"}` within
//! 10 seconds. `cursor` resumes like the agents' socket.

use super::agent::{error_frame, TYPING_PER_SECOND};
use super::hub::{Ephemeral, Feed, Hub, Published};
use super::protocol::{Scope, ServerFrame, MAX_CLIENT_FRAME};
use super::socket::{catch_up, deliver, send, Sink, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ValidQuery, Validate};
use crate::routes::widget::SESSION_HEADER;
use crate::state::AppState;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::widget::WidgetCaller;
use switchboard_core::{Core, FieldError};
use switchboard_types::{ConversationId, ErrorCode};
use utoipa::IntoParams;

/// How long a browser has to send its `auth` frame.
const AUTH_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WidgetRealtimeQuery {
    /// Resume after this cursor.
    pub cursor: Option<i64>,
}

impl Validate for WidgetRealtimeQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        match self.cursor {
            Some(c) if c < 0 => Err(vec![FieldError::new("cursor", "must be 0 or more")]),
            _ => Ok(()),
        }
    }
}

/// A frame the visitor's socket sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WidgetFrame<'a> {
    Ready {
        cursor: i64,
    },
    Message {
        cursor: i64,
        message: &'a Value,
    },
    Conversation {
        cursor: i64,
        conversation_id: &'a str,
        status: &'a str,
    },
    Typing {
        conversation_id: &'a str,
        author: &'a str,
        typing: bool,
    },
    /// The conversation was resolved: rate it at `survey_path` (`POST`, 1–5).
    Csat {
        cursor: i64,
        conversation_id: &'a str,
        survey_path: &'a str,
    },
    Pong,
}

impl WidgetFrame<'_> {
    pub fn to_text(&self) -> Utf8Bytes {
        serde_json::to_string(self).unwrap_or_default().into()
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum VisitorFrame {
    Auth {
        session_token: String,
    },
    Typing {
        conversation_id: String,
        typing: bool,
    },
    Ping,
}

/// Opens a visitor's real-time socket.
#[utoipa::path(get, path = "/widget/v1/{public_id}/realtime", tag = "widget", params(("public_id" = String, Path), WidgetRealtimeQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; see docs/widget.md for the frames"),
        (status = 400, description = "Not a WebSocket upgrade request"),
        (status = 401, description = "An X-Widget-Session that is unknown or expired"),
        (status = 404, description = "No such widget"),
    ))]
pub async fn widget_realtime(
    State(state): State<AppState>,
    crate::extract::Meta(meta): crate::extract::Meta,
    Path(public_id): Path<String>,
    ValidQuery(q): ValidQuery<WidgetRealtimeQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let upgrade = upgrade.map_err(|_| {
        ApiError::new(
            ErrorCode::BadRequest,
            "This endpoint speaks WebSocket: send an upgrade request.",
        )
    })?;
    // With the header, authenticate before upgrading; otherwise the first frame must.
    let caller = match headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) {
        Some(token) => Some((
            state.core.widget_caller(&public_id, token).await?,
            token.to_owned(),
        )),
        None => {
            // Browsers authenticate in their first frame: the widget must exist, and one
            // address may hold only so many unauthenticated sockets open.
            state.core.check_widget(&public_id, &meta).await?;
            None
        }
    };
    let hub = state.hub.clone();
    Ok(upgrade
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| serve(socket, hub, public_id, caller, q.cursor)))
}

/// What one visitor's socket follows.
struct Visitor {
    id: u64,
    core: Arc<Core>,
    /// The widget and session token, checked again every few seconds: an expired or deleted
    /// session (a merged-away contact's, say) loses the socket.
    public_id: String,
    token: String,
    caller: WidgetCaller,
    conversations: HashSet<String>,
    typing_budget: (tokio::time::Instant, u32),
}

impl Visitor {
    /// The visitor-shaped frame of an event, if it is theirs to see; learns new conversations.
    fn frame(&mut self, p: &Published) -> Option<Utf8Bytes> {
        let data = &p.envelope.data;
        let conversation = p.scope.conversation_id.as_deref()?;
        match p.event_type.as_str() {
            "conversation.created" => {
                let mine = data.get("contact_id").and_then(Value::as_str)
                    == Some(self.caller.session.contact_id.as_str())
                    && p.scope.inbox_id.as_deref() == Some(self.caller.inbox.id.as_str());
                if !mine {
                    return None;
                }
                self.conversations.insert(conversation.to_owned());
                let status = data.get("status").and_then(Value::as_str).unwrap_or("open");
                Some(
                    WidgetFrame::Conversation {
                        cursor: p.seq,
                        conversation_id: conversation,
                        status,
                    }
                    .to_text(),
                )
            }
            _ if !self.conversations.contains(conversation) => None,
            "message.created" => {
                if data.get("private").and_then(Value::as_bool) != Some(false) {
                    return None;
                }
                let author = match data.pointer("/sender/type").and_then(Value::as_str) {
                    Some("contact") => "contact",
                    Some("user" | "api_key") => "agent",
                    Some("bot" | "ai") => "bot",
                    _ => "system",
                };
                let message = serde_json::json!({
                    "id": data.get("message_id"), "conversation_id": conversation,
                    "direction": data.get("direction"), "author": author,
                    "content": data.get("content"), "created_at": data.get("created_at"),
                    "attachments": data.get("attachments"),
                });
                Some(
                    WidgetFrame::Message {
                        cursor: p.seq,
                        message: &message,
                    }
                    .to_text(),
                )
            }
            "csat.requested" => {
                let survey: switchboard_types::CsatSurveyId = data
                    .get("survey_id")
                    .and_then(Value::as_str)?
                    .parse()
                    .ok()?;
                // The answer link is the visitor's alone: it is added here, never in the event.
                let survey_path = self.core.survey_path_for(self.caller.ctx.tenant(), &survey);
                let survey_path = survey_path.as_str();
                Some(
                    WidgetFrame::Csat {
                        cursor: p.seq,
                        conversation_id: conversation,
                        survey_path,
                    }
                    .to_text(),
                )
            }
            "conversation.status_changed" => {
                let status = data.get("to").and_then(Value::as_str)?;
                Some(
                    WidgetFrame::Conversation {
                        cursor: p.seq,
                        conversation_id: conversation,
                        status,
                    }
                    .to_text(),
                )
            }
            _ => None,
        }
    }
}

impl Viewer for Visitor {
    fn event_frame(&mut self, p: &Published) -> Option<Utf8Bytes> {
        self.frame(p)
    }

    fn ephemeral_frame(&self, e: &Ephemeral) -> Option<Utf8Bytes> {
        let theirs = e.from_connection != self.id
            && e.scope
                .conversation_id
                .as_ref()
                .is_some_and(|c| self.conversations.contains(c));
        e.widget_frame.clone().filter(|_| theirs)
    }
}

/// Waits for the browser's `auth` frame; the caller and the token it sent.
async fn authenticate_first_frame(
    stream: &mut futures::stream::SplitStream<WebSocket>,
    core: &Core,
    public_id: &str,
) -> Option<(WidgetCaller, String)> {
    let first = tokio::time::timeout(AUTH_WAIT, stream.next())
        .await
        .ok()??;
    let Ok(Message::Text(text)) = first else {
        return None;
    };
    let Ok(VisitorFrame::Auth { session_token }) = serde_json::from_str(text.as_str()) else {
        return None;
    };
    let caller = core.widget_caller(public_id, &session_token).await.ok()?;
    Some((caller, session_token))
}

async fn serve(
    socket: WebSocket,
    hub: Arc<Hub>,
    public_id: String,
    caller: Option<(WidgetCaller, String)>,
    cursor: Option<i64>,
) {
    let (mut sink, mut stream) = socket.split();
    let caller = match caller {
        Some(c) => Some(c),
        None => authenticate_first_frame(&mut stream, hub.core(), &public_id).await,
    };
    let Some((caller, token)) = caller else {
        let _ = send(
            &mut sink,
            &error_frame(
                "unauthenticated",
                "send {\"type\":\"auth\",\"session_token\":…} first",
            ),
        )
        .await;
        let _ = futures::SinkExt::close(&mut sink).await;
        return;
    };
    // Join and read the head before listing the visitor's conversations, so a conversation
    // created meanwhile is either in the list or announced by an event after the head.
    let Ok((feed, mut rx)) = hub.join(&caller.ctx).await else {
        return;
    };
    let Ok(head) = hub.core().event_head(feed.ctx()).await else {
        return;
    };
    let conversations = match hub.core().widget_conversations(&caller).await {
        Ok(list) => list.into_iter().map(|c| c.id.to_string()).collect(),
        Err(_) => return,
    };
    let mut visitor = Visitor {
        id: hub.next_connection_id(),
        core: hub.core().clone(),
        public_id,
        token,
        caller,
        conversations,
        typing_budget: (tokio::time::Instant::now(), 0),
    };
    let start = match cursor {
        Some(c) if c > head => {
            let _ = send(
                &mut sink,
                &error_frame("bad_cursor", "the cursor is ahead of the newest event"),
            )
            .await;
            return;
        }
        Some(c) => c,
        None => head,
    };
    let mut last = start;
    let mut open = send(&mut sink, &WidgetFrame::Ready { cursor: start }.to_text()).await
        && catch_up(&mut sink, &hub, &feed, &mut visitor, &mut last).await;
    let mut recheck = tokio::time::interval_at(
        tokio::time::Instant::now() + hub.reauthorize_every(),
        hub.reauthorize_every(),
    );
    while open {
        tokio::select! {
            () = hub.shutdown().cancelled() => break,
            _ = recheck.tick() => {
                let valid = hub
                    .core()
                    .widget_caller(&visitor.public_id, &visitor.token)
                    .await
                    .is_ok_and(|c| c.session.contact_id == visitor.caller.session.contact_id);
                if !valid {
                    let _ = send(&mut sink, &error_frame("unauthenticated", "this session is no longer valid")).await;
                    break;
                }
            }
            signal = rx.recv() => {
                open = deliver(&mut sink, &hub, &feed, &mut rx, &mut visitor, &mut last, signal).await;
            }
            incoming = stream.next() => {
                open = match incoming {
                    Some(Ok(Message::Text(text))) => handle(&mut sink, &hub, &feed, &mut visitor, text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => send(&mut sink, &error_frame("bad_frame", "send JSON text frames")).await,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => true,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => false,
                };
            }
        }
    }
}

async fn handle(sink: &mut Sink, hub: &Hub, feed: &Feed, v: &mut Visitor, text: &str) -> bool {
    match serde_json::from_str::<VisitorFrame>(text) {
        Ok(VisitorFrame::Ping) => send(sink, &WidgetFrame::Pong.to_text()).await,
        Ok(VisitorFrame::Auth { .. }) => true,
        Ok(VisitorFrame::Typing {
            conversation_id,
            typing,
        }) => {
            let now = tokio::time::Instant::now();
            if now.duration_since(v.typing_budget.0) >= Duration::from_secs(1) {
                v.typing_budget = (now, 0);
            }
            if v.typing_budget.1 >= TYPING_PER_SECOND {
                return true;
            }
            v.typing_budget.1 += 1;
            let owned = match conversation_id.parse::<ConversationId>() {
                Ok(id) if v.conversations.contains(id.as_str()) => true,
                Ok(id) => {
                    let theirs = hub
                        .core()
                        .widget_owns(&v.caller, &id)
                        .await
                        .unwrap_or(false);
                    if theirs {
                        v.conversations.insert(id.to_string());
                    }
                    theirs
                }
                Err(_) => false,
            };
            if !owned {
                return send(sink, &error_frame("not_found", "no such conversation")).await;
            }
            let inbox = v.caller.inbox.id.to_string();
            let actor = v.caller.ctx.actor().clone();
            feed.publish(Ephemeral {
                scope: Scope {
                    inbox_id: Some(inbox.clone()),
                    conversation_id: Some(conversation_id.clone()),
                },
                from_connection: v.id,
                frame: ServerFrame::Typing {
                    conversation_id: &conversation_id,
                    inbox_id: &inbox,
                    actor: &actor,
                    typing,
                }
                .to_text(),
                widget_frame: None,
            });
            true
        }
        Err(_) => send(sink, &error_frame("bad_frame", "expected typing or ping")).await,
    }
}
