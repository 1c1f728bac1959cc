//! Rows as the rest of the code sees them. Timestamps are Unix milliseconds (UTC) everywhere in
//! storage; the API renders RFC 3339.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use switchboard_types::CalendarId;
use switchboard_types::{
    Actor, ApiKeyId, AttributeId, AttributeKind, AttributeTarget, AuditEventId, Availability,
    CellId, CompanyId, ContactId, EventId, JobId, PartnerId, Plan, SessionId, TeamId, TenantId,
    TenantRole, TenantStatus, UserId,
};
use switchboard_types::{CannedResponseId, LabelId};
use switchboard_types::{
    Channel, ConversationId, ConversationStatus, Direction, InboxId, MessageId, Priority,
};

/// A database in a region that hosts tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub id: CellId,
    pub region: String,
    /// A name for the database (never its credentials).
    pub database: String,
    pub created_at: i64,
}

/// A reseller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    pub id: PartnerId,
    pub slug: String,
    pub name: String,
    pub created_at: i64,
}

/// A business using Switchboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub plan: Plan,
    pub status: TenantStatus,
    pub region: String,
    pub cell_id: CellId,
    pub partner_id: Option<PartnerId>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which tenants to list.
#[derive(Debug, Clone, Default)]
pub struct TenantFilter {
    pub partner_id: Option<PartnerId>,
    pub status: Option<TenantStatus>,
    pub page: PageRequest,
}

/// A person who can sign in, across tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Lower-cased; unique across the platform.
    pub email: String,
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: Option<String>,
    pub is_platform_admin: bool,
    /// Base32 TOTP secret; `totp_enabled` only after the first code was confirmed.
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    /// The last TOTP time step accepted; codes of that step or earlier are refused.
    pub totp_last_step: Option<i64>,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl User {
    /// A new account: not a platform administrator, no second factor, no failed sign-ins.
    pub fn new(
        email: String,
        display_name: String,
        password_hash: Option<String>,
        now: i64,
    ) -> Self {
        Self {
            id: UserId::generate(),
            email,
            display_name,
            password_hash,
            is_platform_admin: false,
            totp_secret: None,
            totp_enabled: false,
            totp_last_step: None,
            failed_logins: 0,
            locked_until: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A person's membership of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub role: TenantRole,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A member as listed inside a tenant: the membership joined with the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    pub display_name: String,
    pub role: TenantRole,
    pub availability: Availability,
    /// Open conversations this agent takes at most; `None`: no limit.
    pub capacity: Option<i64>,
    pub created_at: i64,
}

/// A partner user's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerMembership {
    pub partner_id: PartnerId,
    pub user_id: UserId,
    pub role: switchboard_types::PartnerRole,
}

/// An API key. Only the SHA-256 of the secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub name: String,
    /// The first characters of the key, to recognise it in lists.
    pub prefix: String,
    pub key_hash: String,
    pub scopes: Vec<String>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What a session row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A console cookie session, with a CSRF token.
    Console,
    /// A short-lived bearer access token.
    Access,
    /// A long-lived refresh token, exchanged (and rotated) for a new pair.
    Refresh,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Console => "console",
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "console" => Self::Console,
            "access" => Self::Access,
            "refresh" => Self::Refresh,
            _ => return None,
        })
    }
}

/// A signed-in session or token. Tokens are stored as SHA-256 hashes only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub kind: SessionKind,
    pub token_hash: String,
    pub csrf_hash: Option<String>,
    /// Access and refresh tokens issued together share a family; revoking one revokes both.
    pub family: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The tip of an audit chain: the last sequence number and its hash (empty before the first entry).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

/// One audit entry, as chained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub id: AuditEventId,
    pub occurred_at: i64,
    pub actor: Actor,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// Which audit entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub target_id: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Return entries with `seq` below this (newest first).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// A domain event written in the same transaction as the change it describes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub id: EventId,
    pub event_type: String,
    pub version: i64,
    pub occurred_at: i64,
    pub actor: Actor,
    pub payload: serde_json::Value,
}

