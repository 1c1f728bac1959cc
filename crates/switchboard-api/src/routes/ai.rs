//! AI answers: settings, the decisions on a conversation, and token usage.

use crate::error::ApiResult;
use crate::extract::{Meta, Tenant, ValidJson, ValidQuery, Validate};
use crate::routes::{nullable, path_id, ts};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::ai::{AiSettings, AiSettingsView, GenerativeSettings, KeyChange};
use switchboard_store::model::AiAnswer;
use switchboard_types::{InboxId, KbPortalId, MessageId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(usage))
        .routes(routes!(conversation_answers))
}

/// The generative model (any OpenAI-compatible chat-completions endpoint).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerativeIo {
    /// e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama).
    pub base_url: String,
    pub model: String,
    #[serde(default)]
    pub stream: bool,
    /// Default 20,000.
    pub timeout_ms: Option<u64>,
    /// Tokens per calendar month (UTC); default 1,000,000.
    pub monthly_token_budget: Option<i64>,
    /// Default 500.
    pub max_output_tokens: Option<u32>,
    /// Write-only: a new key; `null` or `""` removes it; absent keeps the stored one.
    #[serde(default, deserialize_with = "nullable", skip_serializing)]
    #[schema(value_type = Option<String>)]
    pub api_key: Option<Option<String>>,
    /// Whether a key is stored (read-only).
    #[serde(default, skip_deserializing)]
    pub api_key_set: bool,
}

/// When the AI answers customers (see docs/ai-answers.md).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AiSettingsIo {
    #[serde(default)]
    pub enabled: bool,
    /// The help centre answers come from (required when enabled).
    #[schema(value_type = Option<String>)]
    pub portal_id: Option<KbPortalId>,
    /// Its articles' locale (default: the help centre's default).
    pub locale: Option<String>,
    /// Only these inboxes (empty: all).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub inbox_ids: Vec<InboxId>,
    /// Only these intents (empty: any intent in scope).
    #[serde(default)]
    pub intents: Vec<String>,
    /// 0–1 (default 0).
    pub min_intent_confidence: Option<f64>,
    /// 0–1 (default 0.3).
    pub min_retrieval_confidence: Option<f64>,
    /// AI replies per conversation before a person takes over (default 3).
    pub max_turns: Option<i64>,
    /// Absent: extractive answers from the best article.
    pub generative: Option<GenerativeIo>,
    /// Read-only.
    #[serde(default, skip_deserializing)]
    pub updated_at: Option<String>,
}

impl Validate for AiSettingsIo {}

fn out(v: AiSettingsView) -> AiSettingsIo {
    let s = v.settings;
    AiSettingsIo {
        enabled: s.enabled,
        portal_id: s.portal_id,
        locale: s.locale,
        inbox_ids: s.inbox_ids,
        intents: s.intents,
        min_intent_confidence: Some(s.min_intent_confidence),
        min_retrieval_confidence: Some(s.min_retrieval_confidence),
        max_turns: Some(s.max_turns),
        generative: s.generative.map(|g| GenerativeIo {
            base_url: g.base_url,
            model: g.model,
            stream: g.stream,
            timeout_ms: Some(g.timeout_ms),
            monthly_token_budget: Some(g.monthly_token_budget),
            max_output_tokens: Some(g.max_output_tokens),
            api_key: None,
            api_key_set: v.api_key_set,
        }),
        updated_at: v.updated_at.map(ts),
    }
}

#[utoipa::path(get, path = "/v1/ai/settings", tag = "ai", security(("bearer" = [])),
    responses((status = 200, body = AiSettingsIo), (status = 403, body = crate::error::Problem)))]
