//! Stored business-hours calendars: CRUD, and evaluation (open now, next opening, business time
//! between two instants, deadline for a budget) for operators checking a calendar and for SLAs.

use crate::audit::{self, AuditDraft, RequestMeta};
use crate::calendar::{Calendar, CalendarSpec};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::tenants::conflict;
use crate::{changes, events, validate, Core, TenantAccess};
use serde_json::json;
use switchboard_store::model::BusinessCalendar;
use switchboard_store::Access;
use switchboard_types::CalendarId;

pub(crate) fn parse_spec(spec: &serde_json::Value) -> CoreResult<(CalendarSpec, Calendar)> {
    let parsed: CalendarSpec = serde_json::from_value(spec.clone())
        .map_err(|e| CoreError::field("spec", &e.to_string()))?;
    let calendar = Calendar::from_spec(&parsed).map_err(|errs| {
        CoreError::Validation(
            errs.into_iter()
                .map(|(f, m)| FieldError::new(format!("spec.{f}"), m))
                .collect(),
        )
    })?;
    Ok((parsed, calendar))
}

/// A calendar's answers about some instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub open: bool,
    pub next_open_at: Option<i64>,
    pub business_ms: Option<i64>,
    pub deadline_at: Option<i64>,
}

impl Core {
    pub async fn create_calendar(
        &self,
        access: &TenantAccess,
        name: &str,
        spec: serde_json::Value,
        meta: &RequestMeta,
    ) -> CoreResult<BusinessCalendar> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        validate::name("name", name, &mut errors);
        validate::finish(errors)?;
        let (parsed, _) = parse_spec(&spec)?;
        let now = self.now();
        let cal = BusinessCalendar {
            id: CalendarId::generate(),
            name: name.trim().to_owned(),
            spec: serde_json::to_value(parsed).map_err(|e| CoreError::Internal(e.to_string()))?,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        tx.insert_calendar(&cal)
            .await
            .map_err(|e| conflict(e, "a calendar with this name"))?;
        changes::record(
            &mut *tx,
            meta,
            "business_calendar.created",
            "business_calendar",
            cal.id.to_string(),
            json!({"calendar_id": cal.id, "name": cal.name}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(cal)
    }

    pub async fn list_calendars(&self, access: &TenantAccess) -> CoreResult<Vec<BusinessCalendar>> {
        if !access.role.can_read_members() {
            return Err(CoreError::Forbidden);
        }
        Ok(self
            .store
            .tenant(&access.ctx, Access::Read)
            .await?
            .list_calendars()
            .await?)
    }

    pub async fn get_calendar(
        &self,
        access: &TenantAccess,
        id: &CalendarId,
    ) -> CoreResult<BusinessCalendar> {
        if !access.role.can_read_members() {
            return Err(CoreError::Forbidden);
        }
        self.store
            .tenant(&access.ctx, Access::Read)
            .await?
            .get_calendar(id)
            .await?
            .ok_or(CoreError::NotFound)
    }

    pub async fn update_calendar(
        &self,
        access: &TenantAccess,
        id: &CalendarId,
        name: Option<String>,
        spec: Option<serde_json::Value>,
        meta: &RequestMeta,
    ) -> CoreResult<BusinessCalendar> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        if let Some(n) = &name {
            validate::name("name", n, &mut errors);
        }
        validate::finish(errors)?;
        let parsed = spec.as_ref().map(parse_spec).transpose()?;
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        let mut cal = tx.get_calendar(id).await?.ok_or(CoreError::NotFound)?;
        let before = json!({"name": cal.name, "spec": cal.spec});
        if let Some(n) = name {
            cal.name = n.trim().to_owned();
        }
        if let Some((p, _)) = parsed {
            cal.spec = serde_json::to_value(p).map_err(|e| CoreError::Internal(e.to_string()))?;
        }
        cal.updated_at = now;
        if !tx
            .update_calendar(&cal)
            .await
            .map_err(|e| conflict(e, "a calendar with this name"))?
        {
            return Err(CoreError::NotFound);
        }
        events::emit(
            &mut *tx,
            "business_calendar.updated",
            json!({"calendar_id": cal.id, "name": cal.name}),
            now,
        )
        .await?;
        let draft = AuditDraft::success(
            "business_calendar.updated",
            "business_calendar",
            id.to_string(),
        )
        .with_details(json!({"before": before, "after": {"name": cal.name, "spec": cal.spec}}));
        audit::append(&mut *tx, access.ctx.actor(), meta, draft, now).await?;
        tx.commit().await?;
        Ok(cal)
    }

    pub async fn delete_calendar(
        &self,
        access: &TenantAccess,
        id: &CalendarId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        if !tx.delete_calendar(id).await? {
            return Err(CoreError::NotFound);
        }
        changes::record(
            &mut *tx,
            meta,
            "business_calendar.deleted",
            "business_calendar",
            id.to_string(),
            json!({"calendar_id": id}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Answers about a stored calendar at `at` (default: now), optionally the business time
    /// until `until` and the deadline `budget_ms` of business time after `at`.
    pub async fn evaluate_calendar(
        &self,
        access: &TenantAccess,
        id: &CalendarId,
        at: Option<i64>,
        until: Option<i64>,
        budget_ms: Option<i64>,
    ) -> CoreResult<Evaluation> {
        let stored = self.get_calendar(access, id).await?;
        let (_, cal) = parse_spec(&stored.spec)?;
        let at = at.unwrap_or_else(|| self.now());
        // Bounded so one request cannot walk years of calendar days.
        if until.is_some_and(|u| u - at > 2 * 366 * 24 * 3_600_000) {
            return Err(CoreError::field("until", "at most two years after at"));
        }
        Ok(Evaluation {
            open: cal.is_open(at),
            next_open_at: cal.next_open(at),
            business_ms: until.map(|u| cal.business_ms_between(at, u)),
            deadline_at: budget_ms.and_then(|b| cal.add_business_ms(at, b)),
        })
    }
}
