//! The inbox: the conversation list with its filters, a conversation with its timeline, triage
//! and contact, and the forms that change it. Every page is rendered here; the page's script only
//! re-fetches these pages (or their fragments) when the real-time socket says something changed.

use crate::auth::Agent;
use crate::error::{ConsoleError, ConsoleResult};
use crate::view::{iso, page, parse_id, tenant_access, when, Shell};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use std::collections::HashMap;
use switchboard_api::extract::Meta;
use switchboard_api::AppState;
use switchboard_core::contacts::Change;
use switchboard_core::conversations::ConversationPatch;
use switchboard_core::identity::TenantAccess;
use switchboard_store::model::{
    Conversation, ConversationFilter, Message, PageRequest, SearchQuery,
};
use switchboard_types::{
    ActorKind, ConversationId, ConversationStatus, InboxId, LabelId, MessageTriage, Priority,
    SentimentLabel, TeamId, UrgencyLevel, UserId,
};

/// Conversations shown per list.
const LIST_LIMIT: i64 = 50;
/// View counts stop here ("100+").
const COUNT_LIMIT: i64 = 100;
/// Messages shown in a conversation.
const THREAD_LIMIT: i64 = 500;

/// The list's filters, as the filter form and links carry them.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct InboxQuery {
    /// `mine`, `unassigned` or `all` (default).
    view: Option<String>,
    status: Option<String>,
    inbox: Option<String>,
    label: Option<String>,
    team: Option<String>,
    priority: Option<String>,
    /// Words to search for.
    q: Option<String>,
    intent: Option<String>,
    sentiment: Option<String>,
    urgency: Option<String>,
    language: Option<String>,
    /// `list` or `pane`: only that part of the page (for the script).
    fragment: Option<String>,
}

/// The filters, checked.
#[derive(Debug, Default, Clone)]
struct Filters {
    view: &'static str,
    status: Option<ConversationStatus>,
    inbox: Option<InboxId>,
    label: Option<LabelId>,
    team: Option<TeamId>,
    priority: Option<Priority>,
    q: String,
    intent: String,
    sentiment: Option<SentimentLabel>,
    urgency: Option<UrgencyLevel>,
    language: String,
}

fn bad(what: &str) -> ConsoleError {
    ConsoleError::BadRequest(format!("Unknown {what} in the filters."))
}

fn opt<T>(
    v: &Option<String>,
    what: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> ConsoleResult<Option<T>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => parse(s).map(Some).ok_or_else(|| bad(what)),
    }
}

impl InboxQuery {
    fn check(&self) -> ConsoleResult<Filters> {
        let text = |v: &Option<String>, max: usize, what: &str| -> ConsoleResult<String> {
            let s = v.as_deref().unwrap_or_default().trim();
            if s.chars().count() > max || s.contains('\0') {
                return Err(ConsoleError::BadRequest(format!(
                    "The {what} filter is longer than {max} characters."
                )));
            }
            Ok(s.to_owned())
        };
        Ok(Filters {
            view: match self.view.as_deref() {
                Some("mine") => "mine",
                Some("unassigned") => "unassigned",
                None | Some("") | Some("all") => "all",
                Some(_) => return Err(bad("view")),
            },
            // The list opens on open conversations; `status=any` shows every status.
            status: match self.status.as_deref() {
                None | Some("") => Some(ConversationStatus::Open),
                Some("any") => None,
                Some(s) => Some(ConversationStatus::parse(s).ok_or_else(|| bad("status"))?),
            },
            inbox: opt(&self.inbox, "inbox", |s| s.parse().ok())?,
            label: opt(&self.label, "label", |s| s.parse().ok())?,
            team: opt(&self.team, "team", |s| s.parse().ok())?,
            priority: opt(&self.priority, "priority", Priority::parse)?,
            q: text(&self.q, 200, "search")?,
            intent: text(&self.intent, 100, "intent")?,
            sentiment: opt(&self.sentiment, "sentiment", SentimentLabel::parse)?,
            urgency: opt(&self.urgency, "urgency", UrgencyLevel::parse)?,
            language: text(&self.language, 16, "language")?,
        })
    }
}

impl Filters {
    /// Filters that only the search index can apply (words and the triage fields).
    fn needs_search(&self) -> bool {
        !self.q.is_empty()
            || !self.intent.is_empty()
            || !self.language.is_empty()
            || self.sentiment.is_some()
            || self.urgency.is_some()
    }

