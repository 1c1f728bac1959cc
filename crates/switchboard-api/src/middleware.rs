//! The request pipeline, outermost first: request context (id, client address, metrics), per-IP
//! rate limit, authentication (+ CSRF for cookie sessions, per-principal rate limit), and
//! idempotent replay of POSTs.

use crate::error::{ApiError, ApiResult};
use crate::extract::{too_large, TENANT_HEADER};
use crate::metrics::RequestLabels;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::Mac;
use std::net::SocketAddr;
use switchboard_core::audit::RequestMeta;
use switchboard_core::ratelimit::Decision;
use switchboard_core::secrets::{constant_time_eq, token_hash};
use switchboard_core::Principal;
use switchboard_store::model::IdempotencyRecord;
use switchboard_store::Access;
use switchboard_types::ErrorCode;
use tracing::Instrument;

pub const REQUEST_ID: &str = "x-request-id";
pub const SESSION_COOKIE: &str = "sb_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// After this long an unfinished first attempt counts as abandoned.
const IN_PROGRESS_LEASE_MS: i64 = 60_000;
/// Routes that take credentials in their body and ignore any presented in headers.
const PUBLIC_AUTH_PATHS: [&str; 3] = ["/v1/auth/token", "/v1/auth/refresh", "/v1/auth/session"];

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A response whose body must not be stored for idempotent replay (it carries a secret shown
/// once). Handlers attach it as a response extension.
#[derive(Debug, Clone, Copy)]
pub struct SecretBearing;

fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    ok.then(|| s.to_owned())
}

