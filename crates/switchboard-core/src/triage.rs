//! Triage on every inbound message: before a customer's message is stored, the engine finds its
//! language, intent, sentiment, urgency and personal data, and applies the tenant's redaction
//! policy. The result is stored on the message, returned by the API and carried by its events.
//!
//! Each tenant chooses its intent model: a shipped pack (`pack:banking`, a file in the packs
//! directory) or one it trained and uploaded (`custom:<name>`, bytes in the blob store). Models
//! are loaded once and shared; settings are cached for a few seconds, so a change made on another
//! node (or a pack file replaced on disk) takes effect within that time without a restart.
//!
//! Triage never costs a message: when the model cannot be loaded within the latency budget, or
//! fails, the message is stored as `untriaged`. Personal data is still found and, when the tenant
//! requires it, redacted before storage: that part needs no model and never times out.

use crate::audit::RequestMeta;
use crate::error::{CoreError, CoreResult};
use crate::{Core, TenantAccess};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use switchboard_nlp::encoder::SentenceEncoder;
use switchboard_nlp::intent::IntentModel;
use switchboard_nlp::pii::{self, PiiKind, Redaction};
use switchboard_nlp::sentiment::Polarity;
use switchboard_nlp::triage::{TriageConfig, Triager};
use switchboard_nlp::urgency::{Urgency, UrgencyRules};
use switchboard_store::model::{IntentModelRecord, StoredTriageSettings};
use switchboard_store::{Access, TenantCtx};
use switchboard_types::triage::IntentScore;
use switchboard_types::{
    IntentModelId, MessageTriage, PiiSpan, SentimentLabel, TenantId, TriageStatus, UrgencyLevel,
};

/// The engine's process-wide settings (from the configuration file).
#[derive(Debug, Clone)]
pub struct TriageOptions {
    /// Where shipped pack models live (`<name>.sbintent`); `None`: no packs.
    pub packs_dir: Option<PathBuf>,
    /// How long a message may wait for its tenant's model to load before it is stored untriaged.
    pub budget_ms: u64,
    /// How long a tenant's settings (and a pack file's identity) are trusted before they are
    /// read again: the delay before a change made elsewhere takes effect.
    pub settings_ttl_ms: i64,
    /// Models kept in memory; the least recently used goes first.
    pub max_models: usize,
    /// Largest model file accepted for upload.
    pub model_max_bytes: usize,
    /// The sentence encoder models with encoder features use (a sentence-transformers
    /// directory); `None`: such models are refused. Never the path a model file records: an
    /// uploaded file must not choose what the server reads.
    pub encoder_dir: Option<PathBuf>,
}

impl Default for TriageOptions {
    fn default() -> Self {
        Self {
            packs_dir: None,
            budget_ms: 200,
            settings_ttl_ms: 5_000,
            max_models: 32,
            model_max_bytes: 64 * 1024 * 1024,
            encoder_dir: None,
        }
    }
}

/// How personal data is handled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionPolicy {
    /// Redact before the message is stored (HIPAA / PCI mode): the original never reaches the
    /// database, the search index, the logs, the events or a webhook.
    pub before_storage: bool,
    /// How a value is replaced unless `modes` says otherwise for its kind.
    pub mode: Redaction,
    pub modes: BTreeMap<PiiKind, Redaction>,
    /// The kinds redacted; empty: every kind.
    pub kinds: Vec<PiiKind>,
}

impl Default for RedactionPolicy {
    fn default() -> Self {
        Self {
            before_storage: false,
            mode: Redaction::Mask,
            modes: BTreeMap::new(),
            kinds: Vec::new(),
        }
    }
}

impl RedactionPolicy {
    fn applies_to(&self, kind: PiiKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }

    fn mode_for(&self, kind: PiiKind) -> Redaction {
        self.modes.get(&kind).copied().unwrap_or(self.mode)
    }

    /// `text` redacted for storage, or `None` when the policy does not redact before storage or
    /// finds nothing. The policy's kinds are looked for on their own, so an overlapping reading
    /// of another kind never hides one.
    fn apply(&self, text: &str, hash_key: &[u8]) -> Option<pii::Redacted> {
        if !self.before_storage {
            return None;
        }
        let chosen = pii::detect_where(text, |k| self.applies_to(k));
        (!chosen.is_empty()).then(|| pii::redact(text, &chosen, |k| self.mode_for(k), hash_key))
    }
}

/// A tenant's triage settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriageSettings {
    /// Off: messages are stored without triage (redaction before storage still applies).
    pub enabled: bool,
    /// `pack:<name>` or `custom:<name>`; `None`: no intent.
    pub model: Option<String>,
    /// A supervised sentiment model (`pack:<name>` or `custom:<name>`, trained on texts labelled
    /// `negative` / `neutral` / `positive`) instead of the lexicon; `None`: the lexicon.
    pub sentiment_model: Option<String>,
    /// The languages the tenant serves (ISO 639-3); empty: any.
    pub languages: Vec<String>,
    pub urgency: UrgencyRules,
    pub redaction: RedactionPolicy,
}

impl Default for TriageSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            model: None,
            sentiment_model: None,
            languages: Vec::new(),
            urgency: UrgencyRules::default(),
            redaction: RedactionPolicy::default(),
        }
    }
}

/// Where a tenant's model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ModelRef {
    Pack(String),
    Custom(String),
}

impl ModelRef {
    fn parse(s: &str) -> Option<Self> {
        let (kind, name) = s.split_once(':')?;
        if !valid_model_name(name) {
            return None;
        }
        match kind {
            "pack" => Some(Self::Pack(name.to_owned())),
            "custom" => Some(Self::Custom(name.to_owned())),
            _ => None,
        }
    }
}

/// Model names: 1–64 lower-case letters, digits, `-` and `_` (they name files and keys).
pub fn valid_model_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

