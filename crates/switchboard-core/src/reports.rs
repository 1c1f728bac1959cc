//! Reports: conversation counts, response and resolution times, bot resolution and hand-off
//! rates, and CSAT, by range and by inbox, agent, team or label, grouped by day, week or month,
//! each duration also in business hours when a calendar is given.
//!
//! Exact definitions (also in docs/reports.md):
//! - A conversation's **cycle** starts when it is created, reopened after being resolved, or
//!   handed off from a bot to people; bot time before a hand-off is not counted.
//! - **First response time**: from the start of a cycle to the first reply to the customer by a
//!   person (a user or an API key) in that cycle.
//! - **Reply time**: for every reply by a person while the customer was waiting, from
//!   `waiting_since` (the customer's first unanswered message) to the reply.
//! - **Resolution time**: from the start of the cycle to its resolution.
//! - **Bot resolution rate**: resolutions in which no person replied, over all resolutions.
//! - **Hand-off rate**: hand-offs over conversations created.
//! - **CSAT**: a survey goes out with every resolution; score = the average rating (1–5),
//!   satisfaction = the share of ratings of 4 or 5, response rate = answers over surveys sent.
//! - **AI outcomes** (see [`AiOutcomes`]): conversations *in play* are those with a creation,
//!   AI reply, hand-off or resolution in the range; *AI-involved* ones got at least one AI reply.
//!   Involvement rate = AI-involved / in play; AI resolution rate = AI-involved conversations
//!   resolved with no person's reply in the cycle and not reopened within 72 h / AI-involved;
//!   hand-off rate = conversations the AI handed to people / conversations the AI took up
//!   (replied in or handed off); automation rate = involvement × AI resolution (= AI-resolved /
//!   in play); deflection rate = AI-involved conversations that never reached a person (no
//!   hand-off, no reply by a person) / AI-involved.
//!
//! The facts are written by the changes themselves, in their transactions (`metric_events`).

use crate::audit::RequestMeta;
use crate::calendar::Calendar;
use crate::error::{CoreError, CoreResult, FieldError};
use crate::{events, secrets, Core, TenantAccess};
use serde_json::json;
use std::collections::BTreeMap;
use switchboard_store::model::{Conversation, CsatSurvey, MetricEvent, MetricFilter};
use switchboard_store::{Access, StoreError, TenantCtx, TenantTx};
use switchboard_types::{
    Actor, ActorKind, CalendarId, CsatSurveyId, InboxId, LabelId, MetricEventId, TeamId, TenantId,
    TenantStatus,
};

