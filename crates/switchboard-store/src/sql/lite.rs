//! SQLite's one writer connection, driven in the thread that runs the transaction.
//!
//! sqlx's SQLite driver runs every connection on its own thread and hands each statement over and
//! each result back; a message arriving costs about twenty statements, so the hand-offs (two
//! thread wake-ups per statement) dominated ingest, not SQLite's own work. Here the writer is a
//! plain SQLite connection behind an async mutex: a write transaction waits its turn for the
//! mutex, then runs its statements in place, each a few microseconds, with the connection's
//! prepared-statement cache; transactions that queue up share one commit ([`LiteWriter`]).
//! Readers stay on sqlx's read-only pool, so a long report never holds a runtime thread here. See `docs/adr/0003-sqlite-writer-in-place-with-group-commit.md`.

use super::exec::Value;
use crate::StoreError;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Prepared statements kept per connection: every statement the application writes with,
/// plus room for the dynamic ones (filters, multi-row inserts).
const STATEMENT_CACHE: usize = 512;

/// Most transactions one commit carries.
const MAX_BATCH: usize = 128;

/// Longest wait for the writer before a transaction gives up (like a pool's acquire timeout).
const TURN_TIMEOUT: Duration = Duration::from_secs(30);

/// The writer connection, and the group commit over it.
///
/// The async mutex orders transactions ("the turn"). Each transaction runs inside a savepoint of
/// a longer SQLite transaction, the batch: when a transaction finishes while others are already
/// waiting for the turn, it releases its savepoint and hands the turn on without committing; the
/// last one of the queue (or the 128th) commits the batch, and only then does each of them
/// report success. A failed or abandoned transaction rolls back to its savepoint and leaves the
/// others' work alone. Readers see a batch whole or not at all, and every caller is told the
/// truth about its own commit.
#[derive(Debug)]
pub struct LiteWriter {
    turn: Arc<tokio::sync::Mutex<Shared>>,
    /// Transactions waiting for the turn (not counting batch members waiting for their commit).
    waiting: Arc<AtomicUsize>,
}

/// The connection and its open batch. The inner mutex only makes the connection shareable
/// between threads; it is never contended, because only the turn's holder locks it.
#[derive(Debug)]
struct Shared(Mutex<State>);

#[derive(Debug)]
struct State {
    conn: Connection,
    batch: Option<Batch>,
    next_batch: u64,
}

/// An open SQLite transaction carrying finished transactions that wait for its commit.
#[derive(Debug)]
struct Batch {
    id: u64,
    members: usize,
    outcome: tokio::sync::watch::Sender<Option<Result<(), String>>>,
    /// Whether a task is queued for the turn to commit this batch if its members cannot (their
    /// requests may be cancelled while they wait).
    finisher: bool,
}

impl LiteWriter {
    /// Opens the writer on a database that exists and is migrated.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(map_err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(map_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(map_err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Self {
            turn: Arc::new(tokio::sync::Mutex::new(Shared(Mutex::new(State {
                conn,
                batch: None,
                next_batch: 0,
            })))),
            waiting: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Waits for the turn, then opens a transaction (a savepoint in the open batch).
    pub(super) async fn begin(&self) -> Result<LiteTx, StoreError> {
        let guard = {
            let _waiting = Waiting::count(&self.waiting);
            tokio::time::timeout(TURN_TIMEOUT, Arc::clone(&self.turn).lock_owned())
                .await
                .map_err(|_| StoreError::Unavailable("the SQLite writer is busy".to_owned()))?
        };
        {
            let mut st = lock(&guard);
            if st.batch.is_none() && !st.conn.is_autocommit() {
                // A failed rollback left a transaction open: clear it before starting anew.
                st.conn.execute_batch("ROLLBACK").map_err(map_err)?;
            }
            if st.batch.is_none() {
                st.conn.execute_batch("BEGIN IMMEDIATE").map_err(map_err)?;
                st.next_batch += 1;
                st.batch = Some(Batch {
                    id: st.next_batch,
                    members: 0,
                    outcome: tokio::sync::watch::channel(None).0,
                    finisher: false,
                });
            }
            if let Err(e) = st.conn.execute_batch("SAVEPOINT tx") {
                fail_batch(&mut st, &e.to_string());
                return Err(map_err(e));
            }
            if let Some(b) = st.batch.as_mut() {
                b.members += 1;
            }
        }
        Ok(LiteTx {
            guard: Some(guard),
            turn: Arc::clone(&self.turn),
            waiting: Arc::clone(&self.waiting),
        })
    }
}