const MAX_TERMS: usize = 500;
const MAX_TERM_CHARS: usize = 100;

/// Checks settings a tenant wants to save; the model must exist for it.
fn check_settings(s: &TriageSettings) -> CoreResult<()> {
    for (field, value) in [("model", &s.model), ("sentiment_model", &s.sentiment_model)] {
        if value
            .as_deref()
            .is_some_and(|m| ModelRef::parse(m).is_none())
        {
            return Err(CoreError::field(
                field,
                "pack:<name> or custom:<name>, the name of lower-case letters, digits, - and _",
            ));
        }
    }
    if s.languages.len() > 50
        || s.languages
            .iter()
            .any(|c| !switchboard_nlp::language::is_known(c))
    {
        return Err(CoreError::field(
            "languages",
            "at most 50 ISO 639-3 codes the language detector knows (eng, fra, deu, …)",
        ));
    }
    let u = &s.urgency;
    for (field, list) in [
        ("urgency.urgent_terms", &u.urgent_terms),
        ("urgency.high_terms", &u.high_terms),
        ("urgency.urgent_intents", &u.urgent_intents),
        ("urgency.high_intents", &u.high_intents),
        ("urgency.low_intents", &u.low_intents),
    ] {
        if list.len() > MAX_TERMS
            || list
                .iter()
                .any(|t| t.trim().is_empty() || t.chars().count() > MAX_TERM_CHARS)
        {
            return Err(CoreError::field(
                field,
                "at most 500 entries of 1 to 100 characters",
            ));
        }
    }
    if !(-1.0..=1.0).contains(&u.angry_below) {
        return Err(CoreError::field(
            "urgency.angry_below",
            "a sentiment score in [-1, 1]",
        ));
    }
    Ok(())
}

/// A tenant's settings as last read, prepared for use, with the custom model they name.
#[derive(Debug)]
struct TenantEntry {
    settings: Arc<TriageSettings>,
    triager: Triager,
    custom: Option<Arc<IntentModelRecord>>,
    sentiment_custom: Option<Arc<IntentModelRecord>>,
    read_at: i64,
}

#[derive(Debug)]
struct LoadedModel {
    model: Arc<IntentModel>,
    /// What the bytes were: a pack file's length and modification time, or a custom model's hash.
    stamp: String,
    checked_at: i64,
    used: u64,
}

/// The process's triage state: tenants' settings and the loaded models.
#[derive(Debug)]
pub struct TriageEngine {
    opts: TriageOptions,
    tenants: Mutex<HashMap<TenantId, Arc<TenantEntry>>>,
    /// Bumped by every settings change on this node, so a read that started before the change
    /// does not put the old settings back in the cache.
    generation: std::sync::atomic::AtomicU64,
    models: Arc<Mutex<ModelCache>>,
    /// The configured sentence encoder, loaded once when a model first needs it.
    encoder: Arc<std::sync::OnceLock<Arc<SentenceEncoder>>>,
    /// Encoder jobs running at once (one per core).
    encoder_slots: Arc<tokio::sync::Semaphore>,
}

/// A load in progress: everyone who needs the model while it loads waits for the same one.
type Loading = Arc<tokio::sync::OnceCell<Result<Arc<IntentModel>, String>>>;

#[derive(Debug, Default)]
struct ModelCache {
    entries: HashMap<String, LoadedModel>,
    loading: HashMap<String, Loading>,
    tick: u64,
}

impl ModelCache {
    fn get(&mut self, key: &str) -> Option<&mut LoadedModel> {
        self.tick += 1;
        let tick = self.tick;
        let m = self.entries.get_mut(key)?;
        m.used = tick;
        Some(m)
    }

    fn insert(&mut self, key: String, mut model: LoadedModel, max: usize) {
        self.tick += 1;
        model.used = self.tick;
        self.entries.insert(key, model);
        while self.entries.len() > max.max(1) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, m)| m.used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.entries.remove(&k),
                None => break,
            };
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded maps are caches: whatever a panicking holder left is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a model could not be used.
#[derive(Debug, thiserror::Error)]
enum ModelError {
    #[error("no packs directory is configured")]
    NoPacks,
    #[error("{0}")]
    Unusable(String),
}

impl TriageEngine {
    pub fn new(opts: TriageOptions) -> Self {
        Self {
            opts,
            tenants: Mutex::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
            models: Arc::new(Mutex::new(ModelCache::default())),
            encoder: Arc::new(std::sync::OnceLock::new()),
            encoder_slots: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            )),
        }
    }

    pub fn options(&self) -> &TriageOptions {
        &self.opts
    }

    /// Forgets a tenant's cached settings (after they change on this node).
    fn forget(&self, tenant: &TenantId) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        lock(&self.tenants).remove(tenant);
    }

    /// The packs installed: the model files in the packs directory.
    pub fn packs(&self) -> Vec<String> {
        let Some(dir) = &self.opts.packs_dir else {
            return Vec::new();
        };
        let Ok(read) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = read
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".sbintent")?;
                valid_model_name(stem).then(|| stem.to_owned())
            })
            .collect();
        names.sort();
        names
    }
}

/// A pack file's identity: its length and modification time.
fn file_stamp(path: &std::path::Path) -> Result<String, ModelError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ModelError::Unusable(format!("pack {}: {e}", path.display())))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(format!("{}:{modified}", meta.len()))
}

/// Reads a model file; one with sentence-encoder features gets the configured encoder (loaded
/// once), whatever directory the file records.
fn model_from_bytes(
    bytes: &[u8],
    encoder_dir: Option<&std::path::Path>,
    encoder: &std::sync::OnceLock<Arc<SentenceEncoder>>,
) -> Result<IntentModel, switchboard_nlp::NlpError> {
    IntentModel::from_bytes_with(bytes, |_recorded| {
        let Some(dir) = encoder_dir else {
            return Err(switchboard_nlp::NlpError::Model(
                "this model uses sentence-encoder features and this server has no encoder (triage.encoder_dir)".into(),
            ));
        };
        if let Some(e) = encoder.get() {
            return Ok(e.clone());
        }
        let loaded = Arc::new(SentenceEncoder::load(dir)?);
        Ok(encoder.get_or_init(|| loaded).clone())
    })
}

