//! Settings for owners and admins (and the audit log for auditors): inboxes with the widget's
//! install snippet, people and roles, teams, labels, canned responses, SLA policies, API keys,
//! webhook endpoints with their attempt log and replay, and the audit log with its chain check.
//! Every page calls the same core use cases as the API, so permissions and validation are one.

use crate::auth::Agent;
use crate::error::{ConsoleError, ConsoleResult};
use crate::view::{not_found, page, parse_id, tenant_access, when, Shell};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use switchboard_api::extract::Meta;
use switchboard_api::AppState;
use switchboard_core::apikeys::NewApiKey;
use switchboard_core::audit::RequestMeta;
use switchboard_core::error::CoreError;
use switchboard_core::identity::TenantAccess;
use switchboard_core::members::NewMember;
use switchboard_core::sla::NewSlaPolicy;
use switchboard_core::webhooks::EndpointChanges;
use switchboard_core::widget::{IdentityMode, WidgetAppearance};
use switchboard_store::model::{AuditFilter, PageRequest, WebhookDeliveryStatus};
use switchboard_types::{Channel, TenantRole};

/// The sections, in the order of the settings menu: `(path, title, who sees it)`.
const SECTIONS: &[(&str, &str)] = &[
    ("inboxes", "Inboxes"),
    ("members", "People"),
    ("teams", "Teams"),
    ("labels", "Labels"),
    ("canned", "Canned responses"),
    ("sla", "SLA policies"),
    ("api-keys", "API keys"),
    ("webhooks", "Webhooks"),
    ("automation", "Automation rules"),
    ("help-centre", "Help centre"),
    ("ai", "AI answers"),
    ("audit", "Audit log"),
];

/// One page of settings: the menu, a notice, a secret shown once, and the section's content.
#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    shell: Shell,
    /// `(path, title, current)` of the sections this person may open.
    menu: Vec<(&'static str, &'static str, bool)>,
    title: String,
    /// A secret shown once: `(what it is, the secret)`.
    revealed: Option<(String, String)>,
    notice: Option<String>,
    body: Body,
}

struct InboxRow {
    id: String,
    name: String,
    channel: &'static str,
}

struct InboxDetail {
    id: String,
    name: String,
    snippet: String,
    required: bool,
    secret: String,
    title: String,
    greeting: String,
    colour: String,
    avatar_url: String,
    prechat: bool,
}

struct MemberRow {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    availability: &'static str,
    is_me: bool,
}

struct TeamRow {
    id: String,
    name: String,
    description: String,
    members: Vec<(String, String)>,
}

struct KeyRow {
    id: String,
    name: String,
    prefix: String,
    scopes: String,
    created: String,
    last_used: String,
    state: String,
}

struct EndpointRow {
    id: String,
    url: String,
    description: String,
    enabled: bool,
    events: String,
}

struct AttemptRow {
    when: String,
    event_id: String,
    event_type: String,
    attempt: i64,
    cause: String,
    status: String,
    duration_ms: i64,
    error: String,
    ok: bool,
}

struct DeliveryRow {
    event_id: String,
    event_type: String,
    attempts: i64,
    last: String,
}

struct EndpointDetail {
    row: EndpointRow,
    stats: String,
    attempts: Vec<AttemptRow>,
    dead: Vec<DeliveryRow>,
    pending: Vec<DeliveryRow>,
}

struct SlaRow {
    id: String,
    name: String,
    first: String,
    next: String,
    resolution: String,
}

struct AuditRow {
    seq: i64,
    when: String,
    actor: String,
    action: String,
    target: String,
    outcome: String,
}