    /// The query string that reproduces these filters (for links and the script).
    fn query_string(&self, view: &str) -> String {
        let mut q = vec![("view", view.to_owned())];
        q.push((
            "status",
            self.status
                .map_or("any", ConversationStatus::as_str)
                .to_owned(),
        ));
        let mut push = |k: &'static str, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                q.push((k, v));
            }
        };
        push("inbox", self.inbox.as_ref().map(ToString::to_string));
        push("label", self.label.as_ref().map(ToString::to_string));
        push("team", self.team.as_ref().map(ToString::to_string));
        push("priority", self.priority.map(|p| p.as_str().to_owned()));
        push("q", Some(self.q.clone()));
        push("intent", Some(self.intent.clone()));
        push("sentiment", self.sentiment.map(|s| s.as_str().to_owned()));
        push("urgency", self.urgency.map(|u| u.as_str().to_owned()));
        push("language", Some(self.language.clone()));
        serde_urlencoded::to_string(q).unwrap_or_default()
    }
}

/// One line of the conversation list.
#[derive(Debug)]
struct Row {
    id: String,
    number: i64,
    contact: String,
    status: &'static str,
    priority: &'static str,
    assignee: String,
    when: String,
    iso: String,
    waiting: bool,
    active: bool,
}

/// An option of a filter or assignment menu.
#[derive(Debug)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn choices<T>(
    items: impl IntoIterator<Item = T>,
    value: impl Fn(&T) -> String,
    label: impl Fn(&T) -> String,
    selected: &str,
) -> Vec<Choice> {
    items
        .into_iter()
        .map(|i| {
            let v = value(&i);
            Choice {
                selected: v == selected,
                label: label(&i),
                value: v,
            }
        })
        .collect()
}

fn fixed(values: &[&str], selected: &str) -> Vec<Choice> {
    choices(
        values.iter(),
        |v| (**v).to_owned(),
        |v| (**v).replace('_', " "),
        selected,
    )
}

/// The conversation list, its filters and its counts.
struct ListView {
    rows: Vec<Row>,
    /// `(view, label, count text, href, current)`.
    views: Vec<(&'static str, &'static str, String, String, bool)>,
    query: String,
    filters_q: String,
    filters_intent: String,
    filters_language: String,
    statuses: Vec<Choice>,
    inboxes: Vec<Choice>,
    labels: Vec<Choice>,
    teams: Vec<Choice>,
    priorities: Vec<Choice>,
    sentiments: Vec<Choice>,
    urgencies: Vec<Choice>,
    view: &'static str,
    more: bool,
}

/// One entry of a conversation's timeline.
#[derive(Debug)]
struct Item {
    id: String,
    /// `in`, `out` or `note`.
    kind: &'static str,
    author: String,
    segments: Vec<Segment>,
    when: String,
    iso: String,
    triage: Option<TriageView>,
    /// `(id, file name)` of each attachment.
    attachments: Vec<(String, String)>,
    delivery: String,
}

/// A run of a message's text: plain, or personal data the triage found (`pii` names its kind).
#[derive(Debug)]
struct Segment {
    text: String,
    pii: String,
}

#[derive(Debug)]
struct TriageView {
    status: String,
    intent: String,
    confidence: String,
    sentiment: String,
    urgency: String,
    language: String,
    pii: String,
    redacted: bool,
}

/// The open conversation.
struct Pane {
    id: String,
    number: i64,
    status: &'static str,
    priority: &'static str,
    assignee: String,
    /// Older messages exist than the ones shown.
    earlier: bool,
    /// Ids as the Save form last saw them (empty: none).
    assignee_id: String,
    team_id: String,
    team: String,
    inbox: String,
    items: Vec<Item>,
    contact_name: String,
    contact_email: String,
    contact_phone: String,
    contact_attributes: Vec<(String, String)>,
    past: Vec<Row>,
    labels: Vec<String>,
    label_choices: Vec<Choice>,
    assignees: Vec<Choice>,
    team_choices: Vec<Choice>,
    priority_choices: Vec<Choice>,
    /// `(short code, content)` for the composer's `/shortcode` completion.
    canned: Vec<(String, String)>,
    /// Help-centre articles for the customer's latest message: `(title, address, snippet)`.
    suggested_articles: Vec<(String, String, String)>,
    /// An extractive reply from the best of them (empty: none).
    suggested_reply: String,
    back: String,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    shell: Shell,
    list: ListView,
    pane: Option<Pane>,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListFragment<'a> {
    shell: &'a Shell,
    list: &'a ListView,
}

#[derive(Template)]
#[template(path = "pane.html")]
struct PaneFragment<'a> {
    shell: &'a Shell,
    pane: &'a Pane,
}

/// The tenant's people from one listing: names by user id, and `(id, name)` of those who may
/// be assigned conversations, by name (both empty when the role may not list people).
async fn member_names(
    state: &AppState,
    access: &TenantAccess,
) -> (HashMap<String, String>, Vec<(String, String)>) {
    let page = PageRequest {
        after: None,
        limit: 1000,
    };
    let members = state
        .core
        .list_members(access, &page)
        .await
        .unwrap_or_default();
    let mut names = HashMap::new();
    let mut workers = Vec::new();
    for m in members {
        let name = if m.display_name.is_empty() {
            m.email
        } else {
            m.display_name
        };
        if m.role.can_work_conversations() {
            workers.push((m.user_id.to_string(), name.clone()));
        }
        names.insert(m.user_id.to_string(), name);
    }
    workers.sort_by(|a, b| a.1.cmp(&b.1));
    (names, workers)
}

