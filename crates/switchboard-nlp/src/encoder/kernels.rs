//! The element-wise parts of the BERT forward pass and its attention, fused into single passes
//! over rows so that no intermediate tensor is allocated: layer normalisation with a residual,
//! bias + activation, softmax and the per-head products. Written as plain loops without
//! branches in the hot path so the compiler vectorises them; `exp` (relative error < 5e-7) and
//! `erf` (absolute error < 5e-7) are polynomial approximations, far below what changes an
//! embedding.

/// `e^x` for `f32`, relative error below 5e-7 over the range where the result is a normal
/// number; inputs are clamped to [-87.3, 88], so tiny results bottom out near 1e-38 and large
/// ones stay finite.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // Adding and removing 1.5·2^23 rounds to the nearest integer, and leaves that integer in
    // the low bits of the sum: no library call and no float-to-int conversion (Rust's
    // saturating cast is scalar code), so loops over this function vectorise.
    const ROUNDER: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUNDER;
    let k = shifted - ROUNDER;
    // x = k·ln 2 + r with |r| ≤ ln 2 / 2; e^x = 2^k · e^r.
    let r = x - k * 0.693_145_75 - k * 1.428_606_8e-6;
    // Degree-7 Taylor polynomial of e^r on |r| ≤ 0.35 (truncation error < 1e-8).
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // 2^k through the exponent bits; k is in [-126, 127] after the clamp.
    let k_bits = shifted.to_bits().wrapping_sub(ROUNDER.to_bits());
    p * f32::from_bits(k_bits.wrapping_add(127) << 23)
}

/// The error function, absolute error below 5e-7 in `f32` (Abramowitz & Stegun 7.1.26 for
/// |x|, the sign restored; the same formula for every input, so loops over it vectorise).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// GELU as BERT defines it: `x · Φ(x)` with the exact normal CDF (through `erf`).
#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// This CPU's best instruction set, detected once. Each kernel runs its loops through it, so
/// they are compiled for AVX-512, AVX2 + FMA and plain x86-64 and the best one present runs:
/// without this the loops would only use the baseline's 4-wide SSE2.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cpu(pulp::Arch);

impl Cpu {
    pub(super) fn detect() -> Self {
        Self(pulp::Arch::new())
    }
}

/// Declares a kernel: a public function that runs `$body` (an `#[inline(always)]` function)
/// under [`Cpu`]'s instruction set. The body must be inlined into pulp's per-instruction-set
/// entry points to be compiled for them; a closure is not reliably inlined, so each kernel is a
/// small `WithSimd` type whose `with_simd` is.
macro_rules! kernel {
    ($(#[$doc:meta])* $name:ident / $job:ident ($($arg:ident: $ty:ty),*) => $body:ident) => {
        struct $job<'a> { $($arg: $ty,)* _life: std::marker::PhantomData<&'a ()> }

        impl pulp::WithSimd for $job<'_> {
            type Output = ();

            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _simd: S) {
                $body($(self.$arg),*)
            }
        }

        $(#[$doc])*
        pub(super) fn $name<'a>(cpu: Cpu, $($arg: $ty),*) {
            cpu.0.dispatch($job { $($arg,)* _life: std::marker::PhantomData });
        }
    };
}

/// The sum of `f(v)` over `values`, in 16 interleaved partial sums so that it vectorises (a
/// plain sum must keep its order and cannot).
#[inline(always)]
fn sum_of(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 16];
    let chunks = values.chunks_exact(16);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    lanes.iter().sum::<f32>() + rest.iter().map(|&v| f(v)).sum::<f32>()
}

/// `rows[i] = act(rows[i] + bias[i mod width])`, in place.
#[inline(always)]
fn bias_map(rows: &mut [f32], bias: &[f32], act: impl Fn(f32) -> f32) {
    for row in rows.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v = act(*v + b);
        }
    }
}

/// The feed-forward activation named by `hidden_act` in `config.json`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Activation {
    /// `gelu`: the exact GELU.
    Gelu,
    /// `gelu_new` / `gelu_pytorch_tanh`: GELU's tanh approximation.
    GeluTanh,
    Relu,
}

kernel!(
    /// `rows[i] = act(rows[i] + bias[i mod width])`, in place.
    bias_activation / BiasActivation(rows: &'a mut [f32], bias: &'a [f32], act: Activation)
        => bias_activation_body
);

