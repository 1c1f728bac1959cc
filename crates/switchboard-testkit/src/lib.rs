//! Test harness: boots the real Switchboard on a loopback port 0 against a fresh database
//! (SQLite in a temporary directory, or the PostgreSQL named by `SWITCHBOARD_TEST_POSTGRES`),
//! with a manual clock, and hands back a client plus a freshly provisioned tenant.
//!
//! It exists only for tests, and a harness reports failure by panicking.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod webdriver;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use switchboard::config::{Config, Overrides, Secret};
use switchboard_core::audit::RequestMeta;
use switchboard_core::tenants::NewTenant;
use switchboard_core::{Core, ManualClock};
use switchboard_store::model::User;
use switchboard_store::sql::SqlStore;
use switchboard_store::Access;
use switchboard_types::Plan;
use tokio_util::sync::CancellationToken;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The application role's URL for PostgreSQL tests, when configured.
pub fn postgres_url() -> Option<String> {
    std::env::var("SWITCHBOARD_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
}

/// The owner's URL (migrations); defaults to the app URL with the user `switchboard_owner`.
pub fn postgres_owner_url() -> Option<String> {
    std::env::var("SWITCHBOARD_TEST_POSTGRES_OWNER")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            let app = postgres_url()?;
            let mut u = url::Url::parse(&app).ok()?;
            u.set_username("switchboard_owner").ok()?;
            Some(u.to_string())
        })
}

/// The NATS server (with JetStream) for multi-node tests, when configured.
pub fn nats_url() -> Option<String> {
    std::env::var("SWITCHBOARD_TEST_NATS")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Every backend this run covers: SQLite always, PostgreSQL when configured.
pub fn dbs() -> Vec<Db> {
    let mut v = vec![Db::Sqlite];
    if postgres_url().is_some() {
        v.push(Db::Postgres);
    }
    v
}

/// A unique, valid slug for this test.
pub fn unique(prefix: &str) -> String {
    let r: String = switchboard_core::secrets::random_token()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect::<String>()
        .to_ascii_lowercase();
    format!("{prefix}-{r}")
}

/// A configuration for tests: cheap password hashing, generous rate limits, the given database.
pub fn test_config(db: Db, dir: &std::path::Path) -> Config {
    let mut cfg = Config::load(
        None,
        &Overrides {
            data_dir: Some(dir.to_owned()),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("config: {e}"));
    cfg.auth.argon2_memory_kib = 1024;
    cfg.auth.argon2_iterations = 1;
    cfg.rate_limit.per_principal_per_sec = 10_000.0;
    cfg.rate_limit.per_principal_burst = 10_000.0;
    cfg.rate_limit.per_ip_per_sec = 10_000.0;
    cfg.rate_limit.per_ip_burst = 10_000.0;
    cfg.server.shutdown_grace_secs = 2;
    cfg.telemetry.log = "warn".into();
    if db == Db::Postgres {
        cfg.database.url = Secret::new(postgres_url().unwrap_or_default());
        cfg.database.migrate_url = Secret::new(postgres_owner_url().unwrap_or_default());
        cfg.database.max_connections = 8;
        // Apps of concurrent tests share the database: each is its own region, so background
        // work that follows a region's tenants (the webhook dispatcher) stays with its own app.
        cfg.tenancy.default_region = unique("r");
    }
    cfg
}

/// Opens a fresh store for store-level tests.
pub async fn open_store(db: Db, dir: &std::path::Path) -> SqlStore {
    switchboard::open_store(&test_config(db, dir))
        .await
        .unwrap_or_else(|e| panic!("open store: {e:#}"))
}

/// A provisioned tenant seen from outside.
#[derive(Debug, Clone)]
pub struct TestTenant {
    pub id: String,
    pub slug: String,
    /// An admin-scoped API key.
    pub key: String,
    pub owner_email: String,
    pub owner_password: String,
}

/// The running application.
#[derive(Debug)]
pub struct TestApp {
    pub db: Db,
    pub base: String,
    pub http: reqwest::Client,
    pub core: Arc<Core>,
    pub clock: ManualClock,
    pub cfg: Config,
    pub shutdown: CancellationToken,
    pub dir: tempfile::TempDir,
    /// A bearer token of a platform administrator created for this test.
    pub platform_token: String,
}

/// What a request returned.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts a problem+json error with this status and code.
    #[track_caller]
    pub fn expect_problem(self, status: u16, code: &str) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "not a problem document: {}",
            self.text
        );
        assert_eq!(self.body["code"], code, "body: {}", self.text);
        self
    }
}