async fn get_settings(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Json<AiSettingsIo>> {
    Ok(Json(out(state.core.ai_settings(&access).await?)))
}

/// Replace the settings; the model's key is stored sealed and never shown again.
#[utoipa::path(put, path = "/v1/ai/settings", tag = "ai", security(("bearer" = [])), request_body = AiSettingsIo,
    responses((status = 200, body = AiSettingsIo), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn put_settings(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<AiSettingsIo>,
) -> ApiResult<Json<AiSettingsIo>> {
    let defaults = AiSettings::default();
    let mut key = KeyChange::Keep;
    let generative = b.generative.map(|g| {
        key = match g.api_key {
            None => KeyChange::Keep,
            Some(None) => KeyChange::Clear,
            Some(Some(k)) if k.is_empty() => KeyChange::Clear,
            Some(Some(k)) => KeyChange::Set(k),
        };
        let d = GenerativeSettings::new(g.base_url, g.model);
        GenerativeSettings {
            stream: g.stream,
            timeout_ms: g.timeout_ms.unwrap_or(d.timeout_ms),
            monthly_token_budget: g.monthly_token_budget.unwrap_or(d.monthly_token_budget),
            max_output_tokens: g.max_output_tokens.unwrap_or(d.max_output_tokens),
            ..d
        }
    });
    if generative.is_none() {
        key = KeyChange::Clear;
    }
    let settings = AiSettings {
        enabled: b.enabled,
        portal_id: b.portal_id,
        locale: b.locale,
        inbox_ids: b.inbox_ids,
        intents: b.intents,
        min_intent_confidence: b
            .min_intent_confidence
            .unwrap_or(defaults.min_intent_confidence),
        min_retrieval_confidence: b
            .min_retrieval_confidence
            .unwrap_or(defaults.min_retrieval_confidence),
        max_turns: b.max_turns.unwrap_or(defaults.max_turns),
        generative,
    };
    let v = state
        .core
        .put_ai_settings(&access, settings, key, &meta)
        .await?;
    Ok(Json(out(v)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// `YYYY-MM` (default: this month, UTC).
    pub month: Option<String>,
}

impl Validate for UsageQuery {}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageOut {
    pub month: String,
    pub tokens: i64,
    pub requests: i64,
    pub monthly_token_budget: Option<i64>,
}

/// Tokens the generative model used in a month, against the budget.
#[utoipa::path(get, path = "/v1/ai/usage", tag = "ai", security(("bearer" = [])), params(UsageQuery),
    responses((status = 200, body = UsageOut), (status = 422, body = crate::error::Problem)))]
async fn usage(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidQuery(q): ValidQuery<UsageQuery>,
) -> ApiResult<Json<UsageOut>> {
    let (month, tokens, requests, budget) =
        state.core.ai_usage(&access, q.month.as_deref()).await?;
    Ok(Json(UsageOut {
        month,
        tokens,
        requests,
        monthly_token_budget: budget,
    }))
}

/// What the AI decided on one customer message.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnswerOut {
    #[schema(value_type = String)]
    pub message_id: MessageId,
    /// `reply`, `resolve`, `handoff` (or `running` while deciding).
    pub action: String,
    #[schema(value_type = Option<String>)]
    pub reply_message_id: Option<MessageId>,
    /// Why: intent and retrieval confidence against the thresholds, the articles found, the
    /// citations, the model, and for a hand-off its reason.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub tokens: i64,
    pub created_at: String,
}

impl From<AiAnswer> for AnswerOut {
    fn from(a: AiAnswer) -> Self {
        Self {
            message_id: a.message_id,
            action: a.action,
            reply_message_id: a.reply_message_id,
            details: a.details,
            tokens: a.tokens,
            created_at: ts(a.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnswerList {
    pub data: Vec<AnswerOut>,
}

/// The AI's decisions on a conversation, oldest first.
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/ai-answers", tag = "ai", security(("bearer" = [])), params(("conversation_id" = String, Path)),
    responses((status = 200, body = AnswerList), (status = 404, body = crate::error::Problem)))]
async fn conversation_answers(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<AnswerList>> {
    let list = state.core.ai_answers(&access, &path_id(&id)?).await?;
    Ok(Json(AnswerList {
        data: list.into_iter().map(Into::into).collect(),
    }))
}