/// Writes one fact about `c` in the change's transaction.
pub(crate) async fn record(
    tx: &mut (dyn TenantTx + '_),
    kind: &str,
    c: &Conversation,
    agent: Option<String>,
    started_at: i64,
    at: i64,
    value: Option<i64>,
) -> Result<(), StoreError> {
    tx.insert_metric(&MetricEvent {
        id: MetricEventId::generate(),
        kind: kind.to_owned(),
        conversation_id: c.id.clone(),
        inbox_id: c.inbox_id.clone(),
        agent_id: agent,
        team_id: c.team_id.clone(),
        started_at,
        at,
        value,
    })
    .await
}

/// When the conversation's current cycle started.
pub(crate) async fn cycle_start(
    tx: &mut (dyn TenantTx + '_),
    c: &Conversation,
) -> Result<i64, StoreError> {
    let last = tx
        .latest_metric(&c.id, &["reopened", "handoff"])
        .await?
        .map_or(c.created_at, |m| m.at);
    Ok(last.max(c.created_at))
}

/// The person behind an actor, for attribution (API keys count as themselves).
pub(crate) fn person(actor: &Actor) -> Option<String> {
    matches!(actor.kind, ActorKind::User | ActorKind::ApiKey).then(|| actor.id.clone())
}

/// Records a reply by a person: a reply time when the customer was waiting, and the cycle's
/// first response when it is the first.
pub(crate) async fn on_reply(
    tx: &mut (dyn TenantTx + '_),
    c: &Conversation,
    waiting_since: Option<i64>,
    actor: &Actor,
    now: i64,
) -> Result<(), StoreError> {
    let Some(agent) = person(actor) else {
        return Ok(());
    };
    if let Some(ws) = waiting_since {
        record(tx, "reply", c, Some(agent.clone()), ws, now, None).await?;
    }
    let start = cycle_start(tx, c).await?;
    let answered = tx
        .latest_metric(&c.id, &["first_response"])
        .await?
        .is_some_and(|m| m.at >= start);
    if !answered {
        record(tx, "first_response", c, Some(agent), start, now, None).await?;
    }
    Ok(())
}

/// A survey's answer link: the tenant (so the public answer needs no cross-tenant look-up) and a
/// MAC of the survey id under a key derived from the server secret, so it is never stored and
/// only the customer's channels are given it.
pub fn survey_path(key: &[u8; 32], tenant: &TenantId, survey: &CsatSurveyId) -> String {
    let mac = crate::widget::hmac_hex(key, &format!("csat|{survey}"));
    format!("/csat/{}.{mac}", tenant.as_str().trim_start_matches("ten_"))
}

/// Records a resolution (once per cycle) and sends the CSAT survey; returns the survey's id.
pub(crate) async fn on_resolved(
    tx: &mut (dyn TenantTx + '_),
    c: &Conversation,
    key: &[u8; 32],
    now: i64,
) -> Result<CsatSurveyId, StoreError> {
    let start = cycle_start(tx, c).await?;
    let already = tx
        .latest_metric(&c.id, &["resolution"])
        .await?
        .is_some_and(|m| m.at >= start);
    let person_replied = tx
        .latest_metric(&c.id, &["reply", "first_response"])
        .await?
        .is_some_and(|m| m.at >= start);
    let agent = c.assignee_id.as_ref().map(|u| u.to_string());
    if !already {
        record(
            tx,
            "resolution",
            c,
            agent.clone(),
            start,
            now,
            Some(i64::from(!person_replied)),
        )
        .await?;
    }
    // The survey token names the tenant, so the public answer needs no cross-tenant look-up.
    let id = CsatSurveyId::generate();
    let path = survey_path(key, tx.ctx().tenant(), &id);
    let token = path.trim_start_matches("/csat/");
    tx.insert_csat(&CsatSurvey {
        id: id.clone(),
        conversation_id: c.id.clone(),
        token_hash: secrets::token_hash(token),
        sent_at: now,
        rating: None,
        comment: None,
        responded_at: None,
    })
    .await?;
    record(tx, "csat_sent", c, agent, now, now, None).await?;
    Ok(id)
}

/// Summary statistics of durations.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DurationStats {
    pub count: usize,
    pub avg_ms: Option<i64>,
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

fn stats(mut v: Vec<i64>) -> DurationStats {
    if v.is_empty() {
        return DurationStats::default();
    }
    v.sort_unstable();
    let n = v.len();
    let pick = |q: f64| v[((n as f64 - 1.0) * q).round() as usize];
    DurationStats {
        count: n,
        avg_ms: Some(v.iter().sum::<i64>() / n as i64),
        median_ms: Some(pick(0.5)),
        p90_ms: Some(pick(0.9)),
    }
}

/// CSAT figures.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CsatStats {
    pub surveys_sent: usize,
    pub responses: usize,
    pub response_rate: Option<f64>,
    pub average_score: Option<f64>,
    pub satisfaction_rate: Option<f64>,
}

/// What the AI did (definitions in the module documentation and docs/reports.md).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AiOutcomes {
    pub conversations_in_play: usize,
    pub ai_involved: usize,
    pub ai_resolved: usize,
    pub ai_handoffs: usize,
    pub deflected: usize,
    pub involvement_rate: Option<f64>,
    pub ai_resolution_rate: Option<f64>,
    pub handoff_rate: Option<f64>,
    pub automation_rate: Option<f64>,
    pub deflection_rate: Option<f64>,
}

/// How long after a resolution a reopening takes the AI's resolution back.
pub const AI_REOPEN_WINDOW_MS: i64 = 72 * 3_600_000;

fn ai_outcomes(facts: &[&MetricEvent], reopened: &BTreeMap<String, Vec<i64>>) -> AiOutcomes {
    use std::collections::BTreeSet;
    let convs = |kinds: &[&str]| -> BTreeSet<&str> {
        facts
            .iter()
            .filter(|m| kinds.contains(&m.kind.as_str()))
            .map(|m| m.conversation_id.as_str())
            .collect()
    };
    let in_play = convs(&["created", "ai_reply", "handoff", "resolution"]);
    let involved = convs(&["ai_reply"]);
    let took_up = convs(&["ai_reply", "ai_handoff"]);
    let ai_handoffs = convs(&["ai_handoff"]);
    let reached_person = convs(&["handoff", "first_response", "reply"]);
    let resolved: BTreeSet<&str> = facts
        .iter()
        .filter(|m| m.kind == "resolution" && m.value == Some(1))
        .filter(|m| involved.contains(m.conversation_id.as_str()))
        .filter(|m| {
            !reopened
                .get(m.conversation_id.as_str())
                .is_some_and(|times| {
                    times
                        .iter()
                        .any(|t| *t > m.at && *t <= m.at + AI_REOPEN_WINDOW_MS)
                })
        })
        .map(|m| m.conversation_id.as_str())
        .collect();
    let deflected = involved.difference(&reached_person).count();
    let involvement = ratio(involved.len(), in_play.len());
    let resolution = ratio(resolved.len(), involved.len());
    AiOutcomes {
        conversations_in_play: in_play.len(),
        ai_involved: involved.len(),
        ai_resolved: resolved.len(),
        ai_handoffs: ai_handoffs.len(),
        deflected,
        involvement_rate: involvement,
        ai_resolution_rate: resolution,
        handoff_rate: ratio(ai_handoffs.len(), took_up.len()),
        automation_rate: involvement.zip(resolution).map(|(a, b)| a * b),
        deflection_rate: ratio(deflected, involved.len()),
    }
}

/// One set of figures.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Metrics {
    pub conversations_created: usize,
    pub conversations_resolved: usize,
    pub first_response_time: DurationStats,
    pub reply_time: DurationStats,
    pub resolution_time: DurationStats,
    /// The same durations counted in the calendar's business hours (when one was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_response_time_business: Option<DurationStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_time_business: Option<DurationStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution_time_business: Option<DurationStats>,
    pub bot_resolutions: usize,
    pub bot_resolution_rate: Option<f64>,
    pub handoffs: usize,
    pub handoff_rate: Option<f64>,
    pub csat: CsatStats,
    pub ai: AiOutcomes,
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn of<'a>(
    facts: &'a [&'a MetricEvent],
    kind: &'a str,
) -> impl Iterator<Item = &'a MetricEvent> + 'a {
    facts.iter().copied().filter(move |m| m.kind == kind)
}

