//! What every handler can reach.

use crate::metrics::Metrics;
use std::sync::Arc;
use switchboard_core::ratelimit::Rate;
use switchboard_core::Core;

/// HTTP-layer settings, validated by the binary at start.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Requests per second (with burst) for each API key or signed-in user.
    pub rate_per_principal: Rate,
    /// Requests per second (with burst) for each client IP, before authentication.
    pub rate_per_ip: Rate,
    /// Reverse proxies you run in front of the server; the client address is read from the
    /// `X-Forwarded-For` entry the outermost of them appended (0: use the peer address).
    pub forwarded_for_hops: usize,
    /// Mark cookies `Secure` (when served over TLS, directly or behind a proxy).
    pub secure_cookies: bool,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl_ms: i64,
    /// Keys the fingerprint stored for idempotent requests (derived from the server secret).
    pub fingerprint_key: [u8; 32],
    /// The console's origin (`scheme://host[:port]` of the public URL): the only page allowed
    /// to open a WebSocket with the session cookie.
    pub public_origin: Option<String>,
    /// Where providers reach this server (`server.public_url`): Twilio signs the URL it calls.
    pub public_url: String,
    /// Largest raw email accepted on an email inbox.
    pub email_max_bytes: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            rate_per_principal: Rate {
                per_second: 100.0,
                burst: 200.0,
            },
            rate_per_ip: Rate {
                per_second: 200.0,
                burst: 400.0,
            },
            forwarded_for_hops: 0,
            secure_cookies: false,
            idempotency_ttl_ms: 24 * 3600 * 1000,
            fingerprint_key: [0; 32],
            public_origin: None,
            public_url: "http://127.0.0.1:8080".to_owned(),
            email_max_bytes: 25 * 1024 * 1024,
        }
    }
}

/// Shared state: no globals, cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    pub cfg: Arc<ApiConfig>,
    pub metrics: Arc<Metrics>,
    pub hub: Arc<crate::realtime::Hub>,
}
