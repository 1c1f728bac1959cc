//! People inside a tenant: create or add users, change roles, remove. A tenant always keeps at
//! least one owner.

use crate::audit::{self, AuditDraft, RequestMeta};
use crate::error::{CoreError, CoreResult};
use crate::tenants::conflict;
use crate::{changes, events, validate, Core, TenantAccess};
use serde_json::json;
use switchboard_store::model::{Member, Membership, PageRequest};
use switchboard_store::Access;
use switchboard_types::{TenantRole, UserId};

/// A member to add: an existing account (by email) or a new one.
#[derive(Debug, Clone)]
pub struct NewMember {
    pub email: String,
    pub display_name: Option<String>,
    /// For new accounts; when absent a password is generated and returned once.
    pub password: Option<String>,
    pub role: TenantRole,
}

impl Core {
    /// How many people the tenant has (for its plan's quota).
    pub(crate) async fn member_count(&self, access: &TenantAccess) -> CoreResult<i64> {
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        let page = PageRequest {
            after: None,
            limit: 1000,
        };
        Ok(tx.list_members(&page).await?.len() as i64)
    }

    pub async fn list_members(
        &self,
        access: &TenantAccess,
        page: &PageRequest,
    ) -> CoreResult<Vec<Member>> {
        if !access.role.can_read_members() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        Ok(tx.list_members(page).await?)
    }

    pub async fn get_member(&self, access: &TenantAccess, user: &UserId) -> CoreResult<Member> {
        if !access.role.can_read_members() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        tx.get_member(user).await?.ok_or(CoreError::NotFound)
    }

    /// Adds a member, creating the account when the email is new. Returns the generated password
    /// when one was made.
    pub async fn add_member(
        &self,
        access: &TenantAccess,
        input: NewMember,
        meta: &RequestMeta,
    ) -> CoreResult<(Member, Option<String>)> {
        if !access.role.can_manage_members() || !access.role.can_grant(input.role) {
            return Err(CoreError::Forbidden);
        }
        let members = self.member_count(access).await?;
        self.check_quota(access, crate::quotas::Quota::Members, members)
            .await?;
        let mut errors = Vec::new();
        let email = validate::email("email", &input.email, &mut errors);
        if let Some(p) = &input.password {
            validate::password("password", p, &mut errors);
        }
        if let Some(n) = &input.display_name {
            validate::name("display_name", n, &mut errors);
        }
        validate::finish(errors)?;
        let prepared = self
            .prepare_user(&email, input.display_name.clone(), input.password.clone())
            .await?;
        let now = self.now();
        let mut ctl = self.store.control(Access::Write).await?;
        let (user_id, created) = self.upsert_user(&mut *ctl, &prepared).await?;
        let mut tx = ctl.enter_tenant(&access.ctx).await?;
        tx.insert_membership(&Membership {
            tenant_id: access.tenant.id.clone(),
            user_id: user_id.clone(),
            role: input.role,
            created_at: now,
            updated_at: now,
        })
        .await
        .map_err(|e| conflict(e, "a member with this email"))?;
        events::emit(
            &mut *tx,
            "member.added",
            json!({"user_id": user_id, "role": input.role}),
            now,
        )
        .await?;
        let draft = AuditDraft::success("member.added", "user", user_id.to_string())
            .with_details(json!({"role": input.role, "new_account": created}));
        audit::append(&mut *tx, access.ctx.actor(), meta, draft, now).await?;
        let member = tx.get_member(&user_id).await?.ok_or(CoreError::NotFound)?;
        tx.commit().await?;
        Ok((member, prepared.generated_password.filter(|_| created)))
    }

    pub async fn change_member_role(
        &self,
        access: &TenantAccess,
        user: &UserId,
        role: TenantRole,
        meta: &RequestMeta,
    ) -> CoreResult<Member> {
        if !access.role.can_manage_members() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        // Serialise this tenant's membership changes before reading owners, so two owners
        // cannot demote each other into an ownerless tenant.
        tx.serialise_member_changes().await?;
        let current = tx.get_member(user).await?.ok_or(CoreError::NotFound)?;
        if !access.role.can_grant(role) || !access.role.can_grant(current.role) {
            return Err(CoreError::Forbidden);
        }
        if current.role == TenantRole::Owner
            && role != TenantRole::Owner
            && tx.count_owners().await? <= 1
        {
            return Err(CoreError::Conflict(
                "the last owner; make someone else owner first",
            ));
        }
        tx.update_member_role(user, role, now).await?;
        events::emit(
            &mut *tx,
            "member.role_changed",
            json!({"user_id": user, "from": current.role, "to": role}),
            now,
        )
        .await?;
        let draft = AuditDraft::success("member.role_changed", "user", user.to_string())
            .with_details(json!({"from": current.role, "to": role}));
        audit::append(&mut *tx, access.ctx.actor(), meta, draft, now).await?;
        let member = tx.get_member(user).await?.ok_or(CoreError::NotFound)?;
        tx.commit().await?;
        Ok(member)
    }

    pub async fn remove_member(
        &self,
        access: &TenantAccess,
        user: &UserId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_members() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        // Serialise this tenant's membership changes before reading owners, so two owners
        // cannot demote each other into an ownerless tenant.
        tx.serialise_member_changes().await?;
        let current = tx.get_member(user).await?.ok_or(CoreError::NotFound)?;
        if !access.role.can_grant(current.role) {
            return Err(CoreError::Forbidden);
        }
        if current.role == TenantRole::Owner && tx.count_owners().await? <= 1 {
            return Err(CoreError::Conflict(
                "the last owner; make someone else owner first",
            ));
        }
        tx.delete_membership(user).await?;
        // Their conversations go back to the unassigned queue.
        tx.unassign_user(user, now).await?;
        changes::record(
            &mut *tx,
            meta,
            "member.removed",
            "user",
            user.to_string(),
            json!({"user_id": user}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
