//! Teams of agents, and each agent's availability and capacity: the inputs auto-assignment uses
//! to pick who gets a conversation.

use crate::audit::{self, AuditDraft, RequestMeta};
use crate::error::{CoreError, CoreResult};
use crate::tenants::conflict;
use crate::{changes, events, validate, Core, TenantAccess};
use serde_json::json;
use switchboard_store::model::{Member, Team};
use switchboard_store::Access;
use switchboard_types::{Availability, TeamId, UserId};

impl Core {
    pub async fn create_team(
        &self,
        access: &TenantAccess,
        name: &str,
        description: &str,
        meta: &RequestMeta,
    ) -> CoreResult<Team> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        validate::name("name", name, &mut errors);
        if description.chars().count() > 1000
            || description.chars().any(|c| c.is_control() && c != '\n')
        {
            errors.push(crate::FieldError::new(
                "description",
                "at most 1000 characters",
            ));
        }
        validate::finish(errors)?;
        let now = self.now();
        let team = Team {
            id: TeamId::generate(),
            name: name.trim().to_owned(),
            description: description.to_owned(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        tx.insert_team(&team)
            .await
            .map_err(|e| conflict(e, "a team with this name"))?;
        changes::record(
            &mut *tx,
            meta,
            "team.created",
            "team",
            team.id.to_string(),
            json!({"team_id": team.id, "name": team.name}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(team)
    }

    pub async fn list_teams(&self, access: &TenantAccess) -> CoreResult<Vec<Team>> {
        if !access.role.can_read_members() {
            return Err(CoreError::Forbidden);
        }
        Ok(self
            .store
            .tenant(&access.ctx, Access::Read)
            .await?
            .list_teams()
            .await?)
    }

    /// A team and its members.
    pub async fn get_team(
        &self,
        access: &TenantAccess,
        id: &TeamId,
    ) -> CoreResult<(Team, Vec<Member>)> {
        if !access.role.can_read_members() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        let team = tx.get_team(id).await?.ok_or(CoreError::NotFound)?;
        let members = tx.list_team_members(id).await?;
        Ok((team, members))
    }

    pub async fn update_team(
        &self,
        access: &TenantAccess,
        id: &TeamId,
        name: Option<String>,
        description: Option<String>,
        meta: &RequestMeta,
    ) -> CoreResult<Team> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        if let Some(n) = &name {
            validate::name("name", n, &mut errors);
        }
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 1000)
        {
            errors.push(crate::FieldError::new(
                "description",
                "at most 1000 characters",
            ));
        }
        validate::finish(errors)?;
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        let mut team = tx.get_team(id).await?.ok_or(CoreError::NotFound)?;
        if let Some(n) = name {
            team.name = n.trim().to_owned();
        }
        if let Some(d) = description {
            team.description = d;
        }
        team.updated_at = now;
        tx.update_team(&team)
            .await
            .map_err(|e| conflict(e, "a team with this name"))?;
        changes::record(
            &mut *tx,
            meta,
            "team.updated",
            "team",
            id.to_string(),
            json!({"team_id": team.id, "name": team.name}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(team)
    }

    pub async fn delete_team(
        &self,
        access: &TenantAccess,
        id: &TeamId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        tx.clear_conversation_team(id, now).await?;
        if !tx.delete_team(id).await? {
            return Err(CoreError::NotFound);
        }
        changes::record(
            &mut *tx,
            meta,
            "team.deleted",
            "team",
            id.to_string(),
            json!({"team_id": id}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a member of the tenant to a team; people outside the tenant answer `NotFound`.
    pub async fn add_team_member(
        &self,
        access: &TenantAccess,
        team: &TeamId,
        user: &UserId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        tx.get_team(team).await?.ok_or(CoreError::NotFound)?;
        tx.get_member(user)
            .await?
            .ok_or_else(|| CoreError::field("user_id", "not a member of this tenant"))?;
        tx.add_team_member(team, user, now)
            .await
            .map_err(|e| conflict(e, "this team member"))?;
        events::emit(
            &mut *tx,
            "team.member_added",
            json!({"team_id": team, "user_id": user}),
            now,
        )
        .await?;
        let draft = AuditDraft::success("team.member_added", "team", team.to_string())
            .with_details(json!({"user_id": user}));
        audit::append(&mut *tx, access.ctx.actor(), meta, draft, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn remove_team_member(
        &self,
        access: &TenantAccess,
        team: &TeamId,
        user: &UserId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        if !tx.remove_team_member(team, user).await? {
            return Err(CoreError::NotFound);
        }
        events::emit(
            &mut *tx,
            "team.member_removed",
            json!({"team_id": team, "user_id": user}),
            now,
        )
        .await?;
        let draft = AuditDraft::success("team.member_removed", "team", team.to_string())
            .with_details(json!({"user_id": user}));
        audit::append(&mut *tx, access.ctx.actor(), meta, draft, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets the caller's own availability in the tenant (people only).
    pub async fn set_availability(
        &self,
        access: &TenantAccess,
        availability: Availability,
        meta: &RequestMeta,
    ) -> CoreResult<Member> {
        let actor = access.ctx.actor();
        let user: UserId = match actor.kind {
            switchboard_types::ActorKind::User => {
                actor.id.parse().map_err(|_| CoreError::Forbidden)?
            }
            _ => {
                return Err(CoreError::BadRequest(
                    "only people have an availability".into(),
                ))
            }
        };
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        tx.set_member_availability(&user, availability).await?;
        events::emit(
            &mut *tx,
            "agent.availability_changed",
            json!({"user_id": user, "availability": availability}),
            now,
        )
        .await?;
        let draft = AuditDraft::success("agent.availability_changed", "user", user.to_string())
            .with_details(json!({"availability": availability}));
        audit::append(&mut *tx, actor, meta, draft, now).await?;
        let member = tx.get_member(&user).await?.ok_or(CoreError::NotFound)?;
        tx.commit().await?;
        Ok(member)
    }

    /// Sets how many open conversations an agent takes at most (`None`: no limit).
    pub async fn set_capacity(
        &self,
        access: &TenantAccess,
        user: &UserId,
        capacity: Option<i64>,
        meta: &RequestMeta,
    ) -> CoreResult<Member> {
        if !access.role.can_manage_members() {
            return Err(CoreError::Forbidden);
        }
        if capacity.is_some_and(|c| !(0..=10_000).contains(&c)) {
            return Err(CoreError::field(
                "capacity",
                "between 0 and 10000, or null for no limit",
            ));
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        if !tx.set_member_capacity(user, capacity).await? {
            return Err(CoreError::NotFound);
        }
        let draft = AuditDraft::success("member.capacity_changed", "user", user.to_string())
            .with_details(json!({"capacity": capacity}));
        audit::append(&mut *tx, access.ctx.actor(), meta, draft, now).await?;
        let member = tx.get_member(user).await?.ok_or(CoreError::NotFound)?;
        tx.commit().await?;
        Ok(member)
    }
}