async fn contact_names(
    state: &AppState,
    access: &TenantAccess,
    convs: &[Conversation],
) -> ConsoleResult<HashMap<String, String>> {
    let mut ids: Vec<switchboard_types::ContactId> =
        convs.iter().map(|c| c.contact_id.clone()).collect();
    ids.sort();
    ids.dedup();
    Ok(state
        .core
        .contacts_by_id(access, &ids)
        .await?
        .into_iter()
        .map(|c| {
            let name = [Some(c.name), c.email, c.phone]
                .into_iter()
                .flatten()
                .find(|s| !s.is_empty())
                .unwrap_or_else(|| "Visitor".to_owned());
            (c.id.to_string(), name)
        })
        .collect())
}

fn row(
    c: &Conversation,
    contacts: &HashMap<String, String>,
    members: &HashMap<String, String>,
    active: Option<&ConversationId>,
) -> Row {
    Row {
        id: c.id.to_string(),
        number: c.number,
        contact: contacts
            .get(c.contact_id.as_str())
            .cloned()
            .unwrap_or_default(),
        status: c.status.as_str(),
        priority: c.priority.as_str(),
        assignee: c
            .assignee_id
            .as_ref()
            .map(|a| {
                members
                    .get(a.as_str())
                    .cloned()
                    .unwrap_or_else(|| "an agent".into())
            })
            .unwrap_or_default(),
        when: when(c.last_activity_at),
        iso: iso(c.last_activity_at),
        waiting: c.waiting_since.is_some(),
        active: active == Some(&c.id),
    }
}

/// The conversations matching `f` (one more than shown, to know whether more exist).
async fn matching(
    state: &AppState,
    access: &TenantAccess,
    me: &UserId,
    f: &Filters,
    view: &str,
    limit: i64,
) -> ConsoleResult<Vec<Conversation>> {
    let mine = (view == "mine").then(|| me.clone());
    if f.needs_search() {
        let found = state
            .core
            .search_conversations(
                access,
                SearchQuery {
                    terms: f.q.split_whitespace().map(str::to_owned).collect(),
                    status: f.status,
                    inbox_id: f.inbox.clone(),
                    assignee_id: mine,
                    label_id: f.label.clone(),
                    since: None,
                    until: None,
                    intent: Some(f.intent.clone()).filter(|s| !s.is_empty()),
                    language: Some(f.language.clone()).filter(|s| !s.is_empty()),
                    sentiment: f.sentiment,
                    urgency: f.urgency,
                    has_pii: None,
                    limit: 200,
                },
            )
            .await?;
        // The search index filters by message; the rest is the conversation's own state.
        Ok(found
            .into_iter()
            .filter(|c| view != "unassigned" || c.assignee_id.is_none())
            .filter(|c| {
                f.team
                    .as_ref()
                    .is_none_or(|t| c.team_id.as_ref() == Some(t))
            })
            .filter(|c| f.priority.is_none_or(|p| c.priority == p))
            .take(usize::try_from(limit).unwrap_or(0))
            .collect())
    } else {
        let convs = state
            .core
            .list_conversations(
                access,
                ConversationFilter {
                    status: f.status,
                    label_id: f.label.clone(),
                    inbox_id: f.inbox.clone(),
                    contact_id: None,
                    assignee_id: mine,
                    team_id: f.team.clone(),
                    priority: f.priority,
                    unassigned: view == "unassigned",
                    page: PageRequest { after: None, limit },
                },
            )
            .await?;
        Ok(convs)
    }
}

