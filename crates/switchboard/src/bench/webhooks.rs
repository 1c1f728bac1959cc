//! `switchboard bench webhooks`: inbound messages through the API while every event is
//! delivered to N webhook endpoints on a local receiver: messages accepted/s, deliveries/s, and
//! the delay from sending a message to its `message.created` arriving at an endpoint.

use super::{
    bench_config, paced_phase, percentile, provision, BenchOptions, PhaseReport, SAMPLE_MESSAGES,
};
use anyhow::Context;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_core::audit::RequestMeta;
use switchboard_core::webhooks::EndpointChanges;
use switchboard_core::SystemClock;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The run's figures.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookReport {
    pub backend: &'static str,
    /// Endpoints per tenant.
    pub endpoints: usize,
    pub tenants: usize,
    /// Messages per second offered (`None`: as fast as the API accepts them).
    pub offered_rate: Option<u32>,
    pub clients: usize,
    pub seconds: f64,
    /// Seconds of load before measuring (not counted).
    pub warmup_seconds: f64,
    /// Delivery started only after the load: deliveries/s is the drain rate of the backlog
    /// (and the latencies include the wait for the load to end).
    pub backlog: bool,
    /// Inbound messages accepted by the API while deliveries ran.
    pub messages: PhaseReport,
    /// Events committed during the run (each is delivered to every endpoint).
    pub events: u64,
    pub deliveries_expected: u64,
    pub deliveries: u64,
    /// Deliveries over the time from the first message to the last delivery.
    pub deliveries_per_second: f64,
    /// From sending a message to its `message.created` arriving, over every endpoint.
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    /// How long after the last message the last delivery arrived.
    pub drain_seconds: f64,
}

/// What the receiver saw.
#[derive(Debug, Default)]
struct Received {
    deliveries: AtomicU64,
    /// Microseconds since the epoch of the run when the last delivery arrived.
    last_us: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
}

