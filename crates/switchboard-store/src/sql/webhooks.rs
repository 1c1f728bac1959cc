//! Webhook endpoints, failed deliveries, the attempt log and event cursors, for both engines.

use super::exec::{query, Row};
use super::rows;
use super::tenant::SqlTenantTx;
use crate::model::{
    StoredEvent, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint,
};
use crate::traits::WebhookTx;
use crate::StoreError;
use async_trait::async_trait;
use switchboard_types::{EventId, WebhookAttemptId, WebhookEndpointId};

/// Attempt rows per INSERT (13 parameters each; well under both engines' limits).
const ATTEMPT_ROWS_PER_INSERT: usize = 200;

const ENDPOINT_COLS: &str = "id, url, description, event_types, enabled, headers, \
     rate_limit_per_s, secret, previous_secret, previous_secret_expires_at, failing_since, \
     disabled_reason, created_at, updated_at";

const DELIVERY_COLS: &str = "endpoint_id, event_id, event_type, status, attempts, \
     next_attempt_at, last_status_code, last_error, created_at, updated_at";

const ATTEMPT_COLS: &str = "id, endpoint_id, event_id, event_type, attempt, cause, attempted_at, \
     status_code, duration_ms, response_body, error, succeeded";

fn bad(what: &str, value: &str) -> StoreError {
    StoreError::Invalid(format!("stored {what} is not valid: {value}"))
}