#[inline(always)]
fn bias_activation_body(rows: &mut [f32], bias: &[f32], act: Activation) {
    match act {
        Activation::Gelu => bias_map(rows, bias, gelu),
        Activation::GeluTanh => bias_map(rows, bias, gelu_tanh),
        Activation::Relu => bias_map(rows, bias, relu),
    }
}

/// GELU's tanh approximation: `x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    let u = 0.797_884_6 * (x + 0.044_715 * x * x * x);
    // tanh(u) = 1 - 2 / (e^{2u} + 1)
    0.5 * x * (2.0 - 2.0 / (exp(2.0 * u) + 1.0))
}

#[inline(always)]
fn relu(x: f32) -> f32 {
    x.max(0.0)
}

/// Layer normalisation's parameters: scale, shift and the variance epsilon.
#[derive(Debug, Clone, Copy)]
pub(super) struct Norm<'a> {
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    pub eps: f32,
}

kernel!(
    /// For each row: `residual = layer_norm(x + bias + residual)` (the layer's output replaces
    /// the residual input).
    add_bias_residual_norm / AddBiasResidualNorm(
        x: &'a [f32],
        bias: &'a [f32],
        residual: &'a mut [f32],
        norm: Norm<'a>
    ) => add_bias_residual_norm_body
);

#[inline(always)]
fn add_bias_residual_norm_body(x: &[f32], bias: &[f32], residual: &mut [f32], norm: Norm<'_>) {
    let width = bias.len();
    for (row, res) in x.chunks_exact(width).zip(residual.chunks_exact_mut(width)) {
        for ((r, v), b) in res.iter_mut().zip(row).zip(bias) {
            *r += v + b;
        }
        normalise(res, norm);
    }
}

kernel!(
    /// Layer normalisation of each row of `rows`, in place.
    layer_norm / LayerNorm(rows: &'a mut [f32], norm: Norm<'a>) => layer_norm_body
);

#[inline(always)]
fn layer_norm_body(rows: &mut [f32], norm: Norm<'_>) {
    for row in rows.chunks_exact_mut(norm.gamma.len()) {
        normalise(row, norm);
    }
}

