//! A tenant's webhook endpoints: where its events are delivered, which ones, with which extra
//! headers and how fast, and the signing secret (shown once, stored sealed, rotated with a grace
//! period during which both secrets sign).

use crate::audit::RequestMeta;
use crate::error::FieldError;
use crate::error::{CoreError, CoreResult};
use crate::identity::TenantAccess;
use crate::validate;
use crate::{changes, secrets, Core};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::IpAddr;
use switchboard_store::model::WebhookEndpoint;
use switchboard_store::{Access, TenantCtx};
use switchboard_types::{catalog, TenantId, WebhookEndpointId};
use switchboard_webhooks::{Cidr, Secret};

/// The consumer name of the webhook dispatcher's cursor.
pub const DISPATCH_CONSUMER: &str = "webhooks";

/// How long a rotated-out secret still signs deliveries.
pub const SECRET_GRACE_MS: i64 = 24 * 3_600_000;

/// Endpoints a tenant may have.
pub const MAX_ENDPOINTS: usize = 100;
const MAX_DESCRIPTION: usize = 500;
const MAX_FILTERS: usize = 100;
const MAX_HEADERS: usize = 20;
const MAX_HEADER_NAME: usize = 100;
const MAX_HEADER_VALUE: usize = 1000;
const MAX_RATE_LIMIT: i64 = 10_000;

/// Headers an endpoint may not set: ours, and those that would break the request's framing.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "user-agent",
    "expect",
];

/// How delivery behaves on this installation.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Internal ranges deliveries may reach anyway (an operator's own integration hosts).
    pub allow_private: Vec<Cidr>,
    /// The whole attempt, connect to last byte read.
    pub timeout_ms: u64,
    /// Deliveries in flight at once per process (bounds outbound connections).
    pub max_in_flight: usize,
    /// Events read per dispatch batch.
    pub batch_size: i64,
    /// How often tenants are checked for events committed by other processes.
    pub poll_ms: u64,
    /// How long a dispatcher owns a tenant's cursor without renewing it.
    pub lease_ms: i64,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            allow_private: Vec::new(),
            timeout_ms: 15_000,
            max_in_flight: 512,
            batch_size: 500,
            poll_ms: 1000,
            lease_ms: 30_000,
        }
    }
}

/// The delivery client for these options.
pub(crate) fn build_client(
    options: &WebhookOptions,
    lookup: std::sync::Arc<dyn switchboard_webhooks::Lookup>,
) -> CoreResult<switchboard_webhooks::Deliverer> {
    let config = switchboard_webhooks::ClientConfig {
        timeout: std::time::Duration::from_millis(options.timeout_ms),
        policy: switchboard_webhooks::AddressPolicy::with_allow_list(options.allow_private.clone()),
        ..switchboard_webhooks::ClientConfig::default()
    };
    switchboard_webhooks::Deliverer::new(config, lookup)
        .map_err(|e| CoreError::Internal(e.to_string()))
}

/// Fields of an endpoint to set; on creation `url` is required and the rest have defaults.
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub headers: Option<BTreeMap<String, String>>,
    /// `Some(None)` removes the limit.
    pub rate_limit_per_s: Option<Option<i64>>,
}

/// The context a secret of `endpoint` is sealed under.
fn seal_context(tenant: &TenantId, endpoint: &WebhookEndpointId) -> String {
    format!("{tenant}|{endpoint}|webhook-secret")
}

impl Core {
    pub(crate) fn seal_webhook_secret(
        &self,
        tenant: &TenantId,
        endpoint: &WebhookEndpointId,
        secret: &Secret,
    ) -> CoreResult<String> {
        secrets::seal(
            &self.config().channel_key,
            &seal_context(tenant, endpoint),
            &secret.expose(),
        )
    }

    /// The secrets deliveries to `e` are signed with at `now`: the current one, and the previous
    /// one during its grace period.
    pub(crate) fn webhook_secrets(
        &self,
        tenant: &TenantId,
        e: &WebhookEndpoint,
        now: i64,
    ) -> CoreResult<Vec<Secret>> {
        let key = &self.config().channel_key;
        let context = seal_context(tenant, &e.id);
        let open = |sealed: &str| {
            let text = secrets::open(key, &context, sealed)?;
            Secret::parse(&text).map_err(|e| CoreError::Internal(e.to_string()))
        };
        let mut out = vec![open(&e.secret)?];
        if let (Some(prev), Some(until)) = (&e.previous_secret, e.previous_secret_expires_at) {
            if until > now {
                out.push(open(prev)?);
            }
        }
        Ok(out)
    }