/// An outbox event as committed, with its place in the tenant's sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Position in the tenant's event sequence (1, 2, …, in commit order).
    pub seq: i64,
    pub event: OutboxEvent,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    /// Exhausted its attempts.
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// A background job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    /// Workers claim from named queues, so kinds of work can be scaled (or isolated) apart.
    pub queue: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub status: JobStatus,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: i64,
    pub locked_by: Option<String>,
    pub locked_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub queue: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub run_at: i64,
    pub max_attempts: i64,
}

/// A stored outcome of a POST carrying an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub scope: String,
    pub key: String,
    pub request_hash: String,
    /// `None` while the first request is still running.
    pub status: Option<i64>,
    pub body: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Keyset pagination: items after `after` (an id), at most `limit`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: i64,
}

impl PageRequest {
    /// Limits are clamped to 1..=1000; zero means the default of 50. (The API offers up to
    /// 200 and asks for one more to learn whether another page exists.)
    pub fn clamped_limit(&self) -> i64 {
        match self.limit {
            0 => 50,
            n => n.clamp(1, 1000),
        }
    }
}

/// A company contacts belong to.
#[derive(Debug, Clone, PartialEq)]
pub struct Company {
    pub id: CompanyId,
    pub name: String,
    /// Lower-case domain, unique per tenant when present.
    pub domain: Option<String>,
    pub custom_attributes: serde_json::Map<String, serde_json::Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A person who writes in. Email, phone (E.164) and external id are each unique per tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: ContactId,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub external_id: Option<String>,
    pub company_id: Option<CompanyId>,
    pub custom_attributes: serde_json::Map<String, serde_json::Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// How to look contacts up.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub external_id: Option<String>,
    pub company_id: Option<CompanyId>,
    pub page: PageRequest,
}

/// A typed custom attribute a tenant keeps on one kind of record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDefinition {
    pub id: AttributeId,
    pub applies_to: AttributeTarget,
    /// The key values are stored under (`a-z`, `0-9`, `_`).
    pub key: String,
    pub label: String,
    pub kind: AttributeKind,
    /// Allowed values, for `list` attributes.
    pub options: Vec<String>,
    pub created_at: i64,
}

/// A team of agents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A business-hours calendar; `spec` is its JSON definition (time zone, hours, holidays), kept
/// as written and validated by the core before storage.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessCalendar {
    pub id: CalendarId,
    pub name: String,
    pub spec: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An inbox: one channel customers reach the tenant through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbox {
    pub id: InboxId,
    pub name: String,
    pub channel: Channel,
    pub assignment_policy: switchboard_types::AssignmentPolicy,
    /// The public half of a widget inbox's identifier (widget inboxes only).
    pub public_token: Option<String>,
    /// The channel's non-secret settings.
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Secrets derived for this inbox change when this is bumped (rotation).
    pub secret_version: i64,
    /// The channel's own secret (e.g. the Twilio auth token), sealed with a key derived from the
    /// server secret; only core opens it.
    pub channel_secret: Option<String>,
    /// The SLA policy new conversations of this inbox get.
    pub sla_policy_id: Option<switchboard_types::SlaPolicyId>,
    /// Reassign a conversation whose assignee leaves the customer waiting this long.
    pub reassign_after_ms: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A visitor's session on a web-widget inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetSession {
    pub id: switchboard_types::WidgetSessionId,
    pub inbox_id: InboxId,
    pub contact_id: ContactId,
    /// SHA-256 of the session token (the token itself is only ever with the visitor).
    pub token_hash: String,
    /// The visitor proved who they are with the identifier hash.
    pub verified: bool,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A conversation with one contact in one inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: ConversationId,
    /// The per-tenant display number (`#42`), never reused.
    pub number: i64,
    pub inbox_id: InboxId,
    pub contact_id: ContactId,
    pub status: ConversationStatus,
    pub snoozed_until: Option<i64>,
    pub priority: Priority,
    pub assignee_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    /// Since when the customer waits for a reply; `None` when the last word was ours.
    pub waiting_since: Option<i64>,
    pub last_activity_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Values of the tenant's conversation attribute definitions.
    pub custom_attributes: serde_json::Map<String, serde_json::Value>,
}

