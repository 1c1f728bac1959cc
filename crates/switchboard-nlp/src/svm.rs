//! One-vs-rest linear support vector machines with the squared hinge loss, trained in the dual by
//! coordinate descent with shrinking (Hsieh et al., "A Dual Coordinate Descent Method for
//! Large-scale Linear SVM", ICML 2008; the method behind LIBLINEAR's default solver). A constant
//! feature of 1 gives each class its bias, regularised like the other weights.
//!
//! Deterministic: each class shuffles with its own generator seeded from the run's seed, so the
//! result does not depend on how classes are spread over threads.

use crate::features::SparseVec;

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SvmParams {
    /// Inverse regularisation strength.
    pub c: f64,
    /// Stop when the projected gradient's spread falls below this.
    pub tolerance: f64,
    pub max_passes: usize,
    pub seed: u64,
    pub threads: usize,
}

impl Default for SvmParams {
    fn default() -> Self {
        Self {
            c: 1.0,
            tolerance: 0.001,
            max_passes: 1000,
            seed: 0,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// Weights of every class, feature-major (`weights[f * classes + k]`) so that scoring a sparse
/// vector reads contiguous memory; `bias[k]` per class.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    pub classes: usize,
    pub features: usize,
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

impl LinearModel {
    /// The decision value of every class.
    pub fn scores(&self, x: &SparseVec) -> Vec<f32> {
        let mut out = self.bias.clone();
        for (&i, &v) in x.indices.iter().zip(&x.values) {
            let row = i as usize * self.classes;
            if let Some(w) = self.weights.get(row..row + self.classes) {
                for (o, w) in out.iter_mut().zip(w) {
                    *o += v * w;
                }
            }
        }
        out
    }
}

/// SplitMix64: a small, well-mixed generator whose sequence never changes between releases.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Trains one machine per class (`labels[i]` in `0..classes`) over `features` dimensions.
pub fn train(
    xs: &[SparseVec],
    labels: &[u32],
    classes: usize,
    features: usize,
    params: &SvmParams,
) -> LinearModel {
    let norms: Vec<f64> = xs.iter().map(|x| x.squared_norm() + 1.0).collect();
    let threads = params.threads.clamp(1, classes.max(1));
    let mut per_class: Vec<(usize, Vec<f64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let norms = &norms;
                scope.spawn(move || {
                    (t..classes)
                        .step_by(threads)
                        .map(|k| (k, binary(xs, labels, k as u32, features, norms, params)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    per_class.sort_by_key(|(k, _)| *k);
    let mut weights = vec![0f32; features * classes];
    let mut bias = vec![0f32; classes];
    for (k, w) in per_class {
        for f in 0..features {
            weights[f * classes + k] = w[f] as f32;
        }
        bias[k] = w[features] as f32;
    }
    LinearModel {
        classes,
        features,
        weights,
        bias,
    }
}

/// Class `positive` against the rest. Returns `features + 1` weights, the bias last.
fn binary(
    xs: &[SparseVec],
    labels: &[u32],
    positive: u32,
    features: usize,
    norms: &[f64],
    params: &SvmParams,
) -> Vec<f64> {
    let n = xs.len();
    let diag = 0.5 / params.c;
    let y: Vec<f64> = labels
        .iter()
        .map(|&l| if l == positive { 1.0 } else { -1.0 })
        .collect();
    let qd: Vec<f64> = norms.iter().map(|q| q + diag).collect();
    let mut w = vec![0f64; features + 1];
    let mut alpha = vec![0f64; n];
    let mut index: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix::new(params.seed ^ (u64::from(positive) + 1).wrapping_mul(0x9e37_79b9));
    let mut active = n;
    // With the squared hinge there is no upper bound on alpha, so only the lower bound shrinks.
    let mut pg_max_old = f64::INFINITY;
    let dot = |w: &[f64], x: &SparseVec| -> f64 {
        x.indices
            .iter()
            .zip(&x.values)
            .map(|(&i, &v)| w[i as usize] * f64::from(v))
            .sum::<f64>()
            + w[features]
    };
    for _ in 0..params.max_passes {
        let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
        rng.shuffle(&mut index[..active]);
        let mut s = 0;
        while s < active {
            let i = index[s];
            let g = y[i] * dot(&w, &xs[i]) - 1.0 + alpha[i] * diag;
            let mut pg = g;
            if alpha[i] == 0.0 {
                if g > pg_max_old {
                    // At its bound and likely to stay there: leave it out until the end.
                    active -= 1;
                    index.swap(s, active);
                    continue;
                }
                if g > 0.0 {
                    pg = 0.0;
                }
            }
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (alpha[i] - g / qd[i]).max(0.0);
                let d = (alpha[i] - old) * y[i];
                let x = &xs[i];
                for (&j, &v) in x.indices.iter().zip(&x.values) {
                    w[j as usize] += d * f64::from(v);
                }
                w[features] += d;
            }
            s += 1;
        }
        if pg_max - pg_min <= params.tolerance {
            if active == n {
                break;
            }
            // Converged on the active set: check everything once more.
            active = n;
            pg_max_old = f64::INFINITY;
            continue;
        }
        pg_max_old = if pg_max <= 0.0 { f64::INFINITY } else { pg_max };
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(pairs: &[(u32, f32)]) -> SparseVec {
        SparseVec {
            indices: pairs.iter().map(|p| p.0).collect(),
            values: pairs.iter().map(|p| p.1).collect(),
        }
    }

    #[test]
    fn separates_three_classes_and_is_deterministic() {
        let xs = vec![
            x(&[(0, 1.0)]),
            x(&[(0, 0.9), (3, 0.1)]),
            x(&[(1, 1.0)]),
            x(&[(1, 0.8), (3, 0.2)]),
            x(&[(2, 1.0)]),
            x(&[(2, 0.7), (3, 0.3)]),
        ];
        let labels = [0, 0, 1, 1, 2, 2];
        let params = SvmParams {
            seed: 7,
            ..Default::default()
        };
        let m = train(&xs, &labels, 3, 4, &params);
        for (x, &l) in xs.iter().zip(&labels) {
            let s = m.scores(x);
            let best = (0..3).max_by(|a, b| s[*a].total_cmp(&s[*b])).unwrap();
            assert_eq!(best as u32, l);
        }
        let single = SvmParams {
            threads: 1,
            ..params
        };
        assert_eq!(train(&xs, &labels, 3, 4, &single), m);
    }
}
