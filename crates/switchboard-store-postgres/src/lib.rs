//! The PostgreSQL backend: for scale-out and for operators who want a server database.
//!
//! Migrations run as the schema owner; the application connects as a separate role that owns
//! nothing and cannot bypass row-level security, and [`open`] refuses any other role. Every tenant
//! transaction sets `app.tenant_id` transaction-locally (see `switchboard_store::sql`).

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Row};
use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;
use switchboard_store::sql::{Dialect, SqlStore};

/// The migrations, paired by version and name with the SQLite backend's.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/0001_foundation.sql"),
    ),
    (
        2,
        "totp_last_step",
        include_str!("../migrations/0002_totp_last_step.sql"),
    ),
    (
        3,
        "audit_head_trigger",
        include_str!("../migrations/0003_audit_head_trigger.sql"),
    ),
    (
        4,
        "contacts",
        include_str!("../migrations/0004_contacts.sql"),
    ),
    (
        5,
        "attribute_definitions",
        include_str!("../migrations/0005_attribute_definitions.sql"),
    ),
    (
        6,
        "teams_and_availability",
        include_str!("../migrations/0006_teams_and_availability.sql"),
    ),
    (
        7,
        "business_calendars",
        include_str!("../migrations/0007_business_calendars.sql"),
    ),
    (
        8,
        "conversations",
        include_str!("../migrations/0008_conversations.sql"),
    ),
    (
        9,
        "assignment",
        include_str!("../migrations/0009_assignment.sql"),
    ),
    (
        10,
        "labels_and_canned_responses",
        include_str!("../migrations/0010_labels_and_canned_responses.sql"),
    ),
    (11, "search", include_str!("../migrations/0011_search.sql")),
    (
        12,
        "outbox_sequence",
        include_str!("../migrations/0012_outbox_sequence.sql"),
    ),
    (13, "widget", include_str!("../migrations/0013_widget.sql")),
    (
        14,
        "channel_delivery",
        include_str!("../migrations/0014_channel_delivery.sql"),
    ),
    (
        15,
        "attachments",
        include_str!("../migrations/0015_attachments.sql"),
    ),
    (
        16,
        "sla_and_notifications",
        include_str!("../migrations/0016_sla_and_notifications.sql"),
    ),
    (
        17,
        "reports",
        include_str!("../migrations/0017_reports.sql"),
    ),
    (
        18,
        "scheduled_and_macros",
        include_str!("../migrations/0018_scheduled_and_macros.sql"),
    ),
    (
        19,
        "reassignment",
        include_str!("../migrations/0019_reassignment.sql"),
    ),
    (
        20,
        "ingest_path",
        include_str!("../migrations/0020_ingest_path.sql"),
    ),
    (21, "triage", include_str!("../migrations/0021_triage.sql")),
    (
        22,
        "webhooks",
        include_str!("../migrations/0022_webhooks.sql"),
    ),
    (
        23,
        "invitations",
        include_str!("../migrations/0023_invitations.sql"),
    ),
    (
        24,
        "automation",
        include_str!("../migrations/0024_automation.sql"),
    ),
    (
        25,
        "knowledge_base",
        include_str!("../migrations/0025_knowledge_base.sql"),
    ),
    (
        26,
        "ai_answers",
        include_str!("../migrations/0026_ai_answers.sql"),
    ),
];

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migrating PostgreSQL failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "the application role `{role}` can bypass row-level security (superuser, BYPASSRLS or \
         table owner); connect as a non-owner NOBYPASSRLS role and set database.migrate_url for \
         the owner"
    )]
    RoleBypassesRls { role: String },
    #[error("invalid database URL: {0}")]
    Url(String),
}

