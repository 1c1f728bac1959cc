//! The platform pages (`/app/platform`): the operator's administrators manage every tenant and
//! the partners; a partner's administrators manage their own tenants (the partner portal).

use crate::auth::Agent;
use crate::error::{ConsoleError, ConsoleResult};
use crate::view::{page, when};
use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use std::collections::BTreeMap;
use switchboard_api::extract::Meta;
use switchboard_api::AppState;
use switchboard_core::error::CoreError;
use switchboard_core::tenants::NewTenant;
use switchboard_store::model::PageRequest;
use switchboard_types::{Plan, TenantStatus};

struct TenantRow {
    id: String,
    slug: String,
    name: String,
    plan: &'static str,
    status: &'static str,
    region: String,
    created: String,
}

#[derive(Template)]
#[template(path = "platform.html")]
struct PlatformPage {
    user_name: String,
    csrf: String,
    /// Platform administrators (not a partner's) manage partners.
    operator: bool,
    tenants: Vec<TenantRow>,
    /// `(slug, name, created)`.
    partners: Vec<(String, String, String)>,
    plans: Vec<&'static str>,
    revealed: Option<(String, String)>,
    /// The last tenant's id when more follow (the next page starts after it).
    next: Option<String>,
}

/// Tenants per page.
const PAGE: i64 = 100;

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    after: Option<String>,
}

/// Only people who manage tenants: the platform's administrators and partners' administrators.
fn check(agent: &Agent) -> ConsoleResult<bool> {
    if agent.principal.is_platform_admin() {
        Ok(true)
    } else if agent.principal.administered_partner().is_some() {
        Ok(false)
    } else {
        Err(ConsoleError::Core(CoreError::Forbidden))
    }
}

async fn render(
    state: &AppState,
    agent: &Agent,
    revealed: Option<(String, String)>,
    after: Option<String>,
) -> ConsoleResult<Response> {
    let operator = check(agent)?;
    let after = after.filter(|a| {
        !a.is_empty() && a.len() <= 64 && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    let mut tenants = state
        .core
        .list_tenants(
            &agent.principal,
            None,
            PageRequest {
                after,
                limit: PAGE + 1,
            },
        )
        .await?;
    let next = (tenants.len() as i64 > PAGE)
        .then(|| {
            tenants
                .get(usize::try_from(PAGE - 1).unwrap_or(0))
                .map(|t| t.id.to_string())
        })
        .flatten();
    tenants.truncate(usize::try_from(PAGE).unwrap_or(0));
    let all = PageRequest {
        after: None,
        limit: 1000,
    };
    let tenants = tenants
        .into_iter()
        .map(|t| TenantRow {
            id: t.id.to_string(),
            slug: t.slug,
            name: t.name,
            plan: t.plan.as_str(),
            status: t.status.as_str(),
            region: t.region,
            created: when(t.created_at),
        })
        .collect();
    let partners = if operator {
        state
            .core
            .list_partners(&agent.principal, &all)
            .await?
            .into_iter()
            .map(|p| (p.slug, p.name, when(p.created_at)))
            .collect()
    } else {
        Vec::new()
    };
    let name = if agent.user.display_name.is_empty() {
        agent.user.email.clone()
    } else {
        agent.user.display_name.clone()
    };
    Ok(page(
        PlatformPage {
            user_name: name,
            csrf: agent.csrf.clone(),
            operator,
            tenants,
            partners,
            plans: Plan::ALL.into_iter().map(Plan::as_str).collect(),
            revealed,
            next,
        }
        .render()?,
    ))
}

/// `GET /app/platform`.
pub async fn platform(
    State(state): State<AppState>,
    agent: Agent,
    axum::extract::Query(q): axum::extract::Query<PageQuery>,
) -> ConsoleResult<Response> {
    render(&state, &agent, None, q.after).await
}

#[derive(Debug, Deserialize)]
pub struct PlatformForm {
    csrf: String,
    op: String,
    #[serde(flatten)]
    fields: BTreeMap<String, String>,
}

impl PlatformForm {
    fn get(&self, k: &str) -> &str {
        self.fields.get(k).map_or("", |v| v.trim())
    }
}

/// `POST /app/platform`: provision a tenant, suspend or resume one, create a partner.
pub async fn change(
    State(state): State<AppState>,
    Meta(meta): Meta,
    agent: Agent,
    Form(f): Form<PlatformForm>,
) -> ConsoleResult<Response> {
    agent.check_csrf(&f.csrf)?;
    check(&agent)?;
    let core = &state.core;
    match f.op.as_str() {
        "create_tenant" => {
            let plan = Plan::parse(f.get("plan"))
                .ok_or_else(|| ConsoleError::BadRequest("Unknown plan.".into()))?;
            let done = core
                .provision_tenant(
                    &agent.principal,
                    NewTenant {
                        slug: f.get("slug").to_owned(),
                        name: f.get("name").to_owned(),
                        plan,
                        region: None,
                        // A partner's administrators provision under their partner.
                        partner_id: agent.principal.administered_partner().cloned(),
                        admin_email: f.get("admin_email").to_owned(),
                        admin_name: None,
                        admin_password: None,
                    },
                    &meta,
                )
                .await?;
            let admin = match &done.admin_password {
                Some(p) => format!("{} / {p}", done.admin_email),
                None => format!("{} (existing account)", done.admin_email),
            };
            let secret = format!(
                "tenant {} · admin {admin} · API key {}",
                done.tenant.id, done.api_key
            );
            return render(
                &state,
                &agent,
                Some((format!("Tenant {} is ready", done.tenant.slug), secret)),
                None,
            )
            .await;
        }
        op @ ("suspend" | "resume") => {
            let id = f
                .get("tenant")
                .parse()
                .map_err(|_| ConsoleError::Core(CoreError::NotFound))?;
            let target = if op == "suspend" {
                TenantStatus::Suspended
            } else {
                TenantStatus::Active
            };
            core.set_tenant_status(Some(&agent.principal), &id, target, &meta)
                .await?;
        }
        "create_partner" => {
            core.create_partner(&agent.principal, f.get("slug"), f.get("name"), &meta)
                .await?;
        }
        _ => return Err(ConsoleError::BadRequest("Unknown change.".into())),
    }
    Ok(Redirect::to("/app/platform").into_response())
}
