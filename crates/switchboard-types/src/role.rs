//! Roles and what each may do. Permissions are methods on the role, so a new route asks a question
//! ("may this role manage API keys?") instead of repeating a list of role names.

use serde::{Deserialize, Serialize};

/// A person's role inside one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TenantRole {
    /// Everything, including deleting the tenant's data and managing other owners.
    Owner,
    /// Everything but owner management.
    Admin,
    /// Works conversations.
    Agent,
    /// Reads, never writes.
    Viewer,
    /// Reads the audit log and compliance evidence.
    Auditor,
}

impl TenantRole {
    pub const ALL: [TenantRole; 5] = [
        Self::Owner,
        Self::Admin,
        Self::Agent,
        Self::Viewer,
        Self::Auditor,
    ];

    /// Stable text form, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Agent => "agent",
            Self::Viewer => "viewer",
            Self::Auditor => "auditor",
        }
    }

    /// Parses the stored text form.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// May add, change and remove members and their roles.
    pub fn can_manage_members(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }

    /// May create and revoke API keys.
    pub fn can_manage_api_keys(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }

    /// May read the audit log.
    pub fn can_read_audit(self) -> bool {
        matches!(self, Self::Owner | Self::Admin | Self::Auditor)
    }

    /// May read the tenant's member list.
    pub fn can_read_members(self) -> bool {
        !matches!(self, Self::Auditor)
    }

    /// May change the tenant's settings (attribute definitions, later inboxes, teams, rules).
    pub fn can_manage_settings(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }

    /// May reply to, annotate and change conversations.
    pub fn can_work_conversations(self) -> bool {
        matches!(self, Self::Owner | Self::Admin | Self::Agent)
    }

    /// May read contacts and companies (auditors read the audit log instead).
    pub fn can_read_contacts(self) -> bool {
        !matches!(self, Self::Auditor)
    }

    /// May create and edit contacts and companies.
    pub fn can_write_contacts(self) -> bool {
        matches!(self, Self::Owner | Self::Admin | Self::Agent)
    }

    /// May delete contacts and companies.
    pub fn can_delete_contacts(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }

    /// May grant `other`: only owners make owners; nobody grants more than they hold.
    pub fn can_grant(self, other: TenantRole) -> bool {
        match self {
            Self::Owner => true,
            Self::Admin => other != Self::Owner,
            _ => false,
        }
    }
}

/// A person's role inside one partner (reseller) organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PartnerRole {
    /// Provisions and manages the partner's own tenants.
    PartnerAdmin,
}

impl PartnerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PartnerAdmin => "partner_admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        (s == "partner_admin").then_some(Self::PartnerAdmin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for r in TenantRole::ALL {
            assert_eq!(TenantRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(TenantRole::parse("superuser"), None);
    }

    #[test]
    fn nobody_grants_more_than_they_hold() {
        assert!(TenantRole::Owner.can_grant(TenantRole::Owner));
        assert!(!TenantRole::Admin.can_grant(TenantRole::Owner));
        assert!(TenantRole::Admin.can_grant(TenantRole::Agent));
        for r in TenantRole::ALL {
            assert!(!TenantRole::Agent.can_grant(r));
            assert!(!TenantRole::Viewer.can_grant(r));
            assert!(!TenantRole::Auditor.can_grant(r));
        }
    }

    #[test]
    fn auditors_read_the_audit_log_but_not_members() {
        assert!(TenantRole::Auditor.can_read_audit());
        assert!(!TenantRole::Auditor.can_read_members());
        assert!(!TenantRole::Agent.can_read_audit());
    }
}

/// Whether an agent takes conversations right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Receives new conversations.
    Online,
    /// Signed in, but not receiving new conversations.
    Busy,
    Offline,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Busy => "busy",
            Self::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "online" => Self::Online,
            "busy" => Self::Busy,
            "offline" => Self::Offline,
            _ => return None,
        })
    }
}
