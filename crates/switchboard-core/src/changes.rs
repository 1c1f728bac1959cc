//! Every change a use case makes is recorded twice, in the same transaction: as a domain event in
//! the outbox (for integrators) and as an entry in the tenant's audit chain (for auditors). This
//! records both from one description, attributed to the transaction's actor.

use crate::audit::{self, AuditDraft, RequestMeta};
use switchboard_store::{StoreError, TenantTx};

/// Writes the event `action` with `data`, and the audit entry `action` on the target with `data`
/// as its details.
pub(crate) async fn record(
    tx: &mut (dyn TenantTx + '_),
    meta: &RequestMeta,
    action: &'static str,
    target_type: &'static str,
    target_id: String,
    data: serde_json::Value,
    now: i64,
) -> Result<(), StoreError> {
    crate::events::emit(tx, action, data.clone(), now).await?;
    let actor = tx.ctx().actor().clone();
    let draft = AuditDraft::success(action, target_type, target_id).with_details(data);
    audit::append(tx, &actor, meta, draft, now).await?;
    Ok(())
}