/// Settings that could not be read: redact everything before storage and guess nothing, rather
/// than store what a policy may have forbidden.
fn fail_closed() -> TriageSettings {
    TriageSettings {
        redaction: RedactionPolicy {
            before_storage: true,
            ..RedactionPolicy::default()
        },
        ..TriageSettings::default()
    }
}

/// What triage did to an inbound message: the content to store and the triage to store with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Triaged {
    pub content: String,
    pub triage: Option<MessageTriage>,
}

fn spans(findings: &[pii::Finding]) -> Vec<PiiSpan> {
    findings
        .iter()
        .map(|f| PiiSpan {
            kind: f.kind.as_str().to_owned(),
            start: f.start,
            end: f.end,
            confidence: round4(f.confidence),
        })
        .collect()
}

/// Four decimals are all a score means; rounding also makes every rendering of it the same.
fn round4(x: f32) -> f64 {
    if x.is_finite() {
        // `+ 0.0` turns -0.0 into 0.0, which would otherwise print as "-0.0".
        (f64::from(x) * 10_000.0).round() / 10_000.0 + 0.0
    } else {
        0.0
    }
}

fn urgency_level(u: Urgency) -> UrgencyLevel {
    match u {
        Urgency::Low => UrgencyLevel::Low,
        Urgency::Normal => UrgencyLevel::Normal,
        Urgency::High => UrgencyLevel::High,
        Urgency::Urgent => UrgencyLevel::Urgent,
    }
}

fn sentiment_label(p: Polarity) -> SentimentLabel {
    match p {
        Polarity::Negative => SentimentLabel::Negative,
        Polarity::Neutral => SentimentLabel::Neutral,
        Polarity::Positive => SentimentLabel::Positive,
    }
}

/// The blob key of a tenant's uploaded model.
fn model_key(tenant: &TenantId, id: &IntentModelId) -> String {
    format!("{}models/{id}", crate::blob::tenant_prefix(tenant))
}

/// What is stored when redaction leaves nothing of a message.
const REDACTED_MARKER: &str = "[REDACTED]";

/// Applies `settings` to `content` with `model` (when loaded): the pure part of triage.
fn run(
    content: String,
    settings: &TriageSettings,
    triager: &Triager,
    model: Result<Option<(Arc<IntentModel>, String)>, String>,
    sentiment_model: Option<(Arc<IntentModel>, String)>,
    hash_key: &[u8],
) -> Triaged {
    let policy = &settings.redaction;
    let (stored, pii_spans, redacted) = match policy.apply(&content, hash_key) {
        None => (None, spans(&pii::detect(&content)), false),
        Some(r) => {
            // Findings not redacted (kinds outside the policy) are found again in the new text.
            let mut all = spans(&r.findings);
            all.extend(spans(&pii::detect_where(&r.text, |k| {
                !policy.applies_to(k)
            })));
            all.sort_by_key(|s| s.start);
            if r.text.trim().is_empty() {
                // Nothing but dropped values: store a marker, never an empty message.
                for s in &mut all {
                    (s.start, s.end) = (0, REDACTED_MARKER.len());
                }
                (Some(REDACTED_MARKER.to_owned()), all, true)
            } else {
                (Some(r.text), all, true)
            }
        }
    };
    // Masks can be longer than what they replace: keep the stored text within the limit.
    let (stored, pii_spans) = match stored {
        Some(text) if text.len() > crate::conversations::MAX_MESSAGE_BYTES => {
            let mut cut = crate::conversations::MAX_MESSAGE_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let spans = pii_spans.into_iter().filter(|p| p.end <= cut).collect();
            (Some(text[..cut].to_owned()), spans)
        }
        other => (other, pii_spans),
    };
    if !settings.enabled {
        return Triaged {
            content: stored.unwrap_or(content),
            triage: None,
        };
    }
    let mut triage = match &model {
        Err(reason) => MessageTriage::untriaged(reason),
        Ok(model) => {
            let t = triager.assess_with(
                &content,
                model.as_ref().map(|(m, _)| m.as_ref()),
                sentiment_model.as_ref().map(|(m, _)| m.as_ref()),
            );
            MessageTriage {
                status: TriageStatus::Triaged,
                error: None,
                language: Some(t.language.code.to_owned()),
                language_confidence: Some((t.language.confidence * 10_000.0).round() / 10_000.0),
                intent_confidence: t.intent.as_ref().map(|p| round4(p.confidence)),
                intent_top: t.intent.as_ref().map_or_else(Vec::new, |p| {
                    p.top
                        .iter()
                        .map(|(intent, confidence)| IntentScore {
                            intent: intent.clone(),
                            confidence: round4(*confidence),
                        })
                        .collect()
                }),
                intent: t.intent.map(|p| p.label),
                intent_model: model.as_ref().map(|(_, name)| name.clone()),
                sentiment: Some(round4(t.sentiment.score)),
                sentiment_model: t
                    .supervised_sentiment
                    .then(|| sentiment_model.as_ref().map(|(_, n)| n.clone()))
                    .flatten(),
                sentiment_label: Some(sentiment_label(t.sentiment.label)),
                urgency: Some(urgency_level(t.urgency)),
                pii: Vec::new(),
                redacted: false,
            }
        }
    };
    triage.pii = pii_spans;
    triage.redacted = redacted;
    Triaged {
        content: stored.unwrap_or(content),
        triage: Some(triage),
    }
}

