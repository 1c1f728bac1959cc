//! `switchboard bench intent`: how fast a trained intent model loads and classifies, one message
//! at a time (latency) and in bulk on every core (throughput).

use serde::Serialize;
use std::path::Path;
use switchboard_nlp::dataset;
use switchboard_nlp::intent::IntentModel;

/// The figures.
#[derive(Debug, Clone, Serialize)]
pub struct IntentReport {
    pub texts: usize,
    pub load_ms: f64,
    pub single_p50_ms: f64,
    pub single_p99_ms: f64,
    pub batch_messages_per_second: f64,
    pub threads: usize,
}

/// Classifies every text once, timed one by one, then `rounds` times over on all cores.
#[allow(clippy::disallowed_methods)] // measuring wall time is the point of a benchmark
pub fn run(
    model: &Path,
    data: &Path,
    text_column: &str,
    rounds: usize,
) -> anyhow::Result<IntentReport> {
    let started = std::time::Instant::now();
    let model = IntentModel::load(model)?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let texts = dataset::load_texts(data, text_column)?;
    anyhow::ensure!(!texts.is_empty(), "no texts in {}", data.display());
    let mut nanos: Vec<u64> = texts
        .iter()
        .map(|t| {
            let s = std::time::Instant::now();
            std::hint::black_box(model.predict(t));
            u64::try_from(s.elapsed().as_nanos()).unwrap_or(u64::MAX)
        })
        .collect();
    nanos.sort_unstable();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (model, texts) = (&model, &texts);
            scope.spawn(move || {
                for _ in 0..rounds {
                    for text in texts.iter().skip(t).step_by(threads) {
                        std::hint::black_box(model.predict(text));
                    }
                }
            });
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    Ok(IntentReport {
        texts: texts.len(),
        load_ms,
        single_p50_ms: super::percentile(&nanos, 0.50) / 1e3,
        single_p99_ms: super::percentile(&nanos, 0.99) / 1e3,
        batch_messages_per_second: (texts.len() * rounds) as f64 / seconds,
        threads,
    })
}
