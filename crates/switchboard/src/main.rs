//! The `switchboard` command line.

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use switchboard::{bench, config::Config, demo, Overrides};
use switchboard_core::apikeys::NewApiKey;
use switchboard_core::audit::RequestMeta;
use switchboard_core::members::NewMember;
use switchboard_core::tenants::NewTenant;
use switchboard_core::{Core, SystemClock};
use switchboard_types::{Plan, TenantRole, TenantStatus};
use tokio_util::sync::CancellationToken;

/// mimalloc instead of the C library's allocator: a request allocates many small, short-lived
/// values on the runtime's threads and SQLite on the same ones; glibc's arenas spent about a fifth
/// of the ingest benchmark's CPU in `malloc`/`free` (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Multi-tenant, AI-first customer service platform"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Global {
    /// A TOML file layered over the embedded defaults.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for the SQLite database and local files.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// postgres://… to use PostgreSQL instead of SQLite.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "SWITCHBOARD_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// Print JSON (on the last line of standard output).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API, the console and the background workers.
    Serve {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Also provision a demo tenant with sample data and print how to use it.
        #[arg(long)]
        demo: bool,
    },
    /// Run only the background workers.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// Manage a tenant's people.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage a tenant's API keys.
    #[command(subcommand)]
    Apikey(ApikeyCmd),
    /// Audit-log tools.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Print the OpenAPI document.
    Openapi,
    /// Print the event catalog: JSON Schemas and examples (`docs/event-catalog.json`), or
    /// with --markdown `docs/events.md`.
    EventCatalog {
        #[arg(long)]
        markdown: bool,
    },
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Train, evaluate and try intent models.
    #[command(subcommand)]
    Model(ModelCmd),
    /// Knowledge-base tools.
    #[command(subcommand)]
    Kb(KbCmd),
}

#[derive(Debug, Subcommand)]
enum KbCmd {
    /// Measure answer retrieval on labelled questions: recall@1, recall@5 and MRR (see
    /// docs/knowledge-base.md for the file formats).
    Eval {
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// The articles (`<id>.md`), for a questions-only file or instead of the pack's own.
        #[arg(long, value_name = "DIR")]
        articles: Option<PathBuf>,
        /// Only this split of an evaluation pack (e.g. `test`).
        #[arg(long)]
        split: Option<String>,
        /// A sentence-transformers directory: re-rank BM25's best articles by embedding
        /// similarity (needs a build with `--features encoder`).
        #[arg(long, value_name = "DIR")]
        encoder: Option<PathBuf>,
        /// The share of the score the embedding similarity takes (0–1; 0.85 was best on the
        /// shipped pack's dev split).
        #[arg(long, default_value_t = 0.85)]
        rerank_weight: f32,
        /// BM25 articles re-ranked per question.
        #[arg(long, default_value_t = 20)]
        rerank_depth: usize,
    },
}

#[derive(Debug, Subcommand)]
enum ModelCmd {
    /// Train an intent model from labelled data and save it.
    Train {
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        #[arg(long, value_name = "MODEL")]
        out: PathBuf,
        #[command(flatten)]
        data_format: DataFormat,
        /// Seed for every random choice: the same data and seed give the same model.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// SVM regularisation values to try (comma-separated); the best on held-out data wins.
        #[arg(long = "c", value_delimiter = ',', default_values_t = [0.5, 1.0, 2.0])]
        c_grid: Vec<f64>,
        /// Drop n-grams seen in fewer training texts.
        #[arg(long, default_value_t = 1)]
        min_df: u32,
        /// A local sentence-transformers BERT directory (config.json, tokenizer.json,
        /// model.safetensors): its sentence embeddings join the features. Needs a build with
        /// `--features encoder`.
        #[arg(long, value_name = "DIR")]
        encoder: Option<PathBuf>,
        /// With `--encoder`: how many of the encoder's last layers are fine-tuned on the
        /// training data (0 keeps the encoder as published; each layer adds minutes of
        /// training on a few cores and about 7 MB to the model).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=64))]
        tune_layers: u8,
        /// With `--encoder`: passes over the training data when fine-tuning.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=50))]
        tune_epochs: u8,
    },
    /// Evaluate a model on labelled data (for `clinc`: every list in the file).
    Eval {
        #[arg(long, value_name = "MODEL")]
        model: PathBuf,
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        #[command(flatten)]
        data_format: DataFormat,
        /// The model's sentence encoder, when not where it was at training time.
        #[arg(long, value_name = "DIR")]
        encoder: Option<PathBuf>,
    },
    /// Classify texts: label, confidence and the top three.
    Predict {
        #[arg(long, value_name = "MODEL")]
        model: PathBuf,
        /// The model's sentence encoder, when not where it was at training time.
        #[arg(long, value_name = "DIR")]
        encoder: Option<PathBuf>,
        #[arg(required = true)]
        texts: Vec<String>,
    },
}

