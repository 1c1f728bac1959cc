//! Audit-chain storage shared by the tenant chains and the platform chain. The chain head row is
//! updated in the same transaction as the appended entry; updating it first takes a row lock
//! (PostgreSQL) or the write lock (SQLite), which serialises appends to one chain.

use super::exec::{query, Conn, Query};
use super::{rows, Bind, Dialect, Filters};
use crate::model::{AuditFilter, AuditHead, AuditRecord};
use crate::StoreError;
use switchboard_types::TenantId;

/// Which chain an operation addresses.
#[derive(Debug, Clone, Copy)]
pub(super) enum Chain<'a> {
    Tenant(&'a TenantId),
    Platform,
}

impl Chain<'_> {
    /// `(events table, head table, head key column)`
    fn tables(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Chain::Tenant(_) => ("audit_events", "audit_heads", "tenant_id"),
            Chain::Platform => ("platform_audit_events", "platform_audit_head", "id"),
        }
    }

    fn head_key(self) -> Bind {
        match self {
            Chain::Tenant(t) => Bind::Text(t.as_str().to_owned()),
            Chain::Platform => Bind::Int(1),
        }
    }

    fn bind_head_key(self, q: Query<'_>) -> Query<'_> {
        match self.head_key() {
            Bind::Text(s) => q.bind(s),
            Bind::Int(i) => q.bind(i),
        }
    }

    /// Filters for "this chain's entries" (tenant chains share one table).
    fn base_filters(self) -> Filters {
        let mut f = Filters::default();
        if let Chain::Tenant(t) = self {
            f.push("tenant_id = {}", Bind::Text(t.as_str().to_owned()));
        }
        f
    }
}

pub(super) async fn lock_head(
    tx: &mut Conn,
    chain: Chain<'_>,
    dialect: Dialect,
) -> Result<AuditHead, StoreError> {
    let (_, heads, key) = chain.tables();
    // PostgreSQL: a row lock, held to commit. SQLite: write transactions begin IMMEDIATE and so
    // already hold the database's one write lock.
    let lock = match dialect {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    let sql = format!("SELECT seq, hash FROM {heads} WHERE {key} = $1{lock}");
    if let Some(row) = chain
        .bind_head_key(query(&sql))
        .fetch_optional(&mut *tx)
        .await?
    {
        return Ok(AuditHead {
            seq: row.try_get("seq")?,
            hash: row.try_get("hash")?,
        });
    }
    // First entry of this chain. Concurrent first appends both try to create the head; the loser
    // waits for the winner's commit, inserts nothing, and the SELECT then locks the head row.
    let insert = format!(
        "INSERT INTO {heads} ({key}, seq, hash) VALUES ($1, 0, '') ON CONFLICT ({key}) DO NOTHING"
    );
    chain
        .bind_head_key(query(&insert))
        .execute(&mut *tx)
        .await?;
    let row = chain.bind_head_key(query(&sql)).fetch_one(&mut *tx).await?;
    Ok(AuditHead {
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
    })
}

pub(super) async fn read_head(tx: &mut Conn, chain: Chain<'_>) -> Result<AuditHead, StoreError> {
    let (_, heads, key) = chain.tables();
    let sql = format!("SELECT seq, hash FROM {heads} WHERE {key} = $1");
    Ok(
        match chain
            .bind_head_key(query(&sql))
            .fetch_optional(&mut *tx)
            .await?
        {
            Some(row) => AuditHead {
                seq: row.try_get("seq")?,
                hash: row.try_get("hash")?,
            },
            None => AuditHead::default(),
        },
    )
}

/// An entry's columns after the tenant, in [`bind_entry`]'s order.
const ENTRY_COLS: &str = "seq, id, occurred_at, actor_type, actor_id, action, target_type, \
    target_id, outcome, ip, user_agent, request_id, details, prev_hash, hash";

/// Binds an entry's [`ENTRY_COLS`].
fn bind_entry<'q>(q: Query<'q>, r: &AuditRecord) -> Query<'q> {
    q.bind(r.seq)
        .bind(r.id.as_str())
        .bind(r.occurred_at)
        .bind(r.actor.kind.as_str())
        .bind(r.actor.id.as_str())
        .bind(r.action.as_str())
        .bind(r.target_type.as_str())
        .bind(r.target_id.as_deref())
        .bind(r.outcome.as_str())
        .bind(r.ip.as_deref())
        .bind(r.user_agent.as_deref())
        .bind(r.request_id.as_deref())
        .bind(r.details.to_string())
        .bind(r.prev_hash.as_str())
        .bind(r.hash.as_str())
}

