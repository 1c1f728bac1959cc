//! The knowledge base: help centres, categories, articles, and search.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Meta, Tenant, ValidJson, ValidQuery, Validate};
use crate::routes::{nullable, path_id, ts};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::kb::{ArticleInput, ArticlePatch, KbHit};
use switchboard_store::model::{KbArticle, KbArticleFilter, KbCategory, KbPortal};
use switchboard_types::{Actor, KbArticleId, KbCategoryId, KbPortalId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_portals, create_portal))
        .routes(routes!(delete_portal))
        .routes(routes!(list_categories, create_category))
        .routes(routes!(delete_category))
        .routes(routes!(list_articles, create_article))
        .routes(routes!(get_article, update_article, delete_article))
        .routes(routes!(search))
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::from(switchboard_core::CoreError::field(field, message))
}

fn id_field<T: std::str::FromStr>(field: &str, raw: Option<String>) -> ApiResult<Option<T>> {
    raw.map(|r| r.parse().map_err(|_| invalid(field, "an id")))
        .transpose()
}

/// A help centre, public at `/hc/<tenant slug>/<slug>`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalOut {
    #[schema(value_type = String)]
    pub id: KbPortalId,
    pub slug: String,
    pub name: String,
    pub default_locale: String,
    pub created_at: String,
}

