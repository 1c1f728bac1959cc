//! Auto-assignment: which agent a new or reopened unassigned conversation goes to. Only agents
//! who are online and under their capacity are eligible. Round robin picks whoever of them was
//! assigned longest ago; balanced picks whoever has the fewest open conversations. Every decision
//! is attributed to the automation actor and audited.

use crate::audit::{self, AuditDraft, RequestMeta};
use crate::error::{CoreError, CoreResult};
use crate::tenants::conflict;
use crate::{changes, events, Core, TenantAccess};
use serde_json::json;
use switchboard_store::model::{Conversation, Inbox, InboxAgent};
use switchboard_store::{Access, StoreError, TenantTx};
use switchboard_types::{Actor, ActorKind, AssignmentPolicy, Availability, InboxId, UserId};

/// The actor automatic assignments are recorded under.
pub fn automation_actor() -> Actor {
    Actor {
        kind: ActorKind::Automation,
        id: "auto_assignment".to_owned(),
    }
}

/// The agent `policy` picks from `agents`, if any is eligible.
pub fn choose_agent(policy: AssignmentPolicy, agents: &[InboxAgent]) -> Option<UserId> {
    let eligible = agents.iter().filter(|a| {
        a.availability == Availability::Online
            && a.capacity.is_none_or(|c| a.open_conversations < c)
    });
    let never = i64::MIN;
    let pick = match policy {
        AssignmentPolicy::None => None,
        AssignmentPolicy::RoundRobin => {
            eligible.min_by_key(|a| (a.last_assigned_at.unwrap_or(never), a.user_id.clone()))
        }
        AssignmentPolicy::Balanced => eligible.min_by_key(|a| {
            (
                a.open_conversations,
                a.last_assigned_at.unwrap_or(never),
                a.user_id.clone(),
            )
        }),
    };
    pick.map(|a| a.user_id.clone())
}

/// Assigns an unassigned conversation by its inbox's policy, inside the caller's transaction.
pub(crate) async fn auto_assign(
    tx: &mut (dyn TenantTx + '_),
    inbox: &Inbox,
    conversation: &mut Conversation,
    meta: &RequestMeta,
    now: i64,
) -> Result<(), StoreError> {
    if conversation.assignee_id.is_some() || inbox.assignment_policy == AssignmentPolicy::None {
        return Ok(());
    }
    let agents = tx.inbox_agents(&inbox.id).await?;
    let Some(agent) = choose_agent(inbox.assignment_policy, &agents) else {
        return Ok(());
    };
    conversation.assignee_id = Some(agent.clone());
    conversation.updated_at = now;
    tx.update_conversation(conversation).await?;
    // Strictly after every earlier turn, so assignments within one millisecond still rotate.
    let turn = agents
        .iter()
        .filter_map(|a| a.last_assigned_at)
        .max()
        .map_or(now, |latest| now.max(latest + 1));
    tx.mark_assigned(&inbox.id, &agent, turn).await?;
    let actor = automation_actor();
    let data = json!({"conversation_id": conversation.id, "inbox_id": conversation.inbox_id, "assignee_id": agent, "policy": inbox.assignment_policy, "previous_assignee_id": null});
    events::emit_as(tx, &actor, "conversation.assigned", data.clone(), now).await?;
    let draft = AuditDraft::success(
        "conversation.assigned",
        "conversation",
        conversation.id.to_string(),
    )
    .with_details(data);
    audit::append(tx, &actor, meta, draft, now).await?;
    Ok(())
}

impl Core {
    /// Sets how an inbox assigns new conversations (owner, admin).
    pub async fn set_inbox_policy(
        &self,
        access: &TenantAccess,
        id: &InboxId,
        policy: AssignmentPolicy,
        meta: &RequestMeta,
    ) -> CoreResult<Inbox> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        if !tx.set_inbox_policy(id, policy, now).await? {
            return Err(CoreError::NotFound);
        }
        let inbox = tx.get_inbox(id).await?.ok_or(CoreError::NotFound)?;
        let data = json!({"inbox_id": id, "assignment_policy": policy});
        changes::record(
            &mut *tx,
            meta,
            "inbox.updated",
            "inbox",
            id.to_string(),
            data,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(inbox)
    }

    /// An inbox and its agents.
    pub async fn get_inbox(
        &self,
        access: &TenantAccess,
        id: &InboxId,
    ) -> CoreResult<(Inbox, Vec<InboxAgent>)> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        let inbox = tx.get_inbox(id).await?.ok_or(CoreError::NotFound)?;
        let agents = tx.inbox_agents(id).await?;
        Ok((inbox, agents))
    }

    /// Lets a tenant member take an inbox's conversations.
    pub async fn add_inbox_member(
        &self,
        access: &TenantAccess,
        inbox: &InboxId,
        user: &UserId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        tx.get_inbox(inbox).await?.ok_or(CoreError::NotFound)?;
        let member = tx
            .get_member(user)
            .await?
            .ok_or_else(|| CoreError::field("user_id", "not a member of this tenant"))?;
        if !member.role.can_work_conversations() {
            return Err(CoreError::field(
                "user_id",
                "this member's role cannot work conversations",
            ));
        }
        tx.add_inbox_member(inbox, user, now)
            .await
            .map_err(|e| conflict(e, "this inbox member"))?;
        let data = json!({"inbox_id": inbox, "user_id": user});
        changes::record(
            &mut *tx,
            meta,
            "inbox.member_added",
            "inbox",
            inbox.to_string(),
            data,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn remove_inbox_member(
        &self,
        access: &TenantAccess,
        inbox: &InboxId,
        user: &UserId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        if !tx.remove_inbox_member(inbox, user).await? {
            return Err(CoreError::NotFound);
        }
        let data = json!({"inbox_id": inbox, "user_id": user});
        changes::record(
            &mut *tx,
            meta,
            "inbox.member_removed",
            "inbox",
            inbox.to_string(),
            data,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(
        n: u8,
        availability: Availability,
        capacity: Option<i64>,
        last: Option<i64>,
        open: i64,
    ) -> InboxAgent {
        InboxAgent {
            user_id: UserId::from_trusted(format!("usr_{n}")),
            availability,
            capacity,
            last_assigned_at: last,
            open_conversations: open,
        }
    }

    #[test]
    fn only_online_agents_under_capacity_are_eligible() {
        let agents = [
            agent(1, Availability::Busy, None, None, 0),
            agent(2, Availability::Offline, None, None, 0),
            agent(3, Availability::Online, Some(2), None, 2),
        ];
        assert_eq!(choose_agent(AssignmentPolicy::RoundRobin, &agents), None);
        assert_eq!(choose_agent(AssignmentPolicy::Balanced, &agents), None);
    }

    #[test]
    fn round_robin_takes_turns_and_balanced_evens_the_load() {
        let agents = [
            agent(1, Availability::Online, None, Some(500), 0),
            agent(2, Availability::Online, None, Some(100), 5),
            agent(3, Availability::Online, Some(10), None, 3),
        ];
        assert_eq!(
            choose_agent(AssignmentPolicy::RoundRobin, &agents)
                .unwrap()
                .as_str(),
            "usr_3",
            "never assigned goes first"
        );
        assert_eq!(
            choose_agent(AssignmentPolicy::Balanced, &agents)
                .unwrap()
                .as_str(),
            "usr_1"
        );
        assert_eq!(choose_agent(AssignmentPolicy::None, &agents), None);
    }
}
