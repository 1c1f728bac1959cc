//! Configuration: embedded documented defaults (`config/default.toml`) → optional file →
//! `SWITCHBOARD_*` environment → command-line flags. Validated once at start.

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The embedded defaults, also the reference documentation of every setting.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// A secret string: never printed by `Debug` or logs.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("\"<redacted>\"")
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub rate_limit: RateLimitConfig,
    pub tenancy: TenancyConfig,
    pub jobs: JobsConfig,
    pub realtime: RealtimeConfig,
    pub channels: ChannelsConfig,
    pub attachments: AttachmentsConfig,
    pub triage: TriageConfig,
    pub webhooks: WebhooksConfig,
    pub automation: AutomationConfig,
    pub ai: AiConfig,
    pub events: EventsConfig,
    pub blob: BlobConfig,
    pub widget: WidgetConfig,
    pub telemetry: TelemetryConfig,
    /// Each plan's limits, by plan name (`[quotas.starter] members = 5`); absent: unlimited.
    #[serde(default)]
    pub quotas: std::collections::BTreeMap<String, QuotaConfig>,
}

/// One plan's limits; an absent key is unlimited.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    pub members: Option<i64>,
    pub inboxes: Option<i64>,
    pub webhook_endpoints: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetConfig {
    pub sessions_per_ip_per_minute: f64,
    pub sessions_per_ip_burst: f64,
    pub messages_per_ip_per_second: f64,
    pub messages_per_ip_burst: f64,
    pub messages_per_session_per_second: f64,
    pub messages_per_session_burst: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriageConfig {
    /// Where pack models are (empty: no packs).
    pub packs_dir: String,
    pub budget_ms: u64,
    pub settings_ttl_ms: i64,
    pub max_models: usize,
    pub model_max_bytes: usize,
    /// The sentence encoder for models with encoder features (empty: none).
    pub encoder_dir: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiConfig {
    /// Private ranges tenants' generative-model endpoints may reach.
    pub allow_private: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomationConfig {
    /// Whether this process runs automation rules.
    pub run: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    pub dispatch: bool,
    pub allow_private: Vec<String>,
    pub timeout_ms: u64,
    pub max_in_flight: usize,
    pub batch_size: i64,
    pub poll_ms: u64,
    pub lease_ms: i64,
    pub platform_url: String,
    pub platform_secret: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    pub nats: NatsConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    pub url: String,
    pub stream: String,
    pub subject_prefix: String,
    pub max_age_hours: u64,
    pub poll_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentsConfig {
    pub max_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobConfig {
    /// `local` or `s3`.
    pub backend: String,
    /// Local backend: the directory (empty: `<data_dir>/blobs`).
    pub local_dir: String,
    pub s3_endpoint: String,
    pub s3_bucket: String,
    pub s3_region: String,
    pub s3_access_key: String,
    pub s3_secret_key: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsConfig {
    /// Twilio's REST API (a local receiver in tests).
    pub twilio_api_base: String,
    /// Seconds a provider call may take.
    pub timeout_secs: u64,
    /// The SMTP relay email replies go through (lettre URL format); empty disables email replies.
    /// May carry a password: a [`Secret`].
    pub smtp_url: Secret,
    /// The platform's own sender for its emails (invitations), e.g. `Acme support
    /// <no-reply@acme.example>`; empty: the platform sends none (links are shown instead).
    pub mail_from: String,
    /// Largest raw email accepted.
    pub email_max_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealtimeConfig {
    /// How often a tenant's feed reads the outbox without being woken by a local commit (picks up
    /// other processes' commits).
    pub poll_interval_ms: u64,
    /// How often an open socket's credentials and membership are checked again.
    pub reauthorize_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
    /// Keys derived values (idempotency fingerprints). A [`Secret`].
    pub secret: Secret,
    pub data_dir: PathBuf,
    pub public_url: String,
    pub body_limit_bytes: usize,
    pub forwarded_for_hops: usize,
    pub secure_cookies: bool,
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// May carry a password: a [`Secret`].
    pub url: Secret,
    pub migrate_url: Secret,
    pub max_connections: u32,
    pub sqlite_readers: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
    pub console_session_ttl_secs: i64,
    pub lockout_threshold: i64,
    pub lockout_secs: i64,
    pub signin_failures_per_ip: u32,
    pub api_key_cache_ttl_ms: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub per_principal_per_sec: f64,
    pub per_principal_burst: f64,
    pub per_ip_per_sec: f64,
    pub per_ip_burst: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenancyConfig {
    pub default_region: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    pub concurrency: usize,
    pub lease_secs: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    pub log: String,
    pub format: String,
}

/// Overrides from command-line flags (highest precedence).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

/// Why the configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(#[from] Box<figment::Error>),
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("configuration is invalid:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

impl Config {
    /// Loads every layer and validates the result.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::load_from(file, overrides, Env::prefixed("SWITCHBOARD_").split("__"))
    }

    fn load_from(
        file: Option<&Path>,
        overrides: &Overrides,
        env: Env,
    ) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_owned()));
            }
            fig = fig.merge(Toml::file(path));
        }
        // Only SECTION__KEY variables (split into `section.key`) are configuration; others with
        // our prefix belong to the
        // command line (SWITCHBOARD_DATABASE_URL) or the test harness (SWITCHBOARD_TEST_*).
        fig = fig.merge(env.filter(|k| k.as_str().contains('.')));
        if let Some(v) = &overrides.listen {
            fig = fig.merge(("server.listen", v));
        }
        if let Some(v) = &overrides.data_dir {
            fig = fig.merge(("server.data_dir", v));
        }
        if let Some(v) = &overrides.database_url {
            fig = fig.merge(("database.url", v));
        }
        let cfg: Config = fig.extract().map_err(Box::new)?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let mut e = Vec::new();
        for (plan, q) in &self.quotas {
            if switchboard_types::Plan::parse(plan).is_none() {
                e.push(format!("quotas.{plan}: not a plan (starter, professional, enterprise, white_label, enterprise_plus)"));
            }
            for (k, v) in [
                ("members", q.members),
                ("inboxes", q.inboxes),
                ("webhook_endpoints", q.webhook_endpoints),
            ] {
                if v.is_some_and(|v| v < 0) {
                    e.push(format!("quotas.{plan}.{k} must be 0 or more"));
                }
            }
        }
        if self.server.listen.parse::<SocketAddr>().is_err() {
            e.push(format!(
                "server.listen `{}` is not an address like 127.0.0.1:8080",
                self.server.listen
            ));
        }
        if !self.server.public_url.is_empty() && url::Url::parse(&self.server.public_url).is_err() {
            e.push("server.public_url is not a URL".into());
        }
        if !(1024..=1024 * 1024 * 1024).contains(&self.server.body_limit_bytes) {
            e.push("server.body_limit_bytes must be between 1 KiB and 1 GiB".into());
        }
        let db = self.database.url.expose();
        if !db.is_empty() && !db.starts_with("postgres://") && !db.starts_with("postgresql://") {
            e.push("database.url must be empty (SQLite) or a postgres:// URL".into());
        }
        if self.database.max_connections == 0 || self.database.sqlite_readers == 0 {
            e.push(
                "database.max_connections and database.sqlite_readers must be at least 1".into(),
            );
        }
        if self.auth.argon2_memory_kib < 8 * self.auth.argon2_parallelism.max(1)
            || self.auth.argon2_iterations == 0
        {
            e.push("auth.argon2_* costs are too low".into());
        }
        for (name, v) in [
            (
                "auth.access_token_ttl_secs",
                self.auth.access_token_ttl_secs,
            ),
            (
                "auth.refresh_token_ttl_secs",
                self.auth.refresh_token_ttl_secs,
            ),
            (
                "auth.console_session_ttl_secs",
                self.auth.console_session_ttl_secs,
            ),
            ("auth.lockout_threshold", self.auth.lockout_threshold),
            ("auth.lockout_secs", self.auth.lockout_secs),
            ("jobs.lease_secs", self.jobs.lease_secs),
            (
                "realtime.poll_interval_ms",
                i64::try_from(self.realtime.poll_interval_ms).unwrap_or(i64::MAX),
            ),
            (
                "realtime.reauthorize_secs",
                i64::try_from(self.realtime.reauthorize_secs).unwrap_or(i64::MAX),
            ),
        ] {
            if v <= 0 {
                e.push(format!("{name} must be positive"));
            }
        }
        for (name, v) in [
            (
                "rate_limit.per_principal_per_sec",
                self.rate_limit.per_principal_per_sec,
            ),
            (
                "rate_limit.per_principal_burst",
                self.rate_limit.per_principal_burst,
            ),
            ("rate_limit.per_ip_per_sec", self.rate_limit.per_ip_per_sec),
            ("rate_limit.per_ip_burst", self.rate_limit.per_ip_burst),
            (
                "widget.sessions_per_ip_per_minute",
                self.widget.sessions_per_ip_per_minute,
            ),
            (
                "widget.sessions_per_ip_burst",
                self.widget.sessions_per_ip_burst,
            ),
            (
                "widget.messages_per_ip_per_second",
                self.widget.messages_per_ip_per_second,
            ),
            (
                "widget.messages_per_ip_burst",
                self.widget.messages_per_ip_burst,
            ),
            (
                "widget.messages_per_session_per_second",
                self.widget.messages_per_session_per_second,
            ),
            (
                "widget.messages_per_session_burst",
                self.widget.messages_per_session_burst,
            ),
        ] {
            if !(v.is_finite() && v > 0.0) {
                e.push(format!("{name} must be a positive number"));
            }
        }
        if self.triage.budget_ms == 0 || self.triage.budget_ms > 60_000 {
            e.push("triage.budget_ms must be between 1 and 60000".into());
        }
        if self.triage.settings_ttl_ms < 0 || self.triage.max_models == 0 {
            e.push(
                "triage.settings_ttl_ms must not be negative and triage.max_models at least 1"
                    .into(),
            );
        }
        let n = &self.events.nats;
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !token(&n.stream) {
            e.push("events.nats.stream must be letters, digits, _ or -".into());
        }
        if n.subject_prefix.is_empty() || !n.subject_prefix.split('.').all(token) {
            e.push("events.nats.subject_prefix must be dot-separated tokens".into());
        }
        if n.poll_ms < 10 || n.max_age_hours == 0 {
            e.push("events.nats.poll_ms must be at least 10 and max_age_hours at least 1".into());
        }
        for range in &self.ai.allow_private {
            if let Err(why) = range.parse::<switchboard_webhooks::Cidr>() {
                e.push(format!("ai.allow_private: {why}"));
            }
        }
        let w = &self.webhooks;
        for range in &w.allow_private {
            if let Err(why) = range.parse::<switchboard_webhooks::Cidr>() {
                e.push(format!("webhooks.allow_private: {why}"));
            }
        }
        if !(100..=120_000).contains(&w.timeout_ms) {
            e.push("webhooks.timeout_ms must be between 100 and 120000".into());
        }
        if w.max_in_flight == 0 || w.max_in_flight > 10_000 {
            e.push("webhooks.max_in_flight must be between 1 and 10000".into());
        }
        if !(1..=10_000).contains(&w.batch_size) {
            e.push("webhooks.batch_size must be between 1 and 10000".into());
        }
        if !w.platform_url.is_empty() {
            let url_ok = url::Url::parse(&w.platform_url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !url_ok {
                e.push("webhooks.platform_url must be an http(s) URL".into());
            }
            if switchboard_webhooks::Secret::parse(w.platform_secret.expose()).is_err() {
                e.push(
                    "webhooks.platform_secret must be a whsec_ secret when platform_url is set"
                        .into(),
                );
            }
        }
        if w.poll_ms < 10 || w.lease_ms < 1000 {
            e.push(
                "webhooks.poll_ms must be at least 10 and webhooks.lease_ms at least 1000".into(),
            );
        }
        if self.triage.model_max_bytes < 1024 {
            e.push("triage.model_max_bytes must be at least 1 KiB".into());
        }
        let mut region_errors = Vec::new();
        switchboard_core::validate::region(
            "tenancy.default_region",
            &self.tenancy.default_region,
            &mut region_errors,
        );
        e.extend(
            region_errors
                .into_iter()
                .map(|f| format!("{}: {}", f.field, f.message)),
        );
        if url::Url::parse(&self.channels.twilio_api_base).is_err() {
            e.push("channels.twilio_api_base is not a URL".into());
        }
        let smtp = self.channels.smtp_url.expose();
        if !smtp.is_empty() && !smtp.starts_with("smtp://") && !smtp.starts_with("smtps://") {
            e.push("channels.smtp_url must be empty or an smtp:// or smtps:// URL".into());
        }
        if !self.channels.mail_from.is_empty()
            && self
                .channels
                .mail_from
                .parse::<lettre::message::Mailbox>()
                .is_err()
        {
            e.push(
                "channels.mail_from must be an address like `Name <no-reply@example.com>`".into(),
            );
        }
        if !(1024..=256 * 1024 * 1024).contains(&self.channels.email_max_bytes) {
            e.push("channels.email_max_bytes must be between 1 KiB and 256 MiB".into());
        }
        if !(1024..=1024 * 1024 * 1024).contains(&self.attachments.max_bytes) {
            e.push("attachments.max_bytes must be between 1 KiB and 1 GiB".into());
        }
        match self.blob.backend.as_str() {
            "local" => {}
            "s3" => {
                if url::Url::parse(&self.blob.s3_endpoint).is_err() {
                    e.push("blob.s3_endpoint must be a URL with the s3 backend".into());
                }
                for (name, v) in [
                    ("blob.s3_bucket", &self.blob.s3_bucket),
                    ("blob.s3_region", &self.blob.s3_region),
                    ("blob.s3_access_key", &self.blob.s3_access_key),
                ] {
                    if v.is_empty() {
                        e.push(format!("{name} is required with the s3 backend"));
                    }
                }
                if self.blob.s3_secret_key.is_empty() {
                    e.push("blob.s3_secret_key is required with the s3 backend".into());
                }
            }
            other => e.push(format!("blob.backend must be local or s3, not `{other}`")),
        }
        if self.channels.timeout_secs == 0 {
            e.push("channels.timeout_secs must be positive".into());
        }
        if !["pretty", "json"].contains(&self.telemetry.format.as_str()) {
            e.push("telemetry.format must be pretty or json".into());
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(e))
        }
    }

    /// Where people reach this server: `server.public_url`, or the listen address.
    pub fn public_url(&self) -> String {
        if self.server.public_url.is_empty() {
            format!("http://{}", self.server.listen)
        } else {
            self.server.public_url.trim_end_matches('/').to_owned()
        }
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.server
            .listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    /// The use-case settings derived from this configuration.
    pub fn core(&self) -> switchboard_core::CoreConfig {
        use switchboard_core::password::PasswordCost;
        use switchboard_core::ratelimit::Rate;
        let a = &self.auth;
        switchboard_core::CoreConfig {
            password_cost: PasswordCost {
                memory_kib: a.argon2_memory_kib,
                iterations: a.argon2_iterations,
                parallelism: a.argon2_parallelism,
            },
            access_token_ttl_ms: a.access_token_ttl_secs * 1000,
            refresh_token_ttl_ms: a.refresh_token_ttl_secs * 1000,
            console_session_ttl_ms: a.console_session_ttl_secs * 1000,
            lockout_threshold: a.lockout_threshold,
            lockout_duration_ms: a.lockout_secs * 1000,
            signin_failures_per_ip: Rate {
                per_second: f64::from(a.signin_failures_per_ip) / 900.0,
                burst: f64::from(a.signin_failures_per_ip),
            },
            default_region: self.tenancy.default_region.clone(),
            issuer: "Switchboard".into(),
            api_key_cache_ttl_ms: a.api_key_cache_ttl_ms,
            // Derived from the server secret by `switchboard::build_core`.
            widget_key: [0; 32],
            channel_key: [0; 32],
            attachment_max_bytes: self.attachments.max_bytes,
            // Derived from the server secret by `switchboard::build_core`.
            pii_hash_key: [0; 32],
            triage: switchboard_core::triage::TriageOptions {
                packs_dir: (!self.triage.packs_dir.is_empty())
                    .then(|| PathBuf::from(&self.triage.packs_dir)),
                budget_ms: self.triage.budget_ms,
                settings_ttl_ms: self.triage.settings_ttl_ms,
                max_models: self.triage.max_models,
                model_max_bytes: self.triage.model_max_bytes,
                encoder_dir: (!self.triage.encoder_dir.is_empty())
                    .then(|| PathBuf::from(&self.triage.encoder_dir)),
            },
            webhooks: switchboard_core::webhooks::WebhookOptions {
                allow_private: self
                    .webhooks
                    .allow_private
                    .iter()
                    .filter_map(|r| r.parse().ok())
                    .collect(),
                timeout_ms: self.webhooks.timeout_ms,
                max_in_flight: self.webhooks.max_in_flight,
                batch_size: self.webhooks.batch_size,
                poll_ms: self.webhooks.poll_ms,
                lease_ms: self.webhooks.lease_ms,
            },
            quotas: self
                .quotas
                .iter()
                .map(|(plan, q)| {
                    let limits = switchboard_core::quotas::PlanQuotas {
                        members: q.members,
                        inboxes: q.inboxes,
                        webhook_endpoints: q.webhook_endpoints,
                    };
                    (plan.clone(), limits)
                })
                .collect(),
            public_url: self.server.public_url.clone(),
            platform_endpoint: url::Url::parse(&self.webhooks.platform_url)
                .ok()
                .zip(
                    switchboard_webhooks::Secret::parse(self.webhooks.platform_secret.expose())
                        .ok(),
                )
                .map(
                    |(url, secret)| switchboard_core::platform_events::PlatformEndpoint {
                        url,
                        secret,
                    },
                ),
            widget_limits: switchboard_core::widget::WidgetLimits {
                sessions_per_ip: Rate {
                    per_second: self.widget.sessions_per_ip_per_minute / 60.0,
                    burst: self.widget.sessions_per_ip_burst,
                },
                messages_per_ip: Rate {
                    per_second: self.widget.messages_per_ip_per_second,
                    burst: self.widget.messages_per_ip_burst,
                },
                messages_per_session: Rate {
                    per_second: self.widget.messages_per_session_per_second,
                    burst: self.widget.messages_per_session_burst,
                },
            },
        }
    }

    /// The HTTP settings derived from this configuration.
    pub fn api(&self) -> switchboard_api::ApiConfig {
        use switchboard_core::ratelimit::Rate;
        let r = &self.rate_limit;
        switchboard_api::ApiConfig {
            body_limit_bytes: self.server.body_limit_bytes,
            rate_per_principal: Rate {
                per_second: r.per_principal_per_sec,
                burst: r.per_principal_burst,
            },
            rate_per_ip: Rate {
                per_second: r.per_ip_per_sec,
                burst: r.per_ip_burst,
            },
            forwarded_for_hops: self.server.forwarded_for_hops,
            // Served over TLS (directly or behind a proxy) means Secure cookies.
            secure_cookies: self.server.secure_cookies || self.public_url().starts_with("https://"),
            idempotency_ttl_ms: 24 * 3600 * 1000,
            // Derived from the server secret by `switchboard::start`.
            fingerprint_key: [0; 32],
            public_origin: url::Url::parse(&self.public_url())
                .ok()
                .map(|u| u.origin().ascii_serialization())
                .filter(|o| o != "null"),
            public_url: self.public_url(),
            email_max_bytes: self.channels.email_max_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env() -> Env {
        Env::prefixed("SWITCHBOARD_UNIT_TEST_NEVER_SET_").split("__")
    }

    #[test]
    fn embedded_defaults_load_and_validate() {
        let cfg = Config::load_from(None, &Overrides::default(), no_env()).unwrap();
        assert_eq!(cfg.server.listen, "127.0.0.1:8080");
        assert_eq!(cfg.server.data_dir, PathBuf::from("./switchboard-data"));
        assert!(cfg.database.url.is_empty());
    }

    #[test]
    fn flags_override_files_and_files_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sb.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:9000\"\n[jobs]\nconcurrency = 7\n",
        )
        .unwrap();
        let over = Overrides {
            listen: Some("127.0.0.1:9100".into()),
            ..Default::default()
        };
        let cfg = Config::load_from(Some(&file), &over, no_env()).unwrap();
        assert_eq!(cfg.server.listen, "127.0.0.1:9100");
        assert_eq!(cfg.jobs.concurrency, 7);
    }

    #[test]
    fn invalid_values_and_unknown_keys_are_rejected_with_their_names() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"nowhere\"\n[database]\nurl = \"mysql://x\"\n",
        )
        .unwrap();
        let err = Config::load_from(Some(&file), &Overrides::default(), no_env())
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.listen"), "{err}");
        assert!(err.contains("database.url"), "{err}");

        std::fs::write(&file, "[server]\nlisen = \"127.0.0.1:1\"\n").unwrap();
        let err = Config::load_from(Some(&file), &Overrides::default(), no_env())
            .unwrap_err()
            .to_string();
        assert!(err.contains("lisen"), "{err}");

        let missing = dir.path().join("nope.toml");
        assert!(matches!(
            Config::load_from(Some(&missing), &Overrides::default(), no_env()),
            Err(ConfigError::MissingFile(_))
        ));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature
    fn environment_variables_override_files_and_only_section_keys_count() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SWITCHBOARD_JOBS__CONCURRENCY", "9");
            jail.set_env("SWITCHBOARD_DATABASE_URL", "postgres://cli-flag-variable");
            jail.set_env("SWITCHBOARD_TEST_POSTGRES", "postgres://harness");
            let cfg = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(cfg.jobs.concurrency, 9);
            assert!(
                cfg.database.url.is_empty(),
                "only --database-url (clap) reads that variable"
            );
            jail.set_env("SWITCHBOARD_JOBS__CONCURENCY", "9");
            assert!(
                Config::load(None, &Overrides::default()).is_err(),
                "typos are refused"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature
    fn plan_quotas_name_real_plans_and_count_from_zero() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("q.toml", "[quotas.starter]\nmembers = 5\ninboxes = 0\n")?;
            let cfg = Config::load(Some(std::path::Path::new("q.toml")), &Overrides::default())
                .map_err(|e| e.to_string())?;
            let q = cfg.core().quotas;
            assert_eq!(q["starter"].members, Some(5));
            assert_eq!(q["starter"].webhook_endpoints, None);
            for bad in [
                "[quotas.gold]\nmembers = 5\n",
                "[quotas.starter]\nmembers = -1\n",
                "[quotas.starter]\nseats = 5\n",
            ] {
                jail.create_file("bad.toml", bad)?;
                assert!(
                    Config::load(
                        Some(std::path::Path::new("bad.toml")),
                        &Overrides::default()
                    )
                    .is_err(),
                    "{bad}"
                );
            }
            Ok(())
        });
    }

    #[test]
    fn cookies_are_secure_when_the_public_url_is_https() {
        let mut cfg = Config::load_from(None, &Overrides::default(), no_env()).unwrap();
        assert!(!cfg.api().secure_cookies);
        cfg.server.public_url = "https://support.example.com".into();
        assert!(cfg.api().secure_cookies);
    }

    #[test]
    fn database_urls_are_redacted_in_debug_output() {
        let over = Overrides {
            database_url: Some("postgres://app:hunter2@db/sb".into()),
            ..Default::default()
        };
        let cfg = Config::load_from(None, &over, no_env()).unwrap();
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }
}
