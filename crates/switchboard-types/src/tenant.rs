//! Tenant lifecycle status and commercial plans.

use serde::{Deserialize, Serialize};

/// Where a tenant is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    /// Every request answers 403 `tenant_suspended`; data is kept.
    Suspended,
    /// Deletion requested; a background job purges every row. Terminal.
    Deleted,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "suspended" => Self::Suspended,
            "deleted" => Self::Deleted,
            _ => return None,
        })
    }
}

/// The commercial plan; limits per plan arrive with billing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Starter,
    Professional,
    Enterprise,
    WhiteLabel,
    EnterprisePlus,
}

impl Plan {
    pub const ALL: [Plan; 5] = [
        Self::Starter,
        Self::Professional,
        Self::Enterprise,
        Self::WhiteLabel,
        Self::EnterprisePlus,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starter => "starter",
            Self::Professional => "professional",
            Self::Enterprise => "enterprise",
            Self::WhiteLabel => "white_label",
            Self::EnterprisePlus => "enterprise_plus",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Messages included per month before overage.
    pub fn included_messages(self) -> Option<u64> {
        match self {
            Self::Starter => Some(10_000),
            Self::Professional => Some(50_000),
            Self::Enterprise => Some(250_000),
            Self::WhiteLabel | Self::EnterprisePlus => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_and_statuses_round_trip() {
        for p in Plan::ALL {
            assert_eq!(Plan::parse(p.as_str()), Some(p));
        }
        for s in [
            TenantStatus::Active,
            TenantStatus::Suspended,
            TenantStatus::Deleted,
        ] {
            assert_eq!(TenantStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(Plan::parse("free"), None);
    }
}
