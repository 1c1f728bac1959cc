//! The public help centre: `/hc/<tenant>/<portal>/<locale>` lists a tenant's published
//! articles by category, searches them, shows one (its Markdown rendered with raw HTML shown
//! as text and only safe link schemes), and takes readers' "was this helpful?".

use crate::error::{ConsoleError, ConsoleResult};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};
use serde::Deserialize;
use switchboard_api::extract::Meta;
use switchboard_api::AppState;
use switchboard_core::kb::{KbHit, PublicPortal};
use switchboard_store::model::KbArticle;

/// What every help-centre page shows around its content.
struct Frame {
    portal_name: String,
    tenant_name: String,
    locale: String,
    locales: Vec<String>,
    /// `/hc/<tenant>/<portal>`.
    root: String,
    /// `/hc/<tenant>/<portal>/<locale>`.
    base: String,
    query: String,
}

impl Frame {
    fn new(hc: &PublicPortal, locale: &str, locales: Vec<String>, query: &str) -> Self {
        let root = format!("/hc/{}/{}", hc.tenant_slug, hc.portal.slug);
        Self {
            portal_name: hc.portal.name.clone(),
            tenant_name: hc.tenant_name.clone(),
            locale: locale.to_owned(),
            locales,
            base: format!("{root}/{locale}"),
            root,
            query: query.to_owned(),
        }
    }
}

struct Group {
    name: String,
    description: String,
    articles: Vec<KbArticle>,
}

#[derive(Template)]
#[template(path = "help_home.html")]
struct HomePage {
    portal_name: String,
    tenant_name: String,
    locale: String,
    locales: Vec<String>,
    root: String,
    base: String,
    query: String,
    searched: bool,
    groups: Vec<Group>,
    hits: Vec<KbHit>,
}

#[derive(Template)]
#[template(path = "help_article.html")]
struct ArticlePage {
    portal_name: String,
    tenant_name: String,
    locale: String,
    locales: Vec<String>,
    root: String,
    base: String,
    query: String,
    title: String,
    slug: String,
    body_html: String,
    thanked: bool,
}

fn home_page(f: Frame, searched: bool, groups: Vec<Group>, hits: Vec<KbHit>) -> HomePage {
    HomePage {
        portal_name: f.portal_name,
        tenant_name: f.tenant_name,
        locale: f.locale,
        locales: f.locales,
        root: f.root,
        base: f.base,
        query: f.query,
        searched,
        groups,
        hits,
    }
}

/// Link targets an article may use: the web, mail, and paths on this site.
fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        Some((scheme, _))
            if !scheme.contains('/') && !scheme.contains('?') && !scheme.contains('#') =>
        {
            matches!(scheme, "http" | "https" | "mailto")
        }
        _ => true,
    }
}

