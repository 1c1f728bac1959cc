//! The knowledge base: help centres (portals) → categories → articles, each article in one
//! locale (Markdown, draft / published / archived, a slug per portal and locale, translations
//! linked to the article they translate), readers' feedback, and search (our BM25 over article
//! sections, `switchboard_nlp::retrieval`) for agents, the public help centre and AI answers.

mod index;
mod public;

pub use index::{KbHit, KbIndexCache};

pub use public::PublicPortal;

use crate::audit::RequestMeta;
use crate::error::{CoreError, CoreResult, FieldError};
use crate::{changes, validate, Core, TenantAccess};
use serde_json::json;
use switchboard_store::model::{KbArticle, KbArticleFilter, KbCategory, KbPortal};
use switchboard_store::Access;
use switchboard_types::{KbArticleId, KbCategoryId, KbPortalId};

/// Largest article body.
pub const MAX_BODY_BYTES: usize = 200 * 1024;
/// Most articles per tenant (what one search index holds).
const MAX_ARTICLES: i64 = 10_000;
/// Most portals per tenant.
const MAX_PORTALS: usize = 20;

/// Lower-case letters, digits and inner hyphens, 1–100 characters (an address segment).
fn check_slug(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    let ok = (1..=100).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !ok {
        errors.push(FieldError::new(
            field,
            "1-100 lower-case letters, digits or hyphens, not starting or ending with a hyphen",
        ));
    }
}

/// A BCP 47 language tag of the simple kind help centres use: `en`, `pt-BR`, `zh-Hant`.
pub fn is_locale(value: &str) -> bool {
    let mut parts = value.split('-');
    let lang_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase()));
    lang_ok
        && value.len() <= 35
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn check_locale(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    if !is_locale(value) {
        errors.push(FieldError::new(field, "a language tag such as en or pt-BR"));
    }
}

/// A slug made from a title: `How do I get a refund?` → `how-do-i-get-a-refund`.
pub fn slugify(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 80 {
            break;
        }
    }
    let trimmed = out.trim_matches('-').to_owned();
    if trimmed.is_empty() {
        "article".to_owned()
    } else {
        trimmed
    }
}

const STATUSES: &[&str] = &["draft", "published", "archived"];

/// An article as written.
#[derive(Debug, Clone, Default)]
pub struct ArticleInput {
    pub portal_id: Option<KbPortalId>,
    pub category_id: Option<KbCategoryId>,
    /// Default: the portal's default locale.
    pub locale: Option<String>,
    /// Default: from the title.
    pub slug: Option<String>,
    pub title: String,
    pub body: String,
    /// Default `draft`.
    pub status: Option<String>,
    pub translation_of: Option<KbArticleId>,
}

/// A change to an article; absent fields stay (`category_id: Some(None)` clears it).
#[derive(Debug, Clone, Default)]
pub struct ArticlePatch {
    pub category_id: Option<Option<KbCategoryId>>,
    pub slug: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub status: Option<String>,
}

fn check_article_text(title: &str, body: &str, status: &str, errors: &mut Vec<FieldError>) {
    let t = title.trim();
    if t.is_empty() || t.chars().count() > 300 || title.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "title",
            "1-300 characters, no control characters",
        ));
    }
    if body.len() > MAX_BODY_BYTES || body.contains('\0') {
        errors.push(FieldError::new("body", "at most 200 KiB of Markdown"));
    }
    if !STATUSES.contains(&status) {
        errors.push(FieldError::new("status", "draft, published or archived"));
    }
}

fn article_event(a: &KbArticle) -> serde_json::Value {
    json!({"article_id": a.id, "portal_id": a.portal_id, "locale": a.locale, "slug": a.slug,
           "title": a.title, "status": a.status})
}