async fn list_view(
    state: &AppState,
    agent: &Agent,
    access: &TenantAccess,
    f: &Filters,
    members: &HashMap<String, String>,
    active: Option<&ConversationId>,
) -> ConsoleResult<ListView> {
    let me = &agent.user.user_id;
    let mut convs = matching(state, access, me, f, f.view, LIST_LIMIT + 1).await?;
    let more = convs.len() as i64 > LIST_LIMIT;
    convs.truncate(usize::try_from(LIST_LIMIT).unwrap_or(0));
    let contacts = contact_names(state, access, &convs).await?;
    let rows = convs
        .iter()
        .map(|c| row(c, &contacts, members, active))
        .collect();
    let mut views = Vec::new();
    for (view, label) in [
        ("mine", "Mine"),
        ("unassigned", "Unassigned"),
        ("all", "All"),
    ] {
        let n = matching(state, access, me, f, view, COUNT_LIMIT + 1)
            .await?
            .len() as i64;
        let count = if n > COUNT_LIMIT {
            format!("{COUNT_LIMIT}+")
        } else {
            n.to_string()
        };
        let href = format!("?{}", f.query_string(view));
        views.push((view, label, count, href, view == f.view));
    }
    let inboxes = state.core.list_inboxes(access).await?;
    let labels = state.core.list_labels(access).await?;
    let teams = state.core.list_teams(access).await.unwrap_or_default();
    let sel = |v: Option<String>| v.unwrap_or_default();
    Ok(ListView {
        rows,
        views,
        query: f.query_string(f.view),
        filters_q: f.q.clone(),
        filters_intent: f.intent.clone(),
        filters_language: f.language.clone(),
        statuses: fixed(
            &["open", "pending", "snoozed", "resolved", "any"],
            f.status.map_or("any", ConversationStatus::as_str),
        ),
        inboxes: choices(
            inboxes,
            |i| i.id.to_string(),
            |i| i.name.clone(),
            &sel(f.inbox.as_ref().map(ToString::to_string)),
        ),
        labels: choices(
            labels,
            |l| l.id.to_string(),
            |l| l.name.clone(),
            &sel(f.label.as_ref().map(ToString::to_string)),
        ),
        teams: choices(
            teams,
            |t| t.id.to_string(),
            |t| t.name.clone(),
            &sel(f.team.as_ref().map(ToString::to_string)),
        ),
        priorities: fixed(
            &["urgent", "high", "medium", "low", "none"],
            f.priority.map_or("", Priority::as_str),
        ),
        sentiments: fixed(
            &["negative", "neutral", "positive"],
            f.sentiment.map_or("", SentimentLabel::as_str),
        ),
        urgencies: fixed(
            &["urgent", "high", "normal", "low"],
            f.urgency.map_or("", UrgencyLevel::as_str),
        ),
        view: f.view,
        more,
    })
}

/// Splits `content` at the personal data triage found, so the page can mark it.
fn segments(content: &str, triage: Option<&MessageTriage>) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut at = 0;
    let spans = triage.map(|t| t.pii.as_slice()).unwrap_or_default();
    for span in spans {
        // Spans are byte offsets into the stored text; skip any that do not fit it.
        if span.start < at
            || span.end > content.len()
            || span.start >= span.end
            || !content.is_char_boundary(span.start)
            || !content.is_char_boundary(span.end)
        {
            continue;
        }
        if span.start > at {
            out.push(Segment {
                text: content[at..span.start].to_owned(),
                pii: String::new(),
            });
        }
        out.push(Segment {
            text: content[span.start..span.end].to_owned(),
            pii: span.kind.replace('_', " "),
        });
        at = span.end;
    }
    if at < content.len() || out.is_empty() {
        out.push(Segment {
            text: content[at..].to_owned(),
            pii: String::new(),
        });
    }
    out
}

fn triage_view(t: &MessageTriage) -> TriageView {
    let mut kinds: Vec<String> = t.pii.iter().map(|p| p.kind.replace('_', " ")).collect();
    kinds.dedup();
    TriageView {
        status: format!("{:?}", t.status).to_lowercase(),
        intent: t.intent.clone().unwrap_or_default(),
        confidence: t
            .intent_confidence
            .map(|c| format!("{:.0}%", c * 100.0))
            .unwrap_or_default(),
        sentiment: match (t.sentiment_label, t.sentiment) {
            (Some(l), Some(s)) => format!("{} ({s:+.2})", l.as_str()),
            (Some(l), None) => l.as_str().to_owned(),
            _ => String::new(),
        },
        urgency: t.urgency.map(|u| u.as_str().to_owned()).unwrap_or_default(),
        language: t.language.clone().unwrap_or_default(),
        pii: kinds.join(", "),
        redacted: t.redacted,
    }
}

