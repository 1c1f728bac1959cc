//! The envelope every domain event travels in, from the transactional outbox to webhooks and
//! streams. Versioned per event type so consumers can evolve safely.

use crate::{Actor, EventId, TenantId};
use serde::{Deserialize, Serialize};

/// One domain event as integrators receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventEnvelope {
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u32,
    pub tenant_id: TenantId,
    /// RFC 3339 UTC.
    pub occurred_at: String,
    pub actor: Actor,
    pub data: serde_json::Value,
}
