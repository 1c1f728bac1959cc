//! Automation rules and the log of their runs, for both engines.

use super::exec::{query, Row};
use super::rows::{self, json};
use super::tenant::SqlTenantTx;
use crate::model::{AutomationRule, AutomationRun, AutomationRunFilter, Conversation};
use crate::traits::AutomationTx;
use crate::StoreError;
use async_trait::async_trait;
use switchboard_types::{AutomationRuleId, AutomationRunId, ConversationId};

const RULE_COLS: &str =
    "id, name, description, enabled, position, trigger_kind, definition, created_at, updated_at";

const RUN_COLS: &str =
    "id, rule_id, event_id, conversation_id, depth, outcome, actions, error, created_at";

fn rule(row: &Row) -> Result<AutomationRule, StoreError> {
    Ok(AutomationRule {
        id: AutomationRuleId::from_trusted(row.try_get("id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        position: row.try_get("position")?,
        trigger: row.try_get("trigger_kind")?,
        definition: json(row, "definition")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn run(row: &Row) -> Result<AutomationRun, StoreError> {
    Ok(AutomationRun {
        id: AutomationRunId::from_trusted(row.try_get("id")?),
        rule_id: AutomationRuleId::from_trusted(row.try_get("rule_id")?),
        event_id: row.try_get("event_id")?,
        conversation_id: row
            .try_get::<Option<String>, _>("conversation_id")?
            .map(ConversationId::from_trusted),
        depth: row.try_get("depth")?,
        outcome: row.try_get("outcome")?,
        actions: json(row, "actions")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl AutomationTx for SqlTenantTx {
    async fn insert_automation_rule(&mut self, r: &AutomationRule) -> Result<(), StoreError> {
        query(&format!(
            "INSERT INTO automation_rules (tenant_id, {RULE_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(self.tenant().to_owned())
        .bind(r.id.as_str())
        .bind(r.name.as_str())
        .bind(r.description.as_str())
        .bind(i64::from(r.enabled))
        .bind(r.position)
        .bind(r.trigger.as_str())
        .bind(r.definition.to_string())
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_automation_rule(
        &mut self,
        id: &AutomationRuleId,
    ) -> Result<Option<AutomationRule>, StoreError> {
        let lock = self.lock_for_write();
        query(&format!(
            "SELECT {RULE_COLS} FROM automation_rules WHERE tenant_id = $1 AND id = $2{lock}"
        ))
        .bind(self.tenant().to_owned())
        .bind(id.as_str())
        .fetch_optional(&mut self.tx)
        .await?
        .as_ref()
        .map(rule)
        .transpose()
    }

    async fn list_automation_rules(&mut self) -> Result<Vec<AutomationRule>, StoreError> {
        query(&format!(
            "SELECT {RULE_COLS} FROM automation_rules WHERE tenant_id = $1 \
             ORDER BY position, created_at, id"
        ))
        .bind(self.tenant().to_owned())
        .fetch_all(&mut self.tx)
        .await?
        .iter()
        .map(rule)
        .collect()
    }

    async fn update_automation_rule(&mut self, r: &AutomationRule) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE automation_rules SET name = $3, description = $4, enabled = $5, \
             position = $6, trigger_kind = $7, definition = $8, updated_at = $9 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tenant().to_owned())
        .bind(r.id.as_str())
        .bind(r.name.as_str())
        .bind(r.description.as_str())
        .bind(i64::from(r.enabled))
        .bind(r.position)
        .bind(r.trigger.as_str())
        .bind(r.definition.to_string())
        .bind(r.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_automation_rule(&mut self, id: &AutomationRuleId) -> Result<bool, StoreError> {
        // Runs go first: SQLite enforces the cascade only with its foreign-key pragma on.
        query("DELETE FROM automation_runs WHERE tenant_id = $1 AND rule_id = $2")
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .execute(&mut self.tx)
            .await?;
        let done = query("DELETE FROM automation_rules WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .execute(&mut self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn adjust_automation_count(&mut self, delta: i64) -> Result<i64, StoreError> {
        let row = query(
            "UPDATE tenants SET automation_count = automation_count + $2 WHERE id = $1 \
             RETURNING automation_count",
        )
        .bind(self.tenant().to_owned())
        .bind(delta)
        .fetch_one(&mut self.tx)
        .await?;
        row.try_get("automation_count")
    }

    async fn insert_automation_run(&mut self, r: &AutomationRun) -> Result<bool, StoreError> {
        let done = query(&format!(
            "INSERT INTO automation_runs (tenant_id, {RUN_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (tenant_id, rule_id, event_id) DO NOTHING"
        ))
        .bind(self.tenant().to_owned())
        .bind(r.id.as_str())
        .bind(r.rule_id.as_str())
        .bind(r.event_id.as_str())
        .bind(r.conversation_id.as_ref().map(ConversationId::as_str))
        .bind(r.depth)
        .bind(r.outcome.as_str())
        .bind(r.actions.to_string())
        .bind(r.error.as_deref())
        .bind(r.created_at)
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_automation_run(&mut self, r: &AutomationRun) -> Result<(), StoreError> {
        query(
            "UPDATE automation_runs SET outcome = $3, actions = $4, error = $5 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tenant().to_owned())
        .bind(r.id.as_str())
        .bind(r.outcome.as_str())
        .bind(r.actions.to_string())
        .bind(r.error.as_deref())
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn list_automation_runs(
        &mut self,
        f: &AutomationRunFilter,
    ) -> Result<Vec<AutomationRun>, StoreError> {
        let mut sql = format!("SELECT {RUN_COLS} FROM automation_runs WHERE tenant_id = $1");
        let mut binds: Vec<String> = vec![self.tenant().to_owned()];
        if let Some(rule) = &f.rule_id {
            binds.push(rule.to_string());
            sql.push_str(&format!(" AND rule_id = ${}", binds.len()));
        }
        if let Some(c) = &f.conversation_id {
            binds.push(c.to_string());
            sql.push_str(&format!(" AND conversation_id = ${}", binds.len()));
        }
        if let Some(before) = &f.before {
            binds.push(before.to_string());
            sql.push_str(&format!(" AND id < ${}", binds.len()));
        }
        sql.push_str(&format!(
            " ORDER BY id DESC LIMIT {}",
            f.limit.clamp(1, 500)
        ));
        let mut q = query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        q.fetch_all(&mut self.tx).await?.iter().map(run).collect()
    }

    async fn conversations_idle_between(
        &mut self,
        after: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<Conversation>, StoreError> {
        query(&format!(
            "SELECT {} FROM conversations WHERE tenant_id = $1 \
             AND status IN ('open', 'pending') AND last_activity_at > $2 \
             AND last_activity_at <= $3 ORDER BY last_activity_at, id LIMIT {}",
            rows::CONVERSATION_COLS,
            limit.clamp(1, 10_000)
        ))
        .bind(self.tenant().to_owned())
        .bind(after)
        .bind(up_to)
        .fetch_all(&mut self.tx)
        .await?
        .iter()
        .map(rows::conversation)
        .collect()
    }

    async fn latest_automation_run(
        &mut self,
        rule_id: &AutomationRuleId,
        conversation: &ConversationId,
        at: i64,
    ) -> Result<Option<AutomationRun>, StoreError> {
        query(&format!(
            "SELECT {RUN_COLS} FROM automation_runs \
             WHERE tenant_id = $1 AND rule_id = $2 AND conversation_id = $3 AND created_at <= $4 \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(self.tenant().to_owned())
        .bind(rule_id.as_str())
        .bind(conversation.as_str())
        .bind(at)
        .fetch_optional(&mut self.tx)
        .await?
        .as_ref()
        .map(run)
        .transpose()
    }
}
