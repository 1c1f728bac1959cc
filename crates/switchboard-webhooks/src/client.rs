//! The HTTP client deliveries go through. It resolves names itself, refuses the whole answer if
//! any address is not allowed, and hands only the vetted addresses to the connector, so the
//! address checked is the address connected to (no second lookup an attacker's DNS could answer
//! differently). It follows no redirects, uses no proxy, gives up after the timeout and reads at
//! most a few kilobytes of any response, so a receiver that hangs or streams gigabytes costs one
//! connection for a bounded time.

use crate::ssrf::{AddressPolicy, Blocked};
use bytes::Bytes;
use futures::StreamExt as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Looks up the addresses of a host name.
#[async_trait::async_trait]
pub trait Lookup: Send + Sync + std::fmt::Debug {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The system's DNS configuration (`/etc/resolv.conf`, `/etc/hosts`) through hickory.
#[derive(Debug)]
pub struct SystemLookup {
    resolver: hickory_resolver::TokioResolver,
}

impl SystemLookup {
    pub fn new() -> std::io::Result<Self> {
        let resolver = hickory_resolver::TokioResolver::builder_tokio()
            .map_err(std::io::Error::other)?
            .build();
        Ok(Self { resolver })
    }
}

#[async_trait::async_trait]
impl Lookup for SystemLookup {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        let answer = self
            .resolver
            .lookup_ip(host)
            .await
            .map_err(std::io::Error::other)?;
        Ok(answer.iter().collect())
    }
}

/// The operating system's resolver (`getaddrinfo`), for machines without a readable
/// `/etc/resolv.conf`.
#[derive(Debug, Default)]
pub struct OsLookup;

#[async_trait::async_trait]
impl Lookup for OsLookup {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        let addrs = tokio::net::lookup_host((host, 0)).await?;
        Ok(addrs.map(|a| a.ip()).collect())
    }
}

/// The best resolver this machine offers: hickory over the system configuration, else the
/// operating system's.
pub fn default_lookup() -> Arc<dyn Lookup> {
    match SystemLookup::new() {
        Ok(l) => Arc::new(l),
        Err(e) => {
            tracing::warn!(error = %e, "no DNS configuration for hickory; using the system resolver");
            Arc::new(OsLookup)
        }
    }
}

/// A delivery was refused before connecting because the host resolves to a blocked address.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {reason}, which webhooks may not call")]
pub struct BlockedAddress {
    pub host: String,
    pub ip: IpAddr,
    pub reason: Blocked,
}

#[derive(Debug)]
struct VettingResolver {
    lookup: Arc<dyn Lookup>,
    policy: Arc<AddressPolicy>,
}

impl reqwest::dns::Resolve for VettingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = self.lookup.clone();
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let ips = lookup.lookup(&host).await?;
            if ips.is_empty() {
                return Err(std::io::Error::other(format!("{host} has no address")).into());
            }
            for &ip in &ips {
                if let Err(reason) = policy.check(ip) {
                    return Err(Box::new(BlockedAddress { host, ip, reason }) as _);
                }
            }
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// A client builder held to `policy`: every host name is resolved once through `lookup`, vetted,
/// and connected to at the vetted address; no redirects are followed and no proxy is used. For
/// any outbound call to an address a tenant chose (webhooks, a tenant's language model). Address
/// literals in URLs never reach the resolver: callers check them with
/// [`AddressPolicy::check`].
pub fn vetted_builder(
    policy: Arc<AddressPolicy>,
    lookup: Arc<dyn Lookup>,
) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(VettingResolver { lookup, policy }))
}

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The whole attempt (connect, send, response head and the part of the body we read).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Bytes of a response body kept for the attempt log; the rest is never read.
    pub max_response_bytes: usize,
    pub user_agent: String,
    pub policy: AddressPolicy,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            max_response_bytes: 20 * 1024,
            user_agent: concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION")).to_owned(),
            policy: AddressPolicy::default(),
        }
    }
}

/// One signed request to send.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub url: &'a url::Url,
    pub msg_id: &'a str,
    /// Unix seconds, as signed; also the reference for a `Retry-After` date.
    pub timestamp: i64,
    pub signature: &'a str,
    pub body: Bytes,
    /// The endpoint's own headers; ours are set after them and win.
    pub headers: &'a [(String, String)],
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The response status, or `None` when none arrived.
    pub status: Option<u16>,
    pub duration_ms: i64,
    /// The start of the response body (at most `max_response_bytes`, lossily UTF-8).
    pub response_body: String,
    /// Why no usable response arrived (timeout, refused connection, blocked address, …).
    pub error: Option<String>,
    /// `Retry-After`, read into milliseconds from now.
    pub retry_after_ms: Option<i64>,
}

