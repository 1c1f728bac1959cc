//! The control plane: cells, partners and the tenant lifecycle (provision, suspend, resume,
//! delete → purge job).

use crate::apikeys::{self, NewApiKey};
use crate::audit::{self, AuditDraft, RequestMeta};
use crate::error::{CoreError, CoreResult};
use crate::identity::Principal;
use crate::jobs::JobKind;
use crate::{events, validate, Core};
use serde_json::json;
use switchboard_store::model::{
    Cell, Membership, PageRequest, Partner, Tenant, TenantFilter, User,
};
use switchboard_store::{Access, TenantCtx};
use switchboard_types::{
    Actor, CellId, PartnerId, Plan, TenantId, TenantRole, TenantStatus, UserId,
};

/// What a new tenant needs.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub plan: Plan,
    pub region: Option<String>,
    pub partner_id: Option<PartnerId>,
    pub admin_email: String,
    pub admin_name: Option<String>,
    /// When absent a strong password is generated and returned once.
    pub admin_password: Option<String>,
}

/// A provisioned tenant with the credentials shown exactly once.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub tenant: Tenant,
    pub admin_user_id: UserId,
    pub admin_email: String,
    /// Set when the admin was created now with a generated password.
    pub admin_password: Option<String>,
    pub api_key: String,
}

/// Who may manage which tenants.
fn partner_scope(principal: &Principal) -> CoreResult<Option<PartnerId>> {
    if principal.is_platform_admin() {
        Ok(None)
    } else if let Some(p) = principal.administered_partner() {
        Ok(Some(p.clone()))
    } else {
        Err(CoreError::Forbidden)
    }
}

impl Core {
    /// Makes sure a cell serves this process's region (first start in the region). The `local`
    /// region's cell has a well-known id; other regions' cells get fresh ids, so processes of
    /// different regions starting at once never overwrite each other's cell.
    pub async fn ensure_local_cell(&self) -> CoreResult<Cell> {
        let mut tx = self.store.control(Access::Write).await?;
        let cells = tx.list_cells().await?;
        if let Some(c) = cells.iter().find(|c| c.region == self.cfg.default_region) {
            return Ok(c.clone());
        }
        let id: CellId = if self.cfg.default_region == "local" {
            CELL_LOCAL
                .parse()
                .map_err(|_| CoreError::Internal("bad cell id".into()))?
        } else {
            CellId::generate()
        };
        let cell = Cell {
            id,
            region: self.cfg.default_region.clone(),
            database: "primary".into(),
            created_at: self.now(),
        };
        tx.upsert_cell(&cell).await?;
        tx.commit().await?;
        Ok(cell)
    }

    pub async fn create_partner(
        &self,
        principal: &Principal,
        slug: &str,
        name: &str,
        meta: &RequestMeta,
    ) -> CoreResult<Partner> {
        if !principal.is_platform_admin() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        validate::slug("slug", slug, &mut errors);
        validate::name("name", name, &mut errors);
        validate::finish(errors)?;
        let now = self.now();
        let partner = Partner {
            id: PartnerId::generate(),
            slug: slug.to_owned(),
            name: name.trim().to_owned(),
            created_at: now,
        };
        let mut tx = self.store.control(Access::Write).await?;
        tx.insert_partner(&partner)
            .await
            .map_err(|e| conflict(e, "a partner with this slug"))?;
        let draft = AuditDraft::success("partner.created", "partner", partner.id.to_string())
            .with_details(json!({"slug": partner.slug}));
        audit::append(&mut *tx, &principal.actor(), meta, draft, now).await?;
        tx.commit().await?;
        Ok(partner)
    }

    pub async fn list_partners(
        &self,
        principal: &Principal,
        page: &PageRequest,
    ) -> CoreResult<Vec<Partner>> {
        if !principal.is_platform_admin() {
            return Err(CoreError::Forbidden);
        }
        Ok(self
            .store
            .control(Access::Read)
            .await?
            .list_partners(page)
            .await?)
    }

