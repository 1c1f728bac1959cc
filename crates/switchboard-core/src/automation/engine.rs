//! Runs automation rules. The engine follows each tenant's committed events with its own leased
//! cursor (like the webhook dispatcher), picks the enabled rules whose trigger the event sets
//! off, tests their conditions against the facts as they stand, and runs the actions of those
//! that match, in rule order, as the rule (actor `automation`, the rule's id).
//!
//! - **Once per rule and event.** A run row keyed by (rule, event) is written before the
//!   actions: an event read twice (after a crash, or by a second process) never acts twice. A
//!   crash in the middle leaves the run `running` and the rest undone: actions run at most
//!   once, which is the right side to err on when they talk to customers.
//! - **No loops.** A rule never reacts to events its own actions caused. Events caused by
//!   another rule carry that rule's depth plus one; at [`MAX_DEPTH`] the run is logged as
//!   `loop_limit` and does nothing.
//! - **Time-based rules** look, each pass, at conversations that went quiet since the last look
//!   (the first look reaches back a day) and fire once per quiet spell.

use super::facts::{gather, message_facts, BusinessHours, Gathered};
use super::rules::{evaluate, Action, Condition, Definition, Trace, Trigger};
use crate::audit::{self, AuditDraft, RequestMeta};
use crate::contacts::Change;
use crate::conversations::ConversationPatch;
use crate::error::{CoreError, CoreResult};
use crate::{events, Core, TenantAccess};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use switchboard_store::model::{AutomationRule, AutomationRun, StoredEvent};
use switchboard_store::{Access, TenantCtx};
use switchboard_types::{
    Actor, ActorKind, AutomationRuleId, AutomationRunId, ConversationId, ConversationStatus,
    MessageId, TenantId, TenantRole, TenantStatus,
};
use tokio_util::sync::CancellationToken;

/// The engine's cursor in each tenant's events.
pub const AUTOMATION_CONSUMER: &str = "automation";
/// Runs caused by runs caused by … rules stop this deep.
pub const MAX_DEPTH: i64 = 3;
/// Events read per batch.
const BATCH: i64 = 200;
/// How long a pass holds a tenant's cursor without renewing it.
const LEASE_MS: i64 = 30_000;
/// How far back the first look for quiet conversations reaches.
const IDLE_LOOKBACK_MS: i64 = 24 * 3_600_000;
/// Activity this soon after a time-based rule's run is taken as the run's own.
const OWN_ACTIVITY_MS: i64 = 60_000;
/// Quiet conversations looked at per pass and rule.
const IDLE_SCAN_LIMIT: i64 = 1_000;

/// One rule's verdict in a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct DryRunRule {
    /// Absent for a rule passed in the request (not saved).
    pub rule_id: Option<AutomationRuleId>,
    pub name: String,
    pub enabled: bool,
    pub would_fire: bool,
    pub conditions: Vec<Trace>,
    pub actions: Vec<Action>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AutomationReport {
    pub events: usize,
    pub runs: usize,
}

/// A rule ready to run.
struct Ready {
    rule: AutomationRule,
    definition: Definition,
}

/// Why a rule acts: an event, or a conversation that went quiet.
struct Occasion<'a> {
    /// The run's key: the event id, or `idle:<conversation>:<last activity>`.
    key: String,
    event_type: &'a str,
    data: &'a Value,
    actor: Option<&'a Actor>,
    /// When the event happened (now, for quiet spells).
    occurred_at: i64,
    conversation: ConversationId,
    message: Option<MessageId>,
}

fn ready(rules: Vec<AutomationRule>) -> Vec<Ready> {
    rules
        .into_iter()
        .filter(|r| r.enabled)
        .filter_map(|rule| match super::definition_of(&rule) {
            Ok(definition) => Some(Ready { rule, definition }),
            Err(e) => {
                tracing::warn!(rule = %rule.id, error = %e, "skipping a rule that does not parse");
                None
            }
        })
        .collect()
}

fn calendars_of(c: Option<&Condition>) -> Vec<switchboard_types::CalendarId> {
    let mut out = Vec::new();
    if let Some(c) = c {
        super::collect_calendars(c, &mut out);
    }
    out
}