fn item(m: &Message, contact: &str, members: &HashMap<String, String>) -> Item {
    let author = match m.sender.kind {
        ActorKind::Contact => contact.to_owned(),
        ActorKind::User => members
            .get(m.sender.id.as_str())
            .cloned()
            .unwrap_or_else(|| "Agent".into()),
        ActorKind::ApiKey => "API".into(),
        ActorKind::Bot | ActorKind::Ai => "Bot".into(),
        ActorKind::Automation => "Automation".into(),
        ActorKind::System => "System".into(),
    };
    let attachments = m
        .metadata
        .get("attachments")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    let id = x.get("id").and_then(|v| v.as_str())?;
                    let name = x.get("filename").and_then(|v| v.as_str())?;
                    Some((id.to_owned(), name.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    Item {
        id: m.id.to_string(),
        kind: match (m.private, m.direction) {
            (true, _) => "note",
            (false, switchboard_types::Direction::Incoming) => "in",
            (false, switchboard_types::Direction::Outgoing) => "out",
        },
        author,
        segments: segments(&m.content, m.triage.as_ref()),
        when: when(m.created_at),
        iso: iso(m.created_at),
        triage: m.triage.as_ref().map(triage_view),
        attachments,
        delivery: m
            .delivery_status
            .map(|d| format!("{d:?}").to_lowercase())
            .unwrap_or_default(),
    }
}

/// One line about a change to the conversation: who did what. `None` for changes the timeline
/// does not show (its creation is the first message).
fn activity_text(
    r: &switchboard_store::model::AuditRecord,
    members: &HashMap<String, String>,
) -> Option<String> {
    let who = match r.actor.kind {
        ActorKind::User => members
            .get(r.actor.id.as_str())
            .cloned()
            .unwrap_or_else(|| "An agent".into()),
        ActorKind::Contact => "The customer".into(),
        ActorKind::Bot | ActorKind::Ai => "The bot".into(),
        ActorKind::Automation => "An automation".into(),
        ActorKind::ApiKey => "An integration".into(),
        ActorKind::System => "Switchboard".into(),
    };
    let d = &r.details;
    let s = |k: &str| {
        d.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let name_of = |k: &str| {
        d.get(k).and_then(|v| v.as_str()).map(|id| {
            members
                .get(id)
                .cloned()
                .unwrap_or_else(|| "an agent".into())
        })
    };
    let what = match r.action.as_str() {
        "conversation.status_changed" if s("from") == s("to") => {
            format!("changed when it is {}", s("to"))
        }
        "conversation.status_changed" => {
            format!("changed the status from {} to {}", s("from"), s("to"))
        }
        "conversation.assigned" => {
            // One event for assignee and team changes: say what changed.
            let same = |a: &str, b: &str| d.get(a) == d.get(b);
            if !same("assignee_id", "previous_assignee_id") {
                match name_of("assignee_id") {
                    Some(n) => format!("assigned it to {n}"),
                    None => "unassigned it".into(),
                }
            } else if d.get("team_id").is_some_and(|t| !t.is_null()) {
                "moved it to another team".into()
            } else {
                "took it off its team".into()
            }
        }
        "conversation.labels_changed" => {
            let to: Vec<&str> = d
                .get("to")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            if to.is_empty() {
                "removed the labels".into()
            } else {
                format!("set the labels to {}", to.join(", "))
            }
        }
        "conversation.updated" => "updated the conversation".into(),
        "conversation.handed_off" => "handed it to a person".into(),
        "conversation.merged" => "merged another conversation into this one".into(),
        "conversation.participant_added" => "added a participant".into(),
        "conversation.participant_removed" => "removed a participant".into(),
        "conversation.attributes_changed" => "changed its attributes".into(),
        "conversation.wake" => "woke it from snooze".into(),
        _ => return None,
    };
    Some(format!("{who} {what}"))
}

async fn pane(
    state: &AppState,
    access: &TenantAccess,
    id: &ConversationId,
    members: &HashMap<String, String>,
    workers: &[(String, String)],
    back: String,
) -> ConsoleResult<Pane> {
    let (c, messages) = state
        .core
        .conversation_with_latest(access, id, THREAD_LIMIT)
        .await?;
    let earlier = messages.len() as i64 >= THREAD_LIMIT;
    let contact = state.core.get_contact(access, &c.contact_id).await?;
    let contact_name = if contact.name.is_empty() {
        "Visitor".to_owned()
    } else {
        contact.name.clone()
    };
    let mut items: Vec<(i64, Item)> = messages
        .iter()
        .map(|m| (m.created_at, item(m, &contact_name, members)))
        .collect();
    for r in state.core.conversation_activity(access, id).await? {
        if let Some(text) = activity_text(&r, members) {
            items.push((
                r.occurred_at,
                Item {
                    id: r.id.to_string(),
                    kind: "activity",
                    author: String::new(),
                    segments: vec![Segment {
                        text,
                        pii: String::new(),
                    }],
                    when: when(r.occurred_at),
                    iso: iso(r.occurred_at),
                    triage: None,
                    attachments: Vec::new(),
                    delivery: String::new(),
                },
            ));
        }
    }
    // Stable: a message and the change it caused keep their order.
    items.sort_by_key(|(at, _)| *at);
    let items = items.into_iter().map(|(_, i)| i).collect();
    let labels = state.core.conversation_labels(access, id).await?;
    let all_labels = state.core.list_labels(access).await?;
    let canned = state
        .core
        .list_canned(access, None)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.short_code, r.content))
        .collect();
    // What the help centre says about the customer's latest message (nothing when there is no
    // knowledge base, or the role may not search it).
    let last_question = messages
        .iter()
        .rev()
        .find(|m| m.direction == switchboard_types::Direction::Incoming && !m.private)
        .map(|m| m.content.clone())
        .unwrap_or_default();
    let suggestions = state
        .core
        .kb_suggestions(access, &last_question)
        .await
        .unwrap_or_default();
    let teams = state.core.list_teams(access).await.unwrap_or_default();
    let inbox = state
        .core
        .list_inboxes(access)
        .await?
        .into_iter()
        .find(|i| i.id == c.inbox_id)
        .map(|i| i.name)
        .unwrap_or_default();
    let past_convs = state
        .core
        .list_conversations(
            access,
            ConversationFilter {
                contact_id: Some(c.contact_id.clone()),
                page: PageRequest {
                    after: None,
                    limit: 10,
                },
                ..Default::default()
            },
        )
        .await?;
    let names: HashMap<String, String> =
        HashMap::from([(c.contact_id.to_string(), contact_name.clone())]);
    let past = past_convs
        .iter()
        .filter(|p| p.id != c.id)
        .map(|p| row(p, &names, members, None))
        .collect();
    let assignee = c
        .assignee_id
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let mut assignees = vec![Choice {
        value: String::new(),
        label: "Nobody".into(),
        selected: assignee.is_empty(),
    }];
    // Only people who may work conversations can be assigned.
    let mut people = workers.to_vec();
    if !assignee.is_empty() && !people.iter().any(|(id, _)| *id == assignee) {
        // Assigned to someone no longer listed: keep it as it is unless changed.
        people.insert(0, (assignee.clone(), "(current assignee)".into()));
    }
    assignees.extend(people.into_iter().map(|(id, name)| Choice {
        selected: id == assignee,
        value: id,
        label: name,
    }));
    let team = c
        .team_id
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let mut team_choices = vec![Choice {
        value: String::new(),
        label: "No team".into(),
        selected: team.is_empty(),
    }];
    team_choices.extend(choices(
        teams.iter(),
        |t| t.id.to_string(),
        |t| t.name.clone(),
        &team,
    ));
    let label_names: Vec<String> = labels.iter().map(|l| l.name.clone()).collect();
    Ok(Pane {
        earlier,
        assignee_id: assignee.clone(),
        team_id: team.clone(),
        id: c.id.to_string(),
        number: c.number,
        status: c.status.as_str(),
        priority: c.priority.as_str(),
        assignee: c
            .assignee_id
            .as_ref()
            .map(|a| {
                members
                    .get(a.as_str())
                    .cloned()
                    .unwrap_or_else(|| "an agent".into())
            })
            .unwrap_or_default(),
        team: teams
            .iter()
            .find(|t| Some(&t.id) == c.team_id.as_ref())
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        inbox,
        items,
        contact_name,
        contact_email: contact.email.unwrap_or_default(),
        contact_phone: contact.phone.unwrap_or_default(),
        contact_attributes: contact
            .custom_attributes
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                (k.clone(), v)
            })
            .collect(),
        past,
        label_choices: all_labels
            .iter()
            .filter(|l| !label_names.contains(&l.name))
            .map(|l| Choice {
                value: l.name.clone(),
                label: l.name.clone(),
                selected: false,
            })
            .collect(),
        labels: label_names,
        assignees,
        team_choices,
        priority_choices: fixed(
            &["none", "low", "medium", "high", "urgent"],
            c.priority.as_str(),
        ),
        canned,
        suggested_articles: suggestions
            .articles
            .into_iter()
            .map(|(h, url)| (h.title, url, h.snippet))
            .collect(),
        suggested_reply: suggestions.reply,
        back,
    })
}

