//! The portable SQL implementation of the store, over sqlx's `Any` driver.
//!
//! Queries use `$n` placeholders, TEXT ids, BIGINT/INTEGER Unix-millisecond timestamps and JSON as
//! text, which both SQLite and PostgreSQL understand. [`Dialect`] carries the few differences: how a
//! transaction learns its tenant (PostgreSQL row-level security), job claiming, and catalog reads.

mod ai;
mod audit;
mod automation;
mod control;
mod exec;
mod introspect;
mod kb;
mod lite;
mod rows;
mod tenant;
mod webhooks;

use crate::traits::{Access, Backend, ControlTx, Store, TenantTx};
use crate::{StoreError, TenantCtx};
use async_trait::async_trait;
use exec::Conn;
use sqlx::AnyPool;
use std::sync::Arc;
use switchboard_types::TenantId;

pub use introspect::introspect_schema;
pub use lite::LiteWriter;

/// The SQL dialect differences the portable implementation needs to know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A store over one database, reached through a writer pool and a reader pool (the same pool on
/// PostgreSQL; on SQLite several read-only readers and the one writer connection, driven in place
/// by [`LiteWriter`], with a sqlx writer pool kept for migrations and maintenance).
#[derive(Debug, Clone)]
pub struct SqlStore {
    writer: AnyPool,
    reader: AnyPool,
    lite: Option<Arc<LiteWriter>>,
    dialect: Dialect,
    commits: tokio::sync::broadcast::Sender<TenantId>,
}

/// How many commit signals a slow listener may fall behind before it is told it lagged (and
/// must then re-read every tenant it follows).
const COMMIT_SIGNAL_BUFFER: usize = 4096;

impl SqlStore {
    /// Wraps connected pools. Backends call this after migrating and checking their role.
    pub fn new(writer: AnyPool, reader: AnyPool, dialect: Dialect) -> Self {
        Self {
            writer,
            reader,
            lite: None,
            dialect,
            commits: tokio::sync::broadcast::channel(COMMIT_SIGNAL_BUFFER).0,
        }
    }

    /// Sends write transactions to SQLite's in-place writer instead of the sqlx writer pool.
    pub fn with_lite_writer(mut self, writer: LiteWriter) -> Self {
        self.lite = Some(Arc::new(writer));
        self
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The writer pool, for backend-specific maintenance (migrations, tests that must bypass the
    /// store on purpose, such as the audit-tampering test).
    pub fn writer_pool(&self) -> &AnyPool {
        &self.writer
    }

    /// Opens a transaction; for a tenant on PostgreSQL, sets the row-level-security tenant in the
    /// same round trip as `BEGIN`.
    async fn begin(&self, access: Access, tenant: Option<&TenantId>) -> Result<Conn, StoreError> {
        if let (Access::Write, Some(lite)) = (access, &self.lite) {
            return Ok(Conn::Lite(lite.begin().await?));
        }
        let pool = match access {
            Access::Read => &self.reader,
            Access::Write => &self.writer,
        };
        let begin = match (access, self.dialect) {
            // One snapshot for every statement of a read (SQLite's WAL readers already have one),
            // so multi-statement reads such as chain verification are consistent; and a read
            // never writes.
            (Access::Read, Dialect::Postgres) => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            // Take the write lock up front instead of upgrading a read lock mid-transaction.
            (Access::Write, Dialect::Sqlite) => "BEGIN IMMEDIATE",
            (Access::Read, Dialect::Sqlite) | (Access::Write, Dialect::Postgres) => "BEGIN",
        };
        let statement = match (tenant, self.dialect) {
            (Some(t), Dialect::Postgres) => {
                // Transaction-local: the setting dies with the transaction, so a pooled
                // connection never carries one tenant's context into another's work. `BEGIN`
                // takes no parameters, so the id is inlined: only after checking it is nothing
                // but the characters a TenantId can hold.
                let id = t.as_str();
                if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(StoreError::Invalid(format!("tenant id {id:?}")));
                }
                format!("{begin}; SELECT set_config('app.tenant_id', '{id}', true)")
            }
            _ => begin.to_owned(),
        };
        Ok(Conn::Sqlx(pool.begin_with(statement).await?))
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        match self.dialect {
            Dialect::Sqlite => Backend::Sqlite,
            Dialect::Postgres => Backend::Postgres,
        }
    }

    #[tracing::instrument(level = "trace", skip_all, fields(tenant = %ctx.tenant()))]
    async fn tenant(
        &self,
        ctx: &TenantCtx,
        access: Access,
    ) -> Result<Box<dyn TenantTx>, StoreError> {
        let tx = self.begin(access, Some(ctx.tenant())).await?;
        Ok(Box::new(tenant::SqlTenantTx::new(
            tx,
            ctx.clone(),
            self.dialect,
            access,
            self.commits.clone(),
        )))
    }

    async fn control(&self, access: Access) -> Result<Box<dyn ControlTx>, StoreError> {
        let tx = self.begin(access, None).await?;
        Ok(Box::new(control::SqlControlTx::new(
            tx,
            self.dialect,
            self.commits.clone(),
        )))
    }

    fn outbox_commits(&self) -> tokio::sync::broadcast::Receiver<TenantId> {
        self.commits.subscribe()
    }

    fn announce_commit(&self, tenant: TenantId) {
        // No receiver (nothing follows the outbox yet) is not an error.
        let _ = self.commits.send(tenant);
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// `($after+1, …, $after+cols), …` for a multi-row `VALUES` list of `rows` rows whose
/// parameters follow the statement's first `after`.
fn values_placeholders(rows: usize, cols: usize, after: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 5);
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for k in 1..=cols {
            if k > 1 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", after + i * cols + k));
        }
        sql.push(')');
    }
    sql
}

/// A value bound to a dynamically built query.
#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    Int(i64),
}

/// Builds `WHERE` clauses with numbered placeholders for optional filters.
#[derive(Debug, Default)]
struct Filters {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Filters {
    fn push(&mut self, clause_with_placeholder: &str, bind: Bind) {
        self.binds.push(bind);
        let n = self.binds.len();
        self.clauses
            .push(clause_with_placeholder.replace("{}", &format!("${n}")));
    }

    fn next_placeholder(&self) -> String {
        format!("${}", self.binds.len() + 1)
    }

    fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    fn bind_all<'q>(&self, mut q: exec::Query<'q>) -> exec::Query<'q> {
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.as_str()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }
}