/// How to reach the database. URLs are secrets (they may hold passwords): never log them.
#[derive(Clone)]
pub struct PgSettings {
    /// The application role's connection.
    pub url: String,
    /// The schema owner's connection, used only to migrate and grant.
    pub migrate_url: Option<String>,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &"<redacted>")
            .field(
                "migrate_url",
                &self.migrate_url.as_ref().map(|_| "<redacted>"),
            )
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl PgSettings {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            migrate_url: None,
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

fn migrator() -> Migrator {
    let migrations: Vec<Migration> = MIGRATIONS
        .iter()
        .map(|(version, name, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*name),
                MigrationType::Simple,
                Cow::Borrowed(*sql),
                false,
            )
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    }
}

fn options(url: &str) -> Result<PgConnectOptions, PgError> {
    PgConnectOptions::from_str(url)
        .map(|o| o.disable_statement_logging())
        .map_err(|e| PgError::Url(e.to_string()))
}

/// Quotes an identifier for SQL (doubling embedded quotes).
fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Applies pending migrations as the owner, then grants the application role what it needs.
pub async fn migrate(settings: &PgSettings) -> Result<(), PgError> {
    let owner_url = settings.migrate_url.as_deref().unwrap_or(&settings.url);
    let mut conn: PgConnection = options(owner_url)?
        .connect()
        .await
        .map_err(PgError::Connect)?;
    migrator().run_direct(&mut conn).await?;

    let app_role = options(&settings.url)?.get_username().to_owned();
    let owner_role: String = sqlx::query("SELECT current_user::text AS u")
        .fetch_one(&mut conn)
        .await
        .map_err(PgError::Connect)?
        .try_get("u")
        .map_err(PgError::Connect)?;
    if app_role != owner_role {
        let role = quote_ident(&app_role);
        // Concurrent GRANTs on the same objects fail with "tuple concurrently updated": take a
        // transaction-scoped advisory lock so starting processes grant one at a time.
        let mut tx = conn.begin().await.map_err(PgError::Connect)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('switchboard.grants'))")
            .execute(&mut *tx)
            .await
            .map_err(PgError::Connect)?;
        for stmt in [
            format!("GRANT USAGE ON SCHEMA public TO {role}"),
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
            ),
            format!("REVOKE UPDATE ON audit_events, platform_audit_events FROM {role}"),
            format!("REVOKE ALL ON _sqlx_migrations FROM {role}"),
        ] {
            sqlx::query(&stmt)
                .execute(&mut *tx)
                .await
                .map_err(PgError::Connect)?;
        }
        tx.commit().await.map_err(PgError::Connect)?;
    }
    conn.close().await.map_err(PgError::Connect)?;
    Ok(())
}

/// Whether the connected role could read across tenants: superuser, BYPASSRLS, or owner of a table.
async fn role_bypasses_rls(conn: &mut PgConnection) -> Result<Option<String>, PgError> {
    let row = sqlx::query(
        "SELECT current_user::text AS role, r.rolsuper OR r.rolbypassrls AS bypass, \
         EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = current_schema() \
                 AND t.tableowner = current_user) AS owns \
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .fetch_one(conn)
    .await
    .map_err(PgError::Connect)?;
    let role: String = row.try_get("role").map_err(PgError::Connect)?;
    let bypass: bool = row.try_get("bypass").map_err(PgError::Connect)?;
    let owns: bool = row.try_get("owns").map_err(PgError::Connect)?;
    Ok((bypass || owns).then_some(role))
}

/// Migrates, checks the application role, and opens the pool.
pub async fn open(settings: &PgSettings) -> Result<SqlStore, PgError> {
    migrate(settings).await?;
    let mut check: PgConnection = options(&settings.url)?
        .connect()
        .await
        .map_err(PgError::Connect)?;
    if let Some(role) = role_bypasses_rls(&mut check).await? {
        return Err(PgError::RoleBypassesRls { role });
    }
    check.close().await.map_err(PgError::Connect)?;

    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .connect(&settings.url)
        .await
        .map_err(PgError::Connect)?;
    tracing::info!(
        max_connections = settings.max_connections,
        "connected to PostgreSQL"
    );
    Ok(SqlStore::new(pool.clone(), pool, Dialect::Postgres))
}
