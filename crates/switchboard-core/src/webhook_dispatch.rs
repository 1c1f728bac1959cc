//! Delivers a tenant's committed events to its webhook endpoints.
//!
//! The dispatcher reads the outbox after its cursor (leased, so one process per tenant at a
//! time), sends every event to every subscribed endpoint, then records the attempts, the
//! failures' retry schedule and the new cursor in one transaction. A crash before that commit
//! sends the batch again: delivery is at least once, and receivers deduplicate on `webhook-id`
//! (the event id). Within a batch, an endpoint receives the events of one conversation in order;
//! different conversations and endpoints go in parallel. Failed deliveries are retried by jobs on
//! the schedule of `switchboard_webhooks::schedule`; a retry never blocks later events.

use crate::audit::RequestMeta;
use crate::error::{CoreError, CoreResult};
use crate::identity::TenantAccess;
use crate::jobs::JobKind;
use crate::webhooks::DISPATCH_CONSUMER;
use crate::{events, Core};
use bytes::Bytes;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use switchboard_store::model::{
    StoredEvent, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint,
};
use switchboard_store::{Access, TenantCtx, TenantTx};
use switchboard_types::{EventEnvelope, EventId, TenantId, WebhookAttemptId, WebhookEndpointId};
use switchboard_webhooks::schedule::{self, AttemptResult, Next};
use switchboard_webhooks::{Deliverer, Outcome, Outgoing};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// What one dispatch run over a tenant did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    pub events: usize,
    pub deliveries: usize,
    pub failures: usize,
}

/// Per-endpoint pacing (token buckets) and the bound on connections in flight, shared by every
/// delivery of this process.
#[derive(Debug)]
pub struct DeliveryLimits {
    in_flight: Arc<Semaphore>,
    buckets: Mutex<HashMap<WebhookEndpointId, Arc<Mutex<Bucket>>>>,
}

#[derive(Debug)]
struct Bucket {
    per_s: f64,
    tokens: f64,
    last: tokio::time::Instant,
}

