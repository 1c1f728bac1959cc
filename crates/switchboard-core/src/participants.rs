//! Participants: agents following a conversation besides its assignee (a specialist asked to
//! help, a manager watching). They are notified (`new_message`) when the customer writes.

use crate::audit::RequestMeta;
use crate::error::{CoreError, CoreResult};
use crate::{changes, notifications, Core, TenantAccess};
use serde_json::json;
use switchboard_store::model::{Conversation, Message};
use switchboard_store::{Access, StoreError, TenantTx};
use switchboard_types::{ConversationId, UserId};

/// Tells a conversation's participants that the customer wrote.
pub(crate) async fn on_customer_message(
    tx: &mut (dyn TenantTx + '_),
    c: &Conversation,
    m: &Message,
    now: i64,
) -> Result<(), StoreError> {
    for user in tx.participants(&c.id).await? {
        // Someone whose role changed since they joined no longer reads conversations.
        if !tx
            .get_member(&user)
            .await?
            .is_some_and(|m| m.role.can_read_contacts())
        {
            continue;
        }
        let data = json!({"conversation_id": c.id, "inbox_id": c.inbox_id, "message_id": m.id,
                          "excerpt": m.content.chars().take(200).collect::<String>()});
        notifications::notify(tx, &user, "new_message", Some(&c.id), data, now).await?;
    }
    Ok(())
}

impl Core {
    /// Adds a member who works conversations as a participant.
    pub async fn add_participant(
        &self,
        access: &TenantAccess,
        conversation: &ConversationId,
        user: &UserId,
        meta: &RequestMeta,
    ) -> CoreResult<Vec<UserId>> {
        if !access.role.can_work_conversations() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let c = tx
            .get_conversation(conversation)
            .await?
            .ok_or(CoreError::NotFound)?;
        match tx.get_member(user).await? {
            Some(m) if m.role.can_work_conversations() => {}
            _ => {
                return Err(CoreError::field(
                    "user_id",
                    "not a member who works conversations",
                ))
            }
        }
        tx.add_participant(conversation, user, now).await?;
        changes::record(
            &mut *tx,
            meta,
            "conversation.participant_added",
            "conversation",
            c.id.to_string(),
            json!({"conversation_id": c.id, "inbox_id": c.inbox_id, "user_id": user}),
            now,
        )
        .await?;
        let list = tx.participants(conversation).await?;
        tx.commit().await?;
        Ok(list)
    }

    pub async fn remove_participant(
        &self,
        access: &TenantAccess,
        conversation: &ConversationId,
        user: &UserId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_work_conversations() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let c = tx
            .get_conversation(conversation)
            .await?
            .ok_or(CoreError::NotFound)?;
        if !tx.remove_participant(conversation, user).await? {
            return Err(CoreError::NotFound);
        }
        changes::record(
            &mut *tx,
            meta,
            "conversation.participant_removed",
            "conversation",
            c.id.to_string(),
            json!({"conversation_id": c.id, "inbox_id": c.inbox_id, "user_id": user}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_participants(
        &self,
        access: &TenantAccess,
        conversation: &ConversationId,
    ) -> CoreResult<Vec<UserId>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        tx.get_conversation(conversation)
            .await?
            .ok_or(CoreError::NotFound)?;
        Ok(tx.participants(conversation).await?)
    }
}
