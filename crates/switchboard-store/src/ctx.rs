//! The tenant context: the one value that lets code touch tenant-owned data.

use switchboard_types::{Actor, TenantId};

/// Which tenant a unit of work runs for, who is acting, and the region it must be served from.
///
/// Every tenant-scoped store call takes one. It is created by the authentication layer after
/// credentials were checked (and by system jobs acting for a tenant); `clippy.toml` forbids calling
/// [`TenantCtx::assume`] anywhere else, so a handler cannot invent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantCtx {
    tenant: TenantId,
    actor: Actor,
    region: String,
}

impl TenantCtx {
    /// Creates a context. Only the auth layer and system jobs may call this (enforced by clippy's
    /// `disallowed-methods`; sanctioned call sites carry an `#[allow]` with the reason).
    pub fn assume(tenant: TenantId, actor: Actor, region: impl Into<String>) -> Self {
        Self {
            tenant,
            actor,
            region: region.into(),
        }
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The same tenant, acted on by someone else (e.g. once an API key has been verified).
    pub fn with_actor(&self, actor: Actor) -> Self {
        Self {
            tenant: self.tenant.clone(),
            actor,
            region: self.region.clone(),
        }
    }
}
