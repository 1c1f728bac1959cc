//! The rule language: what sets a rule off (its trigger), what must hold (conditions over the
//! message, the conversation, the contact, the triage fields and business hours, combined with
//! `all` / `any`), and what it then does (its actions). Pure: parsing, checking and evaluating
//! against facts gathered by the engine, so the same code answers dry runs.

use crate::error::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchboard_types::{CalendarId, ConversationStatus, Priority, SlaPolicyId, TeamId, UserId};

/// Most conditions in one rule, counted over every group.
pub const MAX_CONDITIONS: usize = 50;
/// Deepest nesting of `all` / `any` groups.
pub const MAX_NESTING: usize = 4;
/// Most actions in one rule.
pub const MAX_ACTIONS: usize = 20;
/// Longest text value in a condition.
const MAX_VALUE_CHARS: usize = 1_000;
/// Longest snooze.
const MAX_SNOOZE_MINUTES: i64 = 60 * 24 * 90;

/// What sets a rule off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A message or private note was added (conditions usually narrow it to the customer's).
    MessageCreated {},
    ConversationCreated {},
    /// Status, priority, assignment, team, labels or custom attributes changed.
    ConversationUpdated {},
    ConversationResolved {},
    SlaWarning {},
    SlaBreached {},
    /// An open or pending conversation has seen no activity for `idle_minutes` (fires once per
    /// quiet spell; checked every minute).
    TimeBased {
        idle_minutes: i64,
    },
}

impl Trigger {
    /// The stored kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MessageCreated {} => "message_created",
            Self::ConversationCreated {} => "conversation_created",
            Self::ConversationUpdated {} => "conversation_updated",
            Self::ConversationResolved {} => "conversation_resolved",
            Self::SlaWarning {} => "sla_warning",
            Self::SlaBreached {} => "sla_breached",
            Self::TimeBased { .. } => "time_based",
        }
    }

    /// The trigger kinds an event sets off (a resolution is also an update).
    pub fn kinds_for_event(event_type: &str, data: &Value) -> &'static [&'static str] {
        match event_type {
            "message.created" => &["message_created"],
            "conversation.created" => &["conversation_created"],
            "conversation.status_changed"
                if data.get("to").and_then(Value::as_str) == Some("resolved") =>
            {
                &["conversation_updated", "conversation_resolved"]
            }
            "conversation.status_changed"
            | "conversation.updated"
            | "conversation.assigned"
            | "conversation.labels_changed"
            | "conversation.attributes_changed"
            | "conversation.handed_off" => &["conversation_updated"],
            "sla.warning" => &["sla_warning"],
            "sla.breached" => &["sla_breached"],
            _ => &[],
        }
    }
}

/// A condition: a comparison of one field, or a group of conditions that must all / any hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Condition {
    All { all: Vec<Condition> },
    Any { any: Vec<Condition> },
    Field(FieldCondition),
}

/// `{"field": "message.intent", "op": "in", "value": ["refund"]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldCondition {
    pub field: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
    /// `business_hours` only: the calendar whose hours count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar_id: Option<CalendarId>,
}

/// How a field is compared. Text comparisons ignore case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    In,
    NotIn,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
    Gt,
    Gte,
    Lt,
    Lte,
    Exists,
    NotExists,
}

/// What kind of value a field holds, which decides the operators it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Bool,
    /// One of these words, in rising order (so `gte` means "at least").
    Ordered(&'static [&'static str]),
    /// One of these words.
    Choice(&'static [&'static str]),
    /// A list of words (labels, kinds of personal data).
    List,
    /// A custom attribute: text, number or boolean.
    Any,
}

const URGENCY: &[&str] = &["low", "normal", "high", "urgent"];
const PRIORITY: &[&str] = &["none", "low", "medium", "high", "urgent"];
const STATUS: &[&str] = &["open", "pending", "snoozed", "resolved"];
const CHANNEL: &[&str] = &["api", "widget", "email", "sms"];
const DIRECTION: &[&str] = &["incoming", "outgoing"];
const SENTIMENT: &[&str] = &["negative", "neutral", "positive"];
const ACTOR: &[&str] = &[
    "user",
    "contact",
    "bot",
    "ai",
    "automation",
    "api_key",
    "system",
];
const SLA_TARGET: &[&str] = &["first_response", "next_response", "resolution"];