/// `GET /app/t/{tenant}/inbox`.
pub async fn inbox(
    State(state): State<AppState>,
    agent: Agent,
    Path(tenant): Path<String>,
    Query(q): Query<InboxQuery>,
) -> ConsoleResult<Response> {
    render(&state, &agent, &tenant, &q, None).await
}

/// `GET /app/t/{tenant}/conversations/{id}`.
pub async fn conversation(
    State(state): State<AppState>,
    agent: Agent,
    Path((tenant, id)): Path<(String, String)>,
    Query(q): Query<InboxQuery>,
) -> ConsoleResult<Response> {
    let id: ConversationId = parse_id(&id)?;
    render(&state, &agent, &tenant, &q, Some(id)).await
}

async fn render(
    state: &AppState,
    agent: &Agent,
    tenant: &str,
    q: &InboxQuery,
    open: Option<ConversationId>,
) -> ConsoleResult<Response> {
    let access = tenant_access(state, agent, tenant).await?;
    let filters = q.check()?;
    let shell = Shell::new(state, agent, &access).await?;
    let (members, workers) = member_names(state, &access).await;
    let back = filters.query_string(filters.view);
    let list_only = q.fragment.as_deref() == Some("list");
    let pane = match &open {
        Some(id) if !list_only => Some(pane(state, &access, id, &members, &workers, back).await?),
        _ => None,
    };
    if q.fragment.as_deref() == Some("pane") {
        if let Some(pane) = &pane {
            return Ok(page(
                PaneFragment {
                    shell: &shell,
                    pane,
                }
                .render()?,
            ));
        }
    }
    let list = list_view(state, agent, &access, &filters, &members, open.as_ref()).await?;
    if list_only {
        return Ok(page(
            ListFragment {
                shell: &shell,
                list: &list,
            }
            .render()?,
        ));
    }
    Ok(page(InboxPage { shell, list, pane }.render()?))
}

