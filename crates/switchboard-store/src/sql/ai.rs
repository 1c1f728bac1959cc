//! AI-answer settings, decisions and token usage, for both engines.

use super::exec::{query, Row};
use super::tenant::SqlTenantTx;
use crate::model::{AiAnswer, StoredAiSettings};
use crate::traits::AiTx;
use crate::StoreError;
use async_trait::async_trait;
use switchboard_types::{ConversationId, MessageId};

const ANSWER_COLS: &str =
    "message_id, conversation_id, action, reply_message_id, details, tokens, created_at";

fn answer(row: &Row) -> Result<AiAnswer, StoreError> {
    Ok(AiAnswer {
        message_id: MessageId::from_trusted(row.try_get("message_id")?),
        conversation_id: ConversationId::from_trusted(row.try_get("conversation_id")?),
        action: row.try_get("action")?,
        reply_message_id: row
            .try_get::<Option<String>, _>("reply_message_id")?
            .map(MessageId::from_trusted),
        details: super::rows::json(row, "details")?,
        tokens: row.try_get("tokens")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl AiTx for SqlTenantTx {
    async fn get_ai_settings(&mut self) -> Result<Option<StoredAiSettings>, StoreError> {
        let row =
            query("SELECT settings, api_key, updated_at FROM ai_settings WHERE tenant_id = $1")
                .bind(self.tenant().to_owned())
                .fetch_optional(&mut self.tx)
                .await?;
        row.map(|r| {
            Ok(StoredAiSettings {
                settings: super::rows::json(&r, "settings")?,
                api_key: r.try_get("api_key")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    async fn put_ai_settings(&mut self, s: &StoredAiSettings) -> Result<(), StoreError> {
        query(
            "INSERT INTO ai_settings (tenant_id, settings, api_key, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id) DO UPDATE SET settings = excluded.settings, \
             api_key = excluded.api_key, updated_at = excluded.updated_at",
        )
        .bind(self.tenant().to_owned())
        .bind(s.settings.to_string())
        .bind(s.api_key.as_deref())
        .bind(s.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn insert_ai_answer(&mut self, a: &AiAnswer) -> Result<bool, StoreError> {
        let done = query(&format!(
            "INSERT INTO ai_answers (tenant_id, {ANSWER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (tenant_id, message_id) DO NOTHING"
        ))
        .bind(self.tenant().to_owned())
        .bind(a.message_id.as_str())
        .bind(a.conversation_id.as_str())
        .bind(a.action.as_str())
        .bind(a.reply_message_id.as_ref().map(MessageId::as_str))
        .bind(a.details.to_string())
        .bind(a.tokens)
        .bind(a.created_at)
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_ai_answer(&mut self, a: &AiAnswer) -> Result<(), StoreError> {
        query(
            "UPDATE ai_answers SET action = $3, reply_message_id = $4, details = $5, tokens = $6 \
             WHERE tenant_id = $1 AND message_id = $2",
        )
        .bind(self.tenant().to_owned())
        .bind(a.message_id.as_str())
        .bind(a.action.as_str())
        .bind(a.reply_message_id.as_ref().map(MessageId::as_str))
        .bind(a.details.to_string())
        .bind(a.tokens)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn list_ai_answers(
        &mut self,
        conversation: &ConversationId,
    ) -> Result<Vec<AiAnswer>, StoreError> {
        query(&format!(
            "SELECT {ANSWER_COLS} FROM ai_answers WHERE tenant_id = $1 AND conversation_id = $2 \
             ORDER BY created_at, message_id LIMIT 1000"
        ))
        .bind(self.tenant().to_owned())
        .bind(conversation.as_str())
        .fetch_all(&mut self.tx)
        .await?
        .iter()
        .map(answer)
        .collect()
    }

    async fn ai_usage(&mut self, month: &str) -> Result<(i64, i64), StoreError> {
        let row =
            query("SELECT tokens, requests FROM ai_usage WHERE tenant_id = $1 AND month = $2")
                .bind(self.tenant().to_owned())
                .bind(month)
                .fetch_optional(&mut self.tx)
                .await?;
        match row {
            Some(r) => Ok((r.try_get("tokens")?, r.try_get("requests")?)),
            None => Ok((0, 0)),
        }
    }

    async fn add_ai_usage(&mut self, month: &str, tokens: i64) -> Result<(), StoreError> {
        query(
            "INSERT INTO ai_usage (tenant_id, month, tokens, requests) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (tenant_id, month) DO UPDATE SET tokens = ai_usage.tokens + excluded.tokens, \
             requests = ai_usage.requests + 1",
        )
        .bind(self.tenant().to_owned())
        .bind(month)
        .bind(tokens)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }
}
