//! The tenant's audit log: filtered listing, JSONL export for SIEMs, and chain verification.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Tenant, ValidQuery, Validate};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::audit::VerifyReport;
use switchboard_core::clock::parse_rfc3339;
use switchboard_core::FieldError;
use switchboard_store::model::{AuditFilter, AuditRecord};
use switchboard_store::Access;
use switchboard_types::{Actor, AuditEventId, ErrorCode};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(export_events))
        .routes(routes!(verify_chain))
}

/// One audit entry with its chain hashes.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventOut {
    pub seq: i64,
    pub id: AuditEventId,
    pub occurred_at: String,
    pub actor: Actor,
    #[schema(example = "api_key.created")]
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditRecord> for AuditEventOut {
    fn from(r: AuditRecord) -> Self {
        Self {
            seq: r.seq,
            id: r.id,
            occurred_at: ts(r.occurred_at),
            actor: r.actor,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            outcome: r.outcome,
            ip: r.ip,
            user_agent: r.user_agent,
            request_id: r.request_id,
            details: r.details,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

/// Newest first; page with `before` = the last `seq` seen.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEventOut>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub target_id: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: Option<String>,
    /// RFC 3339, inclusive.
    pub since: Option<String>,
    /// RFC 3339, exclusive.
    pub until: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub before: Option<String>,
}

impl Validate for AuditQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        for (name, v) in [("since", &self.since), ("until", &self.until)] {
            if v.as_deref().is_some_and(|s| parse_rfc3339(s).is_none()) {
                e.push(FieldError::new(name, "must be an RFC 3339 timestamp"));
            }
        }
        if self.limit.is_some_and(|n| !(1..=200).contains(&n)) {
            e.push(FieldError::new("limit", "must be between 1 and 200"));
        }
        if self
            .before
            .as_deref()
            .is_some_and(|b| b.parse::<i64>().is_err())
        {
            e.push(FieldError::new(
                "before",
                "must be a cursor from a previous page",
            ));
        }
        if self
            .outcome
            .as_deref()
            .is_some_and(|o| !["success", "failure", "denied"].contains(&o))
        {
            e.push(FieldError::new(
                "outcome",
                "must be success, failure or denied",
            ));
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }
}

fn require_auditor(access: &switchboard_core::TenantAccess) -> ApiResult<()> {
    if access.role.can_read_audit() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "Reading the audit log needs the owner, admin or auditor role.",
        ))
    }
}

/// List audit entries (owner, admin, auditor).
#[utoipa::path(get, path = "/v1/audit-events", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn list_events(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidQuery(q): ValidQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    require_auditor(&access)?;
    let size = q.limit.unwrap_or(50);
    let filter = AuditFilter {
        action: q.action,
        actor_id: q.actor_id,
        target_id: q.target_id,
        outcome: q.outcome,
        since: q.since.as_deref().and_then(parse_rfc3339),
        until: q.until.as_deref().and_then(parse_rfc3339),
        before_seq: q.before.as_deref().and_then(|b| b.parse().ok()),
        limit: size + 1,
    };
    let mut rows = state.core.audit_log(&access, &filter).await?;
    let more = rows.len() > usize::try_from(size).unwrap_or(50);
    rows.truncate(usize::try_from(size).unwrap_or(50));
    let next_cursor = if more {
        rows.last().map(|r| r.seq.to_string())
    } else {
        None
    };
    Ok(Json(AuditPage {
        data: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// The whole chain as JSON Lines, oldest first, for SIEM ingestion and offline verification.
#[utoipa::path(get, path = "/v1/audit-events/export", tag = "audit", security(("bearer" = [])),
    responses((status = 200, content_type = "application/x-ndjson", body = String), (status = 403, body = crate::error::Problem)))]
async fn export_events(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Response> {
    require_auditor(&access)?;
    let mut tx = state.core.store().tenant(&access.ctx, Access::Read).await?;
    let mut out = String::new();
    let mut after = 0;
    loop {
        let page = tx.audit_chain(after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in page {
            let line = serde_json::to_string(&AuditEventOut::from(r)).map_err(|e| {
                ApiError::from(switchboard_core::CoreError::Internal(e.to_string()))
            })?;
            out.push_str(&line);
            out.push('\n');
        }
    }
    let mut res = out.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(res)
}

/// Recompute the chain and report the first entry that was altered, removed or reordered.
#[utoipa::path(get, path = "/v1/audit-events/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = VerifyOut), (status = 403, body = crate::error::Problem)))]
async fn verify_chain(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Json<VerifyOut>> {
    require_auditor(&access)?;
    let report = state.core.verify_audit(&access).await?;
    Ok(Json(report.into()))
}

/// The result of a chain verification.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyOut {
    pub ok: bool,
    pub entries: i64,
    pub first_bad_seq: Option<i64>,
    pub reason: Option<String>,
}

impl From<VerifyReport> for VerifyOut {
    fn from(r: VerifyReport) -> Self {
        Self {
            ok: r.first_bad.is_none(),
            entries: r.entries,
            first_bad_seq: r.first_bad.as_ref().map(|b| b.seq),
            reason: r.first_bad.map(|b| b.reason),
        }
    }
}