    /// Validates changes to an endpoint; the URL's host is resolved and refused if any of its
    /// addresses is private (unless allow-listed), as deliveries would be.
    async fn check_endpoint(&self, c: &EndpointChanges, creating: bool) -> CoreResult<()> {
        let mut errors = Vec::new();
        match &c.url {
            Some(url) => {
                if let Err(e) = self.check_webhook_url(url).await {
                    errors.push(FieldError::new("url", e));
                }
            }
            None if creating => errors.push(FieldError::new("url", "required")),
            None => {}
        }
        if let Some(d) = &c.description {
            if d.chars().count() > MAX_DESCRIPTION {
                errors.push(FieldError::new("description", "at most 500 characters"));
            }
        }
        if let Some(types) = &c.event_types {
            if types.len() > MAX_FILTERS {
                errors.push(FieldError::new("event_types", "at most 100 entries"));
            }
            for t in types {
                if !catalog::is_known_filter(t) {
                    errors.push(FieldError::new(
                        "event_types",
                        format!(
                            "`{}` is not an event type or family (see GET /v1/event-types)",
                            t.chars().take(100).collect::<String>()
                        ),
                    ));
                }
            }
        }
        if let Some(headers) = &c.headers {
            if headers.len() > MAX_HEADERS {
                errors.push(FieldError::new("headers", "at most 20 headers"));
            }
            for (name, value) in headers {
                if let Err(why) = check_header(name, value) {
                    errors.push(FieldError::new("headers", why));
                }
            }
        }
        if let Some(Some(limit)) = c.rate_limit_per_s {
            if !(1..=MAX_RATE_LIMIT).contains(&limit) {
                errors.push(FieldError::new("rate_limit_per_s", "between 1 and 10000"));
            }
        }
        validate::finish(errors)
    }

    async fn check_webhook_url(&self, raw: &str) -> Result<(), String> {
        let deliverer = self.webhook_client();
        let url = switchboard_webhooks::ssrf::validate_url(raw, deliverer.policy())
            .map_err(|e| e.to_string())?;
        if let Some(url::Host::Domain(host)) = url.host() {
            // A name that does not resolve now is accepted (deliveries retry); one that resolves
            // to an address we may not call is not.
            if let Ok(ips) = self.webhook_lookup().lookup(host).await {
                for ip in ips {
                    check_ip(deliverer.policy(), host, ip)?;
                }
            }
        }
        Ok(())
    }

    pub async fn create_webhook_endpoint(
        &self,
        access: &TenantAccess,
        changes: EndpointChanges,
        meta: &RequestMeta,
    ) -> CoreResult<(WebhookEndpoint, Secret)> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let endpoints = self.list_webhook_endpoints(access).await?.len() as i64;
        self.check_quota(access, crate::quotas::Quota::WebhookEndpoints, endpoints)
            .await?;
        self.check_endpoint(&changes, true).await?;
        let now = self.now();
        let id = WebhookEndpointId::generate();
        let secret = Secret::generate();
        let endpoint = WebhookEndpoint {
            secret: self.seal_webhook_secret(access.ctx.tenant(), &id, &secret)?,
            id,
            url: changes.url.unwrap_or_default(),
            description: changes.description.unwrap_or_default(),
            event_types: changes.event_types.unwrap_or_default(),
            enabled: changes.enabled.unwrap_or(true),
            headers: changes.headers.unwrap_or_default(),
            rate_limit_per_s: changes.rate_limit_per_s.flatten(),
            previous_secret: None,
            previous_secret_expires_at: None,
            failing_since: None,
            disabled_reason: None,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let existing = tx.list_webhook_endpoints().await?;
        if existing.len() >= MAX_ENDPOINTS {
            return Err(CoreError::Conflict(
                "a tenant may have at most 100 webhook endpoints",
            ));
        }
        tx.insert_webhook_endpoint(&endpoint).await?;
        tx.adjust_webhook_endpoint_count(1).await?;
        if existing.is_empty() {
            // The tenant's first endpoint (again): dispatch starts after the events already
            // committed, so it receives what happens from now on (and its own creation), never
            // a backlog left from endpoints deleted long ago.
            let head = tx.outbox_head().await?;
            tx.reset_event_cursor(DISPATCH_CONSUMER, head).await?;
        }
        changes::record(
            &mut *tx,
            meta,
            "webhook_endpoint.created",
            "webhook_endpoint",
            endpoint.id.to_string(),
            endpoint_event(&endpoint),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((endpoint, secret))
    }

    pub async fn list_webhook_endpoints(
        &self,
        access: &TenantAccess,
    ) -> CoreResult<Vec<WebhookEndpoint>> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        Ok(tx.list_webhook_endpoints().await?)
    }