impl Core {
    /// Runs `tenant`'s rules on its events after the engine's cursor until caught up, then its
    /// time-based rules, as `owner` (the name the cursor lease is held under).
    pub async fn run_automation(
        &self,
        tenant: &TenantId,
        owner: &str,
        idle_scanned_to: &mut Option<i64>,
    ) -> CoreResult<AutomationReport> {
        let Some(base) = self.automation_access(tenant).await? else {
            return Ok(AutomationReport::default());
        };
        let mut report = AutomationReport::default();
        loop {
            let now = self.now();
            let mut tx = self.store().tenant(&base.ctx, Access::Write).await?;
            let head = tx.outbox_head().await?;
            let Some(cursor) = tx
                .claim_event_cursor(AUTOMATION_CONSUMER, owner, now, now + LEASE_MS, head)
                .await?
            else {
                return Ok(report);
            };
            let rules = ready(tx.list_automation_rules().await?);
            let events = if cursor < head {
                tx.outbox_after(cursor, BATCH).await?
            } else {
                Vec::new()
            };
            tx.commit().await?;
            let Some(last) = events.last().map(|e| e.seq) else {
                break;
            };
            for event in &events {
                report.runs += self.on_event(&base, &rules, event).await?;
            }
            report.events += events.len();
            if !self
                .advance_event_cursor(&base.ctx, AUTOMATION_CONSUMER, owner, last)
                .await?
            {
                return Ok(report);
            }
        }
        report.runs += self.on_quiet(&base, idle_scanned_to).await?;
        Ok(report)
    }

    /// The tenant's automation identity (an administrator's rights; each run acts as its rule).
    pub(crate) async fn automation_access(
        &self,
        tenant: &TenantId,
    ) -> CoreResult<Option<TenantAccess>> {
        let t = {
            let mut tx = self.store().control(Access::Read).await?;
            tx.get_tenant(tenant).await?
        };
        let Some(t) = t.filter(|t| t.status == TenantStatus::Active) else {
            return Ok(None);
        };
        #[allow(clippy::disallowed_methods)] // the engine acting for the tenant it serves
        let ctx = TenantCtx::assume(
            t.id.clone(),
            Actor {
                kind: ActorKind::Automation,
                id: AUTOMATION_CONSUMER.to_owned(),
            },
            t.region.clone(),
        );
        Ok(Some(TenantAccess {
            tenant: t,
            role: TenantRole::Admin,
            ctx,
        }))
    }

