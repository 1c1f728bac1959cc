//! Fine-tuning the encoder's last layers for one classification task.
//!
//! Frozen sentence embeddings place fine-grained intents (BANKING77's 77 kinds of card and
//! transfer trouble) close together; moving the last transformer layers for the task separates
//! them. The lower layers stay frozen, so their token states are computed once with the fast
//! inference pass ([`super::bert`]); the top layers are trained on those states with candle's
//! automatic differentiation: padded batches, mean pooling and L2 normalisation as in
//! inference, a cosine-softmax head over the classes, cross-entropy, and AdamW with a linear
//! warm-up and decay. Deterministic for a seed.

use super::bert::{Bert, BertError, Layer};
use super::kernels::Activation;
use super::TuneOptions;
use candle_core::{DType, Device, Tensor, Var, D};

/// Logit scale of the cosine head: with unit-length embeddings and class vectors, scores lie
/// in [-1, 1], too flat for a softmax over dozens of classes without it.
const SCALE: f64 = 20.0;
const WEIGHT_DECAY: f64 = 0.01;
const HEAD_RATE: f64 = 100.0;
/// Added to the attention scores of padding positions.
const MASKED: f32 = -1e4;
const MAX_BATCH: usize = 4096;
const MAX_EPOCHS: usize = 1000;

/// Trains the last `opts.layers` layers of `bert` so that the mean-pooled embeddings of
/// `sequences` separate `labels` (class indices below `classes`); returns the new layers.
pub(super) fn fine_tune(
    bert: &Bert,
    sequences: &[Vec<u32>],
    labels: &[usize],
    classes: usize,
    opts: &TuneOptions,
) -> Result<Vec<Layer>, BertError> {
    let depth = bert.layers().len();
    if opts.layers == 0 || opts.layers > depth {
        return Err(BertError::Invalid(format!(
            "cannot tune {} of the model's {depth} layers",
            opts.layers
        )));
    }
    if sequences.len() != labels.len() || labels.iter().any(|&l| l >= classes) {
        return Err(BertError::Invalid("labels do not match the texts".into()));
    }
    let usable = (1..=MAX_BATCH).contains(&opts.batch)
        && (1..=MAX_EPOCHS).contains(&opts.epochs)
        && opts.learning_rate.is_finite()
        && opts.learning_rate > 0.0;
    if !usable {
        return Err(BertError::Invalid(format!(
            "batch must be 1 to {MAX_BATCH}, epochs 1 to {MAX_EPOCHS} and the learning rate positive"
        )));
    }
    let frozen = depth - opts.layers;
    let h = bert.hidden();
    // The frozen layers' output for every text, once.
    let mut states: Vec<Vec<f32>> = Vec::with_capacity(sequences.len());
    for chunk in sequences.chunks(64) {
        let x = bert.states(chunk, frozen)?;
        let mut first = 0;
        for seq in chunk {
            states.push(x[first * h..(first + seq.len()) * h].to_vec());
            first += seq.len();
        }
    }
    let mut net = Net {
        layers: bert.layers()[frozen..]
            .iter()
            .map(LayerVars::new)
            .collect::<Result<_, _>>()?,
        head: Var::zeros((classes, h), DType::F32, &Device::Cpu)?,
        heads: bert.heads(),
        hidden: h,
        eps: f64::from(bert.eps()),
        act: bert.activation(),
    };
    net.head = Var::from_tensor(&prototypes(&net, &states, labels, classes)?)?;
    let params = net.params();
    let mut adam = AdamW::new(&params)?;
    let mut rng = SplitMix(opts.seed ^ 0x5eed_7c0d);
    let batch = opts.batch;
    let steps = opts.epochs * sequences.len().div_ceil(batch);
    let warmup = (steps / 10).max(1);
    let mut step = 0usize;
    for epoch in 0..opts.epochs {
        let mut total = 0.0f64;
        for indices in batches(&states, batch, &mut rng, h) {
            let (x, mask) = padded(&states, &indices, h)?;
            let pooled = net.forward(&x, &mask)?;
            let target: Vec<u32> = indices.iter().map(|&i| labels[i] as u32).collect();
            let target = Tensor::from_vec(target, (indices.len(), 1), &Device::Cpu)?;
            let loss = net.loss(&pooled, &target)?;
            total += f64::from(loss.to_scalar::<f32>()?);
            let grads = loss.backward()?;
            // Linear warm-up over the first tenth of the steps, then linear decay to zero.
            let factor = ((step + 1) as f64 / warmup as f64)
                .min(((steps - step) as f64 / (steps - warmup).max(1) as f64).max(0.0));
            adam.step(
                &params,
                &grads,
                opts.learning_rate * factor,
                net.layer_params(),
            )?;
            step += 1;
        }
        tracing::debug!(epoch, loss = total, "fine-tuning the encoder");
    }
    net.layers
        .iter()
        .zip(&bert.layers()[frozen..])
        .map(|(vars, like)| vars.to_layer(like))
        .collect()
}