enum Body {
    Inboxes(Vec<InboxRow>),
    Inbox(Box<InboxDetail>),
    Members {
        rows: Vec<MemberRow>,
        roles: Vec<&'static str>,
        /// `(id, email, role, expires)` of invitations not accepted yet.
        invitations: Vec<(String, String, &'static str, String)>,
    },
    Teams {
        rows: Vec<TeamRow>,
        people: Vec<(String, String)>,
    },
    Labels(Vec<(String, String, String)>),
    Canned(Vec<(String, String, String)>),
    Sla {
        rows: Vec<SlaRow>,
        calendars: Vec<(String, String)>,
    },
    Keys(Vec<KeyRow>),
    Webhooks(Vec<EndpointRow>),
    /// `(id, name, trigger, enabled, position)`.
    Rules(Vec<(String, String, String, bool, i64)>),
    Ai(Box<AiForm>),
    HelpCentre {
        /// `(id, name, public address)`.
        portals: Vec<(String, String, String)>,
        articles: Vec<ArticleRow>,
    },
    Webhook(Box<EndpointDetail>),
    Audit {
        rows: Vec<AuditRow>,
        verify: Option<(bool, String)>,
        older: Option<i64>,
    },
}

/// The AI-answer settings as the form shows them.
struct AiForm {
    enabled: bool,
    /// `(id, name, selected)`.
    portals: Vec<(String, String, bool)>,
    intents: String,
    min_intent: String,
    min_retrieval: String,
    max_turns: i64,
    base_url: String,
    model: String,
    stream: bool,
    key_set: bool,
    budget: String,
    /// This month's tokens and requests.
    usage: String,
}

/// An article in the help-centre section.
struct ArticleRow {
    id: String,
    title: String,
    portal: String,
    locale: String,
    status: String,
    /// Its public address (published articles).
    url: String,
    /// Readers' verdicts and views: `helpful / not helpful · views`.
    feedback: String,
}

fn may_open(role: TenantRole, section: &str) -> bool {
    match section {
        "audit" => role.can_read_audit(),
        "api-keys" => role.can_manage_api_keys(),
        "members" => role.can_manage_members(),
        _ => role.can_manage_settings(),
    }
}

fn ms_text(ms: Option<i64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) if ms % 3_600_000 == 0 => format!("{} h", ms / 3_600_000),
        Some(ms) => format!("{} min", ms / 60_000),
    }
}

fn all_pages() -> PageRequest {
    PageRequest {
        after: None,
        limit: 1000,
    }
}

/// What a page shows besides its section: a secret shown once, a notice, the audit log's page
/// and chain verdict.
#[derive(Debug, Default)]
struct Extra {
    revealed: Option<(String, String)>,
    notice: Option<String>,
    before_seq: Option<i64>,
    verdict: Option<(bool, String)>,
}

fn audit_rows(records: Vec<switchboard_store::model::AuditRecord>) -> Vec<AuditRow> {
    records
        .into_iter()
        .map(|r| AuditRow {
            seq: r.seq,
            when: when(r.occurred_at),
            actor: format!("{} {}", r.actor.kind.as_str(), r.actor.id),
            action: r.action,
            target: format!("{} {}", r.target_type, r.target_id.unwrap_or_default()),
            outcome: r.outcome,
        })
        .collect()
}

