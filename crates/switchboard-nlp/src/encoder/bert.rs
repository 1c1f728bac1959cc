//! The BERT encoder's forward pass for inference, written for short texts on a few CPU cores.
//!
//! The dense products (the fused query/key/value projection, the attention output, the feed-
//! forward layers and the per-head attention products) go to candle's matrix multiply; the
//! rest — embeddings, biases, GELU, softmax, residuals and layer normalisation — are fused
//! loops over rows ([`super::kernels`]). The texts of a batch are stacked row by row without
//! padding: the dense layers see every token of every text in one product, and attention runs
//! per text, so no time goes to padding and no mask is needed. Weights are transposed once at
//! load, so no product repacks a weight matrix on every call.

use super::kernels::{self, Activation, Cpu, Heads, Norm};
use candle_core::{DType, Device, Tensor};
use serde::Deserialize;
use std::collections::HashMap;

/// The fields of a Hugging Face BERT `config.json` the forward pass needs.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_position")]
    pub position_embedding_type: String,
    /// `bert` (RoBERTa-style models share the tensor names but number positions differently).
    #[serde(default = "default_model_type")]
    pub model_type: String,
}

fn default_model_type() -> String {
    "bert".into()
}

/// More layers than any BERT published; a larger value is a damaged or hostile file.
const MAX_LAYERS: usize = 64;

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}
fn default_position() -> String {
    "absolute".into()
}

/// Why a model directory cannot be used, or a forward pass failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum BertError {
    /// A configuration, weights or input this forward pass cannot use.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// One transformer layer's weights, linear weights transposed to `[in, out]`.
#[derive(Clone)]
pub(super) struct Layer {
    /// `[hidden, 3·hidden]`: query, key and value projections side by side.
    pub qkv: Tensor,
    pub qkv_bias: Vec<f32>,
    pub attn_out: Tensor,
    pub attn_out_bias: Vec<f32>,
    pub attn_gamma: Vec<f32>,
    pub attn_beta: Vec<f32>,
    pub up: Tensor,
    pub up_bias: Vec<f32>,
    pub down: Tensor,
    pub down_bias: Vec<f32>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

/// A loaded BERT encoder.
pub(super) struct Bert {
    word: Vec<f32>,
    position: Vec<f32>,
    /// Token type 0's embedding: every input here is a single sentence.
    token_type: Vec<f32>,
    emb_gamma: Vec<f32>,
    emb_beta: Vec<f32>,
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    vocab: usize,
    max_positions: usize,
    eps: f32,
    act: Activation,
    device: Device,
    cpu: Cpu,
}

/// The tensors of a safetensors file, found with or without the `bert.` prefix some exports
/// add, checked against the shape the configuration implies.
struct Weights {
    tensors: HashMap<String, Tensor>,
}

impl Weights {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor, BertError> {
        let t = self
            .tensors
            .get(name)
            .or_else(|| self.tensors.get(&format!("bert.{name}")))
            .ok_or_else(|| BertError::Invalid(format!("model.safetensors: no tensor {name}")))?;
        if t.dims() != shape {
            return Err(BertError::Invalid(format!(
                "model.safetensors: tensor {name} has shape {:?}, config.json implies {shape:?}",
                t.dims()
            )));
        }
        Ok(t.to_dtype(DType::F32)?)
    }

