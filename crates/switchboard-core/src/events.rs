//! Domain events written to the transactional outbox.

use switchboard_store::model::OutboxEvent;
use switchboard_store::{StoreError, TenantTx};
use switchboard_types::EventId;

/// Writes one event for the transaction's tenant, attributed to the transaction's actor.
pub async fn emit(
    tx: &mut (dyn TenantTx + '_),
    event_type: &str,
    data: serde_json::Value,
    now: i64,
) -> Result<(), StoreError> {
    let actor = tx.ctx().actor().clone();
    emit_as(tx, &actor, event_type, data, now).await
}

/// Writes one event attributed to `actor` (e.g. automation acting inside a request).
pub async fn emit_as(
    tx: &mut (dyn TenantTx + '_),
    actor: &switchboard_types::Actor,
    event_type: &str,
    data: serde_json::Value,
    now: i64,
) -> Result<(), StoreError> {
    debug_assert!(
        switchboard_types::catalog::event_type(event_type).is_some(),
        "`{event_type}` is missing from the event catalog"
    );
    let event = OutboxEvent {
        id: EventId::generate(),
        event_type: event_type.to_owned(),
        version: 1,
        occurred_at: now,
        actor: actor.clone(),
        payload: data,
    };
    tx.insert_outbox(&event).await
}

/// A committed event in the envelope integrators and real-time clients receive, with its place
/// in the tenant's sequence (the resume cursor).
#[derive(Debug, Clone, PartialEq)]
pub struct SequencedEvent {
    pub seq: i64,
    pub envelope: switchboard_types::EventEnvelope,
}

impl crate::Core {
    /// A tenant's committed events after `after_seq`, oldest first, at most `limit`.
    pub async fn events_after(
        &self,
        ctx: &switchboard_store::TenantCtx,
        after_seq: i64,
        limit: i64,
    ) -> crate::CoreResult<Vec<SequencedEvent>> {
        let mut tx = self
            .store()
            .tenant(ctx, switchboard_store::Access::Read)
            .await?;
        let stored = tx.outbox_after(after_seq, limit).await?;
        Ok(stored
            .into_iter()
            .map(|s| SequencedEvent {
                seq: s.seq,
                envelope: switchboard_types::EventEnvelope {
                    id: s.event.id,
                    event_type: s.event.event_type,
                    version: u32::try_from(s.event.version).unwrap_or(1),
                    tenant_id: ctx.tenant().clone(),
                    occurred_at: crate::clock::rfc3339(s.event.occurred_at),
                    actor: s.event.actor,
                    data: s.event.payload,
                },
            })
            .collect())
    }

    /// The sequence number of a tenant's newest committed event (0 before the first).
    pub async fn event_head(&self, ctx: &switchboard_store::TenantCtx) -> crate::CoreResult<i64> {
        let mut tx = self
            .store()
            .tenant(ctx, switchboard_store::Access::Read)
            .await?;
        Ok(tx.outbox_head().await?)
    }
}
