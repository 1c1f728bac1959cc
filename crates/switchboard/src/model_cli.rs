//! `switchboard model train|eval|predict`: the intent classifier from the command line. Each
//! command prints one JSON object (the last line of standard output).

use anyhow::Context;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use switchboard_nlp::dataset::{self, Columns, Example, Format};
use switchboard_nlp::encoder::SentenceEncoder;
use switchboard_nlp::intent::{IntentModel, TrainOptions};

/// Loads a model; its sentence encoder (if it has one) from `encoder` when given, else from
/// where it was at training time.
fn load(model: &Path, encoder: Option<&Path>) -> anyhow::Result<IntentModel> {
    let raw = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    let m = IntentModel::from_bytes_with(&raw, |recorded| {
        SentenceEncoder::load(encoder.unwrap_or(recorded)).map(Arc::new)
    })
    .with_context(|| format!("loading {}", model.display()))?;
    Ok(m)
}

/// What `model train` was asked to do.
#[derive(Debug)]
pub struct TrainRequest<'a> {
    pub data: &'a Path,
    pub out: &'a Path,
    pub format: Format,
    pub columns: &'a Columns,
    pub seed: u64,
    pub c_grid: &'a [f64],
    pub min_df: u32,
    /// A sentence-transformers directory whose embeddings join the features.
    pub encoder: Option<&'a Path>,
    /// How many of the encoder's last layers are fine-tuned (0: none).
    pub tune_layers: usize,
    pub tune_epochs: usize,
}

/// Trains and saves a model; `clinc` data trains on `train` + `oos_train` and tunes on `val` +
/// `oos_val`, other formats hold out a tenth of the rows for tuning.
pub fn train(req: TrainRequest<'_>) -> anyhow::Result<Value> {
    let TrainRequest {
        data,
        out,
        format,
        columns,
        seed,
        c_grid,
        min_df,
        encoder,
        tune_layers,
        tune_epochs,
    } = req;
    let lists = dataset::load(data, format, columns)?;
    let pick = |names: &[&str]| -> Vec<Example> {
        lists
            .iter()
            .filter(|(n, _)| names.contains(&n.as_str()))
            .flat_map(|(_, l)| l.iter().cloned())
            .collect()
    };
    let (train, validation) = match format {
        Format::Clinc => (
            pick(&["train", "oos_train"]),
            Some(pick(&["val", "oos_val"])),
        ),
        Format::Csv | Format::Jsonl => (pick(&["all"]), None),
    };
    if train.is_empty() {
        anyhow::bail!("no training examples in {}", data.display());
    }
    let mut options = TrainOptions::default();
    options.svm.seed = seed;
    options.c_grid = c_grid.to_vec();
    options.min_df = min_df;
    options.tune.layers = tune_layers;
    options.tune.epochs = tune_epochs;
    let encoder = match encoder {
        Some(dir) => Some(Arc::new(SentenceEncoder::load(dir).with_context(|| {
            format!("loading the sentence encoder in {}", dir.display())
        })?)),
        None => None,
    };
    #[allow(clippy::disallowed_methods)] // reporting the training time is the point
    let started = std::time::Instant::now();
    let model = IntentModel::train_with(&train, validation.as_deref(), &options, encoder)?;
    let seconds = started.elapsed().as_secs_f64();
    model
        .save(out)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(json!({
        "classes": model.labels.len(),
        "examples": train.len(),
        "features": model.linear.features,
        "encoder": model.dense.as_ref().map(|d| json!({"dims": d.dims, "weight": d.weight, "sha256": d.encoder_sha256, "tuned_layers": d.encoder.tuned_layers()})),
        "threshold": model.threshold,
        "c": model.c,
        "temperature": model.temperature,
        "train_seconds": seconds,
    }))
}

/// Evaluates a saved model on every list of a data file.
pub fn eval(
    model: &Path,
    data: &Path,
    format: Format,
    columns: &Columns,
    encoder: Option<&Path>,
) -> anyhow::Result<Value> {
    let model = load(model, encoder)?;
    let examples: Vec<Example> = dataset::load(data, format, columns)?
        .into_iter()
        .flat_map(|(_, l)| l)
        .collect();
    Ok(serde_json::to_value(switchboard_nlp::eval::evaluate(
        &model, &examples,
    )?)?)
}

/// Classifies each text.
pub fn predict(model: &Path, texts: &[String], encoder: Option<&Path>) -> anyhow::Result<Value> {
    let model = load(model, encoder)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let predictions: Vec<Value> = texts
        .iter()
        .zip(model.predict_many(&refs)?)
        .map(|(t, p)| {
            json!({
                "text": t,
                "label": p.label,
                "confidence": p.confidence,
                "out_of_scope": p.out_of_scope,
                "top": p.top.iter().map(|(l, c)| json!({"label": l, "confidence": c})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({ "predictions": predictions }))
}