/// The unit-length mean embedding of each class under the current weights: the head starts
/// where a nearest-centroid classifier would, so the first steps do not scramble the layers.
fn prototypes(
    net: &Net,
    states: &[Vec<f32>],
    labels: &[usize],
    classes: usize,
) -> Result<Tensor, BertError> {
    let h = net.hidden;
    let mut sums = vec![0.0f32; classes * h];
    let all: Vec<usize> = (0..states.len()).collect();
    for indices in all.chunks(64) {
        let (x, mask) = padded(states, indices, h)?;
        let pooled = net.forward(&x, &mask)?.flatten_all()?.to_vec1::<f32>()?;
        for (row, &i) in pooled.chunks_exact(h).zip(indices) {
            let l = labels[i];
            for (acc, v) in sums[l * h..(l + 1) * h].iter_mut().zip(row) {
                *acc += v;
            }
        }
    }
    for row in sums.chunks_exact_mut(h) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    Ok(Tensor::from_vec(sums, (classes, h), &Device::Cpu)?)
}

/// Batches of text indices: shuffled, then texts of similar length grouped (less padding),
/// and the batches shuffled again.
fn batches(states: &[Vec<f32>], batch: usize, rng: &mut SplitMix, h: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..states.len()).collect();
    rng.shuffle(&mut order);
    let mut out = Vec::new();
    for pool in order.chunks_mut(batch * 32) {
        pool.sort_by_key(|&i| states[i].len() / h);
        out.extend(pool.chunks(batch).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut out);
    out
}

/// The states of `indices` padded to the longest, `[b·t, h]`, and the token mask `[b, t]`.
fn padded(states: &[Vec<f32>], indices: &[usize], h: usize) -> Result<(Tensor, Tensor), BertError> {
    let t = indices
        .iter()
        .map(|&i| states[i].len() / h)
        .max()
        .unwrap_or(0)
        .max(1);
    let b = indices.len();
    let mut x = vec![0.0f32; b * t * h];
    let mut mask = vec![0.0f32; b * t];
    for (row, &i) in indices.iter().enumerate() {
        let s = &states[i];
        x[row * t * h..row * t * h + s.len()].copy_from_slice(s);
        mask[row * t..row * t + s.len() / h].fill(1.0);
    }
    Ok((
        Tensor::from_vec(x, (b * t, h), &Device::Cpu)?,
        Tensor::from_vec(mask, (b, t), &Device::Cpu)?,
    ))
}

/// One layer's weights as trainable variables, in [`Layer`]'s order.
struct LayerVars {
    qkv: Var,
    qkv_bias: Var,
    attn_out: Var,
    attn_out_bias: Var,
    attn_gamma: Var,
    attn_beta: Var,
    up: Var,
    up_bias: Var,
    down: Var,
    down_bias: Var,
    gamma: Var,
    beta: Var,
}

fn var(v: &[f32]) -> Result<Var, BertError> {
    Ok(Var::from_slice(v, v.len(), &Device::Cpu)?)
}