    /// Makes an existing or new user an administrator of a partner.
    pub async fn add_partner_admin(
        &self,
        principal: &Principal,
        partner_id: &PartnerId,
        email: &str,
        password: Option<String>,
        meta: &RequestMeta,
    ) -> CoreResult<(UserId, Option<String>)> {
        if !principal.is_platform_admin() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        let email = validate::email("email", email, &mut errors);
        if let Some(p) = &password {
            validate::password("password", p, &mut errors);
        }
        validate::finish(errors)?;
        let prepared = self.prepare_user(&email, None, password).await?;
        let now = self.now();
        let mut tx = self.store.control(Access::Write).await?;
        tx.get_partner(partner_id)
            .await?
            .ok_or(CoreError::NotFound)?;
        let (user_id, created) = self.upsert_user(&mut *tx, &prepared).await?;
        // One partner per administrator: partner scoping must never have to guess which.
        if !tx.partner_memberships_of(&user_id).await?.is_empty() {
            return Err(CoreError::Conflict("an administrator of a partner already"));
        }
        tx.insert_partner_membership(&switchboard_store::model::PartnerMembership {
            partner_id: partner_id.clone(),
            user_id: user_id.clone(),
            role: switchboard_types::PartnerRole::PartnerAdmin,
        })
        .await
        .map_err(|e| conflict(e, "this partner membership"))?;
        let draft = AuditDraft::success("partner.admin_added", "partner", partner_id.to_string())
            .with_details(json!({"user_id": user_id}));
        audit::append(&mut *tx, &principal.actor(), meta, draft, now).await?;
        tx.commit().await?;
        Ok((user_id, prepared.generated_password.filter(|_| created)))
    }

    /// Creates a tenant with its first admin (owner) and an admin API key, in one transaction.
    pub async fn provision_tenant(
        &self,
        principal: &Principal,
        input: NewTenant,
        meta: &RequestMeta,
    ) -> CoreResult<Provisioned> {
        let scope = partner_scope(principal)?;
        if let Some(own) = &scope {
            if input.partner_id.as_ref().is_some_and(|p| p != own) {
                return Err(CoreError::Forbidden);
            }
        }
        let partner_id = scope.or(input.partner_id.clone());
        self.provision(principal.actor(), input, partner_id, meta)
            .await
    }

    /// Provisioning for operators (CLI) and the demo: acts as the system.
    pub async fn provision_tenant_as_system(
        &self,
        input: NewTenant,
        meta: &RequestMeta,
    ) -> CoreResult<Provisioned> {
        let partner = input.partner_id.clone();
        self.provision(Actor::system("cli"), input, partner, meta)
            .await
    }

