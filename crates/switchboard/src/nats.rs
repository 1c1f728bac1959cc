//! The NATS JetStream bridge for multi-node installations (`events.nats.url`).
//!
//! Outbound: every tenant's committed events are published to JetStream on
//! `<prefix>.<tenant id>.<event type>` (e.g. `switchboard.events.ten_….message.created`), with the
//! event id as `Nats-Msg-Id` so the stream drops duplicates. Publishing follows the outbox with a
//! leased cursor per tenant (consumer `nats`), like webhook dispatch, so a crash publishes again
//! rather than losing events, and only one process publishes a tenant at a time.
//!
//! Inbound: each process subscribes to the prefix and, for every event another process
//! published, announces a commit for its tenant, which wakes this process's WebSocket feeds and
//! webhook dispatcher at once instead of at their next poll. The events themselves are still
//! read from the outbox, so ordering, filtering and resuming stay in one place.

use futures::StreamExt as _;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::Core;
use switchboard_types::TenantId;
use tokio_util::sync::CancellationToken;

/// The outbox consumer name of the publisher's cursors.
const CONSUMER: &str = "nats";

/// Events read per outbox query while publishing.
const BATCH: i64 = 500;

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    pub url: String,
    pub stream: String,
    pub subject_prefix: String,
    pub poll_ms: u64,
    pub lease_ms: i64,
    /// How long JetStream keeps events.
    pub max_age: Duration,
}

/// Connects, makes sure the stream exists, and runs the publisher and the subscriber until
/// `shutdown`.
pub async fn start(
    core: Arc<Core>,
    opts: NatsOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let client = async_nats::ConnectOptions::new()
        .name("switchboard")
        .connect(opts.url.as_str())
        .await
        .map_err(|e| anyhow::anyhow!("connecting to NATS at {}: {e}", opts.url))?;
    let js = async_nats::jetstream::new(client.clone());
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: opts.stream.clone(),
        subjects: vec![format!("{}.>", opts.subject_prefix)],
        max_age: opts.max_age,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("creating the JetStream stream {}: {e}", opts.stream))?;
    let subscription = client
        .subscribe(format!("{}.>", opts.subject_prefix))
        .await
        .map_err(|e| anyhow::anyhow!("subscribing to NATS: {e}"))?;
    tracing::info!(url = %opts.url, stream = %opts.stream, "NATS JetStream bridge on");
    let owner = format!(
        "nats-{}",
        switchboard_core::secrets::unique_id()
            .get(..12)
            .unwrap_or("0")
    );
    let listen = tokio::spawn(listen(
        core.clone(),
        subscription,
        opts.clone(),
        shutdown.clone(),
    ));
    Ok(tokio::spawn(async move {
        publish_loop(core, js, opts, owner, shutdown).await;
        let _ = listen.await;
        let _ = client.drain().await;
    }))
}

/// Announces other processes' commits heard on NATS.
async fn listen(
    core: Arc<Core>,
    mut subscription: async_nats::Subscriber,
    opts: NatsOptions,
    shutdown: CancellationToken,
) {
    let prefix = format!("{}.", opts.subject_prefix);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            msg = subscription.next() => {
                let Some(msg) = msg else { return };
                let tenant = msg
                    .subject
                    .as_str()
                    .strip_prefix(&prefix)
                    .and_then(|rest| rest.split('.').next())
                    .and_then(|t| t.parse::<TenantId>().ok());
                if let Some(tenant) = tenant {
                    core.store().announce_commit(tenant);
                }
            }
        }
    }
}

/// Publishes the outbox of every tenant this process has seen commit, at once on its commits and
/// every `poll_ms` for commits of other processes.
async fn publish_loop(
    core: Arc<Core>,
    js: async_nats::jetstream::Context,
    opts: NatsOptions,
    owner: String,
    shutdown: CancellationToken,
) {
    let mut commits = core.store().outbox_commits();
    let mut known: HashSet<TenantId> = HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(opts.poll_ms.max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut due: Vec<TenantId> = Vec::new();
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => due.extend(known.iter().cloned()),
            got = commits.recv() => match got {
                Ok(tenant) => {
                    known.insert(tenant.clone());
                    due.push(tenant);
                    // Take every announcement already queued, each tenant once.
                    while let Ok(t) = commits.try_recv() {
                        known.insert(t.clone());
                        if !due.contains(&t) {
                            due.push(t);
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => due.extend(known.iter().cloned()),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        }
        for tenant in due {
            if let Err(e) = publish_tenant(&core, &js, &opts, &owner, &tenant).await {
                tracing::warn!(tenant = %tenant, error = %e, "publishing events to NATS failed; retrying later");
            }
        }
    }
}

/// Publishes `tenant`'s events after the cursor, each acknowledged by JetStream before the
/// cursor moves past it.
async fn publish_tenant(
    core: &Core,
    js: &async_nats::jetstream::Context,
    opts: &NatsOptions,
    owner: &str,
    tenant: &TenantId,
) -> anyhow::Result<()> {
    let Some(ctx) = core.system_ctx(tenant, "nats").await? else {
        return Ok(());
    };
    loop {
        let Some(after) = core
            .claim_event_cursor(&ctx, CONSUMER, owner, opts.lease_ms)
            .await?
        else {
            return Ok(());
        };
        let events = core.events_after(&ctx, after, BATCH).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(());
        };
        let mut acks = Vec::with_capacity(events.len());
        for e in &events {
            let subject = format!(
                "{}.{}.{}",
                opts.subject_prefix, tenant, e.envelope.event_type
            );
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", e.envelope.id.as_str());
            let body = serde_json::to_vec(&e.envelope)?;
            acks.push(
                js.publish_with_headers(subject, headers, body.into())
                    .await
                    .map_err(|e| anyhow::anyhow!("publishing: {e}"))?,
            );
        }
        for ack in acks {
            ack.await
                .map_err(|e| anyhow::anyhow!("JetStream ack: {e}"))?;
        }
        if !core
            .advance_event_cursor(&ctx, CONSUMER, owner, last)
            .await?
        {
            return Ok(());
        }
        if (events.len() as i64) < BATCH {
            return Ok(());
        }
    }
}
