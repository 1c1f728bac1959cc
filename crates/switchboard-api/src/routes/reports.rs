//! Reports (`GET /v1/reports/summary`) and the public CSAT answer (`POST /csat/{token}`).

use crate::error::{ApiError, ApiResult};
use crate::extract::{Meta, Tenant, ValidJson, ValidQuery, Validate};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::clock::parse_rfc3339;
use switchboard_core::reports::{
    AiOutcomes, CsatStats, DurationStats, GroupBy, Metrics, ReportQuery,
};
use switchboard_core::FieldError;
use switchboard_types::{CalendarId, InboxId, LabelId, TeamId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(answer_survey))
        .routes(routes!(survey_link))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// Start of the range (RFC 3339, inclusive).
    pub since: String,
    /// End of the range (RFC 3339, exclusive); at most 400 days after `since`.
    pub until: String,
    pub inbox_id: Option<String>,
    /// A user id (or an API key id, for replies sent with a key).
    pub agent_id: Option<String>,
    pub team_id: Option<String>,
    pub label_id: Option<String>,
    /// `none` (default), `day`, `week`, `month`, `inbox`, `agent` or `team`.
    pub group_by: Option<String>,
    /// IANA time zone of day/week/month buckets (default UTC).
    pub timezone: Option<String>,
    /// Also count durations in this calendar's business hours.
    pub calendar_id: Option<String>,
}

impl Validate for SummaryQuery {}