    async fn provision(
        &self,
        actor: Actor,
        input: NewTenant,
        partner_id: Option<PartnerId>,
        meta: &RequestMeta,
    ) -> CoreResult<Provisioned> {
        let mut errors = Vec::new();
        validate::slug("slug", &input.slug, &mut errors);
        validate::name("name", &input.name, &mut errors);
        let region = input
            .region
            .clone()
            .unwrap_or_else(|| self.cfg.default_region.clone());
        validate::region("region", &region, &mut errors);
        let email = validate::email("admin_email", &input.admin_email, &mut errors);
        if let Some(p) = &input.admin_password {
            validate::password("admin_password", p, &mut errors);
        }
        if let Some(n) = &input.admin_name {
            validate::name("admin_name", n, &mut errors);
        }
        validate::finish(errors)?;

        let prepared = self
            .prepare_user(
                &email,
                input.admin_name.clone(),
                input.admin_password.clone(),
            )
            .await?;
        let key = apikeys::prepare(
            &TenantId::generate(),
            NewApiKey {
                name: "Provisioning key".into(),
                scopes: vec!["admin".into()],
                expires_at: None,
            },
        )?;
        let tenant_id = key.tenant_id.clone();
        let now = self.now();

        let mut tx = self.store.control(Access::Write).await?;
        let cell = tx
            .list_cells()
            .await?
            .into_iter()
            .find(|c| c.region == region)
            .ok_or_else(|| CoreError::field("region", "no cell serves this region"))?;
        if let Some(p) = &partner_id {
            tx.get_partner(p)
                .await?
                .ok_or_else(|| CoreError::field("partner_id", "no such partner"))?;
        }
        let tenant = Tenant {
            id: tenant_id.clone(),
            slug: input.slug.clone(),
            name: input.name.trim().to_owned(),
            plan: input.plan,
            status: TenantStatus::Active,
            region: region.clone(),
            cell_id: cell.id,
            partner_id,
            created_at: now,
            updated_at: now,
        };
        tx.insert_tenant(&tenant)
            .await
            .map_err(|e| conflict(e, "a tenant with this slug"))?;
        let (user_id, created) = self.upsert_user(&mut *tx, &prepared).await?;
        let draft = AuditDraft::success("tenant.provisioned", "tenant", tenant.id.to_string())
            .with_details(
                json!({"slug": tenant.slug, "plan": tenant.plan.as_str(), "region": region}),
            );
        audit::append(&mut *tx, &actor, meta, draft, now).await?;

        #[allow(clippy::disallowed_methods)] // provisioning acts for the tenant it just created
        let ctx = TenantCtx::assume(tenant.id.clone(), actor.clone(), region);
        let mut ttx = tx.enter_tenant(&ctx).await?;
        ttx.insert_membership(&Membership {
            tenant_id: tenant.id.clone(),
            user_id: user_id.clone(),
            role: TenantRole::Owner,
            created_at: now,
            updated_at: now,
        })
        .await?;
        ttx.insert_api_key(&key.record).await?;
        let t = tenant.id.to_string();
        for draft in [
            AuditDraft::success("tenant.provisioned", "tenant", t.clone()),
            AuditDraft::success("member.added", "user", user_id.to_string())
                .with_details(json!({"role": "owner"})),
            AuditDraft::success("api_key.created", "api_key", key.record.id.to_string())
                .with_details(json!({"scopes": key.record.scopes})),
        ] {
            audit::append(&mut *ttx, &actor, meta, draft, now).await?;
        }
        events::emit(
            &mut *ttx,
            "tenant.provisioned",
            json!({"tenant_id": t, "slug": tenant.slug}),
            now,
        )
        .await?;
        ttx.commit().await?;
        tracing::info!(tenant = %tenant.id, slug = %tenant.slug, "tenant provisioned");
        Ok(Provisioned {
            tenant,
            admin_user_id: user_id,
            admin_email: email,
            admin_password: prepared.generated_password.filter(|_| created),
            api_key: key.secret,
        })
    }

    pub async fn list_tenants(
        &self,
        principal: &Principal,
        status: Option<TenantStatus>,
        page: PageRequest,
    ) -> CoreResult<Vec<Tenant>> {
        let partner_id = partner_scope(principal)?;
        let mut tx = self.store.control(Access::Read).await?;
        Ok(tx
            .list_tenants(&TenantFilter {
                partner_id,
                status,
                page,
            })
            .await?)
    }

    /// A tenant the principal manages; others answer `NotFound`.
    pub async fn get_managed_tenant(
        &self,
        principal: &Principal,
        id: &TenantId,
    ) -> CoreResult<Tenant> {
        let scope = partner_scope(principal)?;
        let mut tx = self.store.control(Access::Read).await?;
        let tenant = tx.get_tenant(id).await?.ok_or(CoreError::NotFound)?;
        if scope.is_some() && tenant.partner_id != scope {
            return Err(CoreError::NotFound);
        }
        Ok(tenant)
    }

