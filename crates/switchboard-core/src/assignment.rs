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

/// Schedules the inbox's reassignment check for a conversation whose assignee now has a
/// waiting customer.
pub(crate) async fn schedule_reassign(
    tx: &mut (dyn TenantTx + '_),
    inbox: &Inbox,
    c: &Conversation,
    now: i64,
) -> Result<(), StoreError> {
    let (Some(after), Some(assignee), Some(waiting)) =
        (inbox.reassign_after_ms, &c.assignee_id, c.waiting_since)
    else {
        return Ok(());
    };
    let job = crate::jobs::JobKind::ReassignCheck {
        tenant_id: tx.ctx().tenant().clone(),
        conversation_id: c.id.clone(),
        assignee_id: assignee.clone(),
        waiting_since: waiting,
        tried: Vec::new(),
    };
    // From now: an agent just given a customer who has waited a while still gets the full time.
    tx.enqueue_job(&job.into_new_job(now.max(waiting) + after), now)
        .await?;
    Ok(())
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
    /// The reassignment check: if the assignee still has not answered the customer who has been
    /// waiting since `waiting_since`, the conversation goes to another available agent (by the
    /// inbox's policy, round robin when it has none), attributed to automation.
    pub async fn reassign_if_unanswered(
        &self,
        tenant_id: &switchboard_types::TenantId,
        conversation: &switchboard_types::ConversationId,
        assignee: &UserId,
        waiting_since: i64,
        tried: &[UserId],
    ) -> CoreResult<bool> {
        let tenant = {
            let mut tx = self.store.control(Access::Read).await?;
            tx.get_tenant(tenant_id).await?
        };
        let Some(tenant) = tenant.filter(|t| t.status == switchboard_types::TenantStatus::Active)
        else {
            return Ok(false);
        };
        let actor = Actor {
            kind: ActorKind::Automation,
            id: "reassignment".to_owned(),
        };
        #[allow(clippy::disallowed_methods)] // a scheduled job acting for its tenant
        let ctx = switchboard_store::TenantCtx::assume(
            tenant.id.clone(),
            actor.clone(),
            tenant.region.clone(),
        );
        let now = self.now();
        let mut tx = self.store.tenant(&ctx, Access::Write).await?;
        let Some(mut c) = tx.get_conversation(conversation).await? else {
            return Ok(false);
        };
        if c.status != switchboard_types::ConversationStatus::Open
            || c.assignee_id.as_ref() != Some(assignee)
            || c.waiting_since != Some(waiting_since)
        {
            return Ok(false);
        }
        let Some(inbox) = tx.get_inbox(&c.inbox_id).await? else {
            return Ok(false);
        };
        let Some(after) = inbox.reassign_after_ms else {
            return Ok(false);
        };
        let others: Vec<InboxAgent> = tx
            .inbox_agents(&inbox.id)
            .await?
            .into_iter()
            .filter(|a| &a.user_id != assignee && !tried.contains(&a.user_id))
            .collect();
        let policy = match inbox.assignment_policy {
            AssignmentPolicy::None => AssignmentPolicy::RoundRobin,
            p => p,
        };
        let Some(next) = choose_agent(policy, &others) else {
            return Ok(false);
        };
        c.assignee_id = Some(next.clone());
        c.updated_at = now;
        tx.update_conversation(&c).await?;
        let turn = others
            .iter()
            .filter_map(|a| a.last_assigned_at)
            .max()
            .map_or(now, |l| now.max(l + 1));
        tx.mark_assigned(&inbox.id, &next, turn).await?;
        let data = json!({"conversation_id": c.id, "inbox_id": c.inbox_id, "assignee_id": next, "previous_assignee_id": assignee,
                          "reason": "no_reply", "reassign_after_ms": after});
        events::emit_as(&mut *tx, &actor, "conversation.assigned", data.clone(), now).await?;
        let draft = AuditDraft::success("conversation.assigned", "conversation", c.id.to_string())
            .with_details(data.clone());
        audit::append(&mut *tx, &actor, &RequestMeta::default(), draft, now).await?;
        crate::notifications::notify(&mut *tx, &next, "assigned", Some(&c.id), data, now).await?;
        // The new assignee gets the same time to answer.
        let job = crate::jobs::JobKind::ReassignCheck {
            tenant_id: tenant.id.clone(),
            conversation_id: c.id.clone(),
            assignee_id: next,
            waiting_since,
            // Each agent gets one turn per wait: no bouncing between two agents for ever.
            tried: tried.iter().cloned().chain([assignee.clone()]).collect(),
        };
        tx.enqueue_job(&job.into_new_job(now + after), now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Sets how an inbox assigns new conversations (owner, admin).
    /// Sets an inbox's auto-assignment policy and its reassignment rule (`reassign_after_ms`:
    /// hand a conversation to another available agent when its assignee leaves the customer
    /// waiting that long; one minute to a week).
    pub async fn set_inbox_policy(
        &self,
        access: &TenantAccess,
        id: &InboxId,
        policy: Option<AssignmentPolicy>,
        reassign_after_ms: crate::contacts::Change<i64>,
        meta: &RequestMeta,
    ) -> CoreResult<Inbox> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        if let crate::contacts::Change::Set(ms) = reassign_after_ms {
            if !(60_000..=7 * 24 * 3_600_000).contains(&ms) {
                return Err(CoreError::field(
                    "reassign_after_ms",
                    "between one minute and a week",
                ));
            }
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        let current = tx.get_inbox(id).await?.ok_or(CoreError::NotFound)?;
        let policy = policy.unwrap_or(current.assignment_policy);
        let reassign = match reassign_after_ms {
            crate::contacts::Change::Keep => current.reassign_after_ms,
            crate::contacts::Change::Clear => None,
            crate::contacts::Change::Set(ms) => Some(ms),
        };
        if !tx.set_inbox_policy(id, policy, reassign, now).await? {
            return Err(CoreError::NotFound);
        }
        let inbox = tx.get_inbox(id).await?.ok_or(CoreError::NotFound)?;
        let data =
            json!({"inbox_id": id, "assignment_policy": policy, "reassign_after_ms": reassign});
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
