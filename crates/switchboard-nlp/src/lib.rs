//! Switchboard's text understanding, usable on its own: normalisation and tokenisation
//! ([`text`]), TF-IDF n-gram features ([`features`]), one-vs-rest linear SVMs trained by our own
//! dual coordinate descent ([`svm`]), and the intent model that ties them together with calibrated
//! probabilities, an out-of-scope threshold and a checksummed file format ([`intent`]); BM25
//! retrieval over knowledge-base articles with extractive answers ([`retrieval`]).

mod address;
pub mod dataset;
pub mod encoder;
pub mod eval;
pub mod features;
pub mod intent;
pub mod language;
pub mod pii;
pub mod retrieval;
pub mod sentiment;
pub mod svm;
pub mod text;
pub mod triage;
pub mod urgency;

/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum NlpError {
    /// Training or evaluation data that cannot be used; the message names the row.
    #[error("{0}")]
    Data(String),
    /// A model file that is not ours, from a newer format, truncated or altered.
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
