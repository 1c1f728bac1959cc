//! The sentence encoder end to end, on the real all-MiniLM-L6-v2 weights (CI fetches them with
//! `scripts/fetch-encoder.sh`; `SWITCHBOARD_TEST_ENCODER` names the directory). Built only with
//! the `encoder` feature; with it, a missing encoder is a failure, not a skip.
#![cfg(feature = "encoder")]
// Test helpers outside #[test] functions: failing loudly is their job.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use switchboard_nlp::dataset::Example;
use switchboard_nlp::encoder::{SentenceEncoder, TuneOptions};
use switchboard_nlp::intent::{IntentModel, TrainOptions};

fn encoder_dir() -> PathBuf {
    let dir = std::env::var("SWITCHBOARD_TEST_ENCODER").unwrap_or_else(|_| {
        panic!("set SWITCHBOARD_TEST_ENCODER to the directory scripts/fetch-encoder.sh prints")
    });
    PathBuf::from(dir)
}

fn encoder() -> Arc<SentenceEncoder> {
    Arc::new(SentenceEncoder::load(&encoder_dir()).unwrap())
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn embeddings_are_unit_length_and_close_for_close_meanings() {
    let enc = encoder();
    assert_eq!(enc.dims(), 384);
    let texts = [
        "My card still has not arrived",
        "When will my new card be delivered?",
        "What is the weather like in Paris tomorrow?",
        "",
        "😡😡😡",
    ];
    let v = enc.embed(&texts).unwrap();
    assert_eq!(v.len(), texts.len());
    for e in &v {
        assert_eq!(e.len(), 384);
        let norm: f32 = e.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "{norm}");
    }
    let near = cosine(&v[0], &v[1]);
    let far = cosine(&v[0], &v[2]);
    assert!(
        near > 0.5 && far < 0.3 && near > far + 0.3,
        "near {near} far {far}"
    );
    // The same text gives the same embedding alone or in a batch of other lengths.
    let alone = enc.embed(&[texts[1]]).unwrap();
    assert!(cosine(&alone[0], &v[1]) > 0.9999);
    // Long input is cut, not refused.
    let long = "card ".repeat(5_000);
    assert_eq!(enc.embed(&[long.as_str()]).unwrap()[0].len(), 384);
}

/// A slice of the shipped BANKING77 training data: `per_class` examples of the first
/// `classes` intents for training, the next `test` for testing.
fn slice(classes: usize, per_class: usize, test: usize) -> (Vec<Example>, Vec<Example>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../packs/data/banking77.csv");
    let mut reader = csv::Reader::from_path(path).unwrap();
    let mut by_class: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in reader.records() {
        let row = row.unwrap();
        by_class
            .entry(row[1].to_owned())
            .or_default()
            .push(row[0].to_owned());
    }
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (label, texts) in by_class.into_iter().take(classes) {
        for (i, text) in texts.into_iter().take(per_class + test).enumerate() {
            let e = Example {
                text,
                label: label.clone(),
            };
            if i < per_class {
                train.push(e);
            } else {
                held.push(e);
            }
        }
    }
    (train, held)
}

fn accuracy(model: &IntentModel, examples: &[Example]) -> f64 {
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let predictions = model.predict_many(&texts).unwrap();
    let ok = predictions
        .iter()
        .zip(examples)
        .filter(|(p, e)| p.label == e.label)
        .count();
    ok as f64 / examples.len() as f64
}

