//! Who is signed in to the console. The console uses the same console sessions as the API: an
//! HttpOnly cookie carries the session token, and every state-changing form carries the session's
//! CSRF token, which the server keeps in a second HttpOnly cookie to render it into pages (only
//! its hash is stored with the session). Another site can make a browser send the cookies, but
//! cannot read a page to learn the token, so it cannot forge a form.

use crate::error::ConsoleError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use switchboard_api::middleware::SESSION_COOKIE;
use switchboard_api::AppState;
use switchboard_core::identity::UserPrincipal;
use switchboard_core::secrets::{constant_time_eq, token_hash};
use switchboard_core::Principal;
use switchboard_store::model::SessionKind;

/// The session's CSRF token, for rendering into forms.
pub const CSRF_COOKIE: &str = "sb_csrf";
/// A random value bound to the sign-in form (login CSRF): the form must echo it.
pub const LOGIN_COOKIE: &str = "sb_login";

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 256)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, the whole site, `Secure` when configured.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        if state.cfg.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    )
}

/// A signed-in person using the console.
#[derive(Debug, Clone)]
pub struct Agent {
    pub principal: Principal,
    pub user: UserPrincipal,
    /// The session's CSRF token (rendered into forms and the page's `csrf-token` meta tag).
    pub csrf: String,
}

impl Agent {
    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, presented: &str) -> Result<(), ConsoleError> {
        let expected = self.user.csrf_hash.as_deref().unwrap_or_default();
        if !expected.is_empty() && constant_time_eq(expected, &token_hash(presented)) {
            Ok(())
        } else {
            Err(ConsoleError::Csrf)
        }
    }
}

impl FromRequestParts<AppState> for Agent {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(ConsoleError::SignInRequired)?;
        let principal = state
            .core
            .authenticate_token(&token)
            .await
            .map_err(|_| ConsoleError::SignInRequired)?;
        let Principal::User(user) = &principal else {
            return Err(ConsoleError::SignInRequired);
        };
        // Only console sessions: an access token pasted into the cookie has no CSRF token.
        if user.session_kind != SessionKind::Console {
            return Err(ConsoleError::SignInRequired);
        }
        let user = (**user).clone();
        let csrf = cookie(&parts.headers, CSRF_COOKIE).unwrap_or_default();
        let agent = Agent {
            principal,
            user,
            csrf,
        };
        // A session whose CSRF cookie went missing cannot submit forms: sign in again.
        agent
            .check_csrf(&agent.csrf)
            .map_err(|_| ConsoleError::SignInRequired)?;
        Ok(agent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_static("sb_csrf_x=1; sb_csrf=abc; other=2"),
        );
        assert_eq!(cookie(&h, "sb_csrf").as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "missing"), None);
    }

    #[test]
    fn empty_and_oversized_cookies_are_ignored() {
        let mut h = HeaderMap::new();
        let long = format!("sb_login={}", "x".repeat(300));
        h.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_str(&format!("sb_csrf=; {long}")).unwrap(),
        );
        assert_eq!(cookie(&h, "sb_csrf"), None);
        assert_eq!(cookie(&h, "sb_login"), None);
    }
}