/// A reply or note to send later.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledMessage {
    pub id: switchboard_types::ScheduledMessageId,
    pub conversation_id: ConversationId,
    pub content: String,
    pub private: bool,
    pub attachment_ids: Vec<switchboard_types::AttachmentId>,
    pub sender: Actor,
    pub send_at: i64,
    /// `scheduled`, `sent`, `cancelled` or `failed`.
    pub status: String,
    pub message_id: Option<MessageId>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An intent model a tenant uploaded (its bytes are in the blob store).
#[derive(Debug, Clone, PartialEq)]
pub struct IntentModelRecord {
    pub id: switchboard_types::IntentModelId,
    /// Unique per tenant; tenants select it as `custom:<name>`.
    pub name: String,
    /// Of the file's bytes, hex.
    pub sha256: String,
    pub size_bytes: i64,
    /// The intents the model knows.
    pub labels: Vec<String>,
    pub created_at: i64,
}

/// A tenant's triage settings as core defines them (JSON), with when they last changed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTriageSettings {
    pub settings: serde_json::Value,
    pub updated_at: i64,
}

/// A saved list of actions.
#[derive(Debug, Clone, PartialEq)]
pub struct Macro {
    pub id: switchboard_types::MacroId,
    pub name: String,
    /// The actions, as core defines them.
    pub actions: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An automation rule as stored; core owns the meaning of its definition.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationRule {
    pub id: switchboard_types::AutomationRuleId,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    /// Rules run in ascending position (then oldest first).
    pub position: i64,
    /// The trigger's kind, kept apart so the engine can pick rules without parsing them all.
    pub trigger: String,
    /// `{trigger, conditions, actions}` as core defines them.
    pub definition: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One rule's run on one event (or one time-based occasion).
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationRun {
    pub id: switchboard_types::AutomationRunId,
    pub rule_id: switchboard_types::AutomationRuleId,
    /// The triggering event's id, or the time-based occasion's key.
    pub event_id: String,
    pub conversation_id: Option<ConversationId>,
    /// How many automation runs led to this one (0: a person, customer or system caused it).
    pub depth: i64,
    /// `running`, `applied`, `failed` or `loop_limit`.
    pub outcome: String,
    /// Each action with its result.
    pub actions: serde_json::Value,
    pub error: Option<String>,
    pub created_at: i64,
}

/// Which automation runs to list (newest first).
#[derive(Debug, Clone, Default)]
pub struct AutomationRunFilter {
    pub rule_id: Option<switchboard_types::AutomationRuleId>,
    pub conversation_id: Option<ConversationId>,
    /// Runs older than this one.
    pub before: Option<switchboard_types::AutomationRunId>,
    pub limit: i64,
}

/// A help centre.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KbPortal {
    pub id: switchboard_types::KbPortalId,
    /// Its address: `/hc/<tenant slug>/<portal slug>`.
    pub slug: String,
    pub name: String,
    pub default_locale: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A group of a help centre's articles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KbCategory {
    pub id: switchboard_types::KbCategoryId,
    pub portal_id: switchboard_types::KbPortalId,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub position: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An article in one locale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KbArticle {
    pub id: switchboard_types::KbArticleId,
    pub portal_id: switchboard_types::KbPortalId,
    pub category_id: Option<switchboard_types::KbCategoryId>,
    pub locale: String,
    pub slug: String,
    pub title: String,
    /// Markdown.
    pub body: String,
    /// `draft`, `published` or `archived`.
    pub status: String,
    /// The article this one translates.
    pub translation_of: Option<switchboard_types::KbArticleId>,
    pub author: Actor,
    pub helpful: i64,
    pub not_helpful: i64,
    pub views: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub published_at: Option<i64>,
}

/// Which articles to list (ordered by category position, then title).
#[derive(Debug, Clone, Default)]
pub struct KbArticleFilter {
    pub portal_id: Option<switchboard_types::KbPortalId>,
    pub category_id: Option<switchboard_types::KbCategoryId>,
    pub locale: Option<String>,
    pub status: Option<String>,
    pub limit: i64,
}

/// A tenant's AI-answer settings as stored; core owns their meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAiSettings {
    pub settings: serde_json::Value,
    /// The generative model's API key, sealed.
    pub api_key: Option<String>,
    pub updated_at: i64,
}

/// What the AI did with one customer message.
#[derive(Debug, Clone, PartialEq)]
pub struct AiAnswer {
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    /// `running`, `reply`, `resolve`, `handoff` or `skipped`.
    pub action: String,
    pub reply_message_id: Option<MessageId>,
    /// Why: confidences and thresholds, citations, the model.
    pub details: serde_json::Value,
    pub tokens: i64,
    pub created_at: i64,
}

/// Which conversations to list.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    /// Only conversations carrying this label.
    pub label_id: Option<LabelId>,
    pub inbox_id: Option<InboxId>,
    pub contact_id: Option<ContactId>,
    pub assignee_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub priority: Option<switchboard_types::Priority>,
    pub unassigned: bool,
    pub page: PageRequest,
}

