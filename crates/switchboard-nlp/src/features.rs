//! TF-IDF features: word 1–2-grams and character 2–5-grams (within word boundaries, each word
//! padded with a space on both sides), hashed to 64-bit ids and looked up in a vocabulary fitted
//! on the training data. Each block (words, characters) is weighted `(1 + ln tf) · idf` and scaled
//! to unit length, so short and long messages compare alike and neither block drowns the other.

use crate::text;
use std::collections::HashMap;

/// Word n-gram lengths.
pub const WORD_NGRAMS: std::ops::RangeInclusive<usize> = 1..=2;
/// Character n-gram lengths.
pub const CHAR_NGRAMS: std::ops::RangeInclusive<usize> = 2..=5;

/// A sparse vector: strictly increasing indices and their values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVec {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVec {
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn squared_norm(&self) -> f64 {
        self.values
            .iter()
            .map(|v| f64::from(*v) * f64::from(*v))
            .sum()
    }
}

/// FNV-1a, 64 bits: stable across platforms and releases, which a model file needs.
fn fnv(namespace: u8, parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    eat(namespace);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            eat(0x1f);
        }
        for b in *p {
            eat(*b);
        }
    }
    h
}

/// The hashed n-grams of a text, with repeats: (word n-grams, character n-grams).
pub fn ngrams(raw: &str) -> (Vec<u64>, Vec<u64>) {
    let normalised = text::normalise(raw);
    let words = text::words(&normalised);
    let mut word_ids = Vec::with_capacity(words.len() * 2);
    for n in WORD_NGRAMS {
        for w in words.windows(n) {
            let parts: Vec<&[u8]> = w.iter().map(|s| s.as_bytes()).collect();
            word_ids.push(fnv(b'w', &parts));
        }
    }
    let mut char_ids = Vec::new();
    let mut buf = [0u8; 4 * 5];
    for w in normalised.split(' ').filter(|w| !w.is_empty()) {
        let padded: Vec<char> = std::iter::once(' ')
            .chain(w.chars())
            .chain(std::iter::once(' '))
            .collect();
        for n in CHAR_NGRAMS {
            for g in padded.windows(n) {
                let mut len = 0;
                for c in g {
                    len += c.encode_utf8(&mut buf[len..]).len();
                }
                char_ids.push(fnv(b'c', &[&buf[..len]]));
            }
        }
    }
    (word_ids, char_ids)
}

/// Counts of each id, sorted by id.
fn counts(mut ids: Vec<u64>) -> Vec<(u64, u32)> {
    ids.sort_unstable();
    let mut out: Vec<(u64, u32)> = Vec::new();
    for id in ids {
        match out.last_mut() {
            Some((last, n)) if *last == id => *n += 1,
            _ => out.push((id, 1)),
        }
    }
    out
}

/// The features a model knows: sorted ids of each block and their inverse document frequencies.
#[derive(Debug, Clone, PartialEq)]
pub struct Vocabulary {
    pub word_ids: Vec<u64>,
    pub char_ids: Vec<u64>,
    /// `idf[i]` for feature `i`: word features first, then character features.
    pub idf: Vec<f32>,
}

impl Vocabulary {
    /// Fits the vocabulary on training texts, keeping n-grams seen in at least `min_df` texts;
    /// idf is smoothed: `ln((1 + n) / (1 + df)) + 1`.
    pub fn fit<'a>(texts: impl IntoIterator<Item = &'a str>, min_df: u32) -> Self {
        let mut word_df: HashMap<u64, u32> = HashMap::new();
        let mut char_df: HashMap<u64, u32> = HashMap::new();
        let mut n = 0u32;
        for t in texts {
            n += 1;
            let (w, c) = ngrams(t);
            for (id, _) in counts(w) {
                *word_df.entry(id).or_default() += 1;
            }
            for (id, _) in counts(c) {
                *char_df.entry(id).or_default() += 1;
            }
        }
        let keep = |df: HashMap<u64, u32>| {
            let mut v: Vec<(u64, u32)> = df.into_iter().filter(|(_, d)| *d >= min_df).collect();
            v.sort_unstable();
            v
        };
        let (words, chars) = (keep(word_df), keep(char_df));
        let idf = |df: u32| ((1.0 + f64::from(n)) / (1.0 + f64::from(df))).ln() as f32 + 1.0;
        Self {
            word_ids: words.iter().map(|(id, _)| *id).collect(),
            char_ids: chars.iter().map(|(id, _)| *id).collect(),
            idf: words
                .iter()
                .chain(chars.iter())
                .map(|(_, df)| idf(*df))
                .collect(),
        }
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.word_ids.len() + self.char_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The TF-IDF vector of a text; n-grams outside the vocabulary are ignored.
    pub fn vectorize(&self, raw: &str) -> SparseVec {
        let (w, c) = ngrams(raw);
        let mut out = SparseVec::default();
        self.block(&mut out, &self.word_ids, 0, counts(w));
        self.block(&mut out, &self.char_ids, self.word_ids.len(), counts(c));
        out
    }

    fn block(&self, out: &mut SparseVec, ids: &[u64], offset: usize, counts: Vec<(u64, u32)>) {
        let start = out.indices.len();
        for (id, tf) in counts {
            if let Ok(pos) = ids.binary_search(&id) {
                let index = offset + pos;
                let weight = (1.0 + (tf as f32).ln()) * self.idf[index];
                // Indices come out increasing: counts are sorted by id, ids are sorted, and
                // each block's offset is past the previous block.
                out.indices.push(index as u32);
                out.values.push(weight);
            }
        }
        let norm: f32 = out.values[start..]
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt();
        if norm > 0.0 {
            for v in &mut out.values[start..] {
                *v /= norm;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_sorted_unit_blocks_and_unknown_words_are_ignored() {
        let vocab = Vocabulary::fit(
            ["card has not arrived", "my card arrived", "top up failed"],
            1,
        );
        let v = vocab.vectorize("My card has arrived, thanks zzzz");
        assert!(v.indices.windows(2).all(|w| w[0] < w[1]));
        let words = vocab.word_ids.len() as u32;
        let block_norm = |char_block: bool| -> f32 {
            v.indices
                .iter()
                .zip(&v.values)
                .filter(|(i, _)| (**i >= words) == char_block)
                .map(|(_, x)| x * x)
                .sum()
        };
        assert!((block_norm(false) - 1.0).abs() < 1e-5);
        assert!((block_norm(true) - 1.0).abs() < 1e-5);
        assert!(vocab.vectorize("").is_empty());
        assert!(vocab.vectorize("qqqq xxxx").is_empty());
    }

    #[test]
    fn min_df_prunes_rare_ngrams_and_idf_favours_rare_ones() {
        let texts = ["refund please", "refund now", "card lost"];
        let all = Vocabulary::fit(texts, 1);
        let common = Vocabulary::fit(texts, 2);
        assert!(common.len() < all.len());
        assert!(!common.is_empty());
        let refund = fnv(b'w', &[b"refund"]);
        let lost = fnv(b'w', &[b"lost"]);
        let idf = |id| all.idf[all.word_ids.binary_search(&id).unwrap()];
        assert!(idf(lost) > idf(refund));
    }
}
