//! Sentence embeddings from a local sentence-transformers BERT directory (`config.json`,
//! `tokenizer.json`, `model.safetensors`; e.g. all-MiniLM-L6-v2): our BERT forward pass
//! ([`bert`], candle for the matrix products) over the WordPiece tokens (tokenizers), mean-pooled
//! over the tokens and L2-normalised, as sentence-transformers does for that model. Never a
//! download: the directory is configuration.
//!
//! Built only with the `encoder` feature; without it [`SentenceEncoder::load`] explains how to
//! get it.

use crate::NlpError;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Longest input, in WordPiece tokens (the rest is cut).
pub const MAX_TOKENS: usize = 128;
/// Texts encoded in one forward pass.
const BATCH: usize = 32;

/// Where an encoder came from and which weights it has: a model trained with one refuses any
/// other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderId {
    pub dir: PathBuf,
    /// SHA-256 of `model.safetensors`, hex.
    pub sha256: String,
    pub dims: usize,
}

/// How [`SentenceEncoder::fine_tuned`] trains the encoder's last layers for a task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TuneOptions {
    /// How many of the last layers move (0: none; the encoder stays as it is).
    pub layers: usize,
    pub epochs: usize,
    /// Peak learning rate of the layers (the classification head learns 100 times faster).
    pub learning_rate: f64,
    pub batch: usize,
    pub seed: u64,
}

impl Default for TuneOptions {
    /// Two layers, three epochs: on BANKING77 (80/20 split of its training file) this lifts
    /// the intent model's accuracy by about 0.55 points (BENCHMARKS.md).
    fn default() -> Self {
        Self {
            layers: 2,
            epochs: 3,
            learning_rate: 1e-4,
            batch: 32,
            seed: 0,
        }
    }
}

/// A loaded sentence encoder.
#[derive(Debug)]
pub struct SentenceEncoder {
    id: EncoderId,
    #[cfg(feature = "encoder")]
    inner: imp::Inner,
}

impl SentenceEncoder {
    /// Loads the model in `dir`.
    pub fn load(dir: &Path) -> Result<Self, NlpError> {
        // Recorded in models trained with it: absolute, so they find it from anywhere.
        let dir = &dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|e| {
            NlpError::Model(format!(
                "sentence encoder: cannot read {}: {e}",
                weights_path.display()
            ))
        })?;
        let sha256 = hex(&Sha256::digest(&weights));
        Self::build(dir, weights, sha256)
    }

    pub fn id(&self) -> &EncoderId {
        &self.id
    }

    pub fn dims(&self) -> usize {
        self.id.dims
    }

    /// How many of the last layers are fine-tuned ones (0 for the encoder as published).
    pub fn tuned_layers(&self) -> usize {
        #[cfg(feature = "encoder")]
        {
            self.inner.top.len()
        }
        #[cfg(not(feature = "encoder"))]
        {
            0
        }
    }

    /// A copy of this encoder whose last `opts.layers` layers are trained so that its
    /// embeddings of `texts` separate `labels` (class indices below `classes`). The copy shares
    /// this encoder's frozen weights.
    pub fn fine_tuned(
        &self,
        texts: &[&str],
        labels: &[usize],
        classes: usize,
        opts: &TuneOptions,
    ) -> Result<SentenceEncoder, NlpError> {
        #[cfg(feature = "encoder")]
        {
            Ok(Self {
                id: self.id.clone(),
                inner: self.inner.fine_tuned(texts, labels, classes, opts)?,
            })
        }
        #[cfg(not(feature = "encoder"))]
        {
            let _ = (texts, labels, classes, opts);
            Err(NlpError::Model("built without the sentence encoder".into()))
        }
    }

    /// The fine-tuned layers' weights, for a model file (a count of zero for an encoder as
    /// published).
    pub fn tuned_bytes(&self) -> Result<Vec<u8>, NlpError> {
        #[cfg(feature = "encoder")]
        {
            tune::layers_to_bytes(&self.inner.top)
                .map_err(|e| NlpError::Model(format!("fine-tuned encoder layers: {e}")))
        }
        #[cfg(not(feature = "encoder"))]
        {
            Ok(0u32.to_le_bytes().to_vec())
        }
    }

    /// This encoder with the fine-tuned layers of [`SentenceEncoder::tuned_bytes`] in place of
    /// its last ones; refuses bytes that do not fit this encoder's shapes.
    pub fn with_tuned_bytes(&self, bytes: &[u8]) -> Result<SentenceEncoder, NlpError> {
        #[cfg(feature = "encoder")]
        {
            Ok(Self {
                id: self.id.clone(),
                inner: self.inner.with_top(bytes)?,
            })
        }
        #[cfg(not(feature = "encoder"))]
        {
            let _ = bytes;
            Err(NlpError::Model("built without the sentence encoder".into()))
        }
    }

    #[cfg(not(feature = "encoder"))]
    fn build(dir: &Path, _weights: Vec<u8>, _sha256: String) -> Result<Self, NlpError> {
        Err(NlpError::Model(format!(
            "the sentence encoder ({}) needs a build with it: cargo build --release --features encoder",
            dir.display()
        )))
    }

    #[cfg(feature = "encoder")]
    fn build(dir: &Path, weights: Vec<u8>, sha256: String) -> Result<Self, NlpError> {
        let inner = imp::Inner::load(dir, weights)?;
        Ok(Self {
            id: EncoderId {
                dir: dir.to_owned(),
                sha256,
                dims: inner.dims,
            },
            inner,
        })
    }

    /// One unit-length embedding per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, NlpError> {
        #[cfg(feature = "encoder")]
        {
            // Bounded batches bound the memory of one forward pass.
            let mut out = Vec::with_capacity(texts.len());
            for batch in texts.chunks(BATCH) {
                out.extend(self.inner.embed(batch)?);
            }
            Ok(out)
        }
        #[cfg(not(feature = "encoder"))]
        {
            let _ = (texts, BATCH);
            Err(NlpError::Model("built without the sentence encoder".into()))
        }
    }
}

