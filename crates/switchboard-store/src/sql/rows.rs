//! Decoding rows into models. Column lists live next to their decoder so they cannot drift apart.

use super::exec::Row;
use crate::model::*;
use crate::StoreError;
use switchboard_types::CalendarId;
use switchboard_types::{
    Actor, ActorKind, ApiKeyId, AttributeId, AttributeKind, AttributeTarget, AuditEventId,
    Availability, CellId, CompanyId, ContactId, JobId, PartnerId, PartnerRole, Plan, SessionId,
    TeamId, TenantId, TenantRole, TenantStatus, UserId,
};
use switchboard_types::{CannedResponseId, EventId, LabelId};
use switchboard_types::{
    Channel, ConversationId, ConversationStatus, Direction, InboxId, MessageId, Priority,
};

fn text(row: &Row, col: &str) -> Result<String, StoreError> {
    row.try_get::<String, _>(col)
}

fn opt_text(row: &Row, col: &str) -> Result<Option<String>, StoreError> {
    row.try_get::<Option<String>, _>(col)
}

fn int(row: &Row, col: &str) -> Result<i64, StoreError> {
    row.try_get::<i64, _>(col)
}

fn opt_int(row: &Row, col: &str) -> Result<Option<i64>, StoreError> {
    row.try_get::<Option<i64>, _>(col)
}

pub(super) fn json(row: &Row, col: &str) -> Result<serde_json::Value, StoreError> {
    let raw = text(row, col)?;
    serde_json::from_str(&raw).map_err(|e| StoreError::Invalid(format!("{col}: {e}")))
}

fn invalid(what: &str, value: &str) -> StoreError {
    StoreError::Invalid(format!("unknown {what} {value:?}"))
}

fn actor(row: &Row, kind_col: &str, id_col: &str) -> Result<Actor, StoreError> {
    let kind = text(row, kind_col)?;
    Ok(Actor {
        kind: ActorKind::parse(&kind).ok_or_else(|| invalid("actor kind", &kind))?,
        id: text(row, id_col)?,
    })
}

pub(super) const CELL_COLS: &str = "id, region, database_name, created_at";

pub(super) fn cell(row: &Row) -> Result<Cell, StoreError> {
    Ok(Cell {
        id: CellId::from_trusted(text(row, "id")?),
        region: text(row, "region")?,
        database: text(row, "database_name")?,
        created_at: int(row, "created_at")?,
    })
}

pub(super) const PARTNER_COLS: &str = "id, slug, name, created_at";

pub(super) fn partner(row: &Row) -> Result<Partner, StoreError> {
    Ok(Partner {
        id: PartnerId::from_trusted(text(row, "id")?),
        slug: text(row, "slug")?,
        name: text(row, "name")?,
        created_at: int(row, "created_at")?,
    })
}

pub(super) const TENANT_COLS: &str =
    "id, slug, name, plan, status, region, cell_id, partner_id, created_at, updated_at";

