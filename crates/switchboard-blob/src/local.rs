//! Blobs as files under one directory: `<root>/<key>`, written to a temporary file and renamed,
//! so a reader never sees half a file.

use async_trait::async_trait;
use std::path::{Path, PathBuf};
use switchboard_core::blob::{valid_key, BlobError, BlobStore};

#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        if !valid_key(key) {
            return Err(BlobError::InvalidKey(key.to_owned()));
        }
        Ok(self.root.join(key))
    }
}

fn io(e: std::io::Error) -> BlobError {
    BlobError::Unavailable(e.to_string())
}

async fn count_files(dir: &Path) -> u64 {
    let mut n = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(mut entries) = tokio::fs::read_dir(&d).await else {
            continue;
        };
        while let Ok(Some(e)) = entries.next_entry().await {
            match e.file_type().await {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) => n += 1,
                Err(_) => {}
            }
        }
    }
    n
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> Result<(), BlobError> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        let tmp = path.with_extension(format!(
            "tmp-{}",
            hex::encode(switchboard_core::secrets::random_bytes::<8>())
        ));
        tokio::fs::write(&tmp, &bytes).await.map_err(io)?;
        tokio::fs::rename(&tmp, &path).await.map_err(io)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        match tokio::fs::read(self.path(key)?).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError> {
        let dir = self.path(prefix.trim_end_matches('/'))?;
        // Our keys are paths: a prefix is a directory of blobs, or one blob's whole key.
        if tokio::fs::metadata(&dir).await.is_ok_and(|m| m.is_file()) {
            tokio::fs::remove_file(&dir).await.map_err(io)?;
            return Ok(1);
        }
        let n = count_files(&dir).await;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_whole_key_deletes_that_blob_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::new(dir.path());
        for key in ["tenants/ten_a/models/imod_1", "tenants/ten_a/models/imod_2"] {
            store
                .put(key, b"m".to_vec(), "application/octet-stream")
                .await
                .unwrap();
        }
        assert_eq!(
            store
                .delete_prefix("tenants/ten_a/models/imod_1")
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store.get("tenants/ten_a/models/imod_1").await.unwrap(),
            None
        );
        assert!(store
            .get("tenants/ten_a/models/imod_2")
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test]
    async fn stores_reads_and_deletes_by_prefix_and_refuses_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::new(dir.path());
        store
            .put(
                "tenants/ten_a/attachments/att_1",
                b"one".to_vec(),
                "text/plain",
            )
            .await
            .unwrap();
        store
            .put(
                "tenants/ten_a/attachments/att_2",
                b"two".to_vec(),
                "text/plain",
            )
            .await
            .unwrap();
        store
            .put(
                "tenants/ten_b/attachments/att_3",
                b"three".to_vec(),
                "text/plain",
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .get("tenants/ten_a/attachments/att_1")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(
            store.get("tenants/ten_a/attachments/att_9").await.unwrap(),
            None
        );
        assert_eq!(store.delete_prefix("tenants/ten_a/").await.unwrap(), 2);
        assert_eq!(
            store.get("tenants/ten_a/attachments/att_2").await.unwrap(),
            None
        );
        assert_eq!(
            store
                .get("tenants/ten_b/attachments/att_3")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"three"[..])
        );
        for bad in [
            "../../etc/passwd",
            "/etc/passwd",
            "tenants/../../x",
            "Tenants/X",
        ] {
            assert!(
                matches!(store.get(bad).await, Err(BlobError::InvalidKey(_))),
                "{bad}"
            );
            assert!(store.put(bad, b"x".to_vec(), "text/plain").await.is_err());
        }
        assert!(!dir.path().parent().unwrap().join("etc").exists());
    }
}
