//! Switchboard's HTTP API: routers per area under `/v1`, RFC 9457 errors, authentication,
//! rate limits, idempotency and the OpenAPI 3.1 document generated from the handlers.

pub mod catalog;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod realtime;
pub mod routes;
pub mod state;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

pub use state::{ApiConfig, AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard API",
        description = "Multi-tenant, AI-first customer service. Authenticate with `Authorization: Bearer <token>` \
            (an API key `sb_live_…` or an access token `sb_at_…`). People acting in a tenant name it in \
            `X-Switchboard-Tenant` (id or slug); API keys are bound to theirs. Errors are RFC 9457 problem \
            documents with a stable `code`. POSTs accept an `Idempotency-Key` header (replayed for 24 h).",
        license(name = "Apache-2.0")
    ),
    modifiers(&SecurityAddon),
    tags(
        (name = "auth", description = "Sign-in, tokens, sessions"),
        (name = "me", description = "The caller"),
        (name = "tenants", description = "Tenant lifecycle (platform and partner administrators)"),
        (name = "partners", description = "Resellers (platform administrators)"),
        (name = "users", description = "A tenant's people and roles"),
        (name = "api-keys", description = "A tenant's API keys"),
        (name = "audit", description = "A tenant's hash-chained audit log"),
        (name = "contacts", description = "The people who write in, and their companies"),
        (name = "conversations", description = "Inboxes, conversations and messages"),
        (name = "triage", description = "What is learned from each inbound message: intent models, languages, urgency rules, personal-data redaction"),
        (name = "events", description = "The event catalog, webhook endpoints (Standard Webhooks signatures), their attempt log, replay and recovery"),
        (name = "realtime", description = "WebSockets pushing events, typing and presence"),
        (name = "reports", description = "Response, resolution, bot and CSAT figures; survey answers"),
        (name = "sla", description = "SLA policies and clocks; the caller's notifications"),
        (name = "channels", description = "SMS (Twilio) and email inboxes: settings, inbound webhooks and raw email"),
        (name = "automation", description = "Automation rules (trigger, conditions incl. the triage fields, actions), their run log and dry runs"),
        (name = "knowledge-base", description = "Help centres, categories and articles (per locale, drafts and published), and search over them"),
        (name = "ai", description = "AI answers from the help centre: settings (extractive or any OpenAI-compatible model), decisions per conversation, token usage"),
        (name = "widget", description = "The web widget: inbox settings, and the public API visitors' browsers call"),
    )
)]
struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(middleware::SESSION_COOKIE))),
        );
    }
}

fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::auth::router())
        .merge(routes::me::router())
        .merge(routes::tenants::router())
        .merge(routes::partners::router())
        .merge(routes::users::router())
        .merge(routes::invitations::router())
        .merge(routes::api_keys::router())
        .merge(routes::audit::router())
        .merge(routes::contacts::router())
        .merge(routes::attributes::router())
        .merge(routes::teams::router())
        .merge(routes::calendars::router())
        .merge(routes::conversations::router())
        .merge(routes::labels::router())
        .merge(routes::search::router())
        .merge(routes::triage::router())
        .merge(routes::webhooks::router())
        .merge(realtime::router())
        .merge(routes::widget::settings_router())
        .merge(routes::widget::public_router())
        .merge(routes::channels::router())
        .merge(routes::attachments::router())
        .merge(routes::sla::router())
        .merge(routes::reports::router())
        .merge(routes::conversation_tools::router())
        .merge(routes::automation::router())
        .merge(routes::kb::router())
        .merge(routes::ai::router())
}

/// The OpenAPI document, as generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().split_for_parts().1
}

/// The OpenAPI document as pretty JSON (what `switchboard openapi` prints and CI diffs).
pub fn openapi_json() -> String {
    openapi().to_pretty_json().unwrap_or_default()
}

async fn not_found() -> impl IntoResponse {
    error::ApiError::not_found()
}

async fn method_not_allowed() -> impl IntoResponse {
    error::ApiError::new(
        switchboard_types::ErrorCode::MethodNotAllowed,
        "This method is not allowed here.",
    )
}

/// The whole HTTP application with its middleware.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// The API plus `pages` (the web console): both behind the request context (ids, client
/// address) and the widget's CORS layer; `pages` authenticate themselves.
pub fn app_with(state: AppState, pages: Router<AppState>) -> Router {
    let (api, doc) = api_routes().split_for_parts();
    let doc_json: Arc<str> = doc.to_pretty_json().unwrap_or_default().into();
    let openapi_handler = move |_: Request| {
        let body = doc_json.clone();
        async move {
            let mut res = body.to_string().into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res
        }
    };
    let api = api
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::idempotency,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::ip_rate_limit,
        ));
    Router::new()
        .route("/healthz", get(routes::system::healthz))
        .route("/readyz", get(routes::system::readyz))
        .route("/metrics", get(routes::system::metrics))
        .route("/openapi.json", get(openapi_handler))
        .route("/docs", get(routes::system::docs))
        .merge(api)
        .merge(pages)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(routes::widget::cors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::request_context,
        ))
        .with_state(state)
}