/// Counts a transaction waiting for the turn, until it gets it or gives up.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn count(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Self(n)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The connection's state. A panic while it was held leaves nothing half-done that the
/// transaction logic cannot see (SQLite's own state is checked with `is_autocommit`), so a
/// poisoned lock is taken over rather than wedging the writer.
fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Indexes the rows the batch queued for full-text search (migration 0020): once per batch,
/// outside every savepoint, so FTS5 writes one index segment per batch instead of one per
/// transaction.
const INDEX_QUEUED: [&str; 3] = [
    "INSERT INTO message_search (content, tenant_id, conversation_id, message_id) \
     SELECT m.content, m.tenant_id, m.conversation_id, m.id FROM search_queue q \
     JOIN messages m ON m.tenant_id = q.tenant_id AND m.id = q.id WHERE q.kind = 'message'",
    "INSERT INTO contact_search (name, email, phone, external_id, tenant_id, contact_id) \
     SELECT k.name, k.email, k.phone, k.external_id, k.tenant_id, k.id FROM search_queue q \
     JOIN contacts k ON k.tenant_id = q.tenant_id AND k.id = q.id WHERE q.kind = 'contact'",
    "DELETE FROM search_queue",
];

fn index_queued(conn: &Connection) -> rusqlite::Result<()> {
    for sql in INDEX_QUEUED {
        conn.prepare_cached(sql)?.raw_execute()?;
    }
    Ok(())
}

/// Indexes what the batch queued, commits it, and tells its members.
fn finish_batch(st: &mut State) {
    let Some(batch) = st.batch.take() else {
        return;
    };
    let result = index_queued(&st.conn)
        .and_then(|()| st.conn.execute_batch("COMMIT"))
        .map_err(|e| e.to_string());
    if result.is_err() && !st.conn.is_autocommit() {
        if let Err(e) = st.conn.execute_batch("ROLLBACK") {
            tracing::error!(error = %e, "rolling back a failed SQLite commit failed");
        }
    }
    batch.outcome.send_replace(Some(result));
}

/// Rolls the open batch back (SQLite may already have) and tells its members.
fn fail_batch(st: &mut State, why: &str) {
    if !st.conn.is_autocommit() {
        if let Err(e) = st.conn.execute_batch("ROLLBACK") {
            tracing::error!(error = %e, "rolling back a failed SQLite batch failed");
        }
    }
    if let Some(batch) = st.batch.take() {
        tracing::warn!(
            members = batch.members,
            error = why,
            "SQLite batch rolled back"
        );
        batch.outcome.send_replace(Some(Err(why.to_owned())));
    }
}

/// Waits for the turn and commits batch `id` if it is still open: the guarantee that a batch
/// whose members were all cancelled while waiting still commits.
async fn finisher(turn: Arc<tokio::sync::Mutex<Shared>>, id: u64) {
    let guard = turn.lock_owned().await;
    let mut st = lock(&guard);
    if st.batch.as_ref().is_some_and(|b| b.id == id) {
        finish_batch(&mut st);
    }
}

