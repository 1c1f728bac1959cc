//! The public help centre: anyone may read a tenant's published articles, search them and say
//! whether one helped. A help centre is named by the tenant's slug and its own; drafts, archived
//! articles and other tenants' articles are never reachable from it.

use super::{is_locale, KbHit};
use crate::error::{CoreError, CoreResult};
use crate::ratelimit::{Decision, Rate};
use crate::Core;
use switchboard_store::model::{KbArticle, KbArticleFilter, KbCategory, KbPortal};
use switchboard_store::{Access, TenantCtx};
use switchboard_types::{Actor, TenantStatus};

/// Feedback one address may give per article: a handful, then one a minute.
const FEEDBACK_RATE: Rate = Rate {
    per_second: 1.0 / 60.0,
    burst: 5.0,
};

/// An open help centre: the tenant it belongs to and the portal.
#[derive(Debug, Clone)]
pub struct PublicPortal {
    pub tenant_slug: String,
    pub tenant_name: String,
    pub portal: KbPortal,
    ctx: TenantCtx,
}

impl Core {
    /// Finds a help centre by its address; `NotFound` for anything unknown, suspended or deleted
    /// (a reader learns nothing about which).
    pub async fn open_help_centre(
        &self,
        tenant_slug: &str,
        portal_slug: &str,
    ) -> CoreResult<PublicPortal> {
        let tenant = {
            let mut tx = self.store().control(Access::Read).await?;
            tx.get_tenant_by_slug(tenant_slug).await?
        }
        .filter(|t| t.status == TenantStatus::Active)
        .ok_or(CoreError::NotFound)?;
        // The address named this tenant; only its published articles are read through it.
        #[allow(clippy::disallowed_methods)] // public help-centre access is an auth layer
        let ctx = TenantCtx::assume(
            tenant.id.clone(),
            Actor::system("help_centre"),
            tenant.region.clone(),
        );
        let portal = {
            let mut tx = self.store().tenant(&ctx, Access::Read).await?;
            tx.get_kb_portal_by_slug(portal_slug).await?
        }
        .ok_or(CoreError::NotFound)?;
        Ok(PublicPortal {
            tenant_slug: tenant.slug,
            tenant_name: tenant.name,
            portal,
            ctx,
        })
    }

    /// The categories and published articles of a help centre in `locale`, and every locale
    /// it has published articles in.
    pub async fn help_centre_contents(
        &self,
        hc: &PublicPortal,
        locale: &str,
    ) -> CoreResult<(Vec<KbCategory>, Vec<KbArticle>, Vec<String>)> {
        if !is_locale(locale) {
            return Err(CoreError::NotFound);
        }
        let mut tx = self.store().tenant(&hc.ctx, Access::Read).await?;
        let categories = tx.list_kb_categories(&hc.portal.id).await?;
        let articles = tx
            .list_kb_articles(&KbArticleFilter {
                portal_id: Some(hc.portal.id.clone()),
                status: Some("published".into()),
                locale: Some(locale.to_owned()),
                limit: 2_000,
                ..Default::default()
            })
            .await?;
        let locales = tx.kb_published_locales(&hc.portal.id).await?;
        Ok((categories, articles, locales))
    }

    /// The locales a help centre has published articles in.
    pub async fn help_centre_locales(&self, hc: &PublicPortal) -> CoreResult<Vec<String>> {
        let mut tx = self.store().tenant(&hc.ctx, Access::Read).await?;
        Ok(tx.kb_published_locales(&hc.portal.id).await?)
    }

    /// A published article, counting the view.
    pub async fn help_centre_article(
        &self,
        hc: &PublicPortal,
        locale: &str,
        slug: &str,
    ) -> CoreResult<KbArticle> {
        if !is_locale(locale) {
            return Err(CoreError::NotFound);
        }
        let mut tx = self.store().tenant(&hc.ctx, Access::Write).await?;
        let a = tx
            .get_kb_article_by_slug(&hc.portal.id, locale, slug)
            .await?
            .filter(|a| a.status == "published")
            .ok_or(CoreError::NotFound)?;
        tx.count_kb_article(&a.id, None).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// Searches a help centre's published articles in `locale`.
    pub async fn help_centre_search(
        &self,
        hc: &PublicPortal,
        locale: &str,
        query: &str,
    ) -> CoreResult<Vec<KbHit>> {
        let q = query.trim();
        if !is_locale(locale) || q.is_empty() || q.len() > 1_000 {
            return Err(CoreError::field("q", "1 to 1,000 characters"));
        }
        let index = self.kb_index(&hc.ctx).await?;
        self.kb_search_in(&index, q, Some(&hc.portal.id), Some(locale), 10)
            .await
    }

    /// A reader's verdict on a published article, limited per address and article.
    pub async fn help_centre_feedback(
        &self,
        hc: &PublicPortal,
        locale: &str,
        slug: &str,
        helpful: bool,
        client: &str,
    ) -> CoreResult<()> {
        if !is_locale(locale) {
            return Err(CoreError::NotFound);
        }
        let mut tx = self.store().tenant(&hc.ctx, Access::Write).await?;
        let a = tx
            .get_kb_article_by_slug(&hc.portal.id, locale, slug)
            .await?
            .filter(|a| a.status == "published")
            .ok_or(CoreError::NotFound)?;
        let key = format!("kb-feedback:{}:{}:{client}", hc.ctx.tenant(), a.id);
        if let Decision::Limited { retry_after_ms } =
            self.limiter().acquire(&key, FEEDBACK_RATE, 1.0)
        {
            return Err(CoreError::RateLimited { retry_after_ms });
        }
        tx.count_kb_article(&a.id, Some(helpful)).await?;
        tx.commit().await?;
        Ok(())
    }
}