impl From<KbPortal> for PortalOut {
    fn from(p: KbPortal) -> Self {
        Self {
            id: p.id,
            slug: p.slug,
            name: p.name,
            default_locale: p.default_locale,
            created_at: ts(p.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PortalList {
    pub data: Vec<PortalOut>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalIn {
    /// Lower-case letters, digits and hyphens.
    pub slug: String,
    pub name: String,
    /// A language tag such as `en` (default `en`).
    #[serde(default = "english")]
    pub default_locale: String,
}

fn english() -> String {
    "en".to_owned()
}

impl Validate for PortalIn {}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryOut {
    #[schema(value_type = String)]
    pub id: KbCategoryId,
    #[schema(value_type = String)]
    pub portal_id: KbPortalId,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub position: i64,
}

impl From<KbCategory> for CategoryOut {
    fn from(c: KbCategory) -> Self {
        Self {
            id: c.id,
            portal_id: c.portal_id,
            slug: c.slug,
            name: c.name,
            description: c.description,
            position: c.position,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryList {
    pub data: Vec<CategoryOut>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryIn {
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub position: Option<i64>,
}

impl Validate for CategoryIn {}

/// An article in one locale.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleOut {
    #[schema(value_type = String)]
    pub id: KbArticleId,
    #[schema(value_type = String)]
    pub portal_id: KbPortalId,
    #[schema(value_type = Option<String>)]
    pub category_id: Option<KbCategoryId>,
    pub locale: String,
    pub slug: String,
    pub title: String,
    /// Markdown.
    pub body: String,
    /// `draft`, `published` or `archived`.
    pub status: String,
    #[schema(value_type = Option<String>)]
    pub translation_of: Option<KbArticleId>,
    #[schema(value_type = Object)]
    pub author: Actor,
    /// Readers who said it helped, or did not.
    pub helpful: i64,
    pub not_helpful: i64,
    pub views: i64,
    pub created_at: String,
    pub updated_at: String,
    pub published_at: Option<String>,
}

impl From<KbArticle> for ArticleOut {
    fn from(a: KbArticle) -> Self {
        Self {
            id: a.id,
            portal_id: a.portal_id,
            category_id: a.category_id,
            locale: a.locale,
            slug: a.slug,
            title: a.title,
            body: a.body,
            status: a.status,
            translation_of: a.translation_of,
            author: a.author,
            helpful: a.helpful,
            not_helpful: a.not_helpful,
            views: a.views,
            created_at: ts(a.created_at),
            updated_at: ts(a.updated_at),
            published_at: a.published_at.map(ts),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleList {
    pub data: Vec<ArticleOut>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleIn {
    pub portal_id: String,
    pub category_id: Option<String>,
    /// Default: the help centre's default locale.
    pub locale: Option<String>,
    /// Default: made from the title.
    pub slug: Option<String>,
    pub title: String,
    /// Markdown (at most 200 KiB; raw HTML is shown as text).
    #[serde(default)]
    pub body: String,
    /// `draft` (default), `published` or `archived`.
    pub status: Option<String>,
    /// The article (in another locale) this one translates.
    pub translation_of: Option<String>,
}

impl Validate for ArticleIn {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticlePatchIn {
    /// `null` removes it from its category.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub category_id: Option<Option<String>>,
    pub slug: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub status: Option<String>,
}

impl Validate for ArticlePatchIn {}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ArticleQuery {
    pub portal_id: Option<String>,
    pub category_id: Option<String>,
    pub locale: Option<String>,
    /// `draft`, `published` or `archived`.
    pub status: Option<String>,
    /// 1–1000 (default 200).
    pub limit: Option<i64>,
}

impl Validate for ArticleQuery {}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// What to look for (1–1,000 characters).
    pub q: String,
    pub portal_id: Option<String>,
    pub locale: Option<String>,
    /// 1–50 (default 5).
    pub limit: Option<usize>,
}

impl Validate for SearchQuery {}

/// A search result: the article, the section that matched, and retrieval's confidence.
#[derive(Debug, Serialize, ToSchema)]
pub struct HitOut {
    #[schema(value_type = String)]
    pub article_id: KbArticleId,
    #[schema(value_type = String)]
    pub portal_id: KbPortalId,
    pub locale: String,
    pub slug: String,
    pub title: String,
    pub heading: Option<String>,
    pub snippet: String,
    pub score: f32,
    /// 0–1: how clearly this article, and no other, answers (only the first hit can be
    /// above 0; see docs/knowledge-base.md).
    pub confidence: f32,
}

impl From<KbHit> for HitOut {
    fn from(h: KbHit) -> Self {
        Self {
            article_id: h.article_id,
            portal_id: h.portal_id,
            locale: h.locale,
            slug: h.slug,
            title: h.title,
            heading: h.heading,
            snippet: h.snippet,
            score: h.score,
            confidence: h.confidence,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HitList {
    pub data: Vec<HitOut>,
}

#[utoipa::path(get, path = "/v1/kb/portals", tag = "knowledge-base", security(("bearer" = [])),
    responses((status = 200, body = PortalList)))]
async fn list_portals(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<Json<PortalList>> {
    let list = state.core.list_kb_portals(&access).await?;
    Ok(Json(PortalList {
        data: list.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/kb/portals", tag = "knowledge-base", security(("bearer" = [])), request_body = PortalIn,
    responses((status = 201, body = PortalOut), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_portal(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<PortalIn>,
) -> ApiResult<(StatusCode, Json<PortalOut>)> {
    let p = state
        .core
        .create_kb_portal(&access, &b.slug, &b.name, &b.default_locale, &meta)
        .await?;
    Ok((StatusCode::CREATED, Json(p.into())))
}

/// Deletes a help centre with its categories and articles.
#[utoipa::path(delete, path = "/v1/kb/portals/{portal_id}", tag = "knowledge-base", security(("bearer" = [])), params(("portal_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_portal(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .core
        .delete_kb_portal(&access, &path_id(&id)?, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/kb/portals/{portal_id}/categories", tag = "knowledge-base", security(("bearer" = [])), params(("portal_id" = String, Path)),
    responses((status = 200, body = CategoryList), (status = 404, body = crate::error::Problem)))]
async fn list_categories(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<CategoryList>> {
    let list = state
        .core
        .list_kb_categories(&access, &path_id(&id)?)
        .await?;
    Ok(Json(CategoryList {
        data: list.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/kb/portals/{portal_id}/categories", tag = "knowledge-base", security(("bearer" = [])), params(("portal_id" = String, Path)), request_body = CategoryIn,
    responses((status = 201, body = CategoryOut), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_category(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<CategoryIn>,
) -> ApiResult<(StatusCode, Json<CategoryOut>)> {
    let c = state
        .core
        .create_kb_category(
            &access,
            &path_id(&id)?,
            &b.slug,
            &b.name,
            &b.description,
            b.position,
            &meta,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// Deletes a category; its articles stay, uncategorised.
#[utoipa::path(delete, path = "/v1/kb/categories/{category_id}", tag = "knowledge-base", security(("bearer" = [])), params(("category_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_category(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .core
        .delete_kb_category(&access, &path_id(&id)?, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/kb/articles", tag = "knowledge-base", security(("bearer" = [])), params(ArticleQuery),
    responses((status = 200, body = ArticleList), (status = 422, body = crate::error::Problem)))]
async fn list_articles(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidQuery(q): ValidQuery<ArticleQuery>,
) -> ApiResult<Json<ArticleList>> {
    let limit = q.limit.unwrap_or(200);
    if !(1..=1_000).contains(&limit) {
        return Err(invalid("limit", "between 1 and 1000"));
    }
    let filter = KbArticleFilter {
        portal_id: id_field("portal_id", q.portal_id)?,
        category_id: id_field("category_id", q.category_id)?,
        locale: q.locale,
        status: q.status,
        limit,
    };
    let list = state.core.list_kb_articles(&access, filter).await?;
    Ok(Json(ArticleList {
        data: list.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/kb/articles", tag = "knowledge-base", security(("bearer" = [])), request_body = ArticleIn,
    responses((status = 201, body = ArticleOut), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_article(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<ArticleIn>,
) -> ApiResult<(StatusCode, Json<ArticleOut>)> {
    let input = ArticleInput {
        portal_id: Some(
            b.portal_id
                .parse()
                .map_err(|_| invalid("portal_id", "a help-centre id"))?,
        ),
        category_id: id_field("category_id", b.category_id)?,
        locale: b.locale,
        slug: b.slug,
        title: b.title,
        body: b.body,
        status: b.status,
        translation_of: id_field("translation_of", b.translation_of)?,
    };
    let a = state.core.create_kb_article(&access, input, &meta).await?;
    Ok((StatusCode::CREATED, Json(a.into())))
}

#[utoipa::path(get, path = "/v1/kb/articles/{article_id}", tag = "knowledge-base", security(("bearer" = [])), params(("article_id" = String, Path)),
    responses((status = 200, body = ArticleOut), (status = 404, body = crate::error::Problem)))]
async fn get_article(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<ArticleOut>> {
    let a = state.core.get_kb_article(&access, &path_id(&id)?).await?;
    Ok(Json(a.into()))
}

/// Edit, publish (`status: published`), unpublish or archive.
#[utoipa::path(patch, path = "/v1/kb/articles/{article_id}", tag = "knowledge-base", security(("bearer" = [])), params(("article_id" = String, Path)), request_body = ArticlePatchIn,
    responses((status = 200, body = ArticleOut), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn update_article(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<ArticlePatchIn>,
) -> ApiResult<Json<ArticleOut>> {
    let category_id = match b.category_id {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => Some(Some(
            raw.parse()
                .map_err(|_| invalid("category_id", "a category id"))?,
        )),
    };
    let patch = ArticlePatch {
        category_id,
        slug: b.slug,
        title: b.title,
        body: b.body,
        status: b.status,
    };
    let a = state
        .core
        .update_kb_article(&access, &path_id(&id)?, patch, &meta)
        .await?;
    Ok(Json(a.into()))
}

#[utoipa::path(delete, path = "/v1/kb/articles/{article_id}", tag = "knowledge-base", security(("bearer" = [])), params(("article_id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_article(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .core
        .delete_kb_article(&access, &path_id(&id)?, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Published articles matching `q`, best first (BM25 over article sections).
#[utoipa::path(get, path = "/v1/kb/search", tag = "knowledge-base", security(("bearer" = [])), params(SearchQuery),
    responses((status = 200, body = HitList), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn search(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidQuery(q): ValidQuery<SearchQuery>,
) -> ApiResult<Json<HitList>> {
    let portal: Option<KbPortalId> = id_field("portal_id", q.portal_id)?;
    let limit = q.limit.unwrap_or(5);
    if !(1..=50).contains(&limit) {
        return Err(invalid("limit", "between 1 and 50"));
    }
    let hits = state
        .core
        .search_kb(&access, &q.q, portal.as_ref(), q.locale.as_deref(), limit)
        .await?;
    Ok(Json(HitList {
        data: hits.into_iter().map(Into::into).collect(),
    }))
}
