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
use switchboard_types::{
    ConversationStatus, InboxId, LabelId, SentimentLabel, UrgencyLevel, UserId,
};
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
    /// Words to find; results contain all of them. May be left out on message and conversation
    /// searches that filter on triage (`intent`, `language`, `sentiment`, `urgency`, `has_pii`).
    #[serde(default)]
    pub q: String,
    pub status: Option<ConversationStatus>,
    pub inbox_id: Option<InboxId>,
    pub assignee_id: Option<UserId>,
    pub label_id: Option<LabelId>,
    /// RFC 3339: messages from then on.
    pub since: Option<String>,
    /// RFC 3339: messages before then.
    pub until: Option<String>,
    /// Messages triaged with this intent (`oos`: out of scope).
    pub intent: Option<String>,
    /// Messages in this language (ISO 639-3, e.g. `eng`; `und`: undetermined).
    pub language: Option<String>,
    pub sentiment: Option<SentimentLabel>,
    pub urgency: Option<UrgencyLevel>,
    /// Messages with (true) or without (false) personal data found.
    pub has_pii: Option<bool>,
    /// 1-200, default 50.
    pub limit: Option<i64>,
}

impl Validate for SearchParams {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        if !(self.q.is_empty() && self.filters_on_triage()) {
            if let Err(switchboard_core::CoreError::Validation(v)) = terms(&self.q) {
                e.extend(v);
            }
        }
        if self.intent.as_deref().is_some_and(|i| {
            i.is_empty() || i.chars().count() > 100 || i.chars().any(char::is_control)
        }) {
            e.push(FieldError::new("intent", "1 to 100 characters"));
        }
        if self
            .language
            .as_deref()
            .is_some_and(|l| l.len() != 3 || !l.bytes().all(|b| b.is_ascii_lowercase()))
        {
            e.push(FieldError::new("language", "an ISO 639-3 code such as eng"));
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
    fn filters_on_triage(&self) -> bool {
        self.intent.is_some()
            || self.language.is_some()
            || self.sentiment.is_some()
            || self.urgency.is_some()
            || self.has_pii.is_some()
    }

    fn query(&self) -> ApiResult<SearchQuery> {
        Ok(SearchQuery {
            terms: if self.q.is_empty() && self.filters_on_triage() {
                Vec::new()
            } else {
                terms(&self.q)?
            },
            status: self.status,
            inbox_id: self.inbox_id.clone(),
            assignee_id: self.assignee_id.clone(),
            label_id: self.label_id.clone(),
            since: self.since.as_deref().and_then(parse_rfc3339),
            until: self.until.as_deref().and_then(parse_rfc3339),
            intent: self.intent.clone(),
            language: self.language.clone(),
            sentiment: self.sentiment,
            urgency: self.urgency,
            has_pii: self.has_pii,
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

/// Messages (and notes) containing every word and matching the filters, newest first.
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
    if q.terms.is_empty() {
        return Err(switchboard_core::CoreError::field("q", "type at least one word").into());
    }
    let hits = state
        .core
        .search_contacts(&access, &q.terms, q.limit)
        .await?;
    Ok(Json(ContactHits {
        data: hits.into_iter().map(Into::into).collect(),
    }))
}
