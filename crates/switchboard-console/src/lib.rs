//! The web console agents work in all day (`/app`), the chat widget visitors meet on a
//! tenant's site (`/widget.js`), and the public help centres (`/hc/<tenant>/<portal>`). Pages are rendered on the server from askama templates; the
//! small scripts and styles are our own, served from the binary, and run under a strict
//! Content-Security-Policy (no inline script or style, nothing from other origins).

mod assets;
mod auth;
mod charts;
mod error;
mod help_centre;
mod inbox;
mod platform;
mod reports;
mod session;
mod settings;
mod view;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use switchboard_api::AppState;

pub use assets::WIDGET_JS;

/// The console's Content-Security-Policy: our own scripts, styles, images and sockets only.
pub const CONSOLE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Security headers on every console response.
async fn secure_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // A download keeps its own, stricter policy (a sandbox).
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONSOLE_CSP));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    res
}

/// The console's routes (under `/app`) and the widget script, to merge into the server's app.
pub fn router(state: &AppState) -> Router<AppState> {
    let console = Router::new()
        .route("/app", get(session::home))
        .route("/app/", get(session::home))
        .route("/app/login", get(session::login_form).post(session::login))
        .route("/app/logout", post(session::logout))
        .route(
            "/app/invite/{token}",
            get(session::invite_form).post(session::accept_invite),
        )
        .route("/app/static/{name}", get(assets::console_asset))
        .route("/app/t/{tenant}/inbox", get(inbox::inbox))
        .route(
            "/app/t/{tenant}/conversations/{id}",
            get(inbox::conversation).post(inbox::change),
        )
        .route(
            "/app/t/{tenant}/conversations/{id}/messages",
            post(inbox::reply),
        )
        .route("/app/t/{tenant}/attachments/{id}", get(inbox::attachment))
        .route(
            "/app/platform",
            get(platform::platform).post(platform::change),
        )
        .route("/app/t/{tenant}/reports", get(reports::reports))
        .route("/app/t/{tenant}/settings", get(settings::index))
        .route(
            "/app/t/{tenant}/settings/{section}",
            get(settings::section).post(settings::change),
        )
        .route(
            "/app/t/{tenant}/settings/{section}/{id}",
            get(settings::item).post(settings::change_item),
        )
        .route(
            "/app/t/{tenant}/settings/inboxes/{id}/preview",
            get(settings::preview),
        )
        .route("/hc/{tenant}/{portal}", get(help_centre::portal_root))
        .route("/hc/{tenant}/{portal}/{locale}", get(help_centre::home))
        .route(
            "/hc/{tenant}/{portal}/{locale}/search",
            get(help_centre::search),
        )
        .route(
            "/hc/{tenant}/{portal}/{locale}/articles/{slug}",
            get(help_centre::article),
        )
        .route(
            "/hc/{tenant}/{portal}/{locale}/articles/{slug}/feedback",
            post(help_centre::feedback),
        )
        .layer(axum::middleware::from_fn(secure_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            switchboard_api::middleware::ip_rate_limit,
        ));
    Router::new()
        .merge(console)
        .route("/widget.js", get(assets::widget_js))
}