impl TestApp {
    /// Boots the app on `db` with default test settings.
    pub async fn spawn(db: Db) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    /// Boots the app after letting the test adjust its configuration.
    pub async fn spawn_with(db: Db, tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let mut cfg = test_config(db, dir.path());
        cfg.jobs.concurrency = 2;
        tweak(&mut cfg);
        let clock = ManualClock::new(switchboard_core::Clock::now_ms(
            &switchboard_core::SystemClock,
        ));
        let store = Arc::new(
            switchboard::open_store(&cfg)
                .await
                .unwrap_or_else(|e| panic!("open store: {e:#}")),
        );
        let core = switchboard::build_core(&cfg, store, Arc::new(clock.clone()))
            .await
            .unwrap_or_else(|e| panic!("core: {e:#}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let shutdown = CancellationToken::new();
        let running = switchboard::start(&cfg, core.clone(), listener, shutdown.clone())
            .await
            .unwrap_or_else(|e| panic!("start: {e:#}"));
        let base = format!("http://{}", running.addr);
        let http = reqwest::Client::new();
        let mut app = Self {
            db,
            base,
            http,
            core,
            clock,
            cfg,
            shutdown,
            dir,
            platform_token: String::new(),
        };
        let (email, password) = app.create_platform_admin().await;
        app.platform_token = app.sign_in(&email, &password).await;
        app
    }

    /// A new platform administrator (tests share PostgreSQL, so each makes its own).
    pub async fn create_platform_admin(&self) -> (String, String) {
        let email = format!("{}@platform.test", unique("admin"));
        let password = "platform-admin-password".to_owned();
        let cost = self.core.config().password_cost;
        let hash = switchboard_core::password::PasswordHasherArgon::new(cost)
            .and_then(|h| h.hash(&password))
            .unwrap_or_else(|e| panic!("{e}"));
        let now = self.clock_now();
        let mut tx = self
            .core
            .store()
            .control(Access::Write)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut admin = User::new(email.clone(), "Test platform admin".into(), Some(hash), now);
        admin.is_platform_admin = true;
        tx.insert_user(&admin)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
        (email, password)
    }

    pub fn clock_now(&self) -> i64 {
        use switchboard_core::Clock;
        self.clock.now_ms()
    }

    /// Signs in and returns an access token.
    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/v1/auth/token",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await
            .expect(200);
        r.body["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Provisions a tenant through the platform API.
    pub async fn tenant(&self) -> TestTenant {
        let slug = unique("t");
        let owner_email = format!("owner@{slug}.test");
        let owner_password = "correct horse battery staple".to_owned();
        let r = self
            .call(
                Method::POST,
                "/v1/tenants",
                Some(&self.platform_token),
                Some(json!({"slug": slug, "name": format!("Tenant {slug}"), "admin_email": owner_email, "admin_password": owner_password})),
            )
            .await
            .expect(201);
        TestTenant {
            id: r.body["tenant"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            slug,
            key: r.body["api_key"].as_str().unwrap_or_default().to_owned(),
            owner_email,
            owner_password,
        }
    }

    /// Provisions a tenant directly (no HTTP), for tests that need many.
    pub async fn tenant_direct(&self) -> TestTenant {
        let slug = unique("t");
        let owner_email = format!("owner@{slug}.test");
        let done = self
            .core
            .provision_tenant_as_system(
                NewTenant {
                    slug: slug.clone(),
                    name: slug.clone(),
                    plan: Plan::Starter,
                    region: None,
                    partner_id: None,
                    admin_email: owner_email.clone(),
                    admin_name: None,
                    admin_password: Some("correct horse battery staple".into()),
                },
                &RequestMeta::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("provision: {e}"));
        TestTenant {
            id: done.tenant.id.to_string(),
            slug,
            key: done.api_key,
            owner_email,
            owner_password: "correct horse battery staple".into(),
        }
    }

    /// Sends a JSON request with an optional bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    /// Sends a prepared request and decodes the reply.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    /// A request builder for custom headers and bodies.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Runs due background jobs until none is left (deterministic alternative to the worker).
    pub async fn drain_jobs(&self) {
        while self
            .core
            .run_one_job(switchboard_core::jobs::DEFAULT_QUEUE, "test-drain", 60_000)
            .await
            .unwrap_or_else(|e| panic!("job: {e}"))
        {}
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
    }
}

/// A WebSocket client for the real-time endpoints.
#[derive(Debug)]
pub struct WsClient {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// How long a test waits for a frame it expects before failing.
pub const FRAME_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl WsClient {
    /// The next JSON text frame, failing the test after [`FRAME_WAIT`].
    pub async fn next_json(&mut self) -> Value {
        match self.next_within(FRAME_WAIT).await {
            Some(v) => v,
            None => panic!("no frame within {FRAME_WAIT:?}"),
        }
    }

    /// The next JSON text frame within `wait`; `None` when nothing came (or the socket closed).
    pub async fn next_within(&mut self, wait: std::time::Duration) -> Option<Value> {
        use futures::StreamExt;
        loop {
            let msg = tokio::time::timeout(wait, self.stream.next())
                .await
                .ok()??;
            match msg {
                Ok(tokio_tungstenite::tungstenite::Message::Text(t)) => {
                    return Some(
                        serde_json::from_str(t.as_str())
                            .unwrap_or_else(|e| panic!("frame is not JSON ({e}): {t}")),
                    )
                }
                Ok(tokio_tungstenite::tungstenite::Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next frame of `kind` (its `type`), skipping others.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let v = self.next_json().await;
            if v["type"] == kind {
                return v;
            }
        }
    }

    /// Sends a JSON text frame.
    pub async fn send_json(&mut self, v: &Value) {
        self.send_text(&v.to_string()).await;
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: &str) {
        use futures::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
            .await
            .unwrap_or_else(|e| panic!("ws send: {e}"));
    }

    /// True once the server has closed the socket (waiting up to [`FRAME_WAIT`]).
    pub async fn closed(&mut self) -> bool {
        use futures::StreamExt;
        loop {
            match tokio::time::timeout(FRAME_WAIT, self.stream.next()).await {
                Err(_) => return false,
                Ok(None | Some(Err(_))) => return true,
                Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

impl TestApp {
    /// Opens a WebSocket at `path_and_query` with a bearer token and extra headers; the HTTP
    /// status and body instead when the server refuses the upgrade.
    pub async fn ws(
        &self,
        path_and_query: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<WsClient, (u16, Value)> {
        ws_connect(&self.base, path_and_query, token, headers).await
    }
}

/// Opens a WebSocket on the server at `base` (`http://host:port`), as [`TestApp::ws`] does.
pub async fn ws_connect(
    base: &str,
    path_and_query: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<WsClient, (u16, Value)> {
    {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}{path_and_query}", base.replacen("http", "ws", 1));
        let mut req = url
            .into_client_request()
            .unwrap_or_else(|e| panic!("ws request: {e}"));
        if let Some(t) = token {
            req.headers_mut().insert(
                "authorization",
                format!("Bearer {t}")
                    .parse()
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        }
        for (k, v) in headers {
            req.headers_mut().insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes())
                    .unwrap_or_else(|e| panic!("{e}")),
                v.parse().unwrap_or_else(|e| panic!("{e}")),
            );
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((stream, _)) => Ok(WsClient { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                let status = res.status().as_u16();
                let body = res
                    .body()
                    .as_ref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Err((status, body))
            }
            Err(e) => panic!("ws connect: {e}"),
        }
    }
}

/// One request a [`HttpReceiver`] got.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as form fields.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

/// A local HTTP server standing in for a provider's API: records every request and answers with
/// the status and JSON body the test sets.
#[derive(Debug, Clone)]
pub struct HttpReceiver {
    pub url: String,
    pub requests: Arc<std::sync::Mutex<Vec<Captured>>>,
    reply: Arc<std::sync::Mutex<(u16, String)>>,
}

impl HttpReceiver {
    pub async fn start(status: u16, body: &str) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let reply = Arc::new(std::sync::Mutex::new((status, body.to_owned())));
        let (r, p) = (requests.clone(), reply.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (r, p) = (r.clone(), p.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    // Read the head, then exactly Content-Length bytes of body.
                    let (head_end, length) = loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..i]).to_string();
                            let len = head
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            break (i + 4, len);
                        }
                    };
                    while buf.len() < head_end + length {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let mut lines = head.lines();
                    let mut first = lines.next().unwrap_or_default().split(' ');
                    let method = first.next().unwrap_or_default().to_owned();
                    let path = first.next().unwrap_or_default().to_owned();
                    let headers = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                        .collect();
                    r.lock().unwrap().push(Captured {
                        method,
                        path,
                        headers,
                        body: buf[head_end..].to_vec(),
                    });
                    let (status, body) = p.lock().unwrap().clone();
                    let res = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(res.as_bytes()).await;
                });
            }
        });
        Self {
            url,
            requests,
            reply,
        }
    }

    /// Changes what the next requests get.
    pub fn answer(&self, status: u16, body: &str) {
        *self.reply.lock().unwrap() = (status, body.to_owned());
    }

    pub fn taken(&self) -> Vec<Captured> {
        self.requests.lock().unwrap().clone()
    }
}

/// A local SMTP server that accepts every message and keeps its raw text, for end-to-end email
/// tests. Speaks just enough ESMTP for a client without TLS or authentication.
#[derive(Debug, Clone)]
pub struct SmtpSink {
    pub port: u16,
    pub messages: Arc<std::sync::Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(std::sync::Mutex::new(Vec::new()));
        let m = messages.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let m = m.clone();
                tokio::spawn(async move {
                    let (read, mut write) = sock.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") {
                            b"250-sink\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("HELO")
                            || upper.starts_with("MAIL")
                            || upper.starts_with("RCPT")
                            || upper.starts_with("RSET")
                            || upper.starts_with("NOOP")
                        {
                            b"250 OK\r\n"
                        } else if upper.starts_with("DATA") {
                            let _ = write.write_all(b"354 go ahead\r\n").await;
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(l.strip_prefix('.').unwrap_or(&l));
                                data.push_str("\r\n");
                            }
                            m.lock().unwrap().push(data);
                            b"250 queued\r\n"
                        } else if upper.starts_with("QUIT") {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        } else {
                            b"502 not implemented\r\n"
                        };
                        let _ = write.write_all(reply).await;
                    }
                });
            }
        });
        Self { port, messages }
    }

    pub fn received(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}
