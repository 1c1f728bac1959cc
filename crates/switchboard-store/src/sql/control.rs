//! Control-plane transactions: cells, partners, tenants, users, sessions, jobs, idempotency and the
//! platform audit chain.

use super::audit::{self, Chain};
use super::exec::{query, Conn};
use super::{rows, Bind, Dialect, Filters};
use crate::model::*;
use crate::traits::{AuditWriter, ControlTx};
use crate::StoreError;
use async_trait::async_trait;
use switchboard_types::{CellId, JobId, PartnerId, TenantId, TenantStatus, UserId};

pub(super) struct SqlControlTx {
    tx: Conn,
    dialect: Dialect,
    commits: tokio::sync::broadcast::Sender<TenantId>,
}

impl std::fmt::Debug for SqlControlTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlControlTx")
            .field("dialect", &self.dialect)
            .finish_non_exhaustive()
    }
}

impl SqlControlTx {
    pub(super) fn new(
        tx: Conn,
        dialect: Dialect,
        commits: tokio::sync::broadcast::Sender<TenantId>,
    ) -> Self {
        Self {
            tx,
            dialect,
            commits,
        }
    }
}

#[async_trait]
impl AuditWriter for SqlControlTx {
    fn audit_chain_id(&self) -> String {
        "platform".to_owned()
    }

    async fn lock_audit_head(&mut self) -> Result<AuditHead, StoreError> {
        audit::lock_head(&mut self.tx, Chain::Platform, self.dialect).await
    }

    async fn next_audit_head(&mut self) -> Result<AuditHead, StoreError> {
        self.lock_audit_head().await
    }

    async fn append_audit(&mut self, record: &AuditRecord) -> Result<(), StoreError> {
        audit::append_platform(&mut self.tx, record).await
    }

    async fn read_audit_head(&mut self) -> Result<AuditHead, StoreError> {
        audit::read_head(&mut self.tx, Chain::Platform).await
    }

    async fn audit_chain(
        &mut self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        audit::chain_page(&mut self.tx, Chain::Platform, after_seq, limit).await
    }

    async fn list_audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        audit::list(&mut self.tx, Chain::Platform, filter).await
    }
}

