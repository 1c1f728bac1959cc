//! Triage settings, intent models and a preview: which model understands the tenant's messages,
//! which languages it serves, what makes a message urgent, and how personal data is redacted.

use crate::error::ApiResult;
use crate::extract::{read_body, Meta, Tenant, ValidJson, Validate};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use switchboard_core::triage::{RedactionPolicy, TriageSettings};
use switchboard_core::FieldError;
use switchboard_nlp::pii::{PiiKind, Redaction};
use switchboard_nlp::urgency::UrgencyRules;
use switchboard_store::model::IntentModelRecord;
use switchboard_types::{IntentModelId, MessageTriage};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(list_packs))
        .routes(routes!(list_models))
        .routes(routes!(upload_model, delete_model))
        .routes(routes!(preview))
}

/// How personal data is replaced: `mask` (`[CARD]`), `partial` (`•••• 4242`), `hash` (a keyed
/// hash, the same for the same value within the tenant) or `drop`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RedactionMode {
    Mask,
    Partial,
    Hash,
    Drop,
}

impl From<RedactionMode> for Redaction {
    fn from(m: RedactionMode) -> Self {
        match m {
            RedactionMode::Mask => Self::Mask,
            RedactionMode::Partial => Self::Partial,
            RedactionMode::Hash => Self::Hash,
            RedactionMode::Drop => Self::Drop,
        }
    }
}

impl From<Redaction> for RedactionMode {
    fn from(m: Redaction) -> Self {
        match m {
            Redaction::Mask => Self::Mask,
            Redaction::Partial => Self::Partial,
            Redaction::Hash => Self::Hash,
            Redaction::Drop => Self::Drop,
        }
    }
}

/// Kinds of personal data: `card`, `iban`, `us_ssn`, `phone`, `email`, `ip_address`,
/// `date_of_birth`, `credential`, `health_id`, `postal_address`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RedactionBody {
    /// Redact before storage (HIPAA / PCI mode): the original never reaches the database, the
    /// search index, the logs, the events or a webhook.
    #[serde(default)]
    pub before_storage: bool,
    /// How values are replaced, unless `modes` names their kind.
    #[serde(default = "mask")]
    pub mode: RedactionMode,
    /// Per kind, e.g. `{"card": "partial"}`.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, RedactionMode>)]
    pub modes: BTreeMap<PiiKind, RedactionMode>,
    /// The kinds redacted; empty: all.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub kinds: Vec<PiiKind>,
}

fn mask() -> RedactionMode {
    RedactionMode::Mask
}

/// What makes a message urgent. Terms are words or phrases, matched whole-word after Unicode
/// normalisation; intents are the model's labels.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UrgencyBody {
    pub urgent_terms: Vec<String>,
    pub high_terms: Vec<String>,
    pub urgent_intents: Vec<String>,
    pub high_intents: Vec<String>,
    pub low_intents: Vec<String>,
    /// At or below this sentiment score (in [-1, 1]) a message is at least high.
    pub angry_below: f32,
}

/// A tenant's triage settings. Every field may be left out (its default applies).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TriageSettingsBody {
    /// Off: messages are stored without triage (redaction before storage still applies).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `pack:<name>` (see `GET /v1/triage/packs`) or `custom:<name>` (an uploaded model); null:
    /// no intent.
    #[serde(default)]
    pub model: Option<String>,
    /// A supervised sentiment model (`pack:<name>` or `custom:<name>`, trained with
    /// `switchboard model train` on texts labelled `negative`, `neutral`, `positive`) instead of
    /// the lexicon; null: the lexicon.
    #[serde(default)]
    pub sentiment_model: Option<String>,
    /// The languages served (ISO 639-3, e.g. `eng`, `fra`); empty: any. Helps on short messages.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Absent: the defaults (fraud, outage, … are urgent).
    #[serde(default)]
    pub urgency: Option<UrgencyBody>,
    #[serde(default)]
    pub redaction: Option<RedactionBody>,
}

fn yes() -> bool {
    true
}

impl Validate for TriageSettingsBody {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
}

impl From<TriageSettingsBody> for TriageSettings {
    fn from(b: TriageSettingsBody) -> Self {
        let urgency = b
            .urgency
            .map_or_else(UrgencyRules::default, |u| UrgencyRules {
                urgent_terms: u.urgent_terms,
                high_terms: u.high_terms,
                urgent_intents: u.urgent_intents,
                high_intents: u.high_intents,
                low_intents: u.low_intents,
                angry_below: u.angry_below,
            });
        let redaction = b
            .redaction
            .map_or_else(RedactionPolicy::default, |r| RedactionPolicy {
                before_storage: r.before_storage,
                mode: r.mode.into(),
                modes: r.modes.into_iter().map(|(k, m)| (k, m.into())).collect(),
                kinds: r.kinds,
            });
        Self {
            enabled: b.enabled,
            model: b.model,
            sentiment_model: b.sentiment_model,
            languages: b.languages,
            urgency,
            redaction,
        }
    }
}