/// Durations in milliseconds.
#[derive(Debug, Serialize, ToSchema)]
pub struct DurationOut {
    pub count: usize,
    pub avg_ms: Option<i64>,
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

impl From<DurationStats> for DurationOut {
    fn from(d: DurationStats) -> Self {
        Self {
            count: d.count,
            avg_ms: d.avg_ms,
            median_ms: d.median_ms,
            p90_ms: d.p90_ms,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CsatOut {
    pub surveys_sent: usize,
    pub responses: usize,
    pub response_rate: Option<f64>,
    /// Average rating, 1 to 5.
    pub average_score: Option<f64>,
    /// Share of ratings of 4 or 5.
    pub satisfaction_rate: Option<f64>,
}

impl From<CsatStats> for CsatOut {
    fn from(c: CsatStats) -> Self {
        Self {
            surveys_sent: c.surveys_sent,
            responses: c.responses,
            response_rate: c.response_rate,
            average_score: c.average_score,
            satisfaction_rate: c.satisfaction_rate,
        }
    }
}

/// What the AI did; definitions in docs/reports.md.
#[derive(Debug, Serialize, ToSchema)]
pub struct AiOut {
    /// Conversations created, answered by the AI, handed off or resolved in the range.
    pub conversations_in_play: usize,
    /// Conversations the AI replied in.
    pub ai_involved: usize,
    /// AI-involved conversations resolved with no person's reply and not reopened within 72 h.
    pub ai_resolved: usize,
    /// Conversations the AI handed to people.
    pub ai_handoffs: usize,
    /// AI-involved conversations that never reached a person.
    pub deflected: usize,
    pub involvement_rate: Option<f64>,
    pub ai_resolution_rate: Option<f64>,
    pub handoff_rate: Option<f64>,
    /// Involvement × AI resolution.
    pub automation_rate: Option<f64>,
    pub deflection_rate: Option<f64>,
}

impl From<AiOutcomes> for AiOut {
    fn from(a: AiOutcomes) -> Self {
        Self {
            conversations_in_play: a.conversations_in_play,
            ai_involved: a.ai_involved,
            ai_resolved: a.ai_resolved,
            ai_handoffs: a.ai_handoffs,
            deflected: a.deflected,
            involvement_rate: a.involvement_rate,
            ai_resolution_rate: a.ai_resolution_rate,
            handoff_rate: a.handoff_rate,
            automation_rate: a.automation_rate,
            deflection_rate: a.deflection_rate,
        }
    }
}

/// One set of figures; definitions in docs/reports.md.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricsOut {
    pub conversations_created: usize,
    pub conversations_resolved: usize,
    pub first_response_time: DurationOut,
    pub reply_time: DurationOut,
    pub resolution_time: DurationOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_response_time_business: Option<DurationOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_time_business: Option<DurationOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution_time_business: Option<DurationOut>,
    pub bot_resolutions: usize,
    pub bot_resolution_rate: Option<f64>,
    pub handoffs: usize,
    pub handoff_rate: Option<f64>,
    pub csat: CsatOut,
    pub ai: AiOut,
}

impl From<Metrics> for MetricsOut {
    fn from(m: Metrics) -> Self {
        Self {
            conversations_created: m.conversations_created,
            conversations_resolved: m.conversations_resolved,
            first_response_time: m.first_response_time.into(),
            reply_time: m.reply_time.into(),
            resolution_time: m.resolution_time.into(),
            first_response_time_business: m.first_response_time_business.map(Into::into),
            reply_time_business: m.reply_time_business.map(Into::into),
            resolution_time_business: m.resolution_time_business.map(Into::into),
            bot_resolutions: m.bot_resolutions,
            bot_resolution_rate: m.bot_resolution_rate,
            handoffs: m.handoffs,
            handoff_rate: m.handoff_rate,
            csat: m.csat.into(),
            ai: m.ai.into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupOut {
    /// The bucket's first day (`YYYY-MM-DD`), or the inbox, agent or team id (`none` for facts
    /// without one).
    pub key: String,
    pub metrics: MetricsOut,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportOut {
    pub since: String,
    pub until: String,
    pub totals: MetricsOut,
    pub groups: Vec<GroupOut>,
}

fn id<T: std::str::FromStr>(field: &str, raw: &Option<String>) -> Result<Option<T>, FieldError> {
    raw.as_deref()
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| FieldError::new(field, "not a valid id"))
        })
        .transpose()
}

/// Conversation, response, resolution, bot and CSAT figures for a range.
#[utoipa::path(get, path = "/v1/reports/summary", tag = "reports", security(("bearer" = [])), params(SummaryQuery),
    responses((status = 200, body = ReportOut), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn summary(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidQuery(q): ValidQuery<SummaryQuery>,
) -> ApiResult<Json<ReportOut>> {
    let mut errors = Vec::new();
    let since = parse_rfc3339(&q.since);
    let until = parse_rfc3339(&q.until);
    if since.is_none() {
        errors.push(FieldError::new("since", "an RFC 3339 time"));
    }
    if until.is_none() {
        errors.push(FieldError::new("until", "an RFC 3339 time"));
    }
    let group_by = match q.group_by.as_deref().map(GroupBy::parse) {
        None => GroupBy::None,
        Some(Some(g)) => g,
        Some(None) => {
            errors.push(FieldError::new(
                "group_by",
                "none, day, week, month, inbox, agent or team",
            ));
            GroupBy::None
        }
    };
    let inbox_id: Option<InboxId> = id("inbox_id", &q.inbox_id).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let team_id: Option<TeamId> = id("team_id", &q.team_id).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let label_id: Option<LabelId> = id("label_id", &q.label_id).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let calendar_id: Option<CalendarId> = id("calendar_id", &q.calendar_id).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    if q.agent_id.as_ref().is_some_and(|a| a.len() > 64) {
        errors.push(FieldError::new("agent_id", "not a valid id"));
    }
    let (Some(since), Some(until), true) = (since, until, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let report = state
        .core
        .report(
            &access,
            ReportQuery {
                since,
                until,
                inbox_id,
                agent_id: q.agent_id,
                team_id,
                label_id,
                group_by,
                timezone: q.timezone.unwrap_or_else(|| "UTC".into()),
                calendar_id,
            },
        )
        .await?;
    Ok(Json(ReportOut {
        since: crate::routes::ts(since),
        until: crate::routes::ts(until),
        totals: report.totals.into(),
        groups: report
            .groups
            .into_iter()
            .map(|(key, m)| GroupOut {
                key,
                metrics: m.into(),
            })
            .collect(),
    }))
}

/// A conversation's latest satisfaction survey and its answer link.
#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyLinkOut {
    #[schema(value_type = String)]
    pub survey_id: switchboard_types::CsatSurveyId,
    /// `POST` the answer here (relative to the server's public URL).
    pub survey_path: String,
    pub sent_at: String,
    pub rating: Option<i64>,
    pub responded_at: Option<String>,
}

/// The answer link of a conversation's latest survey, for integrations that deliver it to the
/// customer themselves (owner, admin; events never carry it).
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/csat", tag = "reports", security(("bearer" = [])),
    params(("conversation_id" = String, Path)),
    responses((status = 200, body = SurveyLinkOut), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
async fn survey_link(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<SurveyLinkOut>> {
    let conversation: switchboard_types::ConversationId =
        id.parse().map_err(|_| ApiError::not_found())?;
    let (s, path) = state
        .core
        .survey_link(&access, &conversation)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(SurveyLinkOut {
        survey_id: s.id,
        survey_path: path,
        sent_at: crate::routes::ts(s.sent_at),
        rating: s.rating,
        responded_at: s.responded_at.map(crate::routes::ts),
    }))
}

/// A customer's answer to a satisfaction survey.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveyAnswer {
    /// 1 (very unhappy) to 5 (very happy).
    pub rating: i64,
    pub comment: Option<String>,
}

impl Validate for SurveyAnswer {}

/// Answer a satisfaction survey with the token from its link (`csat.requested` event). Once.
#[utoipa::path(post, path = "/csat/{token}", tag = "reports", params(("token" = String, Path)), request_body = SurveyAnswer,
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn answer_survey(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(token): Path<String>,
    ValidJson(b): ValidJson<SurveyAnswer>,
) -> ApiResult<StatusCode> {
    if token.len() > 200 {
        return Err(ApiError::not_found());
    }
    state
        .core
        .answer_survey(&token, b.rating, b.comment, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
