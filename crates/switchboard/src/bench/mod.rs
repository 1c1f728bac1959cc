//! `switchboard bench api`: authenticated GET and POST throughput and latency against a real
//! server started in-process on a loopback port, with N concurrent keep-alive clients.

use crate::config::{Config, Secret};
use anyhow::Context;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::audit::RequestMeta;
use switchboard_core::tenants::NewTenant;
use switchboard_core::SystemClock;
use switchboard_types::Plan;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub mod intent;
mod realtime;
pub mod webhooks;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub clients: usize,
    /// Tenants the clients are spread over (client `i` uses tenant `i % tenants`).
    pub tenants: usize,
    pub duration: Duration,
    /// PostgreSQL (app role) URL; SQLite in a temporary directory when absent.
    pub database_url: Option<String>,
    pub migrate_url: Option<String>,
    /// Ingest only: agents connected to the real-time WebSocket while messages arrive.
    pub agents: usize,
    /// Ingest only: messages per second of the paced delivery phase (one sender).
    pub paced_rate: u32,
    /// Ingest only: how long the paced delivery phase lasts.
    pub paced_duration: Duration,
    /// Ingest only: clients posting through the widget's public API at the same time.
    pub widget_clients: usize,
    /// Ingest only: how the tenant triages its messages.
    pub triage: BenchTriage,
}

/// How the benchmark tenant triages its messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum BenchTriage {
    /// Off: the baseline without triage.
    Off,
    /// The defaults: language, sentiment, urgency and personal data, no intent model.
    #[default]
    Default,
    /// The defaults plus intent from this model file.
    Model(std::path::PathBuf),
}

/// One phase's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub requests: u64,
    pub errors: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub backend: &'static str,
    pub clients: usize,
    pub tenants: usize,
    pub seconds: f64,
    pub get: PhaseReport,
    pub post: PhaseReport,
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

/// Builds the n-th request of a phase.
pub(crate) type RequestMaker =
    Arc<dyn Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync>;

async fn phase(clients: usize, duration: Duration, make: RequestMaker, expect: u16) -> PhaseReport {
    paced_phase(clients, duration, None, make, expect).await
}