impl Core {
    /// Creates a help centre (owner, admin).
    pub async fn create_kb_portal(
        &self,
        access: &TenantAccess,
        slug: &str,
        name: &str,
        default_locale: &str,
        meta: &RequestMeta,
    ) -> CoreResult<KbPortal> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        check_slug("slug", slug, &mut errors);
        validate::name("name", name, &mut errors);
        check_locale("default_locale", default_locale, &mut errors);
        validate::finish(errors)?;
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        if tx.list_kb_portals().await?.len() >= MAX_PORTALS {
            return Err(CoreError::field(
                "slug",
                "at most 20 help centres per tenant",
            ));
        }
        let p = KbPortal {
            id: KbPortalId::generate(),
            slug: slug.to_owned(),
            name: name.trim().to_owned(),
            default_locale: default_locale.to_owned(),
            created_at: now,
            updated_at: now,
        };
        tx.insert_kb_portal(&p)
            .await
            .map_err(|e| crate::tenants::conflict(e, "a help centre with this slug"))?;
        changes::record(
            &mut *tx,
            meta,
            "kb_portal.created",
            "kb_portal",
            p.id.to_string(),
            json!({"portal_id": p.id, "slug": p.slug, "name": p.name, "default_locale": p.default_locale}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(p)
    }

    /// The tenant's help centres (anyone who reads conversations).
    pub async fn list_kb_portals(&self, access: &TenantAccess) -> CoreResult<Vec<KbPortal>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        Ok(tx.list_kb_portals().await?)
    }

