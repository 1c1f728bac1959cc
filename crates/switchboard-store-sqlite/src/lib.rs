//! The SQLite backend: the embedded default.
//!
//! One writer connection (SQLite allows one writer at a time; funnelling writes through one
//! connection avoids `SQLITE_BUSY` upgrades) and several read-only readers, all in WAL mode so
//! readers never block the writer.

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Executor};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;
use switchboard_store::sql::{Dialect, LiteWriter, SqlStore};

/// The migrations, paired by version and name with the PostgreSQL backend's.
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
pub enum SqliteError {
    #[error("cannot open SQLite database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("migrating SQLite database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot open the SQLite writer: {0}")]
    Writer(switchboard_store::StoreError),
    #[error("SQLite path is not valid UTF-8: {0}")]
    Path(PathBuf),
}

/// How to open the database.
#[derive(Debug, Clone)]
pub struct SqliteSettings {
    pub path: PathBuf,
    /// Read-only connections for concurrent readers.
    pub readers: u32,
}

impl SqliteSettings {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            readers: 4,
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

fn connect_options(settings: &SqliteSettings, read_only: bool) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(&settings.path)
        .create_if_missing(!read_only)
        .read_only(read_only)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .disable_statement_logging()
}

/// Applies pending migrations without opening the pools (`switchboard migrate`).
pub async fn migrate(settings: &SqliteSettings) -> Result<(), SqliteError> {
    let open_err = |source| SqliteError::Open {
        path: settings.path.clone(),
        source,
    };
    let mut conn = connect_options(settings, false)
        .connect()
        .await
        .map_err(open_err)?;
    migrator().run_direct(&mut conn).await?;
    conn.close().await.map_err(open_err)?;
    Ok(())
}

/// Opens (creating if needed) and migrates the database, returning the store.
pub async fn open(settings: &SqliteSettings) -> Result<SqlStore, SqliteError> {
    migrate(settings).await?;
    sqlx::any::install_default_drivers();
    let open_err = |source| SqliteError::Open {
        path: settings.path.clone(),
        source,
    };
    let url = |read_only: bool| -> Result<String, SqliteError> {
        let path = settings
            .path
            .to_str()
            .ok_or_else(|| SqliteError::Path(settings.path.clone()))?;
        Ok(format!(
            "sqlite://{}?mode={}",
            encode_path(path),
            if read_only { "ro" } else { "rwc" }
        ))
    };
    let writer = AnyPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .after_connect(pragmas)
        .connect(&url(false)?)
        .await
        .map_err(open_err)?;
    let reader = AnyPoolOptions::new()
        .max_connections(settings.readers.max(1))
        // A local file's connection does not go stale; pinging it on every checkout cost a
        // thread round trip per read transaction.
        .test_before_acquire(false)
        .after_connect(pragmas)
        .connect(&url(true)?)
        .await
        .map_err(open_err)?;
    let lite = LiteWriter::open(&settings.path).map_err(SqliteError::Writer)?;
    tracing::info!(path = %settings.path.display(), "opened SQLite database");
    Ok(SqlStore::new(writer, reader, Dialect::Sqlite).with_lite_writer(lite))
}

/// Percent-encodes the characters that would end or corrupt the path part of a `sqlite://` URL.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' | '?' | '#' | ' ' => out.push_str(&format!("%{:02X}", c as u32)),
            _ => out.push(c),
        }
    }
    out
}

/// Where the database file lives inside a data directory.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("switchboard.db")
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Per-connection settings for pooled connections (the URL form cannot carry them). sqlx already
/// applies `foreign_keys = ON` and a 5 s busy timeout to every SQLite connection.
fn pragmas(
    conn: &mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        conn.execute("PRAGMA foreign_keys = ON").await?;
        conn.execute("PRAGMA synchronous = NORMAL").await?;
        conn.execute("PRAGMA busy_timeout = 5000").await?;
        Ok(())
    })
}
