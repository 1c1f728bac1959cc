//! Where attachment bytes live: a key-value blob store behind a trait (a local directory by
//! default, any S3-compatible service in scale-out), so core never touches a filesystem path.
//!
//! Keys are built here from ids only (`tenants/<tenant id>/attachments/<attachment id>`): no part
//! of a file name or any other input ever becomes part of a key, and each tenant's blobs share a
//! prefix that a purge deletes.

use async_trait::async_trait;
use switchboard_types::{AttachmentId, TenantId};

/// Why a blob operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// The backend could not be reached or failed; worth retrying.
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
    /// A key that is not one of ours (a bug, never user input).
    #[error("invalid blob key: {0}")]
    InvalidKey(String),
}

/// Stores bytes under keys.
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), BlobError>;
    /// `None` when nothing is stored under `key`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError>;
    /// Deletes every blob whose key starts with `prefix`; how many went.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError>;
}

/// The key of an attachment's bytes.
pub fn attachment_key(tenant: &TenantId, id: &AttachmentId) -> String {
    format!("{}attachments/{id}", tenant_prefix(tenant))
}

/// The prefix of every blob of a tenant.
pub fn tenant_prefix(tenant: &TenantId) -> String {
    format!("tenants/{tenant}/")
}

/// Whether `key` has the shape of a key built here: lower-case ids and slashes, no `..`, no
/// leading slash. Backends check it again before touching storage.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 256
        && !key.starts_with('/')
        && !key.contains("..")
        && !key.contains("//")
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'/')
}

/// The store of a core built without one: every operation fails visibly.
#[derive(Debug, Default)]
pub struct NoBlobs;

#[async_trait]
impl BlobStore for NoBlobs {
    async fn put(&self, _: &str, _: Vec<u8>, _: &str) -> Result<(), BlobError> {
        Err(BlobError::Unavailable("no blob store is configured".into()))
    }
    async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, BlobError> {
        Err(BlobError::Unavailable("no blob store is configured".into()))
    }
    async fn delete_prefix(&self, _: &str) -> Result<u64, BlobError> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_of_ids_and_stay_inside_the_tenant_prefix() {
        let t = TenantId::generate();
        let a = AttachmentId::generate();
        let key = attachment_key(&t, &a);
        assert_eq!(key, format!("tenants/{t}/attachments/{a}"));
        assert!(key.starts_with(&tenant_prefix(&t)));
        assert!(valid_key(&key));
        for bad in [
            "",
            "/etc/passwd",
            "tenants/../x",
            "tenants//x",
            "Tenants/X",
            "a b",
            "tenants/ten_1/../../x",
        ] {
            assert!(!valid_key(bad), "{bad}");
        }
    }
}