/// Appends an entry to the platform chain; a trigger (migration 0003) moves the chain head to
/// it in the same statement. (Tenant chains are written by [`append_tenant_entries`].)
pub(super) async fn append_platform(tx: &mut Conn, r: &AuditRecord) -> Result<(), StoreError> {
    let (events, _, _) = Chain::Platform.tables();
    let sql = format!(
        "INSERT INTO {events} ({ENTRY_COLS}) VALUES {}",
        super::values_placeholders(1, 15, 0)
    );
    bind_entry(query(&sql), r).execute(&mut *tx).await?;
    Ok(())
}

/// Writes chained entries of a tenant in one statement (on PostgreSQL every statement is a
/// round trip under the tenant's head lock); the head trigger (migration 0003) moves the head
/// row by row, so it ends at the last entry. The trigger stays even though this statement could
/// move the head itself: a process of the previous release, still running during a rolling
/// upgrade, appends one entry at a time and relies on it.
pub(super) async fn append_tenant_entries(
    tx: &mut Conn,
    tenant: &TenantId,
    records: &[AuditRecord],
) -> Result<(), StoreError> {
    const COLS: usize = 16;
    if records.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO audit_events (tenant_id, {ENTRY_COLS}) VALUES {}",
        super::values_placeholders(records.len(), COLS, 0)
    );
    let mut q = query(&sql);
    for r in records {
        q = bind_entry(q.bind(tenant.as_str()), r);
    }
    q.execute(&mut *tx).await?;
    Ok(())
}

pub(super) async fn chain_page(
    tx: &mut Conn,
    chain: Chain<'_>,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    let (events, _, _) = chain.tables();
    let mut f = chain.base_filters();
    f.push("seq > {}", Bind::Int(after_seq));
    let sql = format!(
        "SELECT {cols} FROM {events}{w} ORDER BY seq ASC LIMIT {lim}",
        cols = rows::AUDIT_COLS,
        w = f.where_sql(),
        lim = f.next_placeholder()
    );
    let rows = f
        .bind_all(query(&sql))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
    rows.iter().map(rows::audit).collect()
}

pub(super) async fn list(
    tx: &mut Conn,
    chain: Chain<'_>,
    filter: &AuditFilter,
) -> Result<Vec<AuditRecord>, StoreError> {
    let (events, _, _) = chain.tables();
    let mut f = chain.base_filters();
    let text = |s: &String| Bind::Text(s.clone());
    if let Some(v) = &filter.action {
        f.push("action = {}", text(v));
    }
    if let Some(v) = &filter.actor_id {
        f.push("actor_id = {}", text(v));
    }
    if let Some(v) = &filter.target_id {
        f.push("target_id = {}", text(v));
    }
    if let Some(v) = &filter.outcome {
        f.push("outcome = {}", text(v));
    }
    if let Some(v) = filter.since {
        f.push("occurred_at >= {}", Bind::Int(v));
    }
    if let Some(v) = filter.until {
        f.push("occurred_at < {}", Bind::Int(v));
    }
    if let Some(v) = filter.before_seq {
        f.push("seq < {}", Bind::Int(v));
    }
    let sql = format!(
        "SELECT {cols} FROM {events}{w} ORDER BY seq DESC LIMIT {lim}",
        cols = rows::AUDIT_COLS,
        w = f.where_sql(),
        lim = f.next_placeholder()
    );
    let rows = f
        .bind_all(query(&sql))
        .bind(filter.limit.clamp(1, 1000))
        .fetch_all(&mut *tx)
        .await?;
    rows.iter().map(rows::audit).collect()
}