fn compute(
    facts: &[&MetricEvent],
    calendar: Option<&Calendar>,
    reopened: &BTreeMap<String, Vec<i64>>,
) -> Metrics {
    let of = |k: &'static str| of(facts, k);
    let spans = |k: &'static str| of(k).map(|m| m.at - m.started_at).collect::<Vec<_>>();
    let business = |k: &'static str| {
        calendar.map(|cal| {
            stats(
                of(k)
                    .map(|m| cal.business_ms_between(m.started_at, m.at))
                    .collect(),
            )
        })
    };
    let created = of("created").count();
    let resolved = of("resolution").count();
    let bot = of("resolution").filter(|m| m.value == Some(1)).count();
    let handoffs = of("handoff").count();
    let ratings: Vec<i64> = of("csat").filter_map(|m| m.value).collect();
    let sent = of("csat_sent").count();
    Metrics {
        conversations_created: created,
        conversations_resolved: resolved,
        first_response_time: stats(spans("first_response")),
        reply_time: stats(spans("reply")),
        resolution_time: stats(spans("resolution")),
        first_response_time_business: business("first_response"),
        reply_time_business: business("reply"),
        resolution_time_business: business("resolution"),
        bot_resolutions: bot,
        bot_resolution_rate: ratio(bot, resolved),
        handoffs,
        handoff_rate: ratio(handoffs, created),
        csat: CsatStats {
            surveys_sent: sent,
            responses: ratings.len(),
            response_rate: ratio(ratings.len(), sent),
            average_score: (!ratings.is_empty())
                .then(|| ratings.iter().sum::<i64>() as f64 / ratings.len() as f64),
            satisfaction_rate: ratio(ratings.iter().filter(|r| **r >= 4).count(), ratings.len()),
        },
        ai: ai_outcomes(facts, reopened),
    }
}

