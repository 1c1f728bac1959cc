//! Language identification (whatlang's trigram and script models): an ISO 639-3 code with a
//! confidence, or `und` when the text is too short or the evidence too weak to say.

use serde::Serialize;

/// The code for "undetermined" (ISO 639-3).
pub const UNDETERMINED: &str = "und";

/// Below this confidence the answer is `und`. whatlang's confidence is the margin between the
/// two best languages, so closely related languages (Spanish and Portuguese) score low even when
/// right.
const MIN_CONFIDENCE: f64 = 0.25;

/// Fewer letters than this say too little.
const MIN_LETTERS: usize = 8;

/// A language guess.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Language {
    /// ISO 639-3 (`eng`, `fra`, `deu`, …) or `und`.
    pub code: &'static str,
    pub confidence: f64,
}

/// Whether the detector knows the language `code` (ISO 639-3).
pub fn is_known(code: &str) -> bool {
    whatlang::Lang::from_code(code).is_some()
}

/// The language of `text`, among every language the model knows.
pub fn identify(text: &str) -> Language {
    identify_with(text, &whatlang::Detector::new())
}

/// The language of `text` among `codes` (ISO 639-3; unknown codes are ignored, and an empty or
/// wholly unknown list means every language). A tenant that serves a few languages gets better
/// answers on short messages this way: Russian is not mistaken for Bulgarian when Bulgarian is
/// not on the list.
pub fn identify_among(text: &str, codes: &[&str]) -> Language {
    let allowed: Vec<whatlang::Lang> = codes
        .iter()
        .filter_map(|c| whatlang::Lang::from_code(*c))
        .collect();
    if allowed.is_empty() {
        return identify(text);
    }
    identify_with(text, &whatlang::Detector::with_allowlist(allowed))
}

fn identify_with(text: &str, detector: &whatlang::Detector) -> Language {
    let end = {
        let mut e = text.len().min(crate::text::MAX_TEXT_BYTES);
        while !text.is_char_boundary(e) {
            e -= 1;
        }
        e
    };
    let text = &text[..end];
    let undetermined = Language {
        code: UNDETERMINED,
        confidence: 0.0,
    };
    if text.chars().filter(|c| c.is_alphabetic()).count() < MIN_LETTERS {
        return undetermined;
    }
    match detector.detect(text) {
        Some(info) if info.confidence() >= MIN_CONFIDENCE => Language {
            code: info.lang().code(),
            confidence: info.confidence(),
        },
        Some(info) => Language {
            code: UNDETERMINED,
            confidence: info.confidence(),
        },
        None => undetermined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_common_support_languages_and_says_und_when_unsure() {
        let cases = [
            (
                "My card has not arrived yet and I need it for my trip next week",
                "eng",
            ),
            (
                "Ma carte n'est toujours pas arrivée, pouvez-vous m'aider s'il vous plaît",
                "fra",
            ),
            (
                "Meine Karte ist noch nicht angekommen, können Sie mir bitte helfen",
                "deu",
            ),
            (
                "Mi tarjeta todavía no ha llegado, ¿me pueden ayudar por favor?",
                "spa",
            ),
        ];
        for (text, code) in cases {
            let l = identify(text);
            assert_eq!(l.code, code, "{text}: {l:?}");
            assert!(l.confidence >= MIN_CONFIDENCE);
        }
        // Short Cyrillic text is ambiguous among all languages; a tenant's list settles it.
        let ru = "Моя карта до сих пор не пришла, помогите пожалуйста";
        assert_eq!(identify_among(ru, &["eng", "rus", "deu"]).code, "rus");
        assert_eq!(
            identify_among("Where is my card, it never arrived", &["xx"]).code,
            "eng"
        );
        for unsure in ["", "ok", "😡😡😡", "12345 678", "\u{0}\u{1}"] {
            assert_eq!(identify(unsure).code, UNDETERMINED, "{unsure:?}");
        }
        let _ = identify(&"ab ".repeat(1_000_000));
    }
}