    async fn on_event(
        &self,
        base: &TenantAccess,
        rules: &[Ready],
        event: &StoredEvent,
    ) -> CoreResult<usize> {
        let e = &event.event;
        let kinds = Trigger::kinds_for_event(&e.event_type, &e.payload);
        let matching: Vec<&Ready> = rules
            .iter()
            .filter(|r| kinds.contains(&r.rule.trigger.as_str()))
            .collect();
        if matching.is_empty() {
            return Ok(0);
        }
        let Some(conversation) = e
            .payload
            .get("conversation_id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<ConversationId>().ok())
        else {
            return Ok(0);
        };
        let message = e
            .payload
            .get("message_id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<MessageId>().ok());
        let occasion = Occasion {
            key: e.id.to_string(),
            event_type: &e.event_type,
            data: &e.payload,
            actor: Some(&e.actor),
            occurred_at: e.occurred_at,
            conversation,
            message,
        };
        self.run_rules(base, &matching, &occasion).await
    }

    /// Tests each rule in order against one snapshot of the facts, taken when the event is
    /// handled, and runs those that match. What a rule changes reaches the others as the
    /// events its changes cause (attributed to it, so they count towards the depth limit).
    async fn run_rules(
        &self,
        base: &TenantAccess,
        rules: &[&Ready],
        o: &Occasion<'_>,
    ) -> CoreResult<usize> {
        let now = self.now();
        // Events a rule caused carry its id as their actor.
        let cause = o
            .actor
            .filter(|a| a.kind == ActorKind::Automation)
            .and_then(|a| a.id.parse::<AutomationRuleId>().ok());
        let rules: Vec<&&Ready> = rules
            .iter()
            .filter(|r| cause.as_ref() != Some(&r.rule.id))
            .collect();
        if rules.is_empty() {
            return Ok(0);
        }
        let mut tx = self.store().tenant(&base.ctx, Access::Read).await?;
        let Some(g) = gather(
            &mut *tx,
            o.event_type,
            o.data,
            &o.conversation,
            o.message.as_ref(),
            now,
        )
        .await?
        else {
            return Ok(0);
        };
        let mut hours = BusinessHours::new(now);
        let calendars: Vec<_> = rules
            .iter()
            .flat_map(|r| calendars_of(r.definition.conditions.as_ref()))
            .collect();
        hours.load(&mut *tx, &calendars).await?;
        let depth = match &cause {
            Some(rule) => {
                // The causing run: the rule's latest on this conversation that began before the
                // event happened.
                tx.latest_automation_run(rule, &g.conversation.id, o.occurred_at)
                    .await?
                    .map_or(0, |run| run.depth)
                    + 1
            }
            None => 0,
        };
        drop(tx);
        let mut runs = 0;
        for r in rules {
            let fires =
                r.definition.conditions.as_ref().is_none_or(|c| {
                    evaluate(c, &g.facts, &|cal| hours.is_open(cal), &mut Vec::new())
                });
            if fires && self.run_one(base, r, o, &g, depth).await? {
                runs += 1;
            }
        }
        Ok(runs)
    }

    /// Runs one matching rule once for this occasion; `false` when it had already run.
    async fn run_one(
        &self,
        base: &TenantAccess,
        r: &Ready,
        o: &Occasion<'_>,
        g: &Gathered,
        depth: i64,
    ) -> CoreResult<bool> {
        let now = self.now();
        let actor = Actor {
            kind: ActorKind::Automation,
            id: r.rule.id.to_string(),
        };
        let access = TenantAccess {
            tenant: base.tenant.clone(),
            role: base.role,
            ctx: base.ctx.with_actor(actor.clone()),
        };
        let limited = depth >= MAX_DEPTH;
        let mut run = AutomationRun {
            id: AutomationRunId::generate(),
            rule_id: r.rule.id.clone(),
            event_id: o.key.clone(),
            conversation_id: Some(g.conversation.id.clone()),
            depth,
            outcome: if limited { "loop_limit" } else { "running" }.to_owned(),
            actions: json!([]),
            error: limited.then(|| format!("automation depth limit ({MAX_DEPTH}) reached")),
            created_at: now,
        };
        {
            let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
            if !tx.insert_automation_run(&run).await? {
                return Ok(false);
            }
            tx.commit().await?;
        }
        if limited {
            tracing::warn!(rule = %r.rule.id, conversation = %g.conversation.id, depth, "automation loop stopped");
            self.finish_run(&access, &run, o).await?;
            return Ok(true);
        }
        let meta = RequestMeta {
            ip: None,
            user_agent: None,
            request_id: Some(run.id.to_string()),
        };
        let mut results = Vec::new();
        let mut failure = None;
        for (i, action) in r.definition.actions.iter().enumerate() {
            match self
                .apply_action(&access, &g.conversation.id, action, o, &meta)
                .await
            {
                Ok(()) => results.push(json!({"type": action.name(), "ok": true})),
                Err(e) => {
                    let why = e.public_reason();
                    results.push(json!({"type": action.name(), "ok": false, "error": why}));
                    failure = Some(format!("actions[{i}] ({}): {why}", action.name()));
                    break;
                }
            }
        }
        run.outcome = if failure.is_some() {
            "failed"
        } else {
            "applied"
        }
        .to_owned();
        run.actions = Value::Array(results);
        run.error = failure;
        self.finish_run(&access, &run, o).await?;
        Ok(true)
    }

    /// Records how a run ended, with an audit entry attributed to the rule.
    async fn finish_run(
        &self,
        access: &TenantAccess,
        run: &AutomationRun,
        o: &Occasion<'_>,
    ) -> CoreResult<()> {
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        tx.finish_automation_run(run).await?;
        let draft =
            AuditDraft::success("automation_rule.ran", "automation_run", run.id.to_string())
                .with_details(json!({
                    "rule_id": run.rule_id, "occasion": o.key, "event_type": o.event_type,
                    "conversation_id": run.conversation_id, "depth": run.depth,
                    "outcome": run.outcome, "actions": run.actions, "error": run.error,
                }));
        let meta = RequestMeta::default();
        audit::append(&mut *tx, access.ctx.actor(), &meta, draft, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Does one action, through the same use case as a person would, as the rule.
    async fn apply_action(
        &self,
        access: &TenantAccess,
        id: &ConversationId,
        action: &Action,
        o: &Occasion<'_>,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        let patch = |p: ConversationPatch| async move {
            self.update_conversation(access, id, p, meta)
                .await
                .map(|_| ())
        };
        match action {
            Action::AssignAgent { user_id } => {
                patch(ConversationPatch {
                    assignee_id: Change::Set(user_id.clone()),
                    ..Default::default()
                })
                .await
            }
            Action::AssignTeam { team_id } => {
                patch(ConversationPatch {
                    team_id: Change::Set(team_id.clone()),
                    ..Default::default()
                })
                .await
            }
            Action::Unassign {} => {
                patch(ConversationPatch {
                    assignee_id: Change::Clear,
                    ..Default::default()
                })
                .await
            }
            Action::SetPriority { priority } => {
                patch(ConversationPatch {
                    priority: Some(*priority),
                    ..Default::default()
                })
                .await
            }
            Action::SetStatus { status } => {
                patch(ConversationPatch {
                    status: Some(*status),
                    ..Default::default()
                })
                .await
            }
            Action::Snooze { minutes } => {
                patch(ConversationPatch {
                    status: Some(ConversationStatus::Snoozed),
                    snoozed_until: Some(self.now() + minutes * 60_000),
                    ..Default::default()
                })
                .await
            }
            Action::AddLabels { labels } | Action::RemoveLabels { labels } => {
                let mut names: Vec<String> = self
                    .conversation_labels(access, id)
                    .await?
                    .into_iter()
                    .map(|l| l.name)
                    .collect();
                let before = names.clone();
                if matches!(action, Action::AddLabels { .. }) {
                    for l in labels {
                        if !names.contains(l) {
                            names.push(l.clone());
                        }
                    }
                } else {
                    names.retain(|n| !labels.contains(n));
                }
                if names == before {
                    return Ok(());
                }
                self.set_conversation_labels(access, id, &names, meta)
                    .await
                    .map(|_| ())
            }
            Action::SendReply { content } => self
                .write_reply(&access.ctx, id, content.clone(), false, &[], meta)
                .await
                .map(|_| ()),
            Action::AddNote { content } => self
                .write_reply(&access.ctx, id, content.clone(), true, &[], meta)
                .await
                .map(|_| ()),
            Action::SendCanned { short_code } => {
                let code = short_code.trim_start_matches('/');
                let canned = self
                    .list_canned(access, Some(code))
                    .await?
                    .into_iter()
                    .find(|c| c.short_code == code)
                    .ok_or_else(|| {
                        CoreError::field("short_code", "the canned response was deleted")
                    })?;
                self.write_reply(&access.ctx, id, canned.content, false, &[], meta)
                    .await
                    .map(|_| ())
            }
            Action::EmitEvent { name, data } => {
                let now = self.now();
                let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
                events::emit(
                    &mut *tx,
                    "automation.triggered",
                    json!({"rule_id": access.ctx.actor().id, "name": name,
                           "conversation_id": id, "cause_event_id": o.key,
                           "data": Value::Object(data.clone())}),
                    now,
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }
            Action::HandOff {} => self.hand_off(access, id, meta).await.map(|_| ()),
            Action::ApplySla { sla_policy_id } => {
                self.apply_sla(access, id, sla_policy_id, meta).await
            }
        }
    }

    /// Time-based rules: conversations that went quiet since the last look.
    async fn on_quiet(
        &self,
        base: &TenantAccess,
        scanned_to: &mut Option<i64>,
    ) -> CoreResult<usize> {
        let now = self.now();
        let rules = {
            let mut tx = self.store().tenant(&base.ctx, Access::Read).await?;
            ready(tx.list_automation_rules().await?)
        };
        let timed: Vec<(&Ready, i64)> = rules
            .iter()
            .filter_map(|r| match r.definition.trigger {
                Trigger::TimeBased { idle_minutes } => Some((r, idle_minutes * 60_000)),
                _ => None,
            })
            .collect();
        let since = scanned_to.unwrap_or(now - IDLE_LOOKBACK_MS);
        // Where the next look starts: now, or, when a rule found more quiet conversations than
        // one look takes, the point that rule got to (so none is passed over).
        let mut reached = now;
        let mut runs = 0;
        let empty = Value::Object(serde_json::Map::new());
        for (r, idle_ms) in timed {
            let quiet = {
                let mut tx = self.store().tenant(&base.ctx, Access::Read).await?;
                tx.conversations_idle_between(since - idle_ms, now - idle_ms, IDLE_SCAN_LIMIT)
                    .await?
            };
            if quiet.len() >= usize::try_from(IDLE_SCAN_LIMIT).unwrap_or(usize::MAX) {
                if let Some(last) = quiet.last() {
                    reached = reached.min(last.last_activity_at + idle_ms);
                }
            }
            for c in quiet {
                // The rule's own actions (a note, a reply) are activity too: a quiet spell that
                // began with this rule's previous run is not a new one.
                let own = {
                    let mut tx = self.store().tenant(&base.ctx, Access::Read).await?;
                    tx.latest_automation_run(&r.rule.id, &c.id, i64::MAX)
                        .await?
                        .is_some_and(|run| {
                            run.event_id.starts_with("idle:")
                                && c.last_activity_at >= run.created_at
                                && c.last_activity_at <= run.created_at + OWN_ACTIVITY_MS
                        })
                };
                if own {
                    continue;
                }
                let occasion = Occasion {
                    key: format!("idle:{}:{}", c.id, c.last_activity_at),
                    event_type: "conversation.idle",
                    data: &empty,
                    actor: None,
                    occurred_at: now,
                    conversation: c.id.clone(),
                    message: None,
                };
                runs += self.run_rules(base, &[r], &occasion).await?;
            }
        }
        *scanned_to = Some(reached);
        Ok(runs)
    }

    /// Which rules would fire for a message, and why (owner, admin): every enabled or disabled
    /// `message_created` rule, or the unsaved `rule` given.
    pub async fn dry_run_automation(
        &self,
        access: &TenantAccess,
        message: &MessageId,
        rule: Option<Definition>,
    ) -> CoreResult<Vec<DryRunRule>> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        let m = tx.get_message(message).await?.ok_or(CoreError::NotFound)?;
        let data = json!({"conversation_id": m.conversation_id, "message_id": m.id});
        let mut g = gather(
            &mut *tx,
            "message.created",
            &data,
            &m.conversation_id,
            None,
            now,
        )
        .await?
        .ok_or(CoreError::NotFound)?;
        message_facts(&mut g.facts, &m);
        let candidates: Vec<(Option<AutomationRule>, Definition)> = match rule {
            Some(d) => {
                let errors = super::rules::check(&d);
                crate::validate::finish(
                    errors
                        .into_iter()
                        .map(|e| crate::FieldError::new(format!("rule.{}", e.field), &e.message))
                        .collect(),
                )?;
                vec![(None, d)]
            }
            None => tx
                .list_automation_rules()
                .await?
                .into_iter()
                .filter(|r| r.trigger == "message_created")
                .map(|r| Ok((super::definition_of(&r)?, r)))
                .collect::<CoreResult<Vec<_>>>()?
                .into_iter()
                .map(|(d, r)| (Some(r), d))
                .collect(),
        };
        let mut hours = BusinessHours::new(now);
        let mut out = Vec::new();
        for (stored, d) in candidates {
            hours
                .load(&mut *tx, &calendars_of(d.conditions.as_ref()))
                .await?;
            let mut trace = Vec::new();
            let fires = d
                .conditions
                .as_ref()
                .is_none_or(|c| evaluate(c, &g.facts, &|cal| hours.is_open(cal), &mut trace));
            out.push(DryRunRule {
                rule_id: stored.as_ref().map(|r| r.id.clone()),
                name: stored.as_ref().map_or_else(String::new, |r| r.name.clone()),
                enabled: stored.as_ref().is_none_or(|r| r.enabled),
                would_fire: fires && stored.as_ref().is_none_or(|r| r.enabled),
                conditions: trace,
                actions: d.actions,
            });
        }
        Ok(out)
    }
}

/// Runs the engine for every tenant of this process's region with enabled rules (or AI answers)
/// until `cancel`.
pub async fn run_automation_engine(core: Arc<Core>, owner: String, cancel: CancellationToken) {
    let poll_ms = core.config().webhooks.poll_ms;
    let owner = Arc::new(owner);
    // Where each tenant's look for quiet conversations got to (this process's memory; a
    // restart looks back a day, and run keys keep that from firing twice).
    let scanned: Arc<Mutex<HashMap<TenantId, i64>>> = Arc::default();
    crate::consumers::follow_tenants(
        core,
        "automation",
        poll_ms,
        cancel,
        |core: Arc<Core>| async move {
            let mut tx = core.store().control(Access::Read).await?;
            Ok(tx
                .tenants_with_automation(&core.config().default_region)
                .await?
                .into_iter()
                .collect::<HashSet<_>>())
        },
        move |core: Arc<Core>, tenant: TenantId| {
            let (owner, scanned) = (owner.clone(), scanned.clone());
            async move {
                let mut to = scanned
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&tenant)
                    .copied();
                match core.run_automation(&tenant, &owner, &mut to).await {
                    Ok(_) => {
                        if let Some(t) = to {
                            scanned
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(tenant, t);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(tenant = %tenant, error = %e, "automation pass failed")
                    }
                }
            }
        },
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_described_without_internals() {
        assert_eq!(
            CoreError::Internal("db password wrong".into()).public_reason(),
            "internal error"
        );
        assert_eq!(
            CoreError::field("assignee_id", "not an agent").public_reason(),
            "assignee_id: not an agent"
        );
    }
}
