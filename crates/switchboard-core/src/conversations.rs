//! Inboxes, conversations and messages: a customer message arrives, finds (or creates) its
//! contact and conversation, and waits for an agent; agents reply, leave private notes, and move
//! conversations through their statuses.

use crate::audit::{self, AuditDraft, RequestMeta};
use crate::contacts::{apply_contact, Change, ContactInput};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::jobs::JobKind;
use crate::tenants::conflict;
use crate::{changes, events, validate, Core, TenantAccess};
use serde_json::{json, Map, Value};
use switchboard_store::model::{
    Contact, ContactFilter, Conversation, ConversationFilter, Inbox, Message, PageRequest,
};
use switchboard_store::{Access, TenantCtx, TenantTx};
use switchboard_types::{
    Actor, ActorKind, Channel, ContactId, ConversationId, ConversationStatus, Direction, InboxId,
    MessageId, Priority, TeamId, TenantId, TenantStatus, UserId,
};

/// Longest message body, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Who an inbound message is from: the first identifier that matches an existing contact wins;
/// otherwise a contact is created from all of them.
#[derive(Debug, Clone, Default)]
pub struct ContactRef {
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub phone_region: Option<String>,
    pub name: Option<String>,
}

/// An inbound message's content and, for channels with provider ids, its id there and details.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub content: String,
    /// Twilio's MessageSid, an email's Message-ID.
    pub external_id: Option<String>,
    /// Channel details (an email's subject and attachments).
    pub metadata: Map<String, Value>,
    /// Files already uploaded into the conversation, sent with this message.
    pub attachments: Vec<switchboard_types::AttachmentId>,
    /// What triage learned (see [`crate::triage`]); `content` is already what it decided to store.
    pub triage: Option<switchboard_types::MessageTriage>,
}

/// Which conversation an inbound message goes to.
#[derive(Debug, Clone)]
pub enum Thread {
    /// The contact's newest conversation in the inbox (reopened), or a new one.
    Latest,
    /// Always a new conversation.
    New,
    /// This conversation, which must be the contact's and in the inbox.
    Existing(ConversationId),
}

/// Changes to a conversation (absent fields are kept).
#[derive(Debug, Clone, Default)]
pub struct ConversationPatch {
    pub status: Option<ConversationStatus>,
    pub snoozed_until: Option<i64>,
    pub priority: Option<Priority>,
    pub assignee_id: Change<UserId>,
    pub team_id: Change<TeamId>,
    /// Merged key by key; a `null` value removes the key.
    pub custom_attributes: Option<Map<String, Value>>,
}

/// A message's text and attachments: at most 10 attachments, and text of up to 64 KiB without
/// NUL characters that may be empty only when attachments come with it.
pub(crate) fn check_message(
    content: &str,
    attachments: &[switchboard_types::AttachmentId],
) -> CoreResult<()> {
    crate::attachments::check_ids(attachments)?;
    if attachments.is_empty() {
        return check_content(content);
    }
    if content.len() > MAX_MESSAGE_BYTES || content.contains('\0') {
        return Err(CoreError::field(
            "content",
            "at most 64 KiB of text, no NUL characters",
        ));
    }
    Ok(())
}

pub(crate) fn check_content(content: &str) -> CoreResult<()> {
    if content.trim().is_empty() || content.len() > MAX_MESSAGE_BYTES || content.contains('\0') {
        return Err(CoreError::field(
            "content",
            "1 byte to 64 KiB of text, no NUL characters",
        ));
    }
    Ok(())
}

fn conversation_json(c: &Conversation) -> Value {
    json!({"conversation_id": c.id, "number": c.number, "inbox_id": c.inbox_id, "contact_id": c.contact_id,
           "status": c.status, "priority": c.priority, "assignee_id": c.assignee_id, "team_id": c.team_id})
}

