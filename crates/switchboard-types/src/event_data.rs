//! The `data` of every event type, as Rust types: the source of the catalog's JSON Schemas
//! (derived with utoipa behind the `openapi` feature) and, in debug builds, the check every
//! emitted event passes (`serde(deny_unknown_fields)`: a field missing from its type fails the
//! test suite, so the published schema cannot drift from what is sent).
//!
//! Ids are strings with their prefix (`cnv_…`, `msg_…`); times are RFC 3339 strings unless the
//! field says milliseconds.

use serde::{Deserialize, Serialize};
use serde_json::Value;

macro_rules! data {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(deny_unknown_fields)]
        pub struct $name { $($(#[$fdoc])* pub $field: $ty),* }
    };
}

data!(/// `agent.availability_changed`
AgentAvailabilityChanged { user_id: String, /** `online`, `busy` or `offline` */ availability: String });
data!(/// `api_key.created`
ApiKeyCreated { api_key_id: String, scopes: Vec<String> });
data!(/// `api_key.revoked`
ApiKeyRevoked { api_key_id: String });
data!(/// `attachment.uploaded`
AttachmentUploaded { attachment_id: String, conversation_id: String, filename: String, content_type: String, /** bytes */ size: i64 });
data!(/// `attribute_definition.created`
AttributeDefinitionCreated { attribute_id: String, /** `contact`, `company` or `conversation` */ applies_to: String, key: String, kind: String });
data!(/// `attribute_definition.deleted`
AttributeDefinitionDeleted { attribute_id: String });
data!(/// `business_calendar.created`, `business_calendar.updated`
BusinessCalendarChanged { calendar_id: String, name: String });
data!(/// `business_calendar.deleted`
BusinessCalendarDeleted { calendar_id: String });
data!(/// `canned_response.created`
CannedResponseCreated { canned_response_id: String, short_code: String });
data!(/// `canned_response.deleted`
CannedResponseDeleted { canned_response_id: String });
data!(/// `company.created`
CompanyCreated { company_id: String, name: String, domain: Option<String> });
data!(/// `company.updated`: the company after the change
CompanyUpdated { company_id: String, name: String, domain: Option<String>, custom_attributes: Value });
data!(/// `company.deleted`
CompanyDeleted { company_id: String });
data!(/// `contact.created`, `contact.updated` (after the change)
ContactChanged {
    contact_id: String,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    external_id: Option<String>,
    #[serde(default)]
    company_id: Option<String>,
    /// Present on `contact.updated` and on contacts created through the API.
    #[serde(default)]
    custom_attributes: Option<Value>,
});
data!(/// `contact.deleted`
ContactDeleted { contact_id: String });
data!(/// `contact.merged`
ContactMerged { /** the survivor */ contact_id: String, /** deleted */ merged_contact_id: String });
data!(/// `conversation.assigned`
ConversationAssigned {
    conversation_id: String,
    inbox_id: String,
    assignee_id: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    previous_assignee_id: Option<String>,
    #[serde(default)]
    previous_team_id: Option<String>,
    /// By auto-assignment: the inbox's assignment policy.
    #[serde(default)]
    policy: Option<Value>,
    /// `no_reply` when the previous assignee left the customer waiting too long.
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    reassign_after_ms: Option<i64>,
});
data!(/// `conversation.attributes_changed`
ConversationAttributesChanged { conversation_id: String, inbox_id: String, custom_attributes: Value });
data!(/// `conversation.created`
ConversationCreated {
    conversation_id: String,
    number: i64,
    inbox_id: String,
    contact_id: String,
    status: String,
    priority: String,
    assignee_id: Option<String>,
    team_id: Option<String>,
});
data!(/// `conversation.handed_off`
ConversationHandedOff { conversation_id: String, inbox_id: String });
data!(/// `conversation.labels_changed`
ConversationLabelsChanged { conversation_id: String, inbox_id: String, from: Vec<String>, to: Vec<String> });
data!(/// `conversation.merged`
ConversationMerged {
    /// The conversation kept.
    conversation_id: String,
    inbox_id: String,
    /// The conversation merged in (deleted).
    merged_conversation_id: String,
    messages_moved: i64,
    /// The deleted conversation's record (as in `conversation.created`).
    merged: ConversationCreated,
});
data!(/// `conversation.participant_added`, `conversation.participant_removed`
ConversationParticipant { conversation_id: String, inbox_id: String, user_id: String });
data!(/// `conversation.status_changed`
ConversationStatusChanged {
    conversation_id: String,
    inbox_id: String,
    from: String,
    to: String,
    /// Milliseconds since the epoch, for a snooze.
    #[serde(default)]
    snoozed_until: Option<i64>,
    /// `customer_message` (a customer reopened it) or `merge`.
    #[serde(default)]
    reason: Option<String>,
});
data!(/// `conversation.updated`: a priority change
ConversationUpdated { conversation_id: String, inbox_id: String, from: String, to: String });
data!(/// `csat.requested`
CsatRequested { conversation_id: String, inbox_id: String, contact_id: String, survey_id: String });
data!(/// `csat.answered`
CsatAnswered { conversation_id: String, inbox_id: String, survey_id: String, rating: i64, comment: Option<String> });
data!(/// `endpoint.disabled`
EndpointDisabled { endpoint_id: String, /** scheme, host and port only */ url: String, /** `gone` or `failing` */ reason: Option<String>, failing_since: Option<String> });
data!(/// `inbox.created`
InboxCreated { inbox_id: String, name: String, channel: String });
data!(/// `inbox.member_added`, `inbox.member_removed`
InboxMember { inbox_id: String, user_id: String });
data!(/// `inbox.updated`: the inbox and what changed
InboxUpdated {
    inbox_id: String,
    #[serde(default)]
    sla_policy_id: Option<String>,
    /// Widget inboxes: `optional` or `required`.
    #[serde(default)]
    identity: Option<String>,
    #[serde(default)]
    secret_rotated: Option<bool>,
    /// Widget inboxes: the widget's look or greeting changed.
    #[serde(default)]
    appearance_changed: Option<bool>,
    #[serde(default)]
    channel: Option<String>,
    /// SMS and email inboxes: their settings (never secrets).
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    assignment_policy: Option<Value>,
    #[serde(default)]
    reassign_after_ms: Option<i64>,
});
data!(/// `intent_model.uploaded`, `intent_model.replaced`
IntentModelUploaded { model_id: String, name: String, sha256: String, size_bytes: i64, /** how many */ labels: i64 });
data!(/// `intent_model.deleted`
IntentModelDeleted { model_id: String, name: String });
data!(/// `kb_portal.created`
KbPortalCreated { portal_id: String, slug: String, name: String, default_locale: String });
data!(/// `kb_portal.deleted`
KbPortalDeleted { portal_id: String });
data!(/// `kb_category.created`
KbCategoryCreated { category_id: String, portal_id: String, slug: String, name: String });
data!(/// `kb_category.deleted`
KbCategoryDeleted { category_id: String });
data!(/// `kb_article.created`, `kb_article.updated`
KbArticleChanged {
    article_id: String,
    portal_id: String,
    locale: String,
    slug: String,
    title: String,
    /// `draft`, `published` or `archived`.
    status: String,
});
data!(/// `kb_article.deleted`
KbArticleDeleted { article_id: String });
data!(/// `label.created`
LabelCreated { label_id: String, name: String });
data!(/// `label.deleted`
LabelDeleted { label_id: String });
data!(/// `ai.settings_updated`: the tenant's AI-answer settings (never the model's key)
AiSettingsUpdated {
    enabled: bool,
    #[serde(default)]
    portal_id: Option<String>,
    #[serde(default)]
    locale: Option<String>,
    inbox_ids: Vec<String>,
    intents: Vec<String>,
    min_intent_confidence: f64,
    min_retrieval_confidence: f64,
    max_turns: i64,
    /// The generative model's address and name, when one is set.
    #[serde(default)]
    generative: Option<Value>,
    api_key_set: bool,
});
data!(/// `automation_rule.created`, `automation_rule.updated`
AutomationRuleChanged {
    rule_id: String,
    name: String,
    enabled: bool,
    /// `message_created`, `conversation_created`, `conversation_updated`, `conversation_resolved`, `sla_warning`, `sla_breached` or `time_based`.
    trigger: String,
    position: i64,
});
data!(/// `automation_rule.deleted`
AutomationRuleDeleted { rule_id: String });
data!(/// `automation.triggered`: a rule's `emit_event` action
AutomationTriggered {
    rule_id: String,
    /// The name the rule gave the event.
    name: String,
    #[serde(default)]
    conversation_id: Option<String>,
    /// The event that set the rule off.
    cause_event_id: String,
    /// What the rule attached (an object).
    data: Value,
});
data!(/// `macro.created`
MacroCreated { macro_id: String, name: String, actions: Value });
data!(/// `macro.deleted`
MacroDeleted { macro_id: String });
data!(/// `member.added`
MemberAdded { user_id: String, role: String });
data!(/// `member.role_changed`
MemberRoleChanged { user_id: String, from: String, to: String });
data!(/// `member.removed`
MemberRemoved { user_id: String });
data!(/// `message.created`
MessageCreated {
    message_id: String,
    conversation_id: String,
    inbox_id: String,
    /// `inbound` or `outbound`.
    direction: String,
    private: bool,
    /// Who wrote it: `{type, id}`.
    sender: Value,
    /// Redacted when the tenant's policy says so.
    content: String,
    created_at: String,
    attachments: Vec<Value>,
    /// Inbound messages: language, intent, sentiment, urgency, personal data (see docs/nlp.md).
    #[serde(default)]
    triage: Option<Value>,
});
data!(/// `message.delivery_updated`
MessageDeliveryUpdated { message_id: String, conversation_id: String, inbox_id: String, /** `sent` or `failed` */ status: String, external_id: Option<String>, error: Option<String> });
data!(/// `message.scheduled`, `message.schedule_cancelled`, `message.schedule_sent`, `message.schedule_failed`
ScheduledMessageChanged { scheduled_message_id: String, conversation_id: String, send_at: String, private: bool, status: String, message_id: Option<String>, error: Option<String> });
data!(/// `notification.created`
NotificationCreated { notification_id: String, user_id: String, kind: String, conversation_id: Option<String>, data: Value });
data!(/// `sla.applied`
SlaApplied { conversation_id: String, inbox_id: String, sla_policy_id: String });
data!(/// `sla.warning`, `sla.breached`
SlaAlert { conversation_id: String, inbox_id: String, sla_policy_id: String, /** `first_response`, `next_response` or `resolution` */ target: String, cycle: i64, assignee_id: Option<String> });
data!(/// `sla_policy.created`
SlaPolicyCreated { sla_policy_id: String, name: String, first_response_ms: Option<i64>, next_response_ms: Option<i64>, resolution_ms: Option<i64>, calendar_id: Option<String>, warning_percent: i64 });
data!(/// `sla_policy.deleted`
SlaPolicyDeleted { sla_policy_id: String });
data!(/// `team.created`, `team.updated`
TeamChanged { team_id: String, name: String });
data!(/// `team.deleted`
TeamDeleted { team_id: String });
data!(/// `team.member_added`, `team.member_removed`
TeamMember { team_id: String, user_id: String });
data!(/// `tenant.provisioned`
TenantProvisioned { tenant_id: String, slug: String });
data!(/// `webhook_endpoint.created`, `webhook_endpoint.updated`
WebhookEndpointChanged { endpoint_id: String, /** scheme, host and port only */ url: String, description: String, event_types: Vec<String>, enabled: bool, /** never their values */ header_names: Vec<String>, rate_limit_per_s: Option<i64> });
data!(/// `webhook_endpoint.deleted`
WebhookEndpointDeleted { endpoint_id: String });
data!(/// `webhook_endpoint.secret_rotated`
WebhookSecretRotated { endpoint_id: String, previous_secret_expires_at: String });

/// `triage.settings_updated`: the tenant's triage settings after the change (see docs/nlp.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct TriageSettingsUpdated(pub serde_json::Map<String, Value>);
