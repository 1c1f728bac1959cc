//! SLA clocks: first response, next response and resolution targets per conversation, counted in
//! business hours when the policy names a calendar, paused while the conversation is pending or
//! snoozed (waiting on the customer or on a date), warned at a share of the budget and breached at
//! the deadline, each producing an event and a notification for the assignee.
//!
//! The clock arithmetic ([`Timer`], [`SlaState`]) is pure and driven by what happens to the
//! conversation ([`SlaEvent`]); [`Core`] loads and saves it in the change's own transaction and
//! schedules an `sla.check` job for the next warning or deadline. A check that runs late or twice
//! finds the clocks as they are and acts once (the warned and breached flags are stored).

use crate::audit::RequestMeta;
use crate::calendar::Calendar;
use crate::error::{CoreError, CoreResult, FieldError};
use crate::jobs::JobKind;
use crate::{changes, events, notifications, validate, Core, TenantAccess};
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_store::model::{Conversation, ConversationSla, SlaPolicy};
use switchboard_store::{Access, TenantCtx, TenantTx};
use switchboard_types::{
    Actor, ActorKind, CalendarId, ConversationId, ConversationStatus, InboxId, SlaPolicyId,
    TenantId, TenantStatus,
};

/// One target's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    pub budget_ms: i64,
    /// Counted time before the running segment (business time when a calendar applies).
    pub consumed_ms: i64,
    /// Start of the running segment; `None` while paused or met.
    pub running_since: Option<i64>,
    pub met_at: Option<i64>,
    pub warned: bool,
    pub breached: bool,
    /// Which response this is (next response counts up; others stay 1).
    pub cycle: i64,
    /// Stopped by a pause (pending, snoozed, resolved) rather than waiting to start: it runs again
    /// when the conversation opens.
    #[serde(default)]
    pub paused: bool,
}

/// Counts time: business time of a calendar, or every millisecond.
pub trait TimeSpan: Send + Sync {
    fn between(&self, from: i64, to: i64) -> i64;
    /// The instant `budget` of counted time after `from` (`None`: never, e.g. a calendar with no
    /// open hours).
    fn after(&self, from: i64, budget: i64) -> Option<i64>;
}

/// Every millisecond counts.
#[derive(Debug, Clone, Copy)]
pub struct WallClock;

impl TimeSpan for WallClock {
    fn between(&self, from: i64, to: i64) -> i64 {
        (to - from).max(0)
    }
    fn after(&self, from: i64, budget: i64) -> Option<i64> {
        Some(from.saturating_add(budget.max(0)))
    }
}

impl TimeSpan for Calendar {
    fn between(&self, from: i64, to: i64) -> i64 {
        self.business_ms_between(from, to)
    }
    fn after(&self, from: i64, budget: i64) -> Option<i64> {
        self.add_business_ms(from, budget.max(0))
    }
}

impl Timer {
    fn new(budget_ms: i64, now: i64, running: bool, cycle: i64) -> Self {
        Self {
            budget_ms,
            consumed_ms: 0,
            running_since: running.then_some(now),
            met_at: None,
            warned: false,
            breached: false,
            cycle,
            paused: false,
        }
    }

    /// Counted time so far.
    pub fn used(&self, now: i64, span: &dyn TimeSpan) -> i64 {
        self.consumed_ms + self.running_since.map_or(0, |s| span.between(s, now))
    }

    /// When the budget runs out, if the clock runs.
    pub fn deadline(&self, span: &dyn TimeSpan) -> Option<i64> {
        let since = self.running_since?;
        span.after(since, self.budget_ms - self.consumed_ms)
    }

    /// When `percent` of the budget is used, if the clock runs.
    pub fn warning_at(&self, percent: i64, span: &dyn TimeSpan) -> Option<i64> {
        let since = self.running_since?;
        // Rounded up like the check in `due`, so a check is never scheduled a moment early.
        let at = (self.budget_ms * percent + 99) / 100;
        span.after(since, at - self.consumed_ms)
    }

    fn pause(&mut self, now: i64, span: &dyn TimeSpan) {
        if let Some(s) = self.running_since.take() {
            self.consumed_ms += span.between(s, now);
            self.paused = true;
        }
    }

    fn resume(&mut self, now: i64) {
        if self.met_at.is_none() && self.running_since.is_none() {
            self.running_since = Some(now);
            self.paused = false;
        }
    }

