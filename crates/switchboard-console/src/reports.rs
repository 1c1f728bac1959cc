//! The reports page: the inbox's figures (definitions in docs/reports.md) over a range, filtered
//! by inbox, team or agent, drawn as server-side SVG charts, and downloadable as CSV.

use crate::auth::Agent;
use crate::charts::{bars, heatmap, histogram, Series};
use crate::error::{ConsoleError, ConsoleResult};
use crate::view::{page, tenant_access, Shell};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use switchboard_api::AppState;
use switchboard_core::reports::{DurationStats, GroupBy, Metrics, ReportQuery, DURATION_BUCKETS};
use switchboard_store::model::PageRequest;

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Default, Deserialize)]
pub struct ReportForm {
    /// Days back from now: 7, 30, 90 or 365.
    days: Option<i64>,
    inbox: Option<String>,
    team: Option<String>,
    agent: Option<String>,
    /// An IANA time zone for days and hours (default UTC).
    tz: Option<String>,
    /// `csv` to download the figures per day.
    format: Option<String>,
}

struct Card {
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    shell: Shell,
    days: i64,
    tz: String,
    cards: Vec<Card>,
    volume: String,
    first_response: String,
    resolution: String,
    heat: String,
    ratings: String,
    /// `(period, created, resolved, first response median, resolution median, CSAT)`.
    table: Vec<(String, usize, usize, String, String, String)>,
    inboxes: Vec<(String, String, bool)>,
    teams: Vec<(String, String, bool)>,
    agents: Vec<(String, String, bool)>,
    csv_query: String,
}

fn duration(ms: Option<i64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) if ms < 60_000 => format!("{} s", ms / 1000),
        Some(ms) if ms < 3_600_000 => format!("{} min", ms / 60_000),
        Some(ms) if ms < DAY_MS => format!("{:.1} h", ms as f64 / 3_600_000.0),
        Some(ms) => format!("{:.1} d", ms as f64 / DAY_MS as f64),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{:.0}%", v * 100.0))
}

fn median(d: &DurationStats) -> String {
    duration(d.median_ms)
}

fn csat(m: &Metrics) -> String {
    m.csat
        .average_score
        .map_or_else(|| "—".into(), |s| format!("{s:.1} / 5"))
}