    /// Suspends, resumes or deletes. Deleting enqueues the purge job in the same transaction.
    pub async fn set_tenant_status(
        &self,
        principal: Option<&Principal>,
        id: &TenantId,
        target: TenantStatus,
        meta: &RequestMeta,
    ) -> CoreResult<Tenant> {
        if let Some(p) = principal {
            self.get_managed_tenant(p, id).await?;
        }
        let actor = principal
            .map(Principal::actor)
            .unwrap_or_else(|| Actor::system("cli"));
        let now = self.now();
        let mut tx = self.store.control(Access::Write).await?;
        let mut tenant = tx.get_tenant(id).await?.ok_or(CoreError::NotFound)?;
        let allowed = matches!(
            (tenant.status, target),
            (TenantStatus::Active, TenantStatus::Suspended)
                | (TenantStatus::Suspended, TenantStatus::Active)
                | (
                    TenantStatus::Active | TenantStatus::Suspended,
                    TenantStatus::Deleted
                )
        );
        if tenant.status == TenantStatus::Deleted {
            return Err(CoreError::NotFound);
        }
        if !allowed {
            return Err(CoreError::Conflict("a tenant already in this state"));
        }
        if !tx.set_tenant_status(id, tenant.status, target, now).await? {
            return Err(CoreError::Conflict("a concurrent change to this tenant"));
        }
        let action = match target {
            TenantStatus::Active => "tenant.resumed",
            TenantStatus::Suspended => "tenant.suspended",
            TenantStatus::Deleted => "tenant.deleted",
        };
        if let Some(notice) = self.platform_event(
            action,
            Some(id),
            &actor,
            json!({"tenant_id": id, "slug": tenant.slug, "from": tenant.status.as_str(), "to": target.as_str()}),
            now,
        ) {
            tx.enqueue_job(&notice, now).await?;
        }
        if target == TenantStatus::Deleted {
            let job = JobKind::TenantPurge {
                tenant_id: id.clone(),
            }
            .into_new_job(now);
            let job_id = tx.enqueue_job(&job, now).await?;
            let draft = AuditDraft::success(action, "tenant", id.to_string())
                .with_details(json!({"purge_job": job_id}));
            audit::append(&mut *tx, &actor, meta, draft, now).await?;
        } else {
            audit::append(
                &mut *tx,
                &actor,
                meta,
                AuditDraft::success(action, "tenant", id.to_string()),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        self.forget_tenant(id);
        tenant.status = target;
        tenant.updated_at = now;
        Ok(tenant)
    }

    /// Resolves a tenant by id or slug (operators' CLI).
    pub async fn find_tenant(&self, selector: &str) -> CoreResult<Tenant> {
        let mut tx = self.store.control(Access::Read).await?;
        let found = match selector.parse::<TenantId>() {
            Ok(id) => tx.get_tenant(&id).await?,
            Err(_) => tx.get_tenant_by_slug(selector).await?,
        };
        found.ok_or(CoreError::NotFound)
    }

    /// Deletes every row a deleted tenant owns (the purge job's work).
    pub async fn purge_tenant(&self, id: &TenantId) -> CoreResult<u64> {
        let tenant = {
            let mut tx = self.store.control(Access::Read).await?;
            tx.get_tenant(id).await?.ok_or(CoreError::NotFound)?
        };
        if tenant.status != TenantStatus::Deleted {
            return Err(CoreError::BadRequest(
                "only deleted tenants are purged".into(),
            ));
        }
        let now = self.now();
        #[allow(clippy::disallowed_methods)] // system job acting for a deleted tenant
        let ctx = TenantCtx::assume(
            tenant.id.clone(),
            Actor::system("purge"),
            tenant.region.clone(),
        );
        let mut ttx = self.store.tenant(&ctx, Access::Write).await?;
        let counts = ttx.count_rows().await?;
        let purged = ttx.purge_rows().await?;
        ttx.commit().await?;
        let blobs = self
            .blobs()
            .delete_prefix(&crate::blob::tenant_prefix(&tenant.id))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        let mut tx = self.store.control(Access::Write).await?;
        let idem = tx
            .delete_idempotency_scope_prefix(&format!("t:{}:", tenant.id))
            .await?;
        let draft = AuditDraft::success("tenant.purged", "tenant", id.to_string())
            .with_details(json!({"rows": counts, "idempotency_keys": idem, "blobs": blobs}));
        audit::append(
            &mut *tx,
            &Actor::system("purge"),
            &RequestMeta::default(),
            draft,
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(tenant = %id, purged, "tenant purged");
        Ok(purged)
    }
}

/// The id of the cell every single-database installation has.
pub const CELL_LOCAL: &str = "cell_00000000000000000000000000";

/// A user about to be created or reused; the slow hashing happened before any transaction.
pub(crate) struct PreparedUser {
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub generated_password: Option<String>,
}

impl Core {
    pub(crate) async fn prepare_user(
        &self,
        email: &str,
        name: Option<String>,
        password: Option<String>,
    ) -> CoreResult<PreparedUser> {
        let (password, generated) = match password {
            Some(p) => (p, None),
            None => {
                let p = crate::secrets::random_token();
                (p.clone(), Some(p))
            }
        };
        let display_name = name
            .map(|n| n.trim().to_owned())
            .unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_owned());
        Ok(PreparedUser {
            email: email.to_owned(),
            display_name,
            password_hash: self.hash_password(password).await?,
            generated_password: generated,
        })
    }

    /// Returns the existing user with this email (who keeps their own password), or creates it.
    /// The flag says whether the user is new.
    pub(crate) async fn upsert_user(
        &self,
        tx: &mut (dyn switchboard_store::ControlTx + '_),
        p: &PreparedUser,
    ) -> CoreResult<(UserId, bool)> {
        if let Some(existing) = tx.get_user_by_email(&p.email).await? {
            return Ok((existing.id, false));
        }
        let now = self.now();
        let user = User::new(
            p.email.clone(),
            p.display_name.clone(),
            Some(p.password_hash.clone()),
            now,
        );
        tx.insert_user(&user)
            .await
            .map_err(|e| conflict(e, "a user with this email"))?;
        Ok((user.id, true))
    }
}

/// Maps a unique-constraint violation to a 409 naming what exists.
pub(crate) fn conflict(e: switchboard_store::StoreError, what: &'static str) -> CoreError {
    match e {
        switchboard_store::StoreError::Conflict(_) => CoreError::Conflict(what),
        other => CoreError::Store(other),
    }
}

impl Core {
    /// Creates the platform administrator on the very first start and returns its one-time
    /// password; `None` once one exists (also when another process won the race).
    pub async fn ensure_platform_admin(&self, email: &str) -> CoreResult<Option<String>> {
        {
            let mut tx = self.store.control(Access::Read).await?;
            if tx.count_platform_admins().await? > 0 {
                return Ok(None);
            }
        }
        let password = crate::secrets::random_token();
        let hash = self.hash_password(password.clone()).await?;
        let now = self.now();
        let mut tx = self.store.control(Access::Write).await?;
        if tx.count_platform_admins().await? > 0 {
            return Ok(None);
        }
        let mut user = User::new(
            email.to_owned(),
            "Platform administrator".into(),
            Some(hash),
            now,
        );
        user.is_platform_admin = true;
        match tx.insert_user(&user).await {
            Ok(()) => {}
            Err(switchboard_store::StoreError::Conflict(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let draft = AuditDraft::success("platform.admin_bootstrapped", "user", user.id.to_string());
        audit::append(
            &mut *tx,
            &Actor::system("bootstrap"),
            &RequestMeta::default(),
            draft,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(password))
    }

    /// Verifies the platform audit chain.
    pub async fn verify_platform_audit(&self) -> CoreResult<audit::VerifyReport> {
        let mut tx = self.store.control(Access::Read).await?;
        Ok(audit::verify(&mut *tx).await?)
    }

    /// Verifies one tenant's audit chain (operators' `audit verify`).
    pub async fn verify_tenant_audit(&self, tenant: &Tenant) -> CoreResult<audit::VerifyReport> {
        #[allow(clippy::disallowed_methods)] // operator command acting as the system
        let ctx = TenantCtx::assume(
            tenant.id.clone(),
            Actor::system("audit-verify"),
            tenant.region.clone(),
        );
        let mut tx = self.store.tenant(&ctx, Access::Read).await?;
        Ok(audit::verify(&mut *tx).await?)
    }

    /// An owner-level view of a tenant for operator commands (CLI `user create`, `apikey create`).
    pub async fn operator_access(&self, tenant: &Tenant) -> CoreResult<crate::TenantAccess> {
        if tenant.status == TenantStatus::Deleted {
            return Err(CoreError::NotFound);
        }
        #[allow(clippy::disallowed_methods)] // operator command acting as the system
        let ctx = TenantCtx::assume(
            tenant.id.clone(),
            Actor::system("cli"),
            tenant.region.clone(),
        );
        Ok(crate::TenantAccess {
            tenant: tenant.clone(),
            role: TenantRole::Owner,
            ctx,
        })
    }
}
