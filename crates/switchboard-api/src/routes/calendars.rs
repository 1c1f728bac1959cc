//! Business-hours calendars.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Meta, Tenant, ValidJson, ValidQuery, Validate};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::clock::parse_rfc3339;
use switchboard_core::FieldError;
use switchboard_store::model::BusinessCalendar;
use switchboard_types::CalendarId;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_calendars, create_calendar))
        .routes(routes!(get_calendar, update_calendar, delete_calendar))
        .routes(routes!(evaluate_calendar))
}

/// A business-hours calendar.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarOut {
    pub id: CalendarId,
    pub name: String,
    /// `{"timezone": "Europe/London", "hours": {"mon": [["09:00", "17:00"]], …}, "holidays": ["2026-12-25"]}`
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<BusinessCalendar> for CalendarOut {
    fn from(c: BusinessCalendar) -> Self {
        Self {
            id: c.id,
            name: c.name,
            spec: c.spec,
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarList {
    pub data: Vec<CalendarOut>,
}

/// A calendar to create (owner, admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarIn {
    pub name: String,
    /// Time zone (IANA), intervals per weekday (`mon` … `sun`, local `HH:MM`, end exclusive,
    /// `24:00` allowed), holidays (`YYYY-MM-DD`).
    #[schema(value_type = Object, example = json!({"timezone": "Europe/London", "hours": {"mon": [["09:00", "17:00"]]}, "holidays": ["2026-12-25"]}))]
    pub spec: serde_json::Value,
}

impl Validate for CalendarIn {}

/// Changes to a calendar.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarPatch {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub spec: Option<serde_json::Value>,
}

impl Validate for CalendarPatch {}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EvaluateQuery {
    /// RFC 3339; defaults to now.
    pub at: Option<String>,
    /// RFC 3339: also report the business time from `at` until then.
    pub until: Option<String>,
    /// Also report when this many business minutes after `at` are used up.
    pub budget_minutes: Option<i64>,
}

impl Validate for EvaluateQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        for (name, v) in [("at", &self.at), ("until", &self.until)] {
            if v.as_deref().is_some_and(|s| parse_rfc3339(s).is_none()) {
                e.push(FieldError::new(name, "must be an RFC 3339 timestamp"));
            }
        }
        // Bounded so one request cannot walk years of calendar days.
        if self
            .budget_minutes
            .is_some_and(|b| !(0..=100_000).contains(&b))
        {
            e.push(FieldError::new("budget_minutes", "between 0 and 100000"));
        }
        if let (Some(a), Some(u)) = (
            self.at.as_deref().and_then(parse_rfc3339),
            self.until.as_deref().and_then(parse_rfc3339),
        ) {
            if u - a > 2 * 366 * 24 * 3_600_000 {
                e.push(FieldError::new("until", "at most two years after at"));
            }
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }
}

/// What a calendar says about an instant.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationOut {
    pub open: bool,
    pub next_open_at: Option<String>,
    pub business_minutes: Option<f64>,
    pub deadline_at: Option<String>,
}

fn calendar_id(raw: &str) -> ApiResult<CalendarId> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// List calendars.
#[utoipa::path(get, path = "/v1/business-calendars", tag = "users", security(("bearer" = [])), responses((status = 200, body = CalendarList)))]
async fn list_calendars(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Json<CalendarList>> {
    Ok(Json(CalendarList {
        data: state
            .core
            .list_calendars(&access)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

/// Create a calendar.
#[utoipa::path(post, path = "/v1/business-calendars", tag = "users", security(("bearer" = [])), request_body = CalendarIn,
    responses((status = 201, body = CalendarOut), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_calendar(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<CalendarIn>,
) -> ApiResult<(StatusCode, Json<CalendarOut>)> {
    let c = state
        .core
        .create_calendar(&access, &b.name, b.spec, &meta)
        .await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// One calendar.
#[utoipa::path(get, path = "/v1/business-calendars/{calendar_id}", tag = "users", security(("bearer" = [])), params(("calendar_id" = String, Path)),
    responses((status = 200, body = CalendarOut), (status = 404, body = crate::error::Problem)))]
async fn get_calendar(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<CalendarOut>> {
    Ok(Json(
        state
            .core
            .get_calendar(&access, &calendar_id(&id)?)
            .await?
            .into(),
    ))
}

/// Change a calendar.
#[utoipa::path(patch, path = "/v1/business-calendars/{calendar_id}", tag = "users", security(("bearer" = [])), params(("calendar_id" = String, Path)), request_body = CalendarPatch,
    responses((status = 200, body = CalendarOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn update_calendar(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<CalendarPatch>,
) -> ApiResult<Json<CalendarOut>> {
    Ok(Json(
        state
            .core
            .update_calendar(&access, &calendar_id(&id)?, b.name, b.spec, &meta)
            .await?
            .into(),
    ))
}

/// Delete a calendar.
#[utoipa::path(delete, path = "/v1/business-calendars/{calendar_id}", tag = "users", security(("bearer" = [])), params(("calendar_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_calendar(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .core
        .delete_calendar(&access, &calendar_id(&id)?, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ask a calendar: open at `at`? next opening? business time until `until`? deadline after
/// `budget_minutes` of business time?
#[utoipa::path(get, path = "/v1/business-calendars/{calendar_id}/evaluate", tag = "users", security(("bearer" = [])),
    params(("calendar_id" = String, Path), EvaluateQuery),
    responses((status = 200, body = EvaluationOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn evaluate_calendar(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
    ValidQuery(q): ValidQuery<EvaluateQuery>,
) -> ApiResult<Json<EvaluationOut>> {
    let at = q.at.as_deref().and_then(parse_rfc3339);
    let until = q.until.as_deref().and_then(parse_rfc3339);
    let e = state
        .core
        .evaluate_calendar(
            &access,
            &calendar_id(&id)?,
            at,
            until,
            q.budget_minutes.map(|m| m * 60_000),
        )
        .await?;
    Ok(Json(EvaluationOut {
        open: e.open,
        next_open_at: e.next_open_at.map(ts),
        business_minutes: e.business_ms.map(|ms| ms as f64 / 60_000.0),
        deadline_at: e.deadline_at.map(ts),
    }))
}