/// The names of the days (or weeks, starting on Monday) from `since` to `until` in `tz`, as
/// the report names its groups.
fn periods(since: i64, until: i64, weeks: bool, tz: &str) -> Vec<String> {
    let tz = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    let date = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| tz.to_datetime(t).date())
            .ok()
    };
    let (Some(mut day), Some(last)) = (date(since), date(until - 1)) else {
        return Vec::new();
    };
    if weeks {
        let back = i64::from(day.weekday().to_monday_zero_offset());
        day = day.checked_sub(jiff::Span::new().days(back)).unwrap_or(day);
    }
    let step = jiff::Span::new().days(if weeks { 7 } else { 1 });
    let mut out = Vec::new();
    while day <= last && out.len() < 400 {
        out.push(day.to_string());
        match day.checked_add(step) {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    out
}

/// `GET /app/t/{tenant}/reports`.
pub async fn reports(
    State(state): State<AppState>,
    agent: Agent,
    Path(tenant): Path<String>,
    Query(f): Query<ReportForm>,
) -> ConsoleResult<Response> {
    let access = tenant_access(&state, &agent, &tenant).await?;
    let days = match f.days.unwrap_or(30) {
        d @ (7 | 30 | 90 | 365) => d,
        _ => {
            return Err(ConsoleError::BadRequest(
                "Choose 7, 30, 90 or 365 days.".into(),
            ))
        }
    };
    let bad = |what: &str| ConsoleError::BadRequest(format!("Unknown {what}."));
    let pick = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let inbox = match pick(&f.inbox) {
        Some(v) => Some(v.parse().map_err(|_| bad("inbox"))?),
        None => None,
    };
    let team = match pick(&f.team) {
        Some(v) => Some(v.parse().map_err(|_| bad("team"))?),
        None => None,
    };
    let agent_id = match pick(&f.agent) {
        Some(v) => Some(
            v.parse::<switchboard_types::UserId>()
                .map_err(|_| bad("agent"))?
                .to_string(),
        ),
        None => None,
    };
    let tz = pick(&f.tz).unwrap_or_else(|| "UTC".into());
    let now = state.core.clock().now_ms();
    let until = (now / DAY_MS + 1) * DAY_MS;
    let report = state
        .core
        .report(
            &access,
            ReportQuery {
                since: until - days * DAY_MS,
                until,
                inbox_id: inbox.clone(),
                agent_id: agent_id.clone(),
                team_id: team.clone(),
                label_id: None,
                group_by: if days > 90 {
                    GroupBy::Week
                } else {
                    GroupBy::Day
                },
                timezone: tz.clone(),
                calendar_id: None,
            },
        )
        .await?;
    let table: Vec<_> = report
        .groups
        .iter()
        .map(|(period, m)| {
            (
                period.clone(),
                m.conversations_created,
                m.conversations_resolved,
                median(&m.first_response_time),
                median(&m.resolution_time),
                csat(m),
            )
        })
        .collect();
    if f.format.as_deref() == Some("csv") {
        let mut csv = String::from(
            "period,conversations_created,conversations_resolved,first_response_median_ms,resolution_median_ms,csat_average\n",
        );
        for (period, m) in &report.groups {
            csv.push_str(&format!(
                "{period},{},{},{},{},{}\n",
                m.conversations_created,
                m.conversations_resolved,
                m.first_response_time
                    .median_ms
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                m.resolution_time
                    .median_ms
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                m.csat
                    .average_score
                    .map(|v| format!("{v:.2}"))
                    .unwrap_or_default(),
            ));
        }
        let mut res = csv.into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"switchboard-report.csv\""),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(res);
    }
    // Every period of the range gets its bar, quiet ones too.
    let labels = periods(until - days * DAY_MS, until, days > 90, &tz);
    let figure = |label: &String, f: fn(&Metrics) -> usize| {
        report
            .groups
            .iter()
            .find(|(p, _)| p == label)
            .map_or(0.0, |(_, m)| f(m) as f64)
    };
    let created: Vec<f64> = labels
        .iter()
        .map(|l| figure(l, |m| m.conversations_created))
        .collect();
    let resolved: Vec<f64> = labels
        .iter()
        .map(|l| figure(l, |m| m.conversations_resolved))
        .collect();
    let t = &report.totals;
    let cards = vec![
        Card {
            label: "Conversations",
            value: t.conversations_created.to_string(),
        },
        Card {
            label: "Resolved",
            value: t.conversations_resolved.to_string(),
        },
        Card {
            label: "First response (median)",
            value: median(&t.first_response_time),
        },
        Card {
            label: "Resolution (median)",
            value: median(&t.resolution_time),
        },
        Card {
            label: "CSAT",
            value: csat(t),
        },
        Card {
            label: "Satisfied",
            value: pct(t.csat.satisfaction_rate),
        },
        Card {
            label: "Resolved by the bot",
            value: pct(t.bot_resolution_rate),
        },
        Card {
            label: "Handed off",
            value: pct(t.handoff_rate),
        },
        Card {
            label: "AI involvement",
            value: pct(t.ai.involvement_rate),
        },
        Card {
            label: "AI resolution",
            value: pct(t.ai.ai_resolution_rate),
        },
        Card {
            label: "AI hand-off",
            value: pct(t.ai.handoff_rate),
        },
        Card {
            label: "Automation rate",
            value: pct(t.ai.automation_rate),
        },
        Card {
            label: "Deflection",
            value: pct(t.ai.deflection_rate),
        },
    ];
    let bucket_names: Vec<&str> = DURATION_BUCKETS.iter().map(|(_, n)| *n).collect();
    let shell = Shell::new(&state, &agent, &access).await?;
    let choose = |items: Vec<(String, String)>, current: Option<String>| {
        items
            .into_iter()
            .map(|(id, name)| {
                let on = current.as_deref() == Some(id.as_str());
                (id, name, on)
            })
            .collect::<Vec<_>>()
    };
    let inboxes = state
        .core
        .list_inboxes(&access)
        .await?
        .into_iter()
        .map(|i| (i.id.to_string(), i.name))
        .collect();
    let teams = state
        .core
        .list_teams(&access)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.id.to_string(), t.name))
        .collect();
    let agents = state
        .core
        .list_members(
            &access,
            &PageRequest {
                after: None,
                limit: 1000,
            },
        )
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let name = if m.display_name.is_empty() {
                m.email
            } else {
                m.display_name
            };
            (m.user_id.to_string(), name)
        })
        .collect();
    let mut csv_query = vec![
        ("days", days.to_string()),
        ("tz", tz.clone()),
        ("format", "csv".into()),
    ];
    for (k, v) in [
        ("inbox", inbox.as_ref().map(ToString::to_string)),
        ("team", team.as_ref().map(ToString::to_string)),
        ("agent", agent_id.clone()),
    ] {
        if let Some(v) = v {
            csv_query.push((k, v));
        }
    }
    let html = ReportsPage {
        shell,
        days,
        tz,
        cards,
        volume: bars(
            "Conversations created and resolved",
            &labels
                .iter()
                .map(|l| l.get(5..).unwrap_or(l).to_owned())
                .collect::<Vec<_>>(),
            &[
                Series {
                    name: "created",
                    class: "s1",
                    values: &created,
                },
                Series {
                    name: "resolved",
                    class: "s2",
                    values: &resolved,
                },
            ],
        ),
        first_response: histogram(
            "First response times",
            &bucket_names,
            &report.spread.first_response,
            "s1",
        ),
        resolution: histogram(
            "Resolution times",
            &bucket_names,
            &report.spread.resolution,
            "s2",
        ),
        heat: heatmap(
            "New conversations by weekday and hour",
            &report.spread.created_by_weekday_hour,
        ),
        ratings: histogram(
            "Satisfaction ratings",
            &["1 ★", "2 ★", "3 ★", "4 ★", "5 ★"],
            &report.spread.ratings,
            "s3",
        ),
        table,
        inboxes: choose(
            inboxes,
            inbox.map(|i: switchboard_types::InboxId| i.to_string()),
        ),
        teams: choose(
            teams,
            team.map(|t: switchboard_types::TeamId| t.to_string()),
        ),
        agents: choose(agents, agent_id),
        csv_query: serde_urlencoded::to_string(csv_query).unwrap_or_default(),
    }
    .render()?;
    Ok(page(html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_day_and_week_of_the_range_is_named() {
        // 2026-11-24T00:00Z .. 2026-12-01T00:00Z: seven days.
        let until = 1_796_083_200_000;
        let days = periods(until - 7 * DAY_MS, until, false, "UTC");
        assert_eq!(days.len(), 7);
        assert_eq!(days.first().unwrap(), "2026-11-24");
        assert_eq!(days.last().unwrap(), "2026-11-30");
        let weeks = periods(until - 28 * DAY_MS, until, true, "UTC");
        assert!(weeks
            .iter()
            .all(|w| jiff::civil::Date::strptime("%Y-%m-%d", w)
                .unwrap()
                .weekday()
                == jiff::civil::Weekday::Monday));
        // An unknown zone falls back to UTC rather than failing the page (core refuses it).
        assert_eq!(
            periods(until - DAY_MS, until, false, "Nowhere/Else").len(),
            1
        );
    }
}
