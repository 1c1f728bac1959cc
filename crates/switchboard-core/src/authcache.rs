//! A short-lived cache of verified API keys, so a busy integration does not pay two database
//! reads per request. Entries live `ttl_ms` at most; revoking a key or changing a tenant's status
//! in this process drops its entries at once, and other processes see the change within the TTL
//! (see `docs/adr/0002-opaque-stored-credentials.md`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use switchboard_store::model::{ApiKey, Tenant};
use switchboard_types::{ApiKeyId, TenantId};

#[derive(Debug, Clone)]
struct Entry {
    key: ApiKey,
    tenant: Tenant,
    fetched_at: i64,
}

/// Verified keys by the hash of their secret.
#[derive(Debug)]
pub struct AuthCache {
    ttl_ms: i64,
    max_entries: usize,
    entries: Mutex<HashMap<String, Entry>>,
    /// Bumped by every forget: a lookup that began before a revocation must not cache what it
    /// read (it may be the state from before the change).
    generation: AtomicU64,
}

impl AuthCache {
    /// `ttl_ms = 0` disables caching.
    pub fn new(ttl_ms: i64, max_entries: usize) -> Self {
        Self {
            ttl_ms,
            max_entries,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fresh entry for this key hash, if any.
    pub fn get(&self, key_hash: &str, now: i64) -> Option<(ApiKey, Tenant)> {
        if self.ttl_ms <= 0 {
            return None;
        }
        let map = self.lock();
        let e = map.get(key_hash)?;
        (now - e.fetched_at < self.ttl_ms && now >= e.fetched_at)
            .then(|| (e.key.clone(), e.tenant.clone()))
    }

    /// The generation to pass to [`AuthCache::put`]; read it before the database lookup.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Caches a lookup unless something was forgotten since `generation` was read.
    pub fn put(&self, key: ApiKey, tenant: Tenant, now: i64, generation: u64) {
        if self.ttl_ms <= 0 {
            return;
        }
        let mut map = self.lock();
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if map.len() >= self.max_entries {
            let ttl = self.ttl_ms;
            map.retain(|_, e| now - e.fetched_at < ttl);
            if map.len() >= self.max_entries {
                map.clear();
            }
        }
        map.insert(
            key.key_hash.clone(),
            Entry {
                key,
                tenant,
                fetched_at: now,
            },
        );
    }

    /// Forgets one key (it was revoked).
    pub fn forget_key(&self, id: &ApiKeyId) {
        let mut map = self.lock();
        self.generation.fetch_add(1, Ordering::SeqCst);
        map.retain(|_, e| &e.key.id != id);
    }

    /// Forgets every key of a tenant (its status changed).
    pub fn forget_tenant(&self, id: &TenantId) {
        let mut map = self.lock();
        self.generation.fetch_add(1, Ordering::SeqCst);
        map.retain(|_, e| &e.tenant.id != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_types::{CellId, Plan, TenantStatus};

    fn sample() -> (ApiKey, Tenant) {
        let tenant = Tenant {
            id: TenantId::generate(),
            slug: "acme".into(),
            name: "Acme".into(),
            plan: Plan::Starter,
            status: TenantStatus::Active,
            region: "local".into(),
            cell_id: CellId::generate(),
            partner_id: None,
            created_at: 0,
            updated_at: 0,
        };
        let key = ApiKey {
            id: ApiKeyId::generate(),
            tenant_id: tenant.id.clone(),
            name: "k".into(),
            prefix: "sb_live_x".into(),
            key_hash: "h1".into(),
            scopes: vec!["admin".into()],
            created_by: "t".into(),
            created_at: 0,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        };
        (key, tenant)
    }

    #[test]
    fn entries_expire_and_are_forgotten_on_revocation_or_status_change() {
        let cache = AuthCache::new(1000, 10);
        let (key, tenant) = sample();
        cache.put(key.clone(), tenant.clone(), 0, cache.generation());
        assert!(cache.get("h1", 999).is_some());
        assert!(cache.get("h1", 1000).is_none(), "expired");
        cache.put(key.clone(), tenant.clone(), 2000, cache.generation());
        cache.forget_key(&key.id);
        assert!(cache.get("h1", 2001).is_none());
        cache.put(key.clone(), tenant.clone(), 3000, cache.generation());
        cache.forget_tenant(&tenant.id);
        assert!(cache.get("h1", 3001).is_none());
        // A lookup that started before a revocation does not cache what it read.
        let before = cache.generation();
        cache.forget_key(&key.id);
        cache.put(key, tenant, 4000, before);
        assert!(cache.get("h1", 4001).is_none());
        let off = AuthCache::new(0, 10);
        let (key, tenant) = sample();
        off.put(key, tenant, 0, off.generation());
        assert!(off.get("h1", 0).is_none(), "a zero TTL disables the cache");
    }
}