impl Core {
    fn pii_key(&self, tenant: &TenantId) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        <Hmac<Sha256> as Mac>::new_from_slice(&self.config().pii_hash_key)
            .map(|m| {
                m.chain_update(tenant.as_str().as_bytes())
                    .finalize()
                    .into_bytes()
                    .into()
            })
            .unwrap_or_default()
    }

    /// The tenant's settings and the custom model they name, from the cache while fresh. When
    /// they cannot be read, settings read earlier are used for as long as the database is away.
    async fn triage_entry(&self, ctx: &TenantCtx) -> CoreResult<Arc<TenantEntry>> {
        let now = self.now();
        let engine = &self.triage;
        let cached = lock(&engine.tenants).get(ctx.tenant()).cloned();
        if let Some(e) = &cached {
            if now - e.read_at < engine.opts.settings_ttl_ms {
                return Ok(e.clone());
            }
        }
        let generation = engine.generation.load(std::sync::atomic::Ordering::SeqCst);
        let read = async {
            let mut tx = self.store().tenant(ctx, Access::Read).await?;
            let stored = tx.get_triage_settings().await?;
            let settings: TriageSettings = match stored {
                Some(s) => serde_json::from_value(s.settings).unwrap_or_else(|e| {
                    // Written by a newer release, or damaged: never silently less strict.
                    tracing::error!(tenant = %ctx.tenant(), error = %e, "triage settings unreadable; redacting everything");
                    fail_closed()
                }),
                None => TriageSettings::default(),
            };
            let custom = match settings.model.as_deref().and_then(ModelRef::parse) {
                Some(ModelRef::Custom(name)) => tx.get_intent_model(&name).await?,
                _ => None,
            };
            let sentiment_custom = match settings
                .sentiment_model
                .as_deref()
                .and_then(ModelRef::parse)
            {
                Some(ModelRef::Custom(name)) => tx.get_intent_model(&name).await?,
                _ => None,
            };
            let triager = Triager::new(&TriageConfig {
                languages: settings.languages.clone(),
                urgency: settings.urgency.clone(),
            });
            CoreResult::Ok(TenantEntry {
                settings: Arc::new(settings),
                triager,
                custom: custom.map(Arc::new),
                sentiment_custom: sentiment_custom.map(Arc::new),
                read_at: now,
            })
        };
        match read.await {
            Ok(entry) => {
                let entry = Arc::new(entry);
                let mut tenants = lock(&engine.tenants);
                // A change made while this read ran wins: do not cache what may be older.
                if engine.generation.load(std::sync::atomic::Ordering::SeqCst) == generation {
                    tenants.insert(ctx.tenant().clone(), entry.clone());
                }
                Ok(entry)
            }
            Err(e) => match cached {
                Some(stale) => {
                    tracing::warn!(error = %e, "triage settings unreadable; using the last ones read");
                    Ok(stale)
                }
                None => Err(e),
            },
        }
    }

    /// Triage of an inbound message before it is stored: what to store and what was learned.
    /// Fails only when the tenant's settings cannot be read at all (the store is away, so the
    /// message could not be stored either).
    pub(crate) async fn triage_inbound(
        &self,
        ctx: &TenantCtx,
        content: String,
    ) -> CoreResult<Triaged> {
        let entry = self.triage_entry(ctx).await?;
        // One budget for everything: loading both models and running an encoder.
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.triage.opts.budget_ms);
        let model = if entry.settings.enabled {
            self.triage_model(
                ctx,
                entry.settings.model.as_deref(),
                entry.custom.clone(),
                deadline,
            )
            .await
        } else {
            Ok(None)
        };
        let sentiment = if entry.settings.enabled {
            // A sentiment model that cannot be used leaves the lexicon in charge.
            self.triage_model(
                ctx,
                entry.settings.sentiment_model.as_deref(),
                entry.sentiment_custom.clone(),
                deadline,
            )
            .await
            .unwrap_or(None)
        } else {
            None
        };
        let key = self.pii_key(ctx.tenant());
        let slow = matches!(&model, Ok(Some((m, _))) if m.uses_encoder())
            || matches!(&sentiment, Some((m, _)) if m.uses_encoder());
        if !slow {
            // Microseconds of work, bounded by the message size: done in place.
            return Ok(run(
                content,
                &entry.settings,
                &entry.triager,
                model,
                sentiment,
                &key,
            ));
        }
        // A sentence encoder takes milliseconds: off the async threads, within the budget, and
        // at most one job per core at a time (a job that outlives its message still holds its
        // slot, so overload turns into "untriaged" messages, not a growing pile of work).
        let slots = self.triage.encoder_slots.clone();
        let outcome = match tokio::time::timeout_at(deadline, slots.acquire_owned()).await {
            Ok(Ok(slot)) => {
                let (text, job_entry) = (content.clone(), entry.clone());
                let job = tokio::task::spawn_blocking(move || {
                    let done = run(
                        text,
                        &job_entry.settings,
                        &job_entry.triager,
                        model,
                        sentiment,
                        &key,
                    );
                    drop(slot);
                    done
                });
                match tokio::time::timeout_at(deadline, job).await {
                    Ok(Ok(done)) => Ok(done),
                    Ok(Err(_)) => Err("model_unavailable"),
                    Err(_) => Err("timeout"),
                }
            }
            Ok(Err(_)) => Err("model_unavailable"),
            Err(_) => Err("timeout"),
        };
        match outcome {
            Ok(done) => Ok(done),
            Err(reason) => {
                tracing::warn!(tenant = %ctx.tenant(), reason, "triage did not finish; message stored untriaged");
                Ok(run(
                    content,
                    &entry.settings,
                    &entry.triager,
                    Err(reason.to_owned()),
                    None,
                    &key,
                ))
            }
        }
    }

    /// `text` as the tenant's redaction policy lets it be stored (for channel details such as an
    /// email's subject; message content goes through [`Core::triage_inbound`]).
    pub(crate) async fn redact_for_storage(
        &self,
        ctx: &TenantCtx,
        text: String,
    ) -> CoreResult<String> {
        let entry = self.triage_entry(ctx).await?;
        let key = self.pii_key(ctx.tenant());
        Ok(match entry.settings.redaction.apply(&text, &key) {
            Some(r) => r.text,
            None => text,
        })
    }

    /// The tenant's intent model and its name (`None`: it has none), or why it is unusable
    /// (`model_unavailable`, `timeout`). A cached model answers at once; otherwise the load runs
    /// in a task of its own, so one that outlasts the budget still finishes for the next message.
    async fn triage_model(
        &self,
        ctx: &TenantCtx,
        spec: Option<&str>,
        custom: Option<Arc<IntentModelRecord>>,
        deadline: tokio::time::Instant,
    ) -> Result<Option<(Arc<IntentModel>, String)>, String> {
        let Some(model_ref) = spec.and_then(ModelRef::parse) else {
            return Ok(None);
        };
        let loader = Loader {
            blobs: self.blobs().clone(),
            models: self.triage.models.clone(),
            packs_dir: self.triage.opts.packs_dir.clone(),
            max_models: self.triage.opts.max_models,
            ttl: self.triage.opts.settings_ttl_ms,
            now: self.now(),
            tenant: ctx.tenant().clone(),
            custom,
            encoder_dir: self.triage.opts.encoder_dir.clone(),
            encoder: self.triage.encoder.clone(),
        };
        if let Some(hit) = loader.cached(&model_ref) {
            return Ok(Some(hit));
        }
        let load = tokio::spawn(loader.load(model_ref));
        match tokio::time::timeout_at(deadline, load).await {
            Ok(Ok(Ok(m))) => Ok(Some(m)),
            Ok(Ok(Err(e))) => {
                tracing::warn!(tenant = %ctx.tenant(), error = %e, "intent model unavailable; message stored untriaged");
                Err("model_unavailable".to_owned())
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "intent model load failed");
                Err("model_unavailable".to_owned())
            }
            Err(_) => {
                tracing::warn!(tenant = %ctx.tenant(), "intent model still loading; message stored untriaged");
                Err("timeout".to_owned())
            }
        }
    }
}

