//! The persistent job queue's typed jobs and the worker that runs them.
//!
//! Jobs live in the database, so they survive restarts: a claimed job is leased, and a lease that
//! runs out (the worker died) makes it claimable again. Failures retry with exponential backoff
//! until `max_attempts`, then stay `failed` for an operator to inspect.

use crate::error::{CoreError, CoreResult};
use crate::Core;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use switchboard_store::model::{Job, NewJob};
use switchboard_store::Access;
use switchboard_types::{ConversationId, TenantId};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Every kind of background work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum JobKind {
    /// Delete every row of a deleted tenant.
    #[serde(rename = "tenant.purge")]
    TenantPurge { tenant_id: TenantId },
    /// Reopen a snoozed conversation when its snooze ends, unless it was woken, re-snoozed or
    /// closed meanwhile (`snoozed_until` must still match).
    #[serde(rename = "conversation.wake")]
    ConversationWake {
        tenant_id: TenantId,
        conversation_id: ConversationId,
        snoozed_until: i64,
    },
    /// Hand a conversation to another agent if its assignee left the customer waiting too long.
    #[serde(rename = "conversation.reassign_check")]
    ReassignCheck {
        tenant_id: TenantId,
        conversation_id: ConversationId,
        assignee_id: switchboard_types::UserId,
        waiting_since: i64,
        /// Agents who already had it during this wait (never given it again in this wait).
        #[serde(default)]
        tried: Vec<switchboard_types::UserId>,
    },
    /// Send a scheduled message that fell due.
    #[serde(rename = "message.send_scheduled")]
    ScheduledSend {
        tenant_id: TenantId,
        scheduled_message_id: switchboard_types::ScheduledMessageId,
    },
    /// Record SLA warnings and breaches that fell due for a conversation.
    #[serde(rename = "sla.check")]
    SlaCheck {
        tenant_id: TenantId,
        conversation_id: ConversationId,
    },
    /// Send an agent's reply on an external channel (SMS, email).
    #[serde(rename = "message.deliver")]
    MessageDeliver {
        tenant_id: TenantId,
        message_id: switchboard_types::MessageId,
    },
    /// Deliver an operational event to the platform endpoint.
    #[serde(rename = "platform.notify")]
    PlatformNotify { envelope: serde_json::Value },
    /// Try a failed webhook delivery again (attempt `attempt` of the schedule).
    #[serde(rename = "webhook.retry")]
    WebhookRetry {
        tenant_id: TenantId,
        endpoint_id: switchboard_types::WebhookEndpointId,
        event_id: switchboard_types::EventId,
        attempt: i64,
    },
}

impl JobKind {
    /// The stored job for this work, due now.
    pub fn into_new_job(self, now: i64) -> NewJob {
        let value = serde_json::to_value(&self).unwrap_or_default();
        let queue = match self {
            Self::PlatformNotify { .. } => PLATFORM_QUEUE,
            _ => DEFAULT_QUEUE,
        };
        NewJob {
            queue: queue.to_owned(),
            kind: value
                .get("kind")
                .and_then(|k| k.as_str())
                .unwrap_or_default()
                .to_owned(),
            payload: value.get("payload").cloned().unwrap_or_default(),
            run_at: now,
            max_attempts: 10,
        }
    }

    /// Reads a stored job back into its typed form.
    pub fn from_job(job: &Job) -> Result<Self, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "kind": job.kind, "payload": job.payload }))
    }
}

/// The queue every job kind uses but the platform's notifications.
pub const DEFAULT_QUEUE: &str = "default";

/// Operational events for the platform operator: only processes configured with the platform
/// endpoint work this queue, so one without it never takes (and delays) a notification.
pub const PLATFORM_QUEUE: &str = "platform";

/// Delay before retry `attempt` (1-based): 1 s, 2 s, 4 s … capped at one hour.
pub fn backoff_ms(attempt: i64) -> i64 {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 12)).unwrap_or(12);
    (1000_i64 << exp).min(3_600_000)
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub id: String,
    /// The queue this worker claims from.
    pub queue: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// How long a claimed job is ours before another worker may take it over.
    pub lease_ms: i64,
    /// Pause between polls when the queue is empty.
    pub idle_poll: Duration,
    /// On shutdown, how long running jobs get to finish.
    pub drain_timeout: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            id: format!(
                "worker-{}",
                crate::secrets::random_token().get(..8).unwrap_or("0")
            ),
            queue: DEFAULT_QUEUE.to_owned(),
            concurrency: 4,
            lease_ms: 5 * 60 * 1000,
            idle_poll: Duration::from_millis(500),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