    fn vec(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, BertError> {
        Ok(self.get(name, shape)?.flatten_all()?.to_vec1::<f32>()?)
    }

    /// A `[out, in]` linear weight, transposed to a contiguous `[in, out]`.
    fn linear(&self, name: &str, out: usize, inp: usize) -> Result<Tensor, BertError> {
        Ok(self.get(name, &[out, inp])?.t()?.contiguous()?)
    }
}

impl Bert {
    pub(super) fn load(config: &BertConfig, safetensors: &[u8]) -> Result<Self, BertError> {
        let (h, heads) = (config.hidden_size, config.num_attention_heads);
        let invalid = |what: String| Err(BertError::Invalid(format!("config.json: {what}")));
        if config.model_type != "bert" {
            return invalid(format!(
                "model_type {} is not supported (bert only)",
                config.model_type
            ));
        }
        if h == 0 || heads == 0 || h % heads != 0 {
            return invalid(format!(
                "hidden_size {h} is not a positive multiple of num_attention_heads {heads}"
            ));
        }
        if config.num_hidden_layers == 0 || config.num_hidden_layers > MAX_LAYERS {
            return invalid(format!(
                "num_hidden_layers {} is not between 1 and {MAX_LAYERS}",
                config.num_hidden_layers
            ));
        }
        if config.intermediate_size == 0 || config.type_vocab_size == 0 {
            return invalid("intermediate_size and type_vocab_size must be positive".into());
        }
        if config.max_position_embeddings < 2 {
            return invalid(format!(
                "max_position_embeddings {} leaves no room for a text",
                config.max_position_embeddings
            ));
        }
        if config.position_embedding_type != "absolute" {
            return Err(BertError::Invalid(format!(
                "config.json: position_embedding_type {} is not supported (absolute only)",
                config.position_embedding_type
            )));
        }
        let act = match config.hidden_act.as_str() {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => {
                return Err(BertError::Invalid(format!(
                    "config.json: hidden_act {other} is not supported"
                )))
            }
        };
        let device = Device::Cpu;
        let tensors = candle_core::safetensors::load_buffer(safetensors, &device)
            .map_err(|e| BertError::Invalid(format!("model.safetensors: {e}")))?;
        let w = Weights { tensors };
        let inter = config.intermediate_size;
        let mut layers = Vec::new();
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            let q = w.linear(&format!("{p}.attention.self.query.weight"), h, h)?;
            let k = w.linear(&format!("{p}.attention.self.key.weight"), h, h)?;
            let v = w.linear(&format!("{p}.attention.self.value.weight"), h, h)?;
            let mut qkv_bias = w.vec(&format!("{p}.attention.self.query.bias"), &[h])?;
            qkv_bias.extend(w.vec(&format!("{p}.attention.self.key.bias"), &[h])?);
            qkv_bias.extend(w.vec(&format!("{p}.attention.self.value.bias"), &[h])?);
            layers.push(Layer {
                qkv: Tensor::cat(&[&q, &k, &v], 1)?.contiguous()?,
                qkv_bias,
                attn_out: w.linear(&format!("{p}.attention.output.dense.weight"), h, h)?,
                attn_out_bias: w.vec(&format!("{p}.attention.output.dense.bias"), &[h])?,
                attn_gamma: w.vec(&format!("{p}.attention.output.LayerNorm.weight"), &[h])?,
                attn_beta: w.vec(&format!("{p}.attention.output.LayerNorm.bias"), &[h])?,
                up: w.linear(&format!("{p}.intermediate.dense.weight"), inter, h)?,
                up_bias: w.vec(&format!("{p}.intermediate.dense.bias"), &[inter])?,
                down: w.linear(&format!("{p}.output.dense.weight"), h, inter)?,
                down_bias: w.vec(&format!("{p}.output.dense.bias"), &[h])?,
                gamma: w.vec(&format!("{p}.output.LayerNorm.weight"), &[h])?,
                beta: w.vec(&format!("{p}.output.LayerNorm.bias"), &[h])?,
            });
        }
        let types = w.vec(
            "embeddings.token_type_embeddings.weight",
            &[config.type_vocab_size, h],
        )?;
        Ok(Self {
            word: w.vec("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
            position: w.vec(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            // type_vocab_size ≥ 1 and the shape were checked: row 0 exists.
            token_type: types[..h].to_vec(),
            emb_gamma: w.vec("embeddings.LayerNorm.weight", &[h])?,
            emb_beta: w.vec("embeddings.LayerNorm.bias", &[h])?,
            layers,
            hidden: h,
            heads,
            vocab: config.vocab_size,
            max_positions: config.max_position_embeddings,
            eps: config.layer_norm_eps as f32,
            act,
            device,
            cpu: Cpu::detect(),
        })
    }

    pub(super) fn hidden(&self) -> usize {
        self.hidden
    }

    pub(super) fn max_positions(&self) -> usize {
        self.max_positions
    }

    pub(super) fn heads(&self) -> usize {
        self.heads
    }

    pub(super) fn eps(&self) -> f32 {
        self.eps
    }

    pub(super) fn activation(&self) -> Activation {
        self.act
    }

    pub(super) fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The token states after the first `depth` layers, every sequence's rows stacked.
    pub(super) fn states(
        &self,
        sequences: &[Vec<u32>],
        depth: usize,
    ) -> Result<Vec<f32>, BertError> {
        let lengths: Vec<usize> = sequences.iter().map(Vec::len).collect();
        if lengths.iter().sum::<usize>() == 0 {
            return Ok(Vec::new());
        }
        let mut x = self.embeddings(sequences)?;
        let depth = depth.min(self.layers.len());
        self.run_layers(&mut x, &lengths, &self.layers[..depth])?;
        Ok(x)
    }

    /// The mean of the last layer's token states of each sequence (every token is real: no
    /// padding), L2-normalised: sentence-transformers' pooling for these models. A sequence
    /// without tokens (only from a tokenizer that adds no [CLS]/[SEP]) gives zeros: no
    /// direction at all, so it adds nothing to a classifier's scores.
    #[cfg(test)]
    pub(super) fn embed(&self, sequences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, BertError> {
        self.embed_with(sequences, &[])
    }

    /// As [`Bert::embed`], with `top` (fine-tuned for a task) in place of as many of the last
    /// layers.
    pub(super) fn embed_with(
        &self,
        sequences: &[Vec<u32>],
        top: &[Layer],
    ) -> Result<Vec<Vec<f32>>, BertError> {
        let h = self.hidden;
        let lengths: Vec<usize> = sequences.iter().map(Vec::len).collect();
        let total: usize = lengths.iter().sum();
        if total == 0 {
            return Ok(sequences.iter().map(|_| vec![0.0; h]).collect());
        }
        let kept = self.layers.len().checked_sub(top.len()).ok_or_else(|| {
            BertError::Invalid(format!(
                "{} tuned layers for a model of {}",
                top.len(),
                self.layers.len()
            ))
        })?;
        let mut x = self.embeddings(sequences)?;
        self.run_layers(&mut x, &lengths, &self.layers[..kept])?;
        self.run_layers(&mut x, &lengths, top)?;
        Ok(pool(&x, &lengths, h))
    }

    /// Runs `layers` over the stacked token states `x` of sequences of `lengths` tokens.
    fn run_layers(
        &self,
        x: &mut [f32],
        lengths: &[usize],
        layers: &[Layer],
    ) -> Result<(), BertError> {
        let total: usize = lengths.iter().sum();
        for layer in layers {
            let qkv = self.matmul(x, total, &layer.qkv)?;
            let context = self.attention(&qkv, &layer.qkv_bias, lengths);
            let attended = self.matmul(&context, total, &layer.attn_out)?;
            kernels::add_bias_residual_norm(
                self.cpu,
                &attended,
                &layer.attn_out_bias,
                x,
                Norm {
                    gamma: &layer.attn_gamma,
                    beta: &layer.attn_beta,
                    eps: self.eps,
                },
            );
            let mut up = self.matmul(x, total, &layer.up)?;
            kernels::bias_activation(self.cpu, &mut up, &layer.up_bias, self.act);
            let down = self.matmul(&up, total, &layer.down)?;
            kernels::add_bias_residual_norm(
                self.cpu,
                &down,
                &layer.down_bias,
                x,
                Norm {
                    gamma: &layer.gamma,
                    beta: &layer.beta,
                    eps: self.eps,
                },
            );
        }
        Ok(())
    }

    /// Word + position + token-type embeddings of every token, layer-normalised.
    fn embeddings(&self, sequences: &[Vec<u32>]) -> Result<Vec<f32>, BertError> {
        let h = self.hidden;
        let mut x = Vec::with_capacity(sequences.iter().map(Vec::len).sum::<usize>() * h);
        for seq in sequences {
            if seq.len() > self.max_positions {
                return Err(BertError::Invalid(format!(
                    "{} tokens, more than the model's {} positions",
                    seq.len(),
                    self.max_positions
                )));
            }
            for (pos, &id) in seq.iter().enumerate() {
                let id = id as usize;
                let word = self.word.get(id * h..(id + 1) * h).ok_or_else(|| {
                    BertError::Invalid(format!(
                        "token id {id} is outside the vocabulary of {}: the tokenizer does not match the weights",
                        self.vocab
                    ))
                })?;
                let position = &self.position[pos * h..(pos + 1) * h];
                x.extend(
                    word.iter()
                        .zip(position)
                        .zip(&self.token_type)
                        .map(|((w, p), t)| w + p + t),
                );
            }
        }
        let norm = Norm {
            gamma: &self.emb_gamma,
            beta: &self.emb_beta,
            eps: self.eps,
        };
        kernels::layer_norm(self.cpu, &mut x, norm);
        Ok(x)
    }

    /// `x [rows, k] · w [k, n]`.
    fn matmul(&self, x: &[f32], rows: usize, w: &Tensor) -> Result<Vec<f32>, BertError> {
        let k = x.len() / rows;
        let x = Tensor::from_slice(x, (rows, k), &self.device)?;
        Ok(x.matmul(w)?.flatten_all()?.to_vec1::<f32>()?)
    }

    /// Multi-head self-attention of each sequence over its own tokens, from the fused
    /// projection `qkv` (`[tokens, 3·hidden]`, biases not yet added); the heads' outputs side by
    /// side, `[tokens, hidden]`.
    fn attention(&self, qkv: &[f32], bias: &[f32], lengths: &[usize]) -> Vec<f32> {
        let (h, heads) = (self.hidden, self.heads);
        let d = h / heads;
        let mut context = vec![0.0f32; qkv.len() / 3];
        let mut first = 0;
        for &n in lengths {
            if n == 0 {
                // A tokenizer without [CLS]/[SEP] gives an empty text no tokens.
                continue;
            }
            let rows = &qkv[first * 3 * h..(first + n) * 3 * h];
            let mut q = vec![0.0f32; heads * n * d];
            let mut kt = vec![0.0f32; heads * d * n];
            let mut v = vec![0.0f32; heads * n * d];
            for (i, row) in rows.chunks_exact(3 * h).enumerate() {
                for hd in 0..heads {
                    for j in 0..d {
                        let c = hd * d + j;
                        q[(hd * n + i) * d + j] = row[c] + bias[c];
                        kt[(hd * d + j) * n + i] = row[h + c] + bias[h + c];
                        v[(hd * n + i) * d + j] = row[2 * h + c] + bias[2 * h + c];
                    }
                }
            }
            let layout = Heads {
                q: &q,
                kt: &kt,
                v: &v,
                heads,
                n,
                d,
            };
            kernels::attention(self.cpu, &layout, &mut context[first * h..(first + n) * h]);
            first += n;
        }
        context
    }
}

/// The mean of each sequence's token states (`lengths[i]` rows of width `h`), L2-normalised.
fn pool(x: &[f32], lengths: &[usize], h: usize) -> Vec<Vec<f32>> {
    let mut out = Vec::with_capacity(lengths.len());
    let mut rows = x.chunks_exact(h);
    for &n in lengths {
        let mut mean = vec![0.0f32; h];
        for row in rows.by_ref().take(n) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        for m in &mut mean {
            *m /= norm;
        }
        out.push(mean);
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    const H: usize = 8;
    const VOCAB: usize = 10;

    fn config(act: &str) -> BertConfig {
        serde_json::from_value(serde_json::json!({
            "vocab_size": VOCAB, "hidden_size": H, "num_hidden_layers": 2,
            "num_attention_heads": 2, "intermediate_size": 16,
            "max_position_embeddings": 6, "hidden_act": act
        }))
        .unwrap()
    }

    /// A tiny BERT with deterministic pseudo-random weights, as safetensors bytes.
    fn weights(config: &BertConfig) -> Vec<u8> {
        let mut seed = 7u64;
        let mut tensor = |shape: &[usize]| {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = (0..n)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.4
                })
                .collect();
            Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
        };
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let mut map = std::collections::HashMap::new();
        map.insert(
            "embeddings.word_embeddings.weight".to_string(),
            tensor(&[VOCAB, h]),
        );
        map.insert(
            "embeddings.position_embeddings.weight".into(),
            tensor(&[6, h]),
        );
        map.insert(
            "embeddings.token_type_embeddings.weight".into(),
            tensor(&[2, h]),
        );
        map.insert("embeddings.LayerNorm.weight".into(), tensor(&[h]));
        map.insert("embeddings.LayerNorm.bias".into(), tensor(&[h]));
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            for name in ["query", "key", "value"] {
                map.insert(format!("{p}.attention.self.{name}.weight"), tensor(&[h, h]));
                map.insert(format!("{p}.attention.self.{name}.bias"), tensor(&[h]));
            }
            map.insert(
                format!("{p}.attention.output.dense.weight"),
                tensor(&[h, h]),
            );
            map.insert(format!("{p}.attention.output.dense.bias"), tensor(&[h]));
            map.insert(
                format!("{p}.attention.output.LayerNorm.weight"),
                tensor(&[h]),
            );
            map.insert(format!("{p}.attention.output.LayerNorm.bias"), tensor(&[h]));
            map.insert(format!("{p}.intermediate.dense.weight"), tensor(&[i, h]));
            map.insert(format!("{p}.intermediate.dense.bias"), tensor(&[i]));
            map.insert(format!("{p}.output.dense.weight"), tensor(&[h, i]));
            map.insert(format!("{p}.output.dense.bias"), tensor(&[h]));
            map.insert(format!("{p}.output.LayerNorm.weight"), tensor(&[h]));
            map.insert(format!("{p}.output.LayerNorm.bias"), tensor(&[h]));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        candle_core::safetensors::save(&map, &path).unwrap();
        std::fs::read(path).unwrap()
    }

    /// A tiny BERT (hidden 8, two layers, two heads, ten tokens, six positions).
    pub(in crate::encoder) fn model(act: &str) -> Bert {
        let c = config(act);
        Bert::load(&c, &weights(&c)).unwrap()
    }

    #[test]
    fn a_batch_gives_what_each_text_gives_alone() {
        let bert = model("gelu");
        let texts = vec![vec![1, 4, 2], vec![1, 5, 6, 7, 2], vec![1, 2]];
        let batch = bert.embed(&texts).unwrap();
        for (text, together) in texts.iter().zip(&batch) {
            let alone = bert.embed(std::slice::from_ref(text)).unwrap().remove(0);
            let norm: f32 = alone.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{norm}");
            for (a, b) in alone.iter().zip(together) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
        assert_ne!(batch[0], batch[1]);
    }

    #[test]
    fn every_activation_runs_and_they_differ() {
        let text = [vec![1, 3, 8, 2]];
        let gelu = model("gelu").embed(&text).unwrap();
        let tanh = model("gelu_new").embed(&text).unwrap();
        let relu = model("relu").embed(&text).unwrap();
        for v in [&gelu[0], &tanh[0], &relu[0]] {
            assert!(v.iter().all(|x| x.is_finite()));
        }
        // The tanh approximation is close to the exact GELU; ReLU is another function.
        let diff = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max)
        };
        assert!(diff(&gelu[0], &tanh[0]) < 1e-2);
        assert!(diff(&gelu[0], &relu[0]) > 1e-3);
    }

