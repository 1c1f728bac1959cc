//! Full-text search.

use crate::error::ApiResult;
use crate::extract::{Tenant, ValidQuery, Validate};
use crate::routes::contacts::ContactOut;
use crate::routes::conversations::{ConversationOut, MessageOut};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::clock::parse_rfc3339;
use switchboard_core::search::terms;
use switchboard_core::FieldError;
use switchboard_store::model::SearchQuery;
use switchboard_types::{ConversationStatus, InboxId, LabelId, UserId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_messages))
        .routes(routes!(search_conversations))
        .routes(routes!(search_contacts))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Words to find; results contain all of them.
    pub q: String,
    pub status: Option<ConversationStatus>,
    pub inbox_id: Option<InboxId>,
    pub assignee_id: Option<UserId>,
    pub label_id: Option<LabelId>,
    /// RFC 3339: messages from then on.
    pub since: Option<String>,
    /// RFC 3339: messages before then.
    pub until: Option<String>,
    /// 1-200, default 50.
    pub limit: Option<i64>,
}

impl Validate for SearchParams {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        if let Err(switchboard_core::CoreError::Validation(v)) = terms(&self.q) {
            e.extend(v);
        }
        for (name, v) in [("since", &self.since), ("until", &self.until)] {
            if v.as_deref().is_some_and(|s| parse_rfc3339(s).is_none()) {
                e.push(FieldError::new(name, "must be an RFC 3339 timestamp"));
            }
        }
        if self.limit.is_some_and(|n| !(1..=200).contains(&n)) {
            e.push(FieldError::new("limit", "must be between 1 and 200"));
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }
}

impl SearchParams {
    fn query(&self) -> ApiResult<SearchQuery> {
        Ok(SearchQuery {
            terms: terms(&self.q)?,
            status: self.status,
            inbox_id: self.inbox_id.clone(),
            assignee_id: self.assignee_id.clone(),
            label_id: self.label_id.clone(),
            since: self.since.as_deref().and_then(parse_rfc3339),
            until: self.until.as_deref().and_then(parse_rfc3339),
            limit: self.limit.unwrap_or(50),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageHits {
    pub data: Vec<MessageOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationHits {
    pub data: Vec<ConversationOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactHits {
    pub data: Vec<ContactOut>,
}

/// Messages (and notes) containing every word, newest first.
#[utoipa::path(get, path = "/v1/search/messages", tag = "conversations", security(("bearer" = [])), params(SearchParams),
    responses((status = 200, body = MessageHits), (status = 422, body = crate::error::Problem)))]
async fn search_messages(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidQuery(p): ValidQuery<SearchParams>,
) -> ApiResult<Json<MessageHits>> {
    let hits = state.core.search_messages(&access, p.query()?).await?;
    Ok(Json(MessageHits {
        data: hits.into_iter().map(Into::into).collect(),
    }))
}

/// Conversations with a message containing every word, most recent match first.
#[utoipa::path(get, path = "/v1/search/conversations", tag = "conversations", security(("bearer" = [])), params(SearchParams),
    responses((status = 200, body = ConversationHits), (status = 422, body = crate::error::Problem)))]
async fn search_conversations(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidQuery(p): ValidQuery<SearchParams>,
) -> ApiResult<Json<ConversationHits>> {
    let hits = state.core.search_conversations(&access, p.query()?).await?;
    Ok(Json(ConversationHits {
        data: hits.into_iter().map(Into::into).collect(),
    }))
}

/// Contacts whose name, email, phone or external id contain every word.
#[utoipa::path(get, path = "/v1/search/contacts", tag = "contacts", security(("bearer" = [])), params(SearchParams),
    responses((status = 200, body = ContactHits), (status = 422, body = crate::error::Problem)))]
async fn search_contacts(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidQuery(p): ValidQuery<SearchParams>,
) -> ApiResult<Json<ContactHits>> {
    let q = p.query()?;
    let hits = state
        .core
        .search_contacts(&access, &q.terms, q.limit)
        .await?;
    Ok(Json(ContactHits {
        data: hits.into_iter().map(Into::into).collect(),
    }))
}