/// Everything needed to find or load one tenant's model, owned, so a load can outlive the
/// request that started it.
struct Loader {
    blobs: Arc<dyn crate::blob::BlobStore>,
    models: Arc<Mutex<ModelCache>>,
    packs_dir: Option<PathBuf>,
    max_models: usize,
    ttl: i64,
    now: i64,
    tenant: TenantId,
    custom: Option<Arc<IntentModelRecord>>,
    encoder_dir: Option<PathBuf>,
    encoder: Arc<std::sync::OnceLock<Arc<SentenceEncoder>>>,
}

impl Loader {
    /// The cache key and display name of `r`.
    fn key(&self, r: &ModelRef) -> Result<(String, String), ModelError> {
        Ok(match r {
            ModelRef::Pack(n) => (format!("pack:{n}"), format!("pack:{n}")),
            ModelRef::Custom(n) => {
                let rec = self.custom_record(n)?;
                (
                    format!("custom:{}:{}", self.tenant, rec.sha256),
                    format!("custom:{n}"),
                )
            }
        })
    }

    fn custom_record(&self, name: &str) -> Result<&IntentModelRecord, ModelError> {
        self.custom
            .as_deref()
            .filter(|r| r.name == name)
            .ok_or_else(|| ModelError::Unusable(format!("no custom model {name:?}")))
    }

    /// The model if it is loaded and (for a pack) was checked against its file lately.
    fn cached(&self, r: &ModelRef) -> Option<(Arc<IntentModel>, String)> {
        let (key, name) = self.key(r).ok()?;
        let mut cache = lock(&self.models);
        let m = cache.get(&key)?;
        // Uploaded models never change under their hash; a pack file may be replaced.
        (matches!(r, ModelRef::Custom(_)) || self.now - m.checked_at < self.ttl)
            .then(|| (m.model.clone(), name))
    }

