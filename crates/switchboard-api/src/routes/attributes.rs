//! Custom attribute definitions.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Meta, Tenant, ValidJson, ValidQuery, Validate};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::attributes::NewAttribute;
use switchboard_store::model::AttributeDefinition;
use switchboard_types::{AttributeId, AttributeKind, AttributeTarget};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_attributes, create_attribute))
        .routes(routes!(delete_attribute))
}

/// A typed custom attribute.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttributeOut {
    pub id: AttributeId,
    pub applies_to: AttributeTarget,
    #[schema(example = "plan")]
    pub key: String,
    pub label: String,
    pub kind: AttributeKind,
    pub options: Vec<String>,
    pub created_at: String,
}

impl From<AttributeDefinition> for AttributeOut {
    fn from(d: AttributeDefinition) -> Self {
        Self {
            id: d.id,
            applies_to: d.applies_to,
            key: d.key,
            label: d.label,
            kind: d.kind,
            options: d.options,
            created_at: ts(d.created_at),
        }
    }
}

/// A definition to create (owner, admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeIn {
    pub applies_to: AttributeTarget,
    /// 1-64 characters of a-z, 0-9 and _, starting with a letter; unique per target.
    pub key: String,
    pub label: String,
    pub kind: AttributeKind,
    /// The allowed values of a `list` attribute.
    #[serde(default)]
    pub options: Vec<String>,
}

impl Validate for AttributeIn {}

/// The list wrapper.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttributeList {
    pub data: Vec<AttributeOut>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AttributeQuery {
    pub applies_to: Option<AttributeTarget>,
}

impl Validate for AttributeQuery {}

/// List attribute definitions.
#[utoipa::path(get, path = "/v1/attribute-definitions", tag = "contacts", security(("bearer" = [])), params(AttributeQuery),
    responses((status = 200, body = AttributeList)))]
async fn list_attributes(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidQuery(q): ValidQuery<AttributeQuery>,
) -> ApiResult<Json<AttributeList>> {
    let defs = state.core.list_attributes(&access, q.applies_to).await?;
    Ok(Json(AttributeList {
        data: defs.into_iter().map(Into::into).collect(),
    }))
}

/// Define a custom attribute.
#[utoipa::path(post, path = "/v1/attribute-definitions", tag = "contacts", security(("bearer" = [])), request_body = AttributeIn,
    responses((status = 201, body = AttributeOut), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_attribute(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<AttributeIn>,
) -> ApiResult<(StatusCode, Json<AttributeOut>)> {
    let input = NewAttribute {
        applies_to: b.applies_to,
        key: b.key,
        label: b.label,
        kind: b.kind,
        options: b.options,
    };
    let d = state.core.create_attribute(&access, input, &meta).await?;
    Ok((StatusCode::CREATED, Json(d.into())))
}

/// Delete a definition: stored values stay, new ones under its key are refused.
#[utoipa::path(delete, path = "/v1/attribute-definitions/{attribute_id}", tag = "contacts", security(("bearer" = [])), params(("attribute_id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
async fn delete_attribute(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: AttributeId = id.parse().map_err(|_| ApiError::not_found())?;
    state.core.delete_attribute(&access, &id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
