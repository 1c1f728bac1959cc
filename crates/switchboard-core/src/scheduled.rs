//! Scheduled messages: a reply or note written now and sent at a chosen time by a job, as its
//! writer, provided the writer may still write then (a removed agent's or revoked key's
//! scheduled messages fail instead of being sent in their name). Sending is atomic with marking
//! it sent, so a message goes out once.

use crate::audit::RequestMeta;
use crate::error::{CoreError, CoreResult};
use crate::jobs::JobKind;
use crate::{changes, Core, TenantAccess};
use serde_json::json;
use switchboard_store::model::ScheduledMessage;
use switchboard_store::{Access, TenantCtx};
use switchboard_types::{
    ActorKind, ApiKeyId, AttachmentId, ConversationId, ScheduledMessageId, TenantId, TenantStatus,
    UserId,
};

/// How far ahead a message may be scheduled.
pub const MAX_AHEAD_MS: i64 = 365 * 24 * 3600 * 1000;

fn json_of(m: &ScheduledMessage) -> serde_json::Value {
    json!({"scheduled_message_id": m.id, "conversation_id": m.conversation_id, "send_at": crate::clock::rfc3339(m.send_at),
           "private": m.private, "status": m.status, "message_id": m.message_id, "error": m.error})
}

impl Core {
    /// Schedules a reply (or note) for `send_at`.
    #[allow(clippy::too_many_arguments)]
    pub async fn schedule_message(
        &self,
        access: &TenantAccess,
        conversation: &ConversationId,
        content: String,
        private: bool,
        attachments: Vec<AttachmentId>,
        send_at: i64,
        meta: &RequestMeta,
    ) -> CoreResult<ScheduledMessage> {
        if !access.role.can_work_conversations() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        if send_at <= now || send_at > now + MAX_AHEAD_MS {
            return Err(CoreError::field(
                "send_at",
                "in the future, at most a year ahead",
            ));
        }
        crate::conversations::check_message(&content, &attachments)?;
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        tx.get_conversation(conversation)
            .await?
            .ok_or(CoreError::NotFound)?;
        let m = ScheduledMessage {
            id: ScheduledMessageId::generate(),
            conversation_id: conversation.clone(),
            content,
            private,
            attachment_ids: attachments,
            sender: access.ctx.actor().clone(),
            send_at,
            status: "scheduled".into(),
            message_id: None,
            error: None,
            created_at: now,
            updated_at: now,
        };
        tx.insert_scheduled(&m).await?;
        let job = JobKind::ScheduledSend {
            tenant_id: access.ctx.tenant().clone(),
            scheduled_message_id: m.id.clone(),
        };
        tx.enqueue_job(&job.into_new_job(send_at), now).await?;
        changes::record(
            &mut *tx,
            meta,
            "message.scheduled",
            "scheduled_message",
            m.id.to_string(),
            json_of(&m),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(m)
    }

    pub async fn list_scheduled(
        &self,
        access: &TenantAccess,
        conversation: &ConversationId,
    ) -> CoreResult<Vec<ScheduledMessage>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        tx.get_conversation(conversation)
            .await?
            .ok_or(CoreError::NotFound)?;
        Ok(tx.list_scheduled(conversation).await?)
    }