pub(super) fn tenant(row: &Row) -> Result<Tenant, StoreError> {
    let plan = text(row, "plan")?;
    let status = text(row, "status")?;
    Ok(Tenant {
        id: TenantId::from_trusted(text(row, "id")?),
        slug: text(row, "slug")?,
        name: text(row, "name")?,
        plan: Plan::parse(&plan).ok_or_else(|| invalid("plan", &plan))?,
        status: TenantStatus::parse(&status).ok_or_else(|| invalid("status", &status))?,
        region: text(row, "region")?,
        cell_id: CellId::from_trusted(text(row, "cell_id")?),
        partner_id: opt_text(row, "partner_id")?.map(PartnerId::from_trusted),
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

pub(super) const USER_COLS: &str = "id, email, display_name, password_hash, is_platform_admin, \
    totp_secret, totp_enabled, totp_last_step, failed_logins, locked_until, created_at, updated_at";

pub(super) fn user(row: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::from_trusted(text(row, "id")?),
        email: text(row, "email")?,
        display_name: text(row, "display_name")?,
        password_hash: opt_text(row, "password_hash")?,
        is_platform_admin: int(row, "is_platform_admin")? != 0,
        totp_secret: opt_text(row, "totp_secret")?,
        totp_enabled: int(row, "totp_enabled")? != 0,
        totp_last_step: opt_int(row, "totp_last_step")?,
        failed_logins: int(row, "failed_logins")?,
        locked_until: opt_int(row, "locked_until")?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

fn role(row: &Row) -> Result<TenantRole, StoreError> {
    let r = text(row, "role")?;
    TenantRole::parse(&r).ok_or_else(|| invalid("role", &r))
}

pub(super) const MEMBERSHIP_COLS: &str = "tenant_id, user_id, role, created_at, updated_at";

pub(super) fn membership(row: &Row) -> Result<Membership, StoreError> {
    Ok(Membership {
        tenant_id: TenantId::from_trusted(text(row, "tenant_id")?),
        user_id: UserId::from_trusted(text(row, "user_id")?),
        role: role(row)?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

pub(super) const MEMBER_COLS: &str =
    "m.user_id AS user_id, u.email AS email, u.display_name AS display_name, m.role AS role, \
     m.availability AS availability, m.capacity AS capacity, m.created_at AS created_at";

pub(super) fn member(row: &Row) -> Result<Member, StoreError> {
    Ok(Member {
        user_id: UserId::from_trusted(text(row, "user_id")?),
        email: text(row, "email")?,
        display_name: text(row, "display_name")?,
        role: role(row)?,
        availability: {
            let a = text(row, "availability")?;
            Availability::parse(&a).ok_or_else(|| invalid("availability", &a))?
        },
        capacity: opt_int(row, "capacity")?,
        created_at: int(row, "created_at")?,
    })
}

pub(super) fn partner_membership(row: &Row) -> Result<PartnerMembership, StoreError> {
    let r = text(row, "role")?;
    Ok(PartnerMembership {
        partner_id: PartnerId::from_trusted(text(row, "partner_id")?),
        user_id: UserId::from_trusted(text(row, "user_id")?),
        role: PartnerRole::parse(&r).ok_or_else(|| invalid("partner role", &r))?,
    })
}

pub(super) const API_KEY_COLS: &str = "tenant_id, id, name, prefix, key_hash, scopes, created_by, \
    created_at, expires_at, last_used_at, revoked_at";

pub(super) fn api_key(row: &Row) -> Result<ApiKey, StoreError> {
    let scopes: Vec<String> = serde_json::from_value(json(row, "scopes")?)
        .map_err(|e| StoreError::Invalid(format!("scopes: {e}")))?;
    Ok(ApiKey {
        id: ApiKeyId::from_trusted(text(row, "id")?),
        tenant_id: TenantId::from_trusted(text(row, "tenant_id")?),
        name: text(row, "name")?,
        prefix: text(row, "prefix")?,
        key_hash: text(row, "key_hash")?,
        scopes,
        created_by: text(row, "created_by")?,
        created_at: int(row, "created_at")?,
        expires_at: opt_int(row, "expires_at")?,
        last_used_at: opt_int(row, "last_used_at")?,
        revoked_at: opt_int(row, "revoked_at")?,
    })
}

pub(super) const SESSION_COLS: &str =
    "id, user_id, kind, token_hash, csrf_hash, family, created_at, expires_at, ip, user_agent";

pub(super) fn session(row: &Row) -> Result<Session, StoreError> {
    let kind = text(row, "kind")?;
    Ok(Session {
        id: SessionId::from_trusted(text(row, "id")?),
        user_id: UserId::from_trusted(text(row, "user_id")?),
        kind: SessionKind::parse(&kind).ok_or_else(|| invalid("session kind", &kind))?,
        token_hash: text(row, "token_hash")?,
        csrf_hash: opt_text(row, "csrf_hash")?,
        family: text(row, "family")?,
        created_at: int(row, "created_at")?,
        expires_at: int(row, "expires_at")?,
        ip: opt_text(row, "ip")?,
        user_agent: opt_text(row, "user_agent")?,
    })
}

pub(super) const AUDIT_COLS: &str = "seq, id, occurred_at, actor_type, actor_id, action, \
    target_type, target_id, outcome, ip, user_agent, request_id, details, prev_hash, hash";

pub(super) fn audit(row: &Row) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        seq: int(row, "seq")?,
        id: AuditEventId::from_trusted(text(row, "id")?),
        occurred_at: int(row, "occurred_at")?,
        actor: actor(row, "actor_type", "actor_id")?,
        action: text(row, "action")?,
        target_type: text(row, "target_type")?,
        target_id: opt_text(row, "target_id")?,
        outcome: text(row, "outcome")?,
        ip: opt_text(row, "ip")?,
        user_agent: opt_text(row, "user_agent")?,
        request_id: opt_text(row, "request_id")?,
        details: json(row, "details")?,
        prev_hash: text(row, "prev_hash")?,
        hash: text(row, "hash")?,
    })
}

pub(super) const JOB_COLS: &str =
    "id, queue, kind, payload, status, attempts, max_attempts, run_at, \
    locked_by, locked_until, last_error, created_at, updated_at";

pub(super) fn job(row: &Row) -> Result<Job, StoreError> {
    let status = text(row, "status")?;
    Ok(Job {
        id: JobId::from_trusted(text(row, "id")?),
        queue: text(row, "queue")?,
        kind: text(row, "kind")?,
        payload: json(row, "payload")?,
        status: JobStatus::parse(&status).ok_or_else(|| invalid("job status", &status))?,
        attempts: int(row, "attempts")?,
        max_attempts: int(row, "max_attempts")?,
        run_at: int(row, "run_at")?,
        locked_by: opt_text(row, "locked_by")?,
        locked_until: opt_int(row, "locked_until")?,
        last_error: opt_text(row, "last_error")?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

pub(super) const IDEMPOTENCY_COLS: &str =
    "scope, idem_key, request_hash, status, body, created_at, expires_at";

pub(super) fn idempotency(row: &Row) -> Result<IdempotencyRecord, StoreError> {
    Ok(IdempotencyRecord {
        scope: text(row, "scope")?,
        key: text(row, "idem_key")?,
        request_hash: text(row, "request_hash")?,
        status: opt_int(row, "status")?,
        body: opt_text(row, "body")?,
        created_at: int(row, "created_at")?,
        expires_at: int(row, "expires_at")?,
    })
}

fn attributes(row: &Row) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    match json(row, "custom_attributes")? {
        serde_json::Value::Object(map) => Ok(map),
        other => Err(StoreError::Invalid(format!(
            "custom_attributes is not an object: {other}"
        ))),
    }
}

pub(super) const COMPANY_COLS: &str = "id, name, domain, custom_attributes, created_at, updated_at";

pub(super) fn company(row: &Row) -> Result<Company, StoreError> {
    Ok(Company {
        id: CompanyId::from_trusted(text(row, "id")?),
        name: text(row, "name")?,
        domain: opt_text(row, "domain")?,
        custom_attributes: attributes(row)?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

pub(super) const CONTACT_COLS: &str =
    "id, name, email, phone, external_id, company_id, custom_attributes, created_at, updated_at";

pub(super) fn contact(row: &Row) -> Result<Contact, StoreError> {
    Ok(Contact {
        id: ContactId::from_trusted(text(row, "id")?),
        name: text(row, "name")?,
        email: opt_text(row, "email")?,
        phone: opt_text(row, "phone")?,
        external_id: opt_text(row, "external_id")?,
        company_id: opt_text(row, "company_id")?.map(CompanyId::from_trusted),
        custom_attributes: attributes(row)?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

pub(super) const ATTRIBUTE_COLS: &str =
    "id, applies_to, attr_key, label, kind, options, created_at";

pub(super) fn attribute(row: &Row) -> Result<AttributeDefinition, StoreError> {
    let target = text(row, "applies_to")?;
    let kind = text(row, "kind")?;
    let options: Vec<String> = serde_json::from_value(json(row, "options")?)
        .map_err(|e| StoreError::Invalid(format!("options: {e}")))?;
    Ok(AttributeDefinition {
        id: AttributeId::from_trusted(text(row, "id")?),
        applies_to: AttributeTarget::parse(&target)
            .ok_or_else(|| invalid("attribute target", &target))?,
        key: text(row, "attr_key")?,
        label: text(row, "label")?,
        kind: AttributeKind::parse(&kind).ok_or_else(|| invalid("attribute kind", &kind))?,
        options,
        created_at: int(row, "created_at")?,
    })
}

pub(super) const TEAM_COLS: &str = "id, name, description, created_at, updated_at";

pub(super) fn team(row: &Row) -> Result<Team, StoreError> {
    Ok(Team {
        id: TeamId::from_trusted(text(row, "id")?),
        name: text(row, "name")?,
        description: text(row, "description")?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

pub(super) const CALENDAR_COLS: &str = "id, name, spec, created_at, updated_at";

pub(super) fn calendar(row: &Row) -> Result<BusinessCalendar, StoreError> {
    Ok(BusinessCalendar {
        id: CalendarId::from_trusted(text(row, "id")?),
        name: text(row, "name")?,
        spec: json(row, "spec")?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

pub(super) const INBOX_COLS: &str = "id, name, channel, assignment_policy, public_token, \
    channel_config, secret_version, channel_secret, sla_policy_id, reassign_after_ms, created_at, \
    updated_at";

pub(super) fn inbox(row: &Row) -> Result<Inbox, StoreError> {
    let channel = text(row, "channel")?;
    Ok(Inbox {
        id: InboxId::from_trusted(text(row, "id")?),
        name: text(row, "name")?,
        channel: Channel::parse(&channel).ok_or_else(|| invalid("channel", &channel))?,
        assignment_policy: {
            let p = text(row, "assignment_policy")?;
            switchboard_types::AssignmentPolicy::parse(&p)
                .ok_or_else(|| invalid("assignment policy", &p))?
        },
        public_token: opt_text(row, "public_token")?,
        config: match json(row, "channel_config")? {
            serde_json::Value::Object(m) => m,
            _ => return Err(invalid("channel config", "not an object")),
        },
        secret_version: int(row, "secret_version")?,
        channel_secret: opt_text(row, "channel_secret")?,
        reassign_after_ms: opt_int(row, "reassign_after_ms")?,
        sla_policy_id: opt_text(row, "sla_policy_id")?
            .map(switchboard_types::SlaPolicyId::from_trusted),
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

pub(super) fn inbox_agent(row: &Row) -> Result<InboxAgent, StoreError> {
    let a = text(row, "availability")?;
    Ok(InboxAgent {
        user_id: UserId::from_trusted(text(row, "user_id")?),
        availability: Availability::parse(&a).ok_or_else(|| invalid("availability", &a))?,
        capacity: opt_int(row, "capacity")?,
        last_assigned_at: opt_int(row, "last_assigned_at")?,
        open_conversations: int(row, "open_conversations")?,
    })
}

pub(super) const CONVERSATION_COLS: &str =
    "id, number, inbox_id, contact_id, status, snoozed_until, priority, \
    assignee_id, team_id, waiting_since, last_activity_at, created_at, updated_at, custom_attributes";

pub(super) fn conversation(row: &Row) -> Result<Conversation, StoreError> {
    let status = text(row, "status")?;
    let priority = text(row, "priority")?;
    Ok(Conversation {
        id: ConversationId::from_trusted(text(row, "id")?),
        number: int(row, "number")?,
        inbox_id: InboxId::from_trusted(text(row, "inbox_id")?),
        contact_id: ContactId::from_trusted(text(row, "contact_id")?),
        status: ConversationStatus::parse(&status).ok_or_else(|| invalid("status", &status))?,
        snoozed_until: opt_int(row, "snoozed_until")?,
        priority: Priority::parse(&priority).ok_or_else(|| invalid("priority", &priority))?,
        assignee_id: opt_text(row, "assignee_id")?.map(UserId::from_trusted),
        team_id: opt_text(row, "team_id")?.map(TeamId::from_trusted),
        waiting_since: opt_int(row, "waiting_since")?,
        last_activity_at: int(row, "last_activity_at")?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
        custom_attributes: match json(row, "custom_attributes")? {
            serde_json::Value::Object(m) => m,
            _ => return Err(invalid("custom attributes", "not an object")),
        },
    })
}

pub(super) const MESSAGE_COLS: &str = "id, conversation_id, direction, private, sender_type, \
    sender_id, content, created_at, external_id, delivery_status, metadata, triage";

pub(super) fn message(row: &Row) -> Result<Message, StoreError> {
    let direction = text(row, "direction")?;
    Ok(Message {
        id: MessageId::from_trusted(text(row, "id")?),
        conversation_id: ConversationId::from_trusted(text(row, "conversation_id")?),
        direction: Direction::parse(&direction).ok_or_else(|| invalid("direction", &direction))?,
        private: int(row, "private")? != 0,
        sender: actor(row, "sender_type", "sender_id")?,
        content: text(row, "content")?,
        created_at: int(row, "created_at")?,
        external_id: opt_text(row, "external_id")?,
        delivery_status: match opt_text(row, "delivery_status")? {
            None => None,
            Some(s) => {
                Some(DeliveryStatus::parse(&s).ok_or_else(|| invalid("delivery status", &s))?)
            }
        },
        metadata: match json(row, "metadata")? {
            serde_json::Value::Object(m) => m,
            _ => return Err(invalid("message metadata", "not an object")),
        },
        triage: match opt_text(row, "triage")? {
            None => None,
            Some(t) => Some(serde_json::from_str(&t).map_err(|_| invalid("message triage", &t))?),
        },
    })
}

pub(super) const OUTBOX_COLS: &str =
    "seq, id, event_type, version, occurred_at, actor_type, actor_id, payload";

pub(super) fn stored_event(row: &Row) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        seq: int(row, "seq")?,
        event: OutboxEvent {
            id: EventId::from_trusted(text(row, "id")?),
            event_type: text(row, "event_type")?,
            version: int(row, "version")?,
            occurred_at: int(row, "occurred_at")?,
            actor: actor(row, "actor_type", "actor_id")?,
            payload: json(row, "payload")?,
        },
    })
}

pub(super) const ATTACHMENT_COLS: &str =
    "id, conversation_id, message_id, filename, content_type, \
    size, sha256, blob_key, uploaded_by_type, uploaded_by_id, created_at";

pub(super) fn attachment(row: &Row) -> Result<Attachment, StoreError> {
    Ok(Attachment {
        id: switchboard_types::AttachmentId::from_trusted(text(row, "id")?),
        conversation_id: ConversationId::from_trusted(text(row, "conversation_id")?),
        message_id: opt_text(row, "message_id")?.map(MessageId::from_trusted),
        filename: text(row, "filename")?,
        content_type: text(row, "content_type")?,
        size: int(row, "size")?,
        sha256: text(row, "sha256")?,
        blob_key: text(row, "blob_key")?,
        uploaded_by: actor(row, "uploaded_by_type", "uploaded_by_id")?,
        created_at: int(row, "created_at")?,
    })
}

pub(super) const SLA_POLICY_COLS: &str = "id, name, first_response_ms, next_response_ms, \
    resolution_ms, calendar_id, warning_percent, created_at, updated_at";

pub(super) fn sla_policy(row: &Row) -> Result<SlaPolicy, StoreError> {
    Ok(SlaPolicy {
        id: switchboard_types::SlaPolicyId::from_trusted(text(row, "id")?),
        name: text(row, "name")?,
        first_response_ms: opt_int(row, "first_response_ms")?,
        next_response_ms: opt_int(row, "next_response_ms")?,
        resolution_ms: opt_int(row, "resolution_ms")?,
        calendar_id: opt_text(row, "calendar_id")?.map(CalendarId::from_trusted),
        warning_percent: int(row, "warning_percent")?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

pub(super) fn conversation_sla(row: &Row) -> Result<ConversationSla, StoreError> {
    Ok(ConversationSla {
        conversation_id: ConversationId::from_trusted(text(row, "conversation_id")?),
        policy_id: switchboard_types::SlaPolicyId::from_trusted(text(row, "policy_id")?),
        state: json(row, "state")?,
        updated_at: int(row, "updated_at")?,
    })
}

pub(super) const METRIC_COLS: &str =
    "id, kind, conversation_id, inbox_id, agent_id, team_id, started_at, at, value";

pub(super) fn metric(row: &Row) -> Result<MetricEvent, StoreError> {
    Ok(MetricEvent {
        id: switchboard_types::MetricEventId::from_trusted(text(row, "id")?),
        kind: text(row, "kind")?,
        conversation_id: ConversationId::from_trusted(text(row, "conversation_id")?),
        inbox_id: InboxId::from_trusted(text(row, "inbox_id")?),
        agent_id: opt_text(row, "agent_id")?,
        team_id: opt_text(row, "team_id")?.map(TeamId::from_trusted),
        started_at: int(row, "started_at")?,
        at: int(row, "at")?,
        value: opt_int(row, "value")?,
    })
}

pub(super) const CSAT_COLS: &str =
    "id, conversation_id, token_hash, sent_at, rating, comment, responded_at";

pub(super) fn csat(row: &Row) -> Result<CsatSurvey, StoreError> {
    Ok(CsatSurvey {
        id: switchboard_types::CsatSurveyId::from_trusted(text(row, "id")?),
        conversation_id: ConversationId::from_trusted(text(row, "conversation_id")?),
        token_hash: text(row, "token_hash")?,
        sent_at: int(row, "sent_at")?,
        rating: opt_int(row, "rating")?,
        comment: opt_text(row, "comment")?,
        responded_at: opt_int(row, "responded_at")?,
    })
}

pub(super) const SCHEDULED_COLS: &str = "id, conversation_id, content, private, attachment_ids, \
    sender_type, sender_id, send_at, status, message_id, error, created_at, updated_at";

pub(super) fn scheduled(row: &Row) -> Result<ScheduledMessage, StoreError> {
    let ids: Vec<String> = serde_json::from_value(json(row, "attachment_ids")?)
        .map_err(|e| StoreError::Invalid(format!("attachment_ids: {e}")))?;
    Ok(ScheduledMessage {
        id: switchboard_types::ScheduledMessageId::from_trusted(text(row, "id")?),
        conversation_id: ConversationId::from_trusted(text(row, "conversation_id")?),
        content: text(row, "content")?,
        private: int(row, "private")? != 0,
        attachment_ids: ids
            .into_iter()
            .map(switchboard_types::AttachmentId::from_trusted)
            .collect(),
        sender: actor(row, "sender_type", "sender_id")?,
        send_at: int(row, "send_at")?,
        status: text(row, "status")?,
        message_id: opt_text(row, "message_id")?.map(MessageId::from_trusted),
        error: opt_text(row, "error")?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

/// A message's triage as stored: JSON (the struct serialises without fail: no maps with
/// non-string keys, and a non-finite float becomes `null`).
pub(super) fn triage_json(t: &switchboard_types::MessageTriage) -> String {
    serde_json::to_value(t).unwrap_or_default().to_string()
}

pub(super) fn triage_settings(row: &Row) -> Result<StoredTriageSettings, StoreError> {
    Ok(StoredTriageSettings {
        settings: json(row, "settings")?,
        updated_at: int(row, "updated_at")?,
    })
}

pub(super) const INTENT_MODEL_COLS: &str = "id, name, sha256, size_bytes, labels, created_at";

pub(super) fn intent_model(row: &Row) -> Result<IntentModelRecord, StoreError> {
    let labels = text(row, "labels")?;
    Ok(IntentModelRecord {
        id: switchboard_types::IntentModelId::from_trusted(text(row, "id")?),
        name: text(row, "name")?,
        sha256: text(row, "sha256")?,
        size_bytes: int(row, "size_bytes")?,
        labels: serde_json::from_str(&labels).map_err(|_| invalid("model labels", &labels))?,
        created_at: int(row, "created_at")?,
    })
}

pub(super) fn macro_row(row: &Row) -> Result<Macro, StoreError> {
    Ok(Macro {
        id: switchboard_types::MacroId::from_trusted(text(row, "id")?),
        name: text(row, "name")?,
        actions: json(row, "actions")?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

pub(super) const NOTIFICATION_COLS: &str =
    "id, user_id, kind, conversation_id, data, read_at, created_at";

pub(super) fn notification(row: &Row) -> Result<Notification, StoreError> {
    Ok(Notification {
        id: switchboard_types::NotificationId::from_trusted(text(row, "id")?),
        user_id: UserId::from_trusted(text(row, "user_id")?),
        kind: text(row, "kind")?,
        conversation_id: opt_text(row, "conversation_id")?.map(ConversationId::from_trusted),
        data: json(row, "data")?,
        read_at: opt_int(row, "read_at")?,
        created_at: int(row, "created_at")?,
    })
}

pub(super) const WIDGET_SESSION_COLS: &str =
    "id, inbox_id, contact_id, token_hash, verified, created_at, expires_at";

pub(super) fn widget_session(row: &Row) -> Result<WidgetSession, StoreError> {
    Ok(WidgetSession {
        id: switchboard_types::WidgetSessionId::from_trusted(text(row, "id")?),
        inbox_id: InboxId::from_trusted(text(row, "inbox_id")?),
        contact_id: ContactId::from_trusted(text(row, "contact_id")?),
        token_hash: text(row, "token_hash")?,
        verified: int(row, "verified")? != 0,
        created_at: int(row, "created_at")?,
        expires_at: int(row, "expires_at")?,
    })
}

pub(super) const LABEL_COLS: &str = "id, name, colour, created_at";

pub(super) fn label(row: &Row) -> Result<Label, StoreError> {
    Ok(Label {
        id: LabelId::from_trusted(text(row, "id")?),
        name: text(row, "name")?,
        colour: text(row, "colour")?,
        created_at: int(row, "created_at")?,
    })
}

pub(super) const INVITATION_COLS: &str =
    "id, email, role, token_hash, invited_by, created_at, expires_at, accepted_at";

pub(super) fn invitation(row: &Row) -> Result<Invitation, StoreError> {
    Ok(Invitation {
        id: switchboard_types::InvitationId::from_trusted(text(row, "id")?),
        email: text(row, "email")?,
        role: role(row)?,
        token_hash: text(row, "token_hash")?,
        invited_by: text(row, "invited_by")?,
        created_at: int(row, "created_at")?,
        expires_at: int(row, "expires_at")?,
        accepted_at: opt_int(row, "accepted_at")?,
    })
}

pub(super) const CANNED_COLS: &str = "id, short_code, content, created_at, updated_at";

pub(super) fn canned(row: &Row) -> Result<CannedResponse, StoreError> {
    Ok(CannedResponse {
        id: CannedResponseId::from_trusted(text(row, "id")?),
        short_code: text(row, "short_code")?,
        content: text(row, "content")?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

pub(super) fn count(row: &Row) -> Result<i64, StoreError> {
    row.try_get::<i64, _>(0)
}