/// How a report splits its figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    None,
    Day,
    Week,
    Month,
    Inbox,
    Agent,
    Team,
}

impl GroupBy {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "day" => Self::Day,
            "week" => Self::Week,
            "month" => Self::Month,
            "inbox" => Self::Inbox,
            "agent" => Self::Agent,
            "team" => Self::Team,
            _ => return None,
        })
    }
}

/// What a report covers.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    pub since: i64,
    pub until: i64,
    pub inbox_id: Option<InboxId>,
    pub agent_id: Option<String>,
    pub team_id: Option<TeamId>,
    pub label_id: Option<LabelId>,
    pub group_by: GroupBy,
    /// IANA zone for day/week/month buckets.
    pub timezone: String,
    pub calendar_id: Option<CalendarId>,
}

/// A report: the totals and, when grouped, the figures per group (key: the bucket's first day,
/// or the inbox/agent/team id; facts without an agent or team are under `none`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    pub totals: Metrics,
    pub groups: Vec<(String, Metrics)>,
    /// How the range's figures spread, for charts.
    pub spread: Spread,
}

/// Upper bounds (exclusive) of the duration buckets charts use, with their names; the last
/// bucket takes everything longer.
pub const DURATION_BUCKETS: &[(i64, &str)] = &[
    (60_000, "under 1 min"),
    (5 * 60_000, "1–5 min"),
    (15 * 60_000, "5–15 min"),
    (3_600_000, "15–60 min"),
    (4 * 3_600_000, "1–4 h"),
    (24 * 3_600_000, "4–24 h"),
    (i64::MAX, "over 1 day"),
];

/// The shape of a range: when conversations arrive and how long they wait.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Spread {
    /// Conversations created, by weekday (Monday first) and hour, in the report's time zone.
    pub created_by_weekday_hour: Vec<Vec<usize>>,
    /// First responses per bucket of [`DURATION_BUCKETS`].
    pub first_response: Vec<usize>,
    /// Resolutions per bucket of [`DURATION_BUCKETS`].
    pub resolution: Vec<usize>,
    /// Satisfaction answers rated 1 to 5.
    pub ratings: Vec<usize>,
}

fn bucket_of(ms: i64) -> usize {
    DURATION_BUCKETS
        .iter()
        .position(|(bound, _)| ms < *bound)
        .unwrap_or(DURATION_BUCKETS.len() - 1)
}

