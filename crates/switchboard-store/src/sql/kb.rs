//! Help centres, categories and articles, for both engines.

use super::exec::{query, Row};
use super::tenant::SqlTenantTx;
use crate::model::{KbArticle, KbArticleFilter, KbCategory, KbPortal};
use crate::traits::KnowledgeTx;
use crate::StoreError;
use async_trait::async_trait;
use switchboard_types::{Actor, ActorKind, KbArticleId, KbCategoryId, KbPortalId};

const PORTAL_COLS: &str = "id, slug, name, default_locale, created_at, updated_at";
const CATEGORY_COLS: &str =
    "id, portal_id, slug, name, description, position, created_at, updated_at";
const ARTICLE_COLS: &str = "id, portal_id, category_id, locale, slug, title, body, status, \
     translation_of, author_type, author_id, helpful, not_helpful, views, created_at, updated_at, \
     published_at";

fn portal(row: &Row) -> Result<KbPortal, StoreError> {
    Ok(KbPortal {
        id: KbPortalId::from_trusted(row.try_get("id")?),
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        default_locale: row.try_get("default_locale")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn category(row: &Row) -> Result<KbCategory, StoreError> {
    Ok(KbCategory {
        id: KbCategoryId::from_trusted(row.try_get("id")?),
        portal_id: KbPortalId::from_trusted(row.try_get("portal_id")?),
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        position: row.try_get("position")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn article(row: &Row) -> Result<KbArticle, StoreError> {
    let kind: String = row.try_get("author_type")?;
    Ok(KbArticle {
        id: KbArticleId::from_trusted(row.try_get("id")?),
        portal_id: KbPortalId::from_trusted(row.try_get("portal_id")?),
        category_id: row
            .try_get::<Option<String>, _>("category_id")?
            .map(KbCategoryId::from_trusted),
        locale: row.try_get("locale")?,
        slug: row.try_get("slug")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        status: row.try_get("status")?,
        translation_of: row
            .try_get::<Option<String>, _>("translation_of")?
            .map(KbArticleId::from_trusted),
        author: Actor {
            kind: ActorKind::parse(&kind)
                .ok_or_else(|| StoreError::Invalid(format!("unknown actor kind {kind:?}")))?,
            id: row.try_get("author_id")?,
        },
        helpful: row.try_get("helpful")?,
        not_helpful: row.try_get("not_helpful")?,
        views: row.try_get("views")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        published_at: row.try_get("published_at")?,
    })
}

#[async_trait]
impl KnowledgeTx for SqlTenantTx {
    async fn insert_kb_portal(&mut self, p: &KbPortal) -> Result<(), StoreError> {
        query(&format!(
            "INSERT INTO kb_portals (tenant_id, {PORTAL_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(self.tenant().to_owned())
        .bind(p.id.as_str())
        .bind(p.slug.as_str())
        .bind(p.name.as_str())
        .bind(p.default_locale.as_str())
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_kb_portal(&mut self, id: &KbPortalId) -> Result<Option<KbPortal>, StoreError> {
        query(&format!(
            "SELECT {PORTAL_COLS} FROM kb_portals WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(self.tenant().to_owned())
        .bind(id.as_str())
        .fetch_optional(&mut self.tx)
        .await?
        .as_ref()
        .map(portal)
        .transpose()
    }

    async fn get_kb_portal_by_slug(&mut self, slug: &str) -> Result<Option<KbPortal>, StoreError> {
        query(&format!(
            "SELECT {PORTAL_COLS} FROM kb_portals WHERE tenant_id = $1 AND slug = $2"
        ))
        .bind(self.tenant().to_owned())
        .bind(slug)
        .fetch_optional(&mut self.tx)
        .await?
        .as_ref()
        .map(portal)
        .transpose()
    }

    async fn list_kb_portals(&mut self) -> Result<Vec<KbPortal>, StoreError> {
        query(&format!(
            "SELECT {PORTAL_COLS} FROM kb_portals WHERE tenant_id = $1 ORDER BY name, id"
        ))
        .bind(self.tenant().to_owned())
        .fetch_all(&mut self.tx)
        .await?
        .iter()
        .map(portal)
        .collect()
    }

    async fn update_kb_portal(&mut self, p: &KbPortal) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE kb_portals SET slug = $3, name = $4, default_locale = $5, updated_at = $6 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tenant().to_owned())
        .bind(p.id.as_str())
        .bind(p.slug.as_str())
        .bind(p.name.as_str())
        .bind(p.default_locale.as_str())
        .bind(p.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_kb_portal(&mut self, id: &KbPortalId) -> Result<bool, StoreError> {
        // Children first: SQLite enforces the cascade only with its foreign-key pragma on.
        for sql in [
            "DELETE FROM kb_articles WHERE tenant_id = $1 AND portal_id = $2",
            "DELETE FROM kb_categories WHERE tenant_id = $1 AND portal_id = $2",
        ] {
            query(sql)
                .bind(self.tenant().to_owned())
                .bind(id.as_str())
                .execute(&mut self.tx)
                .await?;
        }
        let done = query("DELETE FROM kb_portals WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .execute(&mut self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_kb_category(&mut self, c: &KbCategory) -> Result<(), StoreError> {
        query(&format!(
            "INSERT INTO kb_categories (tenant_id, {CATEGORY_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(self.tenant().to_owned())
        .bind(c.id.as_str())
        .bind(c.portal_id.as_str())
        .bind(c.slug.as_str())
        .bind(c.name.as_str())
        .bind(c.description.as_str())
        .bind(c.position)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_kb_category(
        &mut self,
        id: &KbCategoryId,
    ) -> Result<Option<KbCategory>, StoreError> {
        query(&format!(
            "SELECT {CATEGORY_COLS} FROM kb_categories WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(self.tenant().to_owned())
        .bind(id.as_str())
        .fetch_optional(&mut self.tx)
        .await?
        .as_ref()
        .map(category)
        .transpose()
    }

    async fn list_kb_categories(
        &mut self,
        portal_id: &KbPortalId,
    ) -> Result<Vec<KbCategory>, StoreError> {
        query(&format!(
            "SELECT {CATEGORY_COLS} FROM kb_categories WHERE tenant_id = $1 AND portal_id = $2 \
             ORDER BY position, name, id"
        ))
        .bind(self.tenant().to_owned())
        .bind(portal_id.as_str())
        .fetch_all(&mut self.tx)
        .await?
        .iter()
        .map(category)
        .collect()
    }

    async fn delete_kb_category(&mut self, id: &KbCategoryId) -> Result<bool, StoreError> {
        query(
            "UPDATE kb_articles SET category_id = NULL WHERE tenant_id = $1 AND category_id = $2",
        )
        .bind(self.tenant().to_owned())
        .bind(id.as_str())
        .execute(&mut self.tx)
        .await?;
        let done = query("DELETE FROM kb_categories WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .execute(&mut self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_kb_article(&mut self, a: &KbArticle) -> Result<(), StoreError> {
        query(&format!(
            "INSERT INTO kb_articles (tenant_id, {ARTICLE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, \
             $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        ))
        .bind(self.tenant().to_owned())
        .bind(a.id.as_str())
        .bind(a.portal_id.as_str())
        .bind(a.category_id.as_ref().map(KbCategoryId::as_str))
        .bind(a.locale.as_str())
        .bind(a.slug.as_str())
        .bind(a.title.as_str())
        .bind(a.body.as_str())
        .bind(a.status.as_str())
        .bind(a.translation_of.as_ref().map(KbArticleId::as_str))
        .bind(a.author.kind.as_str())
        .bind(a.author.id.as_str())
        .bind(a.helpful)
        .bind(a.not_helpful)
        .bind(a.views)
        .bind(a.created_at)
        .bind(a.updated_at)
        .bind(a.published_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_kb_article(&mut self, id: &KbArticleId) -> Result<Option<KbArticle>, StoreError> {
        let lock = self.lock_for_write();
        query(&format!(
            "SELECT {ARTICLE_COLS} FROM kb_articles WHERE tenant_id = $1 AND id = $2{lock}"
        ))
        .bind(self.tenant().to_owned())
        .bind(id.as_str())
        .fetch_optional(&mut self.tx)
        .await?
        .as_ref()
        .map(article)
        .transpose()
    }

    async fn get_kb_article_by_slug(
        &mut self,
        portal_id: &KbPortalId,
        locale: &str,
        slug: &str,
    ) -> Result<Option<KbArticle>, StoreError> {
        query(&format!(
            "SELECT {ARTICLE_COLS} FROM kb_articles WHERE tenant_id = $1 AND portal_id = $2 \
             AND locale = $3 AND slug = $4"
        ))
        .bind(self.tenant().to_owned())
        .bind(portal_id.as_str())
        .bind(locale)
        .bind(slug)
        .fetch_optional(&mut self.tx)
        .await?
        .as_ref()
        .map(article)
        .transpose()
    }

    async fn list_kb_articles(
        &mut self,
        f: &KbArticleFilter,
    ) -> Result<Vec<KbArticle>, StoreError> {
        let mut sql = format!("SELECT {ARTICLE_COLS} FROM kb_articles WHERE tenant_id = $1");
        let mut binds: Vec<String> = vec![self.tenant().to_owned()];
        let mut add = |column: &str, value: Option<String>, sql: &mut String| {
            if let Some(v) = value {
                binds.push(v);
                sql.push_str(&format!(" AND {column} = ${}", binds.len()));
            }
        };
        add(
            "portal_id",
            f.portal_id.as_ref().map(|p| p.to_string()),
            &mut sql,
        );
        add(
            "category_id",
            f.category_id.as_ref().map(|c| c.to_string()),
            &mut sql,
        );
        add("locale", f.locale.clone(), &mut sql);
        add("status", f.status.clone(), &mut sql);
        sql.push_str(&format!(
            " ORDER BY title, id LIMIT {}",
            f.limit.clamp(1, 10_000)
        ));
        let mut q = query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        q.fetch_all(&mut self.tx)
            .await?
            .iter()
            .map(article)
            .collect()
    }

    async fn update_kb_article(&mut self, a: &KbArticle) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE kb_articles SET category_id = $3, slug = $4, title = $5, body = $6, \
             status = $7, updated_at = $8, published_at = $9 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tenant().to_owned())
        .bind(a.id.as_str())
        .bind(a.category_id.as_ref().map(KbCategoryId::as_str))
        .bind(a.slug.as_str())
        .bind(a.title.as_str())
        .bind(a.body.as_str())
        .bind(a.status.as_str())
        .bind(a.updated_at)
        .bind(a.published_at)
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_kb_article(&mut self, id: &KbArticleId) -> Result<bool, StoreError> {
        // Translations stay, no longer linked.
        query(
            "UPDATE kb_articles SET translation_of = NULL WHERE tenant_id = $1 AND translation_of = $2",
        )
        .bind(self.tenant().to_owned())
        .bind(id.as_str())
        .execute(&mut self.tx)
        .await?;
        let done = query("DELETE FROM kb_articles WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .execute(&mut self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_kb_article(
        &mut self,
        id: &KbArticleId,
        helpful: Option<bool>,
    ) -> Result<bool, StoreError> {
        let column = match helpful {
            Some(true) => "helpful",
            Some(false) => "not_helpful",
            None => "views",
        };
        // The column is one of our three names, never input.
        let done = query(&format!(
            "UPDATE kb_articles SET {column} = {column} + 1 WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(self.tenant().to_owned())
        .bind(id.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn kb_published_locales(
        &mut self,
        portal_id: &KbPortalId,
    ) -> Result<Vec<String>, StoreError> {
        let rows = query(
            "SELECT DISTINCT locale FROM kb_articles WHERE tenant_id = $1 AND portal_id = $2 \
             AND status = 'published' ORDER BY locale LIMIT 100",
        )
        .bind(self.tenant().to_owned())
        .bind(portal_id.as_str())
        .fetch_all(&mut self.tx)
        .await?;
        rows.iter().map(|r| r.try_get("locale")).collect()
    }

    async fn kb_stamp(&mut self) -> Result<(i64, i64, i64), StoreError> {
        // Published articles counted apart, so a publish or unpublish in the same millisecond as
        // another change still moves the stamp.
        let row = query(
            "SELECT COUNT(*) AS n, \
             COALESCE(SUM(CASE WHEN status = 'published' THEN 1 ELSE 0 END), 0) AS published, \
             COALESCE(MAX(updated_at), 0) AS newest FROM kb_articles WHERE tenant_id = $1",
        )
        .bind(self.tenant().to_owned())
        .fetch_one(&mut self.tx)
        .await?;
        Ok((
            row.try_get("n")?,
            row.try_get("published")?,
            row.try_get("newest")?,
        ))
    }
}
