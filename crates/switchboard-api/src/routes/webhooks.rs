//! Webhook endpoints, their attempt log, failed deliveries, replay and recovery; the event
//! catalog integrators subscribe from.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Meta, Tenant, ValidJson, ValidQuery, Validate};
use crate::routes::{path_id, ts};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use switchboard_core::webhook_dispatch::EndpointStats;
use switchboard_core::webhooks::EndpointChanges;
use switchboard_store::model::{
    WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint,
};
use switchboard_types::{EventId, WebhookAttemptId, WebhookEndpointId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_event_types))
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_attempts))
        .routes(routes!(list_deliveries))
        .routes(routes!(endpoint_stats))
        .routes(routes!(replay))
        .routes(routes!(recover))
}

/// One type of the event catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeOut {
    #[schema(example = "message.created")]
    pub name: String,
    pub version: u32,
    pub description: String,
    /// JSON Schema (2020-12) of the whole event, generated from the payload's Rust type.
    #[schema(value_type = Object)]
    pub schema: serde_json::Value,
    /// An event of this type with placeholder values.
    #[schema(value_type = Object)]
    pub example: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeList {
    pub data: Vec<EventTypeOut>,
}

/// A webhook endpoint (its secret is shown only when created or rotated).
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointOut {
    pub id: WebhookEndpointId,
    #[schema(example = "https://hooks.example.com/switchboard")]
    pub url: String,
    pub description: String,
    /// Event types or families (`conversation.*`) delivered; empty: every type.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why Switchboard disabled it (`gone`: the receiver answered 410; `failing`: five days of
    /// failures), if it did.
    pub disabled_reason: Option<String>,
    /// When the failures since the last success began; absent while healthy.
    pub failing_since: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub rate_limit_per_s: Option<i64>,
    /// Until when the secret before the last rotation still signs deliveries.
    pub previous_secret_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<WebhookEndpoint> for EndpointOut {
    fn from(e: WebhookEndpoint) -> Self {
        Self {
            id: e.id,
            url: e.url,
            description: e.description,
            event_types: e.event_types,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since.map(ts),
            headers: e.headers,
            rate_limit_per_s: e.rate_limit_per_s,
            previous_secret_expires_at: e.previous_secret_expires_at.map(ts),
            created_at: ts(e.created_at),
            updated_at: ts(e.updated_at),
        }
    }
}

/// A new endpoint with its signing secret: store the secret now, it is not shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointCreated {
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    pub data: Vec<EndpointOut>,
}

/// An endpoint to create (owner, admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointIn {
    /// http(s), at most 2,000 characters, no credentials, not a private address.
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Deliveries per second (1–10,000); absent for no limit.
    #[serde(default)]
    pub rate_limit_per_s: Option<i64>,
}

impl Validate for EndpointIn {}

/// Changes to an endpoint; absent fields are kept, `rate_limit_per_s: null` removes the limit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "crate::routes::nullable")]
    #[schema(value_type = Option<i64>)]
    pub rate_limit_per_s: Option<Option<i64>>,
}

impl Validate for EndpointPatch {}

/// A freshly rotated secret; the previous one keeps signing for 24 hours.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretOut {
    pub secret: String,
    pub previous_secret_expires_at: String,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptOut {
    pub id: WebhookAttemptId,
    pub event_id: EventId,
    pub event_type: String,
    /// 1 for the first attempt of this event at this endpoint.
    pub attempt: i64,
    /// `dispatch`, `retry`, `replay` or `recover`.
    pub cause: String,
    pub attempted_at: String,
    pub status_code: Option<i64>,
    pub duration_ms: i64,
    /// The start of the response body (at most 20 KB).
    pub response_body: String,
    pub error: Option<String>,
    pub succeeded: bool,
}