/// Where a form sends the browser back to: the conversation, with the list's filters.
fn back_to(tenant: &str, id: &ConversationId, back: &str) -> Response {
    // `back` came from our own page, but it is input: keep it a query string and nothing else.
    let back: String = back
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "=&%_-.+".contains(*c))
        .take(1000)
        .collect();
    let tenant: String = tenant
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_".contains(*c))
        .collect();
    Redirect::to(&format!("/app/t/{tenant}/conversations/{id}?{back}")).into_response()
}

#[derive(Debug, Deserialize)]
pub struct ReplyForm {
    csrf: String,
    #[serde(default)]
    content: String,
    /// Comma-separated ids of files uploaded for this message (the page's script uploads them).
    #[serde(default)]
    attachments: String,
    /// `on` when the private-note toggle is checked.
    #[serde(default)]
    private: Option<String>,
    #[serde(default)]
    back: String,
}

/// `POST /app/t/{tenant}/conversations/{id}/messages`: a reply or a private note. A message that
/// is exactly `/shortcode` of a canned response sends that response.
pub async fn reply(
    State(state): State<AppState>,
    Meta(meta): Meta,
    agent: Agent,
    Path((tenant, id)): Path<(String, String)>,
    Form(form): Form<ReplyForm>,
) -> ConsoleResult<Response> {
    agent.check_csrf(&form.csrf)?;
    let access = tenant_access(&state, &agent, &tenant).await?;
    let id: ConversationId = parse_id(&id)?;
    let mut content = form.content.trim().to_owned();
    if let Some(code) = content.strip_prefix('/') {
        if !code.is_empty() && !code.contains(char::is_whitespace) {
            let canned = state.core.list_canned(&access, Some(code)).await?;
            if let Some(c) = canned.into_iter().find(|c| c.short_code == code) {
                content = c.content;
            }
        }
    }
    let attachments = form
        .attachments
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .take(11)
        .map(|s| {
            s.parse()
                .map_err(|_| ConsoleError::BadRequest("Unknown attachment.".into()))
        })
        .collect::<ConsoleResult<Vec<switchboard_types::AttachmentId>>>()?;
    state
        .core
        .post_message(
            &access,
            &id,
            content,
            form.private.as_deref() == Some("on"),
            &attachments,
            &meta,
        )
        .await?;
    Ok(back_to(&tenant, &id, &form.back))
}

/// `GET /app/t/{tenant}/attachments/{id}`: a file of a conversation, as a download.
pub async fn attachment(
    State(state): State<AppState>,
    agent: Agent,
    Path((tenant, id)): Path<(String, String)>,
) -> ConsoleResult<Response> {
    let access = tenant_access(&state, &agent, &tenant).await?;
    let id: switchboard_types::AttachmentId = parse_id(&id)?;
    let (a, bytes) = state.core.download_attachment(&access, &id).await?;
    Ok(switchboard_api::routes::attachments::file_response(
        &a, bytes,
    ))
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    csrf: String,
    #[serde(default)]
    status: Option<String>,
    /// Hours to snooze for (with `status=snoozed`).
    #[serde(default)]
    snooze_hours: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    /// A user id, `me`, or empty for nobody.
    #[serde(default)]
    assignee: Option<String>,
    /// A team id, or empty for none.
    #[serde(default)]
    team: Option<String>,
    /// The values the form showed, so only what the person changed is changed (another agent
    /// may have changed the rest since).
    #[serde(default)]
    orig_assignee: Option<String>,
    #[serde(default)]
    orig_team: Option<String>,
    #[serde(default)]
    orig_priority: Option<String>,
    /// A label name to add or remove.
    #[serde(default)]
    add_label: Option<String>,
    #[serde(default)]
    remove_label: Option<String>,
    #[serde(default)]
    back: String,
}

