//! Sign-in (bearer tokens or a console cookie session), refresh, sign-out.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Meta, ValidJson, Validate};
use crate::middleware::{SecretBearing, SESSION_COOKIE};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::FieldError;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_token))
        .routes(routes!(refresh_token))
        .routes(routes!(create_session))
        .routes(routes!(sign_out))
}

/// Email and password (and the current TOTP code when MFA is on).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub password: String,
    /// Six digits from the authenticator app, when enabled.
    pub totp: Option<String>,
}

impl Validate for SignIn {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        if self.email.is_empty() || self.email.len() > 254 {
            e.push(FieldError::new("email", "required, at most 254 characters"));
        }
        if self.password.is_empty() || self.password.len() > 1024 {
            e.push(FieldError::new(
                "password",
                "required, at most 1024 characters",
            ));
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }
}

/// A bearer token pair. Shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_expires_at: String,
}

impl From<switchboard_core::identity::TokenPair> for TokenResponse {
    fn from(p: switchboard_core::identity::TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            refresh_token: p.refresh_token,
            token_type: "Bearer",
            expires_in: 0,
            refresh_expires_at: ts(p.refresh_expires_at),
        }
    }
}

fn tokens(state: &AppState, pair: switchboard_core::identity::TokenPair) -> TokenResponse {
    let expires_in = (pair.access_expires_at - state.core.clock().now_ms()) / 1000;
    TokenResponse {
        expires_in,
        ..pair.into()
    }
}

/// Sign in and receive a bearer access token and a refresh token.
#[utoipa::path(post, path = "/v1/auth/token", tag = "auth", request_body = SignIn,
    responses((status = 200, body = TokenResponse), (status = 401, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
async fn create_token(
    State(state): State<AppState>,
    Meta(meta): Meta,
    ValidJson(body): ValidJson<SignIn>,
) -> ApiResult<Response> {
    let user = state
        .core
        .authenticate_password(&body.email, &body.password, body.totp.as_deref(), &meta)
        .await?;
    let pair = state.core.issue_tokens(&user, &meta).await?;
    Ok(secret_bearing(Json(tokens(&state, pair)).into_response()))
}

/// Marks a response that carries credentials: never stored for idempotent replay.
fn secret_bearing(mut res: Response) -> Response {
    res.extensions_mut().insert(SecretBearing);
    res
}

/// A refresh token to exchange.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refresh {
    pub refresh_token: String,
}

impl Validate for Refresh {}

/// Exchange a refresh token for a new pair; the old pair stops working.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = Refresh,
    responses((status = 200, body = TokenResponse), (status = 401, body = crate::error::Problem)))]
async fn refresh_token(
    State(state): State<AppState>,
    Meta(meta): Meta,
    ValidJson(body): ValidJson<Refresh>,
) -> ApiResult<Response> {
    let pair = state
        .core
        .refresh_tokens(&body.refresh_token, &meta)
        .await?;
    Ok(secret_bearing(Json(tokens(&state, pair)).into_response()))
}

/// A console session: the cookie carries the session; send `csrf_token` as `X-CSRF-Token` on
/// every state-changing request.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    pub csrf_token: String,
    pub expires_at: String,
}

/// Sign in to the console: sets an HttpOnly session cookie.
#[utoipa::path(post, path = "/v1/auth/session", tag = "auth", request_body = SignIn,
    responses((status = 200, body = SessionResponse), (status = 401, body = crate::error::Problem)))]
async fn create_session(
    State(state): State<AppState>,
    Meta(meta): Meta,
    ValidJson(body): ValidJson<SignIn>,
) -> ApiResult<Response> {
    let user = state
        .core
        .authenticate_password(&body.email, &body.password, body.totp.as_deref(), &meta)
        .await?;
    let session = state.core.start_console_session(&user, &meta).await?;
    let max_age = (session.expires_at - state.core.clock().now_ms()) / 1000;
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        session.token,
        if state.cfg.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    let mut res = Json(SessionResponse {
        csrf_token: session.csrf_token,
        expires_at: ts(session.expires_at),
    })
    .into_response();
    let value = HeaderValue::from_str(&cookie)
        .map_err(|_| ApiError::new(switchboard_types::ErrorCode::Internal, "cookie"))?;
    res.headers_mut().insert(header::SET_COOKIE, value);
    Ok(secret_bearing(res))
}

/// End the current session or token pair.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = crate::error::Problem)))]
async fn sign_out(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Meta(meta): Meta,
) -> ApiResult<Response> {
    state.core.sign_out(&principal, &meta).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("sb_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    Ok(res)
}
