//! Search indexes over each tenant's published articles: one BM25 index per help centre and
//! locale, built on first use and kept until the tenant's articles change (checked against a
//! cheap stamp from the database on every search, so every process sees changes at once).

use crate::error::CoreResult;
use crate::Core;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use switchboard_nlp::encoder::SentenceEncoder;
use switchboard_nlp::retrieval::{
    article_passages, embed_passages, rerank, Bm25Index, Bm25Params, Passage,
};
use switchboard_store::model::{KbArticle, KbArticleFilter};
use switchboard_store::{Access, TenantCtx};
use switchboard_types::{KbArticleId, KbPortalId, TenantId};

/// Most articles indexed per tenant.
const MAX_INDEXED: i64 = 10_000;
/// Tenants whose indexes are kept.
const MAX_TENANTS: usize = 1_000;
/// With a sentence encoder: BM25's best articles re-ranked per search, and the share of the
/// score the embedding similarity takes (chosen on the shipped pack's dev split; BENCHMARKS.md).
const RERANK_DEPTH: usize = 20;
const RERANK_WEIGHT: f32 = 0.85;
/// Passages a tenant may have for them all to be embedded (beyond it, BM25 alone).
const MAX_EMBEDDED: usize = 5_000;

/// One search result: an article, the section that matched best, and how sure retrieval is.
#[derive(Debug, Clone, PartialEq)]
pub struct KbHit {
    pub article_id: KbArticleId,
    pub portal_id: KbPortalId,
    /// The help centre's slug (for the article's public address).
    pub portal_slug: String,
    pub locale: String,
    pub slug: String,
    pub title: String,
    /// The heading of the best section (none: the article's opening).
    pub heading: Option<String>,
    /// The start of the best section.
    pub snippet: String,
    pub score: f32,
    /// In [0, 1]: how clearly this article, and no other, answers (see
    /// `switchboard_nlp::retrieval`); only the first hit can be above 0.
    pub confidence: f32,
    /// The whole best section (for extractive answers).
    pub passage: Passage,
}

/// What is indexed of one article.
#[derive(Debug, Clone)]
struct Meta {
    id: KbArticleId,
    portal_id: KbPortalId,
    portal_slug: String,
    locale: String,
    slug: String,
    title: String,
}

/// A tenant's indexes.
#[derive(Debug)]
pub struct TenantIndex {
    stamp: (i64, i64, i64),
    by_scope: HashMap<(KbPortalId, String), Bm25Index>,
    /// Each scope's passage embeddings, in index order (with an encoder configured).
    vectors: HashMap<(KbPortalId, String), Vec<Vec<f32>>>,
    articles: HashMap<String, Meta>,
    portals: Vec<(KbPortalId, String)>,
}

impl TenantIndex {
    fn build(
        stamp: (i64, i64, i64),
        portals: Vec<(KbPortalId, String)>,
        articles: Vec<KbArticle>,
        encoder: Option<&SentenceEncoder>,
    ) -> Self {
        let mut passages: HashMap<(KbPortalId, String), Vec<Passage>> = HashMap::new();
        let mut metas = HashMap::new();
        for a in articles {
            let body = format!("# {}\n\n{}", a.title, a.body);
            passages
                .entry((a.portal_id.clone(), a.locale.clone()))
                .or_default()
                .extend(article_passages(a.id.as_str(), &body));
            let portal_slug = portals
                .iter()
                .find(|(id, _)| *id == a.portal_id)
                .map(|(_, slug)| slug.clone())
                .unwrap_or_default();
            metas.insert(
                a.id.to_string(),
                Meta {
                    id: a.id,
                    portal_id: a.portal_id,
                    portal_slug,
                    locale: a.locale,
                    slug: a.slug,
                    title: a.title,
                },
            );
        }
        let by_scope: HashMap<(KbPortalId, String), Bm25Index> = passages
            .into_iter()
            .map(|(k, p)| (k, Bm25Index::build(p, Bm25Params::default())))
            .collect();
        let total: usize = by_scope.values().map(Bm25Index::len).sum();
        let mut vectors = HashMap::new();
        if let Some(e) = encoder.filter(|_| total <= MAX_EMBEDDED) {
            for (scope, index) in &by_scope {
                match embed_passages(e, index) {
                    Ok(v) => {
                        vectors.insert(scope.clone(), v);
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "embedding help-centre passages failed; BM25 alone");
                    }
                }
            }
        }
        Self {
            stamp,
            by_scope,
            vectors,
            articles: metas,
            portals,
        }
    }

    /// Whether searches re-rank with the sentence encoder.
    pub fn is_dense(&self) -> bool {
        !self.vectors.is_empty()
    }

    pub fn has_portal(&self, p: &KbPortalId) -> bool {
        self.portals.iter().any(|(id, _)| id == p)
    }

    /// Searches the chosen help centre and locale (or all of them, each index ranking its own
    /// articles, merged by score).
    pub fn search(
        &self,
        query: &str,
        portal: Option<&KbPortalId>,
        locale: Option<&str>,
        limit: usize,
    ) -> Vec<KbHit> {
        self.search_with(query, None, portal, locale, limit)
    }

    /// [`Self::search`], re-ranked by embedding similarity to `query_vec` where the scope's
    /// passages are embedded.
    pub fn search_with(
        &self,
        query: &str,
        query_vec: Option<&[f32]>,
        portal: Option<&KbPortalId>,
        locale: Option<&str>,
        limit: usize,
    ) -> Vec<KbHit> {
        let mut hits = Vec::new();
        for ((p, l), index) in &self.by_scope {
            if portal.is_some_and(|want| want != p) || locale.is_some_and(|want| want != l) {
                continue;
            }
            let dense = query_vec.zip(self.vectors.get(&(p.clone(), l.clone())));
            let found = match dense {
                Some((q, vectors)) => {
                    let mut found = index.search_documents(query, RERANK_DEPTH.max(limit));
                    rerank(&mut found, q, &|i| vectors.get(i).cloned(), RERANK_WEIGHT);
                    found.truncate(limit);
                    found
                }
                None => index.search_documents(query, limit),
            };
            for h in found {
                let (Some(meta), Some(passage)) =
                    (self.articles.get(&h.doc_id), index.passage(h.passage))
                else {
                    continue;
                };
                hits.push(KbHit {
                    article_id: meta.id.clone(),
                    portal_id: meta.portal_id.clone(),
                    portal_slug: meta.portal_slug.clone(),
                    locale: meta.locale.clone(),
                    slug: meta.slug.clone(),
                    title: meta.title.clone(),
                    heading: passage.heading.clone(),
                    snippet: snippet(&passage.text),
                    score: h.score,
                    confidence: h.confidence,
                    passage: passage.clone(),
                });
            }
        }
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.article_id.as_str().cmp(b.article_id.as_str()))
        });
        hits.truncate(limit);
        hits
    }
}