    /// Cancels a message that has not been sent; 409 once it has.
    pub async fn cancel_scheduled(
        &self,
        access: &TenantAccess,
        id: &ScheduledMessageId,
        meta: &RequestMeta,
    ) -> CoreResult<ScheduledMessage> {
        if !access.role.can_work_conversations() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let mut m = tx.get_scheduled(id).await?.ok_or(CoreError::NotFound)?;
        m.status = "cancelled".into();
        m.updated_at = now;
        if !tx.finish_scheduled(&m).await? {
            return Err(CoreError::Conflict("a sent or cancelled scheduled message"));
        }
        changes::record(
            &mut *tx,
            meta,
            "message.schedule_cancelled",
            "scheduled_message",
            m.id.to_string(),
            json_of(&m),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(m)
    }

    /// The job: sends a due scheduled message as its writer, or records why it could not.
    pub async fn send_scheduled(
        &self,
        tenant_id: &TenantId,
        id: &ScheduledMessageId,
    ) -> CoreResult<()> {
        let tenant = {
            let mut tx = self.store().control(Access::Read).await?;
            tx.get_tenant(tenant_id).await?
        };
        let Some(tenant) = tenant.filter(|t| t.status != TenantStatus::Deleted) else {
            return Ok(());
        };
        let probe = {
            #[allow(clippy::disallowed_methods)] // a scheduled job acting for its tenant
            let ctx = TenantCtx::assume(
                tenant.id.clone(),
                switchboard_types::Actor::system("scheduler"),
                tenant.region.clone(),
            );
            let mut tx = self.store().tenant(&ctx, Access::Read).await?;
            let Some(m) = tx.get_scheduled(id).await? else {
                return Ok(());
            };
            // May the writer still write here?
            let allowed = match m.sender.kind {
                ActorKind::User => tx
                    .get_member(&UserId::from_trusted(m.sender.id.clone()))
                    .await?
                    .is_some_and(|member| member.role.can_work_conversations()),
                ActorKind::ApiKey => tx
                    .get_api_key(&ApiKeyId::from_trusted(m.sender.id.clone()))
                    .await?
                    .is_some_and(|k| {
                        k.revoked_at.is_none()
                            && k.expires_at.is_none_or(|e| e > self.now())
                            && crate::identity::role_for_scopes(&k.scopes)
                                .is_some_and(|r| r.can_work_conversations())
                    }),
                _ => false,
            };
            (m, allowed)
        };
        let (m, allowed) = probe;
        if m.status != "scheduled" {
            return Ok(());
        }
        #[allow(clippy::disallowed_methods)]
        // the job writes as the message's writer, checked above
        let ctx = TenantCtx::assume(tenant.id.clone(), m.sender.clone(), tenant.region.clone());
        let now = self.now();
        let meta = RequestMeta::default();
        let mut tx = self.store().tenant(&ctx, Access::Write).await?;
        let Some(mut m) = tx.get_scheduled(id).await? else {
            return Ok(());
        };
        if m.status != "scheduled" {
            return Ok(());
        }
        // Checked again under the write transaction: rights removed since still stop it.
        let allowed = allowed
            && tenant.status == TenantStatus::Active
            && match m.sender.kind {
                ActorKind::User => tx
                    .get_member(&UserId::from_trusted(m.sender.id.clone()))
                    .await?
                    .is_some_and(|member| member.role.can_work_conversations()),
                ActorKind::ApiKey => tx
                    .get_api_key(&ApiKeyId::from_trusted(m.sender.id.clone()))
                    .await?
                    .is_some_and(|k| k.revoked_at.is_none()),
                _ => false,
            };
        let outcome = if allowed {
            self.write_reply_in(
                &mut *tx,
                &m.conversation_id,
                m.content.clone(),
                m.private,
                &m.attachment_ids,
                &meta,
                now,
            )
            .await
        } else {
            Err(CoreError::Forbidden)
        };
        match outcome {
            Ok(message) => {
                m.status = "sent".into();
                m.message_id = Some(message.id);
            }
            Err(e @ (CoreError::Store(_) | CoreError::Internal(_))) => return Err(e),
            Err(e) => {
                // Nothing of the attempt is kept; record the failure in a clean transaction.
                drop(tx);
                tx = self.store().tenant(&ctx, Access::Write).await?;
                m.status = "failed".into();
                m.error = Some(match e {
                    CoreError::Forbidden => {
                        "the writer may no longer write in this conversation".into()
                    }
                    CoreError::NotFound => "the conversation no longer exists".into(),
                    other => other.to_string(),
                });
            }
        }
        m.updated_at = now;
        if tx.finish_scheduled(&m).await? {
            let action = if m.status == "sent" {
                "message.schedule_sent"
            } else {
                "message.schedule_failed"
            };
            changes::record(
                &mut *tx,
                &meta,
                action,
                "scheduled_message",
                m.id.to_string(),
                json_of(&m),
                now,
            )
            .await?;
            tx.commit().await?;
        }
        Ok(())
    }
}
