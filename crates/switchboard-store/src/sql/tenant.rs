//! Tenant-scoped transactions. Every statement filters on the context's tenant explicitly; on
//! PostgreSQL row-level security enforces the same filter again.

use super::audit::{self, Chain};
use super::exec::{query, Conn};
use super::{rows, Bind, Dialect, Filters};
use crate::model::*;
use crate::schema::TENANT_TABLES;
use crate::traits::{Access, AuditWriter, TenantTx};
use crate::{StoreError, TenantCtx};
use async_trait::async_trait;
use std::collections::BTreeMap;
use switchboard_types::{
    ApiKeyId, AttributeId, AttributeTarget, Availability, CompanyId, ContactId, TeamId, TenantRole,
    UserId,
};
use switchboard_types::{CalendarId, JobId, SentimentLabel, UrgencyLevel};
use switchboard_types::{CannedResponseId, ConversationId, InboxId, LabelId, MessageId};

/// Outbox rows per INSERT statement when a transaction flushes its events.
const OUTBOX_ROWS_PER_INSERT: usize = 500;
/// Audit rows per INSERT statement at commit (16 parameters a row).
const AUDIT_ROWS_PER_INSERT: usize = 500;

/// Binds an outbox event's `id, event_type, version, occurred_at, actor_type, actor_id,
/// payload`.
fn bind_event<'q>(q: super::exec::Query<'q>, e: &OutboxEvent) -> super::exec::Query<'q> {
    q.bind(e.id.as_str())
        .bind(e.event_type.as_str())
        .bind(e.version)
        .bind(e.occurred_at)
        .bind(e.actor.kind.as_str())
        .bind(e.actor.id.as_str())
        .bind(e.payload.to_string())
}

pub(super) struct SqlTenantTx {
    pub(super) tx: Conn,
    ctx: TenantCtx,
    dialect: Dialect,
    access: Access,
    /// Events of this transaction, numbered and written at commit.
    outbox: Vec<OutboxEvent>,
    /// Audit entries of this transaction, chained and written at commit.
    audit: Vec<AuditRecord>,
    commits: tokio::sync::broadcast::Sender<switchboard_types::TenantId>,
}

impl std::fmt::Debug for SqlTenantTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlTenantTx")
            .field("ctx", &self.ctx)
            .finish_non_exhaustive()
    }
}

impl SqlTenantTx {
    pub(super) fn new(
        tx: Conn,
        ctx: TenantCtx,
        dialect: Dialect,
        access: Access,
        commits: tokio::sync::broadcast::Sender<switchboard_types::TenantId>,
    ) -> Self {
        Self {
            tx,
            ctx,
            dialect,
            access,
            outbox: Vec::new(),
            audit: Vec::new(),
            commits,
        }
    }

    /// Locks the tenant's head row (creating it if needed), reserves numbers for this
    /// transaction's events on it, and returns the audit head and the last reserved event
    /// number: one statement. The head is locked here, at the very end of the transaction
    /// (PostgreSQL; SQLite has one writer), and held to commit: a tenant's writers queue only for
    /// these last statements, and since no other row is locked after it, the head lock never
    /// takes part in a deadlock. Sequence numbers therefore follow commit order: a reader that
    /// has seen event `n` has seen everything before it.
    async fn lock_head_reserving_events(&mut self) -> Result<(AuditHead, i64), StoreError> {
        let n = self.outbox.len() as i64;
        let row = query(
            "INSERT INTO audit_heads (tenant_id, seq, hash, outbox_seq) VALUES ($1, 0, '', $2) \
             ON CONFLICT (tenant_id) DO UPDATE SET outbox_seq = audit_heads.outbox_seq + $3 \
             RETURNING seq, hash, outbox_seq",
        )
        .bind(self.tenant().to_owned())
        .bind(n)
        .bind(n)
        .fetch_one(&mut self.tx)
        .await?;
        let head = AuditHead {
            seq: row.try_get("seq")?,
            hash: row.try_get("hash")?,
        };
        Ok((head, row.try_get("outbox_seq")?))
    }

    /// [`Self::lock_head_reserving_events`] and [`Self::flush_outbox`] as one PostgreSQL
    /// statement (a data-modifying `WITH`), for up to [`OUTBOX_ROWS_PER_INSERT`] events.
    async fn lock_head_writing_events(&mut self) -> Result<AuditHead, StoreError> {
        let n = self.outbox.len() as i64;
        let sql = format!(
            "WITH h AS (INSERT INTO audit_heads (tenant_id, seq, hash, outbox_seq) \
             VALUES ($1, 0, '', $2) \
             ON CONFLICT (tenant_id) DO UPDATE SET outbox_seq = audit_heads.outbox_seq + $3 \
             RETURNING seq, hash, outbox_seq), \
             o AS (INSERT INTO outbox_events (tenant_id, seq, id, event_type, version, \
             occurred_at, actor_type, actor_id, payload) \
             SELECT $1, h.outbox_seq - $3 + v.k, v.id, v.event_type, v.version, v.occurred_at, \
             v.actor_type, v.actor_id, v.payload FROM h, (VALUES {}) \
             AS v (k, id, event_type, version, occurred_at, actor_type, actor_id, payload)) \
             SELECT seq, hash FROM h",
            super::values_placeholders(self.outbox.len(), 8, 3)
        );
        let mut q = query(&sql).bind(self.tenant().to_owned()).bind(n).bind(n);
        for (i, e) in self.outbox.iter().enumerate() {
            q = bind_event(q.bind(i as i64 + 1), e);
        }
        let row = q.fetch_one(&mut self.tx).await?;
        Ok(AuditHead {
            seq: row.try_get("seq")?,
            hash: row.try_get("hash")?,
        })
    }

    /// This transaction's audit entries, numbered and hashed after `head`.
    fn chain_audit(&mut self, mut head: AuditHead) -> Vec<AuditRecord> {
        let chain = self.audit_chain_id();
        let mut records = std::mem::take(&mut self.audit);
        for record in &mut records {
            record.seq = head.seq + 1;
            record.prev_hash = head.hash.clone();
            record.hash = crate::audit_chain::chain_hash(
                &record.prev_hash,
                &crate::audit_chain::canonical_json(&chain, record),
            );
            head = AuditHead {
                seq: record.seq,
                hash: record.hash.clone(),
            };
        }
        records
    }

    /// Chains this transaction's audit entries after `head` (locked) and writes them, a few
    /// hundred per statement (their trigger moves the head).
    async fn flush_audit(&mut self, head: AuditHead) -> Result<(), StoreError> {
        let t = self.ctx.tenant().clone();
        for chunk in self.chain_audit(head).chunks(AUDIT_ROWS_PER_INSERT) {
            audit::append_tenant_entries(&mut self.tx, &t, chunk).await?;
        }
        Ok(())
    }

    /// Writes this transaction's events, numbered up to `last` (reserved on the head row).
    async fn flush_outbox(&mut self, last: i64) -> Result<(), StoreError> {
        let n = self.outbox.len() as i64;
        let first = last - n + 1;
        let tenant = self.tenant().to_owned();
        // Bounded statements: PostgreSQL takes at most 65,535 parameters, SQLite 32,766.
        for (c, chunk) in self.outbox.chunks(OUTBOX_ROWS_PER_INSERT).enumerate() {
            let sql = format!(
                "INSERT INTO outbox_events (tenant_id, seq, id, event_type, version, occurred_at, \
                 actor_type, actor_id, payload) VALUES {}",
                super::values_placeholders(chunk.len(), 9, 0)
            );
            let base = first + (c * OUTBOX_ROWS_PER_INSERT) as i64;
            let mut q = query(&sql);
            for (i, e) in chunk.iter().enumerate() {
                q = bind_event(q.bind(tenant.clone()).bind(base + i as i64), e);
            }
            q.execute(&mut self.tx).await?;
        }
        Ok(())
    }

    /// Deletes this tenant's rows of `table` whose `column` equals `value`; how many went. Table
    /// and column names are our own constants, never input.
    async fn delete_where(
        &mut self,
        table: &'static str,
        column: &'static str,
        value: &str,
    ) -> Result<u64, StoreError> {
        let sql = format!("DELETE FROM {table} WHERE tenant_id = $1 AND {column} = $2");
        let done = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(value)
            .execute(&mut self.tx)
            .await?;
        Ok(done.rows_affected())
    }