/// A message or private note.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub direction: Direction,
    /// A note for agents only; never sent to the customer.
    pub private: bool,
    pub sender: Actor,
    pub content: String,
    pub created_at: i64,
    /// The message's id at the channel's provider (Twilio's MessageSid, an email's Message-ID).
    pub external_id: Option<String>,
    /// For outgoing messages on channels that deliver elsewhere (SMS, email).
    pub delivery_status: Option<DeliveryStatus>,
    /// Channel details: an email's subject and attachments, a delivery error.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// What triage learned (inbound messages only).
    pub triage: Option<switchboard_types::MessageTriage>,
}

/// Response and resolution targets (milliseconds; `None`: no target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaPolicy {
    pub id: switchboard_types::SlaPolicyId,
    pub name: String,
    pub first_response_ms: Option<i64>,
    pub next_response_ms: Option<i64>,
    pub resolution_ms: Option<i64>,
    /// Count business hours of this calendar; `None`: every hour counts.
    pub calendar_id: Option<CalendarId>,
    /// Warn when this share of a budget is used.
    pub warning_percent: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A conversation's SLA clocks (their shape belongs to core).
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationSla {
    pub conversation_id: ConversationId,
    pub policy_id: switchboard_types::SlaPolicyId,
    pub state: serde_json::Value,
    pub updated_at: i64,
}

/// A fact a report counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricEvent {
    pub id: switchboard_types::MetricEventId,
    /// `created`, `first_response`, `reply`, `resolution`, `reopened`, `handoff`, `csat_sent`,
    /// `csat`.
    pub kind: String,
    pub conversation_id: ConversationId,
    pub inbox_id: InboxId,
    pub agent_id: Option<String>,
    pub team_id: Option<TeamId>,
    /// Where the measured span starts (equal to `at` for plain counts).
    pub started_at: i64,
    pub at: i64,
    /// A rating, or a flag (a resolution without a reply from a person).
    pub value: Option<i64>,
}

/// Which facts a report reads.
#[derive(Debug, Clone, Default)]
pub struct MetricFilter {
    pub kinds: Vec<String>,
    pub since: i64,
    pub until: i64,
    pub inbox_id: Option<InboxId>,
    pub agent_id: Option<String>,
    pub team_id: Option<TeamId>,
    pub label_id: Option<LabelId>,
}

/// A satisfaction survey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsatSurvey {
    pub id: switchboard_types::CsatSurveyId,
    pub conversation_id: ConversationId,
    pub token_hash: String,
    pub sent_at: i64,
    pub rating: Option<i64>,
    pub comment: Option<String>,
    pub responded_at: Option<i64>,
}

/// Something a person should look at.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub id: switchboard_types::NotificationId,
    pub user_id: UserId,
    /// `mention`, `sla_warning`, `sla_breach`, `assigned`.
    pub kind: String,
    pub conversation_id: Option<ConversationId>,
    pub data: serde_json::Value,
    pub read_at: Option<i64>,
    pub created_at: i64,
}

/// A file sent with a message (its bytes are in the blob store under `blob_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: switchboard_types::AttachmentId,
    pub conversation_id: ConversationId,
    /// `None` until the message it was uploaded for is sent.
    pub message_id: Option<MessageId>,
    /// A name only (no directories), for display and downloads.
    pub filename: String,
    /// As sniffed from the bytes, not as claimed.
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub blob_key: String,
    pub uploaded_by: Actor,
    pub created_at: i64,
}