    fn meet(&mut self, now: i64, span: &dyn TimeSpan) {
        if self.met_at.is_none() {
            self.pause(now, span);
            self.paused = false;
            self.met_at = Some(now);
        }
    }
}

/// What happened to a conversation, as the clocks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaEvent {
    /// A customer wrote; `was_waiting`: they were already waiting for an answer.
    CustomerMessage { was_waiting: bool },
    /// A person (not a bot or automation) answered the customer.
    AgentReply,
    /// The status moved (pending/snoozed pause, open resumes, resolved ends the wait).
    Status(ConversationStatus),
}

/// A conversation's clocks under one policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaState {
    pub first_response: Option<Timer>,
    pub next_response: Option<Timer>,
    pub resolution: Option<Timer>,
    /// The next-response budget, for the cycles to come.
    pub next_response_budget_ms: Option<i64>,
    pub warning_percent: i64,
}

fn runs(status: ConversationStatus) -> bool {
    status == ConversationStatus::Open
}

impl SlaState {
    /// Clocks starting now for a conversation in `status`; whether the customer waits decides
    /// whether the response clocks run.
    pub fn start(policy: &SlaPolicy, status: ConversationStatus, waiting: bool, now: i64) -> Self {
        let running = runs(status);
        let clock = |budget: i64, due: bool| {
            let mut t = Timer::new(budget, now, running && due, 1);
            // Due, but the conversation is on hold: it starts when the conversation opens.
            t.paused = due && !running;
            t
        };
        Self {
            first_response: policy.first_response_ms.map(|b| clock(b, waiting)),
            next_response: None,
            resolution: policy
                .resolution_ms
                .map(|b| clock(b, status != ConversationStatus::Resolved)),
            next_response_budget_ms: policy.next_response_ms,
            warning_percent: policy.warning_percent,
        }
    }

    fn timers_mut(&mut self) -> [(&'static str, Option<&mut Timer>); 3] {
        [
            ("first_response", self.first_response.as_mut()),
            ("next_response", self.next_response.as_mut()),
            ("resolution", self.resolution.as_mut()),
        ]
    }

    /// Moves the clocks for `event`; `status` is the conversation's status after it.
    pub fn apply(
        &mut self,
        event: SlaEvent,
        status: ConversationStatus,
        now: i64,
        span: &dyn TimeSpan,
    ) {
        match event {
            SlaEvent::AgentReply => {
                if let Some(t) = self.first_response.as_mut() {
                    t.meet(now, span);
                }
                if let Some(t) = self.next_response.as_mut() {
                    t.meet(now, span);
                }
            }
            SlaEvent::CustomerMessage { was_waiting } => {
                let first_met = self
                    .first_response
                    .as_ref()
                    .is_none_or(|t| t.met_at.is_some());
                if !was_waiting && first_met {
                    // A new question after an answer: the next response is due.
                    if let Some(b) = self.next_response_budget_ms {
                        let cycle = self.next_response.as_ref().map_or(1, |t| t.cycle + 1);
                        let mut t = Timer::new(b, now, runs(status), cycle);
                        t.paused = !runs(status);
                        self.next_response = Some(t);
                    }
                }
                if let Some(t) = self.resolution.as_mut() {
                    // A reopened conversation is unresolved again.
                    if t.met_at.take().is_some() {
                        t.paused = true;
                    }
                }
                if let Some(t) = self.first_response.as_mut() {
                    if t.met_at.is_none() {
                        t.resume(now);
                    }
                }
            }
            SlaEvent::Status(ConversationStatus::Resolved) => {
                if let Some(t) = self.resolution.as_mut() {
                    t.meet(now, span);
                }
                for (_, t) in self.timers_mut() {
                    if let Some(t) = t {
                        t.pause(now, span);
                    }
                }
            }
            SlaEvent::Status(s) if !runs(s) => {
                for (_, t) in self.timers_mut() {
                    if let Some(t) = t {
                        t.pause(now, span);
                    }
                }
            }
            SlaEvent::Status(_) => {
                // Opened again by an agent after a resolution: unresolved again, and the
                // resolution clock continues from the time already used.
                if let Some(t) = self.resolution.as_mut() {
                    if t.met_at.take().is_some() {
                        t.paused = true;
                    }
                }
            }
        }
        if runs(status) {
            for (_, t) in self.timers_mut() {
                if let Some(t) = t {
                    if t.paused {
                        // Stopped by a pause (pending, snoozed, resolved): it runs again.
                        t.resume(now);
                    }
                }
            }
            if let Some(t) = self.resolution.as_mut() {
                t.resume(now);
            }
        }
    }

    /// Warnings and breaches due at `now` (marking them), as `(target, kind, cycle)`.
    pub fn due(&mut self, now: i64, span: &dyn TimeSpan) -> Vec<(&'static str, &'static str, i64)> {
        let pct = self.warning_percent;
        let mut out = Vec::new();
        for (name, t) in self.timers_mut() {
            let Some(t) = t else { continue };
            if t.met_at.is_some() {
                continue;
            }
            if !t.breached && t.used(now, span) >= t.budget_ms {
                t.breached = true;
                t.warned = true;
                out.push((name, "breached", t.cycle));
            } else if !t.warned && t.used(now, span) * 100 >= t.budget_ms * pct {
                t.warned = true;
                out.push((name, "warning", t.cycle));
            }
        }
        out
    }

    /// The next instant a warning or breach falls due, if any clock runs towards one.
    pub fn next_check(&self, span: &dyn TimeSpan) -> Option<i64> {
        [&self.first_response, &self.next_response, &self.resolution]
            .into_iter()
            .flatten()
            .filter(|t| t.met_at.is_none() && !t.breached)
            .filter_map(|t| {
                if t.warned {
                    t.deadline(span)
                } else {
                    t.warning_at(self.warning_percent, span)
                }
            })
            .min()
    }
}

/// Where one clock stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetView {
    pub target: &'static str,
    pub budget_ms: i64,
    pub used_ms: i64,
    /// When the budget runs out, while the clock runs.
    pub due_at: Option<i64>,
    pub running: bool,
    pub met_at: Option<i64>,
    pub warned: bool,
    pub breached: bool,
    pub cycle: i64,
}