impl DeliveryLimits {
    pub fn new(max_in_flight: usize) -> Self {
        Self {
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn bucket(&self, endpoint: &WebhookEndpoint) -> Option<Arc<Mutex<Bucket>>> {
        #[allow(clippy::cast_precision_loss)]
        let per_s = endpoint.rate_limit_per_s? as f64;
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = map.entry(endpoint.id.clone()).or_insert_with(|| {
            Arc::new(Mutex::new(Bucket {
                per_s,
                tokens: per_s,
                last: tokio::time::Instant::now(),
            }))
        });
        if let Ok(mut inner) = b.lock() {
            inner.per_s = per_s;
        }
        Some(b.clone())
    }
}

/// Waits until the endpoint's bucket has a token (a burst of one second's worth is allowed).
async fn pace(bucket: &Mutex<Bucket>) {
    loop {
        let wait = {
            let mut b = bucket.lock().unwrap_or_else(|p| p.into_inner());
            let now = tokio::time::Instant::now();
            let refill = now.duration_since(b.last).as_secs_f64() * b.per_s;
            b.tokens = (b.tokens + refill).min(b.per_s.max(1.0));
            b.last = now;
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                return;
            }
            (1.0 - b.tokens) / b.per_s
        };
        tokio::time::sleep(std::time::Duration::from_secs_f64(wait)).await;
    }
}

/// An endpoint ready to receive: its secrets opened and its URL parsed.
struct Target {
    endpoint: WebhookEndpoint,
    secrets: Vec<switchboard_webhooks::Secret>,
    url: url::Url,
    headers: Vec<(String, String)>,
    bucket: Option<Arc<Mutex<Bucket>>>,
}

/// One event ready to send.
struct Prepared {
    id: EventId,
    event_type: String,
    body: Bytes,
}

/// The result of one send.
struct Sent {
    event: usize,
    target: usize,
    at: i64,
    outcome: Outcome,
}

impl Core {
    /// Delivers `tenant`'s events after its cursor until it has caught up, as the dispatcher
    /// `owner` (the name its cursor lease is held under). Batches are pipelined: while one
    /// batch's attempts are written, the next one is already being sent; the stored cursor
    /// still moves only after a batch's attempts and failures are committed, in order.
    pub async fn dispatch_webhooks(
        &self,
        tenant: &TenantId,
        owner: &str,
        limits: &DeliveryLimits,
    ) -> CoreResult<DispatchReport> {
        let Some(ctx) = self.webhook_ctx(tenant).await? else {
            return Ok(DispatchReport::default());
        };
        let mut report = DispatchReport::default();
        // Where sending has got to; ahead of the stored cursor while a batch is being recorded.
        let mut sent_up_to: Option<i64> = None;
        let mut recording: Option<BoxFuture<'_, CoreResult<bool>>> = None;
        loop {
            let Some((endpoints, events)) = self.read_batch(&ctx, owner, sent_up_to).await? else {
                break;
            };
            let Some(last_seq) = events.last().map(|e| e.seq) else {
                // Caught up: finish recording and stop. What this process commits meanwhile
                // sends the follower round once more (`consumers::follow_tenants`), and other
                // processes' commits are polled, so no further read is needed here.
                if let Some(previous) = recording.take() {
                    previous.await?;
                }
                break;
            };
            let now = self.now();
            let targets = self.targets(tenant, endpoints, now, limits)?;
            let prepared: Vec<Prepared> = events.iter().map(|e| prepare(tenant, e)).collect();
            let lanes = lanes(&events, &prepared, &targets);
            let sending = self.send_lanes(lanes, &prepared, &targets, limits);
            let previous = recording.take();
            let work = async {
                match previous {
                    Some(previous) => {
                        let (sent, recorded) = tokio::join!(sending, previous);
                        Ok::<_, CoreError>((sent?, recorded?))
                    }
                    None => Ok((sending.await?, true)),
                }
            };
            // A slow batch (a rate-limited or slow receiver) keeps its lease while it runs.
            let lease_ms = self.config().webhooks.lease_ms;
            let heartbeat = async {
                let every = std::time::Duration::from_millis(
                    u64::try_from(lease_ms / 3).unwrap_or(1000).max(100),
                );
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = self
                        .claim_event_cursor(&ctx, DISPATCH_CONSUMER, owner, lease_ms)
                        .await
                    {
                        tracing::warn!(tenant = %tenant, error = %e, "renewing the webhook cursor lease failed");
                    }
                }
            };
            let (sent, recorded) = tokio::select! {
                done = work => done?,
                () = heartbeat => return Ok(report),
            };
            if !recorded {
                return Ok(report);
            }
            report.events += events.len();
            report.deliveries += sent.len();
            report.failures += sent.iter().filter(|s| !succeeded(&s.outcome)).count();
            sent_up_to = Some(last_seq);
            let attempts: Vec<Recorded> = sent
                .into_iter()
                .map(|s| Recorded {
                    endpoint: s.target,
                    event_id: prepared[s.event].id.clone(),
                    event_type: prepared[s.event].event_type.clone(),
                    attempt: 1,
                    cause: "dispatch",
                    at: s.at,
                    outcome: s.outcome,
                })
                .collect();
            let endpoints: Vec<WebhookEndpoint> = targets.into_iter().map(|t| t.endpoint).collect();
            recording = Some(Box::pin(
                self.record_batch(&ctx, owner, endpoints, attempts, last_seq),
            ));
        }
        Ok(report)
    }

