//! Real time: the WebSocket hub that pushes committed events (read from the transactional
//! outbox) and ephemeral signals (typing, presence) to connected agents.

pub mod agent;
pub mod hub;
pub mod protocol;
mod socket;
pub mod stream;
pub mod widget;

pub use hub::Hub;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(agent::realtime))
        .routes(routes!(stream::poll_events))
        .routes(routes!(stream::stream_events))
}