/// The client address: the peer, or with `hops` trusted proxies in front, the address the
/// outermost trusted proxy saw. Proxies append to `X-Forwarded-For`, so only the rightmost `hops`
/// entries were written by proxies we trust; anything left of them is the client's own claim.
fn client_ip(req: &Request, hops: usize) -> Option<String> {
    if hops > 0 {
        let header = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        if let Some(list) = header {
            let entries: Vec<&str> = list.split(',').map(str::trim).collect();
            let trusted = entries.len().checked_sub(hops).and_then(|i| entries.get(i));
            if let Some(ip) = trusted.and_then(|s| s.parse::<std::net::IpAddr>().ok()) {
                return Some(ip.to_string());
            }
        }
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

/// Assigns a request id, records who is calling, times the request and tags error bodies.
pub async fn request_context(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    #[allow(clippy::disallowed_methods)] // latency measurement, not business logic
    let started = std::time::Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(switchboard_core::secrets::unique_id);
    let meta = RequestMeta {
        ip: client_ip(&req, state.cfg.forwarded_for_hops),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
        request_id: Some(request_id.clone()),
    };
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    req.extensions_mut().insert(meta);

    let span = tracing::info_span!("request", id = %request_id, %method, %route);
    let mut res = next.run(req).instrument(span).await;
    let status = res.status().as_u16();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    let res = tag_problem(res, &request_id).await;
    let labels = RequestLabels {
        method,
        route,
        status,
    };
    state.metrics.requests.get_or_create(&labels).inc();
    state
        .metrics
        .latency
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    res
}

/// Adds the request id to problem+json bodies so a user can quote it to support.
async fn tag_problem(res: Response, request_id: &str) -> Response {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/problem+json");
    if !is_problem {
        return res;
    }
    let (parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(mut v) => {
            if let Some(obj) = v.as_object_mut() {
                obj.insert("request_id".into(), request_id.into());
            }
            serde_json::to_vec(&v).unwrap_or_else(|_| bytes.to_vec())
        }
        Err(_) => bytes.to_vec(),
    };
    let mut res = Response::from_parts(parts, Body::from(body));
    res.headers_mut().remove(header::CONTENT_LENGTH);
    res
}

/// Limits each client address before any work is done for it.
pub async fn ip_rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<RequestMeta>()
        .and_then(|m| m.ip.clone())
        .unwrap_or_default();
    match state
        .core
        .limiter()
        .acquire(&format!("ip:{ip}"), state.cfg.rate_per_ip, 1.0)
    {
        Decision::Allowed { .. } => next.run(req).await,
        Decision::Limited { retry_after_ms } => {
            ApiError::rate_limited(ErrorCode::RateLimited, retry_after_ms).into_response()
        }
    }
}

/// The credential a request authenticated with: its bearer token, else its session cookie.
pub fn credential(headers: &HeaderMap) -> Option<String> {
    bearer(headers)
        .map(str::to_owned)
        .or_else(|| session_cookie(headers))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Resolves credentials, when any are presented, to a [`Principal`] in the request extensions.
/// Presented-but-bad credentials answer 401 here; routes that need a principal answer 401 too.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    match authenticate_inner(&state, &mut req).await {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// Paths providers and visitors call with credentials of their own (a widget session, a
/// provider's signature), never platform credentials.
fn is_public_channel_path(path: &str) -> bool {
    path.starts_with("/widget/") || path.starts_with("/channels/") || path.starts_with("/csat/")
}

async fn authenticate_inner(state: &AppState, req: &mut Request) -> ApiResult<()> {
    // Signing in must work while the client still carries a stale token or cookie; the widget's
    // public API authenticates visitors by their own session tokens, never platform credentials.
    if PUBLIC_AUTH_PATHS.contains(&req.uri().path()) || is_public_channel_path(req.uri().path()) {
        return Ok(());
    }
    let (token, via_cookie) = match bearer(req.headers()) {
        Some(t) => (t.to_owned(), false),
        None => match session_cookie(req.headers()) {
            Some(c) => (c, true),
            None => return Ok(()),
        },
    };
    let principal = state.core.authenticate_token(&token).await?;
    if via_cookie {
        // Cookies ride along on cross-site requests; state changes need the CSRF token too.
        let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let expected = principal.as_user().and_then(|u| u.csrf_hash.clone());
        let presented = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(token_hash);
        let ok = match (expected, presented) {
            (Some(e), Some(p)) => constant_time_eq(&e, &p),
            _ => false,
        };
        if !safe && !ok {
            return Err(ApiError::new(
                ErrorCode::CsrfFailed,
                "Send the session's CSRF token in X-CSRF-Token.",
            ));
        }
    }
    let key = format!("principal:{}", principal.scope_key());
    if let Decision::Limited { retry_after_ms } =
        state
            .core
            .limiter()
            .acquire(&key, state.cfg.rate_per_principal, 1.0)
    {
        return Err(ApiError::rate_limited(
            ErrorCode::RateLimited,
            retry_after_ms,
        ));
    }
    req.extensions_mut().insert(principal);
    Ok(())
}

/// Replays the stored response of a POST repeated with the same `Idempotency-Key` (24 h).
pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST
        || !req.headers().contains_key(IDEMPOTENCY_KEY)
        || is_public_channel_path(req.uri().path())
    {
        return next.run(req).await;
    }
    match idempotent(&state, req, next).await {
        Ok(res) | Err(res) => res,
    }
}

async fn idempotent(state: &AppState, req: Request, next: Next) -> Result<Response, Response> {
    let key = req
        .headers()
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadRequest,
                "Idempotency-Key must be 1-255 visible ASCII characters.",
            )
            .into_response()
        })?;
    let Some(principal) = req.extensions().get::<Principal>().cloned() else {
        // Unauthenticated POSTs (sign-in) are not replayed: there is no one to scope them to.
        return Ok(next.run(req).await);
    };
    let scope = principal.scope_key();
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, state.cfg.body_limit_bytes)
        .await
        .map_err(|_| too_large(state.cfg.body_limit_bytes).into_response())?;
    // Keyed with the server secret: the body may carry a password, and a plain hash stored in
    // the database would let anyone holding a dump guess it at hash speed.
    let Ok(mut hasher) = HmacSha256::new_from_slice(&state.cfg.fingerprint_key) else {
        return Err(ApiError::new(ErrorCode::Internal, "fingerprint key").into_response());
    };
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(&[0]);
    hasher.update(parts.uri.path().as_bytes());
    hasher.update(&[0]);
    hasher.update(
        parts
            .headers
            .get(TENANT_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default(),
    );
    hasher.update(&[0]);
    hasher.update(&bytes);
    let request_hash = hex::encode(hasher.finalize().into_bytes());
    let now = state.core.clock().now_ms();

    let db = |e: switchboard_store::StoreError| ApiError::from(e).into_response();
    let mut tx = state
        .core
        .store()
        .control(Access::Write)
        .await
        .map_err(db)?;
    if let Some(existing) = tx.get_idempotency(&scope, &key).await.map_err(db)? {
        if existing.expires_at > now {
            if !constant_time_eq(&existing.request_hash, &request_hash) {
                return Err(ApiError::new(
                    ErrorCode::IdempotencyKeyReused,
                    "This Idempotency-Key was used with a different request.",
                )
                .into_response());
            }
            match (existing.status, existing.body) {
                (Some(status), Some(body)) => return Err(replay(status, body)),
                // A first attempt still running, unless it was abandoned (client gone, process
                // died): then this request takes the key over.
                _ if now - existing.created_at < IN_PROGRESS_LEASE_MS => {
                    return Err(ApiError::new(
                        ErrorCode::IdempotencyInProgress,
                        "The first request with this key is still running.",
                    )
                    .into_response())
                }
                _ => {}
            }
        }
        tx.delete_idempotency(&scope, &key).await.map_err(db)?;
    }
    let record = IdempotencyRecord {
        scope: scope.clone(),
        key: key.clone(),
        request_hash,
        status: None,
        body: None,
        created_at: now,
        expires_at: now + state.cfg.idempotency_ttl_ms,
    };
    if tx.insert_idempotency(&record).await.is_err() {
        return Err(ApiError::new(
            ErrorCode::IdempotencyInProgress,
            "The first request with this key is still running.",
        )
        .into_response());
    }
    tx.commit().await.map_err(db)?;

    let res = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = res.status();
    let finish = async {
        let mut tx = state.core.store().control(Access::Write).await?;
        if status.is_server_error() {
            // Let the client retry a failure that was ours.
            tx.delete_idempotency(&scope, &key).await?;
            tx.commit().await?;
            return Ok::<_, switchboard_store::StoreError>(res);
        }
        let secret = res.extensions().get::<SecretBearing>().is_some();
        let (parts, body) = res.into_parts();
        let bytes = axum::body::to_bytes(body, 4 * 1024 * 1024)
            .await
            .unwrap_or_default();
        let stored = if secret {
            // Replays say it happened, without the secret (which we never store in clear).
            let p = ApiError::new(ErrorCode::Conflict, "This request already succeeded; the secret it returned was shown once and is not stored.");
            let r = p.into_response();
            let b = axum::body::to_bytes(r.into_body(), 64 * 1024)
                .await
                .unwrap_or_default();
            (
                i64::from(StatusCode::CONFLICT.as_u16()),
                String::from_utf8_lossy(&b).into_owned(),
            )
        } else {
            (
                i64::from(status.as_u16()),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        };
        tx.finish_idempotency(&scope, &key, stored.0, &stored.1)
            .await?;
        tx.commit().await?;
        Ok(Response::from_parts(parts, Body::from(bytes)))
    };
    finish.await.map_err(db)
}

fn replay(status: i64, body: String) -> Response {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    let mut res = (status, body).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    res
}