impl From<WebhookAttempt> for AttemptOut {
    fn from(a: WebhookAttempt) -> Self {
        Self {
            id: a.id,
            event_id: a.event_id,
            event_type: a.event_type,
            attempt: a.attempt,
            cause: a.cause,
            attempted_at: ts(a.attempted_at),
            status_code: a.status_code,
            duration_ms: a.duration_ms,
            response_body: a.response_body,
            error: a.error,
            succeeded: a.succeeded,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptPage {
    pub data: Vec<AttemptOut>,
    /// Pass as `before` for older attempts; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A delivery that failed at least once.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOut {
    pub event_id: EventId,
    pub event_type: String,
    /// `pending` (waiting for a retry), `dead` (out of attempts) or `succeeded`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<WebhookDelivery> for DeliveryOut {
    fn from(d: WebhookDelivery) -> Self {
        Self {
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at.map(ts),
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: ts(d.created_at),
            updated_at: ts(d.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub data: Vec<DeliveryOut>,
}

/// An endpoint's health over a window.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsOut {
    pub window_hours: i64,
    pub attempts: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub success_rate: Option<f64>,
    pub latency_p50_ms: Option<i64>,
    pub latency_p95_ms: Option<i64>,
    pub latency_p99_ms: Option<i64>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AttemptQuery {
    /// Only attempts at this event.
    pub event_id: Option<String>,
    /// An attempt id from `next_cursor`: older attempts.
    pub before: Option<String>,
    /// 1–200 (default 50).
    pub limit: Option<i64>,
}

impl Validate for AttemptQuery {}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// `dead` (the dead-letter list, default), `pending` or `succeeded`.
    pub status: Option<String>,
    pub limit: Option<i64>,
}

impl Validate for DeliveryQuery {}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// 1–720 (default 24).
    pub window_hours: Option<i64>,
}

impl Validate for StatsQuery {}

/// The event to send again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayIn {
    pub event_id: String,
}

impl Validate for ReplayIn {}

/// Failed deliveries created at or after `since` (RFC 3339) get a fresh schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverIn {
    #[schema(example = "2026-12-01T00:00:00Z")]
    pub since: String,
}

impl Validate for RecoverIn {}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoverOut {
    /// Deliveries scheduled for a new attempt.
    pub scheduled: usize,
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::from(switchboard_core::CoreError::field(field, message))
}

/// The event catalog: every type with its version, meaning, JSON Schema and an example.
#[utoipa::path(get, path = "/v1/event-types", tag = "events", security(("bearer" = [])), responses((status = 200, body = EventTypeList)))]
async fn list_event_types(Tenant(_access): Tenant) -> ApiResult<Json<EventTypeList>> {
    Ok(Json(EventTypeList {
        data: crate::catalog::event_catalog()
            .into_iter()
            .map(|t| EventTypeOut {
                name: t.name,
                version: t.version,
                description: t.description,
                schema: t.schema,
                example: t.example,
            })
            .collect(),
    }))
}

/// List webhook endpoints.
#[utoipa::path(get, path = "/v1/webhooks", tag = "events", security(("bearer" = [])), responses((status = 200, body = EndpointList), (status = 403, body = crate::error::Problem)))]
async fn list_endpoints(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Json<EndpointList>> {
    let data = state.core.list_webhook_endpoints(&access).await?;
    Ok(Json(EndpointList {
        data: data.into_iter().map(Into::into).collect(),
    }))
}

/// Create a webhook endpoint. The response carries its signing secret, shown this once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "events", security(("bearer" = [])), request_body = EndpointIn,
    responses((status = 201, body = EndpointCreated), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_endpoint(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointCreated>)> {
    let changes = EndpointChanges {
        url: Some(b.url),
        description: b.description,
        event_types: b.event_types,
        enabled: b.enabled,
        headers: b.headers,
        rate_limit_per_s: Some(b.rate_limit_per_s),
    };
    let (endpoint, secret) = state
        .core
        .create_webhook_endpoint(&access, changes, &meta)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(EndpointCreated {
            endpoint: endpoint.into(),
            secret: secret.expose(),
        }),
    ))
}

/// Get a webhook endpoint.
#[utoipa::path(get, path = "/v1/webhooks/{endpoint_id}", tag = "events", security(("bearer" = [])), params(("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointOut), (status = 404, body = crate::error::Problem)))]
async fn get_endpoint(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointOut>> {
    let id: WebhookEndpointId = path_id(&id)?;
    Ok(Json(
        state.core.get_webhook_endpoint(&access, &id).await?.into(),
    ))
}

/// Change a webhook endpoint. Enabling a disabled endpoint clears its failure record.
#[utoipa::path(patch, path = "/v1/webhooks/{endpoint_id}", tag = "events", security(("bearer" = [])), params(("endpoint_id" = String, Path)), request_body = EndpointPatch,
    responses((status = 200, body = EndpointOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn update_endpoint(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    let id: WebhookEndpointId = path_id(&id)?;
    let changes = EndpointChanges {
        url: b.url,
        description: b.description,
        event_types: b.event_types,
        enabled: b.enabled,
        headers: b.headers,
        rate_limit_per_s: b.rate_limit_per_s,
    };
    Ok(Json(
        state
            .core
            .update_webhook_endpoint(&access, &id, changes, &meta)
            .await?
            .into(),
    ))
}

/// Delete a webhook endpoint with its attempt log and failed deliveries.
#[utoipa::path(delete, path = "/v1/webhooks/{endpoint_id}", tag = "events", security(("bearer" = [])), params(("endpoint_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_endpoint(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: WebhookEndpointId = path_id(&id)?;
    state
        .core
        .delete_webhook_endpoint(&access, &id, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate the signing secret. Both secrets sign deliveries for the next 24 hours.
#[utoipa::path(post, path = "/v1/webhooks/{endpoint_id}/secret/rotate", tag = "events", security(("bearer" = [])), params(("endpoint_id" = String, Path)),
    responses((status = 200, body = SecretOut), (status = 404, body = crate::error::Problem)))]
async fn rotate_secret(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<Json<SecretOut>> {
    let id: WebhookEndpointId = path_id(&id)?;
    let secret = state
        .core
        .rotate_webhook_secret(&access, &id, &meta)
        .await?;
    let endpoint = state.core.get_webhook_endpoint(&access, &id).await?;
    Ok(Json(SecretOut {
        secret: secret.expose(),
        previous_secret_expires_at: endpoint
            .previous_secret_expires_at
            .map(ts)
            .unwrap_or_default(),
    }))
}

/// The endpoint's attempt log, newest first.
#[utoipa::path(get, path = "/v1/webhooks/{endpoint_id}/attempts", tag = "events", security(("bearer" = [])), params(("endpoint_id" = String, Path), AttemptQuery),
    responses((status = 200, body = AttemptPage), (status = 404, body = crate::error::Problem)))]
async fn list_attempts(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
    ValidQuery(q): ValidQuery<AttemptQuery>,
) -> ApiResult<Json<AttemptPage>> {
    let id: WebhookEndpointId = path_id(&id)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(invalid("limit", "between 1 and 200"));
    }
    let event: Option<EventId> = match q.event_id {
        Some(e) => Some(e.parse().map_err(|_| invalid("event_id", "an event id"))?),
        None => None,
    };
    let before: Option<WebhookAttemptId> = match q.before {
        Some(b) => Some(b.parse().map_err(|_| invalid("before", "an attempt id"))?),
        None => None,
    };
    let mut rows = state
        .core
        .webhook_attempts(&access, &id, event.as_ref(), before.as_ref(), limit + 1)
        .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(50));
    let next_cursor = more
        .then(|| rows.last().map(|a| a.id.to_string()))
        .flatten();
    Ok(Json(AttemptPage {
        data: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// The endpoint's failed deliveries: the dead-letter list (default) or those waiting for a
/// retry.
#[utoipa::path(get, path = "/v1/webhooks/{endpoint_id}/deliveries", tag = "events", security(("bearer" = [])), params(("endpoint_id" = String, Path), DeliveryQuery),
    responses((status = 200, body = DeliveryList), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn list_deliveries(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
    ValidQuery(q): ValidQuery<DeliveryQuery>,
) -> ApiResult<Json<DeliveryList>> {
    let id: WebhookEndpointId = path_id(&id)?;
    let status = match q.status.as_deref() {
        None => WebhookDeliveryStatus::Dead,
        Some(s) => WebhookDeliveryStatus::parse(s)
            .ok_or_else(|| invalid("status", "dead, pending or succeeded"))?,
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(invalid("limit", "between 1 and 200"));
    }
    let rows = state
        .core
        .webhook_deliveries(&access, &id, status, limit)
        .await?;
    Ok(Json(DeliveryList {
        data: rows.into_iter().map(Into::into).collect(),
    }))
}

/// The endpoint's success rate and latency percentiles.
#[utoipa::path(get, path = "/v1/webhooks/{endpoint_id}/stats", tag = "events", security(("bearer" = [])), params(("endpoint_id" = String, Path), StatsQuery),
    responses((status = 200, body = StatsOut), (status = 404, body = crate::error::Problem)))]
async fn endpoint_stats(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
    ValidQuery(q): ValidQuery<StatsQuery>,
) -> ApiResult<Json<StatsOut>> {
    let id: WebhookEndpointId = path_id(&id)?;
    let hours = q.window_hours.unwrap_or(24);
    if !(1..=720).contains(&hours) {
        return Err(invalid("window_hours", "between 1 and 720"));
    }
    let s: EndpointStats = state
        .core
        .webhook_stats(&access, &id, hours * 3_600_000)
        .await?;
    Ok(Json(StatsOut {
        window_hours: hours,
        attempts: s.attempts,
        succeeded: s.succeeded,
        failed: s.failed,
        success_rate: s.success_rate,
        latency_p50_ms: s.latency_p50_ms,
        latency_p95_ms: s.latency_p95_ms,
        latency_p99_ms: s.latency_p99_ms,
    }))
}

/// Send one event to the endpoint again now; answers with the attempt.
#[utoipa::path(post, path = "/v1/webhooks/{endpoint_id}/replay", tag = "events", security(("bearer" = [])), params(("endpoint_id" = String, Path)), request_body = ReplayIn,
    responses((status = 200, body = AttemptOut), (status = 404, body = crate::error::Problem)))]
async fn replay(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<ReplayIn>,
) -> ApiResult<Json<AttemptOut>> {
    let id: WebhookEndpointId = path_id(&id)?;
    let event: EventId = path_id(&b.event_id)?;
    Ok(Json(
        state
            .core
            .replay_webhook(&access, &id, &event, &meta)
            .await?
            .into(),
    ))
}

/// Give every failed delivery since a time a fresh attempt and schedule.
#[utoipa::path(post, path = "/v1/webhooks/{endpoint_id}/recover", tag = "events", security(("bearer" = [])), params(("endpoint_id" = String, Path)), request_body = RecoverIn,
    responses((status = 202, body = RecoverOut), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn recover(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<RecoverIn>,
) -> ApiResult<(StatusCode, Json<RecoverOut>)> {
    let id: WebhookEndpointId = path_id(&id)?;
    let since = switchboard_core::clock::parse_rfc3339(&b.since)
        .ok_or_else(|| invalid("since", "an RFC 3339 time"))?;
    let scheduled = state
        .core
        .recover_webhooks(&access, &id, since, &meta)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(RecoverOut { scheduled })))
}