/// A write transaction; rolled back (to its savepoint) if dropped unfinished.
#[derive(Debug)]
pub(super) struct LiteTx {
    /// The turn, held until the transaction finishes.
    guard: Option<tokio::sync::OwnedMutexGuard<Shared>>,
    turn: Arc<tokio::sync::Mutex<Shared>>,
    waiting: Arc<AtomicUsize>,
}

impl LiteTx {
    fn state(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        match &self.guard {
            Some(g) => Ok(lock(g)),
            None => Err(StoreError::Unavailable("transaction finished".to_owned())),
        }
    }

    /// Runs one statement: up to `max_rows` rows, and how many rows it changed.
    pub(super) fn run(
        &mut self,
        sql: &str,
        args: &[Value],
        max_rows: usize,
    ) -> Result<(Vec<LiteRow>, u64), StoreError> {
        tracing::trace!(sql, "sqlite writer statement");
        let mut st = self.state()?;
        if st.batch.is_none() {
            // SQLite rolled the batch back under an earlier statement of this transaction.
            return Err(StoreError::Unavailable(
                "SQLite rolled the transaction back".to_owned(),
            ));
        }
        let result = Self::execute(&st.conn, sql, args, max_rows);
        if result.is_err() && st.conn.is_autocommit() {
            // Some errors (full disk, I/O) make SQLite roll back the whole transaction: every
            // member of the batch has lost its work, and must hear so.
            fail_batch(&mut st, "SQLite rolled the transaction back after an error");
        }
        result
    }

    fn execute(
        conn: &Connection,
        sql: &str,
        args: &[Value],
        max_rows: usize,
    ) -> Result<(Vec<LiteRow>, u64), StoreError> {
        let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
        for i in 1..=stmt.parameter_count() {
            let n = match stmt.parameter_name(i) {
                // `$n` / `?n` name the argument; anonymous `?` take them in order.
                Some(name) => name[1..]
                    .parse::<usize>()
                    .map_err(|_| StoreError::Invalid(format!("parameter {name}")))?,
                None => i,
            };
            // Like sqlx: an argument never bound is NULL.
            let Some(value) = n.checked_sub(1).and_then(|k| args.get(k)) else {
                continue;
            };
            bind(&mut stmt, i, value)?;
        }
        let columns: Arc<[String]> = stmt
            .column_names()
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        let mut out = Vec::new();
        let mut rows = stmt.raw_query();
        // A data-changing statement makes all its changes at the first step (SQLite runs
        // `RETURNING` to completion there), so stopping after `max_rows` rows loses nothing.
        while let Some(row) = rows.next().map_err(map_err)? {
            if out.len() >= max_rows {
                break;
            }
            let mut values = Vec::with_capacity(columns.len());
            for c in 0..columns.len() {
                values.push(match row.get_ref(c).map_err(map_err)? {
                    ValueRef::Null => Value::NullText,
                    ValueRef::Integer(i) => Value::Int(i),
                    ValueRef::Real(r) => Value::Real(r),
                    ValueRef::Text(t) => Value::Text(
                        std::str::from_utf8(t)
                            .map_err(|e| StoreError::Invalid(e.to_string()))?
                            .to_owned(),
                    ),
                    ValueRef::Blob(_) => {
                        return Err(StoreError::Invalid("unexpected BLOB column".to_owned()))
                    }
                });
            }
            out.push(LiteRow {
                columns: Arc::clone(&columns),
                values,
            });
        }
        drop(rows);
        let changed = conn.changes();
        Ok((out, changed))
    }

