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
