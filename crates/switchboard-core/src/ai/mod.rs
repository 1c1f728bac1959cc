//! AI answers: when a customer writes and both triage and retrieval are confident enough, reply
//! from the tenant's help centre — an extractive answer built from the best passages, or, with
//! a generative model configured (any OpenAI-compatible chat-completions endpoint), an answer
//! the model writes from those passages only, returned as a structured decision
//! `{action: reply | handoff | resolve, text, citations}` through a forced tool call. Anything
//! else — low confidence, the turn limit, the monthly token budget, a timeout, a model error, a
//! malformed decision — hands the conversation to people. Every decision is stored, visible to
//! agents and audited.

mod answer;
mod follow;
mod model;

pub use follow::{run_ai_engine, AI_CONSUMER};

pub use model::{ChatCall, ChatError, ChatModel, NoChatModel, ToolCall, DECISION_TOOL};

use crate::audit::RequestMeta;
use crate::error::{CoreError, CoreResult, FieldError};
use crate::{changes, secrets, validate, Core, TenantAccess};
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_store::model::{AiAnswer, StoredAiSettings};
use switchboard_store::{Access, TenantTx};
use switchboard_types::{ConversationId, InboxId, KbPortalId, TenantId};

/// The generative model a tenant answers with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerativeSettings {
    /// The API's base URL, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`
    /// (private addresses only where the operator allows them).
    pub base_url: String,
    pub model: String,
    /// Ask for a streamed response (server-sent events).
    #[serde(default)]
    pub stream: bool,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Tokens (prompt and completion) per calendar month (UTC); past it, conversations go to
    /// people.
    #[serde(default = "default_budget")]
    pub monthly_token_budget: i64,
    #[serde(default = "default_max_tokens")]
    pub max_output_tokens: u32,
}

impl GenerativeSettings {
    /// A model at `base_url` with the default timeout, budget and answer length.
    pub fn new(base_url: String, model: String) -> Self {
        Self {
            base_url,
            model,
            stream: false,
            timeout_ms: default_timeout_ms(),
            monthly_token_budget: default_budget(),
            max_output_tokens: default_max_tokens(),
        }
    }
}

fn default_timeout_ms() -> u64 {
    20_000
}
fn default_budget() -> i64 {
    1_000_000
}
fn default_max_tokens() -> u32 {
    500
}
fn default_retrieval() -> f64 {
    0.3
}
fn default_turns() -> i64 {
    3
}

/// A tenant's AI-answer settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiSettings {
    #[serde(default)]
    pub enabled: bool,
    /// The help centre answers come from.
    #[serde(default)]
    pub portal_id: Option<KbPortalId>,
    /// The locale of its articles to use (default: the help centre's default).
    #[serde(default)]
    pub locale: Option<String>,
    /// Only these inboxes (empty: all).
    #[serde(default)]
    pub inbox_ids: Vec<InboxId>,
    /// Only messages triage gave one of these intents (empty: any intent in scope).
    #[serde(default)]
    pub intents: Vec<String>,
    /// The least intent confidence to answer (0: any).
    #[serde(default)]
    pub min_intent_confidence: f64,
    /// The least retrieval confidence to answer (see docs/knowledge-base.md).
    #[serde(default = "default_retrieval")]
    pub min_retrieval_confidence: f64,
    /// AI replies per conversation before it goes to people.
    #[serde(default = "default_turns")]
    pub max_turns: i64,
    /// Absent: extractive answers only.
    #[serde(default)]
    pub generative: Option<GenerativeSettings>,
}

impl Default for AiSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            portal_id: None,
            locale: None,
            inbox_ids: Vec::new(),
            intents: Vec::new(),
            min_intent_confidence: 0.0,
            min_retrieval_confidence: default_retrieval(),
            max_turns: default_turns(),
            generative: None,
        }
    }
}

/// Settings as shown: the key is never returned, only whether one is set.
#[derive(Debug, Clone, PartialEq)]
pub struct AiSettingsView {
    pub settings: AiSettings,
    pub api_key_set: bool,
    pub updated_at: Option<i64>,
}

/// What to do with the stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    Keep,
    Clear,
    Set(String),
}

fn seal_context(tenant: &TenantId) -> String {
    format!("ai-api-key:{tenant}")
}

