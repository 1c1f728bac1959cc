//! Operational events for the platform operator, delivered to one endpoint of the installation
//! (`webhooks.platform_url`, signed with `webhooks.platform_secret` as Standard Webhooks
//! deliveries): tenants suspended, resumed or deleted, tenants' webhook endpoints switched off,
//! background jobs that ran out of attempts. Each event is a job written in the same transaction
//! as its cause, so none is lost; the job queue retries a failed delivery with backoff.

use crate::error::{CoreError, CoreResult};
use crate::jobs::JobKind;
use crate::Core;
use serde_json::json;
use switchboard_store::model::NewJob;
use switchboard_types::{Actor, EventId, TenantId};
use switchboard_webhooks::{Outgoing, Secret};

/// Operational event types (the platform endpoint receives these; tenants cannot subscribe).
pub const PLATFORM_EVENT_TYPES: &[(&str, &str)] = &[
    (
        "endpoint.disabled",
        "A tenant's webhook endpoint was switched off (410 Gone, or five days of failures).",
    ),
    ("job.failed", "A background job ran out of attempts."),
    (
        "tenant.deleted",
        "A tenant was deleted; its data is being purged.",
    ),
    (
        "tenant.quota_exceeded",
        "A tenant tried to go past its plan's limit (members, inboxes or webhook endpoints).",
    ),
    ("tenant.resumed", "A suspended tenant was resumed."),
    ("tenant.suspended", "A tenant was suspended."),
];

/// Where operational events go.
#[derive(Debug, Clone)]
pub struct PlatformEndpoint {
    pub url: url::Url,
    pub secret: Secret,
}

impl Core {
    /// The job that delivers an operational event, when a platform endpoint is configured.
    pub(crate) fn platform_event(
        &self,
        event_type: &str,
        tenant: Option<&TenantId>,
        actor: &Actor,
        data: serde_json::Value,
        now: i64,
    ) -> Option<NewJob> {
        self.config().platform_endpoint.as_ref()?;
        let envelope = json!({
            "id": EventId::generate(),
            "type": event_type,
            "version": 1,
            "tenant_id": tenant,
            "occurred_at": crate::clock::rfc3339(now),
            "actor": actor,
            "data": data,
        });
        Some(JobKind::PlatformNotify { envelope }.into_new_job(now))
    }

    /// The job: one signed POST to the platform endpoint; anything but 2xx fails the job, which
    /// the queue retries.
    pub(crate) async fn notify_platform(&self, envelope: &serde_json::Value) -> CoreResult<()> {
        // Only processes configured with the endpoint work the platform queue; one that is not
        // (a configuration roll-out) fails the job, to be retried by one that is.
        let Some(endpoint) = &self.config().platform_endpoint else {
            return Err(CoreError::Internal(
                "no platform endpoint is configured in this process".into(),
            ));
        };
        let id = envelope["id"].as_str().unwrap_or_default().to_owned();
        let body = serde_json::to_vec(envelope).map_err(|e| CoreError::Internal(e.to_string()))?;
        let timestamp = self.clock().now_ms().div_euclid(1000);
        let signature = switchboard_webhooks::signing::signature_header(
            &[&endpoint.secret],
            &id,
            timestamp,
            &body,
        );
        let outcome = self
            .webhook_client()
            .send(Outgoing {
                url: &endpoint.url,
                msg_id: &id,
                timestamp,
                signature: &signature,
                body: body.into(),
                headers: &[],
            })
            .await;
        match outcome.status {
            Some(s) if (200..300).contains(&s) => Ok(()),
            status => Err(CoreError::Internal(format!(
                "the platform endpoint answered {status:?}: {}",
                outcome.error.unwrap_or_default()
            ))),
        }
    }
}