/// Sends deliveries. Cheap to clone; clones share connections.
#[derive(Debug, Clone)]
pub struct Deliverer {
    http: reqwest::Client,
    policy: Arc<AddressPolicy>,
    max_response_bytes: usize,
}

/// The client could not be built (a TLS backend problem).
#[derive(Debug, thiserror::Error)]
#[error("building the webhook HTTP client failed: {0}")]
pub struct BuildError(String);

impl From<String> for BuildError {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl Deliverer {
    pub fn new(config: ClientConfig, lookup: Arc<dyn Lookup>) -> Result<Self, BuildError> {
        let policy = Arc::new(config.policy);
        let http = vetted_builder(policy.clone(), lookup)
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(config.user_agent)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| BuildError(e.to_string()))?;
        Ok(Self {
            http,
            policy,
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// The address policy deliveries are held to.
    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// Sends one request and reports what happened; never fails, so every attempt is logged.
    pub async fn send(&self, out: Outgoing<'_>) -> Outcome {
        let started = Instant::now();
        let elapsed = || i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let failed = |error: String| Outcome {
            status: None,
            duration_ms: elapsed(),
            response_body: String::new(),
            error: Some(error),
            retry_after_ms: None,
        };
        // Address literals never reach the resolver, so they are vetted here.
        let literal = match out.url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal {
            if let Err(reason) = self.policy.check(ip) {
                return failed(format!("{ip} is {reason}, which webhooks may not call"));
            }
        }
        let headers = match headers(&out) {
            Ok(h) => h,
            Err(e) => return failed(e),
        };
        let req = self
            .http
            .post(out.url.clone())
            .headers(headers)
            .body(out.body);
        let response = match req.send().await {
            Ok(r) => r,
            Err(e) => return failed(describe(&e)),
        };
        let status = response.status().as_u16();
        let retry_after_ms = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                crate::schedule::parse_retry_after(v, out.timestamp.saturating_mul(1000))
            });
        let (response_body, error) = self.read_start(response).await;
        Outcome {
            status: Some(status),
            duration_ms: elapsed(),
            response_body,
            error,
            retry_after_ms,
        }
    }

    /// Reads at most `max_response_bytes` of the body and drops the rest unread.
    async fn read_start(&self, response: reqwest::Response) -> (String, Option<String>) {
        let mut kept = Vec::new();
        let mut stream = response.bytes_stream();
        let mut error = None;
        while kept.len() < self.max_response_bytes {
            match stream.next().await {
                Some(Ok(chunk)) => {
                    let room = self.max_response_bytes - kept.len();
                    kept.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or(&[]));
                }
                Some(Err(e)) => {
                    error = Some(describe(&e));
                    break;
                }
                None => break,
            }
        }
        (storable(String::from_utf8_lossy(&kept).into_owned()), error)
    }
}

/// The request's headers: the endpoint's own, then ours, which replace any of the same name.
fn headers(out: &Outgoing<'_>) -> Result<http::HeaderMap, String> {
    use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
    let mut map = http::HeaderMap::new();
    for (name, value) in out.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a valid header name"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("the value of `{name}` is not a valid header value"))?;
        map.append(name, value);
    }
    let ours = [
        (CONTENT_TYPE, "application/json".to_owned()),
        (HeaderName::from_static("webhook-id"), out.msg_id.to_owned()),
        (
            HeaderName::from_static("webhook-timestamp"),
            out.timestamp.to_string(),
        ),
        (
            HeaderName::from_static("webhook-signature"),
            out.signature.to_owned(),
        ),
    ];
    for (name, value) in ours {
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("the value of `{name}` is not a valid header value"))?;
        map.insert(name, value);
    }
    Ok(map)
}

/// Text a database column can hold: NUL (refused by PostgreSQL) becomes U+FFFD.
fn storable(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

/// A reqwest error as one line for the attempt log, naming a blocked address when that was it.
fn describe(e: &reqwest::Error) -> String {
    storable(describe_raw(e))
}

fn describe_raw(e: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(blocked) = err.downcast_ref::<BlockedAddress>() {
            return blocked.to_string();
        }
        source = err.source();
    }
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    if e.is_connect() {
        return format!("could not connect: {}", root_cause(e));
    }
    root_cause(e)
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}