/// Renders an article's Markdown: raw HTML becomes text, unsafe link targets become `#`.
pub fn render_markdown(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events = Parser::new_ext(markdown, options).map(|e| match e {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) if !safe_url(&dest_url) => Event::Start(Tag::Link {
            link_type,
            dest_url: CowStr::Borrowed("#"),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) if !safe_url(&dest_url) => Event::Start(Tag::Image {
            link_type,
            dest_url: CowStr::Borrowed("#"),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

/// `/hc/<tenant>/<portal>`: to the default locale.
pub async fn portal_root(
    State(state): State<AppState>,
    Path((tenant, portal)): Path<(String, String)>,
) -> ConsoleResult<Response> {
    let hc = state.core.open_help_centre(&tenant, &portal).await?;
    Ok(Redirect::to(&format!(
        "/hc/{}/{}/{}",
        hc.tenant_slug, hc.portal.slug, hc.portal.default_locale
    ))
    .into_response())
}

/// The articles by category.
pub async fn home(
    State(state): State<AppState>,
    Path((tenant, portal, locale)): Path<(String, String, String)>,
) -> ConsoleResult<Html<String>> {
    let hc = state.core.open_help_centre(&tenant, &portal).await?;
    let (categories, articles, locales) = state.core.help_centre_contents(&hc, &locale).await?;
    let mut groups: Vec<Group> = categories
        .into_iter()
        .map(|c| Group {
            articles: articles
                .iter()
                .filter(|a| a.category_id.as_ref() == Some(&c.id))
                .cloned()
                .collect(),
            name: c.name,
            description: c.description,
        })
        .filter(|g| !g.articles.is_empty())
        .collect();
    let loose: Vec<KbArticle> = articles
        .into_iter()
        .filter(|a| a.category_id.is_none())
        .collect();
    if !loose.is_empty() {
        groups.push(Group {
            name: "More articles".into(),
            description: String::new(),
            articles: loose,
        });
    }
    let frame = Frame::new(&hc, &locale, locales, "");
    Ok(Html(home_page(frame, false, groups, Vec::new()).render()?))
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
}

/// Search results.
pub async fn search(
    State(state): State<AppState>,
    Path((tenant, portal, locale)): Path<(String, String, String)>,
    Query(p): Query<SearchParams>,
) -> ConsoleResult<Html<String>> {
    let hc = state.core.open_help_centre(&tenant, &portal).await?;
    let locales = state.core.help_centre_locales(&hc).await?;
    let q = p.q.trim();
    if q.is_empty() || q.len() > 1_000 {
        return Err(ConsoleError::BadRequest(
            "Type 1 to 1,000 characters to search.".into(),
        ));
    }
    let hits = state.core.help_centre_search(&hc, &locale, q).await?;
    let frame = Frame::new(&hc, &locale, locales, q);
    Ok(Html(home_page(frame, true, Vec::new(), hits).render()?))
}

#[derive(Debug, Deserialize)]
pub struct ArticleParams {
    #[serde(default)]
    thanks: Option<String>,
}

/// One article.
pub async fn article(
    State(state): State<AppState>,
    Path((tenant, portal, locale, slug)): Path<(String, String, String, String)>,
    Query(p): Query<ArticleParams>,
) -> ConsoleResult<Html<String>> {
    let hc = state.core.open_help_centre(&tenant, &portal).await?;
    let a = state.core.help_centre_article(&hc, &locale, &slug).await?;
    let locales = state.core.help_centre_locales(&hc).await?;
    let f = Frame::new(&hc, &locale, locales, "");
    let page = ArticlePage {
        portal_name: f.portal_name,
        tenant_name: f.tenant_name,
        locale: f.locale,
        locales: f.locales,
        root: f.root,
        base: f.base,
        query: f.query,
        body_html: render_markdown(&a.body),
        title: a.title,
        slug: a.slug,
        thanked: p.thanks.is_some(),
    };
    Ok(Html(page.render()?))
}

#[derive(Debug, Deserialize)]
pub struct FeedbackForm {
    helpful: String,
}

/// "Was this helpful?" — counted, limited per address and article.
pub async fn feedback(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path((tenant, portal, locale, slug)): Path<(String, String, String, String)>,
    Form(f): Form<FeedbackForm>,
) -> ConsoleResult<Response> {
    let helpful = match f.helpful.as_str() {
        "yes" => true,
        "no" => false,
        _ => return Err(ConsoleError::BadRequest("Answer yes or no.".into())),
    };
    let hc = state.core.open_help_centre(&tenant, &portal).await?;
    let client = meta.ip.unwrap_or_else(|| "unknown".into());
    state
        .core
        .help_centre_feedback(&hc, &locale, &slug, helpful, &client)
        .await?;
    Ok(Redirect::to(&format!(
        "/hc/{}/{}/{locale}/articles/{slug}?thanks=1",
        hc.tenant_slug, hc.portal.slug
    ))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_without_raw_html_or_script_links() {
        let html = render_markdown(
            "# Refunds\n\n1. Open **Orders**\n2. Click *Refund*\n\n<script>alert(1)</script>\n\n[ok](https://example.com) [bad](javascript:alert(1)) [Bad2](JaVaScRiPt:x) [rel](/hc/a/b/en/articles/x)\n\n<img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<ol>"), "{html}");
        assert!(html.contains("<strong>Orders</strong>"));
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("href=\"https://example.com\""));
        assert!(!html.to_ascii_lowercase().contains("javascript:"), "{html}");
        assert!(html.contains("href=\"/hc/a/b/en/articles/x\""));
    }
}