fn spread(facts: &[MetricEvent], tz: &jiff::tz::TimeZone) -> Spread {
    let mut out = Spread {
        created_by_weekday_hour: vec![vec![0; 24]; 7],
        first_response: vec![0; DURATION_BUCKETS.len()],
        resolution: vec![0; DURATION_BUCKETS.len()],
        ratings: vec![0; 5],
    };
    for m in facts {
        match m.kind.as_str() {
            "created" => {
                if let Ok(ts) = jiff::Timestamp::from_millisecond(m.at) {
                    let dt = tz.to_datetime(ts);
                    let day = usize::try_from(dt.weekday().to_monday_zero_offset()).unwrap_or(0);
                    let hour = usize::try_from(dt.hour()).unwrap_or(0);
                    if let Some(cell) = out
                        .created_by_weekday_hour
                        .get_mut(day)
                        .and_then(|row| row.get_mut(hour))
                    {
                        *cell += 1;
                    }
                }
            }
            "first_response" => out.first_response[bucket_of(m.at - m.started_at)] += 1,
            "resolution" => out.resolution[bucket_of(m.at - m.started_at)] += 1,
            "csat" => {
                if let Some(r) = m.value.filter(|r| (1..=5).contains(r)) {
                    out.ratings[usize::try_from(r - 1).unwrap_or(0)] += 1;
                }
            }
            _ => {}
        }
    }
    out
}

/// The most facts one report reads (the store returns at most this many).
pub const MAX_FACTS: usize = 500_000;

/// The most a report may span.
pub const MAX_RANGE_MS: i64 = 400 * 24 * 3600 * 1000;

fn bucket(at: i64, by: GroupBy, tz: &jiff::tz::TimeZone) -> String {
    let Ok(ts) = jiff::Timestamp::from_millisecond(at) else {
        return "invalid".into();
    };
    let date = tz.to_datetime(ts).date();
    let first = match by {
        GroupBy::Week => date
            .checked_sub(jiff::Span::new().days(i64::from(date.weekday().to_monday_zero_offset())))
            .unwrap_or(date),
        GroupBy::Month => date.first_of_month(),
        _ => date,
    };
    first.to_string()
}

