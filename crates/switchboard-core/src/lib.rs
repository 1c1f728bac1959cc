//! Switchboard's use cases, over the [`Store`] and [`Clock`] traits: no HTTP and no SQL here.
//!
//! Every change writes its audit entry (and, for tenant data, its outbox event) in the same
//! transaction as the change itself.

pub mod ai;
pub mod apikeys;
pub mod assignment;
pub mod attachments;
pub mod attributes;
pub mod audit;
pub mod authcache;
pub mod automation;
pub mod blob;
pub mod calendar;
pub mod calendars;
mod changes;
pub mod channels;
pub mod clock;
mod consumers;
pub mod contacts;
pub mod contacts_csv;
pub mod conversations;
pub mod email;
pub mod error;
pub mod events;
pub mod identity;
pub mod invitations;
pub mod jobs;
pub mod kb;
pub mod labels;
pub mod macros;
pub mod members;
pub mod notifications;
pub mod participants;
pub mod password;
pub mod platform_events;
pub mod quotas;
pub mod ratelimit;
pub mod reports;
pub mod scheduled;
pub mod search;
pub mod secrets;
pub mod sla;
pub mod sms;
pub mod teams;
pub mod tenants;
pub mod totp;
pub mod triage;
pub mod validate;
pub mod webhook_dispatch;
pub mod webhooks;
pub mod widget;

use std::sync::Arc;
use switchboard_store::Store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{CoreError, CoreResult, FieldError};
pub use identity::{Principal, TenantAccess};

/// Settings the use cases need; loaded and validated by the binary.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub password_cost: password::PasswordCost,
    pub access_token_ttl_ms: i64,
    pub refresh_token_ttl_ms: i64,
    pub console_session_ttl_ms: i64,
    /// Failed sign-ins in a row that lock an account.
    pub lockout_threshold: i64,
    pub lockout_duration_ms: i64,
    /// Failed sign-ins allowed per IP address.
    pub signin_failures_per_ip: ratelimit::Rate,
    /// Region of the local cell, where tenants go unless placed elsewhere.
    pub default_region: String,
    /// Name shown in authenticator apps.
    pub issuer: String,
    /// How long a verified API key is trusted without a database read (0 disables).
    pub api_key_cache_ttl_ms: i64,
    /// Root of the web widget's per-inbox identity-verification keys (derived from the server
    /// secret, so every process of an installation computes the same keys).
    pub widget_key: [u8; 32],
    /// Seals channel secrets (e.g. Twilio auth tokens) at rest; derived from the server secret.
    pub channel_key: [u8; 32],
    /// Largest attachment accepted, in bytes.
    pub attachment_max_bytes: usize,
    /// The web widget's anonymous-abuse limits.
    pub widget_limits: widget::WidgetLimits,
    /// Keys the hashes that replace personal data (derived per tenant from this).
    pub pii_hash_key: [u8; 32],
    pub triage: triage::TriageOptions,
    pub webhooks: webhooks::WebhookOptions,
    /// Where operational events go (none: not sent).
    pub platform_endpoint: Option<platform_events::PlatformEndpoint>,
    /// Each plan's limits (by plan name; none: unlimited).
    pub quotas: quotas::Quotas,
    /// Where the server is reached from outside (links in AI answers); empty: relative links.
    pub public_url: String,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            password_cost: password::PasswordCost::default(),
            access_token_ttl_ms: 15 * 60 * 1000,
            refresh_token_ttl_ms: 30 * 24 * 3600 * 1000,
            console_session_ttl_ms: 12 * 3600 * 1000,
            lockout_threshold: 5,
            lockout_duration_ms: 15 * 60 * 1000,
            signin_failures_per_ip: ratelimit::Rate {
                per_second: 20.0 / 900.0,
                burst: 20.0,
            },
            default_region: "local".to_owned(),
            issuer: "Switchboard".to_owned(),
            api_key_cache_ttl_ms: 2000,
            widget_key: [0; 32],
            channel_key: [0; 32],
            attachment_max_bytes: 10 * 1024 * 1024,
            widget_limits: widget::WidgetLimits::default(),
            pii_hash_key: [0; 32],
            triage: triage::TriageOptions::default(),
            webhooks: webhooks::WebhookOptions::default(),
            platform_endpoint: None,
            quotas: quotas::Quotas::new(),
            public_url: String::new(),
        }
    }
}