fn values(v: &Var) -> Result<Vec<f32>, BertError> {
    Ok(v.as_tensor().flatten_all()?.to_vec1::<f32>()?)
}

impl LayerVars {
    fn new(l: &Layer) -> Result<Self, BertError> {
        Ok(Self {
            qkv: Var::from_tensor(&l.qkv)?,
            qkv_bias: var(&l.qkv_bias)?,
            attn_out: Var::from_tensor(&l.attn_out)?,
            attn_out_bias: var(&l.attn_out_bias)?,
            attn_gamma: var(&l.attn_gamma)?,
            attn_beta: var(&l.attn_beta)?,
            up: Var::from_tensor(&l.up)?,
            up_bias: var(&l.up_bias)?,
            down: Var::from_tensor(&l.down)?,
            down_bias: var(&l.down_bias)?,
            gamma: var(&l.gamma)?,
            beta: var(&l.beta)?,
        })
    }

    fn all(&self) -> [&Var; 12] {
        [
            &self.qkv,
            &self.qkv_bias,
            &self.attn_out,
            &self.attn_out_bias,
            &self.attn_gamma,
            &self.attn_beta,
            &self.up,
            &self.up_bias,
            &self.down,
            &self.down_bias,
            &self.gamma,
            &self.beta,
        ]
    }

    /// The trained values as a layer shaped like `like` (the layer it replaces).
    fn to_layer(&self, like: &Layer) -> Result<Layer, BertError> {
        let arrays: Vec<Vec<f32>> = self
            .all()
            .into_iter()
            .map(values)
            .collect::<Result<_, _>>()?;
        layer_from_arrays(arrays, like)
    }
}

/// The trained part: the top layers and the head.
struct Net {
    layers: Vec<LayerVars>,
    /// `[classes, hidden]`, one direction per class.
    head: Var,
    heads: usize,
    hidden: usize,
    eps: f64,
    act: Activation,
}

impl Net {
    fn params(&self) -> Vec<Var> {
        let mut out: Vec<Var> = self
            .layers
            .iter()
            .flat_map(|l| l.all().into_iter().cloned())
            .collect();
        out.push(self.head.clone());
        out
    }

    /// How many of [`Net::params`] are layer weights (the rest is the head).
    fn layer_params(&self) -> usize {
        self.layers.len() * 12
    }

    /// Mean-pooled, L2-normalised embeddings `[b, h]` of the padded states `x` (`[b·t, h]`).
    fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor, BertError> {
        let (b, t) = mask.dims2()?;
        let keep = mask.reshape((b, 1, 1, t))?;
        let bias = ((keep - 1.0)? * f64::from(-MASKED))?;
        let mut x = x.clone();
        for layer in &self.layers {
            x = self.layer(&x, layer, b, t, &bias)?;
        }
        let x = x.reshape((b, t, self.hidden))?;
        let tokens = mask.unsqueeze(2)?;
        let sum = x.broadcast_mul(&tokens)?.sum(1)?;
        let count = tokens.sum(1)?.clamp(1.0, f64::MAX)?;
        let mean = sum.broadcast_div(&count)?;
        let norm = (mean.sqr()?.sum_keepdim(1)? + 1e-12)?.sqrt()?;
        Ok(mean.broadcast_div(&norm)?)
    }