/// Every field a condition may name (plus `conversation.attributes.<key>` and
/// `contact.attributes.<key>`).
const FIELDS: &[(&str, Kind)] = &[
    ("event.type", Kind::Text),
    ("message.content", Kind::Text),
    ("message.direction", Kind::Choice(DIRECTION)),
    ("message.private", Kind::Bool),
    ("message.sender_type", Kind::Choice(ACTOR)),
    ("message.triaged", Kind::Bool),
    ("message.language", Kind::Text),
    ("message.intent", Kind::Text),
    ("message.intent_confidence", Kind::Number),
    ("message.out_of_scope", Kind::Bool),
    ("message.sentiment", Kind::Number),
    ("message.sentiment_label", Kind::Choice(SENTIMENT)),
    ("message.urgency", Kind::Ordered(URGENCY)),
    ("message.pii_found", Kind::Bool),
    ("message.pii_types", Kind::List),
    ("conversation.status", Kind::Choice(STATUS)),
    ("conversation.priority", Kind::Ordered(PRIORITY)),
    ("conversation.channel", Kind::Choice(CHANNEL)),
    ("conversation.inbox_id", Kind::Text),
    ("conversation.assignee_id", Kind::Text),
    ("conversation.team_id", Kind::Text),
    ("conversation.labels", Kind::List),
    ("conversation.number", Kind::Number),
    ("conversation.waiting_minutes", Kind::Number),
    ("contact.name", Kind::Text),
    ("contact.email", Kind::Text),
    ("contact.phone", Kind::Text),
    ("contact.external_id", Kind::Text),
    ("sla.target", Kind::Choice(SLA_TARGET)),
    ("business_hours", Kind::Bool),
];

fn kind_of(field: &str) -> Option<Kind> {
    if let Some(key) = field
        .strip_prefix("conversation.attributes.")
        .or_else(|| field.strip_prefix("contact.attributes."))
    {
        let ok = !key.is_empty()
            && key.len() <= 64
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        return ok.then_some(Kind::Any);
    }
    FIELDS.iter().find(|(f, _)| *f == field).map(|(_, k)| *k)
}

/// The field names a condition may use, for documentation and the console's editor.
pub fn field_names() -> impl Iterator<Item = &'static str> {
    FIELDS.iter().map(|(f, _)| *f)
}

/// One thing a rule does. Replies and notes are written as the rule (actor `automation`, its
/// id), through the same use cases as an agent's, so they are validated, audited and announced
/// the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    AssignAgent {
        user_id: UserId,
    },
    AssignTeam {
        team_id: TeamId,
    },
    Unassign {},
    AddLabels {
        labels: Vec<String>,
    },
    RemoveLabels {
        labels: Vec<String>,
    },
    SetPriority {
        priority: Priority,
    },
    /// `open`, `pending` or `resolved` (use `snooze` to snooze).
    SetStatus {
        status: ConversationStatus,
    },
    Snooze {
        minutes: i64,
    },
    /// A reply to the customer.
    SendReply {
        content: String,
    },
    /// A reply with a canned response's text.
    SendCanned {
        short_code: String,
    },
    /// A private note for agents.
    AddNote {
        content: String,
    },
    /// An `automation.triggered` event for webhook endpoints and the event stream.
    EmitEvent {
        name: String,
        #[serde(default)]
        data: Map<String, Value>,
    },
    /// Puts the conversation in front of people: open, waiting for a reply.
    HandOff {},
    ApplySla {
        sla_policy_id: SlaPolicyId,
    },
}

impl Action {
    /// The action's name as written in rules.
    pub fn name(&self) -> &'static str {
        match self {
            Self::AssignAgent { .. } => "assign_agent",
            Self::AssignTeam { .. } => "assign_team",
            Self::Unassign {} => "unassign",
            Self::AddLabels { .. } => "add_labels",
            Self::RemoveLabels { .. } => "remove_labels",
            Self::SetPriority { .. } => "set_priority",
            Self::SetStatus { .. } => "set_status",
            Self::Snooze { .. } => "snooze",
            Self::SendReply { .. } => "send_reply",
            Self::SendCanned { .. } => "send_canned",
            Self::AddNote { .. } => "add_note",
            Self::EmitEvent { .. } => "emit_event",
            Self::HandOff {} => "hand_off",
            Self::ApplySla { .. } => "apply_sla",
        }
    }
}

