//! The event stream for integrators: the tenant's committed events as Server-Sent Events
//! (`GET /v1/events/stream`), resumable from `Last-Event-ID`, and the same events by polling
//! (`GET /v1/events?after=`). Both read the transactional outbox by its per-tenant sequence, the
//! cursor every event carries.

use super::hub::{Hub, Published, Signal, READ_BATCH};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, ValidQuery, Validate};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::{FieldError, Principal, TenantAccess};
use switchboard_types::{catalog, EventEnvelope};
use tokio::sync::{broadcast, mpsc};
use utoipa::{IntoParams, ToSchema};

/// Event types a filter may list.
const MAX_TYPES: usize = 50;
/// Events the stream may hold for a slow client before it is dropped.
const STREAM_BUFFER: usize = 1024;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Comma-separated event types or families (`conversation.*`); default: every type.
    pub types: Option<String>,
    /// Resume after this cursor (the `Last-Event-ID` header takes precedence). Default: only
    /// events committed from now on.
    pub after: Option<i64>,
    /// The tenant (id or slug), for clients that cannot set `X-Switchboard-Tenant`.
    pub tenant: Option<String>,
}

impl Validate for StreamQuery {}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PollQuery {
    /// Events after this cursor (default 0: from the first).
    pub after: Option<i64>,
    /// Comma-separated event types or families; default: every type.
    pub types: Option<String>,
    /// 1–500 (default 100).
    pub limit: Option<i64>,
}

impl Validate for PollQuery {}

/// One event with its place in the tenant's sequence.
#[derive(Debug, Serialize, ToSchema)]
pub struct SequencedOut {
    /// Pass as `after` (or `Last-Event-ID`) to continue after this event.
    pub cursor: i64,
    #[schema(value_type = Object)]
    pub event: EventEnvelope,
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub data: Vec<SequencedOut>,
    /// Where to continue: the last event read (including ones the filter skipped).
    pub next_cursor: i64,
    /// More events are waiting after `next_cursor`.
    pub has_more: bool,
}

/// Reads `types=a,b.*` into filters; unknown names are refused.
fn parse_types(raw: Option<&str>) -> ApiResult<Vec<String>> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(Vec::new());
    };
    let types: Vec<String> = raw.split(',').map(|t| t.trim().to_owned()).collect();
    if types.len() > MAX_TYPES {
        return Err(ApiError::validation(vec![FieldError::new(
            "types",
            "at most 50 types",
        )]));
    }
    if let Some(bad) = types.iter().find(|t| !catalog::is_known_filter(t)) {
        return Err(ApiError::validation(vec![FieldError::new(
            "types",
            format!(
                "`{}` is not an event type or family (see GET /v1/event-types)",
                bad.chars().take(100).collect::<String>()
            ),
        )]));
    }
    Ok(types)
}

fn ahead() -> ApiError {
    ApiError::validation(vec![FieldError::new(
        "after",
        "is not a cursor of this tenant (negative, or ahead of its newest event)",
    )])
}

/// Who sees what: personal events (a person's notifications) reach only that person; an API
/// key (an integration) sees every event, as webhooks do.
fn visible(principal: &Principal, p: &Published, types: &[String]) -> bool {
    let personal_ok = match (&p.recipient, principal) {
        (Some(user), Principal::User(u)) => u.user_id.as_str() == user,
        (Some(_), Principal::ApiKey(_)) | (None, _) => true,
    };
    personal_ok && catalog::filter_matches(types, &p.event_type)
}

async fn access_for(
    state: &AppState,
    principal: &Principal,
    selector: Option<&str>,
) -> ApiResult<TenantAccess> {
    let access = state.core.tenant_access(principal, selector).await?;
    if !access.role.can_read_contacts() {
        return Err(switchboard_core::CoreError::Forbidden.into());
    }
    Ok(access)
}

/// The tenant's events after a cursor, oldest first.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(PollQuery), security(("bearer" = [])),
    responses((status = 200, body = EventPage), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn poll_events(
    State(state): State<AppState>,
    Auth(principal): Auth,
    headers: HeaderMap,
    ValidQuery(q): ValidQuery<PollQuery>,
) -> ApiResult<Json<EventPage>> {
    let selector = crate::extract::tenant_selector(&headers)?;
    let access = access_for(&state, &principal, selector.as_deref()).await?;
    let types = parse_types(q.types.as_deref())?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation(vec![FieldError::new(
            "limit",
            "between 1 and 500",
        )]));
    }
    let head = state.core.event_head(&access.ctx).await?;
    let mut cursor = q.after.unwrap_or(0);
    if cursor < 0 || cursor > head {
        return Err(ahead());
    }
    let mut data = Vec::new();
    // A narrow filter may skip many events: read on for a bounded number of batches.
    for _ in 0..10 {
        let events = state
            .core
            .events_after(&access.ctx, cursor, READ_BATCH)
            .await?;
        let full = events.len() as i64 == READ_BATCH;
        for e in events {
            let p = Published::from_event(&e);
            cursor = e.seq;
            if visible(&principal, &p, &types) {
                data.push(SequencedOut {
                    cursor: e.seq,
                    event: e.envelope,
                });
                if data.len() as i64 == limit {
                    break;
                }
            }
        }
        if !full || data.len() as i64 == limit {
            break;
        }
    }
    Ok(Json(EventPage {
        data,
        has_more: cursor < head,
        next_cursor: cursor,
    }))
}

