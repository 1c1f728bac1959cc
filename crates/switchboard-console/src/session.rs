//! Signing in and out, and choosing a tenant.

use crate::auth::{cookie, set_cookie, Agent, CSRF_COOKIE, LOGIN_COOKIE};
use crate::error::{ConsoleError, ConsoleResult};
use crate::view::page;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use switchboard_api::extract::Meta;
use switchboard_api::middleware::SESSION_COOKIE;
use switchboard_api::AppState;
use switchboard_core::error::CoreError;
use switchboard_core::secrets::{constant_time_eq, random_token};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    login_csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    /// Ask for the authenticator code (the account has TOTP on).
    totp: bool,
    next: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Where to go after signing in: only a console path of ours (no open redirect).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with("/app/")
                && !n.starts_with("//")
                && n.len() <= 512
                && !n.contains(|c: char| c == '\\' || c.is_control()) =>
        {
            n
        }
        _ => "/app",
    }
}

/// `GET /app/login`.
pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<NextQuery>,
) -> ConsoleResult<Response> {
    let token = cookie(&headers, LOGIN_COOKIE).unwrap_or_else(random_token);
    let html = LoginPage {
        login_csrf: &token,
        email: "",
        error: None,
        totp: false,
        next: safe_next(q.next.as_deref()),
    }
    .render()?;
    let mut res = page(html);
    set(&mut res, &set_cookie(&state, LOGIN_COOKIE, &token, 3600));
    Ok(res)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    totp: String,
    csrf: String,
    #[serde(default)]
    next: String,
}

