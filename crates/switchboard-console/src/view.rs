//! What every signed-in page shows around its content, and small formatting helpers.

use crate::auth::Agent;
use crate::error::ConsoleResult;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use switchboard_api::AppState;
use switchboard_core::identity::TenantAccess;

/// The frame of a signed-in page: who, which tenant, the other tenants, the CSRF token.
#[derive(Debug, Clone)]
pub struct Shell {
    pub user_id: String,
    pub user_name: String,
    pub tenant_slug: String,
    pub tenant_name: String,
    /// `(slug, name)` of every tenant the person belongs to, for the switcher.
    pub tenants: Vec<(String, String)>,
    pub role: &'static str,
    pub csrf: String,
    /// Agents, admins and owners may reply and change conversations.
    pub can_work: bool,
    /// Owners and admins see the settings; auditors the audit log there.
    pub settings: bool,
    /// Everyone who reads conversations reads the reports.
    pub reports: bool,
    /// Platform and partner administrators reach the platform pages.
    pub platform: bool,
}

impl Shell {
    pub async fn new(
        state: &AppState,
        agent: &Agent,
        access: &TenantAccess,
    ) -> ConsoleResult<Self> {
        let tenants = state
            .core
            .tenants_of(&agent.user.user_id)
            .await?
            .into_iter()
            .filter(|(t, _)| t.status == switchboard_types::TenantStatus::Active)
            .map(|(t, _)| (t.slug, t.name))
            .collect();
        Ok(Self {
            user_id: agent.user.user_id.to_string(),
            user_name: if agent.user.display_name.is_empty() {
                agent.user.email.clone()
            } else {
                agent.user.display_name.clone()
            },
            tenant_slug: access.tenant.slug.clone(),
            tenant_name: access.tenant.name.clone(),
            tenants,
            role: access.role.as_str(),
            csrf: agent.csrf.clone(),
            can_work: access.role.can_work_conversations(),
            settings: access.role.can_manage_settings() || access.role.can_read_audit(),
            reports: access.role.can_read_contacts(),
            platform: agent.principal.is_platform_admin()
                || agent.principal.administered_partner().is_some(),
        })
    }
}

/// The tenant a console URL names (`/app/t/{tenant}/…`), as this person may act in it; one that
/// does not exist or is not theirs is not found.
pub async fn tenant_access(
    state: &AppState,
    agent: &Agent,
    tenant: &str,
) -> ConsoleResult<TenantAccess> {
    if tenant.is_empty() || tenant.len() > 64 {
        return Err(not_found());
    }
    Ok(state
        .core
        .tenant_access(&agent.principal, Some(tenant))
        .await?)
}

/// An id from a URL or form; a malformed one is not found, like an unknown one.
pub fn parse_id<T: std::str::FromStr>(v: &str) -> ConsoleResult<T> {
    v.parse().map_err(|_| not_found())
}

pub fn not_found() -> crate::error::ConsoleError {
    crate::error::ConsoleError::Core(switchboard_core::error::CoreError::NotFound)
}

/// An HTML page that is never cached (it shows one person's data).
pub fn page(html: String) -> Response {
    let mut res = Html(html).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `2026-12-01 14:05` (UTC); the page's script shows it in the reader's time zone.
pub fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// RFC 3339 for `<time datetime>`.
pub fn iso(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_in_utc() {
        assert_eq!(when(0), "1970-01-01 00:00");
        assert_eq!(iso(1_000), "1970-01-01T00:00:01Z");
    }
}