/// The use-case layer: one per process, shared by the API, the workers and the CLI.
#[derive(Debug)]
pub struct Core {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    limiter: Arc<dyn ratelimit::RateLimiter>,
    passwords: password::PasswordHasherArgon,
    auth_cache: authcache::AuthCache,
    cfg: CoreConfig,
    sender: Arc<dyn channels::ChannelSender>,
    blobs: Arc<dyn blob::BlobStore>,
    triage: triage::TriageEngine,
    webhook_lookup: Arc<dyn switchboard_webhooks::Lookup>,
    webhook_client: switchboard_webhooks::Deliverer,
    kb_cache: kb::KbIndexCache,
    chat_model: Arc<dyn ai::ChatModel>,
}

impl Core {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        limiter: Arc<dyn ratelimit::RateLimiter>,
        cfg: CoreConfig,
    ) -> CoreResult<Self> {
        let passwords = password::PasswordHasherArgon::new(cfg.password_cost)
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        let auth_cache = authcache::AuthCache::new(cfg.api_key_cache_ttl_ms, 100_000);
        let triage = triage::TriageEngine::new(cfg.triage.clone());
        let webhook_lookup = switchboard_webhooks::default_lookup();
        let webhook_client = webhooks::build_client(&cfg.webhooks, webhook_lookup.clone())?;
        Ok(Self {
            webhook_lookup,
            webhook_client,
            store,
            clock,
            limiter,
            passwords,
            auth_cache,
            cfg,
            sender: Arc::new(channels::NoChannels),
            blobs: Arc::new(blob::NoBlobs),
            triage,
            kb_cache: kb::KbIndexCache::default(),
            chat_model: Arc::new(ai::NoChatModel),
        })
    }

    /// Asks tenants' generative models through `model` (the binary hands in the
    /// chat-completions adapter).
    pub fn with_chat_model(mut self, model: Arc<dyn ai::ChatModel>) -> Self {
        self.chat_model = model;
        self
    }

    pub(crate) fn chat_model(&self) -> &Arc<dyn ai::ChatModel> {
        &self.chat_model
    }

    /// The per-process cache of knowledge-base search indexes.
    pub(crate) fn kb_cache(&self) -> &kb::KbIndexCache {
        &self.kb_cache
    }

    /// Keeps attachment bytes in `blobs` (the binary hands in the configured store).
    pub fn with_blob_store(mut self, blobs: Arc<dyn blob::BlobStore>) -> Self {
        self.blobs = blobs;
        self
    }

    pub fn blobs(&self) -> &Arc<dyn blob::BlobStore> {
        &self.blobs
    }

    /// Sends outgoing SMS and email through `sender` (the binary hands in the real adapters).
    pub fn with_channel_sender(mut self, sender: Arc<dyn channels::ChannelSender>) -> Self {
        self.sender = sender;
        self
    }

    /// Resolves webhook hosts through `lookup` (tests answer with addresses of their choosing).
    pub fn with_webhook_lookup(
        mut self,
        lookup: Arc<dyn switchboard_webhooks::Lookup>,
    ) -> CoreResult<Self> {
        self.webhook_client = webhooks::build_client(&self.cfg.webhooks, lookup.clone())?;
        self.webhook_lookup = lookup;
        Ok(self)
    }

    pub fn webhook_client(&self) -> &switchboard_webhooks::Deliverer {
        &self.webhook_client
    }

    pub fn webhook_lookup(&self) -> &Arc<dyn switchboard_webhooks::Lookup> {
        &self.webhook_lookup
    }

    pub fn sender(&self) -> &Arc<dyn channels::ChannelSender> {
        &self.sender
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn limiter(&self) -> &Arc<dyn ratelimit::RateLimiter> {
        &self.limiter
    }

    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Hashes a password off the async executor (Argon2 is deliberately slow).
    async fn hash_password(&self, password: String) -> CoreResult<String> {
        let hasher = self.passwords.clone();
        tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?
            .map_err(|e| CoreError::Internal(e.to_string()))
    }

    async fn verify_password(&self, password: String, stored: Option<String>) -> CoreResult<bool> {
        let hasher = self.passwords.clone();
        tokio::task::spawn_blocking(move || hasher.verify(&password, stored.as_deref()))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))
    }
}
