//! Gathers what conditions are tested against: the event, its message (with triage), the
//! conversation (with labels and channel) and the contact, as they stand when the rule runs.

use super::rules::Facts;
use crate::calendar::Calendar;
use crate::error::CoreResult;
use serde_json::{json, Value};
use std::collections::HashMap;
use switchboard_store::model::{Conversation, Message};
use switchboard_store::TenantTx;
use switchboard_types::{CalendarId, ConversationId, MessageId};

/// The facts of one event, and the conversation they are about.
pub(super) struct Gathered {
    pub facts: Facts,
    pub conversation: Conversation,
}

/// Collects the facts for an event about `conversation` (and `message`, when it is about one);
/// `None` when the conversation is gone (merged or deleted since).
pub(super) async fn gather(
    tx: &mut (dyn TenantTx + '_),
    event_type: &str,
    data: &Value,
    conversation: &ConversationId,
    message: Option<&MessageId>,
    now: i64,
) -> CoreResult<Option<Gathered>> {
    let Some(c) = tx.get_conversation(conversation).await? else {
        return Ok(None);
    };
    let mut f = Facts::default();
    f.set("event.type", event_type);
    if let Some(target) = data.get("target").and_then(Value::as_str) {
        f.set("sla.target", target);
    }
    if let Some(id) = message {
        if let Some(m) = tx.get_message(id).await? {
            message_facts(&mut f, &m);
        }
    }
    f.set("conversation.status", c.status.as_str());
    f.set("conversation.priority", c.priority.as_str());
    f.set("conversation.inbox_id", c.inbox_id.as_str());
    f.set("conversation.number", c.number);
    f.set(
        "conversation.assignee_id",
        c.assignee_id.as_ref().map(|u| u.to_string()),
    );
    f.set(
        "conversation.team_id",
        c.team_id.as_ref().map(|t| t.to_string()),
    );
    if let Some(since) = c.waiting_since {
        f.set(
            "conversation.waiting_minutes",
            (now - since).max(0) / 60_000,
        );
    }
    let labels: Vec<String> = tx
        .conversation_labels(&c.id)
        .await?
        .into_iter()
        .map(|l| l.name)
        .collect();
    f.set("conversation.labels", json!(labels));
    for (k, v) in &c.custom_attributes {
        f.set(&format!("conversation.attributes.{k}"), v.clone());
    }
    if let Some(inbox) = tx.get_inbox(&c.inbox_id).await? {
        f.set("conversation.channel", inbox.channel.as_str());
    }
    if let Some(contact) = tx.get_contact(&c.contact_id).await? {
        f.set("contact.name", contact.name);
        f.set("contact.email", contact.email);
        f.set("contact.phone", contact.phone);
        f.set("contact.external_id", contact.external_id);
        for (k, v) in contact.custom_attributes {
            f.set(&format!("contact.attributes.{k}"), v);
        }
    }
    Ok(Some(Gathered {
        facts: f,
        conversation: c,
    }))
}

/// The message's own fields and what triage found in it.
pub(super) fn message_facts(f: &mut Facts, m: &Message) {
    f.set("message.content", m.content.as_str());
    f.set("message.direction", m.direction.as_str());
    f.set("message.private", m.private);
    f.set("message.sender_type", m.sender.kind.as_str());
    let Some(t) = &m.triage else {
        f.set("message.triaged", false);
        return;
    };
    f.set(
        "message.triaged",
        t.status == switchboard_types::TriageStatus::Triaged,
    );
    f.set("message.language", t.language.clone());
    f.set("message.intent", t.intent.clone());
    f.set("message.intent_confidence", t.intent_confidence);
    if let Some(intent) = &t.intent {
        f.set("message.out_of_scope", intent == "oos");
    }
    f.set("message.sentiment", t.sentiment);
    f.set(
        "message.sentiment_label",
        t.sentiment_label.map(|l| l.as_str()),
    );
    f.set("message.urgency", t.urgency.map(|u| u.as_str()));
    f.set("message.pii_found", !t.pii.is_empty());
    let mut kinds: Vec<&str> = t.pii.iter().map(|p| p.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    f.set("message.pii_types", json!(kinds));
}

/// Answers "is this calendar open now" for conditions, loading each calendar once.
pub(super) struct BusinessHours {
    calendars: HashMap<CalendarId, Option<Calendar>>,
    now: i64,
}

impl BusinessHours {
    pub(super) fn new(now: i64) -> Self {
        Self {
            calendars: HashMap::new(),
            now,
        }
    }

    /// Loads the calendars `ids` names that are not loaded yet.
    pub(super) async fn load(
        &mut self,
        tx: &mut (dyn TenantTx + '_),
        ids: &[CalendarId],
    ) -> CoreResult<()> {
        for id in ids {
            if self.calendars.contains_key(id) {
                continue;
            }
            let cal = match tx.get_calendar(id).await? {
                Some(stored) => crate::calendars::parse_spec(&stored.spec)
                    .ok()
                    .map(|(_, c)| c),
                None => None,
            };
            self.calendars.insert(id.clone(), cal);
        }
        Ok(())
    }

    /// Whether the calendar is open now (`None`: unknown calendar, so the condition fails).
    pub(super) fn is_open(&self, id: &CalendarId) -> Option<bool> {
        self.calendars
            .get(id)
            .and_then(Option::as_ref)
            .map(|c| c.is_open(self.now))
    }
}