/// How many threads the encoder's matrix products use by default (candle's choice: the
/// physical cores this process may run on, or `RAYON_NUM_THREADS`). candle works this out again
/// on every product unless `RAYON_NUM_THREADS` is set, so a program should set that variable to
/// this value at start, while it has a single thread (the `switchboard` binary does).
#[cfg(feature = "encoder")]
pub fn default_threads() -> usize {
    candle_core::utils::get_num_threads()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(feature = "encoder")]
mod bert;
#[cfg(feature = "encoder")]
mod kernels;
#[cfg(feature = "encoder")]
mod tune;

#[cfg(feature = "encoder")]
mod imp {
    use super::bert::{Bert, BertConfig, Layer};
    use super::{tune, TuneOptions, MAX_TOKENS};
    use crate::NlpError;
    use std::path::Path;
    use std::sync::Arc;
    use tokenizers::{Tokenizer, TruncationParams};

    pub(super) struct Inner {
        model: Arc<Bert>,
        tokenizer: Arc<Tokenizer>,
        /// Fine-tuned layers run in place of the model's last ones.
        pub(super) top: Vec<Layer>,
        pub(super) dims: usize,
    }

    impl std::fmt::Debug for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Inner").field("dims", &self.dims).finish()
        }
    }

    fn err(what: &str) -> impl Fn(String) -> NlpError + '_ {
        move |e| NlpError::Model(format!("sentence encoder: {what}: {e}"))
    }

    impl Inner {
        pub(super) fn load(dir: &Path, weights: Vec<u8>) -> Result<Self, NlpError> {
            let config_raw = std::fs::read_to_string(dir.join("config.json"))
                .map_err(|e| err("config.json")(e.to_string()))?;
            let config: BertConfig =
                serde_json::from_str(&config_raw).map_err(|e| err("config.json")(e.to_string()))?;
            let model = Bert::load(&config, &weights)
                .map_err(|e| NlpError::Model(format!("sentence encoder: {e}")))?;
            let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
                .map_err(|e| err("tokenizer.json")(e.to_string()))?;
            // No padding: the forward pass stacks texts of any length.
            tokenizer.with_padding(None);
            tokenizer
                .with_truncation(Some(TruncationParams {
                    max_length: MAX_TOKENS.min(model.max_positions()),
                    ..Default::default()
                }))
                .map_err(|e| err("tokenizer")(e.to_string()))?;
            Ok(Self {
                dims: model.hidden(),
                model: Arc::new(model),
                tokenizer: Arc::new(tokenizer),
                top: Vec::new(),
            })
        }

        fn tokens(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, NlpError> {
            let encodings = self
                .tokenizer
                .encode_batch(texts.to_vec(), true)
                .map_err(|e| err("tokenizer")(e.to_string()))?;
            Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
        }

        /// Mean-pooled, L2-normalised embeddings of one batch.
        pub(super) fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, NlpError> {
            let ids = self.tokens(texts)?;
            self.model
                .embed_with(&ids, &self.top)
                .map_err(|e| NlpError::Model(format!("sentence encoder: {e}")))
        }

        fn with_layers(&self, top: Vec<Layer>) -> Self {
            Self {
                model: self.model.clone(),
                tokenizer: self.tokenizer.clone(),
                top,
                dims: self.dims,
            }
        }

        pub(super) fn fine_tuned(
            &self,
            texts: &[&str],
            labels: &[usize],
            classes: usize,
            opts: &TuneOptions,
        ) -> Result<Self, NlpError> {
            if opts.layers == 0 {
                return Ok(self.with_layers(Vec::new()));
            }
            let ids = self.tokens(texts)?;
            let top = tune::fine_tune(&self.model, &ids, labels, classes, opts)
                .map_err(|e| NlpError::Model(format!("fine-tuning the sentence encoder: {e}")))?;
            Ok(self.with_layers(top))
        }

        pub(super) fn with_top(&self, bytes: &[u8]) -> Result<Self, NlpError> {
            let top = tune::layers_from_bytes(&self.model, bytes)
                .map_err(|e| NlpError::Model(format!("fine-tuned encoder layers: {e}")))?;
            Ok(self.with_layers(top))
        }
    }
}

#[cfg(all(test, not(feature = "encoder")))]
mod tests {
    use super::*;

    #[test]
    fn without_the_feature_loading_says_how_to_get_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.safetensors"), b"x").unwrap();
        let e = SentenceEncoder::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("--features encoder"), "{e}");
    }
}