impl Core {
    /// Runs one claimed job to completion, keeping its lease alive meanwhile, and records the
    /// outcome. `lease` is the claim's unique token.
    pub async fn run_job(&self, job: Job, lease: &str, lease_ms: i64) -> CoreResult<()> {
        let now = self.now();
        let work = async {
            if job.attempts > job.max_attempts {
                // Its worker died on the last attempt: close what the job owed.
                if let Ok(JobKind::MessageDeliver {
                    tenant_id,
                    message_id,
                }) = JobKind::from_job(&job)
                {
                    self.delivery_gave_up(
                        &tenant_id,
                        &message_id,
                        "the delivery job was interrupted too many times",
                    )
                    .await?;
                }
                return Err(CoreError::Internal("lease expired too many times".into()));
            }
            match JobKind::from_job(&job) {
                Ok(JobKind::TenantPurge { tenant_id }) => {
                    self.purge_tenant(&tenant_id).await.map(|_| ())
                }
                Ok(JobKind::ConversationWake {
                    tenant_id,
                    conversation_id,
                    snoozed_until,
                }) => self
                    .wake_conversation(&tenant_id, &conversation_id, snoozed_until)
                    .await
                    .map(|_| ()),
                Ok(JobKind::ReassignCheck {
                    tenant_id,
                    conversation_id,
                    assignee_id,
                    waiting_since,
                    tried,
                }) => self
                    .reassign_if_unanswered(
                        &tenant_id,
                        &conversation_id,
                        &assignee_id,
                        waiting_since,
                        &tried,
                    )
                    .await
                    .map(|_| ()),
                Ok(JobKind::ScheduledSend {
                    tenant_id,
                    scheduled_message_id,
                }) => self.send_scheduled(&tenant_id, &scheduled_message_id).await,
                Ok(JobKind::SlaCheck {
                    tenant_id,
                    conversation_id,
                }) => self.check_sla(&tenant_id, &conversation_id).await,
                Ok(JobKind::MessageDeliver {
                    tenant_id,
                    message_id,
                }) => {
                    let result = self.deliver_message(&tenant_id, &message_id).await;
                    match result {
                        // Out of attempts: the customer will not get it; say so on the message.
                        Err(e) if job.attempts >= job.max_attempts => {
                            self.delivery_gave_up(&tenant_id, &message_id, &e.to_string())
                                .await?;
                            Err(e)
                        }
                        other => other,
                    }
                }
                Ok(JobKind::WebhookRetry {
                    tenant_id,
                    endpoint_id,
                    event_id,
                    attempt,
                }) => {
                    self.retry_webhook(&tenant_id, &endpoint_id, &event_id, attempt)
                        .await
                }
                Ok(JobKind::PlatformNotify { envelope }) => self.notify_platform(&envelope).await,
                Err(e) => Err(CoreError::Internal(format!("unknown job: {e}"))),
            }
        };
        // Renew the lease at a third of its length, so a long job is never taken over while
        // its worker is alive.
        let heartbeat = async {
            let every = std::time::Duration::from_millis(
                u64::try_from(lease_ms / 3).unwrap_or(1000).max(10),
            );
            loop {
                tokio::time::sleep(every).await;
                let renewed = async {
                    let mut tx = self.store.control(Access::Write).await?;
                    let held = tx
                        .extend_job_lease(&job.id, lease, self.now() + lease_ms)
                        .await?;
                    tx.commit().await?;
                    Ok::<_, CoreError>(held)
                };
                match renewed.await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(job = %job.id, "lease lost; another worker owns the job now");
                        std::future::pending::<()>().await;
                    }
                    Err(e) => {
                        tracing::warn!(job = %job.id, error = %e, "renewing the lease failed")
                    }
                }
            }
        };
        let result = tokio::select! {
            r = work => r,
            () = heartbeat => Err(CoreError::Internal("heartbeat ended".into())),
        };
        let worker = lease;
        let mut tx = self.store.control(Access::Write).await?;
        match result {
            Ok(()) => {
                tx.complete_job(&job.id, worker, self.now()).await?;
                tracing::info!(job = %job.id, kind = %job.kind, "job succeeded");
            }
            Err(e) => {
                let retry_at =
                    (job.attempts < job.max_attempts).then(|| now + backoff_ms(job.attempts));
                tx.fail_job(&job.id, worker, &e.to_string(), retry_at, self.now())
                    .await?;
                // Out of attempts: the operator hears of it (not of its own notifications).
                if retry_at.is_none() && job.kind != "platform.notify" {
                    if let Some(notice) = self.platform_event(
                        "job.failed",
                        None,
                        &switchboard_types::Actor::system("jobs"),
                        serde_json::json!({"job_id": job.id, "kind": job.kind,
                                           "attempts": job.attempts, "error": e.to_string()}),
                        self.now(),
                    ) {
                        tx.enqueue_job(&notice, self.now()).await?;
                    }
                }
                tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, error = %e, retry = retry_at.is_some(), "job failed");
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims and runs one due job of `queue`; `false` when none was due.
    pub async fn run_one_job(&self, queue: &str, worker: &str, lease_ms: i64) -> CoreResult<bool> {
        let now = self.now();
        let lease = lease_token(worker);
        let job = {
            let mut tx = self.store.control(Access::Write).await?;
            let job = tx.claim_job(queue, &lease, now, now + lease_ms).await?;
            tx.commit().await?;
            job
        };
        match job {
            Some(job) => {
                self.run_job(job, &lease, lease_ms).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// A unique token for one claim: two claims of one worker process never share a lease.
fn lease_token(worker: &str) -> String {
    format!("{worker}/{}", crate::secrets::unique_id())
}

/// Runs jobs until `shutdown` fires, then waits (up to the drain timeout) for running ones.
pub async fn run_worker(core: Arc<Core>, cfg: WorkerConfig, shutdown: CancellationToken) {
    let permits = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    tracing::info!(worker = %cfg.id, concurrency = cfg.concurrency, "job worker started");
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let now = core.clock().now_ms();
        let claimed = async {
            let mut tx = core.store().control(Access::Write).await?;
            let lease = lease_token(&cfg.id);
            let job = tx
                .claim_job(&cfg.queue, &lease, now, now + cfg.lease_ms)
                .await?;
            tx.commit().await?;
            Ok::<_, CoreError>(job.map(|j| (j, lease)))
        }
        .await;
        match claimed {
            Ok(Some((job, lease))) => {
                let core = core.clone();
                let lease_ms = cfg.lease_ms;
                tokio::spawn(async move {
                    if let Err(e) = core.run_job(job, &lease, lease_ms).await {
                        tracing::error!(error = %e, "recording a job outcome failed");
                    }
                    drop(permit);
                });
            }
            Ok(None) => {
                drop(permit);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(cfg.idle_poll) => {}
                }
            }
            Err(e) => {
                drop(permit);
                tracing::warn!(error = %e, "claiming a job failed; backing off");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(cfg.idle_poll * 4) => {}
                }
            }
        }
    }
    // Drain: every permit back means every running job finished.
    let all = u32::try_from(cfg.concurrency.max(1)).unwrap_or(u32::MAX);
    let drained = tokio::time::timeout(cfg.drain_timeout, permits.acquire_many(all)).await;
    match drained {
        Ok(_) => tracing::info!(worker = %cfg.id, "job worker drained"),
        Err(_) => {
            tracing::warn!(worker = %cfg.id, "drain timed out; leases will expire and jobs rerun")
        }
    }
}

/// Deletes expired sessions and idempotency records every `every`, until `shutdown`.
pub async fn run_sweeper(core: Arc<Core>, every: Duration, shutdown: CancellationToken) {
    loop {
        match core.sweep_expired().await {
            Ok((sessions, keys)) if sessions + keys > 0 => {
                tracing::info!(sessions, idempotency_keys = keys, "swept expired records");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweeping expired records failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1), 1000);
        assert_eq!(backoff_ms(2), 2000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(40), 3_600_000);
        assert_eq!(backoff_ms(0), 1000);
    }

    #[test]
    fn job_kinds_round_trip_through_storage_form() {
        let tenant = TenantId::generate();
        for (kind, name) in [
            (
                JobKind::TenantPurge {
                    tenant_id: tenant.clone(),
                },
                "tenant.purge",
            ),
            (
                JobKind::ConversationWake {
                    tenant_id: tenant.clone(),
                    conversation_id: ConversationId::generate(),
                    snoozed_until: 7,
                },
                "conversation.wake",
            ),
        ] {
            let new = kind.clone().into_new_job(5);
            assert_eq!(new.kind, name);
            assert_eq!(new.run_at, 5);
            let job = Job {
                id: switchboard_types::JobId::generate(),
                queue: new.queue,
                kind: new.kind,
                payload: new.payload,
                status: switchboard_store::model::JobStatus::Queued,
                attempts: 0,
                max_attempts: 10,
                run_at: 5,
                locked_by: None,
                locked_until: None,
                last_error: None,
                created_at: 5,
                updated_at: 5,
            };
            assert_eq!(JobKind::from_job(&job).unwrap(), kind);
        }
    }
}