#[derive(Debug, Args)]
struct DataFormat {
    /// csv or jsonl (with a header / named fields), or clinc (CLINC150's JSON layout).
    #[arg(long, default_value = "csv")]
    format: String,
    #[arg(long, default_value = "text")]
    text_column: String,
    #[arg(long, default_value = "category")]
    label_column: String,
}

impl DataFormat {
    fn parse(
        &self,
    ) -> anyhow::Result<(
        switchboard_nlp::dataset::Format,
        switchboard_nlp::dataset::Columns,
    )> {
        Ok((
            self.format.parse()?,
            switchboard_nlp::dataset::Columns {
                text: self.text_column.clone(),
                label: self.label_column.clone(),
            },
        ))
    }
}

#[derive(Debug, Subcommand)]
enum TenantCmd {
    /// Provision a tenant with its first admin and an admin API key (printed once).
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "starter", value_parser = parse_plan)]
        plan: Plan,
        #[arg(long)]
        region: Option<String>,
        /// The first administrator (owner); defaults to admin@<slug>.switchboard.local.
        #[arg(long)]
        admin_email: Option<String>,
    },
    /// List tenants.
    List,
    /// Suspend a tenant (id or slug).
    Suspend { tenant: String },
    /// Resume a suspended tenant.
    Resume { tenant: String },
    /// Delete a tenant; its data is purged by a background job.
    Delete { tenant: String },
}

