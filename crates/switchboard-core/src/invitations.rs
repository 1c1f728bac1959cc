//! Invitations: an owner or admin invites someone by email with a role, and the link they get
//! lets them choose their name and password, or join with the account they already have (by
//! proving its password). A link works once and for seven days; only its hash is stored.

use crate::audit::{self, AuditDraft, RequestMeta};
use crate::identity::TenantAccess;
use crate::secrets::{random_token, token_hash};
use crate::{events, validate, Core, CoreError, CoreResult};
use serde_json::json;
use switchboard_store::model::{Invitation, Membership, Tenant, User};
use switchboard_store::{Access, TenantCtx};
use switchboard_types::{Actor, InvitationId, TenantId, TenantRole, TenantStatus};

/// How long an invitation link works.
pub const INVITATION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
const PREFIX: &str = "sb_inv_";

/// What the invitation page shows before someone accepts.
#[derive(Debug, Clone)]
pub struct InvitationView {
    pub tenant_name: String,
    pub email: String,
    pub role: TenantRole,
    /// The invited email has an account already: accepting takes its password.
    pub account_exists: bool,
}

/// The token names its tenant (so the link can be opened without signing in), then a secret.
fn parse(token: &str) -> Option<(TenantId, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (tenant, secret) = rest.split_once('.')?;
    if secret.len() < 20
        || secret.len() > 100
        || !secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some((tenant.parse().ok()?, secret))
}

