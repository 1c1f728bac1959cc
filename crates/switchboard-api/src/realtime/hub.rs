//! The real-time hub: follows the outbox of every tenant someone is connected for and fans each
//! committed event out to that tenant's sockets, along with ephemeral signals (typing, presence)
//! that are never stored.
//!
//! A tenant's feed wakes the moment a commit in this process wrote events for it (the store
//! announces such commits), and otherwise polls, which picks up commits made by other processes
//! sharing the database. Each event is serialised once, however many sockets receive it.

use super::protocol::{Scope, ServerFrame};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use switchboard_core::events::SequencedEvent;
use switchboard_core::Core;
use switchboard_store::TenantCtx;
use switchboard_types::{Actor, ActorKind, TenantId};
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

/// Events read from the outbox per query while catching up.
pub const READ_BATCH: i64 = 500;

/// How many frames a socket may fall behind its feed before it has to catch up from the outbox.
const FEED_BUFFER: usize = 2048;

/// One committed event, ready to send.
#[derive(Debug)]
pub struct Published {
    pub seq: i64,
    pub scope: Scope,
    pub event_type: String,
    /// For a person's own events (notifications): only their sockets receive it.
    pub recipient: Option<String>,
    /// The event itself, for sockets that show it in their own shape (the widget).
    pub envelope: switchboard_types::EventEnvelope,
    /// The whole `{"type":"event",…}` frame.
    pub frame: axum::extract::ws::Utf8Bytes,
}

impl Published {
    pub fn from_event(e: &SequencedEvent) -> Self {
        let data = &e.envelope.data;
        let text = |k: &str| data.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        Self {
            seq: e.seq,
            scope: Scope {
                inbox_id: text("inbox_id"),
                conversation_id: text("conversation_id"),
            },
            event_type: e.envelope.event_type.clone(),
            recipient: (e.envelope.event_type == "notification.created")
                .then(|| text("user_id"))
                .flatten(),
            envelope: e.envelope.clone(),
            frame: ServerFrame::Event {
                cursor: e.seq,
                event: &e.envelope,
            }
            .to_text(),
        }
    }
}

/// A signal that is pushed but not stored: someone typing, an agent coming online.
#[derive(Debug)]
pub struct Ephemeral {
    pub scope: Scope,
    /// The connection that caused it (not echoed back to it).
    pub from_connection: u64,
    /// The frame for agents.
    pub frame: axum::extract::ws::Utf8Bytes,
    /// The frame for the conversation's visitor (an agent typing); `None`: agents only.
    pub widget_frame: Option<axum::extract::ws::Utf8Bytes>,
}

/// What a socket receives from its tenant's feed.
#[derive(Debug, Clone)]
pub enum Signal {
    Event(Arc<Published>),
    Ephemeral(Arc<Ephemeral>),
}

/// One tenant's live stream.
#[derive(Debug)]
pub struct Feed {
    ctx: TenantCtx,
    signals: broadcast::Sender<Signal>,
    wake: Notify,
    /// Open agent connections per user, for presence.
    online: Mutex<HashMap<String, usize>>,
}

impl Feed {
    pub fn ctx(&self) -> &TenantCtx {
        &self.ctx
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.signals.subscribe()
    }

    /// Pushes an ephemeral signal to the tenant's sockets.
    pub fn publish(&self, e: Ephemeral) {
        let _ = self.signals.send(Signal::Ephemeral(Arc::new(e)));
    }

    /// Counts an agent connection; true when the person just came online.
    pub fn agent_connected(&self, user: &str) -> bool {
        let mut online = self.online.lock().unwrap_or_else(PoisonError::into_inner);
        let n = online.entry(user.to_owned()).or_default();
        *n += 1;
        *n == 1
    }

    /// Uncounts an agent connection; true when the person's last connection closed.
    pub fn agent_disconnected(&self, user: &str) -> bool {
        let mut online = self.online.lock().unwrap_or_else(PoisonError::into_inner);
        match online.get_mut(user) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                online.remove(user);
                true
            }
            None => false,
        }
    }

    /// The people with at least one agent connection open, sorted.
    pub fn online_users(&self) -> Vec<String> {
        let online = self.online.lock().unwrap_or_else(PoisonError::into_inner);
        let mut users: Vec<String> = online.keys().cloned().collect();
        users.sort();
        users
    }
}