/// Renders `section` (or an inbox's or endpoint's own page when `item` names one).
#[allow(clippy::too_many_lines)]
async fn render(
    state: &AppState,
    agent: &Agent,
    access: &TenantAccess,
    section: &str,
    item: Option<&str>,
    extra: Extra,
) -> ConsoleResult<Response> {
    let core = &state.core;
    if !SECTIONS.iter().any(|(p, _)| *p == section) {
        return Err(not_found());
    }
    if !may_open(access.role, section) {
        return Err(ConsoleError::Core(CoreError::Forbidden));
    }
    let mut title = SECTIONS
        .iter()
        .find(|(p, _)| *p == section)
        .map(|(_, t)| (*t).to_owned())
        .unwrap_or_default();
    let body = match (section, item) {
        ("inboxes", None) => Body::Inboxes(
            core.list_inboxes(access)
                .await?
                .into_iter()
                .map(|i| InboxRow {
                    id: i.id.to_string(),
                    name: i.name,
                    channel: i.channel.as_str(),
                })
                .collect(),
        ),
        ("inboxes", Some(id)) => {
            let id = id.parse().map_err(|_| not_found())?;
            let s = core.widget_settings(access, &id).await?;
            title = format!("Inbox {}", s.inbox.name);
            let base = state.cfg.public_url.trim_end_matches('/');
            Body::Inbox(Box::new(InboxDetail {
                id: s.inbox.id.to_string(),
                name: s.inbox.name.clone(),
                snippet: format!(
                    "<script src=\"{base}/widget.js\" data-widget=\"{}\" async></script>",
                    s.public_id
                ),
                required: s.identity == IdentityMode::Required,
                secret: s.hmac_secret,
                title: s.appearance.title,
                greeting: s.appearance.greeting,
                colour: s.appearance.colour,
                avatar_url: s.appearance.avatar_url.unwrap_or_default(),
                prechat: s.appearance.prechat,
            }))
        }
        ("members", _) => Body::Members {
            rows: core
                .list_members(access, &all_pages())
                .await?
                .into_iter()
                .map(|m| MemberRow {
                    is_me: m.user_id == agent.user.user_id,
                    id: m.user_id.to_string(),
                    name: m.display_name,
                    email: m.email,
                    role: m.role.as_str(),
                    availability: m.availability.as_str(),
                })
                .collect(),
            roles: TenantRole::ALL
                .into_iter()
                .filter(|r| access.role.can_grant(*r))
                .map(TenantRole::as_str)
                .collect(),
            invitations: core
                .list_invitations(access)
                .await?
                .into_iter()
                .map(|i| {
                    (
                        i.id.to_string(),
                        i.email,
                        i.role.as_str(),
                        when(i.expires_at),
                    )
                })
                .collect(),
        },
        ("teams", _) => {
            let people: Vec<(String, String)> = core
                .list_members(access, &all_pages())
                .await?
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
            let names: HashMap<&str, &str> = people
                .iter()
                .map(|(i, n)| (i.as_str(), n.as_str()))
                .collect();
            let mut rows = Vec::new();
            for t in core.list_teams(access).await? {
                let (_, members) = core.get_team(access, &t.id).await?;
                rows.push(TeamRow {
                    id: t.id.to_string(),
                    name: t.name,
                    description: t.description,
                    members: members
                        .into_iter()
                        .map(|m| {
                            let id = m.user_id.to_string();
                            let name = names
                                .get(id.as_str())
                                .map_or_else(|| m.email.clone(), |n| (*n).to_owned());
                            (id, name)
                        })
                        .collect(),
                });
            }
            Body::Teams { rows, people }
        }
        ("automation", _) => Body::Rules(
            core.list_automation_rules(access)
                .await?
                .into_iter()
                .map(|r| (r.id.to_string(), r.name, r.trigger, r.enabled, r.position))
                .collect(),
        ),
        ("ai", _) => {
            let v = core.ai_settings(access).await?;
            let s = v.settings;
            let (month, tokens, requests, _) = core.ai_usage(access, None).await?;
            let g = s.generative.clone();
            Body::Ai(Box::new(AiForm {
                enabled: s.enabled,
                portals: core
                    .list_kb_portals(access)
                    .await?
                    .into_iter()
                    .map(|p| {
                        let on = s.portal_id.as_ref() == Some(&p.id);
                        (p.id.to_string(), p.name, on)
                    })
                    .collect(),
                intents: s.intents.join(", "),
                min_intent: format!("{:.2}", s.min_intent_confidence),
                min_retrieval: format!("{:.2}", s.min_retrieval_confidence),
                max_turns: s.max_turns,
                base_url: g.as_ref().map(|g| g.base_url.clone()).unwrap_or_default(),
                model: g.as_ref().map(|g| g.model.clone()).unwrap_or_default(),
                stream: g.as_ref().is_some_and(|g| g.stream),
                key_set: v.api_key_set,
                budget: g
                    .as_ref()
                    .map(|g| g.monthly_token_budget.to_string())
                    .unwrap_or_else(|| "1000000".into()),
                usage: format!("{month}: {tokens} tokens in {requests} requests"),
            }))
        }
        ("help-centre", _) => {
            let portals = core.list_kb_portals(access).await?;
            let base = state.cfg.public_url.trim_end_matches('/');
            let tenant = &access.tenant.slug;
            let articles = core
                .list_kb_articles(
                    access,
                    switchboard_store::model::KbArticleFilter {
                        limit: 1_000,
                        ..Default::default()
                    },
                )
                .await?
                .into_iter()
                .map(|a| {
                    let portal = portals.iter().find(|p| p.id == a.portal_id);
                    ArticleRow {
                        url: match (portal, a.status.as_str()) {
                            (Some(p), "published") => format!(
                                "{base}/hc/{tenant}/{}/{}/articles/{}",
                                p.slug, a.locale, a.slug
                            ),
                            _ => String::new(),
                        },
                        portal: portal.map(|p| p.name.clone()).unwrap_or_default(),
                        id: a.id.to_string(),
                        title: a.title,
                        locale: a.locale,
                        status: a.status,
                        feedback: format!("{} / {} · {}", a.helpful, a.not_helpful, a.views),
                    }
                })
                .collect();
            Body::HelpCentre {
                portals: portals
                    .into_iter()
                    .map(|p| {
                        let url = format!("{base}/hc/{tenant}/{}", p.slug);
                        (p.id.to_string(), p.name, url)
                    })
                    .collect(),
                articles,
            }
        }
        ("labels", _) => Body::Labels(
            core.list_labels(access)
                .await?
                .into_iter()
                .map(|l| (l.id.to_string(), l.name, l.colour))
                .collect(),
        ),
        ("canned", _) => Body::Canned(
            core.list_canned(access, None)
                .await?
                .into_iter()
                .map(|c| (c.id.to_string(), c.short_code, c.content))
                .collect(),
        ),
        ("sla", _) => Body::Sla {
            rows: core
                .list_sla_policies(access)
                .await?
                .into_iter()
                .map(|p| SlaRow {
                    id: p.id.to_string(),
                    name: p.name,
                    first: ms_text(p.first_response_ms),
                    next: ms_text(p.next_response_ms),
                    resolution: ms_text(p.resolution_ms),
                })
                .collect(),
            calendars: core
                .list_calendars(access)
                .await?
                .into_iter()
                .map(|c| (c.id.to_string(), c.name))
                .collect(),
        },
        ("api-keys", _) => Body::Keys(
            core.list_api_keys(access, &all_pages())
                .await?
                .into_iter()
                .map(|k| KeyRow {
                    id: k.id.to_string(),
                    name: k.name,
                    prefix: k.prefix,
                    scopes: k.scopes.join(", "),
                    created: when(k.created_at),
                    last_used: k.last_used_at.map(when).unwrap_or_else(|| "never".into()),
                    state: match (k.revoked_at, k.expires_at) {
                        (Some(at), _) => format!("revoked {}", when(at)),
                        (None, Some(at)) if at <= core.clock().now_ms() => "expired".into(),
                        (None, Some(at)) => format!("expires {}", when(at)),
                        (None, None) => "active".into(),
                    },
                })
                .collect(),
        ),
        ("webhooks", None) => Body::Webhooks(
            core.list_webhook_endpoints(access)
                .await?
                .into_iter()
                .map(endpoint_row)
                .collect(),
        ),
        ("webhooks", Some(id)) => {
            let id = id.parse().map_err(|_| not_found())?;
            let e = core.get_webhook_endpoint(access, &id).await?;
            title = format!("Webhook {}", e.url);
            let stats = core.webhook_stats(access, &id, 24 * 3_600_000).await?;
            let attempts = core
                .webhook_attempts(access, &id, None, None, 50)
                .await?
                .into_iter()
                .map(|a| AttemptRow {
                    when: when(a.attempted_at),
                    event_id: a.event_id.to_string(),
                    event_type: a.event_type,
                    attempt: a.attempt,
                    cause: a.cause,
                    status: a
                        .status_code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "—".into()),
                    duration_ms: a.duration_ms,
                    error: a.error.unwrap_or_default(),
                    ok: a.succeeded,
                })
                .collect();
            let id = &id;
            let deliveries = |status| async move {
                Ok::<_, ConsoleError>(
                    core.webhook_deliveries(access, id, status, 50)
                        .await?
                        .into_iter()
                        .map(|d| DeliveryRow {
                            event_id: d.event_id.to_string(),
                            event_type: d.event_type,
                            attempts: d.attempts,
                            last: match (d.last_status_code, d.last_error) {
                                (Some(c), _) => format!("HTTP {c}"),
                                (None, Some(e)) => e,
                                (None, None) => String::new(),
                            },
                        })
                        .collect::<Vec<_>>(),
                )
            };
            let dead = deliveries(WebhookDeliveryStatus::Dead).await?;
            let pending = deliveries(WebhookDeliveryStatus::Pending).await?;
            Body::Webhook(Box::new(EndpointDetail {
                row: endpoint_row(e),
                stats: match stats.success_rate {
                    Some(rate) => format!(
                        "{} attempts in 24 h, {:.1}% succeeded; latency p50 {} ms, p99 {} ms",
                        stats.attempts,
                        rate * 100.0,
                        stats.latency_p50_ms.unwrap_or(0),
                        stats.latency_p99_ms.unwrap_or(0)
                    ),
                    None => "No attempts in the last 24 hours.".into(),
                },
                attempts,
                dead,
                pending,
            }))
        }
        ("audit", _) => {
            let mut rows = core
                .audit_log(
                    access,
                    &AuditFilter {
                        before_seq: extra.before_seq,
                        limit: 51,
                        ..Default::default()
                    },
                )
                .await?;
            let older = (rows.len() > 50).then(|| rows[49].seq);
            rows.truncate(50);
            Body::Audit {
                rows: audit_rows(rows),
                verify: extra.verdict,
                older,
            }
        }
        _ => return Err(not_found()),
    };
    let shell = Shell::new(state, agent, access).await?;
    let menu = SECTIONS
        .iter()
        .filter(|(p, _)| may_open(access.role, p))
        .map(|(p, t)| (*p, *t, *p == section))
        .collect();
    Ok(page(
        SettingsPage {
            shell,
            menu,
            title,
            revealed: extra.revealed,
            notice: extra.notice,
            body,
        }
        .render()?,
    ))
}