    fn layer(
        &self,
        x: &Tensor,
        l: &LayerVars,
        b: usize,
        t: usize,
        mask_bias: &Tensor,
    ) -> Result<Tensor, BertError> {
        let (h, heads) = (self.hidden, self.heads);
        let d = h / heads;
        let qkv = x.matmul(&l.qkv)?.broadcast_add(&l.qkv_bias)?;
        let qkv = qkv.reshape((b, t, 3, heads, d))?;
        let part = |i: usize| -> Result<Tensor, BertError> {
            Ok(qkv
                .narrow(2, i, 1)?
                .squeeze(2)?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let (q, k, v) = (part(0)?, part(1)?, part(2)?);
        let scores = (q.matmul(&k.t()?.contiguous()?)? * (1.0 / (d as f64).sqrt()))?
            .broadcast_add(mask_bias)?;
        let max = scores.max_keepdim(D::Minus1)?.detach();
        let e = scores.broadcast_sub(&max)?.exp()?;
        let probs = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b * t, h))?;
        let attended = context
            .matmul(&l.attn_out)?
            .broadcast_add(&l.attn_out_bias)?;
        let x = self.norm(&(attended + x)?, &l.attn_gamma, &l.attn_beta)?;
        let up = x.matmul(&l.up)?.broadcast_add(&l.up_bias)?;
        let up = match self.act {
            Activation::Gelu => up.gelu_erf()?,
            Activation::GeluTanh => up.gelu()?,
            Activation::Relu => up.relu()?,
        };
        let down = up.matmul(&l.down)?.broadcast_add(&l.down_bias)?;
        self.norm(&(down + x)?, &l.gamma, &l.beta)
    }

    fn norm(&self, x: &Tensor, gamma: &Var, beta: &Var) -> Result<Tensor, BertError> {
        let centred = x.broadcast_sub(&x.mean_keepdim(1)?)?;
        let var = centred.sqr()?.mean_keepdim(1)?;
        let normed = centred.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        Ok(normed.broadcast_mul(gamma)?.broadcast_add(beta)?)
    }

    /// Mean cross-entropy of the cosine head's scaled scores against `target` (`[b, 1]`).
    fn loss(&self, pooled: &Tensor, target: &Tensor) -> Result<Tensor, BertError> {
        let head = self.head.as_tensor();
        let norm = (head.sqr()?.sum_keepdim(1)? + 1e-12)?.sqrt()?;
        let directions = head.broadcast_div(&norm)?;
        let logits = (pooled.matmul(&directions.t()?)? * SCALE)?;
        let max = logits.max_keepdim(1)?.detach();
        let shifted = logits.broadcast_sub(&max)?;
        let log_sum = shifted.exp()?.sum_keepdim(1)?.log()?;
        let picked = shifted.gather(target, 1)?;
        Ok((log_sum - picked)?.mean_all()?)
    }
}

/// AdamW (decoupled weight decay), the state of each parameter kept beside it.
struct AdamW {
    moments: Vec<(Tensor, Tensor)>,
    t: i32,
}

impl AdamW {
    const B1: f64 = 0.9;
    const B2: f64 = 0.999;
    const EPS: f64 = 1e-6;

