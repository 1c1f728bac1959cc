//! How audit entries chain: `hash = hex(SHA-256(prev_hash ‖ canonical JSON))`, where the
//! canonical JSON has sorted keys and no whitespace and covers every field but `hash` itself,
//! plus the chain's id. It lives with the store because a tenant transaction chains its entries
//! at commit, under the head lock; core verifies chains with the same functions.

use crate::model::AuditRecord;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The canonical bytes an entry's hash covers: every field but the hash, and the chain's id.
pub fn canonical_json(chain: &str, r: &AuditRecord) -> String {
    // serde_json's default map is a BTreeMap: keys serialise sorted, with no whitespace.
    json!({
        "chain": chain,
        "seq": r.seq,
        "id": r.id.as_str(),
        "occurred_at": r.occurred_at,
        "actor_type": r.actor.kind.as_str(),
        "actor_id": r.actor.id,
        "action": r.action,
        "target_type": r.target_type,
        "target_id": r.target_id,
        "outcome": r.outcome,
        "ip": r.ip,
        "user_agent": r.user_agent,
        "request_id": r.request_id,
        "details": r.details,
        "prev_hash": r.prev_hash,
    })
    .to_string()
}

/// `hex(SHA-256(prev_hash ‖ canonical_json))`.
pub fn chain_hash(prev_hash: &str, canonical: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}