/// An id for the conversation's next message that sorts after its last one, so the thread reads
/// in the order messages were written. The conversation row is locked, so no writer races us.
async fn next_message_id(
    tx: &mut (dyn TenantTx + '_),
    conversation: &ConversationId,
) -> Result<MessageId, switchboard_store::StoreError> {
    Ok(match tx.last_message_id(conversation).await? {
        Some(last) => MessageId::generate_after(&last),
        None => MessageId::generate(),
    })
}

/// A message event's data. It names the inbox too, so real-time subscribers to an inbox (and
/// integrators) can route it without looking the conversation up.
fn message_json(m: &Message, inbox: &InboxId) -> Value {
    let mut v = json!({"message_id": m.id, "conversation_id": m.conversation_id, "inbox_id": inbox, "direction": m.direction,
           "private": m.private, "sender": m.sender, "content": m.content, "created_at": crate::clock::rfc3339(m.created_at),
           "attachments": m.metadata.get("attachments").cloned().unwrap_or_else(|| json!([]))});
    if let (Some(t), Value::Object(o)) = (&m.triage, &mut v) {
        o.insert("triage".into(), json!(t));
    }
    v
}

/// Finds the contact an inbound message is from, or creates it.
pub(crate) async fn resolve_contact(
    core: &Core,
    tx: &mut (dyn TenantTx + '_),
    who: ContactRef,
    meta: &RequestMeta,
) -> CoreResult<Contact> {
    let now = core.now();
    let mut probe = Contact {
        id: ContactId::generate(),
        name: String::new(),
        email: None,
        phone: None,
        external_id: None,
        company_id: None,
        custom_attributes: Map::new(),
        created_at: now,
        updated_at: now,
    };
    let set = |v: Option<String>| v.map_or(Change::Keep, Change::Set);
    apply_contact(
        &mut probe,
        ContactInput {
            name: set(who.name),
            email: set(who.email),
            phone: set(who.phone),
            phone_region: who.phone_region,
            external_id: set(who.external_id),
            ..Default::default()
        },
    )?;
    if probe.email.is_none() && probe.phone.is_none() && probe.external_id.is_none() {
        return Err(CoreError::field(
            "contact",
            "give at least one of external_id, email or phone",
        ));
    }
    for filter in [
        probe.external_id.clone().map(|v| ContactFilter {
            external_id: Some(v),
            ..Default::default()
        }),
        probe.email.clone().map(|v| ContactFilter {
            email: Some(v),
            ..Default::default()
        }),
        probe.phone.clone().map(|v| ContactFilter {
            phone: Some(v),
            ..Default::default()
        }),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(found) = tx
            .list_contacts(&ContactFilter {
                page: PageRequest {
                    after: None,
                    limit: 1,
                },
                ..filter
            })
            .await?
            .into_iter()
            .next()
        {
            // The look-up locked the contact (PostgreSQL), so concurrent messages from one
            // person find or create their conversation one after the other.
            return Ok(found);
        }
    }
    if !tx.insert_contact_if_absent(&probe).await? {
        // A concurrent message created this person a moment ago: use that contact.
        for filter in [
            probe.external_id.clone().map(|v| ContactFilter {
                external_id: Some(v),
                ..Default::default()
            }),
            probe.email.clone().map(|v| ContactFilter {
                email: Some(v),
                ..Default::default()
            }),
            probe.phone.clone().map(|v| ContactFilter {
                phone: Some(v),
                ..Default::default()
            }),
        ]
        .into_iter()
        .flatten()
        {
            if let Some(found) = tx.list_contacts(&filter).await?.into_iter().next() {
                return tx.get_contact(&found.id).await?.ok_or(CoreError::NotFound);
            }
        }
        return Err(CoreError::Conflict("a contact with this identifier"));
    }
    events::emit(tx, "contact.created", json!({"contact_id": probe.id, "name": probe.name, "email": probe.email, "phone": probe.phone, "external_id": probe.external_id}), now).await?;
    let draft = AuditDraft::success("contact.created", "contact", probe.id.to_string())
        .with_details(json!({"via": "inbound_message"}));
    let actor = tx.ctx().actor().clone();
    audit::append(tx, &actor, meta, draft, now).await?;
    Ok(probe)
}

impl Core {
    pub async fn create_inbox(
        &self,
        access: &TenantAccess,
        name: &str,
        channel: Channel,
        meta: &RequestMeta,
    ) -> CoreResult<Inbox> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let inboxes = self.list_inboxes(access).await?.len() as i64;
        self.check_quota(access, crate::quotas::Quota::Inboxes, inboxes)
            .await?;
        let mut errors = Vec::new();
        validate::name("name", name, &mut errors);
        validate::finish(errors)?;
        let now = self.now();
        let (public_token, config) = match channel {
            Channel::Widget => crate::widget::new_widget_inbox_fields(),
            // Twilio reaches an SMS inbox at a URL naming it by a public id.
            Channel::Sms => (Some(crate::widget::new_public_token()), Map::new()),
            Channel::Api | Channel::Email => (None, Map::new()),
        };
        let inbox = Inbox {
            id: InboxId::generate(),
            name: name.trim().to_owned(),
            channel,
            assignment_policy: switchboard_types::AssignmentPolicy::None,
            public_token,
            config,
            secret_version: 1,
            channel_secret: None,
            sla_policy_id: None,
            reassign_after_ms: None,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        tx.insert_inbox(&inbox)
            .await
            .map_err(|e| conflict(e, "an inbox with this name"))?;
        changes::record(
            &mut *tx,
            meta,
            "inbox.created",
            "inbox",
            inbox.id.to_string(),
            json!({"inbox_id": inbox.id, "name": inbox.name, "channel": inbox.channel}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(inbox)
    }

    pub async fn list_inboxes(&self, access: &TenantAccess) -> CoreResult<Vec<Inbox>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        Ok(self
            .store
            .tenant(&access.ctx, Access::Read)
            .await?
            .list_inboxes()
            .await?)
    }

    /// A customer message arriving in an inbox (API channel). It joins the contact's latest
    /// conversation in that inbox, reopening it, or starts a new one. Returns the conversation,
    /// the message, and whether the conversation is new.
    pub async fn receive_message(
        &self,
        access: &TenantAccess,
        inbox_id: &InboxId,
        who: ContactRef,
        content: String,
        meta: &RequestMeta,
    ) -> CoreResult<(Conversation, Message, bool)> {
        if !access.role.can_work_conversations() {
            return Err(CoreError::Forbidden);
        }
        check_content(&content)?;
        let triaged = self.triage_inbound(&access.ctx, content).await?;
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        let inbox = tx.get_inbox(inbox_id).await?.ok_or(CoreError::NotFound)?;
        let contact = resolve_contact(self, &mut *tx, who, meta).await?;
        let done = self
            .deliver_inbound(
                &mut *tx,
                &inbox,
                &contact.id,
                Thread::Latest,
                Incoming {
                    content: triaged.content,
                    triage: triaged.triage,
                    ..Default::default()
                },
                meta,
            )
            .await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Adds a customer's message to a conversation of `contact` in `inbox`, inside the caller's
    /// transaction: the latest one (reopened) or a new one for [`Thread::Latest`], always a new
    /// one for [`Thread::New`], or the given one (which must be this contact's, in this inbox)
    /// for [`Thread::Existing`]. Runs auto-assignment; records events and audit entries under the
    /// transaction's actor.
    pub(crate) async fn deliver_inbound(
        &self,
        tx: &mut (dyn TenantTx + '_),
        inbox: &Inbox,
        contact: &ContactId,
        thread: Thread,
        incoming: Incoming,
        meta: &RequestMeta,
    ) -> CoreResult<(Conversation, Message, bool)> {
        check_message(&incoming.content, &incoming.attachments)?;
        let now = self.now();
        let existing = match thread {
            // The newest conversation may just have been merged away; then the message starts a
            // new one rather than failing.
            Thread::Latest => tx.latest_conversation(contact, &inbox.id).await?,
            Thread::New if !incoming.attachments.is_empty() => {
                return Err(CoreError::field(
                    "attachment_ids",
                    "upload attachments into an existing conversation",
                ))
            }
            Thread::New => None,
            Thread::Existing(id) => {
                let c = tx.get_conversation(&id).await?;
                match c {
                    Some(c) if &c.contact_id == contact && c.inbox_id == inbox.id => Some(c),
                    _ => return Err(CoreError::NotFound),
                }
            }
        };
        let (mut conversation, created) = match existing {
            Some(c) => (c, false),
            None => {
                let number = tx.next_conversation_number().await?;
                let c = Conversation {
                    id: ConversationId::generate(),
                    number,
                    inbox_id: inbox.id.clone(),
                    contact_id: contact.clone(),
                    status: ConversationStatus::Open,
                    snoozed_until: None,
                    priority: Priority::None,
                    assignee_id: None,
                    team_id: None,
                    waiting_since: Some(now),
                    last_activity_at: now,
                    created_at: now,
                    updated_at: now,
                    custom_attributes: Map::new(),
                };
                tx.insert_conversation(&c).await?;
                crate::reports::record(tx, "created", &c, None, now, now, None).await?;
                changes::record(
                    tx,
                    meta,
                    "conversation.created",
                    "conversation",
                    c.id.to_string(),
                    conversation_json(&c),
                    now,
                )
                .await?;
                (c, true)
            }
        };
        let was_waiting = !created
            && conversation.waiting_since.is_some()
            && conversation.status != ConversationStatus::Resolved;
        if !created {
            let before = conversation.status;
            conversation.status = ConversationStatus::Open;
            conversation.snoozed_until = None;
            // A resolved conversation starts a fresh wait; an open one keeps waiting since its
            // first unanswered message.
            conversation.waiting_since = if before == ConversationStatus::Resolved {
                Some(now)
            } else {
                conversation.waiting_since.or(Some(now))
            };
            conversation.last_activity_at = now;
            conversation.updated_at = now;
            tx.update_conversation(&conversation).await?;
            if before == ConversationStatus::Resolved {
                // A new cycle: response and resolution times count from here.
                crate::reports::record(tx, "reopened", &conversation, None, now, now, None).await?;
            }
            if before != ConversationStatus::Open {
                let data = json!({"conversation_id": conversation.id, "inbox_id": conversation.inbox_id, "from": before, "to": "open", "reason": "customer_message"});
                changes::record(
                    tx,
                    meta,
                    "conversation.status_changed",
                    "conversation",
                    conversation.id.to_string(),
                    data,
                    now,
                )
                .await?;
            }
        }
        crate::assignment::auto_assign(tx, inbox, &mut conversation, meta, now).await?;
        if !was_waiting {
            crate::assignment::schedule_reassign(tx, inbox, &conversation, now).await?;
        }
        self.sla_event(
            tx,
            &conversation,
            inbox.sla_policy_id.as_ref().filter(|_| created),
            crate::sla::SlaEvent::CustomerMessage { was_waiting },
            meta,
            now,
        )
        .await?;
        let message = Message {
            id: next_message_id(tx, &conversation.id).await?,
            conversation_id: conversation.id.clone(),
            direction: Direction::Incoming,
            private: false,
            sender: Actor {
                kind: ActorKind::Contact,
                id: contact.to_string(),
            },
            content: incoming.content,
            created_at: now,
            external_id: incoming.external_id,
            delivery_status: None,
            metadata: incoming.metadata,
            triage: incoming.triage,
        };
        tx.insert_message(&message).await?;
        crate::participants::on_customer_message(tx, &conversation, &message, now).await?;
        let mut message = message;
        if !incoming.attachments.is_empty() {
            let list = crate::attachments::attach(tx, &message, &incoming.attachments).await?;
            message
                .metadata
                .insert("attachments".into(), Value::Array(list));
            tx.set_message_delivery(&message).await?;
        }
        events::emit(
            tx,
            "message.created",
            message_json(&message, &conversation.inbox_id),
            now,
        )
        .await?;
        let actor = tx.ctx().actor().clone();
        audit::append(
            tx,
            &actor,
            meta,
            AuditDraft::success("message.created", "message", message.id.to_string())
                .with_details(json!({"conversation_id": conversation.id})),
            now,
        )
        .await?;
        Ok((conversation, message, created))
    }

    /// An agent's reply (sent to the customer) or private note (agents only).
    pub async fn post_message(
        &self,
        access: &TenantAccess,
        id: &ConversationId,
        content: String,
        private: bool,
        attachments: &[switchboard_types::AttachmentId],
        meta: &RequestMeta,
    ) -> CoreResult<Message> {
        if !access.role.can_work_conversations() {
            return Err(CoreError::Forbidden);
        }
        self.write_reply(&access.ctx, id, content, private, attachments, meta)
            .await
    }

    /// An agent's reply or note, written as the context's actor (whose rights the caller
    /// checked): a request's, or a scheduled message's sender when it falls due.
    pub(crate) async fn write_reply(
        &self,
        ctx: &TenantCtx,
        id: &ConversationId,
        content: String,
        private: bool,
        attachments: &[switchboard_types::AttachmentId],
        meta: &RequestMeta,
    ) -> CoreResult<Message> {
        check_message(&content, attachments)?;
        let now = self.now();
        let mut tx = self.store.tenant(ctx, Access::Write).await?;
        let message = self
            .write_reply_in(&mut *tx, id, content, private, attachments, meta, now)
            .await?;
        tx.commit().await?;
        Ok(message)
    }

    /// [`Self::write_reply`] inside the caller's transaction, as its actor.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn write_reply_in(
        &self,
        tx: &mut (dyn TenantTx + '_),
        id: &ConversationId,
        content: String,
        private: bool,
        attachments: &[switchboard_types::AttachmentId],
        meta: &RequestMeta,
        now: i64,
    ) -> CoreResult<Message> {
        let ctx = tx.ctx().clone();
        let ctx = &ctx;
        let mut conversation = tx.get_conversation(id).await?.ok_or(CoreError::NotFound)?;
        let mut message = Message {
            id: next_message_id(tx, id).await?,
            conversation_id: id.clone(),
            direction: Direction::Outgoing,
            private,
            sender: ctx.actor().clone(),
            content,
            created_at: now,
            external_id: None,
            delivery_status: None,
            metadata: Map::new(),
            triage: None,
        };
        // A reply on SMS or email leaves through its channel: queued with the reply itself, so
        // a committed reply is always attempted.
        let inbox = tx
            .get_inbox(&conversation.inbox_id)
            .await?
            .ok_or(CoreError::NotFound)?;
        let external = !private && crate::channels::delivers_externally(inbox.channel);
        if external {
            crate::channels::pending(&mut message);
            let job = JobKind::MessageDeliver {
                tenant_id: ctx.tenant().clone(),
                message_id: message.id.clone(),
            };
            tx.enqueue_job(&job.into_new_job(now), now).await?;
        }
        tx.insert_message(&message).await?;
        if !attachments.is_empty() {
            let list = crate::attachments::attach(tx, &message, attachments).await?;
            message
                .metadata
                .insert("attachments".into(), Value::Array(list));
            tx.set_message_delivery(&message).await?;
        }
        let waited = conversation.waiting_since;
        if !private {
            // The customer has their answer; the reply clock stops until they write again.
            conversation.waiting_since = None;
        }
        conversation.last_activity_at = now;
        conversation.updated_at = now;
        tx.update_conversation(&conversation).await?;
        if private {
            // Mentioned colleagues hear about the note.
            // Only people who may read the conversation hear about the note.
            let mut members = tx
                .list_members(&PageRequest {
                    after: None,
                    limit: 1000,
                })
                .await?;
            members.retain(|m| m.role.can_read_contacts());
            let writer = match ctx.actor().kind {
                ActorKind::User => Some(UserId::from_trusted(ctx.actor().id.clone())),
                _ => None,
            };
            for user in crate::notifications::mentioned(&message.content, &members, writer.as_ref())
            {
                let data = json!({"conversation_id": id, "message_id": message.id, "by": ctx.actor(),
                                  "excerpt": message.content.chars().take(200).collect::<String>()});
                crate::notifications::notify(tx, &user, "mention", Some(id), data, now).await?;
            }
        } else if crate::reports::person(ctx.actor()).is_some() {
            crate::reports::on_reply(tx, &conversation, waited, ctx.actor(), now).await?;
            // A person answered (bots and automation do not stop response clocks).
            self.sla_event(
                tx,
                &conversation,
                None,
                crate::sla::SlaEvent::AgentReply,
                meta,
                now,
            )
            .await?;
        }
        events::emit(
            tx,
            "message.created",
            message_json(&message, &conversation.inbox_id),
            now,
        )
        .await?;
        let draft = AuditDraft::success("message.created", "message", message.id.to_string())
            .with_details(json!({"conversation_id": id, "private": private}));
        audit::append(tx, ctx.actor(), meta, draft, now).await?;
        Ok(message)
    }

    /// A reply written by a bot integration (an API key speaking as a bot): it reaches the
    /// customer like any reply, but bot replies stop no response clock and count as bot time in
    /// reports until a [`Core::hand_off`].
    pub async fn post_bot_message(
        &self,
        access: &TenantAccess,
        id: &ConversationId,
        content: String,
        meta: &RequestMeta,
    ) -> CoreResult<Message> {
        if !access.role.can_work_conversations() {
            return Err(CoreError::Forbidden);
        }
        if access.ctx.actor().kind != ActorKind::ApiKey {
            return Err(CoreError::field(
                "as_bot",
                "only an API key (a bot integration) writes as a bot",
            ));
        }
        let bot = access.ctx.with_actor(Actor {
            kind: ActorKind::Bot,
            id: access.ctx.actor().id.clone(),
        });
        self.write_reply(&bot, id, content, false, &[], meta).await
    }

    /// A bot passes the customer to people: reports start a new cycle here (bot time before it is
    /// not counted against first response), and the customer waits for a person from now.
    pub async fn hand_off(
        &self,
        access: &TenantAccess,
        id: &ConversationId,
        meta: &RequestMeta,
    ) -> CoreResult<Conversation> {
        if !access.role.can_work_conversations() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        let mut c = tx.get_conversation(id).await?.ok_or(CoreError::NotFound)?;
        c.waiting_since = Some(now);
        if c.status != ConversationStatus::Open {
            c.status = ConversationStatus::Open;
            c.snoozed_until = None;
        }
        c.updated_at = now;
        tx.update_conversation(&c).await?;
        crate::reports::record(&mut *tx, "handoff", &c, None, now, now, None).await?;
        changes::record(
            &mut *tx,
            meta,
            "conversation.handed_off",
            "conversation",
            id.to_string(),
            json!({"conversation_id": id, "inbox_id": c.inbox_id}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(c)
    }

    /// Merges the duplicate `source` into `target`: the thread, the labels and the customer's wait
    /// move over, and the duplicate is deleted (the audit entry keeps its record). Both must be
    /// the same customer's, so a reply never reaches someone else.
    pub async fn merge_conversations(
        &self,
        access: &TenantAccess,
        target: &ConversationId,
        source: &ConversationId,
        meta: &RequestMeta,
    ) -> CoreResult<Conversation> {
        if !access.role.can_work_conversations() {
            return Err(CoreError::Forbidden);
        }
        let invalid =
            |message: &str| CoreError::Validation(vec![FieldError::new("duplicate_id", message)]);
        if source == target {
            return Err(invalid("cannot merge a conversation into itself"));
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        // Lock both rows in id order, so opposite merges running at once cannot deadlock.
        let (keep, gone) = if target < source {
            let keep = tx.get_conversation(target).await?;
            (keep, tx.get_conversation(source).await?)
        } else {
            let gone = tx.get_conversation(source).await?;
            (tx.get_conversation(target).await?, gone)
        };
        let mut keep = keep.ok_or(CoreError::NotFound)?;
        let gone = match gone {
            None => return Err(CoreError::NotFound),
            Some(c) if c.contact_id != keep.contact_id => {
                return Err(invalid(
                    "belongs to another contact; merge the contacts first",
                ))
            }
            Some(c) => c,
        };
        let mut labels: Vec<_> = tx
            .conversation_labels(target)
            .await?
            .into_iter()
            .chain(tx.conversation_labels(source).await?)
            .map(|l| l.id)
            .collect();
        labels.sort();
        labels.dedup();
        let moved = tx.move_messages(source, target).await?;
        if !tx.delete_conversation(source).await? {
            return Err(CoreError::NotFound);
        }
        tx.set_conversation_labels(target, &labels, now).await?;
        keep.waiting_since = match (keep.waiting_since, gone.waiting_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        keep.last_activity_at = keep.last_activity_at.max(gone.last_activity_at);
        keep.updated_at = now;
        let status_before = keep.status;
        if keep.waiting_since.is_some() && keep.status != ConversationStatus::Open {
            // The customer still waits for an answer: it must not hide in a resolved, pending
            // or snoozed conversation.
            keep.status = ConversationStatus::Open;
            keep.snoozed_until = None;
        }
        if !tx.update_conversation(&keep).await? {
            return Err(CoreError::NotFound);
        }
        if keep.status != status_before {
            // Opened again for the waiting customer: a new cycle for reports when it had been
            // resolved, and the SLA clocks run again.
            if status_before == ConversationStatus::Resolved {
                crate::reports::record(&mut *tx, "reopened", &keep, None, now, now, None).await?;
            }
            self.sla_event(
                &mut *tx,
                &keep,
                None,
                crate::sla::SlaEvent::Status(keep.status),
                meta,
                now,
            )
            .await?;
            let data = json!({"conversation_id": target, "inbox_id": keep.inbox_id, "from": status_before, "to": keep.status,
                "snoozed_until": null, "reason": "merge"});
            changes::record(
                &mut *tx,
                meta,
                "conversation.status_changed",
                "conversation",
                target.to_string(),
                data,
                now,
            )
            .await?;
        }
        let data = json!({"conversation_id": target, "inbox_id": keep.inbox_id, "merged_conversation_id": source,
            "messages_moved": moved, "merged": conversation_json(&gone)});
        changes::record(
            &mut *tx,
            meta,
            "conversation.merged",
            "conversation",
            target.to_string(),
            data,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(keep)
    }

    /// Ends a snooze on time: a conversation still snoozed until exactly `snoozed_until` opens
    /// again, recorded under the automation actor. Anything else (woken by the customer, closed,
    /// re-snoozed to another time, or the tenant gone) leaves it alone. Returns whether it woke.
    pub async fn wake_conversation(
        &self,
        tenant_id: &TenantId,
        id: &ConversationId,
        snoozed_until: i64,
    ) -> CoreResult<bool> {
        let tenant = {
            let mut tx = self.store.control(Access::Read).await?;
            tx.get_tenant(tenant_id).await?
        };
        let Some(tenant) = tenant.filter(|t| t.status != TenantStatus::Deleted) else {
            return Ok(false);
        };
        let actor = Actor {
            kind: ActorKind::Automation,
            id: "snooze".to_owned(),
        };
        #[allow(clippy::disallowed_methods)] // a scheduled job acting for its tenant
        let ctx = TenantCtx::assume(tenant.id.clone(), actor, tenant.region.clone());
        let now = self.now();
        let mut tx = self.store.tenant(&ctx, Access::Write).await?;
        let Some(mut c) = tx.get_conversation(id).await? else {
            return Ok(false);
        };
        if c.status != ConversationStatus::Snoozed || c.snoozed_until != Some(snoozed_until) {
            return Ok(false);
        }
        c.status = ConversationStatus::Open;
        c.snoozed_until = None;
        c.updated_at = now;
        if !tx.update_conversation(&c).await? {
            return Ok(false);
        }
        self.sla_event(
            &mut *tx,
            &c,
            None,
            crate::sla::SlaEvent::Status(c.status),
            &RequestMeta::default(),
            now,
        )
        .await?;
        let data = json!({"conversation_id": id, "inbox_id": c.inbox_id, "from": ConversationStatus::Snoozed, "to": c.status, "snoozed_until": null});
        changes::record(
            &mut *tx,
            &RequestMeta::default(),
            "conversation.status_changed",
            "conversation",
            id.to_string(),
            data,
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(conversation = %id, tenant = %tenant.id, "snooze ended");
        Ok(true)
    }

    /// The inbox of a conversation the caller may read: enough for real-time subscriptions and
    /// typing signals, without loading the thread.
    pub async fn conversation_inbox(
        &self,
        access: &TenantAccess,
        id: &ConversationId,
    ) -> CoreResult<InboxId> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        let c = tx.get_conversation(id).await?.ok_or(CoreError::NotFound)?;
        Ok(c.inbox_id)
    }

    /// The conversation with the oldest page of its thread (at most `page.limit` messages, so a
    /// caller asking for one more than it shows learns whether the thread goes on).
    pub async fn get_conversation(
        &self,
        access: &TenantAccess,
        id: &ConversationId,
        page: &PageRequest,
    ) -> CoreResult<(Conversation, Vec<Message>)> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        let conversation = tx.get_conversation(id).await?.ok_or(CoreError::NotFound)?;
        let messages = tx.list_messages(id, page, true).await?;
        Ok((conversation, messages))
    }

    /// The conversation with the newest `limit` messages of its thread, oldest first (what an
    /// agent's screen shows: the latest word, however long the thread).
    pub async fn conversation_with_latest(
        &self,
        access: &TenantAccess,
        id: &ConversationId,
        limit: i64,
    ) -> CoreResult<(Conversation, Vec<Message>)> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        let conversation = tx.get_conversation(id).await?.ok_or(CoreError::NotFound)?;
        let messages = tx.latest_messages(id, limit).await?;
        Ok((conversation, messages))
    }

    /// One page of a conversation's thread, oldest first; a conversation of another tenant (or
    /// none at all) is not found rather than an empty thread.
    pub async fn list_messages(
        &self,
        access: &TenantAccess,
        id: &ConversationId,
        page: &PageRequest,
    ) -> CoreResult<Vec<Message>> {
        Ok(self.get_conversation(access, id, page).await?.1)
    }

    /// What happened to a conversation besides its messages (status, assignment, labels,
    /// hand-offs, …), newest first, from its audit entries: for the conversation's timeline.
    pub async fn conversation_activity(
        &self,
        access: &TenantAccess,
        id: &ConversationId,
    ) -> CoreResult<Vec<switchboard_store::model::AuditRecord>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        tx.get_conversation(id).await?.ok_or(CoreError::NotFound)?;
        Ok(tx
            .list_audit(&switchboard_store::model::AuditFilter {
                target_id: Some(id.to_string()),
                limit: 200,
                ..Default::default()
            })
            .await?
            .into_iter()
            .filter(|r| {
                r.action.starts_with("conversation.") && r.action != "conversation.reassign_check"
            })
            .collect())
    }

    pub async fn list_conversations(
        &self,
        access: &TenantAccess,
        filter: ConversationFilter,
    ) -> CoreResult<Vec<Conversation>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        Ok(self
            .store
            .tenant(&access.ctx, Access::Read)
            .await?
            .list_conversations(&filter)
            .await?)
    }

    /// Status, snooze, priority, assignee and team changes, each evented and audited.
    pub async fn update_conversation(
        &self,
        access: &TenantAccess,
        id: &ConversationId,
        patch: ConversationPatch,
        meta: &RequestMeta,
    ) -> CoreResult<Conversation> {
        if !access.role.can_work_conversations() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        let mut c = tx.get_conversation(id).await?.ok_or(CoreError::NotFound)?;
        let before = c.clone();
        let mut errors = Vec::new();
        if let Some(status) = patch.status {
            match (status, patch.snoozed_until) {
                (ConversationStatus::Snoozed, Some(until)) if until > now => {
                    c.snoozed_until = Some(until)
                }
                (ConversationStatus::Snoozed, _) => errors.push(FieldError::new(
                    "snoozed_until",
                    "a future time is required to snooze",
                )),
                (_, Some(_)) => {
                    errors.push(FieldError::new("snoozed_until", "only with status snoozed"))
                }
                (_, None) => c.snoozed_until = None,
            }
            c.status = status;
            if status == ConversationStatus::Resolved {
                c.waiting_since = None;
            }
        } else if patch.snoozed_until.is_some() {
            errors.push(FieldError::new("snoozed_until", "only with status snoozed"));
        }
        if let Some(p) = patch.priority {
            c.priority = p;
        }
        match patch.assignee_id {
            Change::Set(u) => {
                match tx.get_member(&u).await? {
                    None => errors.push(FieldError::new(
                        "assignee_id",
                        "not a member of this tenant",
                    )),
                    Some(m) if !m.role.can_work_conversations() => errors.push(FieldError::new(
                        "assignee_id",
                        "this member's role cannot work conversations",
                    )),
                    Some(_) => {}
                }
                c.assignee_id = Some(u);
            }
            Change::Clear => c.assignee_id = None,
            Change::Keep => {}
        }
        match patch.team_id {
            Change::Set(t) => {
                if tx.get_team(&t).await?.is_none() {
                    errors.push(FieldError::new("team_id", "no such team"));
                }
                c.team_id = Some(t);
            }
            Change::Clear => c.team_id = None,
            Change::Keep => {}
        }
        validate::finish(errors)?;
        if let Some(changes) = &patch.custom_attributes {
            for (k, v) in changes {
                if v.is_null() {
                    c.custom_attributes.remove(k);
                } else {
                    c.custom_attributes.insert(k.clone(), v.clone());
                }
            }
            crate::attributes::check_values(
                &mut *tx,
                switchboard_types::AttributeTarget::Conversation,
                &c.custom_attributes,
                Some(&before.custom_attributes),
            )
            .await?;
        }
        c.updated_at = now;
        if !tx.update_conversation(&c).await? {
            return Err(CoreError::NotFound);
        }
        if let (ConversationStatus::Snoozed, Some(until)) = (c.status, c.snoozed_until) {
            if before.status != ConversationStatus::Snoozed || before.snoozed_until != Some(until) {
                let wake = JobKind::ConversationWake {
                    tenant_id: access.ctx.tenant().clone(),
                    conversation_id: id.clone(),
                    snoozed_until: until,
                };
                tx.enqueue_job(&wake.into_new_job(until), now).await?;
            }
        }
        if c.status == ConversationStatus::Resolved && before.status != ConversationStatus::Resolved
        {
            let survey =
                crate::reports::on_resolved(&mut *tx, &c, &self.config().widget_key, now).await?;
            crate::reports::announce_survey(&mut *tx, &c, &survey, now).await?;
        }
        if c.status != before.status {
            self.sla_event(
                &mut *tx,
                &c,
                None,
                crate::sla::SlaEvent::Status(c.status),
                meta,
                now,
            )
            .await?;
        }
        if c.assignee_id != before.assignee_id {
            if let Some(inbox) = tx.get_inbox(&c.inbox_id).await? {
                crate::assignment::schedule_reassign(&mut *tx, &inbox, &c, now).await?;
            }
            if let Some(user) = c
                .assignee_id
                .as_ref()
                .filter(|u| access.ctx.actor().id != u.as_str())
            {
                let data = json!({"conversation_id": id, "inbox_id": c.inbox_id, "by": access.ctx.actor()});
                crate::notifications::notify(&mut *tx, user, "assigned", Some(id), data, now)
                    .await?;
            }
        }
        if c.status != before.status || c.snoozed_until != before.snoozed_until {
            let data = json!({"conversation_id": id, "inbox_id": c.inbox_id, "from": before.status, "to": c.status, "snoozed_until": c.snoozed_until});
            changes::record(
                &mut *tx,
                meta,
                "conversation.status_changed",
                "conversation",
                id.to_string(),
                data,
                now,
            )
            .await?;
        }
        if c.assignee_id != before.assignee_id || c.team_id != before.team_id {
            let data = json!({"conversation_id": id, "inbox_id": c.inbox_id, "assignee_id": c.assignee_id, "team_id": c.team_id,
                              "previous_assignee_id": before.assignee_id, "previous_team_id": before.team_id});
            changes::record(
                &mut *tx,
                meta,
                "conversation.assigned",
                "conversation",
                id.to_string(),
                data,
                now,
            )
            .await?;
        }
        if c.custom_attributes != before.custom_attributes {
            let data = json!({"conversation_id": id, "inbox_id": c.inbox_id, "custom_attributes": c.custom_attributes});
            changes::record(
                &mut *tx,
                meta,
                "conversation.attributes_changed",
                "conversation",
                id.to_string(),
                data,
                now,
            )
            .await?;
        }
        if c.priority != before.priority {
            let data = json!({"conversation_id": id, "inbox_id": c.inbox_id, "from": before.priority, "to": c.priority});
            changes::record(
                &mut *tx,
                meta,
                "conversation.updated",
                "conversation",
                id.to_string(),
                data,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(c)
    }
}