/// The first ~240 characters of a section, cut at a word.
fn snippet(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= 240 {
        return flat;
    }
    let cut: String = flat.chars().take(240).collect();
    match cut.rfind(' ') {
        Some(i) => format!("{}…", &cut[..i]),
        None => format!("{cut}…"),
    }
}

/// The per-process cache of tenants' indexes.
#[derive(Debug, Default)]
pub struct KbIndexCache {
    tenants: Mutex<HashMap<TenantId, Arc<TenantIndex>>>,
    /// The sentence encoder searches re-rank with (`triage.encoder_dir`), loaded once; `None`
    /// when none is configured or this build cannot run one.
    encoder: std::sync::OnceLock<Option<Arc<SentenceEncoder>>>,
    /// Held while an index is built.
    building: tokio::sync::Mutex<()>,
}

impl Core {
    /// The sentence encoder for re-ranking, when one is configured and this build runs one.
    fn kb_encoder(&self) -> Option<Arc<SentenceEncoder>> {
        self.kb_cache()
            .encoder
            .get_or_init(|| {
                let dir = self.config().triage.encoder_dir.as_ref()?;
                match SentenceEncoder::load(dir) {
                    Ok(e) => Some(Arc::new(e)),
                    Err(e) => {
                        tracing::warn!(error = %e, "help-centre search runs without its re-ranker");
                        None
                    }
                }
            })
            .clone()
    }

    /// Searches `index`, embedding the query off the async executor when the index is dense.
    pub(crate) async fn kb_search_in(
        &self,
        index: &Arc<TenantIndex>,
        query: &str,
        portal: Option<&KbPortalId>,
        locale: Option<&str>,
        limit: usize,
    ) -> CoreResult<Vec<KbHit>> {
        let encoder = self.kb_encoder().filter(|_| index.is_dense());
        let Some(encoder) = encoder else {
            return Ok(index.search(query, portal, locale, limit));
        };
        let q = query.to_owned();
        let vector = tokio::task::spawn_blocking(move || encoder.embed(&[q.as_str()]))
            .await
            .map_err(|e| crate::CoreError::Internal(e.to_string()))?;
        let vector = match vector {
            Ok(mut v) => v.pop(),
            Err(e) => {
                tracing::warn!(error = %e, "embedding a search failed; BM25 alone");
                None
            }
        };
        Ok(index.search_with(query, vector.as_deref(), portal, locale, limit))
    }

    /// The tenant's index, rebuilt when its articles changed since it was built.
    pub(crate) async fn kb_index(&self, ctx: &TenantCtx) -> CoreResult<Arc<TenantIndex>> {
        let cached = |stamp: (i64, i64, i64)| {
            self.kb_cache()
                .tenants
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(ctx.tenant())
                .filter(|i| i.stamp == stamp)
                .cloned()
        };
        let stamp = {
            let mut tx = self.store().tenant(ctx, Access::Read).await?;
            tx.kb_stamp().await?
        };
        if let Some(i) = cached(stamp) {
            return Ok(i);
        }
        // One build at a time in this process: requests arriving after an edit wait for the
        // build in progress instead of each starting their own.
        let _building = self.kb_cache().building.lock().await;
        let mut tx = self.store().tenant(ctx, Access::Read).await?;
        let stamp = tx.kb_stamp().await?;
        if let Some(i) = cached(stamp) {
            return Ok(i);
        }
        let portals = tx
            .list_kb_portals()
            .await?
            .into_iter()
            .map(|p| (p.id, p.slug))
            .collect();
        let articles = tx
            .list_kb_articles(&KbArticleFilter {
                status: Some("published".into()),
                limit: MAX_INDEXED,
                ..Default::default()
            })
            .await?;
        drop(tx);
        let encoder = self.kb_encoder();
        // Building is CPU work (tokenising, perhaps embedding every section): off the async
        // executor.
        let built = tokio::task::spawn_blocking(move || {
            TenantIndex::build(stamp, portals, articles, encoder.as_deref())
        })
        .await
        .map_err(|e| crate::CoreError::Internal(e.to_string()))?;
        let built = Arc::new(built);
        let mut cache = self
            .kb_cache()
            .tenants
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_TENANTS {
            cache.clear();
        }
        cache.insert(ctx.tenant().clone(), built.clone());
        Ok(built)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_cut_at_a_word() {
        assert_eq!(snippet("short  text\nhere"), "short text here");
        let long = "word ".repeat(100);
        let s = snippet(&long);
        assert!(s.ends_with('…'));
        assert!(s.chars().count() <= 241);
    }
}