    /// Loads `r` once however many messages ask for it at the same time.
    async fn load(self, r: ModelRef) -> Result<(Arc<IntentModel>, String), ModelError> {
        let (key, name) = self.key(&r)?;
        let cell: Loading = lock(&self.models)
            .loading
            .entry(key.clone())
            .or_default()
            .clone();
        let result = cell
            .get_or_init(|| async {
                self.load_now(&r, &key, &name)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .clone();
        {
            let mut cache = lock(&self.models);
            if cache
                .loading
                .get(&key)
                .is_some_and(|c| Arc::ptr_eq(c, &cell))
            {
                cache.loading.remove(&key);
            }
        }
        result.map(|m| (m, name)).map_err(ModelError::Unusable)
    }

    async fn load_now(
        &self,
        r: &ModelRef,
        key: &str,
        name: &str,
    ) -> Result<Arc<IntentModel>, ModelError> {
        let (bytes, stamp) = match r {
            ModelRef::Pack(n) => {
                let dir = self.packs_dir.as_ref().ok_or(ModelError::NoPacks)?;
                let path = dir.join(format!("{n}.sbintent"));
                let stamp = file_stamp(&path)?;
                {
                    let mut cache = lock(&self.models);
                    if let Some(m) = cache.get(key) {
                        if m.stamp == stamp {
                            m.checked_at = self.now;
                            return Ok(m.model.clone());
                        }
                    }
                }
                let bytes = tokio::fs::read(&path)
                    .await
                    .map_err(|e| ModelError::Unusable(format!("pack {n}: {e}")))?;
                (bytes, stamp)
            }
            ModelRef::Custom(n) => {
                let rec = self.custom_record(n)?;
                let bytes = self
                    .blobs
                    .get(&model_key(&self.tenant, &rec.id))
                    .await
                    .map_err(|e| ModelError::Unusable(e.to_string()))?
                    .ok_or_else(|| ModelError::Unusable(format!("model {n:?} has no bytes")))?;
                (bytes, rec.sha256.clone())
            }
        };
        let (encoder_dir, encoder) = (self.encoder_dir.clone(), self.encoder.clone());
        let model = tokio::task::spawn_blocking(move || {
            model_from_bytes(&bytes, encoder_dir.as_deref(), &encoder)
        })
        .await
        .map_err(|e| ModelError::Unusable(e.to_string()))?
        .map_err(|e| ModelError::Unusable(format!("{name}: {e}")))?;
        let model = Arc::new(model);
        tracing::info!(model = %name, "intent model loaded");
        lock(&self.models).insert(
            key.to_owned(),
            LoadedModel {
                model: model.clone(),
                stamp,
                checked_at: self.now,
                used: 0,
            },
            self.max_models,
        );
        Ok(model)
    }
}

/// What a model upload stored.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadedModel {
    pub record: IntentModelRecord,
    /// Whether a model of this name was replaced.
    pub replaced: bool,
}

impl Core {
    /// The tenant's triage settings (the defaults until an admin saves some).
    pub async fn triage_settings(&self, access: &TenantAccess) -> CoreResult<TriageSettings> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let stored = self
            .store()
            .tenant(&access.ctx, Access::Read)
            .await?
            .get_triage_settings()
            .await?;
        match stored {
            None => Ok(TriageSettings::default()),
            Some(s) => serde_json::from_value(s.settings).map_err(|e| {
                CoreError::Internal(format!(
                    "stored triage settings are unreadable ({e}); messages are redacted in full until new settings are saved"
                ))
            }),
        }
    }