/// One row to zero mean and unit variance, then scaled and shifted.
#[inline(always)]
fn normalise(row: &mut [f32], norm: Norm<'_>) {
    let n = row.len() as f32;
    let mean = sum_of(row, |v| v) / n;
    let var = sum_of(row, |v| (v - mean) * (v - mean)) / n;
    let inv = 1.0 / (var + norm.eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(norm.gamma).zip(norm.beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

/// Softmax of each row of `scores` after multiplying it by `scale`, in place.
#[inline(always)]
fn scaled_softmax(scores: &mut [f32], width: usize, scale: f32) {
    for row in scores.chunks_exact_mut(width) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        for v in row.iter_mut() {
            *v = exp((*v - max) * scale);
        }
        let inv = 1.0 / sum_of(row, |v| v);
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

/// One sequence's heads, laid out for [`attention`]: queries and values `[heads, n, d]`, keys
/// transposed `[heads, d, n]`.
#[derive(Debug)]
pub(super) struct Heads<'a> {
    pub q: &'a [f32],
    pub kt: &'a [f32],
    pub v: &'a [f32],
    pub heads: usize,
    pub n: usize,
    pub d: usize,
}

kernel!(
    /// Scaled dot-product attention of every head of one sequence over its own `n` tokens.
    /// Head `h`'s output goes to columns `h·d..(h+1)·d` of `out`'s rows (`[n, heads·d]`). The
    /// products are written so the innermost loops run along contiguous rows (a query times a
    /// transposed key row, probabilities times value rows): they vectorise, and at these sizes
    /// (tens of tokens, 32 dimensions) that beats a matrix-multiply call per head.
    attention / Attention(heads: &'a Heads<'a>, out: &'a mut [f32]) => attention_body
);

#[inline(always)]
fn attention_body(heads: &Heads<'_>, out: &mut [f32]) {
    let (n, d) = (heads.n, heads.d);
    let width = heads.heads * d;
    let scale = 1.0 / (d as f32).sqrt();
    let mut scores = vec![0.0f32; n * n];
    for h in 0..heads.heads {
        let q = &heads.q[h * n * d..(h + 1) * n * d];
        let kt = &heads.kt[h * d * n..(h + 1) * d * n];
        let v = &heads.v[h * n * d..(h + 1) * n * d];
        scores.fill(0.0);
        for (row, q_row) in scores.chunks_exact_mut(n).zip(q.chunks_exact(d)) {
            for (&qc, k_row) in q_row.iter().zip(kt.chunks_exact(n)) {
                for (s, k) in row.iter_mut().zip(k_row) {
                    *s += qc * k;
                }
            }
        }
        scaled_softmax(&mut scores, n, scale);
        for (row, out_row) in scores.chunks_exact(n).zip(out.chunks_exact_mut(width)) {
            let o = &mut out_row[h * d..(h + 1) * d];
            o.fill(0.0);
            for (&p, v_row) in row.iter().zip(v.chunks_exact(d)) {
                for (x, vv) in o.iter_mut().zip(v_row) {
                    *x += p * vv;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by its Taylor series (exact enough in f64 for |x| ≤ 3), the reference.
    fn erf_series(x: f64) -> f64 {
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn exp_matches_the_standard_library() {
        for i in -8_000..=8_000 {
            let x = i as f32 / 100.0;
            let want = x.exp();
            let got = exp(x);
            assert!(
                ((got - want) / want).abs() < 5e-7,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert!(exp(-200.0) < 2e-38 && exp(-200.0) >= 0.0);
        assert!(exp(200.0).is_finite() && exp(200.0) > 1e38);
        assert!((exp(88.0) - 88f32.exp()).abs() / 88f32.exp() < 5e-7);
    }

    #[test]
    fn erf_matches_its_series_and_saturates() {
        for i in -300..=300 {
            let x = i as f64 / 100.0;
            let got = f64::from(erf(x as f32));
            assert!((got - erf_series(x)).abs() < 5e-7, "erf({x}) = {got}");
        }
        assert_eq!(erf(10.0), 1.0);
        assert_eq!(erf(-10.0), -1.0);
        assert!(erf(0.0).abs() < 5e-7);
        assert!((gelu(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!(gelu(-10.0).abs() < 1e-6);
    }

    #[test]
    fn softmax_rows_sum_to_one_and_keep_their_order() {
        let mut s = vec![1.0, 2.0, 3.0, -1000.0, 0.0, 1000.0];
        scaled_softmax(&mut s, 3, 0.5);
        assert!((s[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(s[0] < s[1] && s[1] < s[2]);
        assert!((s[5] - 1.0).abs() < 1e-6 && s[3] < 1e-30);
    }

    #[test]
    fn attention_matches_the_textbook_formula() {
        let (heads, n, d) = (3, 5, 4);
        let value = |i: usize| ((i * 37 % 23) as f32 - 11.0) / 7.0;
        let q: Vec<f32> = (0..heads * n * d).map(value).collect();
        let k: Vec<f32> = (0..heads * n * d).map(|i| value(i + 5)).collect();
        let v: Vec<f32> = (0..heads * n * d).map(|i| value(i + 11)).collect();
        let mut kt = vec![0.0; k.len()];
        for h in 0..heads {
            for j in 0..n {
                for c in 0..d {
                    kt[(h * d + c) * n + j] = k[(h * n + j) * d + c];
                }
            }
        }
        let mut out = vec![0.0; n * heads * d];
        let layout = Heads {
            q: &q,
            kt: &kt,
            v: &v,
            heads,
            n,
            d,
        };
        attention(Cpu::detect(), &layout, &mut out);
        for h in 0..heads {
            for i in 0..n {
                let logits: Vec<f64> = (0..n)
                    .map(|j| {
                        (0..d)
                            .map(|c| f64::from(q[(h * n + i) * d + c] * k[(h * n + j) * d + c]))
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = logits.iter().cloned().fold(f64::MIN, f64::max);
                let weights: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                for c in 0..d {
                    let want: f64 = (0..n)
                        .map(|j| weights[j] / total * f64::from(v[(h * n + j) * d + c]))
                        .sum();
                    let got = f64::from(out[i * heads * d + h * d + c]);
                    assert!(
                        (got - want).abs() < 1e-5,
                        "head {h} row {i} col {c}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn layer_norm_centres_and_scales() {
        let mut row = vec![1.0, 2.0, 3.0, 4.0];
        let norm = Norm {
            gamma: &[1.0; 4],
            beta: &[0.5; 4],
            eps: 1e-12,
        };
        layer_norm(Cpu::detect(), &mut row, norm);
        let mean: f32 = row.iter().sum::<f32>() / 4.0;
        assert!((mean - 0.5).abs() < 1e-6);
        let var: f32 = row.iter().map(|v| (v - 0.5) * (v - 0.5)).sum::<f32>() / 4.0;
        assert!((var - 1.0).abs() < 1e-4);
    }
}