#[derive(Debug, Subcommand)]
enum UserCmd {
    /// Add a person to a tenant (creating the account if needed).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: TenantRole,
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ApikeyCmd {
    /// Create an API key (printed once).
    Create {
        #[arg(long)]
        tenant: String,
        /// Comma-separated: admin, agent, viewer, auditor.
        #[arg(long, value_delimiter = ',', default_value = "admin")]
        scopes: Vec<String>,
        #[arg(long, default_value = "CLI key")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCmd {
    /// Verify a hash chain; exits non-zero naming the first bad entry.
    Verify {
        /// Tenant id or slug.
        #[arg(long, required_unless_present = "platform")]
        tenant: Option<String>,
        /// Verify the platform chain instead.
        #[arg(long)]
        platform: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCmd {
    /// An intent model's load time, single-message latency and bulk throughput.
    Intent {
        #[arg(long, value_name = "MODEL")]
        model: PathBuf,
        /// A CSV file whose text column is classified.
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        #[arg(long, default_value = "text")]
        text_column: String,
        /// Passes over the texts in the throughput phase.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// Inbound customer messages through the API channel: messages/s and latency.
    Ingest {
        #[arg(long, default_value_t = 64)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Agent WebSockets connected during the run (0: measure ingest only).
        #[arg(long, default_value_t = 0)]
        agents: usize,
        /// Messages per second of the paced delivery phase that follows (0: skip it).
        #[arg(long, default_value_t = 50)]
        paced_rate: u32,
        /// Seconds of the paced delivery phase.
        #[arg(long, default_value_t = 10)]
        paced_seconds: u64,
        /// Clients posting through the widget's public API at the same time (0: none).
        #[arg(long, default_value_t = 0)]
        widget_clients: usize,
        /// The schema owner's URL when --database-url is PostgreSQL.
        #[arg(long)]
        migrate_url: Option<String>,
        /// Triage every message with this intent model (a `switchboard model train` file),
        /// uploaded as the tenant's own model.
        #[arg(long)]
        intent_model: Option<std::path::PathBuf>,
        /// Turn the tenant's triage off, for a baseline.
        #[arg(long)]
        no_triage: bool,
    },
    /// Webhook delivery while inbound messages arrive: messages/s, deliveries/s and the delay
    /// from a message to its event at an endpoint, with N endpoints on a local receiver.
    Webhooks {
        /// Endpoints per tenant, each subscribed to every event.
        #[arg(long, default_value_t = 1)]
        endpoints: usize,
        /// Tenants the clients write to (each with its own endpoints).
        #[arg(long, default_value_t = 1)]
        tenants: usize,
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Messages per second offered, spread over the clients (default: as fast as accepted).
        #[arg(long)]
        rate: Option<u32>,
        /// Seconds of load before measuring.
        #[arg(long, default_value_t = 2)]
        warmup: u64,
        /// Deliver nothing during the load, then measure how fast the backlog drains.
        #[arg(long)]
        backlog: bool,
        /// The schema owner's URL when --database-url is PostgreSQL.
        #[arg(long)]
        migrate_url: Option<String>,
    },
    /// Authenticated GET and POST throughput and latency.
    Api {
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Spread the clients over this many tenants.
        #[arg(long, default_value_t = 1)]
        tenants: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The schema owner's URL when --database-url is PostgreSQL.
        #[arg(long)]
        migrate_url: Option<String>,
    },
}

fn parse_plan(s: &str) -> Result<Plan, String> {
    Plan::parse(s).ok_or_else(|| {
        format!(
            "unknown plan `{s}`: starter, professional, enterprise, white_label, enterprise_plus"
        )
    })
}

fn parse_role(s: &str) -> Result<TenantRole, String> {
    TenantRole::parse(s)
        .ok_or_else(|| format!("unknown role `{s}`: owner, admin, agent, viewer, auditor"))
}

/// Writes results: text for people, JSON (one line, last) with --json.
struct Out {
    json: bool,
}

impl Out {
    fn emit(&self, text: &str, value: serde_json::Value) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        if self.json {
            writeln!(out, "{value}")?;
        } else {
            writeln!(out, "{text}")?;
        }
        Ok(())
    }
}

/// candle asks for its thread count on every matrix product, and while `RAYON_NUM_THREADS` is
/// unset it works it out again each time (reading the CPU lists): about 50 µs a product, a fifth
/// of a short text's sentence-encoder pass. Setting the variable once to candle's own default,
/// before any other thread exists, turns that into a lookup. An operator's value is kept.
#[cfg(feature = "encoder")]
fn fix_encoder_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let threads = switchboard_nlp::encoder::default_threads();
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
}

fn main() -> std::process::ExitCode {
    // First, while this is the only thread: the environment is not safe to change later.
    #[cfg(feature = "encoder")]
    fix_encoder_thread_count();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            drop(writeln!(
                std::io::stderr(),
                "error: cannot start the runtime: {e}"
            ));
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            drop(writeln!(std::io::stderr(), "error: {e:#}"));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let listen = match &cli.command {
        Command::Serve { listen, .. } => listen.clone(),
        _ => None,
    };
    let overrides = Overrides {
        listen,
        data_dir: cli.global.data_dir.clone(),
        database_url: cli.global.database_url.clone(),
    };
    let cfg = Config::load(cli.global.config.as_deref(), &overrides)?;
    switchboard::telemetry::init(&cfg.telemetry.log, &cfg.telemetry.format);
    let out = Out {
        json: cli.global.json,
    };

    match cli.command {
        Command::Openapi => {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{}", switchboard_api::openapi_json())?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Command::EventCatalog { markdown } => {
            let catalog = switchboard_api::catalog::event_catalog();
            let mut stdout = std::io::stdout().lock();
            if markdown {
                write!(stdout, "{}", switchboard_api::catalog::markdown(&catalog))?;
            } else {
                writeln!(stdout, "{}", serde_json::to_string_pretty(&catalog)?)?;
            }
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Command::Model(cmd) => {
            let value = match cmd {
                ModelCmd::Train {
                    data,
                    out,
                    data_format,
                    seed,
                    c_grid,
                    min_df,
                    encoder,
                    tune_layers,
                    tune_epochs,
                } => {
                    let (format, columns) = data_format.parse()?;
                    switchboard::model_cli::train(switchboard::model_cli::TrainRequest {
                        data: &data,
                        out: &out,
                        format,
                        columns: &columns,
                        seed,
                        c_grid: &c_grid,
                        min_df,
                        encoder: encoder.as_deref(),
                        tune_layers: tune_layers.into(),
                        tune_epochs: tune_epochs.into(),
                    })?
                }
                ModelCmd::Eval {
                    model,
                    data,
                    data_format,
                    encoder,
                } => {
                    let (format, columns) = data_format.parse()?;
                    switchboard::model_cli::eval(
                        &model,
                        &data,
                        format,
                        &columns,
                        encoder.as_deref(),
                    )?
                }
                ModelCmd::Predict {
                    model,
                    texts,
                    encoder,
                } => switchboard::model_cli::predict(&model, &texts, encoder.as_deref())?,
            };
            writeln!(std::io::stdout().lock(), "{value}")?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Command::Kb(KbCmd::Eval {
            data,
            articles,
            split,
            encoder,
            rerank_weight,
            rerank_depth,
        }) => {
            let dense = encoder.as_deref().map(|e| switchboard::kb_cli::Rerank {
                encoder: e,
                weight: rerank_weight,
                depth: rerank_depth,
            });
            let value =
                switchboard::kb_cli::eval(&data, articles.as_ref(), split.as_deref(), dense)?;
            writeln!(std::io::stdout().lock(), "{value}")?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Command::Migrate => {
            switchboard::migrate(&cfg).await?;
            out.emit("migrations applied", json!({"migrated": true}))?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Command::Bench(BenchCmd::Intent {
            model,
            data,
            text_column,
            rounds,
        }) => {
            let report = bench::intent::run(&model, &data, &text_column, rounds.max(1))?;
            out.emit(
                &format!(
                    "{} texts · load {:.1} ms · single p50 {:.3} ms p99 {:.3} ms · {:.0} messages/s on {} threads",
                    report.texts,
                    report.load_ms,
                    report.single_p50_ms,
                    report.single_p99_ms,
                    report.batch_messages_per_second,
                    report.threads
                ),
                serde_json::to_value(&report)?,
            )?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Command::Bench(BenchCmd::Ingest {
            clients,
            seconds,
            agents,
            paced_rate,
            paced_seconds,
            widget_clients,
            migrate_url,
            intent_model,
            no_triage,
        }) => {
            let triage = match (no_triage, intent_model) {
                (true, Some(_)) => {
                    anyhow::bail!("--no-triage and --intent-model exclude each other")
                }
                (true, None) => bench::BenchTriage::Off,
                (false, None) => bench::BenchTriage::Default,
                (false, Some(path)) => bench::BenchTriage::Model(path),
            };
            let opts = bench::BenchOptions {
                triage,
                clients,
                tenants: 1,
                duration: std::time::Duration::from_secs(seconds),
                database_url: cli.global.database_url.clone(),
                migrate_url,
                agents,
                paced_rate,
                paced_duration: std::time::Duration::from_secs(paced_seconds),
                widget_clients,
            };
            let r = bench::ingest(&cfg, opts).await?;
            let m = &r.messages;
            let mut text = format!(
                "backend {} · {} clients · {} s · triage {}\ninbound messages {:>9.0}/s  p50 {:.2} ms  p99 {:.2} ms  errors {}",
                r.backend, r.clients, r.seconds, r.triage, m.per_second, m.p50_ms, m.p99_ms, m.errors
            );
            if let Some(w) = &r.widget_messages {
                text.push_str(&format!(
                    "\nwidget messages  {:>9.0}/s  p50 {:.2} ms  p99 {:.2} ms  errors {}  ({} clients)",
                    w.per_second, w.p50_ms, w.p99_ms, w.errors, r.widget_clients
                ));
            }
            if let Some(d) = &r.delivery_under_load {
                text.push_str(&format!(
                    "\nto {} agents under load: {}/{} frames  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                    r.agents, d.frames, d.expected, d.p50_ms, d.p99_ms, d.max_ms
                ));
            }
            if let Some(p) = &r.delivery_paced {
                let d = &p.delivery;
                text.push_str(&format!(
                    "\nto {} agents at {}/s: {}/{} frames  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                    r.agents, p.rate_per_second, d.frames, d.expected, d.p50_ms, d.p99_ms, d.max_ms
                ));
            }
            out.emit(&text, serde_json::to_value(&r)?)?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Command::Bench(BenchCmd::Webhooks {
            endpoints,
            tenants,
            clients,
            seconds,
            rate,
            warmup,
            backlog,
            migrate_url,
        }) => {
            let opts = bench::BenchOptions {
                clients,
                tenants: tenants.max(1),
                duration: std::time::Duration::from_secs(seconds),
                database_url: cli.global.database_url.clone(),
                migrate_url,
                agents: 0,
                paced_rate: 0,
                paced_duration: std::time::Duration::ZERO,
                widget_clients: 0,
                triage: bench::BenchTriage::Default,
            };
            let r = bench::webhooks::run(
                &cfg,
                opts,
                endpoints.max(1),
                rate,
                std::time::Duration::from_secs(warmup),
                backlog,
            )
            .await?;
            let m = &r.messages;
            let text = format!(
                "backend {} · {} tenant(s) × {} endpoint(s) · {} clients · {} s\ninbound messages {:>9.0}/s  p50 {:.2} ms  p99 {:.2} ms  errors {}\ndeliveries       {:>9.0}/s  {}/{} delivered  drain {:.2} s\nmessage → endpoint  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                r.backend, r.tenants, r.endpoints, r.clients, r.seconds, m.per_second, m.p50_ms, m.p99_ms, m.errors,
                r.deliveries_per_second, r.deliveries, r.deliveries_expected, r.drain_seconds,
                r.latency_p50_ms, r.latency_p99_ms, r.latency_max_ms
            );
            out.emit(&text, serde_json::to_value(&r)?)?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Command::Bench(BenchCmd::Api {
            clients,
            tenants,
            seconds,
            migrate_url,
        }) => {
            let opts = bench::BenchOptions {
                clients,
                tenants,
                duration: std::time::Duration::from_secs(seconds),
                database_url: cli.global.database_url.clone(),
                migrate_url,
                agents: 0,
                paced_rate: 0,
                paced_duration: std::time::Duration::ZERO,
                widget_clients: 0,
                triage: bench::BenchTriage::Default,
            };
            let r = bench::api(&cfg, opts).await?;
            let text = format!(
                "backend {} · {} clients over {} tenant(s) · {} s per phase\nGET  {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}\nPOST {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}",
                r.backend, r.clients, r.tenants, r.seconds, r.get.per_second, r.get.p50_ms, r.get.p99_ms, r.get.errors,
                r.post.per_second, r.post.p50_ms, r.post.p99_ms, r.post.errors
            );
            out.emit(&text, serde_json::to_value(&r)?)?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
        _ => {}
    }

    let store = Arc::new(switchboard::open_store(&cfg).await?);
    let core = switchboard::build_core(&cfg, store, Arc::new(SystemClock)).await?;
    let meta = RequestMeta {
        request_id: Some("cli".into()),
        ..Default::default()
    };

    match cli.command {
        Command::Serve {
            demo: with_demo, ..
        } => serve(&cfg, core, with_demo, &out).await?,
        Command::Worker => {
            let token = CancellationToken::new();
            switchboard::shutdown_on_signals(token.clone());
            let wcfg = switchboard_core::jobs::WorkerConfig {
                concurrency: cfg.jobs.concurrency.max(1),
                lease_ms: cfg.jobs.lease_secs * 1000,
                ..Default::default()
            };
            let sweeper = tokio::spawn(switchboard_core::jobs::run_sweeper(
                core.clone(),
                switchboard::SWEEP_EVERY,
                token.clone(),
            ));
            let dispatcher = cfg
                .webhooks
                .dispatch
                .then(|| switchboard::spawn_dispatcher(&core, &token));
            let automation = cfg
                .automation
                .run
                .then(|| switchboard::spawn_automation(&core, &token));
            switchboard_core::jobs::run_worker(core.clone(), wcfg, token).await;
            sweeper.await?;
            if let Some(d) = dispatcher {
                d.await?;
            }
            if let Some(a) = automation {
                a.await?;
            }
            core.store().close().await;
        }
        Command::Tenant(cmd) => return tenant(cmd, &core, &meta, &out).await,
        Command::User(UserCmd::Create {
            tenant,
            email,
            role,
            name,
        }) => {
            let t = core.find_tenant(&tenant).await?;
            let access = core.operator_access(&t).await?;
            let (member, password) = core
                .add_member(
                    &access,
                    NewMember {
                        email,
                        display_name: name,
                        password: None,
                        role,
                    },
                    &meta,
                )
                .await?;
            let text = match &password {
                Some(p) => format!(
                    "added {} ({}) as {}\none-time password: {p}",
                    member.email,
                    member.user_id,
                    member.role.as_str()
                ),
                None => format!(
                    "added existing account {} ({}) as {}",
                    member.email,
                    member.user_id,
                    member.role.as_str()
                ),
            };
            out.emit(&text, json!({"user_id": member.user_id, "email": member.email, "role": member.role, "password": password}))?;
        }
        Command::Apikey(ApikeyCmd::Create {
            tenant,
            scopes,
            name,
        }) => {
            let t = core.find_tenant(&tenant).await?;
            let access = core.operator_access(&t).await?;
            let (key, secret) = core
                .create_api_key(
                    &access,
                    NewApiKey {
                        name,
                        scopes,
                        expires_at: None,
                    },
                    &meta,
                )
                .await?;
            out.emit(
                &format!("api key {} (shown once): {secret}", key.id),
                json!({"id": key.id, "tenant_id": t.id, "api_key": secret, "scopes": key.scopes}),
            )?;
        }
        Command::Audit(AuditCmd::Verify { tenant, platform }) => {
            let (label, report) = if platform {
                ("platform".to_owned(), core.verify_platform_audit().await?)
            } else {
                let selector = tenant.context("--tenant or --platform")?;
                let t = core.find_tenant(&selector).await?;
                (t.slug.clone(), core.verify_tenant_audit(&t).await?)
            };
            let value = serde_json::to_value(&report)?;
            return Ok(match &report.first_bad {
                None => {
                    out.emit(
                        &format!("audit chain of {label}: {} entries, intact", report.entries),
                        value,
                    )?;
                    std::process::ExitCode::SUCCESS
                }
                Some(bad) => {
                    out.emit(
                        &format!(
                            "audit chain of {label} is BROKEN at entry {} ({}): {}",
                            bad.seq,
                            bad.id.as_deref().unwrap_or("-"),
                            bad.reason
                        ),
                        value,
                    )?;
                    std::process::ExitCode::from(2)
                }
            });
        }
        Command::Openapi
        | Command::EventCatalog { .. }
        | Command::Migrate
        | Command::Bench(_)
        | Command::Kb(_)
        | Command::Model(_) => {}
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn tenant(
    cmd: TenantCmd,
    core: &Core,
    meta: &RequestMeta,
    out: &Out,
) -> anyhow::Result<std::process::ExitCode> {
    match cmd {
        TenantCmd::Create {
            slug,
            name,
            plan,
            region,
            admin_email,
        } => {
            let admin_email =
                admin_email.unwrap_or_else(|| format!("admin@{slug}.switchboard.local"));
            let done = core
                .provision_tenant_as_system(
                    NewTenant {
                        slug,
                        name,
                        plan,
                        region,
                        partner_id: None,
                        admin_email,
                        admin_name: None,
                        admin_password: None,
                    },
                    meta,
                )
                .await?;
            let mut text = format!(
                "tenant {} ({})\nadmin API key (shown once): {}\nadmin: {}",
                done.tenant.slug, done.tenant.id, done.api_key, done.admin_email
            );
            if let Some(p) = &done.admin_password {
                text.push_str(&format!("\nadmin one-time password: {p}"));
            }
            out.emit(&text, json!({"tenant_id": done.tenant.id, "slug": done.tenant.slug, "api_key": done.api_key, "admin_email": done.admin_email, "admin_password": done.admin_password}))?;
        }
        TenantCmd::List => {
            let mut all = Vec::new();
            let mut after = None;
            loop {
                let page = core
                    .store()
                    .control(switchboard_store::Access::Read)
                    .await?
                    .list_tenants(&switchboard_store::model::TenantFilter {
                        page: switchboard_store::model::PageRequest {
                            after: after.clone(),
                            limit: 500,
                        },
                        ..Default::default()
                    })
                    .await?;
                let Some(last) = page.last() else { break };
                after = Some(last.id.to_string());
                all.extend(page);
            }
            let text = all
                .iter()
                .map(|t| {
                    format!(
                        "{}\t{}\t{}\t{}\t{}",
                        t.id,
                        t.slug,
                        t.status.as_str(),
                        t.plan.as_str(),
                        t.name
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            let value = json!(all.iter().map(|t| json!({"id": t.id, "slug": t.slug, "name": t.name, "status": t.status, "plan": t.plan, "region": t.region})).collect::<Vec<_>>());
            out.emit(if text.is_empty() { "no tenants" } else { &text }, value)?;
        }
        TenantCmd::Suspend { tenant }
        | TenantCmd::Resume { tenant }
        | TenantCmd::Delete { tenant }
            if tenant.is_empty() =>
        {
            bail!("name a tenant")
        }
        TenantCmd::Suspend { tenant } => {
            status(core, &tenant, TenantStatus::Suspended, meta, out).await?
        }
        TenantCmd::Resume { tenant } => {
            status(core, &tenant, TenantStatus::Active, meta, out).await?
        }
        TenantCmd::Delete { tenant } => {
            status(core, &tenant, TenantStatus::Deleted, meta, out).await?
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn status(
    core: &Core,
    selector: &str,
    target: TenantStatus,
    meta: &RequestMeta,
    out: &Out,
) -> anyhow::Result<()> {
    let t = core.find_tenant(selector).await?;
    let t = core.set_tenant_status(None, &t.id, target, meta).await?;
    let note = if target == TenantStatus::Deleted {
        " (data purge queued)"
    } else {
        ""
    };
    out.emit(
        &format!("tenant {} is now {}{note}", t.slug, t.status.as_str()),
        json!({"tenant_id": t.id, "status": t.status}),
    )
}

async fn serve(cfg: &Config, core: Arc<Core>, with_demo: bool, out: &Out) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.listen_addr())
        .await
        .with_context(|| format!("binding {}", cfg.server.listen))?;
    let public = cfg.public_url();
    // One-time credentials go to standard output only, never to the log.
    if let Some(password) = core
        .ensure_platform_admin(switchboard::PLATFORM_ADMIN_EMAIL)
        .await?
    {
        let text = format!(
            "\n  Platform administrator created (shown once, never again):\n    email:    {}\n    password: {password}\n  Sign in:  curl -s {public}/v1/auth/token -H 'content-type: application/json' \\\n              -d '{{\"email\":\"{}\",\"password\":\"{password}\"}}'\n",
            switchboard::PLATFORM_ADMIN_EMAIL, switchboard::PLATFORM_ADMIN_EMAIL
        );
        out.emit(&text, json!({"platform_admin": {"email": switchboard::PLATFORM_ADMIN_EMAIL, "password": password}}))?;
    }
    if with_demo {
        match demo::provision(&core).await? {
            Some(d) => {
                let text = format!(
                    "\n  Demo tenant `{}` ({}) is ready. Shown once:\n    owner:         {} / {}\n    admin API key: {}\n    agent API key: {}\n  Try:  curl -s {public}/v1/users -H 'authorization: Bearer {}'\n  API reference: {public}/docs\n  Console: {public}/app (sign in as the owner)\n  Chat widget: {public}/app/t/{}/settings/inboxes/{}/preview\n",
                    d.tenant_slug, d.tenant_id, d.owner_email, d.owner_password.as_deref().unwrap_or("(existing account)"), d.api_key, d.agent_api_key, d.api_key, d.tenant_slug, d.widget_inbox_id
                );
                out.emit(&text, serde_json::to_value(&d)?)?;
            }
            None => out.emit("\n  Demo tenant `demo` exists already; its credentials were shown when it was created.\n", json!({"demo": "exists"}))?,
        }
    }
    out.emit(
        &format!(
            "  Switchboard is listening on http://{} · API reference {public}/docs",
            listener.local_addr()?
        ),
        json!({"listening": listener.local_addr()?.to_string()}),
    )?;
    let token = CancellationToken::new();
    switchboard::shutdown_on_signals(token.clone());
    let running = switchboard::start(cfg, core, listener, token).await?;
    running.task.await??;
    Ok(())
}