    /// Saves the tenant's triage settings; they apply to the next message on this node at once
    /// and on other nodes within the settings cache time.
    pub async fn put_triage_settings(
        &self,
        access: &TenantAccess,
        settings: TriageSettings,
        meta: &RequestMeta,
    ) -> CoreResult<TriageSettings> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        check_settings(&settings)?;
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        match settings.model.as_deref().and_then(ModelRef::parse) {
            Some(ModelRef::Custom(name)) if tx.get_intent_model(&name).await?.is_none() => {
                return Err(CoreError::field(
                    "model",
                    "no uploaded model of this name (PUT /v1/triage/models/{name} first)",
                ))
            }
            Some(ModelRef::Pack(name)) if !self.triage.packs().contains(&name) => {
                return Err(CoreError::field(
                    "model",
                    "no installed pack of this name (GET /v1/triage/packs lists them)",
                ))
            }
            _ => {}
        }
        match settings
            .sentiment_model
            .as_deref()
            .and_then(ModelRef::parse)
        {
            Some(ModelRef::Custom(name)) => {
                let Some(rec) = tx.get_intent_model(&name).await? else {
                    return Err(CoreError::field(
                        "sentiment_model",
                        "no uploaded model of this name",
                    ));
                };
                if !switchboard_nlp::sentiment::is_sentiment_labels(&rec.labels) {
                    return Err(CoreError::field(
                        "sentiment_model",
                        "a sentiment model's labels are negative and positive, and may add neutral",
                    ));
                }
            }
            Some(ModelRef::Pack(name)) if !self.triage.packs().contains(&name) => {
                return Err(CoreError::field(
                    "sentiment_model",
                    "no installed pack of this name",
                ))
            }
            _ => {}
        }
        let value =
            serde_json::to_value(&settings).map_err(|e| CoreError::Internal(e.to_string()))?;
        tx.put_triage_settings(&StoredTriageSettings {
            settings: value.clone(),
            updated_at: now,
        })
        .await?;
        crate::changes::record(
            &mut *tx,
            meta,
            "triage.settings_updated",
            "triage_settings",
            access.ctx.tenant().to_string(),
            value,
            now,
        )
        .await?;
        tx.commit().await?;
        self.triage.forget(access.ctx.tenant());
        Ok(settings)
    }

    /// The largest model file an upload may carry.
    pub fn triage_model_max_bytes(&self) -> usize {
        self.triage.opts.model_max_bytes
    }

    /// The packs installed on this server.
    pub fn triage_packs(&self, access: &TenantAccess) -> CoreResult<Vec<String>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        Ok(self.triage.packs())
    }

    /// Stores a model the tenant trained (`switchboard model train`) under `name`, replacing
    /// one of the same name; tenants whose settings name it switch to it within the settings
    /// cache time. The file is checked by loading it: a corrupt, truncated or foreign file is
    /// refused and nothing changes.
    pub async fn upload_intent_model(
        &self,
        access: &TenantAccess,
        name: &str,
        bytes: Vec<u8>,
        meta: &RequestMeta,
    ) -> CoreResult<UploadedModel> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        if !valid_model_name(name) {
            return Err(CoreError::field(
                "name",
                "1 to 64 lower-case letters, digits, - and _",
            ));
        }
        let max = self.triage.opts.model_max_bytes;
        if bytes.len() > max {
            return Err(CoreError::field(
                "model",
                &format!("larger than the {max}-byte limit"),
            ));
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let size_bytes = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        let encoder_dir = self.triage.opts.encoder_dir.clone();
        let encoder = self.triage.encoder.clone();
        let (bytes, parsed) = tokio::task::spawn_blocking(move || {
            let parsed = model_from_bytes(&bytes, encoder_dir.as_deref(), &encoder);
            (bytes, parsed)
        })
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))?;
        let model = parsed.map_err(|e| CoreError::field("model", &e.to_string()))?;
        let now = self.now();
        let record = IntentModelRecord {
            id: IntentModelId::generate(),
            name: name.to_owned(),
            sha256,
            size_bytes,
            labels: model.labels.clone(),
            created_at: now,
        };
        // The bytes go first under a fresh key: a failure after this leaves an unreferenced
        // blob, never a record without bytes.
        self.blobs()
            .put(
                &model_key(access.ctx.tenant(), &record.id),
                bytes,
                "application/octet-stream",
            )
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let previous = tx.get_intent_model(name).await?;
        let replaced = tx.delete_intent_model(name).await?;
        if !tx.insert_intent_model(&record).await? {
            return Err(CoreError::Conflict("a model with this name"));
        }
        crate::changes::record(
            &mut *tx,
            meta,
            if replaced {
                "intent_model.replaced"
            } else {
                "intent_model.uploaded"
            },
            "intent_model",
            record.id.to_string(),
            serde_json::json!({"model_id": record.id, "name": record.name, "sha256": record.sha256,
                               "size_bytes": record.size_bytes, "labels": record.labels.len()}),
            now,
        )
        .await?;
        tx.commit().await?;
        self.triage.forget(access.ctx.tenant());
        if let Some(old) = previous {
            self.drop_model_bytes(access.ctx.tenant(), &old.id).await;
        }
        Ok(UploadedModel { record, replaced })
    }

    /// Deletes a model's bytes once no record names them (after the commit: a failure leaves an
    /// unreferenced blob, which the tenant's purge removes, never a record without bytes).
    async fn drop_model_bytes(&self, tenant: &TenantId, id: &IntentModelId) {
        if let Err(e) = self.blobs().delete_prefix(&model_key(tenant, id)).await {
            tracing::warn!(%tenant, model = %id, error = %e, "old model bytes not deleted");
        }
    }

    pub async fn list_intent_models(
        &self,
        access: &TenantAccess,
    ) -> CoreResult<Vec<IntentModelRecord>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        Ok(self
            .store()
            .tenant(&access.ctx, Access::Read)
            .await?
            .list_intent_models()
            .await?)
    }

    /// Deletes an uploaded model, unless the tenant's settings still select it.
    pub async fn delete_intent_model(
        &self,
        access: &TenantAccess,
        name: &str,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        if !valid_model_name(name) {
            return Err(CoreError::NotFound);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let record = tx
            .get_intent_model(name)
            .await?
            .ok_or(CoreError::NotFound)?;
        let selected = tx
            .get_triage_settings()
            .await?
            .and_then(|s| serde_json::from_value::<TriageSettings>(s.settings).ok())
            .is_some_and(|s| {
                let me = Some(format!("custom:{name}"));
                s.model == me || s.sentiment_model == me
            });
        if selected {
            return Err(CoreError::BadRequest(
                "the triage settings select this model; choose another first".into(),
            ));
        }
        tx.delete_intent_model(name).await?;
        crate::changes::record(
            &mut *tx,
            meta,
            "intent_model.deleted",
            "intent_model",
            record.id.to_string(),
            serde_json::json!({"model_id": record.id, "name": record.name}),
            now,
        )
        .await?;
        tx.commit().await?;
        self.triage.forget(access.ctx.tenant());
        self.drop_model_bytes(access.ctx.tenant(), &record.id).await;
        Ok(())
    }

    /// What triage would store for `text` under the tenant's current settings, without storing
    /// anything: for trying settings and models out.
    pub async fn preview_triage(&self, access: &TenantAccess, text: String) -> CoreResult<Triaged> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        crate::conversations::check_content(&text)?;
        self.triage_inbound(&access.ctx, text).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TriageSettings {
        TriageSettings::default()
    }

    fn triager(s: &TriageSettings) -> Triager {
        Triager::new(&TriageConfig {
            languages: s.languages.clone(),
            urgency: s.urgency.clone(),
        })
    }

    #[test]
    fn model_references_are_packs_or_custom_with_safe_names() {
        assert_eq!(
            ModelRef::parse("pack:banking"),
            Some(ModelRef::Pack("banking".into()))
        );
        assert_eq!(
            ModelRef::parse("custom:v2_en"),
            Some(ModelRef::Custom("v2_en".into()))
        );
        for bad in [
            "banking",
            "pack:",
            "pack:../etc",
            "pack:a/b",
            "custom:UP",
            "other:x",
            "pack:a b",
        ] {
            assert_eq!(ModelRef::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn redaction_before_storage_replaces_values_and_points_at_the_masks() {
        let mut s = settings();
        s.redaction.before_storage = true;
        s.redaction.modes.insert(PiiKind::Card, Redaction::Partial);
        let t = run(
            "card 4242 4242 4242 4242, mail me at a@b.io".into(),
            &s,
            &triager(&s),
            Ok(None),
            None,
            b"k",
        );
        assert_eq!(t.content, "card •••• 4242, mail me at [EMAIL]");
        let triage = t.triage.unwrap();
        assert!(triage.redacted);
        let shown: Vec<&str> = triage
            .pii
            .iter()
            .map(|p| &t.content[p.start..p.end])
            .collect();
        assert_eq!(shown, ["•••• 4242", "[EMAIL]"]);
    }

    #[test]
    fn kinds_outside_the_policy_are_kept_and_still_reported() {
        let mut s = settings();
        s.redaction.before_storage = true;
        s.redaction.kinds = vec![PiiKind::Card];
        let t = run(
            "a@b.io paid with 4242 4242 4242 4242".into(),
            &s,
            &triager(&s),
            Ok(None),
            None,
            b"k",
        );
        assert_eq!(t.content, "a@b.io paid with [CARD]");
        let triage = t.triage.unwrap();
        let kinds: Vec<(&str, &str)> = triage
            .pii
            .iter()
            .map(|p| (p.kind.as_str(), &t.content[p.start..p.end]))
            .collect();
        assert_eq!(kinds, [("email", "a@b.io"), ("card", "[CARD]")]);
    }

    #[test]
    fn without_the_policy_the_content_is_kept_and_findings_point_into_it() {
        let t = run(
            "call +44 20 7946 0958".into(),
            &settings(),
            &triager(&settings()),
            Ok(None),
            None,
            b"k",
        );
        assert_eq!(t.content, "call +44 20 7946 0958");
        let triage = t.triage.unwrap();
        assert!(!triage.redacted);
        assert_eq!(
            &t.content[triage.pii[0].start..triage.pii[0].end],
            "+44 20 7946 0958"
        );
        assert_eq!(triage.status, TriageStatus::Triaged);
        assert_eq!(triage.intent, None);
    }

    #[test]
    fn a_failed_model_leaves_the_message_untriaged_but_redacted() {
        let mut s = settings();
        s.redaction.before_storage = true;
        let t = run(
            "ssn 123-45-6789".into(),
            &s,
            &triager(&s),
            Err("timeout".into()),
            None,
            b"k",
        );
        assert_eq!(t.content, "ssn [SSN]");
        let triage = t.triage.unwrap();
        assert_eq!(triage.status, TriageStatus::Untriaged);
        assert_eq!(triage.error.as_deref(), Some("timeout"));
        assert!(triage.redacted);
        assert_eq!(triage.language, None);
    }

    #[test]
    fn a_message_of_dropped_values_is_stored_as_a_marker() {
        let mut s = settings();
        s.redaction.before_storage = true;
        s.redaction.mode = Redaction::Drop;
        let t = run(
            " 123-45-6789 ".into(),
            &s,
            &triager(&s),
            Ok(None),
            None,
            b"k",
        );
        assert_eq!(t.content, "[REDACTED]");
        assert_eq!(t.triage.unwrap().pii.len(), 1);
    }

    #[test]
    fn redaction_never_makes_a_message_too_long_to_store() {
        let mut s = settings();
        s.redaction.before_storage = true;
        // Six-character postcodes become nine-character masks.
        let text = "M1 1AE ".repeat(crate::conversations::MAX_MESSAGE_BYTES / 7);
        let t = run(text, &s, &triager(&s), Ok(None), None, b"k");
        assert!(t.content.len() <= crate::conversations::MAX_MESSAGE_BYTES);
        let triage = t.triage.unwrap();
        assert!(triage.pii.iter().all(|p| p.end <= t.content.len()));
    }

    #[test]
    fn scores_are_rounded_finite_and_never_negative_zero() {
        assert_eq!(round4(0.123_456), 0.1235);
        assert_eq!(round4(f32::NAN), 0.0);
        assert!(round4(-0.0).is_sign_positive());
        assert!(round4(-0.00001).is_sign_positive());
    }

    #[test]
    fn a_policy_limited_to_some_kinds_still_redacts_values_another_kind_overlaps() {
        let mut s = settings();
        s.redaction.before_storage = true;
        s.redaction.kinds = vec![PiiKind::Phone];
        // Read as a health id by default; the policy only knows phones, and still finds it.
        let t = run(
            "member ID 4155550132 please".into(),
            &s,
            &triager(&s),
            Ok(None),
            None,
            b"k",
        );
        assert_eq!(t.content, "member ID [PHONE] please");
    }

    #[test]
    fn unreadable_settings_fail_closed() {
        let s = fail_closed();
        assert!(s.redaction.before_storage && s.redaction.kinds.is_empty());
        assert_eq!(s.model, None);
    }

    #[test]
    fn disabled_triage_stores_nothing_but_still_redacts() {
        let mut s = settings();
        s.enabled = false;
        s.redaction.before_storage = true;
        let t = run(
            "ssn 123-45-6789".into(),
            &s,
            &triager(&s),
            Ok(None),
            None,
            b"k",
        );
        assert_eq!(t.content, "ssn [SSN]");
        assert_eq!(t.triage, None);
    }

    #[test]
    fn settings_are_checked() {
        let ok = settings();
        assert!(check_settings(&ok).is_ok());
        let mut s = settings();
        s.languages = vec!["klingon".into()];
        assert!(check_settings(&s).is_err());
        let mut s = settings();
        s.urgency.angry_below = 3.0;
        assert!(check_settings(&s).is_err());
        let mut s = settings();
        s.urgency.urgent_terms = vec!["x".repeat(101)];
        assert!(check_settings(&s).is_err());
        let mut s = settings();
        s.model = Some("pack:../../etc/passwd".into());
        assert!(check_settings(&s).is_err());
        let unknown: Result<TriageSettings, _> =
            serde_json::from_value(serde_json::json!({"enabled": true, "surprise": 1}));
        assert!(unknown.is_err());
    }

    #[test]
    fn the_cache_drops_the_least_recently_used_model() {
        let model = |n: &str| {
            let data: Vec<switchboard_nlp::dataset::Example> = ["a", "b"]
                .iter()
                .flat_map(|l| {
                    (0..4).map(move |i| switchboard_nlp::dataset::Example {
                        text: format!("{l} text {i}"),
                        label: (*l).to_owned(),
                    })
                })
                .collect();
            let _ = n;
            Arc::new(IntentModel::train(&data, None, &Default::default()).unwrap())
        };
        let mut cache = ModelCache::default();
        let entry = |m| LoadedModel {
            model: m,
            stamp: String::new(),
            checked_at: 0,
            used: 0,
        };
        cache.insert("one".into(), entry(model("one")), 2);
        cache.insert("two".into(), entry(model("two")), 2);
        assert!(cache.get("one").is_some());
        cache.insert("three".into(), entry(model("three")), 2);
        assert!(cache.get("two").is_none());
        assert!(cache.get("one").is_some() && cache.get("three").is_some());
    }
}