/// A conversation's SLA as agents see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaView {
    pub policy_id: SlaPolicyId,
    pub targets: Vec<TargetView>,
}

/// A policy to create.
#[derive(Debug, Clone, Default)]
pub struct NewSlaPolicy {
    pub name: String,
    pub first_response_ms: Option<i64>,
    pub next_response_ms: Option<i64>,
    pub resolution_ms: Option<i64>,
    pub calendar_id: Option<CalendarId>,
    pub warning_percent: Option<i64>,
}

const MAX_TARGET_MS: i64 = 365 * 24 * 3600 * 1000;

/// The span a policy counts in, loaded in the transaction.
async fn span_of(
    tx: &mut (dyn TenantTx + '_),
    policy_calendar: Option<&CalendarId>,
) -> CoreResult<Box<dyn TimeSpan>> {
    if let Some(id) = policy_calendar {
        if let Some(cal) = tx.get_calendar(id).await? {
            let (_, calendar) = crate::calendars::parse_spec(&cal.spec)?;
            return Ok(Box::new(calendar));
        }
    }
    Ok(Box::new(WallClock))
}

impl Core {
    pub async fn create_sla_policy(
        &self,
        access: &TenantAccess,
        input: NewSlaPolicy,
        meta: &RequestMeta,
    ) -> CoreResult<SlaPolicy> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        validate::name("name", &input.name, &mut errors);
        for (field, v) in [
            ("first_response_ms", input.first_response_ms),
            ("next_response_ms", input.next_response_ms),
            ("resolution_ms", input.resolution_ms),
        ] {
            if v.is_some_and(|v| !(60_000..=MAX_TARGET_MS).contains(&v)) {
                errors.push(FieldError::new(field, "between one minute and a year"));
            }
        }
        if input.first_response_ms.is_none()
            && input.next_response_ms.is_none()
            && input.resolution_ms.is_none()
        {
            errors.push(FieldError::new(
                "first_response_ms",
                "set at least one target",
            ));
        }
        let warning_percent = input.warning_percent.unwrap_or(80);
        if !(1..=99).contains(&warning_percent) {
            errors.push(FieldError::new("warning_percent", "between 1 and 99"));
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        if let Some(c) = &input.calendar_id {
            if tx.get_calendar(c).await?.is_none() {
                errors.push(FieldError::new("calendar_id", "no such calendar"));
            }
        }
        validate::finish(errors)?;
        let policy = SlaPolicy {
            id: SlaPolicyId::generate(),
            name: input.name.trim().to_owned(),
            first_response_ms: input.first_response_ms,
            next_response_ms: input.next_response_ms,
            resolution_ms: input.resolution_ms,
            calendar_id: input.calendar_id,
            warning_percent,
            created_at: now,
            updated_at: now,
        };
        tx.insert_sla_policy(&policy)
            .await
            .map_err(|e| crate::tenants::conflict(e, "an SLA policy with this name"))?;
        changes::record(&mut *tx, meta, "sla_policy.created", "sla_policy", policy.id.to_string(),
            json!({"sla_policy_id": policy.id, "name": policy.name, "first_response_ms": policy.first_response_ms,
                   "next_response_ms": policy.next_response_ms, "resolution_ms": policy.resolution_ms,
                   "calendar_id": policy.calendar_id, "warning_percent": policy.warning_percent}), now).await?;
        tx.commit().await?;
        Ok(policy)
    }

    pub async fn list_sla_policies(&self, access: &TenantAccess) -> CoreResult<Vec<SlaPolicy>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        Ok(tx.list_sla_policies().await?)
    }

    pub async fn delete_sla_policy(
        &self,
        access: &TenantAccess,
        id: &SlaPolicyId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let deleted = match tx.delete_sla_policy(id).await {
            Ok(d) => d,
            // Conversations' clocks still reference it.
            Err(switchboard_store::StoreError::MissingReference(_)) => {
                return Err(CoreError::Conflict("conversations running on this policy"))
            }
            Err(e) => return Err(e.into()),
        };
        if !deleted {
            return Err(CoreError::NotFound);
        }
        changes::record(
            &mut *tx,
            meta,
            "sla_policy.deleted",
            "sla_policy",
            id.to_string(),
            json!({"sla_policy_id": id}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets the policy new conversations of an inbox get (`None` clears it).
    pub async fn set_inbox_sla(
        &self,
        access: &TenantAccess,
        inbox: &InboxId,
        policy: Option<SlaPolicyId>,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        if let Some(p) = &policy {
            if tx.get_sla_policy(p).await?.is_none() {
                return Err(CoreError::field("sla_policy_id", "no such SLA policy"));
            }
        }
        if !tx.set_inbox_sla(inbox, policy.as_ref(), now).await? {
            return Err(CoreError::NotFound);
        }
        changes::record(
            &mut *tx,
            meta,
            "inbox.updated",
            "inbox",
            inbox.to_string(),
            json!({"inbox_id": inbox, "sla_policy_id": policy}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts a conversation on a policy (its clocks start now, counting from the conversation's
    /// current state).
    pub async fn apply_sla(
        &self,
        access: &TenantAccess,
        conversation: &ConversationId,
        policy: &SlaPolicyId,
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
        let Some(p) = tx.get_sla_policy(policy).await? else {
            return Err(CoreError::field("sla_policy_id", "no such SLA policy"));
        };
        // Starting again would clear the clocks' warnings and breaches.
        if tx.get_conversation_sla(conversation).await?.is_some() {
            return Err(CoreError::Conflict("an SLA on this conversation"));
        }
        self.start_sla(&mut *tx, &c, &p, meta, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A conversation's policy and where each of its clocks stands now.
    pub async fn conversation_sla(
        &self,
        access: &TenantAccess,
        conversation: &ConversationId,
    ) -> CoreResult<Option<SlaView>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        tx.get_conversation(conversation)
            .await?
            .ok_or(CoreError::NotFound)?;
        let Some(row) = tx.get_conversation_sla(conversation).await? else {
            return Ok(None);
        };
        let state: SlaState =
            serde_json::from_value(row.state).map_err(|e| CoreError::Internal(e.to_string()))?;
        let calendar = tx
            .get_sla_policy(&row.policy_id)
            .await?
            .and_then(|p| p.calendar_id);
        let span = span_of(&mut *tx, calendar.as_ref()).await?;
        let targets = [
            ("first_response", &state.first_response),
            ("next_response", &state.next_response),
            ("resolution", &state.resolution),
        ]
        .into_iter()
        .filter_map(|(name, t)| {
            t.as_ref().map(|t| TargetView {
                target: name,
                budget_ms: t.budget_ms,
                used_ms: t.used(now, span.as_ref()),
                due_at: t.deadline(span.as_ref()),
                running: t.running_since.is_some(),
                met_at: t.met_at,
                warned: t.warned,
                breached: t.breached,
                cycle: t.cycle,
            })
        })
        .collect();
        Ok(Some(SlaView {
            policy_id: row.policy_id,
            targets,
        }))
    }

    pub(crate) async fn start_sla(
        &self,
        tx: &mut (dyn TenantTx + '_),
        c: &Conversation,
        p: &SlaPolicy,
        meta: &RequestMeta,
        now: i64,
    ) -> CoreResult<SlaState> {
        let state = SlaState::start(p, c.status, c.waiting_since.is_some(), now);
        let span = span_of(tx, p.calendar_id.as_ref()).await?;
        self.save_sla(tx, c, &p.id, &state, span.as_ref(), now)
            .await?;
        changes::record(
            tx,
            meta,
            "sla.applied",
            "conversation",
            c.id.to_string(),
            json!({"conversation_id": c.id, "inbox_id": c.inbox_id, "sla_policy_id": p.id}),
            now,
        )
        .await?;
        Ok(state)
    }

    async fn save_sla(
        &self,
        tx: &mut (dyn TenantTx + '_),
        c: &Conversation,
        policy: &SlaPolicyId,
        state: &SlaState,
        span: &dyn TimeSpan,
        now: i64,
    ) -> CoreResult<()> {
        tx.put_conversation_sla(&ConversationSla {
            conversation_id: c.id.clone(),
            policy_id: policy.clone(),
            state: serde_json::to_value(state).map_err(|e| CoreError::Internal(e.to_string()))?,
            updated_at: now,
        })
        .await?;
        if let Some(at) = state.next_check(span) {
            let job = JobKind::SlaCheck {
                tenant_id: tx.ctx().tenant().clone(),
                conversation_id: c.id.clone(),
            };
            tx.enqueue_job(&job.into_new_job(at.max(now)), now).await?;
        }
        Ok(())
    }

    /// Moves a conversation's clocks for `event` inside the change's transaction. A conversation
    /// without clocks gets them from `start_with` (a new conversation's inbox default).
    pub(crate) async fn sla_event(
        &self,
        tx: &mut (dyn TenantTx + '_),
        c: &Conversation,
        start_with: Option<&SlaPolicyId>,
        event: SlaEvent,
        meta: &RequestMeta,
        now: i64,
    ) -> CoreResult<()> {
        let Some(row) = tx.get_conversation_sla(&c.id).await? else {
            if let Some(p) = start_with {
                if let Some(policy) = tx.get_sla_policy(p).await? {
                    self.start_sla(tx, c, &policy, meta, now).await?;
                }
            }
            return Ok(());
        };
        let mut state: SlaState =
            serde_json::from_value(row.state).map_err(|e| CoreError::Internal(e.to_string()))?;
        let calendar = tx
            .get_sla_policy(&row.policy_id)
            .await?
            .and_then(|p| p.calendar_id);
        let span = span_of(tx, calendar.as_ref()).await?;
        let before = state.clone();
        state.apply(event, c.status, now, span.as_ref());
        if state != before {
            self.save_sla(tx, c, &row.policy_id, &state, span.as_ref(), now)
                .await?;
        }
        Ok(())
    }

    /// The `sla.check` job: records warnings and breaches that fell due, and schedules the next.
    pub async fn check_sla(
        &self,
        tenant_id: &TenantId,
        conversation: &ConversationId,
    ) -> CoreResult<()> {
        let tenant = {
            let mut tx = self.store().control(Access::Read).await?;
            tx.get_tenant(tenant_id).await?
        };
        let Some(tenant) = tenant.filter(|t| t.status != TenantStatus::Deleted) else {
            return Ok(());
        };
        let actor = Actor {
            kind: ActorKind::Automation,
            id: "sla".to_owned(),
        };
        #[allow(clippy::disallowed_methods)] // a scheduled job acting for its tenant
        let ctx = TenantCtx::assume(tenant.id.clone(), actor.clone(), tenant.region.clone());
        let now = self.now();
        let mut tx = self.store().tenant(&ctx, Access::Write).await?;
        let Some(c) = tx.get_conversation(conversation).await? else {
            return Ok(());
        };
        let Some(row) = tx.get_conversation_sla(conversation).await? else {
            return Ok(());
        };
        let mut state: SlaState =
            serde_json::from_value(row.state).map_err(|e| CoreError::Internal(e.to_string()))?;
        let policy = tx.get_sla_policy(&row.policy_id).await?;
        let span = span_of(
            &mut *tx,
            policy.as_ref().and_then(|p| p.calendar_id.as_ref()),
        )
        .await?;
        let due = state.due(now, span.as_ref());
        if due.is_empty() {
            // Early (a calendar changed since it was scheduled): look again when one is due.
            if let Some(at) = state.next_check(span.as_ref()) {
                let job = JobKind::SlaCheck {
                    tenant_id: tenant.id.clone(),
                    conversation_id: c.id.clone(),
                };
                tx.enqueue_job(&job.into_new_job(at.max(now + 1)), now)
                    .await?;
                tx.commit().await?;
            }
            return Ok(());
        }
        for (target, kind, cycle) in &due {
            let event = format!("sla.{kind}");
            let data = json!({"conversation_id": c.id, "inbox_id": c.inbox_id, "sla_policy_id": row.policy_id,
                              "target": target, "cycle": cycle, "assignee_id": c.assignee_id});
            events::emit_as(&mut *tx, &actor, &event, data.clone(), now).await?;
            crate::audit::append(
                &mut *tx,
                &actor,
                &RequestMeta::default(),
                crate::audit::AuditDraft::success(
                    if *kind == "breached" {
                        "sla.breached"
                    } else {
                        "sla.warning"
                    },
                    "conversation",
                    c.id.to_string(),
                )
                .with_details(data.clone()),
                now,
            )
            .await?;
            if let Some(user) = &c.assignee_id {
                let kind = if *kind == "breached" {
                    "sla_breach"
                } else {
                    "sla_warning"
                };
                notifications::notify(&mut *tx, user, kind, Some(&c.id), data, now).await?;
            }
        }
        self.save_sla(&mut *tx, &c, &row.policy_id, &state, span.as_ref(), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn policy(first: Option<i64>, next: Option<i64>, resolution: Option<i64>) -> SlaPolicy {
        SlaPolicy {
            id: SlaPolicyId::generate(),
            name: "p".into(),
            first_response_ms: first,
            next_response_ms: next,
            resolution_ms: resolution,
            calendar_id: None,
            warning_percent: 80,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn first_response_warns_then_breaches_unless_answered() {
        let mut s = SlaState::start(
            &policy(Some(10 * MIN), None, None),
            ConversationStatus::Open,
            true,
            0,
        );
        assert_eq!(s.next_check(&WallClock), Some(8 * MIN));
        assert!(s.due(7 * MIN, &WallClock).is_empty());
        assert_eq!(
            s.due(8 * MIN, &WallClock),
            vec![("first_response", "warning", 1)]
        );
        assert_eq!(s.next_check(&WallClock), Some(10 * MIN));
        assert_eq!(
            s.due(10 * MIN, &WallClock),
            vec![("first_response", "breached", 1)]
        );
        assert!(s.due(11 * MIN, &WallClock).is_empty(), "once");
        assert_eq!(s.next_check(&WallClock), None);

        let mut answered = SlaState::start(
            &policy(Some(10 * MIN), None, None),
            ConversationStatus::Open,
            true,
            0,
        );
        answered.apply(
            SlaEvent::AgentReply,
            ConversationStatus::Open,
            5 * MIN,
            &WallClock,
        );
        assert!(answered.due(20 * MIN, &WallClock).is_empty());
        assert_eq!(
            answered.first_response.as_ref().unwrap().met_at,
            Some(5 * MIN)
        );
    }

    #[test]
    fn pending_and_snoozed_pause_the_clocks() {
        let mut s = SlaState::start(
            &policy(Some(10 * MIN), None, Some(60 * MIN)),
            ConversationStatus::Open,
            true,
            0,
        );
        s.apply(
            SlaEvent::Status(ConversationStatus::Pending),
            ConversationStatus::Pending,
            4 * MIN,
            &WallClock,
        );
        assert_eq!(s.next_check(&WallClock), None, "nothing runs while pending");
        assert!(s.due(100 * MIN, &WallClock).is_empty());
        s.apply(
            SlaEvent::Status(ConversationStatus::Open),
            ConversationStatus::Open,
            100 * MIN,
            &WallClock,
        );
        // 4 minutes used before the pause: the first response is due 6 minutes after resuming.
        assert_eq!(
            s.first_response.as_ref().unwrap().deadline(&WallClock),
            Some(106 * MIN)
        );
        assert_eq!(
            s.resolution.as_ref().unwrap().deadline(&WallClock),
            Some(156 * MIN)
        );
    }

    #[test]
    fn a_clock_applied_while_on_hold_starts_when_the_conversation_opens() {
        let p = policy(Some(10 * MIN), None, Some(60 * MIN));
        let mut s = SlaState::start(&p, ConversationStatus::Snoozed, true, 0);
        assert_eq!(s.next_check(&WallClock), None);
        s.apply(
            SlaEvent::Status(ConversationStatus::Open),
            ConversationStatus::Open,
            30 * MIN,
            &WallClock,
        );
        assert_eq!(
            s.first_response.as_ref().unwrap().deadline(&WallClock),
            Some(40 * MIN)
        );
        // Resolved, then opened again by an agent: resolution continues from 10 minutes used.
        s.apply(
            SlaEvent::Status(ConversationStatus::Resolved),
            ConversationStatus::Resolved,
            40 * MIN,
            &WallClock,
        );
        s.apply(
            SlaEvent::Status(ConversationStatus::Open),
            ConversationStatus::Open,
            50 * MIN,
            &WallClock,
        );
        assert_eq!(
            s.resolution.as_ref().unwrap().deadline(&WallClock),
            Some(100 * MIN)
        );
    }

    #[test]
    fn next_response_restarts_with_each_new_question_and_resolution_ends_on_resolve() {
        let mut s = SlaState::start(
            &policy(Some(10 * MIN), Some(30 * MIN), Some(120 * MIN)),
            ConversationStatus::Open,
            true,
            0,
        );
        s.apply(
            SlaEvent::AgentReply,
            ConversationStatus::Open,
            2 * MIN,
            &WallClock,
        );
        assert!(s.next_response.is_none());
        s.apply(
            SlaEvent::CustomerMessage { was_waiting: false },
            ConversationStatus::Open,
            5 * MIN,
            &WallClock,
        );
        let next = s.next_response.clone().unwrap();
        assert_eq!((next.cycle, next.deadline(&WallClock)), (1, Some(35 * MIN)));
        // A follow-up while still waiting does not restart it.
        s.apply(
            SlaEvent::CustomerMessage { was_waiting: true },
            ConversationStatus::Open,
            6 * MIN,
            &WallClock,
        );
        assert_eq!(
            s.next_response.as_ref().unwrap().deadline(&WallClock),
            Some(35 * MIN)
        );
        s.apply(
            SlaEvent::AgentReply,
            ConversationStatus::Open,
            10 * MIN,
            &WallClock,
        );
        s.apply(
            SlaEvent::CustomerMessage { was_waiting: false },
            ConversationStatus::Open,
            20 * MIN,
            &WallClock,
        );
        assert_eq!(s.next_response.as_ref().unwrap().cycle, 2);
        s.apply(
            SlaEvent::Status(ConversationStatus::Resolved),
            ConversationStatus::Resolved,
            50 * MIN,
            &WallClock,
        );
        assert_eq!(s.resolution.as_ref().unwrap().met_at, Some(50 * MIN));
        assert_eq!(s.next_check(&WallClock), None);
        // Reopened by the customer: unresolved again, the clock goes on from 50 minutes used.
        s.apply(
            SlaEvent::CustomerMessage { was_waiting: false },
            ConversationStatus::Open,
            70 * MIN,
            &WallClock,
        );
        assert_eq!(
            s.resolution.as_ref().unwrap().deadline(&WallClock),
            Some(140 * MIN)
        );
    }

    #[test]
    fn business_hours_count_only_open_time() {
        let spec: crate::calendar::CalendarSpec = serde_json::from_value(json!({
            "timezone": "UTC",
            "hours": {"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
                       "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]]},
            "holidays": []
        })).unwrap();
        let cal = Calendar::from_spec(&spec).unwrap();
        // Friday 2026-11-27 16:00 UTC, a 2-hour budget: 1 hour on Friday, 1 hour on Monday.
        let fri_16 = 1_795_795_200_000;
        let s = SlaState::start(
            &policy(Some(120 * MIN), None, None),
            ConversationStatus::Open,
            true,
            fri_16,
        );
        let mon_10 = fri_16 + (2 * 24 + 18) * 60 * MIN;
        assert_eq!(
            s.first_response.as_ref().unwrap().deadline(&cal),
            Some(mon_10)
        );
    }
}