/// Where an outgoing message is on its way to the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    /// Handed to the provider; the outcome is not recorded yet.
    Sending,
    Sent,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "sending" => Some(Self::Sending),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// An agent taking an inbox's conversations, with what auto-assignment needs to choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxAgent {
    pub user_id: UserId,
    pub availability: Availability,
    pub capacity: Option<i64>,
    pub last_assigned_at: Option<i64>,
    /// Conversations assigned to this agent that are not resolved, across inboxes.
    pub open_conversations: i64,
}

/// A label conversations carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub id: LabelId,
    pub name: String,
    /// `#rrggbb`.
    pub colour: String,
    pub created_at: i64,
}

/// An invitation to join a tenant. The link's token is stored only as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: switchboard_types::InvitationId,
    /// Normalised (lower case).
    pub email: String,
    pub role: TenantRole,
    pub token_hash: String,
    /// The user who invited.
    pub invited_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
}

/// A reply text agents insert with `/short_code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedResponse {
    pub id: CannedResponseId,
    pub short_code: String,
    pub content: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A full-text search over messages, narrowed by conversation fields.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Words to find (all of them); plain text, never query syntax.
    pub terms: Vec<String>,
    pub status: Option<ConversationStatus>,
    pub inbox_id: Option<InboxId>,
    pub assignee_id: Option<UserId>,
    pub label_id: Option<LabelId>,
    /// Messages created at or after / before these instants.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Triage filters on the matching message.
    pub intent: Option<String>,
    pub language: Option<String>,
    pub sentiment: Option<switchboard_types::SentimentLabel>,
    pub urgency: Option<switchboard_types::UrgencyLevel>,
    pub has_pii: Option<bool>,
    pub limit: i64,
}

/// A URL a tenant receives its events at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: switchboard_types::WebhookEndpointId,
    pub url: String,
    pub description: String,
    /// Event types delivered (`conversation.*` names a family); empty means every type.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Headers sent with every delivery, in addition to ours.
    pub headers: BTreeMap<String, String>,
    /// Deliveries per second this endpoint accepts (per node); `None` for no limit.
    pub rate_limit_per_s: Option<i64>,
    /// The signing secret, sealed.
    pub secret: String,
    /// The secret before the last rotation (sealed), still signed with until it expires.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    /// When the failures since the last success began; `None` while healthy.
    pub failing_since: Option<i64>,
    /// Why the endpoint was disabled automatically (`gone`, `failing`), if it was.
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where a failed delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookDeliveryStatus {
    /// Waits for its next attempt.
    Pending,
    /// Out of attempts, or its endpoint was disabled: on the dead-letter list.
    Dead,
    /// Delivered after all, by a retry or a replay.
    Succeeded,
}

impl WebhookDeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Dead => "dead",
            Self::Succeeded => "succeeded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "dead" => Some(Self::Dead),
            "succeeded" => Some(Self::Succeeded),
            _ => None,
        }
    }
}

/// An event whose delivery to one endpoint failed at least once. Deliveries that succeed at the
/// first attempt leave only their attempt behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub endpoint_id: switchboard_types::WebhookEndpointId,
    pub event_id: EventId,
    pub event_type: String,
    pub status: WebhookDeliveryStatus,
    /// Attempts made so far.
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One try at delivering an event to an endpoint, as the attempt log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttempt {
    pub id: switchboard_types::WebhookAttemptId,
    pub endpoint_id: switchboard_types::WebhookEndpointId,
    pub event_id: EventId,
    pub event_type: String,
    /// 1 for the first attempt of an event at this endpoint.
    pub attempt: i64,
    /// What made it: `dispatch`, `retry`, `replay` or `recover`.
    pub cause: String,
    pub attempted_at: i64,
    pub status_code: Option<i64>,
    pub duration_ms: i64,
    /// The start of the response body (at most 20 KB).
    pub response_body: String,
    pub error: Option<String>,
    pub succeeded: bool,
}