/// Like [`phase`], each client sending one request per `interval` when one is given (a steady
/// offered load instead of as fast as the server answers).
async fn paced_phase(
    clients: usize,
    duration: Duration,
    interval: Option<Duration>,
    make: RequestMaker,
    expect: u16,
) -> PhaseReport {
    let mut tasks = Vec::new();
    #[allow(clippy::disallowed_methods)] // measuring wall time is the point of a benchmark
    let started = std::time::Instant::now();
    for c in 0..clients {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap_or_default();
            let mut lat = Vec::with_capacity(4096);
            let mut errors = 0u64;
            let mut n = 0u64;
            // Paced clients start spread over one interval, so the load is steady from the start.
            let mut next = tokio::time::Instant::now()
                + interval.map_or(Duration::ZERO, |every| {
                    every.mul_f64(c as f64 / clients.max(1) as f64)
                });
            while started.elapsed() < duration {
                if let Some(every) = interval {
                    tokio::time::sleep_until(next).await;
                    next += every;
                }
                #[allow(clippy::disallowed_methods)]
                let t = std::time::Instant::now();
                let ok = match make(&client, (c as u64) << 32 | n).send().await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let _ = res.bytes().await;
                        status == expect
                    }
                    Err(_) => false,
                };
                n += 1;
                if ok {
                    lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((lat, e)) = t.await {
            all.extend(lat);
            errors += e;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_unstable();
    PhaseReport {
        requests: all.len() as u64,
        errors,
        per_second: all.len() as f64 / secs,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
    }
}

/// Runs the API benchmark and returns its figures.
/// The configuration a benchmark server runs with: a fresh data directory, no background
/// workers, and rate limits lifted.
fn bench_config(
    base: &Config,
    opts: &BenchOptions,
) -> anyhow::Result<(Config, std::path::PathBuf, &'static str)> {
    let dir = tempfile_dir()?;
    let mut cfg = base.clone();
    cfg.server.data_dir = dir.clone();
    cfg.database.url = Secret::new(opts.database_url.clone().unwrap_or_default());
    cfg.database.migrate_url = Secret::new(opts.migrate_url.clone().unwrap_or_default());
    cfg.jobs.concurrency = 0;
    cfg.rate_limit.per_principal_per_sec = 1e9;
    cfg.rate_limit.per_principal_burst = 1e9;
    cfg.rate_limit.per_ip_per_sec = 1e9;
    cfg.rate_limit.per_ip_burst = 1e9;
    cfg.widget.sessions_per_ip_per_minute = 1e9;
    cfg.widget.sessions_per_ip_burst = 1e9;
    cfg.widget.messages_per_ip_per_second = 1e9;
    cfg.widget.messages_per_ip_burst = 1e9;
    cfg.widget.messages_per_session_per_second = 1e9;
    cfg.widget.messages_per_session_burst = 1e9;
    let backend = if opts.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    Ok((cfg, dir, backend))
}

/// A fresh enterprise tenant for a benchmark run, with its admin API key.
async fn provision(
    core: &switchboard_core::Core,
    prefix: &str,
    name: &str,
) -> anyhow::Result<switchboard_core::tenants::Provisioned> {
    let tag: String = switchboard_core::secrets::random_token()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect::<String>()
        .to_ascii_lowercase();
    Ok(core
        .provision_tenant_as_system(
            NewTenant {
                slug: format!("{prefix}-{tag}"),
                name: name.into(),
                plan: Plan::Enterprise,
                region: None,
                partner_id: None,
                admin_email: format!("{prefix}-{tag}@bench.switchboard.local"),
                admin_name: None,
                admin_password: None,
            },
            &RequestMeta::default(),
        )
        .await?)
}

/// Inbound-message ingest through the API channel: every client is a stream of customers (a new
/// contact and conversation every tenth message, otherwise a reply in the client's current one).
pub async fn ingest(base: &Config, opts: BenchOptions) -> anyhow::Result<IngestReport> {
    let (cfg, dir, backend) = bench_config(base, &opts)?;
    let store = Arc::new(crate::open_store(&cfg).await?);
    let core = crate::build_core(&cfg, store, Arc::new(SystemClock)).await?;
    let done = provision(&core, "ingest", "Ingest benchmark").await?;
    let access = core.operator_access(&done.tenant).await?;
    let inbox = core
        .create_inbox(
            &access,
            "Bench",
            switchboard_types::Channel::Api,
            &RequestMeta::default(),
        )
        .await?;
    let widget_inbox = core
        .create_inbox(
            &access,
            "Bench widget",
            switchboard_types::Channel::Widget,
            &RequestMeta::default(),
        )
        .await?;
    let widget_public = core
        .widget_settings(&access, &widget_inbox.id)
        .await?
        .public_id;
    let triage_label = configure_triage(&core, &access, &opts.triage).await?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let shutdown = CancellationToken::new();
    let running = crate::start(&cfg, core, listener, shutdown.clone()).await?;
    let url = format!("http://{}/v1/inboxes/{}/messages", running.addr, inbox.id);
    let auth = format!("Bearer {}", done.api_key);
    #[allow(clippy::disallowed_methods)] // measuring wall time is the point of a benchmark
    let epoch = std::time::Instant::now();
    let agents = realtime::Agents::connect(running.addr, &done.api_key, opts.agents, epoch).await?;
    let body_for = move |client: u64, seq: u64| {
        // The send time travels in the message, so each agent socket measures its own delay.
        serde_json::json!({
            "contact": {"external_id": format!("cust-{client}-{}", seq / 10)},
            "content": format!("{} (#{seq}) sent_us={}", SAMPLE_MESSAGES[(seq % SAMPLE_MESSAGES.len() as u64) as usize],
                epoch.elapsed().as_micros()),
        })
        .to_string()
    };
    // Widget visitors: a session and a conversation each, then messages into it.
    let widget_base = format!("http://{}/widget/v1/{widget_public}", running.addr);
    let visitors = widget_visitors(&widget_base, opts.widget_clients).await?;
    let (u, a) = (url.clone(), auth.clone());
    let api_phase = phase(
        opts.clients,
        opts.duration,
        Arc::new(move |c, n| {
            c.post(&u)
                .header("authorization", &a)
                .header("content-type", "application/json")
                .body(body_for(n >> 32, n & 0xffff_ffff))
        }),
        201,
    );
    let visitors = Arc::new(visitors);
    let wb = widget_base.clone();
    let widget_phase = phase(
        opts.widget_clients,
        opts.duration,
        Arc::new(move |c, n| {
            let (token, conversation) =
                &visitors[usize::try_from(n >> 32).unwrap_or(0) % visitors.len().max(1)];
            c.post(format!("{wb}/conversations/{conversation}/messages"))
                .header("x-widget-session", token)
                .header("content-type", "application/json")
                .body(
                    serde_json::json!({"content": format!("Widget message {}", n & 0xffff_ffff)})
                        .to_string(),
                )
        }),
        201,
    );
    let (phase_report, widget_report) = tokio::join!(api_phase, widget_phase);
    let under_load = agents.take(phase_report.requests).await;
    let paced = if opts.agents > 0 && opts.paced_rate > 0 {
        let sent =
            realtime::paced_sender(&url, &auth, opts.paced_rate, opts.paced_duration, &body_for)
                .await;
        Some(agents.take(sent).await)
    } else {
        None
    };
    agents.close().await;
    shutdown.cancel();
    running.task.await.context("server task")??;
    drop(std::fs::remove_dir_all(&dir));
    Ok(IngestReport {
        backend,
        clients: opts.clients,
        seconds: opts.duration.as_secs_f64(),
        messages: phase_report,
        widget_clients: opts.widget_clients,
        widget_messages: (opts.widget_clients > 0).then_some(widget_report),
        triage: triage_label,
        agents: opts.agents,
        delivery_under_load: (opts.agents > 0).then_some(under_load),
        delivery_paced: paced.map(|d| PacedDelivery {
            rate_per_second: opts.paced_rate,
            delivery: d,
        }),
    })
}

/// What customers write, for the ingest benchmark: short and long, calm and angry, some with
/// personal data for the detectors to find.
const SAMPLE_MESSAGES: [&str; 10] = [
    "Hi, I was charged twice for the same purchase yesterday, can you refund one of them?",
    "my card got stolen!!! block it now please",
    "How long does a transfer to another bank usually take?",
    "I still haven't received my new card, I ordered it two weeks ago and nobody answers my emails. This is the third time I am writing.",
    "Can I change my PIN in the app?",
    "The exchange rate you applied to my payment in euros looks wrong, I expected more.",
    "Please call me back on +44 20 7946 0958 about the disputed payment",
    "Why was my top-up by card declined? It worked last week with card 4242 4242 4242 4242.",
    "thanks, all sorted now",
    "I want to close my account and get my remaining balance sent to DE89 3704 0044 0532 0130 00",
];

/// Sets the benchmark tenant's triage; says what it is, for the report.
async fn configure_triage(
    core: &switchboard_core::Core,
    access: &switchboard_core::TenantAccess,
    triage: &BenchTriage,
) -> anyhow::Result<String> {
    use switchboard_core::triage::TriageSettings;
    let meta = RequestMeta::default();
    let (settings, label) = match triage {
        BenchTriage::Off => (
            TriageSettings {
                enabled: false,
                ..Default::default()
            },
            "off".to_owned(),
        ),
        BenchTriage::Default => (TriageSettings::default(), "on, no intent model".to_owned()),
        BenchTriage::Model(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("reading the intent model {}", path.display()))?;
            core.upload_intent_model(access, "bench", bytes, &meta)
                .await?;
            (
                TriageSettings {
                    model: Some("custom:bench".into()),
                    ..Default::default()
                },
                format!("on, intent model {}", path.display()),
            )
        }
    };
    core.put_triage_settings(access, settings, &meta).await?;
    Ok(label)
}

/// The ingest run's figures.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub backend: &'static str,
    /// How messages were triaged.
    pub triage: String,
    pub clients: usize,
    pub seconds: f64,
    pub messages: PhaseReport,
    pub widget_clients: usize,
    /// Messages through the widget's public API, in the same seconds as the API channel's.
    pub widget_messages: Option<PhaseReport>,
    /// Agent sockets connected (subscribed to the whole tenant) during the run.
    pub agents: usize,
    /// Delivery of `message.created` to every agent while the ingest phase saturates the server.
    pub delivery_under_load: Option<realtime::Delivery>,
    /// Delivery while one sender posts at a steady rate.
    pub delivery_paced: Option<PacedDelivery>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PacedDelivery {
    pub rate_per_second: u32,
    #[serde(flatten)]
    pub delivery: realtime::Delivery,
}

/// Starts `n` widget sessions with a conversation each: `(session token, conversation id)`.
async fn widget_visitors(base: &str, n: usize) -> anyhow::Result<Vec<(String, String)>> {
    let http = reqwest::Client::new();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let session: serde_json::Value = http
            .post(format!("{base}/sessions"))
            .json(&serde_json::json!({}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = session["session_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let started: serde_json::Value = http
            .post(format!("{base}/conversations"))
            .header("x-widget-session", &token)
            .json(&serde_json::json!({"content": "Hello from the widget"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let conversation = started["conversation"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        out.push((token, conversation));
    }
    Ok(out)
}

/// Runs the API benchmark and returns its figures.
pub async fn api(base: &Config, opts: BenchOptions) -> anyhow::Result<BenchReport> {
    let (cfg, dir, backend) = bench_config(base, &opts)?;
    let store = Arc::new(crate::open_store(&cfg).await?);
    let core = crate::build_core(&cfg, store, Arc::new(SystemClock)).await?;
    // Per tenant: its admin key (for requests) and one key to read.
    let mut targets = Vec::new();
    for _ in 0..opts.tenants.max(1) {
        let done = provision(&core, "bench", "Benchmark").await?;
        let access = core.operator_access(&done.tenant).await?;
        let input = switchboard_core::apikeys::NewApiKey {
            name: "read target".into(),
            scopes: vec!["viewer".into()],
            expires_at: None,
        };
        let (key, _) = core
            .create_api_key(&access, input, &RequestMeta::default())
            .await?;
        targets.push((format!("Bearer {}", done.api_key), key.id.to_string()));
    }

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let shutdown = CancellationToken::new();
    let running = crate::start(&cfg, core, listener, shutdown.clone()).await?;
    let base_url = format!("http://{}", running.addr);
    let targets = Arc::new(targets);
    let pick = move |n: u64| -> usize { usize::try_from(n >> 32).unwrap_or(0) };

    let (t, b) = (targets.clone(), base_url.clone());
    let get = phase(
        opts.clients,
        opts.duration,
        Arc::new(move |c, n| {
            let (auth, id) = &t[pick(n) % t.len()];
            c.get(format!("{b}/v1/api-keys/{id}"))
                .header("authorization", auth)
        }),
        200,
    )
    .await;
    let (t, b) = (targets.clone(), base_url.clone());
    let post = phase(
        opts.clients,
        opts.duration,
        Arc::new(move |c, n| {
            let (auth, _) = &t[pick(n) % t.len()];
            c.post(format!("{b}/v1/api-keys"))
                .header("authorization", auth)
                .header("content-type", "application/json")
                .body(format!(
                    "{{\"name\":\"bench {n}\",\"scopes\":[\"viewer\"]}}"
                ))
        }),
        201,
    )
    .await;
    shutdown.cancel();
    running.task.await.context("server task")??;
    drop(std::fs::remove_dir_all(&dir));
    Ok(BenchReport {
        backend,
        clients: opts.clients,
        tenants: opts.tenants.max(1),
        seconds: opts.duration.as_secs_f64(),
        get,
        post,
    })
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-bench-{}",
        &switchboard_core::secrets::random_token()[..10]
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
