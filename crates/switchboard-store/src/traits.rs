//! The storage contract both backends fulfil (checked by the conformance suite).

use crate::model::*;
use crate::{StoreError, TenantCtx};
use async_trait::async_trait;
use std::collections::BTreeMap;
use switchboard_types::CalendarId;
use switchboard_types::{
    ApiKeyId, AttributeId, AttributeTarget, Availability, CellId, CompanyId, ContactId, JobId,
    PartnerId, TeamId, TenantId, TenantRole, TenantStatus, UserId,
};
use switchboard_types::{CannedResponseId, ConversationId, InboxId, LabelId, MessageId};
use switchboard_types::{EventId, WebhookAttemptId, WebhookEndpointId};

/// Which database engine is behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Whether a unit of work writes. SQLite routes writes to its single writer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A database holding the control plane and tenant data.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    fn backend(&self) -> Backend;

    /// Starts a transaction scoped to one tenant. On PostgreSQL this also sets the tenant for
    /// row-level security, transaction-locally.
    async fn tenant(
        &self,
        ctx: &TenantCtx,
        access: Access,
    ) -> Result<Box<dyn TenantTx>, StoreError>;

    /// Starts a transaction on the control plane.
    async fn control(&self, access: Access) -> Result<Box<dyn ControlTx>, StoreError>;

    /// Announces, after each commit in this process that wrote outbox events, the tenant they
    /// belong to, so readers wake at once instead of polling. Other processes' commits are not
    /// announced here: readers still poll now and then.
    fn outbox_commits(&self) -> tokio::sync::broadcast::Receiver<TenantId>;

    /// Announces on [`Store::outbox_commits`] a commit another process made for `tenant` (heard
    /// of through NATS), so this process's readers wake for it as for their own.
    fn announce_commit(&self, tenant: TenantId);

    /// Answers when the database is reachable.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes every connection (graceful shutdown).
    async fn close(&self);
}