impl From<TriageSettings> for TriageSettingsBody {
    fn from(s: TriageSettings) -> Self {
        let u = s.urgency;
        let r = s.redaction;
        Self {
            enabled: s.enabled,
            model: s.model,
            sentiment_model: s.sentiment_model,
            languages: s.languages,
            urgency: Some(UrgencyBody {
                urgent_terms: u.urgent_terms,
                high_terms: u.high_terms,
                urgent_intents: u.urgent_intents,
                high_intents: u.high_intents,
                low_intents: u.low_intents,
                angry_below: u.angry_below,
            }),
            redaction: Some(RedactionBody {
                before_storage: r.before_storage,
                mode: r.mode.into(),
                modes: r.modes.into_iter().map(|(k, m)| (k, m.into())).collect(),
                kinds: r.kinds,
            }),
        }
    }
}

/// The tenant's triage settings (the defaults until an admin saves some).
#[utoipa::path(get, path = "/v1/triage/settings", tag = "triage", security(("bearer" = [])),
    responses((status = 200, body = TriageSettingsBody), (status = 403, body = crate::error::Problem)))]
async fn get_settings(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Json<TriageSettingsBody>> {
    Ok(Json(state.core.triage_settings(&access).await?.into()))
}

/// Replace the tenant's triage settings (admins). They apply to the next message at once on this
/// server and within `triage.settings_ttl_ms` on the others.
#[utoipa::path(put, path = "/v1/triage/settings", tag = "triage", security(("bearer" = [])),
    request_body = TriageSettingsBody,
    responses((status = 200, body = TriageSettingsBody), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn put_settings(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(body): ValidJson<TriageSettingsBody>,
) -> ApiResult<Json<TriageSettingsBody>> {
    let saved = state
        .core
        .put_triage_settings(&access, body.into(), &meta)
        .await?;
    Ok(Json(saved.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PackList {
    /// Names to select as `pack:<name>`.
    pub data: Vec<String>,
}

/// The industry packs installed on this server.
#[utoipa::path(get, path = "/v1/triage/packs", tag = "triage", security(("bearer" = [])),
    responses((status = 200, body = PackList)))]
async fn list_packs(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Json<PackList>> {
    Ok(Json(PackList {
        data: state.core.triage_packs(&access)?,
    }))
}

/// An uploaded intent model.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntentModelOut {
    pub id: IntentModelId,
    /// Select it as `custom:<name>`.
    pub name: String,
    pub sha256: String,
    pub size_bytes: i64,
    /// The intents it knows.
    pub labels: Vec<String>,
    pub created_at: String,
}

impl From<IntentModelRecord> for IntentModelOut {
    fn from(m: IntentModelRecord) -> Self {
        Self {
            id: m.id,
            name: m.name,
            sha256: m.sha256,
            size_bytes: m.size_bytes,
            labels: m.labels,
            created_at: ts(m.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntentModelList {
    pub data: Vec<IntentModelOut>,
}

/// The tenant's uploaded intent models.
#[utoipa::path(get, path = "/v1/triage/models", tag = "triage", security(("bearer" = [])),
    responses((status = 200, body = IntentModelList)))]
async fn list_models(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Json<IntentModelList>> {
    let list = state.core.list_intent_models(&access).await?;
    Ok(Json(IntentModelList {
        data: list.into_iter().map(Into::into).collect(),
    }))
}

/// Upload an intent model trained with `switchboard model train` (the file's bytes as the body),
/// replacing one of the same name (admins). The file is checked by loading it: a corrupt,
/// truncated or foreign file answers 422 and changes nothing. Settings that select
/// `custom:<name>` switch to the new model within the settings cache time.
#[utoipa::path(put, path = "/v1/triage/models/{name}", tag = "triage", security(("bearer" = [])),
    params(("name" = String, Path, description = "1-64 lower-case letters, digits, - and _")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = IntentModelOut, description = "A new model"), (status = 200, body = IntentModelOut, description = "A model replaced"),
        (status = 403, body = crate::error::Problem), (status = 413, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn upload_model(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(name): Path<String>,
    req: Request,
) -> ApiResult<(StatusCode, Json<IntentModelOut>)> {
    if !access.role.can_manage_settings() {
        return Err(switchboard_core::CoreError::Forbidden.into());
    }
    let limit = state.core.triage_model_max_bytes();
    let bytes = read_body(req, limit).await?;
    let up = state
        .core
        .upload_intent_model(&access, &name, bytes.to_vec(), &meta)
        .await?;
    let status = if up.replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(up.record.into())))
}

/// Delete an uploaded model (admins); refused while the settings select it.
#[utoipa::path(delete, path = "/v1/triage/models/{name}", tag = "triage", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 204), (status = 400, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
async fn delete_model(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .core
        .delete_intent_model(&access, &name, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewIn {
    /// A message as a customer would write it.
    pub text: String,
}

impl Validate for PreviewIn {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewOut {
    /// What would be stored (redacted when the policy redacts before storage).
    pub content: String,
    /// Absent when triage is off.
    pub triage: Option<MessageTriage>,
}

/// What triage would store for a message under the current settings; nothing is stored.
#[utoipa::path(post, path = "/v1/triage/preview", tag = "triage", security(("bearer" = [])),
    request_body = PreviewIn,
    responses((status = 200, body = PreviewOut), (status = 422, body = crate::error::Problem)))]
async fn preview(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidJson(body): ValidJson<PreviewIn>,
) -> ApiResult<Json<PreviewOut>> {
    let t = state.core.preview_triage(&access, body.text).await?;
    Ok(Json(PreviewOut {
        content: t.content,
        triage: t.triage,
    }))
}
