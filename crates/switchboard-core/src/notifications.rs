//! Notifications: what a person should look at (a mention in a note, an SLA warning or breach).
//! Each is stored for its recipient and announced as a `notification.created` event, which the
//! real-time hub delivers to that person's sockets only.

use crate::error::{CoreError, CoreResult};
use crate::{events, Core, Principal, TenantAccess};
use serde_json::{json, Value};
use switchboard_store::model::{Member, Notification, PageRequest};
use switchboard_store::{Access, StoreError, TenantTx};
use switchboard_types::{ConversationId, NotificationId, UserId};

/// Stores a notification for `user` in the change's transaction and announces it.
pub(crate) async fn notify(
    tx: &mut (dyn TenantTx + '_),
    user: &UserId,
    kind: &str,
    conversation: Option<&ConversationId>,
    data: Value,
    now: i64,
) -> Result<(), StoreError> {
    let n = Notification {
        id: NotificationId::generate(),
        user_id: user.clone(),
        kind: kind.to_owned(),
        conversation_id: conversation.cloned(),
        data,
        read_at: None,
        created_at: now,
    };
    tx.insert_notification(&n).await?;
    events::emit(
        tx,
        "notification.created",
        json!({"notification_id": n.id, "user_id": n.user_id, "kind": n.kind,
               "conversation_id": n.conversation_id, "data": n.data}),
        now,
    )
    .await
}

/// The members a note mentions: `@<user id>` or `@<email>` of a member, each once, never the
/// writer. Words that name no member are plain text.
pub(crate) fn mentioned(text: &str, members: &[Member], writer: Option<&UserId>) -> Vec<UserId> {
    let mut out: Vec<UserId> = Vec::new();
    for word in text.split_whitespace() {
        let Some(handle) = word.strip_prefix('@') else {
            continue;
        };
        let handle = handle.trim_end_matches(|c: char| ",.;:!?)".contains(c));
        let found = members
            .iter()
            .find(|m| m.user_id.as_str() == handle || m.email.eq_ignore_ascii_case(handle));
        if let Some(m) = found {
            if Some(&m.user_id) != writer && !out.contains(&m.user_id) {
                out.push(m.user_id.clone());
            }
        }
    }
    out
}

fn user_of(principal: &Principal) -> CoreResult<UserId> {
    match principal {
        Principal::User(u) => Ok(u.user_id.clone()),
        // API keys are not people: they have no notifications.
        Principal::ApiKey(_) => Err(CoreError::Forbidden),
    }
}

impl Core {
    /// The caller's notifications in the tenant, newest first.
    pub async fn list_notifications(
        &self,
        access: &TenantAccess,
        principal: &Principal,
        unread_only: bool,
        page: &PageRequest,
    ) -> CoreResult<Vec<Notification>> {
        let user = user_of(principal)?;
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        Ok(tx.list_notifications(&user, unread_only, page).await?)
    }

    /// Marks one of the caller's notifications (or all of them, with `None`) read; how many.
    pub async fn read_notifications(
        &self,
        access: &TenantAccess,
        principal: &Principal,
        id: Option<&NotificationId>,
    ) -> CoreResult<u64> {
        let user = user_of(principal)?;
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let n = tx.mark_notifications_read(&user, id, now).await?;
        tx.commit().await?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_types::{Availability, TenantRole};

    fn member(email: &str) -> Member {
        Member {
            user_id: UserId::generate(),
            email: email.into(),
            display_name: email.into(),
            role: TenantRole::Agent,
            availability: Availability::Online,
            capacity: None,
            created_at: 0,
        }
    }

    #[test]
    fn mentions_name_members_once_and_never_the_writer() {
        let (a, b) = (member("ann@acme.test"), member("bob@acme.test"));
        let text = format!(
            "@{} please check, cc @BOB@acme.test, @bob@acme.test. @nobody @ {}",
            a.user_id, a.user_id
        );
        assert_eq!(
            mentioned(&text, &[a.clone(), b.clone()], None),
            vec![a.user_id.clone(), b.user_id.clone()]
        );
        assert_eq!(
            mentioned(&text, &[a.clone(), b.clone()], Some(&a.user_id)),
            vec![b.user_id]
        );
        assert!(mentioned("email me at ann@acme.test", &[a], None).is_empty());
    }
}