fn check(s: &AiSettings, errors: &mut Vec<FieldError>) {
    if s.enabled && s.portal_id.is_none() {
        errors.push(FieldError::new("portal_id", "required when enabled"));
    }
    if let Some(l) = &s.locale {
        if !crate::kb::is_locale(l) {
            errors.push(FieldError::new(
                "locale",
                "a language tag such as en or pt-BR",
            ));
        }
    }
    if !(0.0..=1.0).contains(&s.min_intent_confidence) {
        errors.push(FieldError::new("min_intent_confidence", "0 to 1"));
    }
    if !(0.0..=1.0).contains(&s.min_retrieval_confidence) {
        errors.push(FieldError::new("min_retrieval_confidence", "0 to 1"));
    }
    if !(1..=20).contains(&s.max_turns) {
        errors.push(FieldError::new("max_turns", "1 to 20"));
    }
    if s.intents.len() > 200 || s.intents.iter().any(|i| i.is_empty() || i.len() > 100) {
        errors.push(FieldError::new("intents", "at most 200 intent names"));
    }
    if s.inbox_ids.len() > 200 {
        errors.push(FieldError::new("inbox_ids", "at most 200 inboxes"));
    }
    if let Some(g) = &s.generative {
        match url::Url::parse(&g.base_url) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.username().is_empty()
                    && u.password().is_none()
                    && g.base_url.len() <= 2_000 => {}
            _ => errors.push(FieldError::new(
                "generative.base_url",
                "an http(s) URL without credentials, at most 2,000 characters",
            )),
        }
        if g.model.trim().is_empty() || g.model.len() > 200 {
            errors.push(FieldError::new("generative.model", "1 to 200 characters"));
        }
        if !(1_000..=120_000).contains(&g.timeout_ms) {
            errors.push(FieldError::new("generative.timeout_ms", "1,000 to 120,000"));
        }
        if !(0..=10_000_000_000).contains(&g.monthly_token_budget) {
            errors.push(FieldError::new(
                "generative.monthly_token_budget",
                "0 to 10 billion",
            ));
        }
        if !(16..=4_000).contains(&g.max_output_tokens) {
            errors.push(FieldError::new(
                "generative.max_output_tokens",
                "16 to 4,000",
            ));
        }
    }
}

/// The UTC month (`YYYY-MM`) of `ms`, the budget's period.
pub fn month_of(ms: i64) -> String {
    crate::clock::rfc3339(ms).chars().take(7).collect()
}

