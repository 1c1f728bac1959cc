//! Blob stores for attachment bytes, behind core's [`BlobStore`] trait: a local directory (the
//! embedded default) and any S3-compatible service (AWS S3, MinIO, Cloudflare R2, …).
//!
//! Both refuse any key that is not shaped like one core builds (ids and slashes only), so no
//! input can name a path outside the store.

pub mod local;
pub mod s3;
pub mod sigv4;

pub use local::LocalBlobStore;
pub use s3::{S3BlobStore, S3Settings};
pub use switchboard_core::blob::{BlobError, BlobStore};