/// The tenant's events as they are committed, as Server-Sent Events: each has `id` (its cursor)
/// and `data` (the envelope). Reconnecting with `Last-Event-ID` resumes without a gap.
#[utoipa::path(get, path = "/v1/events/stream", tag = "events", params(StreamQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "text/event-stream of events; see docs/events.md", content_type = "text/event-stream"),
        (status = 403, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn stream_events(
    State(state): State<AppState>,
    Auth(principal): Auth,
    headers: HeaderMap,
    ValidQuery(q): ValidQuery<StreamQuery>,
) -> ApiResult<Response> {
    let selector = crate::extract::tenant_selector(&headers)?.or_else(|| q.tenant.clone());
    let access = access_for(&state, &principal, selector.as_deref()).await?;
    let types = parse_types(q.types.as_deref())?;
    let last_event_id = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(ahead)?,
        ),
        None => None,
    };
    let hub = state.hub.clone();
    let (feed, rx) = hub.join(&access.ctx).await?;
    let head = state.core.event_head(feed.ctx()).await?;
    let cursor = match last_event_id.or(q.after) {
        Some(c) if c < 0 || c > head => return Err(ahead()),
        Some(c) => c,
        None => head,
    };
    let (tx, out) = mpsc::channel::<Event>(STREAM_BUFFER);
    let client = StreamClient {
        hub: hub.clone(),
        principal,
        credential: crate::middleware::credential(&headers).unwrap_or_default(),
        selector,
        tenant: access.ctx.tenant().clone(),
        types,
    };
    tokio::spawn(pump(client, feed, rx, tx, cursor));
    let stream = futures::stream::unfold(out, |mut out| async move {
        out.recv().await.map(|e| (Ok::<_, Infallible>(e), out))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

struct StreamClient {
    hub: Arc<Hub>,
    principal: Principal,
    credential: String,
    selector: Option<String>,
    tenant: switchboard_types::TenantId,
    types: Vec<String>,
}

impl StreamClient {
    fn frame(&self, p: &Published) -> Option<Event> {
        if !visible(&self.principal, p, &self.types) {
            return None;
        }
        let data = serde_json::to_string(&p.envelope).ok()?;
        Some(Event::default().id(p.seq.to_string()).data(data))
    }

    /// Whether the stream's credentials still hold (a revoked key or a removed member loses it).
    async fn still_authorized(&self) -> bool {
        let core = self.hub.core();
        let Ok(principal) = core.authenticate_token(&self.credential).await else {
            return false;
        };
        match core
            .tenant_access(&principal, self.selector.as_deref())
            .await
        {
            Ok(a) => a.ctx.tenant() == &self.tenant && a.role.can_read_contacts(),
            Err(_) => false,
        }
    }

    /// Sends every stored event after `*last`; false when the client is gone.
    async fn catch_up(
        &self,
        feed: &super::hub::Feed,
        tx: &mpsc::Sender<Event>,
        last: &mut i64,
    ) -> bool {
        loop {
            let events = match self
                .hub
                .core()
                .events_after(feed.ctx(), *last, READ_BATCH)
                .await
            {
                Ok(events) => events,
                Err(err) => {
                    tracing::warn!(error = %err, "event stream catch-up failed");
                    return false;
                }
            };
            let full = events.len() as i64 == READ_BATCH;
            for e in &events {
                *last = e.seq;
                if let Some(frame) = self.frame(&Published::from_event(e)) {
                    if tx.send(frame).await.is_err() {
                        return false;
                    }
                }
            }
            if !full {
                return true;
            }
        }
    }
}

async fn pump(
    client: StreamClient,
    feed: Arc<super::hub::Feed>,
    mut rx: broadcast::Receiver<Signal>,
    tx: mpsc::Sender<Event>,
    mut last: i64,
) {
    if !client.catch_up(&feed, &tx, &mut last).await {
        return;
    }
    let every = client.hub.reauthorize_every();
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            () = client.hub.shutdown().cancelled() => return,
            () = tx.closed() => return,
            _ = recheck.tick() => {
                if !client.still_authorized().await {
                    let _ = tx.send(Event::default().event("error").data("unauthenticated")).await;
                    return;
                }
            }
            got = rx.recv() => match got {
                Ok(Signal::Event(p)) if p.seq > last => {
                    last = p.seq;
                    if let Some(frame) = client.frame(&p) {
                        if tx.send(frame).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    rx = feed.subscribe();
                    if !client.catch_up(&feed, &tx, &mut last).await {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}