impl Core {
    /// Figures for a range (owner, admin, auditor and agents may read reports).
    pub async fn report(&self, access: &TenantAccess, q: ReportQuery) -> CoreResult<Report> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        if q.until <= q.since {
            errors.push(FieldError::new("until", "must be after since"));
        } else if q.until - q.since > MAX_RANGE_MS {
            errors.push(FieldError::new("until", "a report spans at most 400 days"));
        }
        let tz = match jiff::tz::TimeZone::get(&q.timezone) {
            Ok(tz) => Some(tz),
            Err(_) => {
                errors.push(FieldError::new(
                    "timezone",
                    "an IANA time zone, e.g. Europe/Paris",
                ));
                None
            }
        };
        crate::validate::finish(errors)?;
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        let calendar = match &q.calendar_id {
            Some(id) => {
                let Some(c) = tx.get_calendar(id).await? else {
                    return Err(CoreError::field("calendar_id", "no such calendar"));
                };
                Some(crate::calendars::parse_spec(&c.spec)?.1)
            }
            None => None,
        };
        let facts = tx
            .list_metrics(&MetricFilter {
                kinds: Vec::new(),
                since: q.since,
                until: q.until,
                inbox_id: q.inbox_id.clone(),
                agent_id: q.agent_id.clone(),
                team_id: q.team_id.clone(),
                label_id: q.label_id.clone(),
            })
            .await?;
        if facts.len() >= MAX_FACTS {
            return Err(CoreError::field(
                "until",
                "too much activity in this range for one report: narrow the range or filter",
            ));
        }
        // Reopenings up to 72 h past the range take back AI resolutions near its end.
        let mut reopened: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for m in tx
            .list_metrics(&MetricFilter {
                kinds: vec!["reopened".into()],
                since: q.since,
                until: q.until.saturating_add(AI_REOPEN_WINDOW_MS),
                inbox_id: q.inbox_id.clone(),
                agent_id: None,
                team_id: None,
                label_id: None,
            })
            .await?
        {
            reopened
                .entry(m.conversation_id.to_string())
                .or_default()
                .push(m.at);
        }
        let all: Vec<&MetricEvent> = facts.iter().collect();
        let totals = compute(&all, calendar.as_ref(), &reopened);
        let tz = tz.unwrap_or(jiff::tz::TimeZone::UTC);
        let mut groups: BTreeMap<String, Vec<&MetricEvent>> = BTreeMap::new();
        if q.group_by != GroupBy::None {
            for m in &facts {
                let key = match q.group_by {
                    GroupBy::Day | GroupBy::Week | GroupBy::Month => bucket(m.at, q.group_by, &tz),
                    GroupBy::Inbox => m.inbox_id.to_string(),
                    GroupBy::Agent => m.agent_id.clone().unwrap_or_else(|| "none".into()),
                    GroupBy::Team => m
                        .team_id
                        .as_ref()
                        .map_or_else(|| "none".into(), ToString::to_string),
                    GroupBy::None => String::new(),
                };
                groups.entry(key).or_default().push(m);
            }
        }
        Ok(Report {
            spread: spread(&facts, &tz),
            totals,
            groups: groups
                .into_iter()
                .map(|(k, v)| (k, compute(&v, calendar.as_ref(), &reopened)))
                .collect(),
        })
    }

    /// A customer answers a satisfaction survey with its token (1–5 and an optional comment).
    /// Unknown tokens are 404; a second answer is a conflict.
    pub async fn answer_survey(
        &self,
        token: &str,
        rating: i64,
        comment: Option<String>,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !(1..=5).contains(&rating) {
            return Err(CoreError::field("rating", "from 1 to 5"));
        }
        if comment
            .as_ref()
            .is_some_and(|c| c.len() > 2000 || c.contains('\0'))
        {
            return Err(CoreError::field("comment", "at most 2,000 characters"));
        }
        let (ulid, _) = token.split_once('.').ok_or(CoreError::NotFound)?;
        let tenant_id: TenantId = format!("ten_{ulid}")
            .parse()
            .map_err(|_| CoreError::NotFound)?;
        let tenant = {
            let mut tx = self.store().control(Access::Read).await?;
            tx.get_tenant(&tenant_id).await?
        }
        .filter(|t| t.status == TenantStatus::Active)
        .ok_or(CoreError::NotFound)?;
        let actor = Actor {
            kind: ActorKind::System,
            id: "csat".to_owned(),
        };
        #[allow(clippy::disallowed_methods)] // the survey token is the credential (auth layer)
        let ctx = TenantCtx::assume(tenant.id.clone(), actor, tenant.region.clone());
        let now = self.now();
        let mut tx = self.store().tenant(&ctx, Access::Write).await?;
        let survey = tx
            .find_csat(&secrets::token_hash(token))
            .await?
            .ok_or(CoreError::NotFound)?;
        if !tx
            .answer_csat(&survey.id, rating, comment.as_deref(), now)
            .await?
        {
            return Err(CoreError::Conflict("an answer to this survey"));
        }
        let c = tx
            .get_conversation(&survey.conversation_id)
            .await?
            .ok_or(CoreError::NotFound)?;
        let agent = c.assignee_id.as_ref().map(|u| u.to_string());
        record(
            &mut *tx,
            "csat",
            &c,
            agent,
            survey.sent_at,
            now,
            Some(rating),
        )
        .await?;
        let data = json!({"conversation_id": c.id, "inbox_id": c.inbox_id, "survey_id": survey.id, "rating": rating, "comment": comment});
        crate::changes::record(
            &mut *tx,
            meta,
            "csat.answered",
            "conversation",
            c.id.to_string(),
            data,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The event announcing a survey, with the link the customer answers at.
/// Announces a survey. The event names it but carries no answer link: agents' sockets and
/// webhooks see events, and the link is the customer's alone (the widget's socket adds it;
/// integrators ask for it with `GET /v1/conversations/{id}/csat`, owner or admin).
pub(crate) async fn announce_survey(
    tx: &mut (dyn TenantTx + '_),
    c: &Conversation,
    survey: &CsatSurveyId,
    now: i64,
) -> Result<(), StoreError> {
    events::emit(
        tx,
        "csat.requested",
        json!({"conversation_id": c.id, "inbox_id": c.inbox_id, "contact_id": c.contact_id,
               "survey_id": survey}),
        now,
    )
    .await
}

impl Core {
    /// The answer link of a conversation's latest survey, for an integration that sends it to
    /// the customer itself (owner, admin).
    pub async fn survey_link(
        &self,
        access: &TenantAccess,
        conversation: &switchboard_types::ConversationId,
    ) -> CoreResult<Option<(CsatSurvey, String)>> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        tx.get_conversation(conversation)
            .await?
            .ok_or(CoreError::NotFound)?;
        Ok(tx.latest_csat(conversation).await?.map(|s| {
            let path = survey_path(&self.config().widget_key, access.ctx.tenant(), &s.id);
            (s, path)
        }))
    }

    /// The answer link of a survey (for the visitor's own socket).
    pub fn survey_path_for(&self, tenant: &TenantId, survey: &CsatSurveyId) -> String {
        survey_path(&self.config().widget_key, tenant, survey)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_spread_buckets_durations_hours_and_ratings() {
        let fact = |kind: &str, started_at: i64, at: i64, value: Option<i64>| MetricEvent {
            id: switchboard_types::MetricEventId::generate(),
            kind: kind.into(),
            conversation_id: switchboard_types::ConversationId::generate(),
            inbox_id: switchboard_types::InboxId::generate(),
            agent_id: None,
            team_id: None,
            started_at,
            at,
            value,
        };
        // 2026-11-30 was a Monday; 14:30 UTC.
        let monday = 1_796_049_000_000;
        let s = spread(
            &[
                fact("created", monday, monday, None),
                fact("first_response", 0, 30_000, None),
                fact("first_response", 0, 2 * 3_600_000, None),
                fact("resolution", 0, 3 * 86_400_000, None),
                fact("csat", 0, 0, Some(5)),
                fact("csat", 0, 0, Some(9)),
            ],
            &jiff::tz::TimeZone::UTC,
        );
        assert_eq!(s.created_by_weekday_hour[0][14], 1);
        assert_eq!(s.created_by_weekday_hour.iter().flatten().sum::<usize>(), 1);
        assert_eq!(s.first_response, vec![1, 0, 0, 0, 1, 0, 0]);
        assert_eq!(s.resolution, vec![0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(s.ratings, vec![0, 0, 0, 0, 1]);
    }

    use super::*;

    fn fact(kind: &str, started: i64, at: i64, value: Option<i64>) -> MetricEvent {
        MetricEvent {
            id: MetricEventId::generate(),
            kind: kind.into(),
            conversation_id: switchboard_types::ConversationId::generate(),
            inbox_id: InboxId::generate(),
            agent_id: None,
            team_id: None,
            started_at: started,
            at,
            value,
        }
    }

    #[test]
    fn figures_follow_the_definitions() {
        let facts = [
            fact("created", 0, 0, None),
            fact("created", 0, 0, None),
            fact("first_response", 0, 60_000, None),
            fact("first_response", 0, 180_000, None),
            fact("reply", 100, 1_100, None),
            fact("resolution", 0, 600_000, Some(0)),
            fact("resolution", 0, 300_000, Some(1)),
            fact("handoff", 10, 10, None),
            fact("csat_sent", 0, 0, None),
            fact("csat_sent", 0, 0, None),
            fact("csat", 0, 0, Some(5)),
        ];
        let refs: Vec<&MetricEvent> = facts.iter().collect();
        let m = compute(&refs, None, &BTreeMap::new());
        assert_eq!(m.conversations_created, 2);
        assert_eq!(m.first_response_time.avg_ms, Some(120_000));
        assert_eq!(m.first_response_time.median_ms, Some(180_000));
        assert_eq!(m.reply_time.avg_ms, Some(1_000));
        assert_eq!(m.resolution_time.count, 2);
        assert_eq!(m.bot_resolution_rate, Some(0.5));
        assert_eq!(m.handoff_rate, Some(0.5));
        assert_eq!(m.csat.response_rate, Some(0.5));
        assert_eq!(m.csat.average_score, Some(5.0));
        assert_eq!(m.csat.satisfaction_rate, Some(1.0));
        assert!(m.first_response_time_business.is_none());
        assert_eq!(compute(&[], None, &BTreeMap::new()), Metrics::default());
    }

    fn on(
        conv: &switchboard_types::ConversationId,
        kind: &str,
        at: i64,
        value: Option<i64>,
    ) -> MetricEvent {
        MetricEvent {
            conversation_id: conv.clone(),
            ..fact(kind, at, at, value)
        }
    }

    #[test]
    fn ai_outcomes_follow_their_definitions() {
        use switchboard_types::ConversationId;
        let [a, b, c, d, e] = std::array::from_fn(|_| ConversationId::generate());
        let facts = [
            // a: AI answered, resolved with no person, never reopened → AI-resolved, deflected.
            on(&a, "created", 0, None),
            on(&a, "ai_reply", 1, None),
            on(&a, "resolution", 2, Some(1)),
            // b: AI answered, resolved, reopened within 72 h → not AI-resolved; still deflected.
            on(&b, "created", 0, None),
            on(&b, "ai_reply", 1, None),
            on(&b, "resolution", 2, Some(1)),
            // c: AI answered, then handed off to a person who replied.
            on(&c, "created", 0, None),
            on(&c, "ai_reply", 1, None),
            on(&c, "ai_handoff", 2, None),
            on(&c, "handoff", 2, None),
            on(&c, "first_response", 3, None),
            // d: the AI handed off at once (took it up, never involved).
            on(&d, "created", 0, None),
            on(&d, "ai_handoff", 1, None),
            on(&d, "handoff", 1, None),
            // e: people only.
            on(&e, "created", 0, None),
            on(&e, "first_response", 1, None),
        ];
        let mut reopened = BTreeMap::new();
        reopened.insert(b.to_string(), vec![2 + AI_REOPEN_WINDOW_MS - 1]);
        reopened.insert(a.to_string(), vec![2 + AI_REOPEN_WINDOW_MS + 1]);
        let refs: Vec<&MetricEvent> = facts.iter().collect();
        let o = compute(&refs, None, &reopened).ai;
        assert_eq!(
            (
                o.conversations_in_play,
                o.ai_involved,
                o.ai_resolved,
                o.ai_handoffs,
                o.deflected
            ),
            (5, 3, 1, 2, 2)
        );
        assert_eq!(o.involvement_rate, Some(0.6));
        assert_eq!(o.ai_resolution_rate, Some(1.0 / 3.0));
        assert_eq!(o.handoff_rate, Some(0.5));
        assert_eq!(o.automation_rate, Some(0.6 / 3.0));
        assert_eq!(o.deflection_rate, Some(2.0 / 3.0));
    }

    #[test]
    fn buckets_start_on_the_local_day_monday_or_first_of_month() {
        let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
        // 2026-11-30 03:00 UTC is still Sunday the 29th in New York.
        let at = 1_796_007_600_000;
        assert_eq!(bucket(at, GroupBy::Day, &tz), "2026-11-29");
        assert_eq!(bucket(at, GroupBy::Week, &tz), "2026-11-23");
        assert_eq!(bucket(at, GroupBy::Month, &tz), "2026-11-01");
    }
}