    /// In a PostgreSQL write transaction, reading one record locks it until commit, so a
    /// read-modify-write never loses a concurrent change (SQLite's writer is alone anyway).
    pub(super) fn lock_for_write(&self) -> &'static str {
        match (self.dialect, self.access) {
            (Dialect::Postgres, Access::Write) => " FOR UPDATE",
            _ => "",
        }
    }

    /// The `FROM` and `WHERE` of a message search, shared by message and conversation searches.
    fn message_search_filters(&self, q: &SearchQuery) -> (&'static str, Filters) {
        let mut w = Filters::default();
        let from = match self.dialect {
            // Filters alone (on triage): every message of the tenant is a candidate.
            _ if q.terms.is_empty() => "messages m",
            Dialect::Sqlite => {
                // Everything but the match comes from `messages` itself: a conversation merge
                // moves messages without rewriting the index's copy of their conversation.
                w.push("message_search MATCH {}", Bind::Text(fts5_query(&q.terms)));
                w.push("s.tenant_id = {}", Bind::Text(self.tenant().to_owned()));
                "message_search s JOIN messages m ON m.tenant_id = s.tenant_id AND m.id = s.message_id"
            }
            Dialect::Postgres => {
                w.push(
                    "m.search @@ plainto_tsquery('simple', {})",
                    Bind::Text(q.terms.join(" ")),
                );
                "messages m"
            }
        };
        w.push("m.tenant_id = {}", Bind::Text(self.tenant().to_owned()));
        if let Some(s) = q.status {
            w.push("c.status = {}", Bind::Text(s.as_str().to_owned()));
        }
        for (clause, value) in [
            ("c.inbox_id = {}", q.inbox_id.as_ref().map(|x| x.as_str().to_owned())),
            ("c.assignee_id = {}", q.assignee_id.as_ref().map(|x| x.as_str().to_owned())),
            (
                "c.id IN (SELECT conversation_id FROM conversation_labels cl WHERE cl.tenant_id = c.tenant_id AND cl.label_id = {})",
                q.label_id.as_ref().map(|x| x.as_str().to_owned()),
            ),
        ] {
            if let Some(v) = value {
                w.push(clause, Bind::Text(v));
            }
        }
        if let Some(t) = q.since {
            w.push("m.created_at >= {}", Bind::Int(t));
        }
        if let Some(t) = q.until {
            w.push("m.created_at < {}", Bind::Int(t));
        }
        for (clause, value) in [
            ("m.intent = {}", q.intent.clone()),
            ("m.language = {}", q.language.clone()),
            (
                "m.sentiment_label = {}",
                q.sentiment.map(|s| s.as_str().to_owned()),
            ),
            ("m.urgency = {}", q.urgency.map(|u| u.as_str().to_owned())),
        ] {
            if let Some(v) = value {
                w.push(clause, Bind::Text(v));
            }
        }
        if let Some(p) = q.has_pii {
            w.push("m.has_pii = {}", Bind::Int(i64::from(p)));
        }
        (from, w)
    }

    pub(super) fn tenant(&self) -> &str {
        self.ctx.tenant().as_str()
    }
}

#[async_trait]
impl AuditWriter for SqlTenantTx {
    fn audit_chain_id(&self) -> String {
        self.ctx.tenant().to_string()
    }

    async fn lock_audit_head(&mut self) -> Result<AuditHead, StoreError> {
        let t = self.ctx.tenant().clone();
        audit::lock_head(&mut self.tx, Chain::Tenant(&t), self.dialect).await
    }

    /// A provisional head: the entries are chained for real at commit, under the head lock.
    async fn next_audit_head(&mut self) -> Result<AuditHead, StoreError> {
        Ok(self
            .audit
            .last()
            .map(|last| AuditHead {
                seq: last.seq,
                hash: last.hash.clone(),
            })
            .unwrap_or_default())
    }

    async fn append_audit(&mut self, record: &AuditRecord) -> Result<(), StoreError> {
        self.audit.push(record.clone());
        Ok(())
    }

    async fn read_audit_head(&mut self) -> Result<AuditHead, StoreError> {
        let t = self.ctx.tenant().clone();
        audit::read_head(&mut self.tx, Chain::Tenant(&t)).await
    }

    async fn audit_chain(
        &mut self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let t = self.ctx.tenant().clone();
        audit::chain_page(&mut self.tx, Chain::Tenant(&t), after_seq, limit).await
    }

    async fn list_audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let t = self.ctx.tenant().clone();
        audit::list(&mut self.tx, Chain::Tenant(&t), filter).await
    }
}

#[async_trait]
impl TenantTx for SqlTenantTx {
    fn ctx(&self) -> &TenantCtx {
        &self.ctx
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let wrote_events = !self.outbox.is_empty();
        if wrote_events || !self.audit.is_empty() {
            // On PostgreSQL every statement is a round trip while the tenant's writers queue
            // behind the head row, so the events go in the statement that locks it.
            let head = if self.dialect == Dialect::Postgres
                && (1..=OUTBOX_ROWS_PER_INSERT).contains(&self.outbox.len())
            {
                self.lock_head_writing_events().await?
            } else {
                let (head, last_event) = self.lock_head_reserving_events().await?;
                if wrote_events {
                    self.flush_outbox(last_event).await?;
                }
                head
            };
            self.flush_audit(head).await?;
        }
        let tenant = self.ctx.tenant().clone();
        self.tx.commit().await?;
        if wrote_events {
            // Nobody listening is fine: readers poll as well.
            let _ = self.commits.send(tenant);
        }
        Ok(())
    }

    async fn serialise_member_changes(&mut self) -> Result<(), StoreError> {
        if self.dialect == Dialect::Postgres {
            query("SELECT count(*) AS n FROM (SELECT pg_advisory_xact_lock(hashtext('members:' || $1))) AS l")
                .bind(self.tenant().to_owned())
                .fetch_one(&mut self.tx)
                .await?;
        }
        Ok(())
    }

