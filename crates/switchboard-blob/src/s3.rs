//! Blobs in an S3-compatible bucket, addressed path-style (`<endpoint>/<bucket>/<key>`, which
//! AWS, MinIO and R2 all accept), signed with SigV4.

use crate::sigv4::{authorization, sha256_hex, uri_encode, Credentials};
use async_trait::async_trait;
use std::time::Duration;
use switchboard_core::blob::{valid_key, BlobError, BlobStore};
use switchboard_core::Clock;

/// Where the bucket is and how to sign for it.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:9000`.
    pub endpoint: url::Url,
    pub bucket: String,
    pub credentials: Credentials,
}

#[derive(Debug, Clone)]
pub struct S3BlobStore {
    http: reqwest::Client,
    settings: S3Settings,
    clock: std::sync::Arc<dyn Clock>,
}

impl S3BlobStore {
    pub fn new(
        settings: S3Settings,
        timeout: Duration,
        clock: std::sync::Arc<dyn Clock>,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            settings,
            clock,
        })
    }

    fn amz_date(&self) -> String {
        let ms = self.clock.now_ms();
        let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    fn host(&self) -> String {
        let e = &self.settings.endpoint;
        match (e.host_str(), e.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => String::new(),
        }
    }

    /// Sends a signed request; `path` is `/<bucket>/<key>` unencoded, `query` sorted and encoded.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<reqwest::Response, BlobError> {
        let date = self.amz_date();
        let hash = sha256_hex(&body);
        let host = self.host();
        let mut headers = vec![
            ("host", host.as_str()),
            ("x-amz-content-sha256", hash.as_str()),
            ("x-amz-date", date.as_str()),
        ];
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        let auth = authorization(
            &self.settings.credentials,
            method.as_str(),
            path,
            query,
            &headers,
            &hash,
            &date,
        );
        let base = self.settings.endpoint.as_str().trim_end_matches('/');
        let mut url = format!("{base}{}", uri_encode(path, true));
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        let mut req = self
            .http
            .request(method, url)
            .header("authorization", auth)
            .header("x-amz-content-sha256", hash)
            .header("x-amz-date", date);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.body(body)
            .send()
            .await
            .map_err(|e| BlobError::Unavailable(format!("S3: {e}")))
    }

    fn object_path(&self, key: &str) -> Result<String, BlobError> {
        if !valid_key(key) {
            return Err(BlobError::InvalidKey(key.to_owned()));
        }
        Ok(format!("/{}/{key}", self.settings.bucket))
    }
}

fn failed(what: &str, status: reqwest::StatusCode) -> BlobError {
    BlobError::Unavailable(format!("S3 {what} answered {status}"))
}

/// The `<Key>` values of a ListObjectsV2 answer, and whether it was truncated.
fn listed_keys(xml: &str) -> (Vec<String>, bool) {
    let mut keys = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Key>") {
        let after = &rest[start + 5..];
        let Some(end) = after.find("</Key>") else {
            break;
        };
        keys.push(after[..end].to_owned());
        rest = &after[end + 6..];
    }
    (keys, xml.contains("<IsTruncated>true</IsTruncated>"))
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        let path = self.object_path(key)?;
        let res = self
            .send(reqwest::Method::PUT, &path, "", bytes, Some(content_type))
            .await?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(failed("PUT", res.status()))
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.object_path(key)?;
        let res = self
            .send(reqwest::Method::GET, &path, "", Vec::new(), None)
            .await?;
        match res.status().as_u16() {
            200 => Ok(Some(
                res.bytes()
                    .await
                    .map_err(|e| BlobError::Unavailable(format!("S3: {e}")))?
                    .to_vec(),
            )),
            404 => Ok(None),
            _ => Err(failed("GET", res.status())),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError> {
        if !valid_key(prefix.trim_end_matches('/')) {
            return Err(BlobError::InvalidKey(prefix.to_owned()));
        }
        let bucket_path = format!("/{}", self.settings.bucket);
        let mut deleted = 0;
        // Deleting shrinks the listing, so the first page is always the next one.
        for _ in 0..10_000 {
            let query = format!("list-type=2&prefix={}", uri_encode(prefix, false));
            let res = self
                .send(reqwest::Method::GET, &bucket_path, &query, Vec::new(), None)
                .await?;
            if !res.status().is_success() {
                return Err(failed("LIST", res.status()));
            }
            let xml = res
                .text()
                .await
                .map_err(|e| BlobError::Unavailable(format!("S3: {e}")))?;
            let (keys, truncated) = listed_keys(&xml);
            for key in keys
                .iter()
                .filter(|k| k.starts_with(prefix) && valid_key(k))
            {
                let res = self
                    .send(
                        reqwest::Method::DELETE,
                        &format!("{bucket_path}/{key}"),
                        "",
                        Vec::new(),
                        None,
                    )
                    .await?;
                if !res.status().is_success() && res.status().as_u16() != 404 {
                    return Err(failed("DELETE", res.status()));
                }
                deleted += 1;
            }
            if !truncated || keys.is_empty() {
                break;
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::listed_keys;

    #[test]
    fn reads_keys_from_a_listing() {
        let xml = "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>tenants/a/x</Key></Contents><Contents><Key>tenants/a/y</Key></Contents></ListBucketResult>";
        assert_eq!(
            listed_keys(xml),
            (
                vec!["tenants/a/x".to_owned(), "tenants/a/y".to_owned()],
                true
            )
        );
        assert_eq!(listed_keys("<ListBucketResult/>"), (vec![], false));
    }
}
