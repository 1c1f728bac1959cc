//! Automation rules: per tenant, a trigger, conditions over the message, conversation and contact
//! (triage fields and business hours included) and ordered actions. Rules are kept here; the
//! engine that runs them follows the tenant's events (`engine`), and the rule language itself is
//! in `rules`.

mod engine;
mod facts;
pub mod rules;

pub use engine::{
    run_automation_engine, AutomationReport, DryRunRule, AUTOMATION_CONSUMER, MAX_DEPTH,
};

use crate::audit::RequestMeta;
use crate::error::{CoreError, CoreResult, FieldError};
use crate::{changes, validate, Core, TenantAccess};
use rules::{Action, Condition, Definition};
use serde_json::json;
use switchboard_store::model::{AutomationRule, AutomationRun, AutomationRunFilter};
use switchboard_store::{Access, TenantTx};
use switchboard_types::{AutomationRuleId, AutomationRunId, ConversationId};

/// Most rules per tenant.
pub const MAX_RULES: usize = 200;

/// A rule as written by an administrator.
#[derive(Debug, Clone)]
pub struct RuleInput {
    pub name: String,
    pub description: String,
    pub enabled: bool,
    /// Where it runs among the others (ascending); `None`: 10 after the last (room to slot
    /// rules in between).
    pub position: Option<i64>,
    pub definition: Definition,
}

/// A change to a rule; absent fields stay.
#[derive(Debug, Clone, Default)]
pub struct RulePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub position: Option<i64>,
    pub definition: Option<Definition>,
}

fn check_text(name: &str, description: &str, errors: &mut Vec<FieldError>) {
    validate::name("name", name, errors);
    if description.chars().count() > 1_000 {
        errors.push(FieldError::new("description", "at most 1,000 characters"));
    }
}

fn check_position(position: Option<i64>, errors: &mut Vec<FieldError>) {
    if position.is_some_and(|p| !(0..=1_000_000).contains(&p)) {
        errors.push(FieldError::new("position", "0 to 1,000,000"));
    }
}

