//! Automation rules: CRUD, their run log, and dry runs against a message.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Meta, Tenant, ValidJson, ValidQuery, Validate};
use crate::routes::{path_id, ts};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::automation::rules::{Action, Condition, Definition, Trigger};
use switchboard_core::automation::{RuleInput, RulePatch};
use switchboard_store::model::{AutomationRule, AutomationRun};
use switchboard_types::{AutomationRuleId, AutomationRunId, ConversationId, MessageId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(get_rule, update_rule, delete_rule))
        .routes(routes!(rule_runs))
        .routes(routes!(conversation_runs))
        .routes(routes!(dry_run))
}

/// A rule: a trigger, conditions and ordered actions (see docs/automation.md for every field,
/// operator and action).
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleOut {
    #[schema(value_type = String)]
    pub id: AutomationRuleId,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    /// Rules run in ascending position.
    pub position: i64,
    /// `{"type": "message_created"}`, …, `{"type": "time_based", "idle_minutes": 60}`.
    #[schema(value_type = Object)]
    pub trigger: serde_json::Value,
    /// A field condition `{"field", "op", "value"}` or a group `{"all": […]}` / `{"any": […]}`.
    #[schema(value_type = Option<Object>)]
    pub conditions: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    pub actions: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<AutomationRule> for RuleOut {
    fn from(r: AutomationRule) -> Self {
        let part = |k: &str| r.definition.get(k).cloned().unwrap_or_default();
        Self {
            trigger: part("trigger"),
            conditions: part("conditions"),
            actions: part("actions"),
            id: r.id,
            name: r.name,
            description: r.description,
            enabled: r.enabled,
            position: r.position,
            created_at: ts(r.created_at),
            updated_at: ts(r.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    pub data: Vec<RuleOut>,
}

/// A rule to save (owner, admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleIn {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Default: after the last rule.
    pub position: Option<i64>,
    #[schema(value_type = Object)]
    pub trigger: Trigger,
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub conditions: Option<Condition>,
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<Action>,
}

fn yes() -> bool {
    true
}

impl Validate for RuleIn {}

/// Fields to change; absent ones stay. `trigger`, `conditions` and `actions` are replaced
/// together when `actions` is given.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulePatchIn {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub position: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub trigger: Option<Trigger>,
    #[schema(value_type = Option<Object>)]
    pub conditions: Option<Condition>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub actions: Option<Vec<Action>>,
}

impl Validate for RulePatchIn {}

/// What a rule did on one event (or one quiet spell of a conversation).
#[derive(Debug, Serialize, ToSchema)]
pub struct RunOut {
    #[schema(value_type = String)]
    pub id: AutomationRunId,
    #[schema(value_type = String)]
    pub rule_id: AutomationRuleId,
    /// The event that set it off, or `idle:<conversation>:<ms>` for time-based rules.
    pub occasion: String,
    #[schema(value_type = Option<String>)]
    pub conversation_id: Option<ConversationId>,
    /// 0 when a person, customer or the system caused the event; n + 1 when a rule at depth n did.
    pub depth: i64,
    /// `running`, `applied`, `failed` or `loop_limit`.
    pub outcome: String,
    /// Each action with `ok` and, when it failed, `error`.
    #[schema(value_type = Vec<Object>)]
    pub actions: serde_json::Value,
    pub error: Option<String>,
    pub created_at: String,
}

impl From<AutomationRun> for RunOut {
    fn from(r: AutomationRun) -> Self {
        Self {
            id: r.id,
            rule_id: r.rule_id,
            occasion: r.event_id,
            conversation_id: r.conversation_id,
            depth: r.depth,
            outcome: r.outcome,
            actions: r.actions,
            error: r.error,
            created_at: ts(r.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunPage {
    pub data: Vec<RunOut>,
    /// Pass as `before` for older runs.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunQuery {
    /// A run id from `next_cursor`: older runs.
    pub before: Option<String>,
    /// 1–200 (default 50).
    pub limit: Option<i64>,
}

impl Validate for RunQuery {}

/// A message to test rules against: every saved `message_created` rule, or the unsaved `rule`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunIn {
    pub message_id: String,
    /// `{"trigger", "conditions", "actions"}` of a rule being written.
    #[schema(value_type = Option<Object>)]
    pub rule: Option<Definition>,
}

impl Validate for DryRunIn {}

#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunOut {
    /// Per rule: `would_fire`, each condition tested with what the field held, the actions.
    #[schema(value_type = Vec<Object>)]
    pub data: serde_json::Value,
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::from(switchboard_core::CoreError::field(field, message))
}

#[utoipa::path(get, path = "/v1/automation/rules", tag = "automation", security(("bearer" = [])),
    responses((status = 200, body = RuleList), (status = 403, body = crate::error::Problem)))]
async fn list_rules(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Json<RuleList>> {
    let list = state.core.list_automation_rules(&access).await?;
    Ok(Json(RuleList {
        data: list.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/automation/rules", tag = "automation", security(("bearer" = [])), request_body = RuleIn,
    responses((status = 201, body = RuleOut), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_rule(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<RuleIn>,
) -> ApiResult<(StatusCode, Json<RuleOut>)> {
    let input = RuleInput {
        name: b.name,
        description: b.description,
        enabled: b.enabled,
        position: b.position,
        definition: Definition {
            trigger: b.trigger,
            conditions: b.conditions,
            actions: b.actions,
        },
    };
    let rule = state
        .core
        .create_automation_rule(&access, input, &meta)
        .await?;
    Ok((StatusCode::CREATED, Json(rule.into())))
}

#[utoipa::path(get, path = "/v1/automation/rules/{rule_id}", tag = "automation", security(("bearer" = [])), params(("rule_id" = String, Path)),
    responses((status = 200, body = RuleOut), (status = 404, body = crate::error::Problem)))]
async fn get_rule(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<RuleOut>> {
    let rule = state
        .core
        .get_automation_rule(&access, &path_id(&id)?)
        .await?;
    Ok(Json(rule.into()))
}

#[utoipa::path(patch, path = "/v1/automation/rules/{rule_id}", tag = "automation", security(("bearer" = [])), params(("rule_id" = String, Path)), request_body = RulePatchIn,
    responses((status = 200, body = RuleOut), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn update_rule(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<RulePatchIn>,
) -> ApiResult<Json<RuleOut>> {
    let id: AutomationRuleId = path_id(&id)?;
    let definition =
        match (b.trigger, b.conditions, b.actions) {
            (None, None, None) => None,
            (Some(trigger), conditions, Some(actions)) => Some(Definition {
                trigger,
                conditions,
                actions,
            }),
            _ => return Err(invalid(
                "actions",
                "trigger, conditions and actions are replaced together: send trigger and actions",
            )),
        };
    let patch = RulePatch {
        name: b.name,
        description: b.description,
        enabled: b.enabled,
        position: b.position,
        definition,
    };
    let rule = state
        .core
        .update_automation_rule(&access, &id, patch, &meta)
        .await?;
    Ok(Json(rule.into()))
}

#[utoipa::path(delete, path = "/v1/automation/rules/{rule_id}", tag = "automation", security(("bearer" = [])), params(("rule_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_rule(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .core
        .delete_automation_rule(&access, &path_id(&id)?, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn runs_page(
    state: &AppState,
    access: &switchboard_core::TenantAccess,
    rule: Option<&AutomationRuleId>,
    conversation: Option<&ConversationId>,
    q: RunQuery,
) -> ApiResult<Json<RunPage>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(invalid("limit", "between 1 and 200"));
    }
    let before: Option<AutomationRunId> = match q.before {
        Some(b) => Some(b.parse().map_err(|_| invalid("before", "a run id"))?),
        None => None,
    };
    let mut rows = state
        .core
        .automation_runs(access, rule, conversation, before, limit + 1)
        .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(50));
    let next_cursor = more
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(Json(RunPage {
        data: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// A rule's runs, newest first.
#[utoipa::path(get, path = "/v1/automation/rules/{rule_id}/runs", tag = "automation", security(("bearer" = [])), params(("rule_id" = String, Path), RunQuery),
    responses((status = 200, body = RunPage), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn rule_runs(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
    ValidQuery(q): ValidQuery<RunQuery>,
) -> ApiResult<Json<RunPage>> {
    let id: AutomationRuleId = path_id(&id)?;
    runs_page(&state, &access, Some(&id), None, q).await
}

/// What rules did to a conversation, newest first (agents may ask why something happened).
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/automation-runs", tag = "automation", security(("bearer" = [])), params(("conversation_id" = String, Path), RunQuery),
    responses((status = 200, body = RunPage), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn conversation_runs(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
    ValidQuery(q): ValidQuery<RunQuery>,
) -> ApiResult<Json<RunPage>> {
    let id: ConversationId = path_id(&id)?;
    runs_page(&state, &access, None, Some(&id), q).await
}

/// Which rules would fire for a message, condition by condition, without doing anything.
#[utoipa::path(post, path = "/v1/automation/dry-run", tag = "automation", security(("bearer" = [])), request_body = DryRunIn,
    responses((status = 200, body = DryRunOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn dry_run(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidJson(b): ValidJson<DryRunIn>,
) -> ApiResult<Json<DryRunOut>> {
    let message: MessageId = b
        .message_id
        .parse()
        .map_err(|_| invalid("message_id", "a message id"))?;
    let verdicts = state
        .core
        .dry_run_automation(&access, &message, b.rule)
        .await?;
    Ok(Json(DryRunOut {
        data: serde_json::to_value(verdicts).unwrap_or_default(),
    }))
}
