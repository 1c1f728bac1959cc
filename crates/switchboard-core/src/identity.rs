//! Sign-in, tokens, sessions, TOTP, and turning a credential into a principal and a tenant context.
//!
//! Credential formats (the prefix says what a string is, so a leaked one is easy to recognise and
//! revoke, and secret scanners can match it):
//! - API key: `sb_live_<tenant ulid>_<secret>`; the tenant part routes the lookup to the tenant's
//!   cell before anything is known about the caller.
//! - Access token `sb_at_…` (short-lived), refresh token `sb_rt_…` (rotated on use), console
//!   session `sb_cs_…` (cookie, with a CSRF token).

use crate::audit::{self, AuditDraft, Outcome, RequestMeta};
use crate::error::{CoreError, CoreResult};
use crate::ratelimit::Decision;
use crate::secrets::{constant_time_eq, random_token, token_hash};
use crate::{totp, Core};
use serde_json::json;
use switchboard_store::model::{ApiKey, Session, SessionKind, Tenant, User};
use switchboard_store::{Access, TenantCtx};
use switchboard_types::{
    Actor, PartnerId, PartnerRole, SessionId, TenantId, TenantRole, TenantStatus, UserId,
};

pub const API_KEY_PREFIX: &str = "sb_live_";
pub const ACCESS_PREFIX: &str = "sb_at_";
pub const REFRESH_PREFIX: &str = "sb_rt_";
pub const CONSOLE_PREFIX: &str = "sb_cs_";

/// Who is calling, once their credential checked out.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    User(Box<UserPrincipal>),
    ApiKey(Box<KeyPrincipal>),
}

/// A verified API key and its tenant as read (at most the cache TTL ago).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPrincipal {
    pub key: ApiKey,
    pub tenant: Tenant,
}

/// A signed-in person.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPrincipal {
    pub user_id: UserId,
    pub email: String,
    pub display_name: String,
    pub is_platform_admin: bool,
    pub partner_roles: Vec<(PartnerId, PartnerRole)>,
    pub session_id: SessionId,
    pub session_kind: SessionKind,
    pub session_family: String,
    pub csrf_hash: Option<String>,
}

impl Principal {
    /// The actor recorded for this principal's changes.
    pub fn actor(&self) -> Actor {
        match self {
            Self::User(u) => Actor::user(&u.user_id),
            Self::ApiKey(k) => Actor::api_key(&k.key.id),
        }
    }

    /// A stable key for per-principal rate limits and idempotency scopes.
    pub fn scope_key(&self) -> String {
        match self {
            Self::User(u) => format!("u:{}", u.user_id),
            Self::ApiKey(k) => format!("t:{}:k:{}", k.key.tenant_id, k.key.id),
        }
    }

    pub fn as_user(&self) -> Option<&UserPrincipal> {
        match self {
            Self::User(u) => Some(u),
            Self::ApiKey(_) => None,
        }
    }

    pub fn is_platform_admin(&self) -> bool {
        self.as_user().is_some_and(|u| u.is_platform_admin)
    }

    /// The partner this principal administers, if any.
    pub fn administered_partner(&self) -> Option<&PartnerId> {
        self.as_user()?
            .partner_roles
            .iter()
            .find(|(_, r)| *r == PartnerRole::PartnerAdmin)
            .map(|(p, _)| p)
    }
}

/// A principal's standing inside one tenant.
#[derive(Debug, Clone)]
pub struct TenantAccess {
    pub tenant: Tenant,
    pub role: TenantRole,
    pub ctx: TenantCtx,
}

/// Tokens handed out after sign-in. Shown once; only hashes are kept.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub access_expires_at: i64,
    pub refresh_expires_at: i64,
}

/// A console cookie session.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub token: String,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// A TOTP enrolment waiting for its first code.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub secret: String,
    pub uri: String,
}

/// The API-key scopes, each granting the tenant role of the same name.
pub const API_KEY_SCOPES: [&str; 4] = ["admin", "agent", "viewer", "auditor"];

