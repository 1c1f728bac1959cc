//! The AI's own reader of each tenant's events, beside the automation engine's: a slow model
//! call holds up only the AI's cursor, never the tenant's rules. It follows the tenants the
//! automation directory lists (AI answers count there), reads only while AI answers are on, and
//! starts at the newest event when they are switched on (`put_ai_settings`).

use super::load_settings;
use crate::error::CoreResult;
use crate::Core;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use switchboard_store::Access;
use switchboard_types::{MessageId, TenantId};
use tokio_util::sync::CancellationToken;

/// The AI's cursor in each tenant's events.
pub const AI_CONSUMER: &str = "ai";
/// A pass owns a tenant's AI cursor this long without renewing it (longer than the longest
/// model call, so no other process takes over a pass still waiting for its model).
const LEASE_MS: i64 = 5 * 60_000;
/// Events read per batch.
const BATCH: i64 = 50;

impl Core {
    /// Looks at `tenant`'s new customer messages with the AI until caught up, as `owner`.
    pub async fn run_ai_answers(&self, tenant: &TenantId, owner: &str) -> CoreResult<usize> {
        let Some(base) = self.automation_access(tenant).await? else {
            return Ok(0);
        };
        let mut seen = 0;
        loop {
            let now = self.now();
            let mut tx = self.store().tenant(&base.ctx, Access::Write).await?;
            if !load_settings(&mut *tx).await?.enabled {
                return Ok(seen);
            }
            let head = tx.outbox_head().await?;
            let Some(cursor) = tx
                .claim_event_cursor(AI_CONSUMER, owner, now, now + LEASE_MS, head)
                .await?
            else {
                return Ok(seen);
            };
            let events = if cursor < head {
                tx.outbox_after(cursor, BATCH).await?
            } else {
                Vec::new()
            };
            tx.commit().await?;
            if events.is_empty() {
                return Ok(seen);
            }
            for event in &events {
                let e = &event.event;
                let message = e
                    .payload
                    .get("message_id")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<MessageId>().ok());
                if let (true, Some(m)) = (e.event_type == "message.created", message) {
                    self.ai_on_message(&base, &m).await?;
                    seen += 1;
                }
                // Each event moves the cursor, so a restart redoes at most one model call
                // (and the stored decision stops even that one from acting twice).
                if !self
                    .advance_event_cursor(&base.ctx, AI_CONSUMER, owner, event.seq)
                    .await?
                {
                    return Ok(seen);
                }
            }
        }
    }
}

/// Runs AI answers for every tenant of this process's region that has them on, until `cancel`.
pub async fn run_ai_engine(core: Arc<Core>, owner: String, cancel: CancellationToken) {
    let poll_ms = core.config().webhooks.poll_ms;
    let owner = Arc::new(owner);
    crate::consumers::follow_tenants(
        core,
        "ai",
        poll_ms,
        cancel,
        |core: Arc<Core>| async move {
            let mut tx = core.store().control(Access::Read).await?;
            Ok(tx
                .tenants_with_automation(&core.config().default_region)
                .await?
                .into_iter()
                .collect::<HashSet<_>>())
        },
        move |core: Arc<Core>, tenant: TenantId| {
            let owner = owner.clone();
            async move {
                if let Err(e) = core.run_ai_answers(&tenant, &owner).await {
                    tracing::warn!(tenant = %tenant, error = %e, "AI answers pass failed");
                }
            }
        },
    )
    .await;
}
