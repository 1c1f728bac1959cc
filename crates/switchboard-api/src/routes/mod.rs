//! Routers per area. Each module owns its DTOs and handlers; handlers stay thin and delegate to
//! `switchboard_core`.

pub mod ai;
pub mod api_keys;
pub mod attachments;
pub mod attributes;
pub mod audit;
pub mod auth;
pub mod automation;
pub mod calendars;
pub mod channels;
pub mod contacts;
pub mod conversation_tools;
pub mod conversations;
pub mod invitations;
pub mod kb;
pub mod labels;
pub mod me;
pub mod partners;
pub mod reports;
pub mod search;
pub mod sla;
pub mod system;
pub mod teams;
pub mod tenants;
pub mod triage;
pub mod users;
pub mod webhooks;
pub mod widget;

use serde::Serialize;
use utoipa::ToSchema;

/// A page of results; pass `next_cursor` as `after` to continue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub data: Vec<T>,
    /// Absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> Page<T> {
    /// Builds a page from `size + 1` fetched items, deriving the cursor from the last kept one.
    pub fn from_overfetch<S>(
        mut items: Vec<S>,
        size: i64,
        cursor: impl Fn(&S) -> String,
        map: impl Fn(S) -> T,
    ) -> Self {
        let size = usize::try_from(size).unwrap_or(50);
        let more = items.len() > size;
        items.truncate(size);
        let next_cursor = if more {
            items.last().map(&cursor)
        } else {
            None
        };
        Self {
            data: items.into_iter().map(map).collect(),
            next_cursor,
        }
    }
}

/// An id from the path; a malformed one is as unknown as a missing one (404).
pub fn path_id<T: std::str::FromStr>(raw: &str) -> crate::error::ApiResult<T> {
    raw.parse().map_err(|_| crate::error::ApiError::not_found())
}

/// RFC 3339 rendering of stored milliseconds.
pub fn ts(ms: i64) -> String {
    switchboard_core::clock::rfc3339(ms)
}

/// Distinguishes an absent field (keep) from `null` (clear) in PATCH bodies.
pub fn nullable<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}