    /// Keeps this transaction's work and returns once it is durable in SQLite's sense (committed
    /// with its batch).
    pub(super) async fn commit(mut self) -> Result<(), StoreError> {
        let Some(guard) = self.guard.take() else {
            return Err(StoreError::Unavailable("transaction finished".to_owned()));
        };
        let mut outcome = {
            let mut st = lock(&guard);
            let released = st.conn.execute_batch("RELEASE tx");
            if let Err(e) = released {
                // SQLite may have rolled the whole transaction back (I/O errors, full disk).
                let why = e.to_string();
                fail_batch(&mut st, &why);
                return Err(map_err(e));
            }
            if st.conn.is_autocommit() {
                fail_batch(&mut st, "the transaction was rolled back");
                return Err(StoreError::Unavailable(
                    "SQLite rolled the transaction back".to_owned(),
                ));
            }
            let defer = self.waiting.load(Ordering::SeqCst) > 0
                && st.batch.as_ref().is_some_and(|b| b.members < MAX_BATCH);
            if defer {
                let Some(batch) = st.batch.as_mut() else {
                    return Err(StoreError::Unavailable("no open batch".to_owned()));
                };
                if !batch.finisher {
                    batch.finisher = true;
                    tokio::spawn(finisher(Arc::clone(&self.turn), batch.id));
                }
                batch.outcome.subscribe()
            } else {
                let rx = st.batch.as_ref().map(|b| b.outcome.subscribe());
                finish_batch(&mut st);
                match rx {
                    Some(rx) => rx,
                    None => return Err(StoreError::Unavailable("no open batch".to_owned())),
                }
            }
        };
        drop(guard);
        let result = match outcome.wait_for(Option::is_some).await {
            Ok(v) => v.clone().unwrap_or_else(|| Err("no outcome".to_owned())),
            Err(_) => Err("the batch was abandoned".to_owned()),
        };
        result.map_err(StoreError::Sqlite)
    }
}

impl Drop for LiteTx {
    /// An unfinished transaction: undo its work only; commit the batch if nobody else will.
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let mut st = lock(&guard);
        if let Err(e) = st.conn.execute_batch("ROLLBACK TO tx; RELEASE tx") {
            fail_batch(&mut st, &e.to_string());
            return;
        }
        if st.conn.is_autocommit() {
            fail_batch(&mut st, "the transaction was rolled back");
            return;
        }
        let others_will = self.waiting.load(Ordering::SeqCst) > 0
            && st.batch.as_ref().is_some_and(|b| b.finisher);
        if !others_will {
            finish_batch(&mut st);
        }
    }
}

fn bind(stmt: &mut rusqlite::Statement<'_>, i: usize, value: &Value) -> Result<(), StoreError> {
    let r = match value {
        Value::Int(v) => stmt.raw_bind_parameter(i, v),
        Value::Real(v) => stmt.raw_bind_parameter(i, v),
        Value::Text(v) => stmt.raw_bind_parameter(i, v.as_str()),
        Value::NullInt | Value::NullText => stmt.raw_bind_parameter(i, rusqlite::types::Null),
    };
    r.map_err(map_err)
}

/// A row read by the writer.
#[derive(Debug)]
pub(super) struct LiteRow {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl LiteRow {
    pub(super) fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    pub(super) fn len(&self) -> usize {
        self.values.len()
    }

    pub(super) fn value(&self, i: usize) -> &Value {
        &self.values[i]
    }
}

/// Classifies SQLite's errors the way [`StoreError`]'s sqlx conversion does.
fn map_err(err: rusqlite::Error) -> StoreError {
    use rusqlite::ffi::ErrorCode;
    match &err {
        rusqlite::Error::SqliteFailure(e, msg) => {
            let message = msg.clone().unwrap_or_else(|| e.to_string());
            match e.extended_code {
                // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
                2067 | 1555 => StoreError::Conflict(String::new()),
                // SQLITE_CONSTRAINT_FOREIGNKEY
                787 => StoreError::MissingReference(String::new()),
                // SQLITE_CONSTRAINT_NOTNULL, SQLITE_CONSTRAINT_CHECK
                1299 | 275 => StoreError::Invalid(message),
                _ => match e.code {
                    ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                        StoreError::Unavailable(message)
                    }
                    _ => StoreError::Sqlite(err.to_string()),
                },
            }
        }
        _ => StoreError::Sqlite(err.to_string()),
    }
}