    pub async fn get_webhook_endpoint(
        &self,
        access: &TenantAccess,
        id: &WebhookEndpointId,
    ) -> CoreResult<WebhookEndpoint> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        tx.get_webhook_endpoint(id)
            .await?
            .ok_or(CoreError::NotFound)
    }

    pub async fn update_webhook_endpoint(
        &self,
        access: &TenantAccess,
        id: &WebhookEndpointId,
        changes: EndpointChanges,
        meta: &RequestMeta,
    ) -> CoreResult<WebhookEndpoint> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        self.check_endpoint(&changes, false).await?;
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let mut e = tx
            .get_webhook_endpoint(id)
            .await?
            .ok_or(CoreError::NotFound)?;
        if let Some(url) = changes.url {
            e.url = url;
        }
        if let Some(d) = changes.description {
            e.description = d;
        }
        if let Some(t) = changes.event_types {
            e.event_types = t;
        }
        if let Some(enabled) = changes.enabled {
            if enabled && !e.enabled {
                // Switched back on by a person: its failure record starts again.
                e.failing_since = None;
                e.disabled_reason = None;
            }
            e.enabled = enabled;
        }
        if let Some(h) = changes.headers {
            e.headers = h;
        }
        if let Some(limit) = changes.rate_limit_per_s {
            e.rate_limit_per_s = limit;
        }
        e.updated_at = now;
        tx.update_webhook_endpoint(&e).await?;
        changes::record(
            &mut *tx,
            meta,
            "webhook_endpoint.updated",
            "webhook_endpoint",
            e.id.to_string(),
            endpoint_event(&e),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(e)
    }

    pub async fn delete_webhook_endpoint(
        &self,
        access: &TenantAccess,
        id: &WebhookEndpointId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        if !tx.delete_webhook_endpoint(id).await? {
            return Err(CoreError::NotFound);
        }
        tx.adjust_webhook_endpoint_count(-1).await?;
        changes::record(
            &mut *tx,
            meta,
            "webhook_endpoint.deleted",
            "webhook_endpoint",
            id.to_string(),
            json!({"endpoint_id": id}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the signing secret; the old one keeps signing for [`SECRET_GRACE_MS`] so
    /// receivers can switch without losing a delivery. Returns the new secret (shown once).
    pub async fn rotate_webhook_secret(
        &self,
        access: &TenantAccess,
        id: &WebhookEndpointId,
        meta: &RequestMeta,
    ) -> CoreResult<Secret> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let mut e = tx
            .get_webhook_endpoint(id)
            .await?
            .ok_or(CoreError::NotFound)?;
        let secret = Secret::generate();
        e.previous_secret = Some(std::mem::replace(
            &mut e.secret,
            self.seal_webhook_secret(access.ctx.tenant(), id, &secret)?,
        ));
        e.previous_secret_expires_at = Some(now + SECRET_GRACE_MS);
        e.updated_at = now;
        tx.update_webhook_endpoint(&e).await?;
        changes::record(
            &mut *tx,
            meta,
            "webhook_endpoint.secret_rotated",
            "webhook_endpoint",
            id.to_string(),
            json!({"endpoint_id": id, "previous_secret_expires_at": crate::clock::rfc3339(now + SECRET_GRACE_MS)}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// A system context for background work on `tenant`'s webhooks (`None` when the tenant is
    /// gone).
    pub(crate) async fn webhook_ctx(&self, tenant: &TenantId) -> CoreResult<Option<TenantCtx>> {
        self.system_ctx(tenant, "webhooks").await
    }
}

/// The scheme, host and port of an endpoint URL: what events show of it, since receivers often
/// keep a token in the path or query and events reach roles that cannot manage webhooks.
pub(crate) fn url_origin(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// An endpoint as events describe it (never its secret, header values or URL path).
pub(crate) fn endpoint_event(e: &WebhookEndpoint) -> serde_json::Value {
    json!({
        "endpoint_id": e.id,
        "url": url_origin(&e.url),
        "description": e.description,
        "event_types": e.event_types,
        "enabled": e.enabled,
        "header_names": e.headers.keys().collect::<Vec<_>>(),
        "rate_limit_per_s": e.rate_limit_per_s,
    })
}

fn check_ip(
    policy: &switchboard_webhooks::AddressPolicy,
    host: &str,
    ip: IpAddr,
) -> Result<(), String> {
    policy.check(ip).map_err(|reason| {
        // The address itself stays in the server log: tenants may not map internal names.
        tracing::info!(%host, %ip, "webhook URL refused: it resolves to a blocked address");
        format!("{host} resolves to {reason}, which webhooks may not call")
    })
}

fn check_header(name: &str, value: &str) -> Result<(), String> {
    let shown: String = name.chars().take(MAX_HEADER_NAME).collect();
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || name.len() > MAX_HEADER_NAME || !name.bytes().all(token) {
        return Err(format!("`{shown}` is not a valid header name"));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&lower.as_str())
        || lower.starts_with("webhook-")
        || lower.starts_with("proxy-")
    {
        return Err(format!(
            "`{shown}` is set by Switchboard and cannot be replaced"
        ));
    }
    if value.len() > MAX_HEADER_VALUE
        || !value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        return Err(format!(
            "the value of `{shown}` must be printable ASCII of at most 1000 characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_checked() {
        assert!(check_header("X-Team", "support").is_ok());
        for bad in [
            "",
            "X Team",
            "X-Team\r\nEvil",
            "Host",
            "webhook-id",
            "Webhook-Signature",
            "Content-Length",
            "Proxy-Authorization",
        ] {
            assert!(check_header(bad, "v").is_err(), "{bad}");
        }
        assert!(check_header("X-A", "line\r\nbreak").is_err());
        assert!(check_header("X-A", &"v".repeat(1001)).is_err());
    }
}