    fn new(params: &[Var]) -> Result<Self, BertError> {
        let moments = params
            .iter()
            .map(|p| -> Result<_, BertError> {
                Ok((p.as_tensor().zeros_like()?, p.as_tensor().zeros_like()?))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { moments, t: 0 })
    }

    /// One update at rate `lr` for the first `layers` parameters and `lr × HEAD_RATE` for the
    /// rest. Biases and norms (vectors) are not decayed.
    fn step(
        &mut self,
        params: &[Var],
        grads: &candle_core::backprop::GradStore,
        lr: f64,
        layers: usize,
    ) -> Result<(), BertError> {
        self.t += 1;
        let c1 = 1.0 - Self::B1.powi(self.t);
        let c2 = 1.0 - Self::B2.powi(self.t);
        for (i, (p, (m, v))) in params.iter().zip(&mut self.moments).enumerate() {
            let Some(g) = grads.get(p) else { continue };
            // Gradients of products with variables carry a graph; moments must not chain one
            // step's graph to the next.
            let g = g.detach();
            let g = &g;
            let rate = if i < layers { lr } else { lr * HEAD_RATE };
            *m = ((&*m * Self::B1)? + (g * (1.0 - Self::B1))?)?.detach();
            *v = ((&*v * Self::B2)? + (g.sqr()? * (1.0 - Self::B2))?)?.detach();
            let update = ((&*m / c1)? / ((&*v / c2)?.sqrt()? + Self::EPS)?)?;
            let w = p.as_tensor().detach();
            let decayed = if w.rank() > 1 {
                (&w * (1.0 - rate * WEIGHT_DECAY))?
            } else {
                w
            };
            p.set(&(decayed - (update * rate)?)?)?;
        }
        Ok(())
    }
}

/// SplitMix64: a small seeded generator for the shuffles.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// The arrays of a layer, in [`Layer`]'s order, matrices flattened.
fn layer_arrays(l: &Layer) -> Result<[Vec<f32>; 12], BertError> {
    let flat =
        |t: &Tensor| -> Result<Vec<f32>, BertError> { Ok(t.flatten_all()?.to_vec1::<f32>()?) };
    Ok([
        flat(&l.qkv)?,
        l.qkv_bias.clone(),
        flat(&l.attn_out)?,
        l.attn_out_bias.clone(),
        l.attn_gamma.clone(),
        l.attn_beta.clone(),
        flat(&l.up)?,
        l.up_bias.clone(),
        flat(&l.down)?,
        l.down_bias.clone(),
        l.gamma.clone(),
        l.beta.clone(),
    ])
}

/// The inverse of [`layer_arrays`]: a layer from its twelve arrays, matrices shaped like
/// `like`'s.
fn layer_from_arrays(arrays: Vec<Vec<f32>>, like: &Layer) -> Result<Layer, BertError> {
    let [qkv, qkv_bias, attn_out, attn_out_bias, attn_gamma, attn_beta, up, up_bias, down, down_bias, gamma, beta]: [Vec<f32>; 12] =
        arrays
            .try_into()
            .map_err(|_| BertError::Invalid("a layer has twelve arrays".into()))?;
    let matrix = |values: Vec<f32>, like: &Tensor| -> Result<Tensor, BertError> {
        Ok(Tensor::from_vec(values, like.dims(), &Device::Cpu)?)
    };
    Ok(Layer {
        qkv: matrix(qkv, &like.qkv)?,
        qkv_bias,
        attn_out: matrix(attn_out, &like.attn_out)?,
        attn_out_bias,
        attn_gamma,
        attn_beta,
        up: matrix(up, &like.up)?,
        up_bias,
        down: matrix(down, &like.down)?,
        down_bias,
        gamma,
        beta,
    })
}

/// Fine-tuned layers as bytes: their count (u32, little-endian), then every array of every
/// layer as little-endian f32, in [`Layer`]'s order. Shapes are those of the layers replaced.
pub(super) fn layers_to_bytes(layers: &[Layer]) -> Result<Vec<u8>, BertError> {
    let mut out = (layers.len() as u32).to_le_bytes().to_vec();
    for l in layers {
        for a in layer_arrays(l)? {
            out.extend(a.iter().flat_map(|v| v.to_le_bytes()));
        }
    }
    Ok(out)
}

/// Reads [`layers_to_bytes`]' output for `bert`, which must have the shapes it was written
/// with.
pub(super) fn layers_from_bytes(bert: &Bert, bytes: &[u8]) -> Result<Vec<Layer>, BertError> {
    let bad = |what: &str| BertError::Invalid(what.to_string());
    let (count, mut rest) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| bad("truncated"))?;
    let count = u32::from_le_bytes(*count) as usize;
    let depth = bert.layers().len();
    if count == 0 || count > depth {
        return Err(bad("more tuned layers than the encoder has"));
    }
    let mut out = Vec::with_capacity(count);
    for base in &bert.layers()[depth - count..] {
        let mut arrays = Vec::with_capacity(12);
        for template in layer_arrays(base)? {
            let len = template.len() * 4;
            if rest.len() < len {
                return Err(bad("truncated"));
            }
            let (this, tail) = rest.split_at(len);
            rest = tail;
            let values: Vec<f32> = this
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if values.iter().any(|v| !v.is_finite()) {
                return Err(bad("weights that are not finite numbers"));
            }
            arrays.push(values);
        }
        out.push(layer_from_arrays(arrays, base)?);
    }
    if !rest.is_empty() {
        return Err(bad("trailing bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::bert::tests::model;

    fn texts() -> (Vec<Vec<u32>>, Vec<usize>) {
        // Class 0 texts contain token 3, class 1 texts token 7; lengths differ (padding).
        let seqs = vec![
            vec![1, 3, 2],
            vec![1, 4, 3, 2],
            vec![1, 3, 5, 6, 2],
            vec![1, 7, 2],
            vec![1, 4, 7, 2],
            vec![1, 7, 5, 6, 2],
        ];
        (seqs, vec![0, 0, 0, 1, 1, 1])
    }

    fn net(bert: &Bert, layers: usize) -> Net {
        let depth = bert.layers().len();
        Net {
            layers: bert.layers()[depth - layers..]
                .iter()
                .map(|l| LayerVars::new(l).unwrap())
                .collect(),
            head: Var::zeros((2, bert.hidden()), DType::F32, &Device::Cpu).unwrap(),
            heads: bert.heads(),
            hidden: bert.hidden(),
            eps: f64::from(bert.eps()),
            act: bert.activation(),
        }
    }

    fn frozen_states(bert: &Bert, seqs: &[Vec<u32>], depth: usize) -> Vec<Vec<f32>> {
        seqs.iter()
            .map(|s| bert.states(std::slice::from_ref(s), depth).unwrap())
            .collect()
    }

    #[test]
    fn the_training_forward_pass_matches_inference_on_padded_batches() {
        for act in ["gelu", "gelu_new", "relu"] {
            let bert = model(act);
            let (seqs, _) = texts();
            for layers in [1, 2] {
                let states = frozen_states(&bert, &seqs, 2 - layers);
                let all: Vec<usize> = (0..seqs.len()).collect();
                let (x, mask) = padded(&states, &all, bert.hidden()).unwrap();
                let trained = net(&bert, layers).forward(&x, &mask).unwrap();
                let trained = trained.to_vec2::<f32>().unwrap();
                let inference = bert.embed(&seqs).unwrap();
                for (a, b) in trained.iter().zip(&inference) {
                    for (x, y) in a.iter().zip(b) {
                        assert!((x - y).abs() < 1e-4, "{act}, {layers} layers: {x} vs {y}");
                    }
                }
            }
        }
    }

    #[test]
    fn fine_tuning_separates_the_classes_and_is_deterministic() {
        let bert = model("gelu");
        let (seqs, labels) = texts();
        let opts = TuneOptions {
            layers: 1,
            epochs: 60,
            learning_rate: 2e-3,
            batch: 3,
            seed: 5,
        };
        // How much closer a text is to its own class than to the other (mean cosine
        // similarities): higher is more separate.
        let gap = |e: &[Vec<f32>]| {
            let cos = |a: &Vec<f32>, b: &Vec<f32>| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
            let (mut within, mut across) = (0.0, 0.0);
            for i in 0..6 {
                for j in 0..6 {
                    if i != j && labels[i] == labels[j] {
                        within += cos(&e[i], &e[j]) / 12.0;
                    } else if labels[i] != labels[j] {
                        across += cos(&e[i], &e[j]) / 18.0;
                    }
                }
            }
            within - across
        };
        let before = gap(&bert.embed(&seqs).unwrap());
        let top = fine_tune(&bert, &seqs, &labels, 2, &opts).unwrap();
        let after = gap(&bert.embed_with(&seqs, &top).unwrap());
        assert!(after > before + 0.01, "{before} -> {after}");
        let again = fine_tune(&bert, &seqs, &labels, 2, &opts).unwrap();
        assert_eq!(
            layers_to_bytes(&top).unwrap(),
            layers_to_bytes(&again).unwrap()
        );
        let other = fine_tune(&bert, &seqs, &labels, 2, &TuneOptions { seed: 6, ..opts }).unwrap();
        assert_ne!(
            layers_to_bytes(&top).unwrap(),
            layers_to_bytes(&other).unwrap()
        );
    }

    /// candle's gradients of our loss against central differences, for two entries of every
    /// trained array (layer weights, biases, norms and the head).
    #[test]
    fn gradients_match_finite_differences() {
        let bert = model("gelu");
        let (seqs, labels) = texts();
        let states = frozen_states(&bert, &seqs, 1);
        let mut net = net(&bert, 1);
        let head: Vec<f32> = (0..16)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) / 10.0)
            .collect();
        net.head = Var::from_vec(head, (2, 8), &Device::Cpu).unwrap();
        let all: Vec<usize> = (0..seqs.len()).collect();
        let (x, mask) = padded(&states, &all, bert.hidden()).unwrap();
        let target: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
        let target = Tensor::from_vec(target, (6, 1), &Device::Cpu).unwrap();
        let loss = |net: &Net| net.loss(&net.forward(&x, &mask).unwrap(), &target).unwrap();
        let grads = loss(&net).backward().unwrap();
        for (n, p) in net.params().iter().enumerate() {
            let analytic = grads
                .get(p)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let original = p.as_tensor().clone();
            let values = original.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            for k in [0, values.len() / 2] {
                let at = |delta: f32| {
                    let mut v = values.clone();
                    v[k] += delta;
                    p.set(&Tensor::from_vec(v, original.dims(), &Device::Cpu).unwrap())
                        .unwrap();
                    loss(&net).to_scalar::<f32>().unwrap()
                };
                let numeric = (at(5e-4) - at(-5e-4)) / 1e-3;
                p.set(&original.copy().unwrap()).unwrap();
                let a = analytic[k];
                assert!(
                    (numeric - a).abs() <= 2e-3 + 2e-2 * a.abs(),
                    "array {n}, entry {k}: numeric {numeric}, autograd {a}"
                );
            }
        }
    }

    #[test]
    fn bad_requests_are_refused() {
        let bert = model("gelu");
        let (seqs, labels) = texts();
        let opts = TuneOptions::default();
        let err = |layers, labels: &[usize], classes| {
            fine_tune(
                &bert,
                &seqs,
                labels,
                classes,
                &TuneOptions { layers, ..opts },
            )
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
        };
        assert!(err(0, &labels, 2).contains("cannot tune"));
        assert!(err(3, &labels, 2).contains("cannot tune"));
        assert!(err(1, &labels[..2], 2).contains("labels"));
        assert!(err(1, &labels, 1).contains("labels"));
        let bad_opts = |o: TuneOptions| {
            fine_tune(&bert, &seqs, &labels, 2, &o)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let one = TuneOptions { layers: 1, ..opts };
        assert!(bad_opts(TuneOptions { batch: 0, ..one }).contains("batch"));
        assert!(bad_opts(TuneOptions {
            batch: usize::MAX,
            ..one
        })
        .contains("batch"));
        assert!(bad_opts(TuneOptions { epochs: 0, ..one }).contains("epochs"));
        assert!(bad_opts(TuneOptions {
            learning_rate: f64::NAN,
            ..one
        })
        .contains("learning rate"));
    }

    #[test]
    fn tuned_layers_round_trip_and_damaged_bytes_are_refused() {
        let bert = model("gelu");
        let top = bert.layers()[1..].to_vec();
        let bytes = layers_to_bytes(&top).unwrap();
        let back = layers_from_bytes(&bert, &bytes).unwrap();
        assert_eq!(layers_to_bytes(&back).unwrap(), bytes);
        let refused = |b: &[u8]| {
            layers_from_bytes(&bert, b)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(refused(&bytes[..bytes.len() - 4]).contains("truncated"));
        assert!(refused(&bytes[..2]).contains("truncated"));
        let mut longer = bytes.clone();
        longer.extend([0, 0, 0, 0]);
        assert!(refused(&longer).contains("trailing"));
        let mut nan = bytes.clone();
        nan[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(refused(&nan).contains("finite"));
        let mut many = bytes.clone();
        many[..4].copy_from_slice(&3u32.to_le_bytes());
        assert!(refused(&many).contains("more tuned layers"));
        many[..4].copy_from_slice(&0u32.to_le_bytes());
        assert!(refused(&many).contains("more tuned layers"));
    }
}