/// `POST /app/t/{tenant}/conversations/{id}`: status, snooze, priority, assignee, team, labels.
pub async fn change(
    State(state): State<AppState>,
    Meta(meta): Meta,
    agent: Agent,
    Path((tenant, id)): Path<(String, String)>,
    Form(form): Form<ChangeForm>,
) -> ConsoleResult<Response> {
    agent.check_csrf(&form.csrf)?;
    let access = tenant_access(&state, &agent, &tenant).await?;
    let id: ConversationId = parse_id(&id)?;
    let invalid = |what: &str| ConsoleError::BadRequest(format!("Unknown {what}."));
    let mut patch = ConversationPatch::default();
    if let Some(s) = form.status.as_deref().filter(|s| !s.is_empty()) {
        let status = ConversationStatus::parse(s).ok_or_else(|| invalid("status"))?;
        if status == ConversationStatus::Snoozed {
            let hours: i64 = form
                .snooze_hours
                .as_deref()
                .unwrap_or("4")
                .parse()
                .ok()
                .filter(|h| (1..=24 * 30).contains(h))
                .ok_or_else(|| invalid("snooze duration"))?;
            patch.snoozed_until = Some(state.core.clock().now_ms() + hours * 3_600_000);
        }
        patch.status = Some(status);
    }
    let unchanged = |v: &Option<String>, orig: &Option<String>| orig.is_some() && v == orig;
    if let Some(p) = form
        .priority
        .as_deref()
        .filter(|s| !s.is_empty())
        .filter(|_| !unchanged(&form.priority, &form.orig_priority))
    {
        patch.priority = Some(Priority::parse(p).ok_or_else(|| invalid("priority"))?);
    }
    if let Some(a) = form
        .assignee
        .as_deref()
        .filter(|_| !unchanged(&form.assignee, &form.orig_assignee))
    {
        patch.assignee_id = match a {
            "" => Change::Clear,
            "me" => Change::Set(agent.user.user_id.clone()),
            id => Change::Set(id.parse().map_err(|_| invalid("agent"))?),
        };
    }
    if let Some(t) = form
        .team
        .as_deref()
        .filter(|_| !unchanged(&form.team, &form.orig_team))
    {
        patch.team_id = match t {
            "" => Change::Clear,
            id => Change::Set(id.parse().map_err(|_| invalid("team"))?),
        };
    }
    let changes_conversation = patch.status.is_some()
        || patch.priority.is_some()
        || !matches!(patch.assignee_id, Change::Keep)
        || !matches!(patch.team_id, Change::Keep);
    if changes_conversation {
        state
            .core
            .update_conversation(&access, &id, patch, &meta)
            .await?;
    }
    let add = form.add_label.as_deref().filter(|s| !s.is_empty());
    let remove = form.remove_label.as_deref().filter(|s| !s.is_empty());
    if add.is_some() || remove.is_some() {
        let mut names: Vec<String> = state
            .core
            .conversation_labels(&access, &id)
            .await?
            .into_iter()
            .map(|l| l.name)
            .filter(|n| Some(n.as_str()) != remove)
            .collect();
        if let Some(a) = add {
            if !names.iter().any(|n| n == a) {
                names.push(a.to_owned());
            }
        }
        state
            .core
            .set_conversation_labels(&access, &id, &names, &meta)
            .await?;
    }
    Ok(back_to(&tenant, &id, &form.back))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_types::PiiSpan;

    fn span(kind: &str, start: usize, end: usize) -> PiiSpan {
        PiiSpan {
            kind: kind.into(),
            start,
            end,
            confidence: 1.0,
        }
    }

    #[test]
    fn personal_data_is_split_out_for_marking() {
        let mut t = MessageTriage::untriaged("x");
        t.pii = vec![span("card", 8, 14)];
        let s = segments("my card [CARD] ok", Some(&t));
        let parts: Vec<(&str, &str)> = s
            .iter()
            .map(|s| (s.text.as_str(), s.pii.as_str()))
            .collect();
        assert_eq!(
            parts,
            vec![("my card ", ""), ("[CARD]", "card"), (" ok", "")]
        );
    }

    #[test]
    fn spans_that_do_not_fit_the_text_are_ignored() {
        let mut t = MessageTriage::untriaged("x");
        t.pii = vec![
            span("email", 3, 99),
            span("phone", 1, 2),
            span("card", 0, 1),
        ];
        let s = segments("héllo", Some(&t));
        // 1..2 splits "é" (two bytes): skipped; 0..1 comes after 1..2 was skipped but starts
        // before nothing consumed, so it is kept.
        let text: String = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(text, "héllo");
    }

    #[test]
    fn filters_are_checked() {
        let q = InboxQuery {
            status: Some("bogus".into()),
            ..Default::default()
        };
        assert!(q.check().is_err());
        let q = InboxQuery {
            inbox: Some("../../etc/passwd".into()),
            ..Default::default()
        };
        assert!(q.check().is_err());
        let q = InboxQuery {
            q: Some("x".repeat(201)),
            ..Default::default()
        };
        assert!(q.check().is_err());
        let f = InboxQuery::default().check().unwrap();
        assert_eq!(f.view, "all");
        assert_eq!(f.status, Some(ConversationStatus::Open));
        assert_eq!(f.query_string("mine"), "view=mine&status=open");
    }

    #[test]
    fn the_way_back_stays_a_query_string() {
        let id: ConversationId = ConversationId::generate();
        let res = back_to("acme", &id, "view=all&status=open\r\nLocation: //evil/?");
        let loc = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(loc.starts_with("/app/t/acme/conversations/"), "{loc}");
        assert!(!loc.contains("//evil") && !loc.contains('\n'), "{loc}");
    }
}