    /// Deletes a help centre with its categories and articles (owner, admin).
    pub async fn delete_kb_portal(
        &self,
        access: &TenantAccess,
        id: &KbPortalId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        if !tx.delete_kb_portal(id).await? {
            return Err(CoreError::NotFound);
        }
        changes::record(
            &mut *tx,
            meta,
            "kb_portal.deleted",
            "kb_portal",
            id.to_string(),
            json!({"portal_id": id}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a category to a help centre (owner, admin).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_kb_category(
        &self,
        access: &TenantAccess,
        portal: &KbPortalId,
        slug: &str,
        name: &str,
        description: &str,
        position: Option<i64>,
        meta: &RequestMeta,
    ) -> CoreResult<KbCategory> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        check_slug("slug", slug, &mut errors);
        validate::name("name", name, &mut errors);
        if description.chars().count() > 1_000 {
            errors.push(FieldError::new("description", "at most 1,000 characters"));
        }
        validate::finish(errors)?;
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        tx.get_kb_portal(portal).await?.ok_or(CoreError::NotFound)?;
        let existing = tx.list_kb_categories(portal).await?;
        let c = KbCategory {
            id: KbCategoryId::generate(),
            portal_id: portal.clone(),
            slug: slug.to_owned(),
            name: name.trim().to_owned(),
            description: description.trim().to_owned(),
            position: position
                .unwrap_or_else(|| existing.iter().map(|c| c.position).max().unwrap_or(0) + 10),
            created_at: now,
            updated_at: now,
        };
        tx.insert_kb_category(&c)
            .await
            .map_err(|e| crate::tenants::conflict(e, "a category with this slug"))?;
        changes::record(
            &mut *tx,
            meta,
            "kb_category.created",
            "kb_category",
            c.id.to_string(),
            json!({"category_id": c.id, "portal_id": c.portal_id, "slug": c.slug, "name": c.name}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(c)
    }

    pub async fn list_kb_categories(
        &self,
        access: &TenantAccess,
        portal: &KbPortalId,
    ) -> CoreResult<Vec<KbCategory>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        tx.get_kb_portal(portal).await?.ok_or(CoreError::NotFound)?;
        Ok(tx.list_kb_categories(portal).await?)
    }

    /// Deletes a category; its articles stay, uncategorised (owner, admin).
    pub async fn delete_kb_category(
        &self,
        access: &TenantAccess,
        id: &KbCategoryId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        if !tx.delete_kb_category(id).await? {
            return Err(CoreError::NotFound);
        }
        changes::record(
            &mut *tx,
            meta,
            "kb_category.deleted",
            "kb_category",
            id.to_string(),
            json!({"category_id": id}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes an article (owner, admin), attributed to its writer.
    pub async fn create_kb_article(
        &self,
        access: &TenantAccess,
        input: ArticleInput,
        meta: &RequestMeta,
    ) -> CoreResult<KbArticle> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let status = input.status.clone().unwrap_or_else(|| "draft".to_owned());
        let mut errors = Vec::new();
        check_article_text(&input.title, &input.body, &status, &mut errors);
        let slug = input.slug.clone().unwrap_or_else(|| slugify(&input.title));
        check_slug("slug", &slug, &mut errors);
        if let Some(l) = &input.locale {
            check_locale("locale", l, &mut errors);
        }
        validate::finish(errors)?;
        let Some(portal_id) = input.portal_id.clone() else {
            return Err(CoreError::field("portal_id", "required"));
        };
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let portal = tx
            .get_kb_portal(&portal_id)
            .await?
            .ok_or_else(|| CoreError::field("portal_id", "no such help centre"))?;
        if tx.kb_stamp().await?.0 >= MAX_ARTICLES {
            return Err(CoreError::field(
                "portal_id",
                "at most 10,000 articles per tenant",
            ));
        }
        let locale = input
            .locale
            .unwrap_or_else(|| portal.default_locale.clone());
        if let Some(c) = &input.category_id {
            let ok = tx
                .get_kb_category(c)
                .await?
                .is_some_and(|c| c.portal_id == portal.id);
            if !ok {
                return Err(CoreError::field(
                    "category_id",
                    "no such category in this help centre",
                ));
            }
        }
        if let Some(original) = &input.translation_of {
            let o = tx
                .get_kb_article(original)
                .await?
                .filter(|o| o.portal_id == portal.id)
                .ok_or_else(|| {
                    CoreError::field("translation_of", "no such article in this help centre")
                })?;
            if o.locale == locale {
                return Err(CoreError::field(
                    "locale",
                    "a translation needs another locale",
                ));
            }
        }
        let a = KbArticle {
            id: KbArticleId::generate(),
            portal_id: portal.id,
            category_id: input.category_id,
            locale,
            slug,
            title: input.title.trim().to_owned(),
            body: input.body,
            published_at: (status == "published").then_some(now),
            status,
            translation_of: input.translation_of,
            author: access.ctx.actor().clone(),
            helpful: 0,
            not_helpful: 0,
            views: 0,
            created_at: now,
            updated_at: now,
        };
        tx.insert_kb_article(&a)
            .await
            .map_err(|e| crate::tenants::conflict(e, "an article with this slug in this locale"))?;
        changes::record(
            &mut *tx,
            meta,
            "kb_article.created",
            "kb_article",
            a.id.to_string(),
            article_event(&a),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(a)
    }

    pub async fn get_kb_article(
        &self,
        access: &TenantAccess,
        id: &KbArticleId,
    ) -> CoreResult<KbArticle> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        tx.get_kb_article(id).await?.ok_or(CoreError::NotFound)
    }

    pub async fn list_kb_articles(
        &self,
        access: &TenantAccess,
        mut filter: KbArticleFilter,
    ) -> CoreResult<Vec<KbArticle>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        if filter
            .status
            .as_deref()
            .is_some_and(|s| !STATUSES.contains(&s))
        {
            return Err(CoreError::field("status", "draft, published or archived"));
        }
        if filter.locale.as_deref().is_some_and(|l| !is_locale(l)) {
            return Err(CoreError::field(
                "locale",
                "a language tag such as en or pt-BR",
            ));
        }
        filter.limit = filter.limit.clamp(1, 1_000);
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        Ok(tx.list_kb_articles(&filter).await?)
    }

    /// Edits, publishes, unpublishes or archives an article (owner, admin).
    pub async fn update_kb_article(
        &self,
        access: &TenantAccess,
        id: &KbArticleId,
        patch: ArticlePatch,
        meta: &RequestMeta,
    ) -> CoreResult<KbArticle> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let mut a = tx.get_kb_article(id).await?.ok_or(CoreError::NotFound)?;
        if let Some(t) = patch.title {
            a.title = t.trim().to_owned();
        }
        if let Some(b) = patch.body {
            a.body = b;
        }
        if let Some(s) = patch.status {
            if s == "published" && a.status != "published" {
                a.published_at = Some(now);
            }
            a.status = s;
        }
        let mut errors = Vec::new();
        check_article_text(&a.title, &a.body, &a.status, &mut errors);
        if let Some(slug) = patch.slug {
            check_slug("slug", &slug, &mut errors);
            a.slug = slug;
        }
        validate::finish(errors)?;
        if let Some(c) = patch.category_id {
            if let Some(cat) = &c {
                let ok = tx
                    .get_kb_category(cat)
                    .await?
                    .is_some_and(|c| c.portal_id == a.portal_id);
                if !ok {
                    return Err(CoreError::field(
                        "category_id",
                        "no such category in this help centre",
                    ));
                }
            }
            a.category_id = c;
        }
        a.updated_at = now;
        tx.update_kb_article(&a)
            .await
            .map_err(|e| crate::tenants::conflict(e, "an article with this slug in this locale"))?;
        changes::record(
            &mut *tx,
            meta,
            "kb_article.updated",
            "kb_article",
            a.id.to_string(),
            article_event(&a),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(a)
    }

    pub async fn delete_kb_article(
        &self,
        access: &TenantAccess,
        id: &KbArticleId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        if !tx.delete_kb_article(id).await? {
            return Err(CoreError::NotFound);
        }
        changes::record(
            &mut *tx,
            meta,
            "kb_article.deleted",
            "kb_article",
            id.to_string(),
            json!({"article_id": id}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Published articles matching `query`, best first, with the section that matched
    /// (anyone who reads conversations; agents use it to answer).
    pub async fn search_kb(
        &self,
        access: &TenantAccess,
        query: &str,
        portal: Option<&KbPortalId>,
        locale: Option<&str>,
        limit: usize,
    ) -> CoreResult<Vec<KbHit>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let q = query.trim();
        if q.is_empty() || q.len() > 1_000 {
            return Err(CoreError::field("q", "1 to 1,000 characters"));
        }
        if locale.is_some_and(|l| !is_locale(l)) {
            return Err(CoreError::field(
                "locale",
                "a language tag such as en or pt-BR",
            ));
        }
        let index = self.kb_index(&access.ctx).await?;
        if let Some(p) = portal {
            if !index.has_portal(p) {
                return Err(CoreError::NotFound);
            }
        }
        self.kb_search_in(&index, q, portal, locale, limit.clamp(1, 50))
            .await
    }
}

/// What the conversation view suggests for a customer's message.
#[derive(Debug, Clone, Default)]
pub struct Suggestions {
    /// The best articles, best first.
    pub articles: Vec<(KbHit, String)>,
    /// An extractive reply from the best article (empty when nothing matches).
    pub reply: String,
}

impl Core {
    /// Suggested articles (with their public addresses) and a suggested reply for `text`, the
    /// customer's latest message (anyone who reads conversations).
    pub async fn kb_suggestions(
        &self,
        access: &TenantAccess,
        text: &str,
    ) -> CoreResult<Suggestions> {
        let q: String = text.chars().take(1_000).collect();
        if q.trim().is_empty() {
            return Ok(Suggestions::default());
        }
        let hits = self.search_kb(access, &q, None, None, 3).await?;
        let reply = hits
            .first()
            .filter(|h| h.confidence > 0.0)
            .map(|h| switchboard_nlp::retrieval::extract_answer(&q, &[&h.passage], 4).text)
            .unwrap_or_default();
        let base = self.config().public_url.trim_end_matches('/').to_owned();
        let articles = hits
            .into_iter()
            .map(|h| {
                let url = format!(
                    "{base}/hc/{}/{}/{}/articles/{}",
                    access.tenant.slug, h.portal_slug, h.locale, h.slug
                );
                (h, url)
            })
            .collect();
        Ok(Suggestions { articles, reply })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_locales() {
        assert_eq!(slugify("How do I get a refund?"), "how-do-i-get-a-refund");
        assert_eq!(slugify("¿Dónde está mi pedido?"), "d-nde-est-mi-pedido");
        assert_eq!(slugify("!!!"), "article");
        assert!(slugify(&"word ".repeat(100)).len() <= 80);
        for ok in ["en", "pt-BR", "zh-Hant", "de"] {
            assert!(is_locale(ok), "{ok}");
        }
        for bad in ["", "EN", "english", "en_US", "en-", "../en", "e"] {
            assert!(!is_locale(bad), "{bad}");
        }
    }
}