/// The role an API key acts with: the strongest its scopes grant.
pub fn role_for_scopes(scopes: &[String]) -> Option<TenantRole> {
    [
        TenantRole::Admin,
        TenantRole::Agent,
        TenantRole::Auditor,
        TenantRole::Viewer,
    ]
    .into_iter()
    .find(|r| scopes.iter().any(|s| s == r.as_str()))
}

impl Core {
    /// Checks an email and password (and a TOTP code when enabled). Every outcome is audited on the
    /// platform chain; repeated failures lock the account and slow the IP down.
    pub async fn authenticate_password(
        &self,
        email: &str,
        password: &str,
        totp_code: Option<&str>,
        meta: &RequestMeta,
    ) -> CoreResult<User> {
        let ip_key = format!("signin-fail:{}", meta.ip.as_deref().unwrap_or("unknown"));
        let ip_rate = self.cfg.signin_failures_per_ip;
        if !self.limiter.would_allow(&ip_key, ip_rate, 1.0) {
            let retry_after_ms = match self.limiter.acquire(&ip_key, ip_rate, 1.0) {
                Decision::Limited { retry_after_ms } => retry_after_ms,
                Decision::Allowed { .. } => 1000,
            };
            return Err(CoreError::RateLimited { retry_after_ms });
        }
        let email = email.trim().to_lowercase();
        let user = {
            let mut tx = self.store.control(Access::Read).await?;
            tx.get_user_by_email(&email).await?
        };
        let now = self.now();
        let ok = self
            .verify_password(
                password.to_owned(),
                user.as_ref().and_then(|u| u.password_hash.clone()),
            )
            .await?;

        let Some(user) = user else {
            self.limiter.acquire(&ip_key, ip_rate, 1.0);
            self.audit_signin(None, &email, "unknown_email", Outcome::Failure, meta)
                .await?;
            return Err(CoreError::Unauthenticated);
        };
        if let Some(until) = user.locked_until.filter(|until| *until > now) {
            self.audit_signin(Some(&user), &email, "locked", Outcome::Denied, meta)
                .await?;
            return Err(CoreError::Locked {
                retry_after_ms: until - now,
            });
        }
        if !ok {
            self.limiter.acquire(&ip_key, ip_rate, 1.0);
            return self.fail_signin(&user, &email, "bad_password", meta).await;
        }
        let mut totp_step = None;
        if user.totp_enabled {
            let secret = user.totp_secret.as_deref().unwrap_or_default();
            let Some(code) = totp_code else {
                return Err(CoreError::MfaRequired);
            };
            match totp::verify_step(secret, code, now, user.totp_last_step) {
                Some(step) => totp_step = Some(step),
                // Wrong (or replayed) second factors count toward the lockout like passwords.
                None => {
                    self.limiter.acquire(&ip_key, ip_rate, 1.0);
                    return self.fail_signin(&user, &email, "bad_totp", meta).await;
                }
            }
        }
        let mut tx = self.store.control(Access::Write).await?;
        if let Some(step) = totp_step {
            // Conditional on the stored step, so two sign-ins racing with one code cannot both win.
            if !tx.accept_totp_step(&user.id, step).await? {
                drop(tx);
                return self.fail_signin(&user, &email, "replayed_totp", meta).await;
            }
        }
        tx.record_successful_login(&user.id, now).await?;
        self.audit_signin_in(&mut *tx, Some(&user), &email, "ok", Outcome::Success, meta)
            .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Records a failed sign-in of a known account, locking it after too many in a row.
    async fn fail_signin(
        &self,
        user: &User,
        email: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> CoreResult<User> {
        let now = self.now();
        let lock_until = (user.failed_logins + 1 >= self.cfg.lockout_threshold)
            .then_some(now + self.cfg.lockout_duration_ms);
        let mut tx = self.store.control(Access::Write).await?;
        tx.record_failed_login(&user.id, lock_until, now).await?;
        let reason = if lock_until.is_some() {
            format!("{reason}_locked")
        } else {
            reason.to_owned()
        };
        self.audit_signin_in(&mut *tx, Some(user), email, &reason, Outcome::Failure, meta)
            .await?;
        tx.commit().await?;
        Err(CoreError::Unauthenticated)
    }

    async fn audit_signin(
        &self,
        user: Option<&User>,
        email: &str,
        reason: &str,
        outcome: Outcome,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        let mut tx = self.store.control(Access::Write).await?;
        self.audit_signin_in(&mut *tx, user, email, reason, outcome, meta)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn audit_signin_in(
        &self,
        tx: &mut (dyn switchboard_store::ControlTx + '_),
        user: Option<&User>,
        email: &str,
        reason: &str,
        outcome: Outcome,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        let actor = match user {
            Some(u) => Actor::user(&u.id),
            None => Actor::system("anonymous"),
        };
        let draft = AuditDraft {
            action: "auth.sign_in",
            target_type: "user",
            target_id: user.map(|u| u.id.to_string()),
            outcome,
            // The email is recorded for failed attempts against unknown accounts (useful for
            // spotting credential stuffing); the password never is.
            details: json!({ "email": email, "reason": reason }),
        };
        audit::append(tx, &actor, meta, draft, self.now()).await?;
        Ok(())
    }

    /// Issues an access + refresh token pair for a user.
    pub async fn issue_tokens(&self, user: &User, meta: &RequestMeta) -> CoreResult<TokenPair> {
        let now = self.now();
        let family = random_token();
        let access_token = format!("{ACCESS_PREFIX}{}", random_token());
        let refresh_token = format!("{REFRESH_PREFIX}{}", random_token());
        let pair = TokenPair {
            access_expires_at: now + self.cfg.access_token_ttl_ms,
            refresh_expires_at: now + self.cfg.refresh_token_ttl_ms,
            access_token,
            refresh_token,
        };
        let mut tx = self.store.control(Access::Write).await?;
        for (kind, token, expires_at) in [
            (
                SessionKind::Access,
                &pair.access_token,
                pair.access_expires_at,
            ),
            (
                SessionKind::Refresh,
                &pair.refresh_token,
                pair.refresh_expires_at,
            ),
        ] {
            tx.insert_session(&Session {
                id: SessionId::generate(),
                user_id: user.id.clone(),
                kind,
                token_hash: token_hash(token),
                csrf_hash: None,
                family: family.clone(),
                created_at: now,
                expires_at,
                ip: meta.ip.clone(),
                user_agent: meta.user_agent.clone(),
            })
            .await?;
        }
        tx.commit().await?;
        Ok(pair)
    }

    /// Starts a console (cookie) session with its CSRF token.
    pub async fn start_console_session(
        &self,
        user: &User,
        meta: &RequestMeta,
    ) -> CoreResult<ConsoleSession> {
        let now = self.now();
        let session = ConsoleSession {
            token: format!("{CONSOLE_PREFIX}{}", random_token()),
            csrf_token: random_token(),
            expires_at: now + self.cfg.console_session_ttl_ms,
        };
        let mut tx = self.store.control(Access::Write).await?;
        tx.insert_session(&Session {
            id: SessionId::generate(),
            user_id: user.id.clone(),
            kind: SessionKind::Console,
            token_hash: token_hash(&session.token),
            csrf_hash: Some(token_hash(&session.csrf_token)),
            family: random_token(),
            created_at: now,
            expires_at: session.expires_at,
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
        })
        .await?;
        tx.commit().await?;
        Ok(session)
    }

    /// Exchanges a refresh token for a new pair. The old pair dies, so a stolen refresh token
    /// works at most once and its use logs the legitimate holder out.
    pub async fn refresh_tokens(
        &self,
        refresh_token: &str,
        meta: &RequestMeta,
    ) -> CoreResult<TokenPair> {
        if !refresh_token.starts_with(REFRESH_PREFIX) {
            return Err(CoreError::Unauthenticated);
        }
        let now = self.now();
        let mut tx = self.store.control(Access::Write).await?;
        let session = tx.find_session(&token_hash(refresh_token)).await?;
        let Some(session) = session.filter(|s| s.kind == SessionKind::Refresh) else {
            return Err(CoreError::Unauthenticated);
        };
        tx.delete_session_family(&session.family).await?;
        let user = tx.get_user(&session.user_id).await?;
        let outcome = if session.expires_at > now {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let draft =
            AuditDraft::success("auth.token_refreshed", "user", session.user_id.to_string())
                .with_outcome(outcome);
        audit::append(&mut *tx, &Actor::user(&session.user_id), meta, draft, now).await?;
        tx.commit().await?;
        match user {
            Some(user) if session.expires_at > now => self.issue_tokens(&user, meta).await,
            _ => Err(CoreError::Unauthenticated),
        }
    }

    /// Ends the session (and its token family) a principal signed in with.
    pub async fn sign_out(&self, principal: &Principal, meta: &RequestMeta) -> CoreResult<()> {
        if let Principal::User(u) = principal {
            let mut tx = self.store.control(Access::Write).await?;
            tx.delete_session_family(&u.session_family).await?;
            let draft = AuditDraft::success("auth.sign_out", "user", u.user_id.to_string());
            audit::append(&mut *tx, &Actor::user(&u.user_id), meta, draft, self.now()).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Deletes expired sessions and idempotency records (run periodically by `serve`/`worker`).
    pub async fn sweep_expired(&self) -> CoreResult<(u64, u64)> {
        let now = self.now();
        let mut tx = self.store.control(Access::Write).await?;
        let sessions = tx.delete_expired_sessions(now).await?;
        let idempotency = tx.delete_expired_idempotency(now).await?;
        tx.commit().await?;
        Ok((sessions, idempotency))
    }

    /// Resolves a bearer token or session cookie to a principal. Unknown, expired and revoked
    /// credentials all answer `Unauthenticated`, indistinguishably.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn authenticate_token(&self, token: &str) -> CoreResult<Principal> {
        if let Some(rest) = token.strip_prefix(API_KEY_PREFIX) {
            return self
                .authenticate_api_key(rest, token)
                .await
                .map(|k| Principal::ApiKey(Box::new(k)));
        }
        let kind = if token.starts_with(ACCESS_PREFIX) {
            SessionKind::Access
        } else if token.starts_with(CONSOLE_PREFIX) {
            SessionKind::Console
        } else {
            return Err(CoreError::Unauthenticated);
        };
        let now = self.now();
        let hash = token_hash(token);
        let mut tx = self.store.control(Access::Read).await?;
        let Some(session) = tx.find_session(&hash).await? else {
            return Err(CoreError::Unauthenticated);
        };
        if session.kind != kind
            || session.expires_at <= now
            || !constant_time_eq(&session.token_hash, &hash)
        {
            return Err(CoreError::Unauthenticated);
        }
        let Some(user) = tx.get_user(&session.user_id).await? else {
            return Err(CoreError::Unauthenticated);
        };
        let partner_roles = tx
            .partner_memberships_of(&user.id)
            .await?
            .into_iter()
            .map(|m| (m.partner_id, m.role))
            .collect();
        Ok(Principal::User(Box::new(UserPrincipal {
            user_id: user.id,
            email: user.email,
            display_name: user.display_name,
            is_platform_admin: user.is_platform_admin,
            partner_roles,
            session_id: session.id,
            session_kind: session.kind,
            session_family: session.family,
            csrf_hash: session.csrf_hash,
        })))
    }

    async fn authenticate_api_key(&self, rest: &str, full: &str) -> CoreResult<KeyPrincipal> {
        let (tenant_part, secret) = rest.split_once('_').ok_or(CoreError::Unauthenticated)?;
        if secret.len() != 43 {
            return Err(CoreError::Unauthenticated);
        }
        let now = self.now();
        let hash = token_hash(full);
        let live = |k: &ApiKey| k.revoked_at.is_none() && k.expires_at.is_none_or(|e| e > now);
        if let Some((key, tenant)) = self.auth_cache.get(&hash, now) {
            if !live(&key) || tenant.status == TenantStatus::Deleted {
                return Err(CoreError::Unauthenticated);
            }
            return Ok(KeyPrincipal { key, tenant });
        }
        let generation = self.auth_cache.generation();
        let tenant_id: TenantId = format!("{}_{tenant_part}", TenantId::PREFIX)
            .parse()
            .map_err(|_| CoreError::Unauthenticated)?;
        let tenant = {
            let mut tx = self.store.control(Access::Read).await?;
            tx.get_tenant(&tenant_id)
                .await?
                .ok_or(CoreError::Unauthenticated)?
        };
        // A deleted tenant's credentials are dead, even before the purge removed them.
        if tenant.status == TenantStatus::Deleted {
            return Err(CoreError::Unauthenticated);
        }
        // The lookup itself runs inside the tenant, as the authenticating system component.
        #[allow(clippy::disallowed_methods)] // auth layer: credential not yet verified, lookup only
        let probe = TenantCtx::assume(
            tenant.id.clone(),
            Actor::system("auth"),
            tenant.region.clone(),
        );
        let mut tx = self.store.tenant(&probe, Access::Read).await?;
        let mut key = tx
            .find_api_key_by_hash(&hash)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        drop(tx);
        if !live(&key) || !constant_time_eq(&key.key_hash, &hash) {
            return Err(CoreError::Unauthenticated);
        }
        // Record use at most once a minute: a write per request would serialise reads on SQLite.
        if key.last_used_at.is_none_or(|t| now - t > 60_000) {
            let mut tx = self.store.tenant(&probe, Access::Write).await?;
            tx.touch_api_key(&key.id, now).await?;
            tx.commit().await?;
            key.last_used_at = Some(now);
        }
        self.auth_cache
            .put(key.clone(), tenant.clone(), now, generation);
        Ok(KeyPrincipal { key, tenant })
    }

    /// Drops cached credentials of a key (revoked) so this process refuses it at once.
    pub(crate) fn forget_key(&self, id: &switchboard_types::ApiKeyId) {
        self.auth_cache.forget_key(id);
    }

    /// Drops cached credentials of a tenant whose status changed.
    pub(crate) fn forget_tenant(&self, id: &TenantId) {
        self.auth_cache.forget_tenant(id);
    }

    /// The tenant a principal acts in and its role there. `selector` is a tenant id or slug (users
    /// name it; API keys are bound to theirs). A tenant the principal cannot see answers
    /// `NotFound`, exactly like one that does not exist.
    pub async fn tenant_access(
        &self,
        principal: &Principal,
        selector: Option<&str>,
    ) -> CoreResult<TenantAccess> {
        let (tenant, role) = match principal {
            Principal::ApiKey(k) => {
                if selector.is_some_and(|s| s != k.tenant.id.as_str() && s != k.tenant.slug) {
                    return Err(CoreError::NotFound);
                }
                let role = role_for_scopes(&k.key.scopes).ok_or(CoreError::Forbidden)?;
                (k.tenant.clone(), role)
            }
            Principal::User(u) => {
                let mut tx = self.store.control(Access::Read).await?;
                let selector = selector.ok_or_else(|| {
                    CoreError::BadRequest(
                        "name the tenant in the X-Switchboard-Tenant header".into(),
                    )
                })?;
                let tenant = match selector.parse::<TenantId>() {
                    Ok(id) => tx.get_tenant(&id).await?,
                    Err(_) => tx.get_tenant_by_slug(selector).await?,
                }
                .ok_or(CoreError::NotFound)?;
                let membership = tx
                    .memberships_of(&u.user_id)
                    .await?
                    .into_iter()
                    .find(|m| m.tenant_id == tenant.id)
                    .ok_or(CoreError::NotFound)?;
                (tenant, membership.role)
            }
        };
        match tenant.status {
            TenantStatus::Active => {}
            TenantStatus::Suspended => return Err(CoreError::TenantSuspended),
            TenantStatus::Deleted => return Err(CoreError::NotFound),
        }
        #[allow(clippy::disallowed_methods)]
        // auth layer: the principal's membership was checked above
        let ctx = TenantCtx::assume(tenant.id.clone(), principal.actor(), tenant.region.clone());
        Ok(TenantAccess { tenant, role, ctx })
    }

    /// The tenants a user belongs to (for `/v1/me` and the console's tenant switcher).
    pub async fn tenants_of(&self, user: &UserId) -> CoreResult<Vec<(Tenant, TenantRole)>> {
        let mut tx = self.store.control(Access::Read).await?;
        let mut out = Vec::new();
        for m in tx.memberships_of(user).await? {
            if let Some(t) = tx.get_tenant(&m.tenant_id).await? {
                if t.status != TenantStatus::Deleted {
                    out.push((t, m.role));
                }
            }
        }
        Ok(out)
    }

    /// Starts TOTP enrolment: stores a new secret, not yet enforced.
    pub async fn begin_totp(
        &self,
        user: &UserPrincipal,
        meta: &RequestMeta,
    ) -> CoreResult<TotpEnrolment> {
        let secret = totp::generate_secret();
        let now = self.now();
        let mut tx = self.store.control(Access::Write).await?;
        let current = tx
            .get_user(&user.user_id)
            .await?
            .ok_or(CoreError::NotFound)?;
        if current.totp_enabled {
            return Err(CoreError::Conflict("an enabled authenticator"));
        }
        tx.set_totp(&user.user_id, Some(&secret), false, now)
            .await?;
        let draft = AuditDraft::success(
            "auth.totp_enrolment_started",
            "user",
            user.user_id.to_string(),
        );
        audit::append(&mut *tx, &Actor::user(&user.user_id), meta, draft, now).await?;
        tx.commit().await?;
        Ok(TotpEnrolment {
            uri: totp::provisioning_uri(&secret, &user.email, &self.cfg.issuer),
            secret,
        })
    }

    /// Confirms enrolment with a first code; from then on sign-in needs one.
    pub async fn confirm_totp(
        &self,
        user: &UserPrincipal,
        code: &str,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        let now = self.now();
        let mut tx = self.store.control(Access::Write).await?;
        let current = tx
            .get_user(&user.user_id)
            .await?
            .ok_or(CoreError::NotFound)?;
        let secret = current
            .totp_secret
            .ok_or_else(|| CoreError::BadRequest("start enrolment first".into()))?;
        if current.totp_enabled {
            return Err(CoreError::Conflict("an enabled authenticator"));
        }
        let Some(step) = totp::verify_step(&secret, code, now, None) else {
            return Err(CoreError::field("code", "the code does not match"));
        };
        tx.accept_totp_step(&user.user_id, step).await?;
        tx.set_totp(&user.user_id, Some(&secret), true, now).await?;
        let draft = AuditDraft::success("auth.totp_enabled", "user", user.user_id.to_string());
        audit::append(&mut *tx, &Actor::user(&user.user_id), meta, draft, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_roles_come_from_the_strongest_scope() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            role_for_scopes(&s(&["viewer", "admin"])),
            Some(TenantRole::Admin)
        );
        assert_eq!(role_for_scopes(&s(&["auditor"])), Some(TenantRole::Auditor));
        assert_eq!(
            role_for_scopes(&s(&["owner"])),
            None,
            "keys never act as owners"
        );
        assert_eq!(role_for_scopes(&[]), None);
    }
}