/// Appends to and reads an audit chain (a tenant's, or the platform's).
#[async_trait]
pub trait AuditWriter: Send {
    /// Which chain this is (a tenant id, or `platform`); every entry's hash covers it, so an
    /// entry copied into another chain does not verify.
    fn audit_chain_id(&self) -> String;
    /// Reads the chain head and locks it until commit, serialising appends to the chain (and
    /// whatever else a caller wants serialised per chain).
    async fn lock_audit_head(&mut self) -> Result<AuditHead, StoreError>;
    /// The head a new entry links to: the locked head (platform chain), or a provisional one
    /// without touching the database (tenant chains, which are chained for real at commit).
    async fn next_audit_head(&mut self) -> Result<AuditHead, StoreError>;
    /// Inserts the entry; the database moves the chain head to it in the same statement.
    async fn append_audit(&mut self, record: &AuditRecord) -> Result<(), StoreError>;
    /// The stored head without locking it.
    async fn read_audit_head(&mut self) -> Result<AuditHead, StoreError>;
    /// Entries in chain order with `seq > after_seq`, for verification and export.
    async fn audit_chain(
        &mut self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// Entries matching a filter, newest first.
    async fn list_audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;
}

/// A tenant's webhook endpoints, their failed deliveries and attempt log, and the cursors event
/// consumers keep in the tenant's event sequence.
#[async_trait]
pub trait WebhookTx: Send {
    async fn insert_webhook_endpoint(&mut self, e: &WebhookEndpoint) -> Result<(), StoreError>;
    async fn get_webhook_endpoint(
        &mut self,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;
    /// Oldest first.
    async fn list_webhook_endpoints(&mut self) -> Result<Vec<WebhookEndpoint>, StoreError>;
    async fn update_webhook_endpoint(&mut self, e: &WebhookEndpoint) -> Result<bool, StoreError>;
    /// Deletes the endpoint with its deliveries and attempts.
    async fn delete_webhook_endpoint(&mut self, id: &WebhookEndpointId)
        -> Result<bool, StoreError>;
    /// Adds `delta` to the count of endpoints on the tenant's control-plane row: the directory
    /// the dispatcher reads to know which tenants to follow (an increment, so concurrent
    /// changes add up).
    async fn adjust_webhook_endpoint_count(&mut self, delta: i64) -> Result<(), StoreError>;
    /// Puts `consumer`'s cursor at `seq` (creating it), leaving any lease as it is.
    async fn reset_event_cursor(&mut self, consumer: &str, seq: i64) -> Result<(), StoreError>;

    /// Takes (or renews) `owner`'s lease on `consumer`'s cursor until `lease_until` and returns
    /// the cursor, creating it at `start_seq` if it does not exist; `None` while another owner's
    /// lease runs.
    async fn claim_event_cursor(
        &mut self,
        consumer: &str,
        owner: &str,
        now: i64,
        lease_until: i64,
        start_seq: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// Moves the cursor to `seq` if `owner` still holds it.
    async fn advance_event_cursor(
        &mut self,
        consumer: &str,
        owner: &str,
        seq: i64,
    ) -> Result<bool, StoreError>;

    async fn insert_webhook_attempts(
        &mut self,
        attempts: &[WebhookAttempt],
    ) -> Result<(), StoreError>;
    /// An endpoint's attempts, newest first, before `before` when given.
    async fn list_webhook_attempts(
        &mut self,
        endpoint: &WebhookEndpointId,
        event: Option<&EventId>,
        before: Option<&WebhookAttemptId>,
        limit: i64,
    ) -> Result<Vec<WebhookAttempt>, StoreError>;
    /// An endpoint's attempts at or after `since`, newest first, at most `limit` (for its
    /// success rate and latency figures).
    async fn webhook_attempts_since(
        &mut self,
        endpoint: &WebhookEndpointId,
        since: i64,
        limit: i64,
    ) -> Result<Vec<WebhookAttempt>, StoreError>;

    /// Inserts or replaces the delivery of `d.event_id` to `d.endpoint_id`.
    async fn upsert_webhook_delivery(&mut self, d: &WebhookDelivery) -> Result<(), StoreError>;
    async fn get_webhook_delivery(
        &mut self,
        endpoint: &WebhookEndpointId,
        event: &EventId,
    ) -> Result<Option<WebhookDelivery>, StoreError>;
    /// An endpoint's failed deliveries, newest first: of one status, or pending and dead ones
    /// created at or after `since`.
    async fn list_webhook_deliveries(
        &mut self,
        endpoint: &WebhookEndpointId,
        status: Option<WebhookDeliveryStatus>,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>, StoreError>;

    /// One committed event by its id.
    async fn outbox_event(&mut self, id: &EventId) -> Result<Option<StoredEvent>, StoreError>;
}

/// A tenant's automation rules and the log of their runs.
#[async_trait]
pub trait AutomationTx: Send {
    /// `Conflict` when the tenant has a rule of this name.
    async fn insert_automation_rule(&mut self, rule: &AutomationRule) -> Result<(), StoreError>;
    async fn get_automation_rule(
        &mut self,
        id: &switchboard_types::AutomationRuleId,
    ) -> Result<Option<AutomationRule>, StoreError>;
    /// In run order: position, then oldest first.
    async fn list_automation_rules(&mut self) -> Result<Vec<AutomationRule>, StoreError>;
    async fn update_automation_rule(&mut self, rule: &AutomationRule) -> Result<bool, StoreError>;
    /// Deletes the rule with its runs.
    async fn delete_automation_rule(
        &mut self,
        id: &switchboard_types::AutomationRuleId,
    ) -> Result<bool, StoreError>;
    /// Adds `delta` to the tenant's count of what the automation engine serves (enabled rules,
    /// AI answers), the directory it follows tenants by; returns the new count.
    async fn adjust_automation_count(&mut self, delta: i64) -> Result<i64, StoreError>;
    /// Records a run; `false` (and nothing written) when the rule already ran on this event.
    async fn insert_automation_run(&mut self, run: &AutomationRun) -> Result<bool, StoreError>;
    /// Saves a run's outcome, actions and error.
    async fn finish_automation_run(&mut self, run: &AutomationRun) -> Result<(), StoreError>;
    async fn list_automation_runs(
        &mut self,
        filter: &AutomationRunFilter,
    ) -> Result<Vec<AutomationRun>, StoreError>;
    /// Open and pending conversations whose last activity lies in `(after, up_to]`, oldest
    /// activity first (what time-based rules look at).
    async fn conversations_idle_between(
        &mut self,
        after: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<Conversation>, StoreError>;
    /// A rule's newest run on a conversation that began at or before `at`.
    async fn latest_automation_run(
        &mut self,
        rule: &switchboard_types::AutomationRuleId,
        conversation: &ConversationId,
        at: i64,
    ) -> Result<Option<AutomationRun>, StoreError>;
}

/// A tenant's help centres, their categories and articles.
#[async_trait]
pub trait KnowledgeTx: Send {
    /// `Conflict` when the slug is taken.
    async fn insert_kb_portal(&mut self, p: &KbPortal) -> Result<(), StoreError>;
    async fn get_kb_portal(
        &mut self,
        id: &switchboard_types::KbPortalId,
    ) -> Result<Option<KbPortal>, StoreError>;
    async fn get_kb_portal_by_slug(&mut self, slug: &str) -> Result<Option<KbPortal>, StoreError>;
    async fn list_kb_portals(&mut self) -> Result<Vec<KbPortal>, StoreError>;
    async fn update_kb_portal(&mut self, p: &KbPortal) -> Result<bool, StoreError>;
    /// Deletes the portal with its categories and articles.
    async fn delete_kb_portal(
        &mut self,
        id: &switchboard_types::KbPortalId,
    ) -> Result<bool, StoreError>;
    async fn insert_kb_category(&mut self, c: &KbCategory) -> Result<(), StoreError>;
    async fn get_kb_category(
        &mut self,
        id: &switchboard_types::KbCategoryId,
    ) -> Result<Option<KbCategory>, StoreError>;
    /// In display order.
    async fn list_kb_categories(
        &mut self,
        portal: &switchboard_types::KbPortalId,
    ) -> Result<Vec<KbCategory>, StoreError>;
    /// Deletes the category; its articles stay, uncategorised.
    async fn delete_kb_category(
        &mut self,
        id: &switchboard_types::KbCategoryId,
    ) -> Result<bool, StoreError>;
    /// `Conflict` when the portal has an article with this locale and slug.
    async fn insert_kb_article(&mut self, a: &KbArticle) -> Result<(), StoreError>;
    async fn get_kb_article(
        &mut self,
        id: &switchboard_types::KbArticleId,
    ) -> Result<Option<KbArticle>, StoreError>;
    async fn get_kb_article_by_slug(
        &mut self,
        portal: &switchboard_types::KbPortalId,
        locale: &str,
        slug: &str,
    ) -> Result<Option<KbArticle>, StoreError>;
    async fn list_kb_articles(&mut self, f: &KbArticleFilter)
        -> Result<Vec<KbArticle>, StoreError>;
    async fn update_kb_article(&mut self, a: &KbArticle) -> Result<bool, StoreError>;
    async fn delete_kb_article(
        &mut self,
        id: &switchboard_types::KbArticleId,
    ) -> Result<bool, StoreError>;
    /// Counts a reader's verdict (`true`: helpful) or a view (`None`).
    async fn count_kb_article(
        &mut self,
        id: &switchboard_types::KbArticleId,
        helpful: Option<bool>,
    ) -> Result<bool, StoreError>;
    /// The locales a help centre has published articles in, sorted.
    async fn kb_published_locales(
        &mut self,
        portal: &switchboard_types::KbPortalId,
    ) -> Result<Vec<String>, StoreError>;
    /// Changes whenever the tenant's articles change: (how many, how many published, newest
    /// change), so a cached search index knows when it is stale.
    async fn kb_stamp(&mut self) -> Result<(i64, i64, i64), StoreError>;
}

/// A tenant's AI-answer settings, decisions and token usage.
#[async_trait]
pub trait AiTx: Send {
    async fn get_ai_settings(&mut self) -> Result<Option<StoredAiSettings>, StoreError>;
    async fn put_ai_settings(&mut self, s: &StoredAiSettings) -> Result<(), StoreError>;
    /// Records a decision being made; `false` (nothing written) when this message already has
    /// one.
    async fn insert_ai_answer(&mut self, a: &AiAnswer) -> Result<bool, StoreError>;
    /// Saves a decision's outcome.
    async fn finish_ai_answer(&mut self, a: &AiAnswer) -> Result<(), StoreError>;
    /// A conversation's decisions, oldest first.
    async fn list_ai_answers(
        &mut self,
        conversation: &ConversationId,
    ) -> Result<Vec<AiAnswer>, StoreError>;
    /// Tokens and requests spent in `month` (`YYYY-MM`).
    async fn ai_usage(&mut self, month: &str) -> Result<(i64, i64), StoreError>;
    /// Adds to `month`'s usage.
    async fn add_ai_usage(&mut self, month: &str, tokens: i64) -> Result<(), StoreError>;
}

/// A transaction over one tenant's data. Dropping it without `commit` rolls back.
#[async_trait]
pub trait TenantTx: AuditWriter + WebhookTx + AutomationTx + KnowledgeTx + AiTx + Send {
    fn ctx(&self) -> &TenantCtx;
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;

    /// Waits for, and holds to commit, the right to change this tenant's memberships: only
    /// member changes wait on it (a PostgreSQL transaction-scoped advisory lock; SQLite's one
    /// writer already serialises), so it never joins another lock order.
    async fn serialise_member_changes(&mut self) -> Result<(), StoreError>;
    async fn insert_membership(&mut self, membership: &Membership) -> Result<(), StoreError>;
    async fn get_member(&mut self, user: &UserId) -> Result<Option<Member>, StoreError>;
    async fn list_members(&mut self, page: &PageRequest) -> Result<Vec<Member>, StoreError>;
    async fn update_member_role(
        &mut self,
        user: &UserId,
        role: TenantRole,
        now: i64,
    ) -> Result<bool, StoreError>;
    async fn delete_membership(&mut self, user: &UserId) -> Result<bool, StoreError>;
    async fn count_owners(&mut self) -> Result<i64, StoreError>;

    async fn set_member_availability(
        &mut self,
        user: &UserId,
        availability: Availability,
    ) -> Result<bool, StoreError>;
    async fn set_member_capacity(
        &mut self,
        user: &UserId,
        capacity: Option<i64>,
    ) -> Result<bool, StoreError>;

    async fn insert_calendar(&mut self, calendar: &BusinessCalendar) -> Result<(), StoreError>;
    async fn get_calendar(
        &mut self,
        id: &CalendarId,
    ) -> Result<Option<BusinessCalendar>, StoreError>;
    async fn list_calendars(&mut self) -> Result<Vec<BusinessCalendar>, StoreError>;
    async fn update_calendar(&mut self, calendar: &BusinessCalendar) -> Result<bool, StoreError>;
    async fn delete_calendar(&mut self, id: &CalendarId) -> Result<bool, StoreError>;

    async fn insert_team(&mut self, team: &Team) -> Result<(), StoreError>;
    async fn get_team(&mut self, id: &TeamId) -> Result<Option<Team>, StoreError>;
    async fn list_teams(&mut self) -> Result<Vec<Team>, StoreError>;
    async fn update_team(&mut self, team: &Team) -> Result<bool, StoreError>;
    async fn delete_team(&mut self, id: &TeamId) -> Result<bool, StoreError>;
    async fn add_team_member(
        &mut self,
        team: &TeamId,
        user: &UserId,
        now: i64,
    ) -> Result<(), StoreError>;
    async fn remove_team_member(
        &mut self,
        team: &TeamId,
        user: &UserId,
    ) -> Result<bool, StoreError>;
    async fn list_team_members(&mut self, team: &TeamId) -> Result<Vec<Member>, StoreError>;

    async fn insert_api_key(&mut self, key: &ApiKey) -> Result<(), StoreError>;
    async fn get_api_key(&mut self, id: &ApiKeyId) -> Result<Option<ApiKey>, StoreError>;
    async fn find_api_key_by_hash(&mut self, key_hash: &str) -> Result<Option<ApiKey>, StoreError>;
    async fn list_api_keys(&mut self, page: &PageRequest) -> Result<Vec<ApiKey>, StoreError>;
    async fn revoke_api_key(&mut self, id: &ApiKeyId, now: i64) -> Result<bool, StoreError>;
    async fn touch_api_key(&mut self, id: &ApiKeyId, now: i64) -> Result<(), StoreError>;

    /// Adds an event to this transaction's outbox. Events are numbered and written at commit, so
    /// a tenant's sequence numbers follow commit order.
    async fn insert_outbox(&mut self, event: &OutboxEvent) -> Result<(), StoreError>;
    /// Committed events with a sequence number above `after_seq`, oldest first.
    async fn outbox_after(
        &mut self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// The sequence number of the tenant's newest committed event (0 when none).
    async fn outbox_head(&mut self) -> Result<i64, StoreError>;

    async fn insert_company(&mut self, company: &Company) -> Result<(), StoreError>;
    async fn get_company(&mut self, id: &CompanyId) -> Result<Option<Company>, StoreError>;
    async fn list_companies(&mut self, page: &PageRequest) -> Result<Vec<Company>, StoreError>;
    async fn update_company(&mut self, company: &Company) -> Result<bool, StoreError>;
    /// Unlinks the company's contacts and deletes it.
    async fn delete_company(&mut self, id: &CompanyId, now: i64) -> Result<bool, StoreError>;

    async fn insert_attribute(
        &mut self,
        definition: &AttributeDefinition,
    ) -> Result<(), StoreError>;
    async fn list_attributes(
        &mut self,
        applies_to: Option<AttributeTarget>,
    ) -> Result<Vec<AttributeDefinition>, StoreError>;
    async fn delete_attribute(&mut self, id: &AttributeId) -> Result<bool, StoreError>;

    async fn insert_contact(&mut self, contact: &Contact) -> Result<(), StoreError>;
    /// Inserts unless an identifier is taken (then `false`, and no error: the transaction stays
    /// usable, so the caller can read the contact a concurrent request just created).
    async fn insert_contact_if_absent(&mut self, contact: &Contact) -> Result<bool, StoreError>;
    /// In a write transaction on PostgreSQL the row stays locked until commit.
    async fn get_contact(&mut self, id: &ContactId) -> Result<Option<Contact>, StoreError>;
    /// In a write transaction on PostgreSQL the listed rows stay locked until commit.
    async fn list_contacts(&mut self, filter: &ContactFilter) -> Result<Vec<Contact>, StoreError>;
    async fn update_contact(&mut self, contact: &Contact) -> Result<bool, StoreError>;
    async fn delete_contact(&mut self, id: &ContactId) -> Result<bool, StoreError>;

    async fn insert_inbox(&mut self, inbox: &Inbox) -> Result<(), StoreError>;
    async fn get_inbox(&mut self, id: &InboxId) -> Result<Option<Inbox>, StoreError>;
    async fn list_inboxes(&mut self) -> Result<Vec<Inbox>, StoreError>;
    /// The widget inbox with this public token.
    async fn get_inbox_by_public_token(&mut self, token: &str)
        -> Result<Option<Inbox>, StoreError>;
    /// Sets (or clears) the SLA policy new conversations of an inbox get.
    async fn set_inbox_sla(
        &mut self,
        inbox: &InboxId,
        policy: Option<&switchboard_types::SlaPolicyId>,
        now: i64,
    ) -> Result<bool, StoreError>;
    async fn insert_sla_policy(&mut self, policy: &SlaPolicy) -> Result<(), StoreError>;
    async fn get_sla_policy(
        &mut self,
        id: &switchboard_types::SlaPolicyId,
    ) -> Result<Option<SlaPolicy>, StoreError>;
    async fn list_sla_policies(&mut self) -> Result<Vec<SlaPolicy>, StoreError>;
    /// Deletes a policy no conversation runs on (`Conflict` otherwise), clearing inbox defaults.
    async fn delete_sla_policy(
        &mut self,
        id: &switchboard_types::SlaPolicyId,
    ) -> Result<bool, StoreError>;
    async fn get_conversation_sla(
        &mut self,
        conversation: &ConversationId,
    ) -> Result<Option<ConversationSla>, StoreError>;
    async fn put_conversation_sla(&mut self, sla: &ConversationSla) -> Result<(), StoreError>;

    async fn insert_metric(&mut self, metric: &MetricEvent) -> Result<(), StoreError>;
    /// A conversation's newest fact of one of these kinds.
    async fn latest_metric(
        &mut self,
        conversation: &ConversationId,
        kinds: &[&str],
    ) -> Result<Option<MetricEvent>, StoreError>;
    /// Facts in `[since, until)` matching the filter, oldest first (at most 500,000).
    async fn list_metrics(&mut self, filter: &MetricFilter)
        -> Result<Vec<MetricEvent>, StoreError>;
    async fn insert_csat(&mut self, survey: &CsatSurvey) -> Result<(), StoreError>;
    /// A conversation's newest survey.
    async fn latest_csat(
        &mut self,
        conversation: &ConversationId,
    ) -> Result<Option<CsatSurvey>, StoreError>;
    /// In a write transaction on PostgreSQL the row stays locked until commit.
    async fn find_csat(&mut self, token_hash: &str) -> Result<Option<CsatSurvey>, StoreError>;
    /// Records the answer; `false` when the survey was already answered.
    async fn answer_csat(
        &mut self,
        id: &switchboard_types::CsatSurveyId,
        rating: i64,
        comment: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError>;

    async fn insert_scheduled(&mut self, message: &ScheduledMessage) -> Result<(), StoreError>;
    /// In a write transaction on PostgreSQL the row stays locked until commit.
    async fn get_scheduled(
        &mut self,
        id: &switchboard_types::ScheduledMessageId,
    ) -> Result<Option<ScheduledMessage>, StoreError>;
    async fn list_scheduled(
        &mut self,
        conversation: &ConversationId,
    ) -> Result<Vec<ScheduledMessage>, StoreError>;
    /// Moves a still-scheduled message to its final status; `false` when it was not scheduled
    /// any more.
    async fn finish_scheduled(&mut self, message: &ScheduledMessage) -> Result<bool, StoreError>;

    async fn insert_macro(&mut self, m: &Macro) -> Result<(), StoreError>;
    async fn get_macro(
        &mut self,
        id: &switchboard_types::MacroId,
    ) -> Result<Option<Macro>, StoreError>;
    async fn list_macros(&mut self) -> Result<Vec<Macro>, StoreError>;
    async fn delete_macro(&mut self, id: &switchboard_types::MacroId) -> Result<bool, StoreError>;

    async fn get_triage_settings(&mut self) -> Result<Option<StoredTriageSettings>, StoreError>;
    async fn put_triage_settings(&mut self, s: &StoredTriageSettings) -> Result<(), StoreError>;
    /// `false` when the tenant already has a model of this name.
    async fn insert_intent_model(&mut self, m: &IntentModelRecord) -> Result<bool, StoreError>;
    async fn get_intent_model(
        &mut self,
        name: &str,
    ) -> Result<Option<IntentModelRecord>, StoreError>;
    async fn list_intent_models(&mut self) -> Result<Vec<IntentModelRecord>, StoreError>;
    async fn delete_intent_model(&mut self, name: &str) -> Result<bool, StoreError>;

    async fn add_participant(
        &mut self,
        conversation: &ConversationId,
        user: &UserId,
        now: i64,
    ) -> Result<(), StoreError>;
    async fn remove_participant(
        &mut self,
        conversation: &ConversationId,
        user: &UserId,
    ) -> Result<bool, StoreError>;
    async fn participants(
        &mut self,
        conversation: &ConversationId,
    ) -> Result<Vec<UserId>, StoreError>;

    async fn insert_notification(&mut self, notification: &Notification) -> Result<(), StoreError>;
    /// A person's notifications, newest first.
    async fn list_notifications(
        &mut self,
        user: &UserId,
        unread_only: bool,
        page: &PageRequest,
    ) -> Result<Vec<Notification>, StoreError>;
    /// Marks one notification of `user` read (1 when it is theirs, read before or not), or with
    /// `None` every unread one (how many).
    async fn mark_notifications_read(
        &mut self,
        user: &UserId,
        id: Option<&switchboard_types::NotificationId>,
        now: i64,
    ) -> Result<u64, StoreError>;

    /// Saves an inbox's channel settings and secret version.
    async fn update_inbox_channel(&mut self, inbox: &Inbox) -> Result<bool, StoreError>;

    async fn insert_widget_session(&mut self, session: &WidgetSession) -> Result<(), StoreError>;
    /// The session with this token hash (expired ones too: the caller checks).
    async fn find_widget_session(
        &mut self,
        token_hash: &str,
    ) -> Result<Option<WidgetSession>, StoreError>;

    /// Sets an inbox's auto-assignment policy and reassignment rule.
    async fn set_inbox_policy(
        &mut self,
        id: &InboxId,
        policy: switchboard_types::AssignmentPolicy,
        reassign_after_ms: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError>;
    async fn add_inbox_member(
        &mut self,
        inbox: &InboxId,
        user: &UserId,
        now: i64,
    ) -> Result<(), StoreError>;
    async fn remove_inbox_member(
        &mut self,
        inbox: &InboxId,
        user: &UserId,
    ) -> Result<bool, StoreError>;
    /// The inbox's agents with their availability, capacity, round-robin position and load.
    async fn inbox_agents(&mut self, inbox: &InboxId) -> Result<Vec<InboxAgent>, StoreError>;
    async fn mark_assigned(
        &mut self,
        inbox: &InboxId,
        user: &UserId,
        now: i64,
    ) -> Result<(), StoreError>;

    /// The next per-tenant display number; locks the counter until commit, so numbers are never
    /// handed out twice.
    async fn next_conversation_number(&mut self) -> Result<i64, StoreError>;
    async fn insert_conversation(&mut self, conversation: &Conversation) -> Result<(), StoreError>;
    /// A contact's newest conversation in an inbox (the one a new message joins), locked like
    /// [`Self::get_conversation`].
    async fn latest_conversation(
        &mut self,
        contact: &ContactId,
        inbox: &InboxId,
    ) -> Result<Option<Conversation>, StoreError>;
    /// In a write transaction on PostgreSQL the row stays locked until commit.
    async fn get_conversation(
        &mut self,
        id: &ConversationId,
    ) -> Result<Option<Conversation>, StoreError>;
    async fn list_conversations(
        &mut self,
        filter: &ConversationFilter,
    ) -> Result<Vec<Conversation>, StoreError>;
    async fn update_conversation(
        &mut self,
        conversation: &Conversation,
    ) -> Result<bool, StoreError>;
    /// Moves every conversation of one contact to another (contact merge).
    async fn move_conversations(
        &mut self,
        from: &ContactId,
        to: &ContactId,
        now: i64,
    ) -> Result<u64, StoreError>;
    /// Unassigns every conversation of someone who left the tenant.
    async fn unassign_user(&mut self, user: &UserId, now: i64) -> Result<u64, StoreError>;
    /// Conversations with a matching message, most recent match first.
    async fn search_conversation_ids(
        &mut self,
        query: &SearchQuery,
    ) -> Result<Vec<ConversationId>, StoreError>;
    /// Clears the team of every conversation of a deleted team.
    async fn clear_conversation_team(&mut self, team: &TeamId, now: i64)
        -> Result<u64, StoreError>;
    /// Moves every message (and attachment) of one conversation into another (conversation merge).
    async fn move_messages(
        &mut self,
        from: &ConversationId,
        to: &ConversationId,
    ) -> Result<u64, StoreError>;
    async fn insert_attachment(&mut self, attachment: &Attachment) -> Result<(), StoreError>;
    /// In a write transaction on PostgreSQL the row stays locked until commit.
    async fn get_attachment(
        &mut self,
        id: &switchboard_types::AttachmentId,
    ) -> Result<Option<Attachment>, StoreError>;
    /// Joins an uploaded attachment to its message; `false` when it already belongs to one.
    async fn attach_to_message(
        &mut self,
        id: &switchboard_types::AttachmentId,
        message: &MessageId,
    ) -> Result<bool, StoreError>;

    /// Deletes a conversation with its labels; its messages must have been moved first.
    async fn delete_conversation(&mut self, id: &ConversationId) -> Result<bool, StoreError>;

    async fn insert_label(&mut self, label: &Label) -> Result<(), StoreError>;
    async fn list_labels(&mut self) -> Result<Vec<Label>, StoreError>;
    async fn delete_label(&mut self, id: &LabelId) -> Result<bool, StoreError>;
    /// Labels on a conversation, by name.
    async fn conversation_labels(
        &mut self,
        conversation: &ConversationId,
    ) -> Result<Vec<Label>, StoreError>;
    /// Replaces a conversation's labels.
    async fn set_conversation_labels(
        &mut self,
        conversation: &ConversationId,
        labels: &[LabelId],
        now: i64,
    ) -> Result<(), StoreError>;

    async fn insert_canned(&mut self, canned: &CannedResponse) -> Result<(), StoreError>;
    /// Canned responses, those whose short code starts with `prefix` when given.
    async fn list_canned(
        &mut self,
        prefix: Option<&str>,
    ) -> Result<Vec<CannedResponse>, StoreError>;
    async fn delete_canned(&mut self, id: &CannedResponseId) -> Result<bool, StoreError>;

    async fn insert_invitation(&mut self, invitation: &Invitation) -> Result<(), StoreError>;
    /// Invitations not accepted yet, newest first.
    async fn pending_invitations(&mut self) -> Result<Vec<Invitation>, StoreError>;
    async fn invitation_by_token(
        &mut self,
        token_hash: &str,
    ) -> Result<Option<Invitation>, StoreError>;
    /// Marks it accepted; false when it was accepted already (a link works once).
    async fn accept_invitation(
        &mut self,
        id: &switchboard_types::InvitationId,
        at: i64,
    ) -> Result<bool, StoreError>;
    async fn delete_invitation(
        &mut self,
        id: &switchboard_types::InvitationId,
    ) -> Result<bool, StoreError>;

    /// Messages containing every term, newest first (FTS5 on SQLite, tsvector on PostgreSQL).
    async fn search_messages(&mut self, query: &SearchQuery) -> Result<Vec<Message>, StoreError>;
    /// Contacts whose name, email, phone or external id contain every term.
    async fn search_contacts(
        &mut self,
        terms: &[String],
        limit: i64,
    ) -> Result<Vec<Contact>, StoreError>;

    /// The newest message id of a conversation, which the next message's id must sort after.
    async fn last_message_id(
        &mut self,
        conversation: &ConversationId,
    ) -> Result<Option<MessageId>, StoreError>;
    async fn insert_message(&mut self, message: &Message) -> Result<(), StoreError>;
    async fn get_message(&mut self, id: &MessageId) -> Result<Option<Message>, StoreError>;
    /// Messages whose provider id is one of these (email threading, de-duplication).
    async fn messages_by_external_ids(
        &mut self,
        external_ids: &[String],
    ) -> Result<Vec<Message>, StoreError>;
    /// Saves a message's delivery status, provider id and metadata.
    async fn set_message_delivery(&mut self, message: &Message) -> Result<bool, StoreError>;
    /// A page of a conversation's thread, oldest first; private notes only when asked for (the
    /// customer's side never sees them).
    async fn list_messages(
        &mut self,
        conversation: &ConversationId,
        page: &PageRequest,
        include_private: bool,
    ) -> Result<Vec<Message>, StoreError>;
    /// The newest `limit` messages of a thread (private notes included), oldest first.
    async fn latest_messages(
        &mut self,
        conversation: &ConversationId,
        limit: i64,
    ) -> Result<Vec<Message>, StoreError>;

    /// Schedules follow-up work of this change (a snoozed conversation's wake-up), committed or
    /// rolled back with it. Only core builds jobs; tenant input never names one.
    async fn enqueue_job(&mut self, job: &NewJob, now: i64) -> Result<JobId, StoreError>;

    /// Rows per tenant-owned table (used by deletion reports and tests).
    async fn count_rows(&mut self) -> Result<BTreeMap<String, i64>, StoreError>;
    /// Deletes every tenant-owned row of this tenant; returns how many.
    async fn purge_rows(&mut self) -> Result<u64, StoreError>;
}

/// A transaction over the control plane.
#[async_trait]
pub trait ControlTx: AuditWriter + Send {
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;

    /// Continues this same transaction as one tenant's (one commit for both), for changes that
    /// span the control plane and a tenant, such as provisioning.
    async fn enter_tenant(
        self: Box<Self>,
        ctx: &TenantCtx,
    ) -> Result<Box<dyn TenantTx>, StoreError>;

    async fn upsert_cell(&mut self, cell: &Cell) -> Result<(), StoreError>;
    async fn get_cell(&mut self, id: &CellId) -> Result<Option<Cell>, StoreError>;
    async fn list_cells(&mut self) -> Result<Vec<Cell>, StoreError>;

    async fn insert_partner(&mut self, partner: &Partner) -> Result<(), StoreError>;
    async fn get_partner(&mut self, id: &PartnerId) -> Result<Option<Partner>, StoreError>;
    async fn list_partners(&mut self, page: &PageRequest) -> Result<Vec<Partner>, StoreError>;
    async fn insert_partner_membership(&mut self, m: &PartnerMembership) -> Result<(), StoreError>;
    async fn partner_memberships_of(
        &mut self,
        user: &UserId,
    ) -> Result<Vec<PartnerMembership>, StoreError>;

    async fn insert_tenant(&mut self, tenant: &Tenant) -> Result<(), StoreError>;
    async fn get_tenant(&mut self, id: &TenantId) -> Result<Option<Tenant>, StoreError>;
    async fn get_tenant_by_slug(&mut self, slug: &str) -> Result<Option<Tenant>, StoreError>;
    async fn list_tenants(&mut self, filter: &TenantFilter) -> Result<Vec<Tenant>, StoreError>;
    /// Moves a tenant from `from` to `to`; `false` when its status was no longer `from` (a
    /// concurrent change won), so two transitions can never both apply.
    async fn set_tenant_status(
        &mut self,
        id: &TenantId,
        from: TenantStatus,
        to: TenantStatus,
        now: i64,
    ) -> Result<bool, StoreError>;

    async fn insert_user(&mut self, user: &User) -> Result<(), StoreError>;
    async fn get_user(&mut self, id: &UserId) -> Result<Option<User>, StoreError>;
    async fn get_user_by_email(&mut self, email: &str) -> Result<Option<User>, StoreError>;
    async fn count_platform_admins(&mut self) -> Result<i64, StoreError>;
    /// Records a failed sign-in; locks the account until `lock_until` when given.
    async fn record_failed_login(
        &mut self,
        id: &UserId,
        lock_until: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError>;
    async fn record_successful_login(&mut self, id: &UserId, now: i64) -> Result<(), StoreError>;
    /// Records a used TOTP step; `false` when that step (or a later one) was already used.
    async fn accept_totp_step(&mut self, id: &UserId, step: i64) -> Result<bool, StoreError>;
    async fn set_totp(
        &mut self,
        id: &UserId,
        secret: Option<&str>,
        enabled: bool,
        now: i64,
    ) -> Result<(), StoreError>;
    /// The tenants a user belongs to, across tenants (row-level security admits a user's own
    /// memberships through a second policy keyed on the user).
    async fn memberships_of(&mut self, user: &UserId) -> Result<Vec<Membership>, StoreError>;

    async fn insert_session(&mut self, session: &Session) -> Result<(), StoreError>;
    async fn find_session(&mut self, token_hash: &str) -> Result<Option<Session>, StoreError>;
    async fn delete_session_family(&mut self, family: &str) -> Result<u64, StoreError>;
    async fn delete_expired_sessions(&mut self, now: i64) -> Result<u64, StoreError>;

    async fn enqueue_job(&mut self, job: &NewJob, now: i64) -> Result<JobId, StoreError>;
    /// Claims the next due job of `queue` (or one whose lease expired), leasing it to `worker`
    /// until `lease_until`. Concurrent claimers never receive the same job.
    async fn claim_job(
        &mut self,
        queue: &str,
        worker: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<Job>, StoreError>;
    /// Extends a running job's lease; `false` when `worker` no longer holds it.
    async fn extend_job_lease(
        &mut self,
        id: &JobId,
        worker: &str,
        lease_until: i64,
    ) -> Result<bool, StoreError>;
    async fn complete_job(
        &mut self,
        id: &JobId,
        worker: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Records a failure: requeues at `retry_at`, or marks failed when `retry_at` is `None`.
    async fn fail_job(
        &mut self,
        id: &JobId,
        worker: &str,
        error: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError>;
    async fn get_job(&mut self, id: &JobId) -> Result<Option<Job>, StoreError>;
    /// Tenants of `region` with webhook endpoints (and not deleted), for the region's
    /// dispatchers to follow.
    async fn tenants_with_webhooks(&mut self, region: &str) -> Result<Vec<TenantId>, StoreError>;
    /// Tenants of `region` the automation engine serves (enabled rules or AI answers).
    async fn tenants_with_automation(&mut self, region: &str) -> Result<Vec<TenantId>, StoreError>;

    async fn get_idempotency(
        &mut self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Reserves a key; `Conflict` when it exists.
    async fn insert_idempotency(&mut self, record: &IdempotencyRecord) -> Result<(), StoreError>;
    async fn finish_idempotency(
        &mut self,
        scope: &str,
        key: &str,
        status: i64,
        body: &str,
    ) -> Result<(), StoreError>;
    async fn delete_idempotency(&mut self, scope: &str, key: &str) -> Result<(), StoreError>;
    async fn delete_expired_idempotency(&mut self, now: i64) -> Result<u64, StoreError>;
    async fn delete_idempotency_scope_prefix(&mut self, prefix: &str) -> Result<u64, StoreError>;
}