fn endpoint_row(e: switchboard_store::model::WebhookEndpoint) -> EndpointRow {
    EndpointRow {
        id: e.id.to_string(),
        url: e.url,
        description: e.description,
        enabled: e.enabled,
        events: if e.event_types.is_empty() {
            "every event".into()
        } else {
            e.event_types.join(", ")
        },
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
}

/// `GET /app/t/{tenant}/settings`: the first section this person may open.
pub async fn index(
    State(state): State<AppState>,
    agent: Agent,
    Path(tenant): Path<String>,
) -> ConsoleResult<Response> {
    let access = tenant_access(&state, &agent, &tenant).await?;
    let first = SECTIONS
        .iter()
        .find(|(p, _)| may_open(access.role, p))
        .ok_or(ConsoleError::Core(CoreError::Forbidden))?;
    Ok(Redirect::to(&format!(
        "/app/t/{}/settings/{}",
        access.tenant.slug, first.0
    ))
    .into_response())
}

/// `GET /app/t/{tenant}/settings/{section}`.
pub async fn section(
    State(state): State<AppState>,
    agent: Agent,
    Path((tenant, section)): Path<(String, String)>,
    Query(q): Query<AuditQuery>,
) -> ConsoleResult<Response> {
    let access = tenant_access(&state, &agent, &tenant).await?;
    let extra = Extra {
        before_seq: q.before,
        ..Default::default()
    };
    render(&state, &agent, &access, &section, None, extra).await
}

/// `GET /app/t/{tenant}/settings/{section}/{id}`: a widget inbox, a webhook endpoint.
pub async fn item(
    State(state): State<AppState>,
    agent: Agent,
    Path((tenant, section, id)): Path<(String, String, String)>,
) -> ConsoleResult<Response> {
    let access = tenant_access(&state, &agent, &tenant).await?;
    if section != "inboxes" && section != "webhooks" {
        return Err(not_found());
    }
    render(
        &state,
        &agent,
        &access,
        &section,
        Some(&id),
        Extra::default(),
    )
    .await
}

#[derive(Template)]
#[template(path = "preview.html")]
struct PreviewPage {
    name: String,
    public_id: String,
}

/// `GET /app/t/{tenant}/settings/inboxes/{id}/preview`: the widget on a page of our own, as a
/// visitor will meet it (owners and admins try their settings here).
pub async fn preview(
    State(state): State<AppState>,
    agent: Agent,
    Path((tenant, id)): Path<(String, String)>,
) -> ConsoleResult<Response> {
    let access = tenant_access(&state, &agent, &tenant).await?;
    let id = parse_id(&id)?;
    let s = state.core.widget_settings(&access, &id).await?;
    Ok(page(
        PreviewPage {
            name: s.inbox.name,
            public_id: s.public_id,
        }
        .render()?,
    ))
}

/// Every settings form: the CSRF token, what to do, and its fields.
#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    csrf: String,
    op: String,
    #[serde(flatten)]
    fields: BTreeMap<String, String>,
}