/// Finds `sent_us=<digits>` in a body without parsing the JSON (the receiver stays cheap).
fn sent_us(body: &[u8]) -> Option<u64> {
    let needle = b"sent_us=";
    let at = body.windows(needle.len()).position(|w| w == needle)? + needle.len();
    let digits: Vec<u8> = body[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .copied()
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// A local receiver answering 204 to every POST and recording arrival times.
async fn receiver(
    received: Arc<Received>,
    epoch: std::time::Instant,
    stop: CancellationToken,
) -> anyhow::Result<std::net::SocketAddr> {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/hook/{n}",
        post(move |body: axum::body::Bytes| {
            let received = received.clone();
            async move {
                let now = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
                received.deliveries.fetch_add(1, Ordering::Relaxed);
                received.last_us.fetch_max(now, Ordering::Relaxed);
                if let Some(sent) = sent_us(&body) {
                    if let Ok(mut l) = received.latencies_us.lock() {
                        l.push(now.saturating_sub(sent));
                    }
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
    });
    Ok(addr)
}

/// One benchmark tenant: its API key, inbox and admin access.
struct BenchTenant {
    auth: String,
    inbox: String,
    access: switchboard_core::TenantAccess,
}

/// Runs the benchmark: `opts.tenants` tenants with `endpoints` endpoints each, subscribed to
/// every event; client `i` writes to tenant `i % tenants`.
pub async fn run(
    base: &crate::config::Config,
    opts: BenchOptions,
    endpoints: usize,
    rate: Option<u32>,
    warmup: Duration,
    backlog: bool,
) -> anyhow::Result<WebhookReport> {
    let (mut cfg, dir, backend) = bench_config(base, &opts)?;
    // With `backlog`, nothing is delivered while messages arrive; the dispatcher starts after
    // the load and the figure is how fast it drains what piled up.
    cfg.webhooks.dispatch = !backlog;
    cfg.webhooks.allow_private = vec!["127.0.0.1/32".into()];
    cfg.webhooks.poll_ms = 50;
    let store = Arc::new(crate::open_store(&cfg).await?);
    let core = crate::build_core(&cfg, store, Arc::new(SystemClock)).await?;
    let meta = RequestMeta::default();

    #[allow(clippy::disallowed_methods)] // measuring wall time is the point of a benchmark
    let epoch = std::time::Instant::now();
    let received = Arc::new(Received::default());
    let stop_receiver = CancellationToken::new();
    let sink = receiver(received.clone(), epoch, stop_receiver.clone()).await?;
    let mut tenants = Vec::new();
    for _ in 0..opts.tenants.max(1) {
        let done = provision(&core, "hooks", "Webhook benchmark").await?;
        let access = core.operator_access(&done.tenant).await?;
        let inbox = core
            .create_inbox(&access, "Bench", switchboard_types::Channel::Api, &meta)
            .await?;
        for n in 0..endpoints {
            core.create_webhook_endpoint(
                &access,
                EndpointChanges {
                    url: Some(format!("http://{sink}/hook/{n}")),
                    ..EndpointChanges::default()
                },
                &meta,
            )
            .await?;
        }
        tenants.push(BenchTenant {
            auth: format!("Bearer {}", done.api_key),
            inbox: inbox.id.to_string(),
            access,
        });
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let shutdown = CancellationToken::new();
    let running = crate::start(&cfg, core.clone(), listener, shutdown.clone()).await?;
    // Endpoint creation events are delivered too; wait for them so the run starts clean.
    let setup = expected_setup(endpoints) * tenants.len() as u64;
    let warmup = if backlog {
        // Nothing is delivered before the drain: the setup's events are part of the backlog.
        Duration::ZERO
    } else {
        wait_for(&received, setup, Duration::from_secs(30)).await;
        warmup
    };

    let base_url = format!("http://{}", running.addr);
    let targets: Arc<Vec<(String, String)>> = Arc::new(
        tenants
            .iter()
            .map(|t| {
                (
                    format!("{base_url}/v1/inboxes/{}/messages", t.inbox),
                    t.auth.clone(),
                )
            })
            .collect(),
    );
    // A steady offered load: each client sends one message per clients/rate seconds.
    let interval = rate
        .filter(|r| *r > 0)
        .map(|r| Duration::from_secs_f64(opts.clients.max(1) as f64 / f64::from(r)));
    let make: super::RequestMaker = Arc::new(move |c, n| {
        let (client, seq) = (n >> 32, n & 0xffff_ffff);
        let (url, auth) = &targets[usize::try_from(client).unwrap_or(0) % targets.len()];
        let body = serde_json::json!({
            "contact": {"external_id": format!("cust-{client}-{}", seq / 10)},
            "content": format!("{} (#{seq}) sent_us={}",
                SAMPLE_MESSAGES[(seq % SAMPLE_MESSAGES.len() as u64) as usize],
                epoch.elapsed().as_micros()),
        });
        c.post(url)
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(body.to_string())
    });
    let heads = |core: Arc<switchboard_core::Core>,
                 accesses: Vec<switchboard_core::TenantAccess>| async move {
        let mut total = 0_i64;
        for a in &accesses {
            total += core.event_head(&a.ctx).await?;
        }
        Ok::<_, switchboard_core::CoreError>(total)
    };
    let accesses: Vec<_> = tenants.iter().map(|t| t.access.clone()).collect();
    // Warm-up: connections are opened and the first contacts and conversations created; its
    // figures are not counted.
    let mut setup_events = heads(core.clone(), accesses.clone()).await?;
    if !warmup.is_zero() {
        paced_phase(opts.clients, warmup, interval, make.clone(), 201).await;
        let warm_events = heads(core.clone(), accesses.clone()).await? - setup_events;
        let total = setup + u64::try_from(warm_events).unwrap_or(0) * endpoints as u64;
        wait_for(&received, total, Duration::from_secs(120)).await;
        setup_events = heads(core.clone(), accesses.clone()).await?;
    }
    let before = received.deliveries.load(Ordering::Relaxed);
    if let Ok(mut l) = received.latencies_us.lock() {
        l.clear();
    }
    let mut started_us = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(0);
    let messages = paced_phase(opts.clients, opts.duration, interval, make, 201).await;
    let load_ended_us = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(0);
    let dispatcher = backlog.then(|| {
        started_us = load_ended_us;
        crate::spawn_dispatcher(&core, &shutdown)
    });
    let events =
        u64::try_from(heads(core.clone(), accesses.clone()).await? - setup_events).unwrap_or(0);
    let expected = events * endpoints as u64 + if backlog { setup } else { 0 };
    wait_for(&received, before + expected, Duration::from_secs(120)).await;
    let deliveries = received.deliveries.load(Ordering::Relaxed) - before;
    let last_us = received.last_us.load(Ordering::Relaxed);
    let mut lat = received
        .latencies_us
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    lat.sort_unstable();
    shutdown.cancel();
    running.task.await.context("server task")??;
    if let Some(d) = dispatcher {
        d.await.context("dispatcher")?;
    }
    stop_receiver.cancel();
    drop(std::fs::remove_dir_all(&dir));
    let span_s = (last_us.saturating_sub(started_us)) as f64 / 1e6;
    Ok(WebhookReport {
        backend,
        endpoints,
        tenants: tenants.len(),
        offered_rate: rate.filter(|r| *r > 0),
        clients: opts.clients,
        seconds: opts.duration.as_secs_f64(),
        warmup_seconds: warmup.as_secs_f64(),
        backlog,
        messages,
        events,
        deliveries_expected: expected,
        deliveries,
        deliveries_per_second: if span_s > 0.0 {
            deliveries as f64 / span_s
        } else {
            0.0
        },
        latency_p50_ms: percentile(&lat, 0.50),
        latency_p99_ms: percentile(&lat, 0.99),
        latency_max_ms: lat.last().map_or(0.0, |&m| m as f64 / 1000.0),
        drain_seconds: (last_us.saturating_sub(load_ended_us)) as f64 / 1e6,
    })
}

/// Deliveries of the setup's own events: the dispatcher starts after every endpoint exists, so
/// each endpoint's creation event goes to all of them.
fn expected_setup(endpoints: usize) -> u64 {
    (endpoints as u64) * (endpoints as u64)
}

async fn wait_for(received: &Received, count: u64, limit: Duration) {
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    while received.deliveries.load(Ordering::Relaxed) < count && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