/// Fans committed events and ephemeral signals out to connected sockets.
#[derive(Debug)]
pub struct Hub {
    core: Arc<Core>,
    feeds: Mutex<HashMap<TenantId, Arc<Feed>>>,
    poll_every: Duration,
    reauthorize_every: Duration,
    shutdown: CancellationToken,
    connections: std::sync::atomic::AtomicU64,
}

impl Hub {
    /// A hub whose feeds poll every `poll_every` besides waking on local commits, and whose
    /// sockets check their credentials again every `reauthorize_every`. Stops with `shutdown`.
    pub fn new(
        core: Arc<Core>,
        poll_every: Duration,
        reauthorize_every: Duration,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            core,
            feeds: Mutex::default(),
            poll_every,
            reauthorize_every,
            shutdown,
            connections: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// How often an open socket's credentials are checked again.
    pub fn reauthorize_every(&self) -> Duration {
        self.reauthorize_every
    }

    /// Fires when the server shuts down; sockets close then.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// A number unique to one socket for this process's life.
    pub fn next_connection_id(&self) -> u64 {
        self.connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Wakes the feed of every tenant the store announces a commit for, until shutdown.
    pub async fn run(self: Arc<Self>) {
        let mut commits = self.core.store().outbox_commits();
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                got = commits.recv() => match got {
                    Ok(tenant) => {
                        if let Some(feed) = self.feed_if_open(&tenant) {
                            feed.wake.notify_one();
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        for feed in self.open_feeds() {
                            feed.wake.notify_one();
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    fn feed_if_open(&self, tenant: &TenantId) -> Option<Arc<Feed>> {
        self.feeds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .cloned()
    }

    fn open_feeds(&self) -> Vec<Arc<Feed>> {
        self.feeds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// The tenant's feed and a receiver on it, starting the feed when it is the first socket.
    /// `ctx` comes from an authenticated connection of that tenant; the feed reads as `system`.
    pub async fn join(
        self: &Arc<Self>,
        ctx: &TenantCtx,
    ) -> Result<(Arc<Feed>, broadcast::Receiver<Signal>), switchboard_core::CoreError> {
        if let Some(feed) = self.feed_if_open(ctx.tenant()) {
            let rx = feed.subscribe();
            // The feed may have closed between the look-up and the subscription; then make a
            // new one below.
            if self
                .feed_if_open(ctx.tenant())
                .is_some_and(|f| Arc::ptr_eq(&f, &feed))
            {
                return Ok((feed, rx));
            }
        }
        let reader = ctx.with_actor(Actor {
            kind: ActorKind::System,
            id: "realtime".to_owned(),
        });
        let head = self.core.event_head(&reader).await?;
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(feed) = feeds.get(ctx.tenant()) {
            let rx = feed.subscribe();
            return Ok((feed.clone(), rx));
        }
        let feed = Arc::new(Feed {
            ctx: reader,
            signals: broadcast::channel(FEED_BUFFER).0,
            wake: Notify::new(),
            online: Mutex::default(),
        });
        let rx = feed.subscribe();
        feeds.insert(ctx.tenant().clone(), feed.clone());
        drop(feeds);
        tokio::spawn(self.clone().pump(feed.clone(), head));
        Ok((feed, rx))
    }

    /// Reads the tenant's new events whenever woken (or every `poll_every`) and broadcasts them
    /// in sequence order; ends, removing the feed, once no socket listens.
    async fn pump(self: Arc<Self>, feed: Arc<Feed>, mut cursor: i64) {
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                () = feed.wake.notified() => {}
                () = tokio::time::sleep(self.poll_every) => {}
            }
            {
                let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
                if feed.signals.receiver_count() == 0 {
                    if feeds
                        .get(feed.ctx.tenant())
                        .is_some_and(|f| Arc::ptr_eq(f, &feed))
                    {
                        feeds.remove(feed.ctx.tenant());
                    }
                    break;
                }
            }
            loop {
                match self.core.events_after(&feed.ctx, cursor, READ_BATCH).await {
                    Ok(events) => {
                        let full = events.len() as i64 == READ_BATCH;
                        for e in &events {
                            cursor = e.seq;
                            let _ = feed
                                .signals
                                .send(Signal::Event(Arc::new(Published::from_event(e))));
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(tenant = %feed.ctx.tenant(), error = %err, "reading the outbox failed; retrying");
                        break;
                    }
                }
            }
        }
        tracing::debug!(tenant = %feed.ctx.tenant(), "real-time feed closed");
    }
}
