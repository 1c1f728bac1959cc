//! Macros: saved lists of actions an agent runs on a conversation in one go (resolve and label,
//! hand to a team with a note, send a standard reply, …). Each action runs as the agent, with the
//! agent's rights, through the same use case as when done by hand, so it is validated, audited
//! and announced the same way; the run stops at the first action that fails and says which.

use crate::audit::{self, AuditDraft, RequestMeta};
use crate::contacts::Change;
use crate::conversations::ConversationPatch;
use crate::error::{CoreError, CoreResult, FieldError};
use crate::{changes, validate, Core, TenantAccess};
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_store::model::{Conversation, Macro};
use switchboard_store::Access;
use switchboard_types::{ConversationId, ConversationStatus, MacroId, Priority, TeamId, UserId};

/// One step of a macro.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MacroAction {
    /// `open`, `pending` or `resolved` (snoozing needs a time, so it is not a macro step).
    SetStatus {
        status: ConversationStatus,
    },
    SetPriority {
        priority: Priority,
    },
    AssignAgent {
        user_id: UserId,
    },
    AssignTeam {
        team_id: TeamId,
    },
    Unassign {},
    AddLabels {
        labels: Vec<String>,
    },
    RemoveLabels {
        labels: Vec<String>,
    },
    /// A reply to the customer.
    SendMessage {
        content: String,
    },
    /// A private note.
    AddNote {
        content: String,
    },
}

/// Most steps in one macro.
pub const MAX_ACTIONS: usize = 20;

fn check(actions: &[MacroAction]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if actions.is_empty() || actions.len() > MAX_ACTIONS {
        errors.push(FieldError::new("actions", "1 to 20 actions"));
    }
    for (i, a) in actions.iter().enumerate() {
        let field = format!("actions[{i}]");
        match a {
            MacroAction::SetStatus {
                status: ConversationStatus::Snoozed,
            } => {
                errors.push(FieldError::new(
                    field,
                    "snoozing needs a time; not a macro step",
                ));
            }
            MacroAction::SendMessage { content } | MacroAction::AddNote { content }
                if crate::conversations::check_content(content).is_err() =>
            {
                errors.push(FieldError::new(field, "1 byte to 64 KiB of text"));
            }
            MacroAction::AddLabels { labels } | MacroAction::RemoveLabels { labels }
                if labels.is_empty() || labels.len() > 50 =>
            {
                errors.push(FieldError::new(field, "1 to 50 labels"));
            }
            _ => {}
        }
    }
    errors
}