/// A rule's trigger, conditions and actions (what is stored as its definition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub trigger: Trigger,
    /// Absent: the rule fires on every occurrence of its trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Condition>,
    pub actions: Vec<Action>,
}

/// Shape errors of a definition (ids are checked against the tenant's data by the caller).
pub fn check(d: &Definition) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Trigger::TimeBased { idle_minutes } = d.trigger {
        if !(1..=60 * 24 * 90).contains(&idle_minutes) {
            errors.push(FieldError::new(
                "trigger.idle_minutes",
                "1 minute to 90 days",
            ));
        }
    }
    if let Some(c) = &d.conditions {
        let mut count = 0;
        check_condition(c, "conditions", 1, &mut count, &mut errors);
        if count > MAX_CONDITIONS {
            errors.push(FieldError::new("conditions", "at most 50 conditions"));
        }
    }
    if d.actions.is_empty() || d.actions.len() > MAX_ACTIONS {
        errors.push(FieldError::new("actions", "1 to 20 actions"));
    }
    for (i, a) in d.actions.iter().enumerate() {
        let field = format!("actions[{i}]");
        match a {
            Action::SetStatus {
                status: ConversationStatus::Snoozed,
            } => errors.push(FieldError::new(field, "use the snooze action to snooze")),
            Action::Snooze { minutes } if !(1..=MAX_SNOOZE_MINUTES).contains(minutes) => {
                errors.push(FieldError::new(
                    format!("{field}.minutes"),
                    "1 minute to 90 days",
                ));
            }
            Action::SendReply { content } | Action::AddNote { content }
                if crate::conversations::check_content(content).is_err() =>
            {
                errors.push(FieldError::new(
                    format!("{field}.content"),
                    "1 byte to 64 KiB of text",
                ));
            }
            Action::AddLabels { labels } | Action::RemoveLabels { labels }
                if labels.is_empty() || labels.len() > 50 =>
            {
                errors.push(FieldError::new(format!("{field}.labels"), "1 to 50 labels"));
            }
            Action::SendCanned { short_code } if short_code.trim().is_empty() => {
                errors.push(FieldError::new(format!("{field}.short_code"), "required"));
            }
            Action::EmitEvent { name, data } => {
                let ok = !name.is_empty()
                    && name.len() <= 64
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
                if !ok {
                    errors.push(FieldError::new(
                        format!("{field}.name"),
                        "1 to 64 letters, digits, '_', '-' or '.'",
                    ));
                }
                if Value::Object(data.clone()).to_string().len() > 8_192 {
                    errors.push(FieldError::new(format!("{field}.data"), "at most 8 KiB"));
                }
            }
            _ => {}
        }
    }
    if matches!(d.trigger, Trigger::TimeBased { .. })
        && d.conditions.as_ref().is_some_and(uses_message)
    {
        errors.push(FieldError::new(
            "conditions",
            "time-based rules have no message: message.* fields cannot be used",
        ));
    }
    errors
}

fn uses_message(c: &Condition) -> bool {
    match c {
        Condition::All { all: list } | Condition::Any { any: list } => {
            list.iter().any(uses_message)
        }
        Condition::Field(f) => f.field.starts_with("message."),
    }
}

fn check_condition(
    c: &Condition,
    path: &str,
    depth: usize,
    count: &mut usize,
    errors: &mut Vec<FieldError>,
) {
    match c {
        Condition::All { all: list } | Condition::Any { any: list } => {
            if depth > MAX_NESTING {
                errors.push(FieldError::new(path, "groups nest at most 4 deep"));
                return;
            }
            if list.is_empty() {
                errors.push(FieldError::new(path, "an empty group"));
            }
            let key = if matches!(c, Condition::All { .. }) {
                "all"
            } else {
                "any"
            };
            for (i, inner) in list.iter().enumerate() {
                check_condition(
                    inner,
                    &format!("{path}.{key}[{i}]"),
                    depth + 1,
                    count,
                    errors,
                );
            }
        }
        Condition::Field(f) => {
            *count += 1;
            check_field(f, path, errors);
        }
    }
}