/// `POST /app/login`.
pub async fn login(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> ConsoleResult<Response> {
    let expected = cookie(&headers, LOGIN_COOKIE).ok_or(ConsoleError::Csrf)?;
    if !constant_time_eq(&expected, &form.csrf) {
        return Err(ConsoleError::Csrf);
    }
    let again = |status: StatusCode, error: &str, totp: bool| -> ConsoleResult<Response> {
        let html = LoginPage {
            login_csrf: &expected,
            email: &form.email,
            error: Some(error),
            totp,
            next: safe_next(Some(&form.next)),
        }
        .render()?;
        let mut res = page(html);
        *res.status_mut() = status;
        Ok(res)
    };
    if form.email.is_empty() || form.email.len() > 254 || form.password.len() > 1024 {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter your email and password.",
            false,
        );
    }
    let totp = Some(form.totp.trim()).filter(|t| !t.is_empty());
    let user = match state
        .core
        .authenticate_password(&form.email, &form.password, totp, &meta)
        .await
    {
        Ok(user) => user,
        Err(CoreError::MfaRequired) => {
            let msg = if totp.is_some() {
                "That code did not match. Enter the current code from your authenticator app."
            } else {
                "Enter the six-digit code from your authenticator app."
            };
            return again(StatusCode::UNAUTHORIZED, msg, true);
        }
        Err(CoreError::Unauthenticated) => {
            let msg = if totp.is_some() {
                "Wrong email, password or code."
            } else {
                "Wrong email or password."
            };
            return again(StatusCode::UNAUTHORIZED, msg, totp.is_some());
        }
        Err(CoreError::Locked { .. } | CoreError::RateLimited { .. }) => {
            return again(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts. Wait a few minutes and try again.",
                false,
            )
        }
        Err(e) => return Err(e.into()),
    };
    signed_in(&state, &user, &meta, safe_next(Some(&form.next))).await
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /app/logout`: ends the session everywhere it is used and clears the cookies.
pub async fn logout(
    State(state): State<AppState>,
    Meta(meta): Meta,
    agent: Agent,
    Form(form): Form<CsrfForm>,
) -> ConsoleResult<Response> {
    agent.check_csrf(&form.csrf)?;
    state.core.sign_out(&agent.principal, &meta).await?;
    let mut res = Redirect::to("/app/login").into_response();
    set(&mut res, &set_cookie(&state, SESSION_COOKIE, "", 0));
    set(&mut res, &set_cookie(&state, CSRF_COOKIE, "", 0));
    Ok(res)
}

/// `GET /app`: the first tenant's inbox, or the sign-in page.
pub async fn home(State(state): State<AppState>, agent: Agent) -> ConsoleResult<Response> {
    let tenants: Vec<_> = state
        .core
        .tenants_of(&agent.user.user_id)
        .await?
        .into_iter()
        .filter(|(t, _)| t.status == switchboard_types::TenantStatus::Active)
        .collect();
    let manages_tenants =
        agent.principal.is_platform_admin() || agent.principal.administered_partner().is_some();
    match tenants.first() {
        None if manages_tenants => Ok(Redirect::to("/app/platform").into_response()),
        // Auditors read the audit log, not conversations.
        Some((t, role)) if !role.can_read_contacts() => {
            Ok(Redirect::to(&format!("/app/t/{}/settings/audit", t.slug)).into_response())
        }
        Some((t, _)) => Ok(Redirect::to(&format!("/app/t/{}/inbox", t.slug)).into_response()),
        None => Err(ConsoleError::BadRequest(
            "You are not a member of any tenant yet. Ask an administrator to invite you.".into(),
        )),
    }
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage<'a> {
    csrf: &'a str,
    tenant: &'a str,
    email: &'a str,
    role: &'a str,
    account_exists: bool,
    error: Option<&'a str>,
}

/// An invitation link's token: the path carries it, so it is checked before anything else.
fn invite_token(token: &str) -> ConsoleResult<&str> {
    if token.is_empty() || token.len() > 300 {
        return Err(ConsoleError::Core(CoreError::NotFound));
    }
    Ok(token)
}

/// `GET /app/invite/{token}`: who is invited where, and the form to join.
pub async fn invite_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> ConsoleResult<Response> {
    let view = state.core.invitation(invite_token(&token)?).await?;
    let csrf = cookie(&headers, LOGIN_COOKIE).unwrap_or_else(random_token);
    let mut res = page(
        InvitePage {
            csrf: &csrf,
            tenant: &view.tenant_name,
            email: &view.email,
            role: view.role.as_str(),
            account_exists: view.account_exists,
            error: None,
        }
        .render()?,
    );
    set(&mut res, &set_cookie(&state, LOGIN_COOKIE, &csrf, 3600));
    Ok(res)
}

#[derive(Debug, Deserialize)]
pub struct InviteForm {
    csrf: String,
    #[serde(default)]
    name: String,
    password: String,
    #[serde(default)]
    totp: String,
}

/// `POST /app/invite/{token}`: joins, signs in, and opens the console.
pub async fn accept_invite(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<InviteForm>,
) -> ConsoleResult<Response> {
    let token = invite_token(&token)?;
    let expected = cookie(&headers, LOGIN_COOKIE).ok_or(ConsoleError::Csrf)?;
    if !constant_time_eq(&expected, &form.csrf) {
        return Err(ConsoleError::Csrf);
    }
    let name = Some(form.name.trim().to_owned()).filter(|n| !n.is_empty());
    let totp = Some(form.totp.trim()).filter(|t| !t.is_empty());
    let user = match state
        .core
        .accept_invitation(token, name, &form.password, totp, &meta)
        .await
    {
        Ok(user) => user,
        Err(
            e @ (CoreError::Validation(_) | CoreError::Unauthenticated | CoreError::MfaRequired),
        ) => {
            let view = state.core.invitation(token).await?;
            let msg = match e {
                CoreError::Validation(_) => "Choose a password of at least 12 characters.",
                CoreError::MfaRequired => "Enter the code from your authenticator app.",
                _ => "That password does not match your account.",
            };
            let mut res = page(
                InvitePage {
                    csrf: &expected,
                    tenant: &view.tenant_name,
                    email: &view.email,
                    role: view.role.as_str(),
                    account_exists: view.account_exists,
                    error: Some(msg),
                }
                .render()?,
            );
            *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(res);
        }
        Err(e) => return Err(e.into()),
    };
    signed_in(&state, &user, &meta, "/app").await
}

/// Starts a console session for `user` and goes to `to`: the session and CSRF cookies are set,
/// the sign-in form's cookie cleared.
async fn signed_in(
    state: &AppState,
    user: &switchboard_store::model::User,
    meta: &switchboard_core::audit::RequestMeta,
    to: &str,
) -> ConsoleResult<Response> {
    let session = state.core.start_console_session(user, meta).await?;
    let max_age = (session.expires_at - state.core.clock().now_ms()) / 1000;
    let mut res = Redirect::to(to).into_response();
    set(
        &mut res,
        &set_cookie(state, SESSION_COOKIE, &session.token, max_age),
    );
    set(
        &mut res,
        &set_cookie(state, CSRF_COOKIE, &session.csrf_token, max_age),
    );
    set(&mut res, &set_cookie(state, LOGIN_COOKIE, "", 0));
    Ok(res)
}

fn set(res: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_console_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/app/t/acme/inbox")), "/app/t/acme/inbox");
        for hostile in [
            "https://evil.test/app/",
            "//evil.test/app/",
            "/app\\..",
            "/apps",
            "/app/\r\nSet-Cookie: x",
            "/app/\u{1}",
            "",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/app", "{hostile:?}");
        }
        assert_eq!(safe_next(None), "/app");
    }
}
