//! Sentence embeddings from a local sentence-transformers BERT directory (`config.json`,
//! `tokenizer.json`, `model.safetensors`; e.g. all-MiniLM-L6-v2): the BERT forward pass (candle)
//! over the WordPiece tokens (tokenizers), mean-pooled over the real tokens and L2-normalised, as
//! sentence-transformers does for that model. Never a download: the directory is configuration.
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
            // Texts of similar length share a batch, so little time goes to padding.
            let mut order: Vec<usize> = (0..texts.len()).collect();
            order.sort_by_key(|&i| texts[i].len());
            let mut out = vec![Vec::new(); texts.len()];
            for chunk in order.chunks(BATCH) {
                let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
                for (&i, v) in chunk.iter().zip(self.inner.embed(&batch)?) {
                    out[i] = v;
                }
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(feature = "encoder")]
mod imp {
    use super::MAX_TOKENS;
    use crate::NlpError;
    use candle_core::{DType, Device, Tensor, D};
    use candle_nn::VarBuilder;
    use candle_transformers::models::bert::{BertModel, Config};
    use std::path::Path;
    use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

    pub(super) struct Inner {
        model: BertModel,
        tokenizer: Tokenizer,
        device: Device,
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
            let config: Config =
                serde_json::from_str(&config_raw).map_err(|e| err("config.json")(e.to_string()))?;
            let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
                .map_err(|e| err("tokenizer.json")(e.to_string()))?;
            tokenizer.with_padding(Some(PaddingParams {
                strategy: PaddingStrategy::BatchLongest,
                ..Default::default()
            }));
            tokenizer
                .with_truncation(Some(TruncationParams {
                    max_length: MAX_TOKENS,
                    ..Default::default()
                }))
                .map_err(|e| err("tokenizer")(e.to_string()))?;
            let device = Device::Cpu;
            let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
                .map_err(|e| err("model.safetensors")(e.to_string()))?;
            let model = BertModel::load(vb, &config).map_err(|e| err("weights")(e.to_string()))?;
            Ok(Self {
                model,
                tokenizer,
                device,
                dims: config.hidden_size,
            })
        }

        /// Mean-pooled, L2-normalised embeddings of one batch.
        pub(super) fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, NlpError> {
            let run = || -> Result<Vec<Vec<f32>>, String> {
                let encodings = self
                    .tokenizer
                    .encode_batch(texts.to_vec(), true)
                    .map_err(|e| e.to_string())?;
                let rows = encodings.len();
                let width = encodings.first().map_or(0, |e| e.get_ids().len());
                let flat = |f: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> Vec<u32> {
                    encodings.iter().flat_map(|e| f(e).to_vec()).collect()
                };
                let ids = Tensor::from_vec(flat(&|e| e.get_ids()), (rows, width), &self.device)
                    .map_err(|e| e.to_string())?;
                let types =
                    Tensor::from_vec(flat(&|e| e.get_type_ids()), (rows, width), &self.device)
                        .map_err(|e| e.to_string())?;
                let mask = Tensor::from_vec(
                    flat(&|e| e.get_attention_mask()),
                    (rows, width),
                    &self.device,
                )
                .map_err(|e| e.to_string())?;
                let hidden = self
                    .model
                    .forward(&ids, &types, Some(&mask))
                    .map_err(|e| e.to_string())?;
                // Mean over the real tokens only.
                let mask = mask
                    .to_dtype(DType::F32)
                    .and_then(|m| m.unsqueeze(D::Minus1))
                    .map_err(|e| e.to_string())?;
                let summed = hidden
                    .broadcast_mul(&mask)
                    .and_then(|h| h.sum(1))
                    .map_err(|e| e.to_string())?;
                let counts = mask
                    .sum(1)
                    .and_then(|c| c.clamp(1e-9f32, f32::MAX))
                    .map_err(|e| e.to_string())?;
                let mean = summed.broadcast_div(&counts).map_err(|e| e.to_string())?;
                let norms = mean
                    .sqr()
                    .and_then(|s| s.sum_keepdim(1))
                    .and_then(|s| s.sqrt())
                    .and_then(|n| n.clamp(1e-12f32, f32::MAX))
                    .map_err(|e| e.to_string())?;
                mean.broadcast_div(&norms)
                    .and_then(|t| t.to_vec2::<f32>())
                    .map_err(|e| e.to_string())
            };
            run().map_err(|e| NlpError::Model(format!("sentence encoder: {e}")))
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