#[test]
fn encoder_features_help_and_survive_a_save_and_reload() {
    let (train, test) = slice(20, 10, 8);
    let options = TrainOptions::default();
    let sparse = IntentModel::train(&train, None, &options).unwrap();
    let enc = encoder();
    let dense = IntentModel::train_with(&train, None, &options, Some(enc.clone())).unwrap();
    assert!(dense.uses_encoder() && !sparse.uses_encoder());
    // By default the encoder's last two layers are fine-tuned on the training texts.
    let tuned = |m: &IntentModel| m.dense.as_ref().map(|d| d.encoder.tuned_layers());
    assert_eq!(tuned(&dense), Some(2));
    let frozen_options = TrainOptions {
        tune: TuneOptions {
            layers: 0,
            ..TuneOptions::default()
        },
        ..TrainOptions::default()
    };
    let frozen = IntentModel::train_with(&train, None, &frozen_options, Some(enc.clone())).unwrap();
    assert_eq!(tuned(&frozen), Some(0));
    let (a_sparse, a_dense) = (accuracy(&sparse, &test), accuracy(&dense, &test));
    assert!(
        a_dense > a_sparse + 0.05,
        "with the encoder {a_dense:.3}, without {a_sparse:.3}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sbintent");
    dense.save(&path).unwrap();
    // Loads its encoder from the recorded directory, or from one given.
    let reloaded = IntentModel::load(&path).unwrap();
    assert_eq!(tuned(&reloaded), Some(2));
    assert_eq!(accuracy(&reloaded, &test), a_dense);
    // A model over the encoder as published saves and reloads too.
    frozen.save(&path).unwrap();
    let reloaded_frozen = IntentModel::load(&path).unwrap();
    assert_eq!(tuned(&reloaded_frozen), Some(0));
    assert_eq!(accuracy(&reloaded_frozen, &test), accuracy(&frozen, &test));
    // A caller sharing encoders must give the published one, not another model's tuned copy.
    let tuned_encoder = dense.dense.as_ref().unwrap().encoder.clone();
    let frozen_raw = std::fs::read(&path).unwrap();
    let e = IntentModel::from_bytes_with(&frozen_raw, |_| Ok(tuned_encoder.clone()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("as published"), "{e}");
    dense.save(&path).unwrap();
    let raw = std::fs::read(&path).unwrap();
    let shared = IntentModel::from_bytes_with(&raw, |_| Ok(enc.clone())).unwrap();
    let p = shared.try_predict("my card has not come yet").unwrap();
    assert_eq!(p, dense.predict("my card has not come yet"));

    // Another encoder (other weights) is refused with a clear error.
    let other = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(encoder_dir().join(f), other.path().join(f)).unwrap();
    }
    let mut weights = std::fs::read(encoder_dir().join("model.safetensors")).unwrap();
    let last = weights.len() - 1;
    weights[last] ^= 0x01;
    std::fs::write(other.path().join("model.safetensors"), weights).unwrap();
    let e =
        IntentModel::from_bytes_with(&raw, |_| SentenceEncoder::load(other.path()).map(Arc::new))
            .unwrap_err()
            .to_string();
    assert!(e.contains("not the one this model was trained with"), "{e}");
    // A directory without a model is refused too.
    let empty = tempfile::tempdir().unwrap();
    assert!(SentenceEncoder::load(empty.path()).is_err());
}

/// Our forward pass against embeddings recorded from an independent implementation
/// (candle-transformers' BERT) on the same weights: texts alone and in one batch, including an
/// empty text, emoji and accents, and one text longer than the token limit.
#[test]
fn embeddings_match_a_reference_implementation() {
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("data/encoder_golden.json")).unwrap();
    let cases = golden["texts"].as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    let want: Vec<Vec<f32>> = cases
        .iter()
        .map(|c| {
            c["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    let enc = encoder();
    let batch = enc.embed(&texts).unwrap();
    for (i, text) in texts.iter().enumerate() {
        let alone = enc.embed(&[text]).unwrap().remove(0);
        for got in [&batch[i], &alone] {
            let worst = got
                .iter()
                .zip(&want[i])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "text {i}: largest difference {worst}");
        }
    }
}

/// A model directory that does not match our forward pass is refused at load, saying why:
/// a configuration whose sizes disagree with the weights (hidden size, layers, vocabulary), an
/// unsupported activation or position scheme, truncated or foreign weights.
#[test]
fn mismatched_or_damaged_model_directories_are_refused_clearly() {
    let src = encoder_dir();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    let variant = |edit: &dyn Fn(&mut serde_json::Value), weights: Option<&[u8]>| {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config.clone();
        edit(&mut c);
        std::fs::write(dir.path().join("config.json"), c.to_string()).unwrap();
        std::fs::copy(
            src.join("tokenizer.json"),
            dir.path().join("tokenizer.json"),
        )
        .unwrap();
        match weights {
            Some(bytes) => std::fs::write(dir.path().join("model.safetensors"), bytes).unwrap(),
            None => std::os::unix::fs::symlink(
                src.join("model.safetensors"),
                dir.path().join("model.safetensors"),
            )
            .unwrap(),
        }
        SentenceEncoder::load(dir.path()).unwrap_err().to_string()
    };
    let e = variant(&|c| c["hidden_size"] = 192.into(), None);
    assert!(
        e.contains("shape") && e.contains("config.json implies"),
        "{e}"
    );
    let e = variant(&|c| c["hidden_size"] = 100.into(), None);
    assert!(e.contains("multiple of num_attention_heads"), "{e}");
    let e = variant(&|c| c["hidden_act"] = "swish".into(), None);
    assert!(e.contains("hidden_act swish is not supported"), "{e}");
    let e = variant(
        &|c| c["position_embedding_type"] = "relative_key".into(),
        None,
    );
    assert!(e.contains("absolute only"), "{e}");
    let e = variant(&|c| c["num_hidden_layers"] = 7.into(), None);
    assert!(e.contains("encoder.layer.6"), "{e}");
    let e = variant(&|c| c["vocab_size"] = 1000.into(), None);
    assert!(e.contains("word_embeddings"), "{e}");
    let weights = std::fs::read(src.join("model.safetensors")).unwrap();
    let e = variant(&|_| {}, Some(&weights[..weights.len() / 2]));
    assert!(e.contains("model.safetensors"), "{e}");
    let e = variant(&|_| {}, Some(b"not safetensors at all"));
    assert!(e.contains("model.safetensors"), "{e}");
}