impl Core {
    /// Invites `email` with `role`; returns the invitation and its link token (shown once).
    pub async fn create_invitation(
        &self,
        access: &TenantAccess,
        email: &str,
        role: TenantRole,
        meta: &RequestMeta,
    ) -> CoreResult<(Invitation, String)> {
        if !access.role.can_manage_members() || !access.role.can_grant(role) {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        let email = validate::email("email", email, &mut errors);
        validate::finish(errors)?;
        // Invitations waiting count toward the plan's seats, as they will.
        let seats =
            self.member_count(access).await? + self.list_invitations(access).await?.len() as i64;
        self.check_quota(access, crate::quotas::Quota::Members, seats)
            .await?;
        let now = self.now();
        let token = format!("{PREFIX}{}.{}", access.tenant.id, random_token());
        let invitation = Invitation {
            id: InvitationId::generate(),
            email: email.clone(),
            role,
            token_hash: token_hash(&token),
            invited_by: access.ctx.actor().id.clone(),
            created_at: now,
            expires_at: now + INVITATION_TTL_MS,
            accepted_at: None,
        };
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let already = tx
            .list_members(&switchboard_store::model::PageRequest {
                after: None,
                limit: 1000,
            })
            .await?
            .into_iter()
            .any(|m| m.email.eq_ignore_ascii_case(&email));
        if already {
            return Err(CoreError::Conflict("a member with this email"));
        }
        tx.insert_invitation(&invitation).await?;
        let draft = AuditDraft::success(
            "invitation.created",
            "invitation",
            invitation.id.to_string(),
        )
        .with_details(json!({"email": email, "role": role}));
        audit::append(&mut *tx, access.ctx.actor(), meta, draft, now).await?;
        tx.commit().await?;
        Ok((invitation, token))
    }

    /// Emails the link to the invited person, when the platform has a mail relay and a sender;
    /// false otherwise (the caller shows the link to pass on). The link is never logged.
    pub async fn email_invitation(
        &self,
        access: &TenantAccess,
        invitation: &Invitation,
        link: &str,
    ) -> bool {
        let subject = format!("You are invited to {} on Switchboard", access.tenant.name);
        let text = format!(
            "Hello,\n\nyou are invited to join {} as {}.\n\nOpen this link to choose your name and password (it works once, for 7 days):\n{link}\n\nIf you did not expect this, ignore this email.\n",
            access.tenant.name,
            invitation.role.as_str()
        );
        match self
            .sender()
            .send_notice(&invitation.email, &subject, &text)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::info!(invitation = %invitation.id, error = %e, "invitation not emailed");
                false
            }
        }
    }

    /// Invitations nobody accepted yet (owners, admins).
    pub async fn list_invitations(&self, access: &TenantAccess) -> CoreResult<Vec<Invitation>> {
        if !access.role.can_manage_members() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        Ok(tx
            .pending_invitations()
            .await?
            .into_iter()
            .filter(|i| i.expires_at > now)
            .collect())
    }

    /// Withdraws an invitation: its link stops working.
    pub async fn revoke_invitation(
        &self,
        access: &TenantAccess,
        id: &InvitationId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_members() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        if !tx.delete_invitation(id).await? {
            return Err(CoreError::NotFound);
        }
        let draft = AuditDraft::success("invitation.revoked", "invitation", id.to_string());
        audit::append(&mut *tx, access.ctx.actor(), meta, draft, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tenant and invitation a link names, if it still works; anything else (malformed,
    /// unknown, used, expired, withdrawn, a suspended tenant) is `NotFound` alike.
    async fn open_invitation(&self, token: &str) -> CoreResult<(Tenant, Invitation)> {
        let (tenant_id, _) = parse(token).ok_or(CoreError::NotFound)?;
        let tenant = {
            let mut tx = self.store().control(Access::Read).await?;
            tx.get_tenant(&tenant_id).await?
        }
        .filter(|t| t.status == TenantStatus::Active)
        .ok_or(CoreError::NotFound)?;
        #[allow(clippy::disallowed_methods)]
        // the link names its tenant; its secret is checked next
        let ctx = TenantCtx::assume(
            tenant.id.clone(),
            Actor::system("invitation"),
            tenant.region.clone(),
        );
        let mut tx = self.store().tenant(&ctx, Access::Read).await?;
        let invitation = tx
            .invitation_by_token(&token_hash(token))
            .await?
            .filter(|i| i.accepted_at.is_none() && i.expires_at > self.now())
            .ok_or(CoreError::NotFound)?;
        Ok((tenant, invitation))
    }

    /// What the invitation page shows.
    pub async fn invitation(&self, token: &str) -> CoreResult<InvitationView> {
        let (tenant, invitation) = self.open_invitation(token).await?;
        let account_exists = {
            let mut tx = self.store().control(Access::Read).await?;
            tx.get_user_by_email(&invitation.email).await?.is_some()
        };
        Ok(InvitationView {
            tenant_name: tenant.name,
            email: invitation.email,
            role: invitation.role,
            account_exists,
        })
    }

    /// Accepts an invitation: a new account with `password` (and `name`), or, when the email
    /// has an account already, that account after its password (and TOTP code) check out.
    /// Returns the user, for the caller to start a session.
    pub async fn accept_invitation(
        &self,
        token: &str,
        name: Option<String>,
        password: &str,
        totp: Option<&str>,
        meta: &RequestMeta,
    ) -> CoreResult<User> {
        let (tenant, invitation) = self.open_invitation(token).await?;
        let existing = {
            let mut tx = self.store().control(Access::Read).await?;
            tx.get_user_by_email(&invitation.email).await?
        };
        let user = match existing {
            Some(_) => {
                self.authenticate_password(&invitation.email, password, totp, meta)
                    .await?
            }
            None => {
                let mut errors = Vec::new();
                validate::password("password", password, &mut errors);
                if let Some(n) = &name {
                    validate::name("name", n, &mut errors);
                }
                validate::finish(errors)?;
                let prepared = self
                    .prepare_user(&invitation.email, name, Some(password.to_owned()))
                    .await?;
                let mut ctl = self.store().control(Access::Write).await?;
                let (id, created) = self.upsert_user(&mut *ctl, &prepared).await?;
                if !created {
                    // Someone created the account meanwhile: joining it takes its password.
                    return Err(CoreError::Unauthenticated);
                }
                ctl.commit().await?;
                let mut ctl = self.store().control(Access::Read).await?;
                ctl.get_user(&id).await?.ok_or(CoreError::NotFound)?
            }
        };
        let now = self.now();
        #[allow(clippy::disallowed_methods)] // the invitation was verified above; the user acts
        let ctx = TenantCtx::assume(
            tenant.id.clone(),
            Actor::user(&user.id),
            tenant.region.clone(),
        );
        let mut tx = self.store().tenant(&ctx, Access::Write).await?;
        // Used once: a second acceptance (or a race) finds it accepted.
        if !tx.accept_invitation(&invitation.id, now).await? {
            return Err(CoreError::NotFound);
        }
        tx.insert_membership(&Membership {
            tenant_id: tenant.id.clone(),
            user_id: user.id.clone(),
            role: invitation.role,
            created_at: now,
            updated_at: now,
        })
        .await
        .map_err(|e| match e {
            switchboard_store::StoreError::Conflict(_) => {
                CoreError::Conflict("a member with this email")
            }
            e => e.into(),
        })?;
        events::emit(
            &mut *tx,
            "member.added",
            json!({"user_id": user.id, "role": invitation.role}),
            now,
        )
        .await?;
        let draft = AuditDraft::success("member.added", "user", user.id.to_string())
            .with_details(json!({"role": invitation.role, "invitation_id": invitation.id}));
        audit::append(&mut *tx, &Actor::user(&user.id), meta, draft, now).await?;
        tx.commit().await?;
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn links_name_their_tenant_and_a_secret() {
        let tenant = switchboard_types::TenantId::generate();
        let token = format!("sb_inv_{tenant}.{}", "a".repeat(43));
        assert_eq!(parse(&token).map(|(t, _)| t), Some(tenant.clone()));
        for bad in [
            "",
            "sb_inv_",
            "sb_at_whatever",
            &format!("sb_inv_{tenant}"),
            &format!("sb_inv_{tenant}.short"),
            &format!("sb_inv_{tenant}.{}'--", "a".repeat(30)),
            &format!("sb_inv_not-a-tenant.{}", "a".repeat(43)),
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