fn endpoint(row: &Row) -> Result<WebhookEndpoint, StoreError> {
    let types: String = row.try_get("event_types")?;
    let headers: String = row.try_get("headers")?;
    Ok(WebhookEndpoint {
        id: WebhookEndpointId::from_trusted(row.try_get("id")?),
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        event_types: serde_json::from_str(&types).map_err(|_| bad("event types", &types))?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        headers: serde_json::from_str(&headers).map_err(|_| bad("headers", &headers))?,
        rate_limit_per_s: row.try_get("rate_limit_per_s")?,
        secret: row.try_get("secret")?,
        previous_secret: row.try_get("previous_secret")?,
        previous_secret_expires_at: row.try_get("previous_secret_expires_at")?,
        failing_since: row.try_get("failing_since")?,
        disabled_reason: row.try_get("disabled_reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn delivery(row: &Row) -> Result<WebhookDelivery, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(WebhookDelivery {
        endpoint_id: WebhookEndpointId::from_trusted(row.try_get("endpoint_id")?),
        event_id: EventId::from_trusted(row.try_get("event_id")?),
        event_type: row.try_get("event_type")?,
        status: WebhookDeliveryStatus::parse(&status)
            .ok_or_else(|| bad("delivery status", &status))?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_status_code: row.try_get("last_status_code")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn attempt(row: &Row) -> Result<WebhookAttempt, StoreError> {
    Ok(WebhookAttempt {
        id: WebhookAttemptId::from_trusted(row.try_get("id")?),
        endpoint_id: WebhookEndpointId::from_trusted(row.try_get("endpoint_id")?),
        event_id: EventId::from_trusted(row.try_get("event_id")?),
        event_type: row.try_get("event_type")?,
        attempt: row.try_get("attempt")?,
        cause: row.try_get("cause")?,
        attempted_at: row.try_get("attempted_at")?,
        status_code: row.try_get("status_code")?,
        duration_ms: row.try_get("duration_ms")?,
        response_body: row.try_get("response_body")?,
        error: row.try_get("error")?,
        succeeded: row.try_get::<i64, _>("succeeded")? != 0,
    })
}

/// Binds an endpoint's id and fields in `ENDPOINT_COLS` order, up to `disabled_reason`.
fn bind_endpoint<'q>(q: super::exec::Query<'q>, e: &WebhookEndpoint) -> super::exec::Query<'q> {
    q.bind(e.id.as_str())
        .bind(e.url.as_str())
        .bind(e.description.as_str())
        .bind(json_text(&e.event_types))
        .bind(i64::from(e.enabled))
        .bind(json_text(&e.headers))
        .bind(e.rate_limit_per_s)
        .bind(e.secret.as_str())
        .bind(e.previous_secret.clone())
        .bind(e.previous_secret_expires_at)
        .bind(e.failing_since)
        .bind(e.disabled_reason.clone())
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

#[async_trait]
impl WebhookTx for SqlTenantTx {
    async fn insert_webhook_endpoint(&mut self, e: &WebhookEndpoint) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO webhook_endpoints (tenant_id, {ENDPOINT_COLS}) VALUES ($1, $2, $3, $4, \
             $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        );
        bind_endpoint(query(&sql).bind(self.tenant().to_owned()), e)
            .bind(e.created_at)
            .bind(e.updated_at)
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn get_webhook_endpoint(
        &mut self,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let sql = format!(
            "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2{}",
            self.lock_for_write()
        );
        query(&sql)
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?
            .as_ref()
            .map(endpoint)
            .transpose()
    }

    async fn list_webhook_endpoints(&mut self) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let sql = format!(
            "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY id"
        );
        query(&sql)
            .bind(self.tenant().to_owned())
            .fetch_all(&mut self.tx)
            .await?
            .iter()
            .map(endpoint)
            .collect()
    }

    async fn update_webhook_endpoint(&mut self, e: &WebhookEndpoint) -> Result<bool, StoreError> {
        let update = query(
            "UPDATE webhook_endpoints SET url = $3, description = $4, event_types = $5, \
             enabled = $6, headers = $7, rate_limit_per_s = $8, secret = $9, \
             previous_secret = $10, previous_secret_expires_at = $11, failing_since = $12, \
             disabled_reason = $13, updated_at = $14 WHERE tenant_id = $1 AND id = $2",
        );
        let done = bind_endpoint(update.bind(self.tenant().to_owned()), e)
            .bind(e.updated_at)
            .execute(&mut self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_webhook_endpoint(
        &mut self,
        id: &WebhookEndpointId,
    ) -> Result<bool, StoreError> {
        for table in ["webhook_attempts", "webhook_deliveries"] {
            let sql = format!("DELETE FROM {table} WHERE tenant_id = $1 AND endpoint_id = $2");
            query(&sql)
                .bind(self.tenant().to_owned())
                .bind(id.as_str())
                .execute(&mut self.tx)
                .await?;
        }
        let done = query("DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .execute(&mut self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn adjust_webhook_endpoint_count(&mut self, delta: i64) -> Result<(), StoreError> {
        query("UPDATE tenants SET webhook_endpoints = webhook_endpoints + $2 WHERE id = $1")
            .bind(self.tenant().to_owned())
            .bind(delta)
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn reset_event_cursor(&mut self, consumer: &str, seq: i64) -> Result<(), StoreError> {
        query(
            "INSERT INTO event_cursors (tenant_id, consumer, seq) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, consumer) DO UPDATE SET seq = excluded.seq",
        )
        .bind(self.tenant().to_owned())
        .bind(consumer)
        .bind(seq)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn claim_event_cursor(
        &mut self,
        consumer: &str,
        owner: &str,
        now: i64,
        lease_until: i64,
        start_seq: i64,
    ) -> Result<Option<i64>, StoreError> {
        // One statement, since readers claim on every pass: create the cursor already leased,
        // or take the lease over when it is free, ours, or run out; no row while another
        // owner's lease runs.
        let row = query(
            "INSERT INTO event_cursors (tenant_id, consumer, seq, lease_owner, lease_until) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, consumer) DO UPDATE \
             SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until \
             WHERE event_cursors.lease_owner IS NULL OR event_cursors.lease_owner = $4 \
             OR event_cursors.lease_until < $6 \
             RETURNING seq",
        )
        .bind(self.tenant().to_owned())
        .bind(consumer)
        .bind(start_seq)
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .fetch_optional(&mut self.tx)
        .await?;
        row.map(|r| r.try_get::<i64, _>("seq")).transpose()
    }

    async fn advance_event_cursor(
        &mut self,
        consumer: &str,
        owner: &str,
        seq: i64,
    ) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE event_cursors SET seq = $4 WHERE tenant_id = $1 AND consumer = $2 \
             AND lease_owner = $3 AND seq < $4",
        )
        .bind(self.tenant().to_owned())
        .bind(consumer)
        .bind(owner)
        .bind(seq)
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_webhook_attempts(
        &mut self,
        attempts: &[WebhookAttempt],
    ) -> Result<(), StoreError> {
        let tenant = self.tenant().to_owned();
        for chunk in attempts.chunks(ATTEMPT_ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO webhook_attempts (tenant_id, {ATTEMPT_COLS}) VALUES {}",
                super::values_placeholders(chunk.len(), 13, 0)
            );
            let mut q = query(&sql);
            for a in chunk {
                q = q
                    .bind(tenant.clone())
                    .bind(a.id.as_str())
                    .bind(a.endpoint_id.as_str())
                    .bind(a.event_id.as_str())
                    .bind(a.event_type.as_str())
                    .bind(a.attempt)
                    .bind(a.cause.as_str())
                    .bind(a.attempted_at)
                    .bind(a.status_code)
                    .bind(a.duration_ms)
                    .bind(a.response_body.as_str())
                    .bind(a.error.clone())
                    .bind(i64::from(a.succeeded));
            }
            q.execute(&mut self.tx).await?;
        }
        Ok(())
    }

    async fn list_webhook_attempts(
        &mut self,
        endpoint: &WebhookEndpointId,
        event: Option<&EventId>,
        before: Option<&WebhookAttemptId>,
        limit: i64,
    ) -> Result<Vec<WebhookAttempt>, StoreError> {
        let mut sql = format!(
            "SELECT {ATTEMPT_COLS} FROM webhook_attempts WHERE tenant_id = $1 AND endpoint_id = $2"
        );
        let mut q_args: Vec<String> = Vec::new();
        if let Some(e) = event {
            q_args.push(e.as_str().to_owned());
            sql.push_str(&format!(" AND event_id = ${}", 2 + q_args.len()));
        }
        if let Some(b) = before {
            q_args.push(b.as_str().to_owned());
            sql.push_str(&format!(" AND id < ${}", 2 + q_args.len()));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", 3 + q_args.len()));
        let mut q = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(endpoint.as_str());
        for a in q_args {
            q = q.bind(a);
        }
        q.bind(limit)
            .fetch_all(&mut self.tx)
            .await?
            .iter()
            .map(attempt)
            .collect()
    }

    async fn webhook_attempts_since(
        &mut self,
        endpoint: &WebhookEndpointId,
        since: i64,
        limit: i64,
    ) -> Result<Vec<WebhookAttempt>, StoreError> {
        let sql = format!(
            "SELECT {ATTEMPT_COLS} FROM webhook_attempts WHERE tenant_id = $1 AND endpoint_id = $2 \
             AND attempted_at >= $3 ORDER BY id DESC LIMIT $4"
        );
        query(&sql)
            .bind(self.tenant().to_owned())
            .bind(endpoint.as_str())
            .bind(since)
            .bind(limit)
            .fetch_all(&mut self.tx)
            .await?
            .iter()
            .map(attempt)
            .collect()
    }

    async fn upsert_webhook_delivery(&mut self, d: &WebhookDelivery) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO webhook_deliveries (tenant_id, {DELIVERY_COLS}) VALUES ($1, $2, $3, $4, \
             $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (tenant_id, endpoint_id, event_id) DO \
             UPDATE SET status = excluded.status, attempts = excluded.attempts, \
             next_attempt_at = excluded.next_attempt_at, \
             last_status_code = excluded.last_status_code, last_error = excluded.last_error, \
             updated_at = excluded.updated_at"
        );
        query(&sql)
            .bind(self.tenant().to_owned())
            .bind(d.endpoint_id.as_str())
            .bind(d.event_id.as_str())
            .bind(d.event_type.as_str())
            .bind(d.status.as_str())
            .bind(d.attempts)
            .bind(d.next_attempt_at)
            .bind(d.last_status_code)
            .bind(d.last_error.clone())
            .bind(d.created_at)
            .bind(d.updated_at)
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn get_webhook_delivery(
        &mut self,
        endpoint: &WebhookEndpointId,
        event: &EventId,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE tenant_id = $1 \
             AND endpoint_id = $2 AND event_id = $3{}",
            self.lock_for_write()
        );
        query(&sql)
            .bind(self.tenant().to_owned())
            .bind(endpoint.as_str())
            .bind(event.as_str())
            .fetch_optional(&mut self.tx)
            .await?
            .as_ref()
            .map(delivery)
            .transpose()
    }

    async fn list_webhook_deliveries(
        &mut self,
        endpoint: &WebhookEndpointId,
        status: Option<WebhookDeliveryStatus>,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let filter = match status {
            Some(_) => "status = $3",
            None => "status IN ('pending', 'dead') AND created_at >= $3",
        };
        let sql = format!(
            "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE tenant_id = $1 \
             AND endpoint_id = $2 AND {filter} ORDER BY created_at DESC, event_id DESC LIMIT $4"
        );
        let q = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(endpoint.as_str());
        let q = match status {
            Some(s) => q.bind(s.as_str()),
            None => q.bind(since.unwrap_or(0)),
        };
        q.bind(limit)
            .fetch_all(&mut self.tx)
            .await?
            .iter()
            .map(delivery)
            .collect()
    }

    async fn outbox_event(&mut self, id: &EventId) -> Result<Option<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {} FROM outbox_events WHERE tenant_id = $1 AND id = $2",
            rows::OUTBOX_COLS
        );
        query(&sql)
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?
            .as_ref()
            .map(rows::stored_event)
            .transpose()
    }
}