impl Core {
    /// Saves a macro (owner, admin).
    pub async fn create_macro(
        &self,
        access: &TenantAccess,
        name: &str,
        actions: Vec<MacroAction>,
        meta: &RequestMeta,
    ) -> CoreResult<Macro> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        validate::name("name", name, &mut errors);
        errors.extend(check(&actions));
        validate::finish(errors)?;
        let now = self.now();
        let m = Macro {
            id: MacroId::generate(),
            name: name.trim().to_owned(),
            actions: serde_json::to_value(&actions)
                .map_err(|e| CoreError::Internal(e.to_string()))?,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        tx.insert_macro(&m)
            .await
            .map_err(|e| crate::tenants::conflict(e, "a macro with this name"))?;
        changes::record(
            &mut *tx,
            meta,
            "macro.created",
            "macro",
            m.id.to_string(),
            json!({"macro_id": m.id, "name": m.name, "actions": m.actions}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(m)
    }

    pub async fn list_macros(&self, access: &TenantAccess) -> CoreResult<Vec<Macro>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        Ok(tx.list_macros().await?)
    }

    pub async fn delete_macro(
        &self,
        access: &TenantAccess,
        id: &MacroId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        if !tx.delete_macro(id).await? {
            return Err(CoreError::NotFound);
        }
        changes::record(
            &mut *tx,
            meta,
            "macro.deleted",
            "macro",
            id.to_string(),
            json!({"macro_id": id}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Runs a macro's actions on a conversation, in order, as the caller. Returns how many ran
    /// (all of them, unless one failed: then the error names it and the earlier ones stay done).
    pub async fn run_macro(
        &self,
        access: &TenantAccess,
        id: &MacroId,
        conversation: &ConversationId,
        meta: &RequestMeta,
    ) -> CoreResult<Conversation> {
        if !access.role.can_work_conversations() {
            return Err(CoreError::Forbidden);
        }
        let (m, labels) = {
            let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
            let m = tx.get_macro(id).await?.ok_or(CoreError::NotFound)?;
            tx.get_conversation(conversation)
                .await?
                .ok_or(CoreError::NotFound)?;
            let labels: Vec<String> = tx
                .conversation_labels(conversation)
                .await?
                .into_iter()
                .map(|l| l.name)
                .collect();
            (m, labels)
        };
        let actions: Vec<MacroAction> = serde_json::from_value(m.actions.clone())
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        let mut labels = labels;
        for (i, action) in actions.iter().enumerate() {
            let step = |e: CoreError| match e {
                CoreError::Validation(errs) => CoreError::Validation(
                    errs.into_iter()
                        .map(|f| FieldError::new(format!("actions[{i}].{}", f.field), f.message))
                        .collect(),
                ),
                other => other,
            };
            let result = match action {
                MacroAction::SetStatus { status } => self
                    .update_conversation(
                        access,
                        conversation,
                        ConversationPatch {
                            status: Some(*status),
                            ..Default::default()
                        },
                        meta,
                    )
                    .await
                    .map(|_| ()),
                MacroAction::SetPriority { priority } => self
                    .update_conversation(
                        access,
                        conversation,
                        ConversationPatch {
                            priority: Some(*priority),
                            ..Default::default()
                        },
                        meta,
                    )
                    .await
                    .map(|_| ()),
                MacroAction::AssignAgent { user_id } => self
                    .update_conversation(
                        access,
                        conversation,
                        ConversationPatch {
                            assignee_id: Change::Set(user_id.clone()),
                            ..Default::default()
                        },
                        meta,
                    )
                    .await
                    .map(|_| ()),
                MacroAction::AssignTeam { team_id } => self
                    .update_conversation(
                        access,
                        conversation,
                        ConversationPatch {
                            team_id: Change::Set(team_id.clone()),
                            ..Default::default()
                        },
                        meta,
                    )
                    .await
                    .map(|_| ()),
                MacroAction::Unassign {} => self
                    .update_conversation(
                        access,
                        conversation,
                        ConversationPatch {
                            assignee_id: Change::Clear,
                            ..Default::default()
                        },
                        meta,
                    )
                    .await
                    .map(|_| ()),
                MacroAction::AddLabels { labels: add } => {
                    for l in add {
                        if !labels.contains(l) {
                            labels.push(l.clone());
                        }
                    }
                    self.set_conversation_labels(access, conversation, &labels, meta)
                        .await
                        .map(|_| ())
                }
                MacroAction::RemoveLabels { labels: remove } => {
                    labels.retain(|l| !remove.contains(l));
                    self.set_conversation_labels(access, conversation, &labels, meta)
                        .await
                        .map(|_| ())
                }
                MacroAction::SendMessage { content } => self
                    .post_message(access, conversation, content.clone(), false, &[], meta)
                    .await
                    .map(|_| ()),
                MacroAction::AddNote { content } => self
                    .post_message(access, conversation, content.clone(), true, &[], meta)
                    .await
                    .map(|_| ()),
            };
            result.map_err(step)?;
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let c = tx
            .get_conversation(conversation)
            .await?
            .ok_or(CoreError::NotFound)?;
        let draft = AuditDraft::success("macro.run", "conversation", c.id.to_string())
            .with_details(json!({"macro_id": m.id, "name": m.name, "actions": actions.len()}));
        let actor = access.ctx.actor().clone();
        audit::append(&mut *tx, &actor, meta, draft, now).await?;
        tx.commit().await?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_strictly_and_are_checked() {
        let ok: Vec<MacroAction> = serde_json::from_value(json!([
            {"type": "add_labels", "labels": ["billing"]},
            {"type": "send_message", "content": "Refund issued."},
            {"type": "set_status", "status": "resolved"}
        ]))
        .unwrap();
        assert!(check(&ok).is_empty());
        assert!(
            serde_json::from_value::<Vec<MacroAction>>(json!([{"type": "drop_table"}])).is_err()
        );
        assert!(
            serde_json::from_value::<Vec<MacroAction>>(json!([{"type": "unassign", "x": 1}]))
                .is_err()
        );
        assert_eq!(check(&[]).len(), 1);
        let bad = [
            MacroAction::SetStatus {
                status: ConversationStatus::Snoozed,
            },
            MacroAction::AddNote {
                content: " ".into(),
            },
            MacroAction::AddLabels { labels: vec![] },
        ];
        let fields: Vec<String> = check(&bad).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["actions[0]", "actions[1]", "actions[2]"]);
    }
}
