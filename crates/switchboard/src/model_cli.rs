//! `switchboard model train|eval|predict`: the intent classifier from the command line. Each
//! command prints one JSON object (the last line of standard output).

use anyhow::Context;
use serde_json::{json, Value};
use std::path::Path;
use switchboard_nlp::dataset::{self, Columns, Example, Format};
use switchboard_nlp::intent::{IntentModel, TrainOptions};

/// Trains and saves a model; `clinc` data trains on `train` + `oos_train` and tunes on `val` +
/// `oos_val`, other formats hold out a tenth of the rows for tuning.
pub fn train(
    data: &Path,
    out: &Path,
    format: Format,
    columns: &Columns,
    seed: u64,
    c_grid: &[f64],
    min_df: u32,
) -> anyhow::Result<Value> {
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
    #[allow(clippy::disallowed_methods)] // reporting the training time is the point
    let started = std::time::Instant::now();
    let model = IntentModel::train(&train, validation.as_deref(), &options)?;
    let seconds = started.elapsed().as_secs_f64();
    model
        .save(out)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(json!({
        "classes": model.labels.len(),
        "examples": train.len(),
        "features": model.vocabulary.len(),
        "threshold": model.threshold,
        "c": model.c,
        "temperature": model.temperature,
        "train_seconds": seconds,
    }))
}

/// Evaluates a saved model on every list of a data file.
pub fn eval(model: &Path, data: &Path, format: Format, columns: &Columns) -> anyhow::Result<Value> {
    let model = IntentModel::load(model).with_context(|| format!("loading {}", model.display()))?;
    let examples: Vec<Example> = dataset::load(data, format, columns)?
        .into_iter()
        .flat_map(|(_, l)| l)
        .collect();
    Ok(serde_json::to_value(switchboard_nlp::eval::evaluate(
        &model, &examples,
    ))?)
}

/// Classifies each text.
pub fn predict(model: &Path, texts: &[String]) -> anyhow::Result<Value> {
    let model = IntentModel::load(model).with_context(|| format!("loading {}", model.display()))?;
    let predictions: Vec<Value> = texts
        .iter()
        .map(|t| {
            let p = model.predict(t);
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
