//! Labels on conversations and canned responses (reply texts agents insert with `/short_code`).

use crate::audit::RequestMeta;
use crate::error::{CoreError, CoreResult, FieldError};
use crate::tenants::conflict;
use crate::{changes, validate, Core, TenantAccess};
use serde_json::json;
use switchboard_store::model::{CannedResponse, Label};
use switchboard_store::Access;
use switchboard_types::{CannedResponseId, ConversationId, LabelId};

fn is_code(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Core {
    pub async fn create_label(
        &self,
        access: &TenantAccess,
        name: &str,
        colour: &str,
        meta: &RequestMeta,
    ) -> CoreResult<Label> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        if !is_code(name) {
            errors.push(FieldError::new(
                "name",
                "1-64 characters of a-z, 0-9, - and _",
            ));
        }
        let colour_ok = colour.len() == 7
            && colour.starts_with('#')
            && colour[1..].bytes().all(|b| b.is_ascii_hexdigit());
        if !colour_ok {
            errors.push(FieldError::new("colour", "a colour like #1f6feb"));
        }
        validate::finish(errors)?;
        let now = self.now();
        let label = Label {
            id: LabelId::generate(),
            name: name.to_owned(),
            colour: colour.to_ascii_lowercase(),
            created_at: now,
        };
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        tx.insert_label(&label)
            .await
            .map_err(|e| conflict(e, "a label with this name"))?;
        changes::record(
            &mut *tx,
            meta,
            "label.created",
            "label",
            label.id.to_string(),
            json!({"label_id": label.id, "name": label.name}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(label)
    }

    pub async fn list_labels(&self, access: &TenantAccess) -> CoreResult<Vec<Label>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        Ok(self
            .store
            .tenant(&access.ctx, Access::Read)
            .await?
            .list_labels()
            .await?)
    }

    /// Deletes a label and takes it off every conversation.
    pub async fn delete_label(
        &self,
        access: &TenantAccess,
        id: &LabelId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        if !tx.delete_label(id).await? {
            return Err(CoreError::NotFound);
        }
        changes::record(
            &mut *tx,
            meta,
            "label.deleted",
            "label",
            id.to_string(),
            json!({"label_id": id}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a conversation's labels (names of the tenant's labels).
    pub async fn set_conversation_labels(
        &self,
        access: &TenantAccess,
        id: &ConversationId,
        names: &[String],
        meta: &RequestMeta,
    ) -> CoreResult<Vec<Label>> {
        if !access.role.can_work_conversations() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        let conversation = tx.get_conversation(id).await?.ok_or(CoreError::NotFound)?;
        let all = tx.list_labels().await?;
        let mut chosen = Vec::new();
        let mut errors = Vec::new();
        for (i, name) in names.iter().enumerate() {
            match all.iter().find(|l| &l.name == name) {
                Some(l) if !chosen.iter().any(|c: &Label| c.id == l.id) => chosen.push(l.clone()),
                Some(_) => {}
                None => errors.push(FieldError::new(
                    format!("labels[{i}]"),
                    "no label with this name",
                )),
            }
        }
        validate::finish(errors)?;
        let before: Vec<String> = tx
            .conversation_labels(id)
            .await?
            .into_iter()
            .map(|l| l.name)
            .collect();
        let ids: Vec<LabelId> = chosen.iter().map(|l| l.id.clone()).collect();
        tx.set_conversation_labels(id, &ids, now).await?;
        let after: Vec<&str> = chosen.iter().map(|l| l.name.as_str()).collect();
        let data = json!({"conversation_id": id, "inbox_id": conversation.inbox_id, "from": before, "to": after});
        changes::record(
            &mut *tx,
            meta,
            "conversation.labels_changed",
            "conversation",
            id.to_string(),
            data,
            now,
        )
        .await?;
        tx.commit().await?;
        chosen.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(chosen)
    }

    /// Labels of one conversation.
    pub async fn conversation_labels(
        &self,
        access: &TenantAccess,
        id: &ConversationId,
    ) -> CoreResult<Vec<Label>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        Ok(self
            .store
            .tenant(&access.ctx, Access::Read)
            .await?
            .conversation_labels(id)
            .await?)
    }

    pub async fn create_canned(
        &self,
        access: &TenantAccess,
        short_code: &str,
        content: &str,
        meta: &RequestMeta,
    ) -> CoreResult<CannedResponse> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        if !is_code(short_code) {
            errors.push(FieldError::new(
                "short_code",
                "1-64 characters of a-z, 0-9, - and _",
            ));
        }
        if content.trim().is_empty() || content.chars().count() > 10_000 || content.contains('\0') {
            errors.push(FieldError::new("content", "1-10000 characters, no NUL"));
        }
        validate::finish(errors)?;
        let now = self.now();
        let canned = CannedResponse {
            id: CannedResponseId::generate(),
            short_code: short_code.to_owned(),
            content: content.to_owned(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        tx.insert_canned(&canned)
            .await
            .map_err(|e| conflict(e, "a canned response with this short code"))?;
        changes::record(
            &mut *tx,
            meta,
            "canned_response.created",
            "canned_response",
            canned.id.to_string(),
            json!({"canned_response_id": canned.id, "short_code": canned.short_code}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(canned)
    }

    /// Canned responses; with `prefix` (what follows the `/` typed so far), those it starts.
    pub async fn list_canned(
        &self,
        access: &TenantAccess,
        prefix: Option<&str>,
    ) -> CoreResult<Vec<CannedResponse>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let prefix = prefix
            .map(|p| p.trim_start_matches('/'))
            .filter(|p| !p.is_empty());
        Ok(self
            .store
            .tenant(&access.ctx, Access::Read)
            .await?
            .list_canned(prefix)
            .await?)
    }

    pub async fn delete_canned(
        &self,
        access: &TenantAccess,
        id: &CannedResponseId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        if !tx.delete_canned(id).await? {
            return Err(CoreError::NotFound);
        }
        changes::record(
            &mut *tx,
            meta,
            "canned_response.deleted",
            "canned_response",
            id.to_string(),
            json!({"canned_response_id": id}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