impl SettingsForm {
    fn get(&self, k: &str) -> &str {
        self.fields.get(k).map_or("", |v| v.trim())
    }

    fn opt(&self, k: &str) -> Option<String> {
        Some(self.get(k).to_owned()).filter(|v| !v.is_empty())
    }

    /// Minutes in a field as milliseconds (empty: none).
    fn minutes(&self, k: &str) -> ConsoleResult<Option<i64>> {
        match self.get(k) {
            "" => Ok(None),
            v => v
                .parse::<i64>()
                .ok()
                .filter(|m| (1..=525_600).contains(m))
                .map(|m| Some(m * 60_000))
                .ok_or_else(|| {
                    ConsoleError::BadRequest(format!("{k}: whole minutes, 1 to 525600"))
                }),
        }
    }
}

fn role_of(v: &str) -> ConsoleResult<TenantRole> {
    TenantRole::parse(v).ok_or_else(|| ConsoleError::BadRequest("Unknown role.".into()))
}

fn back(access: &TenantAccess, section: &str, item: Option<&str>) -> Response {
    let path = match item {
        Some(id) => format!("/app/t/{}/settings/{section}/{id}", access.tenant.slug),
        None => format!("/app/t/{}/settings/{section}", access.tenant.slug),
    };
    Redirect::to(&path).into_response()
}

/// `POST /app/t/{tenant}/settings/{section}`.
pub async fn change(
    State(state): State<AppState>,
    Meta(meta): Meta,
    agent: Agent,
    Path((tenant, section)): Path<(String, String)>,
    Form(form): Form<SettingsForm>,
) -> ConsoleResult<Response> {
    agent.check_csrf(&form.csrf)?;
    let access = tenant_access(&state, &agent, &tenant).await?;
    apply(&state, &agent, &access, &meta, &section, None, &form).await
}

/// `POST /app/t/{tenant}/settings/{section}/{id}`.
pub async fn change_item(
    State(state): State<AppState>,
    Meta(meta): Meta,
    agent: Agent,
    Path((tenant, section, id)): Path<(String, String, String)>,
    Form(form): Form<SettingsForm>,
) -> ConsoleResult<Response> {
    agent.check_csrf(&form.csrf)?;
    let access = tenant_access(&state, &agent, &tenant).await?;
    apply(&state, &agent, &access, &meta, &section, Some(&id), &form).await
}

