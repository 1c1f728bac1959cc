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
fn counts<T: Ord + Copy>(mut ids: Vec<T>) -> Vec<(T, u32)> {
    ids.sort_unstable();
    let mut out: Vec<(T, u32)> = Vec::new();
    for id in ids {
        match out.last_mut() {
            Some((last, n)) if *last == id => *n += 1,
            _ => out.push((id, 1)),
        }
    }
    out
}

/// The features a model knows: sorted ids of each block and their inverse document frequencies.
#[derive(Clone, PartialEq)]
pub struct Vocabulary {
    word_ids: Vec<u64>,
    char_ids: Vec<u64>,
    /// `idf[i]` for feature `i`: word features first, then character features.
    idf: Vec<f32>,
    /// Feature number of every id of each block (words, characters): a text has a few
    /// hundred n-grams, and a hash lookup each is several times faster than a binary search
    /// through tens of thousands of ids. The hash is seeded at random per process, so a crafted
    /// model file cannot choose ids that collide and make building the table quadratic.
    index: [IdIndex; 2],
}

/// Feature numbers by n-gram id.
type IdIndex = HashMap<u64, u32, foldhash::fast::RandomState>;

impl std::fmt::Debug for Vocabulary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vocabulary")
            .field("word_features", &self.word_ids.len())
            .field("char_features", &self.char_ids.len())
            .finish_non_exhaustive()
    }
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
        let idf = words
            .iter()
            .chain(chars.iter())
            .map(|(_, df)| idf(*df))
            .collect();
        Self::indexed(
            words.iter().map(|(id, _)| *id).collect(),
            chars.iter().map(|(id, _)| *id).collect(),
            idf,
        )
    }

    /// A vocabulary read back from a model: each block's ids strictly increasing (the order
    /// feature numbers follow) and one idf per feature; `None` otherwise.
    pub fn from_parts(word_ids: Vec<u64>, char_ids: Vec<u64>, idf: Vec<f32>) -> Option<Self> {
        let increasing = |ids: &[u64]| ids.windows(2).all(|w| w[0] < w[1]);
        let fits = idf.len() == word_ids.len() + char_ids.len()
            && u32::try_from(idf.len()).is_ok()
            && increasing(&word_ids)
            && increasing(&char_ids);
        fits.then(|| Self::indexed(word_ids, char_ids, idf))
    }

    fn indexed(word_ids: Vec<u64>, char_ids: Vec<u64>, idf: Vec<f32>) -> Self {
        // Feature numbers fit in u32: checked by `from_parts`; `fit` sees far fewer.
        let numbered = |ids: &[u64], first: usize| -> IdIndex {
            ids.iter()
                .enumerate()
                .map(|(i, id)| (*id, (first + i) as u32))
                .collect()
        };
        let index = [numbered(&word_ids, 0), numbered(&char_ids, word_ids.len())];
        Self {
            word_ids,
            char_ids,
            idf,
            index,
        }
    }

    /// Ids of the word block, sorted.
    pub fn word_ids(&self) -> &[u64] {
        &self.word_ids
    }

    /// Ids of the character block, sorted.
    pub fn char_ids(&self) -> &[u64] {
        &self.char_ids
    }

    /// Inverse document frequency of each feature, word features first.
    pub fn idf(&self) -> &[f32] {
        &self.idf
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
        self.block(&mut out, &self.index[0], w);
        self.block(&mut out, &self.index[1], c);
        out
    }

    /// Appends one block's features: the known n-grams' `(1 + ln tf) · idf`, scaled to unit
    /// length. Counting feature numbers sorts them, and numbers follow the sorted ids, so the
    /// block comes out in order, after the blocks before it.
    fn block(&self, out: &mut SparseVec, index: &IdIndex, ngrams: Vec<u64>) {
        let start = out.indices.len();
        let known: Vec<u32> = ngrams
            .iter()
            .filter_map(|id| index.get(id).copied())
            .collect();
        for (number, tf) in counts(known) {
            let weight = (1.0 + (tf as f32).ln()) * self.idf[number as usize];
            out.indices.push(number);
            out.values.push(weight);
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
    use proptest::strategy::Strategy;

    #[test]
    fn vectors_are_sorted_unit_blocks_and_unknown_words_are_ignored() {
        let vocab = Vocabulary::fit(
            ["card has not arrived", "my card arrived", "top up failed"],
            1,
        );
        let v = vocab.vectorize("My card has arrived, thanks zzzz");
        assert!(v.indices.windows(2).all(|w| w[0] < w[1]));
        let words = vocab.word_ids().len() as u32;
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

    /// The TF-IDF vector as the vocabulary defines it, computed the plain way: each block's
    /// n-grams counted, looked up by binary search in its sorted ids, weighted, unit length.
    fn reference(vocab: &Vocabulary, raw: &str) -> SparseVec {
        let (w, c) = ngrams(raw);
        let mut out = SparseVec::default();
        let blocks = [
            (vocab.word_ids(), 0, w),
            (vocab.char_ids(), vocab.word_ids().len(), c),
        ];
        for (ids, offset, grams) in blocks {
            let start = out.indices.len();
            for (id, tf) in counts(grams) {
                if let Ok(pos) = ids.binary_search(&id) {
                    out.indices.push((offset + pos) as u32);
                    out.values
                        .push((1.0 + (tf as f32).ln()) * vocab.idf()[offset + pos]);
                }
            }
            let norm = out.values[start..]
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
        out
    }

    proptest::proptest! {
        /// Texts mixing known words, unknown ones, repeats, punctuation and other scripts
        /// vectorize exactly as the plain definition says.
        #[test]
        fn vectors_match_the_plain_definition(
            words in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        "card", "arrived", "refund", "my", "top", "up", "failed", "has", "not",
                    ])
                    .prop_map(str::to_owned),
                    "[a-zé€ü!?.,0-9 ]{0,8}",
                    "\\PC{0,4}",
                ],
                0..20,
            )
        ) {
            let vocab = Vocabulary::fit(
                ["card has not arrived", "my card arrived", "top up failed", "refund my top up"],
                1,
            );
            let text = words.join(" ");
            proptest::prop_assert_eq!(vocab.vectorize(&text), reference(&vocab, &text));
        }
    }

    #[test]
    fn a_vocabulary_rebuilt_from_its_parts_vectorizes_alike_and_bad_parts_are_refused() {
        let vocab = Vocabulary::fit(["card has not arrived", "my card arrived", "top up"], 1);
        let back = Vocabulary::from_parts(
            vocab.word_ids().to_vec(),
            vocab.char_ids().to_vec(),
            vocab.idf().to_vec(),
        )
        .unwrap();
        for text in ["my card has arrived", "", "top up my card card card", "zzz"] {
            assert_eq!(back.vectorize(text), vocab.vectorize(text));
        }
        let words = vocab.word_ids().to_vec();
        let chars = vocab.char_ids().to_vec();
        let idf = vocab.idf().to_vec();
        let mut unsorted = words.clone();
        unsorted.swap(0, 1);
        assert!(Vocabulary::from_parts(unsorted, chars.clone(), idf.clone()).is_none());
        let mut repeated = chars.clone();
        repeated[1] = repeated[0];
        assert!(Vocabulary::from_parts(words.clone(), repeated, idf.clone()).is_none());
        assert!(Vocabulary::from_parts(words, chars, idf[1..].to_vec()).is_none());
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
        let idf = |id| all.idf()[all.word_ids().binary_search(&id).unwrap()];
        assert!(idf(lost) > idf(refund));
    }
}