/// Checks the ids a definition names against the tenant's data, so a rule never points at
/// another tenant's records or at nothing.
async fn check_references(
    tx: &mut (dyn TenantTx + '_),
    d: &Definition,
    errors: &mut Vec<FieldError>,
) -> CoreResult<()> {
    let labels: Vec<String> = tx
        .list_labels()
        .await?
        .into_iter()
        .map(|l| l.name)
        .collect();
    for (i, a) in d.actions.iter().enumerate() {
        let field = format!("actions[{i}]");
        match a {
            Action::AssignAgent { user_id } => {
                let ok = tx
                    .get_member(user_id)
                    .await?
                    .is_some_and(|m| m.role.can_work_conversations());
                if !ok {
                    errors.push(FieldError::new(
                        format!("{field}.user_id"),
                        "not an agent of this tenant",
                    ));
                }
            }
            Action::AssignTeam { team_id } if tx.get_team(team_id).await?.is_none() => {
                errors.push(FieldError::new(format!("{field}.team_id"), "no such team"));
            }
            Action::ApplySla { sla_policy_id }
                if tx.get_sla_policy(sla_policy_id).await?.is_none() =>
            {
                errors.push(FieldError::new(
                    format!("{field}.sla_policy_id"),
                    "no such SLA policy",
                ));
            }
            Action::SendCanned { short_code } => {
                let code = short_code.trim_start_matches('/');
                let found = tx
                    .list_canned(Some(code))
                    .await?
                    .iter()
                    .any(|c| c.short_code == code);
                if !found {
                    errors.push(FieldError::new(
                        format!("{field}.short_code"),
                        "no such canned response",
                    ));
                }
            }
            Action::AddLabels { labels: wanted } | Action::RemoveLabels { labels: wanted } => {
                if let Some(missing) = wanted.iter().find(|w| !labels.contains(w)) {
                    errors.push(FieldError::new(
                        format!("{field}.labels"),
                        format!("no label named {missing:?}"),
                    ));
                }
            }
            _ => {}
        }
    }
    if let Some(c) = &d.conditions {
        let mut calendars = Vec::new();
        collect_calendars(c, &mut calendars);
        for cal in calendars {
            if tx.get_calendar(&cal).await?.is_none() {
                errors.push(FieldError::new(
                    "conditions",
                    format!("no business calendar {cal}"),
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn collect_calendars(c: &Condition, out: &mut Vec<switchboard_types::CalendarId>) {
    match c {
        Condition::All { all: list } | Condition::Any { any: list } => {
            list.iter().for_each(|inner| collect_calendars(inner, out));
        }
        Condition::Field(f) => out.extend(f.calendar_id.clone()),
    }
}

/// Counts one more (or one fewer) thing for the engine to serve in the tenant. When the engine
/// starts serving a tenant, its cursor moves to the newest event in the same transaction: it
/// acts on what happens from now on, never on a backlog from before (or from while nothing was
/// enabled), and never misses an event committed between this change and its first look.
pub(crate) async fn serve(tx: &mut (dyn TenantTx + '_), delta: i64) -> CoreResult<()> {
    let count = tx.adjust_automation_count(delta).await?;
    if delta > 0 && count == delta {
        let head = tx.outbox_head().await?;
        tx.reset_event_cursor(AUTOMATION_CONSUMER, head).await?;
    }
    Ok(())
}

fn to_value(d: &Definition) -> CoreResult<serde_json::Value> {
    serde_json::to_value(d).map_err(|e| CoreError::Internal(e.to_string()))
}

/// A stored rule's definition (a row that no longer parses is an internal error: only this
/// module writes them).
pub fn definition_of(rule: &AutomationRule) -> CoreResult<Definition> {
    serde_json::from_value(rule.definition.clone())
        .map_err(|e| CoreError::Internal(format!("rule {}: {e}", rule.id)))
}

fn event_data(rule: &AutomationRule) -> serde_json::Value {
    json!({"rule_id": rule.id, "name": rule.name, "enabled": rule.enabled,
           "trigger": rule.trigger, "position": rule.position})
}

impl Core {
    /// Saves a rule (owner, admin).
    pub async fn create_automation_rule(
        &self,
        access: &TenantAccess,
        input: RuleInput,
        meta: &RequestMeta,
    ) -> CoreResult<AutomationRule> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        check_text(&input.name, &input.description, &mut errors);
        check_position(input.position, &mut errors);
        errors.extend(rules::check(&input.definition));
        validate::finish(errors)?;
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let existing = tx.list_automation_rules().await?;
        if existing.len() >= MAX_RULES {
            return Err(CoreError::field("name", "at most 200 rules per tenant"));
        }
        let mut errors = Vec::new();
        check_references(&mut *tx, &input.definition, &mut errors).await?;
        validate::finish(errors)?;
        let position = input
            .position
            .unwrap_or_else(|| existing.iter().map(|r| r.position).max().unwrap_or(0) + 10);
        let rule = AutomationRule {
            id: AutomationRuleId::generate(),
            name: input.name.trim().to_owned(),
            description: input.description.trim().to_owned(),
            enabled: input.enabled,
            position,
            trigger: input.definition.trigger.kind().to_owned(),
            definition: to_value(&input.definition)?,
            created_at: now,
            updated_at: now,
        };
        tx.insert_automation_rule(&rule)
            .await
            .map_err(|e| crate::tenants::conflict(e, "a rule with this name"))?;
        if rule.enabled {
            serve(&mut *tx, 1).await?;
        }
        changes::record(
            &mut *tx,
            meta,
            "automation_rule.created",
            "automation_rule",
            rule.id.to_string(),
            event_data(&rule),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(rule)
    }

    /// The tenant's rules in run order (owner, admin).
    pub async fn list_automation_rules(
        &self,
        access: &TenantAccess,
    ) -> CoreResult<Vec<AutomationRule>> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        Ok(tx.list_automation_rules().await?)
    }

    pub async fn get_automation_rule(
        &self,
        access: &TenantAccess,
        id: &AutomationRuleId,
    ) -> CoreResult<AutomationRule> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        tx.get_automation_rule(id).await?.ok_or(CoreError::NotFound)
    }

    /// Changes a rule: edit, enable or disable, reorder (owner, admin).
    pub async fn update_automation_rule(
        &self,
        access: &TenantAccess,
        id: &AutomationRuleId,
        patch: RulePatch,
        meta: &RequestMeta,
    ) -> CoreResult<AutomationRule> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let before = tx
            .get_automation_rule(id)
            .await?
            .ok_or(CoreError::NotFound)?;
        let mut rule = before.clone();
        let mut errors = Vec::new();
        if let Some(name) = &patch.name {
            rule.name = name.trim().to_owned();
        }
        if let Some(d) = &patch.description {
            rule.description = d.trim().to_owned();
        }
        check_text(&rule.name, &rule.description, &mut errors);
        check_position(patch.position, &mut errors);
        if let Some(d) = &patch.definition {
            errors.extend(rules::check(d));
            if errors.is_empty() {
                check_references(&mut *tx, d, &mut errors).await?;
            }
            rule.trigger = d.trigger.kind().to_owned();
            rule.definition = to_value(d)?;
        }
        validate::finish(errors)?;
        if let Some(p) = patch.position {
            rule.position = p;
        }
        if let Some(e) = patch.enabled {
            rule.enabled = e;
        }
        rule.updated_at = now;
        tx.update_automation_rule(&rule)
            .await
            .map_err(|e| crate::tenants::conflict(e, "a rule with this name"))?;
        match (before.enabled, rule.enabled) {
            (false, true) => serve(&mut *tx, 1).await?,
            (true, false) => serve(&mut *tx, -1).await?,
            _ => {}
        }
        changes::record(
            &mut *tx,
            meta,
            "automation_rule.updated",
            "automation_rule",
            rule.id.to_string(),
            event_data(&rule),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(rule)
    }

    /// Deletes a rule and its run log (owner, admin); the audit chain keeps what it did.
    pub async fn delete_automation_rule(
        &self,
        access: &TenantAccess,
        id: &AutomationRuleId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let rule = tx
            .get_automation_rule(id)
            .await?
            .ok_or(CoreError::NotFound)?;
        tx.delete_automation_rule(id).await?;
        if rule.enabled {
            serve(&mut *tx, -1).await?;
        }
        changes::record(
            &mut *tx,
            meta,
            "automation_rule.deleted",
            "automation_rule",
            id.to_string(),
            json!({"rule_id": id}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// What rules did, newest first: of one rule, or on one conversation (anyone who reads
    /// conversations may ask why something happened to one).
    pub async fn automation_runs(
        &self,
        access: &TenantAccess,
        rule: Option<&AutomationRuleId>,
        conversation: Option<&ConversationId>,
        before: Option<AutomationRunId>,
        limit: i64,
    ) -> CoreResult<Vec<AutomationRun>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        if let Some(r) = rule {
            tx.get_automation_rule(r)
                .await?
                .ok_or(CoreError::NotFound)?;
        }
        if let Some(c) = conversation {
            tx.get_conversation(c).await?.ok_or(CoreError::NotFound)?;
        }
        Ok(tx
            .list_automation_runs(&AutomationRunFilter {
                rule_id: rule.cloned(),
                conversation_id: conversation.cloned(),
                before,
                // One more than a page, so the caller knows whether another follows.
                limit: limit.clamp(1, 201),
            })
            .await?)
    }
}