fn check_field(f: &FieldCondition, path: &str, errors: &mut Vec<FieldError>) {
    let Some(kind) = kind_of(&f.field) else {
        errors.push(FieldError::new(
            format!("{path}.field"),
            "an unknown field (see docs/automation.md)",
        ));
        return;
    };
    let value_error = |message: &str| FieldError::new(format!("{path}.value"), message);
    if (f.field == "business_hours") != f.calendar_id.is_some() {
        errors.push(FieldError::new(
            format!("{path}.calendar_id"),
            "required with business_hours, and only there",
        ));
    }
    let allowed: &[Op] = match kind {
        Kind::Text => &[
            Op::Eq,
            Op::Ne,
            Op::In,
            Op::NotIn,
            Op::Contains,
            Op::NotContains,
            Op::StartsWith,
            Op::EndsWith,
            Op::Exists,
            Op::NotExists,
        ],
        Kind::Number => &[
            Op::Eq,
            Op::Ne,
            Op::Gt,
            Op::Gte,
            Op::Lt,
            Op::Lte,
            Op::Exists,
            Op::NotExists,
        ],
        Kind::Bool => &[Op::Eq, Op::Ne],
        Kind::Ordered(_) => &[
            Op::Eq,
            Op::Ne,
            Op::In,
            Op::NotIn,
            Op::Gt,
            Op::Gte,
            Op::Lt,
            Op::Lte,
            Op::Exists,
            Op::NotExists,
        ],
        Kind::Choice(_) => &[Op::Eq, Op::Ne, Op::In, Op::NotIn, Op::Exists, Op::NotExists],
        Kind::List => &[
            Op::Contains,
            Op::NotContains,
            Op::In,
            Op::NotIn,
            Op::Exists,
            Op::NotExists,
        ],
        Kind::Any => &[
            Op::Eq,
            Op::Ne,
            Op::In,
            Op::NotIn,
            Op::Contains,
            Op::NotContains,
            Op::Gt,
            Op::Gte,
            Op::Lt,
            Op::Lte,
            Op::Exists,
            Op::NotExists,
        ],
    };
    if !allowed.contains(&f.op) {
        errors.push(FieldError::new(
            format!("{path}.op"),
            "this operator does not apply to this field",
        ));
        return;
    }
    let word_ok = |v: &Value| match (kind, v) {
        (Kind::Ordered(words) | Kind::Choice(words), Value::String(s)) => {
            words.contains(&s.as_str())
        }
        (Kind::Text | Kind::List, Value::String(s)) => {
            !s.is_empty() && s.chars().count() <= MAX_VALUE_CHARS
        }
        (Kind::Any, Value::String(s)) => s.chars().count() <= MAX_VALUE_CHARS,
        (Kind::Any, Value::Number(_) | Value::Bool(_)) => true,
        (Kind::Number, Value::Number(_)) => true,
        (Kind::Bool, Value::Bool(_)) => true,
        _ => false,
    };
    match f.op {
        Op::Exists | Op::NotExists => {
            if !f.value.is_null() {
                errors.push(value_error("no value with exists / not_exists"));
            }
        }
        Op::In | Op::NotIn => match &f.value {
            Value::Array(list) if !list.is_empty() && list.len() <= 100 => {
                if !list.iter().all(word_ok) {
                    errors.push(value_error("a list of values this field can hold"));
                }
            }
            _ => errors.push(value_error("a list of 1 to 100 values")),
        },
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
            let ok = match kind {
                Kind::Ordered(_) => word_ok(&f.value),
                _ => f.value.is_number(),
            };
            if !ok {
                errors.push(value_error("a value this field can be compared with"));
            }
        }
        _ => {
            if !word_ok(&f.value) {
                errors.push(value_error(match kind {
                    Kind::Ordered(_) | Kind::Choice(_) => "one of the field's values",
                    Kind::Number => "a number",
                    Kind::Bool => "true or false",
                    _ => "a value of up to 1,000 characters",
                }));
            }
        }
    }
}

