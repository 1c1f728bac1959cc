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
    // The test suite (debug builds) holds every emitted event to its catalog type, so the
    // published schemas are what is sent.
    #[cfg(debug_assertions)]
    {
        let check = switchboard_types::catalog::check_payload(event_type, &data);
        debug_assert!(check.is_ok(), "event does not match the catalog: {check:?}");
    }
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

    /// A system context for background work on `tenant` by `component` (`None` when the tenant
    /// is gone).
    pub async fn system_ctx(
        &self,
        tenant: &switchboard_types::TenantId,
        component: &str,
    ) -> crate::CoreResult<Option<switchboard_store::TenantCtx>> {
        let t = {
            let mut tx = self
                .store()
                .control(switchboard_store::Access::Read)
                .await?;
            tx.get_tenant(tenant).await?
        };
        let Some(t) = t.filter(|t| t.status != switchboard_types::TenantStatus::Deleted) else {
            return Ok(None);
        };
        #[allow(clippy::disallowed_methods)] // background work acting for the tenant it serves
        let ctx = switchboard_store::TenantCtx::assume(
            t.id.clone(),
            switchboard_types::Actor::system(component),
            t.region.clone(),
        );
        Ok(Some(ctx))
    }

    /// Takes or renews `owner`'s lease on `consumer`'s cursor in the tenant's events (created at
    /// the newest event the first time: a new consumer starts with what happens next) and
    /// returns where it stands; `None` while another owner's lease runs.
    pub async fn claim_event_cursor(
        &self,
        ctx: &switchboard_store::TenantCtx,
        consumer: &str,
        owner: &str,
        lease_ms: i64,
    ) -> crate::CoreResult<Option<i64>> {
        let now = self.clock().now_ms();
        let mut tx = self
            .store()
            .tenant(ctx, switchboard_store::Access::Write)
            .await?;
        let head = tx.outbox_head().await?;
        let seq = tx
            .claim_event_cursor(consumer, owner, now, now + lease_ms, head)
            .await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Moves `consumer`'s cursor to `seq` if `owner` still holds it.
    pub async fn advance_event_cursor(
        &self,
        ctx: &switchboard_store::TenantCtx,
        consumer: &str,
        owner: &str,
        seq: i64,
    ) -> crate::CoreResult<bool> {
        let mut tx = self
            .store()
            .tenant(ctx, switchboard_store::Access::Write)
            .await?;
        let moved = tx.advance_event_cursor(consumer, owner, seq).await?;
        tx.commit().await?;
        Ok(moved)
    }
}