#[async_trait]
impl ControlTx for SqlControlTx {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }

    async fn enter_tenant(
        self: Box<Self>,
        ctx: &crate::TenantCtx,
    ) -> Result<Box<dyn crate::TenantTx>, StoreError> {
        let mut tx = self.tx;
        if self.dialect == Dialect::Postgres {
            query("SELECT set_config('app.tenant_id', $1, true)")
                .bind(ctx.tenant().as_str())
                .execute(&mut tx)
                .await?;
        }
        Ok(Box::new(super::tenant::SqlTenantTx::new(
            tx,
            ctx.clone(),
            self.dialect,
            crate::Access::Write,
            self.commits,
        )))
    }

    async fn upsert_cell(&mut self, c: &Cell) -> Result<(), StoreError> {
        query(
            "INSERT INTO cells (id, region, database_name, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET region = excluded.region, database_name = excluded.database_name",
        )
        .bind(c.id.as_str())
        .bind(c.region.as_str())
        .bind(c.database.as_str())
        .bind(c.created_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_cell(&mut self, id: &CellId) -> Result<Option<Cell>, StoreError> {
        let sql = format!("SELECT {} FROM cells WHERE id = $1", rows::CELL_COLS);
        let row = query(&sql)
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::cell).transpose()
    }

    async fn list_cells(&mut self) -> Result<Vec<Cell>, StoreError> {
        let sql = format!("SELECT {} FROM cells ORDER BY id", rows::CELL_COLS);
        let rows = query(&sql).fetch_all(&mut self.tx).await?;
        rows.iter().map(rows::cell).collect()
    }

    async fn insert_partner(&mut self, p: &Partner) -> Result<(), StoreError> {
        query("INSERT INTO partners (id, slug, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(p.id.as_str())
            .bind(p.slug.as_str())
            .bind(p.name.as_str())
            .bind(p.created_at)
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn get_partner(&mut self, id: &PartnerId) -> Result<Option<Partner>, StoreError> {
        let sql = format!("SELECT {} FROM partners WHERE id = $1", rows::PARTNER_COLS);
        let row = query(&sql)
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::partner).transpose()
    }

    async fn list_partners(&mut self, page: &PageRequest) -> Result<Vec<Partner>, StoreError> {
        let sql = format!(
            "SELECT {} FROM partners WHERE id > $1 ORDER BY id LIMIT $2",
            rows::PARTNER_COLS
        );
        let rows = query(&sql)
            .bind(page.after.clone().unwrap_or_default())
            .bind(page.clamped_limit())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::partner).collect()
    }

    async fn insert_partner_membership(&mut self, m: &PartnerMembership) -> Result<(), StoreError> {
        query("INSERT INTO partner_memberships (partner_id, user_id, role) VALUES ($1, $2, $3)")
            .bind(m.partner_id.as_str())
            .bind(m.user_id.as_str())
            .bind(m.role.as_str())
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn partner_memberships_of(
        &mut self,
        user: &UserId,
    ) -> Result<Vec<PartnerMembership>, StoreError> {
        let rows = query(
            "SELECT partner_id, user_id, role FROM partner_memberships WHERE user_id = $1 ORDER BY partner_id",
        )
        .bind(user.as_str())
        .fetch_all(&mut self.tx)
        .await?;
        rows.iter().map(rows::partner_membership).collect()
    }

    async fn insert_tenant(&mut self, t: &Tenant) -> Result<(), StoreError> {
        query(
            "INSERT INTO tenants (id, slug, name, plan, status, region, cell_id, partner_id, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(t.id.as_str())
        .bind(t.slug.as_str())
        .bind(t.name.as_str())
        .bind(t.plan.as_str())
        .bind(t.status.as_str())
        .bind(t.region.as_str())
        .bind(t.cell_id.as_str())
        .bind(t.partner_id.as_ref().map(|p| p.as_str().to_owned()))
        .bind(t.created_at)
        .bind(t.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_tenant(&mut self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        let sql = format!("SELECT {} FROM tenants WHERE id = $1", rows::TENANT_COLS);
        let row = query(&sql)
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::tenant).transpose()
    }

    async fn get_tenant_by_slug(&mut self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        let sql = format!("SELECT {} FROM tenants WHERE slug = $1", rows::TENANT_COLS);
        let row = query(&sql).bind(slug).fetch_optional(&mut self.tx).await?;
        row.as_ref().map(rows::tenant).transpose()
    }

    async fn list_tenants(&mut self, filter: &TenantFilter) -> Result<Vec<Tenant>, StoreError> {
        let mut f = Filters::default();
        if let Some(p) = &filter.partner_id {
            f.push("partner_id = {}", Bind::Text(p.as_str().to_owned()));
        }
        if let Some(s) = filter.status {
            f.push("status = {}", Bind::Text(s.as_str().to_owned()));
        }
        if let Some(after) = &filter.page.after {
            f.push("id > {}", Bind::Text(after.clone()));
        }
        let sql = format!(
            "SELECT {} FROM tenants{} ORDER BY id LIMIT {}",
            rows::TENANT_COLS,
            f.where_sql(),
            f.next_placeholder()
        );
        let rows = f
            .bind_all(query(&sql))
            .bind(filter.page.clamped_limit())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::tenant).collect()
    }

    async fn set_tenant_status(
        &mut self,
        id: &TenantId,
        from: TenantStatus,
        to: TenantStatus,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done =
            query("UPDATE tenants SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
                .bind(to.as_str())
                .bind(now)
                .bind(id.as_str())
                .bind(from.as_str())
                .execute(&mut self.tx)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_user(&mut self, u: &User) -> Result<(), StoreError> {
        query(
            "INSERT INTO users (id, email, display_name, password_hash, is_platform_admin, totp_secret, \
             totp_enabled, failed_logins, locked_until, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(u.id.as_str())
        .bind(u.email.as_str())
        .bind(u.display_name.as_str())
        .bind(u.password_hash.as_deref())
        .bind(i64::from(u.is_platform_admin))
        .bind(u.totp_secret.as_deref())
        .bind(i64::from(u.totp_enabled))
        .bind(u.failed_logins)
        .bind(u.locked_until)
        .bind(u.created_at)
        .bind(u.updated_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn get_user(&mut self, id: &UserId) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {} FROM users WHERE id = $1", rows::USER_COLS);
        let row = query(&sql)
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn get_user_by_email(&mut self, email: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {} FROM users WHERE email = $1", rows::USER_COLS);
        let row = query(&sql).bind(email).fetch_optional(&mut self.tx).await?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn count_platform_admins(&mut self) -> Result<i64, StoreError> {
        let row = query("SELECT COUNT(*) FROM users WHERE is_platform_admin = 1")
            .fetch_one(&mut self.tx)
            .await?;
        rows::count(&row)
    }

    async fn record_failed_login(
        &mut self,
        id: &UserId,
        lock_until: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        let sql = if lock_until.is_some() {
            "UPDATE users SET failed_logins = 0, locked_until = $1, updated_at = $2 WHERE id = $3"
        } else {
            "UPDATE users SET failed_logins = failed_logins + 1, locked_until = $1, updated_at = $2 WHERE id = $3"
        };
        query(sql)
            .bind(lock_until)
            .bind(now)
            .bind(id.as_str())
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn record_successful_login(&mut self, id: &UserId, now: i64) -> Result<(), StoreError> {
        query("UPDATE users SET failed_logins = 0, locked_until = NULL, updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.as_str())
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn accept_totp_step(&mut self, id: &UserId, step: i64) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE users SET totp_last_step = $1 WHERE id = $2 \
             AND (totp_last_step IS NULL OR totp_last_step < $1)",
        )
        .bind(step)
        .bind(id.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_totp(
        &mut self,
        id: &UserId,
        secret: Option<&str>,
        enabled: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        query(
            "UPDATE users SET totp_secret = $1, totp_enabled = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(secret)
        .bind(i64::from(enabled))
        .bind(now)
        .bind(id.as_str())
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn memberships_of(&mut self, user: &UserId) -> Result<Vec<Membership>, StoreError> {
        if self.dialect == Dialect::Postgres {
            query("SELECT set_config('app.user_id', $1, true)")
                .bind(user.as_str())
                .execute(&mut self.tx)
                .await?;
        }
        let sql = format!(
            "SELECT {} FROM memberships WHERE user_id = $1 ORDER BY tenant_id",
            rows::MEMBERSHIP_COLS
        );
        let rows = query(&sql)
            .bind(user.as_str())
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(rows::membership).collect()
    }

    async fn insert_session(&mut self, s: &Session) -> Result<(), StoreError> {
        query(
            "INSERT INTO sessions (id, user_id, kind, token_hash, csrf_hash, family, created_at, \
             expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(s.id.as_str())
        .bind(s.user_id.as_str())
        .bind(s.kind.as_str())
        .bind(s.token_hash.as_str())
        .bind(s.csrf_hash.as_deref())
        .bind(s.family.as_str())
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.ip.as_deref())
        .bind(s.user_agent.as_deref())
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn find_session(&mut self, token_hash: &str) -> Result<Option<Session>, StoreError> {
        let sql = format!(
            "SELECT {} FROM sessions WHERE token_hash = $1",
            rows::SESSION_COLS
        );
        let row = query(&sql)
            .bind(token_hash)
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::session).transpose()
    }

    async fn delete_session_family(&mut self, family: &str) -> Result<u64, StoreError> {
        let done = query("DELETE FROM sessions WHERE family = $1")
            .bind(family)
            .execute(&mut self.tx)
            .await?;
        Ok(done.rows_affected())
    }

    async fn delete_expired_sessions(&mut self, now: i64) -> Result<u64, StoreError> {
        let done = query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut self.tx)
            .await?;
        Ok(done.rows_affected())
    }

    async fn enqueue_job(&mut self, job: &NewJob, now: i64) -> Result<JobId, StoreError> {
        insert_job(&mut self.tx, job, now).await
    }

    async fn claim_job(
        &mut self,
        queue: &str,
        worker: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<Job>, StoreError> {
        // PostgreSQL: concurrent claimers skip each other's locked rows. SQLite: the single writer
        // connection already serialises claims.
        let lock = match self.dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $3, \
             attempts = attempts + 1, updated_at = $2 \
             WHERE id = (SELECT id FROM jobs WHERE queue = $4 AND ((status = 'queued' AND run_at <= $2) \
                OR (status = 'running' AND locked_until < $2)) ORDER BY run_at, id LIMIT 1{lock}) \
             RETURNING {}",
            rows::JOB_COLS
        );
        let row = query(&sql)
            .bind(worker)
            .bind(now)
            .bind(lease_until)
            .bind(queue)
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::job).transpose()
    }

    async fn tenants_with_webhooks(&mut self, region: &str) -> Result<Vec<TenantId>, StoreError> {
        let rows = query(
            "SELECT id FROM tenants WHERE webhook_endpoints > 0 AND status <> 'deleted' \
             AND region = $1 ORDER BY id",
        )
        .bind(region)
        .fetch_all(&mut self.tx)
        .await?;
        rows.iter()
            .map(|r| Ok(TenantId::from_trusted(r.try_get("id")?)))
            .collect()
    }

    async fn tenants_with_automation(&mut self, region: &str) -> Result<Vec<TenantId>, StoreError> {
        let rows = query(
            "SELECT id FROM tenants WHERE automation_count > 0 AND status <> 'deleted' \
             AND region = $1 ORDER BY id",
        )
        .bind(region)
        .fetch_all(&mut self.tx)
        .await?;
        rows.iter()
            .map(|r| Ok(TenantId::from_trusted(r.try_get("id")?)))
            .collect()
    }

    async fn extend_job_lease(
        &mut self,
        id: &JobId,
        worker: &str,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE jobs SET locked_until = $1 WHERE id = $2 AND locked_by = $3 AND status = 'running'",
        )
        .bind(lease_until)
        .bind(id.as_str())
        .bind(worker)
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete_job(
        &mut self,
        id: &JobId,
        worker: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE jobs SET status = 'succeeded', locked_by = NULL, locked_until = NULL, \
             updated_at = $1 WHERE id = $2 AND locked_by = $3 AND status = 'running'",
        )
        .bind(now)
        .bind(id.as_str())
        .bind(worker)
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail_job(
        &mut self,
        id: &JobId,
        worker: &str,
        error: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (status, run_at) = match retry_at {
            Some(at) => ("queued", at),
            None => ("failed", now),
        };
        let done = query(
            "UPDATE jobs SET status = $1, run_at = $2, last_error = $3, locked_by = NULL, \
             locked_until = NULL, updated_at = $4 WHERE id = $5 AND locked_by = $6 AND status = 'running'",
        )
        .bind(status)
        .bind(run_at)
        .bind(error)
        .bind(now)
        .bind(id.as_str())
        .bind(worker)
        .execute(&mut self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn get_job(&mut self, id: &JobId) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {} FROM jobs WHERE id = $1", rows::JOB_COLS);
        let row = query(&sql)
            .bind(id.as_str())
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::job).transpose()
    }

    async fn get_idempotency(
        &mut self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM idempotency_keys WHERE scope = $1 AND idem_key = $2",
            rows::IDEMPOTENCY_COLS
        );
        let row = query(&sql)
            .bind(scope)
            .bind(key)
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(rows::idempotency).transpose()
    }

    async fn insert_idempotency(&mut self, r: &IdempotencyRecord) -> Result<(), StoreError> {
        query(
            "INSERT INTO idempotency_keys (scope, idem_key, request_hash, status, body, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(r.scope.as_str())
        .bind(r.key.as_str())
        .bind(r.request_hash.as_str())
        .bind(r.status)
        .bind(r.body.as_deref())
        .bind(r.created_at)
        .bind(r.expires_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn finish_idempotency(
        &mut self,
        scope: &str,
        key: &str,
        status: i64,
        body: &str,
    ) -> Result<(), StoreError> {
        query(
            "UPDATE idempotency_keys SET status = $1, body = $2 WHERE scope = $3 AND idem_key = $4",
        )
        .bind(status)
        .bind(body)
        .bind(scope)
        .bind(key)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    async fn delete_idempotency(&mut self, scope: &str, key: &str) -> Result<(), StoreError> {
        query("DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2")
            .bind(scope)
            .bind(key)
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    async fn delete_expired_idempotency(&mut self, now: i64) -> Result<u64, StoreError> {
        let done = query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut self.tx)
            .await?;
        Ok(done.rows_affected())
    }

    async fn delete_idempotency_scope_prefix(&mut self, prefix: &str) -> Result<u64, StoreError> {
        // Compare a prefix without LIKE so `%` and `_` in a scope are never wildcards.
        let done =
            query("DELETE FROM idempotency_keys WHERE substr(scope, 1, CAST($1 AS INTEGER)) = $2")
                .bind(i64::try_from(prefix.len()).unwrap_or(i64::MAX))
                .bind(prefix)
                .execute(&mut self.tx)
                .await?;
        Ok(done.rows_affected())
    }
}

/// Writes a queued job; shared by the control plane and by tenant changes that schedule their own
/// follow-up work in the same transaction.
pub(super) async fn insert_job(tx: &mut Conn, job: &NewJob, now: i64) -> Result<JobId, StoreError> {
    let id = JobId::generate();
    query(
        "INSERT INTO jobs (id, queue, kind, payload, status, attempts, max_attempts, run_at, \
         created_at, updated_at) VALUES ($1, $7, $2, $3, 'queued', 0, $4, $5, $6, $6)",
    )
    .bind(id.as_str())
    .bind(job.kind.as_str())
    .bind(job.payload.to_string())
    .bind(job.max_attempts)
    .bind(job.run_at)
    .bind(now)
    .bind(job.queue.as_str())
    .execute(&mut *tx)
    .await?;
    Ok(id)
}
