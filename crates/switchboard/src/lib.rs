//! Wiring: configuration → store → core → HTTP server and workers, with graceful shutdown.
//! `main.rs` is only the command line on top of this, so tests and benchmarks boot the very same
//! application on port 0.

pub mod bench;
pub mod config;
pub mod demo;
pub mod kb_cli;
pub mod model_cli;
pub mod nats;
pub mod telemetry;

use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use switchboard_api::AppState;
use switchboard_core::jobs::{run_sweeper, run_worker, WorkerConfig};
use switchboard_core::ratelimit::InMemoryRateLimiter;
use switchboard_core::{Clock, Core};
use switchboard_store::sql::SqlStore;
use switchboard_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, Overrides};

/// How often expired sessions and idempotency records are deleted.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Email of the platform administrator created on first start.
pub const PLATFORM_ADMIN_EMAIL: &str = "admin@switchboard.local";

/// The server secret: `server.secret` when configured (every process of a multi-node
/// installation must share it), else a random one kept in `<data_dir>/secret.key` (created on
/// first start, readable by the owner only).
pub fn server_secret(cfg: &Config) -> anyhow::Result<Vec<u8>> {
    if !cfg.server.secret.is_empty() {
        return Ok(cfg.server.secret.expose().as_bytes().to_vec());
    }
    let path = cfg.server.data_dir.join("secret.key");
    match std::fs::read_to_string(&path) {
        Ok(hex_key) => {
            hex::decode(hex_key.trim()).with_context(|| format!("{} is not hex", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&cfg.server.data_dir)?;
            let key = switchboard_core::secrets::random_bytes::<32>();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            std::io::Write::write_all(&mut file, hex::encode(key).as_bytes())?;
            Ok(key.to_vec())
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// A purpose-bound key derived from the server secret.
pub fn derive_key(secret: &[u8], purpose: &str) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(purpose.as_bytes());
    h.update([0]);
    h.update(secret);
    h.finalize().into()
}

/// Opens (and migrates) the configured database.
pub async fn open_store(cfg: &Config) -> anyhow::Result<SqlStore> {
    let url = cfg.database.url.expose();
    if url.is_empty() {
        std::fs::create_dir_all(&cfg.server.data_dir).with_context(|| {
            format!("creating data directory {}", cfg.server.data_dir.display())
        })?;
        let mut settings = switchboard_store_sqlite::SqliteSettings::new(
            switchboard_store_sqlite::database_path(&cfg.server.data_dir),
        );
        settings.readers = cfg.database.sqlite_readers;
        Ok(switchboard_store_sqlite::open(&settings).await?)
    } else {
        let mut settings = switchboard_store_postgres::PgSettings::new(url);
        let migrate = cfg.database.migrate_url.expose();
        settings.migrate_url = (!migrate.is_empty()).then(|| migrate.to_owned());
        settings.max_connections = cfg.database.max_connections;
        Ok(switchboard_store_postgres::open(&settings).await?)
    }
}

/// Applies migrations only (`switchboard migrate`); on PostgreSQL this runs as the owner and
/// grants the application role, without the application-role check `serve` makes.
pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    let url = cfg.database.url.expose();
    if url.is_empty() {
        std::fs::create_dir_all(&cfg.server.data_dir)?;
        let settings = switchboard_store_sqlite::SqliteSettings::new(
            switchboard_store_sqlite::database_path(&cfg.server.data_dir),
        );
        switchboard_store_sqlite::migrate(&settings).await?;
    } else {
        let mut settings = switchboard_store_postgres::PgSettings::new(url);
        let migrate = cfg.database.migrate_url.expose();
        settings.migrate_url = (!migrate.is_empty()).then(|| migrate.to_owned());
        switchboard_store_postgres::migrate(&settings).await?;
    }
    Ok(())
}

/// The use-case layer over an open store.
pub async fn build_core(
    cfg: &Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Arc<Core>> {
    let limiter = Arc::new(InMemoryRateLimiter::new(clock.clone()));
    let mut core_cfg = cfg.core();
    let secret = server_secret(cfg)?;
    core_cfg.widget_key = derive_key(&secret, "switchboard/widget-identity/v1");
    core_cfg.channel_key = derive_key(&secret, "switchboard/channel-secrets/v1");
    core_cfg.pii_hash_key = derive_key(&secret, "switchboard/pii-hash/v1");
    let blobs = blob_store(cfg, clock.clone())?;
    let core = Arc::new(
        Core::new(store, clock, limiter, core_cfg)?
            .with_channel_sender(Arc::new(channels(cfg)?))
            .with_blob_store(blobs)
            .with_chat_model(Arc::new(chat_model(cfg)?)),
    );
    core.ensure_local_cell().await?;
    Ok(core)
}

/// The chat-completions client tenants' generative models are called through.
pub fn chat_model(cfg: &Config) -> anyhow::Result<switchboard_channels::openai::OpenAiChat> {
    let allow = cfg
        .ai
        .allow_private
        .iter()
        .filter_map(|r| r.parse().ok())
        .collect();
    Ok(switchboard_channels::openai::OpenAiChat::new(
        switchboard_webhooks::AddressPolicy::with_allow_list(allow),
        switchboard_webhooks::default_lookup(),
    )?)
}

/// The blob store this configuration asks for.
pub fn blob_store(
    cfg: &Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Arc<dyn switchboard_core::blob::BlobStore>> {
    let b = &cfg.blob;
    Ok(match b.backend.as_str() {
        "s3" => Arc::new(switchboard_blob::S3BlobStore::new(
            switchboard_blob::S3Settings {
                endpoint: url::Url::parse(&b.s3_endpoint).context("blob.s3_endpoint")?,
                bucket: b.s3_bucket.clone(),
                credentials: switchboard_blob::sigv4::Credentials {
                    access_key: b.s3_access_key.clone(),
                    secret_key: b.s3_secret_key.expose().to_owned(),
                    region: b.s3_region.clone(),
                },
            },
            std::time::Duration::from_secs(cfg.channels.timeout_secs),
            clock,
        )?),
        _ => {
            let dir = if b.local_dir.is_empty() {
                cfg.server.data_dir.join("blobs")
            } else {
                std::path::PathBuf::from(&b.local_dir)
            };
            Arc::new(switchboard_blob::LocalBlobStore::new(dir))
        }
    })
}

/// The channel adapters this configuration asks for.
pub fn channels(cfg: &Config) -> anyhow::Result<switchboard_channels::Channels> {
    let timeout = std::time::Duration::from_secs(cfg.channels.timeout_secs);
    let base = url::Url::parse(&cfg.channels.twilio_api_base)?;
    let smtp = cfg.channels.smtp_url.expose();
    Ok(switchboard_channels::Channels {
        sms: switchboard_channels::twilio::TwilioSender::new(base, timeout)?,
        email: if smtp.is_empty() {
            None
        } else {
            Some(
                switchboard_channels::smtp::SmtpSender::from_url(smtp, timeout)
                    .context("channels.smtp_url")?,
            )
        },
        notices_from: if cfg.channels.mail_from.is_empty() {
            None
        } else {
            Some(
                cfg.channels
                    .mail_from
                    .parse()
                    .context("channels.mail_from")?,
            )
        },
    })
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub core: Arc<Core>,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Serves the API (and, unless disabled, the job worker) on `listener` until `shutdown` fires,
/// then drains in-flight requests and jobs.
pub async fn start(
    cfg: &Config,
    core: Arc<Core>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    let mut api_cfg = cfg.api();
    if cfg.server.public_url.is_empty() {
        // Without a configured public URL, links and the console's origin use the address
        // actually bound (the configured one may name port 0).
        let url = format!("http://{addr}");
        api_cfg.public_origin = Some(url.clone());
        api_cfg.public_url = url;
    }
    api_cfg.fingerprint_key = derive_key(
        &server_secret(cfg)?,
        "switchboard/idempotency-fingerprint/v1",
    );
    let hub = switchboard_api::realtime::Hub::new(
        core.clone(),
        std::time::Duration::from_millis(cfg.realtime.poll_interval_ms),
        std::time::Duration::from_secs(cfg.realtime.reauthorize_secs),
        shutdown.clone(),
    );
    let hub_task = tokio::spawn(hub.clone().run());
    let state = AppState {
        core: core.clone(),
        cfg: Arc::new(api_cfg),
        metrics: Arc::default(),
        hub,
    };
    let pages = switchboard_console::router(&state);
    let app =
        switchboard_api::app_with(state, pages).into_make_service_with_connect_info::<SocketAddr>();
    let worker = (cfg.jobs.concurrency > 0).then(|| {
        let wcfg = WorkerConfig {
            concurrency: cfg.jobs.concurrency,
            lease_ms: cfg.jobs.lease_secs * 1000,
            ..Default::default()
        };
        tokio::spawn(run_worker(core.clone(), wcfg, shutdown.clone()))
    });
    // Operational events for the operator have their own queue, worked only where the
    // platform endpoint is configured.
    let platform_worker =
        (cfg.jobs.concurrency > 0 && !cfg.webhooks.platform_url.is_empty()).then(|| {
            let wcfg = WorkerConfig {
                queue: switchboard_core::jobs::PLATFORM_QUEUE.to_owned(),
                concurrency: 1,
                lease_ms: cfg.jobs.lease_secs * 1000,
                ..Default::default()
            };
            tokio::spawn(run_worker(core.clone(), wcfg, shutdown.clone()))
        });
    let sweeper = (cfg.jobs.concurrency > 0)
        .then(|| tokio::spawn(run_sweeper(core.clone(), SWEEP_EVERY, shutdown.clone())));
    let dispatcher = cfg
        .webhooks
        .dispatch
        .then(|| spawn_dispatcher(&core, &shutdown));
    let automation = cfg
        .automation
        .run
        .then(|| spawn_automation(&core, &shutdown));
    let nats = start_nats(cfg, &core, &shutdown).await?;
    let stop = shutdown.clone();
    let grace = std::time::Duration::from_secs(cfg.server.shutdown_grace_secs);
    let store = core.store().clone();
    let task = tokio::spawn(async move {
        let server =
            axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned());
        let serving = tokio::spawn(async move { server.await });
        stop.cancelled().await;
        match tokio::time::timeout(grace, serving).await {
            Ok(result) => result??,
            Err(_) => tracing::warn!("in-flight requests did not finish within the grace period"),
        }
        if let Some(w) = worker {
            w.await?;
        }
        if let Some(s) = sweeper {
            s.await?;
        }
        if let Some(p) = platform_worker {
            p.await?;
        }
        if let Some(d) = dispatcher {
            d.await?;
        }
        if let Some(a) = automation {
            a.await?;
        }
        if let Some(n) = nats {
            n.await?;
        }
        hub_task.await?;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    });
    tracing::info!(%addr, "listening");
    Ok(Running {
        addr,
        core,
        shutdown,
        task,
    })
}

/// Starts the NATS JetStream bridge when `events.nats.url` is set.
pub async fn start_nats(
    cfg: &Config,
    core: &Arc<Core>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let n = &cfg.events.nats;
    if n.url.is_empty() {
        return Ok(None);
    }
    let opts = nats::NatsOptions {
        url: n.url.clone(),
        stream: n.stream.clone(),
        subject_prefix: n.subject_prefix.clone(),
        poll_ms: n.poll_ms,
        lease_ms: cfg.webhooks.lease_ms,
        max_age: std::time::Duration::from_secs(n.max_age_hours * 3600),
    };
    Ok(Some(
        nats::start(core.clone(), opts, shutdown.clone()).await?,
    ))
}

/// Starts the webhook dispatcher under a name unique to this process (its cursor leases).
pub fn spawn_dispatcher(
    core: &Arc<Core>,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let owner = format!(
        "dispatcher-{}",
        switchboard_core::secrets::unique_id()
            .get(..12)
            .unwrap_or("0")
    );
    tokio::spawn(switchboard_core::webhook_dispatch::run_dispatcher(
        core.clone(),
        owner,
        shutdown.clone(),
    ))
}

/// Starts the automation engine and the AI answers beside it, under a name unique to this
/// process (their cursor leases).
pub fn spawn_automation(
    core: &Arc<Core>,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let owner = format!(
        "automation-{}",
        switchboard_core::secrets::unique_id()
            .get(..12)
            .unwrap_or("0")
    );
    let rules = switchboard_core::automation::run_automation_engine(
        core.clone(),
        owner.clone(),
        shutdown.clone(),
    );
    let answers = switchboard_core::ai::run_ai_engine(core.clone(), owner, shutdown.clone());
    tokio::spawn(async move {
        tokio::join!(rules, answers);
    })
}

/// Cancels `token` on SIGINT or SIGTERM.
pub fn shutdown_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
        tracing::info!("shutting down");
        token.cancel();
    });
}