#[allow(clippy::too_many_lines)]
async fn apply(
    state: &AppState,
    agent: &Agent,
    access: &TenantAccess,
    meta: &RequestMeta,
    section: &str,
    item: Option<&str>,
    f: &SettingsForm,
) -> ConsoleResult<Response> {
    let core = &state.core;
    let shown_once = |what: String, secret: String| async move {
        let extra = Extra {
            revealed: Some((what, secret)),
            ..Default::default()
        };
        render(state, agent, access, section, item, extra).await
    };
    match (section, item, f.op.as_str()) {
        ("inboxes", None, "create") => {
            let channel = match f.get("channel") {
                "widget" => Channel::Widget,
                "api" => Channel::Api,
                _ => return Err(ConsoleError::BadRequest("Choose web widget or API.".into())),
            };
            let inbox = core
                .create_inbox(access, f.get("name"), channel, meta)
                .await?;
            if channel == Channel::Widget {
                return Ok(back(access, "inboxes", Some(inbox.id.as_str())));
            }
        }
        ("inboxes", Some(id), op) => {
            let id = parse_id(id)?;
            let (identity, appearance, rotate) = match op {
                "identity" => (
                    Some(if f.get("identity") == "required" {
                        IdentityMode::Required
                    } else {
                        IdentityMode::Optional
                    }),
                    None,
                    false,
                ),
                "appearance" => (
                    None,
                    Some(WidgetAppearance {
                        title: f.get("title").to_owned(),
                        greeting: f.get("greeting").to_owned(),
                        colour: f.get("colour").to_owned(),
                        avatar_url: f.opt("avatar_url"),
                        prechat: f.get("prechat") == "on",
                    }),
                    false,
                ),
                "rotate" => (None, None, true),
                _ => return Err(ConsoleError::BadRequest("Unknown change.".into())),
            };
            core.update_widget(access, &id, identity, appearance, rotate, meta)
                .await?;
        }
        ("members", None, "add") => {
            let (member, password) = core
                .add_member(
                    access,
                    NewMember {
                        email: f.get("email").to_owned(),
                        display_name: f.opt("display_name"),
                        password: None,
                        role: role_of(f.get("role"))?,
                    },
                    meta,
                )
                .await?;
            if let Some(p) = password {
                return shown_once(format!("Password for {}", member.email), p).await;
            }
        }
        ("members", None, "invite") => {
            let (invitation, token) = core
                .create_invitation(access, f.get("email"), role_of(f.get("role"))?, meta)
                .await?;
            let link = format!(
                "{}/app/invite/{token}",
                state.cfg.public_url.trim_end_matches('/')
            );
            let what = if core.email_invitation(access, &invitation, &link).await {
                format!(
                    "Invitation emailed to {} — the link, in case it does not arrive",
                    invitation.email
                )
            } else {
                format!("Invitation link for {} (no mail relay is configured: send it yourself; it works once, for 7 days)", invitation.email)
            };
            return shown_once(what, link).await;
        }
        ("members", None, "revoke_invitation") => {
            core.revoke_invitation(access, &parse_id(f.get("invitation"))?, meta)
                .await?;
        }
        ("members", None, "role") => {
            core.change_member_role(
                access,
                &parse_id(f.get("user"))?,
                role_of(f.get("role"))?,
                meta,
            )
            .await?;
        }
        ("members", None, "remove") => {
            core.remove_member(access, &parse_id(f.get("user"))?, meta)
                .await?;
        }
        ("teams", None, "create") => {
            core.create_team(access, f.get("name"), f.get("description"), meta)
                .await?;
        }
        ("teams", None, "delete") => {
            core.delete_team(access, &parse_id(f.get("team"))?, meta)
                .await?;
        }
        ("teams", None, "add_member") => {
            core.add_team_member(
                access,
                &parse_id(f.get("team"))?,
                &parse_id(f.get("user"))?,
                meta,
            )
            .await?;
        }
        ("teams", None, "remove_member") => {
            core.remove_team_member(
                access,
                &parse_id(f.get("team"))?,
                &parse_id(f.get("user"))?,
                meta,
            )
            .await?;
        }
        ("automation", None, "create") => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Written {
                trigger: switchboard_core::automation::rules::Trigger,
                #[serde(default)]
                conditions: Option<switchboard_core::automation::rules::Condition>,
                actions: Vec<switchboard_core::automation::rules::Action>,
            }
            let w: Written = serde_json::from_str(f.get("definition")).map_err(|e| {
                ConsoleError::BadRequest(format!(
                    "The rule is not valid JSON of {{trigger, conditions, actions}}: {e}"
                ))
            })?;
            let input = switchboard_core::automation::RuleInput {
                name: f.get("name").to_owned(),
                description: f.get("description").to_owned(),
                enabled: true,
                position: None,
                definition: switchboard_core::automation::rules::Definition {
                    trigger: w.trigger,
                    conditions: w.conditions,
                    actions: w.actions,
                },
            };
            core.create_automation_rule(access, input, meta).await?;
        }
        ("automation", None, "enable" | "disable") => {
            let patch = switchboard_core::automation::RulePatch {
                enabled: Some(f.op == "enable"),
                ..Default::default()
            };
            core.update_automation_rule(access, &parse_id(f.get("rule"))?, patch, meta)
                .await?;
        }
        ("automation", None, "delete") => {
            core.delete_automation_rule(access, &parse_id(f.get("rule"))?, meta)
                .await?;
        }
        ("ai", None, "save") => {
            use switchboard_core::ai::{AiSettings, GenerativeSettings, KeyChange};
            let number = |k: &str, default: f64| -> ConsoleResult<f64> {
                match f.get(k) {
                    "" => Ok(default),
                    v => v.parse::<f64>().map_err(|_| {
                        ConsoleError::BadRequest(format!("{k}: a number from 0 to 1"))
                    }),
                }
            };
            let current = core.ai_settings(access).await?.settings;
            let base_url = f.get("base_url");
            let generative = (!base_url.is_empty()).then(|| {
                let d = GenerativeSettings::new(base_url.to_owned(), f.get("model").to_owned());
                let kept = current.generative.as_ref();
                GenerativeSettings {
                    stream: f.get("stream") == "on",
                    timeout_ms: kept.map_or(d.timeout_ms, |g| g.timeout_ms),
                    monthly_token_budget: f.get("budget").parse().unwrap_or(d.monthly_token_budget),
                    max_output_tokens: kept.map_or(d.max_output_tokens, |g| g.max_output_tokens),
                    ..d
                }
            });
            let key = match (generative.is_some(), f.get("api_key"), f.get("clear_key")) {
                (false, _, _) | (true, _, "on") => KeyChange::Clear,
                (true, "", _) => KeyChange::Keep,
                (true, k, _) => KeyChange::Set(k.to_owned()),
            };
            let settings = AiSettings {
                enabled: f.get("enabled") == "on",
                portal_id: match f.get("portal") {
                    "" => None,
                    p => Some(parse_id(p)?),
                },
                locale: current.locale,
                inbox_ids: current.inbox_ids,
                intents: f
                    .get("intents")
                    .split(',')
                    .map(str::trim)
                    .filter(|i| !i.is_empty())
                    .map(str::to_owned)
                    .collect(),
                min_intent_confidence: number("min_intent", 0.0)?,
                min_retrieval_confidence: number("min_retrieval", 0.3)?,
                max_turns: f.get("max_turns").parse().unwrap_or(3),
                generative,
            };
            core.put_ai_settings(access, settings, key, meta).await?;
        }
        ("help-centre", None, "create_portal") => {
            core.create_kb_portal(
                access,
                f.get("slug"),
                f.get("name"),
                f.opt("locale").as_deref().unwrap_or("en"),
                meta,
            )
            .await?;
        }
        ("help-centre", None, "create_article") => {
            let input = switchboard_core::kb::ArticleInput {
                portal_id: Some(parse_id(f.get("portal"))?),
                title: f.get("title").to_owned(),
                body: f.get("body").to_owned(),
                locale: f.opt("locale"),
                status: f.opt("status"),
                ..Default::default()
            };
            core.create_kb_article(access, input, meta).await?;
        }
        ("help-centre", None, "publish" | "unpublish" | "delete_article") => {
            let id = parse_id(f.get("article"))?;
            if f.op == "delete_article" {
                core.delete_kb_article(access, &id, meta).await?;
            } else {
                let patch = switchboard_core::kb::ArticlePatch {
                    status: Some(
                        if f.op == "publish" {
                            "published"
                        } else {
                            "draft"
                        }
                        .into(),
                    ),
                    ..Default::default()
                };
                core.update_kb_article(access, &id, patch, meta).await?;
            }
        }
        ("labels", None, "create") => {
            core.create_label(access, f.get("name"), f.get("colour"), meta)
                .await?;
        }
        ("labels", None, "delete") => {
            core.delete_label(access, &parse_id(f.get("label"))?, meta)
                .await?;
        }
        ("canned", None, "create") => {
            core.create_canned(access, f.get("short_code"), f.get("content"), meta)
                .await?;
        }
        ("canned", None, "delete") => {
            core.delete_canned(access, &parse_id(f.get("canned"))?, meta)
                .await?;
        }
        ("sla", None, "create") => {
            core.create_sla_policy(
                access,
                NewSlaPolicy {
                    name: f.get("name").to_owned(),
                    first_response_ms: f.minutes("first_response_minutes")?,
                    next_response_ms: f.minutes("next_response_minutes")?,
                    resolution_ms: f.minutes("resolution_minutes")?,
                    calendar_id: match f.get("calendar") {
                        "" => None,
                        c => Some(parse_id(c)?),
                    },
                    warning_percent: None,
                },
                meta,
            )
            .await?;
        }
        ("sla", None, "create_calendar") => {
            const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            let mut hours = serde_json::Map::new();
            for day in DAYS {
                let (open, close) = (
                    f.get(&format!("{day}_open")),
                    f.get(&format!("{day}_close")),
                );
                if !open.is_empty() || !close.is_empty() {
                    hours.insert(day.into(), serde_json::json!([[open, close]]));
                }
            }
            let holidays: Vec<&str> = f
                .get("holidays")
                .split([',', ' ', '\n', '\r'])
                .filter(|s| !s.is_empty())
                .collect();
            let spec = serde_json::json!({
                "timezone": f.get("timezone"),
                "hours": hours,
                "holidays": holidays,
            });
            core.create_calendar(access, f.get("name"), spec, meta)
                .await?;
        }
        ("sla", None, "delete_calendar") => {
            core.delete_calendar(access, &parse_id(f.get("calendar"))?, meta)
                .await?;
        }
        ("sla", None, "delete") => {
            core.delete_sla_policy(access, &parse_id(f.get("policy"))?, meta)
                .await?;
        }
        ("api-keys", None, "create") => {
            let (key, secret) = core
                .create_api_key(
                    access,
                    NewApiKey {
                        name: f.get("name").to_owned(),
                        scopes: vec![f.get("scope").to_owned()],
                        expires_at: None,
                    },
                    meta,
                )
                .await?;
            return shown_once(format!("API key {}", key.name), secret).await;
        }
        ("api-keys", None, "revoke") => {
            core.revoke_api_key(access, &parse_id(f.get("key"))?, meta)
                .await?;
        }
        ("webhooks", None, "create") => {
            let events: Vec<String> = f
                .get("event_types")
                .split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let (e, secret) = core
                .create_webhook_endpoint(
                    access,
                    EndpointChanges {
                        url: Some(f.get("url").to_owned()),
                        description: Some(f.get("description").to_owned()),
                        event_types: Some(events),
                        enabled: Some(true),
                        headers: None,
                        rate_limit_per_s: None,
                    },
                    meta,
                )
                .await?;
            let extra = Extra {
                revealed: Some(("Signing secret".into(), secret.expose())),
                ..Default::default()
            };
            return render(state, agent, access, "webhooks", Some(e.id.as_str()), extra).await;
        }
        ("webhooks", Some(id), op) => {
            let id = parse_id(id)?;
            match op {
                "enable" | "disable" => {
                    core.update_webhook_endpoint(
                        access,
                        &id,
                        EndpointChanges {
                            enabled: Some(op == "enable"),
                            ..Default::default()
                        },
                        meta,
                    )
                    .await?;
                }
                "rotate" => {
                    let secret = core.rotate_webhook_secret(access, &id, meta).await?;
                    return shown_once(
                        "New signing secret (the old one keeps working for 24 hours)".into(),
                        secret.expose(),
                    )
                    .await;
                }
                "replay" => {
                    let a = core
                        .replay_webhook(access, &id, &parse_id(f.get("event"))?, meta)
                        .await?;
                    let outcome = if a.succeeded {
                        format!("Replayed: delivered (HTTP {}).", a.status_code.unwrap_or(0))
                    } else {
                        format!(
                            "Replayed: not delivered ({}).",
                            a.error
                                .or(a.status_code.map(|c| format!("HTTP {c}")))
                                .unwrap_or_default()
                        )
                    };
                    let extra = Extra {
                        notice: Some(outcome),
                        ..Default::default()
                    };
                    return render(state, agent, access, section, item, extra).await;
                }
                "delete" => {
                    core.delete_webhook_endpoint(access, &id, meta).await?;
                    return Ok(back(access, "webhooks", None));
                }
                _ => return Err(ConsoleError::BadRequest("Unknown change.".into())),
            }
        }
        ("audit", None, "verify") => {
            let report = core.verify_audit(access).await?;
            let verdict = match &report.first_bad {
                None => (
                    true,
                    format!("The chain is intact: {} entries verified.", report.entries),
                ),
                Some(bad) => (
                    false,
                    format!("The chain is broken at entry {}: {}.", bad.seq, bad.reason),
                ),
            };
            let extra = Extra {
                verdict: Some(verdict),
                ..Default::default()
            };
            return render(state, agent, access, "audit", None, extra).await;
        }
        _ => return Err(ConsoleError::BadRequest("Unknown change.".into())),
    }
    Ok(back(access, section, item))
}
