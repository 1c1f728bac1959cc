//! Tenant API keys: created with scopes and an optional expiry, shown once, stored as a hash,
//! revocable.

use crate::audit::{self, AuditDraft, RequestMeta};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::identity::{API_KEY_PREFIX, API_KEY_SCOPES};
use crate::secrets::{random_token, token_hash};
use crate::{changes, events, validate, Core, TenantAccess};
use serde_json::json;
use switchboard_store::model::{ApiKey, PageRequest};
use switchboard_store::Access;
use switchboard_types::{ApiKeyId, TenantId};

/// What a new key needs.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<i64>,
}

/// A key about to be stored, with its secret (returned to the caller once).
#[derive(Debug, Clone)]
pub struct PreparedKey {
    pub tenant_id: TenantId,
    pub record: ApiKey,
    pub secret: String,
}

/// Validates and generates a key for a tenant (nothing stored yet).
pub fn prepare(tenant: &TenantId, input: NewApiKey) -> CoreResult<PreparedKey> {
    let mut errors = Vec::new();
    validate::name("name", &input.name, &mut errors);
    if input.scopes.is_empty() {
        errors.push(FieldError::new("scopes", "at least one scope is required"));
    }
    for (i, s) in input.scopes.iter().enumerate() {
        if !API_KEY_SCOPES.contains(&s.as_str()) {
            errors.push(FieldError::new(
                format!("scopes[{i}]"),
                format!("must be one of {}", API_KEY_SCOPES.join(", ")),
            ));
        }
    }
    validate::finish(errors)?;
    let ulid = tenant.as_str().trim_start_matches("ten_");
    let secret = format!("{API_KEY_PREFIX}{ulid}_{}", random_token());
    let mut scopes = input.scopes;
    scopes.sort();
    scopes.dedup();
    let record = ApiKey {
        id: ApiKeyId::generate(),
        tenant_id: tenant.clone(),
        name: input.name.trim().to_owned(),
        prefix: secret.chars().take(API_KEY_PREFIX.len() + 8).collect(),
        key_hash: token_hash(&secret),
        scopes,
        created_by: String::new(),
        created_at: 0,
        expires_at: input.expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    Ok(PreparedKey {
        tenant_id: tenant.clone(),
        record,
        secret,
    })
}

impl Core {
    pub async fn create_api_key(
        &self,
        access: &TenantAccess,
        input: NewApiKey,
        meta: &RequestMeta,
    ) -> CoreResult<(ApiKey, String)> {
        if !access.role.can_manage_api_keys() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        if input.expires_at.is_some_and(|e| e <= now) {
            return Err(CoreError::field("expires_at", "must be in the future"));
        }
        let mut key = prepare(&access.tenant.id, input)?;
        key.record.created_at = now;
        key.record.created_by = access.ctx.actor().id.clone();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        tx.insert_api_key(&key.record).await?;
        events::emit(
            &mut *tx,
            "api_key.created",
            json!({"api_key_id": key.record.id, "scopes": key.record.scopes}),
            now,
        )
        .await?;
        let draft = AuditDraft::success("api_key.created", "api_key", key.record.id.to_string())
            .with_details(json!({"scopes": key.record.scopes, "name": key.record.name}));
        audit::append(&mut *tx, access.ctx.actor(), meta, draft, now).await?;
        tx.commit().await?;
        Ok((key.record, key.secret))
    }

    pub async fn list_api_keys(
        &self,
        access: &TenantAccess,
        page: &PageRequest,
    ) -> CoreResult<Vec<ApiKey>> {
        if !access.role.can_manage_api_keys() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        Ok(tx.list_api_keys(page).await?)
    }

    pub async fn get_api_key(&self, access: &TenantAccess, id: &ApiKeyId) -> CoreResult<ApiKey> {
        if !access.role.can_manage_api_keys() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        tx.get_api_key(id).await?.ok_or(CoreError::NotFound)
    }

    pub async fn revoke_api_key(
        &self,
        access: &TenantAccess,
        id: &ApiKeyId,
        meta: &RequestMeta,
    ) -> CoreResult<ApiKey> {
        if !access.role.can_manage_api_keys() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        let mut key = tx.get_api_key(id).await?.ok_or(CoreError::NotFound)?;
        if key.revoked_at.is_none() {
            tx.revoke_api_key(id, now).await?;
            key.revoked_at = Some(now);
            changes::record(
                &mut *tx,
                meta,
                "api_key.revoked",
                "api_key",
                id.to_string(),
                json!({"api_key_id": id}),
                now,
            )
            .await?;
            tx.commit().await?;
            self.forget_key(id);
        }
        Ok(key)
    }
}