/// The values conditions are tested against, by field name (`message.intent`, …). A missing
/// field (a conversation with no assignee, an untriaged message) is absent, not null.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub values: Map<String, Value>,
}

impl Facts {
    pub fn set(&mut self, field: &str, value: impl Into<Value>) {
        let v = value.into();
        if !v.is_null() {
            self.values.insert(field.to_owned(), v);
        }
    }
}

/// How one field condition came out (dry runs show these).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    pub field: String,
    pub op: Op,
    pub expected: Value,
    /// What the field held (absent: null).
    pub actual: Value,
    pub matched: bool,
}

/// Whether `c` holds for `facts`; `business_open` answers the business-hours condition for a
/// calendar. Every field condition visited is appended to `trace`; groups stop early like
/// `&&` / `||`.
pub fn evaluate(
    c: &Condition,
    facts: &Facts,
    business_open: &dyn Fn(&CalendarId) -> Option<bool>,
    trace: &mut Vec<Trace>,
) -> bool {
    match c {
        Condition::All { all } => all
            .iter()
            .all(|inner| evaluate(inner, facts, business_open, trace)),
        Condition::Any { any } => any
            .iter()
            .any(|inner| evaluate(inner, facts, business_open, trace)),
        Condition::Field(f) => {
            let actual = match (&f.calendar_id, f.field.as_str()) {
                (Some(cal), "business_hours") => business_open(cal).map(Value::Bool),
                _ => facts.values.get(&f.field).cloned(),
            };
            let kind = kind_of(&f.field).unwrap_or(Kind::Any);
            let matched = compare(kind, f.op, actual.as_ref(), &f.value);
            trace.push(Trace {
                field: f.field.clone(),
                op: f.op,
                expected: f.value.clone(),
                actual: actual.unwrap_or(Value::Null),
                matched,
            });
            matched
        }
    }
}

fn lower(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_lowercase()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => lower(a).is_some() && lower(a) == lower(b),
    }
}

fn rank(kind: Kind, v: &Value) -> Option<f64> {
    match kind {
        Kind::Ordered(words) => {
            let s = v.as_str()?;
            words
                .iter()
                .position(|w| *w == s)
                .and_then(|i| u32::try_from(i).ok())
                .map(f64::from)
        }
        _ => v.as_f64(),
    }
}