    async fn insert_membership(&mut self, m: &Membership) -> Result<(), StoreError> {
        if &m.tenant_id != self.ctx.tenant() {
            return Err(StoreError::Invalid("membership for another tenant".into()));
        }
        query(
            "INSERT INTO memberships (tenant_id, user_id, role, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(self.tenant().to_owned())
        .bind(m.user_id.as_str())
        .bind(m.role.as_str())
        .bind(m.created_at)
        .bind(m.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_member(&mut self, user: &UserId) -> Result<Option<Member>, StoreError> {
        let sql = format!(
            "SELECT {} FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.tenant_id = $1 AND m.user_id = $2",
            rows::MEMBER_COLS
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(user.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::member).transpose()
    }

    async fn list_members(&mut self, page: &PageRequest) -> Result<Vec<Member>, StoreError> {
        let sql = format!(
            "SELECT {} FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.tenant_id = $1 AND m.user_id > $2 ORDER BY m.user_id LIMIT $3",
            rows::MEMBER_COLS
        );
        let rows = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(page.after.clone().unwrap_or_default())
            .bind(page.clamped_limit())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::member).collect()
    }

    async fn update_member_role(
        &mut self,
        user: &UserId,
        role: TenantRole,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE memberships SET role = $1, updated_at = $2 WHERE tenant_id = $3 AND user_id = $4",
        )
        .bind(role.as_str())
        .bind(now)
        .bind(self.tenant().to_owned())
        .bind(user.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_membership(&mut self, user: &UserId) -> Result<bool, StoreError> {
        Ok(self
            .delete_where("memberships", "user_id", user.as_str())
            .await?
            == 1)
    }

    async fn count_owners(&mut self) -> Result<i64, StoreError> {
        let row = query("SELECT COUNT(*) FROM memberships WHERE tenant_id = $1 AND role = 'owner'")
            .bind(self.tenant().to_owned())
            .fetch_one(&mut self.tx)
            .await?;
        rows::count(&row)
    }

    async fn set_member_availability(
        &mut self,
        user: &UserId,
        availability: Availability,
    ) -> Result<bool, StoreError> {
        let done =
            query("UPDATE memberships SET availability = $1 WHERE tenant_id = $2 AND user_id = $3")
                .bind(availability.as_str())
                .bind(self.tenant().to_owned())
                .bind(user.as_str())
                .execute(&mut self.tx)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_member_capacity(
        &mut self,
        user: &UserId,
        capacity: Option<i64>,
    ) -> Result<bool, StoreError> {
        let done =
            query("UPDATE memberships SET capacity = $1 WHERE tenant_id = $2 AND user_id = $3")
                .bind(capacity)
                .bind(self.tenant().to_owned())
                .bind(user.as_str())
                .execute(&mut self.tx)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_calendar(&mut self, c: &BusinessCalendar) -> Result<(), StoreError> {
        query(
            "INSERT INTO business_calendars (tenant_id, id, name, spec, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.tenant().to_owned())
        .bind(c.id.as_str())
        .bind(c.name.as_str())
        .bind(c.spec.to_string())
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_calendar(
        &mut self,
        id: &CalendarId,
    ) -> Result<Option<BusinessCalendar>, StoreError> {
        let sql = format!(
            "SELECT {} FROM business_calendars WHERE tenant_id = $1 AND id = $2{}",
            rows::CALENDAR_COLS,
            self.lock_for_write()
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::calendar).transpose()
    }

    async fn list_calendars(&mut self) -> Result<Vec<BusinessCalendar>, StoreError> {
        let sql = format!(
            "SELECT {} FROM business_calendars WHERE tenant_id = $1 ORDER BY name",
            rows::CALENDAR_COLS
        );
        let rows = query(&sql)
            .bind(self.tenant().to_owned())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::calendar).collect()
    }

    async fn update_calendar(&mut self, c: &BusinessCalendar) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE business_calendars SET name = $1, spec = $2, updated_at = $3 WHERE tenant_id = $4 AND id = $5",
        )
        .bind(c.name.as_str())
        .bind(c.spec.to_string())
        .bind(c.updated_at)
        .bind(self.tenant().to_owned())
        .bind(c.id.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_calendar(&mut self, id: &CalendarId) -> Result<bool, StoreError> {
        Ok(self
            .delete_where("business_calendars", "id", id.as_str())
            .await?
            == 1)
    }

    async fn insert_team(&mut self, t: &Team) -> Result<(), StoreError> {
        query(
            "INSERT INTO teams (tenant_id, id, name, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.tenant().to_owned())
        .bind(t.id.as_str())
        .bind(t.name.as_str())
        .bind(t.description.as_str())
        .bind(t.created_at)
        .bind(t.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_team(&mut self, id: &TeamId) -> Result<Option<Team>, StoreError> {
        let sql = format!(
            "SELECT {} FROM teams WHERE tenant_id = $1 AND id = $2",
            rows::TEAM_COLS
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::team).transpose()
    }

    async fn list_teams(&mut self) -> Result<Vec<Team>, StoreError> {
        let sql = format!(
            "SELECT {} FROM teams WHERE tenant_id = $1 ORDER BY name",
            rows::TEAM_COLS
        );
        let rows = query(&sql)
            .bind(self.tenant().to_owned())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::team).collect()
    }

    async fn update_team(&mut self, t: &Team) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE teams SET name = $1, description = $2, updated_at = $3 WHERE tenant_id = $4 AND id = $5",
        )
        .bind(t.name.as_str())
        .bind(t.description.as_str())
        .bind(t.updated_at)
        .bind(self.tenant().to_owned())
        .bind(t.id.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_team(&mut self, id: &TeamId) -> Result<bool, StoreError> {
        // Members go first explicitly (not only by cascade) so both engines behave alike.
        self.delete_where("team_members", "team_id", id.as_str())
            .await?;
        Ok(self.delete_where("teams", "id", id.as_str()).await? == 1)
    }

    async fn add_team_member(
        &mut self,
        team: &TeamId,
        user: &UserId,
        now: i64,
    ) -> Result<(), StoreError> {
        query("INSERT INTO team_members (tenant_id, team_id, user_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(self.tenant().to_owned())
            .bind(team.as_str())
            .bind(user.as_str())
            .bind(now)
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn remove_team_member(
        &mut self,
        team: &TeamId,
        user: &UserId,
    ) -> Result<bool, StoreError> {
        let done = query(
            "DELETE FROM team_members WHERE tenant_id = $1 AND team_id = $2 AND user_id = $3",
        )
        .bind(self.tenant().to_owned())
        .bind(team.as_str())
        .bind(user.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_team_members(&mut self, team: &TeamId) -> Result<Vec<Member>, StoreError> {
        let sql = format!(
            "SELECT {} FROM team_members t JOIN memberships m ON m.tenant_id = t.tenant_id AND m.user_id = t.user_id \
             JOIN users u ON u.id = m.user_id WHERE t.tenant_id = $1 AND t.team_id = $2 ORDER BY m.user_id",
            rows::MEMBER_COLS
        );
        let rows = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(team.as_str())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::member).collect()
    }

    async fn insert_api_key(&mut self, k: &ApiKey) -> Result<(), StoreError> {
        if &k.tenant_id != self.ctx.tenant() {
            return Err(StoreError::Invalid("api key for another tenant".into()));
        }
        let scopes =
            serde_json::to_string(&k.scopes).map_err(|e| StoreError::Invalid(e.to_string()))?;
        query(
            "INSERT INTO api_keys (tenant_id, id, name, prefix, key_hash, scopes, created_by, \
             created_at, expires_at, last_used_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(self.tenant().to_owned())
        .bind(k.id.as_str())
        .bind(k.name.as_str())
        .bind(k.prefix.as_str())
        .bind(k.key_hash.as_str())
        .bind(scopes)
        .bind(k.created_by.as_str())
        .bind(k.created_at)
        .bind(k.expires_at)
        .bind(k.last_used_at)
        .bind(k.revoked_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_api_key(&mut self, id: &ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        let sql = format!(
            "SELECT {} FROM api_keys WHERE tenant_id = $1 AND id = $2",
            rows::API_KEY_COLS
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::api_key).transpose()
    }

    async fn find_api_key_by_hash(&mut self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let sql = format!(
            "SELECT {} FROM api_keys WHERE tenant_id = $1 AND key_hash = $2",
            rows::API_KEY_COLS
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(key_hash)
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::api_key).transpose()
    }

    async fn list_api_keys(&mut self, page: &PageRequest) -> Result<Vec<ApiKey>, StoreError> {
        let sql = format!(
            "SELECT {} FROM api_keys WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            rows::API_KEY_COLS
        );
        let rows = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(page.after.clone().unwrap_or_default())
            .bind(page.clamped_limit())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::api_key).collect()
    }

    async fn revoke_api_key(&mut self, id: &ApiKeyId, now: i64) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(self.tenant().to_owned())
        .bind(id.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_api_key(&mut self, id: &ApiKeyId, now: i64) -> Result<(), StoreError> {
        query("UPDATE api_keys SET last_used_at = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(now)
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn insert_outbox(&mut self, e: &OutboxEvent) -> Result<(), StoreError> {
        self.outbox.push(e.clone());
        Ok(())
    }

    async fn outbox_after(
        &mut self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {} FROM outbox_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            rows::OUTBOX_COLS
        );
        query(&sql)
            .bind(self.tenant().to_owned())
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&mut self.tx)
            .await?
            .iter()
            .map(rows::stored_event)
            .collect()
    }

    async fn outbox_head(&mut self) -> Result<i64, StoreError> {
        let row = query("SELECT outbox_seq FROM audit_heads WHERE tenant_id = $1")
            .bind(self.tenant().to_owned())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map_or(Ok(0), rows::count)
    }

    async fn insert_company(&mut self, c: &Company) -> Result<(), StoreError> {
        query(
            "INSERT INTO companies (tenant_id, id, name, domain, custom_attributes, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(self.tenant().to_owned())
        .bind(c.id.as_str())
        .bind(c.name.as_str())
        .bind(c.domain.as_deref())
        .bind(serde_json::Value::Object(c.custom_attributes.clone()).to_string())
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_company(&mut self, id: &CompanyId) -> Result<Option<Company>, StoreError> {
        let sql = format!(
            "SELECT {} FROM companies WHERE tenant_id = $1 AND id = $2{}",
            rows::COMPANY_COLS,
            self.lock_for_write()
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::company).transpose()
    }

    async fn list_companies(&mut self, page: &PageRequest) -> Result<Vec<Company>, StoreError> {
        let sql = format!(
            "SELECT {} FROM companies WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            rows::COMPANY_COLS
        );
        let rows = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(page.after.clone().unwrap_or_default())
            .bind(page.clamped_limit())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::company).collect()
    }

    async fn update_company(&mut self, c: &Company) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE companies SET name = $1, domain = $2, custom_attributes = $3, updated_at = $4 \
             WHERE tenant_id = $5 AND id = $6",
        )
        .bind(c.name.as_str())
        .bind(c.domain.as_deref())
        .bind(serde_json::Value::Object(c.custom_attributes.clone()).to_string())
        .bind(c.updated_at)
        .bind(self.tenant().to_owned())
        .bind(c.id.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_company(&mut self, id: &CompanyId, now: i64) -> Result<bool, StoreError> {
        query("UPDATE contacts SET company_id = NULL, updated_at = $3 WHERE tenant_id = $1 AND company_id = $2")
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .bind(now)
        .execute(&mut self.tx)
        .await?;
        Ok(self.delete_where("companies", "id", id.as_str()).await? == 1)
    }

    async fn insert_attribute(&mut self, d: &AttributeDefinition) -> Result<(), StoreError> {
        let options =
            serde_json::to_string(&d.options).map_err(|e| StoreError::Invalid(e.to_string()))?;
        query(
            "INSERT INTO attribute_definitions (tenant_id, id, applies_to, attr_key, label, kind, options, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(self.tenant().to_owned())
        .bind(d.id.as_str())
        .bind(d.applies_to.as_str())
        .bind(d.key.as_str())
        .bind(d.label.as_str())
        .bind(d.kind.as_str())
        .bind(options)
        .bind(d.created_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn list_attributes(
        &mut self,
        applies_to: Option<AttributeTarget>,
    ) -> Result<Vec<AttributeDefinition>, StoreError> {
        let mut w = Filters::default();
        w.push("tenant_id = {}", Bind::Text(self.tenant().to_owned()));
        if let Some(t) = applies_to {
            w.push("applies_to = {}", Bind::Text(t.as_str().to_owned()));
        }
        let sql = format!(
            "SELECT {} FROM attribute_definitions{} ORDER BY applies_to, attr_key",
            rows::ATTRIBUTE_COLS,
            w.where_sql()
        );
        let rows = w.bind_all(query(&sql)).fetch_all(&mut self.tx).await?;
        rows.iter().map(rows::attribute).collect()
    }

    async fn delete_attribute(&mut self, id: &AttributeId) -> Result<bool, StoreError> {
        Ok(self
            .delete_where("attribute_definitions", "id", id.as_str())
            .await?
            == 1)
    }

    async fn insert_contact(&mut self, c: &Contact) -> Result<(), StoreError> {
        query(
            "INSERT INTO contacts (tenant_id, id, name, email, phone, external_id, company_id, \
             custom_attributes, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(self.tenant().to_owned())
        .bind(c.id.as_str())
        .bind(c.name.as_str())
        .bind(c.email.as_deref())
        .bind(c.phone.as_deref())
        .bind(c.external_id.as_deref())
        .bind(c.company_id.as_ref().map(|x| x.as_str().to_owned()))
        .bind(serde_json::Value::Object(c.custom_attributes.clone()).to_string())
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn insert_contact_if_absent(&mut self, c: &Contact) -> Result<bool, StoreError> {
        let done = query(
            "INSERT INTO contacts (tenant_id, id, name, email, phone, external_id, company_id, \
             custom_attributes, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(self.tenant().to_owned())
        .bind(c.id.as_str())
        .bind(c.name.as_str())
        .bind(c.email.as_deref())
        .bind(c.phone.as_deref())
        .bind(c.external_id.as_deref())
        .bind(c.company_id.as_ref().map(|x| x.as_str().to_owned()))
        .bind(serde_json::Value::Object(c.custom_attributes.clone()).to_string())
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn get_contact(&mut self, id: &ContactId) -> Result<Option<Contact>, StoreError> {
        let sql = format!(
            "SELECT {} FROM contacts WHERE tenant_id = $1 AND id = $2{}",
            rows::CONTACT_COLS,
            self.lock_for_write()
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::contact).transpose()
    }

    async fn list_contacts(&mut self, f: &ContactFilter) -> Result<Vec<Contact>, StoreError> {
        let mut w = Filters::default();
        w.push("tenant_id = {}", Bind::Text(self.tenant().to_owned()));
        for (clause, value) in [
            ("email = {}", &f.email),
            ("phone = {}", &f.phone),
            ("external_id = {}", &f.external_id),
        ] {
            if let Some(v) = value {
                w.push(clause, Bind::Text(v.clone()));
            }
        }
        if let Some(c) = &f.company_id {
            w.push("company_id = {}", Bind::Text(c.as_str().to_owned()));
        }
        if let Some(after) = &f.page.after {
            w.push("id > {}", Bind::Text(after.clone()));
        }
        let sql = format!(
            "SELECT {} FROM contacts{} ORDER BY id LIMIT {}{}",
            rows::CONTACT_COLS,
            w.where_sql(),
            w.next_placeholder(),
            self.lock_for_write()
        );
        let rows = w
            .bind_all(query(&sql))
            .bind(f.page.clamped_limit())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::contact).collect()
    }

    async fn update_contact(&mut self, c: &Contact) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE contacts SET name = $1, email = $2, phone = $3, external_id = $4, company_id = $5, \
             custom_attributes = $6, updated_at = $7 WHERE tenant_id = $8 AND id = $9",
        )
        .bind(c.name.as_str())
        .bind(c.email.as_deref())
        .bind(c.phone.as_deref())
        .bind(c.external_id.as_deref())
        .bind(c.company_id.as_ref().map(|x| x.as_str().to_owned()))
        .bind(serde_json::Value::Object(c.custom_attributes.clone()).to_string())
        .bind(c.updated_at)
        .bind(self.tenant().to_owned())
        .bind(c.id.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_contact(&mut self, id: &ContactId) -> Result<bool, StoreError> {
        Ok(self.delete_where("contacts", "id", id.as_str()).await? == 1)
    }

    async fn insert_inbox(&mut self, i: &Inbox) -> Result<(), StoreError> {
        query(
            "INSERT INTO inboxes (tenant_id, id, name, channel, assignment_policy, created_at, updated_at, \
             public_token, channel_config, secret_version, channel_secret, sla_policy_id) \
             VALUES ($1, $2, $3, $4, $7, $5, $6, $8, $9, $10, $11, $12)",
        )
            .bind(self.tenant().to_owned())
            .bind(i.id.as_str())
            .bind(i.name.as_str())
            .bind(i.channel.as_str())
            .bind(i.created_at)
            .bind(i.updated_at)
            .bind(i.assignment_policy.as_str())
            .bind(i.public_token.as_deref())
            .bind(serde_json::Value::Object(i.config.clone()).to_string())
            .bind(i.secret_version)
            .bind(i.channel_secret.as_deref())
            .bind(i.sla_policy_id.as_ref().map(|p| p.as_str()))
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn set_inbox_sla(
        &mut self,
        inbox: &InboxId,
        policy: Option<&switchboard_types::SlaPolicyId>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE inboxes SET sla_policy_id = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4",
        )
        .bind(policy.map(|p| p.as_str()))
        .bind(now)
        .bind(self.tenant().to_owned())
        .bind(inbox.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_sla_policy(&mut self, p: &SlaPolicy) -> Result<(), StoreError> {
        query(
            "INSERT INTO sla_policies (tenant_id, id, name, first_response_ms, next_response_ms, \
             resolution_ms, calendar_id, warning_percent, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(self.tenant().to_owned())
        .bind(p.id.as_str())
        .bind(p.name.as_str())
        .bind(p.first_response_ms)
        .bind(p.next_response_ms)
        .bind(p.resolution_ms)
        .bind(p.calendar_id.as_ref().map(CalendarId::as_str))
        .bind(p.warning_percent)
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_sla_policy(
        &mut self,
        id: &switchboard_types::SlaPolicyId,
    ) -> Result<Option<SlaPolicy>, StoreError> {
        let sql = format!(
            "SELECT {} FROM sla_policies WHERE tenant_id = $1 AND id = $2",
            rows::SLA_POLICY_COLS
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::sla_policy).transpose()
    }

    async fn list_sla_policies(&mut self) -> Result<Vec<SlaPolicy>, StoreError> {
        let sql = format!(
            "SELECT {} FROM sla_policies WHERE tenant_id = $1 ORDER BY name",
            rows::SLA_POLICY_COLS
        );
        query(&sql)
            .bind(self.tenant().to_owned())
            .fetch_all(&mut self.tx)
            .await?
            .iter()
            .map(rows::sla_policy)
            .collect()
    }

    async fn delete_sla_policy(
        &mut self,
        id: &switchboard_types::SlaPolicyId,
    ) -> Result<bool, StoreError> {
        query(
            "UPDATE inboxes SET sla_policy_id = NULL WHERE tenant_id = $1 AND sla_policy_id = $2",
        )
        .bind(self.tenant().to_owned())
        .bind(id.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(self.delete_where("sla_policies", "id", id.as_str()).await? == 1)
    }

    async fn get_conversation_sla(
        &mut self,
        conversation: &ConversationId,
    ) -> Result<Option<ConversationSla>, StoreError> {
        let row = query(
            "SELECT conversation_id, policy_id, state, updated_at FROM conversation_slas \
             WHERE tenant_id = $1 AND conversation_id = $2",
        )
        .bind(self.tenant().to_owned())
        .bind(conversation.as_str())
        .fetch_optional(&mut self.tx)
        .await?;
        row.as_ref().map(rows::conversation_sla).transpose()
    }

    async fn put_conversation_sla(&mut self, s: &ConversationSla) -> Result<(), StoreError> {
        query(
            "INSERT INTO conversation_slas (tenant_id, conversation_id, policy_id, state, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, conversation_id) DO UPDATE \
             SET policy_id = excluded.policy_id, state = excluded.state, updated_at = excluded.updated_at",
        )
        .bind(self.tenant().to_owned())
        .bind(s.conversation_id.as_str())
        .bind(s.policy_id.as_str())
        .bind(s.state.to_string())
        .bind(s.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn insert_metric(&mut self, m: &MetricEvent) -> Result<(), StoreError> {
        query(
            "INSERT INTO metric_events (tenant_id, id, kind, conversation_id, inbox_id, agent_id, team_id, \
             started_at, at, value) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(self.tenant().to_owned())
        .bind(m.id.as_str())
        .bind(m.kind.as_str())
        .bind(m.conversation_id.as_str())
        .bind(m.inbox_id.as_str())
        .bind(m.agent_id.as_deref())
        .bind(m.team_id.as_ref().map(TeamId::as_str))
        .bind(m.started_at)
        .bind(m.at)
        .bind(m.value)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn latest_metric(
        &mut self,
        conversation: &ConversationId,
        kinds: &[&str],
    ) -> Result<Option<MetricEvent>, StoreError> {
        let list: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT {} FROM metric_events WHERE tenant_id = $1 AND conversation_id = $2 AND kind IN ({}) \
             ORDER BY at DESC, id DESC LIMIT 1",
            rows::METRIC_COLS,
            list.join(", ")
        );
        let mut q = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(conversation.as_str());
        for k in kinds {
            q = q.bind(*k);
        }
        q.fetch_optional(&mut self.tx)
            .await?
            .as_ref()
            .map(rows::metric)
            .transpose()
    }

    async fn list_metrics(&mut self, f: &MetricFilter) -> Result<Vec<MetricEvent>, StoreError> {
        let mut w = Filters::default();
        w.push("tenant_id = {}", Bind::Text(self.tenant().to_owned()));
        w.push("at >= {}", Bind::Int(f.since));
        w.push("at < {}", Bind::Int(f.until));
        if !f.kinds.is_empty() {
            let mut ph = Vec::new();
            for k in &f.kinds {
                w.binds.push(Bind::Text(k.clone()));
                ph.push(format!("${}", w.binds.len()));
            }
            w.clauses.push(format!("kind IN ({})", ph.join(", ")));
        }
        if let Some(i) = &f.inbox_id {
            w.push("inbox_id = {}", Bind::Text(i.as_str().to_owned()));
        }
        if let Some(a) = &f.agent_id {
            w.push("agent_id = {}", Bind::Text(a.clone()));
        }
        if let Some(t) = &f.team_id {
            w.push("team_id = {}", Bind::Text(t.as_str().to_owned()));
        }
        if let Some(l) = &f.label_id {
            w.push(
                "conversation_id IN (SELECT conversation_id FROM conversation_labels cl \
                 WHERE cl.tenant_id = metric_events.tenant_id AND cl.label_id = {})",
                Bind::Text(l.as_str().to_owned()),
            );
        }
        let sql = format!(
            "SELECT {} FROM metric_events{} ORDER BY at LIMIT 500000",
            rows::METRIC_COLS,
            w.where_sql()
        );
        w.bind_all(query(&sql))
            .fetch_all(&mut self.tx)
            .await?
            .iter()
            .map(rows::metric)
            .collect()
    }

    async fn insert_csat(&mut self, c: &CsatSurvey) -> Result<(), StoreError> {
        query(
            "INSERT INTO csat_surveys (tenant_id, id, conversation_id, token_hash, sent_at, rating, comment, responded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(self.tenant().to_owned())
        .bind(c.id.as_str())
        .bind(c.conversation_id.as_str())
        .bind(c.token_hash.as_str())
        .bind(c.sent_at)
        .bind(c.rating)
        .bind(c.comment.as_deref())
        .bind(c.responded_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn latest_csat(
        &mut self,
        conversation: &ConversationId,
    ) -> Result<Option<CsatSurvey>, StoreError> {
        let sql = format!(
            "SELECT {} FROM csat_surveys WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY sent_at DESC, id DESC LIMIT 1",
            rows::CSAT_COLS
        );
        query(&sql)
            .bind(self.tenant().to_owned())
            .bind(conversation.as_str())
            .fetch_optional(&mut self.tx)
            .await?
            .as_ref()
            .map(rows::csat)
            .transpose()
    }

    async fn find_csat(&mut self, token_hash: &str) -> Result<Option<CsatSurvey>, StoreError> {
        let sql = format!(
            "SELECT {} FROM csat_surveys WHERE tenant_id = $1 AND token_hash = $2{}",
            rows::CSAT_COLS,
            self.lock_for_write()
        );
        query(&sql)
            .bind(self.tenant().to_owned())
            .bind(token_hash)
            .fetch_optional(&mut self.tx)
            .await?
            .as_ref()
            .map(rows::csat)
            .transpose()
    }

    async fn answer_csat(
        &mut self,
        id: &switchboard_types::CsatSurveyId,
        rating: i64,
        comment: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE csat_surveys SET rating = $1, comment = $2, responded_at = $3 \
             WHERE tenant_id = $4 AND id = $5 AND responded_at IS NULL",
        )
        .bind(rating)
        .bind(comment)
        .bind(now)
        .bind(self.tenant().to_owned())
        .bind(id.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_scheduled(&mut self, m: &ScheduledMessage) -> Result<(), StoreError> {
        let ids: Vec<&str> = m.attachment_ids.iter().map(|a| a.as_str()).collect();
        query(
            "INSERT INTO scheduled_messages (tenant_id, id, conversation_id, content, private, attachment_ids, \
             sender_type, sender_id, send_at, status, message_id, error, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(self.tenant().to_owned())
        .bind(m.id.as_str())
        .bind(m.conversation_id.as_str())
        .bind(m.content.as_str())
        .bind(i64::from(m.private))
        .bind(serde_json::json!(ids).to_string())
        .bind(m.sender.kind.as_str())
        .bind(m.sender.id.as_str())
        .bind(m.send_at)
        .bind(m.status.as_str())
        .bind(m.message_id.as_ref().map(MessageId::as_str))
        .bind(m.error.as_deref())
        .bind(m.created_at)
        .bind(m.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_scheduled(
        &mut self,
        id: &switchboard_types::ScheduledMessageId,
    ) -> Result<Option<ScheduledMessage>, StoreError> {
        let sql = format!(
            "SELECT {} FROM scheduled_messages WHERE tenant_id = $1 AND id = $2{}",
            rows::SCHEDULED_COLS,
            self.lock_for_write()
        );
        query(&sql)
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?
            .as_ref()
            .map(rows::scheduled)
            .transpose()
    }

    async fn list_scheduled(
        &mut self,
        conversation: &ConversationId,
    ) -> Result<Vec<ScheduledMessage>, StoreError> {
        let sql = format!(
            "SELECT {} FROM scheduled_messages WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY send_at, id",
            rows::SCHEDULED_COLS
        );
        query(&sql)
            .bind(self.tenant().to_owned())
            .bind(conversation.as_str())
            .fetch_all(&mut self.tx)
            .await?
            .iter()
            .map(rows::scheduled)
            .collect()
    }

    async fn finish_scheduled(&mut self, m: &ScheduledMessage) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE scheduled_messages SET status = $1, message_id = $2, error = $3, updated_at = $4 \
             WHERE tenant_id = $5 AND id = $6 AND status = 'scheduled'",
        )
        .bind(m.status.as_str())
        .bind(m.message_id.as_ref().map(MessageId::as_str))
        .bind(m.error.as_deref())
        .bind(m.updated_at)
        .bind(self.tenant().to_owned())
        .bind(m.id.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_macro(&mut self, m: &Macro) -> Result<(), StoreError> {
        query(
            "INSERT INTO macros (tenant_id, id, name, actions, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.tenant().to_owned())
        .bind(m.id.as_str())
        .bind(m.name.as_str())
        .bind(m.actions.to_string())
        .bind(m.created_at)
        .bind(m.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_macro(
        &mut self,
        id: &switchboard_types::MacroId,
    ) -> Result<Option<Macro>, StoreError> {
        query("SELECT id, name, actions, created_at, updated_at FROM macros WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?
            .as_ref()
            .map(rows::macro_row)
            .transpose()
    }

    async fn list_macros(&mut self) -> Result<Vec<Macro>, StoreError> {
        query("SELECT id, name, actions, created_at, updated_at FROM macros WHERE tenant_id = $1 ORDER BY name")
            .bind(self.tenant().to_owned())
            .fetch_all(&mut self.tx)
            .await?
            .iter()
            .map(rows::macro_row)
            .collect()
    }

    async fn delete_macro(&mut self, id: &switchboard_types::MacroId) -> Result<bool, StoreError> {
        Ok(self.delete_where("macros", "id", id.as_str()).await? == 1)
    }

    async fn get_triage_settings(&mut self) -> Result<Option<StoredTriageSettings>, StoreError> {
        let row = query("SELECT settings, updated_at FROM triage_settings WHERE tenant_id = $1")
            .bind(self.tenant().to_owned())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::triage_settings).transpose()
    }

    async fn put_triage_settings(&mut self, s: &StoredTriageSettings) -> Result<(), StoreError> {
        query(
            "INSERT INTO triage_settings (tenant_id, settings, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
        )
        .bind(self.tenant().to_owned())
        .bind(s.settings.to_string())
        .bind(s.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn insert_intent_model(&mut self, m: &IntentModelRecord) -> Result<bool, StoreError> {
        let done = query(
            "INSERT INTO intent_models (tenant_id, id, name, sha256, size_bytes, labels, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(self.tenant().to_owned())
        .bind(m.id.as_str())
        .bind(m.name.as_str())
        .bind(m.sha256.as_str())
        .bind(m.size_bytes)
        .bind(serde_json::Value::from(m.labels.clone()).to_string())
        .bind(m.created_at)
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn get_intent_model(
        &mut self,
        name: &str,
    ) -> Result<Option<IntentModelRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM intent_models WHERE tenant_id = $1 AND name = $2",
            rows::INTENT_MODEL_COLS
        );
        query(&sql)
            .bind(self.tenant().to_owned())
            .bind(name)
            .fetch_optional(&mut self.tx)
            .await?
            .as_ref()
            .map(rows::intent_model)
            .transpose()
    }

    async fn list_intent_models(&mut self) -> Result<Vec<IntentModelRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM intent_models WHERE tenant_id = $1 ORDER BY name",
            rows::INTENT_MODEL_COLS
        );
        query(&sql)
            .bind(self.tenant().to_owned())
            .fetch_all(&mut self.tx)
            .await?
            .iter()
            .map(rows::intent_model)
            .collect()
    }

    async fn delete_intent_model(&mut self, name: &str) -> Result<bool, StoreError> {
        Ok(self.delete_where("intent_models", "name", name).await? == 1)
    }

    async fn add_participant(
        &mut self,
        conversation: &ConversationId,
        user: &UserId,
        now: i64,
    ) -> Result<(), StoreError> {
        query(
            "INSERT INTO conversation_participants (tenant_id, conversation_id, user_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(self.tenant().to_owned())
        .bind(conversation.as_str())
        .bind(user.as_str())
        .bind(now)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn remove_participant(
        &mut self,
        conversation: &ConversationId,
        user: &UserId,
    ) -> Result<bool, StoreError> {
        let done = query(
            "DELETE FROM conversation_participants WHERE tenant_id = $1 AND conversation_id = $2 AND user_id = $3",
        )
        .bind(self.tenant().to_owned())
        .bind(conversation.as_str())
        .bind(user.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn participants(
        &mut self,
        conversation: &ConversationId,
    ) -> Result<Vec<UserId>, StoreError> {
        let rows = query(
            "SELECT user_id FROM conversation_participants WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY created_at, user_id",
        )
        .bind(self.tenant().to_owned())
        .bind(conversation.as_str())
        .fetch_all(&mut self.tx)
        .await?;
        rows.iter()
            .map(|r| Ok(UserId::from_trusted(r.try_get::<String, _>("user_id")?)))
            .collect()
    }

    async fn insert_notification(&mut self, n: &Notification) -> Result<(), StoreError> {
        query(
            "INSERT INTO notifications (tenant_id, id, user_id, kind, conversation_id, data, read_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(self.tenant().to_owned())
        .bind(n.id.as_str())
        .bind(n.user_id.as_str())
        .bind(n.kind.as_str())
        .bind(n.conversation_id.as_ref().map(ConversationId::as_str))
        .bind(n.data.to_string())
        .bind(n.read_at)
        .bind(n.created_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn list_notifications(
        &mut self,
        user: &UserId,
        unread_only: bool,
        page: &PageRequest,
    ) -> Result<Vec<Notification>, StoreError> {
        // Newest first: `after` is the last id of the previous page.
        let mut w = Filters::default();
        w.push("tenant_id = {}", Bind::Text(self.tenant().to_owned()));
        w.push("user_id = {}", Bind::Text(user.as_str().to_owned()));
        if let Some(after) = &page.after {
            w.push("id < {}", Bind::Text(after.clone()));
        }
        let unread = if unread_only {
            " AND read_at IS NULL"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {} FROM notifications{}{unread} ORDER BY id DESC LIMIT {}",
            rows::NOTIFICATION_COLS,
            w.where_sql(),
            w.next_placeholder()
        );
        w.bind_all(query(&sql))
            .bind(page.clamped_limit())
            .fetch_all(&mut self.tx)
            .await?
            .iter()
            .map(rows::notification)
            .collect()
    }

    async fn mark_notifications_read(
        &mut self,
        user: &UserId,
        id: Option<&switchboard_types::NotificationId>,
        now: i64,
    ) -> Result<u64, StoreError> {
        let done = match id {
            Some(id) => query(
                "UPDATE notifications SET read_at = COALESCE(read_at, $1) WHERE tenant_id = $2 AND user_id = $3 AND id = $4",
            )
            .bind(now)
            .bind(self.tenant().to_owned())
            .bind(user.as_str())
            .bind(id.as_str())
            .execute(&mut self.tx)
            .await?,
            None => query(
                "UPDATE notifications SET read_at = $1 WHERE tenant_id = $2 AND user_id = $3 AND read_at IS NULL",
            )
            .bind(now)
            .bind(self.tenant().to_owned())
            .bind(user.as_str())
            .execute(&mut self.tx)
            .await?,
        };
        Ok(done.rows_affected())
    }

    async fn get_inbox_by_public_token(
        &mut self,
        token: &str,
    ) -> Result<Option<Inbox>, StoreError> {
        let sql = format!(
            "SELECT {} FROM inboxes WHERE tenant_id = $1 AND public_token = $2",
            rows::INBOX_COLS
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(token)
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::inbox).transpose()
    }

    async fn update_inbox_channel(&mut self, i: &Inbox) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE inboxes SET channel_config = $1, secret_version = $2, updated_at = $3, \
             channel_secret = $6 WHERE tenant_id = $4 AND id = $5",
        )
        .bind(serde_json::Value::Object(i.config.clone()).to_string())
        .bind(i.secret_version)
        .bind(i.updated_at)
        .bind(self.tenant().to_owned())
        .bind(i.id.as_str())
        .bind(i.channel_secret.as_deref())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_widget_session(&mut self, w: &WidgetSession) -> Result<(), StoreError> {
        query(
            "INSERT INTO widget_sessions (tenant_id, id, inbox_id, contact_id, token_hash, verified, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(self.tenant().to_owned())
        .bind(w.id.as_str())
        .bind(w.inbox_id.as_str())
        .bind(w.contact_id.as_str())
        .bind(w.token_hash.as_str())
        .bind(i64::from(w.verified))
        .bind(w.created_at)
        .bind(w.expires_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn find_widget_session(
        &mut self,
        token_hash: &str,
    ) -> Result<Option<WidgetSession>, StoreError> {
        let sql = format!(
            "SELECT {} FROM widget_sessions WHERE tenant_id = $1 AND token_hash = $2",
            rows::WIDGET_SESSION_COLS
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(token_hash)
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::widget_session).transpose()
    }

    async fn get_inbox(&mut self, id: &InboxId) -> Result<Option<Inbox>, StoreError> {
        let sql = format!(
            "SELECT {} FROM inboxes WHERE tenant_id = $1 AND id = $2",
            rows::INBOX_COLS
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::inbox).transpose()
    }

    async fn list_inboxes(&mut self) -> Result<Vec<Inbox>, StoreError> {
        let sql = format!(
            "SELECT {} FROM inboxes WHERE tenant_id = $1 ORDER BY name",
            rows::INBOX_COLS
        );
        let rows = query(&sql)
            .bind(self.tenant().to_owned())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::inbox).collect()
    }

    async fn set_inbox_policy(
        &mut self,
        id: &InboxId,
        policy: switchboard_types::AssignmentPolicy,
        reassign_after_ms: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = query("UPDATE inboxes SET assignment_policy = $1, updated_at = $2, reassign_after_ms = $5 WHERE tenant_id = $3 AND id = $4")
            .bind(policy.as_str())
            .bind(now)
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .bind(reassign_after_ms)
            .execute(&mut self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn add_inbox_member(
        &mut self,
        inbox: &InboxId,
        user: &UserId,
        now: i64,
    ) -> Result<(), StoreError> {
        query("INSERT INTO inbox_members (tenant_id, inbox_id, user_id, last_assigned_at, created_at) VALUES ($1, $2, $3, NULL, $4)")
            .bind(self.tenant().to_owned())
            .bind(inbox.as_str())
            .bind(user.as_str())
            .bind(now)
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn remove_inbox_member(
        &mut self,
        inbox: &InboxId,
        user: &UserId,
    ) -> Result<bool, StoreError> {
        let done = query(
            "DELETE FROM inbox_members WHERE tenant_id = $1 AND inbox_id = $2 AND user_id = $3",
        )
        .bind(self.tenant().to_owned())
        .bind(inbox.as_str())
        .bind(user.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn inbox_agents(&mut self, inbox: &InboxId) -> Result<Vec<InboxAgent>, StoreError> {
        let rows = query(
            "SELECT im.user_id AS user_id, m.availability AS availability, m.capacity AS capacity, \
             im.last_assigned_at AS last_assigned_at, \
             (SELECT COUNT(*) FROM conversations c WHERE c.tenant_id = im.tenant_id AND c.assignee_id = im.user_id \
                AND c.status <> 'resolved') AS open_conversations \
             FROM inbox_members im JOIN memberships m ON m.tenant_id = im.tenant_id AND m.user_id = im.user_id \
             WHERE im.tenant_id = $1 AND im.inbox_id = $2 AND m.role IN ('owner', 'admin', 'agent') \
             ORDER BY im.user_id",
        )
        .bind(self.tenant().to_owned())
        .bind(inbox.as_str())
        .fetch_all(&mut self.tx)
        .await?;
        rows.iter().map(rows::inbox_agent).collect()
    }

    async fn mark_assigned(
        &mut self,
        inbox: &InboxId,
        user: &UserId,
        now: i64,
    ) -> Result<(), StoreError> {
        query("UPDATE inbox_members SET last_assigned_at = $1 WHERE tenant_id = $2 AND inbox_id = $3 AND user_id = $4")
            .bind(now)
            .bind(self.tenant().to_owned())
            .bind(inbox.as_str())
            .bind(user.as_str())
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn next_conversation_number(&mut self) -> Result<i64, StoreError> {
        let row = query(
            "INSERT INTO conversation_counters (tenant_id, last_number) VALUES ($1, 1) \
             ON CONFLICT (tenant_id) DO UPDATE SET last_number = conversation_counters.last_number + 1 \
             RETURNING last_number",
        )
        .bind(self.tenant().to_owned())
        .fetch_one(&mut self.tx)
        .await?;
        rows::count(&row)
    }

    async fn insert_conversation(&mut self, c: &Conversation) -> Result<(), StoreError> {
        query(
            "INSERT INTO conversations (tenant_id, id, number, inbox_id, contact_id, status, snoozed_until, priority, \
             assignee_id, team_id, waiting_since, last_activity_at, created_at, updated_at, custom_attributes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(self.tenant().to_owned())
        .bind(c.id.as_str())
        .bind(c.number)
        .bind(c.inbox_id.as_str())
        .bind(c.contact_id.as_str())
        .bind(c.status.as_str())
        .bind(c.snoozed_until)
        .bind(c.priority.as_str())
        .bind(c.assignee_id.as_ref().map(|x| x.as_str().to_owned()))
        .bind(c.team_id.as_ref().map(|x| x.as_str().to_owned()))
        .bind(c.waiting_since)
        .bind(c.last_activity_at)
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(serde_json::Value::Object(c.custom_attributes.clone()).to_string())
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn latest_conversation(
        &mut self,
        contact: &ContactId,
        inbox: &InboxId,
    ) -> Result<Option<Conversation>, StoreError> {
        let sql = format!(
            "SELECT {} FROM conversations WHERE tenant_id = $1 AND contact_id = $2 AND inbox_id = $3 \
             ORDER BY number DESC LIMIT 1{}",
            rows::CONVERSATION_COLS,
            self.lock_for_write()
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(contact.as_str())
            .bind(inbox.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::conversation).transpose()
    }

    async fn get_conversation(
        &mut self,
        id: &ConversationId,
    ) -> Result<Option<Conversation>, StoreError> {
        let sql = format!(
            "SELECT {} FROM conversations WHERE tenant_id = $1 AND id = $2{}",
            rows::CONVERSATION_COLS,
            self.lock_for_write()
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::conversation).transpose()
    }

    async fn list_conversations(
        &mut self,
        f: &ConversationFilter,
    ) -> Result<Vec<Conversation>, StoreError> {
        let mut w = Filters::default();
        w.push("tenant_id = {}", Bind::Text(self.tenant().to_owned()));
        if let Some(s) = f.status {
            w.push("status = {}", Bind::Text(s.as_str().to_owned()));
        }
        for (clause, value) in [
            (
                "inbox_id = {}",
                f.inbox_id.as_ref().map(|x| x.as_str().to_owned()),
            ),
            (
                "contact_id = {}",
                f.contact_id.as_ref().map(|x| x.as_str().to_owned()),
            ),
            (
                "assignee_id = {}",
                f.assignee_id.as_ref().map(|x| x.as_str().to_owned()),
            ),
            (
                "team_id = {}",
                f.team_id.as_ref().map(|x| x.as_str().to_owned()),
            ),
            ("priority = {}", f.priority.map(|p| p.as_str().to_owned())),
            ("id > {}", f.page.after.clone()),
        ] {
            if let Some(v) = value {
                w.push(clause, Bind::Text(v));
            }
        }
        if let Some(label) = &f.label_id {
            w.push(
                "id IN (SELECT conversation_id FROM conversation_labels cl WHERE cl.tenant_id = conversations.tenant_id \
                 AND cl.label_id = {})",
                Bind::Text(label.as_str().to_owned()),
            );
        }
        let unassigned = if f.unassigned {
            " AND assignee_id IS NULL"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {} FROM conversations{}{unassigned} ORDER BY id LIMIT {}",
            rows::CONVERSATION_COLS,
            w.where_sql(),
            w.next_placeholder()
        );
        let rows = w
            .bind_all(query(&sql))
            .bind(f.page.clamped_limit())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::conversation).collect()
    }

    async fn update_conversation(&mut self, c: &Conversation) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE conversations SET status = $1, snoozed_until = $2, priority = $3, assignee_id = $4, team_id = $5, \
             waiting_since = $6, last_activity_at = $7, updated_at = $8, contact_id = $9, custom_attributes = $12 \
             WHERE tenant_id = $10 AND id = $11",
        )
        .bind(c.status.as_str())
        .bind(c.snoozed_until)
        .bind(c.priority.as_str())
        .bind(c.assignee_id.as_ref().map(|x| x.as_str().to_owned()))
        .bind(c.team_id.as_ref().map(|x| x.as_str().to_owned()))
        .bind(c.waiting_since)
        .bind(c.last_activity_at)
        .bind(c.updated_at)
        .bind(c.contact_id.as_str())
        .bind(self.tenant().to_owned())
        .bind(c.id.as_str())
        .bind(serde_json::Value::Object(c.custom_attributes.clone()).to_string())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn move_conversations(
        &mut self,
        from: &ContactId,
        to: &ContactId,
        now: i64,
    ) -> Result<u64, StoreError> {
        let done = query(
            "UPDATE conversations SET contact_id = $1, updated_at = $2 WHERE tenant_id = $3 AND contact_id = $4",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(self.tenant().to_owned())
        .bind(from.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    async fn move_messages(
        &mut self,
        from: &ConversationId,
        to: &ConversationId,
    ) -> Result<u64, StoreError> {
        let done = query(
            "UPDATE messages SET conversation_id = $1 WHERE tenant_id = $2 AND conversation_id = $3",
        )
        .bind(to.as_str())
        .bind(self.tenant().to_owned())
        .bind(from.as_str())
        .execute(&mut self.tx)
        .await?;
        query(
            "UPDATE attachments SET conversation_id = $1 WHERE tenant_id = $2 AND conversation_id = $3",
        )
        .bind(to.as_str())
        .bind(self.tenant().to_owned())
        .bind(from.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    async fn insert_attachment(&mut self, a: &Attachment) -> Result<(), StoreError> {
        query(
            "INSERT INTO attachments (tenant_id, id, conversation_id, message_id, filename, content_type, \
             size, sha256, blob_key, uploaded_by_type, uploaded_by_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(self.tenant().to_owned())
        .bind(a.id.as_str())
        .bind(a.conversation_id.as_str())
        .bind(a.message_id.as_ref().map(MessageId::as_str))
        .bind(a.filename.as_str())
        .bind(a.content_type.as_str())
        .bind(a.size)
        .bind(a.sha256.as_str())
        .bind(a.blob_key.as_str())
        .bind(a.uploaded_by.kind.as_str())
        .bind(a.uploaded_by.id.as_str())
        .bind(a.created_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_attachment(
        &mut self,
        id: &switchboard_types::AttachmentId,
    ) -> Result<Option<Attachment>, StoreError> {
        let sql = format!(
            "SELECT {} FROM attachments WHERE tenant_id = $1 AND id = $2{}",
            rows::ATTACHMENT_COLS,
            self.lock_for_write()
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::attachment).transpose()
    }

    async fn attach_to_message(
        &mut self,
        id: &switchboard_types::AttachmentId,
        message: &MessageId,
    ) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE attachments SET message_id = $1 WHERE tenant_id = $2 AND id = $3 AND message_id IS NULL",
        )
        .bind(message.as_str())
        .bind(self.tenant().to_owned())
        .bind(id.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_conversation(&mut self, id: &ConversationId) -> Result<bool, StoreError> {
        self.delete_where("conversation_labels", "conversation_id", id.as_str())
            .await?;
        Ok(self
            .delete_where("conversations", "id", id.as_str())
            .await?
            == 1)
    }

    async fn unassign_user(&mut self, user: &UserId, now: i64) -> Result<u64, StoreError> {
        let done = query(
            "UPDATE conversations SET assignee_id = NULL, updated_at = $1 WHERE tenant_id = $2 AND assignee_id = $3",
        )
        .bind(now)
        .bind(self.tenant().to_owned())
        .bind(user.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    async fn search_conversation_ids(
        &mut self,
        q: &SearchQuery,
    ) -> Result<Vec<ConversationId>, StoreError> {
        let (from, w) = self.message_search_filters(q);
        let sql = format!(
            "SELECT m.conversation_id AS conversation_id, MAX(m.id) AS last_hit FROM {from} \
             JOIN conversations c ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id{} \
             GROUP BY m.conversation_id ORDER BY last_hit DESC LIMIT {}",
            w.where_sql(),
            w.next_placeholder()
        );
        let rows = w
            .bind_all(query(&sql))
            .bind(q.limit.clamp(1, 200))
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ConversationId::from_trusted(
                    r.try_get::<String, _>("conversation_id")?,
                ))
            })
            .collect()
    }

    async fn clear_conversation_team(
        &mut self,
        team: &TeamId,
        now: i64,
    ) -> Result<u64, StoreError> {
        let done = query(
            "UPDATE conversations SET team_id = NULL, updated_at = $1 WHERE tenant_id = $2 AND team_id = $3",
        )
        .bind(now)
        .bind(self.tenant().to_owned())
        .bind(team.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    async fn insert_label(&mut self, l: &Label) -> Result<(), StoreError> {
        query("INSERT INTO labels (tenant_id, id, name, colour, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(self.tenant().to_owned())
            .bind(l.id.as_str())
            .bind(l.name.as_str())
            .bind(l.colour.as_str())
            .bind(l.created_at)
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn list_labels(&mut self) -> Result<Vec<Label>, StoreError> {
        let sql = format!(
            "SELECT {} FROM labels WHERE tenant_id = $1 ORDER BY name",
            rows::LABEL_COLS
        );
        let rows = query(&sql)
            .bind(self.tenant().to_owned())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::label).collect()
    }

    async fn delete_label(&mut self, id: &LabelId) -> Result<bool, StoreError> {
        self.delete_where("conversation_labels", "label_id", id.as_str())
            .await?;
        Ok(self.delete_where("labels", "id", id.as_str()).await? == 1)
    }

    async fn conversation_labels(
        &mut self,
        conversation: &ConversationId,
    ) -> Result<Vec<Label>, StoreError> {
        let sql = format!(
            "SELECT {} FROM labels WHERE tenant_id = $1 AND id IN \
             (SELECT label_id FROM conversation_labels WHERE tenant_id = $1 AND conversation_id = $2) ORDER BY name",
            rows::LABEL_COLS
        );
        let rows = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(conversation.as_str())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::label).collect()
    }

    async fn set_conversation_labels(
        &mut self,
        conversation: &ConversationId,
        labels: &[LabelId],
        now: i64,
    ) -> Result<(), StoreError> {
        self.delete_where(
            "conversation_labels",
            "conversation_id",
            conversation.as_str(),
        )
        .await?;
        for label in labels {
            query("INSERT INTO conversation_labels (tenant_id, conversation_id, label_id, created_at) VALUES ($1, $2, $3, $4)")
                .bind(self.tenant().to_owned())
                .bind(conversation.as_str())
                .bind(label.as_str())
                .bind(now)
                .execute(&mut self.tx)
                .await?;
        }
        Ok(())
    }

    async fn insert_canned(&mut self, c: &CannedResponse) -> Result<(), StoreError> {
        query(
            "INSERT INTO canned_responses (tenant_id, id, short_code, content, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.tenant().to_owned())
        .bind(c.id.as_str())
        .bind(c.short_code.as_str())
        .bind(c.content.as_str())
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn list_canned(
        &mut self,
        prefix: Option<&str>,
    ) -> Result<Vec<CannedResponse>, StoreError> {
        let mut w = Filters::default();
        w.push("tenant_id = {}", Bind::Text(self.tenant().to_owned()));
        if let Some(p) = prefix {
            // A prefix compared exactly: `%` and `_` in it are not wildcards.
            w.push(
                &format!(
                    "substr(short_code, 1, {}) = {{}}",
                    i64::try_from(p.chars().count()).unwrap_or(0)
                ),
                Bind::Text(p.to_owned()),
            );
        }
        let sql = format!(
            "SELECT {} FROM canned_responses{} ORDER BY short_code",
            rows::CANNED_COLS,
            w.where_sql()
        );
        let rows = w.bind_all(query(&sql)).fetch_all(&mut self.tx).await?;
        rows.iter().map(rows::canned).collect()
    }

    async fn delete_canned(&mut self, id: &CannedResponseId) -> Result<bool, StoreError> {
        Ok(self
            .delete_where("canned_responses", "id", id.as_str())
            .await?
            == 1)
    }

    async fn insert_invitation(&mut self, i: &Invitation) -> Result<(), StoreError> {
        query(
            "INSERT INTO invitations (tenant_id, id, email, role, token_hash, invited_by, created_at, \
             expires_at, accepted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(self.tenant().to_owned())
        .bind(i.id.as_str())
        .bind(i.email.as_str())
        .bind(i.role.as_str())
        .bind(i.token_hash.as_str())
        .bind(i.invited_by.as_str())
        .bind(i.created_at)
        .bind(i.expires_at)
        .bind(i.accepted_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn pending_invitations(&mut self) -> Result<Vec<Invitation>, StoreError> {
        let sql = format!(
            "SELECT {} FROM invitations WHERE tenant_id = $1 AND accepted_at IS NULL \
             ORDER BY created_at DESC, id DESC",
            rows::INVITATION_COLS
        );
        let rows = query(&sql)
            .bind(self.tenant().to_owned())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::invitation).collect()
    }

    async fn invitation_by_token(
        &mut self,
        token_hash: &str,
    ) -> Result<Option<Invitation>, StoreError> {
        let sql = format!(
            "SELECT {} FROM invitations WHERE tenant_id = $1 AND token_hash = $2{}",
            rows::INVITATION_COLS,
            self.lock_for_write()
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(token_hash)
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::invitation).transpose()
    }

    async fn accept_invitation(
        &mut self,
        id: &switchboard_types::InvitationId,
        at: i64,
    ) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE invitations SET accepted_at = $3 \
             WHERE tenant_id = $1 AND id = $2 AND accepted_at IS NULL",
        )
        .bind(self.tenant().to_owned())
        .bind(id.as_str())
        .bind(at)
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_invitation(
        &mut self,
        id: &switchboard_types::InvitationId,
    ) -> Result<bool, StoreError> {
        Ok(self.delete_where("invitations", "id", id.as_str()).await? == 1)
    }

    async fn search_messages(&mut self, q: &SearchQuery) -> Result<Vec<Message>, StoreError> {
        let cols = qualified("m", rows::MESSAGE_COLS);
        let (from, w) = self.message_search_filters(q);
        let sql = format!(
            "SELECT {cols} FROM {from} JOIN conversations c ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id{} \
             ORDER BY m.id DESC LIMIT {}",
            w.where_sql(),
            w.next_placeholder()
        );
        let rows = w
            .bind_all(query(&sql))
            .bind(q.limit.clamp(1, 200))
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::message).collect()
    }

    async fn search_contacts(
        &mut self,
        terms: &[String],
        limit: i64,
    ) -> Result<Vec<Contact>, StoreError> {
        let cols = qualified("k", rows::CONTACT_COLS);
        let (from, matcher, terms) = match self.dialect {
            Dialect::Sqlite => (
                "contact_search s JOIN contacts k ON k.tenant_id = s.tenant_id AND k.id = s.contact_id",
                "contact_search MATCH $1 AND s.tenant_id = $2 AND",
                fts5_query(terms),
            ),
            Dialect::Postgres => ("contacts k", "k.search @@ plainto_tsquery('simple', $1) AND", terms.join(" ")),
        };
        let sql = format!(
            "SELECT {cols} FROM {from} WHERE {matcher} k.tenant_id = $2 ORDER BY k.id LIMIT $3"
        );
        let rows = query(&sql)
            .bind(terms)
            .bind(self.tenant().to_owned())
            .bind(limit.clamp(1, 200))
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::contact).collect()
    }

    async fn insert_message(&mut self, m: &Message) -> Result<(), StoreError> {
        let t = m.triage.as_ref();
        query(
            "INSERT INTO messages (tenant_id, id, conversation_id, direction, private, sender_type, sender_id, content, \
             created_at, external_id, delivery_status, metadata, triage, triage_status, language, intent, sentiment_label, \
             urgency, has_pii) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        )
        .bind(self.tenant().to_owned())
        .bind(m.id.as_str())
        .bind(m.conversation_id.as_str())
        .bind(m.direction.as_str())
        .bind(i64::from(m.private))
        .bind(m.sender.kind.as_str())
        .bind(m.sender.id.as_str())
        .bind(m.content.as_str())
        .bind(m.created_at)
        .bind(m.external_id.as_deref())
        .bind(m.delivery_status.map(DeliveryStatus::as_str))
        .bind(serde_json::Value::Object(m.metadata.clone()).to_string())
        .bind(t.map(rows::triage_json))
        .bind(t.map(|t| t.status.as_str()))
        .bind(t.and_then(|t| t.language.as_deref()))
        .bind(t.and_then(|t| t.intent.as_deref()))
        .bind(t.and_then(|t| t.sentiment_label.map(SentimentLabel::as_str)))
        .bind(t.and_then(|t| t.urgency.map(UrgencyLevel::as_str)))
        .bind(t.map(|t| i64::from(!t.pii.is_empty())))
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_message(&mut self, id: &MessageId) -> Result<Option<Message>, StoreError> {
        let sql = format!(
            "SELECT {} FROM messages WHERE tenant_id = $1 AND id = $2",
            rows::MESSAGE_COLS
        );
        let row = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::message).transpose()
    }

    async fn messages_by_external_ids(
        &mut self,
        external_ids: &[String],
    ) -> Result<Vec<Message>, StoreError> {
        if external_ids.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = (0..external_ids.len())
            .map(|i| format!("${}", i + 2))
            .collect();
        let sql = format!(
            "SELECT {} FROM messages WHERE tenant_id = $1 AND external_id IN ({}) ORDER BY id",
            rows::MESSAGE_COLS,
            list.join(", ")
        );
        let mut q = query(&sql).bind(self.tenant().to_owned());
        for id in external_ids {
            q = q.bind(id.as_str());
        }
        q.fetch_all(&mut self.tx)
            .await?
            .iter()
            .map(rows::message)
            .collect()
    }

    async fn set_message_delivery(&mut self, m: &Message) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE messages SET delivery_status = $1, external_id = $2, metadata = $3 \
             WHERE tenant_id = $4 AND id = $5",
        )
        .bind(m.delivery_status.map(DeliveryStatus::as_str))
        .bind(m.external_id.as_deref())
        .bind(serde_json::Value::Object(m.metadata.clone()).to_string())
        .bind(self.tenant().to_owned())
        .bind(m.id.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn last_message_id(
        &mut self,
        conversation: &ConversationId,
    ) -> Result<Option<MessageId>, StoreError> {
        let row = query(
            "SELECT id FROM messages WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(self.tenant().to_owned())
        .bind(conversation.as_str())
        .fetch_optional(&mut self.tx)
        .await?;
        row.map(|r| Ok(MessageId::from_trusted(r.try_get::<String, _>("id")?)))
            .transpose()
    }

    async fn list_messages(
        &mut self,
        conversation: &ConversationId,
        page: &PageRequest,
        include_private: bool,
    ) -> Result<Vec<Message>, StoreError> {
        let visibility = if include_private {
            ""
        } else {
            " AND private = 0"
        };
        let sql = format!(
            "SELECT {} FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND id > $3{visibility} ORDER BY id LIMIT $4",
            rows::MESSAGE_COLS
        );
        let rows = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(conversation.as_str())
            .bind(page.after.clone().unwrap_or_default())
            .bind(page.clamped_limit())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::message).collect()
    }

    async fn latest_messages(
        &mut self,
        conversation: &ConversationId,
        limit: i64,
    ) -> Result<Vec<Message>, StoreError> {
        let sql = format!(
            "SELECT {} FROM messages WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY id DESC LIMIT $3",
            rows::MESSAGE_COLS
        );
        let rows = query(&sql)
            .bind(self.tenant().to_owned())
            .bind(conversation.as_str())
            .bind(limit.clamp(1, 1000))
            .fetch_all(&mut self.tx)
            .await?;
        let mut out = rows
            .iter()
            .map(rows::message)
            .collect::<Result<Vec<_>, _>>()?;
        out.reverse();
        Ok(out)
    }

    async fn enqueue_job(&mut self, job: &NewJob, now: i64) -> Result<JobId, StoreError> {
        super::control::insert_job(&mut self.tx, job, now).await
    }

    async fn count_rows(&mut self) -> Result<BTreeMap<String, i64>, StoreError> {
        let mut out = BTreeMap::new();
        for table in TENANT_TABLES {
            // Table names come from our own constant list, never from input.
            let sql = format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1");
            let row = query(&sql)
                .bind(self.tenant().to_owned())
                .fetch_one(&mut self.tx)
                .await?;
            out.insert((*table).to_owned(), rows::count(&row)?);
        }
        Ok(out)
    }

    async fn purge_rows(&mut self) -> Result<u64, StoreError> {
        let mut total = 0;
        for table in TENANT_TABLES {
            let sql = format!("DELETE FROM {table} WHERE tenant_id = $1");
            let done = query(&sql)
                .bind(self.tenant().to_owned())
                .execute(&mut self.tx)
                .await?;
            total += done.rows_affected();
        }
        Ok(total)
    }
}

/// `a, b` → `m.a AS a, m.b AS b`, for queries that join tables sharing column names.
fn qualified(alias: &str, cols: &str) -> String {
    cols.split(',')
        .map(str::trim)
        .map(|c| format!("{alias}.{c} AS {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Plain words as an FTS5 query: every term quoted (so quotes, `*`, `NEAR`, `OR`, `-` and column
/// filters in user input are just text), all required.
fn fts5_query(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_never_becomes_fts_syntax() {
        let terms = [
            "refund".to_owned(),
            "\"OR* NEAR(".to_owned(),
            "content:x".to_owned(),
        ];
        assert_eq!(
            fts5_query(&terms),
            "\"refund\" \"\"\"OR* NEAR(\" \"content:x\""
        );
        assert_eq!(
            qualified("m", "id, content"),
            "m.id AS id, m.content AS content"
        );
    }
}