    #[test]
    fn empty_sequences_and_bad_ids_do_not_panic() {
        let bert = model("gelu");
        let out = bert.embed(&[vec![], vec![1, 2], vec![]]).unwrap();
        assert!(out[0].iter().all(|&v| v == 0.0) && out[2].iter().all(|&v| v == 0.0));
        assert!((out[1].iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(bert.embed(&[]).unwrap().len(), 0);
        let e = bert
            .embed(&[vec![1, VOCAB as u32, 2]])
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside the vocabulary"), "{e}");
        let e = bert.embed(&[vec![1; 7]]).unwrap_err().to_string();
        assert!(e.contains("positions"), "{e}");
    }

    #[test]
    fn hostile_configurations_are_refused_before_any_allocation() {
        let good = config("gelu");
        let bytes = weights(&good);
        let refused = |edit: &dyn Fn(&mut BertConfig)| {
            let mut c = good.clone();
            edit(&mut c);
            match Bert::load(&c, &bytes) {
                Err(e) => e.to_string(),
                Ok(_) => String::from("loaded"),
            }
        };
        assert!(refused(&|c| c.num_hidden_layers = usize::MAX).contains("num_hidden_layers"));
        assert!(refused(&|c| c.num_hidden_layers = 0).contains("num_hidden_layers"));
        assert!(refused(&|c| c.num_attention_heads = 3).contains("multiple"));
        assert!(refused(&|c| c.intermediate_size = 0).contains("intermediate_size"));
        assert!(refused(&|c| c.type_vocab_size = 0).contains("type_vocab_size"));
        assert!(refused(&|c| c.max_position_embeddings = 1).contains("max_position_embeddings"));
        assert!(refused(&|c| c.model_type = "roberta".into()).contains("bert only"));
        assert!(refused(&|c| c.hidden_act = "swish".into()).contains("hidden_act"));
        assert!(refused(&|c| c.intermediate_size = 32).contains("shape"));
        let junk = match Bert::load(&good, b"junk") {
            Err(e) => e.to_string(),
            Ok(_) => String::from("loaded"),
        };
        assert!(junk.contains("model.safetensors"), "{junk}");
    }
}
