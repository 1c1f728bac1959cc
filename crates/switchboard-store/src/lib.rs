//! Storage for Switchboard.
//!
//! Everything a use case reads or writes goes through a transaction object obtained from [`Store`]:
//! [`TenantTx`] (tenant-owned data; needs a [`TenantCtx`], so an unscoped query cannot be written) or
//! [`ControlTx`] (the control plane: cells, partners, tenants, users, sessions, jobs). The SQL is
//! written once in [`sql`] over sqlx's `Any` driver; the backend crates supply connections,
//! migrations and the few dialect differences (see `docs/adr/0001-portable-sql-over-sqlx-any.md`).

pub mod audit_chain;
pub mod ctx;
pub mod error;
pub mod model;
pub mod schema;
pub mod sql;
mod traits;

pub use ctx::TenantCtx;
pub use error::StoreError;
pub use traits::{
    Access, AiTx, AuditWriter, AutomationTx, Backend, ControlTx, KnowledgeTx, Store, TenantTx,
    WebhookTx,
};