fn compare(kind: Kind, op: Op, actual: Option<&Value>, expected: &Value) -> bool {
    let Some(actual) = actual else {
        // A missing field only satisfies the negative tests.
        return matches!(op, Op::NotExists | Op::Ne | Op::NotIn | Op::NotContains);
    };
    let list = |v: &Value| -> Vec<Value> {
        match v {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        }
    };
    let text_test = |f: &dyn Fn(&str, &str) -> bool| match (lower(actual), lower(expected)) {
        (Some(a), Some(e)) => f(&a, &e),
        _ => false,
    };
    match op {
        Op::Exists => true,
        Op::NotExists => false,
        Op::Eq => same(actual, expected),
        Op::Ne => !same(actual, expected),
        Op::In | Op::NotIn => {
            // A list field matches `in` when any of its items is listed.
            let found = list(actual)
                .iter()
                .any(|a| list(expected).iter().any(|e| same(a, e)));
            found == (op == Op::In)
        }
        Op::Contains | Op::NotContains => {
            let found = match actual {
                Value::Array(items) => items.iter().any(|a| same(a, expected)),
                _ => text_test(&|a, e| a.contains(e)),
            };
            found == (op == Op::Contains)
        }
        Op::StartsWith => text_test(&|a, e| a.starts_with(e)),
        Op::EndsWith => text_test(&|a, e| a.ends_with(e)),
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => match (rank(kind, actual), rank(kind, expected)) {
            (Some(a), Some(e)) => match op {
                Op::Gt => a > e,
                Op::Gte => a >= e,
                Op::Lt => a < e,
                _ => a <= e,
            },
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(v: Value) -> Result<Definition, serde_json::Error> {
        serde_json::from_value(v)
    }

    fn facts() -> Facts {
        let mut f = Facts::default();
        f.set("message.content", "I was CHARGED twice for order 1234");
        f.set("message.intent", "refund");
        f.set("message.intent_confidence", 0.91);
        f.set("message.sentiment", -0.6);
        f.set("message.urgency", "high");
        f.set("message.pii_types", json!(["email"]));
        f.set("conversation.labels", json!(["vip", "billing"]));
        f.set("conversation.priority", "medium");
        f.set("contact.email", "ada@Example.com");
        f
    }

    fn holds(c: Value) -> bool {
        let c: Condition = serde_json::from_value(c).unwrap();
        evaluate(&c, &facts(), &|_| Some(false), &mut Vec::new())
    }

    #[test]
    fn fields_compare_by_their_kind() {
        assert!(holds(
            json!({"field": "message.intent", "op": "in", "value": ["refund", "cancel"]})
        ));
        assert!(holds(
            json!({"field": "message.intent_confidence", "op": "gte", "value": 0.9})
        ));
        assert!(!holds(
            json!({"field": "message.intent_confidence", "op": "gte", "value": 0.95})
        ));
        assert!(holds(
            json!({"field": "message.sentiment", "op": "lte", "value": -0.5})
        ));
        // Ordered words: high is at least normal, below urgent.
        assert!(holds(
            json!({"field": "message.urgency", "op": "gte", "value": "normal"})
        ));
        assert!(!holds(
            json!({"field": "message.urgency", "op": "gte", "value": "urgent"})
        ));
        assert!(holds(
            json!({"field": "conversation.priority", "op": "lt", "value": "high"})
        ));
        // Text ignores case.
        assert!(holds(
            json!({"field": "message.content", "op": "contains", "value": "charged TWICE"})
        ));
        assert!(holds(
            json!({"field": "contact.email", "op": "ends_with", "value": "@example.com"})
        ));
        // Lists: contains an item; `in` when any item is listed.
        assert!(holds(
            json!({"field": "conversation.labels", "op": "contains", "value": "vip"})
        ));
        assert!(holds(
            json!({"field": "conversation.labels", "op": "in", "value": ["spam", "billing"]})
        ));
        assert!(holds(
            json!({"field": "message.pii_types", "op": "not_contains", "value": "card"})
        ));
        // Missing fields satisfy only the negative tests.
        assert!(holds(
            json!({"field": "conversation.assignee_id", "op": "not_exists"})
        ));
        assert!(holds(
            json!({"field": "message.language", "op": "ne", "value": "fr"})
        ));
        assert!(!holds(
            json!({"field": "message.language", "op": "eq", "value": "en"})
        ));
        assert!(!holds(
            json!({"field": "message.language", "op": "contains", "value": "e"})
        ));
        // Business hours come from the calendar callback.
        assert!(holds(
            json!({"field": "business_hours", "op": "eq", "value": false, "calendar_id": "cal_01jd0000000000000000000000"})
        ));
    }

    #[test]
    fn groups_combine_with_all_and_any() {
        assert!(holds(json!({"all": [
            {"field": "message.intent", "op": "eq", "value": "refund"},
            {"any": [
                {"field": "conversation.labels", "op": "contains", "value": "nope"},
                {"field": "message.urgency", "op": "eq", "value": "high"}
            ]}
        ]})));
        assert!(!holds(json!({"any": [
            {"field": "message.intent", "op": "eq", "value": "billing"},
            {"field": "message.urgency", "op": "eq", "value": "low"}
        ]})));
    }

    #[test]
    fn the_trace_shows_what_each_condition_saw() {
        let c: Condition = serde_json::from_value(json!({"all": [
            {"field": "message.intent", "op": "eq", "value": "refund"},
            {"field": "message.urgency", "op": "eq", "value": "urgent"}
        ]}))
        .unwrap();
        let mut trace = Vec::new();
        assert!(!evaluate(&c, &facts(), &|_| None, &mut trace));
        assert_eq!(trace.len(), 2);
        assert!(trace[0].matched);
        assert_eq!(trace[1].actual, json!("high"));
        assert!(!trace[1].matched);
    }

    #[test]
    fn bad_definitions_name_the_field_at_fault() {
        let cases = [
            (
                json!({"trigger": {"type": "message_created"}, "conditions": {"field": "message.secret", "op": "eq", "value": 1}, "actions": [{"type": "unassign"}]}),
                "conditions.field",
            ),
            (
                json!({"trigger": {"type": "message_created"}, "conditions": {"field": "message.urgency", "op": "eq", "value": "catastrophic"}, "actions": [{"type": "unassign"}]}),
                "conditions.value",
            ),
            (
                json!({"trigger": {"type": "message_created"}, "conditions": {"all": [{"field": "message.private", "op": "gt", "value": 1}]}, "actions": [{"type": "unassign"}]}),
                "conditions.all[0].op",
            ),
            (
                json!({"trigger": {"type": "message_created"}, "conditions": {"any": []}, "actions": [{"type": "unassign"}]}),
                "conditions",
            ),
            (
                json!({"trigger": {"type": "message_created"}, "actions": []}),
                "actions",
            ),
            (
                json!({"trigger": {"type": "message_created"}, "actions": [{"type": "set_status", "status": "snoozed"}]}),
                "actions[0]",
            ),
            (
                json!({"trigger": {"type": "message_created"}, "actions": [{"type": "snooze", "minutes": 0}]}),
                "actions[0].minutes",
            ),
            (
                json!({"trigger": {"type": "message_created"}, "actions": [{"type": "emit_event", "name": "a b"}]}),
                "actions[0].name",
            ),
            (
                json!({"trigger": {"type": "time_based", "idle_minutes": 0}, "actions": [{"type": "unassign"}]}),
                "trigger.idle_minutes",
            ),
            (
                json!({"trigger": {"type": "time_based", "idle_minutes": 60}, "conditions": {"field": "message.intent", "op": "exists"}, "actions": [{"type": "unassign"}]}),
                "conditions",
            ),
            (
                json!({"trigger": {"type": "message_created"}, "conditions": {"field": "business_hours", "op": "eq", "value": true}, "actions": [{"type": "unassign"}]}),
                "conditions.calendar_id",
            ),
            (
                json!({"trigger": {"type": "message_created"}, "conditions": {"field": "contact.attributes.Bad-Key", "op": "exists"}, "actions": [{"type": "unassign"}]}),
                "conditions.field",
            ),
        ];
        for (v, field) in cases {
            let d = def(v.clone()).unwrap();
            let errors = check(&d);
            assert!(errors.iter().any(|e| e.field == field), "{v}: {errors:?}");
        }
        // Too deep and too many.
        let mut deep = json!({"field": "message.intent", "op": "exists"});
        for _ in 0..5 {
            deep = json!({"all": [deep]});
        }
        let d = def(json!({"trigger": {"type": "message_created"}, "conditions": deep, "actions": [{"type": "unassign"}]})).unwrap();
        assert!(!check(&d).is_empty());
        let many: Vec<Value> = (0..51)
            .map(|_| json!({"field": "message.intent", "op": "exists"}))
            .collect();
        let d = def(json!({"trigger": {"type": "message_created"}, "conditions": {"all": many}, "actions": [{"type": "unassign"}]})).unwrap();
        assert!(check(&d).iter().any(|e| e.message.contains("50")));
        // Unknown triggers and actions do not parse at all.
        assert!(def(
            json!({"trigger": {"type": "on_full_moon"}, "actions": [{"type": "unassign"}]})
        )
        .is_err());
        assert!(def(
            json!({"trigger": {"type": "message_created"}, "actions": [{"type": "drop_table"}]})
        )
        .is_err());
    }

    #[test]
    fn events_map_to_triggers() {
        assert_eq!(
            Trigger::kinds_for_event("conversation.status_changed", &json!({"to": "resolved"})),
            &["conversation_updated", "conversation_resolved"]
        );
        assert_eq!(
            Trigger::kinds_for_event("conversation.status_changed", &json!({"to": "open"})),
            &["conversation_updated"]
        );
        assert!(Trigger::kinds_for_event("label.created", &json!({})).is_empty());
    }
}