impl Core {
    /// The tenant's AI-answer settings (owner, admin).
    pub async fn ai_settings(&self, access: &TenantAccess) -> CoreResult<AiSettingsView> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        view(tx.get_ai_settings().await?)
    }

    /// Replaces the settings (owner, admin); the key is sealed, and only changed when asked.
    pub async fn put_ai_settings(
        &self,
        access: &TenantAccess,
        settings: AiSettings,
        key: KeyChange,
        meta: &RequestMeta,
    ) -> CoreResult<AiSettingsView> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        check(&settings, &mut errors);
        if let KeyChange::Set(k) = &key {
            if k.len() > 4_096 || k.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    "generative.api_key",
                    "at most 4 KiB, one line",
                ));
            }
        }
        validate::finish(errors)?;
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        if let Some(p) = &settings.portal_id {
            if tx.get_kb_portal(p).await?.is_none() {
                return Err(CoreError::field("portal_id", "no such help centre"));
            }
        }
        for inbox in &settings.inbox_ids {
            if tx.get_inbox(inbox).await?.is_none() {
                return Err(CoreError::field("inbox_ids", "no such inbox"));
            }
        }
        let before = tx.get_ai_settings().await?;
        let was_enabled = before
            .as_ref()
            .and_then(|b| serde_json::from_value::<AiSettings>(b.settings.clone()).ok())
            .is_some_and(|s| s.enabled);
        // A stored key only ever goes to the address it was given for: moving the endpoint to
        // another scheme, host or port needs the key again (or none).
        let origin = |g: Option<&GenerativeSettings>| {
            g.and_then(|g| url::Url::parse(&g.base_url).ok())
                .map(|u| u.origin().ascii_serialization())
        };
        let before_settings = before
            .as_ref()
            .and_then(|b| serde_json::from_value::<AiSettings>(b.settings.clone()).ok());
        let moved = origin(before_settings.as_ref().and_then(|b| b.generative.as_ref()))
            != origin(settings.generative.as_ref());
        let had_key = before.as_ref().is_some_and(|b| b.api_key.is_some());
        if moved && had_key && key == KeyChange::Keep && settings.generative.is_some() {
            return Err(CoreError::field(
                "generative.api_key",
                "the model's address changed: send its key again (or an empty one for none)",
            ));
        }
        let api_key = match key {
            KeyChange::Keep => before.as_ref().and_then(|b| b.api_key.clone()),
            KeyChange::Clear => None,
            KeyChange::Set(k) => Some(secrets::seal(
                &self.config().channel_key,
                &seal_context(access.ctx.tenant()),
                &k,
            )?),
        };
        let stored = StoredAiSettings {
            settings: serde_json::to_value(&settings)
                .map_err(|e| CoreError::Internal(e.to_string()))?,
            api_key,
            updated_at: now,
        };
        tx.put_ai_settings(&stored).await?;
        match (was_enabled, settings.enabled) {
            (false, true) => {
                crate::automation::serve(&mut *tx, 1).await?;
                // Customers who wrote before the AI was switched on are not answered now.
                let head = tx.outbox_head().await?;
                tx.reset_event_cursor(AI_CONSUMER, head).await?;
            }
            (true, false) => crate::automation::serve(&mut *tx, -1).await?,
            _ => {}
        }
        let mut data = stored.settings.clone();
        if let Some(o) = data.as_object_mut() {
            o.insert("api_key_set".into(), json!(stored.api_key.is_some()));
        }
        changes::record(
            &mut *tx,
            meta,
            "ai.settings_updated",
            "ai_settings",
            access.ctx.tenant().to_string(),
            data,
            now,
        )
        .await?;
        tx.commit().await?;
        view(Some(stored))
    }

    /// What the AI decided on a conversation's customer messages, oldest first (anyone who reads
    /// conversations).
    pub async fn ai_answers(
        &self,
        access: &TenantAccess,
        conversation: &ConversationId,
    ) -> CoreResult<Vec<AiAnswer>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        tx.get_conversation(conversation)
            .await?
            .ok_or(CoreError::NotFound)?;
        Ok(tx.list_ai_answers(conversation).await?)
    }

    /// Tokens and requests the tenant's generative model used in `month` (`YYYY-MM`; default
    /// this month), and the budget (owner, admin).
    pub async fn ai_usage(
        &self,
        access: &TenantAccess,
        month: Option<&str>,
    ) -> CoreResult<(String, i64, i64, Option<i64>)> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let month = match month {
            Some(m) => {
                let ok = m.len() == 7
                    && m.as_bytes().get(4) == Some(&b'-')
                    && m.chars()
                        .enumerate()
                        .all(|(i, c)| i == 4 || c.is_ascii_digit());
                if !ok {
                    return Err(CoreError::field("month", "YYYY-MM"));
                }
                m.to_owned()
            }
            None => month_of(self.now()),
        };
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        let (tokens, requests) = tx.ai_usage(&month).await?;
        let budget = load_settings(&mut *tx)
            .await?
            .generative
            .map(|g| g.monthly_token_budget);
        Ok((month, tokens, requests, budget))
    }
}

fn view(stored: Option<StoredAiSettings>) -> CoreResult<AiSettingsView> {
    Ok(match stored {
        Some(s) => AiSettingsView {
            settings: serde_json::from_value(s.settings)
                .map_err(|e| CoreError::Internal(e.to_string()))?,
            api_key_set: s.api_key.is_some(),
            updated_at: Some(s.updated_at),
        },
        None => AiSettingsView {
            settings: AiSettings::default(),
            api_key_set: false,
            updated_at: None,
        },
    })
}

/// The stored settings (defaults when none).
pub(crate) async fn load_settings(tx: &mut (dyn TenantTx + '_)) -> CoreResult<AiSettings> {
    Ok(view(tx.get_ai_settings().await?)?.settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let mut errors = Vec::new();
        check(
            &AiSettings {
                enabled: true,
                min_retrieval_confidence: 2.0,
                max_turns: 0,
                generative: Some(GenerativeSettings {
                    base_url: "ftp://user:pw@example.com".into(),
                    model: String::new(),
                    stream: false,
                    timeout_ms: 10,
                    monthly_token_budget: -1,
                    max_output_tokens: 1,
                }),
                ..Default::default()
            },
            &mut errors,
        );
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "portal_id",
            "min_retrieval_confidence",
            "max_turns",
            "generative.base_url",
            "generative.model",
            "generative.timeout_ms",
            "generative.monthly_token_budget",
            "generative.max_output_tokens",
        ] {
            assert!(fields.contains(&f), "{f} not in {fields:?}");
        }
        assert_eq!(month_of(0), "1970-01");
    }
}