    /// Claims (or renews) the cursor lease and reads the endpoints and the next batch after
    /// `after` (or the stored cursor); `None` while another dispatcher holds the lease.
    async fn read_batch(
        &self,
        ctx: &TenantCtx,
        owner: &str,
        after: Option<i64>,
    ) -> CoreResult<Option<(Vec<WebhookEndpoint>, Vec<StoredEvent>)>> {
        let opts = &self.config().webhooks;
        let now = self.now();
        let mut tx = self.store().tenant(ctx, Access::Write).await?;
        let head = tx.outbox_head().await?;
        let Some(stored) = tx
            .claim_event_cursor(DISPATCH_CONSUMER, owner, now, now + opts.lease_ms, head)
            .await?
        else {
            return Ok(None);
        };
        let from = after.map_or(stored, |a| a.max(stored));
        let endpoints = tx.list_webhook_endpoints().await?;
        let events = if from < head {
            tx.outbox_after(from, opts.batch_size).await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        Ok(Some((endpoints, events)))
    }

    /// Writes a dispatched batch: its attempts in transactions of a few hundred rows (so the
    /// writer is never held long), then its failures and the cursor in one. `false` when the
    /// lease was lost meanwhile (the new owner sends the batch again).
    async fn record_batch(
        &self,
        ctx: &TenantCtx,
        owner: &str,
        endpoints: Vec<WebhookEndpoint>,
        attempts: Vec<Recorded>,
        last_seq: i64,
    ) -> CoreResult<bool> {
        let rows = attempt_rows(&attempts, &endpoints);
        // A small batch is recorded in the same transaction as the cursor: on PostgreSQL every
        // round trip counts when deliveries come one or two at a time. If that transaction
        // fails, the batch is sent again and the log shows the new attempts only.
        let together = rows.len() <= ATTEMPTS_PER_TRANSACTION;
        if !together {
            for chunk in rows.chunks(ATTEMPTS_PER_TRANSACTION) {
                let mut tx = self.store().tenant(ctx, Access::Write).await?;
                // An endpoint deleted while the batch was out takes its attempts with it.
                let live: HashSet<WebhookEndpointId> = tx
                    .list_webhook_endpoints()
                    .await?
                    .into_iter()
                    .map(|e| e.id)
                    .collect();
                let kept: Vec<WebhookAttempt> = chunk
                    .iter()
                    .filter(|a| live.contains(&a.endpoint_id))
                    .cloned()
                    .collect();
                tx.insert_webhook_attempts(&kept).await?;
                tx.commit().await?;
            }
        }
        let mut tx = self.store().tenant(ctx, Access::Write).await?;
        let advanced = tx
            .advance_event_cursor(DISPATCH_CONSUMER, owner, last_seq)
            .await?;
        // Health is applied to the endpoints as they are now (locked until commit), never to the
        // copies read before the batch went out: a rotation, an edit or a switch-off made
        // meanwhile stays.
        let mut fresh = Vec::with_capacity(endpoints.len());
        let mut index = HashMap::new();
        for e in &endpoints {
            if let Some(now) = tx.get_webhook_endpoint(&e.id).await? {
                index.insert(e.id.clone(), fresh.len());
                fresh.push(now);
            }
        }
        if together {
            // An endpoint deleted while the batch was out takes its attempts with it.
            let kept: Vec<WebhookAttempt> = rows
                .into_iter()
                .filter(|a| index.contains_key(&a.endpoint_id))
                .collect();
            tx.insert_webhook_attempts(&kept).await?;
        }
        if !advanced {
            // The attempts happened: they are kept even though the batch is another's now.
            tx.commit().await?;
            tracing::warn!(tenant = %ctx.tenant(), "lost the webhook cursor lease mid-batch");
            return Ok(false);
        }
        let attempts: Vec<Recorded> = attempts
            .into_iter()
            .filter_map(|mut a| {
                a.endpoint = *index.get(&endpoints[a.endpoint].id)?;
                Some(a)
            })
            .collect();
        self.apply_outcomes(&mut *tx, &mut fresh, &attempts, None)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The enabled endpoints ready to receive (one whose stored URL no longer parses is skipped
    /// with a warning).
    fn targets(
        &self,
        tenant: &TenantId,
        endpoints: Vec<WebhookEndpoint>,
        now: i64,
        limits: &DeliveryLimits,
    ) -> CoreResult<Vec<Target>> {
        let mut out = Vec::new();
        for endpoint in endpoints.into_iter().filter(|e| e.enabled) {
            let bucket = limits.bucket(&endpoint);
            match self.target(tenant, endpoint, now, bucket) {
                Ok(t) => out.push(t),
                Err(CoreError::Internal(why)) => tracing::warn!(%why, "webhook endpoint skipped"),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// One endpoint ready to receive: its secrets opened and its URL parsed.
    fn target(
        &self,
        tenant: &TenantId,
        endpoint: WebhookEndpoint,
        now: i64,
        bucket: Option<Arc<Mutex<Bucket>>>,
    ) -> CoreResult<Target> {
        let url = url::Url::parse(&endpoint.url).map_err(|_| {
            CoreError::Internal(format!("the stored URL of {} does not parse", endpoint.id))
        })?;
        Ok(Target {
            secrets: self.webhook_secrets(tenant, &endpoint, now)?,
            url,
            headers: endpoint
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            bucket,
            endpoint,
        })
    }

    /// Sends every lane; lanes run at once, each in order, within the in-flight bound.
    async fn send_lanes(
        &self,
        lanes: Vec<Vec<(usize, usize)>>,
        prepared: &[Prepared],
        targets: &[Target],
        limits: &DeliveryLimits,
    ) -> CoreResult<Vec<Sent>> {
        let client = self.webhook_client();
        let clock = self.clock();
        let run_lane = |lane: Vec<(usize, usize)>| async move {
            let mut out = Vec::with_capacity(lane.len());
            for (e, t) in lane {
                let target = &targets[t];
                if let Some(b) = &target.bucket {
                    pace(b).await;
                }
                let _permit = limits.in_flight.acquire().await;
                let at = clock.now_ms();
                let outcome = send(client, target, &prepared[e], at).await;
                out.push(Sent {
                    event: e,
                    target: t,
                    at,
                    outcome,
                });
            }
            out
        };
        let all = futures::future::join_all(lanes.into_iter().map(run_lane)).await;
        Ok(all.into_iter().flatten().collect())
    }

    /// Writes what follows from attempts: failed deliveries and their retry jobs, the
    /// dead-letter list, endpoint health, and endpoints switched off.
    async fn apply_outcomes(
        &self,
        tx: &mut (dyn TenantTx + '_),
        endpoints: &mut [WebhookEndpoint],
        attempts: &[Recorded],
        existing: Option<&WebhookDelivery>,
    ) -> CoreResult<()> {
        let now = self.now();
        let tenant = tx.ctx().tenant().clone();
        let mut touched = HashSet::new();
        for a in attempts {
            let ok = succeeded(&a.outcome);
            let endpoint = &mut endpoints[a.endpoint];
            let result = AttemptResult {
                status: a.outcome.status,
                retry_after_ms: a.outcome.retry_after_ms,
            };
            let step = schedule::next_step(
                u32::try_from(a.attempt).unwrap_or(u32::MAX),
                result,
                rand::random::<f64>(),
            );
            // Endpoint health: a success clears the failure record; the first failure starts it.
            if ok {
                if endpoint.failing_since.take().is_some() {
                    touched.insert(a.endpoint);
                }
            } else if endpoint.failing_since.is_none() {
                endpoint.failing_since = Some(a.at);
                touched.insert(a.endpoint);
            }
            let gone = step == Next::DisableEndpoint;
            let failing_too_long = !ok && schedule::should_disable(endpoint.failing_since, now);
            if (gone || failing_too_long) && endpoint.enabled {
                endpoint.enabled = false;
                endpoint.disabled_reason = Some(if gone { "gone" } else { "failing" }.to_owned());
                touched.insert(a.endpoint);
                events::emit(
                    tx,
                    "endpoint.disabled",
                    json!({"endpoint_id": endpoint.id, "url": crate::webhooks::url_origin(&endpoint.url),
                           "reason": endpoint.disabled_reason,
                           "failing_since": endpoint.failing_since.map(crate::clock::rfc3339)}),
                    now,
                )
                .await?;
                let actor = switchboard_types::Actor::system("webhooks");
                if let Some(notice) = self.platform_event(
                    "endpoint.disabled",
                    Some(&tenant),
                    &actor,
                    json!({"tenant_id": tenant, "endpoint_id": endpoint.id,
                           "url": crate::webhooks::url_origin(&endpoint.url),
                           "reason": endpoint.disabled_reason}),
                    now,
                ) {
                    tx.enqueue_job(&notice, now).await?;
                }
                tracing::warn!(tenant = %tenant, endpoint = %endpoint.id, gone, "webhook endpoint disabled");
            }
            let (status, next) = match step {
                Next::Done => (WebhookDeliveryStatus::Succeeded, None),
                Next::RetryIn { after_ms } if endpoint.enabled => {
                    (WebhookDeliveryStatus::Pending, Some(now + after_ms))
                }
                Next::RetryIn { .. } | Next::DeadLetter | Next::DisableEndpoint => {
                    (WebhookDeliveryStatus::Dead, None)
                }
            };
            // Only deliveries that ever failed are tracked; a first-time success leaves its
            // attempt alone.
            if existing.is_none() && ok {
                continue;
            }
            tx.upsert_webhook_delivery(&WebhookDelivery {
                endpoint_id: endpoint.id.clone(),
                event_id: a.event_id.clone(),
                event_type: a.event_type.clone(),
                status,
                attempts: a.attempt,
                next_attempt_at: next,
                last_status_code: a.outcome.status.map(i64::from),
                last_error: a.outcome.error.clone(),
                created_at: existing.map_or(a.at, |d| d.created_at),
                updated_at: now,
            })
            .await?;
            if let Some(at) = next {
                let job = JobKind::WebhookRetry {
                    tenant_id: tenant.clone(),
                    endpoint_id: endpoint.id.clone(),
                    event_id: a.event_id.clone(),
                    attempt: a.attempt + 1,
                };
                tx.enqueue_job(&job.into_new_job(at), now).await?;
            }
        }
        for i in touched {
            let e = &mut endpoints[i];
            e.updated_at = now;
            tx.update_webhook_endpoint(e).await?;
        }
        Ok(())
    }

    /// The retry job: attempt `attempt` of `event` at `endpoint`, if the delivery still waits
    /// for it.
    pub async fn retry_webhook(
        &self,
        tenant: &TenantId,
        endpoint_id: &WebhookEndpointId,
        event_id: &EventId,
        attempt: i64,
    ) -> CoreResult<()> {
        let Some(ctx) = self.webhook_ctx(tenant).await? else {
            return Ok(());
        };
        let (delivery, endpoint, event) = {
            let mut tx = self.store().tenant(&ctx, Access::Read).await?;
            let d = tx.get_webhook_delivery(endpoint_id, event_id).await?;
            let e = tx.get_webhook_endpoint(endpoint_id).await?;
            let ev = tx.outbox_event(event_id).await?;
            (d, e, ev)
        };
        let (Some(delivery), Some(endpoint), Some(event)) = (delivery, endpoint, event) else {
            return Ok(());
        };
        // A job from an earlier schedule (replaced by a recovery) or for a settled delivery.
        if delivery.status != WebhookDeliveryStatus::Pending || delivery.attempts + 1 != attempt {
            return Ok(());
        }
        if !endpoint.enabled {
            let mut tx = self.store().tenant(&ctx, Access::Write).await?;
            tx.upsert_webhook_delivery(&WebhookDelivery {
                status: WebhookDeliveryStatus::Dead,
                next_attempt_at: None,
                last_error: Some("the endpoint is disabled".to_owned()),
                updated_at: self.now(),
                ..delivery
            })
            .await?;
            tx.commit().await?;
            return Ok(());
        }
        self.attempt_now(&ctx, endpoint, &event, attempt, "retry", Some(delivery))
            .await
            .map(|_| ())
    }

    /// Sends `event` to `endpoint` now and records the attempt and its consequences.
    async fn attempt_now(
        &self,
        ctx: &TenantCtx,
        endpoint: WebhookEndpoint,
        event: &StoredEvent,
        attempt: i64,
        cause: &'static str,
        delivery: Option<WebhookDelivery>,
    ) -> CoreResult<WebhookAttempt> {
        let now = self.now();
        // A replay goes out even to a disabled endpoint, unpaced.
        let target = self.target(ctx.tenant(), endpoint.clone(), now, None)?;
        let prepared = prepare(ctx.tenant(), event);
        let outcome = send(self.webhook_client(), &target, &prepared, now).await;
        let mut tx = self.store().tenant(ctx, Access::Write).await?;
        // Re-read under the write lock: a concurrent attempt may have settled it meanwhile.
        let current = tx
            .get_webhook_delivery(&endpoint.id, &event.event.id)
            .await?;
        if delivery.is_some()
            && current.as_ref().map(|d| d.attempts) != delivery.as_ref().map(|d| d.attempts)
        {
            return Err(CoreError::Conflict("the delivery changed meanwhile"));
        }
        let Some(fresh) = tx.get_webhook_endpoint(&endpoint.id).await? else {
            return Err(CoreError::NotFound);
        };
        let mut endpoints = vec![fresh];
        let recorded = Recorded {
            endpoint: 0,
            event_id: prepared.id.clone(),
            event_type: prepared.event_type.clone(),
            attempt,
            cause,
            at: now,
            outcome,
        };
        let recorded = [recorded];
        tx.insert_webhook_attempts(&attempt_rows(&recorded, &endpoints))
            .await?;
        self.apply_outcomes(&mut *tx, &mut endpoints, &recorded, current.as_ref())
            .await?;
        let attempts = tx
            .list_webhook_attempts(&endpoint.id, Some(&event.event.id), None, 1)
            .await?;
        tx.commit().await?;
        attempts
            .into_iter()
            .next()
            .ok_or_else(|| CoreError::Internal("the attempt was not recorded".into()))
    }

    /// Sends one event to an endpoint again now, whatever its earlier attempts did.
    pub async fn replay_webhook(
        &self,
        access: &TenantAccess,
        endpoint_id: &WebhookEndpointId,
        event_id: &EventId,
        meta: &RequestMeta,
    ) -> CoreResult<WebhookAttempt> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let (endpoint, event, delivery) = {
            let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
            let e = tx.get_webhook_endpoint(endpoint_id).await?;
            let ev = tx.outbox_event(event_id).await?;
            let d = tx.get_webhook_delivery(endpoint_id, event_id).await?;
            (e, ev, d)
        };
        let (Some(endpoint), Some(event)) = (endpoint, event) else {
            return Err(CoreError::NotFound);
        };
        let attempt = delivery.as_ref().map_or(1, |d| d.attempts + 1);
        let result = self
            .attempt_now(&access.ctx, endpoint, &event, attempt, "replay", delivery)
            .await?;
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        crate::audit::append(
            &mut *tx,
            &access.ctx.actor().clone(),
            meta,
            crate::audit::AuditDraft::success(
                "webhook_endpoint.replayed",
                "webhook_endpoint",
                endpoint_id.to_string(),
            )
            .with_details(json!({"event_id": event_id, "succeeded": result.succeeded})),
            self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(result)
    }

    /// Schedules every failed delivery (pending or dead) of an endpoint created at or after
    /// `since` for a fresh attempt now, with a fresh retry schedule. Returns how many.
    pub async fn recover_webhooks(
        &self,
        access: &TenantAccess,
        endpoint_id: &WebhookEndpointId,
        since: i64,
        meta: &RequestMeta,
    ) -> CoreResult<usize> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let Some(endpoint) = tx.get_webhook_endpoint(endpoint_id).await? else {
            return Err(CoreError::NotFound);
        };
        if !endpoint.enabled {
            return Err(CoreError::Conflict(
                "the endpoint is disabled: enable it before recovering its deliveries",
            ));
        }
        let failed = tx
            .list_webhook_deliveries(endpoint_id, None, Some(since), MAX_RECOVER)
            .await?;
        for d in &failed {
            tx.upsert_webhook_delivery(&WebhookDelivery {
                status: WebhookDeliveryStatus::Pending,
                attempts: 0,
                next_attempt_at: Some(now),
                updated_at: now,
                ..d.clone()
            })
            .await?;
            let job = JobKind::WebhookRetry {
                tenant_id: access.ctx.tenant().clone(),
                endpoint_id: endpoint_id.clone(),
                event_id: d.event_id.clone(),
                attempt: 1,
            };
            tx.enqueue_job(&job.into_new_job(now), now).await?;
        }
        crate::audit::append(
            &mut *tx,
            &access.ctx.actor().clone(),
            meta,
            crate::audit::AuditDraft::success(
                "webhook_endpoint.recovered",
                "webhook_endpoint",
                endpoint_id.to_string(),
            )
            .with_details(
                json!({"since": crate::clock::rfc3339(since), "deliveries": failed.len()}),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(failed.len())
    }

    /// An endpoint's attempt log, newest first.
    pub async fn webhook_attempts(
        &self,
        access: &TenantAccess,
        endpoint_id: &WebhookEndpointId,
        event: Option<&EventId>,
        before: Option<&WebhookAttemptId>,
        limit: i64,
    ) -> CoreResult<Vec<WebhookAttempt>> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        if tx.get_webhook_endpoint(endpoint_id).await?.is_none() {
            return Err(CoreError::NotFound);
        }
        Ok(tx
            .list_webhook_attempts(endpoint_id, event, before, limit.clamp(1, 200))
            .await?)
    }

    /// An endpoint's failed deliveries: waiting for a retry, or on the dead-letter list.
    pub async fn webhook_deliveries(
        &self,
        access: &TenantAccess,
        endpoint_id: &WebhookEndpointId,
        status: WebhookDeliveryStatus,
        limit: i64,
    ) -> CoreResult<Vec<WebhookDelivery>> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        if tx.get_webhook_endpoint(endpoint_id).await?.is_none() {
            return Err(CoreError::NotFound);
        }
        Ok(tx
            .list_webhook_deliveries(endpoint_id, Some(status), None, limit.clamp(1, 200))
            .await?)
    }

    /// Success rate and latency of an endpoint's attempts in the last `window_ms`.
    pub async fn webhook_stats(
        &self,
        access: &TenantAccess,
        endpoint_id: &WebhookEndpointId,
        window_ms: i64,
    ) -> CoreResult<EndpointStats> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let since = self.now() - window_ms;
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        if tx.get_webhook_endpoint(endpoint_id).await?.is_none() {
            return Err(CoreError::NotFound);
        }
        let attempts = tx
            .webhook_attempts_since(endpoint_id, since, STATS_SAMPLE)
            .await?;
        Ok(EndpointStats::of(&attempts))
    }
}

/// Deliveries one recovery schedules at most.
const MAX_RECOVER: i64 = 10_000;

/// Attempts the statistics look at, newest first.
const STATS_SAMPLE: i64 = 10_000;

/// An endpoint's recent health.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointStats {
    pub attempts: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// Succeeded / attempts; `None` without attempts.
    pub success_rate: Option<f64>,
    pub latency_p50_ms: Option<i64>,
    pub latency_p95_ms: Option<i64>,
    pub latency_p99_ms: Option<i64>,
}

impl EndpointStats {
    fn of(attempts: &[WebhookAttempt]) -> Self {
        let mut durations: Vec<i64> = attempts.iter().map(|a| a.duration_ms).collect();
        durations.sort_unstable();
        let pct = |p: usize| -> Option<i64> {
            let n = durations.len();
            (n > 0).then(|| durations[((n * p).div_ceil(100)).clamp(1, n) - 1])
        };
        let succeeded = attempts.iter().filter(|a| a.succeeded).count();
        #[allow(clippy::cast_precision_loss)]
        let success_rate = (!attempts.is_empty()).then(|| succeeded as f64 / attempts.len() as f64);
        Self {
            attempts: attempts.len(),
            succeeded,
            failed: attempts.len() - succeeded,
            success_rate,
            latency_p50_ms: pct(50),
            latency_p95_ms: pct(95),
            latency_p99_ms: pct(99),
        }
    }
}

/// An attempt waiting to be written.
struct Recorded {
    /// Index into the endpoints being recorded.
    endpoint: usize,
    event_id: EventId,
    event_type: String,
    attempt: i64,
    cause: &'static str,
    at: i64,
    outcome: Outcome,
}

/// Attempt rows written per transaction when a batch is recorded.
const ATTEMPTS_PER_TRANSACTION: usize = 250;

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The attempt log's rows for `attempts`.
fn attempt_rows(attempts: &[Recorded], endpoints: &[WebhookEndpoint]) -> Vec<WebhookAttempt> {
    attempts
        .iter()
        .map(|a| WebhookAttempt {
            id: WebhookAttemptId::generate(),
            endpoint_id: endpoints[a.endpoint].id.clone(),
            event_id: a.event_id.clone(),
            event_type: a.event_type.clone(),
            attempt: a.attempt,
            cause: a.cause.to_owned(),
            attempted_at: a.at,
            status_code: a.outcome.status.map(i64::from),
            duration_ms: a.outcome.duration_ms,
            response_body: a.outcome.response_body.clone(),
            error: a.outcome.error.clone(),
            succeeded: succeeded(&a.outcome),
        })
        .collect()
}

fn succeeded(o: &Outcome) -> bool {
    o.status.is_some_and(|s| (200..300).contains(&s))
}

/// The envelope integrators receive, serialised once per event.
fn prepare(tenant: &TenantId, e: &StoredEvent) -> Prepared {
    let envelope = EventEnvelope {
        id: e.event.id.clone(),
        event_type: e.event.event_type.clone(),
        version: u32::try_from(e.event.version).unwrap_or(1),
        tenant_id: tenant.clone(),
        occurred_at: crate::clock::rfc3339(e.event.occurred_at),
        actor: e.event.actor.clone(),
        data: e.event.payload.clone(),
    };
    Prepared {
        id: e.event.id.clone(),
        event_type: e.event.event_type.clone(),
        body: Bytes::from(serde_json::to_vec(&envelope).unwrap_or_default()),
    }
}

/// Groups the sends of a batch into lanes that must stay in order: one per endpoint and
/// conversation (events about no conversation have a lane each).
fn lanes(
    events: &[StoredEvent],
    prepared: &[Prepared],
    targets: &[Target],
) -> Vec<Vec<(usize, usize)>> {
    let mut keyed: BTreeMap<(usize, String), Vec<(usize, usize)>> = BTreeMap::new();
    for (e, event) in events.iter().enumerate() {
        let key = event
            .event
            .payload
            .get("conversation_id")
            .and_then(|v| v.as_str())
            .map_or_else(|| prepared[e].id.to_string(), str::to_owned);
        for (t, target) in targets.iter().enumerate() {
            if switchboard_types::catalog::filter_matches(
                &target.endpoint.event_types,
                &event.event.event_type,
            ) {
                keyed.entry((t, key.clone())).or_default().push((e, t));
            }
        }
    }
    keyed.into_values().collect()
}

async fn send(client: &Deliverer, target: &Target, event: &Prepared, now_ms: i64) -> Outcome {
    let timestamp = now_ms.div_euclid(1000);
    let secrets: Vec<&switchboard_webhooks::Secret> = target.secrets.iter().collect();
    let signature = switchboard_webhooks::signing::signature_header(
        &secrets,
        event.id.as_str(),
        timestamp,
        &event.body,
    );
    client
        .send(Outgoing {
            url: &target.url,
            msg_id: event.id.as_str(),
            timestamp,
            signature: &signature,
            body: event.body.clone(),
            headers: &target.headers,
        })
        .await
}

/// Runs dispatch passes for every tenant of this process's region with webhook endpoints until
/// `cancel`: at once for tenants whose commits this process announces, and every `poll_ms` for
/// the rest (commits of other processes).
pub async fn run_dispatcher(core: Arc<Core>, owner: String, cancel: CancellationToken) {
    let opts = core.config().webhooks.clone();
    let limits = Arc::new(DeliveryLimits::new(opts.max_in_flight));
    let owner = Arc::new(owner);
    crate::consumers::follow_tenants(
        core,
        "webhooks",
        opts.poll_ms,
        cancel,
        |core: Arc<Core>| async move { list_tenants(&core).await },
        move |core: Arc<Core>, tenant: TenantId| {
            let (owner, limits) = (owner.clone(), limits.clone());
            async move {
                if let Err(e) = core.dispatch_webhooks(&tenant, &owner, &limits).await {
                    tracing::warn!(tenant = %tenant, error = %e, "webhook dispatch failed");
                }
            }
        },
    )
    .await;
}

async fn list_tenants(core: &Core) -> CoreResult<HashSet<TenantId>> {
    let mut tx = core.store().control(Access::Read).await?;
    Ok(tx
        .tenants_with_webhooks(&core.config().default_region)
        .await?
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(ms: i64, ok: bool) -> WebhookAttempt {
        WebhookAttempt {
            id: WebhookAttemptId::generate(),
            endpoint_id: WebhookEndpointId::generate(),
            event_id: EventId::generate(),
            event_type: "message.created".into(),
            attempt: 1,
            cause: "dispatch".into(),
            attempted_at: 0,
            status_code: Some(if ok { 200 } else { 500 }),
            duration_ms: ms,
            response_body: String::new(),
            error: None,
            succeeded: ok,
        }
    }

    #[test]
    fn stats_give_rate_and_nearest_rank_percentiles() {
        let attempts: Vec<_> = (1..=100).map(|i| attempt(i, i % 4 != 0)).collect();
        let s = EndpointStats::of(&attempts);
        assert_eq!((s.attempts, s.succeeded, s.failed), (100, 75, 25));
        assert_eq!(s.success_rate, Some(0.75));
        assert_eq!(s.latency_p50_ms, Some(50));
        assert_eq!(s.latency_p95_ms, Some(95));
        assert_eq!(s.latency_p99_ms, Some(99));
        assert_eq!(EndpointStats::of(&[]).success_rate, None);
    }
}
